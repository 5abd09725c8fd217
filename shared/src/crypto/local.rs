//! The local keyring: a 256-bit master key in `master.key` in the data directory (created on first
//! run, mode 0600) wraps tenant data keys with AES-256-GCM, the tenant bound as associated data,
//! as KMS binds its encryption context.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use zeroize::Zeroizing;

use super::{DataKey, Keyring, KeyringInfo, Secret, random_secret};
use crate::error::{Error, Result};
use crate::ids::TenantId;

pub const MASTER_KEY_FILE: &str = "master.key";
const FORMAT: u8 = 1;

pub struct LocalKeyring {
    master: LessSafeKey,
    path: PathBuf,
}

fn config_error(path: &Path, reason: impl std::fmt::Display) -> Error {
    Error::Config {
        name: "OVATION_DATA_DIR",
        reason: format!("{}: {reason}", path.display()),
    }
}

impl LocalKeyring {
    /// Opens the master key in `data_dir`, creating it when missing. Creation is atomic (written
    /// to a private temporary file, then linked into place), so two processes starting together
    /// agree on one key.
    pub fn open(data_dir: &Path) -> Result<LocalKeyring> {
        let path = data_dir.join(MASTER_KEY_FILE);
        if !path.exists() {
            let tmp = data_dir.join(format!(".{MASTER_KEY_FILE}.{}", std::process::id()));
            let secret = random_secret()?;
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(|e| config_error(&tmp, e))?;
            file.write_all(secret.as_ref())
                .and_then(|_| file.sync_all())
                .map_err(|e| config_error(&tmp, e))?;
            let linked = fs::hard_link(&tmp, &path);
            let _ = fs::remove_file(&tmp);
            match linked {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(config_error(&path, e)),
            }
        }
        let mode = fs::metadata(&path)
            .map_err(|e| config_error(&path, e))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(config_error(
                &path,
                format!("is readable by others (mode {:o}); run chmod 600", mode & 0o777),
            ));
        }
        let bytes = Zeroizing::new(fs::read(&path).map_err(|e| config_error(&path, e))?);
        if bytes.len() != 32 {
            return Err(config_error(&path, "is not a 256-bit key"));
        }
        let master = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &bytes).map_err(Error::internal)?);
        Ok(LocalKeyring { master, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn context(tenant: &TenantId) -> Vec<u8> {
    format!("ovation:local-keyring:v1\0tenant={tenant}").into_bytes()
}

#[async_trait]
impl Keyring for LocalKeyring {
    async fn generate_data_key(&self, tenant: &TenantId) -> Result<DataKey> {
        let plaintext = random_secret()?;
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(Error::internal)?;
        let mut sealed = plaintext.to_vec();
        self.master
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context(tenant)),
                &mut sealed,
            )
            .map_err(Error::internal)?;
        let mut wrapped = vec![FORMAT];
        wrapped.extend_from_slice(&nonce);
        wrapped.extend_from_slice(&sealed);
        Ok(DataKey { plaintext, wrapped })
    }

    async fn decrypt_data_key(&self, tenant: &TenantId, wrapped: &[u8]) -> Result<Secret> {
        let (format, rest) = wrapped.split_first().ok_or(Error::Undecryptable)?;
        if *format != FORMAT || rest.len() != NONCE_LEN + 32 + AES_256_GCM.tag_len() {
            return Err(Error::Undecryptable);
        }
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| Error::Undecryptable)?;
        let mut buf = Zeroizing::new(sealed.to_vec());
        let plain = self
            .master
            .open_in_place(nonce, Aad::from(context(tenant)), &mut buf)
            .map_err(|_| Error::Undecryptable)?;
        let mut secret = Zeroizing::new([0u8; 32]);
        secret.copy_from_slice(plain);
        Ok(secret)
    }

    fn info(&self) -> KeyringInfo {
        KeyringInfo {
            kind: "local",
            version: format!("master key file v{FORMAT} (AES-256-GCM)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_master_key_is_created_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let a = LocalKeyring::open(dir.path()).unwrap();
        let mode = fs::metadata(a.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let t = TenantId::generate();
        let key = a.generate_data_key(&t).await.unwrap();
        let again = LocalKeyring::open(dir.path()).unwrap();
        assert_eq!(*again.decrypt_data_key(&t, &key.wrapped).await.unwrap(), *key.plaintext);
    }

    #[tokio::test]
    async fn a_readable_master_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let k = LocalKeyring::open(dir.path()).unwrap();
        fs::set_permissions(k.path(), fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(LocalKeyring::open(dir.path()), Err(Error::Config { .. })));
    }
}
