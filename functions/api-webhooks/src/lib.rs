//! `api-webhooks`: a tenant's webhook endpoints (create with a secret shown once, list, change,
//! pause or enable again, rotate the secret, delete), a test event sent at once, and each
//! endpoint's delivery log. The router only, with thin handlers over
//! `ovation::services::webhooks`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ovation::http::extract::{JsonBody, Params, PathId, PublicBase, Scoped};
use ovation::ids::WebhookId;
use ovation::services::webhooks::endpoints::{EndpointRequest, TestEventRequest};
use ovation::services::webhooks::{delivery, endpoints};
use ovation::{Context, Error, Result};
use serde::Deserialize;

/// This function's name in the route table and in `template.yaml`.
pub const FUNCTION: &str = "api-webhooks";
const MAX_PER_PAGE: u32 = 100;

type Ctx = State<Arc<Context>>;

pub fn routes(ctx: Arc<Context>) -> Router {
    Router::new()
        .route("/v1/webhooks", get(list).post(create))
        .route("/v1/webhooks/{id}", get(one).patch(change).delete(remove))
        .route("/v1/webhooks/{id}/secret", post(rotate_secret))
        .route("/v1/webhooks/{id}/test", post(test))
        .route("/v1/webhooks/{id}/deliveries", get(deliveries))
        .with_state(ctx)
}

async fn list(Scoped { store, .. }: Scoped) -> Result<Response> {
    Ok(Json(endpoints::list(&store).await?).into_response())
}

async fn create(
    State(ctx): Ctx,
    Scoped { caller, store }: Scoped,
    JsonBody(request): JsonBody<EndpointRequest>,
) -> Result<Response> {
    let allow_loopback = ctx.settings.webhooks.allow_loopback;
    let created = endpoints::create(&store, &caller, allow_loopback, request).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

async fn one(Scoped { store, .. }: Scoped, PathId(id): PathId<WebhookId>) -> Result<Response> {
    Ok(Json(endpoints::get(&store, &id).await?).into_response())
}

async fn change(
    State(ctx): Ctx,
    Scoped { caller, store }: Scoped,
    PathId(id): PathId<WebhookId>,
    JsonBody(request): JsonBody<EndpointRequest>,
) -> Result<Response> {
    let allow_loopback = ctx.settings.webhooks.allow_loopback;
    Ok(Json(endpoints::update(&store, &caller, allow_loopback, &id, request).await?).into_response())
}

async fn remove(Scoped { caller, store }: Scoped, PathId(id): PathId<WebhookId>) -> Result<Response> {
    endpoints::delete(&store, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn rotate_secret(Scoped { caller, store }: Scoped, PathId(id): PathId<WebhookId>) -> Result<Response> {
    Ok(Json(endpoints::rotate_secret(&store, &caller, &id).await?).into_response())
}

async fn test(
    State(ctx): Ctx,
    Scoped { caller, store }: Scoped,
    PublicBase(base): PublicBase,
    PathId(id): PathId<WebhookId>,
    JsonBody(request): JsonBody<TestEventRequest>,
) -> Result<Response> {
    let kind = request.event_type.as_deref();
    Ok(Json(delivery::send_test(&ctx, &store, &caller, &id, kind, &base).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogParams {
    per_page: Option<u32>,
}

async fn deliveries(
    Scoped { store, .. }: Scoped,
    PathId(id): PathId<WebhookId>,
    Params(p): Params<LogParams>,
) -> Result<Response> {
    let per_page = p.per_page.unwrap_or(20);
    if !(1..=MAX_PER_PAGE).contains(&per_page) {
        return Err(Error::invalid("per_page", format!("1 to {MAX_PER_PAGE}")));
    }
    Ok(Json(delivery::deliveries(&store, &id, per_page).await?).into_response())
}
