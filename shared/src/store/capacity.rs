//! A model of DynamoDB's partition limits: a store that charges every call the read and write
//! units DynamoDB would (1 write unit per KB written, index writes included, twice in a
//! transaction; 1 read unit per 4 KB read, half on the eventually consistent index) to the
//! partition key of the table or index it touches, per second of `now_unix` (a simulated clock
//! in `ovation bench --only scale`), and keeps each partition's busiest second.
//!
//! A workspace may stand for many alike (`stand_for`): what its calls cost shared index
//! partitions is charged that many times, what they cost its own partitions once. A partition
//! that is one of a family of shards (`keys::shard_family`) is charged as its family's average:
//! the workspaces a sample stands for have other ids, and hash to every shard alike. The meter
//! spreads shared partitions as it is told (`Spread::LIMITED`, DynamoDB's; or as one partition,
//! to measure the layout of earlier versions).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;

use super::keys::{self, Spread};
use super::validate::item_size;
use super::{BackupSummary, BatchOp, Condition, Item, Key, Page, Query, Store, StoreInfo, TxOp, Update, now_unix};
use crate::error::{Error, Result};
use crate::ids::TenantId;

/// What DynamoDB adds to an item's size in an index entry.
const INDEX_ENTRY_OVERHEAD: usize = 100;

/// What a DynamoDB partition key takes a second at the most.
pub const WRITE_UNITS_A_SECOND: f64 = 1_000.0;
pub const READ_UNITS_A_SECOND: f64 = 3_000.0;

/// Where units are spent: the table or its index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    Table,
    Index,
}

/// Read or write units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Units {
    Read,
    Write,
}

impl Units {
    /// A partition key's limit a second.
    pub fn limit(self) -> f64 {
        match self {
            Units::Read => READ_UNITS_A_SECOND,
            Units::Write => WRITE_UNITS_A_SECOND,
        }
    }
}

/// One partition's busiest second.
#[derive(Clone, Debug, PartialEq)]
pub struct Hottest {
    pub target: Target,
    pub partition: String,
    pub units: f64,
    /// The second (of `now_unix`) it was reached.
    pub at: i64,
}

#[derive(Default)]
struct Load {
    second: i64,
    now: [f64; 2],
    peak: [(f64, i64); 2],
}

impl Load {
    fn add(&mut self, second: i64, units: Units, amount: f64) {
        if second != self.second {
            self.second = second;
            self.now = [0.0; 2];
        }
        let i = units as usize;
        self.now[i] += amount;
        if self.now[i] > self.peak[i].0 {
            self.peak[i] = (self.now[i], second);
        }
    }
}

pub struct CapacityMeter {
    inner: Arc<dyn Store>,
    /// The second a call is charged to.
    clock: Box<dyn Fn() -> i64 + Send + Sync>,
    spread: Spread,
    stand_for: RwLock<HashMap<String, f64>>,
    loads: Mutex<HashMap<(Target, String), Load>>,
}

/// Write units of an item of `bytes` (1 per KB begun).
fn write_units(bytes: usize) -> f64 {
    bytes.div_ceil(1024).max(1) as f64
}

/// Read units of `bytes` read at once (1 per 4 KB begun).
fn read_units(bytes: usize) -> f64 {
    bytes.div_ceil(4096).max(1) as f64
}

/// The tenant whose partition `pk` is (`T#{tenant}...`).
fn tenant_of(pk: &str) -> Option<&str> {
    pk.strip_prefix("T#")?.split('#').next()
}

impl CapacityMeter {
    /// A meter spreading shared partitions as DynamoDB's store does, charging calls to the second
    /// `now_unix` reads. (Over the embedded store, the items written through it are laid out for
    /// DynamoDB: read them through a meter too.)
    pub fn new(inner: Arc<dyn Store>) -> CapacityMeter {
        CapacityMeter::with(inner, Spread::LIMITED, now_unix)
    }

    /// A meter spreading shared partitions by `spread`, charging calls to the second `clock` reads.
    pub fn with(
        inner: Arc<dyn Store>,
        spread: Spread,
        clock: impl Fn() -> i64 + Send + Sync + 'static,
    ) -> CapacityMeter {
        CapacityMeter {
            inner,
            clock: Box::new(clock),
            spread,
            stand_for: RwLock::new(HashMap::new()),
            loads: Mutex::new(HashMap::new()),
        }
    }

    /// Charges shared partitions `count` times what `tenant`'s calls cost them: the workspace is
    /// one of `count` alike that the model does not run.
    pub fn stand_for(&self, tenant: &TenantId, count: f64) {
        self.stand_for
            .write()
            .expect("weights are never poisoned")
            .insert(tenant.to_string(), count);
    }

    /// Forgets every partition's load.
    pub fn reset(&self) {
        self.loads.lock().expect("loads are never poisoned").clear();
    }

    /// The `n` partitions whose busiest second took the most `units`, busiest first.
    pub fn hottest(&self, units: Units, n: usize) -> Vec<Hottest> {
        let loads = self.loads.lock().expect("loads are never poisoned");
        let mut all: Vec<Hottest> = loads
            .iter()
            .map(|((target, partition), load)| {
                let (units, at) = load.peak[units as usize];
                Hottest {
                    target: *target,
                    partition: partition.clone(),
                    units,
                    at,
                }
            })
            .filter(|h| h.units > 0.0)
            .collect();
        all.sort_by(|a, b| b.units.total_cmp(&a.units).then_with(|| a.partition.cmp(&b.partition)));
        all.truncate(n);
        all
    }

    /// How many times `partition`'s cost counts when `item_pk`'s tenant causes it.
    fn weight(&self, partition: &str, item_pk: &str) -> f64 {
        if partition.starts_with("T#") {
            return 1.0;
        }
        let weights = self.stand_for.read().expect("weights are never poisoned");
        tenant_of(item_pk).and_then(|t| weights.get(t)).copied().unwrap_or(1.0)
    }

    fn charge(&self, target: Target, partition: &str, units: Units, amount: f64) {
        let second = (self.clock)();
        let (partition, amount) = match keys::shard_family(partition, self.spread) {
            Some((family, shards)) => (family, amount / f64::from(shards)),
            None => (partition.to_owned(), amount),
        };
        let mut loads = self.loads.lock().expect("loads are never poisoned");
        loads.entry((target, partition)).or_default().add(second, units, amount);
    }

    /// Charges one write of `key` that turned `before` into `after` (`factor` 2 in a transaction):
    /// the table's partition, and the index partitions the item left, joined or changed in.
    fn charge_write(&self, key: &Key, before: Option<&Item>, after: Option<&Item>, factor: f64) {
        let size = |i: Option<&Item>| i.map_or(0, item_size);
        let (old, new) = (size(before), size(after));
        self.charge(Target::Table, &key.pk, Units::Write, factor * write_units(old.max(new)));
        let index = |i: Option<&Item>| i.and_then(Item::index_key);
        let index_write = |partition: &str, bytes: usize| {
            let weight = self.weight(partition, &key.pk);
            let units = write_units(bytes + INDEX_ENTRY_OVERHEAD);
            self.charge(Target::Index, partition, Units::Write, weight * units);
        };
        match (index(before), index(after)) {
            (Some(was), Some(is)) if was == is => index_write(&is.pk, old.max(new)),
            (was, is) => {
                if let Some(was) = was {
                    index_write(&was.pk, old);
                }
                if let Some(is) = is {
                    index_write(&is.pk, new);
                }
            }
        }
    }

    /// Charges a write that changed nothing (a refused condition, a check, a canceled
    /// transaction): the units of the larger of the item it read and the one it would have
    /// written (`attempted` bytes), on the table only.
    fn charge_refused(&self, key: &Key, before: Option<&Item>, attempted: usize, factor: f64) {
        let units = factor * write_units(before.map_or(0, item_size).max(attempted));
        self.charge(Target::Table, &key.pk, Units::Write, units);
    }

    /// Charges one page read from `partition`: half on the eventually consistent index, where
    /// each item of a shared partition counts for the workspaces its own stands for.
    fn charge_read(&self, target: Target, partition: &str, items: &[Item]) {
        let (consistency, bytes) = match target {
            Target::Table => (1.0, items.iter().map(item_size).sum::<usize>() as f64),
            Target::Index => {
                let weighted =
                    |i: &Item| self.weight(partition, &i.key.pk) * (item_size(i) + INDEX_ENTRY_OVERHEAD) as f64;
                (0.5, items.iter().map(weighted).sum::<f64>())
            }
        };
        self.charge(
            target,
            partition,
            Units::Read,
            consistency * read_units(bytes.ceil() as usize),
        );
    }

    /// A page's items whole: DynamoDB charges what it reads, not what a projection returns.
    async fn whole(&self, query: &Query, page: &Page) -> Result<Vec<Item>> {
        if query.only.is_none() {
            return Ok(page.items.clone());
        }
        let mut items = Vec::with_capacity(page.items.len());
        for item in &page.items {
            items.extend(self.inner.get(&item.key).await?);
        }
        Ok(items)
    }

    async fn before(&self, key: &Key) -> Result<Option<Item>> {
        self.inner.get(key).await
    }

    /// Charges a single write: what it changed, or, refused, the units of the larger of the item
    /// it read and the one it would have written (`attempted` bytes: a put's).
    async fn single<T>(&self, key: &Key, before: Option<Item>, attempted: usize, outcome: Result<T>) -> Result<T> {
        match &outcome {
            Ok(_) => {
                let after = self.inner.get(key).await?;
                self.charge_write(key, before.as_ref(), after.as_ref(), 1.0);
            }
            Err(Error::ConditionFailed) => self.charge_refused(key, before.as_ref(), attempted, 1.0),
            Err(_) => {}
        }
        outcome
    }
}

#[async_trait]
impl Store for CapacityMeter {
    async fn get(&self, key: &Key) -> Result<Option<Item>> {
        let item = self.inner.get(key).await?;
        self.charge_read(Target::Table, &key.pk, item.as_slice());
        Ok(item)
    }
    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<()> {
        let (key, attempted) = (item.key.clone(), item_size(&item));
        let before = self.before(&key).await?;
        let outcome = self.inner.put(item, condition).await;
        self.single(&key, before, attempted, outcome).await
    }
    async fn update(&self, key: &Key, updates: &[Update], condition: Option<Condition>) -> Result<Item> {
        let before = self.before(key).await?;
        let outcome = self.inner.update(key, updates, condition).await;
        self.single(key, before, 0, outcome).await
    }
    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<()> {
        let before = self.before(key).await?;
        let outcome = self.inner.delete(key, condition).await;
        self.single(key, before, 0, outcome).await
    }
    async fn query(&self, query: &Query) -> Result<Page> {
        let page = self.inner.query(query).await?;
        self.charge_read(Target::Table, &query.partition, &self.whole(query, &page).await?);
        Ok(page)
    }
    async fn query_index(&self, query: &Query) -> Result<Page> {
        let page = self.inner.query_index(query).await?;
        self.charge_read(Target::Index, &query.partition, &self.whole(query, &page).await?);
        Ok(page)
    }
    async fn transact(&self, ops: Vec<TxOp>) -> Result<()> {
        let keys: Vec<Key> = ops.iter().map(|op| op.key().clone()).collect();
        let mut befores = Vec::with_capacity(keys.len());
        for key in &keys {
            befores.push(self.before(key).await?);
        }
        let checks: Vec<bool> = ops.iter().map(|op| matches!(op, TxOp::Check { .. })).collect();
        let outcome = self.inner.transact(ops).await;
        for ((key, before), check) in keys.iter().zip(&befores).zip(checks) {
            let after = match (&outcome, check) {
                (Ok(()), false) => self.inner.get(key).await?,
                _ => before.clone(),
            };
            if check || outcome.is_err() {
                self.charge_refused(key, before.as_ref(), 0, 2.0);
            } else {
                self.charge_write(key, before.as_ref(), after.as_ref(), 2.0);
            }
        }
        outcome
    }
    async fn batch_write(&self, ops: Vec<BatchOp>) -> Result<()> {
        let keys: Vec<Key> = ops.iter().map(|op| op.key().clone()).collect();
        let mut befores = Vec::with_capacity(keys.len());
        for key in &keys {
            befores.push(self.before(key).await?);
        }
        self.inner.batch_write(ops).await?;
        for (key, before) in keys.iter().zip(befores) {
            let after = self.inner.get(key).await?;
            self.charge_write(key, before.as_ref(), after.as_ref(), 1.0);
        }
        Ok(())
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
    /// The model's, whatever the engine under it.
    async fn spread(&self) -> Result<Spread> {
        Ok(self.spread)
    }
    async fn backup(&self, to: &std::path::Path) -> Result<BackupSummary> {
        self.inner.backup(to).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicI64, Ordering};

    use super::*;
    use crate::store::embedded::EmbeddedStore;

    /// A meter over a new embedded store, its clock at second 100 until moved.
    fn meter() -> (CapacityMeter, Arc<AtomicI64>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedStore::open(&dir.path().join("store.redb")).unwrap());
        let second = Arc::new(AtomicI64::new(100));
        let clock = second.clone();
        let meter = CapacityMeter::with(store, Spread::UNLIMITED, move || clock.load(Ordering::Relaxed));
        (meter, second, dir)
    }

    /// An item just under `kb` KB in partition `pk` (index entry overhead included), in the
    /// index under `index` when given.
    fn item(pk: &str, sk: &str, kb: usize, index: Option<&str>) -> Item {
        let item = Item::new(Key::new(pk, sk)).with("blob", vec![7u8; kb * 1024 - 250]);
        match index {
            Some(ix) => item.with_index(ix, sk),
            None => item,
        }
    }

    fn busiest(meter: &CapacityMeter, units: Units, target: Target, partition: &str) -> (f64, i64) {
        meter
            .hottest(units, usize::MAX)
            .into_iter()
            .find(|h| h.target == target && h.partition == partition)
            .map_or((0.0, 0), |h| (h.units, h.at))
    }

    #[tokio::test]
    async fn writes_cost_a_unit_a_kilobyte_twice_in_transactions_index_included() {
        let (meter, _, _dir) = meter();
        meter.put(item("T#a#R", "1", 3, Some("DUE#1")), None).await.unwrap();
        assert_eq!(busiest(&meter, Units::Write, Target::Table, "T#a#R").0, 3.0);
        assert_eq!(busiest(&meter, Units::Write, Target::Index, "DUE#1").0, 3.0);
        let moved = vec![
            Update::Set("gsi1pk".into(), "DUE#2".into()),
            Update::Set("gsi1sk".into(), "x".into()),
        ];
        meter.update(&Key::new("T#a#R", "1"), &moved, None).await.unwrap();
        // Leaving one index partition is a delete there, joining another a put.
        assert_eq!(busiest(&meter, Units::Write, Target::Index, "DUE#1").0, 6.0);
        assert_eq!(busiest(&meter, Units::Write, Target::Index, "DUE#2").0, 3.0);
        let tx = vec![TxOp::Put {
            item: item("T#a#S", "1", 1, None),
            condition: None,
        }];
        meter.transact(tx).await.unwrap();
        assert_eq!(busiest(&meter, Units::Write, Target::Table, "T#a#S").0, 2.0);
        // A refused condition costs the item read, and writes no index.
        let refused = meter
            .put(item("T#a#R", "1", 1, Some("DUE#3")), Some(Condition::NotExists))
            .await;
        assert!(matches!(refused, Err(Error::ConditionFailed)));
        assert_eq!(busiest(&meter, Units::Write, Target::Table, "T#a#R").0, 3.0 + 3.0 + 3.0);
        assert_eq!(busiest(&meter, Units::Write, Target::Index, "DUE#3").0, 0.0);
    }

    #[tokio::test]
    async fn reads_cost_a_unit_per_4_kilobytes_half_on_the_index() {
        let (meter, _, _dir) = meter();
        // 12 items of about 800 bytes: 3 read units (8 KB would be 2).
        for n in 0..12 {
            meter
                .put(item("T#a#R", &n.to_string(), 1, Some("IX")), None)
                .await
                .unwrap();
        }
        meter.query(&Query::new("T#a#R")).await.unwrap();
        assert_eq!(busiest(&meter, Units::Read, Target::Table, "T#a#R").0, 3.0);
        meter.query_index(&Query::new("IX")).await.unwrap();
        assert_eq!(busiest(&meter, Units::Read, Target::Index, "IX").0, 1.5);
        // A projection returns less, but DynamoDB reads (and charges) whole items.
        meter
            .query(&Query::new("T#a#R").only(["blob".to_owned()]))
            .await
            .unwrap();
        assert_eq!(busiest(&meter, Units::Read, Target::Table, "T#a#R").0, 6.0);
        meter.get(&Key::new("T#a#R", "1")).await.unwrap();
        assert_eq!(busiest(&meter, Units::Read, Target::Table, "T#a#R").0, 7.0);
    }

    #[tokio::test]
    async fn the_busiest_second_is_kept_and_shared_partitions_count_what_a_sample_stands_for() {
        let (meter, second, _dir) = meter();
        let tenant = TenantId::generate();
        meter.stand_for(&tenant, 50.0);
        let pk = format!("T#{tenant}#S");
        for n in 0..3 {
            meter
                .put(item(&pk, &n.to_string(), 1, Some("DUE#9")), None)
                .await
                .unwrap();
        }
        second.store(101, Ordering::Relaxed);
        meter.put(item(&pk, "3", 1, Some("DUE#9")), None).await.unwrap();
        // The workspace's own partition counts once, the shared one for the 50 it stands for.
        assert_eq!(busiest(&meter, Units::Write, Target::Table, &pk), (3.0, 100));
        assert_eq!(busiest(&meter, Units::Write, Target::Index, "DUE#9"), (150.0, 100));
        let hottest = meter.hottest(Units::Write, 1);
        assert_eq!(hottest[0].partition, "DUE#9");
        meter.reset();
        assert!(meter.hottest(Units::Write, 10).is_empty());
    }

    #[tokio::test]
    async fn a_shard_is_charged_as_its_familys_average() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedStore::open(&dir.path().join("store.redb")).unwrap());
        let meter = CapacityMeter::with(store, Spread::LIMITED, || 100);
        let shards = f64::from(Spread::LIMITED.due_shards);
        let tenant = TenantId::generate();
        meter.stand_for(&tenant, shards * 10.0);
        let pk = format!("T#{tenant}#S");
        meter.put(item(&pk, "1", 1, Some("DUE#7#3")), None).await.unwrap();
        meter.put(item(&pk, "2", 1, Some("DUE#7")), None).await.unwrap();
        // Two writes standing for 10 × shards each: 20 on every shard of the minute.
        assert_eq!(busiest(&meter, Units::Write, Target::Index, "DUE#7#*").0, 20.0);
        assert_eq!(busiest(&meter, Units::Write, Target::Index, "DUE#7#3").0, 0.0);
    }
}
