//! Listing responses as Delighted's API does: by creation or by last change, with its filters,
//! its `page` offsets (bounded) and a cursor beyond them; always as a caller may see them
//! (`ScopedFilter`: the surveys they see, `crate::services::SurveyAccess`).

use std::collections::BTreeSet;

use crate::domain::Channel;
use crate::error::{Error, Result};
use crate::services::people::person::id_range;
use crate::services::results::counters::Measure;
use crate::services::results::response_record::{ResponseRecord, load};
use crate::services::{Caller, surveys};
use crate::store::{Query, SortKey, TenantStore, keys};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Order {
    #[default]
    CreatedAsc,
    CreatedDesc,
    UpdatedAsc,
    UpdatedDesc,
}

impl std::str::FromStr for Order {
    type Err = Error;

    fn from_str(text: &str) -> Result<Order> {
        match text {
            "asc" | "asc:created_at" => Ok(Order::CreatedAsc),
            "desc" | "desc:created_at" => Ok(Order::CreatedDesc),
            "asc:updated_at" => Ok(Order::UpdatedAsc),
            "desc:updated_at" => Ok(Order::UpdatedDesc),
            _ => Err(Error::invalid(
                "order",
                "must be asc, desc, asc:updated_at or desc:updated_at",
            )),
        }
    }
}

impl Order {
    /// The name `order=` takes for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Order::CreatedAsc => "asc",
            Order::CreatedDesc => "desc",
            Order::UpdatedAsc => "asc:updated_at",
            Order::UpdatedDesc => "desc:updated_at",
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct ResponseFilter {
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub updated_since: Option<i64>,
    pub updated_until: Option<i64>,
    pub survey: Option<String>,
    pub person: Option<String>,
    pub order: Order,
    /// What the web app's feed narrows by besides (read from each decrypted response).
    pub narrow: Narrowing,
}

/// The feed's filters on what a response holds: its score's group, channel, a tag, whether it
/// has a comment, a property's value, words in its comment.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Narrowing {
    pub group: Option<Measure>,
    pub channel: Option<Channel>,
    pub tag: Option<String>,
    pub with_comment: Option<bool>,
    pub property: Option<(String, String)>,
    /// Case-insensitive words the comment must hold.
    pub text: Option<String>,
}

impl Narrowing {
    /// Whether it narrows nothing.
    pub fn is_none(&self) -> bool {
        *self == Narrowing::default()
    }

    fn admits(&self, r: &ResponseRecord) -> bool {
        let comment = r.comment.as_deref().unwrap_or_default();
        self.group.is_none_or(|g| Measure::of_score(r.score) == g)
            && self.channel.is_none_or(|c| r.channel == c)
            && self.tag.as_ref().is_none_or(|t| r.tags.contains(t))
            && self.with_comment.is_none_or(|with| with != comment.is_empty())
            && self
                .property
                .as_ref()
                .is_none_or(|(name, value)| r.person_properties.0.get(name) == Some(value))
            && self
                .text
                .as_ref()
                .is_none_or(|t| comment.to_lowercase().contains(&t.to_lowercase()))
    }
}

impl ResponseFilter {
    /// This filter as `caller` may apply it: one naming a survey they do not see, or that the
    /// account does not have, is refused (404), not answered empty; one naming none admits the
    /// surveys they see.
    pub async fn for_caller(self, store: &TenantStore, caller: &Caller) -> Result<ScopedFilter> {
        let within = match &self.survey {
            Some(id) => {
                surveys::visible(store, caller, id).await?;
                None
            }
            None => surveys::visible_ids(store, caller).await?,
        };
        Ok(ScopedFilter { filter: self, within })
    }

    fn admits(&self, r: &ResponseRecord) -> bool {
        self.since.is_none_or(|t| r.created_at >= t)
            && self.until.is_none_or(|t| r.created_at <= t)
            && self.updated_since.is_none_or(|t| r.updated_at >= t)
            && self.updated_until.is_none_or(|t| r.updated_at <= t)
            && self.survey.as_ref().is_none_or(|s| *s == r.survey)
            && self.person.as_ref().is_none_or(|p| r.person.as_ref() == Some(p))
            && self.narrow.admits(r)
    }
}

/// A filter as a caller may apply it (`ResponseFilter::for_caller`), or as an export job was
/// asked for: it admits only the surveys in `within`.
#[derive(Clone, Debug)]
pub struct ScopedFilter {
    filter: ResponseFilter,
    /// The surveys admitted; `None`: every one.
    within: Option<BTreeSet<String>>,
}

impl ScopedFilter {
    /// A filter an export job was asked for, with the surveys its requester saw then.
    pub(crate) fn as_requested(filter: ResponseFilter, within: Option<BTreeSet<String>>) -> ScopedFilter {
        ScopedFilter { filter, within }
    }

    /// The surveys admitted (`None`: every one).
    pub fn within(&self) -> Option<&BTreeSet<String>> {
        self.within.as_ref()
    }

    fn admits(&self, r: &ResponseRecord) -> bool {
        self.within.as_ref().is_none_or(|w| w.contains(&r.survey)) && self.filter.admits(r)
    }
}

impl std::ops::Deref for ScopedFilter {
    type Target = ResponseFilter;

    fn deref(&self) -> &ResponseFilter {
        &self.filter
    }
}

/// Items a list reads at most to fill one page (filters can drop many).
const SCAN_LIMIT: usize = 5_000;
/// The deepest `page` × `per_page` answered; deeper pages use the `Link` cursor.
pub const MAX_OFFSET: u32 = 10_000;

pub struct ResponsePage {
    pub responses: Vec<ResponseRecord>,
    pub cursor: Option<String>,
    /// True when the page stopped at the scan's bound before it was full: more may match
    /// beyond `cursor`.
    pub scan_stopped: bool,
}

/// A page of responses: `skip` matches are passed over (Delighted's `page`), then up to
/// `per_page` returned; `cursor` continues where a previous page stopped.
pub async fn list(
    store: &TenantStore,
    filter: &ScopedFilter,
    per_page: u32,
    skip: u32,
    cursor: Option<&str>,
) -> Result<ResponsePage> {
    if let Some(person) = &filter.person {
        return list_of_person(store, filter, person, per_page, skip).await;
    }
    let (base, index) = match filter.order {
        Order::CreatedAsc | Order::CreatedDesc => (
            Query::new(keys::responses_partition(store.tenant())).sort(id_range(filter.since, filter.until)),
            false,
        ),
        Order::UpdatedAsc | Order::UpdatedDesc => {
            let low = keys::updated_sort(filter.updated_since.unwrap_or(0).max(0), "");
            let high = keys::updated_sort(filter.updated_until.unwrap_or(999_999_999_999).max(0), "~");
            (
                Query::new(keys::responses_by_update(store.tenant())).sort(SortKey::Between(low, high)),
                true,
            )
        }
    };
    let base = if matches!(filter.order, Order::CreatedDesc | Order::UpdatedDesc) {
        base.backward()
    } else {
        base
    };
    let mut cursor = cursor.map(str::to_owned);
    let (mut skip_left, mut out, mut scanned) = (skip as usize, Vec::new(), 0usize);
    loop {
        let want = (skip_left + per_page as usize - out.len()).clamp(1, 100) as u32;
        let query = base.clone().limit(want);
        let page = if index {
            store.query_index(query, cursor.as_deref()).await?
        } else {
            store.query(query, cursor.as_deref()).await?
        };
        scanned += page.items.len();
        for item in &page.items {
            let record = ResponseRecord::from_item(store, item).await?;
            if !filter.admits(&record) {
                continue;
            }
            if skip_left > 0 {
                skip_left -= 1;
            } else {
                out.push(record);
            }
        }
        cursor = page.cursor;
        let bounded = scanned >= SCAN_LIMIT + skip as usize;
        if cursor.is_none() || out.len() >= per_page as usize || bounded {
            let scan_stopped = bounded && cursor.is_some() && out.len() < per_page as usize;
            return Ok(ResponsePage {
                responses: out,
                cursor,
                scan_stopped,
            });
        }
    }
}

async fn list_of_person(
    store: &TenantStore,
    filter: &ScopedFilter,
    person: &str,
    per_page: u32,
    skip: u32,
) -> Result<ResponsePage> {
    let Ok(partition) = keys::person_partition(store.tenant(), person) else {
        return Ok(ResponsePage {
            responses: vec![],
            cursor: None,
            scan_stopped: false,
        });
    };
    let pointers = store.query_all(Query::new(partition).prefix("R#")).await?;
    let mut out = Vec::new();
    for pointer in &pointers {
        if let Some(r) = load(store, pointer.key.sk.trim_start_matches("R#")).await?
            && filter.admits(&r)
        {
            out.push(r);
        }
    }
    match filter.order {
        Order::CreatedAsc => out.sort_by(|a, b| a.id.cmp(&b.id)),
        Order::CreatedDesc => out.sort_by(|a, b| b.id.cmp(&a.id)),
        Order::UpdatedAsc => out.sort_by_key(|r| (r.updated_at, r.id.clone())),
        Order::UpdatedDesc => out.sort_by_key(|r| std::cmp::Reverse((r.updated_at, r.id.clone()))),
    }
    let responses = out.into_iter().skip(skip as usize).take(per_page as usize).collect();
    Ok(ResponsePage {
        responses,
        cursor: None,
        scan_stopped: false,
    })
}
