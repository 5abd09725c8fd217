//! `job-exports`: SQS messages of export jobs, one at a time (a job may take minutes), and of
//! deleted tenants' files to remove.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{LambdaEvent, service_fn};
use ovation::Context;
use ovation::jobs::handle_batch;
use ovation::services::exports;
use ovation::services::sending::deliverer::Delivered;

/// Runs export jobs (a batch of one: a job may take minutes); a failure comes back through the
/// queue.
pub async fn handle(ctx: &Context, event: SqsEvent) -> SqsBatchResponse {
    handle_batch(event, None, |body, receive_count| async move {
        let message = exports::jobs::parse_message(&body)?;
        exports::jobs::handle_message(ctx, &message, receive_count).await?;
        Ok(Delivered::Done)
    })
    .await
}

/// `job-exports` on Lambda: SQS messages of export jobs.
pub async fn run_on_lambda() -> std::result::Result<(), lambda_runtime::Error> {
    let ctx = ovation::jobs::start().await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let ctx = ctx.clone();
        async move { Ok::<_, lambda_runtime::Error>(handle(&ctx, event.payload).await) }
    }))
    .await
}
