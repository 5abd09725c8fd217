//! `api-surveys`: a tenant's surveys (create, read, change, archive, list). The router only, with
//! thin handlers over `ovation::services::surveys`.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use ovation::domain::survey::SurveyPatch;
use ovation::http::extract::{JsonBody, Params, PathId, PublicBase, Scoped};
use ovation::ids::SurveyId;
use ovation::services::surveys::{self, Survey};
use ovation::store::TenantStore;
use ovation::{Context, Result};
use serde::{Deserialize, Serialize};

/// This function's name in the route table and in `template.yaml`.
pub const FUNCTION: &str = "api-surveys";

pub fn routes(ctx: Arc<Context>) -> Router {
    Router::new()
        .route("/v1/surveys", get(list).post(create))
        .route("/v1/surveys/{id}", get(one).patch(update).delete(archive))
        .with_state(ctx)
}

/// A survey with the URL of its shareable web link.
#[derive(Serialize)]
struct SurveyWithLink {
    #[serde(flatten)]
    survey: Survey,
    web_link: String,
}

async fn with_link(store: &TenantStore, base: &PublicBase, survey: Survey) -> Result<SurveyWithLink> {
    let token = survey.web_link(store).await?;
    Ok(SurveyWithLink {
        survey,
        web_link: format!("{}/s/{token}", base.0),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    archived: Option<bool>,
}

async fn list(Scoped { caller, store }: Scoped, base: PublicBase, Params(p): Params<ListParams>) -> Result<Response> {
    let mut out = Vec::new();
    for survey in surveys::list_visible(&store, &caller, p.archived.unwrap_or(false)).await? {
        out.push(with_link(&store, &base, survey).await?);
    }
    Ok(Json(out).into_response())
}

async fn create(
    Scoped { caller, store }: Scoped,
    base: PublicBase,
    JsonBody(patch): JsonBody<SurveyPatch>,
) -> Result<Response> {
    let survey = surveys::create(&store, &caller, patch).await?;
    Ok((StatusCode::CREATED, Json(with_link(&store, &base, survey).await?)).into_response())
}

async fn one(Scoped { caller, store }: Scoped, base: PublicBase, PathId(id): PathId<SurveyId>) -> Result<Response> {
    let survey = surveys::visible(&store, &caller, id.as_str()).await?;
    Ok(Json(with_link(&store, &base, survey).await?).into_response())
}

async fn update(
    Scoped { caller, store }: Scoped,
    base: PublicBase,
    PathId(id): PathId<SurveyId>,
    JsonBody(patch): JsonBody<SurveyPatch>,
) -> Result<Response> {
    let survey = surveys::update(&store, &caller, &id, patch, None).await?;
    Ok(Json(with_link(&store, &base, survey).await?).into_response())
}

async fn archive(Scoped { caller, store }: Scoped, PathId(id): PathId<SurveyId>) -> Result<StatusCode> {
    surveys::archive(&store, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
