//! `api-admin`: the tenant's settings, users, teams, API keys, OAuth clients, site keys and audit trail; the
//! operator's platform routes (tenants); `/health` and `/openapi.json`. The router only, with thin
//! handlers over `ovation::services`: `main.rs` runs it on Lambda, `ovation serve` nests it locally.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use ovation::domain::Slug;
use ovation::domain::tenant::SettingsPatch;
use ovation::domain::tenant::Tenant;
use ovation::http::attachment;
use ovation::http::extract::{JsonBody, ListPage, Params, PathId, PublicBase, Scoped, next_page};
use ovation::ids::{ApiKeyId, OAuthClientId, SiteKeyId, UserId};
use ovation::services::Caller;
use ovation::services::accounts::credentials::{self, NewCredential};
use ovation::services::accounts::teams::{self, NewTeam, TeamPatch, TeamView};
use ovation::services::accounts::tenants;
use ovation::services::accounts::users::{self, Invite, UserPatch};
use ovation::services::audit::{self, AuditFilter};
use ovation::services::lifecycle::{self, tenants::NewTenant, tenants::TenantDeletion};
use ovation::services::notifications::subscriptions::{self, Subscription};
use ovation::services::website::site_keys::{self, NewSiteKey, SiteKeyPatch, SiteKeyView};
use ovation::{Context, Error, Result};
use serde::Deserialize;

/// This function's name in the route table and in `template.yaml`.
pub const FUNCTION: &str = "api-admin";

type Ctx = State<Arc<Context>>;

pub fn routes(ctx: Arc<Context>) -> Router {
    Router::new()
        .route("/health", get(ovation::http::health))
        .route("/openapi.json", get(openapi))
        .route("/v1/tenant", get(tenant).patch(update_tenant).delete(delete_own_tenant))
        .route("/v1/users", get(list_users).post(invite))
        .route("/v1/users/{id}", get(user).patch(update_user).delete(delete_user))
        .route("/v1/users/{id}/invitation", post(resend_invitation))
        .route("/v1/teams", get(list_teams).post(create_team))
        .route("/v1/teams/{id}", get(team).patch(change_team).delete(delete_team))
        .route("/v1/api_keys", get(list_api_keys).post(create_api_key))
        .route("/v1/api_keys/{id}", delete(revoke_api_key))
        .route("/v1/site_keys", get(list_site_keys).post(create_site_key))
        .route(
            "/v1/site_keys/{id}",
            get(site_key).patch(change_site_key).delete(revoke_site_key),
        )
        .route("/v1/oauth_clients", get(list_clients).post(create_client))
        .route("/v1/oauth_clients/{id}", delete(delete_client))
        .route("/v1/notifications", get(notifications))
        .route("/v1/audit_events", get(audit_events))
        .route("/v1/exports/tenant", get(export_tenant).post(export_tenant_job))
        .route("/v1/platform/tenants", post(create_tenant))
        .route(
            "/v1/platform/tenants/{slug}",
            get(platform_tenant).delete(delete_tenant),
        )
        .route("/v1/platform/tenants/{slug}/api_keys", post(platform_api_key))
        .with_state(ctx)
}

async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        ovation::http::openapi::json(),
    )
}

async fn tenant(State(ctx): Ctx, caller: Caller) -> Result<Json<Tenant>> {
    let tenant = tenants::load(&ctx, &caller.principal.tenant).await?;
    Ok(Json(tenant.ok_or(Error::NotFound("tenant"))?))
}

async fn delete_own_tenant(
    State(ctx): Ctx,
    caller: Caller,
    JsonBody(request): JsonBody<TenantDeletion>,
) -> Result<StatusCode> {
    lifecycle::tenants::delete_own(&ctx, &caller, &request).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn notifications(Scoped { store, .. }: Scoped) -> Result<Json<Vec<Subscription>>> {
    Ok(Json(subscriptions::all(&store).await?))
}

async fn update_tenant(
    State(ctx): Ctx,
    caller: Caller,
    JsonBody(patch): JsonBody<SettingsPatch>,
) -> Result<Json<Tenant>> {
    Ok(Json(tenants::update_settings(&ctx, &caller, patch, None).await?))
}

/// `per_page` and `cursor` of a list.
#[derive(Deserialize)]
struct PageParams {
    per_page: Option<u32>,
    cursor: Option<String>,
}

impl PageParams {
    fn per_page(&self, max: u32) -> Result<u32> {
        match self.per_page {
            None => Ok(max.min(50)),
            Some(n) if (1..=max).contains(&n) => Ok(n),
            Some(_) => Err(Error::invalid("per_page", format!("must be between 1 and {max}"))),
        }
    }
}

async fn list_users(
    Scoped { store, .. }: Scoped,
    base: PublicBase,
    Params(page): Params<PageParams>,
) -> Result<Response> {
    let per_page = page.per_page(users::MAX_PER_PAGE)?;
    let (items, cursor) = users::list(&store, per_page, page.cursor.as_deref()).await?;
    Ok(ListPage {
        items,
        next: next_page(&base, "/v1/users", &[("per_page", per_page.to_string())], cursor),
    }
    .into_response())
}

async fn invite(
    State(ctx): Ctx,
    caller: Caller,
    base: PublicBase,
    JsonBody(request): JsonBody<Invite>,
) -> Result<Response> {
    let invited = users::invite(&ctx, &caller, request, &base.0).await?;
    Ok((StatusCode::CREATED, Json(invited)).into_response())
}

async fn resend_invitation(
    State(ctx): Ctx,
    caller: Caller,
    base: PublicBase,
    PathId(id): PathId<UserId>,
) -> Result<Json<users::Invited>> {
    Ok(Json(users::resend_invitation(&ctx, &caller, &id, &base.0).await?))
}

async fn user(Scoped { store, .. }: Scoped, PathId(id): PathId<UserId>) -> Result<Json<users::UserView>> {
    Ok(Json(users::get(&store, &id).await?))
}

async fn update_user(
    State(ctx): Ctx,
    caller: Caller,
    PathId(id): PathId<UserId>,
    JsonBody(patch): JsonBody<UserPatch>,
) -> Result<Json<users::UserView>> {
    Ok(Json(users::update(&ctx, &caller, &id, patch).await?))
}

async fn delete_user(State(ctx): Ctx, caller: Caller, PathId(id): PathId<UserId>) -> Result<StatusCode> {
    teams::delete_user(&ctx, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_teams(State(ctx): Ctx, caller: Caller) -> Result<Json<Vec<TeamView>>> {
    Ok(Json(teams::list(&ctx, &caller).await?))
}

async fn create_team(
    State(ctx): Ctx,
    caller: Caller,
    JsonBody(input): JsonBody<NewTeam>,
) -> Result<(StatusCode, Json<TeamView>)> {
    Ok((StatusCode::CREATED, Json(teams::create(&ctx, &caller, input).await?)))
}

async fn team(State(ctx): Ctx, caller: Caller, Path(id): Path<String>) -> Result<Json<TeamView>> {
    Ok(Json(teams::get(&ctx, &caller, &id).await?))
}

async fn change_team(
    State(ctx): Ctx,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<TeamPatch>,
) -> Result<Json<TeamView>> {
    Ok(Json(teams::update(&ctx, &caller, &id, patch).await?))
}

async fn delete_team(State(ctx): Ctx, caller: Caller, Path(id): Path<String>) -> Result<StatusCode> {
    teams::delete(&ctx, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_api_keys(Scoped { store, .. }: Scoped) -> Result<Json<Vec<credentials::ApiKeyView>>> {
    Ok(Json(credentials::list_api_keys(&store).await?))
}

async fn create_api_key(
    Scoped { caller, store }: Scoped,
    JsonBody(request): JsonBody<NewCredential>,
) -> Result<Response> {
    let created = credentials::create_api_key(&store, Some(&caller), request).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

async fn revoke_api_key(Scoped { caller, store }: Scoped, PathId(id): PathId<ApiKeyId>) -> Result<StatusCode> {
    credentials::revoke_api_key(&store, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_site_keys(Scoped { store, .. }: Scoped) -> Result<Json<Vec<SiteKeyView>>> {
    let mut views = Vec::new();
    for key in site_keys::list(&store).await? {
        views.push(key.view(&store).await?);
    }
    Ok(Json(views))
}

async fn create_site_key(Scoped { caller, store }: Scoped, JsonBody(new): JsonBody<NewSiteKey>) -> Result<Response> {
    let key = site_keys::create(&store, &caller, new).await?;
    Ok((StatusCode::CREATED, Json(key.view(&store).await?)).into_response())
}

async fn site_key(Scoped { store, .. }: Scoped, PathId(id): PathId<SiteKeyId>) -> Result<Json<SiteKeyView>> {
    Ok(Json(site_keys::get(&store, &id).await?.view(&store).await?))
}

async fn change_site_key(
    Scoped { caller, store }: Scoped,
    PathId(id): PathId<SiteKeyId>,
    JsonBody(patch): JsonBody<SiteKeyPatch>,
) -> Result<Json<SiteKeyView>> {
    Ok(Json(
        site_keys::change(&store, &caller, &id, patch)
            .await?
            .view(&store)
            .await?,
    ))
}

async fn revoke_site_key(Scoped { caller, store }: Scoped, PathId(id): PathId<SiteKeyId>) -> Result<StatusCode> {
    site_keys::revoke(&store, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_clients(Scoped { store, .. }: Scoped) -> Result<Json<Vec<credentials::OAuthClientView>>> {
    Ok(Json(credentials::list_clients(&store).await?))
}

async fn create_client(
    Scoped { caller, store }: Scoped,
    JsonBody(request): JsonBody<NewCredential>,
) -> Result<Response> {
    let created = credentials::create_client(&store, &caller, request).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

async fn delete_client(Scoped { caller, store }: Scoped, PathId(id): PathId<OAuthClientId>) -> Result<StatusCode> {
    credentials::delete_client(&store, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every item of the caller's tenant as JSON lines (owner only), up to one download.
async fn export_tenant(State(ctx): Ctx, Scoped { caller, store }: Scoped) -> Result<Response> {
    let file = ovation::services::exports::downloads::tenant(&ctx, &store, &caller).await?;
    Ok(attachment(file.content_type, &file.name, file.bytes))
}

/// The full export as a job (any size): 202 with the job to poll at `/v1/exports/{id}`.
async fn export_tenant_job(State(ctx): Ctx, Scoped { caller, store }: Scoped) -> Result<Response> {
    use ovation::services::exports::jobs::{self, ExportKind};
    let filter = ovation::services::results::response_list::ResponseFilter::default()
        .for_caller(&store, &caller)
        .await?;
    let job = jobs::request(&ctx, &store, &caller, ExportKind::Tenant, None, &filter).await?;
    Ok((StatusCode::ACCEPTED, Json(job)).into_response())
}

/// A page of events as a JSON array, or (`format=jsonl`) an export page as JSON lines; both with
/// `Link: rel="next"` while more follow.
async fn audit_events(
    State(ctx): Ctx,
    Scoped { store, .. }: Scoped,
    base: PublicBase,
    Params(filter): Params<AuditFilter>,
) -> Result<Response> {
    let lines = match filter.format.as_deref() {
        None | Some("json") => false,
        Some("jsonl") => true,
        Some(_) => return Err(Error::invalid("format", "must be json or jsonl")),
    };
    let per_page = match (lines, filter.per_page) {
        (true, None) => audit::EXPORT_PAGE,
        (false, None) => 50,
        (true, Some(n)) if (1..=audit::EXPORT_PAGE).contains(&n) => n,
        (false, Some(n)) if (1..=audit::MAX_PER_PAGE).contains(&n) => n,
        (_, Some(_)) => return Err(Error::invalid("per_page", "is out of range")),
    };
    let floor = tenants::active(&ctx, store.tenant()).await?.map_or(0, |t| t.created_at);
    let page = audit::list(&store, &filter, per_page, floor).await?;
    // The next page asks for the same window and filters.
    let mut params = vec![
        ("per_page", per_page.to_string()),
        ("since", page.since.to_string()),
        ("until", page.until.to_string()),
    ];
    for (name, value) in [("action", &filter.action), ("actor_id", &filter.actor_id)] {
        if let Some(v) = value {
            params.push((name, v.clone()));
        }
    }
    if lines {
        params.push(("format", "jsonl".to_owned()));
    }
    let next = next_page(&base, "/v1/audit_events", &params, page.cursor);
    let events = page.events;
    let page = ListPage { items: events, next };
    Ok(if lines {
        page.into_json_lines()
    } else {
        page.into_response()
    })
}

async fn create_tenant(State(ctx): Ctx, JsonBody(request): JsonBody<NewTenant>) -> Result<Response> {
    Ok((
        StatusCode::CREATED,
        Json(lifecycle::tenants::create(&ctx, request).await?),
    )
        .into_response())
}

async fn active_tenant(ctx: &Context, slug: &Slug) -> Result<Tenant> {
    tenants::by_slug(ctx, slug)
        .await?
        .filter(Tenant::is_active)
        .ok_or(Error::NotFound("tenant"))
}

async fn platform_tenant(State(ctx): Ctx, PathId(slug): PathId<Slug>) -> Result<Json<Tenant>> {
    Ok(Json(active_tenant(&ctx, &slug).await?))
}

async fn delete_tenant(State(ctx): Ctx, PathId(slug): PathId<Slug>) -> Result<StatusCode> {
    lifecycle::tenants::delete(&ctx, &slug).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn platform_api_key(
    State(ctx): Ctx,
    PathId(slug): PathId<Slug>,
    JsonBody(request): JsonBody<NewCredential>,
) -> Result<Response> {
    let created = credentials::create_for_operator(&ctx, &slug, request).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}
