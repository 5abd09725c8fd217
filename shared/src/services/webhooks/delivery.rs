//! Delivering events: the scheduler's dispatch of due events to the queue, the signed POST of
//! one event to one endpoint (retried with backoff for a day, then the endpoint is disabled,
//! audited), test events, and each endpoint's delivery log. Bodies are Delighted's envelope
//! `{event_type, event_id, event_data}`, signed `Ovation-Signature: t={unix},v1={hex}` with
//! HMAC-SHA-256 over `{t}.{body}`.

use aws_lc_rs::hmac;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::credential::hex;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::ids::{TenantId, WebhookId, new_id};
use crate::messaging::{BATCH, Queue};
use crate::outbound::Outbound;
use crate::services::Caller;
use crate::services::accounts::tenants;
use crate::services::audit::{self, Actor, Outcome, Target};
use crate::services::webhooks::endpoints::{Endpoint, SECRET, URL, load_item};
use crate::services::webhooks::events::{
    ACTIVE, AT, DATA, ENDPOINTS, EVENT_TYPE, EventType, LAST_SUCCESS, PERSON, RETRY_FOR, SUBJECT, done_attr, next_attr,
};
use crate::store::lease::Lease;
use crate::store::{Cmp, Condition, Item, Key, Query, SortKey, TenantStore, Update, Value, attr, keys, now_unix};

/// The longest wait between two attempts.
const MAX_BACKOFF: i64 = 4 * 3600;
/// How long delivery log entries are kept.
const LOG_KEPT: i64 = 30 * 86_400;
/// A dispatched event not yet finished is dispatched again after this (its message was lost).
const REDISPATCH_AFTER: i64 = 600;
/// How often an endpoint's last success is written down, in seconds.
const SUCCESS_RECORDED_EVERY: i64 = 60;
/// An attempt holds its delivery this long (longer than a call may take).
const LEASE: i64 = 30;
/// Events one dispatch reads at the most, shared by the index partitions (the fast path after
/// each write dispatches the most).
const DISPATCH_LIMIT: u32 = 2_000;
/// Buckets of the due index a dispatch reads at once.
const BUCKETS_AT_ONCE: usize = 16;
pub const SIGNATURE_HEADER: &str = "Ovation-Signature";
pub const EVENT_ID_HEADER: &str = "Ovation-Event-Id";
pub const EVENT_TYPE_HEADER: &str = "Ovation-Event-Type";

/// One message of the webhook queue: an event to deliver to one endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookDelivery {
    pub tenant: String,
    pub event: String,
    pub endpoint: String,
}

pub fn parse_delivery(body: &str) -> Result<WebhookDelivery> {
    serde_json::from_str(body).map_err(|_| Error::invalid("message", "is not a webhook delivery"))
}

/// The scheduler's part: deliveries due (new events, retries whose backoff passed, messages
/// lost) to the queue. Each event is first made due again at its next retry, or later
/// (`REDISPATCH_AFTER`) in case this run's message is lost; an event with nothing left to do
/// leaves the index.
pub async fn dispatch_due(ctx: &Context, queue: &dyn Queue, now: i64) -> Result<u64> {
    let buckets = ctx.store.spread().await?.webhook_buckets;
    let limit = DISPATCH_LIMIT.div_ceil(buckets);
    let bucket = |bucket: u32| async move {
        let query = Query::new(keys::webhook_due_partition(bucket))
            .sort(SortKey::AtMost(format!("{now:012}#~")))
            .limit(limit);
        let mut bodies = Vec::new();
        for item in ctx.store.query_index(&query).await?.items {
            let tenant = item
                .str(attr::GSI1SK)
                .and_then(|sk| sk.split('#').nth(1))
                .and_then(|t| t.parse().ok());
            if let Some(tenant) = tenant {
                bodies.extend(dispatch_one(&ctx.tenant_store(&tenant), &item, now).await?);
            }
        }
        for batch in bodies.chunks(BATCH) {
            queue.send_batch(batch).await?;
        }
        Ok::<u64, Error>(bodies.len() as u64)
    };
    let sent: Vec<Result<u64>> = futures_util::stream::iter(0..buckets)
        .map(bucket)
        .buffer_unordered(BUCKETS_AT_ONCE)
        .collect()
        .await;
    sent.into_iter().sum()
}

/// The fast path after a write: the events it emitted go to the queue at once (the scheduler
/// would take them at its next tick). Reads each by its key: a query of the workspace's newest
/// events read every shard of them, dozens of reads an answer under a website's burst. Never
/// fails the write that emitted them: a problem is logged and the scheduler sends them.
pub async fn dispatch_emitted(ctx: &Context, store: &TenantStore) {
    let events = store.take_emitted();
    let Some(queue) = ctx.webhook_queue().filter(|_| !events.is_empty()) else {
        return;
    };
    let now = now_unix();
    let sent = async {
        let mut bodies = Vec::new();
        for event in &events {
            // None: the transaction that was to write it failed (and was made again with another).
            let Some(item) = store.get(&keys::webhook_event(store.tenant(), event)?).await? else {
                continue;
            };
            let due = item
                .str(attr::GSI1SK)
                .is_some_and(|sk| sk <= format!("{now:012}#~").as_str());
            if due {
                bodies.extend(dispatch_one(store, &item, now).await?);
            }
        }
        for batch in bodies.chunks(BATCH) {
            queue.send_batch(batch).await?;
        }
        Ok::<usize, Error>(bodies.len())
    }
    .await;
    if let Err(e) = sent {
        tracing::warn!(tenant = %store.tenant(), error = %e, "webhook events wait for the scheduler");
    }
}

/// Moves one due event on (due again at its next retry, or later in case this message is lost;
/// out of the index once nothing is left) and returns the messages of its endpoints that are
/// due now; none when another dispatch moved it first.
async fn dispatch_one(store: &TenantStore, item: &Item, now: i64) -> Result<Vec<String>> {
    let Some(due_sk) = item.str(attr::GSI1SK) else {
        return Ok(vec![]);
    };
    let event = item.key.sk.trim_start_matches("EV#").to_owned();
    let pending: Vec<String> = item
        .strings(ENDPOINTS)
        .into_iter()
        .filter(|e| item.get(&done_attr(e)).is_none())
        .collect();
    let (ready, waiting): (Vec<String>, Vec<String>) = pending
        .into_iter()
        .partition(|e| item.num(&next_attr(e)).is_none_or(|next| next <= now));
    let next = waiting
        .iter()
        .filter_map(|e| item.num(&next_attr(e)))
        .chain(std::iter::once(now + REDISPATCH_AFTER))
        .min()
        .unwrap_or(now + REDISPATCH_AFTER);
    let updates: Vec<Update> = if ready.is_empty() && waiting.is_empty() {
        vec![Update::Remove(attr::GSI1PK.into()), Update::Remove(attr::GSI1SK.into())]
    } else {
        due_at(next, store, &event).await?
    };
    match store
        .update(&item.key, &updates, Some(Condition::eq(attr::GSI1SK, due_sk)))
        .await
    {
        Ok(_) => {}
        Err(Error::ConditionFailed) => return Ok(vec![]), // another dispatch, or a delivery, moved it
        Err(e) => return Err(e),
    }
    ready
        .into_iter()
        .map(|endpoint| {
            let delivery = WebhookDelivery {
                tenant: store.tenant().to_string(),
                event: event.clone(),
                endpoint,
            };
            serde_json::to_string(&delivery).map_err(Error::internal)
        })
        .collect()
}

/// The writes that make an event due at `at` in the shared index.
async fn due_at(at: i64, store: &TenantStore, event: &str) -> Result<Vec<Update>> {
    let (pk, sk) = keys::webhook_due_index(at, store.tenant(), event, store.spread().await?);
    Ok(vec![
        Update::Set(attr::GSI1PK.into(), pk.into()),
        Update::Set(attr::GSI1SK.into(), sk.into()),
    ])
}

/// Seconds before attempt `n + 1` after `n` failed ones: 30 s doubling, at most 4 hours.
pub fn backoff(failed: i64) -> i64 {
    (30i64 << (failed - 1).clamp(0, 20)).min(MAX_BACKOFF)
}

/// The signature header of `body` sent at `t`.
pub fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(format!("{t}.").as_bytes());
    ctx.update(body);
    format!("t={t},v1={}", hex(ctx.sign().as_ref()))
}

fn envelope(kind: EventType, id: &str, data: serde_json::Value) -> Result<Vec<u8>> {
    serde_json::to_vec(&serde_json::json!({"event_type": kind.as_str(), "event_id": id, "event_data": data}))
        .map_err(Error::internal)
}

/// The body of an event: the envelope around its data, a response's permalink on this
/// deployment's public URL.
async fn body(ctx: &Context, store: &TenantStore, event: &Item, kind: EventType, id: &str) -> Result<Vec<u8>> {
    let sealed = store.crypto().open(event, DATA).await?.unwrap_or_default();
    let mut data: serde_json::Value = serde_json::from_slice(&sealed).map_err(|_| Error::Undecryptable)?;
    if let Some(link) = data.get_mut("permalink")
        && let Some(path) = link.as_str().filter(|p| p.starts_with('/'))
    {
        let base = ctx
            .settings
            .public_url
            .as_deref()
            .unwrap_or_default()
            .trim_end_matches('/');
        *link = format!("{base}{path}").into();
    }
    envelope(kind, id, data)
}

/// How one attempt went.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Attempt {
    pub event_id: String,
    pub event_type: EventType,
    /// True for a 2xx answer.
    pub delivered: bool,
    /// The HTTP status, when the endpoint answered.
    pub status: Option<u16>,
    /// Why it failed without an answer (refused address, timeout, TLS, connection).
    pub error: Option<String>,
    /// The start of the answer's body (at most 1 KB).
    pub answer: Option<String>,
    pub duration_ms: u64,
}

/// Signs and POSTs `body` to the endpoint.
async fn attempt(outbound: &Outbound, url: &str, secret: &str, kind: EventType, id: &str, body: Vec<u8>) -> Attempt {
    let headers = [
        (SIGNATURE_HEADER, signature(secret, now_unix(), &body)),
        (EVENT_ID_HEADER, id.to_owned()),
        (EVENT_TYPE_HEADER, kind.as_str().to_owned()),
    ];
    let result = outbound.post_json(url, &headers, body).await;
    match result {
        Ok(answer) => Attempt {
            event_id: id.to_owned(),
            event_type: kind,
            delivered: (200..300).contains(&answer.status),
            status: Some(answer.status),
            error: (!(200..300).contains(&answer.status)).then(|| match answer.status {
                300..400 => format!("answered {}; redirects are not followed", answer.status),
                s => format!("answered {s}"),
            }),
            answer: Some(answer.body).filter(|b| !b.is_empty()),
            duration_ms: answer.millis,
        },
        Err(error) => Attempt {
            event_id: id.to_owned(),
            event_type: kind,
            delivered: false,
            status: None,
            error: Some(error),
            answer: None,
            duration_ms: 0,
        },
    }
}

/// An endpoint's URL and secret, opened.
async fn url_and_secret(store: &TenantStore, endpoint: &Item) -> Result<(String, String)> {
    let crypto = store.crypto();
    let url = crypto.open_str(endpoint, URL).await?.unwrap_or_default();
    let secret = crypto.open_str(endpoint, SECRET).await?.unwrap_or_default();
    Ok((url, secret))
}

/// Records how an attempt went in the endpoint's log, with its number (`None` when the event was
/// not sent, which leaves the count as it was). Every change is a set: a repeat of the write
/// changes nothing more.
async fn log_attempt(
    store: &TenantStore,
    endpoint: &str,
    attempt: &Attempt,
    number: Option<i64>,
    status: &str,
    test: bool,
) -> Result<()> {
    let key = keys::webhook_log(store.tenant(), endpoint, &attempt.event_id)?;
    let now = now_unix();
    let mut updates = vec![
        Update::Set("status".into(), status.into()),
        Update::Set(EVENT_TYPE.into(), attempt.event_type.as_str().into()),
        Update::Set("last_attempt_at".into(), now.into()),
        Update::Set("duration_ms".into(), (attempt.duration_ms as i64).into()),
        Update::Set(attr::EXPIRES_AT.into(), (now + LOG_KEPT).into()),
    ];
    updates.extend(Lease::end());
    let optional = [
        ("http_status", attempt.status.map(|s| Value::N(s.into()))),
        ("error", attempt.error.clone().map(Value::S)),
    ];
    for (name, value) in optional {
        updates.push(match value {
            Some(v) => Update::Set(name.into(), v),
            None => Update::Remove(name.into()),
        });
    }
    match &attempt.answer {
        Some(answer) => {
            let sealed = store.crypto().encrypt_str(&key, "answer", answer).await?;
            updates.push(Update::Set("answer".into(), sealed.into()));
        }
        None => updates.push(Update::Remove("answer".into())),
    }
    if let Some(number) = number {
        updates.push(Update::Set("attempts".into(), number.into()));
    }
    if test {
        updates.push(Update::Set("test".into(), true.into()));
    }
    if status == DELIVERED {
        updates.push(Update::Set("delivered_at".into(), now.into()));
    }
    store.update(&key, &updates, None).await?;
    Ok(())
}

const DELIVERED: &str = "delivered";
const FAILING: &str = "failing";
const GAVE_UP: &str = "gave_up";
const SKIPPED: &str = "skipped";

/// Marks the event's delivery to `endpoint` ended; once every endpoint's has, its index entry
/// goes.
async fn finish(store: &TenantStore, event: &Key, endpoint: &str, outcome: &str) -> Result<()> {
    let updated = match store
        .update(
            event,
            &[Update::Set(done_attr(endpoint), outcome.into())],
            Some(Condition::Exists),
        )
        .await
    {
        Ok(item) => item,
        Err(Error::ConditionFailed) => return Ok(()),
        Err(e) => return Err(e),
    };
    if updated
        .strings(ENDPOINTS)
        .iter()
        .all(|e| updated.get(&done_attr(e)).is_some())
    {
        let removes = [Update::Remove(attr::GSI1PK.into()), Update::Remove(attr::GSI1SK.into())];
        store
            .update(event, &removes, Some(Condition::Exists))
            .await
            .or_else(|e| match e {
                Error::ConditionFailed => Ok(Item::new(event.clone())),
                e => Err(e),
            })?;
    }
    Ok(())
}

/// Takes the delivery of an event to an endpoint for one attempt and returns the attempts made
/// before it; `None` when another attempt holds it or it ended.
async fn claim(store: &TenantStore, endpoint: &str, event: &str, now: i64) -> Result<Option<i64>> {
    let key = keys::webhook_log(store.tenant(), endpoint, event)?;
    let lease = Lease::new(now, LEASE);
    let condition = Condition::And(vec![
        lease.free(now),
        Condition::Or(vec![
            Condition::AttrNotExists("status".into()),
            Condition::Compare("status".into(), Cmp::Eq, FAILING.into()),
        ]),
    ]);
    let mut updates = lease.take().to_vec();
    updates.push(Update::Set(attr::EXPIRES_AT.into(), (now + LOG_KEPT).into()));
    match store.update(&key, &updates, Some(condition)).await {
        Ok(item) => Ok(Some(item.num("attempts").unwrap_or_default())),
        Err(Error::ConditionFailed) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether an event may still go: its response (when it is about one) and its person (when it
/// has one) still exist; a deleted person's data is never sent after the deletion.
async fn subject_exists(store: &TenantStore, kind: EventType, event: &Item) -> Result<bool> {
    if matches!(kind, EventType::ResponseCreated | EventType::ResponseUpdated) {
        let Ok(key) = keys::response(store.tenant(), event.str(SUBJECT).unwrap_or_default()) else {
            return Ok(false);
        };
        if store.get(&key).await?.is_none() {
            return Ok(false);
        }
    }
    match event.str(PERSON) {
        Some(person) => match keys::person(store.tenant(), person) {
            Ok(key) => Ok(store.get(&key).await?.is_some()),
            Err(_) => Ok(false),
        },
        None => Ok(true),
    }
}

/// An attempt that was never made, and why, for the log.
fn not_sent(event: &str, kind: EventType, why: &str) -> Attempt {
    Attempt {
        event_id: event.to_owned(),
        event_type: kind,
        delivered: false,
        status: None,
        error: Some(why.to_owned()),
        answer: None,
        duration_ms: 0,
    }
}

/// Delivers one event to one endpoint if it is due: done when delivered, skipped (endpoint
/// paused or deleted, subject deleted) or given up; a failure is logged and made due again after
/// its backoff (the scheduler sends it then). After a day of failures the endpoint is disabled,
/// audited, unless it took other events meanwhile. An error (the store failed) is retried by the
/// queue.
pub async fn deliver(ctx: &Context, outbound: &Outbound, delivery: &WebhookDelivery, now: i64) -> Result<()> {
    let Ok(tenant) = delivery.tenant.parse::<TenantId>() else {
        return Ok(());
    };
    let store = ctx.tenant_store(&tenant);
    let Ok(event_key) = keys::webhook_event(&tenant, &delivery.event) else {
        return Ok(());
    };
    if tenants::active(ctx, &tenant).await?.is_none() {
        // A deleted tenant's events leave the index (their items expire).
        let removes = [Update::Remove(attr::GSI1PK.into()), Update::Remove(attr::GSI1SK.into())];
        return match store.update(&event_key, &removes, Some(Condition::Exists)).await {
            Err(Error::ConditionFailed) | Ok(_) => Ok(()),
            Err(e) => Err(e),
        };
    }
    let Some(event) = store.get(&event_key).await? else {
        return Ok(());
    };
    let endpoint_id = delivery.endpoint.as_str();
    let listed = event.strings(ENDPOINTS).iter().any(|e| e == endpoint_id);
    let waiting = event.num(&next_attr(endpoint_id)).is_some_and(|next| next > now);
    if !listed || waiting || event.get(&done_attr(endpoint_id)).is_some() {
        return Ok(()); // a repeated message: delivered, ended, or its retry is not due yet
    }
    let Ok(kind) = EventType::parse(EVENT_TYPE, event.str(EVENT_TYPE).unwrap_or_default()) else {
        return finish(&store, &event_key, endpoint_id, SKIPPED).await;
    };
    // As this process read it lately: every delivery reads its endpoint (a change reaches the
    // other processes within the tenant cache's time).
    let endpoint = match keys::webhook(&tenant, endpoint_id) {
        Ok(key) => store.get_recent(&key).await?,
        Err(_) => None,
    };
    let Some(endpoint) = endpoint else {
        return finish(&store, &event_key, endpoint_id, SKIPPED).await;
    };
    let why_not = if !matches!(endpoint.get(ACTIVE), Some(Value::Bool(true))) {
        Some("the endpoint was disabled")
    } else if !subject_exists(&store, kind, &event).await? {
        Some("its subject was deleted before it was sent")
    } else {
        None
    };
    if let Some(why) = why_not {
        log_attempt(
            &store,
            endpoint_id,
            &not_sent(&delivery.event, kind, why),
            None,
            SKIPPED,
            false,
        )
        .await?;
        return finish(&store, &event_key, endpoint_id, SKIPPED).await;
    }
    let Some(made) = claim(&store, endpoint_id, &delivery.event, now).await? else {
        // Another attempt holds it, or it ended (and a crash may have kept the event from
        // hearing so).
        let log = store
            .get(&keys::webhook_log(&tenant, endpoint_id, &delivery.event)?)
            .await?;
        if let Some(outcome) = log.as_ref().and_then(|l| l.str("status")).filter(|s| *s != FAILING) {
            finish(&store, &event_key, endpoint_id, outcome).await?;
        }
        return Ok(());
    };
    let number = made + 1;
    let body = match body(ctx, &store, &event, kind, &delivery.event).await {
        Ok(body) => body,
        Err(Error::Undecryptable) => {
            let attempt = not_sent(
                &delivery.event,
                kind,
                "its data no longer opens (the tenant's keys changed)",
            );
            log_attempt(&store, endpoint_id, &attempt, None, SKIPPED, false).await?;
            return finish(&store, &event_key, endpoint_id, SKIPPED).await;
        }
        Err(e) => return Err(e),
    };
    let (url, secret) = url_and_secret(&store, &endpoint).await?;
    let result = attempt(outbound, &url, &secret, kind, &delivery.event, body).await;
    if result.delivered {
        log_attempt(&store, endpoint_id, &result, Some(number), DELIVERED, false).await?;
        // To the minute: one write a minute, not one a delivery (only a day without any
        // success disables an endpoint).
        if endpoint
            .num(LAST_SUCCESS)
            .is_none_or(|at| at < now - SUCCESS_RECORDED_EVERY)
        {
            store
                .update(
                    &endpoint.key,
                    &[Update::Set(LAST_SUCCESS.into(), now.into())],
                    Some(Condition::Exists),
                )
                .await
                .or_else(|e| match e {
                    Error::ConditionFailed => Ok(endpoint.clone()),
                    e => Err(e),
                })?;
        }
        return finish(&store, &event_key, endpoint_id, DELIVERED).await;
    }
    let at = event.num(AT).unwrap_or(now);
    if now - at >= RETRY_FOR {
        log_attempt(&store, endpoint_id, &result, Some(number), GAVE_UP, false).await?;
        finish(&store, &event_key, endpoint_id, GAVE_UP).await?;
        return disable_failing(&store, &endpoint.key, endpoint_id, at, now).await;
    }
    log_attempt(&store, endpoint_id, &result, Some(number), FAILING, false).await?;
    let next = now + backoff(number).min((at + RETRY_FOR - now).max(1));
    let mut updates = vec![Update::Set(next_attr(endpoint_id), next.into())];
    let (_, next_sk) = keys::webhook_due_index(next, &tenant, &delivery.event, store.spread().await?);
    store.update(&event_key, &updates, Some(Condition::Exists)).await?;
    // The event is due by then (unless something else makes it due sooner).
    updates = due_at(next, &store, &delivery.event).await?;
    let sooner = Condition::Compare(attr::GSI1SK.into(), Cmp::Gt, next_sk.into());
    match store.update(&event_key, &updates, Some(sooner)).await {
        Ok(_) | Err(Error::ConditionFailed) => {}
        Err(e) => return Err(e),
    }
    tracing::info!(tenant = %tenant, endpoint = endpoint_id, event = %delivery.event, failed = number, retry_at = next, "webhook delivery failed");
    Ok(())
}

/// Disables an endpoint that failed an event for a day and took none since it, audited once.
async fn disable_failing(store: &TenantStore, key: &Key, id: &str, event_at: i64, now: i64) -> Result<()> {
    let updates = [
        Update::Set(ACTIVE.into(), false.into()),
        Update::Set("disabled_at".into(), now.into()),
        Update::Set(
            "disabled_reason".into(),
            format!("deliveries failed for {} hours", RETRY_FOR / 3600).into(),
        ),
    ];
    let failing = Condition::And(vec![
        Condition::eq(ACTIVE, true),
        Condition::Or(vec![
            Condition::AttrNotExists(LAST_SUCCESS.into()),
            // A success in the event's own second is taken as before it.
            Condition::Compare(LAST_SUCCESS.into(), Cmp::Le, event_at.into()),
        ]),
    ]);
    match store.update(key, &updates, Some(failing)).await {
        Ok(_) => {}
        Err(Error::ConditionFailed) => return Ok(()),
        Err(e) => return Err(e),
    }
    tracing::warn!(tenant = %store.tenant(), endpoint = id, "webhook endpoint disabled after a day of failures");
    let actor = Actor {
        kind: "system",
        id: "job-webhooks",
        role: None,
    };
    audit::record_as(
        store,
        actor,
        None,
        "webhook.disabled",
        Target::Webhook(id.to_owned()),
        Outcome::Failure,
    )
    .await
}

/// Sends a sample event of `kind` (default: the endpoint's first; its permalink on `base`) to an
/// endpoint at once, even a disabled one, and logs it; the answer says how it went.
pub async fn send_test(
    ctx: &Context,
    store: &TenantStore,
    caller: &Caller,
    id: &WebhookId,
    kind: Option<&str>,
    base: &str,
) -> Result<Attempt> {
    let id = id.as_str();
    let item = load_item(store, id).await?;
    let endpoint = Endpoint::from_item(store, &item).await?;
    let kind = match kind {
        Some(name) => EventType::parse(EVENT_TYPE, name)?,
        None => endpoint.events.first().copied().unwrap_or(EventType::ResponseCreated),
    };
    let event_id = new_id();
    let body = envelope(kind, &event_id, sample_data(kind, base))?;
    let (url, secret) = url_and_secret(store, &item).await?;
    let result = attempt(ctx.outbound()?, &url, &secret, kind, &event_id, body).await;
    let status = if result.delivered { DELIVERED } else { FAILING };
    log_attempt(store, id, &result, Some(1), status, true).await?;
    audit::record(
        store,
        caller,
        "webhook.tested",
        Target::Webhook(id.to_owned()),
        Outcome::Success,
    )
    .await?;
    Ok(result)
}

/// The `event_data` of a test event: the shape of the real one, about nobody.
fn sample_data(kind: EventType, base: &str) -> serde_json::Value {
    use serde_json::json;
    let now = now_unix();
    let person = json!({"id": "test", "email": "test@example.com", "name": "Test Person", "phone_number": null, "created_at": now, "last_sent_at": null, "last_responded_at": now, "next_survey_scheduled_at": null});
    match kind {
        EventType::ResponseCreated | EventType::ResponseUpdated => json!({
            "id": "test", "person": person, "survey_type": "nps", "survey_id": "test", "score": 9,
            "comment": "A test event from Ovation.", "permalink": format!("{base}/responses/test"),
            "created_at": now, "updated_at": now, "person_properties": {"plan": "test"}, "notes": [], "tags": [],
            "additional_answers": [], "channel": "email", "language": "en"
        }),
        EventType::UnsubscribeCreated => {
            json!({"person_id": "test", "email": "test@example.com", "name": "Test Person", "unsubscribed_at": now})
        }
        EventType::PersonBounced => {
            json!({"person_id": "test", "email": "test@example.com", "name": "Test Person", "bounced_at": now})
        }
    }
}

/// One event in an endpoint's delivery log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct DeliveryLogEntry {
    pub event_id: String,
    pub event_type: String,
    /// `delivered`, `failing` (retrying), `gave_up`, `skipped`.
    pub status: String,
    pub attempts: i64,
    pub last_attempt_at: Option<i64>,
    pub delivered_at: Option<i64>,
    pub http_status: Option<i64>,
    pub error: Option<String>,
    /// The start of the last answer's body.
    pub answer: Option<String>,
    pub duration_ms: Option<i64>,
    /// A test event (`POST /v1/webhooks/{id}/test`).
    pub test: bool,
}

/// An endpoint's deliveries of the last 30 days, newest first.
pub async fn deliveries(store: &TenantStore, id: &WebhookId, limit: u32) -> Result<Vec<DeliveryLogEntry>> {
    let id = id.as_str();
    load_item(store, id).await?;
    let query = Query::new(keys::webhook_log_partition(store.tenant(), id)?)
        .prefix("D#")
        .backward()
        .limit(limit);
    let page = store.query(query, None).await?;
    let mut out = Vec::with_capacity(page.items.len());
    for item in &page.items {
        // A claim without an attempt yet says nothing.
        let Some(status) = item.str("status") else { continue };
        out.push(DeliveryLogEntry {
            event_id: item.key.sk.trim_start_matches("D#").to_owned(),
            event_type: item.str(EVENT_TYPE).unwrap_or_default().to_owned(),
            status: status.to_owned(),
            attempts: item.num("attempts").unwrap_or_default(),
            last_attempt_at: item.num("last_attempt_at"),
            delivered_at: item.num("delivered_at"),
            http_status: item.num("http_status"),
            error: item.str("error").map(str::to_owned),
            answer: store.crypto().open_str(item, "answer").await?,
            duration_ms: item.num("duration_ms"),
            test: matches!(item.get("test"), Some(Value::Bool(true))),
        });
    }
    Ok(out)
}
