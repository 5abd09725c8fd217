//! `api-admin`: tenant settings, users, API keys and audit (to come), and `/health`.
//! The router only: `main.rs` runs it on Lambda, `ovation serve` nests it locally.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use ovation::Context;

/// This function's name in the route table and in `template.yaml`.
pub const FUNCTION: &str = "api-admin";

pub fn routes(ctx: Arc<Context>) -> Router {
    Router::new()
        .route("/health", get(ovation::http::health))
        .with_state(ctx)
}
