//! `job-scheduler`: one run per EventBridge event (every minute): due sends to the deliverers'
//! queue, webhook events to theirs, and once a minute staff notifications to the deliverers'
//! queue, the counters folded home and the purge of deleted tenants that are due.

use std::sync::atomic::{AtomicI64, Ordering};

use lambda_runtime::{LambdaEvent, service_fn};
use ovation::Context;
use ovation::error::Result;
use ovation::messaging::Messaging;
use ovation::services::notifications::notifier::{self, Pace};
use ovation::services::results::counters;
use ovation::services::sending::scheduler::{self, SchedulerReport};
use ovation::services::webhooks::delivery;
use ovation::store::now_unix;

/// When the scheduler last folded overflow counters home (it does so once a minute).
static LAST_COMPACTION: AtomicI64 = AtomicI64::new(0);
/// The days of counters compaction looks at (late writes to older days stay exact, only unfolded).
const COMPACTION_DAYS: i64 = 2;

/// The scheduler's run (EventBridge's event carries nothing it needs): due sends, webhook
/// events to their queue, then, once a minute, the result counters' overflow shards folded home,
/// staff notifications queued and the purge of deleted tenants that are due.
pub async fn handle(ctx: &Context, messaging: &Messaging) -> Result<SchedulerReport> {
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
        match notifier::run_due(ctx, messaging.queue.as_ref(), now, Pace::default()).await {
            Ok(r) if r.answer_mails + r.digests == 0 => {}
            Ok(r) => tracing::info!(
                answers = r.answer_mails,
                digests = r.digests,
                "staff notifications queued"
            ),
            Err(e) => tracing::warn!(error = %e, "queueing staff notifications failed"),
        }
        // Deleted tenants whose 30 days have passed (a purge cut short goes on next time).
        match ovation::services::lifecycle::tenants::purge_due(ctx, now).await {
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

/// `job-scheduler` on Lambda: one run per EventBridge event.
pub async fn run_on_lambda() -> std::result::Result<(), lambda_runtime::Error> {
    let (ctx, messaging) = ovation::jobs::start_sending().await?;
    lambda_runtime::run(service_fn(move |_: LambdaEvent<serde_json::Value>| {
        let (ctx, messaging) = (ctx.clone(), messaging.clone());
        async move { handle(&ctx, &messaging).await.map_err(lambda_runtime::Error::from) }
    }))
    .await
}
