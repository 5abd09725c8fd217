//! Data portability: every partition a tenant's items live in (the one walk the full export and
//! the purge of a deleted tenant both take), and the full export itself: every item, its sealed
//! fields decrypted (secrets redacted), as JSON lines.

use std::io::Write;

use base64::Engine;
use serde_json::{Map, Value as Json, json};

use crate::context::Context;
use crate::domain::time;
use crate::error::{Error, Result};
use crate::ids::TenantId;
use crate::services::people::person::Suppression;
use crate::services::sending::autopilot::Platform;
use crate::store::keys::Spread;
use crate::store::{Item, Query, Store, TenantStore, Value, keys};

/// Items read a page.
const PAGE: u32 = 1000;

/// Attributes never exported, opened or not: users' password hashes, second-factor seeds and
/// recovery codes (`secrets`), webhook signing secrets; a line shows `{"redacted": true}`.
const REDACTED: &[&str] = &["secrets", "secret"];

/// The media type of the export: one JSON object a line.
pub const CONTENT_TYPE: &str = "application/x-ndjson";

/// Whether a partition lists others (the purge deletes it after them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lists {
    Others,
    Nothing,
}

/// The partitions below a listed item (a user's, a survey's, a person's, ...).
type Derive = fn(&TenantId, &Item, Spread) -> Result<Vec<String>>;

/// Where partitions come from: one known by name, or one whose items name others.
enum Source {
    Fixed(String),
    Listing(String, Derive),
}

/// Every partition of a tenant, each listing one before the partitions it lists: its own, then
/// what it lists (users, clients, surveys with their invitations and counters, people with their
/// pointers, responses, suppression lists, imports, autopilot members, webhook endpoints with
/// their logs and events, export jobs, staff notifications) and its audit months. Read from keys only (it works on a
/// shredded tenant too), a page of a listing partition at a time.
pub struct Partitions<'a> {
    store: &'a dyn Store,
    tenant: TenantId,
    sources: std::collections::VecDeque<Source>,
    found: std::collections::VecDeque<String>,
    /// The listing partition being read and where its reading stands.
    reading: Option<(String, Derive, Option<crate::store::Position>)>,
}

impl<'a> Partitions<'a> {
    /// The partitions of a tenant made at `created_at`, as of `now`.
    pub fn of(store: &'a dyn Store, tenant: &TenantId, created_at: i64, now: i64) -> Result<Partitions<'a>> {
        let mut sources = std::collections::VecDeque::from([
            Source::Listing(keys::tenant_partition(tenant), below_tenant),
            Source::Listing(keys::people_partition(tenant), below_person),
            Source::Fixed(keys::responses_partition(tenant)),
            Source::Fixed(Suppression::Unsubscribed.partition(tenant)?),
            Source::Fixed(Suppression::Bounced.partition(tenant)?),
            Source::Listing(keys::imports_partition(tenant), below_import),
            Source::Fixed(Platform::Email.members_partition(tenant)?),
            Source::Fixed(Platform::Sms.members_partition(tenant)?),
            Source::Listing(keys::webhooks_partition(tenant), below_webhook),
            Source::Fixed(keys::webhook_events_partition(tenant)?),
            Source::Fixed(keys::exports_partition(tenant)),
            Source::Fixed(keys::notifications_partition(tenant)),
            Source::Fixed(keys::notified_partition(tenant)),
        ]);
        let mut month = time::start_of_month(created_at.min(now));
        while month <= now {
            sources.push_back(Source::Fixed(keys::audit_partition(tenant, &time::month_of(month))?));
            month = time::start_of_next_month(month);
        }
        Ok(Partitions {
            store,
            tenant: tenant.clone(),
            sources,
            found: std::collections::VecDeque::new(),
            reading: None,
        })
    }

    /// The next partition, and whether it lists others; none after the last.
    pub async fn next(&mut self) -> Result<Option<(String, Lists)>> {
        loop {
            if let Some(partition) = self.found.pop_front() {
                return Ok(Some((partition, Lists::Nothing)));
            }
            if let Some((partition, derive, after)) = self.reading.take() {
                let page = self
                    .store
                    .query(&Query::new(&partition).limit(PAGE).after(after))
                    .await?;
                for item in &page.items {
                    self.found
                        .extend(derive(&self.tenant, item, self.store.spread().await?)?);
                }
                if let Some(next) = page.next {
                    self.reading = Some((partition, derive, Some(next)));
                }
                continue;
            }
            match self.sources.pop_front() {
                None => return Ok(None),
                Some(Source::Fixed(partition)) => return Ok(Some((partition, Lists::Nothing))),
                Some(Source::Listing(partition, derive)) => {
                    self.reading = Some((partition.clone(), derive, None));
                    return Ok(Some((partition, Lists::Others)));
                }
            }
        }
    }
}

fn below_tenant(tenant: &TenantId, item: &Item, spread: Spread) -> Result<Vec<String>> {
    let sk = item.key.sk.as_str();
    if let Some(user) = sk.strip_prefix(keys::USER_PREFIX) {
        Ok(vec![keys::user_partition(tenant, user)?])
    } else if let Some(client) = sk.strip_prefix(keys::CLIENT_PREFIX) {
        Ok(vec![keys::client_partition(tenant, client)?])
    } else if let Some(survey) = sk.strip_prefix(keys::SURVEY_PREFIX) {
        let mut out = vec![
            keys::survey_partition(tenant, survey)?,
            keys::site_visitors_partition(tenant, survey)?,
        ];
        for shard in 0..crate::services::results::counters::shards(spread) {
            out.push(keys::counters_partition(tenant, survey, shard)?);
        }
        Ok(out)
    } else {
        Ok(vec![])
    }
}

fn below_person(tenant: &TenantId, item: &Item, _: Spread) -> Result<Vec<String>> {
    Ok(vec![keys::person_partition(tenant, &item.key.sk)?])
}

fn below_import(tenant: &TenantId, item: &Item, _: Spread) -> Result<Vec<String>> {
    Ok(vec![keys::import_partition(tenant, &item.key.sk)?])
}

fn below_webhook(tenant: &TenantId, item: &Item, _: Spread) -> Result<Vec<String>> {
    match item.key.sk.strip_prefix("EP#") {
        Some(id) => Ok(vec![keys::webhook_log_partition(tenant, id)?]),
        None => Ok(vec![]),
    }
}

/// Deletes every item of `partition`, a page at a time.
pub async fn delete_partition(store: &dyn Store, partition: &str) -> Result<()> {
    loop {
        let page = store.query(&Query::new(partition).limit(PAGE)).await?;
        if page.items.is_empty() {
            return Ok(());
        }
        let more = page.next.is_some();
        store
            .batch_write(
                page.items
                    .into_iter()
                    .map(|i| crate::store::BatchOp::Delete(i.key))
                    .collect(),
            )
            .await?;
        if !more {
            return Ok(());
        }
    }
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
    if REDACTED.contains(&name) {
        return Ok(json!({"redacted": true}));
    }
    let Value::B(bytes) = value else {
        return Ok(plain_json(value));
    };
    Ok(match store.crypto().decrypt(&item.key, name, bytes).await {
        Ok(plain) => match String::from_utf8(plain) {
            Ok(text) => json!({"decrypted": text}),
            Err(e) => json!({"decrypted_base64": base64::engine::general_purpose::STANDARD.encode(e.into_bytes())}),
        },
        Err(Error::Undecryptable) => plain_json(value),
        Err(e) => return Err(e),
    })
}

/// How many of an item's bytes attributes open with the tenant's keys (the restore drill's
/// sample). Bytes that do not open are not sealed fields (hashes, wrapped keys), as for the
/// export; a key that cannot be had is an error.
pub async fn open_sealed(store: &TenantStore, item: &Item) -> Result<u64> {
    let mut opened = 0;
    for (name, value) in &item.attrs {
        let Value::B(bytes) = value else { continue };
        match store.crypto().decrypt(&item.key, name, bytes).await {
            Ok(_) => opened += 1,
            Err(Error::Undecryptable) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(opened)
}

/// A value as JSON as it is stored (bytes in base64: hashes, wrapped keys).
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
    let mut partitions = Partitions::of(raw, store.tenant(), created_at, now)?;
    while let Some((partition, _)) = partitions.next().await? {
        let mut after = None;
        loop {
            let page = raw.query(&Query::new(&partition).limit(PAGE).after(after)).await?;
            for item in page.items.iter().filter(|i| !i.is_expired(now)) {
                let mut attributes = Map::new();
                for (name, value) in &item.attrs {
                    attributes.insert(name.clone(), open_value(store, item, name, value).await?);
                }
                let line = json!({"partition": item.key.pk, "sort": item.key.sk, "attributes": attributes});
                let mut bytes = serde_json::to_vec(&line).map_err(Error::internal)?;
                bytes.push(b'\n');
                written.bytes += bytes.len() as u64;
                written.items += 1;
                if max_bytes.is_some_and(|max| written.bytes > max) {
                    return Err(Error::invalid(
                        "tenant",
                        "is larger than one download: POST /v1/exports/tenant makes it as a job",
                    ));
                }
                out.write_all(&bytes).map_err(Error::internal)?;
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
    }
    Ok(written)
}
