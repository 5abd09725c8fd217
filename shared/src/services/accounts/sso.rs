//! Single sign-on with a workspace's OpenID Connect provider: its settings (the client secret
//! sealed with the workspace's key), the Authorization Code flow with PKCE, `state` and `nonce`
//! bound to the browser that started it and returned to the workspace's own redirect URI (no
//! mix-up between workspaces' providers), the ID token checked by `openidconnect` against the
//! issuer's keys (read again, at most every few seconds, on a key it does not know), the user
//! found by the verified email or created with the workspace's default role when the email's
//! domain is one the workspace names, and every sign-in and refusal audited (`sign_in.sso`,
//! `sign_in.sso_failed` with the reason as its target). A workspace has one provider: this one,
//! or a SAML 2.0 one (`saml`, which shares the settings item, the start and the sign-in's end).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreRevocableToken,
    CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, IssuerUrl, LoginHint, Nonce,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, SignatureVerificationError, TokenResponse as _,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Context;
use crate::auth::credential::{self, Kind};
use crate::auth::{self, Role};
use crate::domain::tenant::{SsoRequired, Tenant};
use crate::domain::{DomainName, Email, Slug};
use crate::error::{Error, Result};
use crate::services::Caller;
use crate::services::accounts::sign_in::{self, Proof, SignInResult};
use crate::services::accounts::tenants;
use crate::services::accounts::users::{self, NewUser, UserRecord, UserStatus};
use crate::services::audit::{self, Actor, Outcome, Target};
use crate::store::{Condition, Item, TenantStore, TxOp, Value, keys, now_unix};

/// A sign-in must come back from the provider within ten minutes.
pub const FLOW_SECONDS: i64 = 600;
/// A provider's discovery document and keys are kept this long in a process.
const PROVIDER_KEPT: Duration = Duration::from_secs(3600);
/// A token naming a key the provider's kept keys lack reads them again, at most this often.
const KEYS_READ_AGAIN_AFTER: Duration = Duration::from_secs(5);
/// The most providers a process keeps (the oldest read goes first).
const MAX_PROVIDERS_KEPT: usize = 1000;
/// An ID token issued longer ago than this, or later than now by more than the clock skew, is
/// refused.
const ISSUED_WITHIN_SECONDS: i64 = 600;
const CLOCK_SKEW_SECONDS: i64 = 60;
const MAX_ISSUER: usize = 2048;
const MAX_CLIENT_ID: usize = 255;
const MAX_CLIENT_SECRET: usize = 1024;
const MAX_RETURN_TO: usize = 512;
const MAX_EMAIL_DOMAINS: usize = 20;

/// The ID token's signature algorithms taken: the provider's keys only (never `none`, nor an HMAC
/// keyed by the client secret, which anyone holding the secret could forge).
const SIGNED_BY_THE_PROVIDER: [CoreJwsSigningAlgorithm; 10] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EcdsaP521Sha512,
    CoreJwsSigningAlgorithm::EdDsa,
];

pub(super) const ISSUER: &str = "issuer";
const CLIENT_ID: &str = "client_id";
/// Named `secret` so that the workspace export redacts it (the flow's secrets too).
const SECRET: &str = "secret";
pub(super) const DEFAULT_ROLE: &str = "default_role";
pub(super) const CREATE_USERS: &str = "create_users";
pub(super) const EMAIL_DOMAINS: &str = "email_domains";
pub(super) const UPDATED_AT: &str = "updated_at";
pub(super) const RETURN_TO: &str = "return_to";
/// Which protocol the workspace's provider speaks: absent for OpenID Connect, `saml`.
pub(super) const PROTOCOL: &str = "protocol";
pub(super) const SAML: &str = "saml";

/// A workspace's OpenID Connect provider, as an owner sets it.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OidcInput {
    /// The provider's issuer, exactly as it names itself (its discovery document is read from
    /// `{issuer}/.well-known/openid-configuration`).
    pub issuer: String,
    pub client_id: String,
    /// Required the first time, and whenever the issuer or client ID changes; else kept when
    /// left out.
    pub client_secret: Option<String>,
    /// The role of a user created at their first sign-in (not `owner`); `analyst` when left out.
    pub default_role: Option<Role>,
    /// Whether a verified email with no user here creates one (just in time), when its domain is
    /// one of `email_domains`; false when left out.
    pub create_users: Option<bool>,
    /// The email domains whose people may be created at sign-in (`acme.com`); required with
    /// `create_users` (a provider anyone can sign up at vouches for anyone).
    pub email_domains: Option<Vec<String>>,
    /// Whether every sign-in must go through the provider: passwords are refused, and password
    /// sessions end, for everyone but `break_glass_owner`; kept as it is when left out.
    pub require_sso: Option<bool>,
    /// The user id of the owner who may still sign in with a password while single sign-on is
    /// required (in case the provider fails): an active owner with a second factor; required
    /// with `require_sso`.
    pub break_glass_owner: Option<String>,
}

/// The provider's settings as shown (the secret never is).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OidcSettings {
    pub issuer: String,
    pub client_id: String,
    pub default_role: Role,
    pub create_users: bool,
    pub email_domains: Vec<String>,
    /// Whether passwords are refused but the break-glass owner's.
    pub require_sso: bool,
    pub break_glass_owner: Option<String>,
    /// The redirect URI to register at the provider (the workspace's own).
    pub redirect_uri: String,
    pub updated_at: i64,
}

/// The settings as stored, with the secret opened.
struct Configured {
    settings: OidcSettings,
    secret: String,
}

/// The workspace's own callback: a provider's answer for one workspace is never taken by
/// another's sign-in (the mix-up attack).
pub fn redirect_uri(base: &str, slug: &str) -> String {
    format!("{base}/sso/{slug}/callback")
}

async fn load(store: &TenantStore, tenant: &Tenant, redirect_uri: String) -> Result<Option<Configured>> {
    match store.get(&keys::sso_settings(store.tenant())).await? {
        Some(item) => configured(store, tenant, &item, redirect_uri).await,
        None => Ok(None),
    }
}

/// The OpenID Connect provider the workspace's settings `item` holds (none when it is SAML's).
async fn configured(
    store: &TenantStore,
    tenant: &Tenant,
    item: &Item,
    redirect_uri: String,
) -> Result<Option<Configured>> {
    if item.str(PROTOCOL) == Some(SAML) {
        return Ok(None);
    }
    let secret = store.crypto().open_str(item, SECRET).await?.unwrap_or_default();
    Ok(Some(Configured {
        settings: OidcSettings {
            issuer: item.str(ISSUER).unwrap_or_default().to_owned(),
            client_id: item.str(CLIENT_ID).unwrap_or_default().to_owned(),
            default_role: Role::parse(item.str(DEFAULT_ROLE).unwrap_or("analyst"))?,
            create_users: matches!(item.get(CREATE_USERS), Some(Value::Bool(true))),
            email_domains: item.strings(EMAIL_DOMAINS),
            require_sso: tenant.settings.sso_required.is_some(),
            break_glass_owner: tenant
                .settings
                .sso_required
                .as_ref()
                .map(|r| r.break_glass_owner.clone()),
            redirect_uri,
            updated_at: item.num(UPDATED_AT).unwrap_or(0),
        },
        secret,
    }))
}

/// The role of a user made by the workspace's identity provider (at sign-in, or by SCIM): the
/// single sign-on's default, else analyst.
pub(crate) async fn default_role(store: &TenantStore) -> Result<Role> {
    let item = store.get(&keys::sso_settings(store.tenant())).await?;
    Ok(match item.as_ref().and_then(|i| i.str(DEFAULT_ROLE)) {
        Some(role) => Role::parse(role)?,
        None => Role::Analyst,
    })
}

/// The caller's workspace and its store.
pub(super) async fn own_workspace(ctx: &Context, caller: &Caller) -> Result<(Arc<Tenant>, TenantStore)> {
    let tenant = tenants::active(ctx, &caller.principal.tenant)
        .await?
        .ok_or(Error::NotFound("workspace"))?;
    Ok((tenant, caller.store(ctx)))
}

/// The workspace's provider settings, if any.
pub async fn get(ctx: &Context, caller: &Caller, base: &str) -> Result<OidcSettings> {
    let (tenant, store) = own_workspace(ctx, caller).await?;
    Ok(load(&store, &tenant, redirect_uri(base, &tenant.slug))
        .await?
        .ok_or(Error::NotFound("single sign-on"))?
        .settings)
}

/// The redirect URI the caller's workspace registers at its provider.
pub async fn own_redirect_uri(ctx: &Context, caller: &Caller, base: &str) -> Result<String> {
    Ok(redirect_uri(base, &own_workspace(ctx, caller).await?.0.slug))
}

/// Email domains as given: each a domain name, once.
pub(super) fn email_domains(given: Vec<String>) -> Result<Vec<String>> {
    let mut domains = Vec::new();
    for domain in given {
        let domain = DomainName::parse_field(EMAIL_DOMAINS, &domain)?.as_str().to_owned();
        if !domains.contains(&domain) {
            domains.push(domain);
        }
    }
    if domains.len() > MAX_EMAIL_DOMAINS {
        return Err(Error::invalid(EMAIL_DOMAINS, format!("at most {MAX_EMAIL_DOMAINS}")));
    }
    Ok(domains)
}

/// Sets the workspace's provider: its discovery document is read first, so that a wrong issuer
/// is said now rather than at the first sign-in.
pub async fn save(ctx: &Context, caller: &Caller, input: OidcInput, base: &str) -> Result<OidcSettings> {
    let (tenant, store) = own_workspace(ctx, caller).await?;
    // The issuer exactly as given: the provider's own name for itself is compared byte for byte.
    let issuer = input.issuer.trim().to_owned();
    if issuer.len() > MAX_ISSUER {
        return Err(Error::invalid(ISSUER, format!("at most {MAX_ISSUER} characters")));
    }
    ctx.outbound()?.check(ISSUER, &issuer)?;
    let client_id = input.client_id.trim().to_owned();
    if client_id.is_empty() || client_id.len() > MAX_CLIENT_ID {
        return Err(Error::invalid(
            CLIENT_ID,
            format!("give 1 to {MAX_CLIENT_ID} characters"),
        ));
    }
    let default_role = input.default_role.unwrap_or(Role::Analyst);
    if default_role == Role::Owner {
        return Err(Error::invalid(
            DEFAULT_ROLE,
            "a user created at sign-in cannot be an owner",
        ));
    }
    let create_users = input.create_users.unwrap_or(false);
    let domains = email_domains(input.email_domains.unwrap_or_default())?;
    if create_users && domains.is_empty() {
        return Err(Error::invalid(
            EMAIL_DOMAINS,
            "name the email domains whose people may be created at sign-in",
        ));
    }
    let current = load(&store, &tenant, redirect_uri(base, &tenant.slug)).await?;
    let chosen = chosen_requirement(&store, input.require_sso, input.break_glass_owner).await?;
    let secret = match (input.client_secret.map(|s| s.trim().to_owned()), current) {
        (Some(s), _) if !s.is_empty() && s.len() <= MAX_CLIENT_SECRET => s,
        (Some(_), _) => {
            return Err(Error::invalid(
                "client_secret",
                format!("give 1 to {MAX_CLIENT_SECRET} characters"),
            ));
        }
        // Never sent anywhere but where it was given for.
        (None, Some(current)) if current.settings.issuer == issuer && current.settings.client_id == client_id => {
            current.secret
        }
        (None, Some(_)) => {
            return Err(Error::invalid(
                "client_secret",
                "give the secret again when the issuer or client ID changes",
            ));
        }
        (None, None) => return Err(Error::invalid("client_secret", "is required")),
    };
    let metadata = provider(ctx, &issuer, Read::Now).await?;
    if metadata.token_endpoint().is_none() {
        return Err(Error::invalid(ISSUER, "the provider names no token endpoint"));
    }
    let key = keys::sso_settings(store.tenant());
    let item = Item::new(key.clone())
        .with(ISSUER, issuer.as_str())
        .with(CLIENT_ID, client_id.as_str())
        .with(SECRET, store.crypto().encrypt_str(&key, SECRET, &secret).await?)
        .with(DEFAULT_ROLE, default_role.as_str())
        .with(CREATE_USERS, create_users)
        .with(EMAIL_DOMAINS, Value::L(domains.into_iter().map(Value::S).collect()))
        .with(UPDATED_AT, now_unix());
    let mut change = vec![TxOp::Put { item, condition: None }];
    change.extend(requirement_ops(ctx, caller, &store, &chosen).await?);
    audit::commit(
        &store,
        caller,
        change,
        "sso.oidc_saved",
        Target::SingleSignOn("oidc".into()),
    )
    .await
    .map_err(changed_meanwhile)?;
    ctx.tenants.forget(store.tenant());
    get(ctx, caller, base).await
}

/// An owner as a choice of break-glass owner: `ready` when they have a password and a second
/// factor (the only owners that can be chosen).
#[derive(Clone, Debug, Serialize)]
pub struct OwnerChoice {
    pub id: String,
    pub email: String,
    pub ready: bool,
}

/// The workspace's active owners, as choices of break-glass owner.
pub async fn break_glass_choices(ctx: &Context, caller: &Caller) -> Result<Vec<OwnerChoice>> {
    let users = users::all(&caller.store(ctx)).await?;
    Ok(users
        .into_iter()
        .filter(|user| user.status == UserStatus::Active && user.role == Role::Owner)
        .map(|user| OwnerChoice {
            ready: user.secrets.password.is_some() && user.mfa_enabled(),
            email: user.email.as_str().to_owned(),
            id: user.id,
        })
        .collect())
}

/// The requirement of single sign-on as saved, and the break-glass owner when chosen now.
pub(super) enum Chosen {
    /// Left as it is (`require_sso` left out).
    Kept,
    /// Not required.
    Off,
    /// Required, with this owner, checked now.
    Now(Box<UserRecord>),
}

/// What `require_sso` and `break_glass_owner` ask for: the break-glass owner must be an active
/// owner who can sign in with a password and a second factor (else no one could when the
/// provider fails, or a password alone would open the workspace).
pub(super) async fn chosen_requirement(
    store: &TenantStore,
    require: Option<bool>,
    owner: Option<String>,
) -> Result<Chosen> {
    match require {
        None => return Ok(Chosen::Kept),
        Some(false) => return Ok(Chosen::Off),
        Some(true) => {}
    }
    let field = "break_glass_owner";
    let id = owner
        .map(|o| o.trim().to_owned())
        .filter(|o| !o.is_empty())
        .ok_or_else(|| Error::invalid(field, "name the owner who may still sign in with a password"))?;
    let user = users::load(store, &id)
        .await?
        .filter(|u| u.status == UserStatus::Active && u.role == Role::Owner)
        .ok_or_else(|| Error::invalid(field, "is not an active owner of this workspace"))?;
    if user.secrets.password.is_none() || !user.mfa_enabled() {
        return Err(Error::invalid(
            field,
            "must have a password and a second factor (two-step sign-in) set up first",
        ));
    }
    Ok(Chosen::Now(Box::new(user)))
}

/// The writes that make the requirement of single sign-on as `chosen` (none when kept).
pub(super) async fn requirement_ops(
    ctx: &Context,
    caller: &Caller,
    store: &TenantStore,
    chosen: &Chosen,
) -> Result<Vec<TxOp>> {
    Ok(match chosen {
        Chosen::Kept => vec![],
        Chosen::Off => requirement_change(ctx, caller, store, None).await?,
        Chosen::Now(owner) => {
            let required = SsoRequired {
                break_glass_owner: owner.id.clone(),
            };
            let mut ops = requirement_change(ctx, caller, store, Some(required)).await?;
            // Only while the owner is still as checked: a demotion or lost second factor
            // meanwhile cancels the change.
            ops.push(owner.unchanged(store)?);
            ops
        }
    })
}

/// The writes that make the workspace require single sign-on as `required` says (none when it
/// already does so), with their audit entry (`sso.required` and `sso.break_glass_changed`
/// naming the break-glass owner, `sso.no_longer_required`).
async fn requirement_change(
    ctx: &Context,
    caller: &Caller,
    store: &TenantStore,
    required: Option<SsoRequired>,
) -> Result<Vec<TxOp>> {
    let mut tenant = tenants::load(ctx, store.tenant())
        .await?
        .filter(Tenant::is_active)
        .ok_or(Error::NotFound("workspace"))?;
    if tenant.settings.sso_required == required {
        return Ok(vec![]);
    }
    let (action, target) = match (&tenant.settings.sso_required, &required) {
        (_, None) => ("sso.no_longer_required", Target::SingleSignOn("oidc".into())),
        (None, Some(now)) => ("sso.required", Target::User(now.break_glass_owner.clone())),
        (Some(_), Some(now)) => ("sso.break_glass_changed", Target::User(now.break_glass_owner.clone())),
    };
    tenant.settings.sso_required = required;
    let event = audit::entry(store, caller, action, target).await?;
    Ok(vec![tenants::write_changed(&mut tenant)?, event])
}

/// The workspace (or its provider) changed between read and write.
pub(super) fn changed_meanwhile(e: Error) -> Error {
    match e {
        Error::TransactionCanceled(_) => Error::invalid("settings", "were changed meanwhile; read them again"),
        e => e,
    }
}

/// Removes the workspace's OpenID Connect provider: its users sign in with their passwords
/// again (a requirement of single sign-on goes with it).
pub async fn delete(ctx: &Context, caller: &Caller) -> Result<()> {
    remove(ctx, caller, "oidc").await
}

/// Removes the workspace's provider of `protocol` (`oidc`, `saml`): not found when its provider
/// speaks the other.
pub(super) async fn remove(ctx: &Context, caller: &Caller, protocol: &'static str) -> Result<()> {
    let store = caller.store(ctx);
    let key = keys::sso_settings(store.tenant());
    let saml = Condition::eq(PROTOCOL, SAML);
    let condition = match protocol {
        SAML => saml,
        _ => Condition::And(vec![Condition::Exists, Condition::AttrNotExists(PROTOCOL.into())]),
    };
    let mut change = vec![TxOp::Delete {
        key,
        condition: Some(condition),
    }];
    change.extend(requirement_change(ctx, caller, &store, None).await?);
    let deleted = audit::commit(
        &store,
        caller,
        change,
        &format!("sso.{protocol}_deleted"),
        Target::SingleSignOn(protocol.into()),
    )
    .await;
    ctx.tenants.forget(store.tenant());
    match deleted {
        Err(Error::ConditionFailed) => Err(Error::NotFound("single sign-on")),
        Err(Error::TransactionCanceled(f)) if f.iter().any(|f| f.index == 0) => Err(Error::NotFound("single sign-on")),
        other => other.map_err(changed_meanwhile),
    }
}

/// A provider's discovery document and keys, and when they were read.
type Kept = (Instant, Arc<CoreProviderMetadata>);

/// Providers' discovery documents and keys, by issuer.
static PROVIDERS: LazyLock<Mutex<HashMap<String, Kept>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// How a provider's document and keys are to be read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Read {
    /// As kept (read when none is kept, or kept too long).
    Kept,
    /// Again, unless read moments ago: a token names a key the kept ones lack.
    Again,
    /// Now (its settings are being saved).
    Now,
}

/// The provider of `issuer`, read as `read` says.
async fn provider(ctx: &Context, issuer: &str, read: Read) -> Result<Arc<CoreProviderMetadata>> {
    let kept = PROVIDERS.lock().unwrap_or_else(|p| p.into_inner()).get(issuer).cloned();
    if let Some((at, metadata)) = kept {
        let fresh_enough = match read {
            Read::Kept => at.elapsed() < PROVIDER_KEPT,
            Read::Again => at.elapsed() < KEYS_READ_AGAIN_AFTER,
            Read::Now => false,
        };
        if fresh_enough {
            return Ok(metadata);
        }
    }
    let url = IssuerUrl::new(issuer.to_owned()).map_err(|e| Error::invalid(ISSUER, e.to_string()))?;
    let metadata = CoreProviderMetadata::discover_async(url, ctx.outbound()?)
        .await
        .map_err(|e| {
            Error::invalid(
                ISSUER,
                format!("the provider's discovery document could not be read: {e}"),
            )
        })?;
    let metadata = Arc::new(metadata);
    let mut kept = PROVIDERS.lock().unwrap_or_else(|p| p.into_inner());
    if kept.len() >= MAX_PROVIDERS_KEPT && !kept.contains_key(issuer) {
        let oldest = kept.iter().min_by_key(|(_, (at, _))| *at).map(|(k, _)| k.clone());
        if let Some(oldest) = oldest {
            kept.remove(&oldest);
        }
    }
    kept.insert(issuer.to_owned(), (Instant::now(), metadata.clone()));
    Ok(metadata)
}

/// A sign-in sent to the provider: where to send the browser, the token of the flow that
/// binds its return to this browser (kept in a cookie), and the workspace's slug.
pub struct Started {
    pub location: String,
    pub flow_token: String,
    /// The provider's answer comes back as a form posted from its site (SAML's HTTP-POST): the
    /// flow's cookie must be sent on such a post (`SameSite=None`).
    pub posted_back: bool,
    pub slug: String,
}

/// Where a sign-in may lead afterwards: a path of the app (`/surveys/…`), never another site.
pub fn return_path(text: Option<&str>) -> Result<Option<String>> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let inside = text.len() <= MAX_RETURN_TO
        && text.starts_with('/')
        && !text.starts_with("//")
        && !text.contains('\\')
        && !text.chars().any(char::is_control);
    if !inside {
        return Err(Error::invalid(RETURN_TO, "must be a path of this app"));
    }
    Ok(Some(text.to_owned()))
}

/// Starts a sign-in at the provider of the workspace named by `workspace`: its slug, or a work
/// email whose domain the workspace has verified (the email then goes to the provider as its
/// `login_hint`). Either way, a workspace that cannot be found answers as one without single
/// sign-on does.
pub async fn start(ctx: &Context, workspace: &str, return_to: Option<&str>, base: &str) -> Result<Started> {
    let return_to = return_path(return_to)?;
    let workspace = workspace.trim();
    let by_email = workspace.contains('@');
    let no_sso = || {
        let reason = if by_email {
            "no workspace signs in with single sign-on for this email's domain: give your workspace's name instead, or sign in with your password"
        } else {
            "no workspace by this name signs in with single sign-on: check the name, or sign in with your password"
        };
        Error::invalid("workspace", reason)
    };
    let (tenant, hint) = if by_email {
        let email = Email::parse_field("workspace", workspace).map_err(|_| no_sso())?;
        let tenant = super::domains::workspace_of(ctx, &email).await?.ok_or_else(no_sso)?;
        (tenant, Some(email))
    } else {
        let slug = Slug::parse(workspace).map_err(|_| no_sso())?;
        let tenant = tenants::by_slug(ctx, &slug)
            .await?
            .filter(Tenant::is_active)
            .ok_or_else(no_sso)?;
        (tenant, None)
    };
    let store = ctx.tenant_store(&tenant.id);
    // The settings, read once: SAML's, or OpenID Connect's.
    let settings = store
        .get(&keys::sso_settings(store.tenant()))
        .await?
        .ok_or_else(no_sso)?;
    if let Some(started) = super::saml::start(&store, &tenant, &settings, return_to.clone(), base).await? {
        return Ok(started);
    }
    let configured = configured(&store, &tenant, &settings, redirect_uri(base, &tenant.slug))
        .await?
        .ok_or_else(no_sso)?;
    let client = client_of(ctx, &configured, Read::Kept).await?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge);
    if let Some(email) = hint {
        request = request.set_login_hint(LoginHint::new(email.as_str().to_owned()));
    }
    let (url, state, nonce) = request.url();
    let (flow_token, digest) = credential::issue(Kind::SsoFlow, &tenant.id, &crate::ids::new_id())?;
    let secrets = FlowSecrets {
        state: state.secret().clone(),
        nonce: nonce.secret().clone(),
        verifier: verifier.secret().clone(),
    };
    let mut item = Item::new(keys::sso_flow(&tenant.id, &digest))
        .with(SECRET, secrets.joined())
        .with(ISSUER, configured.settings.issuer.as_str())
        .with(CLIENT_ID, configured.settings.client_id.as_str())
        .with_expiry(now_unix() + FLOW_SECONDS);
    if let Some(path) = return_to {
        item = item.with(RETURN_TO, path);
    }
    store.put(item, Some(Condition::NotExists)).await?;
    Ok(Started {
        location: url.to_string(),
        flow_token,
        posted_back: false,
        slug: tenant.slug,
    })
}

/// What only the flow and the provider know: the `state` sent, the `nonce` the ID token must
/// carry, and the PKCE verifier. Kept in one attribute (`secret`, left out of exports); each is
/// base64url, so a space joins them.
struct FlowSecrets {
    state: String,
    nonce: String,
    verifier: String,
}

impl FlowSecrets {
    fn joined(&self) -> String {
        format!("{} {} {}", self.state, self.nonce, self.verifier)
    }

    fn of(flow: &Item) -> Option<FlowSecrets> {
        let mut parts = flow.str(SECRET)?.split(' ');
        let (state, nonce, verifier) = (parts.next()?, parts.next()?, parts.next()?);
        Some(FlowSecrets {
            state: state.to_owned(),
            nonce: nonce.to_owned(),
            verifier: verifier.to_owned(),
        })
    }
}

/// The claims beyond the standard ones a sign-in reads: Microsoft Entra ID's `xms_edov` (the
/// email's domain is verified by its owner), which it sends where others send `email_verified`.
#[derive(Clone, Debug, Deserialize, Serialize)]
struct ProviderClaims {
    #[serde(default)]
    xms_edov: Option<bool>,
}

impl openidconnect::AdditionalClaims for ProviderClaims {}

/// A provider's client: `openidconnect`'s core one, reading `ProviderClaims` too.
type Client = openidconnect::Client<
    ProviderClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    openidconnect::StandardErrorResponse<CoreErrorResponseType>,
    openidconnect::StandardTokenResponse<
        openidconnect::IdTokenFields<
            ProviderClaims,
            openidconnect::EmptyExtraTokenFields,
            CoreGenderClaim,
            CoreJweContentEncryptionAlgorithm,
            CoreJwsSigningAlgorithm,
        >,
        CoreTokenType,
    >,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// The client of the workspace's provider, its document and keys read as `read` says.
async fn client_of(ctx: &Context, configured: &Configured, read: Read) -> Result<Client> {
    let metadata = provider(ctx, &configured.settings.issuer, read).await?;
    let redirect = RedirectUrl::new(configured.settings.redirect_uri.clone()).map_err(Error::internal)?;
    Ok(Client::from_provider_metadata(
        (*metadata).clone(),
        ClientId::new(configured.settings.client_id.clone()),
        Some(ClientSecret::new(configured.secret.clone())),
    )
    .set_redirect_uri(redirect))
}

/// What the provider sent the browser back with (other parameters are ignored).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    /// The issuer of the answer (RFC 9207), from providers that send it.
    pub iss: Option<String>,
}

/// A finished sign-in: the session, and the path the sign-in was started for.
pub struct Finished {
    pub result: SignInResult,
    pub return_to: Option<String>,
}

/// Why a sign-in was refused: the audit event's target (no personal data), and what the user
/// is told.
pub(super) struct Refusal {
    reason: &'static str,
    message: &'static str,
}

pub(super) fn refused(reason: &'static str, message: &'static str) -> Refusal {
    Refusal { reason, message }
}

/// A sign-in refused: audited (`sign_in.sso_failed`, the reason as its target), then answered
/// with what the user is told.
pub(super) async fn refusal_recorded(store: &TenantStore, ip: Option<IpAddr>, refusal: Refusal) -> Result<Finished> {
    let actor = Actor {
        kind: "user",
        id: "unknown",
        role: None,
    };
    let target = Target::SingleSignOn(refusal.reason.to_owned());
    audit::record_as(store, actor, ip, "sign_in.sso_failed", target, Outcome::Failure).await?;
    Err(Error::Unauthenticated(refusal.message))
}

pub(super) const START_AGAIN: &str =
    "The single sign-on did not finish in this browser within ten minutes, or was used already: start again.";
pub(super) const NOT_PROVEN: &str = "Your identity provider's answer could not be verified, so you are not signed in. Ask your administrator to check the single sign-on settings.";

/// Finishes a sign-in the provider sent back to the callback of the workspace `slug` with
/// `callback`, in the browser that holds `flow_token`: every refusal is audited with its reason.
pub async fn finish(
    ctx: &Context,
    slug: &str,
    flow_token: Option<&str>,
    callback: Callback,
    ip: Option<IpAddr>,
    base: &str,
) -> Result<Finished> {
    let gone = || Error::Unauthenticated(START_AGAIN);
    let (presented, tenant, store) = sign_in::redeem(ctx, flow_token.ok_or_else(gone)?, Kind::SsoFlow, gone).await?;
    match verified(ctx, &tenant, &store, &presented.digest, slug, callback, ip, base).await? {
        Ok(finished) => Ok(finished),
        Err(refusal) => refusal_recorded(&store, ip, refusal).await,
    }
}

/// The flow's checks and the sign-in; `Ok(Err(_))` is a refusal to audit.
#[allow(clippy::too_many_arguments)]
async fn verified(
    ctx: &Context,
    tenant: &Tenant,
    store: &TenantStore,
    digest: &credential::Digest,
    slug: &str,
    callback: Callback,
    ip: Option<IpAddr>,
    base: &str,
) -> Result<std::result::Result<Finished, Refusal>> {
    // The flow is used up before anything else: a replayed callback finds nothing.
    let key = keys::sso_flow(&tenant.id, digest);
    let Some(flow) = store.get(&key).await? else {
        return Ok(Err(refused("flow_unknown", START_AGAIN)));
    };
    match store.delete(&key, Some(Condition::Exists)).await {
        Err(Error::ConditionFailed) => return Ok(Err(refused("flow_used", START_AGAIN))),
        other => other?,
    }
    // The answer came to another workspace's callback than the one this browser's sign-in
    // started for: a provider was made to answer for another (mix-up); its code goes nowhere.
    if slug != tenant.slug {
        return Ok(Err(refused("callback_mismatch", START_AGAIN)));
    }
    let Some(secrets) = FlowSecrets::of(&flow) else {
        return Ok(Err(refused("flow_unknown", START_AGAIN)));
    };
    let state = callback.state.unwrap_or_default();
    if !credential::same(state.as_bytes(), secrets.state.as_bytes()) {
        return Ok(Err(refused("state", START_AGAIN)));
    }
    if callback.error.is_some() {
        return Ok(Err(refused(
            "provider_refused",
            "Your identity provider did not sign you in.",
        )));
    }
    let Some(configured) = load(store, tenant, redirect_uri(base, &tenant.slug)).await? else {
        return Ok(Err(refused(
            "not_configured",
            "This workspace has no single sign-on any more.",
        )));
    };
    // The settings the flow started under: a provider changed meanwhile gets no code of it.
    let started_with = (flow.str(ISSUER), flow.str(CLIENT_ID));
    let now_with = (
        Some(configured.settings.issuer.as_str()),
        Some(configured.settings.client_id.as_str()),
    );
    if started_with != now_with {
        return Ok(Err(refused("settings_changed", START_AGAIN)));
    }
    if callback
        .iss
        .as_deref()
        .is_some_and(|iss| iss != configured.settings.issuer)
    {
        return Ok(Err(refused("issuer_mismatch", NOT_PROVEN)));
    }
    let Ok(client) = client_of(ctx, &configured, Read::Kept).await else {
        return Ok(Err(refused("provider_unreachable", NOT_PROVEN)));
    };
    let Ok(exchange) = client.exchange_code(AuthorizationCode::new(callback.code.unwrap_or_default())) else {
        return Ok(Err(refused("provider_unreachable", NOT_PROVEN)));
    };
    let exchanged = exchange
        .set_pkce_verifier(PkceCodeVerifier::new(secrets.verifier))
        .request_async(ctx.outbound()?)
        .await;
    let Ok(tokens) = exchanged else {
        return Ok(Err(refused("code_refused", NOT_PROVEN)));
    };
    let Some(id_token) = tokens.id_token() else {
        return Ok(Err(refused("no_id_token", NOT_PROVEN)));
    };
    let nonce = Nonce::new(secrets.nonce);
    let now = now_unix();
    let check = |client: &Client| {
        let verifier = client
            .id_token_verifier()
            .set_allowed_algs(SIGNED_BY_THE_PROVIDER)
            .set_issue_time_verifier_fn(move |iat| {
                let at = iat.timestamp();
                if at > now + CLOCK_SKEW_SECONDS || at < now - ISSUED_WITHIN_SECONDS {
                    Err("issued too long ago or in the future".to_owned())
                } else {
                    Ok(())
                }
            });
        id_token.claims(&verifier, &nonce).cloned()
    };
    let mut claims = check(&client);
    // A key the provider added since its keys were read: read them again (at most every few
    // seconds: a flood of tokens naming unknown keys does not become a flood of reads).
    if let Err(ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)) = claims {
        let Ok(client) = client_of(ctx, &configured, Read::Again).await else {
            return Ok(Err(refused("provider_unreachable", NOT_PROVEN)));
        };
        claims = check(&client);
    }
    let claims = match claims {
        Ok(claims) => claims,
        Err(e) => return Ok(Err(refused(token_reason(&e), NOT_PROVEN))),
    };
    // Entra ID sends no `email_verified`; its `xms_edov` says the email's domain is its owner's
    // (an email it does not vouch for says neither).
    let verified = match claims.email_verified() {
        Some(verified) => verified,
        None => claims.additional_claims().xms_edov == Some(true),
    };
    if !verified {
        return Ok(Err(refused(
            "email_unverified",
            "Your identity provider did not say your email address is verified.",
        )));
    }
    let Some(email) = claims.email().and_then(|e| Email::parse(e.as_str()).ok()) else {
        return Ok(Err(refused("no_email", NOT_PROVEN)));
    };
    let vouched = Vouched {
        issuer: &configured.settings.issuer,
        subject: claims.subject().as_str(),
        email,
        name: claims.name().and_then(|n| n.get(None)).map(|n| n.as_str().to_owned()),
        create_users: configured.settings.create_users,
        default_role: configured.settings.default_role,
        email_domains: &configured.settings.email_domains,
    };
    sign_in_as(store, tenant, vouched, ip, flow.str(RETURN_TO).map(str::to_owned)).await
}

/// Who the workspace's provider vouched for, and its rules for newcomers.
pub(super) struct Vouched<'a> {
    /// The provider's name for itself (OpenID Connect's issuer, SAML's entity ID).
    pub issuer: &'a str,
    /// The provider's own id of the account (`sub`, SAML's NameID).
    pub subject: &'a str,
    pub email: Email,
    pub name: Option<String>,
    pub create_users: bool,
    pub default_role: Role,
    pub email_domains: &'a [String],
}

/// The end of every single sign-on: the network allowed, the user found by the email or made
/// just in time, an invitation taken up, a disabled user refused, bound to the provider's
/// account of their first sign-in, then signed in (`sign_in.sso`); `Ok(Err(_))` is a refusal to
/// audit.
pub(super) async fn sign_in_as(
    store: &TenantStore,
    tenant: &Tenant,
    vouched: Vouched<'_>,
    ip: Option<IpAddr>,
    return_to: Option<String>,
) -> Result<std::result::Result<Finished, Refusal>> {
    let Vouched {
        issuer,
        subject,
        email,
        name,
        ..
    } = vouched;
    if !auth::ip_allowed(&tenant.settings.ip_allow_list, ip) {
        return Ok(Err(refused(
            "address_refused",
            "This workspace does not allow sign-in from your network.",
        )));
    }
    let user = match users::load_by_email(store, &email).await? {
        Some(user) => user,
        None if vouched.create_users && domain_allowed(&email, vouched.email_domains) => {
            create_user(store, &email, name, vouched.default_role, ip).await?
        }
        None => {
            return Ok(Err(refused(
                "no_account",
                "There is no user with your email address in this workspace: ask an administrator to invite you.",
            )));
        }
    };
    let user = match user.status {
        UserStatus::Active => user,
        // The provider vouches for the invited email: the invitation is taken up.
        UserStatus::Invited => users::activate_invited(store, user).await?,
        UserStatus::Disabled => {
            return Ok(Err(refused(
                "account_disabled",
                "Your account in this workspace is disabled.",
            )));
        }
    };
    // Bound to the provider's account of the first sign-in: another account of the same provider
    // that took the user's email (an administrator there can change emails) is not them.
    let mut user = user;
    let subject = credential::hex(&credential::sha256(subject));
    match &user.sso_binding {
        Some((bound_issuer, bound)) if bound_issuer == issuer && *bound != subject => {
            return Ok(Err(refused(
                "subject_mismatch",
                "Your identity provider signed you in with another account than this user's: ask an administrator of this workspace to reset your single sign-on.",
            )));
        }
        _ => user.sso_binding = Some((issuer.to_owned(), subject)),
    }
    let result = sign_in::finish(store, tenant, user, ip, "sign_in.sso", Proof::SingleSignOn).await?;
    Ok(Ok(Finished { result, return_to }))
}

/// Whether `email`'s domain is one of `domains` (lower case).
fn domain_allowed(email: &Email, domains: &[String]) -> bool {
    DomainName::of_email(email).is_some_and(|domain| domains.iter().any(|d| d == domain.as_str()))
}

/// The audit reason of an ID token refused.
fn token_reason(e: &ClaimsVerificationError) -> &'static str {
    match e {
        ClaimsVerificationError::Expired(_) => "token_expired",
        ClaimsVerificationError::InvalidAudience(_) => "token_audience",
        ClaimsVerificationError::InvalidIssuer(_) => "token_issuer",
        ClaimsVerificationError::InvalidNonce(_) => "token_nonce",
        ClaimsVerificationError::SignatureVerification(_) => "token_signature",
        _ => "token_invalid",
    }
}

/// A user for a verified email the workspace has none for, with its default role (just in
/// time), audited in the same transaction. Created meanwhile by another sign-in: that one.
async fn create_user(
    store: &TenantStore,
    email: &Email,
    name: Option<String>,
    role: Role,
    ip: Option<IpAddr>,
) -> Result<UserRecord> {
    let name = name.and_then(|n| users::display_name(&n).ok());
    let prepared = users::prepare(
        store,
        NewUser {
            email: email.clone(),
            name,
            role,
            status: UserStatus::Active,
            password: None,
            must_change_password: false,
            external_id: None,
        },
    )
    .await?;
    let mut ops = prepared.ops;
    let actor = Actor {
        kind: "user",
        id: &prepared.id,
        role: Some(role),
    };
    ops.push(
        audit::entry_as(
            store,
            actor,
            ip,
            "user.created_at_sign_in",
            Target::User(prepared.id.clone()),
        )
        .await?,
    );
    match store.transact(ops).await {
        Ok(()) | Err(Error::TransactionCanceled(_)) => {}
        Err(e) => return Err(e),
    }
    users::load_by_email(store, email)
        .await?
        .ok_or_else(|| Error::internal("a user created at sign-in went missing"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_paths_stay_inside_the_app() {
        assert_eq!(
            return_path(Some("/responses?x=1")).unwrap().as_deref(),
            Some("/responses?x=1")
        );
        assert_eq!(return_path(Some("  ")).unwrap(), None);
        for outside in [
            "https://evil.example/",
            "//evil.example",
            "/\\evil.example",
            "evil",
            "/a\nb",
        ] {
            assert!(return_path(Some(outside)).is_err(), "{outside:?}");
        }
    }

    #[test]
    fn email_domains_are_names_and_compared_in_lower_case() {
        let domains = email_domains(vec![" @Acme.COM ".into(), "eu.acme.com".into(), "acme.com".into()]).unwrap();
        assert_eq!(domains, ["acme.com", "eu.acme.com"]);
        for wrong in ["acme", "ana@acme.com", "acme.com/x", ""] {
            assert!(email_domains(vec![wrong.into()]).is_err(), "{wrong:?}");
        }
        let email = Email::parse("Ana@ACME.com").unwrap();
        assert!(domain_allowed(&email, &domains));
        assert!(!domain_allowed(
            &Email::parse("ana@acme.com.evil.example").unwrap(),
            &domains
        ));
    }
}
