//! Opening a respondent's link (invitation, shareable survey, unsubscribe): its signature under
//! its tenant's key, the tenant active, then what it names checked (the invitation not canceled,
//! the survey open, the link not expired). A link that fails says only invalid, expired or closed.

use std::sync::Arc;

use crate::Context;
use crate::crypto::links::{Link, LinkKind};
use crate::domain::Language;
use crate::domain::tenant::Tenant;
use crate::services::accounts::tenants;
use crate::services::people::person::{self, Person};
use crate::services::sending::invitations::{self, Invitation};
use crate::services::sending::status::StepStatus;
use crate::services::surveys::{self, Survey};
use crate::store::{TenantStore, now_unix};

/// Why a link shows no survey, and in which language to say so when the link names it.
pub enum Refusal {
    Invalid,
    /// In the invitation's language.
    Expired(Language),
    /// In the invitation's language; for a web link (no person) the browser's.
    Closed(Option<Language>),
}

/// A verified link: its tenant's store and the tenant.
pub struct Opened {
    pub store: TenantStore,
    pub tenant: Arc<Tenant>,
    pub link: Link,
}

/// Opens a link of `kind`: its signature (under its tenant's key) and its tenant, active.
pub async fn open(ctx: &Context, token: &str, kind: LinkKind) -> Result<Opened, Refusal> {
    let Some((link, bytes)) = Link::claimed(token).filter(|(l, _)| l.kind == kind) else {
        return Err(Refusal::Invalid);
    };
    let tenant = match tenants::active(ctx, &link.tenant).await {
        Ok(Some(t)) => t,
        _ => return Err(Refusal::Invalid),
    };
    let store = ctx.tenant_store(&link.tenant);
    match Link::signed(store.crypto(), &bytes).await {
        Ok(true) => Ok(Opened { store, tenant, link }),
        _ => {
            tracing::warn!(target: "security", "a respondent link failed its signature check");
            Err(Refusal::Invalid)
        }
    }
}

/// An invitation behind a link, with its survey and person, checked open.
pub struct Invited {
    pub opened: Opened,
    pub survey: Survey,
    pub invitation: Invitation,
    pub person: Option<Person>,
}

/// An invitation's link: the invitation (not canceled), its survey (open) and person, the link
/// not expired.
pub async fn invitation(ctx: &Context, token: &str) -> Result<Invited, Refusal> {
    let opened = open(ctx, token, LinkKind::Invitation).await?;
    let store = &opened.store;
    let link = &opened.link;
    let survey = surveys::get(store, &link.survey)
        .await
        .ok()
        .flatten()
        .ok_or(Refusal::Invalid)?;
    let invitation = invitations::load(store, &link.survey, &link.subject)
        .await
        .ok()
        .flatten()
        .filter(|i| i.status != StepStatus::Canceled.as_str())
        .ok_or(Refusal::Invalid)?;
    let now = now_unix();
    if !survey.definition.is_open(now) {
        return Err(Refusal::Closed(Some(invitation.language)));
    }
    if now > invitation.link_expires_at(&survey) {
        return Err(Refusal::Expired(invitation.language));
    }
    let person = match &invitation.person {
        Some(id) => Some(person::load(store, id).await.ok().flatten().ok_or(Refusal::Invalid)?),
        None => None,
    };
    Ok(Invited {
        opened,
        survey,
        invitation,
        person,
    })
}

/// A survey's shareable link, checked open.
pub async fn web_survey(ctx: &Context, token: &str) -> Result<(Opened, Survey), Refusal> {
    let opened = open(ctx, token, LinkKind::Survey).await?;
    let survey = surveys::get(&opened.store, &opened.link.survey)
        .await
        .ok()
        .flatten()
        .ok_or(Refusal::Invalid)?;
    if !survey.definition.is_open(now_unix()) {
        return Err(Refusal::Closed(None));
    }
    Ok((opened, survey))
}
