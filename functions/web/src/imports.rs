//! Importing people from a CSV file in pages (whoever manages people): the file is uploaded and
//! read at once (refused then if it cannot be imported), its columns are shown with their first
//! values and mapped, and the import runs as a job whose page shows its progress (refreshing
//! itself, no script needed), then its counts and the rows it refused, as a file. The imports
//! list shows the latest, the API's and the CLI's too. Thin over `services::people::import_jobs`.

use axum::extract::{MatchedPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use minijinja::context;
use ovation::domain::Channel;
use ovation::http::attachment;
use ovation::http::extract::PathId;
use ovation::ids::ImportId;
use ovation::services::Caller;
use ovation::services::people::import_jobs::{self, ImportJob, ImportStatus, SendChoice};
use ovation::services::people::imports::{self, Column};
use ovation::services::surveys;
use ovation::{Context, Error, Result};

use crate::page::{
    PageForm, PageUpload, Shell, after_form, error, error_in_layout, in_layout, refreshing, render, root_of, utc,
};

type Ctx = State<std::sync::Arc<Context>>;

/// An import as a list or its page shows it.
fn row(job: &ImportJob) -> minijinja::Value {
    let status = match job.status {
        ImportStatus::Mapping => "waiting for its columns to be mapped",
        ImportStatus::Queued => "waiting to start",
        ImportStatus::Running => "running",
        ImportStatus::Done => "done",
        ImportStatus::Failed => "failed",
    };
    context! {
        id => &job.id, status, state => format!("{:?}", job.status).to_lowercase(),
        rows => job.rows, rows_done => job.rows_done, when => utc(job.created_at),
        summary => job.summary.as_ref().map(|s| context! {
            created => s.created, updated => s.updated, unchanged => s.unchanged,
            failed => s.failed, scheduled => s.scheduled,
        }),
        error => &job.error,
    }
}

/// The imports, newest first, and the form to upload a file.
pub async fn list(State(ctx): Ctx, headers: HeaderMap, caller: Caller) -> Response {
    let values = async {
        let imports: Vec<_> = import_jobs::list(&caller.store(&ctx)).await?.iter().map(row).collect();
        Ok(context! { imports, max_rows => format!("{},{:03}", imports::MAX_ROWS / 1000, imports::MAX_ROWS % 1000) })
    };
    in_layout(&ctx, &caller, &headers, ("people", "imports.html", "../"), values).await
}

/// Uploads a file: read and kept for mapping, or refused with the reason.
pub async fn upload(
    State(ctx): Ctx,
    headers: HeaderMap,
    path: Option<MatchedPath>,
    caller: Caller,
    form: PageUpload,
) -> Response {
    let root = root_of(path.as_ref());
    let uploaded = import_jobs::upload(&caller.store(&ctx), &caller, &form.file).await;
    let to = uploaded.map(|id| format!("people/imports/{id}"));
    after_form(&ctx, &caller, &headers, ("people", root), to).await
}

/// An import's page: its columns to map, its progress, or its outcome.
pub async fn one(State(ctx): Ctx, headers: HeaderMap, caller: Caller, PathId(id): PathId<ImportId>) -> Response {
    let shown = async {
        let store = caller.store(&ctx);
        let job = import_jobs::get(&store, &id).await?;
        let shell = Shell::of(&ctx, &caller, &headers, "people").await?;
        let columns: Vec<_> = job
            .columns
            .iter()
            .enumerate()
            .map(|(i, (header, values, guess))| {
                context! { i, header, values, guess => guess.target(), targets => targets(header) }
            })
            .collect();
        let surveys: Vec<_> = surveys::list_visible(&store, &caller, false)
            .await?
            .into_iter()
            .map(|s| context! { id => s.id, name => s.definition.name })
            .collect();
        let waiting = matches!(job.status, ImportStatus::Queued | ImportStatus::Running);
        let page = render(
            StatusCode::OK,
            "import.html",
            "../../",
            context! { shell, job => row(&job), columns, surveys },
        );
        Ok::<_, Error>((page, waiting))
    };
    match shown.await {
        Ok((page, waiting)) => refreshing(page, waiting.then_some("2")),
        Err(e) => error_in_layout(&ctx, &caller, &headers, "people", "../../", e).await,
    }
}

/// Where a column may go: a field, a property named after its header, or nowhere.
fn targets(header: &str) -> Vec<minijinja::Value> {
    let property = Column::Property(header.trim().to_owned());
    [
        (Column::Email, "Email".to_owned()),
        (Column::Phone, "Phone number".to_owned()),
        (Column::Name, "Name".to_owned()),
        (property, format!("Property “{}”", header.trim())),
        (Column::Ignore, "Leave out".to_owned()),
    ]
    .into_iter()
    .filter(|(c, _)| !matches!(c, Column::Property(p) if p.is_empty()))
    .map(|(c, label)| context! { value => c.target(), label })
    .collect()
}

/// Starts a mapped import, sending the survey to whom it imports if asked.
pub async fn start(
    State(ctx): Ctx,
    headers: HeaderMap,
    path: Option<MatchedPath>,
    caller: Caller,
    PathId(id): PathId<ImportId>,
    form: PageForm,
) -> Response {
    let root = root_of(path.as_ref());
    let started = async {
        let store = caller.store(&ctx);
        let job = import_jobs::get(&store, &id).await?;
        let mapping = job
            .columns
            .iter()
            .enumerate()
            .map(|(i, (header, _, _))| Ok((header.trim().to_owned(), Column::parse(form.get(&format!("map.{i}")))?)))
            .collect::<Result<Vec<_>>>()?;
        let send = match form.get("send") {
            "" => None,
            _ => Some(SendChoice {
                survey: Some(form.get("survey_id").to_owned()).filter(|s| !s.is_empty()),
                channel: Channel::parse_send("channel", form.get("channel"))?,
                delay: hours(form.get("delay_hours"))? * 3600,
            }),
        };
        import_jobs::start(&ctx, &store, &caller, &id, &mapping, send).await
    };
    let to = started.await.map(|()| format!("people/imports/{}", id.as_str()));
    after_form(&ctx, &caller, &headers, ("people", root), to).await
}

/// A delay in whole hours, 0 to a year and a day (what `SendAt::after` takes).
fn hours(text: &str) -> Result<i64> {
    match text.trim() {
        "" => Ok(0),
        t => t
            .parse::<i64>()
            .ok()
            .filter(|h| (0..=8784).contains(h))
            .ok_or_else(|| Error::invalid("delay_hours", "write a whole number of hours from 0 (at once) to 8784")),
    }
}

/// The rows an import refused, as CSV: row, field, reason.
pub async fn errors(State(ctx): Ctx, caller: Caller, PathId(id): PathId<ImportId>) -> Response {
    match imports::error_report(&caller.store(&ctx), &id).await {
        Ok(csv) => attachment(
            "text/csv; charset=utf-8",
            &format!("import-{}-errors.csv", id.as_str()),
            csv,
        ),
        Err(e) => error("../../../", None, e).into_response(),
    }
}
