//! The `Queue` port on Amazon SQS: batches of 10 (`SendMessageBatch`, any entry SQS refused is
//! an error, so the caller retries the run), and retries delayed by changing a received
//! message's visibility. Receiving is Lambda's event source mapping, not ours.

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use super::Queue;
use crate::aws::map_sdk_error;
use crate::error::{Error, Result};

/// The IAM actions this adapter's calls need (the template test holds `template.yaml` to them).
pub const IAM_ACTIONS: &[&str] = &["sqs:SendMessageBatch", "sqs:ChangeMessageVisibility"];

pub struct SqsQueue {
    client: Client,
    url: String,
}

impl SqsQueue {
    pub fn new(client: Client, url: String) -> SqsQueue {
        SqsQueue { client, url }
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send_batch(&self, bodies: &[String]) -> Result<()> {
        if bodies.is_empty() {
            return Ok(());
        }
        let entries = bodies
            .iter()
            .enumerate()
            .map(|(i, body)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body)
                    .build()
                    .map_err(Error::internal)
            })
            .collect::<Result<Vec<_>>>()?;
        let sent = self
            .client
            .send_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| map_sdk_error("sqs", e, |_, _| None))?;
        match sent.failed().first() {
            None => Ok(()),
            Some(failed) => Err(Error::Unavailable {
                service: "sqs",
                reason: format!(
                    "{} of {} messages refused: {} {}",
                    sent.failed().len(),
                    bodies.len(),
                    failed.code(),
                    failed.message().unwrap_or_default()
                ),
            }),
        }
    }

    async fn retry_later(&self, receipt: &str, seconds: u32) -> Result<()> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(seconds.min(43_200) as i32)
            .send()
            .await
            .map_err(|e| map_sdk_error("sqs", e, |_, _| None))?;
        Ok(())
    }
}
