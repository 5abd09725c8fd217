//! Tenants' settings as recently read, per process, so that authenticating a request reads only
//! its credential.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::domain::tenant::Tenant;
use crate::ids::TenantId;

/// Tenants' settings as recently read, per process, for at most the configured time.
pub struct TenantCache {
    ttl: Duration,
    entries: Mutex<HashMap<TenantId, (Instant, Arc<Tenant>)>>,
}

const MAX_CACHED: usize = 10_000;

impl TenantCache {
    pub fn new(ttl: Duration) -> Self {
        TenantCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn lookup(&self, id: &TenantId) -> Option<Arc<Tenant>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(id)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, t)| t.clone())
    }

    pub fn remember(&self, tenant: Arc<Tenant>) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_CACHED {
            entries.retain(|_, (at, _)| at.elapsed() < self.ttl);
        }
        entries.insert(tenant.id.clone(), (Instant::now(), tenant));
    }

    /// Drops a tenant after a change, so this process sees it at once.
    pub fn forget(&self, id: &TenantId) {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
    }
}
