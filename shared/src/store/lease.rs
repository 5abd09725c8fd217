//! Leases taken by a conditional update: held until a time by a fresh holder id, so that the
//! SDK's repeat of a claim whose answer timed out (the first attempt took it) holds it too.

use super::{Cmp, Condition, Update};
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
