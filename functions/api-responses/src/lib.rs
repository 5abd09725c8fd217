//! `api-responses`: survey responses as Delighted's API has them (record, list with its filters
//! and `page`/`per_page`, read, change notes and tags; also at `.json` paths) and the metrics.
//! The router only, with thin handlers over `ovation::services::{results, exports}`.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use ovation::domain::Channel;
use ovation::domain::Email;
use ovation::files::Download;
use ovation::http::extract::{DelightedBody, ListPage, PathId, PublicBase, Scoped, next_page};
use ovation::http::{attachment, file_body};
use ovation::ids::{ExportJobId, ResponseId};
use ovation::services::exports::downloads;
use ovation::services::exports::jobs::{self, ExportKind};
use ovation::services::exports::spreadsheets::Format;
use ovation::services::people::person;
use ovation::services::results::metrics::{self, MetricsQuery, Period};
use ovation::services::results::response_list;
use ovation::services::results::response_list::{MAX_OFFSET, Order, ResponseFilter};
use ovation::services::results::response_record;
use ovation::services::results::response_wire;
use ovation::services::results::response_wire::ResponseRequest;
use ovation::services::results::responses;
use ovation::services::webhooks::delivery;
use ovation::{Context, Error, Result};

/// This function's name in the route table and in `template.yaml`.
pub const FUNCTION: &str = "api-responses";
pub const MAX_PER_PAGE: u32 = 100;

type Ctx = State<Arc<Context>>;

pub fn routes(ctx: Arc<Context>) -> Router {
    Router::new()
        .route("/v1/survey_responses", get(list).post(create))
        .route("/v1/survey_responses.json", get(list).post(create))
        .route("/v1/survey_responses/{id}", get(one).put(update))
        .route("/v1/exports/responses", get(export).post(export_job))
        .route("/v1/exports/{id}", get(export_status))
        .route("/v1/exports/{id}/file", get(export_file))
        .route("/v1/metrics", get(metrics))
        .route("/v1/metrics.json", get(metrics))
        .with_state(ctx)
}

/// The list's query, read by hand: Delighted's clients send `expand[]=person`.
struct ListQuery {
    filter: ResponseFilter,
    per_page: u32,
    page: u32,
    expand_person: bool,
    person_email: Option<String>,
    cursor: Option<String>,
    /// What the next page's link repeats.
    echo: Vec<(&'static str, String)>,
}

fn parse_list_query(raw: Option<&str>) -> Result<ListQuery> {
    let mut q = ListQuery {
        filter: ResponseFilter::default(),
        per_page: 20,
        page: 1,
        expand_person: false,
        person_email: None,
        cursor: None,
        echo: vec![],
    };
    let int = |name: &'static str, v: &str| -> Result<i64> {
        v.trim()
            .parse()
            .map_err(|_| Error::invalid(name, "must be a whole number"))
    };
    for (name, value) in form_pairs(raw.unwrap_or_default()) {
        let mut echo = |n: &'static str| q.echo.push((n, value.clone()));
        match name.as_str() {
            "per_page" => {
                echo("per_page");
                q.per_page = u32::try_from(int("per_page", &value)?)
                    .ok()
                    .filter(|n| (1..=MAX_PER_PAGE).contains(n))
                    .ok_or_else(|| Error::invalid("per_page", format!("must be between 1 and {MAX_PER_PAGE}")))?;
            }
            "page" => {
                q.page = u32::try_from(int("page", &value)?)
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| Error::invalid("page", "must be 1 or more"))?;
            }
            "since" => {
                echo("since");
                q.filter.since = Some(int("since", &value)?);
            }
            "until" => {
                echo("until");
                q.filter.until = Some(int("until", &value)?);
            }
            "updated_since" => {
                echo("updated_since");
                q.filter.updated_since = Some(int("updated_since", &value)?);
            }
            "updated_until" => {
                echo("updated_until");
                q.filter.updated_until = Some(int("updated_until", &value)?);
            }
            "trend" | "survey_id" => {
                echo("survey_id");
                q.filter.survey = Some(value.clone());
            }
            "person_id" => {
                echo("person_id");
                q.filter.person = Some(value.clone());
            }
            "person_email" => {
                echo("person_email");
                q.person_email = Some(value.clone());
            }
            "order" => {
                echo("order");
                q.filter.order = Order::parse(&value)?;
            }
            "expand[]" | "expand" => {
                match value.as_str() {
                    "person" => q.expand_person = true,
                    "notes" => {}
                    _ => return Err(Error::invalid("expand", "can expand person (and notes, always shown)")),
                }
                echo("expand[]");
            }
            "cursor" => q.cursor = Some(value.clone()),
            _ => return Err(Error::invalid("query", format!("unknown parameter `{name}`"))),
        }
    }
    if q.page.saturating_mul(q.per_page) > MAX_OFFSET {
        return Err(Error::invalid(
            "page",
            format!("pages reach {MAX_OFFSET} responses deep; follow the Link header's next page instead"),
        ));
    }
    Ok(q)
}

fn form_pairs(raw: &str) -> Vec<(String, String)> {
    ovation::http::extract::form_to_pairs(raw.as_bytes())
}

async fn list(Scoped { store, .. }: Scoped, base: PublicBase, RawQuery(raw): RawQuery) -> Result<Response> {
    let mut q = parse_list_query(raw.as_deref())?;
    if let Some(email) = &q.person_email {
        match person::load_by_email(&store, &Email::parse_field("person_email", email)?).await? {
            Some(p) => q.filter.person = Some(p.id),
            None => return Ok(Json(Vec::<()>::new()).into_response()),
        }
    }
    let skip = (q.page - 1) * q.per_page;
    let page = response_list::list(&store, &q.filter, q.per_page, skip, q.cursor.as_deref()).await?;
    let views = response_wire::views(&store, &base.0, &page.responses, q.expand_person).await?;
    Ok(ListPage {
        items: views,
        next: next_page(&base, "/v1/survey_responses", &q.echo, page.cursor),
    }
    .into_response())
}

async fn create(
    State(ctx): Ctx,
    Scoped { caller, store }: Scoped,
    base: PublicBase,
    DelightedBody(request): DelightedBody<ResponseRequest>,
) -> Result<Response> {
    let record = responses::create(&store, &caller, request.into_new()?).await?;
    delivery::dispatch_recent(&ctx, &store).await;
    let view = response_wire::views(&store, &base.0, std::slice::from_ref(&record), false).await?;
    Ok((StatusCode::CREATED, Json(&view[0])).into_response())
}

fn expands_person(raw: Option<&str>) -> bool {
    form_pairs(raw.unwrap_or_default())
        .iter()
        .any(|(n, v)| (n == "expand[]" || n == "expand") && v == "person")
}

async fn one(
    Scoped { store, .. }: Scoped,
    base: PublicBase,
    PathId(id): PathId<ResponseId>,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let record = response_record::load(&store, id.as_str())
        .await?
        .ok_or(Error::NotFound("survey response"))?;
    let view = response_wire::views(
        &store,
        &base.0,
        std::slice::from_ref(&record),
        expands_person(raw.as_deref()),
    )
    .await?;
    Ok(Json(&view[0]).into_response())
}

async fn update(
    State(ctx): Ctx,
    Scoped { caller, store }: Scoped,
    base: PublicBase,
    PathId(id): PathId<ResponseId>,
    RawQuery(raw): RawQuery,
    DelightedBody(request): DelightedBody<ResponseRequest>,
) -> Result<Response> {
    let record = responses::update(&store, &caller, id.as_str(), request.into_change()?).await?;
    delivery::dispatch_recent(&ctx, &store).await;
    let view = response_wire::views(
        &store,
        &base.0,
        std::slice::from_ref(&record),
        expands_person(raw.as_deref()),
    )
    .await?;
    Ok(Json(&view[0]).into_response())
}

/// A query parameter that is a Unix time.
fn time(name: &'static str, value: &str) -> Result<i64> {
    value
        .trim()
        .parse()
        .map_err(|_| Error::invalid(name, "must be a Unix time in seconds"))
}

fn parse_metrics_query(raw: Option<&str>) -> Result<MetricsQuery> {
    let mut q = MetricsQuery::default();
    for (name, value) in form_pairs(raw.unwrap_or_default()) {
        match name.as_str() {
            "since" => q.since = Some(time("since", &value)?),
            "until" => q.until = Some(time("until", &value)?),
            "trend" | "survey_id" => q.survey = Some(value),
            "channel" => {
                q.channel = Some(match value.as_str() {
                    "email" => Channel::Email,
                    "sms" => Channel::Sms,
                    "web" => Channel::Web,
                    "api" => Channel::Api,
                    _ => return Err(Error::invalid("channel", "must be email, sms, web or api")),
                })
            }
            "segment" => q.segment = Some(value),
            "group_by" => q.group_by = Some(Period::parse(&value)?),
            "time_zone" => q.zone = metrics::zone(&value)?,
            _ => return Err(Error::invalid("query", format!("unknown parameter `{name}`"))),
        }
    }
    Ok(q)
}

async fn metrics(Scoped { store, .. }: Scoped, RawQuery(raw): RawQuery) -> Result<Response> {
    let query = parse_metrics_query(raw.as_deref())?;
    Ok(Json(metrics::read(&store, &query).await?).into_response())
}

fn parse_export_query(raw: Option<&str>) -> Result<(Format, ResponseFilter)> {
    let (mut format, mut filter) = (Format::Csv, ResponseFilter::default());
    for (name, value) in form_pairs(raw.unwrap_or_default()) {
        match name.as_str() {
            "format" => format = Format::parse(&value)?,
            "since" => filter.since = Some(time("since", &value)?),
            "until" => filter.until = Some(time("until", &value)?),
            "updated_since" => filter.updated_since = Some(time("updated_since", &value)?),
            "updated_until" => filter.updated_until = Some(time("updated_until", &value)?),
            "trend" | "survey_id" => filter.survey = Some(value),
            _ => return Err(Error::invalid("query", format!("unknown parameter `{name}`"))),
        }
    }
    if let (Some(since), Some(until)) = (filter.since, filter.until)
        && since > until
    {
        return Err(Error::invalid("since", "must not be after until"));
    }
    Ok((format, filter))
}

/// A large export, as a job: 202 with the job to poll.
async fn export_job(State(ctx): Ctx, Scoped { caller, store }: Scoped, RawQuery(raw): RawQuery) -> Result<Response> {
    let (format, filter) = parse_export_query(raw.as_deref())?;
    let job = jobs::request(&ctx, &store, &caller, ExportKind::Responses, Some(format), &filter).await?;
    Ok((StatusCode::ACCEPTED, Json(job)).into_response())
}

async fn export_status(
    State(ctx): Ctx,
    Scoped { caller, store }: Scoped,
    base: PublicBase,
    PathId(id): PathId<ExportJobId>,
) -> Result<Response> {
    Ok(Json(jobs::get(&ctx, &store, &caller, &base.0, id.as_str()).await?).into_response())
}

/// A finished export's file: sent from the data directory locally; on AWS a redirect to a
/// presigned URL.
async fn export_file(
    State(ctx): Ctx,
    Scoped { caller, store }: Scoped,
    PathId(id): PathId<ExportJobId>,
) -> Result<Response> {
    let file = jobs::file(&ctx, &store, &caller, id.as_str()).await?;
    match file.download {
        Download::Url(url) => Ok((StatusCode::FOUND, [(axum::http::header::LOCATION, url)]).into_response()),
        Download::Local(path) => Ok(attachment(file.content_type, &file.name, file_body(&path).await?)),
    }
}

/// A responses export in the answer, up to `downloads::MAX_ROWS` rows and `MAX_BYTES`.
async fn export(Scoped { caller, store }: Scoped, RawQuery(raw): RawQuery) -> Result<Response> {
    let (format, filter) = parse_export_query(raw.as_deref())?;
    let file = downloads::responses(&store, &caller, &filter, format).await?;
    Ok(attachment(file.content_type, &file.name, file.bytes))
}
