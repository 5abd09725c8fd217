//! The embedded engine: one redb file in the data directory. Writes go to one writer thread,
//! which runs every write waiting at that moment in one serializable redb transaction, in arrival
//! order, and acknowledges each only after the commit's fsync (group commit): conditions stay
//! atomic with their write, an acknowledged write survives `kill -9`, and concurrent writers share
//! fsyncs instead of queueing for one each. Each write makes all its checks before its first
//! change, so a refused write leaves the shared transaction untouched. The writer thread does
//! only what must be serial: new items are encoded before they reach it, and it reads an item
//! whole only for a condition or an update (else just its index and expiry links). Point reads
//! and short queries run on the caller's thread (a hand-off to another thread costs more than
//! they do); long queries on the blocking threads. Key bytes keep DynamoDB's order: parts are
//! UTF-8 joined by a 0x00 byte, which validation keeps out of keys.

use std::any::Any;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, Table, TableDefinition, WriteTransaction};
use tokio::sync::oneshot;

use super::{
    BackupSummary, BatchOp, Direction, Item, Key, Page, Position, Query, SortKey, Store, StoreInfo, TxOp, Update, eval,
    now_unix, validate,
};
use crate::error::{Error, Result, TxFailure};
use crate::store::Condition;

pub mod backup;
mod codec;

/// `pk 0 sk` → the item's attributes (JSON).
const ITEMS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("items");
/// `gsi1pk 0 gsi1sk 0 pk 0 sk` → nothing: the sparse index.
const INDEX: TableDefinition<&[u8], ()> = TableDefinition::new("gsi1");
/// `expires_at (8 bytes, ordered) pk 0 sk` → nothing: what the sweeper removes.
const EXPIRY: TableDefinition<&[u8], ()> = TableDefinition::new("expiry");

const SEP: u8 = 0x00;
/// Above every byte of UTF-8 text: the end of a range of keys with one prefix.
const TOP: u8 = 0xFF;
/// Just above the separator: after every key whose sort part equals a given string.
const AFTER_SEP: u8 = 0x01;
/// How many expired items one sweep removes at the most.
const SWEEP_BATCH: usize = 10_000;

/// The most items a query reads on the calling thread; a longer one goes to the blocking threads.
const INLINE_QUERY_LIMIT: u32 = 100;
/// How many waiting writes one commit takes at the most.
const GROUP_MAX: usize = 256;
/// Memory redb may use to cache pages (its default is 1 GiB, which a growing store fills and the
/// process keeps): bounded so a laptop's `ovation serve` and a long import stay flat.
const CACHE_BYTES: usize = 16 * 1024 * 1024;

/// A write for the writer thread: its work on the tables, and where its outcome goes.
type Work = Box<dyn for<'t> FnOnce(&mut Tables<'t>) -> Result<Box<dyn Any + Send>> + Send>;

struct Job {
    work: Work,
    reply: oneshot::Sender<Result<Box<dyn Any + Send>>>,
}

/// The writer thread; dropping the last handle stops it and waits for it, so the file is closed
/// when the store is.
struct Writer {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
    writer: Arc<Writer>,
    path: PathBuf,
}

/// The writer thread's loop: take every write waiting (up to `GROUP_MAX`), commit them together.
fn write_groups(db: Arc<Database>, jobs: mpsc::Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        while group.len() < GROUP_MAX {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let (works, replies): (Vec<Work>, Vec<_>) = group.into_iter().map(|j| (j.work, j.reply)).unzip();
        match commit_group(&db, works) {
            Ok(outcomes) => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(outcome);
                }
            }
            Err(e) => {
                for reply in replies {
                    let _ = reply.send(Err(unavailable(&e)));
                }
            }
        }
    }
}

/// Runs a group of writes in one transaction. A refused write (its condition, its input) wrote
/// nothing and gets its own error; a storage fault aborts the whole group, nothing of it written.
fn commit_group(db: &Database, works: Vec<Work>) -> Result<Vec<Result<Box<dyn Any + Send>>>> {
    let txn = db.begin_write().map_err(unavailable)?;
    let mut outcomes = Vec::with_capacity(works.len());
    {
        let mut tables = Tables::open(&txn)?;
        for work in works {
            match work(&mut tables) {
                Err(e @ (Error::Unavailable { .. } | Error::Internal(_))) => return Err(e),
                outcome => outcomes.push(outcome),
            }
        }
    }
    txn.commit().map_err(unavailable)?;
    Ok(outcomes)
}

impl EmbeddedStore {
    /// Opens (creating when missing) the store file at `path`. A file left by a crash is
    /// repaired by redb on open.
    pub fn open(path: &Path) -> Result<EmbeddedStore> {
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(|e| unavailable(format!("cannot open {}: {e}", path.display())))?;
        let txn = db.begin_write().map_err(unavailable)?;
        txn.open_table(ITEMS).map_err(unavailable)?;
        txn.open_table(INDEX).map_err(unavailable)?;
        txn.open_table(EXPIRY).map_err(unavailable)?;
        txn.commit().map_err(unavailable)?;
        let db = Arc::new(db);
        let (jobs, queue) = mpsc::channel();
        let for_writer = db.clone();
        let thread = std::thread::Builder::new()
            .name("ovation-store-writer".into())
            .spawn(move || write_groups(for_writer, queue))
            .map_err(unavailable)?;
        Ok(EmbeddedStore {
            db,
            writer: Arc::new(Writer {
                jobs: Some(jobs),
                thread: Some(thread),
            }),
            path: path.to_owned(),
        })
    }

    /// Runs blocking redb work off the async threads.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Database) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || work(&db))
            .await
            .map_err(|e| Error::fault("the store task", e))?
    }

    /// Runs a query: a short one here, a long one on the blocking threads (it may read many pages).
    async fn read(&self, query: &Query, index: bool) -> Result<Page> {
        if query.limit <= INLINE_QUERY_LIMIT {
            return run_query(&self.db, query, index);
        }
        let q = query.clone();
        self.blocking(move |db| run_query(db, &q, index)).await
    }

    /// Runs `work` in the writer thread's next group commit; answers once it is durable.
    async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Tables) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        let work: Work = Box::new(move |t| work(t).map(|out| Box::new(out) as Box<dyn Any + Send>));
        let jobs = self
            .writer
            .jobs
            .as_ref()
            .ok_or_else(|| unavailable("the writer has stopped"))?;
        jobs.send(Job { work, reply })
            .map_err(|_| unavailable("the writer has stopped"))?;
        let out = answer.await.map_err(|_| unavailable("the writer has stopped"))??;
        out.downcast::<T>()
            .map(|out| *out)
            .map_err(|_| Error::internal("the writer answered with another type"))
    }
}

fn unavailable(e: impl std::fmt::Display) -> Error {
    Error::Unavailable {
        service: "embedded store",
        reason: e.to_string(),
    }
}

fn join(parts: &[&str]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push(SEP);
        }
        out.extend_from_slice(p.as_bytes());
    }
    out
}

fn item_key(key: &Key) -> Vec<u8> {
    join(&[&key.pk, &key.sk])
}

fn split_key(bytes: &[u8]) -> Result<Key> {
    let text = std::str::from_utf8(bytes).map_err(Error::internal)?;
    let (pk, sk) = text
        .split_once('\0')
        .ok_or_else(|| Error::internal("malformed item key"))?;
    Ok(Key::new(pk, sk))
}

fn index_entry(index: &Key, key: &Key) -> Vec<u8> {
    join(&[&index.pk, &index.sk, &key.pk, &key.sk])
}

fn split_index_entry(bytes: &[u8]) -> Result<(Key, Key)> {
    let text = std::str::from_utf8(bytes).map_err(Error::internal)?;
    let parts: Vec<&str> = text.split('\0').collect();
    match parts[..] {
        [ipk, isk, pk, sk] => Ok((Key::new(ipk, isk), Key::new(pk, sk))),
        _ => Err(Error::internal("malformed index entry")),
    }
}

fn expiry_entry(at: i64, key: &Key) -> Vec<u8> {
    let mut out = ((at as u64) ^ (1 << 63)).to_be_bytes().to_vec();
    out.extend_from_slice(&item_key(key));
    out
}

fn decode(key: Key, bytes: &[u8]) -> Result<Item> {
    Ok(Item {
        key,
        attrs: codec::decode(bytes)?,
    })
}

/// An item with only the attributes `only` names (sorted) and its expiry, when given: the others
/// are skipped unread.
fn decode_only<T: AsRef<str>>(key: Key, bytes: &[u8], only: Option<&[T]>) -> Result<Item> {
    Ok(Item {
        key,
        attrs: codec::decode_only(bytes, only)?,
    })
}

/// A batch's write, its item encoded.
enum Encoded {
    Put(Vec<u8>, Item),
    Delete(Key),
}

/// The attributes an item's links in the index and expiry tables are made of (sorted).
const LINKS: &[&str] = &[super::attr::GSI1PK, super::attr::GSI1SK];

fn encode(item: &Item) -> Vec<u8> {
    codec::encode(&item.attrs)
}

/// The three tables of one write transaction, and the item-level operations on them.
struct Tables<'txn> {
    items: Table<'txn, &'static [u8], &'static [u8]>,
    index: Table<'txn, &'static [u8], ()>,
    expiry: Table<'txn, &'static [u8], ()>,
    now: i64,
}

impl<'txn> Tables<'txn> {
    fn open(txn: &'txn WriteTransaction) -> Result<Self> {
        Ok(Tables {
            items: txn.open_table(ITEMS).map_err(unavailable)?,
            index: txn.open_table(INDEX).map_err(unavailable)?,
            expiry: txn.open_table(EXPIRY).map_err(unavailable)?,
            now: now_unix(),
        })
    }

    /// The stored item, expired or not.
    fn stored(&self, key: &Key) -> Result<Option<Item>> {
        match self.items.get(item_key(key).as_slice()).map_err(unavailable)? {
            Some(v) => Ok(Some(decode(key.clone(), v.value())?)),
            None => Ok(None),
        }
    }

    /// The item as readers see it, when `condition` holds of it, and the links of the item stored
    /// (expired or not), which a write over it replaces without reading it again.
    fn check(&self, key: &Key, condition: Option<&Condition>) -> Result<Checked> {
        let stored = self.stored(key)?;
        let old = stored.as_ref().map(Links::of);
        let visible = stored.filter(|i| !i.is_expired(self.now));
        match condition {
            Some(c) if !eval::holds(c, visible.as_ref()) => Err(Error::ConditionFailed),
            _ => Ok(Checked { visible, old }),
        }
    }

    /// What a stored item links in the other tables (its index entry and expiry), read without
    /// decoding the rest of it.
    fn links(&self, key: &Key) -> Result<Option<Links>> {
        match self.items.get(item_key(key).as_slice()).map_err(unavailable)? {
            Some(v) => Ok(Some(Links::of(&decode_only(key.clone(), v.value(), Some(LINKS))?))),
            None => Ok(None),
        }
    }

    fn unlink(&mut self, key: &Key, old: &Links) -> Result<()> {
        if let Some(ix) = &old.index {
            self.index
                .remove(index_entry(ix, key).as_slice())
                .map_err(unavailable)?;
        }
        if let Some(at) = old.expires_at {
            self.expiry
                .remove(expiry_entry(at, key).as_slice())
                .map_err(unavailable)?;
        }
        Ok(())
    }

    fn put(&mut self, item: &Item) -> Result<()> {
        self.put_encoded(item, &encode(item))
    }

    /// Writes `item` as `encoded` (its attributes, encoded before the writer thread takes it).
    fn put_encoded(&mut self, item: &Item, encoded: &[u8]) -> Result<()> {
        let old = self.links(&item.key)?;
        self.put_over(item, encoded, old)
    }

    /// Writes `item` as `encoded` over the item stored, whose links (`old`) are known.
    fn put_over(&mut self, item: &Item, encoded: &[u8], old: Option<Links>) -> Result<()> {
        if let Some(old) = old {
            self.unlink(&item.key, &old)?;
        }
        self.items
            .insert(item_key(&item.key).as_slice(), encoded)
            .map_err(unavailable)?;
        if let Some(ix) = item.index_key() {
            self.index
                .insert(index_entry(&ix, &item.key).as_slice(), ())
                .map_err(unavailable)?;
        }
        if let Some(at) = item.expires_at() {
            self.expiry
                .insert(expiry_entry(at, &item.key).as_slice(), ())
                .map_err(unavailable)?;
        }
        Ok(())
    }

    fn delete(&mut self, key: &Key) -> Result<()> {
        if let Some(old) = self.links(key)? {
            self.unlink(key, &old)?;
            self.items.remove(item_key(key).as_slice()).map_err(unavailable)?;
        }
        Ok(())
    }

    fn update(&mut self, key: &Key, checked: Checked, updates: &[Update]) -> Result<Item> {
        let next = eval::apply(key, checked.visible, updates)?;
        validate::item(&next)?;
        self.put_over(&next, &encode(&next), checked.old)?;
        Ok(next)
    }
}

/// What an item links in the index and expiry tables.
struct Links {
    index: Option<Key>,
    expires_at: Option<i64>,
}

impl Links {
    fn of(item: &Item) -> Links {
        Links {
            index: item.index_key(),
            expires_at: item.expires_at(),
        }
    }
}

/// An item read for a write: as readers see it, and the links of what is stored.
struct Checked {
    visible: Option<Item>,
    old: Option<Links>,
}

/// The byte range of a query's sort condition within its partition, after its position.
fn bounds(q: &Query, index: bool) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let with = |parts: &[&str], tail: Option<u8>| {
        let mut v = join(parts);
        v.extend(tail);
        v
    };
    let p = q.partition.as_str();
    let (mut lower, mut upper) = match &q.sort {
        SortKey::All => (with(&[p, ""], None), with(&[p, ""], Some(TOP))),
        SortKey::Prefix(s) => (with(&[p, s], None), with(&[p, s], Some(TOP))),
        SortKey::AtLeast(a) => (with(&[p, a], None), with(&[p, ""], Some(TOP))),
        SortKey::AtMost(b) => (with(&[p, ""], None), with(&[p, b], Some(AFTER_SEP))),
        SortKey::Between(a, b) => (with(&[p, a], None), with(&[p, b], Some(AFTER_SEP))),
    }
    .into_bounds();
    if let Some(pos) = &q.after {
        let at = match (&pos.index, index) {
            (Some(ix), true) => index_entry(ix, &pos.key),
            _ => item_key(&pos.key),
        };
        match q.direction {
            Direction::Forward if !below(&at, &lower) => lower = Bound::Excluded(at),
            Direction::Backward if !above(&at, &upper) => upper = Bound::Excluded(at),
            _ => {}
        }
    }
    (lower, upper)
}

trait IntoBounds {
    fn into_bounds(self) -> (Bound<Vec<u8>>, Bound<Vec<u8>>);
}

impl IntoBounds for (Vec<u8>, Vec<u8>) {
    fn into_bounds(self) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
        (Bound::Included(self.0), Bound::Excluded(self.1))
    }
}

fn below(at: &[u8], lower: &Bound<Vec<u8>>) -> bool {
    matches!(lower, Bound::Included(l) | Bound::Excluded(l) if at < l.as_slice())
}

fn above(at: &[u8], upper: &Bound<Vec<u8>>) -> bool {
    matches!(upper, Bound::Included(u) | Bound::Excluded(u) if at > u.as_slice())
}

fn empty_range(lower: &Bound<Vec<u8>>, upper: &Bound<Vec<u8>>) -> bool {
    match (lower, upper) {
        (Bound::Included(l), Bound::Excluded(u)) | (Bound::Excluded(l), Bound::Excluded(u)) => l >= u,
        _ => false,
    }
}

fn bound_ref(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(v) => Bound::Included(v.as_slice()),
        Bound::Excluded(v) => Bound::Excluded(v.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// Where a page ended: the item's key, and its index key on index queries.
fn position_of(item: &Item, index: bool) -> Position {
    Position {
        key: item.key.clone(),
        index: if index { item.index_key() } else { None },
    }
}

fn run_query(db: &Database, q: &Query, index: bool) -> Result<Page> {
    let (lower, upper) = bounds(q, index);
    if empty_range(&lower, &upper) {
        return Ok(Page {
            items: vec![],
            next: None,
        });
    }
    let txn = db.begin_read().map_err(unavailable)?;
    let items = txn.open_table(ITEMS).map_err(unavailable)?;
    let now = now_unix();
    let load = |key: Key| -> Result<Option<Item>> {
        Ok(match items.get(item_key(&key).as_slice()).map_err(unavailable)? {
            Some(v) => Some(decode_only(key, v.value(), q.only.as_deref())?).filter(|i| !i.is_expired(now)),
            None => None,
        })
    };
    let range = (bound_ref(&lower), bound_ref(&upper));
    let mut found = Vec::new();
    let mut more = false;
    let mut visit = |entry: &[u8], value: Option<&[u8]>| -> Result<bool> {
        let item = match value {
            Some(v) => Some(decode_only(split_key(entry)?, v, q.only.as_deref())?).filter(|i| !i.is_expired(now)),
            None => load(split_index_entry(entry)?.1)?,
        };
        if let Some(item) = item {
            if found.len() == q.limit as usize {
                more = true;
                return Ok(false);
            }
            found.push(item);
        }
        Ok(true)
    };
    if index {
        let table = txn.open_table(INDEX).map_err(unavailable)?;
        let mut iter = table.range::<&[u8]>(range).map_err(unavailable)?;
        loop {
            let next = match q.direction {
                Direction::Forward => iter.next(),
                Direction::Backward => iter.next_back(),
            };
            let Some(entry) = next else { break };
            let (k, _) = entry.map_err(unavailable)?;
            if !visit(k.value(), None)? {
                break;
            }
        }
    } else {
        let mut iter = items.range::<&[u8]>(range).map_err(unavailable)?;
        loop {
            let next = match q.direction {
                Direction::Forward => iter.next(),
                Direction::Backward => iter.next_back(),
            };
            let Some(entry) = next else { break };
            let (k, v) = entry.map_err(unavailable)?;
            if !visit(k.value(), Some(v.value()))? {
                break;
            }
        }
    }
    let next = if more {
        found.last().map(|i| position_of(i, index))
    } else {
        None
    };
    Ok(Page { items: found, next })
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>> {
        validate::key(key)?;
        // A point read: a few pages, cached; cheaper here than a hand-off to another thread.
        let txn = self.db.begin_read().map_err(unavailable)?;
        let items = txn.open_table(ITEMS).map_err(unavailable)?;
        let found = items.get(item_key(key).as_slice()).map_err(unavailable)?;
        match found {
            Some(v) => Ok(Some(decode(key.clone(), v.value())?).filter(|i| !i.is_expired(now_unix()))),
            None => Ok(None),
        }
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<()> {
        validate::item(&item)?;
        validate::condition(condition.as_ref())?;
        let encoded = encode(&item);
        self.write(move |t| match condition {
            Some(_) => {
                let checked = t.check(&item.key, condition.as_ref())?;
                t.put_over(&item, &encoded, checked.old)
            }
            None => t.put_encoded(&item, &encoded),
        })
        .await
    }

    async fn update(&self, key: &Key, updates: &[Update], condition: Option<Condition>) -> Result<Item> {
        validate::key(key)?;
        validate::updates(updates)?;
        validate::condition(condition.as_ref())?;
        let (key, updates) = (key.clone(), updates.to_vec());
        self.write(move |t| {
            let checked = t.check(&key, condition.as_ref())?;
            t.update(&key, checked, &updates)
        })
        .await
    }

    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<()> {
        validate::key(key)?;
        validate::condition(condition.as_ref())?;
        let key = key.clone();
        self.write(move |t| {
            if condition.is_some() {
                t.check(&key, condition.as_ref())?;
            }
            t.delete(&key)
        })
        .await
    }

    async fn query(&self, query: &Query) -> Result<Page> {
        validate::query(query)?;
        validate::position(query, false)?;
        self.read(query, false).await
    }

    async fn query_index(&self, query: &Query) -> Result<Page> {
        validate::query(query)?;
        validate::position(query, true)?;
        self.read(query, true).await
    }

    async fn transact(&self, ops: Vec<TxOp>) -> Result<()> {
        validate::transaction(&ops)?;
        // New items are encoded here, off the writer thread (in the order of the puts).
        let encoded: Vec<Vec<u8>> = ops
            .iter()
            .filter_map(|op| match op {
                TxOp::Put { item, .. } => Some(encode(item)),
                _ => None,
            })
            .collect();
        self.write(move |t| {
            // Every condition is judged on the state before the transaction, as DynamoDB does.
            let mut current = Vec::with_capacity(ops.len());
            let mut failures = Vec::new();
            for (index, op) in ops.iter().enumerate() {
                let condition = match op {
                    TxOp::Put { condition, .. } | TxOp::Update { condition, .. } | TxOp::Delete { condition, .. } => {
                        condition.as_ref()
                    }
                    TxOp::Check { condition, .. } => Some(condition),
                };
                // Only a condition or an update needs the item as it is.
                if condition.is_none() && !matches!(op, TxOp::Update { .. }) {
                    current.push(None);
                    continue;
                }
                match t.check(op.key(), condition) {
                    Ok(checked) => current.push(Some(checked)),
                    Err(Error::ConditionFailed) => {
                        failures.push(TxFailure {
                            index,
                            reason: "ConditionalCheckFailed".into(),
                        });
                        current.push(None);
                    }
                    Err(e) => return Err(e),
                }
            }
            if !failures.is_empty() {
                return Err(Error::TransactionCanceled(failures));
            }
            // Every new item is made and checked before the first change, so a refused update
            // leaves the (shared) write transaction untouched. What was read for a condition or
            // an update is not read again to be replaced.
            let mut writes = Vec::with_capacity(ops.len());
            for (op, checked) in ops.iter().zip(current) {
                let (visible, old) = match checked {
                    Some(Checked { visible, old }) => (visible, Some(old)),
                    None => (None, None),
                };
                writes.push(match op {
                    TxOp::Update { key, updates, .. } => {
                        let next = eval::apply(key, visible, updates)?;
                        validate::item(&next)?;
                        (Some(next), old)
                    }
                    _ => (None, old),
                });
            }
            let mut encoded = encoded.iter();
            let missing = || Error::internal("a write of the transaction went missing");
            for (op, (next, old)) in ops.iter().zip(writes) {
                let replace = |t: &mut Tables, item: &Item, bytes: &[u8]| match old {
                    Some(old) => t.put_over(item, bytes, old),
                    None => t.put_encoded(item, bytes),
                };
                match (op, next) {
                    (TxOp::Put { item, .. }, _) => replace(t, item, encoded.next().ok_or_else(missing)?)?,
                    (TxOp::Update { .. }, Some(next)) => replace(t, &next, &encode(&next))?,
                    (TxOp::Delete { key, .. }, _) => t.delete(key)?,
                    _ => {}
                }
            }
            Ok(())
        })
        .await
    }

    async fn batch_write(&self, ops: Vec<BatchOp>) -> Result<()> {
        validate::batch(&ops)?;
        if ops.is_empty() {
            return Ok(());
        }
        // Encoded here, off the writer thread.
        let writes: Vec<Encoded> = ops
            .into_iter()
            .map(|op| match op {
                BatchOp::Put(item) => Encoded::Put(encode(&item), item),
                BatchOp::Delete(key) => Encoded::Delete(key),
            })
            .collect();
        self.write(move |t| {
            for write in &writes {
                match write {
                    Encoded::Put(bytes, item) => t.put_encoded(item, bytes)?,
                    Encoded::Delete(key) => t.delete(key)?,
                }
            }
            Ok(())
        })
        .await
    }

    async fn sweep_expired(&self) -> Result<usize> {
        self.write(|t| {
            let upto = expiry_entry(t.now.saturating_add(1), &Key::new("", ""));
            let due: Vec<Vec<u8>> = t
                .expiry
                .range::<&[u8]>(..upto.as_slice())
                .map_err(unavailable)?
                .take(SWEEP_BATCH)
                .map(|e| e.map(|(k, _)| k.value().to_vec()).map_err(unavailable))
                .collect::<Result<_>>()?;
            for entry in &due {
                let key = split_key(&entry[8..])?;
                t.delete(&key)?;
            }
            Ok(due.len())
        })
        .await
    }

    async fn ping(&self) -> Result<()> {
        self.blocking(|db| db.begin_read().map(drop).map_err(unavailable)).await
    }

    async fn backup(&self, to: &Path) -> Result<BackupSummary> {
        let (db, to) = (self.db.clone(), to.to_owned());
        tokio::task::spawn_blocking(move || backup::write_backup(db.as_ref(), &to))
            .await
            .map_err(|e| Error::fault("the backup task", e))?
    }

    /// No partition limit here: one due partition a minute reads cheapest.
    async fn spread(&self) -> Result<super::keys::Spread> {
        Ok(super::keys::Spread::UNLIMITED)
    }
    fn info(&self) -> StoreInfo {
        StoreInfo {
            engine: "redb",
            version: env!("OVATION_REDB_VERSION").to_owned(),
            location: self.path.display().to_string(),
        }
    }
}
