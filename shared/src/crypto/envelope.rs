//! Field encryption and blind indexes for one tenant. A field is sealed with AES-256-GCM under the
//! tenant's current key; the associated data binds tenant, item key and attribute name, so a
//! ciphertext copied to another attribute, item or tenant does not open. Format:
//! `[format=1][key version: u32 BE]` then the sealed bytes of `aead` (`nonce ‖ ciphertext ‖ tag`).

use std::sync::Arc;

use aws_lc_rs::aead::NONCE_LEN;
use aws_lc_rs::hmac;

use super::{KeyManager, aead};
use crate::error::{Error, Result};
use crate::ids::TenantId;
use crate::store::{CursorSeal, Key};

const FORMAT: u8 = 1;
/// The format byte and the key version, before the sealed bytes.
const HEADER: usize = 1 + 4;

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
        let mut out = Vec::with_capacity(HEADER + NONCE_LEN + plaintext.len() + 16);
        out.push(FORMAT);
        out.extend_from_slice(&keys.version.to_be_bytes());
        out.extend(aead::seal(&keys.field, &aad(&self.tenant, key, attr), plaintext)?);
        Ok(out)
    }

    /// Opens a field sealed by `encrypt` for the same tenant, item and attribute.
    pub async fn decrypt(&self, key: &Key, attr: &str, sealed: &[u8]) -> Result<Vec<u8>> {
        let (header, body) = sealed.split_at_checked(HEADER).ok_or(Error::Undecryptable)?;
        let [FORMAT, v0, v1, v2, v3] = header else {
            return Err(Error::Undecryptable);
        };
        let keys = self
            .keys
            .version(&self.tenant, u32::from_be_bytes([*v0, *v1, *v2, *v3]))
            .await?;
        let mut plain = aead::open(&keys.field, &aad(&self.tenant, key, attr), body)?;
        Ok(std::mem::take(&mut *plain))
    }

    pub async fn encrypt_str(&self, key: &Key, attr: &str, text: &str) -> Result<Vec<u8>> {
        self.encrypt(key, attr, text.as_bytes()).await
    }

    pub async fn decrypt_str(&self, key: &Key, attr: &str, sealed: &[u8]) -> Result<String> {
        String::from_utf8(self.decrypt(key, attr, sealed).await?).map_err(|_| Error::Undecryptable)
    }

    /// An optional sealed attribute of `item`, opened; `None` when the item has none.
    pub async fn open(&self, item: &crate::store::Item, attr: &str) -> Result<Option<Vec<u8>>> {
        match item.bytes(attr) {
            Some(sealed) => Ok(Some(self.decrypt(&item.key, attr, sealed).await?)),
            None => Ok(None),
        }
    }

    /// An optional sealed text attribute of `item`, opened.
    pub async fn open_str(&self, item: &crate::store::Item, attr: &str) -> Result<Option<String>> {
        match self.open(item, attr).await? {
            Some(bytes) => String::from_utf8(bytes).map(Some).map_err(|_| Error::Undecryptable),
            None => Ok(None),
        }
    }

    /// An optional sealed JSON attribute of `item`, opened and read; the default when missing.
    pub async fn open_json<T: serde::de::DeserializeOwned + Default>(
        &self,
        item: &crate::store::Item,
        attr: &str,
    ) -> Result<T> {
        match self.open(item, attr).await? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|_| Error::Undecryptable),
            None => Ok(T::default()),
        }
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
        Ok(crate::auth::credential::hex(ctx.sign().as_ref()))
    }

    /// The tag of a respondent link's payload (HMAC-SHA-256 under the link sub-key, truncated to
    /// 128 bits).
    pub async fn link_tag(&self, payload: &[u8]) -> Result<[u8; super::links::TAG_LEN]> {
        let keys = self.keys.current(&self.tenant).await?;
        let mut tag = [0u8; super::links::TAG_LEN];
        tag.copy_from_slice(&hmac::sign(&keys.link, payload).as_ref()[..super::links::TAG_LEN]);
        Ok(tag)
    }

    /// The seal for this tenant's pagination cursors.
    pub async fn cursor_seal(&self) -> Result<CursorSeal> {
        Ok(CursorSeal::new(self.keys.current(&self.tenant).await?.cursor.clone()))
    }
}
