//! A response as stored: its record (comment, answers, properties, notes and the respondent's
//! address encrypted; the score not, results are made from it), read by id.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::survey::{Answer, MAX_COMMENT};
use crate::domain::{Channel, Language, Properties, Score};
use crate::error::{Error, Result};
use crate::services::Caller;
use crate::services::surveys::Survey;
use crate::store::{Condition, Item, TenantStore, TxOp, keys};
pub(crate) const COMMENT: &str = "comment";
const ANSWERS: &str = "answers";
pub(crate) const PROPERTIES: &str = "person_properties";
pub(crate) const NOTES: &str = "notes";
const IP: &str = "ip";
const USER_AGENT: &str = "user_agent";
pub(crate) const COUNTED: &str = "counted_segments";
const ANONYMIZED_AT: &str = "anonymized_at";
pub const MAX_TAGS: usize = 20;
pub const MAX_NOTES: usize = 50;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Note {
    pub id: String,
    pub text: String,
    /// Who wrote it (`user:<id>`, `api_key:<id>`).
    pub author: String,
    pub created_at: i64,
}

#[derive(Clone, Debug)]
pub struct ResponseRecord {
    pub id: String,
    pub survey: String,
    pub person: Option<String>,
    pub invitation: Option<String>,
    pub channel: Channel,
    pub language: Language,
    pub score: Score,
    pub comment: Option<String>,
    pub answers: BTreeMap<String, Answer>,
    pub person_properties: Properties,
    pub notes: Vec<Note>,
    pub tags: Vec<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// When retention anonymised it.
    pub anonymized_at: Option<i64>,
    pub(crate) version: i64,
    /// The segment properties its survey's counters count it under (none: not counted).
    pub(crate) counted: Option<Vec<String>>,
}

impl ResponseRecord {
    pub(crate) async fn to_item(&self, store: &TenantStore) -> Result<Item> {
        let key = keys::response(store.tenant(), &self.id)?;
        let crypto = store.crypto();
        let mut item = Item::new(key.clone())
            .with("survey", self.survey.as_str())
            .with("channel", self.channel.as_str())
            .with("language", self.language.code())
            .with("score", i64::from(self.score))
            .with("created_at", self.created_at)
            .with("updated_at", self.updated_at)
            .with("version", self.version + 1)
            .with("tags", self.tags.as_slice())
            .with_index(
                keys::responses_by_update(store.tenant()),
                keys::updated_sort(self.updated_at, &self.id),
            );
        if let Some(segments) = &self.counted {
            item = item.with(COUNTED, segments.as_slice());
        }
        if let Some(at) = self.anonymized_at {
            item = item.with(ANONYMIZED_AT, at);
        }
        for (name, value) in [("person", &self.person), ("invitation", &self.invitation)] {
            if let Some(v) = value {
                item = item.with(name, v.as_str());
            }
        }
        for (name, value) in [(COMMENT, &self.comment), (IP, &self.ip), (USER_AGENT, &self.user_agent)] {
            if let Some(v) = value {
                item = item.with(name, crypto.encrypt_str(&key, name, v).await?);
            }
        }
        // The JSON fields, sealed only when they hold something.
        for (name, bytes) in [
            (ANSWERS, json_unless_empty(&self.answers, self.answers.is_empty())?),
            (
                PROPERTIES,
                json_unless_empty(&self.person_properties, self.person_properties.is_empty())?,
            ),
            (NOTES, json_unless_empty(&self.notes, self.notes.is_empty())?),
        ] {
            if let Some(bytes) = bytes {
                item = item.with(name, crypto.encrypt(&key, name, &bytes).await?);
            }
        }
        Ok(item)
    }

    pub(crate) async fn from_item(store: &TenantStore, item: &Item) -> Result<ResponseRecord> {
        let crypto = store.crypto();
        Ok(ResponseRecord {
            id: item.key.sk.clone(),
            survey: item.str("survey").unwrap_or_default().to_owned(),
            person: item.str("person").map(str::to_owned),
            invitation: item.str("invitation").map(str::to_owned),
            channel: Channel::parse(item.str("channel").unwrap_or_default())?,
            language: item
                .str("language")
                .and_then(Language::from_locale)
                .unwrap_or(Language::En),
            score: Score::new(item.num("score").unwrap_or_default())?,
            comment: crypto.open_str(item, COMMENT).await?,
            answers: crypto.open_json(item, ANSWERS).await?,
            person_properties: crypto.open_json(item, PROPERTIES).await?,
            notes: crypto.open_json(item, NOTES).await?,
            tags: item.strings("tags"),
            ip: crypto.open_str(item, IP).await?,
            user_agent: crypto.open_str(item, USER_AGENT).await?,
            created_at: item.num("created_at").unwrap_or_default(),
            updated_at: item.num("updated_at").unwrap_or_default(),
            anonymized_at: item.num(ANONYMIZED_AT),
            version: item.num("version").unwrap_or_default(),
            counted: item.get(COUNTED).map(|_| item.strings(COUNTED)),
        })
    }
}

/// The stored response `item` anonymised at `now`, as a conditional write of its next version,
/// or none when it already is. Kept: survey, channel, language, score, time, tags, the answers
/// that are ratings or choices, and the properties its counters count it under (so that a
/// later change of its score moves the right counters). Gone: person, invitation, comment,
/// free-text answers, other properties, notes, address and browser.
pub(crate) async fn anonymized(store: &TenantStore, item: &Item, now: i64) -> Result<Option<TxOp>> {
    if item.get(ANONYMIZED_AT).is_some() {
        return Ok(None);
    }
    let crypto = store.crypto();
    let key = item.key.clone();
    let mut next = Item::new(key.clone());
    for name in ["survey", "channel", "language", "score", "created_at", "tags", COUNTED] {
        if let Some(value) = item.get(name) {
            next = next.with(name, value.clone());
        }
    }
    let version = item.num("version").unwrap_or_default();
    next = next
        .with("updated_at", now)
        .with(ANONYMIZED_AT, now)
        .with("version", version + 1)
        .with_index(
            keys::responses_by_update(store.tenant()),
            keys::updated_sort(now, &key.sk),
        );
    let counted = item.strings(COUNTED);
    if !counted.is_empty() && item.get(PROPERTIES).is_some() {
        let Properties(all) = crypto.open_json(item, PROPERTIES).await?;
        let kept = Properties(all.into_iter().filter(|(k, _)| counted.contains(k)).collect());
        if let Some(json) = json_unless_empty(&kept, kept.is_empty())? {
            next = next.with(PROPERTIES, crypto.encrypt(&key, PROPERTIES, &json).await?);
        }
    }
    if item.get(ANSWERS).is_some() {
        let mut answers: BTreeMap<String, Answer> = crypto.open_json(item, ANSWERS).await?;
        answers.retain(|_, a| !matches!(a, Answer::Text(_)));
        if let Some(json) = json_unless_empty(&answers, answers.is_empty())? {
            next = next.with(ANSWERS, crypto.encrypt(&key, ANSWERS, &json).await?);
        }
    }
    Ok(Some(TxOp::Put {
        item: next,
        condition: Some(Condition::eq("version", version)),
    }))
}

/// `value` as JSON, or nothing when it is empty.
fn json_unless_empty<T: Serialize>(value: &T, empty: bool) -> Result<Option<Vec<u8>>> {
    if empty {
        return Ok(None);
    }
    serde_json::to_vec(value).map(Some).map_err(Error::internal)
}

pub async fn load(store: &TenantStore, id: &str) -> Result<Option<ResponseRecord>> {
    let Ok(key) = keys::response(store.tenant(), id) else {
        return Ok(None);
    };
    match store.get(&key).await? {
        Some(item) => Ok(Some(ResponseRecord::from_item(store, &item).await?)),
        None => Ok(None),
    }
}

/// A response `caller` may see, and its survey: one of a survey they do not see is not found,
/// as one that does not exist.
pub async fn visible(store: &TenantStore, caller: &Caller, id: &str) -> Result<(ResponseRecord, Survey)> {
    let missing = || Error::NotFound("survey response");
    let record = load(store, id).await?.ok_or_else(missing)?;
    match crate::services::surveys::visible(store, caller, &record.survey).await {
        Ok(survey) => Ok((record, survey)),
        Err(Error::NotFound(_)) => Err(missing()),
        Err(e) => Err(e),
    }
}

/// A comment, bounded and trimmed; empty is none.
pub fn comment(text: Option<&str>) -> Result<Option<String>> {
    let Some(text) = text.map(crate::domain::survey::free_text).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > MAX_COMMENT {
        return Err(Error::invalid(
            COMMENT,
            format!("must be at most {MAX_COMMENT} characters"),
        ));
    }
    Ok(Some(text))
}
