//! Test fixtures: both engines, moto detection (a failure, not a skip, under CI=true), and the
//! `on_both_engines!` macro that runs one suite function on each engine.

use std::sync::Arc;

use ovation::Context;
use ovation::config::{KeyCache, Settings};
use ovation::crypto::Keyring;
use ovation::crypto::kms::KmsKeyring;
use ovation::crypto::local::LocalKeyring;
use ovation::crypto::metered::MeteredKeyring;
use ovation::store::dynamo::DynamoStore;
use ovation::store::embedded::EmbeddedStore;
use ovation::store::{BatchOp, Condition, Item, Key, Page, Query, Store, StoreInfo, TxOp, Update};
use tempfile::TempDir;

/// True when the AWS emulator is configured. Under `CI=true` its absence fails the test.
pub fn emulator_available() -> bool {
    if std::env::var_os("AWS_ENDPOINT_URL").is_some() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but AWS_ENDPOINT_URL is not set: the AWS adapter tests must run against moto (run scripts/test)"
    );
    eprintln!("AWS_ENDPOINT_URL is not set: this AWS adapter test did not run (scripts/test starts moto)");
    false
}

/// A store and a (metered) keyring of one engine, with what keeps them alive.
pub struct Engines {
    pub store: Arc<dyn Store>,
    pub keyring: Arc<MeteredKeyring>,
    pub aws: Option<aws_config::SdkConfig>,
    pub dir: TempDir,
}

impl Engines {
    pub fn embedded() -> Engines {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedStore::open(&dir.path().join("ovation.redb")).unwrap());
        let keyring: Arc<dyn Keyring> = Arc::new(LocalKeyring::open(dir.path(), true).unwrap());
        Engines {
            store,
            keyring: Arc::new(MeteredKeyring::new(keyring)),
            aws: None,
            dir,
        }
    }

    /// A new table and a new KMS key on moto; `None` (locally) when moto is not running.
    pub async fn aws() -> Option<Engines> {
        if !emulator_available() {
            return None;
        }
        let config = ovation::aws::load_config().await;
        let (table, key_id) = ovation::provision::table_and_key(&config, "ovation-test")
            .await
            .unwrap();
        let store = Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), table));
        let keyring: Arc<dyn Keyring> = Arc::new(KmsKeyring::new(aws_sdk_kms::Client::new(&config), key_id));
        Some(Engines {
            store,
            keyring: Arc::new(MeteredKeyring::new(keyring)),
            aws: Some(config),
            dir: tempfile::tempdir().unwrap(),
        })
    }

    /// A process context over these adapters with the given key cache.
    pub fn context(&self, key_cache: KeyCache) -> Arc<Context> {
        let mut settings = Settings::local(self.dir.path().to_owned());
        settings.key_cache = key_cache;
        Context::with_adapters(settings, self.store.clone(), self.keyring.clone())
    }
}

/// Runs each named `async fn(Engines)` of the enclosing module on the embedded engine and on
/// DynamoDB + KMS (moto).
macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Engines::embedded()).await;
                }
            )*
        }
        mod aws {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(engines) = $crate::support::Engines::aws().await else { return };
                    super::$name(engines).await;
                }
            )*
        }
    };
}

/// A store that counts the reads (gets and queries) made through it.
pub struct CountingStore {
    pub inner: Arc<dyn Store>,
    pub reads: std::sync::atomic::AtomicUsize,
}

impl CountingStore {
    pub fn reads(&self) -> usize {
        self.reads.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn read(&self) {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl Store for CountingStore {
    async fn get(&self, key: &Key) -> ovation::Result<Option<Item>> {
        self.read();
        self.inner.get(key).await
    }
    async fn put(&self, item: Item, condition: Option<Condition>) -> ovation::Result<()> {
        self.inner.put(item, condition).await
    }
    async fn update(&self, key: &Key, updates: &[Update], condition: Option<Condition>) -> ovation::Result<Item> {
        self.inner.update(key, updates, condition).await
    }
    async fn delete(&self, key: &Key, condition: Option<Condition>) -> ovation::Result<()> {
        self.inner.delete(key, condition).await
    }
    async fn query(&self, query: &Query) -> ovation::Result<Page> {
        self.read();
        self.inner.query(query).await
    }
    async fn query_index(&self, query: &Query) -> ovation::Result<Page> {
        self.read();
        self.inner.query_index(query).await
    }
    async fn transact(&self, ops: Vec<TxOp>) -> ovation::Result<()> {
        self.inner.transact(ops).await
    }
    async fn batch_write(&self, ops: Vec<BatchOp>) -> ovation::Result<()> {
        self.inner.batch_write(ops).await
    }
    async fn sweep_expired(&self) -> ovation::Result<usize> {
        self.inner.sweep_expired().await
    }
    async fn ping(&self) -> ovation::Result<()> {
        self.inner.ping().await
    }
    fn info(&self) -> StoreInfo {
        self.inner.info()
    }
}
