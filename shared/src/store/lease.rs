//! Leases taken by a conditional update: held until a time by a fresh holder id, so that the
//! SDK's repeat of a claim whose answer timed out (the first attempt took it) holds it too; and
//! the claim of a queued job item (an export, a page's import) that the job functions share.

use super::{Cmp, Condition, Key, TenantStore, Update};
use crate::error::{Error, Result};
use crate::ids::new_id;

/// The attribute holding a lease's end (Unix seconds).
pub const UNTIL: &str = "lease_until";
/// The attribute naming a lease's holder.
pub const HOLDER: &str = "lease_holder";

/// One attempt's lease on an item.
#[derive(Clone, Debug)]
pub struct Lease {
    holder: String,
    until: i64,
}

impl Lease {
    /// A lease for `seconds` from `now`, not yet taken.
    pub fn new(now: i64, seconds: i64) -> Lease {
        Lease {
            holder: new_id(),
            until: now + seconds,
        }
    }

    /// The updates that take it.
    pub fn take(&self) -> [Update; 2] {
        [
            Update::Set(UNTIL.into(), self.until.into()),
            Update::Set(HOLDER.into(), self.holder.as_str().into()),
        ]
    }

    /// Holds when no other attempt holds the item at `now`: no lease, one that ran out, or this
    /// one (a repeat of its own claim).
    pub fn free(&self, now: i64) -> Condition {
        Condition::Or(vec![
            Condition::AttrNotExists(UNTIL.into()),
            Condition::Compare(UNTIL.into(), Cmp::Lt, now.into()),
            Condition::eq(HOLDER, self.holder.as_str()),
        ])
    }

    /// The updates that end whatever lease an item has.
    pub fn end() -> [Update; 2] {
        [Update::Remove(UNTIL.into()), Update::Remove(HOLDER.into())]
    }
}

/// The status attribute of a job item (an export, a page's import) and the two states a run
/// claims it from.
const STATUS: &str = "status";
const QUEUED: &str = "queued";
const RUNNING: &str = "running";

/// Claims a queued job item (`status` `queued`, or `running` whose lease ran out: a crashed
/// attempt) for this attempt, for `seconds`: the item as claimed; none when it is done, failed
/// or gone (nothing to do); an `Unavailable` error while another attempt runs it, so that its
/// message comes back and runs it should that attempt die.
pub async fn claim_job(
    store: &TenantStore,
    key: &Key,
    now: i64,
    seconds: i64,
    what: &'static str,
) -> Result<Option<super::Item>> {
    let lease = Lease::new(now, seconds);
    let [until, holder] = lease.take();
    let claim = [Update::Set(STATUS.into(), RUNNING.into()), until, holder];
    let claimable = Condition::Or(vec![
        Condition::eq(STATUS, QUEUED),
        Condition::And(vec![Condition::eq(STATUS, RUNNING), lease.free(now)]),
    ]);
    match store.update(key, &claim, Some(claimable)).await {
        Ok(item) => Ok(Some(item)),
        Err(Error::ConditionFailed) => {
            let running = store
                .get(key)
                .await?
                .is_some_and(|job| job.str(STATUS) == Some(RUNNING));
            match running {
                true => Err(Error::Unavailable {
                    service: what,
                    reason: "running in another attempt".into(),
                }),
                false => Ok(None),
            }
        }
        Err(e) => Err(e),
    }
}
