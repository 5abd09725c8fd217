//! The `Store` port: a small, DynamoDB-shaped interface over one table (`pk`, `sk`, a sparse index
//! `gsi1pk`/`gsi1sk`, TTL in `expires_at`), with typed conditions and updates so that the embedded
//! engine evaluates exactly what DynamoDB would. Both adapters pass one conformance suite.

pub mod capacity;
mod cursor;
pub mod dynamo;
mod dynamo_expr;
pub mod embedded;
mod eval;
pub mod keys;
pub mod lease;
pub mod metered;
pub mod recent;
mod scoped;
pub mod spread;
mod validate;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::Result;

pub use cursor::CursorSeal;
pub use scoped::{TenantPage, TenantStore};
pub use validate::{MAX_ITEM_BYTES, MAX_PROJECTED, MAX_QUERY_LIMIT, MAX_TRANSACTION_ITEMS};

/// Attribute names with a meaning to the store itself.
pub mod attr {
    /// Partition and sort key of the sparse index.
    pub const GSI1PK: &str = "gsi1pk";
    pub const GSI1SK: &str = "gsi1sk";
    /// Unix seconds after which the item is gone (invisible at once, removed later).
    pub const EXPIRES_AT: &str = "expires_at";
    /// The primary key's names, never attributes of an `Item`.
    pub const PK: &str = "pk";
    pub const SK: &str = "sk";
}

/// One attribute value. Numbers are whole (counters, timestamps, scores).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Value {
    S(String),
    N(i64),
    B(#[serde(with = "b64")] Vec<u8>),
    Bool(bool),
    L(Vec<Value>),
    M(BTreeMap<String, Value>),
    Null,
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::S(s.to_owned())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::S(s)
    }
}
impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::N(n)
    }
}
impl From<Vec<u8>> for Value {
    fn from(b: Vec<u8>) -> Self {
        Value::B(b)
    }
}
/// A list of texts (read back by `Item::strings`).
impl From<&[String]> for Value {
    fn from(list: &[String]) -> Self {
        Value::L(list.iter().map(|s| s.as_str().into()).collect())
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

/// The primary key of an item.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Key {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

pub type Attrs = BTreeMap<String, Value>;

/// An item: its key and its attributes (never `pk`/`sk`, which live in `key`).
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub key: Key,
    pub attrs: Attrs,
}

impl Item {
    pub fn new(key: Key) -> Self {
        Item {
            key,
            attrs: Attrs::new(),
        }
    }

    pub fn with(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.attrs.insert(name.to_owned(), value.into());
        self
    }

    /// Puts the item in the sparse index under (`pk`, `sk`).
    pub fn with_index(self, pk: impl Into<String>, sk: impl Into<String>) -> Self {
        self.with(attr::GSI1PK, pk.into()).with(attr::GSI1SK, sk.into())
    }

    /// Makes the item expire at `unix_seconds`.
    pub fn with_expiry(self, unix_seconds: i64) -> Self {
        self.with(attr::EXPIRES_AT, unix_seconds)
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.attrs.get(name)
    }

    pub fn str(&self, name: &str) -> Option<&str> {
        match self.attrs.get(name) {
            Some(Value::S(s)) => Some(s),
            _ => None,
        }
    }

    pub fn num(&self, name: &str) -> Option<i64> {
        match self.attrs.get(name) {
            Some(Value::N(n)) => Some(*n),
            _ => None,
        }
    }

    pub fn bytes(&self, name: &str) -> Option<&[u8]> {
        match self.attrs.get(name) {
            Some(Value::B(b)) => Some(b),
            _ => None,
        }
    }

    /// A list attribute's text values (none when missing).
    pub fn strings(&self, name: &str) -> Vec<String> {
        match self.attrs.get(name) {
            Some(Value::L(list)) => list
                .iter()
                .filter_map(|v| match v {
                    Value::S(s) => Some(s.clone()),
                    _ => None,
                })
                .collect(),
            _ => vec![],
        }
    }

    /// The item's sparse-index key, when it has one.
    pub fn index_key(&self) -> Option<Key> {
        Some(Key::new(self.str(attr::GSI1PK)?, self.str(attr::GSI1SK)?))
    }

    pub fn expires_at(&self) -> Option<i64> {
        self.num(attr::EXPIRES_AT)
    }

    /// True when the item's TTL has passed: such an item is invisible to every read.
    pub fn is_expired(&self, now: i64) -> bool {
        self.expires_at().is_some_and(|t| t <= now)
    }
}

/// Comparison operators of a condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A condition on the item a write targets; evaluated atomically with the write.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// The item exists.
    Exists,
    /// The item does not exist.
    NotExists,
    AttrExists(String),
    AttrNotExists(String),
    /// `attribute <op> value`; false when the attribute is missing or of another type.
    Compare(String, Cmp, Value),
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Not(Box<Condition>),
}

impl Condition {
    pub fn eq(name: &str, value: impl Into<Value>) -> Self {
        Condition::Compare(name.to_owned(), Cmp::Eq, value.into())
    }
}

/// One change of an update.
#[derive(Clone, Debug, PartialEq)]
pub enum Update {
    Set(String, Value),
    Remove(String),
    /// Atomic counter: adds to a number, starting from 0 when the attribute is missing.
    Add(String, i64),
}

/// Which sort keys a query selects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SortKey {
    All,
    Prefix(String),
    /// Inclusive on both ends.
    Between(String, String),
    AtLeast(String),
    AtMost(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Direction {
    #[default]
    Forward,
    Backward,
}

/// Where a page ended: the last item's primary key (and its index key for index queries).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub key: Key,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<Key>,
}

/// A query of one partition, of the table or of the sparse index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    pub partition: String,
    pub sort: SortKey,
    pub direction: Direction,
    pub limit: u32,
    /// Continue after this position (from a previous page).
    pub after: Option<Position>,
    /// Only these attributes of each item (sorted, by `only`; its key and expiry always), when
    /// given: a reader of a few cells of wide items decodes (and, on DynamoDB, receives) no
    /// others.
    pub(crate) only: Option<Vec<String>>,
}

impl Query {
    pub fn new(partition: impl Into<String>) -> Self {
        Query {
            partition: partition.into(),
            sort: SortKey::All,
            direction: Direction::Forward,
            limit: 100,
            after: None,
            only: None,
        }
    }

    pub fn sort(mut self, sort: SortKey) -> Self {
        self.sort = sort;
        self
    }

    pub fn prefix(self, prefix: impl Into<String>) -> Self {
        self.sort(SortKey::Prefix(prefix.into()))
    }

    pub fn backward(mut self) -> Self {
        self.direction = Direction::Backward;
        self
    }

    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }

    pub fn after(mut self, position: Option<Position>) -> Self {
        self.after = position;
        self
    }

    /// Only the attributes `names` of each item.
    pub fn only(mut self, names: impl IntoIterator<Item = String>) -> Self {
        let mut names: Vec<String> = names.into_iter().collect();
        names.sort_unstable();
        names.dedup();
        self.only = Some(names);
        self
    }
}

/// One page of a query; `next` is set when more items may follow.
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    pub items: Vec<Item>,
    pub next: Option<Position>,
}

/// One operation of a transaction.
#[derive(Clone, Debug, PartialEq)]
pub enum TxOp {
    Put {
        item: Item,
        condition: Option<Condition>,
    },
    Update {
        key: Key,
        updates: Vec<Update>,
        condition: Option<Condition>,
    },
    Delete {
        key: Key,
        condition: Option<Condition>,
    },
    /// Only checks a condition on another item.
    Check {
        key: Key,
        condition: Condition,
    },
}

impl TxOp {
    pub fn key(&self) -> &Key {
        match self {
            TxOp::Put { item, .. } => &item.key,
            TxOp::Update { key, .. } | TxOp::Delete { key, .. } | TxOp::Check { key, .. } => key,
        }
    }
}

/// One operation of a batch write (no conditions, not atomic as a whole).
#[derive(Clone, Debug, PartialEq)]
pub enum BatchOp {
    Put(Item),
    Delete(Key),
}

impl BatchOp {
    pub fn key(&self) -> &Key {
        match self {
            BatchOp::Put(item) => &item.key,
            BatchOp::Delete(key) => key,
        }
    }
}

/// What a store reports of itself on `/health`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StoreInfo {
    pub engine: &'static str,
    pub version: String,
    /// The file or table: for the operator's console, never for `/health`'s anonymous callers.
    #[serde(skip)]
    pub location: String,
}

/// The storage port. Every write is durable when the call returns.
#[async_trait]
pub trait Store: Send + Sync {
    /// Reads an item (strongly consistent); an expired item reads as missing.
    async fn get(&self, key: &Key) -> Result<Option<Item>>;
    /// Writes an item whole. A failed condition is `Error::ConditionFailed`.
    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<()>;
    /// Changes attributes (creating the item when missing, as DynamoDB does) and returns the item
    /// as it is afterwards.
    async fn update(&self, key: &Key, updates: &[Update], condition: Option<Condition>) -> Result<Item>;
    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<()>;
    async fn query(&self, query: &Query) -> Result<Page>;
    /// Queries the sparse index: `partition` is a `gsi1pk`, the sort key a `gsi1sk`.
    async fn query_index(&self, query: &Query) -> Result<Page>;
    /// All or nothing, up to 100 operations on distinct items. When a condition fails the error
    /// is `Error::TransactionCanceled` naming each failed operation.
    async fn transact(&self, ops: Vec<TxOp>) -> Result<()>;
    /// Any number of puts and deletes on distinct items, retried until every one is processed.
    async fn batch_write(&self, ops: Vec<BatchOp>) -> Result<()>;
    /// Removes items whose TTL has passed and returns how many; engines with native TTL return 0.
    async fn sweep_expired(&self) -> Result<usize>;
    /// A cheap round trip that fails when the store cannot serve.
    async fn ping(&self) -> Result<()>;
    fn info(&self) -> StoreInfo;
    /// Copies every item as of one moment into a new backup file at `to`, while writes go on (the
    /// embedded engine; DynamoDB has AWS Backup and point-in-time recovery).
    async fn backup(&self, to: &std::path::Path) -> Result<BackupSummary>;
    /// How shared index partitions are spread over shards: only where one partition key's
    /// throughput is limited. Writers and readers of one store must agree, so a wrapper forwards
    /// its store's. A DynamoDB table's is read from the table with its first call.
    async fn spread(&self) -> Result<keys::Spread>;
}

/// What a backup file holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupSummary {
    pub items: u64,
    pub bytes: u64,
    /// Hex SHA-256 of the file's bytes before the digest.
    pub sha256: String,
}

/// The simulated time `now_unix` reads instead of the system clock, when not 0.
static SIMULATED_NOW: AtomicI64 = AtomicI64::new(0);

/// Unix seconds now (the simulated clock's, when one is set).
pub fn now_unix() -> i64 {
    match SIMULATED_NOW.load(Ordering::Relaxed) {
        0 => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default(),
        simulated => simulated,
    }
}

/// Sets the clock `now_unix` reads for the whole process to `unix_seconds` (0: the system
/// clock again). Only the partition model (`ovation bench --only scale`) replays a day with it.
pub fn simulate_clock(unix_seconds: i64) {
    SIMULATED_NOW.store(unix_seconds, Ordering::Relaxed);
}

mod b64 {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD_NO_PAD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD_NO_PAD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD_NO_PAD.decode(text).map_err(serde::de::Error::custom)
    }
}
