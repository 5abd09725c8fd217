//! Signing in through pages, under every rule of the API's sign-in (`accounts::sign_in`: lockout,
//! no enumeration, allow-lists, expiry): workspace (remembered), email and password; then the
//! second factor when the user has one; the password change a session may owe; signing out
//! here or everywhere. The session lives in its cookie; a sign-in's challenge in a short one.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use minijinja::context;
use ovation::auth::credential::random_text;
use ovation::http::error::HttpError;
use ovation::http::extract::ClientAddress;
use ovation::http::pages::{self, CHALLENGE, PRE_SESSION, SESSION};
use ovation::services::Caller;
use ovation::services::accounts::sessions::{self, ChangePassword};
use ovation::services::accounts::sign_in::{self, MfaRequest, SignInRequest, SignInResult};
use ovation::store::now_unix;
use ovation::{Context, Error};

use crate::page::{PageForm, Shell, render, see_other};

type Ctx = State<std::sync::Arc<Context>>;

/// The cookie that remembers the workspace last signed in to (its slug; a year).
pub const WORKSPACE: &str = "ovation_workspace";
pub const YEAR: i64 = 365 * 86_400;
/// How long the sign-in page's form stays valid.
const FORM_SECONDS: i64 = 3600;

/// The sign-in page, its workspace filled in when remembered. A new pre-session cookie makes
/// its form's CSRF token.
pub async fn form(State(ctx): Ctx, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let workspace = pages::cookie(&ctx, &headers, WORKSPACE).unwrap_or_default();
    let notice = match raw.as_deref() {
        Some("done=reset") => Some("Your new password is set. Sign in with it."),
        Some("done=deleted") => Some(
            "The workspace is deleted: nothing it held can be read any more, and every item is removed for good within 30 days.",
        ),
        _ => None,
    };
    sign_in_page(&ctx, StatusCode::OK, &workspace, "", None, notice)
}

pub fn sign_in_page(
    ctx: &Context,
    status: StatusCode,
    workspace: &str,
    email: &str,
    problem: Option<String>,
    notice: Option<&str>,
) -> Response {
    let secret = random_text().unwrap_or_default();
    render(
        status,
        "sign_in.html",
        "",
        context! { workspace, email, problem, notice, csrf => pages::csrf_token(&secret) },
    )
    .with_cookies(vec![pages::set_cookie(ctx, PRE_SESSION, &secret, FORM_SECONDS)])
    .into_response()
}

/// The message a refused sign-in shows (the API's, the same whether or not the account exists).
pub fn problem(e: Error) -> (StatusCode, String) {
    let (status, body) = HttpError::App(e).answer();
    (status, body.message)
}

pub async fn submit(State(ctx): Ctx, ClientAddress(ip): ClientAddress, form: PageForm) -> Response {
    let workspace = form.get("workspace").trim().to_ascii_lowercase();
    let email = form.get("email").trim().to_owned();
    let request = SignInRequest {
        tenant: workspace.clone(),
        email: email.clone(),
        password: form.get("password").to_owned(),
    };
    match sign_in::sign_in(&ctx, request, ip).await {
        Ok(result) => {
            let mut cookies = vec![pages::set_cookie(&ctx, WORKSPACE, &workspace, YEAR)];
            cookies.push(pages::set_cookie(&ctx, PRE_SESSION, "", 0));
            signed_in(&ctx, result, cookies)
        }
        Err(e) => {
            let (status, message) = problem(e);
            sign_in_page(&ctx, status, &workspace, &email, Some(message), None)
        }
    }
}

/// Where a sign-in's result leads: a session (to the page it owes, else the overview), or the
/// second factor.
pub fn signed_in(ctx: &Context, result: SignInResult, mut cookies: Vec<HeaderValue>) -> Response {
    let now = now_unix();
    match result {
        SignInResult::SignedIn {
            token,
            expires_at,
            required_action,
            ..
        } => {
            cookies.push(pages::set_cookie(ctx, SESSION, &token, expires_at - now));
            cookies.push(pages::set_cookie(ctx, CHALLENGE, "", 0));
            let to = match required_action.as_deref() {
                Some("password_change") => "password",
                _ => "overview",
            };
            see_other(to, cookies)
        }
        SignInResult::MfaRequired { mfa_token, expires_at } => {
            cookies.push(pages::set_cookie(ctx, CHALLENGE, &mfa_token, expires_at - now));
            see_other("second-factor", cookies)
        }
    }
}

/// The second factor's page, while a sign-in's challenge is open.
pub async fn code_form(State(ctx): Ctx, headers: HeaderMap) -> Response {
    match pages::cookie(&ctx, &headers, CHALLENGE) {
        Some(challenge) => code_page(StatusCode::OK, &challenge, None),
        None => see_other("sign-in", vec![]),
    }
}

fn code_page(status: StatusCode, challenge: &str, problem: Option<String>) -> Response {
    let csrf = pages::csrf_token(challenge);
    render(status, "second_factor.html", "", context! { csrf, problem }).into_response()
}

pub async fn submit_code(
    State(ctx): Ctx,
    ClientAddress(ip): ClientAddress,
    headers: HeaderMap,
    form: PageForm,
) -> Response {
    let Some(challenge) = pages::cookie(&ctx, &headers, CHALLENGE) else {
        return see_other("sign-in", vec![]);
    };
    let code: String = form.get("code").chars().filter(|c| !c.is_whitespace()).collect();
    // Six digits are the app's code; anything else is a recovery code.
    let totp = code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit());
    let request = MfaRequest {
        mfa_token: challenge.clone(),
        code: totp.then(|| code.clone()),
        recovery_code: (!totp).then_some(code),
    };
    match sign_in::complete_mfa(&ctx, request, ip).await {
        Ok(result) => signed_in(&ctx, result, vec![]),
        // A wrong code, or a challenge used up or expired: said on the page ("Start again").
        Err(e) => {
            let (status, message) = problem(e);
            code_page(status, &challenge, Some(message))
        }
    }
}

/// The password change page (a session that owes one is sent here by every other page).
pub async fn password_form(State(ctx): Ctx, headers: HeaderMap, caller: Caller) -> Response {
    password_page(&ctx, &caller, &headers, StatusCode::OK, None).await
}

async fn password_page(
    ctx: &Context,
    caller: &Caller,
    headers: &HeaderMap,
    status: StatusCode,
    problem: Option<(String, Option<String>)>,
) -> Response {
    let shell = match Shell::of(ctx, caller, headers, "").await {
        Ok(shell) => shell,
        Err(e) => return crate::page::error("", None, e).into_response(),
    };
    let owed = caller.principal.restriction.is_some();
    let (problem, field) = problem.map_or((None, None), |(m, f)| (Some(m), f));
    render(status, "password.html", "", context! { shell, owed, problem, field }).into_response()
}

pub async fn change_password(State(ctx): Ctx, headers: HeaderMap, caller: Caller, form: PageForm) -> Response {
    let (current, new) = (form.get("current_password"), form.get("new_password"));
    if new != form.get("confirm_password") {
        let problem = (
            "The new passwords differ".to_owned(),
            Some("confirm_password".to_owned()),
        );
        return password_page(&ctx, &caller, &headers, StatusCode::UNPROCESSABLE_ENTITY, Some(problem)).await;
    }
    let request = ChangePassword {
        current_password: current.to_owned(),
        new_password: new.to_owned(),
    };
    match sessions::change_password(&ctx, &caller, request).await {
        Ok(result) => signed_in(&ctx, result, vec![]),
        Err(e) => {
            let (status, body) = HttpError::App(e).answer();
            let problem = (body.message, body.field);
            password_page(&ctx, &caller, &headers, status, Some(problem)).await
        }
    }
}

/// Signs out of this session, or of every session of the user (`everywhere`).
pub async fn sign_out(State(ctx): Ctx, caller: Caller, form: PageForm) -> Response {
    let done = if form.get("everywhere").is_empty() {
        sessions::sign_out(&ctx, &caller).await
    } else {
        sessions::sign_out_everywhere(&ctx, &caller).await.map(drop)
    };
    match done {
        Ok(()) => see_other("sign-in", vec![pages::set_cookie(&ctx, SESSION, "", 0)]),
        Err(e) => crate::page::error("", None, e).into_response(),
    }
}
