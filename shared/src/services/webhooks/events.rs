//! What writes emit: the event types (Delighted's names) and the event item written in the
//! same transaction as the write itself, for every active endpoint subscribed, so none is lost.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{Error, Result};
use crate::ids::new_id;
use crate::store::{Condition, Item, Query, TenantStore, TxOp, Value, keys, now_unix};
/// How long an event's delivery is retried; an endpoint still failing then is disabled.
pub const RETRY_FOR: i64 = 86_400;
/// How long an event item outlives its day of retries.
const EVENT_KEPT: i64 = 2 * 86_400;

/// What an endpoint subscribes to (Delighted's names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
pub enum EventType {
    #[serde(rename = "survey_response.created")]
    ResponseCreated,
    #[serde(rename = "survey_response.updated")]
    ResponseUpdated,
    #[serde(rename = "unsubscribe.created")]
    UnsubscribeCreated,
    #[serde(rename = "person.bounced")]
    PersonBounced,
}

impl EventType {
    pub const ALL: [EventType; 4] = [
        EventType::ResponseCreated,
        EventType::ResponseUpdated,
        EventType::UnsubscribeCreated,
        EventType::PersonBounced,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ResponseCreated => "survey_response.created",
            EventType::ResponseUpdated => "survey_response.updated",
            EventType::UnsubscribeCreated => "unsubscribe.created",
            EventType::PersonBounced => "person.bounced",
        }
    }

    pub fn parse(field: &'static str, text: &str) -> Result<EventType> {
        EventType::ALL.into_iter().find(|e| e.as_str() == text).ok_or_else(|| {
            let names: Vec<&str> = EventType::ALL.iter().map(|e| e.as_str()).collect();
            Error::invalid(field, format!("`{text}` is no event; one of {}", names.join(", ")))
        })
    }
}

/// The attributes of an endpoint's item that decide what it is sent.
pub(super) const EVENTS: &str = "events";
pub(super) const ACTIVE: &str = "active";

pub(super) const EVENT_TYPE: &str = "event_type";
pub(super) const SUBJECT: &str = "subject";
pub(super) const AT: &str = "at";
pub(super) const ENDPOINTS: &str = "endpoints";
pub(super) const DATA: &str = "data";
/// The person an event carries (its data goes nowhere once they are deleted).
pub(super) const PERSON: &str = "person";
/// When an endpoint last took an event.
pub(super) const LAST_SUCCESS: &str = "last_success_at";

/// The attribute of an event item that says how its delivery to `endpoint` ended.
pub(super) fn done_attr(endpoint: &str) -> String {
    format!("done_{endpoint}")
}

/// The attribute of an event item that says when its next attempt to `endpoint` is due.
pub(super) fn next_attr(endpoint: &str) -> String {
    format!("next_{endpoint}")
}

/// The active endpoints subscribed to `kind`, as this process read them lately (every answer
/// reads them; each delivery reads its endpoint again).
async fn subscribers(store: &TenantStore, kind: EventType) -> Result<Vec<String>> {
    Ok(store
        .query_recent(Query::new(keys::webhooks_partition(store.tenant())).prefix("EP#"))
        .await?
        .into_iter()
        .filter(|i| {
            matches!(i.get(ACTIVE), Some(Value::Bool(true))) && i.strings(EVENTS).iter().any(|e| e == kind.as_str())
        })
        .map(|i| i.key.sk.trim_start_matches("EP#").to_owned())
        .collect())
}

/// The write that emits `kind` about `subject` (a response or person id) to every active
/// endpoint subscribed to it, for the transaction of the write itself; none without one.
/// `event_data` (made only then) is the subject as the write leaves it, sealed in the event.
pub async fn emit(
    store: &TenantStore,
    kind: EventType,
    subject: &str,
    person: Option<&str>,
    event_data: impl AsyncFnOnce() -> Result<serde_json::Value>,
) -> Result<Option<TxOp>> {
    let endpoints = subscribers(store, kind).await?;
    if endpoints.is_empty() {
        return Ok(None);
    }
    let data = serde_json::to_vec(&event_data().await?).map_err(Error::internal)?;
    let id = new_id();
    let now = now_unix();
    let key = keys::webhook_event(store.tenant(), &id)?;
    let (pk, sk) = keys::webhook_due_index(now, store.tenant(), &id, store.spread().await?);
    let mut item = Item::new(key.clone())
        .with(EVENT_TYPE, kind.as_str())
        .with(SUBJECT, subject)
        .with(AT, now)
        .with(ENDPOINTS, endpoints.as_slice())
        .with(DATA, store.crypto().encrypt(&key, DATA, &data).await?)
        .with_index(pk, sk)
        .with_expiry(now + RETRY_FOR + EVENT_KEPT);
    if let Some(person) = person {
        item = item.with(PERSON, person);
    }
    store.note_emitted(&id);
    Ok(Some(TxOp::Put {
        item,
        condition: Some(Condition::NotExists),
    }))
}
