//! Single sign-on through pages (`accounts::sso`, `accounts::saml`): the sign-in page's single
//! sign-on form (a workspace's name, or a work email of a verified domain) leads here, on to the
//! workspace's identity provider, and its answer at the workspace's own callback (OpenID
//! Connect) or assertion consumer service (SAML, posted from the provider's page) back to a
//! session; and the workspace's SAML metadata for its provider. Both legs
//! answer a page that moves on by itself (`Refresh`, no script): a form's redirect to another
//! site would break the pages' `form-action 'self'`, and the session cookie (`SameSite=Strict`)
//! is sent only on a navigation this site's own page starts.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::context;
use ovation::http::extract::{ClientAddress, Params, PublicBase};
use ovation::http::pages::{self, SESSION};
use ovation::services::accounts::sign_in::SignInResult;
use ovation::services::accounts::sso::{self, Callback};
use ovation::services::accounts::{saml, tenants};
use ovation::store::now_unix;

use crate::page::{PageForm, render};
use crate::sign_in::{WORKSPACE, YEAR, problem, sign_in_page};

type Ctx = State<std::sync::Arc<ovation::Context>>;

/// The cookie that binds the provider's answer to the browser that started the sign-in.
const FLOW: &str = "ovation_sso";

/// On to the provider of the workspace named in the sign-in page's form (a form with its token:
/// no other site can start a sign-in, and so sign a visitor in to its own workspace).
pub async fn start(State(ctx): Ctx, PublicBase(base): PublicBase, form: PageForm) -> Response {
    // The workspace's slug, or a work email whose domain the workspace has verified.
    let workspace = form.get("workspace").trim().to_ascii_lowercase();
    let return_to = Some(form.get("return_to")).filter(|r| !r.is_empty());
    match sso::start(&ctx, &workspace, return_to, &base).await {
        Ok(started) => {
            let flow = match started.posted_back {
                true => pages::set_cross_site_cookie(&ctx, FLOW, &started.flow_token, sso::FLOW_SECONDS),
                false => pages::set_lax_cookie(&ctx, FLOW, &started.flow_token, sso::FLOW_SECONDS),
            };
            let cookies = vec![flow, pages::set_cookie(&ctx, WORKSPACE, &started.slug, YEAR)];
            onward(
                "",
                &started.location,
                "Continuing to your organisation's sign-in",
                "Your browser is going on to your organisation's sign-in page.",
                cookies,
            )
        }
        Err(e) => {
            let (status, message) = problem(e);
            match workspace.contains('@') {
                true => sign_in_page(&ctx, status, "", &workspace, Some(message), None),
                false => sign_in_page(&ctx, status, &workspace, "", Some(message), None),
            }
        }
    }
}

/// The provider's answer at the workspace's own callback: a session, on to the page the sign-in
/// was for (else the overview).
pub async fn callback(
    State(ctx): Ctx,
    ClientAddress(ip): ClientAddress,
    PublicBase(base): PublicBase,
    Path(slug): Path<String>,
    headers: HeaderMap,
    Params(answer): Params<Callback>,
) -> Response {
    let flow = pages::cookie(&ctx, &headers, FLOW);
    let used_up = pages::set_lax_cookie(&ctx, FLOW, "", 0);
    let finished = sso::finish(&ctx, &slug, flow.as_deref(), answer, ip, &base).await;
    signed_in(&ctx, &base, ROOT, finished, used_up)
}

/// The identity provider's SAML answer, posted from its page to the workspace's assertion
/// consumer service: a session, on to the page the sign-in was for.
pub async fn saml_answer(
    State(ctx): Ctx,
    ClientAddress(ip): ClientAddress,
    PublicBase(base): PublicBase,
    Path(slug): Path<String>,
    headers: HeaderMap,
    Form(posted): Form<saml::Posted>,
) -> Response {
    let flow = pages::cookie(&ctx, &headers, FLOW);
    let used_up = pages::set_cross_site_cookie(&ctx, FLOW, "", 0);
    let finished = saml::finish(&ctx, &slug, posted, flow.as_deref(), ip, &base).await;
    signed_in(&ctx, &base, ACS_ROOT, finished, used_up)
}

/// The workspace's SAML service provider metadata, for its identity provider.
pub async fn saml_metadata(State(ctx): Ctx, PublicBase(base): PublicBase, Path(slug): Path<String>) -> Response {
    let found = match ovation::domain::Slug::parse(&slug) {
        Ok(slug) => tenants::by_slug(&ctx, &slug).await.map(|t| t.filter(|t| t.is_active())),
        Err(_) => Ok(None),
    };
    match found {
        Ok(Some(tenant)) => (
            [(header::CONTENT_TYPE, "application/samlmetadata+xml")],
            saml::sp_metadata(&base, &tenant.slug),
        )
            .into_response(),
        Ok(None) => ovation::Error::NotFound("workspace").into_response(),
        Err(e) => e.into_response(),
    }
}

/// A sign-in finished (or refused): the session cookie set, on to the page it was for.
fn signed_in(
    ctx: &ovation::Context,
    base: &str,
    root: &str,
    finished: ovation::Result<sso::Finished>,
    used_up: HeaderValue,
) -> Response {
    match finished {
        Ok(sso::Finished {
            result: SignInResult::SignedIn { token, expires_at, .. },
            return_to,
        }) => {
            let to = format!("{base}{}", return_to.as_deref().unwrap_or("/overview"));
            let session = pages::set_cookie(ctx, SESSION, &token, expires_at - now_unix());
            onward(
                root,
                &to,
                "Signed in",
                "Your browser is going on to Ovation.",
                vec![session, used_up],
            )
        }
        Ok(sso::Finished { .. }) => failed(
            root,
            ovation::Error::internal("a single sign-on asked for a second factor"),
            used_up,
        ),
        Err(e) => failed(root, e, used_up),
    }
}

/// The callback's page is two levels down; the assertion consumer service's, three.
const ROOT: &str = "../../";
const ACS_ROOT: &str = "../../../";

/// A refused single sign-on: why, and the way back to the sign-in page.
fn failed(root: &str, e: ovation::Error, used_up: HeaderValue) -> Response {
    let (status, text) = problem(e);
    // Refused, not asking for credentials (there is no header to send them in).
    let status = if status == StatusCode::UNAUTHORIZED {
        StatusCode::FORBIDDEN
    } else {
        status
    };
    let heading = "Single sign-on failed";
    let sign_in = format!("{root}sign-in");
    let link = (sign_in.as_str(), "Back to sign-in");
    let mut page = render(status, "message.html", root, context! { heading, text, link }).into_response();
    page.headers_mut().append(header::SET_COOKIE, used_up);
    page
}

/// A page that moves on to `to` at once (and links there for a browser that does not).
fn onward(root: &str, to: &str, heading: &str, text: &str, cookies: Vec<HeaderValue>) -> Response {
    let link = (to, "Continue");
    let mut response = render(StatusCode::OK, "message.html", root, context! { heading, text, link }).into_response();
    let headers = response.headers_mut();
    if let Ok(refresh) = HeaderValue::from_str(&format!("0;url={to}")) {
        headers.insert(header::REFRESH, refresh);
    }
    for cookie in cookies {
        headers.append(header::SET_COOKIE, cookie);
    }
    response
}
