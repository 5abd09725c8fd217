//! The second factor: enrolling TOTP (a provisioning URI, confirmed with a first code, answered
//! with one-use recovery codes) and turning it off.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Context;
use crate::auth::credential::{self};
use crate::auth::password::{self};
use crate::auth::{Restriction, totp};
use crate::error::{Error, Result};
use crate::services::Caller;
use crate::services::accounts::tenants;
use crate::services::accounts::users::{self};
use crate::store::{Condition, TxOp, Update, keys, now_unix};

/// A session ends after an hour without use, and after twelve hours in any case.
use crate::services::accounts::sessions::{caller_user, signed_in_user};
use crate::services::accounts::sign_in::{
    CodeCounters, RECOVERY_CODES, SESSION_MFA, counted, normalise_recovery, second_factor, self_scope,
};

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TotpEnrolment {
    /// The secret in base32, for apps without a camera.
    pub secret: String,
    /// The `otpauth://` URI to show as a QR code.
    pub provisioning_uri: String,
}

/// Starts TOTP enrolment: a new secret, confirmed by `confirm_totp`.
pub async fn begin_totp(ctx: &Context, caller: &Caller) -> Result<TotpEnrolment> {
    let (store, mut user) = caller_user(ctx, caller).await?;
    if user.mfa_enabled() {
        return Err(Error::invalid(
            "mfa",
            "is already enabled; disable it first to enrol again",
        ));
    }
    let tenant = tenants::active(ctx, store.tenant())
        .await?
        .ok_or(Error::NotFound("tenant"))?;
    let secret = totp::new_secret()?;
    let enrolment = TotpEnrolment {
        secret: totp::base32(&secret),
        provisioning_uri: totp::provisioning_uri(&secret, &format!("Ovation {}", tenant.slug), user.email.as_str())?,
    };
    user.secrets.pending_totp = Some(secret);
    users::save(&store, &mut user).await?;
    Ok(enrolment)
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpCode {
    pub code: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RecoveryCodes {
    /// Shown only here; each signs in once in place of a code.
    pub recovery_codes: Vec<String>,
}

/// Confirms enrolment with a code from the app; returns the recovery codes and lifts an
/// enrolment restriction from the caller's session.
pub async fn confirm_totp(ctx: &Context, caller: &Caller, request: TotpCode) -> Result<RecoveryCodes> {
    let (store, mut user) = caller_user(ctx, caller).await?;
    let secret = user
        .secrets
        .pending_totp
        .take()
        .ok_or_else(|| Error::invalid("code", "start enrolment first (POST /v1/me/mfa/totp)"))?;
    let Some(step) = totp::matching_step(&secret, &request.code, now_unix().max(0) as u64) else {
        return Err(Error::invalid("code", "is wrong; check the clock of the device"));
    };
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    user.secrets.recovery.clear();
    for _ in 0..RECOVERY_CODES {
        let raw = credential::hex(&credential::sha256(&credential::random_text()?)[..8]);
        let code = format!("{}-{}-{}-{}", &raw[0..4], &raw[4..8], &raw[8..12], &raw[12..16]);
        user.secrets
            .recovery
            .push(credential::hex(&credential::sha256(&normalise_recovery(&code))));
        codes.push(code);
    }
    user.secrets.totp = Some(secret);
    user.mfa_step = step as i64;
    // This session now has a second factor; an enrolment it was held to is done.
    let (id, session) = signed_in_user(caller)?;
    let mut updates = vec![Update::Set(SESSION_MFA.into(), true.into())];
    if caller.principal.restriction == Some(Restriction::MfaEnrolment) {
        updates.push(Update::Remove("restriction".into()));
    }
    let this_session = TxOp::Update {
        key: keys::session(store.tenant(), id, session)?,
        updates,
        condition: Some(Condition::Exists),
    };
    users::save_audited(&store, caller, &mut user, vec![this_session], "user.mfa_enabled").await?;
    Ok(RecoveryCodes { recovery_codes: codes })
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisableTotp {
    pub password: String,
    /// A code of the authenticator app...
    pub code: Option<String>,
    /// ...or, when the device is lost, one of the recovery codes.
    pub recovery_code: Option<String>,
}

pub async fn disable_totp(ctx: &Context, caller: &Caller, request: DisableTotp) -> Result<()> {
    let (store, mut user) = caller_user(ctx, caller).await?;
    let tenant = tenants::active(ctx, store.tenant())
        .await?
        .ok_or(Error::NotFound("tenant"))?;
    if tenant.settings.require_mfa {
        return Err(Error::Forbidden {
            code: "mfa_required_by_tenant",
            reason: "this tenant requires a second factor",
        });
    }
    tenant.keep_break_glass(&user.id)?;
    let phc = user.secrets.password.clone().unwrap_or_default();
    let scope = format!("self-{}", user.id);
    if !counted(&store, &self_scope(&scope), async || {
        password::verify(&request.password, &phc).await
    })
    .await?
    {
        return Err(Error::invalid("password", "is wrong"));
    }
    // The code is counted like a sign-in's: a stolen session cannot guess its way to turning it off.
    let counters = CodeCounters::of(&store, &user, caller.ip).await?;
    let scopes = counters.scopes();
    let (code, recovery) = (request.code.as_deref(), request.recovery_code.as_deref());
    if !counted(&store, &scopes, async || {
        Ok(second_factor(&mut user, code, recovery, now_unix()))
    })
    .await?
    {
        return Err(Error::invalid("code", "is wrong or was already used"));
    }
    user.secrets.totp = None;
    user.secrets.recovery.clear();
    users::save_audited(&store, caller, &mut user, vec![], "user.mfa_disabled").await
}
