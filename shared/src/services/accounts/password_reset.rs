//! Forgotten passwords: a link mailed to the account's address (single use, valid an hour, at
//! most a few alive at once), the same answer whether or not the account exists, and the new
//! password set under the workspace's policy with every session ended.

use std::net::IpAddr;

use crate::Context;
use crate::auth::credential::{self, Kind};
use crate::domain::tenant::Tenant;
use crate::domain::{Email, Slug};
use crate::error::{Error, Result};
use crate::services::accounts::users::{self, UserStatus};
use crate::services::accounts::{sessions, sign_in, staff_mail, tenants};
use crate::services::audit::{self, Actor, Target};
use crate::store::{BatchOp, Condition, Item, Query, TenantStore, TxOp, keys, now_unix};

/// How long a link works.
pub const LINK_SECONDS: i64 = 3600;
/// Links of one account alive at once; more requests send nothing until one expires.
pub const MAX_ALIVE: usize = 3;

/// Mails a link to set a new password when `workspace` has an active user with `email` who may
/// sign in with a password (single sign-on not required of them), and does nothing otherwise: the caller answers the same either way. `base` is the app's address.
pub async fn request(ctx: &Context, workspace: &str, email: &str, ip: Option<IpAddr>, base: &str) -> Result<()> {
    let (Ok(slug), Ok(email)) = (Slug::parse(workspace), Email::parse(email)) else {
        return Ok(());
    };
    let Some(tenant) = tenants::by_slug(ctx, &slug).await?.filter(Tenant::is_active) else {
        return Ok(());
    };
    let store = ctx.tenant_store(&tenant.id);
    let Some(user) = users::load_by_email(&store, &email)
        .await?
        .filter(|u| u.status == UserStatus::Active && sign_in::password_opens(&tenant, u))
    else {
        return Ok(());
    };
    let now = now_unix();
    let alive = links_of(&store, &user.id)
        .await?
        .iter()
        .filter(|l| !l.is_expired(now))
        .count();
    if alive >= MAX_ALIVE {
        tracing::info!("password reset not sent: links alive");
        return Ok(());
    }
    let (token, digest) = credential::issue(Kind::PasswordReset, &tenant.id, &user.id)?;
    let key = keys::password_reset(&tenant.id, &user.id, &digest)?;
    let actor = Actor {
        kind: "user",
        id: &user.id,
        role: Some(user.role),
    };
    let target = Target::User(user.id.clone());
    let event = audit::entry_as(&store, actor, ip, "user.password_reset_requested", target).await?;
    let link = TxOp::Put {
        item: Item::new(key).with_expiry(now + LINK_SECONDS),
        condition: None,
    };
    store.transact(vec![link, event]).await?;
    let link = format!("{base}/reset?token={token}");
    staff_mail::password_reset(ctx, &tenant, &user.email, &link).await
}

async fn links_of(store: &TenantStore, user: &str) -> Result<Vec<Item>> {
    let partition = keys::user_partition(store.tenant(), user)?;
    store.query_all(Query::new(partition).prefix(keys::RESET_PREFIX)).await
}

/// Whether `token` is a live link (the page that asks for the new password shows only then).
pub async fn is_live(ctx: &Context, token: &str) -> Result<bool> {
    let gone = || Error::Unauthenticated("");
    let Ok((presented, _, store)) = sign_in::redeem(ctx, token, Kind::PasswordReset, gone).await else {
        return Ok(false);
    };
    let key = keys::password_reset(store.tenant(), &presented.owner, &presented.digest)?;
    Ok(store.get(&key).await?.is_some_and(|i| !i.is_expired(now_unix())))
}

/// Sets the new password of the link's user: the link is spent, every other link and session
/// of the user ends.
pub async fn complete(ctx: &Context, token: &str, new_password: String, ip: Option<IpAddr>) -> Result<()> {
    let gone = || Error::Unauthenticated("the link expired, was used, or is not valid; ask for a new one");
    let (presented, tenant, store) = sign_in::redeem(ctx, token, Kind::PasswordReset, gone).await?;
    let key = keys::password_reset(store.tenant(), &presented.owner, &presented.digest)?;
    if store.get(&key).await?.is_none_or(|i| i.is_expired(now_unix())) {
        return Err(gone());
    }
    let mut user = users::load(&store, &presented.owner)
        .await?
        .filter(|u| u.status == UserStatus::Active)
        .ok_or_else(gone)?;
    if !sign_in::password_opens(&tenant, &user) {
        return Err(sign_in::sso_required());
    }
    // Checked before the link is spent: a refused password leaves the link to try again.
    let new = sessions::new_password(&tenant, &user, new_password).await?;
    match store.delete(&key, Some(Condition::Exists)).await {
        Err(Error::ConditionFailed) => return Err(gone()),
        other => other?,
    }
    let actor = Actor {
        kind: "user",
        id: &user.id,
        role: Some(user.role),
    };
    let event = audit::entry_as(&store, actor, ip, "user.password_reset", Target::User(user.id.clone())).await?;
    sessions::set_password(&store, &mut user, &new, event).await?;
    let others = links_of(&store, &user.id).await?;
    if !others.is_empty() {
        store
            .batch_write(others.into_iter().map(|l| BatchOp::Delete(l.key)).collect())
            .await?;
    }
    Ok(())
}
