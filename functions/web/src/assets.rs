//! The app's static files, compiled into the binary and served under content-hashed names with
//! `immutable` caching: a changed file gets a new name, so no browser keeps an old one.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ovation::auth::credential;

const STYLESHEET: &str = include_str!("../assets/app.css");

/// The stylesheet's address relative to a page at the top level (`assets/app.<hash>.css`).
pub fn stylesheet() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        let digest = credential::hex(&credential::sha256(STYLESHEET));
        format!("assets/app.{}.css", &digest[..16])
    })
}

pub async fn serve(Path(name): Path<String>) -> Response {
    if stylesheet().strip_prefix("assets/") != Some(name.as_str()) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let mut response = STYLESHEET.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    response
}
