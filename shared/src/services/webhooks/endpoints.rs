//! A tenant's webhook endpoints: URL (https, public) and events, a signing secret shown once,
//! pausing and enabling, each change audited.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{Error, Result};
use crate::ids::{WebhookId, new_id};
use crate::outbound::{self};
use crate::services::Caller;
use crate::services::audit::{self, Target};
use crate::services::webhooks::events::{ACTIVE, EVENTS, EventType};
use crate::store::{Condition, Item, Key, Query, TenantStore, TxOp, Update, Value, keys, now_unix};

/// Why an endpoint a user paused is inactive (a failing one says how long it failed).
pub const PAUSED_BY_USER: &str = "disabled by a user";

/// Endpoints a tenant may have.
pub const MAX_ENDPOINTS: usize = 10;
const SECRET_PREFIX: &str = "whsec_";

/// An endpoint as the API shows it (never its secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Endpoint {
    pub id: String,
    pub url: String,
    pub events: Vec<EventType>,
    /// False once disabled: by a change, or after a day of failed deliveries.
    pub active: bool,
    pub disabled_at: Option<i64>,
    pub disabled_reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A new endpoint, or a new secret: the only time the secret is shown.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EndpointWithSecret {
    #[serde(flatten)]
    pub endpoint: Endpoint,
    /// Verifies `Ovation-Signature`; shown this once.
    pub secret: String,
}

/// The body of `POST` and `PATCH /v1/webhooks`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointRequest {
    /// `https://` and public (on POST: required).
    pub url: Option<String>,
    /// The events to send (default on POST: all).
    pub events: Option<Vec<String>>,
    /// `true` enables again an endpoint that was disabled; `false` pauses it.
    pub active: Option<bool>,
}

/// The body of `POST /v1/webhooks/{id}/test`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestEventRequest {
    /// The event to send a sample of (default: the endpoint's first).
    pub event_type: Option<String>,
}

pub(super) const URL: &str = "url";
pub(super) const SECRET: &str = "secret";

impl Endpoint {
    pub(super) async fn from_item(store: &TenantStore, item: &Item) -> Result<Endpoint> {
        let mut events = Vec::new();
        for name in item.strings(EVENTS) {
            events.push(EventType::parse(EVENTS, &name)?);
        }
        Ok(Endpoint {
            id: item.key.sk.trim_start_matches("EP#").to_owned(),
            url: store.crypto().open_str(item, URL).await?.unwrap_or_default(),
            events,
            active: matches!(item.get(ACTIVE), Some(Value::Bool(true))),
            disabled_at: item.num("disabled_at"),
            disabled_reason: item.str("disabled_reason").map(str::to_owned),
            created_at: item.num("created_at").unwrap_or_default(),
            updated_at: item.num("updated_at").unwrap_or_default(),
        })
    }
}

fn events_checked(names: &[String]) -> Result<Vec<EventType>> {
    let mut events = Vec::new();
    for name in names {
        let event = EventType::parse(EVENTS, name.trim())?;
        if !events.contains(&event) {
            events.push(event);
        }
    }
    if events.is_empty() {
        return Err(Error::invalid(EVENTS, "name at least one event"));
    }
    events.sort();
    Ok(events)
}

fn new_secret() -> Result<String> {
    use base64::Engine;
    let secret = crate::crypto::random_secret()?;
    Ok(format!(
        "{SECRET_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret.as_ref())
    ))
}

fn event_names(events: &[EventType]) -> Value {
    Value::L(events.iter().map(|e| Value::S(e.as_str().to_owned())).collect())
}

pub(super) async fn load_item(store: &TenantStore, id: &str) -> Result<Item> {
    let key = keys::webhook(store.tenant(), id).map_err(|_| Error::NotFound("webhook"))?;
    store.get(&key).await?.ok_or(Error::NotFound("webhook"))
}

pub async fn list(store: &TenantStore) -> Result<Vec<Endpoint>> {
    let items = store
        .query_all(Query::new(keys::webhooks_partition(store.tenant())).prefix("EP#"))
        .await?;
    let mut out = Vec::with_capacity(items.len());
    for item in &items {
        out.push(Endpoint::from_item(store, item).await?);
    }
    Ok(out)
}

pub async fn get(store: &TenantStore, id: &WebhookId) -> Result<Endpoint> {
    let id = id.as_str();
    Endpoint::from_item(store, &load_item(store, id).await?).await
}

pub async fn create(
    store: &TenantStore,
    caller: &Caller,
    allow_loopback: bool,
    request: EndpointRequest,
) -> Result<EndpointWithSecret> {
    let url = request
        .url
        .as_deref()
        .ok_or_else(|| Error::invalid(URL, "is required"))?;
    let url = outbound::check_url(URL, url, allow_loopback)?.to_string();
    let events = match &request.events {
        Some(names) => events_checked(names)?,
        None => EventType::ALL.to_vec(),
    };
    if request.active == Some(false) {
        return Err(Error::invalid(ACTIVE, "a new endpoint is active"));
    }
    if list(store).await?.len() >= MAX_ENDPOINTS {
        return Err(Error::invalid(
            URL,
            format!("at most {MAX_ENDPOINTS} endpoints; delete one first"),
        ));
    }
    let id = new_id();
    let key = keys::webhook(store.tenant(), &id)?;
    let secret = new_secret()?;
    let now = now_unix();
    let crypto = store.crypto();
    let item = Item::new(key.clone())
        .with(URL, crypto.encrypt_str(&key, URL, &url).await?)
        .with(SECRET, crypto.encrypt_str(&key, SECRET, &secret).await?)
        .with(EVENTS, event_names(&events))
        .with(ACTIVE, true)
        .with("created_at", now)
        .with("updated_at", now);
    let change = vec![TxOp::Put {
        item: item.clone(),
        condition: Some(Condition::NotExists),
    }];
    audit::commit(store, caller, change, "webhook.created", Target::Webhook(id)).await?;
    Ok(EndpointWithSecret {
        endpoint: Endpoint::from_item(store, &item).await?,
        secret,
    })
}

/// Changes an endpoint's URL, events or state; enabling one clears why it was disabled.
pub async fn update(
    store: &TenantStore,
    caller: &Caller,
    allow_loopback: bool,
    id: &WebhookId,
    request: EndpointRequest,
) -> Result<Endpoint> {
    let id = id.as_str();
    let item = load_item(store, id).await?;
    let mut updates = vec![Update::Set("updated_at".into(), now_unix().into())];
    if let Some(url) = &request.url {
        let url = outbound::check_url(URL, url, allow_loopback)?.to_string();
        updates.push(Update::Set(
            URL.into(),
            store.crypto().encrypt_str(&item.key, URL, &url).await?.into(),
        ));
    }
    if let Some(names) = &request.events {
        updates.push(Update::Set(EVENTS.into(), event_names(&events_checked(names)?)));
    }
    match request.active {
        Some(true) => updates.extend([
            Update::Set(ACTIVE.into(), true.into()),
            Update::Remove("disabled_at".into()),
            Update::Remove("disabled_reason".into()),
        ]),
        Some(false) => updates.extend([
            Update::Set(ACTIVE.into(), false.into()),
            Update::Set("disabled_at".into(), now_unix().into()),
            Update::Set("disabled_reason".into(), PAUSED_BY_USER.into()),
        ]),
        None => {}
    }
    let updated = audited_update(store, caller, &item.key, &updates, "webhook.updated").await?;
    Endpoint::from_item(store, &updated).await
}

fn gone(e: Error) -> Error {
    match e {
        Error::ConditionFailed => Error::NotFound("webhook"),
        e => e,
    }
}

/// Changes an endpoint that still exists, audited as `action`.
async fn audited_update(
    store: &TenantStore,
    caller: &Caller,
    key: &Key,
    updates: &[Update],
    action: &str,
) -> Result<Item> {
    let change = vec![TxOp::Update {
        key: key.clone(),
        updates: updates.to_vec(),
        condition: Some(Condition::Exists),
    }];
    let id = key.sk.trim_start_matches("EP#").to_owned();
    audit::commit(store, caller, change, action, Target::Webhook(id))
        .await
        .map_err(gone)?;
    store.get(key).await?.ok_or(Error::NotFound("webhook"))
}

/// A new signing secret, shown once; the old one stops signing at once.
pub async fn rotate_secret(store: &TenantStore, caller: &Caller, id: &WebhookId) -> Result<EndpointWithSecret> {
    let id = id.as_str();
    let item = load_item(store, id).await?;
    let secret = new_secret()?;
    let sealed = store.crypto().encrypt_str(&item.key, SECRET, &secret).await?;
    let updates = [
        Update::Set(SECRET.into(), sealed.into()),
        Update::Set("updated_at".into(), now_unix().into()),
    ];
    let updated = audited_update(store, caller, &item.key, &updates, "webhook.secret_rotated").await?;
    Ok(EndpointWithSecret {
        endpoint: Endpoint::from_item(store, &updated).await?,
        secret,
    })
}

pub async fn delete(store: &TenantStore, caller: &Caller, id: &WebhookId) -> Result<()> {
    let id = id.as_str();
    let item = load_item(store, id).await?;
    let change = vec![TxOp::Delete {
        key: item.key,
        condition: Some(Condition::Exists),
    }];
    audit::commit(store, caller, change, "webhook.deleted", Target::Webhook(id.to_owned()))
        .await
        .map_err(gone)
}
