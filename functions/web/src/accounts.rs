//! The pages of joining and recovering an account: accepting a mailed invitation (a password of
//! one's own, then signed in), and a forgotten password (a mailed link, the same answer whether
//! or not the account exists; then a new password, every session ended).

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use minijinja::context;
use ovation::auth::credential::random_text;
use ovation::http::error::HttpError;
use ovation::http::extract::{ClientAddress, PublicBase};
use ovation::http::pages::{self, PRE_SESSION};
use ovation::services::accounts::password_reset;
use ovation::services::accounts::sign_in::{self, AcceptInvite};
use ovation::{Context, Error};

use crate::filter::{pairs, value};
use crate::page::{PageForm, error, render, see_other};
use crate::sign_in::{WORKSPACE, signed_in};

type Ctx = State<std::sync::Arc<Context>>;

/// How long a form of these pages stays valid.
const FORM_SECONDS: i64 = 3600;

/// A page with a form before signing in: its CSRF token comes from a new pre-session cookie.
fn form_page(ctx: &Context, status: StatusCode, template: &str, values: minijinja::Value) -> Response {
    let secret = random_text().unwrap_or_default();
    render(
        status,
        template,
        "",
        context! { csrf => pages::csrf_token(&secret), ..values },
    )
    .with_cookies(vec![pages::set_cookie(ctx, PRE_SESSION, &secret, FORM_SECONDS)])
    .into_response()
}

fn token_of(raw: Option<&str>) -> String {
    pairs(raw).map(|p| value(&p, "token").to_owned()).unwrap_or_default()
}

fn message(status: StatusCode, heading: &str, text: &str, link: Option<(&str, &str)>) -> Response {
    render(status, "message.html", "", context! { heading, text, link }).into_response()
}

/// The page that accepts a mailed invitation, naming the workspace the link is for; a link that
/// cannot be used (expired, used, ended by a newer one) says so at once.
pub async fn accept_form(State(ctx): Ctx, RawQuery(raw): RawQuery) -> Response {
    let token = token_of(raw.as_deref());
    match sign_in::invited_to(&ctx, &token).await {
        Ok(Some(workspace)) => form_page(&ctx, StatusCode::OK, "accept.html", context! { token, workspace }),
        _ => message(
            StatusCode::GONE,
            "This invitation cannot be used",
            "The link expired, was used already, or a newer invitation replaced it. Ask whoever invited you to send a new one.",
            Some(("sign-in", "Sign in")),
        ),
    }
}

pub async fn accept(State(ctx): Ctx, ClientAddress(ip): ClientAddress, form: PageForm) -> Response {
    let token = form.get("token").to_owned();
    if form.get("password") != form.get("confirm_password") {
        let problem = "The passwords differ";
        return form_page(
            &ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            "accept.html",
            context! { token, problem },
        );
    }
    let request = AcceptInvite {
        invite_token: token.clone(),
        password: form.get("password").to_owned(),
        name: Some(form.get("name").trim().to_owned()).filter(|n| !n.is_empty()),
    };
    match sign_in::accept_invite(&ctx, request, ip).await {
        Ok(result) => signed_in(&ctx, result, vec![pages::set_cookie(&ctx, PRE_SESSION, "", 0)]),
        Err(e @ Error::Unauthenticated(_)) => {
            let (status, body) = HttpError::App(e).answer();
            message(status, "This invitation cannot be used", &body.message, None)
        }
        Err(e) => {
            let (status, body) = HttpError::App(e).answer();
            let problem = body.message;
            form_page(&ctx, status, "accept.html", context! { token, problem })
        }
    }
}

/// The page that asks for a link to set a new password.
pub async fn forgot_form(State(ctx): Ctx, headers: HeaderMap) -> Response {
    let workspace = pages::cookie(&ctx, &headers, WORKSPACE).unwrap_or_default();
    form_page(&ctx, StatusCode::OK, "forgot.html", context! { workspace })
}

pub async fn forgot(State(ctx): Ctx, ClientAddress(ip): ClientAddress, base: PublicBase, form: PageForm) -> Response {
    let sent = password_reset::request(
        &ctx,
        form.get("workspace").trim(),
        form.get("email").trim(),
        ip,
        &base.0,
    )
    .await;
    match sent {
        Ok(()) => message(
            StatusCode::OK,
            "Check your mail",
            "If that workspace has an account with this email, a link to set a new password is on its way. \
             It works once, for one hour.",
            Some(("sign-in", "Back to sign in")),
        ),
        Err(e) => error("", None, e).into_response(),
    }
}

/// The page that sets a new password, while its link is live.
pub async fn reset_form(State(ctx): Ctx, RawQuery(raw): RawQuery) -> Response {
    let token = token_of(raw.as_deref());
    match password_reset::is_live(&ctx, &token).await {
        Ok(true) => form_page(&ctx, StatusCode::OK, "reset.html", context! { token }),
        Ok(false) => expired(),
        Err(e) => error("", None, e).into_response(),
    }
}

fn expired() -> Response {
    message(
        StatusCode::GONE,
        "This link cannot be used",
        "It expired, was used already, or is not whole. Ask for a new one.",
        Some(("forgot", "Ask for a new link")),
    )
}

pub async fn reset(State(ctx): Ctx, ClientAddress(ip): ClientAddress, form: PageForm) -> Response {
    let token = form.get("token").to_owned();
    if form.get("new_password") != form.get("confirm_password") {
        let problem = "The passwords differ";
        return form_page(
            &ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            "reset.html",
            context! { token, problem },
        );
    }
    match password_reset::complete(&ctx, &token, form.get("new_password").to_owned(), ip).await {
        Ok(()) => see_other("sign-in?done=reset", vec![]),
        Err(Error::Unauthenticated(_)) => expired(),
        Err(e) => {
            let (status, body) = HttpError::App(e).answer();
            let problem = body.message;
            form_page(&ctx, status, "reset.html", context! { token, problem })
        }
    }
}
