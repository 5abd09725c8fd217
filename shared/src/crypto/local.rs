//! The local keyring: a 256-bit master key in `master.key` in the data directory (created on first
//! run, mode 0600) wraps tenant data keys with AES-256-GCM, the tenant bound as associated data,
//! as KMS binds its encryption context.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use aws_lc_rs::aead::{AES_256_GCM, LessSafeKey, UnboundKey};
use zeroize::Zeroizing;

use super::{DataKey, Keyring, KeyringInfo, Secret, aead, random_secret};
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
    /// Opens the master key in `data_dir`. When it is missing it is created only if `create` is
    /// true (a new data directory): a new key beside existing data would leave that data
    /// unreadable. Creation is atomic and durable (a private temporary file, fsynced, linked
    /// into place, the directory fsynced), so two processes starting together agree on one key.
    pub fn open(data_dir: &Path, create: bool) -> Result<LocalKeyring> {
        let path = data_dir.join(MASTER_KEY_FILE);
        if !path.exists() {
            if !create {
                return Err(config_error(
                    &path,
                    "is missing but the data directory holds data; restore it from your backup (a new key could not read that data)",
                ));
            }
            create_master_key(data_dir, &path)?;
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

fn create_master_key(data_dir: &Path, path: &Path) -> Result<()> {
    let mut suffix = [0u8; 8];
    aws_lc_rs::rand::fill(&mut suffix).map_err(Error::internal)?;
    let suffix: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = data_dir.join(format!(".{MASTER_KEY_FILE}.{suffix}"));
    let written = (|| {
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
        match fs::hard_link(&tmp, path) {
            Ok(()) => {}
            // Another process linked its key first: use that one.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(config_error(path, e)),
        }
        fs::File::open(data_dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| config_error(data_dir, e))
    })();
    let _ = fs::remove_file(&tmp);
    written
}

fn context(tenant: &TenantId) -> Vec<u8> {
    format!("ovation:local-keyring:v1\0tenant={tenant}").into_bytes()
}

#[async_trait]
impl Keyring for LocalKeyring {
    async fn generate_data_key(&self, tenant: &TenantId) -> Result<DataKey> {
        let plaintext = random_secret()?;
        let mut wrapped = vec![FORMAT];
        wrapped.extend(aead::seal(&self.master, &context(tenant), plaintext.as_ref())?);
        Ok(DataKey { plaintext, wrapped })
    }

    async fn decrypt_data_key(&self, tenant: &TenantId, wrapped: &[u8]) -> Result<Secret> {
        match wrapped.split_first() {
            Some((&FORMAT, sealed)) => aead::open_secret(&self.master, &context(tenant), sealed),
            _ => Err(Error::Undecryptable),
        }
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
        let a = LocalKeyring::open(dir.path(), true).unwrap();
        let mode = fs::metadata(a.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let t = TenantId::generate();
        let key = a.generate_data_key(&t).await.unwrap();
        let again = LocalKeyring::open(dir.path(), false).unwrap();
        let leftovers = fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
        assert_eq!(*again.decrypt_data_key(&t, &key.wrapped).await.unwrap(), *key.plaintext);
    }

    #[tokio::test]
    async fn a_readable_master_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let k = LocalKeyring::open(dir.path(), true).unwrap();
        fs::set_permissions(k.path(), fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            LocalKeyring::open(dir.path(), true),
            Err(Error::Config { .. })
        ));
    }

    #[test]
    fn a_missing_master_key_is_not_replaced_beside_existing_data() {
        let dir = tempfile::tempdir().unwrap();
        match LocalKeyring::open(dir.path(), false) {
            Err(Error::Config { reason, .. }) => assert!(reason.contains("restore it from your backup"), "{reason}"),
            other => panic!("{:?}", other.map(|_| ())),
        }
        assert!(!dir.path().join(MASTER_KEY_FILE).exists());
    }
}
