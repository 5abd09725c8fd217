//! The tenant-scoped store handle (ARCHITECTURE.md "Tenant isolation"). Services get this, never the raw
//! store: every key it is given must lie in its tenant's partitions, or the call fails with
//! `Error::OutsideTenant` before any I/O. Index entries may only point into the tenant's own
//! index partitions or the shared ones that hold no personal data. Cursors are sealed with a
//! tenant key, so one tenant's cursor is refused by every other.

use std::sync::{Arc, Mutex};

use super::keys::{SHARED_INDEX_PREFIXES, belongs_to};
use super::recent::RecentItems;
use super::{BatchOp, Condition, Item, Key, Query, Store, TxOp, Update, Value, attr};
use crate::crypto::TenantCrypto;
use crate::error::{Error, Result};
use crate::ids::TenantId;

/// A page of a tenant query; `cursor` continues it.
#[derive(Clone, Debug, PartialEq)]
pub struct TenantPage {
    pub items: Vec<Item>,
    pub cursor: Option<String>,
}

/// A request's handle on its tenant's items (clones share it).
#[derive(Clone)]
pub struct TenantStore {
    tenant: TenantId,
    store: Arc<dyn Store>,
    crypto: TenantCrypto,
    /// The webhook events this handle's writes emitted (ids), for the fast path to send once
    /// the write is made.
    emitted: Arc<Mutex<Vec<String>>>,
    recent: Arc<RecentItems>,
}

impl TenantStore {
    pub fn new(store: Arc<dyn Store>, crypto: TenantCrypto, recent: Arc<RecentItems>) -> Self {
        TenantStore {
            tenant: crypto.tenant().clone(),
            store,
            crypto,
            emitted: Arc::default(),
            recent,
        }
    }

    /// Reads configuration that every visitor's request or webhook delivery reads (a site key, a
    /// survey, an endpoint) as this process read it lately (`RecentItems`), else from the store.
    /// A write of the item (or of any item of its partition, for listings) through any handle of
    /// this process forgets it.
    pub async fn get_recent(&self, key: &Key) -> Result<Option<Item>> {
        self.own(&key.pk)?;
        let miss = match self.recent.lookup(&key.pk, &key.sk) {
            Ok(mut items) => return Ok(items.pop()),
            Err(miss) => miss,
        };
        let item = self.store.get(key).await?;
        self.recent
            .remember(&key.pk, &key.sk, miss, item.iter().cloned().collect());
        Ok(item)
    }

    /// Every item of a small configuration listing (`query_all`), as this process read it lately.
    pub async fn query_recent(&self, query: Query) -> Result<Vec<Item>> {
        let what = format!("\0{:?}{:?}", query.sort, query.direction);
        let miss = match self.recent.lookup(&query.partition, &what) {
            Ok(items) => return Ok(items),
            Err(miss) => miss,
        };
        let partition = query.partition.clone();
        let items = self.query_all(query).await?;
        self.recent.remember(&partition, &what, miss, items.clone());
        Ok(items)
    }

    /// Forgets what this process read lately of the items a write touched and the listings of
    /// their partitions (it may have changed them), whether or not the write was made.
    fn wrote<'a>(&self, keys: impl IntoIterator<Item = &'a Key>) {
        self.recent.forget(keys);
    }

    /// Notes a webhook event a write of this handle is to emit (its transaction may yet fail).
    pub fn note_emitted(&self, event: &str) {
        self.emitted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(event.to_owned());
    }

    /// The webhook events noted since the last call.
    pub fn take_emitted(&self) -> Vec<String> {
        std::mem::take(&mut *self.emitted.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// How the store spreads shared index partitions.
    pub async fn spread(&self) -> Result<super::keys::Spread> {
        self.store.spread().await
    }

    /// The tenant's encryption handle, for the fields of the items this handle writes.
    pub fn crypto(&self) -> &TenantCrypto {
        &self.crypto
    }

    fn own(&self, pk: &str) -> Result<()> {
        if belongs_to(&self.tenant, pk) {
            Ok(())
        } else {
            tracing::warn!(target: "security", "refused a key outside the tenant");
            Err(Error::OutsideTenant)
        }
    }

    fn own_index(&self, gsi1pk: &str) -> Result<()> {
        if SHARED_INDEX_PREFIXES.iter().any(|p| gsi1pk.starts_with(p)) {
            return Ok(());
        }
        self.own(gsi1pk)
    }

    fn own_item(&self, item: &Item) -> Result<()> {
        self.own(&item.key.pk)?;
        match item.get(attr::GSI1PK) {
            Some(Value::S(ix)) => self.own_index(ix),
            _ => Ok(()),
        }
    }

    fn own_updates(&self, key: &Key, updates: &[Update]) -> Result<()> {
        self.own(&key.pk)?;
        for u in updates {
            if let Update::Set(n, Value::S(ix)) = u
                && n == attr::GSI1PK
            {
                self.own_index(ix)?;
            }
        }
        Ok(())
    }

    pub async fn get(&self, key: &Key) -> Result<Option<Item>> {
        self.own(&key.pk)?;
        self.store.get(key).await
    }

    pub async fn put(&self, item: Item, condition: Option<Condition>) -> Result<()> {
        self.own_item(&item)?;
        let key = item.key.clone();
        let result = self.store.put(item, condition).await;
        self.wrote([&key]);
        result
    }

    /// Writes, on `condition`, an item under a fresh random id or the next version of a versioned
    /// item. Finding exactly this item after a failed condition means this write's own earlier
    /// attempt made it (the SDK repeats a write whose answer timed out), so the repeat is not
    /// reported as a conflict. Two writers making the very same change of a version (in the same
    /// second) both succeed, which is harmless: both asked for that state. Never for claims or
    /// markers, where which writer won matters.
    pub async fn put_own(&self, item: Item, condition: Condition) -> Result<()> {
        match self.put(item.clone(), Some(condition)).await {
            Err(Error::ConditionFailed) if self.store.get(&item.key).await?.as_ref() == Some(&item) => Ok(()),
            other => other,
        }
    }

    pub async fn update(&self, key: &Key, updates: &[Update], condition: Option<Condition>) -> Result<Item> {
        self.own_updates(key, updates)?;
        let result = self.store.update(key, updates, condition).await;
        self.wrote([key]);
        result
    }

    pub async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<()> {
        self.own(&key.pk)?;
        let result = self.store.delete(key, condition).await;
        self.wrote([key]);
        result
    }

    async fn run(&self, mut query: Query, cursor: Option<&str>, index: bool) -> Result<TenantPage> {
        if index {
            self.own_index(&query.partition)?;
        } else {
            self.own(&query.partition)?;
        }
        let seal = self.crypto.cursor_seal().await?;
        query.after = cursor.map(|c| seal.open(&query, index, c)).transpose()?;
        let page = if index {
            self.store.query_index(&query).await?
        } else {
            self.store.query(&query).await?
        };
        // Defence in depth: a shared index partition may list other tenants' items; drop them.
        let items: Vec<Item> = page
            .items
            .into_iter()
            .filter(|i| belongs_to(&self.tenant, &i.key.pk))
            .collect();
        Ok(TenantPage {
            items,
            cursor: page.next.map(|p| seal.seal(&query, index, &p)).transpose()?,
        })
    }

    /// Queries one of the tenant's partitions; `cursor` comes from the previous page.
    pub async fn query(&self, query: Query, cursor: Option<&str>) -> Result<TenantPage> {
        self.run(query, cursor, false).await
    }

    /// Every item a query selects, page after page (for partitions known to stay small: one
    /// user's sessions, one client's tokens).
    pub async fn query_all(&self, query: Query) -> Result<Vec<Item>> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self.query(query.clone(), cursor.as_deref()).await?;
            items.extend(page.items);
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(items),
            }
        }
    }

    /// Queries the sparse index; only the tenant's items are returned.
    pub async fn query_index(&self, query: Query, cursor: Option<&str>) -> Result<TenantPage> {
        self.run(query, cursor, true).await
    }

    pub async fn transact(&self, ops: Vec<TxOp>) -> Result<()> {
        for op in &ops {
            match op {
                TxOp::Put { item, .. } => self.own_item(item)?,
                TxOp::Update { key, updates, .. } => self.own_updates(key, updates)?,
                TxOp::Delete { key, .. } | TxOp::Check { key, .. } => self.own(&key.pk)?,
            }
        }
        let written: Vec<Key> = ops
            .iter()
            .filter(|op| !matches!(op, TxOp::Check { .. }))
            .map(|op| op.key().clone())
            .collect();
        let result = self.store.transact(ops).await;
        self.wrote(&written);
        result
    }

    pub async fn batch_write(&self, ops: Vec<BatchOp>) -> Result<()> {
        for op in &ops {
            match op {
                BatchOp::Put(item) => self.own_item(item)?,
                BatchOp::Delete(key) => self.own(&key.pk)?,
            }
        }
        let written: Vec<Key> = ops.iter().map(|op| op.key().clone()).collect();
        let result = self.store.batch_write(ops).await;
        self.wrote(&written);
        result
    }
}
