//! The common layers: a request id (API Gateway's when on Lambda) and a tracing span per request,
//! throttling per client address, the gate, body- and header-size limits, strict security headers,
//! JSON for unknown routes and methods, and pages for the web app's refusals.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use lambda_http::RequestExt;
use lambda_http::request::RequestContext;
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tracing::Instrument;

use super::gate::gate;
use super::routes::MAX_BODY_BYTES;
use super::throttle::throttle_by_ip;
use crate::Context;
use crate::http::error::HttpError;
use crate::ids::new_id;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Headers every answer carries (unless a handler set its own).
const SECURITY_HEADERS: [(HeaderName, &str); 6] = [
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    ),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::STRICT_TRANSPORT_SECURITY, "max-age=63072000; includeSubDomains"),
    (header::CACHE_CONTROL, "no-store"),
];

/// The layers, outermost first, applied to every route at once (one wrapping per route keeps a
/// cold start's router building short).
pub fn apply(routes: Router, ctx: &Arc<Context>) -> Router {
    let stack = ServiceBuilder::new()
        .layer(middleware::from_fn(close_after_refusal))
        .layer(middleware::from_fn(security_headers))
        .option_layer(cors(&ctx.settings.cors_origins))
        .layer(middleware::from_fn(trace_request))
        .layer(middleware::from_fn(refusals_as_pages))
        .layer(middleware::from_fn_with_state(ctx.throttle.clone(), throttle_by_ip))
        .layer(middleware::from_fn(refuse_large_requests))
        .layer(middleware::from_fn_with_state(ctx.clone(), gate))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES));
    routes
        .fallback(|headers: axum::http::HeaderMap| async move { super::pages::not_found(&headers) })
        .method_not_allowed_fallback(|| async { HttpError::MethodNotAllowed })
        .layer(stack)
}

/// A page's refusal by a layer or its handler (a body too large, too many requests, an id it
/// cannot read) is answered as a page, not as the API's JSON.
async fn refusals_as_pages(req: Request, next: Next) -> Response {
    let method = if req.method() == Method::HEAD {
        "GET"
    } else {
        req.method().as_str()
    };
    let page = req
        .extensions()
        .get::<MatchedPath>()
        .and_then(|p| super::routes::find(method, p.as_str()))
        .filter(|route| route.page)
        .map(|route| route.path);
    let response = next.run(req).await;
    match page {
        Some(path) => super::pages::as_page(path, response).await,
        None => response,
    }
}

/// A refusal of a request that announced a body ends the connection, and says so: the body may
/// not have been read (a gate's 401, a 405, a 413, a 429), and a client that kept the connection
/// would see its next request fail.
async fn close_after_refusal(req: Request, next: Next) -> Response {
    let headers = req.headers();
    let announces_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0");
    let mut response = next.run(req).await;
    if announces_body && (response.status().is_client_error() || response.status().is_server_error()) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

async fn security_headers(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    response
}

/// Browsers on the configured origins may call the API (preflights answered here); none when
/// no origin is configured, so no browser page elsewhere can read an answer.
fn cors(origins: &[String]) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    if origins.is_empty() {
        return None;
    }
    let exposed = [
        REQUEST_ID_HEADER,
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "retry-after",
        "link",
    ];
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::ACCEPT,
                HeaderName::from_static(super::gate::TENANT_HEADER),
            ])
            .expose_headers(exposed.map(HeaderName::from_static))
            .max_age(Duration::from_secs(600)),
    )
}

/// A request id: API Gateway's on Lambda, else a well-formed client one, else a new one.
fn request_id(req: &Request) -> String {
    let from_gateway = req.request_context_ref().and_then(|ctx| match ctx {
        RequestContext::ApiGatewayV1(c) => c.request_id.clone(),
        RequestContext::ApiGatewayV2(c) => c.request_id.clone(),
        _ => None,
    });
    let from_client = || {
        req.headers()
            .get(REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= 64)
            .filter(|v| v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)))
            .map(str::to_owned)
    };
    from_gateway.or_else(from_client).unwrap_or_else(new_id)
}

async fn trace_request(req: Request, next: Next) -> Response {
    let id = request_id(&req);
    // The route template, never the path: paths can carry personal data (an email as an id).
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        tenant_id = tracing::field::Empty,
        method = %req.method(),
        route = %route,
    );
    let started = Instant::now();
    let mut response = next.run(req).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            micros = started.elapsed().as_micros() as u64,
            "served"
        )
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    response
}

/// The most header bytes (names and values) a request may carry; API Gateway allows about 10 KB.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Refuses oversized headers, and a declared body over the limit before reading it, with JSON
/// errors.
async fn refuse_large_requests(req: Request, next: Next) -> Response {
    let header_bytes: usize = req.headers().iter().map(|(n, v)| n.as_str().len() + v.len()).sum();
    if header_bytes > MAX_HEADER_BYTES {
        return HttpError::HeadersTooLarge {
            limit: MAX_HEADER_BYTES,
        }
        .into_response();
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let limit = req
        .extensions()
        .get::<MatchedPath>()
        .and_then(|p| super::routes::find(req.method().as_str(), p.as_str()))
        .map_or(MAX_BODY_BYTES, |r| r.max_body);
    if declared.is_some_and(|n| n > limit) {
        return HttpError::BodyTooLarge { limit }.into_response();
    }
    next.run(req).await
}
