//! What the staff web app's pages share with the gate: the session cookie (`HttpOnly`,
//! `SameSite=Strict`, `Secure` and `__Host-` except on plain-http loopback), the CSRF token
//! bound to a session, the same-origin check of a page's form post, and how a refused page
//! answers: a redirect to sign in (or to the password change a session owes), else an error page.

use aws_lc_rs::hmac;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::Context;
use crate::auth::credential;
use crate::domain::texts::escape_html;
use crate::error::Error;

/// The session cookie's name (with `__Host-` before it where cookies are `Secure`).
pub const SESSION: &str = "ovation_session";
/// The short-lived cookie that carries a sign-in's second-factor challenge.
pub const CHALLENGE: &str = "ovation_challenge";
/// The cookie that carries the CSRF token of the pages seen before signing in.
pub const PRE_SESSION: &str = "ovation_form";
/// The form field every page form carries its CSRF token in.
pub const CSRF_FIELD: &str = "csrf";
/// The longest cookie header read.
const MAX_COOKIE_HEADER: usize = 4096;

/// Whether cookies are marked `Secure` (and `__Host-`): everywhere but plain http on loopback,
/// where `ovation serve` runs without TLS.
pub fn secure_cookies(ctx: &Context) -> bool {
    let url = ctx.settings.public_url.as_deref().unwrap_or("https://");
    let loopback = ["http://127.", "http://localhost", "http://[::1]"];
    !loopback.iter().any(|p| url.starts_with(p))
}

/// A cookie's name as set: `__Host-` prefixed where cookies are `Secure`.
pub fn cookie_name(ctx: &Context, name: &str) -> String {
    if secure_cookies(ctx) {
        format!("__Host-{name}")
    } else {
        name.to_owned()
    }
}

/// The value of the cookie `name` (as `cookie_name` gives it) sent with a request.
pub fn cookie(ctx: &Context, headers: &HeaderMap, name: &str) -> Option<String> {
    let wanted = cookie_name(ctx, name);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter(|v| v.len() <= MAX_COOKIE_HEADER)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == wanted)
        .map(|(_, v)| v.to_owned())
}

/// A `Set-Cookie` value: the cookie for `max_age` seconds (0 removes it), sent only with
/// requests from this site's own pages.
pub fn set_cookie(ctx: &Context, name: &str, value: &str, max_age: i64) -> HeaderValue {
    cookie_header(ctx, name, value, max_age, "Strict")
}

/// A cookie that a navigation from another site brings too (an identity provider sending the
/// browser back to a single sign-on's callback); only for what binds such a return.
pub fn set_lax_cookie(ctx: &Context, name: &str, value: &str, max_age: i64) -> HeaderValue {
    cookie_header(ctx, name, value, max_age, "Lax")
}

/// A cookie that a form posted from another site brings too (an identity provider's page
/// posting its SAML answer back); only for what binds such an answer to the browser that asked.
/// `SameSite=None` needs `Secure`: on plain-http loopback, where cookies are not, `Lax` (a
/// provider on the same loopback host is the same site).
pub fn set_cross_site_cookie(ctx: &Context, name: &str, value: &str, max_age: i64) -> HeaderValue {
    let same_site = if secure_cookies(ctx) { "None" } else { "Lax" };
    cookie_header(ctx, name, value, max_age, same_site)
}

fn cookie_header(ctx: &Context, name: &str, value: &str, max_age: i64, same_site: &str) -> HeaderValue {
    let secure = if secure_cookies(ctx) { "; Secure" } else { "" };
    let text = format!(
        "{}={value}; Path=/; HttpOnly; SameSite={same_site}; Max-Age={max_age}{secure}",
        cookie_name(ctx, name)
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// The CSRF token of forms shown under a secret (a session token, or the pre-session cookie):
/// a MAC of it, so that only a page the secret's holder loaded can carry it.
pub fn csrf_token(secret: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    credential::hex(hmac::sign(&key, b"ovation-page-form").as_ref())
}

/// Whether `presented` is the CSRF token of `secret`, compared in constant time.
pub fn csrf_matches(secret: &str, presented: &str) -> bool {
    credential::same(csrf_token(secret).as_bytes(), presented.as_bytes())
}

/// Refuses a form post that a browser says came from another site (`Sec-Fetch-Site`), or,
/// from a browser that does not say, whose `Origin` is another host than the page's. (An
/// `Origin` of `null` is what a page with a strict referrer policy sends; the CSRF token
/// still decides.)
pub fn same_origin(headers: &HeaderMap) -> Result<(), Error> {
    let refused = Error::Forbidden {
        code: "cross_site_form",
        reason: "this form was sent from another site",
    };
    if let Some(site) = headers.get("sec-fetch-site") {
        return match site.to_str() {
            Ok("same-origin" | "none") => Ok(()),
            _ => Err(refused),
        };
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match headers.get(header::ORIGIN).map(|v| v.to_str().unwrap_or("?")) {
        None | Some("null") => Ok(()),
        Some(origin) => {
            let origin_host = origin.split_once("://").map(|(_, h)| h);
            if origin_host.is_some() && origin_host == host {
                Ok(())
            } else {
                Err(refused)
            }
        }
    }
}

/// The relative address of the app page `page` from a page at `path` (`/overview` → `sign-in`,
/// `/responses/{id}` → `../sign-in`): it holds on an API stage (`/Prod/…`) and a custom domain.
pub fn relative(path: &str, page: &str) -> String {
    let depth = path.matches('/').count().saturating_sub(1);
    format!("{}{page}", "../".repeat(depth))
}

/// How a page that the gate refused answers: not signed in (or the session ended) → to the
/// sign-in page; a session that owes a password change or a second factor → to that page;
/// anything else → an error page with the error's status and message.
pub fn refusal(path: &str, error: Error) -> Response {
    let to = |page: &str| {
        let mut response = StatusCode::SEE_OTHER.into_response();
        if let Ok(v) = HeaderValue::from_str(&relative(path, page)) {
            response.headers_mut().insert(header::LOCATION, v);
        }
        response
    };
    match &error {
        Error::Unauthenticated(_) => to("sign-in"),
        Error::Forbidden {
            code: "password_change_required",
            ..
        } => to("password"),
        Error::Forbidden {
            code: "mfa_enrolment_required",
            ..
        } => to("security"),
        _ => error_page(path, error),
    }
}

/// The answer to a path no route has: a page for a browser (it asks for HTML), else the API's
/// JSON 404.
pub fn not_found(headers: &HeaderMap) -> Response {
    let browser = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if browser {
        error_page("/", Error::NotFound("page"))
    } else {
        Error::NotFound("route").into_response()
    }
}

/// A page's JSON refusal (by a layer, or a handler before it could render) answered as a page
/// instead, with the same status and message.
pub async fn as_page(path: &str, response: Response) -> Response {
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !json || !(response.status().is_client_error() || response.status().is_server_error()) {
        return response;
    }
    let status = response.status();
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, 64 * 1024).await.unwrap_or_default();
    let message = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let mut page = page_of(path, status, &message);
    // What the refusal said besides its body (`Retry-After`, rate limits, cookies) still holds.
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH && !page.headers().contains_key(name) {
            page.headers_mut().append(name.clone(), value.clone());
        }
    }
    page
}

/// A plain error page: the status, the error's message, a way to the overview.
fn error_page(path: &str, error: Error) -> Response {
    let (status, body) = super::error::HttpError::App(error).answer();
    page_of(path, status, &body.message)
}

fn page_of(path: &str, status: StatusCode, message: &str) -> Response {
    let nonce = credential::random_text().unwrap_or_default();
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{code} · Ovation</title><style nonce=\"{nonce}\">body{{font:16px/1.5 system-ui,sans-serif;\
         color:#1f2328;max-width:40rem;margin:4rem auto;padding:0 1rem}}a{{color:#1d4ed8}}</style></head>\
         <body><main><h1>{title}</h1><p>{message}</p><p><a href=\"{home}\">Go to the overview</a></p></main></body></html>",
        code = status.as_u16(),
        title = status.canonical_reason().unwrap_or("Refused"),
        message = escape_html(&crate::domain::texts::sentence(message)),
        home = relative(path, "overview"),
    );
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(csp) = HeaderValue::from_str(&format!(
        "default-src 'none'; style-src 'nonce-{nonce}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_addresses_hold_at_any_depth() {
        assert_eq!(relative("/overview", "sign-in"), "sign-in");
        assert_eq!(relative("/responses/{id}", "sign-in"), "../sign-in");
        assert_eq!(relative("/", "sign-in"), "sign-in");
    }

    #[test]
    fn csrf_tokens_belong_to_their_secret() {
        let token = csrf_token("session-a");
        assert!(csrf_matches("session-a", &token));
        assert!(!csrf_matches("session-b", &token));
        assert!(!csrf_matches("session-a", ""));
    }

    #[test]
    fn cross_site_posts_are_refused() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("app.example"));
        assert!(same_origin(&h).is_ok());
        h.insert(header::ORIGIN, HeaderValue::from_static("https://app.example"));
        assert!(same_origin(&h).is_ok());
        h.insert(header::ORIGIN, HeaderValue::from_static("https://evil.example"));
        assert!(same_origin(&h).is_err());
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(same_origin(&h).is_ok());
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(same_origin(&h).is_err());
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(same_origin(&h).is_ok());
    }
}
