//! Data portability: every partition a tenant's items live in (the one list the full export
//! and the purge of a deleted tenant both walk), and the full export itself: every item,
//! its sealed fields decrypted, as JSON lines.

use std::io::Write;

use base64::Engine;
use serde_json::{Map, Value as Json, json};

use super::autopilot::Platform;
use super::suppressions::Suppression;
use crate::context::Context;
use crate::domain::time;
use crate::error::{Error, Result};
use crate::ids::TenantId;
use crate::store::{Item, Query, Store, TenantStore, Value, keys};

/// Items read a page.
const PAGE: u32 = 1000;

/// Every item of `partition`, page by page from the raw store.
async fn items(store: &dyn Store, partition: &str) -> Result<Vec<Item>> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = store.query(&Query::new(partition).limit(PAGE).after(after)).await?;
        out.extend(page.items);
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(out),
        }
    }
}

/// The partitions of a tenant made at `created_at`, as of `now`, each listing one before the
/// partitions it lists: its own, then what it lists
/// (users, clients, surveys with their invitations and counters, people with their pointers,
/// responses, suppression lists, imports, autopilot members, webhook endpoints with their logs
/// and events) and its audit months. Read from keys only: it works on a shredded tenant too.
pub async fn partitions(store: &dyn Store, tenant: &TenantId, created_at: i64, now: i64) -> Result<Vec<String>> {
    let root = keys::tenant_partition(tenant);
    let mut out = vec![root.clone()];
    for item in items(store, &root).await? {
        let sk = item.key.sk.as_str();
        if let Some(user) = sk.strip_prefix(keys::USER_PREFIX) {
            out.push(keys::user_partition(tenant, user)?);
        } else if let Some(client) = sk.strip_prefix(keys::CLIENT_PREFIX) {
            out.push(keys::client_partition(tenant, client)?);
        } else if let Some(survey) = sk.strip_prefix(keys::SURVEY_PREFIX) {
            out.push(keys::survey_partition(tenant, survey)?);
            for shard in 0..crate::services::counters::SHARDS {
                out.push(keys::counters_partition(tenant, survey, shard)?);
            }
        }
    }
    let people = keys::people_partition(tenant);
    out.push(people.clone());
    for person in items(store, &people).await? {
        out.push(keys::person_partition(tenant, &person.key.sk)?);
    }
    out.push(keys::responses_partition(tenant));
    for list in [Suppression::Unsubscribed, Suppression::Bounced] {
        out.push(list.partition(tenant)?);
    }
    let imports = keys::imports_partition(tenant);
    out.push(imports.clone());
    for import in items(store, &imports).await? {
        out.push(keys::import_partition(tenant, &import.key.sk)?);
    }
    for platform in [Platform::Email, Platform::Sms] {
        out.push(platform.members_partition(tenant)?);
    }
    let webhooks = keys::webhooks_partition(tenant);
    out.push(webhooks.clone());
    for endpoint in items(store, &webhooks).await? {
        if let Some(id) = endpoint.key.sk.strip_prefix("EP#") {
            out.push(keys::webhook_log_partition(tenant, id)?);
        }
    }
    out.push(keys::webhook_events_partition(tenant)?);
    out.push(keys::exports_partition(tenant));
    let mut month = time::start_of_month(created_at.min(now));
    while month <= now {
        out.push(keys::audit_partition(tenant, &time::month_of(month))?);
        month = time::start_of_next_month(month);
    }
    Ok(out)
}

/// What the export wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exported {
    pub items: u64,
    pub bytes: u64,
}

/// An attribute as JSON: a sealed field opened (text, or its bytes in base64 when they are
/// not text), other bytes in base64 (hashes, wrapped keys), lists and maps as they are.
async fn open_value(store: &TenantStore, item: &Item, name: &str, value: &Value) -> Result<Json> {
    Ok(match value {
        Value::S(s) => Json::String(s.clone()),
        Value::N(n) => json!(n),
        Value::Bool(b) => json!(b),
        Value::Null => Json::Null,
        Value::B(bytes) => match store.crypto().decrypt(&item.key, name, bytes).await {
            Ok(plain) => match String::from_utf8(plain) {
                Ok(text) => json!({"decrypted": text}),
                Err(e) => json!({"decrypted_base64": base64::engine::general_purpose::STANDARD.encode(e.into_bytes())}),
            },
            Err(Error::Undecryptable) => json!({"base64": base64::engine::general_purpose::STANDARD.encode(bytes)}),
            Err(e) => return Err(e),
        },
        Value::L(list) => Json::Array(list.iter().map(plain_json).collect()),
        Value::M(map) => Json::Object(map.iter().map(|(k, v)| (k.clone(), plain_json(v))).collect()),
    })
}

/// A nested value (never sealed) as JSON.
fn plain_json(value: &Value) -> Json {
    match value {
        Value::S(s) => Json::String(s.clone()),
        Value::N(n) => json!(n),
        Value::Bool(b) => json!(b),
        Value::Null => Json::Null,
        Value::B(bytes) => json!({"base64": base64::engine::general_purpose::STANDARD.encode(bytes)}),
        Value::L(list) => Json::Array(list.iter().map(plain_json).collect()),
        Value::M(map) => Json::Object(map.iter().map(|(k, v)| (k.clone(), plain_json(v))).collect()),
    }
}

/// Writes every item of the tenant to `out`, one JSON object a line (`partition`, `sort`,
/// `attributes`), partition by partition; stops with a 422 past `max_bytes` (the API's limit).
pub async fn export(
    ctx: &Context,
    store: &TenantStore,
    created_at: i64,
    out: &mut impl Write,
    max_bytes: Option<u64>,
) -> Result<Exported> {
    let now = crate::store::now_unix();
    let raw = ctx.store.as_ref();
    let mut written = Exported { items: 0, bytes: 0 };
    for partition in partitions(raw, store.tenant(), created_at, now).await? {
        for item in items(raw, &partition).await? {
            if item.is_expired(now) {
                continue;
            }
            let mut attributes = Map::new();
            for (name, value) in &item.attrs {
                attributes.insert(name.clone(), open_value(store, &item, name, value).await?);
            }
            let line = json!({"partition": item.key.pk, "sort": item.key.sk, "attributes": attributes});
            let mut bytes = serde_json::to_vec(&line).map_err(Error::internal)?;
            bytes.push(b'\n');
            written.bytes += bytes.len() as u64;
            written.items += 1;
            if max_bytes.is_some_and(|max| written.bytes > max) {
                return Err(Error::invalid(
                    "tenant",
                    "is larger than one download; run `ovation export-tenant FILE --tenant …` on the stack's data",
                ));
            }
            out.write_all(&bytes).map_err(Error::internal)?;
        }
    }
    Ok(written)
}
