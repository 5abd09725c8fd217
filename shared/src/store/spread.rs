//! A workspace's busiest partitions (`keys::spread_shards`) spread over shards where one partition
//! key's throughput is limited: an item lives in the shard its sort key hashes to, and a query of
//! the partition reads a bounded page of every shard and merges them in order. Callers see the
//! partitions whole: keys, items and positions go down sharded and come back unsharded.

use std::collections::VecDeque;
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::future::try_join_all;

use super::{
    BackupSummary, BatchOp, Condition, Direction, Item, Key, Page, Position, Query, Store, StoreInfo, TxOp, Update,
    Value, attr, keys,
};
use crate::error::Result;

/// A store whose workspace partitions are spread over `spread().workspace_shards` shards.
pub struct SpreadStore {
    inner: Arc<dyn Store>,
    shards: u32,
}

impl SpreadStore {
    /// Spreads `inner`'s workspace partitions over `shards`, as `inner.spread()` says.
    pub fn new(inner: Arc<dyn Store>, shards: u32) -> Self {
        SpreadStore {
            inner,
            shards: shards.max(1),
        }
    }

    /// The shards of partition `pk` (1: whole).
    fn shards_of(&self, pk: &str) -> u32 {
        keys::spread_shards(pk, self.shards)
    }

    /// The shard of `pk` the item of `key` lives in (or, for an index partition it names, joins).
    fn place(&self, pk: &str, key: &Key) -> String {
        match self.shards_of(pk) {
            1 => pk.to_owned(),
            shards => keys::workspace_shard(pk, keys::shard_of(&key.sk, shards)),
        }
    }

    /// Where the item of `key` lives.
    fn down_key(&self, key: &Key) -> Key {
        Key::new(self.place(&key.pk, key), key.sk.clone())
    }

    fn down_item(&self, mut item: Item) -> Item {
        if let Some(Value::S(pk)) = item.attrs.get_mut(attr::GSI1PK) {
            *pk = self.place(pk, &item.key);
        }
        item.key = self.down_key(&item.key);
        item
    }

    fn down_updates(&self, key: &Key, updates: &[Update]) -> Vec<Update> {
        updates
            .iter()
            .map(|update| match update {
                Update::Set(name, Value::S(pk)) if name == attr::GSI1PK => {
                    Update::Set(name.clone(), Value::S(self.place(pk, key)))
                }
                update => update.clone(),
            })
            .collect()
    }

    fn down_op(&self, op: TxOp) -> TxOp {
        match op {
            TxOp::Put { item, condition } => TxOp::Put {
                item: self.down_item(item),
                condition,
            },
            TxOp::Update {
                key,
                updates,
                condition,
            } => TxOp::Update {
                updates: self.down_updates(&key, &updates),
                key: self.down_key(&key),
                condition,
            },
            TxOp::Delete { key, condition } => TxOp::Delete {
                key: self.down_key(&key),
                condition,
            },
            TxOp::Check { key, condition } => TxOp::Check {
                key: self.down_key(&key),
                condition,
            },
        }
    }

    /// `position` for a query of partition `pk` (a shard, or a partition not spread).
    fn down_position(&self, position: &Position, pk: &str, index: bool) -> Position {
        match (&position.index, index) {
            (Some(ix), true) => Position {
                key: self.down_key(&position.key),
                index: Some(Key::new(pk, ix.sk.clone())),
            },
            _ => Position {
                key: Key::new(pk, position.key.sk.clone()),
                index: None,
            },
        }
    }

    async fn run(&self, query: &Query, index: bool) -> Result<Page> {
        if index {
            self.inner.query_index(query).await
        } else {
            self.inner.query(query).await
        }
    }

    /// A query of a partition that is not spread; its items may be of spread ones (an index).
    async fn whole(&self, query: &Query, index: bool) -> Result<Page> {
        let mut down = query.clone();
        if let Some(after) = &query.after {
            // The position's own partition, mapped: the engine refuses one from elsewhere.
            let pk = match (&after.index, index) {
                (Some(ix), true) => ix.pk.clone(),
                _ => self.down_key(&after.key).pk,
            };
            down.after = Some(self.down_position(after, &pk, index));
        }
        let page = self.run(&down, index).await?;
        Ok(Page {
            items: page.items.into_iter().map(up_item).collect(),
            next: page.next.map(up_position),
        })
    }

    /// A query of a spread partition: the shards' pages merged in order into a full page. Each
    /// shard is read twice its share of the limit at a time, and again when the merge has taken
    /// all it read while it has more; a page reads about twice the items it returns.
    async fn merged(&self, query: &Query, index: bool, shards: u32) -> Result<Page> {
        let per_shard = query.limit.min(2 * query.limit.div_ceil(shards));
        let mut reads: Vec<ShardRead> = (0..shards)
            .map(|shard| {
                let pk = keys::workspace_shard(&query.partition, shard);
                ShardRead {
                    after: query.after.as_ref().map(|p| self.down_position(p, &pk, index)),
                    pk,
                    items: VecDeque::new(),
                    done: false,
                }
            })
            .collect();
        let forward = query.direction == Direction::Forward;
        let mut items = Vec::new();
        while items.len() < query.limit as usize {
            let empty: Vec<usize> = (0..reads.len())
                .filter(|&i| reads[i].items.is_empty() && !reads[i].done)
                .collect();
            let pages = try_join_all(empty.iter().map(|&i| {
                let mut down = query.clone().limit(per_shard);
                down.partition = reads[i].pk.clone();
                down.after = reads[i].after.clone();
                async move { self.run(&down, index).await }
            }))
            .await?;
            for (i, page) in empty.into_iter().zip(pages) {
                let read = &mut reads[i];
                read.done = page.next.is_none();
                read.after = page.next;
                read.items = page
                    .items
                    .into_iter()
                    .map(|item| (Order::of_item(&item, index), up_item(item)))
                    .collect();
            }
            let first = reads.iter_mut().filter(|read| !read.items.is_empty()).min_by(|a, b| {
                let (a, b) = (&a.items[0].0, &b.items[0].0);
                if forward { a.cmp(b) } else { b.cmp(a) }
            });
            match first.and_then(|read| read.items.pop_front()) {
                Some((_, item)) => items.push(item),
                None => break,
            }
        }
        let more = items.len() == query.limit as usize && reads.iter().any(|r| !r.items.is_empty() || !r.done);
        let next = match items.last() {
            Some(item) if more => Some(Position {
                key: item.key.clone(),
                index: index.then(|| Key::new(query.partition.clone(), item.str(attr::GSI1SK).unwrap_or_default())),
            }),
            _ => None,
        };
        Ok(Page { items, next })
    }
}

/// One shard's part of a merged query: what it read and the merge has not taken yet, and where
/// it continues.
struct ShardRead {
    pk: String,
    after: Option<Position>,
    items: VecDeque<(Order, Item)>,
    done: bool,
}

/// Where an item sorts in a merged page: by sort key, or for the index by its sort key and then
/// the item's (the index keeps equal sort keys in no defined order).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Order(String, String);

impl Order {
    fn of_item(item: &Item, index: bool) -> Order {
        match index {
            true => Order(
                item.str(attr::GSI1SK).unwrap_or_default().to_owned(),
                item.key.sk.clone(),
            ),
            false => Order(item.key.sk.clone(), String::new()),
        }
    }
}

fn unshard(pk: &mut String) {
    let whole = keys::unsharded(pk).len();
    pk.truncate(whole);
}

fn up_item(mut item: Item) -> Item {
    unshard(&mut item.key.pk);
    if let Some(Value::S(pk)) = item.attrs.get_mut(attr::GSI1PK) {
        unshard(pk);
    }
    item
}

fn up_position(mut position: Position) -> Position {
    unshard(&mut position.key.pk);
    if let Some(ix) = &mut position.index {
        unshard(&mut ix.pk);
    }
    position
}

#[async_trait]
impl Store for SpreadStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>> {
        Ok(self.inner.get(&self.down_key(key)).await?.map(up_item))
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<()> {
        self.inner.put(self.down_item(item), condition).await
    }

    async fn update(&self, key: &Key, updates: &[Update], condition: Option<Condition>) -> Result<Item> {
        let updates = self.down_updates(key, updates);
        Ok(up_item(
            self.inner.update(&self.down_key(key), &updates, condition).await?,
        ))
    }

    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<()> {
        self.inner.delete(&self.down_key(key), condition).await
    }

    async fn query(&self, query: &Query) -> Result<Page> {
        match self.shards_of(&query.partition) {
            1 => self.whole(query, false).await,
            shards => self.merged(query, false, shards).await,
        }
    }

    async fn query_index(&self, query: &Query) -> Result<Page> {
        match self.shards_of(&query.partition) {
            1 => self.whole(query, true).await,
            shards => self.merged(query, true, shards).await,
        }
    }

    async fn transact(&self, ops: Vec<TxOp>) -> Result<()> {
        self.inner
            .transact(ops.into_iter().map(|op| self.down_op(op)).collect())
            .await
    }

    async fn batch_write(&self, ops: Vec<BatchOp>) -> Result<()> {
        let ops = ops
            .into_iter()
            .map(|op| match op {
                BatchOp::Put(item) => BatchOp::Put(self.down_item(item)),
                BatchOp::Delete(key) => BatchOp::Delete(self.down_key(&key)),
            })
            .collect();
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

    async fn backup(&self, to: &std::path::Path) -> Result<BackupSummary> {
        self.inner.backup(to).await
    }

    async fn spread(&self) -> Result<keys::Spread> {
        self.inner.spread().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::capacity::CapacityMeter;
    use crate::store::embedded::EmbeddedStore;
    use crate::store::keys::Spread;

    /// The embedded engine below a store that says it is spread over `shards`.
    fn spread_over(dir: &tempfile::TempDir, shards: u32) -> (Arc<dyn Store>, SpreadStore) {
        let engine: Arc<dyn Store> = Arc::new(EmbeddedStore::open(&dir.path().join("store.redb")).unwrap());
        let spread = Spread {
            workspace_shards: shards,
            ..Spread::UNLIMITED
        };
        let limited: Arc<dyn Store> = Arc::new(CapacityMeter::with(engine.clone(), spread, || 0));
        (engine, SpreadStore::new(limited, shards))
    }

    #[tokio::test]
    async fn items_live_in_their_shards_and_read_back_as_one_partition() {
        let dir = tempfile::tempdir().unwrap();
        let (engine, store) = spread_over(&dir, 8);
        let pk = "T#A#WHE";
        let ops = (0..200)
            .map(|i| BatchOp::Put(Item::new(Key::new(pk, format!("EV#{i:03}")))))
            .collect();
        store.batch_write(ops).await.unwrap();
        let mut placed = Vec::new();
        // Webhook events: twice the shards of the others.
        for shard in 0..16 {
            let physical = keys::workspace_shard(pk, shard);
            let page = engine.query(&Query::new(&physical).limit(1000)).await.unwrap();
            assert!(page.items.iter().all(|i| keys::shard_of(&i.key.sk, 16) == shard));
            assert_eq!(keys::unsharded(&physical), pk);
            placed.push(page.items.len());
        }
        assert_eq!(placed.iter().sum::<usize>(), 200);
        assert!(placed.iter().all(|&n| (4..=24).contains(&n)), "{placed:?}");
        assert_eq!(keys::workspace_shard(pk, 0), pk, "shard 0 keeps the partition's name");

        let expected: Vec<String> = (0..200).map(|i| format!("EV#{i:03}")).collect();
        for limit in 1..=12 {
            for direction in [Direction::Forward, Direction::Backward] {
                let mut query = Query::new(pk).limit(limit);
                query.direction = direction;
                let mut read = Vec::new();
                loop {
                    let page = store.query(&query).await.unwrap();
                    match page.next {
                        Some(_) => assert_eq!(page.items.len(), limit as usize, "pages are full"),
                        None => assert!(page.items.len() <= limit as usize),
                    }
                    assert!(page.items.iter().all(|i| i.key.pk == pk));
                    read.extend(page.items.into_iter().map(|i| i.key.sk));
                    match page.next {
                        Some(next) => query.after = Some(next),
                        None => break,
                    }
                }
                if direction == Direction::Backward {
                    read.reverse();
                }
                assert_eq!(read, expected, "{limit} a page, {direction:?}");
            }
        }
        let item = store.get(&Key::new(pk, "EV#123")).await.unwrap().unwrap();
        assert_eq!(item.key, Key::new(pk, "EV#123"));
        // A partition not spread stays whole.
        store.put(Item::new(Key::new("T#A#WH", "EP#1")), None).await.unwrap();
        assert!(engine.get(&Key::new("T#A#WH", "EP#1")).await.unwrap().is_some());
    }
}
