//! The audit trail: one append-only event for every change a principal makes and every sign-in
//! (failed ones too): who (actor and role), what (action, target), when, from where (the address,
//! encrypted under the tenant's key), and the outcome. Events live in one partition per tenant and
//! month, newest listed first; no call changes or removes one (retention removes whole months
//! past the audit period).

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Role;
use crate::domain::time;
use crate::error::{Error, Result};
use crate::ids::id_at;
use crate::services::Caller;
use crate::store::{Condition, Item, Key, MAX_QUERY_LIMIT, Query, SortKey, TenantStore, TxOp, keys, now_unix};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
}

/// What an event is about (ids only, never personal data).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Tenant(String),
    User(String),
    ApiKey(String),
    OAuthClient(String),
    /// A route that was refused (its template, `POST /v1/users`).
    Route(String),
    Survey(String),
    Person(String),
    Response(String),
    Import(String),
    /// A platform's autopilot (`email`, `sms`).
    Autopilot(String),
    Webhook(String),
    SiteKey(String),
    /// Single sign-on: its settings (`oidc`), or the reason a sign-in was refused.
    SingleSignOn(String),
    /// One of the workspace's email domains (`acme.com`).
    EmailDomain(String),
    Team(String),
}

impl Target {
    fn parts(&self) -> (&'static str, &str) {
        match self {
            Target::Tenant(id) => ("tenant", id),
            Target::User(id) => ("user", id),
            Target::ApiKey(id) => ("api_key", id),
            Target::OAuthClient(id) => ("oauth_client", id),
            Target::Route(route) => ("route", route),
            Target::Survey(id) => ("survey", id),
            Target::Person(id) => ("person", id),
            Target::Response(id) => ("response", id),
            Target::Import(id) => ("import", id),
            Target::Autopilot(platform) => ("autopilot", platform),
            Target::Webhook(id) => ("webhook", id),
            Target::SiteKey(id) => ("site_key", id),
            Target::SingleSignOn(what) => ("sso", what),
            Target::EmailDomain(domain) => ("email_domain", domain),
            Target::Team(id) => ("team", id),
        }
    }
}

/// Who acted, as an event records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor<'a> {
    pub kind: &'static str,
    pub id: &'a str,
    pub role: Option<Role>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditEvent {
    pub id: String,
    /// Unix seconds.
    pub created_at: i64,
    /// `user`, `api_key`, `oauth_client`, `scim`, `operator` or `system`.
    pub actor_type: String,
    pub actor_id: String,
    pub role: Option<Role>,
    /// `sign_in.failed`, `user.invited`, `api_key.revoked`, ...
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    /// `success` or `failure`.
    pub outcome: String,
    pub source_ip: Option<String>,
    /// Figures of a system event (`retention.applied`: what was removed, by kind); never
    /// personal data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<BTreeMap<String, u64>>,
}

const IP_ATTR: &str = "ip";
const DETAILS_ATTR: &str = "details";

/// Records an event by the caller.
pub async fn record(
    store: &TenantStore,
    caller: &Caller,
    action: &str,
    target: Target,
    outcome: Outcome,
) -> Result<()> {
    record_as(store, actor_of(caller), caller.ip, action, target, outcome).await
}

fn actor_of(caller: &Caller) -> Actor<'_> {
    let p = &caller.principal;
    Actor {
        kind: p.actor.kind(),
        id: p.actor.id(),
        role: Some(p.role),
    }
}

/// The caller's event about a change, to commit in the change's own transaction, so that the
/// change is never durable without it and costs one commit.
pub async fn entry(store: &TenantStore, caller: &Caller, action: &str, target: Target) -> Result<TxOp> {
    entry_as(store, actor_of(caller), caller.ip, action, target).await
}

/// The operator's event about a change, to commit in the change's transaction.
pub async fn operator_entry(store: &TenantStore, action: &str, target: Target) -> Result<TxOp> {
    entry_as(store, OPERATOR, None, action, target).await
}

/// The event of a change by `actor` (a user known by a link, not by a credential), to commit in
/// the change's transaction.
pub async fn entry_as(
    store: &TenantStore,
    actor: Actor<'_>,
    ip: Option<IpAddr>,
    action: &str,
    target: Target,
) -> Result<TxOp> {
    let item = event_item(store, actor, ip, action, target, Outcome::Success).await?;
    Ok(TxOp::Put {
        item,
        condition: Some(Condition::NotExists),
    })
}

/// Writes one change (one or more operations) and the caller's event about it in one
/// transaction. When the change is one operation, its refused condition answers
/// `ConditionFailed`, as the single write would.
pub async fn commit(
    store: &TenantStore,
    caller: &Caller,
    change: Vec<TxOp>,
    action: &str,
    target: Target,
) -> Result<()> {
    let single = change.len() == 1;
    let mut ops = change;
    ops.push(entry(store, caller, action, target).await?);
    match store.transact(ops).await {
        Err(Error::TransactionCanceled(failures)) if single && failures.iter().all(|f| f.index == 0) => {
            Err(Error::ConditionFailed)
        }
        other => other,
    }
}

/// Records an event of the platform API (the operator creating or deleting a tenant, or making
/// a tenant's first API key).
pub async fn record_operator(store: &TenantStore, action: &str, target: Target, outcome: Outcome) -> Result<()> {
    record_as(store, OPERATOR, None, action, target, outcome).await
}

const OPERATOR: Actor<'static> = Actor {
    kind: "operator",
    id: "operator",
    role: None,
};

/// Records what the platform did by itself in a tenant (`retention.applied`), with its figures.
pub async fn record_system(
    store: &TenantStore,
    action: &str,
    target: Target,
    details: &BTreeMap<String, u64>,
) -> Result<()> {
    let actor = Actor {
        kind: "system",
        id: "system",
        role: None,
    };
    let item = event_item(store, actor, None, action, target, Outcome::Success).await?;
    let details = serde_json::to_string(details).map_err(Error::internal)?;
    store
        .put_own(item.with(DETAILS_ATTR, details), Condition::NotExists)
        .await
}

pub async fn record_as(
    store: &TenantStore,
    actor: Actor<'_>,
    ip: Option<IpAddr>,
    action: &str,
    target: Target,
    outcome: Outcome,
) -> Result<()> {
    let item = event_item(store, actor, ip, action, target, outcome).await?;
    // Append-only: an event is written once and never replaced.
    store.put_own(item, Condition::NotExists).await
}

async fn event_item(
    store: &TenantStore,
    actor: Actor<'_>,
    ip: Option<IpAddr>,
    action: &str,
    target: Target,
    outcome: Outcome,
) -> Result<Item> {
    let now = now_unix();
    let id = ulid::Ulid::new().to_string();
    let key = Key::new(keys::audit_partition(store.tenant(), &time::month_of(now))?, id);
    let (target_type, target_id) = target.parts();
    let mut item = Item::new(key.clone())
        .with("created_at", now)
        .with("actor_type", actor.kind)
        .with("actor_id", actor.id)
        .with("action", action)
        .with("target_type", target_type)
        .with("target_id", target_id)
        .with(
            "outcome",
            match outcome {
                Outcome::Success => "success",
                Outcome::Failure => "failure",
            },
        );
    if let Some(role) = actor.role {
        item = item.with("role", role.as_str());
    }
    if let Some(ip) = ip {
        let sealed = store.crypto().encrypt_str(&key, IP_ATTR, &ip.to_string()).await?;
        item = item.with(IP_ATTR, sealed);
    }
    Ok(item)
}

/// Which events to list.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct AuditFilter {
    /// Unix seconds; default 90 days ago.
    pub since: Option<i64>,
    /// Unix seconds; default now.
    pub until: Option<i64>,
    pub action: Option<String>,
    pub actor_id: Option<String>,
    pub per_page: Option<u32>,
    pub cursor: Option<String>,
    /// `jsonl` for JSON lines (an export), else a JSON array.
    pub format: Option<String>,
}

pub const MAX_PER_PAGE: u32 = 100;
/// Events in one JSON-lines export page.
pub const EXPORT_PAGE: u32 = 10_000;
const DEFAULT_WINDOW: i64 = 90 * 86_400;

/// One page of events, and the window it was taken from (the next page must ask the same).
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    pub cursor: Option<String>,
    pub since: i64,
    pub until: i64,
}

/// Months one request reads at the most; a sparse filter continues on the next page.
const MAX_MONTHS_PER_PAGE: usize = 13;

/// One page of events, newest first. `floor` is the earliest time worth reading (the tenant's
/// creation): a `since` before it reads nothing more.
pub async fn list(store: &TenantStore, filter: &AuditFilter, per_page: u32, floor: i64) -> Result<AuditPage> {
    let now = now_unix();
    // Nothing is later than now (a day's slack for clocks); nothing is earlier than the tenant.
    let until = filter.until.unwrap_or(now).min(now + 86_400);
    let since = filter.since.unwrap_or(until - DEFAULT_WINDOW).max(floor);
    if filter.since.is_some_and(|s| s > until) {
        return Err(Error::invalid("since", "must be a unix time before `until`"));
    }
    if until < since {
        return Ok(AuditPage {
            events: vec![],
            cursor: None,
            since,
            until,
        });
    }
    let sort = SortKey::Between(id_at(since, false), id_at(until, true));
    let last_month = time::month_of(since);
    let (mut month, mut inner) = match filter.cursor.as_deref() {
        None => (time::month_of(until), None),
        Some(text) => {
            let (m, rest) = text.split_once('~').ok_or(Error::InvalidCursor)?;
            let valid = is_month(m) && m >= last_month.as_str() && m <= time::month_of(until).as_str();
            if !valid {
                return Err(Error::InvalidCursor);
            }
            (m.to_owned(), Some(rest.to_owned()).filter(|r| !r.is_empty()))
        }
    };
    let mut events = Vec::new();
    for _ in 0..MAX_MONTHS_PER_PAGE {
        let want = (per_page - events.len() as u32).min(MAX_QUERY_LIMIT);
        let query = Query::new(keys::audit_partition(store.tenant(), &month)?)
            .sort(sort.clone())
            .backward()
            .limit(want);
        let page = store.query(query, inner.as_deref()).await?;
        for item in &page.items {
            let event = from_item(store, item).await?;
            let wanted = filter.action.as_deref().is_none_or(|a| a == event.action)
                && filter.actor_id.as_deref().is_none_or(|a| a == event.actor_id);
            if wanted {
                events.push(event);
            }
        }
        let previous = time::previous_month(&month);
        let next = match page.cursor {
            Some(c) => Some(format!("{month}~{c}")),
            None if previous.as_str() >= last_month.as_str() => Some(format!("{previous}~")),
            None => None,
        };
        let next = match next {
            Some(next) if (events.len() as u32) < per_page => next,
            cursor => {
                return Ok(AuditPage {
                    events,
                    cursor,
                    since,
                    until,
                });
            }
        };
        let (m, rest) = next.split_once('~').unwrap_or_default();
        month = m.to_owned();
        inner = Some(rest.to_owned()).filter(|r| !r.is_empty());
    }
    // Many months read: hand back what was found and where to go on.
    let cursor = Some(format!("{month}~{}", inner.unwrap_or_default()));
    Ok(AuditPage {
        events,
        cursor,
        since,
        until,
    })
}

/// `YYYY-MM` with a month 01 to 12.
fn is_month(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 7
        && bytes[4] == b'-'
        && text[..4].bytes().all(|b| b.is_ascii_digit())
        && text[5..].parse::<u32>().is_ok_and(|m| (1..=12).contains(&m))
        && text[5..].bytes().all(|b| b.is_ascii_digit())
}

async fn from_item(store: &TenantStore, item: &Item) -> Result<AuditEvent> {
    let text = |name: &str| item.str(name).unwrap_or_default().to_owned();
    let source_ip = match item.bytes(IP_ATTR) {
        Some(sealed) => Some(store.crypto().decrypt_str(&item.key, IP_ATTR, sealed).await?),
        None => None,
    };
    Ok(AuditEvent {
        id: item.key.sk.clone(),
        created_at: item.num("created_at").unwrap_or_default(),
        actor_type: text("actor_type"),
        actor_id: text("actor_id"),
        role: item.str("role").and_then(|r| Role::parse(r).ok()),
        action: text("action"),
        target_type: text("target_type"),
        target_id: text("target_id"),
        outcome: text("outcome"),
        source_ip,
        details: item.str(DETAILS_ATTR).and_then(|d| serde_json::from_str(d).ok()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_and_time_bounds() {
        assert_eq!(time::previous_month("2026-01"), "2025-12");
        assert!(is_month("2026-11") && !is_month("2025-00") && !is_month("2025-13") && !is_month("2025-1x"));
        assert_eq!(time::previous_month("2026-11"), "2026-10");
        assert!(id_at(100, false) < id_at(100, true));
        assert!(id_at(100, true) < id_at(101, false));
    }
}
