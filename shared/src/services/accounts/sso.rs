//! Single sign-on with a workspace's OpenID Connect provider: its settings (the client secret
//! sealed with the workspace's key), the Authorization Code flow with PKCE, `state` and `nonce`,
//! the ID token checked by `openidconnect` against the issuer's keys (refetched once on a key it
//! does not know), the user found by the verified email or created with the workspace's default
//! role, and every sign-in and refusal audited (`sign_in.sso`, `sign_in.sso_failed` with the
//! reason as its target).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, SignatureVerificationError, TokenResponse as _,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Context;
use crate::auth::credential::{self, Kind};
use crate::auth::{self, Role};
use crate::domain::tenant::Tenant;
use crate::domain::{Email, Slug};
use crate::error::{Error, Result};
use crate::services::Caller;
use crate::services::accounts::sign_in::{self, Proof, SignInResult};
use crate::services::accounts::tenants;
use crate::services::accounts::users::{self, NewUser, UserRecord, UserStatus};
use crate::services::audit::{self, Actor, Outcome, Target};
use crate::store::{Condition, Item, TenantStore, TxOp, Value, keys, now_unix};

/// The path of the callback every provider is given (under the app's public address).
pub const CALLBACK_PATH: &str = "/sso/callback";
/// A sign-in must come back from the provider within ten minutes.
pub const FLOW_SECONDS: i64 = 600;
/// A provider's discovery document and keys are kept this long in a process (a key it does not
/// know refetches them at once).
const PROVIDER_KEPT: Duration = Duration::from_secs(3600);
/// An ID token issued longer ago than this, or later than now by more than the clock skew, is
/// refused.
const ISSUED_WITHIN_SECONDS: i64 = 600;
const CLOCK_SKEW_SECONDS: i64 = 60;
const MAX_CLIENT_ID: usize = 255;
const MAX_CLIENT_SECRET: usize = 1024;
const MAX_RETURN_TO: usize = 512;

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

const ISSUER: &str = "issuer";
const CLIENT_ID: &str = "client_id";
/// Named `secret` so that the workspace export redacts it.
const SECRET: &str = "secret";
const DEFAULT_ROLE: &str = "default_role";
const CREATE_USERS: &str = "create_users";
const UPDATED_AT: &str = "updated_at";

/// A workspace's OpenID Connect provider, as an owner sets it.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OidcInput {
    /// The provider's issuer URL (its discovery document is read from
    /// `{issuer}/.well-known/openid-configuration`).
    pub issuer: String,
    pub client_id: String,
    /// Required the first time; kept when left out.
    pub client_secret: Option<String>,
    /// The role of a user created at their first sign-in (not `owner`); `analyst` when left out.
    pub default_role: Option<Role>,
    /// Whether a verified email with no user creates one (just in time); true when left out.
    pub create_users: Option<bool>,
}

/// The provider's settings as shown (the secret never is).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OidcSettings {
    pub issuer: String,
    pub client_id: String,
    pub default_role: Role,
    pub create_users: bool,
    /// The redirect URI to register at the provider.
    pub redirect_uri: String,
    pub updated_at: i64,
}

/// The settings as stored, with the secret opened.
struct Configured {
    settings: OidcSettings,
    secret: String,
}

fn redirect_uri(base: &str) -> String {
    format!("{base}{CALLBACK_PATH}")
}

async fn load(store: &TenantStore, base: &str) -> Result<Option<Configured>> {
    let key = keys::sso_settings(store.tenant());
    let Some(item) = store.get(&key).await? else {
        return Ok(None);
    };
    let secret = store.crypto().open_str(&item, SECRET).await?.unwrap_or_default();
    Ok(Some(Configured {
        settings: OidcSettings {
            issuer: item.str(ISSUER).unwrap_or_default().to_owned(),
            client_id: item.str(CLIENT_ID).unwrap_or_default().to_owned(),
            default_role: Role::parse(item.str(DEFAULT_ROLE).unwrap_or("analyst"))?,
            create_users: matches!(item.get(CREATE_USERS), Some(Value::Bool(true))),
            redirect_uri: redirect_uri(base),
            updated_at: item.num(UPDATED_AT).unwrap_or(0),
        },
        secret,
    }))
}

/// The workspace's provider settings, if any.
pub async fn get(ctx: &Context, caller: &Caller, base: &str) -> Result<OidcSettings> {
    let store = caller.store(ctx);
    Ok(load(&store, base)
        .await?
        .ok_or(Error::NotFound("single sign-on"))?
        .settings)
}

/// Sets the workspace's provider: its discovery document is read first, so that a wrong issuer
/// is said now rather than at the first sign-in.
pub async fn save(ctx: &Context, caller: &Caller, input: OidcInput, base: &str) -> Result<OidcSettings> {
    let store = caller.store(ctx);
    let issuer = ctx.outbound()?.check(ISSUER, &input.issuer)?.to_string();
    let issuer = issuer.trim_end_matches('/').to_owned();
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
    let current = load(&store, base).await?;
    let secret = match (input.client_secret.map(|s| s.trim().to_owned()), current) {
        (Some(s), _) if !s.is_empty() && s.len() <= MAX_CLIENT_SECRET => s,
        (Some(_), _) => {
            return Err(Error::invalid(
                "client_secret",
                format!("give 1 to {MAX_CLIENT_SECRET} characters"),
            ));
        }
        (None, Some(current)) => current.secret,
        (None, None) => return Err(Error::invalid("client_secret", "is required")),
    };
    provider(ctx, &issuer, true).await?;
    let key = keys::sso_settings(store.tenant());
    let now = now_unix();
    let item = Item::new(key.clone())
        .with(ISSUER, issuer.as_str())
        .with(CLIENT_ID, client_id.as_str())
        .with(SECRET, store.crypto().encrypt_str(&key, SECRET, &secret).await?)
        .with(DEFAULT_ROLE, default_role.as_str())
        .with(CREATE_USERS, input.create_users.unwrap_or(true))
        .with(UPDATED_AT, now);
    let change = vec![TxOp::Put { item, condition: None }];
    audit::commit(
        &store,
        caller,
        change,
        "sso.oidc_saved",
        Target::SingleSignOn("oidc".into()),
    )
    .await?;
    get(ctx, caller, base).await
}

/// Removes the workspace's provider: its users sign in with their passwords again.
pub async fn delete(ctx: &Context, caller: &Caller) -> Result<()> {
    let store = caller.store(ctx);
    let key = keys::sso_settings(store.tenant());
    let change = vec![TxOp::Delete {
        key,
        condition: Some(Condition::Exists),
    }];
    match audit::commit(
        &store,
        caller,
        change,
        "sso.oidc_deleted",
        Target::SingleSignOn("oidc".into()),
    )
    .await
    {
        Err(Error::ConditionFailed) => Err(Error::NotFound("single sign-on")),
        other => other,
    }
}

/// A provider's discovery document and keys, and when they were read.
type Read = (Instant, Arc<CoreProviderMetadata>);

/// Providers' discovery documents and keys, by issuer.
static PROVIDERS: LazyLock<Mutex<HashMap<String, Read>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// The provider of `issuer`: kept a while, read again when `fresh`.
async fn provider(ctx: &Context, issuer: &str, fresh: bool) -> Result<Arc<CoreProviderMetadata>> {
    if !fresh {
        let kept = PROVIDERS.lock().unwrap_or_else(|p| p.into_inner()).get(issuer).cloned();
        if let Some((_, metadata)) = kept.filter(|(at, _)| at.elapsed() < PROVIDER_KEPT) {
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
    PROVIDERS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(issuer.to_owned(), (Instant::now(), metadata.clone()));
    Ok(metadata)
}

/// A sign-in sent to the provider: where to send the browser, and the token of the flow that
/// binds its return to this browser (kept in a cookie).
pub struct Started {
    pub location: String,
    pub flow_token: String,
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
        return Err(Error::invalid("return_to", "must be a path of this app"));
    }
    Ok(Some(text.to_owned()))
}

/// Starts a sign-in at the provider of the workspace `slug`.
pub async fn start(ctx: &Context, slug: &str, return_to: Option<&str>, base: &str) -> Result<Started> {
    let return_to = return_path(return_to)?;
    let no_sso = || {
        Error::invalid(
            "workspace",
            "no workspace by this name signs in with single sign-on: check the name, or sign in with your password",
        )
    };
    let slug = Slug::parse(slug).map_err(|_| no_sso())?;
    let tenant = tenants::by_slug(ctx, &slug)
        .await?
        .filter(Tenant::is_active)
        .ok_or_else(no_sso)?;
    let store = ctx.tenant_store(&tenant.id);
    let configured = load(&store, base).await?.ok_or_else(no_sso)?;
    let client = client_of(ctx, &configured, base, false).await?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
    let (flow_token, digest) = credential::issue(Kind::SsoFlow, &tenant.id, &crate::ids::new_id())?;
    let mut item = Item::new(keys::sso_flow(&tenant.id, &digest))
        .with(FLOW_STATE, state.secret().as_str())
        .with(FLOW_NONCE, nonce.secret().as_str())
        .with(FLOW_VERIFIER, verifier.secret().as_str())
        .with_expiry(now_unix() + FLOW_SECONDS);
    if let Some(path) = return_to {
        item = item.with(FLOW_RETURN_TO, path);
    }
    store.put(item, Some(Condition::NotExists)).await?;
    Ok(Started {
        location: url.to_string(),
        flow_token,
    })
}

const FLOW_STATE: &str = "state";
const FLOW_NONCE: &str = "nonce";
const FLOW_VERIFIER: &str = "verifier";
const FLOW_RETURN_TO: &str = "return_to";

type Client = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// The client of the workspace's provider (its keys read again when `fresh`).
async fn client_of(ctx: &Context, configured: &Configured, base: &str, fresh: bool) -> Result<Client> {
    let metadata = provider(ctx, &configured.settings.issuer, fresh).await?;
    let redirect = RedirectUrl::new(redirect_uri(base)).map_err(Error::internal)?;
    Ok(CoreClient::from_provider_metadata(
        (*metadata).clone(),
        ClientId::new(configured.settings.client_id.clone()),
        Some(ClientSecret::new(configured.secret.clone())),
    )
    .set_redirect_uri(redirect))
}

/// What the provider sent the browser back with.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
}

/// A finished sign-in: the session, and the path the sign-in was started for.
pub struct Finished {
    pub result: SignInResult,
    pub return_to: Option<String>,
}

/// Why a sign-in was refused: the audit event's target (no personal data), and what the user
/// is told.
struct Refusal {
    reason: &'static str,
    message: &'static str,
}

fn refused(reason: &'static str, message: &'static str) -> Refusal {
    Refusal { reason, message }
}

const START_AGAIN: &str =
    "The single sign-on did not finish in this browser within ten minutes, or was used already: start again.";
const NOT_PROVEN: &str = "Your identity provider's answer could not be verified, so you are not signed in. Ask your administrator to check the single sign-on settings.";

/// Finishes a sign-in the provider sent back with `callback`, in the browser that holds
/// `flow_token`: every refusal is audited with its reason.
pub async fn finish(
    ctx: &Context,
    flow_token: Option<&str>,
    callback: Callback,
    ip: Option<IpAddr>,
    base: &str,
) -> Result<Finished> {
    let gone = || Error::Unauthenticated(START_AGAIN);
    let (presented, tenant, store) = sign_in::redeem(ctx, flow_token.ok_or_else(gone)?, Kind::SsoFlow, gone).await?;
    match verified(ctx, &tenant, &store, &presented.digest, callback, ip, base).await? {
        Ok(finished) => Ok(finished),
        Err(refusal) => {
            let actor = Actor {
                kind: "user",
                id: "unknown",
                role: None,
            };
            let target = Target::SingleSignOn(refusal.reason.to_owned());
            audit::record_as(&store, actor, ip, "sign_in.sso_failed", target, Outcome::Failure).await?;
            Err(Error::Unauthenticated(refusal.message))
        }
    }
}

/// The flow's checks and the sign-in; `Ok(Err(_))` is a refusal to audit.
async fn verified(
    ctx: &Context,
    tenant: &Tenant,
    store: &TenantStore,
    digest: &credential::Digest,
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
    let state = callback.state.unwrap_or_default();
    if !credential::same(state.as_bytes(), flow.str(FLOW_STATE).unwrap_or_default().as_bytes()) {
        return Ok(Err(refused("state", START_AGAIN)));
    }
    if callback.error.is_some() {
        return Ok(Err(refused(
            "provider_refused",
            "Your identity provider did not sign you in.",
        )));
    }
    let Some(configured) = load(store, base).await? else {
        return Ok(Err(refused(
            "not_configured",
            "This workspace has no single sign-on any more.",
        )));
    };
    let code = AuthorizationCode::new(callback.code.unwrap_or_default());
    let verifier = PkceCodeVerifier::new(flow.str(FLOW_VERIFIER).unwrap_or_default().to_owned());
    let nonce = Nonce::new(flow.str(FLOW_NONCE).unwrap_or_default().to_owned());
    let client = client_of(ctx, &configured, base, false).await?;
    let exchanged = client
        .exchange_code(code)
        .map_err(Error::internal)?
        .set_pkce_verifier(verifier)
        .request_async(ctx.outbound()?)
        .await;
    let Ok(tokens) = exchanged else {
        return Ok(Err(refused("code_refused", NOT_PROVEN)));
    };
    let Some(id_token) = tokens.id_token() else {
        return Ok(Err(refused("no_id_token", NOT_PROVEN)));
    };
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
    // A key the provider added since its keys were read: read them again, once.
    if let Err(ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)) = claims {
        claims = check(&client_of(ctx, &configured, base, true).await?);
    }
    let claims = match claims {
        Ok(claims) => claims,
        Err(e) => return Ok(Err(refused(token_reason(&e), NOT_PROVEN))),
    };
    if claims.email_verified() != Some(true) {
        return Ok(Err(refused(
            "email_unverified",
            "Your identity provider did not say your email address is verified.",
        )));
    }
    let Some(email) = claims.email().and_then(|e| Email::parse(e.as_str()).ok()) else {
        return Ok(Err(refused("no_email", NOT_PROVEN)));
    };
    if !auth::ip_allowed(&tenant.settings.ip_allow_list, ip) {
        return Ok(Err(refused(
            "address_refused",
            "This workspace does not allow sign-in from your network.",
        )));
    }
    let name = claims.name().and_then(|n| n.get(None)).map(|n| n.as_str().to_owned());
    let user = match users::load_by_email(store, &email).await? {
        Some(user) => user,
        None if configured.settings.create_users => {
            create_user(store, &email, name, configured.settings.default_role, ip).await?
        }
        None => {
            return Ok(Err(refused(
                "no_account",
                "There is no user with your email address in this workspace: ask an administrator to invite you.",
            )));
        }
    };
    if user.status == UserStatus::Disabled {
        return Ok(Err(refused(
            "account_disabled",
            "Your account in this workspace is disabled.",
        )));
    }
    let result = sign_in::finish(store, tenant, user, ip, "sign_in.sso", Proof::SingleSignOn).await?;
    Ok(Ok(Finished {
        result,
        return_to: flow.str(FLOW_RETURN_TO).map(str::to_owned),
    }))
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
