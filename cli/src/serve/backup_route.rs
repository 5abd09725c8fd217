//! `POST /local/backup` of `ovation serve`: the running server backs its store up to the file
//! named (`ovation backup` asks it so; the store file is the server's alone while it runs).
//! Local only: loopback clients with the operator key, never part of a Lambda's routes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use ovation::{Context, Error};
use serde::Deserialize;

pub const PATH: &str = "/local/backup";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupRequest {
    /// An absolute path that does not exist yet.
    pub file: PathBuf,
}

pub fn routes(ctx: Arc<Context>) -> Router {
    Router::new().route(PATH, post(backup)).with_state(ctx)
}

async fn backup(
    State(ctx): State<Arc<Context>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(request): Json<BackupRequest>,
) -> Response {
    let made = async {
        if !peer.ip().is_loopback() {
            return Err(Error::Forbidden {
                code: "local_only",
                reason: "backups are asked from this machine",
            });
        }
        ovation::http::gate::admit_operator(&ctx, &headers)?;
        if !request.file.is_absolute() {
            return Err(Error::invalid("file", "must be an absolute path"));
        }
        ctx.store.backup(&request.file).await
    }
    .await;
    match made {
        Ok(summary) => Json(summary).into_response(),
        Err(e) => e.into_response(),
    }
}
