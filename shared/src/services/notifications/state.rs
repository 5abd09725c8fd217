//! A workspace's notifier state (its `NOTIFIER` item) and its place on the notifier's list, and
//! the digests' weeks: what choosing a notification starts and what the notifier moves on.

use crate::context::Context;
use crate::error::{Error, Result};
use crate::store::{Condition, Item, TenantStore, keys, now_unix};

/// A week, in seconds.
pub(super) const WEEK: i64 = 7 * 86_400;
/// The `NOTIFIER` item's attributes: answers recorded before `cursor` are told; a window being
/// queued ends at `pending_until`; the last answers' mail went at `mailed_at`; the digest of
/// `digest_week` is queued.
pub(super) const CURSOR: &str = "cursor";
pub(super) const PENDING_UNTIL: &str = "pending_until";
pub(super) const MAILED_AT: &str = "mailed_at";
pub(super) const DIGEST_WEEK: &str = "digest_week";
/// Unix time 0 was a Thursday: the first Monday, 08:00 UTC, is 4 days and 8 hours later.
const FIRST_DIGEST: i64 = 4 * 86_400 + 8 * 3600;

/// The week whose digest is due by `now`: the number of the last Monday 08:00 UTC passed.
pub fn digest_week(now: i64) -> i64 {
    (now - FIRST_DIGEST).div_euclid(WEEK)
}

/// When the digest of `week` is due; it covers the seven days before.
pub fn digest_due(week: i64) -> i64 {
    FIRST_DIGEST + week * WEEK
}

/// Puts the workspace on the notifier's list, from now on (its first choice of a notification).
pub async fn register(ctx: &Context, store: &TenantStore) -> Result<()> {
    let tenant = store.tenant();
    let now = now_unix();
    let state = Item::new(keys::notifier_state(tenant))
        .with(CURSOR, now)
        .with(MAILED_AT, 0i64)
        .with(DIGEST_WEEK, digest_week(now));
    match store.put(state, Some(Condition::NotExists)).await {
        Ok(()) | Err(Error::ConditionFailed) => {}
        Err(e) => return Err(e),
    }
    let listed = Item::new(keys::notifier_registry(tenant)).with("tenant", tenant.as_str());
    ctx.store.put(listed, None).await
}
