//! The website survey's routes (`/w/v1/…`): its script, the same bytes for every key, cached and
//! gzipped when the browser takes it (compressed once, at build time), and what the script asks
//! with a site key (`decide`, `answers`, `comments`, `dismissals`). The script sends its JSON as
//! `text/plain`, so browsers make no preflight; an answer carries `Access-Control-Allow-Origin`
//! only for one of the key's origins, so no other page can read it.

use std::sync::{Arc, OnceLock};

use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, routing};
use ovation::http::HttpError;
use ovation::http::extract::{ClientAddress, parse_json};
use ovation::http::routes::SITE_BODY_BYTES;
use ovation::services::website::site_keys::{self, Site};
use ovation::services::website::visits;
use ovation::store::now_unix;
use ovation::{Context, Error, Result};
use serde::de::DeserializeOwned;

type Ctx = State<Arc<Context>>;

/// The widget, served as written.
pub const SCRIPT: &str = include_str!("../assets/widget.js");
/// The same, gzipped (by `build.rs`).
pub const SCRIPT_GZIP: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/widget.js.gz"));

pub fn routes() -> Router<Arc<Context>> {
    Router::new()
        .route("/w/v1/{key}/{file}", routing::get(script))
        .route("/w/v1/decide", routing::post(decide))
        .route("/w/v1/answers", routing::post(answer))
        .route("/w/v1/comments", routing::post(comment))
        .route("/w/v1/dismissals", routing::post(dismiss))
}

/// The script's entity tags, one per encoding (RFC 9110: a representation's): its SHA-256, cut
/// short, and the same marked `-gz` for the gzipped bytes.
fn etags() -> &'static (String, String) {
    static ETAGS: OnceLock<(String, String)> = OnceLock::new();
    ETAGS.get_or_init(|| {
        let digest = ovation::auth::credential::sha256(SCRIPT);
        let hash = &ovation::auth::credential::hex(&digest)[..20];
        (format!("\"{hash}\""), format!("\"{hash}-gz\""))
    })
}

/// True when the browser takes gzip (`gzip`, or `*`, with a quality above 0).
fn takes_gzip(headers: &HeaderMap) -> bool {
    let accepted = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    accepted.split(',').any(|coding| {
        let mut parts = coding.split(';').map(str::trim);
        let name = parts.next().unwrap_or_default();
        let refused = parts.any(|p| p.strip_prefix("q=").and_then(|q| q.parse::<f32>().ok()) == Some(0.0));
        (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
    })
}

/// True when `If-None-Match` names the representation `etag` (weakly compared, `*` too).
fn unchanged(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .map(str::trim)
                .any(|t| t == "*" || t.trim_start_matches("W/") == etag)
        })
}

/// True for a global name the script may take (`ovation`, `delighted`): a plain JS identifier.
fn global_name(file: &str) -> bool {
    file.strip_suffix(".js").is_some_and(|name| {
        !name.is_empty()
            && name.len() <= 40
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$')
    })
}

/// `GET /w/v1/{key}/{global}.js`: the script, which reads its key and global name from its own
/// address. The key is not looked up here: the script is the same for all, cached by browsers
/// and the CDN an hour, revalidated by its entity tag.
async fn script(Path((key, file)): Path<(String, String)>, headers: HeaderMap) -> Response {
    let key_shaped =
        key.starts_with("pk_") && key.len() <= 80 && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !key_shaped || !global_name(&file) {
        return Error::NotFound("script").into_response();
    }
    let gzip = takes_gzip(&headers);
    let (plain_tag, gzip_tag) = etags();
    let etag = if gzip { gzip_tag } else { plain_tag };
    let fresh = unchanged(&headers, etag);
    let mut response = match (fresh, gzip) {
        (true, _) => StatusCode::NOT_MODIFIED.into_response(),
        (false, true) => SCRIPT_GZIP.into_response(),
        (false, false) => SCRIPT.into_response(),
    };
    let h = response.headers_mut();
    if gzip && !fresh {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600, stale-while-revalidate=86400"),
    );
    if let Ok(tag) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, tag);
    }
    h.insert("cross-origin-resource-policy", HeaderValue::from_static("cross-origin"));
    response
}

/// A visitor's request body, read up to the routes' limit whatever its framing (a chunked body
/// too): beyond it, 413.
struct VisitBody(Bytes);

impl<S: Send + Sync> FromRequest<S> for VisitBody {
    type Rejection = HttpError;

    async fn from_request(req: Request, _: &S) -> std::result::Result<Self, HttpError> {
        axum::body::to_bytes(req.into_body(), SITE_BODY_BYTES)
            .await
            .map(VisitBody)
            .map_err(|_| HttpError::BodyTooLarge { limit: SITE_BODY_BYTES })
    }
}

/// Answers `result` with CORS for `origin` once the key was opened for it (so the page's script
/// can read the answer, a refusal of what it sent included); a request refused before (its body
/// unreadable, its key or origin refused) gets none, and a browser keeps the answer from the page.
fn answered(site: Option<&Site>, origin: Option<&str>, result: Result<Response>) -> Response {
    let mut response = result.unwrap_or_else(IntoResponse::into_response);
    let h = response.headers_mut();
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    if let (Some(site), Some(origin)) = (site, origin)
        && site.key.allows(origin)
        && let Ok(value) = HeaderValue::from_str(origin)
    {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("retry-after, x-request-id"),
        );
    }
    response
}

/// Parses a visitor's request (JSON, whatever type it was sent as), opens the site key it names
/// for its page's `Origin`, then runs `then` with both.
async fn with_site<T, F>(ctx: &Context, headers: &HeaderMap, body: &Bytes, key_of: fn(&T) -> &str, then: F) -> Response
where
    T: DeserializeOwned,
    F: AsyncFnOnce(&Site, T) -> Result<Response>,
{
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let request: T = match parse_json(body) {
        Ok(r) => r,
        Err(e) => return answered(None, None, Err(e)),
    };
    let site = match site_keys::open(ctx, key_of(&request), origin).await {
        Ok(site) => site,
        Err(e) => return answered(None, None, Err(e)),
    };
    let result = then(&site, request).await;
    answered(Some(&site), origin, result)
}

async fn decide(State(ctx): Ctx, headers: HeaderMap, VisitBody(body): VisitBody) -> Response {
    with_site(
        &ctx,
        &headers,
        &body,
        |r: &visits::DecideRequest| &r.key,
        async |site, v| Ok(Json(visits::decide(site, &v, now_unix()).await?).into_response()),
    )
    .await
}

async fn answer(State(ctx): Ctx, address: ClientAddress, headers: HeaderMap, VisitBody(body): VisitBody) -> Response {
    with_site(
        &ctx,
        &headers,
        &body,
        |r: &visits::AnswerRequest| &r.key,
        async |site, v| {
            let provenance = crate::provenance(&site.tenant, &address, &headers);
            let receipt = visits::answer(site, &v, provenance, now_unix()).await?;
            ovation::services::webhooks::delivery::dispatch_emitted(&ctx, &site.store).await;
            Ok((StatusCode::CREATED, Json(receipt)).into_response())
        },
    )
    .await
}

async fn comment(State(ctx): Ctx, headers: HeaderMap, VisitBody(body): VisitBody) -> Response {
    with_site(
        &ctx,
        &headers,
        &body,
        |r: &visits::CommentRequest| &r.key,
        async |site, v| {
            visits::comment(site, &v, now_unix()).await?;
            ovation::services::webhooks::delivery::dispatch_emitted(&ctx, &site.store).await;
            Ok(Json(serde_json::json!({})).into_response())
        },
    )
    .await
}

async fn dismiss(State(ctx): Ctx, headers: HeaderMap, VisitBody(body): VisitBody) -> Response {
    with_site(
        &ctx,
        &headers,
        &body,
        |r: &visits::DismissRequest| &r.key,
        async |site, v| {
            visits::dismiss(site, &v, now_unix()).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        },
    )
    .await
}
