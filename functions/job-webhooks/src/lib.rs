//! `job-webhooks`: SQS batches of webhook deliveries (one event to one endpoint each), signed
//! and sent through the SSRF-safe client, with partial batch failures.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{LambdaEvent, service_fn};
use ovation::Context;
use ovation::jobs::{every_record_failed, handle_batch};
use ovation::services::sending::deliverer::Delivered;
use ovation::services::webhooks::delivery;
use ovation::store::now_unix;

/// Delivers a batch of webhook events (one endpoint each). A failed call is made due again after
/// its backoff (the scheduler sends it then); a store error or a body that is no delivery fails
/// the message (retried by the queue, then its dead letters).
pub async fn handle(ctx: &Context, event: SqsEvent) -> SqsBatchResponse {
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

/// `job-webhooks` on Lambda: SQS batches of webhook deliveries with partial batch failures.
pub async fn run_on_lambda() -> std::result::Result<(), lambda_runtime::Error> {
    let ctx = ovation::jobs::start().await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let ctx = ctx.clone();
        async move { Ok::<_, lambda_runtime::Error>(handle(&ctx, event.payload).await) }
    }))
    .await
}
