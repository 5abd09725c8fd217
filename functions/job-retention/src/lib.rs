//! `job-retention`: one run per EventBridge event (every hour). Each workspace with a retention
//! period is swept once a day; a run that reaches its deadline stops between pages, and the
//! next run goes on where it stopped.

use std::time::{Duration, Instant};

use lambda_runtime::{LambdaEvent, service_fn};
use ovation::Context;
use ovation::error::Result;
use ovation::services::lifecycle::retention::{self, RetentionReport};
use ovation::store::now_unix;

/// Time kept back from Lambda's deadline to save progress and answer.
const MARGIN: Duration = Duration::from_secs(30);

/// Sweeps the workspaces due on `now`'s day for at most `budget`.
pub async fn handle(ctx: &Context, now: i64, budget: Duration) -> Result<RetentionReport> {
    let report = retention::run_due(ctx, now, Instant::now() + budget).await?;
    if report.workspaces > 0 {
        tracing::info!(
            workspaces = report.workspaces,
            removed = ?report.removed,
            more = report.more,
            "retention run"
        );
    }
    Ok(report)
}

/// `job-retention` on Lambda: one run per EventBridge event, until shortly before its deadline.
pub async fn run_on_lambda() -> std::result::Result<(), lambda_runtime::Error> {
    let ctx = ovation::jobs::start().await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let ctx = ctx.clone();
        async move {
            let now_ms = u64::try_from(now_unix()).unwrap_or_default() * 1000;
            let left = Duration::from_millis(event.context.deadline.saturating_sub(now_ms));
            let report = handle(&ctx, now_unix(), left.saturating_sub(MARGIN)).await?;
            Ok::<_, lambda_runtime::Error>(serde_json::json!({
                "workspaces": report.workspaces,
                "more": report.more,
            }))
        }
    }))
    .await
}
