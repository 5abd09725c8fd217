//! A workspace's configuration as recently read in this process: what every visitor's request
//! and every webhook delivery reads (site keys, surveys, webhook endpoints), which one busy
//! website would otherwise read thousands of times a second from one partition. Kept for the
//! tenant cache's time (`OVATION_TENANT_CACHE_SECONDS`); a process forgets a partition's at once
//! when it changes something in it, and other processes see the change within that time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::Item;

/// The most reads remembered; beyond, the expired ones are dropped, then all.
const MAX_REMEMBERED: usize = 10_000;

/// What was read in one partition (an item's sort key, or a query's sort condition), when, and
/// what it gave.
type Reads = HashMap<String, (Instant, Vec<Item>)>;

pub struct RecentItems {
    ttl: Duration,
    /// By partition.
    entries: Mutex<HashMap<String, Reads>>,
}

impl RecentItems {
    pub fn new(ttl: Duration) -> Self {
        RecentItems {
            ttl,
            entries: Mutex::default(),
        }
    }

    /// What reading `what` in partition `pk` gave, when it is recent.
    pub(super) fn lookup(&self, pk: &str, what: &str) -> Option<Vec<Item>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (at, items) = entries.get(pk)?.get(what)?;
        (at.elapsed() < self.ttl).then(|| items.clone())
    }

    pub(super) fn remember(&self, pk: &str, what: &str, items: Vec<Item>) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.values().map(Reads::len).sum::<usize>() >= MAX_REMEMBERED {
            let ttl = self.ttl;
            entries.retain(|_, reads| {
                reads.retain(|_, (at, _)| at.elapsed() < ttl);
                !reads.is_empty()
            });
            if entries.values().map(Reads::len).sum::<usize>() >= MAX_REMEMBERED {
                entries.clear();
            }
        }
        entries
            .entry(pk.to_owned())
            .or_default()
            .insert(what.to_owned(), (Instant::now(), items));
    }

    /// Forgets everything read in partition `pk`.
    pub(super) fn forget(&self, pk: &str) {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).remove(pk);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Key;

    #[test]
    fn reads_are_kept_for_their_time_and_forgotten_by_partition() {
        let recent = RecentItems::new(Duration::from_millis(200));
        let item = Item::new(Key::new("T#a", "SITE#1"));
        recent.remember("T#a", "SITE#1", vec![item.clone()]);
        recent.remember("T#a#WH", "\0All", vec![]);
        assert_eq!(recent.lookup("T#a", "SITE#1"), Some(vec![item.clone()]));
        assert_eq!(
            recent.lookup("T#a#WH", "\0All"),
            Some(vec![]),
            "an empty read is kept too"
        );
        assert_eq!(recent.lookup("T#a", "SITE#2"), None);
        recent.forget("T#a");
        assert_eq!(
            recent.lookup("T#a", "SITE#1"),
            None,
            "a write of the partition forgets it"
        );
        assert!(recent.lookup("T#a#WH", "\0All").is_some(), "other partitions stay");
        recent.remember("T#a", "SITE#1", vec![item]);
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(recent.lookup("T#a", "SITE#1"), None, "older than its time");
    }
}
