//! Sessions and who is calling: authenticating a presented credential (session, API key, OAuth
//! token), the signed-in user's view of themselves, signing out (here or everywhere) and
//! changing the password.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Context;
use crate::auth::credential::{self, Kind, Presented};
use crate::auth::password::{self, Password};
use crate::auth::{self, Principal, Restriction, Role, Scope};
use crate::domain::tenant::Tenant;
use crate::error::{Error, Result};
use crate::services::accounts::tenants;
use crate::services::accounts::users::{self, UserRecord, UserView};
use crate::services::audit::{self, Outcome, Target};
use crate::services::{Caller, SurveyAccess};
use crate::store::{Condition, Item, Key, TenantStore, TxOp, Update, Value, keys, now_unix};

use crate::services::accounts::sign_in::{
    Proof, SESSION_IDLE_SECONDS, SESSION_MFA, SESSION_PASSWORD_AT, SESSION_SSO, SignInResult, TOUCH_EVERY, counted,
    open_session, password_opens, restriction, self_scope, sso_required,
};

/// Turns a presented credential into its principal: one read of the credential's item (the
/// tenant's settings come from the short cache). Returns the tenant for the caller's checks.
pub async fn authenticate(ctx: &Context, presented: &Presented, ip: Option<IpAddr>) -> Result<Principal> {
    let revoked = || Error::Unauthenticated("the credential is unknown, expired or revoked");
    let tenant = tenants::active(ctx, &presented.tenant).await?.ok_or_else(revoked)?;
    // Before anything is read or touched: a credential used from elsewhere extends nothing.
    if !auth::ip_allowed(&tenant.settings.ip_allow_list, ip) {
        return Err(ip_not_allowed());
    }
    let store = ctx.tenant_store(&tenant.id);
    let now = now_unix();
    let owner = presented.owner.clone();
    let principal = match presented.kind {
        Kind::Session => {
            let key = keys::session(store.tenant(), &owner, &presented.digest)?;
            let item = store.get(&key).await?.ok_or_else(revoked)?;
            let seen = item.num("seen_at").unwrap_or(0);
            if seen + SESSION_IDLE_SECONDS <= now {
                store.delete(&key, None).await?;
                return Err(Error::Unauthenticated(
                    "the session ended after an hour without use; sign in again",
                ));
            }
            if now - seen >= TOUCH_EVERY {
                touch(&store, &item, "seen_at", now).await?;
            }
            // A password session ends once the workspace requires single sign-on.
            let by_sso = matches!(item.get(SESSION_SSO), Some(Value::Bool(true)));
            if !by_sso && !tenant.password_allowed(&owner) {
                store.delete(&key, None).await?;
                return Err(Error::Unauthenticated(
                    "this workspace now requires single sign-on; sign in with your organisation's account",
                ));
            }
            let stored = item.str("restriction").and_then(Restriction::parse);
            let mfa = matches!(item.get(SESSION_MFA), Some(Value::Bool(true)));
            // The identity provider keeps the passwords and second factors of its sign-ins.
            let now_required = match by_sso {
                true => None,
                false => restriction(&tenant, false, mfa, item.num(SESSION_PASSWORD_AT), now),
            };
            Principal {
                tenant: tenant.id.clone(),
                actor: auth::Actor::User {
                    id: owner,
                    session: presented.digest,
                },
                role: Role::parse(item.str("role").unwrap_or_default())?,
                restriction: stored.or(now_required),
            }
        }
        Kind::ApiKey => {
            let key = keys::api_key(store.tenant(), &owner)?;
            let item = held(&store, &key, presented, now).await?.ok_or_else(revoked)?;
            Principal {
                tenant: tenant.id.clone(),
                actor: auth::Actor::ApiKey { id: owner },
                role: Scope::parse(item.str("scope").unwrap_or_default())?.role(),
                restriction: None,
            }
        }
        Kind::AccessToken => {
            let item = store
                .get(&keys::access_token(store.tenant(), &owner, &presented.digest)?)
                .await?
                .ok_or_else(revoked)?;
            Principal {
                tenant: tenant.id.clone(),
                actor: auth::Actor::OAuthClient { id: owner },
                role: Scope::parse(item.str("scope").unwrap_or_default())?.role(),
                restriction: None,
            }
        }
        Kind::Provisioning => {
            held(&store, &keys::scim_token(store.tenant()), presented, now)
                .await?
                .ok_or_else(revoked)?;
            // Provisioning acts as an admin would (never on owners), on its own routes only.
            Principal {
                tenant: tenant.id.clone(),
                actor: auth::Actor::Provisioning { id: owner },
                role: Role::Admin,
                restriction: None,
            }
        }
        Kind::Invite | Kind::MfaChallenge | Kind::PasswordReset | Kind::SsoFlow => {
            return Err(Error::Unauthenticated("this token cannot be used to call the API"));
        }
    };
    Ok(principal)
}

/// The item at `key` of a credential stored as its hash, when the presented one hashes to it (the
/// hash covers the whole credential, its owner's id too), its last use noted at most once a
/// minute; `None` for one unknown or revoked.
async fn held(store: &TenantStore, key: &Key, presented: &Presented, now: i64) -> Result<Option<Item>> {
    let Some(item) = store.get(key).await?.filter(|i| {
        i.bytes("secret")
            .is_some_and(|s| credential::same(s, &presented.digest))
    }) else {
        return Ok(None);
    };
    if now - item.num("last_used_at").unwrap_or(0) >= TOUCH_EVERY {
        touch(store, &item, "last_used_at", now).await?;
    }
    Ok(Some(item))
}

/// Updates a last-use time, only while the credential still exists (never re-creating a revoked
/// one: that is a 401; any other failure is what it is).
async fn touch(store: &TenantStore, item: &Item, name: &str, now: i64) -> Result<()> {
    let updates = [Update::Set(name.into(), now.into())];
    match store.update(&item.key, &updates, Some(Condition::Exists)).await {
        Err(Error::ConditionFailed) => Err(Error::Unauthenticated("the credential was revoked")),
        other => other.map(|_| ()),
    }
}

pub fn ip_not_allowed() -> Error {
    Error::Forbidden {
        code: "ip_not_allowed",
        reason: "the tenant does not allow requests from this address",
    }
}

/// The signed-in user of a caller, or 403 for keys and clients.
pub(crate) fn signed_in_user(caller: &Caller) -> Result<(&str, &credential::Digest)> {
    match &caller.principal.actor {
        auth::Actor::User { id, session } => Ok((id, session)),
        _ => Err(Error::Forbidden {
            code: "user_session_required",
            reason: "only a signed-in user can do this (not an API key or client)",
        }),
    }
}

pub(crate) async fn caller_user(ctx: &Context, caller: &Caller) -> Result<(TenantStore, UserRecord)> {
    let (id, _) = signed_in_user(caller)?;
    let store = caller.store(ctx);
    let user = users::load(&store, id)
        .await?
        .ok_or(Error::Unauthenticated("the user no longer exists"))?;
    Ok((store, user))
}

/// Who the caller is.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Me {
    pub tenant_id: String,
    pub tenant_slug: String,
    pub actor_type: String,
    pub actor_id: String,
    pub role: Role,
    pub required_action: Option<String>,
    pub user: Option<UserView>,
    /// The ids of your teams when you see surveys by team (an editor or analyst): a survey
    /// limited to teams is shown to their members only. `null`: you see every survey.
    pub teams: Option<Vec<String>>,
}

pub async fn me(ctx: &Context, caller: &Caller) -> Result<Me> {
    let p = &caller.principal;
    let tenant = tenants::active(ctx, &p.tenant)
        .await?
        .ok_or(Error::NotFound("tenant"))?;
    let user = match &p.actor {
        auth::Actor::User { .. } => Some(caller_user(ctx, caller).await?.1.view()),
        _ => None,
    };
    Ok(Me {
        tenant_id: p.tenant.to_string(),
        tenant_slug: tenant.slug.clone(),
        actor_type: p.actor.kind().to_owned(),
        actor_id: p.actor.id().to_owned(),
        role: p.role,
        required_action: p.restriction.map(|r| r.as_str().to_owned()),
        user,
        teams: match &caller.surveys {
            SurveyAccess::Every => None,
            SurveyAccess::TeamsOf(teams) => Some(teams.iter().cloned().collect()),
        },
    })
}

pub async fn sign_out(ctx: &Context, caller: &Caller) -> Result<()> {
    let (id, session) = signed_in_user(caller)?;
    let store = caller.store(ctx);
    store.delete(&keys::session(store.tenant(), id, session)?, None).await
}

pub async fn sign_out_everywhere(ctx: &Context, caller: &Caller) -> Result<usize> {
    let (id, _) = signed_in_user(caller)?;
    let store = caller.store(ctx);
    let n = users::revoke_sessions(&store, id).await?;
    audit::record(
        &store,
        caller,
        "session.revoked_all",
        Target::User(id.to_owned()),
        Outcome::Success,
    )
    .await?;
    Ok(n)
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    pub current_password: String,
    pub new_password: String,
}

/// Changes the caller's password: every session is revoked, and a new one is returned.
/// Asks a signed-in user for their password again before an act that cannot be undone (the
/// attempts counted as sign-ins are, so a stolen session cannot guess it).
pub async fn confirm_password(ctx: &Context, caller: &Caller, presented: &str) -> Result<()> {
    let (store, user) = caller_user(ctx, caller).await?;
    let tenant = tenants::active(ctx, store.tenant())
        .await?
        .ok_or(Error::NotFound("tenant"))?;
    // A password single sign-on stopped is no confirmation.
    if !password_opens(&tenant, &user) {
        return Err(sso_required());
    }
    let current = user.secrets.password.clone().unwrap_or_default();
    let scope = format!("self-{}", user.id);
    if counted(&store, &self_scope(&scope), async || {
        password::verify(presented, &current).await
    })
    .await?
    {
        Ok(())
    } else {
        Err(Error::invalid("password", "is wrong"))
    }
}

pub async fn change_password(ctx: &Context, caller: &Caller, request: ChangePassword) -> Result<SignInResult> {
    let (store, mut user) = caller_user(ctx, caller).await?;
    let tenant = tenants::active(ctx, store.tenant())
        .await?
        .ok_or(Error::NotFound("tenant"))?;
    if !password_opens(&tenant, &user) {
        return Err(sso_required());
    }
    let current = user.secrets.password.clone().unwrap_or_default();
    let scope = format!("self-{}", user.id);
    if !counted(&store, &self_scope(&scope), async || {
        password::verify(&request.current_password, &current).await
    })
    .await?
    {
        audit::record(
            &store,
            caller,
            "user.password_change_failed",
            Target::User(user.id.clone()),
            Outcome::Failure,
        )
        .await?;
        return Err(Error::invalid("current_password", "is wrong"));
    }
    let new = new_password(&tenant, &user, request.new_password).await?;
    let event = audit::entry(&store, caller, "user.password_changed", Target::User(user.id.clone())).await?;
    set_password(&store, &mut user, &new, event).await?;
    open_session(&store, &tenant, &user, Proof::Password).await
}

/// A new password for `user`: the workspace's policy, and none of their last passwords.
pub(crate) async fn new_password(tenant: &Tenant, user: &UserRecord, text: String) -> Result<Password> {
    let new = Password::new(text, tenant.settings.password_policy.min_length as usize)
        .map_err(|e| rename_field(e, "new_password"))?;
    let current = user.secrets.password.iter();
    for old in current.chain(user.secrets.history.iter()) {
        if password::verify(new.as_str(), old).await? {
            return Err(Error::invalid(
                "new_password",
                format!("must differ from your last {} passwords", password::HISTORY),
            ));
        }
    }
    Ok(new)
}

/// Sets a checked password: the old one joins the history, every session ends, the user is
/// saved with `event`, its audit event (sessions end first: should the save fail, the user is
/// signed out, never left in).
pub(crate) async fn set_password(
    store: &TenantStore,
    user: &mut UserRecord,
    new: &Password,
    event: TxOp,
) -> Result<()> {
    if let Some(current) = user.secrets.password.take() {
        user.secrets.history.insert(0, current);
        user.secrets.history.truncate(password::HISTORY);
    }
    user.secrets.password = Some(password::hash(new).await?);
    user.password_changed_at = Some(now_unix());
    user.must_change_password = false;
    users::revoke_sessions(store, &user.id).await?;
    users::save_with(store, user, vec![event]).await
}

fn rename_field(e: Error, field: &'static str) -> Error {
    match e {
        Error::Invalid { reason, .. } => Error::Invalid {
            field: field.into(),
            reason,
        },
        e => e,
    }
}
