//! The messaging ports (`Mailer`, `SmsSender`, `Queue`) and their adapters: SES v2, SNS and SQS on
//! AWS; an outbox folder and a durable queue on the embedded store locally. Services take the
//! ports; the settings choose the adapters (`Context::messaging`).

pub mod local_queue;
pub mod mime;
pub mod outbox;
pub mod ses;
pub mod sns;
pub mod sqs;

use std::sync::Arc;

use async_trait::async_trait;

use crate::error::{Error, Result};

/// One email, rendered.
#[derive(Clone, Debug)]
pub struct OutgoingEmail {
    /// What makes a send of this message the same send (the invitation and its step): an adapter
    /// that can, sends it once whatever the retries.
    pub idempotency_key: String,
    pub from_name: String,
    pub from_address: String,
    pub reply_to: Option<String>,
    pub to: String,
    pub subject: String,
    pub html: String,
    pub text: String,
    /// The one-click unsubscribe URL (`List-Unsubscribe` with `List-Unsubscribe-Post`); none
    /// for mail to the workspace's own staff (an invitation, a password reset).
    pub unsubscribe_url: Option<String>,
    /// The mailto of `List-Unsubscribe`, when the tenant has one.
    pub unsubscribe_mailto: Option<String>,
    /// Tags the delivery events carry back (tenant, invitation): ids only.
    pub tags: Vec<(String, String)>,
}

/// One SMS, rendered.
#[derive(Clone, Debug)]
pub struct OutgoingSms {
    pub idempotency_key: String,
    /// E.164.
    pub to: String,
    pub sender_id: Option<String>,
    pub text: String,
}

/// Why a send did not happen, as the deliverer must act on it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendFailure {
    /// The provider asks us to slow down: try again later.
    #[error("throttled: {0}")]
    Throttled(String),
    /// The provider or network failed for now: try again later.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// This message will never go (bad address, unverified sender, no route): give up.
    #[error("rejected: {0}")]
    Rejected(String),
}

#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends; returns the provider's message id.
    async fn send(&self, email: &OutgoingEmail) -> std::result::Result<String, SendFailure>;
}

#[async_trait]
pub trait SmsSender: Send + Sync {
    async fn send(&self, sms: &OutgoingSms) -> std::result::Result<String, SendFailure>;
}

/// A message taken from a queue: its body and the handle to delete or delay it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    pub id: String,
    pub receipt: String,
    pub body: String,
    /// How many times it has been received, this time included.
    pub receive_count: u32,
}

/// A queue with SQS's semantics: at-least-once, a message hidden while one consumer works on it.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Enqueues up to 10 bodies in one call.
    async fn send_batch(&self, bodies: &[String]) -> Result<()>;
    /// Hides a received message for `seconds` more (a retry with backoff).
    async fn retry_later(&self, receipt: &str, seconds: u32) -> Result<()>;
}

/// The most messages one `send_batch` takes (SQS's limit).
pub const BATCH: usize = 10;

/// The adapters of the sending jobs, made once per process.
#[derive(Clone)]
pub struct Messaging {
    pub queue: Arc<dyn Queue>,
    pub mailer: Arc<dyn Mailer>,
    pub sms: Arc<dyn SmsSender>,
    /// The local queue, when the stack is local (its consumer runs in `ovation serve`).
    pub local_queue: Option<Arc<local_queue::LocalQueue>>,
    /// The queue of webhook deliveries (none on AWS without `OVATION_WEBHOOK_QUEUE_URL`).
    pub webhooks: Option<Arc<dyn Queue>>,
    /// The local webhook queue, when the stack is local.
    pub local_webhooks: Option<Arc<local_queue::LocalQueue>>,
    /// The process's sending budget, when it has one.
    pub rate: Option<Arc<SendRate>>,
}

impl Messaging {
    /// Waits for the process's sending budget, when it has one.
    pub async fn wait_for_rate(&self) {
        if let Some(rate) = &self.rate {
            rate.acquire().await;
        }
    }
}

/// Sends a second for this process: each send takes the next free slot and waits for it.
pub struct SendRate {
    interval: std::time::Duration,
    next: tokio::sync::Mutex<tokio::time::Instant>,
}

impl SendRate {
    pub fn new(per_second: u32) -> Option<Arc<SendRate>> {
        (per_second > 0).then(|| {
            Arc::new(SendRate {
                interval: std::time::Duration::from_secs(1) / per_second,
                next: tokio::sync::Mutex::new(tokio::time::Instant::now()),
            })
        })
    }

    pub async fn acquire(&self) {
        let slot = {
            let mut next = self.next.lock().await;
            let slot = (*next).max(tokio::time::Instant::now());
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

/// The SQS queue of webhook deliveries at `url`, made at its first use.
pub fn webhook_queue(config: &aws_config::SdkConfig, url: Option<String>) -> Option<Arc<dyn Queue>> {
    let config = config.clone();
    url.map(|url| {
        Arc::new(OnFirstUse::new(move || {
            sqs::SqsQueue::new(aws_sdk_sqs::Client::new(&config), url.clone())
        })) as Arc<dyn Queue>
    })
}

/// An adapter made at its first use, so a function builds only the clients it calls (the
/// scheduler never builds SES's or SNS's; each client costs a cold start its set-up).
pub(crate) struct OnFirstUse<T> {
    make: Box<dyn Fn() -> T + Send + Sync>,
    made: std::sync::OnceLock<T>,
}

impl<T> OnFirstUse<T> {
    pub(crate) fn new(make: impl Fn() -> T + Send + Sync + 'static) -> OnFirstUse<T> {
        OnFirstUse {
            make: Box::new(make),
            made: std::sync::OnceLock::new(),
        }
    }

    fn get(&self) -> &T {
        self.made.get_or_init(|| (self.make)())
    }
}

#[async_trait]
impl<T: Mailer> Mailer for OnFirstUse<T> {
    async fn send(&self, email: &OutgoingEmail) -> std::result::Result<String, SendFailure> {
        self.get().send(email).await
    }
}

#[async_trait]
impl<T: SmsSender> SmsSender for OnFirstUse<T> {
    async fn send(&self, sms: &OutgoingSms) -> std::result::Result<String, SendFailure> {
        self.get().send(sms).await
    }
}

#[async_trait]
impl<T: Queue> Queue for OnFirstUse<T> {
    async fn send_batch(&self, bodies: &[String]) -> Result<()> {
        self.get().send_batch(bodies).await
    }

    async fn retry_later(&self, receipt: &str, seconds: u32) -> Result<()> {
        self.get().retry_later(receipt, seconds).await
    }
}

/// The GSM-7 septets a text takes (the extension table's characters count twice); none when it
/// needs UCS-2.
fn gsm7_septets(text: &str) -> Option<usize> {
    const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
    const EXTENDED: &str = "^{}\\[~]|€\u{c}";
    text.chars()
        .map(|c| match c {
            c if BASIC.contains(c) => Some(1),
            c if EXTENDED.contains(c) => Some(2),
            _ => None,
        })
        .sum()
}

/// Whether a text goes as GSM-7 (else UCS-2, 70 characters a segment).
pub fn sms_is_gsm7(text: &str) -> bool {
    gsm7_septets(text).is_some()
}

/// SMS segments a text takes: 160 GSM-7 characters in one (153 each when concatenated; the
/// extension table's characters count twice), else 70 UCS-2 characters (67 concatenated).
pub fn sms_segments(text: &str) -> usize {
    let (units, single, multi) = match gsm7_septets(text) {
        Some(n) => (n, 160, 153),
        None => (text.encode_utf16().count(), 70, 67),
    };
    if units <= single { 1 } else { units.div_ceil(multi) }
}

/// What an adapter's error means for a send: throttling and outages are retried, refusals not.
pub fn send_failure(error: Error) -> SendFailure {
    match error {
        Error::Throttled { service, .. } => SendFailure::Throttled(service.to_owned()),
        Error::Invalid { reason, .. } => SendFailure::Rejected(reason.into_owned()),
        other => SendFailure::Unavailable(other.to_string()),
    }
}
