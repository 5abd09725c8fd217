//! A store that counts the calls made through it, by kind: what a request or a job costs the
//! table (benchmarks and tests; DynamoDB bills per call).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use super::{BackupSummary, BatchOp, Condition, Item, Key, Page, Query, Store, StoreInfo, TxOp, Update};
use crate::error::Result;

/// Calls by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Calls {
    pub gets: u64,
    pub queries: u64,
    /// Puts, updates and deletes of one item.
    pub writes: u64,
    pub transactions: u64,
    pub batch_writes: u64,
}

impl Calls {
    /// Gets and queries.
    pub fn reads(&self) -> u64 {
        self.gets + self.queries
    }

    pub fn total(&self) -> u64 {
        self.reads() + self.writes + self.transactions + self.batch_writes
    }

    /// The calls made after `before` was taken.
    pub fn since(&self, before: Calls) -> Calls {
        Calls {
            gets: self.gets - before.gets,
            queries: self.queries - before.queries,
            writes: self.writes - before.writes,
            transactions: self.transactions - before.transactions,
            batch_writes: self.batch_writes - before.batch_writes,
        }
    }
}

pub struct MeteredStore {
    inner: Arc<dyn Store>,
    gets: AtomicU64,
    queries: AtomicU64,
    writes: AtomicU64,
    transactions: AtomicU64,
    batch_writes: AtomicU64,
}

impl MeteredStore {
    pub fn new(inner: Arc<dyn Store>) -> MeteredStore {
        MeteredStore {
            inner,
            gets: AtomicU64::new(0),
            queries: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            transactions: AtomicU64::new(0),
            batch_writes: AtomicU64::new(0),
        }
    }

    pub fn calls(&self) -> Calls {
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Calls {
            gets: n(&self.gets),
            queries: n(&self.queries),
            writes: n(&self.writes),
            transactions: n(&self.transactions),
            batch_writes: n(&self.batch_writes),
        }
    }

    fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

#[async_trait]
impl Store for MeteredStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>> {
        Self::count(&self.gets);
        self.inner.get(key).await
    }
    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<()> {
        Self::count(&self.writes);
        self.inner.put(item, condition).await
    }
    async fn update(&self, key: &Key, updates: &[Update], condition: Option<Condition>) -> Result<Item> {
        Self::count(&self.writes);
        self.inner.update(key, updates, condition).await
    }
    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<()> {
        Self::count(&self.writes);
        self.inner.delete(key, condition).await
    }
    async fn query(&self, query: &Query) -> Result<Page> {
        Self::count(&self.queries);
        self.inner.query(query).await
    }
    async fn query_index(&self, query: &Query) -> Result<Page> {
        Self::count(&self.queries);
        self.inner.query_index(query).await
    }
    async fn transact(&self, ops: Vec<TxOp>) -> Result<()> {
        Self::count(&self.transactions);
        self.inner.transact(ops).await
    }
    async fn batch_write(&self, ops: Vec<BatchOp>) -> Result<()> {
        Self::count(&self.batch_writes);
        self.inner.batch_write(ops).await
    }
    async fn sweep_expired(&self) -> Result<usize> {
        self.inner.sweep_expired().await
    }
    async fn ping(&self) -> Result<()> {
        self.inner.ping().await
    }
    fn info(&self) -> StoreInfo {
        self.inner.info()
    }
    async fn spread(&self) -> Result<super::keys::Spread> {
        self.inner.spread().await
    }
    async fn backup(&self, to: &std::path::Path) -> Result<BackupSummary> {
        self.inner.backup(to).await
    }
}
