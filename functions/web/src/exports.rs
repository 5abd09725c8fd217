//! Exports of many responses from the pages: a job of the feed's filters (any size), its page
//! while it runs (refreshing itself, no script needed) and its file once done.

use axum::extract::{MatchedPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::context;
use ovation::files::Download;
use ovation::http::extract::{PathId, PublicBase};
use ovation::http::{attachment, file_body};
use ovation::ids::ExportJobId;
use ovation::services::Caller;
use ovation::services::exports::jobs::{self, ExportKind, ExportStatus};
use ovation::services::exports::spreadsheets::Format;
use ovation::store::now_unix;
use ovation::{Context, Error};

use crate::page::{PageForm, Shell, after_form, error, error_in_layout, refreshing, render, root_of};

type Ctx = State<std::sync::Arc<Context>>;

/// Starts a job exporting the responses the feed's filters select.
pub async fn start(
    State(ctx): Ctx,
    headers: HeaderMap,
    path: Option<MatchedPath>,
    caller: Caller,
    form: PageForm,
) -> Response {
    let root = root_of(path.as_ref());
    let started = async {
        let pairs: Vec<(String, String)> = form.0.clone().into_iter().collect();
        let (_, _, filter) = crate::responses::feed_filter(&pairs, now_unix())?;
        let format: Format = form.get("format").parse()?;
        let store = caller.store(&ctx);
        let filter = filter.for_caller(&store, &caller).await?;
        jobs::request(&ctx, &store, &caller, ExportKind::Responses, Some(format), &filter).await
    };
    let to = started.await.map(|job| format!("exports/{}", job.id));
    after_form(&ctx, &caller, &headers, ("responses", root), to).await
}

/// A job's page: queued or running (it looks again every few seconds), done (its file), failed.
pub async fn page(
    State(ctx): Ctx,
    headers: HeaderMap,
    base: PublicBase,
    caller: Caller,
    PathId(id): PathId<ExportJobId>,
) -> Response {
    let shown = async {
        let job = jobs::get(&ctx, &caller.store(&ctx), &caller, &base.0, &id).await?;
        let current = match job.kind {
            ExportKind::Tenant => crate::data::NAV,
            ExportKind::Responses => "responses",
        };
        let shell = Shell::of(&ctx, &caller, &headers, current).await?;
        let waiting = matches!(job.status, ExportStatus::Queued | ExportStatus::Running);
        let size = job.bytes.map(file_size);
        let expires = crate::page::utc(job.expires_at);
        let page = render(
            StatusCode::OK,
            "export.html",
            "../",
            context! { shell, job, size, expires },
        );
        Ok::<_, Error>((page, waiting))
    };
    match shown.await {
        Ok((page, waiting)) => refreshing(page, waiting.then_some("3")),
        Err(e) => error("../", None, e).into_response(),
    }
}

/// A finished job's file: from the data directory locally; on AWS a redirect to a presigned URL.
pub async fn file(State(ctx): Ctx, headers: HeaderMap, caller: Caller, PathId(id): PathId<ExportJobId>) -> Response {
    let found = async {
        let file = jobs::file(&ctx, &caller.store(&ctx), &caller, &id).await?;
        match file.download {
            Download::Url(url) => Ok((StatusCode::FOUND, [(header::LOCATION, url)]).into_response()),
            Download::Local(path) => Ok(attachment(file.content_type, &file.name, file_body(&path).await?)),
        }
    };
    match found.await {
        Ok(response) => response,
        Err(e) => error_in_layout(&ctx, &caller, &headers, "responses", "../../", e).await,
    }
}

/// A file's size as people read it: `812 bytes`, `14.2 KB`, `3.1 MB` (powers of 1,000).
fn file_size(bytes: i64) -> String {
    match bytes {
        ..1_000 => format!("{bytes} bytes"),
        1_000..1_000_000 => format!("{:.1} KB", bytes as f64 / 1e3),
        _ => format!("{:.1} MB", bytes as f64 / 1e6),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_as_people_say_them() {
        assert_eq!(super::file_size(812), "812 bytes");
        assert_eq!(super::file_size(14_249), "14.2 KB");
        assert_eq!(super::file_size(3_100_000), "3.1 MB");
    }
}
