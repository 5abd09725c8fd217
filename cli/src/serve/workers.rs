//! The jobs inside `ovation serve`: the scheduler on a ticker (again at once while a backlog
//! remains, as fast as the deliverers take it), deliverer and webhook workers that take batches
//! from their durable local queues, hand them to the same handlers as Lambda's SQS events, and
//! delete what those did not report failed, and retention on an hourly ticker as on Lambda.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use ovation::Context;
use ovation::messaging::Messaging;
use ovation::messaging::local_queue::LocalQueue;

/// How often the scheduler looks when nothing is due (Lambda's schedule is every minute).
const TICK: Duration = Duration::from_secs(1);
/// Concurrent deliverer workers, each with a batch of up to 10.
pub const DELIVER_WORKERS: usize = 4;
/// Concurrent webhook workers, each with a batch of up to 10.
pub const WEBHOOK_WORKERS: usize = 2;
/// How long a received message stays hidden (the template's queue says the same).
pub const VISIBILITY_SECONDS: u32 = 60;
/// Receives after which a message goes to the dead letters (as the template's delivery queue; a
/// failed webhook call is not received again but made due again in the store).
pub const MAX_RECEIVES: u32 = 5;
/// Messages the local queue may hold before the scheduler waits for the deliverers (a few
/// seconds of sending).
const MAX_BACKLOG: u64 = 5_000;
/// How long an idle worker waits before looking again.
const IDLE: Duration = Duration::from_millis(200);

pub async fn schedule(ctx: Arc<Context>, messaging: Messaging) {
    loop {
        // A backlog is fed as the deliverers take it, not all at once.
        while messaging
            .local_queue
            .as_ref()
            .is_some_and(|q| q.backlog() > MAX_BACKLOG)
        {
            tokio::time::sleep(IDLE).await;
        }
        match job_scheduler::handle(&ctx, &messaging).await {
            Ok(report) if report.more => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "scheduler run failed"),
        }
        tokio::time::sleep(TICK).await;
    }
}

pub async fn deliver(ctx: Arc<Context>, messaging: Messaging, queue: Arc<LocalQueue>) {
    let messaging = &messaging;
    let ctx = &ctx;
    consume(&queue, BATCH_OF_TEN, |event| async move {
        job_deliver::handle(ctx, messaging, event).await
    })
    .await
}

pub async fn call_webhooks(ctx: Arc<Context>, queue: Arc<LocalQueue>) {
    let ctx = &ctx;
    consume(&queue, BATCH_OF_TEN, |event| async move {
        job_webhooks::handle(ctx, event).await
    })
    .await
}

/// The export jobs of the local stack, one at a time.
pub async fn run_exports(ctx: Arc<Context>) {
    let queue = LocalQueue::new(ctx.store.clone(), ovation::messaging::local_queue::EXPORTS);
    let ctx = &ctx;
    let one = Batch {
        size: 1,
        visibility: EXPORT_VISIBILITY_SECONDS,
    };
    consume(
        &queue,
        one,
        |event| async move { job_exports::handle(ctx, event).await },
    )
    .await
}

/// How often retention looks for workspaces not yet swept today (Lambda's schedule too).
const RETENTION_TICK: Duration = Duration::from_secs(3600);
/// How long one retention run may take before it leaves the rest to the next.
const RETENTION_BUDGET: Duration = Duration::from_secs(600);

/// Retention: a run a minute after the start, then every hour (each workspace once a day).
pub async fn apply_retention(ctx: Arc<Context>) {
    tokio::time::sleep(Duration::from_secs(60)).await;
    loop {
        let now = ovation::store::now_unix();
        match job_retention::handle(&ctx, now, RETENTION_BUDGET).await {
            Ok(report) if report.more => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "retention run failed"),
        }
        tokio::time::sleep(RETENTION_TICK).await;
    }
}

/// How many messages a worker takes at once, hidden for how long.
#[derive(Clone, Copy)]
struct Batch {
    size: u32,
    visibility: u32,
}

const BATCH_OF_TEN: Batch = Batch {
    size: 10,
    visibility: VISIBILITY_SECONDS,
};
/// An export may run 15 minutes (the template's job timeout); its message stays hidden longer.
const EXPORT_VISIBILITY_SECONDS: u32 = 960;

/// Takes batches from `queue` forever, hands each to `handle` as Lambda's SQS event and deletes
/// the messages it did not report failed.
async fn consume<F, Fut>(queue: &LocalQueue, batch: Batch, handle: F)
where
    F: Fn(SqsEvent) -> Fut,
    Fut: std::future::Future<Output = SqsBatchResponse>,
{
    loop {
        let received = match queue.receive(batch.size, batch.visibility, MAX_RECEIVES).await {
            Ok(received) if !received.is_empty() => received,
            Ok(_) => {
                tokio::time::sleep(IDLE).await;
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "receiving from the local queue failed");
                tokio::time::sleep(IDLE).await;
                continue;
            }
        };
        let event = match ovation::jobs::sqs_event(&received) {
            Ok(event) => event,
            Err(e) => {
                tracing::warn!(error = %e, "building a queue event failed");
                continue;
            }
        };
        let response = handle(event).await;
        let done: Vec<String> = received
            .iter()
            .filter(|m| !response.batch_item_failures.iter().any(|f| f.item_identifier == m.id))
            .map(|m| m.receipt.clone())
            .collect();
        if let Err(e) = queue.delete(&done).await {
            tracing::warn!(error = %e, "deleting delivered messages failed; they will be seen again");
        }
    }
}
