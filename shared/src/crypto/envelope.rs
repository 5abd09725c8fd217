//! Field encryption and blind indexes for one tenant. A field is sealed with AES-256-GCM under the
//! tenant's current key; the associated data binds tenant, item key and attribute name, so a
//! ciphertext copied to another attribute, item or tenant does not open. Format:
//! `[format=1][key version: u32 BE][nonce: 12][ciphertext + tag: 16]`.

use std::sync::Arc;

use aws_lc_rs::aead::{Aad, NONCE_LEN, Nonce};
use aws_lc_rs::hmac;

use super::KeyManager;
use crate::error::{Error, Result};
use crate::ids::TenantId;
use crate::store::{CursorSeal, Key};

const FORMAT: u8 = 1;
const HEADER: usize = 1 + 4 + NONCE_LEN;

/// The encryption handle of one tenant.
#[derive(Clone)]
pub struct TenantCrypto {
    keys: Arc<KeyManager>,
    tenant: TenantId,
}

fn aad(tenant: &TenantId, key: &Key, attr: &str) -> Vec<u8> {
    format!("ovation:field:v1\0{tenant}\0{}\0{}\0{attr}", key.pk, key.sk).into_bytes()
}

impl TenantCrypto {
    pub fn new(keys: Arc<KeyManager>, tenant: TenantId) -> Self {
        TenantCrypto { keys, tenant }
    }

    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// Seals `plaintext` as attribute `attr` of the item at `key`.
    pub async fn encrypt(&self, key: &Key, attr: &str, plaintext: &[u8]) -> Result<Vec<u8>> {
        let keys = self.keys.current(&self.tenant).await?;
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(Error::internal)?;
        let mut out = Vec::with_capacity(HEADER + plaintext.len() + 16);
        out.push(FORMAT);
        out.extend_from_slice(&keys.version.to_be_bytes());
        out.extend_from_slice(&nonce);
        let mut body = plaintext.to_vec();
        keys.field
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(&self.tenant, key, attr)),
                &mut body,
            )
            .map_err(Error::internal)?;
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Opens a field sealed by `encrypt` for the same tenant, item and attribute.
    pub async fn decrypt(&self, key: &Key, attr: &str, sealed: &[u8]) -> Result<Vec<u8>> {
        if sealed.len() < HEADER + 16 || sealed[0] != FORMAT {
            return Err(Error::Undecryptable);
        }
        let version = u32::from_be_bytes([sealed[1], sealed[2], sealed[3], sealed[4]]);
        let keys = self.keys.version(&self.tenant, version).await?;
        let nonce = Nonce::try_assume_unique_for_key(&sealed[5..HEADER]).map_err(|_| Error::Undecryptable)?;
        let mut body = sealed[HEADER..].to_vec();
        let plain = keys
            .field
            .open_in_place(nonce, Aad::from(aad(&self.tenant, key, attr)), &mut body)
            .map_err(|_| Error::Undecryptable)?;
        let len = plain.len();
        body.truncate(len);
        Ok(body)
    }

    pub async fn encrypt_str(&self, key: &Key, attr: &str, text: &str) -> Result<Vec<u8>> {
        self.encrypt(key, attr, text.as_bytes()).await
    }

    pub async fn decrypt_str(&self, key: &Key, attr: &str, sealed: &[u8]) -> Result<String> {
        String::from_utf8(self.decrypt(key, attr, sealed).await?).map_err(|_| Error::Undecryptable)
    }

    /// The blind index of `value` for exact-match lookups (HMAC-SHA-256 under a tenant sub-key,
    /// hex). `kind` separates namespaces (`email`, `phone`), so equal values of different kinds
    /// do not match. Callers normalise `value` first.
    pub async fn blind_index(&self, kind: &str, value: &str) -> Result<String> {
        let keys = self.keys.current(&self.tenant).await?;
        let mut ctx = hmac::Context::with_key(&keys.blind);
        ctx.update(kind.as_bytes());
        ctx.update(&[0]);
        ctx.update(value.as_bytes());
        Ok(hex(ctx.sign().as_ref()))
    }

    /// The seal for this tenant's pagination cursors.
    pub async fn cursor_seal(&self) -> Result<CursorSeal> {
        Ok(CursorSeal::new(self.keys.current(&self.tenant).await?.cursor.clone()))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
