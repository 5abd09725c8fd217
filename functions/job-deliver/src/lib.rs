//! `job-deliver`: SQS batches of queued invitations, each rendered and sent once (SES v2 email,
//! SNS SMS), and of staff notifications, with partial batch failures and retries after a backoff.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{LambdaEvent, service_fn};
use ovation::Context;
use ovation::jobs::handle_batch;
use ovation::messaging::Messaging;
use ovation::services::notifications::{self, notifier::StaffMail};
use ovation::services::sending::deliverer::{self, Delivered};
use ovation::services::sending::steps::Lookups;

/// Delivers an SQS batch; the answer names the messages to receive again (retries with backoff
/// have had their visibility changed first). A body that is no delivery fails every time and so
/// reaches the dead-letter queue after the queue's maximum receives.
pub async fn handle(ctx: &Context, messaging: &Messaging, event: SqsEvent) -> SqsBatchResponse {
    let lookups = Lookups::default();
    let lookups = &lookups;
    handle_batch(
        event,
        Some(messaging.queue.as_ref()),
        |body, receive_count| async move {
            if let Some(mail) = StaffMail::parse(&body) {
                notifications::mail::send(ctx, messaging, &mail).await?;
                return Ok(Delivered::Done);
            }
            let delivery = deliverer::parse_delivery(&body)?;
            deliverer::deliver(ctx, messaging, lookups, &delivery, receive_count).await
        },
    )
    .await
}

/// `job-deliver` on Lambda: SQS batches with partial batch failures.
pub async fn run_on_lambda() -> std::result::Result<(), lambda_runtime::Error> {
    let (ctx, messaging) = ovation::jobs::start_sending().await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let (ctx, messaging) = (ctx.clone(), messaging.clone());
        async move { Ok::<_, lambda_runtime::Error>(handle(&ctx, &messaging, event.payload).await) }
    }))
    .await
}
