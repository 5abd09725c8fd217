//! Users of a tenant: the user record (email and name encrypted, password hashes and second-factor
//! secrets in one encrypted attribute), invitation, listing, changes of role and status, deletion,
//! and revoking a user's sessions. Admins manage everyone but owners; a tenant keeps an owner.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zeroize::Zeroize;

use crate::Context;
use crate::auth::Role;
use crate::auth::credential::{self, Kind};
use crate::auth::password::{self, Password};
use crate::domain::Email;
use crate::error::{Error, Result};
use crate::ids::{UserId, new_id};
use crate::services::Caller;
use crate::services::audit::{self, Target};
use crate::store::{BatchOp, Condition, Item, Query, TenantStore, TxOp, Value, keys, now_unix};

/// How long an invitation stays valid.
pub const INVITE_SECONDS: i64 = 7 * 86_400;
pub const MAX_PER_PAGE: u32 = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    /// Invited, has not set a password yet.
    Invited,
    Active,
    /// May not sign in; every session was revoked.
    Disabled,
}

impl UserStatus {
    fn as_str(self) -> &'static str {
        match self {
            UserStatus::Invited => "invited",
            UserStatus::Active => "active",
            UserStatus::Disabled => "disabled",
        }
    }

    fn parse(text: &str) -> UserStatus {
        match text {
            "invited" => UserStatus::Invited,
            "active" => UserStatus::Active,
            _ => UserStatus::Disabled,
        }
    }
}

/// What only the user's own sign-in may read, sealed as one attribute.
#[derive(Clone, Default, Serialize, Deserialize)]
pub(crate) struct Secrets {
    /// The argon2id PHC string of the current password.
    pub password: Option<String>,
    /// The previous passwords' hashes, newest first (at most `password::HISTORY`).
    pub history: Vec<String>,
    pub totp: Option<Vec<u8>>,
    /// A TOTP secret shown for enrolment, not yet confirmed.
    pub pending_totp: Option<Vec<u8>>,
    /// SHA-256 (hex) of the unused recovery codes.
    pub recovery: Vec<String>,
}

impl Drop for Secrets {
    fn drop(&mut self) {
        self.password.zeroize();
        self.totp.zeroize();
        self.pending_totp.zeroize();
    }
}

pub struct UserRecord {
    pub id: String,
    pub email: Email,
    pub name: Option<String>,
    pub role: Role,
    pub status: UserStatus,
    pub created_at: i64,
    pub last_sign_in_at: Option<i64>,
    pub password_changed_at: Option<i64>,
    pub must_change_password: bool,
    /// The last TOTP step accepted (a code is never accepted twice).
    pub mfa_step: i64,
    /// Blind indexes of the addresses this user signed in from (at most `MAX_TRUSTED`).
    pub trusted_ips: Vec<String>,
    /// Whether the workspace's identity provider (SCIM) disabled the user: it may enable only
    /// those it disabled, never someone a person disabled.
    pub disabled_by_provisioning: bool,
    /// The provider account single sign-on bound the user to at their first sign-in through it:
    /// its issuer, and the SHA-256 of its subject (`sub`). Another account of that provider with
    /// the user's email is refused until an admin resets the binding.
    pub sso_binding: Option<(String, String)>,
    /// The identity provider's own id for the user (SCIM `externalId`), sealed.
    pub external_id: Option<String>,
    pub(crate) secrets: Secrets,
    /// Optimistic concurrency: the version read; 0 for a new user.
    version: i64,
}

pub const MAX_TRUSTED: usize = 10;

/// A user as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    pub role: Role,
    pub status: UserStatus,
    pub mfa_enabled: bool,
    pub created_at: i64,
    pub last_sign_in_at: Option<i64>,
    /// Whether single sign-on has bound them to an account of the identity provider (reset with
    /// `reset_sso`).
    pub sso_bound: bool,
}

const EMAIL: &str = "email";
const NAME: &str = "name";
const SECRETS: &str = "secrets";
const DISABLED_BY_PROVISIONING: &str = "disabled_by_provisioning";
const SSO_ISSUER: &str = "sso_issuer";
const SSO_SUBJECT: &str = "sso_subject";
const EXTERNAL_ID: &str = "external_id";

impl UserRecord {
    pub fn mfa_enabled(&self) -> bool {
        self.secrets.totp.is_some()
    }

    pub fn view(&self) -> UserView {
        UserView {
            id: self.id.clone(),
            email: self.email.to_string(),
            name: self.name.clone(),
            role: self.role,
            status: self.status,
            mfa_enabled: self.mfa_enabled(),
            created_at: self.created_at,
            last_sign_in_at: self.last_sign_in_at,
            sso_bound: self.sso_binding.is_some(),
        }
    }

    async fn to_item(&self, store: &TenantStore, version: i64) -> Result<Item> {
        let key = keys::user(store.tenant(), &self.id)?;
        let crypto = store.crypto();
        let mut secrets = serde_json::to_vec(&self.secrets).map_err(Error::internal)?;
        let sealed = crypto.encrypt(&key, SECRETS, &secrets).await;
        secrets.zeroize();
        let mut item = Item::new(key.clone())
            .with(EMAIL, crypto.encrypt_str(&key, EMAIL, self.email.as_str()).await?)
            .with("role", self.role.as_str())
            .with("status", self.status.as_str())
            .with("created_at", self.created_at)
            .with("must_change_password", self.must_change_password)
            .with("mfa_step", self.mfa_step)
            .with("trusted_ips", self.trusted_ips.as_slice())
            .with(DISABLED_BY_PROVISIONING, self.disabled_by_provisioning)
            .with(SECRETS, sealed?)
            .with("version", version);
        if let Some(name) = &self.name {
            item = item.with(NAME, crypto.encrypt_str(&key, NAME, name).await?);
        }
        if let Some(at) = self.last_sign_in_at {
            item = item.with("last_sign_in_at", at);
        }
        if let Some((issuer, subject)) = &self.sso_binding {
            item = item
                .with(SSO_ISSUER, issuer.as_str())
                .with(SSO_SUBJECT, subject.as_str());
        }
        if let Some(at) = self.password_changed_at {
            item = item.with("password_changed_at", at);
        }
        if let Some(external) = &self.external_id {
            item = item.with(EXTERNAL_ID, crypto.encrypt_str(&key, EXTERNAL_ID, external).await?);
        }
        Ok(item)
    }

    async fn from_item(store: &TenantStore, item: &Item) -> Result<UserRecord> {
        let crypto = store.crypto();
        let key = &item.key;
        let email = crypto
            .decrypt_str(key, EMAIL, item.bytes(EMAIL).ok_or(Error::Undecryptable)?)
            .await?;
        let name = crypto.open_str(item, NAME).await?;
        let external_id = crypto.open_str(item, EXTERNAL_ID).await?;
        let mut plain = crypto
            .decrypt(key, SECRETS, item.bytes(SECRETS).ok_or(Error::Undecryptable)?)
            .await?;
        let secrets = serde_json::from_slice(&plain).map_err(|_| Error::Undecryptable);
        plain.zeroize();
        let trusted_ips = item.strings("trusted_ips");
        Ok(UserRecord {
            id: key.sk.trim_start_matches(keys::USER_PREFIX).to_owned(),
            email: Email::parse(&email)?,
            name,
            role: Role::parse(item.str("role").unwrap_or_default())?,
            status: UserStatus::parse(item.str("status").unwrap_or_default()),
            created_at: item.num("created_at").unwrap_or_default(),
            last_sign_in_at: item.num("last_sign_in_at"),
            password_changed_at: item.num("password_changed_at"),
            must_change_password: matches!(item.get("must_change_password"), Some(Value::Bool(true))),
            mfa_step: item.num("mfa_step").unwrap_or_default(),
            trusted_ips,
            disabled_by_provisioning: matches!(item.get(DISABLED_BY_PROVISIONING), Some(Value::Bool(true))),
            sso_binding: item
                .str(SSO_ISSUER)
                .zip(item.str(SSO_SUBJECT))
                .map(|(issuer, subject)| (issuer.to_owned(), subject.to_owned())),
            external_id,
            secrets: secrets?,
            version: item.num("version").unwrap_or_default(),
        })
    }
}

/// Reads a user by id; `None` for an id that names no user of this tenant.
pub async fn load(store: &TenantStore, id: &str) -> Result<Option<UserRecord>> {
    let Ok(key) = keys::user(store.tenant(), id) else {
        return Ok(None);
    };
    match store.get(&key).await? {
        Some(item) => Ok(Some(UserRecord::from_item(store, &item).await?)),
        None => Ok(None),
    }
}

/// Every user of the workspace (for the few who list them whole: SCIM's pages, the choice of a
/// break-glass owner).
pub async fn all(store: &TenantStore) -> Result<Vec<UserRecord>> {
    let items = store
        .query_all(Query::new(keys::tenant_partition(store.tenant())).prefix(keys::USER_PREFIX))
        .await?;
    let mut users = Vec::with_capacity(items.len());
    for item in &items {
        users.push(UserRecord::from_item(store, item).await?);
    }
    Ok(users)
}

/// The blind index of an email in this tenant.
pub async fn email_index(store: &TenantStore, email: &Email) -> Result<String> {
    store.crypto().blind_index("email", email.as_str()).await
}

/// Reads a user by email (through the sign-in lookup).
pub async fn load_by_email(store: &TenantStore, email: &Email) -> Result<Option<UserRecord>> {
    let login = keys::login(store.tenant(), &email_index(store, email).await?);
    // The same two reads whether or not the email has a user: sign-in timing tells nothing.
    let id = match store.get(&login).await? {
        Some(item) => item.str("user").unwrap_or_default().to_owned(),
        None => NO_USER.to_owned(),
    };
    load(store, &id).await
}

/// A user id that no user has (ULIDs of time zero are never made).
const NO_USER: &str = "00000000000000000000000000";

/// Writes a changed user, refusing (409) when someone else changed it since it was read.
pub async fn save(store: &TenantStore, user: &mut UserRecord) -> Result<()> {
    let (item, condition) = versioned(store, user).await?;
    store.put_own(item, condition).await.map_err(|e| match e {
        Error::ConditionFailed => changed_meanwhile(),
        e => e,
    })?;
    user.version += 1;
    Ok(())
}

/// Saves a user changed by the caller with the caller's event and `also` (writes of other items,
/// or conditions on them), in one transaction.
pub async fn save_audited(
    store: &TenantStore,
    caller: &Caller,
    user: &mut UserRecord,
    also: Vec<TxOp>,
    action: &str,
) -> Result<()> {
    let mut also = also;
    also.push(audit::entry(store, caller, action, Target::User(user.id.clone())).await?);
    save_with(store, user, also).await
}

/// Saves a user and `also` (its audit event, writes of other items, conditions on them) in one
/// transaction.
pub async fn save_with(store: &TenantStore, user: &mut UserRecord, also: Vec<TxOp>) -> Result<()> {
    let mut ops = also;
    ops.push(save_op(store, user).await?);
    store.transact(ops).await.map_err(|e| match e {
        Error::ConditionFailed | Error::TransactionCanceled(_) => changed_meanwhile(),
        e => e,
    })?;
    user.saved();
    Ok(())
}

/// The write of `save`, for a transaction; `UserRecord::saved` once it committed.
pub async fn save_op(store: &TenantStore, user: &UserRecord) -> Result<TxOp> {
    let (item, condition) = versioned(store, user).await?;
    Ok(TxOp::Put {
        item,
        condition: Some(condition),
    })
}

/// The user's next version, and the condition that no one wrote another meanwhile.
async fn versioned(store: &TenantStore, user: &UserRecord) -> Result<(Item, Condition)> {
    Ok((
        user.to_item(store, user.version + 1).await?,
        Condition::eq("version", user.version),
    ))
}

pub fn changed_meanwhile() -> Error {
    Error::invalid("user", "was changed meanwhile; try again")
}

impl UserRecord {
    /// Records a write made by `save_op` in a committed transaction.
    pub fn saved(&mut self) {
        self.version += 1;
    }

    /// A transaction check that the user is still active and as last read or written here.
    pub fn unchanged(&self, store: &TenantStore) -> Result<TxOp> {
        Ok(TxOp::Check {
            key: keys::user(store.tenant(), &self.id)?,
            condition: Condition::And(vec![
                Condition::eq("version", self.version),
                Condition::eq("status", "active"),
            ]),
        })
    }
}

pub struct NewUser {
    pub email: Email,
    pub name: Option<String>,
    pub role: Role,
    pub status: UserStatus,
    pub password: Option<Password>,
    pub must_change_password: bool,
    /// The identity provider's own id for the user (SCIM `externalId`).
    pub external_id: Option<String>,
}

/// A user ready to be written: its id and the transaction operations that create it and its
/// sign-in lookup, each only if absent (one user per email).
pub struct Prepared {
    pub id: String,
    pub ops: Vec<TxOp>,
}

pub async fn prepare(store: &TenantStore, new: NewUser) -> Result<Prepared> {
    let now = now_unix();
    let password = match &new.password {
        Some(p) => Some(password::hash(p).await?),
        None => None,
    };
    let user = UserRecord {
        id: new_id(),
        email: new.email,
        name: new.name,
        role: new.role,
        status: new.status,
        created_at: now,
        last_sign_in_at: None,
        password_changed_at: password.as_ref().map(|_| now),
        must_change_password: new.must_change_password,
        mfa_step: 0,
        trusted_ips: vec![],
        disabled_by_provisioning: false,
        sso_binding: None,
        external_id: crate::domain::external_id(new.external_id)?,
        secrets: Secrets {
            password,
            history: vec![],
            totp: None,
            pending_totp: None,
            recovery: vec![],
        },
        version: 0,
    };
    let login =
        Item::new(keys::login(store.tenant(), &email_index(store, &user.email).await?)).with("user", user.id.as_str());
    Ok(Prepared {
        ops: vec![
            TxOp::Put {
                item: user.to_item(store, 1).await?,
                condition: Some(Condition::NotExists),
            },
            TxOp::Put {
                item: login,
                condition: Some(Condition::NotExists),
            },
        ],
        id: user.id,
    })
}

/// A one-time password for a new owner: 144 random bits, 24 characters.
pub fn one_time_password() -> Result<String> {
    Ok(credential::random_text()?[..24].to_owned())
}

/// A person's name: 1 to 100 characters, trimmed.
pub fn display_name(text: &str) -> Result<String> {
    crate::domain::label("name", text)
}

fn name(text: Option<String>) -> Result<Option<String>> {
    text.as_deref().map(display_name).transpose()
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Invite {
    pub email: String,
    pub role: Role,
    pub name: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Invited {
    pub user: UserView,
    /// Shown only here: the invited person accepts with it (`POST /v1/auth/accept_invite`).
    pub invite_token: String,
    pub expires_at: i64,
}

/// Whether the caller may give `role` or change a user who has it: only owners touch owners.
fn may_manage(caller: &Caller, role: Role) -> Result<()> {
    if role == Role::Owner && caller.principal.role != Role::Owner {
        return Err(Error::Forbidden {
            code: "permission_denied",
            reason: "only an owner may grant, change or remove the owner role",
        });
    }
    Ok(())
}

/// Invites a user: the user is made (invited), and the invitation mailed with its link to the
/// app's page that accepts it (`{base}/accept?token=…`); the token is also answered.
pub async fn invite(ctx: &Context, caller: &Caller, request: Invite, base: &str) -> Result<Invited> {
    may_manage(caller, request.role)?;
    let store = caller.store(ctx);
    let prepared = prepare(
        &store,
        NewUser {
            email: Email::parse(&request.email)?,
            name: name(request.name)?,
            role: request.role,
            status: UserStatus::Invited,
            password: None,
            must_change_password: false,
            external_id: None,
        },
    )
    .await?;
    let (token, digest) = credential::issue(Kind::Invite, store.tenant(), &prepared.id)?;
    let expires_at = now_unix() + INVITE_SECONDS;
    let mut ops = prepared.ops;
    ops.push(TxOp::Put {
        item: Item::new(keys::invite(store.tenant(), &prepared.id, &digest)?).with_expiry(expires_at),
        condition: None,
    });
    ops.push(audit::entry(&store, caller, "user.invited", Target::User(prepared.id.clone())).await?);
    let email = Email::parse(&request.email)?;
    match store.transact(ops).await {
        Err(Error::TransactionCanceled(_)) => return Err(Error::invalid("email", "a user with this email exists")),
        other => other?,
    }
    mail_invitation(ctx, caller, &email, &token, base).await?;
    let user = load(&store, &prepared.id).await?.ok_or(Error::NotFound("user"))?;
    Ok(Invited {
        user: user.view(),
        invite_token: token,
        expires_at,
    })
}

async fn mail_invitation(ctx: &Context, caller: &Caller, to: &Email, token: &str, base: &str) -> Result<()> {
    let tenant = crate::services::accounts::tenants::active(ctx, &caller.principal.tenant)
        .await?
        .ok_or(Error::NotFound("tenant"))?;
    let link = format!("{base}/accept?token={token}");
    crate::services::accounts::staff_mail::invitation(ctx, &tenant, to, &link, INVITE_SECONDS / 86_400).await
}

/// An invited user whose email their workspace's identity provider vouched for: active, their
/// invitations spent.
pub async fn activate_invited(store: &TenantStore, mut user: UserRecord) -> Result<UserRecord> {
    user.status = UserStatus::Active;
    save(store, &mut user).await?;
    delete_in_user_partition(store, &user.id, |sk| sk.starts_with("INVITE#")).await?;
    Ok(user)
}

/// Sends an invited user a new invitation: the earlier links stop working.
pub async fn resend_invitation(ctx: &Context, caller: &Caller, id: &UserId, base: &str) -> Result<Invited> {
    let store = caller.store(ctx);
    let user = load(&store, id.as_str())
        .await?
        .filter(|u| u.status == UserStatus::Invited)
        .ok_or(Error::NotFound("invited user"))?;
    may_manage(caller, user.role)?;
    delete_in_user_partition(&store, &user.id, |sk| sk.starts_with("INVITE#")).await?;
    let (token, digest) = credential::issue(Kind::Invite, store.tenant(), &user.id)?;
    let expires_at = now_unix() + INVITE_SECONDS;
    let change = vec![TxOp::Put {
        item: Item::new(keys::invite(store.tenant(), &user.id, &digest)?).with_expiry(expires_at),
        condition: None,
    }];
    audit::commit(
        &store,
        caller,
        change,
        "user.invitation_resent",
        Target::User(user.id.clone()),
    )
    .await?;
    mail_invitation(ctx, caller, &user.email, &token, base).await?;
    Ok(Invited {
        user: user.view(),
        invite_token: token,
        expires_at,
    })
}

/// One page of the tenant's users, in order of creation.
pub async fn list(store: &TenantStore, per_page: u32, cursor: Option<&str>) -> Result<(Vec<UserView>, Option<String>)> {
    let page = store
        .query(
            Query::new(keys::tenant_partition(store.tenant()))
                .prefix(keys::USER_PREFIX)
                .limit(per_page.clamp(1, MAX_PER_PAGE)),
            cursor,
        )
        .await?;
    let mut users = Vec::with_capacity(page.items.len());
    for item in &page.items {
        users.push(UserRecord::from_item(store, item).await?.view());
    }
    Ok((users, page.cursor))
}

pub async fn get(store: &TenantStore, id: &UserId) -> Result<UserView> {
    let id = id.as_str();
    Ok(load(store, id).await?.ok_or(Error::NotFound("user"))?.view())
}

#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub role: Option<Role>,
    /// `true` disables the user (every session is revoked), `false` enables them again.
    pub disabled: Option<bool>,
    pub name: Option<String>,
    /// `true` removes the user's second factor (a lost device) and ends their sessions; they
    /// enrol again (at their next sign-in when the workspace requires a second factor).
    pub reset_mfa: Option<bool>,
    /// `true` forgets the identity provider's account the user is bound to (their account there
    /// was made again): their next single sign-on binds them anew.
    pub reset_sso: Option<bool>,
    /// The identity provider's own id (SCIM `externalId`; `Some(None)` removes it): set by
    /// provisioning only, never through the API.
    #[serde(skip)]
    pub external_id: Option<Option<String>>,
}

/// Refuses changing `user` away from being the workspace's break-glass owner.
async fn keep_break_glass(ctx: &Context, caller: &Caller, user: &str) -> Result<()> {
    let tenant = crate::services::accounts::tenants::active(ctx, &caller.principal.tenant)
        .await?
        .ok_or(Error::NotFound("tenant"))?;
    tenant.keep_break_glass(user)
}

/// Another active owner than `changing`, or an error: a tenant keeps at least one. The answer
/// is a check for the transaction of the change, so two owners demoting each other at once
/// cannot both succeed.
async fn another_owner(store: &TenantStore, changing: &str) -> Result<TxOp> {
    let users = store
        .query_all(
            Query::new(keys::tenant_partition(store.tenant()))
                .prefix(keys::USER_PREFIX)
                .limit(crate::store::MAX_QUERY_LIMIT),
        )
        .await?;
    let other = users.into_iter().find(|i| {
        i.str("role") == Some("owner")
            && i.str("status") == Some("active")
            && i.key.sk.trim_start_matches(keys::USER_PREFIX) != changing
    });
    match other {
        Some(owner) => Ok(TxOp::Check {
            key: owner.key,
            condition: Condition::And(vec![Condition::eq("role", "owner"), Condition::eq("status", "active")]),
        }),
        None => Err(Error::invalid("role", "the tenant must keep at least one active owner")),
    }
}

pub async fn update(ctx: &Context, caller: &Caller, id: &UserId, patch: UserPatch) -> Result<UserView> {
    let id = id.as_str();
    let store = caller.store(ctx);
    let mut user = load(&store, id).await?.ok_or(Error::NotFound("user"))?;
    may_manage(caller, user.role)?;
    let demoted = patch.role.is_some_and(|r| r != user.role);
    if demoted || patch.disabled == Some(true) || patch.reset_mfa == Some(true) {
        keep_break_glass(ctx, caller, &user.id).await?;
    }
    let mut revoke = false;
    let mut now_disabled = false;
    let mut owner_kept = None;
    let by_provisioning = matches!(caller.principal.actor, crate::auth::Actor::Provisioning { .. });
    if let Some(role) = patch.role.filter(|r| *r != user.role) {
        may_manage(caller, role)?;
        if user.role == Role::Owner {
            owner_kept = Some(another_owner(&store, &user.id).await?);
        }
        user.role = role;
        revoke = true;
    }
    if let Some(disabled) = patch.disabled {
        match (disabled, user.status) {
            (true, UserStatus::Active | UserStatus::Invited) => {
                if user.role == Role::Owner && owner_kept.is_none() {
                    owner_kept = Some(another_owner(&store, &user.id).await?);
                }
                user.status = UserStatus::Disabled;
                user.disabled_by_provisioning = by_provisioning;
                revoke = true;
                now_disabled = true;
            }
            (false, UserStatus::Disabled) if by_provisioning && !user.disabled_by_provisioning => {
                return Err(Error::Forbidden {
                    code: "disabled_by_a_person",
                    reason: "a person disabled this user: only an admin or owner of the workspace may enable them again",
                });
            }
            (false, UserStatus::Disabled) => {
                user.disabled_by_provisioning = false;
                user.status = if user.secrets.password.is_some() {
                    UserStatus::Active
                } else {
                    UserStatus::Invited
                };
            }
            _ => {}
        }
    }
    if patch.name.is_some() {
        user.name = name(patch.name)?;
    }
    if let Some(external) = patch.external_id {
        user.external_id = crate::domain::external_id(external)?;
    }
    let reset_mfa = patch.reset_mfa == Some(true) && user.mfa_enabled();
    if reset_mfa {
        user.secrets.totp = None;
        user.secrets.recovery.clear();
        // The lost device may hold a session too.
        revoke = true;
    }
    // Sessions end first: should the change fail after, the user is signed out, never left in.
    // A disabled user's mailed links (invitation, new password) end too.
    if now_disabled {
        delete_in_user_partition(&store, &user.id, |sk| {
            [keys::SESSION_PREFIX, "MFA#", keys::RESET_PREFIX, "INVITE#"]
                .iter()
                .any(|p| sk.starts_with(p))
        })
        .await?;
    } else if revoke {
        revoke_sessions(&store, &user.id).await?;
    }
    if patch.reset_sso == Some(true) {
        user.sso_binding = None;
    }
    let action = if reset_mfa { "user.mfa_reset" } else { "user.updated" };
    save_audited(&store, caller, &mut user, owner_kept.into_iter().collect(), action).await?;
    Ok(user.view())
}

pub async fn delete(ctx: &Context, caller: &Caller, id: &UserId) -> Result<()> {
    let id = id.as_str();
    let store = caller.store(ctx);
    let user = load(&store, id).await?.ok_or(Error::NotFound("user"))?;
    may_manage(caller, user.role)?;
    keep_break_glass(ctx, caller, &user.id).await?;
    let login = keys::login(store.tenant(), &email_index(&store, &user.email).await?);
    let mut ops = vec![
        TxOp::Delete {
            key: keys::user(store.tenant(), &user.id)?,
            condition: Some(Condition::eq("version", user.version)),
        },
        TxOp::Delete {
            key: login,
            condition: None,
        },
    ];
    if user.role == Role::Owner {
        ops.push(another_owner(&store, &user.id).await?);
    }
    ops.push(audit::entry(&store, caller, "user.deleted", Target::User(user.id.clone())).await?);
    revoke_everything(&store, &user.id).await?;
    store.transact(ops).await.map_err(|e| match e {
        Error::TransactionCanceled(_) => changed_meanwhile(),
        e => e,
    })?;
    // Their notifications stop with them: a mail to a deleted user sends nothing anyway.
    if let Err(e) = crate::services::notifications::subscriptions::forget_user(&store, &user.id).await {
        tracing::warn!(error = %e, "a deleted user's notification choices were not removed");
    }
    Ok(())
}

/// Revokes every session of a user (and pending sign-in challenges); returns how many.
pub async fn revoke_sessions(store: &TenantStore, user: &str) -> Result<usize> {
    delete_in_user_partition(store, user, |sk| {
        sk.starts_with(keys::SESSION_PREFIX) || sk.starts_with("MFA#")
    })
    .await
}

/// Removes everything in the user's partition (sessions, challenges, invitation).
async fn revoke_everything(store: &TenantStore, user: &str) -> Result<usize> {
    delete_in_user_partition(store, user, |_| true).await
}

async fn delete_in_user_partition(store: &TenantStore, user: &str, wanted: impl Fn(&str) -> bool) -> Result<usize> {
    let partition = keys::user_partition(store.tenant(), user)?;
    let doomed: Vec<BatchOp> = store
        .query_all(Query::new(partition).limit(crate::store::MAX_QUERY_LIMIT))
        .await?
        .into_iter()
        .filter(|i| wanted(&i.key.sk))
        .map(|i| BatchOp::Delete(i.key))
        .collect();
    let n = doomed.len();
    store.batch_write(doomed).await?;
    Ok(n)
}
