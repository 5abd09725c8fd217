//! The background jobs' handlers, fed the events Lambda delivers (EventBridge, SQS with partial
//! batch failures, SNS) and, locally, the same events built by `ovation serve` from its ticker,
//! its durable queue and its outbox page. `run_*_on_lambda` are the Lambda entry points.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use futures_util::StreamExt;
use lambda_runtime::{LambdaEvent, service_fn};

use crate::context::Context;
use crate::error::{Error, Result};
use crate::messaging::{Messaging, Queue};
use crate::services::exports;
use crate::services::results::counters;
use crate::services::sending::deliverer::{self, Delivered};
use crate::services::sending::delivery_events::{self, EventsReport};
use crate::services::sending::scheduler::{self, SchedulerReport};
use crate::services::sending::steps::Lookups;
use crate::services::webhooks::delivery;
use crate::store::now_unix;

/// Messages of one batch delivered at once.
const DELIVER_CONCURRENCY: usize = 10;

/// When the scheduler last folded overflow counters home (it does so once a minute).
static LAST_COMPACTION: AtomicI64 = AtomicI64::new(0);
/// The days of counters compaction looks at (late writes to older days stay exact, only unfolded).
const COMPACTION_DAYS: i64 = 2;

/// The scheduler's run (EventBridge's event carries nothing it needs): due sends, webhook
/// events to their queue, then, once a minute, the result counters' overflow shards folded home
/// and the purge of deleted tenants that are due.
pub async fn scheduler(ctx: &Context, messaging: &Messaging) -> Result<SchedulerReport> {
    let now = now_unix();
    // Webhooks go out even while sending fails.
    let report = scheduler::schedule_due(ctx, messaging, now).await;
    match &messaging.webhooks {
        Some(queue) => match delivery::dispatch_due(ctx, queue.as_ref(), now).await {
            Ok(0) => {}
            Ok(dispatched) => tracing::info!(dispatched, "webhook deliveries queued"),
            Err(e) => tracing::warn!(error = %e, "dispatching webhook events failed"),
        },
        None => tracing::debug!("no webhook queue (OVATION_WEBHOOK_QUEUE_URL): webhook events wait"),
    }
    let report = report?;
    if now - LAST_COMPACTION.load(Ordering::Relaxed) >= 60 {
        LAST_COMPACTION.store(now, Ordering::Relaxed);
        match counters::compact(ctx.store.as_ref(), now, COMPACTION_DAYS).await {
            Ok(0) => {}
            Ok(folded) => tracing::info!(folded, "folded overflow counters home"),
            Err(e) => tracing::warn!(error = %e, "folding overflow counters failed"),
        }
        // Deleted tenants whose 30 days have passed (a purge cut short goes on next time).
        match crate::services::lifecycle::tenants::purge_due(ctx, now).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "purged deleted tenants"),
            Err(e) => tracing::warn!(error = %e, "purging deleted tenants failed"),
        }
    }
    if report.queued + report.requeued + report.failed > 0 || !report.skipped.is_empty() {
        tracing::info!(
            queued = report.queued,
            requeued = report.requeued,
            failed = report.failed,
            skipped = ?report.skipped,
            more = report.more,
            "scheduler run"
        );
    }
    Ok(report)
}

/// Delivers an SQS batch; the answer names the messages to receive again (retries with backoff
/// have had their visibility changed first). A body that is no delivery fails every time and so
/// reaches the dead-letter queue after the queue's maximum receives.
pub async fn deliver(ctx: &Context, messaging: &Messaging, event: SqsEvent) -> SqsBatchResponse {
    let lookups = Lookups::default();
    let lookups = &lookups;
    handle_batch(
        event,
        Some(messaging.queue.as_ref()),
        |body, receive_count| async move {
            let delivery = deliverer::parse_delivery(&body)?;
            deliverer::deliver(ctx, messaging, lookups, &delivery, receive_count).await
        },
    )
    .await
}

/// Delivers a batch of webhook events (one endpoint each). A failed call is made due again after
/// its backoff (the scheduler sends it then); a store error or a body that is no delivery fails
/// the message (retried by the queue, then its dead letters).
pub async fn webhooks(ctx: &Context, event: SqsEvent) -> SqsBatchResponse {
    let outbound = match ctx.outbound() {
        Ok(outbound) => outbound,
        Err(e) => {
            tracing::error!(error = %e, "no webhook client");
            return every_record_failed(&event);
        }
    };
    handle_batch(event, None, |body, _| async move {
        let delivery = delivery::parse_delivery(&body)?;
        delivery::deliver(ctx, outbound, &delivery, now_unix()).await?;
        Ok(Delivered::Done)
    })
    .await
}

fn every_record_failed(event: &SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in &event.records {
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = record.message_id.clone().unwrap_or_default();
        response.batch_item_failures.push(failure);
    }
    response
}

/// Runs `handle` on each message of an SQS batch at once; the answer names the messages to
/// receive again (a retry after a backoff has its visibility changed first, on `queue`).
async fn handle_batch<F, Fut>(event: SqsEvent, queue: Option<&dyn Queue>, handle: F) -> SqsBatchResponse
where
    F: Fn(String, u32) -> Fut,
    Fut: std::future::Future<Output = Result<Delivered>>,
{
    let handle = &handle;
    let results = futures_util::stream::iter(event.records)
        .map(|record| async move {
            let id = record.message_id.clone().unwrap_or_default();
            let receive_count = record
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            let outcome = handle(record.body.clone().unwrap_or_default(), receive_count).await;
            let failed = match outcome {
                Ok(Delivered::Done) => false,
                Ok(Delivered::RetryAfter(seconds)) => {
                    if let (Some(receipt), Some(queue)) = (&record.receipt_handle, queue)
                        && let Err(e) = queue.retry_later(receipt, seconds).await
                    {
                        tracing::warn!(message = %id, error = %e, "could not delay a retry");
                    }
                    true
                }
                Err(e) => {
                    tracing::warn!(message = %id, error = %e, "delivery failed");
                    true
                }
            };
            failed.then_some(id)
        })
        .buffer_unordered(DELIVER_CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    let mut response = SqsBatchResponse::default();
    for id in results.into_iter().flatten() {
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = id;
        response.batch_item_failures.push(failure);
    }
    response
}

/// Applies SES delivery events delivered by SNS. Refused records are in the report (and the
/// log), never retried; an error (the store failed) makes Lambda retry the whole event.
pub async fn delivery_events(ctx: &Context, event: serde_json::Value) -> Result<EventsReport> {
    let report = delivery_events::apply_batch(ctx, &event).await?;
    tracing::info!(
        applied = ?report.applied,
        ignored = ?report.ignored,
        refused = report.refused.len(),
        "delivery events"
    );
    Ok(report)
}

/// The Lambda event of SES events published to the SNS topic `topic`, as SNS would deliver it.
pub fn sns_event(topic: &str, messages: &[String]) -> serde_json::Value {
    let records: Vec<serde_json::Value> = messages
        .iter()
        .map(|message| {
            serde_json::json!({
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": format!("{topic}:local"),
                "Sns": {
                    "Type": "Notification",
                    "MessageId": crate::ids::new_id(),
                    "TopicArn": topic,
                    "Subject": null,
                    "Message": message,
                    "Timestamp": "1970-01-01T00:00:00.000Z",
                    "SignatureVersion": "1",
                    "Signature": "",
                    "SigningCertUrl": "",
                    "UnsubscribeUrl": "",
                    "MessageAttributes": {}
                }
            })
        })
        .collect();
    serde_json::json!({ "Records": records })
}

/// The Lambda event of a batch of local queue messages, as SQS would deliver it.
pub fn sqs_event(messages: &[crate::messaging::Received]) -> Result<SqsEvent> {
    let records: Vec<serde_json::Value> = messages
        .iter()
        .map(|m| {
            serde_json::json!({
                "messageId": m.id,
                "receiptHandle": m.receipt,
                "body": m.body,
                "attributes": {"ApproximateReceiveCount": m.receive_count.to_string()},
                "messageAttributes": {},
                "eventSource": "ovation:local-queue",
            })
        })
        .collect();
    serde_json::from_value(serde_json::json!({ "Records": records })).map_err(Error::internal)
}

/// A job's process: its settings, logging and context.
async fn start() -> std::result::Result<Arc<Context>, lambda_runtime::Error> {
    let settings = crate::config::Settings::from_env()?;
    crate::telemetry::init(settings.log_format);
    Ok(Context::from_settings(settings).await?)
}

/// A sending job's process: its context and the queue, mail and SMS adapters.
async fn start_sending() -> std::result::Result<(Arc<Context>, Messaging), lambda_runtime::Error> {
    let ctx = start().await?;
    let messaging = ctx.messaging(ctx.store.clone()).await?;
    Ok((ctx, messaging))
}

/// `job-scheduler` on Lambda: one run per EventBridge event.
pub async fn run_scheduler_on_lambda() -> std::result::Result<(), lambda_runtime::Error> {
    let (ctx, messaging) = start_sending().await?;
    lambda_runtime::run(service_fn(move |_: LambdaEvent<serde_json::Value>| {
        let (ctx, messaging) = (ctx.clone(), messaging.clone());
        async move { scheduler(&ctx, &messaging).await.map_err(lambda_runtime::Error::from) }
    }))
    .await
}

/// `job-deliver` on Lambda: SQS batches with partial batch failures.
pub async fn run_deliverer_on_lambda() -> std::result::Result<(), lambda_runtime::Error> {
    let (ctx, messaging) = start_sending().await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let (ctx, messaging) = (ctx.clone(), messaging.clone());
        async move { Ok::<_, lambda_runtime::Error>(deliver(&ctx, &messaging, event.payload).await) }
    }))
    .await
}

/// `job-delivery-events` on Lambda: SES events from the mail events topic.
pub async fn run_delivery_events_on_lambda() -> std::result::Result<(), lambda_runtime::Error> {
    let ctx = start().await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let ctx = ctx.clone();
        async move {
            delivery_events(&ctx, event.payload)
                .await
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}

/// `job-webhooks` on Lambda: SQS batches of webhook deliveries with partial batch failures.
pub async fn run_webhooks_on_lambda() -> std::result::Result<(), lambda_runtime::Error> {
    let ctx = start().await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let ctx = ctx.clone();
        async move { Ok::<_, lambda_runtime::Error>(webhooks(&ctx, event.payload).await) }
    }))
    .await
}

/// Runs export jobs (a batch of one: a job may take minutes); a failure comes back through the
/// queue.
pub async fn exports(ctx: &Context, event: SqsEvent) -> SqsBatchResponse {
    handle_batch(event, None, |body, receive_count| async move {
        let message = exports::jobs::parse_message(&body)?;
        exports::jobs::run(ctx, &message, receive_count).await?;
        Ok(Delivered::Done)
    })
    .await
}

/// `job-exports` on Lambda: SQS messages of export jobs.
pub async fn run_exports_on_lambda() -> std::result::Result<(), lambda_runtime::Error> {
    let ctx = start().await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let ctx = ctx.clone();
        async move { Ok::<_, lambda_runtime::Error>(exports(&ctx, event.payload).await) }
    }))
    .await
}
