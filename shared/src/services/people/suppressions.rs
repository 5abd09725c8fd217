//! Who must not be surveyed: people who unsubscribed (their link, the API, a spam complaint) and
//! people whose address bounced permanently. Each is a mark on the person (what sending checks)
//! and an entry in the tenant's list by time (what Delighted's `unsubscribes` and `bounces` APIs
//! list), written in one transaction.

use futures_util::StreamExt;
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::Email;
use crate::error::{Error, Result};
use crate::services::Caller;
use crate::services::audit::{self, Target};
use crate::services::people::person::{self, Person, PersonInput, Suppression};
use crate::services::people::upsert;
use crate::services::webhooks::events::EventType;
use crate::store::{Condition, Item, Query, SortKey, TenantStore, TxOp, Update, keys, now_unix};

/// The webhook event of a suppression.
fn event_of(kind: Suppression) -> EventType {
    match kind {
        Suppression::Unsubscribed => EventType::UnsubscribeCreated,
        Suppression::Bounced => EventType::PersonBounced,
    }
}

/// Suppresses a person at `at`, once: false when they already were (or are gone).
/// `by`: the caller whose change it is, audited in the same transaction (none for a respondent's
/// own unsubscribe link, or a bounce).
pub async fn suppress(
    store: &TenantStore,
    person: &str,
    kind: Suppression,
    at: i64,
    by: Option<&Caller>,
) -> Result<bool> {
    let kind_event = event_of(kind);
    let event = crate::services::webhooks::events::emit(store, kind_event, person, Some(person), async || {
        // A person gone fails the transaction's condition: the event goes nowhere.
        let Some(mut suppressed) = person::load(store, person).await? else {
            return Ok(serde_json::Value::Null);
        };
        match kind {
            Suppression::Unsubscribed => suppressed.unsubscribed_at = Some(at),
            Suppression::Bounced => suppressed.bounced_at = Some(at),
        }
        serde_json::to_value(SuppressedView::of(suppressed, kind)).map_err(Error::internal)
    })
    .await?;
    let mut ops = vec![
        TxOp::Update {
            key: keys::person(store.tenant(), person)?,
            updates: vec![
                Update::Set(kind.field().into(), at.into()),
                // The version moves too, so a concurrent rewrite of the person retries with this.
                Update::Add("version".into(), 1),
            ],
            condition: Some(Condition::And(vec![
                Condition::Exists,
                Condition::AttrNotExists(kind.field().into()),
            ])),
        },
        TxOp::Put {
            item: Item::new(kind.entry(store, at, person)?).with("person", person),
            condition: None,
        },
    ];
    ops.extend(event);
    if let Some(caller) = by {
        let target = Target::Person(person.to_owned());
        ops.push(audit::entry(store, caller, "person.unsubscribed", target).await?);
    }
    match store.transact(ops).await {
        Ok(()) => Ok(true),
        Err(Error::TransactionCanceled(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// One person of a suppression list, as Delighted's API shows them (`unsubscribed_at` or
/// `bounced_at`, by list).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SuppressedView {
    pub person_id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unsubscribed_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bounced_at: Option<i64>,
}

impl SuppressedView {
    /// A person as the list of `kind` shows them.
    pub fn of(person: Person, kind: Suppression) -> SuppressedView {
        SuppressedView {
            email: person.email.as_ref().map(|e| e.as_str().to_owned()),
            unsubscribed_at: person.unsubscribed_at.filter(|_| kind == Suppression::Unsubscribed),
            bounced_at: person.bounced_at.filter(|_| kind == Suppression::Bounced),
            person_id: person.id,
            name: person.name,
        }
    }
}

pub struct SuppressedPage {
    pub people: Vec<SuppressedView>,
    pub cursor: Option<String>,
}

/// Entries read together when a page is listed.
const LOAD_CONCURRENCY: usize = 16;

/// A page of one list, oldest first, suppressed within `[since, until]`.
pub async fn list(
    store: &TenantStore,
    kind: Suppression,
    since: Option<i64>,
    until: Option<i64>,
    per_page: u32,
    cursor: Option<&str>,
) -> Result<SuppressedPage> {
    let low = format!("{:012}", since.unwrap_or(0).max(0));
    let high = format!("{:012}~", until.unwrap_or(999_999_999_999).clamp(0, 999_999_999_999));
    let query = Query::new(kind.partition(store.tenant())?)
        .sort(SortKey::Between(low, high))
        .limit(per_page);
    let page = store.query(query, cursor).await?;
    let ids: Vec<String> = page
        .items
        .iter()
        .map(|entry| entry.str("person").unwrap_or_default().to_owned())
        .collect();
    let loaded: Vec<Result<Option<Person>>> = futures_util::stream::iter(ids)
        .map(|id| async move { person::load(store, &id).await })
        .buffered(LOAD_CONCURRENCY)
        .collect()
        .await;
    let mut views = Vec::with_capacity(loaded.len());
    for person in loaded {
        // An entry outliving its person (deleted between the two reads) is not shown.
        let Some(person) = person? else { continue };
        views.push(SuppressedView::of(person, kind));
    }
    Ok(SuppressedPage {
        people: views,
        cursor: page.cursor,
    })
}

/// The body of Delighted's `POST /v1/unsubscribes` (JSON or form).
#[derive(Clone, Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnsubscribeRequest {
    pub person_email: String,
}

/// Unsubscribes the person with this email through the API (audited); an unknown address
/// becomes a person first, so a later create does not survey them.
pub async fn unsubscribe_by_email(
    store: &TenantStore,
    caller: &Caller,
    request: UnsubscribeRequest,
    hash_only: bool,
) -> Result<()> {
    let email = Email::parse_field("person_email", &request.person_email)?;
    let person = match person::load_by_email(store, &email).await? {
        Some(person) => person,
        None => {
            let input = PersonInput {
                email: Some(email),
                ..PersonInput::default()
            };
            upsert::upsert(store, &input, hash_only).await?.person
        }
    };
    suppress(store, &person.id, Suppression::Unsubscribed, now_unix(), Some(caller)).await?;
    Ok(())
}
