//! HTTP plumbing shared by every function: the layers each Lambda (and the local server) wraps
//! its routes in, the error-to-response mapping, `/health`, and the route table.

pub mod error;
pub mod extract;
pub mod gate;
mod health;
mod layers;
pub mod openapi;
pub mod pages;
pub mod routes;
pub mod throttle;

use std::sync::Arc;

use axum::Router;

use crate::Context;
use axum::http::Uri;
use lambda_http::RequestExt;

pub use error::{ErrorBody, HttpError, OAuthErrorBody};
pub use health::health;
pub use layers::REQUEST_ID_HEADER;
pub use routes::MAX_BODY_BYTES;

/// Wraps a function's routes in the common layers: request id and tracing span, throttling per
/// client address, the gate (authentication, permissions, allow-list, tenant budget), CORS for
/// the configured origins, security headers, body limit, and JSON answers for unknown routes.
pub fn app(ctx: &Arc<Context>, routes: Router) -> Router {
    layers::apply(routes, ctx)
}

/// The service a Lambda runs: the app, routed by the path API Gateway received (without the
/// stage prefix lambda_http adds to REST API paths), so routes read alike on Lambda and locally.
/// A custom domain must map the API at its root: a base path would stay in the path.
pub fn on_lambda(app: Router) -> tower::util::MapRequest<Router, fn(lambda_http::Request) -> lambda_http::Request> {
    tower::ServiceExt::map_request(app, without_stage as fn(lambda_http::Request) -> lambda_http::Request)
}

fn without_stage(mut request: lambda_http::Request) -> lambda_http::Request {
    let raw = request.raw_http_path();
    if raw.is_empty() || raw == request.uri().path() {
        return request;
    }
    let path_and_query = match request.uri().query() {
        Some(q) => format!("{raw}?{q}"),
        None => raw.to_owned(),
    };
    if let Ok(uri) = Uri::builder().path_and_query(path_and_query).build() {
        *request.uri_mut() = uri;
    }
    request
}

/// A function's routes, built over the process context.
pub type Routes = fn(Arc<Context>) -> Router;

/// A Lambda's whole `main`: settings, logging, the context (once per cold start), then the app
/// under the Lambda runtime.
pub async fn run_on_lambda(routes: Routes) -> Result<(), lambda_http::Error> {
    let settings = crate::config::Settings::from_env()?;
    crate::telemetry::init(settings.log_format);
    let ctx = Context::on_aws(settings).await?;
    let app = app(&ctx, routes(ctx.clone()));
    lambda_http::run(on_lambda(app)).await
}

/// A file to save: its content type, the name to save it as, and its bytes.
pub fn attachment(content_type: &str, file_name: &str, body: impl Into<axum::body::Body>) -> axum::response::Response {
    let headers = [
        (axum::http::header::CONTENT_TYPE, content_type.to_owned()),
        (
            axum::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{file_name}\""),
        ),
    ];
    axum::response::IntoResponse::into_response((headers, body.into()))
}

/// A file on this machine as a body, read a chunk at a time as it is sent (never whole in
/// memory).
pub async fn file_body(path: &std::path::Path) -> crate::Result<axum::body::Body> {
    use tokio::io::AsyncReadExt;
    const CHUNK: usize = 64 * 1024;
    let file = tokio::fs::File::open(path).await.map_err(crate::Error::internal)?;
    let chunks = futures_util::stream::try_unfold(file, |mut file| async move {
        let mut chunk = Vec::with_capacity(CHUNK);
        let read = (&mut file).take(CHUNK as u64).read_to_end(&mut chunk).await?;
        Ok::<_, std::io::Error>((read > 0).then_some((chunk, file)))
    });
    Ok(axum::body::Body::from_stream(chunks))
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_file_body_sends_every_chunk_in_order() {
        let path = std::env::temp_dir().join(format!("ovation-file-body-{}", crate::ids::new_id()));
        let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        let body = super::file_body(&path).await.unwrap();
        let sent = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(sent.len(), bytes.len());
        assert!(sent == bytes, "the bytes differ");
        let missing = super::file_body(&path).await;
        assert!(missing.is_err());
    }
}
