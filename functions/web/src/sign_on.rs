//! Settings, single sign-on (owners): the workspace's OpenID Connect provider, saved as
//! `PUT /v1/sso/oidc` saves it (its discovery document read first, the secret sealed, audited),
//! the redirect URI to register at the provider, whether passwords are refused (but the
//! break-glass owner's), and its removal.

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use minijinja::context;
use ovation::Context;
use ovation::auth::Role;
use ovation::http::extract::PublicBase;
use ovation::services::Caller;
use ovation::services::accounts::sso::{self, OidcInput};
use ovation::{Error, Result};

use crate::filter;
use crate::page::{PageForm, after_form, in_layout};

type Ctx = State<std::sync::Arc<Context>>;

/// This page's entry in the settings' navigation.
pub const NAV: &str = "settings/sign-on";

const DONE: &[(&str, &str)] = &[
    ("saved", "Single sign-on saved: your people can sign in with it now."),
    (
        "removed",
        "Single sign-on removed: everyone signs in with a password again.",
    ),
];

pub async fn page(
    State(ctx): Ctx,
    headers: HeaderMap,
    caller: Caller,
    PublicBase(base): PublicBase,
    RawQuery(raw): RawQuery,
) -> Response {
    let values = async {
        let done = filter::said(DONE, &filter::pairs(raw.as_deref())?);
        let settings = match sso::get(&ctx, &caller, &base).await {
            Ok(settings) => Some(settings),
            Err(Error::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        Ok(context! {
            done,
            redirect_uri => sso::own_redirect_uri(&ctx, &caller, &base).await?,
            email_domains => settings.as_ref().map(|s| s.email_domains.join(", ")).unwrap_or_default(),
            settings,
            owners => sso::break_glass_choices(&ctx, &caller).await?,
            roles => [Role::Admin, Role::Editor, Role::Analyst].map(Role::as_str),
        })
    };
    in_layout(&ctx, &caller, &headers, (NAV, "sign_on.html", "../"), values).await
}

pub async fn save(
    State(ctx): Ctx,
    headers: HeaderMap,
    caller: Caller,
    PublicBase(base): PublicBase,
    form: PageForm,
) -> Response {
    let saved = async {
        if form.get("action") == "remove" {
            sso::delete(&ctx, &caller).await?;
            return Ok("settings/sign-on?done=removed".to_owned());
        }
        let secret = form.get("client_secret").trim();
        let input = OidcInput {
            issuer: form.get("issuer").to_owned(),
            client_id: form.get("client_id").to_owned(),
            client_secret: (!secret.is_empty()).then(|| secret.to_owned()),
            default_role: Some(Role::parse(form.get("default_role"))?),
            create_users: Some(form.get("create_users") == "on"),
            email_domains: Some(
                form.get("email_domains")
                    .split([',', ' ', '\n'])
                    .filter(|d| !d.trim().is_empty())
                    .map(str::to_owned)
                    .collect(),
            ),
            require_sso: Some(form.get("require_sso") == "on"),
            break_glass_owner: Some(form.get("break_glass_owner").to_owned()).filter(|o| !o.is_empty()),
        };
        sso::save(&ctx, &caller, input, &base).await?;
        Result::Ok("settings/sign-on?done=saved".to_owned())
    };
    after_form(&ctx, &caller, &headers, (NAV, "../"), saved.await).await
}
