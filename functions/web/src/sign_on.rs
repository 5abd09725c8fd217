//! Settings, single sign-on (owners): the workspace's OpenID Connect provider, saved as
//! `PUT /v1/sso/oidc` saves it (its discovery document read first, the secret sealed, audited),
//! the redirect URI to register at the provider, or its SAML 2.0 provider from its metadata as
//! `PUT /v1/sso/saml` saves it (with this workspace's entity ID and assertion consumer service
//! to give it), whether passwords are refused (but the
//! break-glass owner's), its removal; the email domains that find it from a work email (listed,
//! checked in DNS, removed); and the SCIM token its identity provider provisions users
//! with (made, shown once, replaced, revoked).

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use minijinja::context;
use ovation::Context;
use ovation::auth::Role;
use ovation::http::extract::PublicBase;
use ovation::services::Caller;
use ovation::services::accounts::domains::{self, NewEmailDomain};
use ovation::services::accounts::saml::{self, SamlInput};
use ovation::services::accounts::scim::{self, ProvisioningToken};
use ovation::services::accounts::sso::{self, OidcInput};
use ovation::{Error, Result};

use crate::filter;
use crate::page::{PageForm, after_form, in_layout, utc};

type Ctx = State<std::sync::Arc<Context>>;

/// This page's entry in the settings' navigation.
pub const NAV: &str = "settings/sign-on";

const DONE: &[(&str, &str)] = &[
    ("saved", "Single sign-on saved: your people can sign in with it now."),
    (
        "removed",
        "Single sign-on removed: everyone signs in with a password again.",
    ),
    (
        "domain_added",
        "Domain added: publish its TXT record in your DNS, then check it.",
    ),
    (
        "domain_verified",
        "Domain verified: your people can sign in with their email at it.",
    ),
    ("domain_removed", "Domain removed."),
    (
        "scim_revoked",
        "SCIM token revoked: your identity provider's calls are refused from now on.",
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
        shown(&ctx, &caller, &base, done, None).await
    };
    in_layout(&ctx, &caller, &headers, (NAV, "sign_on.html", "../"), values).await
}

/// The page's values: the provider's settings, the owners who can be the break-glass owner, and
/// the SCIM token (`made`: a new one, shown on this answer only).
async fn shown(
    ctx: &Context,
    caller: &Caller,
    base: &str,
    done: Option<&str>,
    made: Option<ProvisioningToken>,
) -> Result<minijinja::Value> {
    let settings = match sso::get(ctx, caller, base).await {
        Ok(settings) => Some(settings),
        Err(Error::NotFound(_)) => None,
        Err(e) => return Err(e),
    };
    let saml = match saml::get(ctx, caller, base).await {
        Ok(saml) => Some(saml),
        Err(Error::NotFound(_)) => None,
        Err(e) => return Err(e),
    };
    // What both protocols' settings share, of the one the workspace has.
    let provider = match (&settings, &saml) {
        (Some(s), _) => Some(context! { create_users => s.create_users, require_sso => s.require_sso }),
        (_, Some(s)) => Some(context! { create_users => s.create_users, require_sso => s.require_sso }),
        _ => None,
    };
    let (sp_entity_id, acs_url) = saml::own_service(ctx, caller, base).await?;
    let token = match scim::token_info(ctx, caller, base).await {
        Ok(info) => Some(context! {
            created => utc(info.created_at),
            last_used => info.last_used_at.and_then(utc),
        }),
        Err(Error::NotFound(_)) => None,
        Err(e) => return Err(e),
    };
    let domains: Vec<_> = domains::list(ctx, caller)
        .await?
        .into_iter()
        .map(|d| {
            context! {
                verified => d.verified_at.and_then(utc),
                domain => d.domain,
                record_name => d.record.name,
                record_value => d.record.value,
            }
        })
        .collect();
    Ok(context! {
        done,
        domains,
        redirect_uri => sso::own_redirect_uri(ctx, caller, base).await?,
        sp_entity_id,
        acs_url,
        settings,
        saml,
        provider,
        owners => sso::break_glass_choices(ctx, caller).await?,
        roles => [Role::Admin, Role::Editor, Role::Analyst].map(Role::as_str),
        scim_base => scim::base_url(base),
        token,
        made,
    })
}

pub async fn save(
    State(ctx): Ctx,
    headers: HeaderMap,
    caller: Caller,
    PublicBase(base): PublicBase,
    form: PageForm,
) -> Response {
    // A new SCIM token is shown on the answering page itself, never again.
    if form.get("action") == "scim_token" {
        let made = async {
            let made = scim::create_token(&ctx, &caller, &base).await?;
            shown(&ctx, &caller, &base, None, Some(made)).await
        };
        return in_layout(&ctx, &caller, &headers, (NAV, "sign_on.html", "../"), made).await;
    }
    let saved = async {
        match form.get("action") {
            "remove" => {
                match saml::delete(&ctx, &caller).await {
                    Err(Error::NotFound(_)) => sso::delete(&ctx, &caller).await?,
                    other => other?,
                }
                return Ok("settings/sign-on?done=removed".to_owned());
            }
            "saml" => {
                let rules = Rules::of(&form)?;
                let input = SamlInput {
                    metadata_xml: form.get("metadata_xml").to_owned(),
                    allow_idp_initiated: Some(form.get("allow_idp_initiated") == "on"),
                    default_role: rules.default_role,
                    create_users: rules.create_users,
                    email_domains: rules.email_domains,
                    require_sso: rules.require_sso,
                    break_glass_owner: rules.break_glass_owner,
                };
                saml::save(&ctx, &caller, input, &base).await?;
                return Ok("settings/sign-on?done=saved".to_owned());
            }
            "scim_revoke" => {
                scim::revoke_token(&ctx, &caller).await?;
                return Ok("settings/sign-on?done=scim_revoked".to_owned());
            }
            "domain_add" => {
                let domain = form.get("domain").to_owned();
                domains::add(&ctx, &caller, NewEmailDomain { domain }).await?;
                return Ok("settings/sign-on?done=domain_added".to_owned());
            }
            "domain_verify" => {
                domains::verify(&ctx, &caller, form.get("domain")).await?;
                return Ok("settings/sign-on?done=domain_verified".to_owned());
            }
            "domain_remove" => {
                domains::remove(&ctx, &caller, form.get("domain")).await?;
                return Ok("settings/sign-on?done=domain_removed".to_owned());
            }
            _ => {}
        }
        let secret = form.get("client_secret").trim();
        let rules = Rules::of(&form)?;
        let input = OidcInput {
            issuer: form.get("issuer").to_owned(),
            client_id: form.get("client_id").to_owned(),
            client_secret: (!secret.is_empty()).then(|| secret.to_owned()),
            default_role: rules.default_role,
            create_users: rules.create_users,
            email_domains: rules.email_domains,
            require_sso: rules.require_sso,
            break_glass_owner: rules.break_glass_owner,
        };
        sso::save(&ctx, &caller, input, &base).await?;
        Result::Ok("settings/sign-on?done=saved".to_owned())
    };
    after_form(&ctx, &caller, &headers, (NAV, "../"), saved.await).await
}

/// What both providers' forms ask: newcomers' role, who may be created, whether passwords are
/// refused and for whom not.
struct Rules {
    default_role: Option<Role>,
    create_users: Option<bool>,
    email_domains: Option<Vec<String>>,
    require_sso: Option<bool>,
    break_glass_owner: Option<String>,
}

impl Rules {
    fn of(form: &PageForm) -> Result<Rules> {
        Ok(Rules {
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
        })
    }
}
