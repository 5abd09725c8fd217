//! A workspace's configuration as recently read in this process: what every visitor's request
//! and every webhook delivery reads (site keys, surveys, webhook endpoints), which one busy
//! website would otherwise read thousands of times a second from one partition. Kept for the
//! tenant cache's time (`OVATION_TENANT_CACHE_SECONDS`); a process forgets a partition's at once
//! when it changes something in it, and other processes see the change within that time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Item, Key};

/// The most partitions remembered; beyond, those with nothing recent are dropped, then all.
const MAX_REMEMBERED: usize = 10_000;

/// What was read in one partition: by an item's sort key, or (`\0…`) a query's sort condition.
#[derive(Default)]
struct Partition {
    /// Moves on with every write of the partition: a read that began before it is not kept.
    generation: u64,
    reads: HashMap<String, (Instant, Vec<Item>)>,
}

pub struct RecentItems {
    ttl: Duration,
    /// By partition.
    entries: Mutex<HashMap<String, Partition>>,
}

/// A read to make: what to remember it with when it is made.
pub(super) struct Miss(u64);

impl RecentItems {
    pub fn new(ttl: Duration) -> Self {
        RecentItems {
            ttl,
            entries: Mutex::default(),
        }
    }

    /// What reading `what` in partition `pk` gave, when it is recent; else the read to make.
    pub(super) fn lookup(&self, pk: &str, what: &str) -> std::result::Result<Vec<Item>, Miss> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, items)) = entries.get(pk).and_then(|p| p.reads.get(what))
            && at.elapsed() < self.ttl
        {
            return Ok(items.clone());
        }
        if entries.len() >= MAX_REMEMBERED {
            let ttl = self.ttl;
            entries.retain(|_, partition| {
                partition.reads.retain(|_, (at, _)| at.elapsed() < ttl);
                !partition.reads.is_empty()
            });
            if entries.len() >= MAX_REMEMBERED {
                entries.clear();
            }
        }
        Err(Miss(entries.entry(pk.to_owned()).or_default().generation))
    }

    /// Keeps what a read `miss` made gave, unless the partition was written since it began.
    pub(super) fn remember(&self, pk: &str, what: &str, miss: Miss, items: Vec<Item>) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(partition) = entries.get_mut(pk).filter(|p| p.generation == miss.0) {
            partition.reads.insert(what.to_owned(), (Instant::now(), items));
        }
    }

    /// Forgets the reads of the items `written` and every listing of their partitions.
    pub(super) fn forget<'a>(&self, written: impl IntoIterator<Item = &'a Key>) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        for key in written {
            if let Some(partition) = entries.get_mut(&key.pk) {
                partition.generation += 1;
                partition
                    .reads
                    .retain(|what, _| *what != key.sk && !what.starts_with('\0'));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(recent: &RecentItems, pk: &str, what: &str, items: Vec<Item>) {
        let miss = recent.lookup(pk, what).expect_err("not read yet");
        recent.remember(pk, what, miss, items);
    }

    #[test]
    fn reads_are_kept_for_their_time_and_forgotten_when_written() {
        let recent = RecentItems::new(Duration::from_millis(200));
        let item = Item::new(Key::new("T#a", "SITE#1"));
        read(&recent, "T#a", "SITE#1", vec![item.clone()]);
        read(&recent, "T#a", "SURVEY#1", vec![]);
        read(&recent, "T#a", "\0All", vec![item.clone()]);
        assert_eq!(recent.lookup("T#a", "SITE#1").ok(), Some(vec![item.clone()]));
        assert_eq!(
            recent.lookup("T#a", "SURVEY#1").ok(),
            Some(vec![]),
            "a miss is kept too"
        );
        recent.forget([&Key::new("T#a", "SITE#1")]);
        assert!(
            recent.lookup("T#a", "SITE#1").is_err(),
            "a write of the item forgets it"
        );
        assert!(
            recent.lookup("T#a", "\0All").is_err(),
            "and every listing of its partition"
        );
        assert!(recent.lookup("T#a", "SURVEY#1").is_ok(), "other items stay");
        std::thread::sleep(Duration::from_millis(250));
        assert!(recent.lookup("T#a", "SURVEY#1").is_err(), "older than its time");
    }

    #[test]
    fn a_read_that_a_write_overtook_is_not_kept() {
        let recent = RecentItems::new(Duration::from_secs(60));
        let miss = recent.lookup("T#a", "SITE#1").unwrap_err();
        // The read is under way when a write of the partition commits and forgets it.
        recent.forget([&Key::new("T#a", "SITE#1")]);
        recent.remember("T#a", "SITE#1", miss, vec![Item::new(Key::new("T#a", "SITE#1"))]);
        assert!(
            recent.lookup("T#a", "SITE#1").is_err(),
            "the read from before the write"
        );
    }
}
