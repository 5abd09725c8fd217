//! Signing in: tenant slug, email and password (then a TOTP or recovery code when enrolled),
//! invitations accepted, and the session each opens (idle and absolute expiry; `sessions` then
//! authenticates it with one store read).
//!
//! Brute force: failures are counted per account and per account and address (keyed by blind
//! indexes, so an unknown email is counted like a known one). After 5 failures from one address
//! each further try waits twice as long (30 s, 1 min, ... at most 15 min); after 20 failures from
//! anywhere the account waits likewise, except for addresses the user signed in from before, so
//! an attacker cannot lock the owner out. Every refusal answers alike and costs one argon2 run.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Context;
use crate::auth::credential::{self, Kind, Presented};
use crate::auth::password::{self, Password};
use crate::auth::{self, Restriction, Role, totp};
use crate::domain::tenant::Tenant;
use crate::domain::{Email, Slug};
use crate::error::{Error, Result};
use crate::ids::TenantId;
use crate::services::accounts::tenants;
use crate::services::accounts::users::{self, UserRecord, UserStatus};
use crate::services::audit::{self, Actor, Outcome, Target};
use crate::store::{Cmp, Condition, Item, Key, TenantStore, TxOp, Update, keys, now_unix};

/// A session ends after an hour without use, and after twelve hours in any case.
pub const SESSION_IDLE_SECONDS: i64 = 3600;
pub const SESSION_MAX_SECONDS: i64 = 12 * 3600;
/// The second step of a sign-in must come within five minutes, in at most five tries.
pub const MFA_CHALLENGE_SECONDS: i64 = 300;
pub const MFA_MAX_ATTEMPTS: i64 = 5;
pub const RECOVERY_CODES: usize = 10;
/// Last-use times are written at most once a minute per credential.
pub(crate) const TOUCH_EVERY: i64 = 60;
const FREE_FAILURES_PER_ADDRESS: i64 = 5;
const FREE_FAILURES_PER_ACCOUNT: i64 = 20;
const FIRST_LOCK_SECONDS: i64 = 30;
const MAX_LOCK_SECONDS: i64 = 900;
const FAILURES_REMEMBERED_SECONDS: i64 = 86_400;

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    /// The tenant's slug.
    pub tenant: String,
    pub email: String,
    pub password: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SignInResult {
    /// Signed in: `token` is the session's bearer token.
    SignedIn {
        token: String,
        expires_at: i64,
        user_id: String,
        role: Role,
        /// `password_change` or `mfa_enrolment` when the session may do only that until done.
        required_action: Option<String>,
    },
    /// The password was right; send a TOTP or recovery code with `mfa_token` to `/v1/auth/mfa`.
    MfaRequired { mfa_token: String, expires_at: i64 },
}

/// The wait before the next try of a scope that has had `tries` judged tries since its last
/// success, when `free` are free: none for the free ones, then 30 s doubling to 15 min.
fn wait_for(tries: i64, free: i64) -> Option<i64> {
    (tries >= free).then(|| (FIRST_LOCK_SECONDS << (tries - free).min(10)).min(MAX_LOCK_SECONDS))
}

/// One counted scope of a check: its key part, how many tries are free, and whether its wait
/// holds this caller (a user's known address is not held by failures from elsewhere).
pub(crate) struct Counter<'a> {
    name: &'a str,
    free: i64,
    holds: bool,
}

/// Takes one try of `scope` at `now`: `None` when it may be judged, else how long to wait. The
/// decision is one conditional write, so of tries sent at once exactly one gets each window; a
/// refused try is not counted (its `Retry-After` holds).
async fn try_scope(store: &TenantStore, scope: &str, free: i64, now: i64) -> Result<Option<Duration>> {
    let key = keys::sign_in_failures(store.tenant(), scope);
    let remember = Update::Set(
        crate::store::attr::EXPIRES_AT.into(),
        (now + FAILURES_REMEMBERED_SECONDS).into(),
    );
    let counted = store
        .update(&key, &[Update::Add("n".into(), 1), remember], None)
        .await?;
    let tries = counted.num("n").unwrap_or(1) - 1;
    let wait = wait_for(tries, free);
    // The window is claimed by moving `last_at`, only when the wait since the last try is over.
    let claim = wait.map(|w| {
        Condition::Or(vec![
            Condition::AttrNotExists("last_at".into()),
            Condition::Compare("last_at".into(), Cmp::Le, (now - w).into()),
        ])
    });
    match store
        .update(&key, &[Update::Set("last_at".into(), now.into())], claim)
        .await
    {
        Ok(_) => Ok(None),
        Err(Error::ConditionFailed) => {
            let uncounted = store.update(&key, &[Update::Add("n".into(), -1)], None).await?;
            let until = uncounted.num("last_at").unwrap_or(now) + wait.unwrap_or(0);
            Ok(Some(Duration::from_secs((until - now).max(1) as u64)))
        }
        Err(e) => Err(e),
    }
}

/// Takes one try of each scope in turn; the wait of the first that holds the caller, if any (the
/// scopes after it are not counted: a refused try is no try).
async fn try_scopes(store: &TenantStore, scopes: &[Counter<'_>], now: i64) -> Result<Option<Duration>> {
    for scope in scopes {
        let wait = try_scope(store, scope.name, scope.free, now).await?;
        if scope.holds && wait.is_some() {
            return Ok(wait);
        }
    }
    Ok(None)
}

/// The tries succeeded: their counts start again.
async fn succeeded(store: &TenantStore, scopes: &[Counter<'_>]) -> Result<()> {
    let ops = scopes
        .iter()
        .map(|scope| crate::store::BatchOp::Delete(keys::sign_in_failures(store.tenant(), scope.name)))
        .collect();
    store.batch_write(ops).await
}

/// Runs a check of something only the user knows (a code, the current password) under the
/// counters of `scopes`: refused while they hold the caller; a success clears them.
pub(crate) async fn counted(
    store: &TenantStore,
    scopes: &[Counter<'_>],
    check: impl AsyncFnOnce() -> Result<bool>,
) -> Result<bool> {
    if let Some(retry_after) = try_scopes(store, scopes, now_unix()).await? {
        return Err(Error::TooManyAttempts { retry_after });
    }
    let passed = check().await?;
    if passed {
        succeeded(store, scopes).await?;
    }
    Ok(passed)
}

/// The counter of a signed-in user's own password checks (5 free).
pub(crate) fn self_scope(name: &str) -> [Counter<'_>; 1] {
    [Counter {
        name,
        free: FREE_FAILURES_PER_ADDRESS,
        holds: true,
    }]
}

/// The counters of a user's second-factor codes: per address (5 free), and per user (20 free)
/// except from an address the user signed in from before. Codes are counted against the user,
/// not a challenge: a new sign-in does not reset them.
pub(crate) struct CodeCounters {
    per_address: String,
    per_user: String,
    trusted: bool,
}

impl CodeCounters {
    pub(crate) async fn of(store: &TenantStore, user: &UserRecord, ip: Option<IpAddr>) -> Result<CodeCounters> {
        let address = address_index(store, ip).await?;
        Ok(CodeCounters {
            per_address: format!("mfa-{}#{address}", user.id),
            per_user: format!("mfa-{}", user.id),
            trusted: user.trusted_ips.contains(&address),
        })
    }

    pub(crate) fn scopes(&self) -> [Counter<'_>; 2] {
        per_address_and_account(&self.per_address, &self.per_user, self.trusted)
    }
}

/// A one-use token of `kind` (an invitation, a sign-in challenge) as presented, with its
/// tenant's store; `gone` for anything malformed, of another kind, or of an inactive tenant.
pub(crate) async fn redeem(
    ctx: &Context,
    text: &str,
    kind: Kind,
    gone: impl Fn() -> Error,
) -> Result<(Presented, Arc<Tenant>, TenantStore)> {
    let presented = credential::parse(text).map_err(|_| gone())?;
    if presented.kind != kind {
        return Err(gone());
    }
    let tenant = tenants::active(ctx, &presented.tenant).await?.ok_or_else(&gone)?;
    let store = ctx.tenant_store(&tenant.id);
    Ok((presented, tenant, store))
}

/// The blind index of a client's address, for the counters and the user's known addresses. An
/// IPv6 address counts as its /64: one subscriber's privacy addresses rotate within it.
async fn address_index(store: &TenantStore, ip: Option<IpAddr>) -> Result<String> {
    let text = match ip {
        Some(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => ipnet::Ipv6Net::new(v6, 64)
            .map_err(Error::internal)?
            .trunc()
            .to_string(),
        Some(IpAddr::V6(v6)) => v6.to_ipv4_mapped().map(|v4| v4.to_string()).unwrap_or_default(),
        Some(ip) => ip.to_string(),
        None => return Ok("none".to_owned()),
    };
    store.crypto().blind_index("ip", &text).await
}

/// The counters of a sign-in or a code: the account from this address (5 free), and the account
/// from anywhere (20 free) but an address the user signed in from before (not held up by failures
/// from elsewhere).
fn per_address_and_account<'a>(pair: &'a str, account: &'a str, trusted: bool) -> [Counter<'a>; 2] {
    [
        Counter {
            name: pair,
            free: FREE_FAILURES_PER_ADDRESS,
            holds: true,
        },
        Counter {
            name: account,
            free: FREE_FAILURES_PER_ACCOUNT,
            holds: !trusted,
        },
    ]
}

/// A workspace that does not exist (or is deleted) is answered as one that does: its tries are
/// counted and locked alike, under a partition of no tenant (named by blind indexes under that
/// partition's own key, as a workspace's are), with the same reads, writes and password work, so
/// that neither the lockout nor the time tells whether a workspace exists.
async fn unknown_workspace(ctx: &Context, slug: &str, email: &Email, ip: Option<IpAddr>) -> Result<SignInResult> {
    let slug = slug.trim().to_ascii_lowercase();
    // Spread over partitions by the slug, so that a spray of slugs throttles no one partition.
    let bucket = credential::sha256(&slug)[0] % NOWHERE_PARTITIONS;
    let nowhere: TenantId = format!("{:024}{bucket:02}", 0).parse()?;
    let store = ctx.tenant_store(&nowhere);
    let account = store
        .crypto()
        .blind_index("sign-in", &format!("{slug}#{}", email.as_str()))
        .await?;
    let address = address_index(&store, ip).await?;
    let pair = format!("{account}#{address}");
    // A known workspace reads the user here.
    store.get(&keys::login(&nowhere, &account)).await?;
    let now = now_unix();
    if let Some(retry_after) = try_scopes(&store, &per_address_and_account(&pair, &account, false), now).await? {
        return Err(Error::TooManyAttempts { retry_after });
    }
    password::verify_nothing().await?;
    // A known workspace writes its audit event here; this one is kept an hour.
    let tried = Key::new(
        keys::tenant_partition(&nowhere),
        format!("TRY#{}", crate::ids::new_id()),
    );
    store.put(Item::new(tried).with_expiry(now + 3600), None).await?;
    Err(Error::InvalidCredentials)
}

/// The partitions of sign-in counters for workspaces that do not exist: tenant ids no ULID made
/// now can take (time zero, then the partition's number).
const NOWHERE_PARTITIONS: u8 = 16;

fn user_actor(user: Option<&UserRecord>) -> Actor<'_> {
    Actor {
        kind: "user",
        id: user.map_or("unknown", |u| u.id.as_str()),
        role: user.map(|u| u.role),
    }
}

pub async fn sign_in(ctx: &Context, request: SignInRequest, ip: Option<IpAddr>) -> Result<SignInResult> {
    if request.password.is_empty() {
        return Err(Error::invalid("password", "is required"));
    }
    let email = Email::parse(&request.email)?;
    let tenant = match Slug::parse(&request.tenant) {
        Ok(slug) => tenants::by_slug(ctx, &slug).await?.filter(Tenant::is_active),
        Err(_) => None,
    };
    let Some(tenant) = tenant else {
        return unknown_workspace(ctx, &request.tenant, &email, ip).await;
    };
    let store = ctx.tenant_store(&tenant.id);
    let now = now_unix();
    let account = users::email_index(&store, &email).await?;
    let address = address_index(&store, ip).await?;
    let pair = format!("{account}#{address}");
    let user = users::load_by_email(&store, &email).await?;
    let trusted = user.as_ref().is_some_and(|u| u.trusted_ips.contains(&address));
    let scopes = per_address_and_account(&pair, &account, trusted);
    let wait = try_scopes(&store, &scopes, now).await?;
    if let Some(retry_after) = wait {
        let actor = user_actor(user.as_ref());
        audit::record_as(
            &store,
            actor,
            ip,
            "sign_in.locked",
            target_of(user.as_ref()),
            Outcome::Failure,
        )
        .await?;
        return Err(Error::TooManyAttempts { retry_after });
    }
    // Where single sign-on is required, a password is not even checked (but the break-glass
    // owner's): the answer says where to sign in instead, for known and unknown emails alike.
    let password_allowed = match &user {
        Some(user) => tenant.password_allowed(&user.id),
        None => tenant.settings.sso_required.is_none(),
    };
    if !password_allowed {
        // As long as a checked password takes: the break-glass owner's email does not stand out.
        password::verify_nothing().await?;
        let actor = user_actor(user.as_ref());
        let target = target_of(user.as_ref());
        audit::record_as(&store, actor, ip, "sign_in.sso_required", target, Outcome::Failure).await?;
        return Err(sso_required());
    }
    let may_sign_in = auth::ip_allowed(&tenant.settings.ip_allow_list, ip);
    let phc = user
        .as_ref()
        .filter(|u| u.status == UserStatus::Active && may_sign_in)
        .and_then(|u| u.secrets.password.clone());
    let verified = match phc {
        Some(phc) => password::verify(&request.password, &phc).await?,
        None => password::verify_nothing().await?,
    };
    let user = match (verified, user) {
        (true, Some(user)) => user,
        (_, user) => {
            let actor = user_actor(user.as_ref());
            audit::record_as(
                &store,
                actor,
                ip,
                "sign_in.failed",
                target_of(user.as_ref()),
                Outcome::Failure,
            )
            .await?;
            // Where single sign-on is required every refused password answers alike.
            return Err(match tenant.settings.sso_required {
                Some(_) => sso_required(),
                None => Error::InvalidCredentials,
            });
        }
    };
    succeeded(&store, &scopes).await?;
    if user.mfa_enabled() {
        let (mfa_token, digest) = credential::issue(Kind::MfaChallenge, store.tenant(), &user.id)?;
        let expires_at = now + MFA_CHALLENGE_SECONDS;
        store
            .put(
                Item::new(keys::mfa_challenge(store.tenant(), &user.id, &digest)?)
                    .with("attempts", 0)
                    .with_expiry(expires_at),
                None,
            )
            .await?;
        return Ok(SignInResult::MfaRequired { mfa_token, expires_at });
    }
    finish(&store, &tenant, user, ip, "sign_in.succeeded", Proof::Password).await
}

/// Whether a password (with its second factor) may open a session for `user`: always, unless
/// single sign-on is required, when only the break-glass owner's may, while they are an active
/// owner with a second factor (whatever changed since they were chosen).
pub(crate) fn password_opens(tenant: &Tenant, user: &UserRecord) -> bool {
    tenant.settings.sso_required.is_none()
        || (tenant.is_break_glass(&user.id)
            && user.role == Role::Owner
            && user.status == UserStatus::Active
            && user.mfa_enabled())
}

/// A password refused because the workspace requires single sign-on.
pub(crate) fn sso_required() -> Error {
    Error::Forbidden {
        code: "sso_required",
        reason: "This workspace requires single sign-on: sign in with your organisation's account.",
    }
}

fn target_of(user: Option<&UserRecord>) -> Target {
    Target::User(user.map_or("unknown".to_owned(), |u| u.id.clone()))
}

/// How a session's user proved who they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Proof {
    /// Their password here (and their second factor when they have one).
    Password,
    /// The workspace's identity provider, which keeps their password and second factor: the
    /// workspace's password and second-factor rules do not restrict the session.
    SingleSignOn,
}

/// Records the sign-in on the user, audits it, and opens a session.
pub(crate) async fn finish(
    store: &TenantStore,
    tenant: &Tenant,
    mut user: UserRecord,
    ip: Option<IpAddr>,
    action: &str,
    proof: Proof,
) -> Result<SignInResult> {
    let now = now_unix();
    let address = address_index(store, ip).await?;
    user.trusted_ips.retain(|a| *a != address);
    user.trusted_ips.insert(0, address);
    user.trusted_ips.truncate(users::MAX_TRUSTED);
    user.last_sign_in_at = Some(now);
    // A password opening a workspace that requires single sign-on is its break-glass owner's.
    let action = match proof {
        Proof::Password if tenant.settings.sso_required.is_some() => "sign_in.break_glass",
        _ => action,
    };
    if proof == Proof::Password && !password_opens(tenant, &user) {
        return Err(sso_required());
    }
    users::save(store, &mut user).await?;
    audit::record_as(
        store,
        user_actor(Some(&user)),
        ip,
        action,
        target_of(Some(&user)),
        Outcome::Success,
    )
    .await?;
    open_session(store, tenant, &user, proof).await
}

/// What the user must do first, if anything: change a one-time or expired password, or enrol a
/// second factor the tenant requires.
pub(crate) fn restriction(
    tenant: &Tenant,
    must_change: bool,
    mfa: bool,
    password_at: Option<i64>,
    now: i64,
) -> Option<Restriction> {
    let expired = tenant
        .settings
        .password_policy
        .expiry_days
        .is_some_and(|days| password_at.is_none_or(|at| at + i64::from(days) * 86_400 <= now));
    if must_change || expired {
        Some(Restriction::PasswordChange)
    } else if tenant.settings.require_mfa && !mfa {
        Some(Restriction::MfaEnrolment)
    } else {
        None
    }
}

/// Whether a session's user had a second factor, and when their password was set: with the
/// tenant's settings of the moment, they restrict the session (a policy tightened after sign-in
/// reaches it on its next request).
pub(crate) const SESSION_MFA: &str = "mfa";
pub(crate) const SESSION_PASSWORD_AT: &str = "password_at";
/// Whether the session was opened by single sign-on (`Proof::SingleSignOn`).
pub(crate) const SESSION_SSO: &str = "sso";

pub(crate) async fn open_session(
    store: &TenantStore,
    tenant: &Tenant,
    user: &UserRecord,
    proof: Proof,
) -> Result<SignInResult> {
    let now = now_unix();
    let (token, digest) = credential::issue(Kind::Session, store.tenant(), &user.id)?;
    if proof == Proof::Password && !password_opens(tenant, user) {
        return Err(sso_required());
    }
    let restriction = match proof {
        Proof::Password => restriction(
            tenant,
            user.must_change_password,
            user.mfa_enabled(),
            user.password_changed_at,
            now,
        ),
        Proof::SingleSignOn => None,
    };
    let expires_at = now + SESSION_MAX_SECONDS;
    let mut item = Item::new(keys::session(store.tenant(), &user.id, &digest)?)
        .with("role", user.role.as_str())
        .with("created_at", now)
        .with("seen_at", now)
        .with(SESSION_MFA, user.mfa_enabled())
        .with(SESSION_PASSWORD_AT, user.password_changed_at.unwrap_or(0))
        .with(SESSION_SSO, proof == Proof::SingleSignOn)
        .with_expiry(expires_at);
    if let Some(r) = restriction {
        item = item.with("restriction", r.as_str());
    }
    // Only while the user is as this sign-in saw them: a change (disabling, a new role) made
    // meanwhile, whose revocation this session would escape, cancels it.
    let opened = store
        .transact(vec![
            user.unchanged(store)?,
            TxOp::Put {
                item,
                condition: Some(Condition::NotExists),
            },
        ])
        .await;
    opened.map_err(|e| match e {
        Error::TransactionCanceled(_) => users::changed_meanwhile(),
        e => e,
    })?;
    Ok(SignInResult::SignedIn {
        token,
        expires_at,
        user_id: user.id.clone(),
        role: user.role,
        required_action: restriction.map(|r| r.as_str().to_owned()),
    })
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaRequest {
    pub mfa_token: String,
    /// The six digits of the authenticator app.
    pub code: Option<String>,
    /// One of the recovery codes given at enrolment (each works once).
    pub recovery_code: Option<String>,
}

pub async fn complete_mfa(ctx: &Context, request: MfaRequest, ip: Option<IpAddr>) -> Result<SignInResult> {
    let gone = || Error::Unauthenticated("the sign-in challenge expired or was used up; sign in again");
    let (presented, tenant, store) = redeem(ctx, &request.mfa_token, Kind::MfaChallenge, gone).await?;
    let key = keys::mfa_challenge(store.tenant(), &presented.owner, &presented.digest)?;
    let tried = store
        .update(
            &key,
            &[Update::Add("attempts".into(), 1)],
            Some(Condition::And(vec![
                Condition::Exists,
                Condition::Compare("attempts".into(), Cmp::Lt, MFA_MAX_ATTEMPTS.into()),
            ])),
        )
        .await;
    match tried {
        Err(Error::ConditionFailed) => {
            store.delete(&key, None).await?;
            return Err(gone());
        }
        other => other?,
    };
    let mut user = users::load(&store, &presented.owner)
        .await?
        .filter(|u| u.status == UserStatus::Active)
        .ok_or_else(gone)?;
    let counters = CodeCounters::of(&store, &user, ip).await?;
    let scopes = counters.scopes();
    let (code, recovery) = (request.code.as_deref(), request.recovery_code.as_deref());
    if !counted(&store, &scopes, async || {
        Ok(second_factor(&mut user, code, recovery, now_unix()))
    })
    .await?
    {
        audit::record_as(
            &store,
            user_actor(Some(&user)),
            ip,
            "sign_in.mfa_failed",
            target_of(Some(&user)),
            Outcome::Failure,
        )
        .await?;
        return Err(Error::Unauthenticated("the code is wrong or was already used"));
    }
    store.delete(&key, None).await?;
    finish(&store, &tenant, user, ip, "sign_in.succeeded", Proof::Password).await
}

/// Checks a TOTP code (newer than the last one used) or spends a recovery code.
pub(crate) fn second_factor(user: &mut UserRecord, code: Option<&str>, recovery: Option<&str>, now: i64) -> bool {
    if let (Some(code), Some(secret)) = (code, &user.secrets.totp) {
        return match totp::matching_step(secret, code, now.max(0) as u64) {
            Some(step) if step as i64 > user.mfa_step => {
                user.mfa_step = step as i64;
                true
            }
            _ => false,
        };
    }
    if let Some(recovery) = recovery {
        let digest = credential::hex(&credential::sha256(&normalise_recovery(recovery)));
        if let Some(i) = user
            .secrets
            .recovery
            .iter()
            .position(|r| credential::same(r.as_bytes(), digest.as_bytes()))
        {
            user.secrets.recovery.remove(i);
            return true;
        }
    }
    false
}

pub(crate) fn normalise_recovery(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvite {
    pub invite_token: String,
    pub password: String,
    pub name: Option<String>,
}

/// The name of the workspace a live invitation is for; none for anything else.
pub async fn invited_to(ctx: &Context, token: &str) -> Result<Option<String>> {
    let gone = || Error::Unauthenticated("the invitation is not valid");
    let Ok((presented, tenant, store)) = redeem(ctx, token, Kind::Invite, gone).await else {
        return Ok(None);
    };
    let key = keys::invite(store.tenant(), &presented.owner, &presented.digest)?;
    Ok(store.get(&key).await?.map(|_| tenant.settings.display_name.clone()))
}

pub async fn accept_invite(ctx: &Context, request: AcceptInvite, ip: Option<IpAddr>) -> Result<SignInResult> {
    let gone = || Error::Unauthenticated("the invitation expired, was used, or is not valid");
    let (presented, tenant, store) = redeem(ctx, &request.invite_token, Kind::Invite, gone).await?;
    let key = keys::invite(store.tenant(), &presented.owner, &presented.digest)?;
    if store.get(&key).await?.is_none() {
        return Err(gone());
    }
    let mut user = users::load(&store, &presented.owner)
        .await?
        .filter(|u| u.status == UserStatus::Invited)
        .ok_or_else(gone)?;
    // Taken up by signing in through the provider instead.
    if !password_opens(&tenant, &user) {
        return Err(sso_required());
    }
    let password = Password::new(request.password, tenant.settings.password_policy.min_length as usize)?;
    if let Some(name) = request.name {
        user.name = Some(crate::services::accounts::users::display_name(&name)?);
    }
    user.secrets.password = Some(password::hash(&password).await?);
    user.password_changed_at = Some(now_unix());
    user.status = UserStatus::Active;
    // The invitation is spent only with the user's activation, in one transaction.
    let spend = TxOp::Delete {
        key,
        condition: Some(Condition::Exists),
    };
    match store.transact(vec![spend, users::save_op(&store, &user).await?]).await {
        Err(Error::TransactionCanceled(f)) if f.iter().any(|f| f.index == 0) => return Err(gone()),
        Err(Error::TransactionCanceled(_)) => return Err(users::changed_meanwhile()),
        other => other?,
    }
    user.saved();
    finish(&store, &tenant, user, ip, "user.invite_accepted", Proof::Password).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_policies_restrict_sessions() {
        let mut tenant = Tenant::for_tests();
        let now = 1_800_000_000;
        assert_eq!(restriction(&tenant, false, false, Some(now - 100 * 86_400), now), None);
        tenant.settings.password_policy.expiry_days = Some(90);
        let expired = restriction(&tenant, false, true, Some(now - 91 * 86_400), now);
        assert_eq!(expired, Some(Restriction::PasswordChange));
        assert_eq!(restriction(&tenant, false, true, Some(now - 89 * 86_400), now), None);
        assert_eq!(
            restriction(&tenant, true, true, Some(now), now),
            Some(Restriction::PasswordChange)
        );
        tenant.settings.require_mfa = true;
        assert_eq!(
            restriction(&tenant, false, false, Some(now), now),
            Some(Restriction::MfaEnrolment)
        );
        assert_eq!(restriction(&tenant, false, true, Some(now), now), None);
    }

    #[test]
    fn backoff_doubles_after_the_free_failures_and_is_capped() {
        assert_eq!(wait_for(4, 5), None);
        assert_eq!(wait_for(5, 5), Some(30));
        assert_eq!(wait_for(6, 5), Some(60));
        assert_eq!(wait_for(7, 5), Some(120));
        assert_eq!(wait_for(60, 5), Some(900));
        assert_eq!(normalise_recovery(" AB12-cd34 "), "ab12cd34");
    }
}
