//! The user's own security: the second factor (TOTP) turned on with a QR code drawn on the
//! server and the recovery codes shown once, or turned off. A session that must enrol before
//! anything else is sent here.

use axum::extract::{MatchedPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use minijinja::context;
use ovation::http::error::HttpError;
use ovation::services::Caller;
use ovation::services::accounts::mfa::{self, DisableTotp, TotpCode};
use ovation::services::accounts::sessions;
use ovation::{Context, Error, Result};

use crate::page::{PageForm, Shell, error, render, root_of, see_other};

type Ctx = State<std::sync::Arc<Context>>;

/// The security page, with what it says after an action.
async fn security_page(at: &At<'_>, status: StatusCode, values: minijinja::Value) -> Response {
    let At {
        ctx,
        caller,
        headers,
        root,
    } = *at;
    let shown = async {
        let shell = Shell::of(ctx, caller, headers, "").await?;
        let me = sessions::me(ctx, caller).await?;
        let enabled = me.user.as_ref().is_some_and(|u| u.mfa_enabled);
        let owed = me.required_action.as_deref() == Some("mfa_enrolment");
        Ok::<_, Error>(render(
            status,
            "security.html",
            root,
            context! { shell, enabled, owed, ..values },
        ))
    };
    match shown.await {
        Ok(page) => page.into_response(),
        Err(e) => error(root, None, e).into_response(),
    }
}

/// Where a security page is answered: its request, and the way back to the top level.
#[derive(Clone, Copy)]
struct At<'a> {
    ctx: &'a Context,
    caller: &'a Caller,
    headers: &'a HeaderMap,
    root: &'static str,
}

pub async fn page(State(ctx): Ctx, headers: HeaderMap, caller: Caller) -> Response {
    let at = At {
        ctx: &ctx,
        caller: &caller,
        headers: &headers,
        root: "",
    };
    security_page(&at, StatusCode::OK, context! {}).await
}

/// A QR code of `text` as inline SVG (attributes only: the page's CSP holds).
fn qr_svg(text: &str) -> Result<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).map_err(Error::internal)?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    let svg = svg
        .split_once("<svg")
        .map_or(svg.clone(), |(_, rest)| format!("<svg{rest}"));
    Ok(svg.replacen(
        "<svg",
        "<svg role=\"img\" aria-label=\"QR code for your authenticator app\" class=\"qr\"",
        1,
    ))
}

/// Starts enrolment: the QR code and the secret to enter by hand, and the form for a code.
pub async fn begin(
    State(ctx): Ctx,
    headers: HeaderMap,
    path: Option<MatchedPath>,
    caller: Caller,
    _form: PageForm,
) -> Response {
    let at = At {
        ctx: &ctx,
        caller: &caller,
        headers: &headers,
        root: root_of(path.as_ref()),
    };
    let started = async {
        let enrolment = mfa::begin_totp(&ctx, &caller).await?;
        let qr = minijinja::Value::from_safe_string(qr_svg(&enrolment.provisioning_uri)?);
        Ok::<_, Error>(context! { qr, secret => enrolment.secret })
    };
    match started.await {
        Ok(values) => security_page(&at, StatusCode::OK, values).await,
        Err(e) => refused(&at, e).await,
    }
}

/// Confirms enrolment with a code: the recovery codes, shown this once.
pub async fn confirm(
    State(ctx): Ctx,
    headers: HeaderMap,
    path: Option<MatchedPath>,
    caller: Caller,
    form: PageForm,
) -> Response {
    let at = At {
        ctx: &ctx,
        caller: &caller,
        headers: &headers,
        root: root_of(path.as_ref()),
    };
    let code = TotpCode {
        code: form.get("code").trim().to_owned(),
    };
    match mfa::confirm_totp(&ctx, &caller, code).await {
        Ok(codes) => {
            let values = context! { recovery_codes => codes.recovery_codes };
            security_page(&at, StatusCode::OK, values).await
        }
        Err(e) => refused(&at, e).await,
    }
}

/// Turns the second factor off (the password and a code or recovery code).
pub async fn disable(
    State(ctx): Ctx,
    headers: HeaderMap,
    path: Option<MatchedPath>,
    caller: Caller,
    form: PageForm,
) -> Response {
    let root = root_of(path.as_ref());
    let at = At {
        ctx: &ctx,
        caller: &caller,
        headers: &headers,
        root,
    };
    let code = form.get("code").trim().to_owned();
    let totp = code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit());
    let request = DisableTotp {
        password: form.get("password").to_owned(),
        code: totp.then(|| code.clone()),
        recovery_code: (!totp).then_some(code),
    };
    match mfa::disable_totp(&ctx, &caller, request).await {
        Ok(()) => see_other(&format!("{root}security"), vec![]),
        Err(e) => refused(&at, e).await,
    }
}

/// The security page again, saying why an action was refused.
async fn refused(at: &At<'_>, e: Error) -> Response {
    let (status, body) = HttpError::App(e).answer();
    let values = context! { problem => body.message };
    security_page(at, status, values).await
}
