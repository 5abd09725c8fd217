//! `api-people`: people as Delighted's API has them (create or update, list, delete, cancel
//! pending surveys, unsubscribes and bounces, autopilot; also at `.json` paths, JSON or form
//! bodies) and CSV imports. The router only,
//! with thin handlers over `ovation::services::people`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use ovation::domain::send_at::SendAt;
use ovation::domain::{Channel, Email, PersonRef, Phone};
use ovation::http::attachment;
use ovation::http::extract::{DelightedBody, ListPage, Params, PathId, PublicBase, Scoped, next_page};
use ovation::http::routes::IMPORT_BODY_BYTES;
use ovation::ids::ImportId;
use ovation::services::accounts::tenants;
use ovation::services::lifecycle::erasure;
use ovation::services::people::imports::{self, ImportOptions};
use ovation::services::people::person::{self, PeopleFilter, SendRequest, Suppression};
use ovation::services::people::suppressions::{self, UnsubscribeRequest};
use ovation::services::people::upsert;
use ovation::services::people::upsert::PersonRequest;
use ovation::services::sending::autopilot::{self, AutopilotPatch, MembershipRequest, Platform};
use ovation::services::sending::invitations;
use ovation::store::TenantStore;
use ovation::{Context, Error, Result};
use serde::Deserialize;
use serde_json::json;

/// This function's name in the route table and in `template.yaml`.
pub const FUNCTION: &str = "api-people";
pub const MAX_PER_PAGE: u32 = 100;

type Ctx = State<Arc<Context>>;

pub fn routes(ctx: Arc<Context>) -> Router {
    Router::new()
        .route("/v1/people", get(list).post(create_or_update))
        .route("/v1/people.json", get(list).post(create_or_update))
        .route("/v1/people/{id}", delete(remove))
        .route("/v1/unsubscribes", get(unsubscribes).post(unsubscribe))
        .route("/v1/unsubscribes.json", get(unsubscribes).post(unsubscribe))
        .route("/v1/bounces", get(bounces))
        .route("/v1/bounces.json", get(bounces))
        .route("/v1/autopilot/{platform}", get(autopilot).patch(configure_autopilot))
        .route(
            "/v1/autopilot/{platform}/memberships",
            get(members).post(join).delete(leave),
        )
        .route(
            "/v1/autopilot/{platform}/memberships.json",
            get(members).post(join).delete(leave),
        )
        .route("/v1/people/{id}/survey_requests/pending", delete(cancel_pending))
        .route(
            "/v1/people/imports",
            post(import).layer(DefaultBodyLimit::max(IMPORT_BODY_BYTES)),
        )
        .route("/v1/people/imports/{id}", get(import_summary))
        .route("/v1/people/imports/{id}/errors", get(import_errors))
        .with_state(ctx)
}

/// Whether the tenant keeps only a hash of people's emails.
async fn hash_only(ctx: &Context, store: &TenantStore) -> Result<bool> {
    Ok(tenants::active(ctx, store.tenant())
        .await?
        .is_some_and(|t| t.settings.privacy.store_email_hash_only))
}

async fn create_or_update(
    State(ctx): Ctx,
    Scoped { caller, store }: Scoped,
    base: PublicBase,
    DelightedBody(request): DelightedBody<PersonRequest>,
) -> Result<Response> {
    let hash_only = hash_only(&ctx, &store).await?;
    Ok(Json(upsert::create_or_update(&store, &caller, request, hash_only, &base.0).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    per_page: Option<u32>,
    since: Option<i64>,
    until: Option<i64>,
    email: Option<String>,
    phone_number: Option<String>,
    cursor: Option<String>,
}

/// Delighted's page size: 20 unless asked, at most 100.
fn page_size(per_page: Option<u32>) -> Result<u32> {
    match per_page {
        None => Ok(20),
        Some(n) if (1..=MAX_PER_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(Error::invalid(
            "per_page",
            format!("must be between 1 and {MAX_PER_PAGE}"),
        )),
    }
}

async fn list(Scoped { caller, store }: Scoped, base: PublicBase, Params(p): Params<ListParams>) -> Result<Response> {
    let per_page = page_size(p.per_page)?;
    // A lookup by email or phone is one person (or none).
    if p.email.is_some() || p.phone_number.is_some() {
        let found = match (&p.email, &p.phone_number) {
            (Some(e), _) => person::load_by_email(&store, &Email::parse(e)?).await?,
            (None, Some(ph)) => person::load_by_phone(&store, &Phone::parse_field("phone_number", ph)?).await?,
            (None, None) => None,
        };
        let items: Vec<_> = found.iter().map(|p| p.view().seen_by(&caller)).collect();
        return Ok(Json(items).into_response());
    }
    let filter = PeopleFilter {
        since: p.since,
        until: p.until,
    };
    let page = person::list(&store, &filter, per_page, p.cursor.as_deref()).await?;
    let mut params = vec![("per_page", per_page.to_string())];
    for (name, value) in [("since", p.since), ("until", p.until)] {
        if let Some(v) = value {
            params.push((name, v.to_string()));
        }
    }
    Ok(ListPage {
        items: page
            .people
            .iter()
            .map(|p| p.view().seen_by(&caller))
            .collect::<Vec<_>>(),
        next: next_page(&base, "/v1/people", &params, page.cursor),
    }
    .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SuppressedParams {
    per_page: Option<u32>,
    since: Option<i64>,
    until: Option<i64>,
    cursor: Option<String>,
}

/// A page of a suppression list, with the next page's `Link` carrying the filters.
async fn suppressed(
    store: &TenantStore,
    base: &PublicBase,
    path: &str,
    kind: Suppression,
    p: SuppressedParams,
) -> Result<Response> {
    let per_page = page_size(p.per_page)?;
    let page = suppressions::list(store, kind, p.since, p.until, per_page, p.cursor.as_deref()).await?;
    let mut params = vec![("per_page", per_page.to_string())];
    for (name, value) in [("since", p.since), ("until", p.until)] {
        if let Some(v) = value {
            params.push((name, v.to_string()));
        }
    }
    Ok(ListPage {
        items: page.people,
        next: next_page(base, path, &params, page.cursor),
    }
    .into_response())
}

async fn unsubscribes(
    Scoped { store, .. }: Scoped,
    base: PublicBase,
    Params(p): Params<SuppressedParams>,
) -> Result<Response> {
    suppressed(&store, &base, "/v1/unsubscribes", Suppression::Unsubscribed, p).await
}

async fn bounces(
    Scoped { store, .. }: Scoped,
    base: PublicBase,
    Params(p): Params<SuppressedParams>,
) -> Result<Response> {
    suppressed(&store, &base, "/v1/bounces", Suppression::Bounced, p).await
}

async fn unsubscribe(
    State(ctx): Ctx,
    Scoped { caller, store }: Scoped,
    DelightedBody(request): DelightedBody<UnsubscribeRequest>,
) -> Result<Response> {
    let hash_only = hash_only(&ctx, &store).await?;
    suppressions::unsubscribe_by_email(&store, &caller, request, hash_only).await?;
    ovation::services::webhooks::delivery::dispatch_emitted(&ctx, &store).await;
    Ok(Json(json!({"ok": true})).into_response())
}

async fn autopilot(Scoped { caller, store }: Scoped, PathId(platform): PathId<Platform>) -> Result<Response> {
    Ok(Json(autopilot::config_for(&store, &caller, platform).await?).into_response())
}

async fn configure_autopilot(
    Scoped { caller, store }: Scoped,
    PathId(platform): PathId<Platform>,
    DelightedBody(patch): DelightedBody<AutopilotPatch>,
) -> Result<Response> {
    Ok(Json(autopilot::configure(&store, &caller, platform, patch).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MembersParams {
    per_page: Option<u32>,
    cursor: Option<String>,
}

async fn members(
    Scoped { caller, store }: Scoped,
    base: PublicBase,
    PathId(platform): PathId<Platform>,
    Params(p): Params<MembersParams>,
) -> Result<Response> {
    let per_page = page_size(p.per_page)?;
    let page = autopilot::members(&store, &caller, platform, per_page, p.cursor.as_deref()).await?;
    let path = format!("/v1/autopilot/{}/memberships", platform.as_str());
    Ok(ListPage {
        items: page.members,
        next: next_page(&base, &path, &[("per_page", per_page.to_string())], page.cursor),
    }
    .into_response())
}

async fn join(
    State(ctx): Ctx,
    Scoped { caller, store }: Scoped,
    PathId(platform): PathId<Platform>,
    DelightedBody(request): DelightedBody<MembershipRequest>,
) -> Result<Response> {
    let hash_only = hash_only(&ctx, &store).await?;
    Ok(Json(autopilot::join(&store, &caller, platform, request, hash_only).await?).into_response())
}

async fn leave(
    Scoped { caller, store }: Scoped,
    PathId(platform): PathId<Platform>,
    DelightedBody(request): DelightedBody<MembershipRequest>,
) -> Result<Response> {
    let person = autopilot::leave(&store, &caller, platform, request).await?;
    Ok(Json(json!({ "person": person })).into_response())
}

async fn remove(Scoped { caller, store }: Scoped, PathId(named): PathId<PersonRef>) -> Result<Response> {
    let person = person::find(&store, &named).await?;
    erasure::erase_person(&store, &caller, &person).await?;
    Ok(Json(json!({"ok": true})).into_response())
}

async fn cancel_pending(Scoped { caller, store }: Scoped, PathId(named): PathId<PersonRef>) -> Result<Response> {
    let person = person::find(&store, &named).await?;
    let canceled = invitations::cancel_pending(&store, &caller, &person.id).await?;
    Ok(Json(json!({"ok": true, "canceled": canceled})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportParams {
    /// `Header:target,Header:target` (targets: email, phone_number, name, ignore,
    /// properties.<name>).
    map: Option<String>,
    send: Option<bool>,
    channel: Option<String>,
    delay: Option<i64>,
    survey_id: Option<String>,
    first_row: Option<u64>,
}

impl ImportParams {
    fn options(self) -> Result<ImportOptions> {
        let mapping = imports::mapping(self.map.as_deref())?;
        let at = SendAt::after(self.delay.unwrap_or(0))?;
        let send = match self.send.unwrap_or(false) {
            false => None,
            true => Some(SendRequest {
                channel: match self.channel.as_deref() {
                    Some(c) => Channel::parse_send("channel", c)?,
                    None => Channel::Email,
                },
                at,
                survey: self.survey_id,
            }),
        };
        Ok(ImportOptions {
            mapping,
            send,
            first_row: self.first_row.unwrap_or(2),
            job: None,
        })
    }
}

async fn import(
    State(ctx): Ctx,
    Scoped { caller, store }: Scoped,
    Params(p): Params<ImportParams>,
    body: Bytes,
) -> Result<Response> {
    let options = p.options()?;
    let hash_only = hash_only(&ctx, &store).await?;
    let summary = imports::run(&store, &caller, hash_only, body.as_ref(), &options, |_| {}).await?;
    Ok((StatusCode::CREATED, Json(summary)).into_response())
}

async fn import_summary(Scoped { store, .. }: Scoped, PathId(id): PathId<ImportId>) -> Result<Response> {
    Ok(Json(imports::load(&store, &id).await?).into_response())
}

async fn import_errors(Scoped { store, .. }: Scoped, PathId(id): PathId<ImportId>) -> Result<Response> {
    let report = imports::error_report(&store, &id).await?;
    Ok(attachment("text/csv; charset=utf-8", "import-errors.csv", report))
}
