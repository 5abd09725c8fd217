//! Per-tenant envelope encryption (ARCHITECTURE.md "Per-tenant encryption"): the `Keyring` port that makes and
//! unwraps tenant data keys (a local master key file, or AWS KMS), the key manager that stores the
//! wrapped keys and caches unwrapped ones, and the field cipher and blind index built on them.

pub mod aead;
pub mod envelope;
pub mod keys;
pub mod kms;
pub mod links;
pub mod local;
pub mod metered;

use async_trait::async_trait;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::error::Result;
use crate::ids::TenantId;

pub use envelope::TenantCrypto;
pub use keys::KeyManager;

/// 256 bits of key material, wiped from memory when dropped.
pub type Secret = Zeroizing<[u8; 32]>;

/// A fresh data key: its plaintext (used, never stored) and its wrapped form (stored).
pub struct DataKey {
    pub plaintext: Secret,
    pub wrapped: Vec<u8>,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKey")
            .field("plaintext", &"<redacted>")
            .field("wrapped_len", &self.wrapped.len())
            .finish()
    }
}

/// What a keyring reports of itself on `/health`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeyringInfo {
    pub kind: &'static str,
    pub version: String,
}

/// Makes and unwraps tenant data keys. The wrapped form is bound to the tenant (KMS encryption
/// context `{tenant: id}`): a key wrapped for one tenant does not unwrap for another.
#[async_trait]
pub trait Keyring: Send + Sync {
    async fn generate_data_key(&self, tenant: &TenantId) -> Result<DataKey>;
    /// `Error::Undecryptable` when `wrapped` was not made for this tenant or was altered.
    async fn decrypt_data_key(&self, tenant: &TenantId, wrapped: &[u8]) -> Result<Secret>;
    fn info(&self) -> KeyringInfo;
}

/// 32 random bytes from the operating system's generator.
pub fn random_secret() -> Result<Secret> {
    let mut secret = Zeroizing::new([0u8; 32]);
    fill_random(secret.as_mut())?;
    Ok(secret)
}

/// Fills `out` from the system's secure random generator.
pub fn fill_random(out: &mut [u8]) -> Result<()> {
    aws_lc_rs::rand::fill(out).map_err(|_| crate::Error::internal("the random generator failed"))
}
