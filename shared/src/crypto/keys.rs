//! The key manager: one data key per tenant and version, stored wrapped in the tenant's partition
//! (`T#{t}` / `DEK#{version}`), unwrapped by the keyring only on a cache miss, and cached in memory
//! bounded by age and use count. Rotation adds a version (old data stays readable); deleting every
//! version crypto-shreds the tenant.
//!
//! Each version also carries the tenant's *stable root* (sealed under that version's key): the
//! secret from which keys that must outlive rotation are derived (blind index, cursors, links),
//! so one keyring call per cache lifetime yields every key a tenant needs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use aws_lc_rs::aead::{AES_256_GCM, LessSafeKey, UnboundKey};
use aws_lc_rs::{hkdf, hmac};
use zeroize::Zeroizing;

use super::{Keyring, Secret, aead, random_secret};
use crate::config::KeyCache;
use crate::error::{Error, Result};
use crate::ids::TenantId;
use crate::store::keys::{DATA_KEY_PREFIX, data_key_sort, shredded_sort, tenant_partition};
use crate::store::{BatchOp, Condition, Item, Key, Query, Store, TxOp, now_unix};

const WRAPPED: &str = "wrapped";
const STABLE: &str = "stable";
const CREATED_AT: &str = "created_at";

/// The keys of one tenant at one data-key version.
pub struct TenantKeys {
    pub version: u32,
    /// AES-256-GCM key for fields, derived from the version's data key.
    pub(super) field: LessSafeKey,
    /// HMAC key of the blind index (stable across versions).
    pub(super) blind: hmac::Key,
    /// AES-256-GCM key of pagination cursors (stable across versions).
    pub cursor: Arc<LessSafeKey>,
    /// HMAC key that signs respondent links (stable across versions, so links outlive rotation).
    pub(super) link: hmac::Key,
    stable_root: Secret,
}

/// A 256-bit sub-key of `secret` for one purpose (HKDF-SHA-256).
fn derive(secret: &[u8], purpose: &'static [u8]) -> Result<Secret> {
    let mut out = Zeroizing::new([0u8; 32]);
    let info = [purpose];
    hkdf::Salt::new(hkdf::HKDF_SHA256, b"ovation/v1")
        .extract(secret)
        .expand(&info, hkdf::HKDF_SHA256)
        .and_then(|okm| okm.fill(out.as_mut()))
        .map_err(|_| Error::internal("key derivation failed"))?;
    Ok(out)
}

fn hmac_key(secret: &[u8], purpose: &'static [u8]) -> Result<hmac::Key> {
    Ok(hmac::Key::new(hmac::HMAC_SHA256, derive(secret, purpose)?.as_ref()))
}

fn aead_key(secret: &[u8], purpose: &'static [u8]) -> Result<LessSafeKey> {
    let bytes = derive(secret, purpose)?;
    Ok(LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, bytes.as_ref()).map_err(Error::internal)?,
    ))
}

impl TenantKeys {
    fn new(version: u32, data_key: &Secret, stable_root: Secret) -> Result<Self> {
        Ok(TenantKeys {
            version,
            field: aead_key(data_key.as_ref(), b"field")?,
            blind: hmac_key(stable_root.as_ref(), b"blind-index")?,
            cursor: Arc::new(aead_key(stable_root.as_ref(), b"cursor")?),
            link: hmac_key(stable_root.as_ref(), b"respondent-link")?,
            stable_root,
        })
    }
}

fn stable_aad(tenant: &TenantId, version: u32) -> Vec<u8> {
    format!("ovation:stable-root:v1\0{tenant}\0{version}").into_bytes()
}

fn seal_root(data_key: &Secret, tenant: &TenantId, version: u32, root: &Secret) -> Result<Vec<u8>> {
    let key = aead_key(data_key.as_ref(), b"stable-root")?;
    aead::seal(&key, &stable_aad(tenant, version), root.as_ref())
}

fn open_root(data_key: &Secret, tenant: &TenantId, version: u32, sealed: &[u8]) -> Result<Secret> {
    let key = aead_key(data_key.as_ref(), b"stable-root")?;
    aead::open_secret(&key, &stable_aad(tenant, version), sealed)
}

struct Cached {
    keys: Arc<TenantKeys>,
    loaded: Instant,
    uses: u64,
}

#[derive(Default)]
struct TenantSlots {
    current: Option<Cached>,
    versions: HashMap<u32, Cached>,
}

pub struct KeyManager {
    keyring: Arc<dyn Keyring>,
    store: Arc<dyn Store>,
    limits: KeyCache,
    cache: Mutex<HashMap<TenantId, TenantSlots>>,
    /// One lock per tenant serialises its cache fills (concurrent misses cost one keyring call,
    /// not one each) and its shredding, without one tenant's slow call holding up another's.
    fills: Mutex<HashMap<TenantId, Arc<tokio::sync::Mutex<()>>>>,
}

impl KeyManager {
    pub fn new(keyring: Arc<dyn Keyring>, store: Arc<dyn Store>, limits: KeyCache) -> Self {
        KeyManager {
            keyring,
            store,
            limits,
            cache: Mutex::new(HashMap::new()),
            fills: Mutex::new(HashMap::new()),
        }
    }

    fn fill_lock(&self, tenant: &TenantId) -> Arc<tokio::sync::Mutex<()>> {
        let mut fills = self.fills.lock().unwrap_or_else(|p| p.into_inner());
        fills.entry(tenant.clone()).or_default().clone()
    }

    fn fresh(&self, c: &Cached) -> bool {
        c.loaded.elapsed() < self.limits.max_age && c.uses < self.limits.max_uses
    }

    pub fn keyring(&self) -> &dyn Keyring {
        self.keyring.as_ref()
    }

    /// The cached keys, counted as one use, while fresh.
    fn cached(&self, tenant: &TenantId, version: Option<u32>) -> Option<Arc<TenantKeys>> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let slots = cache.get_mut(tenant)?;
        let entry = match version {
            None => slots.current.as_mut(),
            Some(v) => slots.versions.get_mut(&v),
        }?;
        if !self.fresh(entry) {
            return None;
        }
        entry.uses += 1;
        Some(entry.keys.clone())
    }

    fn remember(&self, tenant: &TenantId, keys: &Arc<TenantKeys>, current: bool) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        // Unwrapped keys past their bounds leave memory at the next fill of any tenant.
        for slots in cache.values_mut() {
            slots.current = slots.current.take().filter(|c| self.fresh(c));
            slots.versions.retain(|_, c| self.fresh(c));
        }
        cache.retain(|_, slots| slots.current.is_some() || !slots.versions.is_empty());
        let slots = cache.entry(tenant.clone()).or_default();
        // The fill itself is the entry's first use.
        let fresh = || Cached {
            keys: keys.clone(),
            loaded: Instant::now(),
            uses: 1,
        };
        if current {
            slots.current = Some(fresh());
        }
        slots.versions.insert(keys.version, fresh());
    }

    fn forget(&self, tenant: &TenantId) {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).remove(tenant);
    }

    async fn unwrap_item(&self, tenant: &TenantId, item: &Item) -> Result<Arc<TenantKeys>> {
        let version = item
            .key
            .sk
            .strip_prefix(DATA_KEY_PREFIX)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| Error::internal("malformed data key item"))?;
        let wrapped = item
            .bytes(WRAPPED)
            .ok_or_else(|| Error::internal("data key item without its key"))?;
        let sealed = item
            .bytes(STABLE)
            .ok_or_else(|| Error::internal("data key item without its root"))?;
        let data_key = self.keyring.decrypt_data_key(tenant, wrapped).await?;
        let root = open_root(&data_key, tenant, version, sealed)?;
        Ok(Arc::new(TenantKeys::new(version, &data_key, root)?))
    }

    /// The newest data key item; `Error::Undecryptable` once the tenant was shredded (its
    /// tombstone sorts after every version).
    async fn latest_item(&self, tenant: &TenantId) -> Result<Option<Item>> {
        let query = Query::new(tenant_partition(tenant))
            .prefix(DATA_KEY_PREFIX)
            .backward()
            .limit(1);
        match self.store.query(&query).await?.items.into_iter().next() {
            Some(item) if item.key.sk == shredded_sort() => Err(Error::Undecryptable),
            other => Ok(other),
        }
    }

    /// Makes and stores version `version`; `Error::ConditionFailed` when another process made it
    /// first, `Error::Undecryptable` when the tenant was shredded meanwhile.
    async fn create_version(&self, tenant: &TenantId, version: u32, root: Secret) -> Result<Arc<TenantKeys>> {
        let data_key = self.keyring.generate_data_key(tenant).await?;
        let item = Item::new(Key::new(tenant_partition(tenant), data_key_sort(version)))
            .with(WRAPPED, data_key.wrapped.clone())
            .with(STABLE, seal_root(&data_key.plaintext, tenant, version, &root)?)
            .with(CREATED_AT, now_unix());
        let tombstone = Key::new(tenant_partition(tenant), shredded_sort());
        let ops = vec![
            TxOp::Put {
                item,
                condition: Some(Condition::NotExists),
            },
            TxOp::Check {
                key: tombstone,
                condition: Condition::NotExists,
            },
        ];
        match self.store.transact(ops).await {
            Ok(()) => Ok(Arc::new(TenantKeys::new(version, &data_key.plaintext, root)?)),
            Err(Error::TransactionCanceled(failed)) if failed.iter().any(|f| f.index == 1) => Err(Error::Undecryptable),
            Err(Error::TransactionCanceled(_)) => Err(Error::ConditionFailed),
            Err(e) => Err(e),
        }
    }

    /// The tenant's current keys, creating the tenant's first data key when it has none.
    pub async fn current(&self, tenant: &TenantId) -> Result<Arc<TenantKeys>> {
        if let Some(keys) = self.cached(tenant, None) {
            return Ok(keys);
        }
        let lock = self.fill_lock(tenant);
        let _fill = lock.lock().await;
        if let Some(keys) = self.cached(tenant, None) {
            return Ok(keys);
        }
        let keys = match self.latest_item(tenant).await? {
            Some(item) => self.unwrap_item(tenant, &item).await?,
            None => match self.create_version(tenant, 1, random_secret()?).await {
                Ok(keys) => keys,
                // Another process created it first: use theirs.
                Err(Error::ConditionFailed) => {
                    let item = self.latest_item(tenant).await?.ok_or(Error::Undecryptable)?;
                    self.unwrap_item(tenant, &item).await?
                }
                Err(e) => return Err(e),
            },
        };
        self.remember(tenant, &keys, true);
        Ok(keys)
    }

    /// The tenant's keys of `version`, for data written before a rotation. After the tenant's
    /// keys were deleted this is `Error::Undecryptable`.
    pub async fn version(&self, tenant: &TenantId, version: u32) -> Result<Arc<TenantKeys>> {
        if let Some(keys) = self.cached(tenant, Some(version)) {
            return Ok(keys);
        }
        let lock = self.fill_lock(tenant);
        let _fill = lock.lock().await;
        if let Some(keys) = self.cached(tenant, Some(version)) {
            return Ok(keys);
        }
        let key = Key::new(tenant_partition(tenant), data_key_sort(version));
        let item = self.store.get(&key).await?.ok_or(Error::Undecryptable)?;
        let keys = self.unwrap_item(tenant, &item).await?;
        self.remember(tenant, &keys, false);
        Ok(keys)
    }

    /// Adds a data key version; new writes use it, older data stays readable. Returns the version.
    pub async fn rotate(&self, tenant: &TenantId) -> Result<u32> {
        let current = self.current(tenant).await?;
        let root = Zeroizing::new(*current.stable_root);
        let next = self.create_version(tenant, current.version + 1, root).await?;
        self.forget(tenant);
        self.remember(tenant, &next, true);
        Ok(next.version)
    }

    /// Deletes every wrapped data key of the tenant and leaves a tombstone so none is made
    /// again: all its ciphertexts become unreadable at once in the live store, and in backups
    /// once the backups made before this moment have aged out. Returns how many versions were
    /// deleted. Other processes drop their cached keys within the cache lifetime.
    pub async fn shred(&self, tenant: &TenantId) -> Result<usize> {
        let lock = self.fill_lock(tenant);
        let _fill = lock.lock().await;
        let tombstone = Item::new(Key::new(tenant_partition(tenant), shredded_sort())).with(CREATED_AT, now_unix());
        self.store.put(tombstone, None).await?;
        let mut deleted = 0;
        loop {
            let page = self
                .store
                .query(&Query::new(tenant_partition(tenant)).prefix(DATA_KEY_PREFIX).limit(100))
                .await?;
            let versions: Vec<BatchOp> = page
                .items
                .into_iter()
                .filter(|i| i.key.sk != shredded_sort())
                .map(|i| BatchOp::Delete(i.key))
                .collect();
            if versions.is_empty() {
                break;
            }
            deleted += versions.len();
            self.store.batch_write(versions).await?;
        }
        self.forget(tenant);
        Ok(deleted)
    }
}
