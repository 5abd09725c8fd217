//! The gate every request passes before its handler: it looks the matched route up in the route
//! table and applies its access rule. Sign-in routes get the tighter per-address budget; the
//! platform routes need the operator key; tenant routes need a credential (Bearer, or HTTP Basic
//! with the key as user name, as Delighted's clients send it), then the tenant's IP allow-list,
//! the route's permission and the tenant's request budget. The web app's pages take the session
//! from its cookie instead, refuse form posts from other sites, and answer a refusal as a page
//! (`http::pages`). The caller is handed to the handler as a request extension; a refused write
//! is audited.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::pages;
use super::routes::{self, Access, Route};
use super::throttle::{ClientIp, Verdict};
use crate::Context;
use crate::auth::credential::{self, MAX_LEN};
use crate::auth::{self, Actor, Permission, Principal, Restriction, Role};
use crate::domain::Slug;
use crate::error::{Error, GrantRefusal, Result};
use crate::http::error::HttpError;
use crate::services::Caller;
use crate::services::accounts::{sessions, teams, tenants};
use crate::services::audit::{self, Outcome, Target};
use crate::store::now_unix;

/// The header with which the operator names the tenant to act in (support access).
pub const TENANT_HEADER: &str = "ovation-tenant";
/// The longest Authorization header read.
const MAX_AUTHORIZATION: usize = 2 * MAX_LEN;

pub async fn gate(State(ctx): State<Arc<Context>>, mut req: Request, next: Next) -> Response {
    // Unmatched paths go on to the JSON 404 answer.
    let Some(path) = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()) else {
        return next.run(req).await;
    };
    // A matched path with a method the table does not list is refused here, never let through:
    // HEAD is answered as the GET it mirrors.
    let method = if req.method() == Method::HEAD {
        "GET"
    } else {
        req.method().as_str()
    };
    let Some(route) = routes::find(method, &path) else {
        return HttpError::MethodNotAllowed.into_response();
    };
    let ip = ClientIp::of(req.extensions()).map(|c| c.0);
    // A page's form must come from the app's own pages.
    let crossed = match route.page && method != "GET" {
        true => pages::same_origin(req.headers()).err(),
        false => None,
    };
    let admitted = match crossed {
        Some(refused) => Err(refused),
        None => admit(&ctx, route, req.headers(), ip).await,
    };
    match admitted {
        Ok(Some(caller)) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Ok(None) => next.run(req).await,
        Err(e) if route.page => pages::refusal(route.path, e),
        Err(e) => e.into_response(),
    }
}

/// What support staff (the operator inside a tenant) may not do: change anything that would
/// outlast the tenant's permission (users, credentials, the tenant's security settings).
const NOT_FOR_SUPPORT: &[Permission] = &[
    Permission::ManageUsers,
    Permission::ManageCredentials,
    Permission::ManageTenant,
];

/// Applies the route's rule; returns the caller of a tenant route.
async fn admit(ctx: &Context, route: &Route, headers: &HeaderMap, ip: Option<IpAddr>) -> Result<Option<Caller>> {
    let required = match route.access {
        Access::Public => return Ok(None),
        Access::Throttled | Access::Site => {
            let throttle = match route.access {
                Access::Site => &ctx.site_throttle,
                _ => &ctx.sign_in_throttle,
            };
            if let Some(ip) = ip
                && let Verdict::Refused { retry_after } = throttle.take(ip, Instant::now())
            {
                return Err(Error::RateLimited { retry_after });
            }
            return Ok(None);
        }
        Access::Operator => {
            operator(ctx, &token(headers)?)?;
            return Ok(None);
        }
        other => other,
    };
    // A page's credential is its session cookie; the API's, the Authorization header.
    let token = match route.page {
        true => {
            pages::cookie(ctx, headers, pages::SESSION).ok_or(Error::Unauthenticated("sign in to see this page"))?
        }
        false => token(headers)?,
    };
    let principal = if token.starts_with(OPERATOR_PREFIX) && !route.page {
        operator(ctx, &token)?;
        support_access(ctx, headers, ip).await?
    } else {
        sessions::authenticate(ctx, &credential::parse(&token)?, ip).await?
    };
    // Pages are for people signed in, not for API keys or clients.
    if route.page && !matches!(principal.actor, Actor::User { .. }) {
        return Err(Error::Unauthenticated("sign in to see this page"));
    }
    let analysts_see_people = tenants::active(ctx, &principal.tenant)
        .await?
        .is_some_and(|t| t.settings.privacy.analysts_see_people);
    let sees_people = auth::roles::sees_people(principal.role, analysts_see_people);
    let surveys = teams::survey_access(&ctx.tenant_store(&principal.tenant), &principal).await?;
    let caller = Caller {
        principal,
        ip,
        sees_people,
        surveys,
    };
    // The SCIM token opens the SCIM routes and nothing else; nothing else opens them.
    match (required, &caller.principal.actor) {
        (Access::Scim, Actor::Provisioning { .. }) => {}
        (Access::Scim, _) => {
            return Err(Error::Forbidden {
                code: "scim_token_required",
                reason: "only the workspace's SCIM token may call /scim/v2 (Settings, Single sign-on)",
            });
        }
        (_, Actor::Provisioning { .. }) => return Err(Error::permission_denied()),
        _ => {}
    }
    let store = caller.store(ctx);
    // Every admitted credential spends the tenant's budget, refused requests included.
    ctx.tenant_rate.take(&store, now_unix()).await?;
    let support = caller.principal.actor == Actor::Operator;
    let target = || Target::Route(format!("{} {}", route.method, route.path));
    match required {
        Access::User if !matches!(caller.principal.actor, Actor::User { .. }) => {
            return Err(Error::Forbidden {
                code: "user_session_required",
                reason: "only a signed-in user can do this (not an API key or client)",
            });
        }
        Access::Tenant(permission) => {
            if let Some(r) = caller.principal.restriction {
                return Err(restricted(r));
            }
            // Contact details follow the one rule of who sees people; the rest, the role.
            let allowed = caller.holds(permission) && !(support && NOT_FOR_SUPPORT.contains(&permission));
            if !allowed {
                if route.method != "GET" || support {
                    audit::record(&store, &caller, "access.denied", target(), Outcome::Failure).await?;
                }
                return Err(Error::permission_denied());
            }
        }
        _ => {}
    }
    // Support staff are audited for every request, reads included.
    if support {
        audit::record(&store, &caller, "support.request", target(), Outcome::Success).await?;
    }
    Ok(Some(caller))
}

fn restricted(r: Restriction) -> Error {
    match r {
        Restriction::PasswordChange => Error::Forbidden {
            code: "password_change_required",
            reason: "change your password first (POST /v1/me/password)",
        },
        Restriction::MfaEnrolment => Error::Forbidden {
            code: "mfa_enrolment_required",
            reason: "this tenant requires a second factor; enrol first (POST /v1/me/mfa/totp)",
        },
    }
}

/// The credential of the Authorization header: `Bearer <token>`, or `Basic` with the token as the
/// user name and an empty password (`key:` or `key`, as Delighted's clients send it).
fn token(headers: &HeaderMap) -> Result<String> {
    let value = headers.get(header::AUTHORIZATION).ok_or(Error::Unauthenticated(
        "send a credential: `Authorization: Bearer <token>`, or HTTP Basic with the API key as user name",
    ))?;
    if value.len() > MAX_AUTHORIZATION {
        return Err(Error::Unauthenticated("the Authorization header is too long"));
    }
    let text = value
        .to_str()
        .map_err(|_| Error::Unauthenticated("the Authorization header must be ASCII"))?;
    let (scheme, rest) = text.split_once(' ').ok_or(Error::Unauthenticated(
        "the Authorization header must be `Bearer <token>` or `Basic <base64>`",
    ))?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Ok(rest.to_owned());
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(Error::Unauthenticated(
            "unsupported authorization scheme; use Bearer or Basic",
        ));
    }
    let decoded = decode_basic(rest).ok_or(Error::Unauthenticated(
        "the Basic credentials are not valid base64 of UTF-8",
    ))?;
    match decoded.split_once(':') {
        None => Ok(decoded),
        Some((user, "")) => Ok(user.to_owned()),
        Some(_) => Err(Error::Unauthenticated(
            "send the API key as the Basic user name with an empty password",
        )),
    }
}

/// The Basic credentials of a request, decoded (the OAuth token endpoint's client id and secret).
pub fn basic_pair(headers: &HeaderMap) -> Result<Option<(String, String)>> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let invalid = || {
        Error::GrantRefused(GrantRefusal::InvalidClient(
            "the Authorization header must be HTTP Basic with the client id and secret",
        ))
    };
    let text = value.to_str().map_err(|_| invalid())?;
    let (scheme, rest) = text.split_once(' ').ok_or_else(invalid)?;
    if !scheme.eq_ignore_ascii_case("basic") || rest.len() > MAX_AUTHORIZATION {
        return Err(invalid());
    }
    let decoded = decode_basic(rest.trim()).ok_or_else(invalid)?;
    let (id, secret) = decoded.split_once(':').ok_or_else(invalid)?;
    // RFC 6749 §2.3.1: both are form-urlencoded inside the header.
    Ok(Some((
        percent_decode(id).ok_or_else(invalid)?,
        percent_decode(secret).ok_or_else(invalid)?,
    )))
}

/// The `user:password` text of HTTP Basic credentials.
fn decode_basic(base64: &str) -> Option<String> {
    String::from_utf8(STANDARD.decode(base64).ok()?).ok()
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

pub const OPERATOR_PREFIX: &str = "ovo_";

/// Admits the operator by the request's credential, for routes outside the route table (the
/// local server's own, `ovation serve`'s backup).
pub fn admit_operator(ctx: &Context, headers: &HeaderMap) -> Result<()> {
    operator(ctx, &token(headers)?)
}

/// Checks the operator key against the configured hashes, in constant time.
fn operator(ctx: &Context, token: &str) -> Result<()> {
    let digest = credential::sha256(token);
    let known = token.starts_with(OPERATOR_PREFIX)
        && ctx
            .settings
            .operator_keys
            .iter()
            .fold(false, |found, k| credential::same(k, &digest) | found);
    if known {
        Ok(())
    } else {
        Err(Error::Unauthenticated("this route needs the operator key"))
    }
}

/// The operator acting inside the tenant named by the `Ovation-Tenant` header, while the tenant
/// allows support access (and the caller's address). The operator acts as an admin, never as an
/// owner, and may not create users or credentials.
async fn support_access(ctx: &Context, headers: &HeaderMap, ip: Option<IpAddr>) -> Result<Principal> {
    let slug = headers
        .get(TENANT_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or(Error::Unauthenticated(
            "name the tenant to act in with the Ovation-Tenant header",
        ))?;
    let tenant = tenants::by_slug(ctx, &Slug::parse(slug)?)
        .await?
        .filter(crate::domain::tenant::Tenant::is_active)
        .ok_or(Error::NotFound("tenant"))?;
    if !tenant.settings.support_access {
        return Err(Error::Forbidden {
            code: "support_access_disabled",
            reason: "this tenant does not allow support access",
        });
    }
    if !auth::ip_allowed(&tenant.settings.ip_allow_list, ip) {
        return Err(sessions::ip_not_allowed());
    }
    Ok(Principal {
        tenant: tenant.id.clone(),
        actor: Actor::Operator,
        role: Role::Admin,
        restriction: None,
    })
}
