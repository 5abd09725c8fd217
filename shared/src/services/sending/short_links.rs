//! Short invitation links for SMS (`/l/{code}`, 16 characters): the code is the invitation
//! link's signature under its tenant's key, stored beside the invitation and found through a
//! shared index partition of its own. Opening one checks the code against what it names, then
//! leads to the invitation's full link, which checks the rest (open, not expired, not canceled).

use crate::Context;
use crate::crypto::links::Link;
use crate::error::Result;
use crate::ids::TenantId;
use crate::services::accounts::tenants;
use crate::services::sending::links::Refusal;
use crate::store::{Item, Query, TenantStore, keys};

/// How long a short link is kept after its invitation's link expires, so that it still says
/// "expired" rather than "not valid".
const KEPT_AFTER_EXPIRY: i64 = 30 * 86_400;

/// Stores `invitation`'s short link (the same code each time: a retry or a reminder writes the
/// same item) and returns its code.
pub async fn keep(store: &TenantStore, survey: &str, invitation: &str, link_expires_at: i64) -> Result<String> {
    let link = Link::invitation(store.tenant(), survey, invitation);
    let code = link.short_code(store.crypto()).await?;
    let (pk, sk) = keys::short_link_index(&code);
    let item = Item::new(keys::short_link(store.tenant(), survey, invitation)?)
        .with("tenant", store.tenant().as_str())
        .with("survey", survey)
        .with("invitation", invitation)
        .with_expiry(link_expires_at + KEPT_AFTER_EXPIRY)
        .with_index(pk, sk);
    store.put(item, None).await?;
    Ok(code)
}

/// The full token of the invitation a short code names, once the code is checked under the
/// tenant's key; any failure is an invalid link.
pub async fn open(ctx: &Context, code: &str) -> std::result::Result<String, Refusal> {
    if !Link::short_code_shaped(code) {
        return Err(Refusal::Invalid);
    }
    let (pk, _) = keys::short_link_index(code);
    let found = ctx.store.query_index(&Query::new(pk).limit(1)).await;
    let Some(item) = found.ok().and_then(|page| page.items.into_iter().next()) else {
        return Err(Refusal::Invalid);
    };
    let named = |name| item.str(name).unwrap_or_default();
    let tenant: TenantId = named("tenant").parse().map_err(|_| Refusal::Invalid)?;
    if !matches!(tenants::active(ctx, &tenant).await, Ok(Some(_))) {
        return Err(Refusal::Invalid);
    }
    let crypto = ctx.crypto(&tenant);
    let link = Link::invitation(&tenant, named("survey"), named("invitation"));
    match link.has_short_code(&crypto, code).await {
        Ok(true) => link.token(&crypto).await.map_err(|_| Refusal::Invalid),
        _ => {
            tracing::warn!(target: "security", "a short link failed its signature check");
            Err(Refusal::Invalid)
        }
    }
}
