//! The AWS KMS keyring: `GenerateDataKey` and `Decrypt` under one customer-managed key, with the
//! encryption context `{tenant: id}` (a tenant id is a ULID: no personal data in the context).

use async_trait::async_trait;
use aws_sdk_kms::Client;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use zeroize::Zeroizing;

use super::{DataKey, Keyring, KeyringInfo, Secret};
use crate::aws::map_sdk_error;
use crate::error::{Error, Result};
use crate::ids::TenantId;

const SERVICE: &str = "KMS";
pub const CONTEXT_KEY: &str = "tenant";
/// The IAM actions this adapter's calls need (granted with a `kms:EncryptionContextKeys`
/// condition in `template.yaml`; checked against the calls below by the template tests).
pub const IAM_ACTIONS: &[&str] = &["kms:GenerateDataKey", "kms:Decrypt"];

pub struct KmsKeyring {
    client: Client,
    key_id: String,
}

impl KmsKeyring {
    pub fn new(client: Client, key_id: impl Into<String>) -> Self {
        KmsKeyring {
            client,
            key_id: key_id.into(),
        }
    }
}

fn classify(code: &str, _message: &str) -> Option<Error> {
    match code {
        "InvalidCiphertextException" | "IncorrectKeyException" => Some(Error::Undecryptable),
        _ => None,
    }
}

fn secret(bytes: Option<Blob>) -> Result<Secret> {
    let bytes = Zeroizing::new(bytes.map(Blob::into_inner).unwrap_or_default());
    let mut out = Zeroizing::new([0u8; 32]);
    if bytes.len() != out.len() {
        return Err(Error::internal("KMS returned a data key that is not 256 bits"));
    }
    out.copy_from_slice(&bytes);
    Ok(out)
}

#[async_trait]
impl Keyring for KmsKeyring {
    async fn generate_data_key(&self, tenant: &TenantId) -> Result<DataKey> {
        let out = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .encryption_context(CONTEXT_KEY, tenant.as_str())
            .send()
            .await
            .map_err(|e| map_sdk_error(SERVICE, e, classify))?;
        Ok(DataKey {
            wrapped: out
                .ciphertext_blob
                .map(Blob::into_inner)
                .ok_or_else(|| Error::internal("KMS returned no wrapped key"))?,
            plaintext: secret(out.plaintext)?,
        })
    }

    async fn decrypt_data_key(&self, tenant: &TenantId, wrapped: &[u8]) -> Result<Secret> {
        let out = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(wrapped))
            .encryption_context(CONTEXT_KEY, tenant.as_str())
            .send()
            .await
            .map_err(|e| map_sdk_error(SERVICE, e, classify))?;
        secret(out.plaintext)
    }

    fn info(&self) -> KeyringInfo {
        KeyringInfo {
            kind: "aws-kms",
            version: format!("aws-sdk-kms {}", aws_sdk_kms::meta::PKG_VERSION),
        }
    }
}
