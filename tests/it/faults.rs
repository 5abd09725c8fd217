//! Faults become typed errors, never panics: unreachable AWS endpoints, a missing table, a store
//! file that is not a store.

use aws_sdk_dynamodb::config::{Credentials, Region};
use ovation::Error;
use ovation::crypto::Keyring;
use ovation::crypto::kms::KmsKeyring;
use ovation::ids::TenantId;
use ovation::store::dynamo::DynamoStore;
use ovation::store::embedded::EmbeddedStore;
use ovation::store::{Item, Key, Store};

use crate::support::emulator_available;

/// An address where nothing listens.
const NOWHERE: &str = "http://127.0.0.1:9";

fn unavailable<T: std::fmt::Debug>(r: Result<T, Error>, service: &str) {
    match r {
        Err(Error::Unavailable { service: s, .. }) => assert_eq!(s, service),
        other => panic!("expected {service} unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn unreachable_aws_endpoints_are_unavailable_errors() {
    let credentials = Credentials::new("testing", "testing", None, None, "tests");
    let config = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .endpoint_url(NOWHERE)
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(credentials))
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(2))
        .build();
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), "ovation");
    unavailable(store.get(&Key::new("T#A", "X")).await, "DynamoDB");
    unavailable(store.put(Item::new(Key::new("T#A", "X")), None).await, "DynamoDB");
    let keyring = KmsKeyring::new(aws_sdk_kms::Client::new(&config), "alias/ovation");
    unavailable(keyring.generate_data_key(&TenantId::generate()).await, "KMS");
}

#[tokio::test]
async fn a_missing_table_or_key_is_an_unavailable_error() {
    if !emulator_available() {
        return;
    }
    let config = ovation::aws::load_config().await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), "no-such-table");
    unavailable(store.get(&Key::new("T#A", "X")).await, "DynamoDB");
    let keyring = KmsKeyring::new(aws_sdk_kms::Client::new(&config), "alias/no-such-key");
    unavailable(keyring.generate_data_key(&TenantId::generate()).await, "KMS");
}

#[tokio::test]
async fn a_file_that_is_not_a_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ovation.redb");
    std::fs::write(&path, b"this is not a redb file, and never was one").unwrap();
    assert!(matches!(EmbeddedStore::open(&path), Err(Error::Unavailable { .. })));
}
