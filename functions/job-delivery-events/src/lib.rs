//! `job-delivery-events`: SES events (bounces, complaints, deliveries) from the mail events
//! topic, applied to people and invitations.

use lambda_runtime::{LambdaEvent, service_fn};
use ovation::Context;
use ovation::error::Result;
use ovation::services::sending::delivery_events::{self, EventsReport};

/// Applies SES delivery events delivered by SNS. Refused records are in the report (and the
/// log), never retried; an error (the store failed) makes Lambda retry the whole event.
pub async fn handle(ctx: &Context, event: serde_json::Value) -> Result<EventsReport> {
    let report = delivery_events::apply_batch(ctx, &event).await?;
    tracing::info!(
        applied = ?report.applied,
        ignored = ?report.ignored,
        refused = report.refused.len(),
        "delivery events"
    );
    Ok(report)
}

/// `job-delivery-events` on Lambda: SES events from the mail events topic.
pub async fn run_on_lambda() -> std::result::Result<(), lambda_runtime::Error> {
    let ctx = ovation::jobs::start().await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let ctx = ctx.clone();
        async move { handle(&ctx, event.payload).await.map_err(lambda_runtime::Error::from) }
    }))
    .await
}
