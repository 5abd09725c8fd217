//! Large exports as jobs: asked for over the API (a job item, then a queue message), written by
//! the export job to its temporary disk a page at a time (never every row in memory), kept by the
//! `Files` port (S3, or the data directory) and fetched through a link that expires. Kinds:
//! survey responses (CSV or Excel, filtered like the list) and the full tenant export (JSON
//! lines, the owner only). The same queue runs the web app's imports (`people::import_jobs`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Role;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::files::Download;
use crate::ids::{ExportJobId, TenantId, new_id};
use crate::services::accounts::tenants;
use crate::services::audit::{self, Outcome, Target};
use crate::services::exports::spreadsheets::{self, Format};
use crate::services::exports::tenant_export;
use crate::services::people::import_jobs::{self, ImportMessage};
use crate::services::results::response_list::{ResponseFilter, ScopedFilter};
use crate::services::{Caller, surveys};
use crate::store::lease::{self, Lease};
use crate::store::{Condition, Item, Key, Query, TenantStore, TxOp, Update, Value, keys, now_unix};

/// Whether a job's file holds people's contact details (its requester could see them).
const CONTACTS: &str = "contacts";

/// How long a finished export is kept (the bucket's lifecycle says the same).
pub const KEPT_SECONDS: i64 = 7 * 86_400;
/// The sealed attribute of a job's narrowing (the web app's feed filters).
const NARROW: &str = "narrow";
/// The surveys a responses job admits, when its requester saw only some (their teams').
const WITHIN: &str = "within";
/// How long a download link works.
pub const LINK_SECONDS: u64 = 900;
/// How long a run holds a job (the job function's timeout).
const LEASE: i64 = 900;
/// Receives after which a job that keeps failing is marked failed.
pub const MAX_ATTEMPTS: u32 = 3;
/// Jobs a tenant may have queued or running at once (they share the job function's few slots).
pub const MAX_ACTIVE: usize = 3;
/// The prefix of the job's temporary files (a file left by a run that was killed is removed by
/// a later one).
const TEMP_PREFIX: &str = "ovation-export-job-";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExportKind {
    Responses,
    Tenant,
}

impl ExportKind {
    fn as_str(self) -> &'static str {
        match self {
            ExportKind::Responses => "responses",
            ExportKind::Tenant => "tenant",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExportStatus {
    Queued,
    Running,
    Done,
    Failed,
}

impl ExportStatus {
    fn as_str(self) -> &'static str {
        match self {
            ExportStatus::Queued => "queued",
            ExportStatus::Running => "running",
            ExportStatus::Done => "done",
            ExportStatus::Failed => "failed",
        }
    }

    fn parse(text: &str) -> ExportStatus {
        match text {
            "running" => ExportStatus::Running,
            "done" => ExportStatus::Done,
            "failed" => ExportStatus::Failed,
            _ => ExportStatus::Queued,
        }
    }
}

/// An export job as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct ExportJob {
    pub id: String,
    pub kind: ExportKind,
    /// `csv`, `xlsx` (responses) or `jsonl` (tenant).
    pub format: String,
    pub status: ExportStatus,
    /// Responses written, or items (tenant).
    pub rows: Option<i64>,
    pub bytes: Option<i64>,
    pub error: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
    /// When done: where to fetch the file (a presigned URL on AWS that works for 15 minutes;
    /// locally this API's `/v1/exports/{id}/file`).
    pub download_url: Option<String>,
    /// When the file is deleted.
    pub expires_at: i64,
}

/// A message of the export queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ExportMessage {
    /// Run the job `export` of `tenant`.
    Job { tenant: String, export: String },
    /// Remove every kept file of a deleted tenant.
    RemoveFiles { remove_files_of: String },
    /// Run an import started in the web app (its file is in the store).
    Import(ImportMessage),
}

pub fn parse_message(body: &str) -> Result<ExportMessage> {
    serde_json::from_str(body).map_err(|_| Error::invalid("message", "is not an export job"))
}

/// Carries out one message of the export queue (`receive_count`: its receives so far).
pub async fn handle_message(ctx: &Context, message: &ExportMessage, receive_count: u32) -> Result<()> {
    match message {
        ExportMessage::Job { tenant, export } => run(ctx, tenant, export, receive_count).await,
        ExportMessage::Import(import) => import_jobs::run(ctx, import, receive_count).await,
        ExportMessage::RemoveFiles { remove_files_of } => {
            let Ok(tenant) = remove_files_of.parse::<TenantId>() else {
                return Ok(());
            };
            // A fresh read: this process may hold the tenant as active in its cache.
            if tenants::load(ctx, &tenant).await?.is_some_and(|t| t.is_active()) {
                tracing::warn!(tenant = %tenant, "file removal asked for a tenant in use; ignored");
                return Ok(());
            }
            let removed = remove_files(ctx, &tenant).await?;
            tracing::info!(tenant = %tenant, removed, "a deleted tenant's export files removed");
            Ok(())
        }
    }
}

fn key(tenant: &TenantId, id: &str) -> Result<Key> {
    Ok(Key::new(keys::exports_partition(tenant), keys::sort_key(&[id])?))
}

/// The file's name in the `Files` port (in the tenant's folder, which its deletion removes).
fn file_name(tenant: &TenantId, id: &str, format: &str) -> String {
    format!("{tenant}/{id}.{format}")
}

/// Asks for an export: the job is recorded, audited and queued; its id comes back at once.
pub async fn request(
    ctx: &Context,
    store: &TenantStore,
    caller: &Caller,
    kind: ExportKind,
    format: Option<Format>,
    filter: &ScopedFilter,
) -> Result<ExportJob> {
    let active = store
        .query_all(Query::new(keys::exports_partition(store.tenant())))
        .await?
        .iter()
        .filter(|job| matches!(job.str("status"), Some("queued" | "running")))
        .count();
    if active >= MAX_ACTIVE {
        return Err(Error::invalid(
            "export",
            format!("{active} exports are queued or running; ask again when one is done"),
        ));
    }
    let id = new_id();
    let now = now_unix();
    let format = format.map_or("jsonl", Format::extension);
    let actor = &caller.principal.actor;
    let mut item = Item::new(key(store.tenant(), &id)?)
        .with("kind", kind.as_str())
        .with("actor_kind", actor.kind())
        .with("actor_id", actor.id())
        .with("actor_role", caller.principal.role.as_str())
        .with("format", format)
        .with(CONTACTS, caller.sees_people)
        .with("status", ExportStatus::Queued.as_str())
        .with("created_at", now)
        .with_expiry(now + KEPT_SECONDS);
    for (name, value) in [
        ("since", filter.since),
        ("until", filter.until),
        ("updated_since", filter.updated_since),
        ("updated_until", filter.updated_until),
    ] {
        if let Some(value) = value {
            item = item.with(name, value);
        }
    }
    if let Some(survey) = &filter.survey {
        item = item.with("survey", survey.as_str());
    }
    if let Some(within) = filter.within() {
        item = item.with(WITHIN, Value::L(within.iter().cloned().map(Value::S).collect()));
    }
    // The feed's narrowing may hold words and property values: sealed like personal data.
    if !filter.narrow.is_none() {
        let json = serde_json::to_vec(&filter.narrow).map_err(Error::internal)?;
        let sealed = store.crypto().encrypt(&item.key, NARROW, &json).await?;
        item = item.with(NARROW, sealed);
    }
    let change = vec![TxOp::Put {
        item: item.clone(),
        condition: Some(Condition::NotExists),
    }];
    let action = format!("{}.export_requested", kind.as_str());
    audit::commit(
        store,
        caller,
        change,
        &action,
        Target::Tenant(store.tenant().to_string()),
    )
    .await?;
    let message = serde_json::to_string(&ExportMessage::Job {
        tenant: store.tenant().to_string(),
        export: id.clone(),
    })
    .map_err(Error::internal)?;
    if let Err(e) = ctx.export_queue()?.send_batch(&[message]).await {
        mark_failed(store, &id, "it could not be queued; ask again").await?;
        return Err(e);
    }
    view(ctx, store, &item, &id, "").await
}

async fn mark_failed(store: &TenantStore, id: &str, why: &str) -> Result<()> {
    let updates = [
        Update::Set("status".into(), ExportStatus::Failed.as_str().into()),
        Update::Set("error".into(), why.into()),
        Update::Set("finished_at".into(), now_unix().into()),
    ];
    let updates = [updates.as_slice(), &Lease::end()].concat();
    store
        .update(&key(store.tenant(), id)?, &updates, Some(Condition::Exists))
        .await?;
    Ok(())
}

fn kind_of(job: &Item) -> ExportKind {
    match job.str("kind") {
        Some("tenant") => ExportKind::Tenant,
        _ => ExportKind::Responses,
    }
}

/// A job's item, as the caller may see it: a tenant export is shown to owners only.
async fn load(store: &TenantStore, caller: &Caller, id: &str) -> Result<Item> {
    let Ok(key) = key(store.tenant(), id) else {
        return Err(Error::NotFound("export"));
    };
    let item = store.get(&key).await?.ok_or(Error::NotFound("export"))?;
    if kind_of(&item) == ExportKind::Tenant && caller.principal.role != Role::Owner {
        return Err(Error::NotFound("export"));
    }
    // A responses file is for those who see every survey it holds (else it is not found).
    if let Some(visible) = surveys::visible_ids(store, caller).await? {
        let holds: Option<Vec<String>> = match (item.str("survey"), item.get(WITHIN)) {
            (Some(survey), _) => Some(vec![survey.to_owned()]),
            (None, Some(_)) => Some(item.strings(WITHIN)),
            (None, None) => None,
        };
        if !holds.is_some_and(|holds| holds.iter().all(|s| visible.contains(s))) {
            return Err(Error::NotFound("export"));
        }
    }
    // A file with people's contact details is for those who may see them; a responses job from
    // before the mark was kept holds them.
    if kind_of(&item) == ExportKind::Responses && item.get(CONTACTS) != Some(&Value::Bool(false)) {
        caller.must_see_people()?;
    }
    Ok(item)
}

/// One job. `base` is this API's public URL (the local stack's downloads go through it).
pub async fn get(
    ctx: &Context,
    store: &TenantStore,
    caller: &Caller,
    base: &str,
    id: &ExportJobId,
) -> Result<ExportJob> {
    let id = id.as_str();
    view(ctx, store, &load(store, caller, id).await?, id, base).await
}

/// The API's view of a job's item, with a download link once it is done.
async fn view(ctx: &Context, store: &TenantStore, item: &Item, id: &str, base: &str) -> Result<ExportJob> {
    let status = ExportStatus::parse(item.str("status").unwrap_or_default());
    let format = item.str("format").unwrap_or("csv").to_owned();
    let download_url = match status {
        ExportStatus::Done => match ctx
            .export_downloads()?
            .download(&file_name(store.tenant(), id, &format), LINK_SECONDS)
            .await?
        {
            Download::Url(url) => Some(url),
            Download::Local(_) => Some(format!("{base}/v1/exports/{id}/file")),
        },
        _ => None,
    };
    Ok(ExportJob {
        id: id.to_owned(),
        kind: kind_of(item),
        format,
        status,
        rows: item.num("rows"),
        bytes: item.num("bytes"),
        error: item.str("error").map(str::to_owned),
        created_at: item.num("created_at").unwrap_or_default(),
        finished_at: item.num("finished_at"),
        download_url,
        expires_at: item.expires_at().unwrap_or_default(),
    })
}

/// A finished job's file, as the `/file` route hands it out.
pub struct JobFile {
    /// The name to save it as.
    pub name: String,
    pub content_type: &'static str,
    pub download: Download,
}

/// A finished job's file: its name, its type, and where it is.
pub async fn file(ctx: &Context, store: &TenantStore, caller: &Caller, id: &ExportJobId) -> Result<JobFile> {
    let id = id.as_str();
    let item = load(store, caller, id).await?;
    if item.str("status") != Some(ExportStatus::Done.as_str()) {
        return Err(Error::invalid("export", "is not done yet"));
    }
    let format = item.str("format").unwrap_or("csv");
    let content_type = match format {
        "jsonl" => tenant_export::CONTENT_TYPE,
        spreadsheet => spreadsheet.parse::<Format>()?.content_type(),
    };
    let download = ctx
        .export_downloads()?
        .download(&file_name(store.tenant(), id, format), LINK_SECONDS)
        .await?;
    Ok(JobFile {
        name: format!("{}-{id}.{format}", kind_of(&item).as_str()),
        content_type,
        download,
    })
}

/// Asks the export job to remove a deleted tenant's files: they are not sealed with its keys, so
/// shredding those does not make them unreadable. Queued, so the API that deletes tenants links
/// no S3 client; should the queue be down, the files still expire with the bucket's 7 days.
pub async fn queue_file_removal(ctx: &Context, tenant: &TenantId) -> Result<()> {
    let message = serde_json::to_string(&ExportMessage::RemoveFiles {
        remove_files_of: tenant.to_string(),
    })
    .map_err(Error::internal)?;
    ctx.export_queue()?.send_batch(&[message]).await
}

/// Removes the tenant's export files and returns how many there were.
async fn remove_files(ctx: &Context, tenant: &TenantId) -> Result<usize> {
    ctx.export_files()?.remove_folder(tenant.as_str()).await
}

/// Runs a queued job once: claims it, writes the file to the temporary disk, keeps it, records
/// the outcome. A job that cannot succeed (an Excel sheet over its row limit) is marked failed;
/// an error is retried by the queue, and after `MAX_ATTEMPTS` receives marked failed.
async fn run(ctx: &Context, tenant: &str, export: &str, receive_count: u32) -> Result<()> {
    let Ok(tenant) = tenant.parse::<TenantId>() else {
        return Ok(());
    };
    let Some(owner) = tenants::active(ctx, &tenant).await? else {
        return Ok(());
    };
    let store = ctx.tenant_store(&tenant);
    let Ok(key) = key(&tenant, export) else {
        return Ok(());
    };
    let Some(item) = lease::claim_job(&store, &key, now_unix(), LEASE, "export").await? else {
        return Ok(());
    };
    if receive_count > MAX_ATTEMPTS {
        return mark_failed(&store, export, "it failed every attempt").await;
    }
    let format = item.str("format").unwrap_or("csv").to_owned();
    remove_stale_temp_files();
    let path = std::env::temp_dir().join(format!("{TEMP_PREFIX}{}.{format}", export));
    let written = write(ctx, &store, &item, &format, owner.created_at, &path).await;
    let kept = match written {
        Ok((rows, content_type)) => {
            let bytes = std::fs::metadata(&path).map(|m| m.len() as i64).unwrap_or_default();
            let name = file_name(&tenant, export, &format);
            match ctx.export_files() {
                Ok(files) => files.put(&name, &path, content_type).await.map(|()| (rows, bytes)),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    };
    let _ = std::fs::remove_file(&path);
    // Deleted while the file was written: its files went then, this one goes now.
    if kept.is_ok() && !tenants::load(ctx, &tenant).await?.is_some_and(|t| t.is_active()) {
        remove_files(ctx, &tenant).await?;
        return Ok(());
    }
    match kept {
        Ok((rows, bytes)) => {
            let updates = [
                Update::Set("status".into(), ExportStatus::Done.as_str().into()),
                Update::Set("rows".into(), rows.into()),
                Update::Set("bytes".into(), bytes.into()),
                Update::Set("finished_at".into(), now_unix().into()),
            ];
            let updates = [updates.as_slice(), &Lease::end()].concat();
            store.update(&key, &updates, Some(Condition::Exists)).await?;
            let action = match item.str("kind") {
                Some("tenant") => "tenant.exported",
                _ => "responses.exported",
            };
            let target = Target::Tenant(tenant.to_string());
            audit::record_as(&store, requester(&item), None, action, target, Outcome::Success).await
        }
        Err(Error::Invalid { field, reason }) => mark_failed(&store, export, &format!("{field}: {reason}")).await,
        Err(e) => {
            // The next receive claims it again at once.
            store.update(&key, &Lease::end(), Some(Condition::Exists)).await?;
            Err(e)
        }
    }
}

/// Who asked for a job, as its audit events name them.
fn requester(job: &Item) -> audit::Actor<'_> {
    let kind = match job.str("actor_kind") {
        Some("user") => "user",
        Some("api_key") => "api_key",
        Some("oauth_client") => "oauth_client",
        Some("operator") => "operator",
        _ => "system",
    };
    audit::Actor {
        kind,
        id: job.str("actor_id").unwrap_or("job-exports"),
        role: job.str("actor_role").and_then(|r| Role::parse(r).ok()),
    }
}

/// Removes temporary files of runs that were killed (a reused Lambda environment keeps its
/// disk): any with this job's prefix older than a run may last.
fn remove_stale_temp_files() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|at| at.elapsed().is_ok_and(|age| age.as_secs() > LEASE as u64));
        if stale && entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Writes the job's file; the rows (or items) written and its content type.
async fn write(
    ctx: &Context,
    store: &TenantStore,
    job: &Item,
    format: &str,
    tenant_created_at: i64,
    path: &std::path::Path,
) -> Result<(i64, &'static str)> {
    if job.str("kind") == Some("tenant") {
        let file = std::fs::File::create(path).map_err(Error::internal)?;
        let mut out = std::io::BufWriter::new(file);
        let exported = tenant_export::export(ctx, store, tenant_created_at, &mut out, None).await?;
        std::io::Write::flush(&mut out).map_err(Error::internal)?;
        return Ok((exported.items as i64, tenant_export::CONTENT_TYPE));
    }
    let format: Format = format.parse()?;
    let asked = ResponseFilter {
        since: job.num("since"),
        until: job.num("until"),
        updated_since: job.num("updated_since"),
        updated_until: job.num("updated_until"),
        survey: job.str("survey").map(str::to_owned),
        narrow: store.crypto().open_json(job, NARROW).await?,
        ..ResponseFilter::default()
    };
    let within = job.get(WITHIN).map(|_| job.strings(WITHIN).into_iter().collect());
    let filter = ScopedFilter::as_requested(asked, within);
    let contacts = job.get(CONTACTS) == Some(&Value::Bool(true));
    let summary = spreadsheets::responses_to_file(store, &filter, (format, contacts), path, None, |_| {}).await?;
    Ok((summary.rows as i64, format.content_type()))
}
