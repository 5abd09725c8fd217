//! Request budgets held across every instance by a counter per minute in the store: each
//! tenant's (credentialed requests) and each site key's (website surveys' visitors). An instance leases a small block of the minute's budget with one atomic `ADD`
//! and spends it locally, so the store sees one write per block, not one per request; at most a
//! block per instance can be leased and left unspent.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::ids::TenantId;
use crate::store::{TenantStore, Update, attr, keys};

/// Tenants remembered at the most; past it the leases are dropped (they are only an optimisation).
const MAX_TRACKED: usize = 10_000;

struct Lease {
    minute: i64,
    left: u32,
    exhausted: bool,
}

pub struct TenantRate {
    per_minute: u32,
    block: u32,
    leases: Mutex<HashMap<(TenantId, String), Lease>>,
}

impl TenantRate {
    pub fn new(per_minute: u32) -> Self {
        TenantRate {
            per_minute,
            block: (per_minute / 200).clamp(1, 50),
            leases: Mutex::new(HashMap::new()),
        }
    }

    pub fn per_minute(&self) -> u32 {
        self.per_minute
    }

    /// Local spend from a lease of this minute: `Some(Ok)` spent, `Some(Err)` refused, `None`
    /// when a new lease is needed.
    fn spend(&self, scope: &(TenantId, String), minute: i64, retry: Duration) -> Option<Result<()>> {
        let mut leases = self.leases.lock().unwrap_or_else(|p| p.into_inner());
        match leases.get_mut(scope) {
            Some(lease) if lease.minute == minute && lease.left > 0 => {
                lease.left -= 1;
                Some(Ok(()))
            }
            Some(lease) if lease.minute == minute && lease.exhausted => {
                Some(Err(Error::RateLimited { retry_after: retry }))
            }
            _ => None,
        }
    }

    /// Takes one request of the tenant's budget at `now` (unix seconds).
    pub async fn take(&self, store: &TenantStore, now: i64) -> Result<()> {
        self.take_of(store, None, now).await
    }

    /// Takes one request of a site key's budget (in its tenant) at `now`.
    pub async fn take_for_site(&self, store: &TenantStore, site_key: &str, now: i64) -> Result<()> {
        self.take_of(store, Some(site_key), now).await
    }

    async fn take_of(&self, store: &TenantStore, site_key: Option<&str>, now: i64) -> Result<()> {
        let scope = (store.tenant().clone(), site_key.unwrap_or_default().to_owned());
        let minute = now.div_euclid(60);
        let retry = Duration::from_secs((60 - now.rem_euclid(60)) as u64);
        if let Some(outcome) = self.spend(&scope, minute, retry) {
            return outcome;
        }
        let key = match site_key {
            Some(id) => keys::site_rate_window(&scope.0, id, minute)?,
            None => keys::rate_window(&scope.0, minute),
        };
        let item = store
            .update(
                &key,
                &[
                    Update::Add("n".into(), i64::from(self.block)),
                    Update::Set(attr::EXPIRES_AT.into(), ((minute + 2) * 60).into()),
                ],
                None,
            )
            .await?;
        let counted = item.num("n").unwrap_or(0);
        let before = counted - i64::from(self.block);
        let granted = (i64::from(self.per_minute) - before).clamp(0, i64::from(self.block)) as u32;
        let mut leases = self.leases.lock().unwrap_or_else(|p| p.into_inner());
        if leases.len() >= MAX_TRACKED && !leases.contains_key(&scope) {
            leases.clear();
        }
        let lease = leases.entry(scope).or_insert(Lease {
            minute,
            left: 0,
            exhausted: false,
        });
        if lease.minute != minute {
            *lease = Lease {
                minute,
                left: 0,
                exhausted: false,
            };
        }
        lease.left += granted;
        lease.exhausted = granted < self.block;
        if lease.left == 0 {
            return Err(Error::RateLimited { retry_after: retry });
        }
        lease.left -= 1;
        Ok(())
    }
}
