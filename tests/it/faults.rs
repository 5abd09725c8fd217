//! Faults become typed errors, never panics: throttling and unreachable AWS endpoints (after the
//! SDK's retries with backoff), a missing table or key, a store file that is not a store.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_dynamodb::config::{Credentials, Region};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use ovation::Error;
use ovation::crypto::Keyring;
use ovation::crypto::kms::KmsKeyring;
use ovation::ids::TenantId;
use ovation::store::dynamo::DynamoStore;
use ovation::store::embedded::EmbeddedStore;
use ovation::store::{Item, Key, Store};

use crate::support::emulator_available;

/// Ovation's AWS configuration (retries, timeouts) aimed at `endpoint`.
async fn config_for(endpoint: &str) -> aws_config::SdkConfig {
    ovation::aws::loader()
        .endpoint_url(endpoint)
        .region(Region::new("eu-west-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .load()
        .await
}

fn unavailable<T: std::fmt::Debug>(r: Result<T, Error>, service: &str) {
    match r {
        Err(Error::Unavailable { service: s, .. }) => assert_eq!(s, service),
        other => panic!("expected {service} unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn unreachable_aws_endpoints_are_unavailable_errors() {
    // Port 9 (discard) on loopback: nothing listens there.
    let config = config_for("http://127.0.0.1:9").await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), "ovation");
    unavailable(store.get(&Key::new("T#A", "X")).await, "DynamoDB");
    unavailable(store.put(Item::new(Key::new("T#A", "X")), None).await, "DynamoDB");
    let keyring = KmsKeyring::new(aws_sdk_kms::Client::new(&config), "alias/ovation");
    unavailable(keyring.generate_data_key(&TenantId::generate()).await, "KMS");

    // Over HTTPS the connector is built from the compiled-in root certificates: it must accept
    // them (a bad one would panic inside the SDK), then fail to connect like any other.
    let tls = config_for("https://127.0.0.1:9").await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&tls), "ovation");
    unavailable(store.get(&Key::new("T#A", "X")).await, "DynamoDB");
}

/// An endpoint that throttles every request, as DynamoDB and KMS do; counts the attempts.
async fn throttling_endpoint() -> (String, Arc<AtomicUsize>) {
    let attempts = Arc::new(AtomicUsize::new(0));
    let counter = attempts.clone();
    let app = axum::Router::new().fallback(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        async {
            let body = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate exceeded"}"#;
            (
                StatusCode::BAD_REQUEST,
                [("content-type", "application/x-amz-json-1.0")],
                body,
            )
                .into_response()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, attempts)
}

#[tokio::test]
async fn throttling_is_retried_with_backoff_then_a_typed_error() {
    let (url, attempts) = throttling_endpoint().await;
    let config = config_for(&url).await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), "ovation");
    match store.get(&Key::new("T#A", "X")).await {
        Err(Error::Throttled {
            service: "DynamoDB", ..
        }) => {}
        other => panic!("expected DynamoDB throttled, got {other:?}"),
    }
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        4,
        "the SDK retried up to its 4 attempts"
    );
    let keyring = KmsKeyring::new(aws_sdk_kms::Client::new(&config), "alias/ovation");
    match keyring.generate_data_key(&TenantId::generate()).await {
        Err(Error::Throttled { service: "KMS", .. }) => {}
        other => panic!("expected KMS throttled, got {other:?}"),
    }
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
