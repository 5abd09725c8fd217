//! Test fixtures: the engines, moto detection (a failure, not a skip, under CI=true), and the
//! `on_every_engine!` macro that runs one suite function on each engine.

use std::sync::Arc;

use ovation::Context;
use ovation::config::{KeyCache, Settings};
use ovation::crypto::Keyring;
use ovation::crypto::kms::KmsKeyring;
use ovation::crypto::local::LocalKeyring;
use ovation::crypto::metered::MeteredKeyring;
use ovation::store::Store;
use ovation::store::capacity::CapacityMeter;
use ovation::store::dynamo::DynamoStore;
use ovation::store::embedded::EmbeddedStore;
use ovation::store::keys::Spread;
use ovation::store::spread::SpreadStore;
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

    /// The embedded engine laid out as DynamoDB is (`Spread::LIMITED`: the shared indexes and a
    /// workspace's busiest partitions spread), metered per partition: every service over the
    /// spread layout, fast.
    pub fn limited() -> Engines {
        let engines = Engines::embedded();
        let meter = CapacityMeter::with(engines.store.clone(), Spread::LIMITED, ovation::store::now_unix);
        Engines {
            store: Arc::new(SpreadStore::new(Arc::new(meter), Spread::LIMITED.workspace_shards)),
            ..engines
        }
    }

    /// A new table and a new KMS key on moto; `None` (locally) when moto is not running.
    pub async fn aws() -> Option<Engines> {
        if !emulator_available() {
            return None;
        }
        let config = patient_aws_config().await;
        let (table, key_id) = ovation::provision::table_and_key(&config, "ovation-test")
            .await
            .unwrap();
        let store = DynamoStore::open(aws_sdk_dynamodb::Client::new(&config), table);
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

/// The SDK configuration of the tests on moto. moto serves one request at a time: one queued
/// behind the others' is slow, not lost. Without the 3 s attempt timeout the SDK does not repeat
/// it (what a repeat does has tests of its own: store_conformance's repeated writes and leases).
pub async fn patient_aws_config() -> aws_config::SdkConfig {
    let patient = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(2))
        .operation_attempt_timeout(std::time::Duration::from_secs(60))
        .operation_timeout(std::time::Duration::from_secs(60))
        .build();
    ovation::aws::load_config()
        .await
        .to_builder()
        .timeout_config(patient)
        .build()
}

/// Runs each named `async fn(Engines)` of the enclosing module on the embedded engine, on it laid
/// out as DynamoDB is (`Engines::limited`), and on DynamoDB + KMS (moto).
macro_rules! on_every_engine {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Engines::embedded()).await;
                }
            )*
        }
        mod limited {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Engines::limited()).await;
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

/// A queue a test reads as Lambda's event source would: a local queue on the engine's store, or
/// an SQS queue on moto. `take` receives what it holds and deletes it.
pub enum TestQueue {
    Local(Arc<ovation::messaging::local_queue::LocalQueue>),
    Sqs(aws_sdk_sqs::Client, String),
}

impl TestQueue {
    /// A new queue: the local queue `name` on `store`, or (with `aws`) an SQS queue named after it.
    pub async fn new(store: Arc<dyn Store>, aws: Option<&aws_config::SdkConfig>, name: &'static str) -> TestQueue {
        let Some(config) = aws else {
            return TestQueue::Local(Arc::new(ovation::messaging::local_queue::LocalQueue::new(store, name)));
        };
        let client = aws_sdk_sqs::Client::new(config);
        let queue = format!("{name}-{}", ovation::ids::new_id().to_lowercase());
        let out = client.create_queue().queue_name(queue).send().await.unwrap();
        let url = out.queue_url().unwrap().to_owned();
        TestQueue::Sqs(client, url)
    }

    /// The port the code under test sends to.
    pub fn port(&self) -> Arc<dyn ovation::messaging::Queue> {
        match self {
            TestQueue::Local(queue) => queue.clone(),
            TestQueue::Sqs(client, url) => {
                Arc::new(ovation::messaging::sqs::SqsQueue::new(client.clone(), url.clone()))
            }
        }
    }

    /// Takes (and deletes) what the queue holds, up to 10.
    pub async fn take(&self) -> Vec<ovation::messaging::Received> {
        match self {
            TestQueue::Local(queue) => {
                let taken = queue.receive(10, 0, 30).await.unwrap();
                let receipts: Vec<String> = taken.iter().map(|m| m.receipt.clone()).collect();
                queue.delete(&receipts).await.unwrap();
                taken
            }
            TestQueue::Sqs(client, url) => {
                let out = client
                    .receive_message()
                    .queue_url(url)
                    .max_number_of_messages(10)
                    .visibility_timeout(0)
                    .send()
                    .await
                    .unwrap();
                let mut taken = Vec::new();
                for m in out.messages() {
                    let receipt = m.receipt_handle().unwrap().to_owned();
                    client
                        .delete_message()
                        .queue_url(url)
                        .receipt_handle(&receipt)
                        .send()
                        .await
                        .unwrap();
                    taken.push(ovation::messaging::Received {
                        id: m.message_id().unwrap().to_owned(),
                        receipt,
                        body: m.body().unwrap().to_owned(),
                        receive_count: 1,
                    });
                }
                taken
            }
        }
    }
}

/// The scheduler reads the due index a minute at a time from its cursor, and a first run reads
/// a week back (10,080 minutes). A test starts it 10 minutes before `at` instead: the minutes
/// between are empty, and moto answers each read slowly, one request at a time, holding up the
/// other tests' requests.
pub async fn start_scheduler_at(ctx: &ovation::Context, at: i64) {
    let cursor = ovation::services::sending::scheduler::scheduler_cursor();
    let minute = (at - 600).div_euclid(60);
    ctx.store
        .put(ovation::store::Item::new(cursor).with("minute", minute), None)
        .await
        .unwrap();
}
