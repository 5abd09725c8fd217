//! A keyring decorator that counts calls to the real keyring, so benchmarks and tests can hold
//! the key cache to its promise (one KMS call per tenant per cache lifetime).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use super::{DataKey, Keyring, KeyringInfo, Secret};
use crate::error::Result;
use crate::ids::TenantId;

pub struct MeteredKeyring {
    inner: Arc<dyn Keyring>,
    calls: AtomicU64,
}

impl MeteredKeyring {
    pub fn new(inner: Arc<dyn Keyring>) -> Self {
        MeteredKeyring {
            inner,
            calls: AtomicU64::new(0),
        }
    }

    /// Calls made so far (generate and decrypt).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
}

#[async_trait]
impl Keyring for MeteredKeyring {
    async fn generate_data_key(&self, tenant: &TenantId) -> Result<DataKey> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.generate_data_key(tenant).await
    }

    async fn decrypt_data_key(&self, tenant: &TenantId, wrapped: &[u8]) -> Result<Secret> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.decrypt_data_key(tenant, wrapped).await
    }

    fn info(&self) -> KeyringInfo {
        self.inner.info()
    }
}
