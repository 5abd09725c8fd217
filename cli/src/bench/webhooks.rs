//! The webhooks benchmark: what an event costs the write that emits it (`--events` responses
//! recorded with no endpoint, then with 10), how fast the scheduler queues the deliveries, and
//! the fan-out rate: every event to every endpoint, signed and POSTed to a receiver on loopback
//! through the local queue and the job's handler (embedded store).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use futures_util::StreamExt;
use ovation::config::Settings;
use ovation::crypto::local::LocalKeyring;
use ovation::domain::Score;
use ovation::messaging::local_queue::{LocalQueue, WEBHOOKS};
use ovation::services::Caller;
use ovation::services::people::{person, upsert};
use ovation::services::results::responses;
use ovation::services::results::responses::NewResponse;
use ovation::services::webhooks::endpoints::EndpointRequest;
use ovation::services::webhooks::{delivery, endpoints};
use ovation::store::TenantStore;
use ovation::store::embedded::EmbeddedStore;
use ovation::{Context, Error, Result};

/// Endpoints every event goes to in the fan-out.
const ENDPOINTS: usize = 10;
/// Responses recorded at once.
const WRITERS: usize = 16;
/// Webhook workers taking batches of 10 at once (`ovation serve` runs 2).
const WORKERS: usize = 8;

pub async fn figures(dir: &std::path::Path, events: usize) -> Result<()> {
    println!("# webhooks: {events} responses, {ENDPOINTS} endpoints on a loopback receiver (embedded store)");
    let store = Arc::new(EmbeddedStore::open(&dir.join(ovation::context::STORE_FILE))?);
    let keyring = Arc::new(LocalKeyring::open(dir, true)?);
    let mut settings = Settings::local(dir.to_owned());
    settings.webhooks.allow_loopback = true;
    let ctx = Context::with_adapters(settings, store.clone(), keyring);
    let (tenant, caller) = super::bench_tenant(&ctx).await?;
    let received = Arc::new(AtomicUsize::new(0));
    let url = receiver(received.clone()).await?;
    let person = upsert::upsert(
        &tenant,
        &person::PersonInput {
            email: Some(ovation::domain::Email::parse("bench@example.com")?),
            ..Default::default()
        },
        false,
    )
    .await?
    .person
    .id;

    let without = record(&tenant, &caller, &person, events).await?;
    line("response writes, no endpoint", events, without);
    for _ in 0..ENDPOINTS {
        let request = EndpointRequest {
            url: Some(format!("{url}/hook")),
            events: None,
            active: None,
        };
        endpoints::create(&tenant, &caller, true, request).await?;
    }
    let with = record(&tenant, &caller, &person, events).await?;
    line(&format!("response writes, {ENDPOINTS} endpoints"), events, with);
    println!(
        "{:<44} {:>9.3} ms",
        "an event's cost to its write",
        (with - without) * 1e3 / events as f64
    );

    let queue = Arc::new(LocalQueue::new(store, WEBHOOKS));
    let started = Instant::now();
    let mut queued = 0;
    loop {
        let now = ovation::store::now_unix();
        match delivery::dispatch_due(&ctx, queue.as_ref(), now).await? {
            0 => break,
            n => queued += n as usize,
        }
    }
    line(
        "deliveries queued by the scheduler",
        queued,
        started.elapsed().as_secs_f64(),
    );

    let started = Instant::now();
    let workers = (0..WORKERS).map(|_| {
        let (ctx, queue, received) = (ctx.clone(), queue.clone(), received.clone());
        async move {
            while received.load(Ordering::Relaxed) < queued {
                let taken = queue.receive(10, 60, 5).await?;
                if taken.is_empty() {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    continue;
                }
                let event = ovation::jobs::sqs_event(&taken)?;
                let answer = job_webhooks::handle(&ctx, event).await;
                if !answer.batch_item_failures.is_empty() {
                    return Err(Error::internal("a webhook delivery failed"));
                }
                queue
                    .delete(&taken.iter().map(|m| m.receipt.clone()).collect::<Vec<_>>())
                    .await?;
            }
            Ok::<(), Error>(())
        }
    });
    futures_util::future::try_join_all(workers).await?;
    line(
        "deliveries signed and POSTed (fan-out)",
        received.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64(),
    );
    Ok(())
}

fn line(what: &str, count: usize, secs: f64) {
    println!(
        "{what:<44} {count:>9} in {secs:>7.3} s = {:>10.0} /s",
        count as f64 / secs
    );
}

/// Records `count` responses of one person; the seconds it took.
async fn record(tenant: &TenantStore, caller: &Caller, person: &str, count: usize) -> Result<f64> {
    let started = Instant::now();
    let done: Vec<Result<()>> = futures_util::stream::iter(0..count)
        .map(|i| async move {
            let new = NewResponse {
                person: person.to_owned(),
                score: Score::new((i % 11) as i64)?,
                comment: Some("Fast delivery, friendly support.".into()),
                person_properties: None,
                created_at: None,
                survey: None,
            };
            responses::create(tenant, caller, new).await.map(drop)
        })
        .buffer_unordered(WRITERS)
        .collect()
        .await;
    done.into_iter().collect::<Result<Vec<()>>>()?;
    Ok(started.elapsed().as_secs_f64())
}

/// A receiver on loopback that answers 200 and counts; its base URL.
pub(super) async fn receiver(received: Arc<AtomicUsize>) -> Result<String> {
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let received = received.clone();
            async move {
                received.fetch_add(1, Ordering::Relaxed);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(Error::internal)?;
    let url = format!("http://{}", listener.local_addr().map_err(Error::internal)?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}
