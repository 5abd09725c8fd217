//! Imports from the web app, as jobs: the file uploaded is read once (`imports::inspect`) and
//! kept sealed with the workspace's key in the store, a slice an item, for a week at most; the
//! page shows its header, first rows and the column each goes to, and the user maps them and
//! starts it. The export job's queue runs it through `imports::run` (the API's and the CLI's
//! code), which writes its progress as it goes; its file is removed when it ends.

use serde::{Deserialize, Serialize};

use crate::context::Context;
use crate::domain::Channel;
use crate::domain::send_at::SendAt;
use crate::error::{Error, Result};
use crate::ids::{ImportId, TenantId, new_id};
use crate::services::accounts::tenants;
use crate::services::accounts::users::UserStatus;
use crate::services::audit::{self, Target};
use crate::services::people::imports::{self, Column, ImportOptions, ImportSummary, ROWS_DONE, SUMMARY};
use crate::services::people::person::SendRequest;
use crate::services::{Caller, SurveyAccess};
use crate::store::lease::{self, Lease};
use crate::store::{BatchOp, Condition, Item, Key, Query, TenantStore, TxOp, Update, keys, now_unix};

/// The bytes of the file an item keeps (sealed, well under DynamoDB's 400 KB).
const SLICE: usize = 256 * 1024;
/// How long an uploaded file is kept, started or not.
const KEPT_SECONDS: i64 = 7 * 86_400;
/// How long a run holds its import (the job function's timeout).
const LEASE: i64 = 900;
/// Imports a workspace may have waiting or running at once.
pub const MAX_ACTIVE: usize = 3;
/// Uploaded files a workspace may keep waiting for their mapping (each kept a week).
const MAX_UNMAPPED: usize = 10;
/// Receives after which an import that keeps failing is marked failed.
const MAX_ATTEMPTS: u32 = 3;
/// Imports the list shows.
pub const LISTED: u32 = 50;
/// The sealed attribute holding the header and first rows.
const INSPECTION: &str = "inspection";
const FILE_PREFIX: &str = "F#";

/// Where a page's import stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportStatus {
    /// Uploaded: its columns are being mapped.
    Mapping,
    Queued,
    Running,
    Done,
    Failed,
}

impl ImportStatus {
    fn as_str(self) -> &'static str {
        match self {
            ImportStatus::Mapping => "mapping",
            ImportStatus::Queued => "queued",
            ImportStatus::Running => "running",
            ImportStatus::Done => "done",
            ImportStatus::Failed => "failed",
        }
    }

    fn of(item: &Item) -> ImportStatus {
        match item.str("status") {
            Some("mapping") => ImportStatus::Mapping,
            Some("queued") => ImportStatus::Queued,
            Some("running") => ImportStatus::Running,
            Some("failed") => ImportStatus::Failed,
            // An import of the API or the CLI has its summary only.
            _ => ImportStatus::Done,
        }
    }
}

/// The header and first rows, kept sealed on the import's item.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Inspected {
    headers: Vec<String>,
    samples: Vec<Vec<String>>,
}

/// Whom to survey once imported: a survey, a channel, a delay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendChoice {
    pub survey: Option<String>,
    pub channel: Channel,
    pub delay: i64,
}

/// An import as a page shows it.
#[derive(Clone, Debug)]
pub struct ImportJob {
    pub id: String,
    pub status: ImportStatus,
    pub rows: u64,
    pub rows_done: u64,
    pub created_at: i64,
    /// While mapping: each column's header, its first values and where it goes unless mapped.
    pub columns: Vec<(String, Vec<String>, Column)>,
    pub summary: Option<ImportSummary>,
    pub error: Option<String>,
}

/// A message of the export queue that runs a page's import.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportMessage {
    pub tenant: String,
    pub import: String,
}

fn file_partition(tenant: &TenantId, id: &str) -> Result<String> {
    keys::import_partition(tenant, id)
}

/// Keeps an uploaded file for mapping: refused at once if it cannot be imported as it is (its
/// encoding, header, size, or too many imports at once). Returns the import's id.
pub async fn upload(store: &TenantStore, caller: &Caller, file: &[u8]) -> Result<String> {
    if file.is_empty() {
        return Err(Error::invalid("file", "choose a CSV file to import"));
    }
    if file.len() > imports::MAX_FILE_BYTES {
        return Err(Error::invalid(
            "file",
            "is over 4 MiB; split it, or import it with the ovation command",
        ));
    }
    let inspection = imports::inspect(file)?;
    let unmapped = list(store)
        .await?
        .iter()
        .filter(|i| i.status == ImportStatus::Mapping)
        .count();
    if unmapped >= MAX_UNMAPPED {
        return Err(Error::invalid(
            "file",
            format!("{unmapped} uploaded files wait for their columns to be mapped; start or leave them first"),
        ));
    }
    let id = new_id();
    let now = now_unix();
    let partition = file_partition(store.tenant(), &id)?;
    let mut slices = Vec::new();
    for (n, slice) in file.chunks(SLICE).enumerate() {
        let key = Key::new(partition.clone(), format!("{FILE_PREFIX}{n:04}"));
        let sealed = store.crypto().encrypt(&key, "data", slice).await?;
        slices.push(BatchOp::Put(
            Item::new(key).with("data", sealed).with_expiry(now + KEPT_SECONDS),
        ));
    }
    store.batch_write(slices).await?;
    let key = imports::import_key(store, &id)?;
    let inspected = Inspected {
        headers: inspection.headers,
        samples: inspection.samples,
    };
    let json = serde_json::to_vec(&inspected).map_err(Error::internal)?;
    let sealed = store.crypto().encrypt(&key, INSPECTION, &json).await?;
    let actor = &caller.principal.actor;
    let item = Item::new(key)
        .with("status", ImportStatus::Mapping.as_str())
        .with("rows", inspection.rows as i64)
        .with("created_at", now)
        .with("actor_id", actor.id())
        .with("actor_role", caller.principal.role.as_str())
        .with(INSPECTION, sealed)
        .with_expiry(now + KEPT_SECONDS);
    store.put_own(item, Condition::NotExists).await?;
    Ok(id)
}

/// One import of the workspace (the API's and the CLI's too).
pub async fn get(store: &TenantStore, id: &ImportId) -> Result<ImportJob> {
    let key = imports::import_key(store, id.as_str()).map_err(|_| Error::NotFound("import"))?;
    let item = store.get(&key).await?.ok_or(Error::NotFound("import"))?;
    view(store, &item, true).await
}

async fn view(store: &TenantStore, item: &Item, columns: bool) -> Result<ImportJob> {
    let status = ImportStatus::of(item);
    let summary: Option<ImportSummary> = match item.str(SUMMARY) {
        Some(json) => Some(serde_json::from_str(json).map_err(Error::internal)?),
        None => None,
    };
    let columns = if columns && status == ImportStatus::Mapping {
        let inspected: Inspected = store.crypto().open_json(item, INSPECTION).await?;
        inspected
            .headers
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let values = inspected.samples.iter().filter_map(|r| r.get(i).cloned()).collect();
                (h.clone(), values, Column::guess(h))
            })
            .collect()
    } else {
        vec![]
    };
    let rows = summary
        .as_ref()
        .map_or(item.num("rows").unwrap_or(0) as u64, |s| s.rows);
    Ok(ImportJob {
        id: item.key.sk.clone(),
        status,
        rows,
        rows_done: item
            .num(ROWS_DONE)
            .map_or(0, |n| n as u64)
            .max(if summary.is_some() { rows } else { 0 }),
        created_at: item
            .num("created_at")
            .or(summary.as_ref().map(|s| s.created_at))
            .unwrap_or(0),
        columns,
        summary,
        error: item.str("error").map(str::to_owned),
    })
}

/// The workspace's latest imports, newest first (the API's and the CLI's too).
pub async fn list(store: &TenantStore) -> Result<Vec<ImportJob>> {
    let page = store
        .query(
            Query::new(keys::imports_partition(store.tenant()))
                .backward()
                .limit(LISTED),
            None,
        )
        .await?;
    let mut out = Vec::with_capacity(page.items.len());
    for item in &page.items {
        out.push(view(store, item, false).await?);
    }
    Ok(out)
}

/// Starts a mapped import: `mapping` (header → column) is checked against its header as `run`
/// will apply it, then the import is queued for the export job.
pub async fn start(
    ctx: &Context,
    store: &TenantStore,
    caller: &Caller,
    id: &ImportId,
    mapping: &[(String, Column)],
    send: Option<SendChoice>,
) -> Result<()> {
    let key = imports::import_key(store, id.as_str()).map_err(|_| Error::NotFound("import"))?;
    let item = store.get(&key).await?.ok_or(Error::NotFound("import"))?;
    if ImportStatus::of(&item) != ImportStatus::Mapping {
        return Err(Error::invalid("import", "has started already"));
    }
    let inspected: Inspected = store.crypto().open_json(&item, INSPECTION).await?;
    imports::columns(&inspected.headers, mapping)?;
    let active = list(store)
        .await?
        .iter()
        .filter(|i| matches!(i.status, ImportStatus::Queued | ImportStatus::Running))
        .count();
    if active >= MAX_ACTIVE {
        return Err(Error::invalid(
            "import",
            format!("{active} imports are waiting or running; start this one when one is done"),
        ));
    }
    if let Some(send) = &send {
        SendAt::after(send.delay)?;
        crate::services::surveys::resolve_visible(store, caller, send.survey.as_deref()).await?;
    }
    let targets: Vec<(String, String)> = mapping.iter().map(|(h, c)| (h.clone(), c.target())).collect();
    let updates = [
        Update::Set("status".into(), ImportStatus::Queued.as_str().into()),
        Update::Set("actor_id".into(), caller.principal.actor.id().into()),
        Update::Set(
            "mapping".into(),
            serde_json::to_string(&targets).map_err(Error::internal)?.into(),
        ),
        Update::Set(
            "send".into(),
            serde_json::to_string(&send).map_err(Error::internal)?.into(),
        ),
    ];
    let mapping_still = Condition::eq("status", ImportStatus::Mapping.as_str());
    let change = vec![TxOp::Update {
        key: key.clone(),
        updates: updates.to_vec(),
        condition: Some(mapping_still),
    }];
    let target = Target::Import(id.as_str().to_owned());
    audit::commit(store, caller, change, "people.import_started", target)
        .await
        .map_err(|e| match e {
            Error::ConditionFailed => Error::invalid("import", "has started already"),
            e => e,
        })?;
    let message = serde_json::to_string(&ImportMessage {
        tenant: store.tenant().to_string(),
        import: id.as_str().to_owned(),
    })
    .map_err(Error::internal)?;
    if let Err(e) = ctx.export_queue()?.send_batch(&[message]).await {
        fail(store, &key, "it could not be queued; upload it again").await?;
        return Err(e);
    }
    Ok(())
}

async fn fail(store: &TenantStore, key: &Key, why: &str) -> Result<()> {
    let updates = [
        Update::Set("status".into(), ImportStatus::Failed.as_str().into()),
        Update::Set("error".into(), why.into()),
    ];
    let updates = [updates.as_slice(), &Lease::end()].concat();
    store.update(key, &updates, Some(Condition::Exists)).await?;
    remove_file(store, &key.sk).await
}

/// Removes an import's uploaded file.
async fn remove_file(store: &TenantStore, id: &str) -> Result<()> {
    let partition = file_partition(store.tenant(), id)?;
    let slices = store.query_all(Query::new(partition).prefix(FILE_PREFIX)).await?;
    let removals: Vec<BatchOp> = slices.into_iter().map(|i| BatchOp::Delete(i.key)).collect();
    if removals.is_empty() {
        return Ok(());
    }
    store.batch_write(removals).await
}

/// Runs a queued import once (the export job): claims it with a lease, reads its file back,
/// imports it, records the outcome and removes the file. A file that cannot be imported as
/// mapped fails the import; another error is retried by the queue, `MAX_ATTEMPTS` times.
pub async fn run(ctx: &Context, message: &ImportMessage, receive_count: u32) -> Result<()> {
    let Ok(tenant) = message.tenant.parse::<TenantId>() else {
        return Ok(());
    };
    let Some(workspace) = tenants::active(ctx, &tenant).await? else {
        return Ok(());
    };
    let store = ctx.tenant_store(&tenant);
    let Ok(key) = imports::import_key(&store, &message.import) else {
        return Ok(());
    };
    let Some(item) = lease::claim_job(&store, &key, now_unix(), LEASE, "import").await? else {
        return Ok(());
    };
    if receive_count > MAX_ATTEMPTS {
        return fail(&store, &key, "it failed every attempt; upload it again").await;
    }
    let hash_only = workspace.settings.privacy.store_email_hash_only;
    let outcome = async {
        // Run as whoever started it, with their role now, while they still may.
        let started_by = crate::services::accounts::users::load(&store, item.str("actor_id").unwrap_or_default())
            .await?
            .filter(|u| u.status == UserStatus::Active && u.role.allows(crate::auth::Permission::ManagePeople))
            .ok_or_else(|| {
                Error::invalid(
                    "import",
                    "whoever started it may no longer import people; start it again",
                )
            })?;
        let file = read_file(&store, &message.import).await?;
        let options = options_of(&item, &message.import)?;
        let surveys = crate::services::accounts::teams::access_of(&store, &started_by.id, started_by.role).await?;
        let caller = requester(&tenant, &started_by.id, started_by.role, surveys);
        imports::run(&store, &caller, hash_only, file.as_slice(), &options, |_| {}).await
    };
    match outcome.await {
        Ok(_) => {
            let done = [
                Update::Set("status".into(), ImportStatus::Done.as_str().into()),
                Update::Remove(crate::store::attr::EXPIRES_AT.into()),
                Update::Remove(INSPECTION.into()),
            ];
            let done = [done.as_slice(), &Lease::end()].concat();
            store.update(&key, &done, Some(Condition::Exists)).await?;
            remove_file(&store, &message.import).await
        }
        Err(Error::Invalid { field, reason }) => fail(&store, &key, &format!("{field}: {reason}")).await,
        Err(e) => {
            store.update(&key, &Lease::end(), Some(Condition::Exists)).await?;
            Err(e)
        }
    }
}

/// How the import was started: its mapping and whom to survey (what `start` checked).
fn options_of(item: &Item, id: &str) -> Result<ImportOptions> {
    let unreadable = |_| Error::invalid("import", "its mapping cannot be read; upload the file again");
    let targets: Vec<(String, String)> =
        serde_json::from_str(item.str("mapping").unwrap_or("[]")).map_err(unreadable)?;
    let mapping = targets
        .iter()
        .map(|(h, t)| Column::parse(t).map(|c| (h.clone(), c)))
        .collect::<Result<Vec<_>>>()?;
    let send: Option<SendChoice> = serde_json::from_str(item.str("send").unwrap_or("null")).map_err(unreadable)?;
    let send = match send {
        Some(s) => Some(SendRequest {
            channel: s.channel,
            at: SendAt::after(s.delay)?,
            survey: s.survey,
        }),
        None => None,
    };
    Ok(ImportOptions {
        mapping,
        send,
        first_row: 2,
        job: Some(id.to_owned()),
    })
}

/// The uploaded file, its slices opened in order.
async fn read_file(store: &TenantStore, id: &str) -> Result<Vec<u8>> {
    let partition = file_partition(store.tenant(), id)?;
    let slices = store.query_all(Query::new(partition).prefix(FILE_PREFIX)).await?;
    if slices.is_empty() {
        return Err(Error::invalid("file", "is no longer kept; upload it again"));
    }
    let mut file = Vec::new();
    for slice in &slices {
        let sealed = slice.bytes("data").ok_or(Error::Undecryptable)?;
        file.extend(store.crypto().decrypt(&slice.key, "data", sealed).await?);
    }
    Ok(file)
}

/// Who started an import, as its audit event names them.
fn requester(tenant: &TenantId, user: &str, role: crate::auth::Role, surveys: SurveyAccess) -> Caller {
    use crate::auth::{Actor, Principal};
    Caller {
        principal: Principal {
            tenant: tenant.clone(),
            actor: Actor::User {
                id: user.to_owned(),
                session: [0; 32],
            },
            role,
            restriction: None,
        },
        ip: None,
        sees_people: true,
        surveys,
    }
}
