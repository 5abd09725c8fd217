//! The process-wide context: the adapters chosen by the settings, created once per process (once
//! per Lambda cold start) and shared by reference with every request.

use std::sync::Arc;

use crate::auth::tenant_rate::TenantRate;
use crate::config::{Backend, Settings};
use crate::crypto::kms::KmsKeyring;
use crate::crypto::local::LocalKeyring;
use crate::crypto::{KeyManager, Keyring, TenantCrypto};
use crate::error::{Error, Result};
use crate::http::throttle::Throttle;
use crate::ids::TenantId;
use crate::messaging::{self, Messaging};
use crate::store::dynamo::DynamoStore;
use crate::store::embedded::EmbeddedStore;
use crate::store::recent::RecentItems;
use crate::store::{Store, TenantStore};
use crate::tenant_cache::TenantCache;

/// The embedded store's file in the data directory.
pub const STORE_FILE: &str = "ovation.redb";

pub struct Context {
    pub settings: Settings,
    pub store: Arc<dyn Store>,
    pub keys: Arc<KeyManager>,
    /// Request budgets per client address, for this process.
    pub throttle: Arc<Throttle>,
    /// The tighter budgets of the sign-in and token endpoints, per client address.
    pub sign_in_throttle: Arc<Throttle>,
    /// Each tenant's request budget, across instances.
    pub tenant_rate: TenantRate,
    /// The website surveys' budgets per client address, for this process.
    pub site_throttle: Arc<Throttle>,
    /// Each site key's request budget, across instances.
    pub site_rate: TenantRate,
    /// Tenants' settings as recently read.
    pub tenants: TenantCache,
    /// Workspaces' configuration as recently read (`TenantStore::get_recent`).
    pub recent: Arc<RecentItems>,
    /// The AWS configuration every client of this process is made from (AWS adapters only).
    pub aws: Option<aws_config::SdkConfig>,
    /// The SSRF-safe client of webhook calls, made at its first use.
    outbound: std::sync::OnceLock<crate::outbound::Outbound>,
    /// The export jobs' queue and kept files, made at their first use.
    export_queue: std::sync::OnceLock<Arc<dyn messaging::Queue>>,
    export_files: std::sync::OnceLock<Arc<dyn crate::files::Files>>,
    export_downloads: std::sync::OnceLock<Arc<dyn crate::files::Downloads>>,
    /// The webhook deliveries' queue (none on AWS without `OVATION_WEBHOOK_QUEUE_URL`).
    webhook_queue: std::sync::OnceLock<Option<Arc<dyn messaging::Queue>>>,
}

impl Context {
    /// Builds the adapters the settings name.
    pub async fn from_settings(settings: Settings) -> Result<Arc<Context>> {
        match &settings.backend {
            Backend::Embedded { data_dir } => {
                create_private_dir(data_dir)?;
                let store_file = data_dir.join(STORE_FILE);
                // The master key is made only with a new store: never a new key beside old data.
                let keyring = LocalKeyring::open(data_dir, !store_file.exists())?;
                let store = Arc::new(EmbeddedStore::open(&store_file)?);
                Ok(Context::with_adapters(settings, store, Arc::new(keyring)))
            }
            Backend::Aws { .. } => Context::on_aws(settings).await,
        }
    }

    /// Builds the AWS adapters: a Lambda function's context. Functions call this, not
    /// `from_settings`, so none links the embedded engine.
    pub async fn on_aws(settings: Settings) -> Result<Arc<Context>> {
        let Backend::Aws { table, kms_key_id } = &settings.backend else {
            return Err(Error::Config {
                name: "OVATION_BACKEND",
                reason: "must be aws for a Lambda function".into(),
            });
        };
        let config = crate::aws::load_config().await;
        let store = DynamoStore::open(aws_sdk_dynamodb::Client::new(&config), table.clone());
        let keyring = Arc::new(KmsKeyring::new(aws_sdk_kms::Client::new(&config), kms_key_id.clone()));
        Ok(Context::build(settings, store, keyring, Some(config)))
    }

    /// Builds a context over given adapters (tests, benchmarks).
    pub fn with_adapters(settings: Settings, store: Arc<dyn Store>, keyring: Arc<dyn Keyring>) -> Arc<Context> {
        Context::build(settings, store, keyring, None)
    }

    fn build(
        settings: Settings,
        store: Arc<dyn Store>,
        keyring: Arc<dyn Keyring>,
        aws: Option<aws_config::SdkConfig>,
    ) -> Arc<Context> {
        let keys = Arc::new(KeyManager::new(keyring, store.clone(), settings.key_cache));
        Arc::new(Context {
            aws,
            outbound: std::sync::OnceLock::new(),
            export_queue: std::sync::OnceLock::new(),
            export_files: std::sync::OnceLock::new(),
            export_downloads: std::sync::OnceLock::new(),
            webhook_queue: std::sync::OnceLock::new(),
            throttle: Arc::new(Throttle::new(settings.rate_per_ip)),
            sign_in_throttle: Arc::new(Throttle::new(settings.login_rate_per_ip)),
            tenant_rate: TenantRate::new(settings.rate_per_tenant_minute),
            site_throttle: Arc::new(Throttle::new(settings.site_rate_per_ip)),
            site_rate: TenantRate::new(settings.rate_per_site_key_minute),
            tenants: TenantCache::new(settings.tenant_cache),
            recent: Arc::new(RecentItems::new(settings.tenant_cache)),
            settings,
            store,
            keys,
        })
    }

    /// The encryption handle of a tenant. The tenant is named on the current request's span
    /// from here on, so every later log line of the request carries it.
    pub fn crypto(&self, tenant: &TenantId) -> TenantCrypto {
        crate::telemetry::record_tenant(tenant);
        TenantCrypto::new(self.keys.clone(), tenant.clone())
    }

    /// The store as one tenant may use it.
    pub fn tenant_store(&self, tenant: &TenantId) -> TenantStore {
        TenantStore::new(self.store.clone(), self.crypto(tenant), self.recent.clone())
    }

    /// An export setting on AWS, with the AWS configuration; a clear error when either is missing.
    fn aws_export_setting(
        &self,
        value: &Option<String>,
        name: &'static str,
    ) -> Result<(String, aws_config::SdkConfig)> {
        let missing = |name| Error::Config {
            name,
            reason: "is required for exports that run as jobs".into(),
        };
        let value = value.clone().ok_or_else(|| missing(name))?;
        let config = self.aws.clone().ok_or_else(|| missing("AWS configuration"))?;
        Ok((value, config))
    }

    /// The export jobs' queue: the store's local queue locally, SQS on AWS
    /// (`OVATION_EXPORT_QUEUE_URL`).
    pub fn export_queue(&self) -> Result<&Arc<dyn messaging::Queue>> {
        if let Some(queue) = self.export_queue.get() {
            return Ok(queue);
        }
        let made: Arc<dyn messaging::Queue> = match &self.settings.backend {
            Backend::Embedded { .. } => Arc::new(messaging::local_queue::LocalQueue::new(
                self.store.clone(),
                messaging::local_queue::EXPORTS,
            )),
            Backend::Aws { .. } => {
                let (queue_url, config) =
                    self.aws_export_setting(&self.settings.exports.queue_url, "OVATION_EXPORT_QUEUE_URL")?;
                Arc::new(messaging::sqs::SqsQueue::new(
                    aws_sdk_sqs::Client::new(&config),
                    queue_url,
                ))
            }
        };
        Ok(self.export_queue.get_or_init(|| made))
    }

    /// The files export jobs keep: the data directory's `exports` folder locally, S3 on AWS
    /// (`OVATION_EXPORTS_BUCKET`).
    pub fn export_files(&self) -> Result<&Arc<dyn crate::files::Files>> {
        if let Some(files) = self.export_files.get() {
            return Ok(files);
        }
        let made: Arc<dyn crate::files::Files> = match &self.settings.backend {
            Backend::Embedded { data_dir } => Arc::new(local_files(data_dir)),
            Backend::Aws { .. } => {
                let (bucket, config) =
                    self.aws_export_setting(&self.settings.exports.bucket, "OVATION_EXPORTS_BUCKET")?;
                // An emulator serves buckets by path.
                let emulated = crate::files::presigned::configured_endpoint(&config).is_some();
                let s3_config = aws_sdk_s3::config::Builder::from(&config)
                    .force_path_style(emulated)
                    .build();
                Arc::new(crate::files::s3::S3Files::new(
                    aws_sdk_s3::Client::from_conf(s3_config),
                    bucket,
                ))
            }
        };
        Ok(self.export_files.get_or_init(|| made))
    }

    /// Where the kept files are fetched: through the API locally, presigned S3 links on AWS.
    pub fn export_downloads(&self) -> Result<&Arc<dyn crate::files::Downloads>> {
        if let Some(downloads) = self.export_downloads.get() {
            return Ok(downloads);
        }
        let made: Arc<dyn crate::files::Downloads> = match &self.settings.backend {
            Backend::Embedded { data_dir } => Arc::new(local_files(data_dir)),
            Backend::Aws { .. } => {
                let (bucket, config) =
                    self.aws_export_setting(&self.settings.exports.bucket, "OVATION_EXPORTS_BUCKET")?;
                Arc::new(crate::files::presigned::PresignedDownloads::new(config, bucket))
            }
        };
        Ok(self.export_downloads.get_or_init(|| made))
    }

    /// The queue of webhook deliveries: the store's local queue locally; SQS on AWS when
    /// `OVATION_WEBHOOK_QUEUE_URL` is set (made at first use).
    pub fn webhook_queue(&self) -> Option<Arc<dyn messaging::Queue>> {
        self.webhook_queue
            .get_or_init(|| match (&self.settings.backend, &self.aws) {
                (Backend::Embedded { .. }, _) => Some(Arc::new(messaging::local_queue::LocalQueue::new(
                    self.store.clone(),
                    messaging::local_queue::WEBHOOKS,
                ))),
                (Backend::Aws { .. }, Some(config)) => {
                    messaging::webhook_queue(config, self.settings.webhooks.queue_url.clone())
                }
                (Backend::Aws { .. }, None) => None,
            })
            .clone()
    }

    /// Sets the webhook queue before its first use (a test's emulated AWS); false when it was
    /// already made.
    pub fn use_webhook_queue(&self, queue: Arc<dyn messaging::Queue>) -> bool {
        self.webhook_queue.set(Some(queue)).is_ok()
    }

    /// Sets the export jobs' queue and files before their first use (a test's emulated AWS);
    /// false when they were already made.
    pub fn use_exports(
        &self,
        queue: Arc<dyn messaging::Queue>,
        files: Arc<dyn crate::files::Files>,
        downloads: Arc<dyn crate::files::Downloads>,
    ) -> bool {
        self.export_queue.set(queue).is_ok()
            & self.export_files.set(files).is_ok()
            & self.export_downloads.set(downloads).is_ok()
    }

    /// The adapters the settings name: the outbox and the store's queue beside an embedded
    /// store; SES, SNS and SQS on AWS.
    pub async fn messaging(&self, store: Arc<dyn Store>) -> Result<Messaging> {
        let settings = &self.settings;
        match &settings.backend {
            Backend::Embedded { data_dir } => {
                let outbox = Arc::new(messaging::outbox::Outbox::open(
                    &data_dir.join(messaging::outbox::FOLDER),
                )?);
                let queue = Arc::new(messaging::local_queue::LocalQueue::new(
                    store.clone(),
                    messaging::local_queue::DELIVER,
                ));
                Ok(Messaging {
                    queue: queue.clone(),
                    mailer: outbox.clone(),
                    sms: outbox,
                    local_queue: Some(queue),
                    webhooks: self.webhook_queue(),
                    local_webhooks: Some(Arc::new(messaging::local_queue::LocalQueue::new(
                        store,
                        messaging::local_queue::WEBHOOKS,
                    ))),
                    rate: messaging::SendRate::new(settings.sending.rate_per_second),
                })
            }
            Backend::Aws { .. } => {
                let sending = &settings.sending;
                // The context's configuration: one TLS context and credentials chain a process.
                let config = match &self.aws {
                    Some(config) => config.clone(),
                    None => crate::aws::load_config().await,
                };
                let queue_url = sending.queue_url.clone().ok_or(Error::Config {
                    name: "OVATION_QUEUE_URL",
                    reason: "is required when OVATION_BACKEND=aws".into(),
                })?;
                let configuration_set = sending.configuration_set.clone();
                let (sqs_config, ses_config, sns_config) = (config.clone(), config.clone(), config);
                Ok(Messaging {
                    queue: Arc::new(messaging::OnFirstUse::new(move || {
                        messaging::sqs::SqsQueue::new(aws_sdk_sqs::Client::new(&sqs_config), queue_url.clone())
                    })),
                    mailer: Arc::new(messaging::OnFirstUse::new(move || {
                        messaging::ses::SesMailer::new(
                            aws_sdk_sesv2::Client::new(&ses_config),
                            configuration_set.clone(),
                        )
                    })),
                    sms: Arc::new(messaging::OnFirstUse::new(move || {
                        messaging::sns::SnsSms::new(aws_sdk_sns::Client::new(&sns_config))
                    })),
                    local_queue: None,
                    webhooks: self.webhook_queue(),
                    local_webhooks: None,
                    rate: messaging::SendRate::new(settings.sending.rate_per_second),
                })
            }
        }
    }

    /// The mailer of mail to a workspace's staff (an invitation, a password reset), sent within
    /// the request: the outbox beside an embedded store (`/dev/outbox`), SES on AWS.
    pub async fn staff_mailer(&self) -> Result<Arc<dyn messaging::Mailer>> {
        match &self.settings.backend {
            Backend::Embedded { data_dir } => Ok(Arc::new(messaging::outbox::Outbox::open(
                &data_dir.join(messaging::outbox::FOLDER),
            )?)),
            Backend::Aws { .. } => {
                let config = match &self.aws {
                    Some(config) => config.clone(),
                    None => crate::aws::load_config().await,
                };
                let configuration_set = self.settings.sending.configuration_set.clone();
                Ok(Arc::new(messaging::OnFirstUse::new(move || {
                    messaging::ses::SesMailer::new(aws_sdk_sesv2::Client::new(&config), configuration_set.clone())
                })))
            }
        }
    }

    /// The client of webhook calls (loopback allowed only when the settings say so).
    pub fn outbound(&self) -> Result<&crate::outbound::Outbound> {
        if let Some(client) = self.outbound.get() {
            return Ok(client);
        }
        let client = crate::outbound::Outbound::new(self.settings.webhooks.allow_loopback)?;
        Ok(self.outbound.get_or_init(|| client))
    }
}

/// Creates the data directory, readable by its owner only.
fn create_private_dir(dir: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::Config {
            name: "OVATION_DATA_DIR",
            reason: format!("cannot create {}: {e}", dir.display()),
        })
}

/// The kept files beside an embedded store.
fn local_files(data_dir: &std::path::Path) -> crate::files::LocalFiles {
    crate::files::LocalFiles::new(data_dir.join(crate::files::FOLDER))
}
