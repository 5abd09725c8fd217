//! `GET /health`: the running version and the store and keyring in use, after a round trip to
//! the store (503 when it cannot serve).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::context::Context;
use crate::error::Result;

pub async fn health(State(ctx): State<Arc<Context>>) -> Result<Json<Value>> {
    ctx.store.ping().await?;
    Ok(Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "store": ctx.store.info(),
        "keyring": ctx.keys.keyring().info(),
    })))
}
