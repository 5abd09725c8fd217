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

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::{hkdf, hmac};
use zeroize::Zeroizing;

use super::{Keyring, Secret, random_secret};
use crate::config::KeyCache;
use crate::error::{Error, Result};
use crate::ids::TenantId;
use crate::store::keys::{DATA_KEY_PREFIX, data_key_sort, tenant_partition};
use crate::store::{BatchOp, Condition, Item, Key, Query, Store, now_unix};

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
    /// HMAC key of pagination cursors (stable across versions).
    pub cursor: hmac::Key,
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
            cursor: hmac_key(stable_root.as_ref(), b"cursor")?,
            stable_root,
        })
    }
}

fn stable_aad(tenant: &TenantId, version: u32) -> Vec<u8> {
    format!("ovation:stable-root:v1\0{tenant}\0{version}").into_bytes()
}

fn seal_root(data_key: &Secret, tenant: &TenantId, version: u32, root: &Secret) -> Result<Vec<u8>> {
    let key = aead_key(data_key.as_ref(), b"stable-root")?;
    let mut nonce = [0u8; NONCE_LEN];
    aws_lc_rs::rand::fill(&mut nonce).map_err(Error::internal)?;
    let mut sealed = root.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(stable_aad(tenant, version)),
        &mut sealed,
    )
    .map_err(Error::internal)?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    Ok(out)
}

fn open_root(data_key: &Secret, tenant: &TenantId, version: u32, sealed: &[u8]) -> Result<Secret> {
    let key = aead_key(data_key.as_ref(), b"stable-root")?;
    if sealed.len() < NONCE_LEN {
        return Err(Error::Undecryptable);
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| Error::Undecryptable)?;
    let mut buf = Zeroizing::new(body.to_vec());
    let plain = key
        .open_in_place(nonce, Aad::from(stable_aad(tenant, version)), &mut buf)
        .map_err(|_| Error::Undecryptable)?;
    let mut root = Zeroizing::new([0u8; 32]);
    if plain.len() != root.len() {
        return Err(Error::Undecryptable);
    }
    root.copy_from_slice(plain);
    Ok(root)
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
    /// Serialises cache fills, so concurrent misses cost one keyring call, not one each.
    fill: tokio::sync::Mutex<()>,
}

impl KeyManager {
    pub fn new(keyring: Arc<dyn Keyring>, store: Arc<dyn Store>, limits: KeyCache) -> Self {
        KeyManager {
            keyring,
            store,
            limits,
            cache: Mutex::new(HashMap::new()),
            fill: tokio::sync::Mutex::new(()),
        }
    }

    pub fn keyring(&self) -> &dyn Keyring {
        self.keyring.as_ref()
    }

    /// A fresh cache entry, counted as one use.
    fn take(&self, cached: &mut Option<&mut Cached>) -> Option<Arc<TenantKeys>> {
        let c = cached.as_mut()?;
        if c.loaded.elapsed() >= self.limits.max_age || c.uses >= self.limits.max_uses {
            return None;
        }
        c.uses += 1;
        Some(c.keys.clone())
    }

    fn cached(&self, tenant: &TenantId, version: Option<u32>) -> Option<Arc<TenantKeys>> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let slots = cache.get_mut(tenant)?;
        let mut entry = match version {
            None => slots.current.as_mut(),
            Some(v) => slots.versions.get_mut(&v),
        };
        self.take(&mut entry)
    }

    fn remember(&self, tenant: &TenantId, keys: &Arc<TenantKeys>, current: bool) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
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

    async fn latest_item(&self, tenant: &TenantId) -> Result<Option<Item>> {
        let page = self
            .store
            .query(
                &Query::new(tenant_partition(tenant))
                    .prefix(DATA_KEY_PREFIX)
                    .backward()
                    .limit(1),
            )
            .await?;
        Ok(page.items.into_iter().next())
    }

    /// Makes and stores version `version`; `Error::ConditionFailed` when another process made it.
    async fn create_version(&self, tenant: &TenantId, version: u32, root: Secret) -> Result<Arc<TenantKeys>> {
        let data_key = self.keyring.generate_data_key(tenant).await?;
        let item = Item::new(Key::new(tenant_partition(tenant), data_key_sort(version)))
            .with(WRAPPED, data_key.wrapped.clone())
            .with(STABLE, seal_root(&data_key.plaintext, tenant, version, &root)?)
            .with(CREATED_AT, now_unix());
        self.store.put(item, Some(Condition::NotExists)).await?;
        Ok(Arc::new(TenantKeys::new(version, &data_key.plaintext, root)?))
    }

    /// The tenant's current keys, creating the tenant's first data key when it has none.
    pub async fn current(&self, tenant: &TenantId) -> Result<Arc<TenantKeys>> {
        if let Some(keys) = self.cached(tenant, None) {
            return Ok(keys);
        }
        let _fill = self.fill.lock().await;
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
        let _fill = self.fill.lock().await;
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

    /// Deletes every wrapped data key of the tenant: all its ciphertexts, wherever they are
    /// (backups included), become unreadable. Returns how many versions were deleted. Other
    /// processes drop their cached keys within the cache lifetime.
    pub async fn shred(&self, tenant: &TenantId) -> Result<usize> {
        let mut deleted = 0;
        loop {
            let page = self
                .store
                .query(&Query::new(tenant_partition(tenant)).prefix(DATA_KEY_PREFIX).limit(100))
                .await?;
            if page.items.is_empty() {
                break;
            }
            deleted += page.items.len();
            self.store
                .batch_write(page.items.into_iter().map(|i| BatchOp::Delete(i.key)).collect())
                .await?;
        }
        self.forget(tenant);
        Ok(deleted)
    }
}
