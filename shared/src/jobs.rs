//! What every background job shares: its process start (settings, logging, context), the SQS
//! batch loop with partial batch failures, and the Lambda events `ovation serve` builds from its
//! durable queues and outbox page (SQS, SNS) so that the jobs' handlers get what Lambda gives.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use futures_util::StreamExt;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::messaging::{Messaging, Queue};
use crate::services::sending::deliverer::Delivered;

/// Messages of one batch delivered at once.
const DELIVER_CONCURRENCY: usize = 10;

/// The answer that every message of a batch failed (retried by the queue).
pub fn every_record_failed(event: &SqsEvent) -> SqsBatchResponse {
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
pub async fn handle_batch<F, Fut>(event: SqsEvent, queue: Option<&dyn Queue>, handle: F) -> SqsBatchResponse
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

/// A job's process on Lambda: its settings, logging and AWS context.
pub async fn start() -> std::result::Result<Arc<Context>, lambda_runtime::Error> {
    let settings = crate::config::Settings::from_env()?;
    crate::telemetry::init(settings.log_format);
    Ok(Context::on_aws(settings).await?)
}

/// A sending job's process: its context and the queue, mail and SMS adapters.
pub async fn start_sending() -> std::result::Result<(Arc<Context>, Messaging), lambda_runtime::Error> {
    let ctx = start().await?;
    let messaging = ctx.messaging(ctx.store.clone()).await?;
    Ok((ctx, messaging))
}
