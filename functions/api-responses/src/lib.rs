//! `api-responses`: survey responses as Delighted's API has them (record, list with its filters
//! and `page`/`per_page`, read, change notes and tags; also at `.json` paths) and the metrics.
//! The router only, with thin handlers over `ovation::services::{results, exports}`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use ovation::domain::Channel;
use ovation::domain::Email;
use ovation::files::Download;
use ovation::http::extract::{DelightedBody, ListPage, Params, PathId, PublicBase, Scoped, next_page, query_value};
use ovation::http::{attachment, file_body};
use ovation::ids::{ExportJobId, ResponseId};
use ovation::services::Caller;
use ovation::services::exports::downloads;
use ovation::services::exports::jobs::{self, ExportKind};
use ovation::services::exports::spreadsheets::Format;
use ovation::services::lifecycle::retention;
use ovation::services::people::person;
use ovation::services::results::metrics::{self, MetricsQuery, Period};
use ovation::services::results::response_list;
use ovation::services::results::response_list::{MAX_OFFSET, Order, ResponseFilter};
use ovation::services::results::response_record::{self, ResponseRecord};
use ovation::services::results::response_wire;
use ovation::services::results::response_wire::{ResponseRequest, ResponseView};
use ovation::services::results::responses;
use ovation::services::webhooks::delivery;
use ovation::store::{TenantStore, now_unix};
use ovation::{Context, Error, Result};
use serde::Deserialize;

/// This function's name in the route table and in `template.yaml`.
pub const FUNCTION: &str = "api-responses";
pub const MAX_PER_PAGE: u32 = 100;

type Ctx = State<Arc<Context>>;

pub fn routes(ctx: Arc<Context>) -> Router {
    Router::new()
        .route("/v1/survey_responses", get(list).post(create).put(update_named_in_body))
        .route("/v1/survey_responses.json", get(list).post(create))
        .route("/v1/survey_responses/{id}", get(one).put(update))
        .route("/v1/exports/responses", get(export).post(export_job))
        .route("/v1/exports/{id}", get(export_status))
        .route("/v1/exports/{id}/file", get(export_file))
        .route("/v1/metrics", get(metrics))
        .route("/v1/metrics.json", get(metrics))
        .with_state(ctx)
}

/// The list's query as Delighted's clients send it (`expand[]=person&expand[]=notes`, `trend` for
/// `survey_id`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    #[serde(default, deserialize_with = "query_value::whole")]
    per_page: Option<i64>,
    #[serde(default, deserialize_with = "query_value::whole")]
    page: Option<i64>,
    #[serde(default, deserialize_with = "query_value::whole")]
    since: Option<i64>,
    #[serde(default, deserialize_with = "query_value::whole")]
    until: Option<i64>,
    #[serde(default, deserialize_with = "query_value::whole")]
    updated_since: Option<i64>,
    #[serde(default, deserialize_with = "query_value::whole")]
    updated_until: Option<i64>,
    #[serde(alias = "trend")]
    survey_id: Option<String>,
    person_id: Option<String>,
    person_email: Option<String>,
    #[serde(default, deserialize_with = "query_value::parsed")]
    order: Option<Order>,
    #[serde(default, deserialize_with = "query_value::list")]
    expand: Vec<Expand>,
    cursor: Option<String>,
}

/// What a response may be expanded with: the person (notes are always shown).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expand {
    Person,
    Notes,
}

impl std::str::FromStr for Expand {
    type Err = Error;

    fn from_str(text: &str) -> Result<Expand> {
        match text {
            "person" => Ok(Expand::Person),
            "notes" => Ok(Expand::Notes),
            _ => Err(Error::invalid("expand", "can expand person (and notes, always shown)")),
        }
    }
}

/// A page of the list: what to read, and what the next page's link repeats.
struct ListQuery {
    filter: ResponseFilter,
    per_page: u32,
    page: u32,
    expand_person: bool,
    person_email: Option<String>,
    cursor: Option<String>,
    echo: Vec<(&'static str, String)>,
}

impl ListParams {
    fn into_query(self) -> Result<ListQuery> {
        let per_page = match self.per_page {
            None => 20,
            Some(n) => u32::try_from(n)
                .ok()
                .filter(|n| (1..=MAX_PER_PAGE).contains(n))
                .ok_or_else(|| Error::invalid("per_page", format!("must be between 1 and {MAX_PER_PAGE}")))?,
        };
        let page = match self.page {
            None => 1,
            Some(n) => u32::try_from(n)
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| Error::invalid("page", "must be 1 or more"))?,
        };
        if page.saturating_mul(per_page) > MAX_OFFSET {
            return Err(Error::invalid(
                "page",
                format!("pages reach {MAX_OFFSET} responses deep; follow the Link header's next page instead"),
            ));
        }
        let mut echo = vec![];
        let numbers = [
            ("per_page", self.per_page),
            ("since", self.since),
            ("until", self.until),
            ("updated_since", self.updated_since),
            ("updated_until", self.updated_until),
        ];
        for (name, value) in numbers {
            if let Some(value) = value {
                echo.push((name, value.to_string()));
            }
        }
        let texts = [
            ("survey_id", &self.survey_id),
            ("person_id", &self.person_id),
            ("person_email", &self.person_email),
        ];
        for (name, value) in texts {
            if let Some(value) = value {
                echo.push((name, value.clone()));
            }
        }
        let order = self.order.unwrap_or_default();
        if self.order.is_some() {
            echo.push(("order", order.as_str().to_owned()));
        }
        let expand_person = self.expand.contains(&Expand::Person);
        if expand_person {
            echo.push(("expand[]", "person".to_owned()));
        }
        Ok(ListQuery {
            filter: ResponseFilter {
                since: self.since,
                until: self.until,
                updated_since: self.updated_since,
                updated_until: self.updated_until,
                survey: self.survey_id,
                person: self.person_id,
                order,
                ..ResponseFilter::default()
            },
            per_page,
            page,
            expand_person,
            person_email: self.person_email,
            cursor: self.cursor,
            echo,
        })
    }
}

async fn list(
    Scoped { caller, store }: Scoped,
    base: PublicBase,
    Params(params): Params<ListParams>,
) -> Result<Response> {
    let mut q = params.into_query()?;
    if q.expand_person || q.person_email.is_some() {
        caller.must_see_people()?;
    }
    if let Some(email) = &q.person_email {
        match person::load_by_email(&store, &Email::parse_field("person_email", email)?).await? {
            Some(p) => q.filter.person = Some(p.id),
            None => return Ok(Json(Vec::<()>::new()).into_response()),
        }
    }
    let skip = (q.page - 1) * q.per_page;
    let filter = q.filter.for_caller(&store, &caller).await?;
    let page = response_list::list(&store, &filter, q.per_page, skip, q.cursor.as_deref()).await?;
    let views = response_wire::views(&store, &caller, &base.0, &page.responses, q.expand_person).await?;
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
    let new = request.into_new()?;
    retention::refuse_expired(&ctx, &caller.principal.tenant, new.created_at, now_unix()).await?;
    let record = responses::create(&store, &caller, new).await?;
    delivery::dispatch_emitted(&ctx, &store).await;
    let view = one_view(&store, &caller, &base, record, false).await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// The query of one response: what to expand it with.
#[derive(Deserialize)]
struct OneParams {
    #[serde(default, deserialize_with = "query_value::list")]
    expand: Vec<Expand>,
}

impl OneParams {
    fn expands_person(&self) -> bool {
        self.expand.contains(&Expand::Person)
    }
}

async fn one(
    Scoped { caller, store }: Scoped,
    base: PublicBase,
    PathId(id): PathId<ResponseId>,
    Params(params): Params<OneParams>,
) -> Result<Response> {
    if params.expands_person() {
        caller.must_see_people()?;
    }
    let (record, _) = response_record::visible(&store, &caller, id.as_str()).await?;
    Ok(Json(one_view(&store, &caller, &base, record, params.expands_person()).await?).into_response())
}

/// One response as the API shows it to `caller` (its person when `expand_person`).
async fn one_view(
    store: &TenantStore,
    caller: &Caller,
    base: &PublicBase,
    record: ResponseRecord,
    expand_person: bool,
) -> Result<ResponseView> {
    let mut views = response_wire::views(store, caller, &base.0, std::slice::from_ref(&record), expand_person).await?;
    views
        .pop()
        .ok_or_else(|| Error::internal("a response without its view"))
}

async fn update(
    State(ctx): Ctx,
    scoped: Scoped,
    base: PublicBase,
    PathId(id): PathId<ResponseId>,
    Params(params): Params<OneParams>,
    DelightedBody(request): DelightedBody<ResponseRequest>,
) -> Result<Response> {
    changed(&ctx, scoped, base, id, params, request).await
}

/// `PUT /v1/survey_responses` with the response's `id` in the body, as Delighted's Node client's
/// `SurveyResponse.save()` sends it.
async fn update_named_in_body(
    State(ctx): Ctx,
    scoped: Scoped,
    base: PublicBase,
    Params(params): Params<OneParams>,
    DelightedBody(request): DelightedBody<ResponseRequest>,
) -> Result<Response> {
    let id = match &request.id {
        Some(serde_json::Value::String(id)) => id.parse::<ResponseId>()?,
        _ => return Err(Error::invalid("id", "is required: the response to change")),
    };
    changed(&ctx, scoped, base, id, params, request).await
}

async fn changed(
    ctx: &Context,
    Scoped { caller, store }: Scoped,
    base: PublicBase,
    id: ResponseId,
    params: OneParams,
    request: ResponseRequest,
) -> Result<Response> {
    if params.expands_person() {
        caller.must_see_people()?;
    }
    let record = responses::update(&store, &caller, &id, request.into_change()?).await?;
    delivery::dispatch_emitted(ctx, &store).await;
    Ok(Json(one_view(&store, &caller, &base, record, params.expands_person()).await?).into_response())
}

/// The metrics' query (`trend` for `survey_id`, as Delighted names it).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricsParams {
    #[serde(default, deserialize_with = "query_value::unix_time")]
    since: Option<i64>,
    #[serde(default, deserialize_with = "query_value::unix_time")]
    until: Option<i64>,
    #[serde(alias = "trend")]
    survey_id: Option<String>,
    channel: Option<Channel>,
    segment: Option<String>,
    #[serde(default, deserialize_with = "query_value::parsed")]
    group_by: Option<Period>,
    by_channel: Option<bool>,
    time_zone: Option<String>,
}

impl MetricsParams {
    fn into_query(self) -> Result<MetricsQuery> {
        let mut query = MetricsQuery {
            survey: self.survey_id,
            since: self.since,
            until: self.until,
            channel: self.channel,
            segment: self.segment,
            group_by: self.group_by,
            by_channel: self.by_channel.unwrap_or_default(),
            ..MetricsQuery::default()
        };
        if let Some(zone) = &self.time_zone {
            query.zone = metrics::zone(zone)?;
        }
        Ok(query)
    }
}

async fn metrics(Scoped { caller, store }: Scoped, Params(params): Params<MetricsParams>) -> Result<Response> {
    let query = params.into_query()?;
    Ok(Json(metrics::read(&store, &caller, &query).await?).into_response())
}

/// An export's query: the format and the list's filters.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportParams {
    #[serde(default, deserialize_with = "query_value::parsed")]
    format: Option<Format>,
    #[serde(default, deserialize_with = "query_value::unix_time")]
    since: Option<i64>,
    #[serde(default, deserialize_with = "query_value::unix_time")]
    until: Option<i64>,
    #[serde(default, deserialize_with = "query_value::unix_time")]
    updated_since: Option<i64>,
    #[serde(default, deserialize_with = "query_value::unix_time")]
    updated_until: Option<i64>,
    #[serde(alias = "trend")]
    survey_id: Option<String>,
}

impl ExportParams {
    fn into_query(self) -> Result<(Format, ResponseFilter)> {
        if let (Some(since), Some(until)) = (self.since, self.until)
            && since > until
        {
            return Err(Error::invalid("since", "must not be after until"));
        }
        let filter = ResponseFilter {
            since: self.since,
            until: self.until,
            updated_since: self.updated_since,
            updated_until: self.updated_until,
            survey: self.survey_id,
            ..ResponseFilter::default()
        };
        Ok((self.format.unwrap_or(Format::Csv), filter))
    }
}

/// A large export, as a job: 202 with the job to poll.
async fn export_job(
    State(ctx): Ctx,
    Scoped { caller, store }: Scoped,
    Params(params): Params<ExportParams>,
) -> Result<Response> {
    let (format, filter) = params.into_query()?;
    let filter = filter.for_caller(&store, &caller).await?;
    let job = jobs::request(&ctx, &store, &caller, ExportKind::Responses, Some(format), &filter).await?;
    Ok((StatusCode::ACCEPTED, Json(job)).into_response())
}

async fn export_status(
    State(ctx): Ctx,
    Scoped { caller, store }: Scoped,
    base: PublicBase,
    PathId(id): PathId<ExportJobId>,
) -> Result<Response> {
    Ok(Json(jobs::get(&ctx, &store, &caller, &base.0, &id).await?).into_response())
}

/// A finished export's file: sent from the data directory locally; on AWS a redirect to a
/// presigned URL.
async fn export_file(
    State(ctx): Ctx,
    Scoped { caller, store }: Scoped,
    PathId(id): PathId<ExportJobId>,
) -> Result<Response> {
    let file = jobs::file(&ctx, &store, &caller, &id).await?;
    match file.download {
        Download::Url(url) => Ok((StatusCode::FOUND, [(axum::http::header::LOCATION, url)]).into_response()),
        Download::Local(path) => Ok(attachment(file.content_type, &file.name, file_body(&path).await?)),
    }
}

/// A responses export in the answer, up to `downloads::MAX_ROWS` rows and `MAX_BYTES`.
async fn export(Scoped { caller, store }: Scoped, Params(params): Params<ExportParams>) -> Result<Response> {
    let (format, filter) = params.into_query()?;
    let filter = filter.for_caller(&store, &caller).await?;
    let file = downloads::responses(&store, &caller, &filter, format).await?;
    Ok(attachment(file.content_type, &file.name, file.bytes))
}
