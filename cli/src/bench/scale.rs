//! The partition model: a busy synthetic day replayed on a simulated clock through the services
//! over the embedded store, every call charged to the DynamoDB partition it would touch
//! (`store::capacity`), and the hottest partitions printed against their limits, at the day and
//! at ten times it.
//!
//! The day: `WORKSPACES` workspaces each send `PEOPLE` people a survey at 09:00 in three time
//! zones, at the operators' SES quota; a workspace imports `IMPORT_ROWS` people with `delay=0`;
//! a website survey answers `ANSWERS` a second with a burst of `BURST`, each answer an event
//! to two webhook endpoints. `SAMPLED` of the uniform workspaces are run, each standing for its
//! share in the shared partitions. Ten times the day is ten times the workspaces: ten times the
//! sends and the send rate, ten importers, ten shops bursting at once (each workspace run stands
//! for its ten in the shared partitions; a workspace's own partitions see its own load).

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use axum::body::Body;
use axum::http::{Request, header};
use futures_util::StreamExt;
use ovation::config::Settings;
use ovation::crypto::local::LocalKeyring;
use ovation::domain::Channel;
use ovation::domain::send_at::SendAt;
use ovation::messaging::Messaging;
use ovation::messaging::local_queue::LocalQueue;
use ovation::services::Caller;
use ovation::services::people::imports::{self, ImportOptions};
use ovation::services::people::person::SendRequest;
use ovation::services::sending::scheduler::{self, SchedulerReport};
use ovation::services::surveys;
use ovation::services::webhooks::delivery;
use ovation::services::webhooks::endpoints::{self, EndpointRequest};
use ovation::services::website::site_keys::{self, NewSiteKey};
use ovation::store::capacity::{CapacityMeter, Hottest, Units};
use ovation::store::embedded::EmbeddedStore;
use ovation::store::keys::{self, Spread};
use ovation::store::spread::SpreadStore;
use ovation::store::{Store, TenantStore, simulate_clock};
use ovation::{Context, Error, Result};
use serde_json::json;
use tower::ServiceExt;

const HOUR: i64 = 3_600;
/// Workspaces sending at 09:00, and the people each sends to.
const WORKSPACES: f64 = 1_000.0;
const PEOPLE: usize = 1_000;
/// The UTC hours of 09:00 in the three time zones (Berlin, London, New York in December).
const NINE_AM_UTC: [i64; 3] = [8, 9, 14];
/// Uniform workspaces run, a third in each zone.
const SAMPLED: usize = 15;
/// Sends a second the deployment makes (its SES quota).
const SEND_RATE: f64 = 1_000.0;
/// The import: its rows, and the rows it writes a second (at 10:00 UTC) where earlier versions
/// did not pace imports (this one paces import jobs on DynamoDB: `imports::PACED_ROWS_A_SECOND`).
const IMPORT_ROWS: usize = 100_000;
const IMPORT_RATE: usize = 1_000;
/// Website answers a second, and the burst (at 12:00 UTC, `BURST_SECONDS` seconds long, in a
/// `WEBSITE_SECONDS` window).
const ANSWERS: f64 = 100.0;
const BURST: f64 = 2_000.0;
const BURST_SECONDS: i64 = 5;
const WEBSITE_SECONDS: i64 = 30;
/// Requests of the website in flight at once.
const CONCURRENCY: usize = 64;
const ORIGIN: &str = "https://shop.example.com";
/// Workspaces whose own partitions are printed, and how many each.
const WORKSPACES_SHOWN: usize = 3;
const SHOWN_EACH: usize = 8;

/// One replay's world: the metered store, the queues beside it (SQS on AWS: not metered), the
/// workspaces and what they are called in the figures.
struct World {
    dir: std::path::PathBuf,
    raw: Arc<dyn Store>,
    meter: Arc<CapacityMeter>,
    /// The meter, below the spreading of a workspace's busiest partitions where the layout has it.
    store: Arc<dyn Store>,
    keyring: Arc<LocalKeyring>,
    names: Vec<(String, String)>,
    /// The simulated day's midnight.
    day: i64,
}

impl World {
    /// A context whose scheduler enqueues `budget` a run (one run a simulated second).
    fn context(&self, budget: usize) -> Arc<Context> {
        let mut settings = Settings::local(self.dir.clone());
        settings.public_url = Some("http://127.0.0.1:8080".into());
        settings.sending.scheduler_batch = budget.max(1) as u32;
        settings.sending.rate_per_second = 0;
        settings.rate_per_site_key_minute = u32::MAX;
        settings.site_rate_per_ip.per_second = u32::MAX;
        settings.site_rate_per_ip.burst = u32::MAX;
        settings.webhooks.allow_loopback = true;
        Context::with_adapters(settings, self.store.clone(), self.keyring.clone())
    }

    /// A partition's name with workspace ids replaced by what the figures call them.
    fn name(&self, partition: &str) -> String {
        self.names
            .iter()
            .fold(partition.to_owned(), |p, (id, name)| p.replace(id, name))
    }
}

pub async fn figures(dir: &std::path::Path) -> Result<()> {
    println!("# the partition model: a synthetic day on a simulated clock, units a second per partition key");
    println!(
        "# the day: {WORKSPACES} workspaces × {PEOPLE} people sent at 09:00 in 3 time zones at {SEND_RATE} sends/s; \
         an import of {IMPORT_ROWS} people with delay=0 at {IMPORT_RATE} rows/s (paced: {}); website answers {ANSWERS}/s with \
         a {BURST_SECONDS} s burst of {BURST}/s, each an event to 2 webhooks; {SAMPLED} uniform workspaces run",
        imports::PACED_ROWS_A_SECOND
    );
    let layouts = [
        (
            "the layout of earlier versions (a due partition a minute, 4 webhook partitions)",
            Spread::UNLIMITED,
        ),
        (
            "this version on DynamoDB (shared index partitions and a workspace's busiest in shards)",
            Spread::LIMITED,
        ),
    ];
    for (n, (layout, spread)) in layouts.into_iter().enumerate() {
        for scale in [1.0, 10.0] {
            println!("## {scale}× the day, {layout}");
            let sub = dir.join(format!("{n}x{scale}"));
            std::fs::create_dir_all(&sub).map_err(Error::internal)?;
            // The simulated day's noon is now: ids carry the real time, which the website's
            // checks and the webhooks' fast path compare with the clock's.
            let day = ovation::store::now_unix() - 12 * HOUR;
            let replayed = replay(&sub, day, scale, spread).await;
            simulate_clock(0);
            replayed?;
        }
    }
    Ok(())
}

async fn replay(dir: &std::path::Path, day: i64, scale: f64, spread: Spread) -> Result<()> {
    let started = Instant::now();
    let raw: Arc<dyn Store> = Arc::new(EmbeddedStore::open(&dir.join(ovation::context::STORE_FILE))?);
    let meter = Arc::new(CapacityMeter::with(raw.clone(), spread, ovation::store::now_unix));
    let store: Arc<dyn Store> = match spread.workspace_shards {
        1 => meter.clone(),
        shards => Arc::new(SpreadStore::new(meter.clone(), shards)),
    };
    let mut world = World {
        dir: dir.to_owned(),
        meter,
        store,
        raw,
        keyring: Arc::new(LocalKeyring::open(dir, true)?),
        names: Vec::new(),
        day,
    };
    simulate_clock(day - 6 * HOUR);
    let setup = world.context(1);
    // The uniform workspaces, their people sent at 09:00 in their zone (scheduled the evening before).
    let stands_for = WORKSPACES * scale / SAMPLED as f64;
    let mut zones = Vec::new();
    for n in 0..SAMPLED {
        let (store, caller) = workspace(&setup, &mut world, &format!("uniform{n}")).await?;
        world.meter.stand_for(store.tenant(), stands_for);
        let at = day + NINE_AM_UTC[n % 3] * HOUR;
        import(&store, &caller, 0, PEOPLE, SendAt::At(at)).await?;
        zones.push(store);
    }
    let (importer, importer_caller) = workspace(&setup, &mut world, "importer").await?;
    world.meter.stand_for(importer.tenant(), scale);
    let (shop, shop_caller) = workspace(&setup, &mut world, "shop").await?;
    world.meter.stand_for(shop.tenant(), scale);
    let site = website(&mut world, &shop, &shop_caller).await?;
    eprintln!("progress: {scale}×: set up in {:.1} s", started.elapsed().as_secs_f64());
    world.meter.reset();

    // 09:00 in each zone: the scheduler and the deliverers at the quota (the sample's share).
    let messaging = setup.messaging(world.raw.clone()).await?;
    let sampled_rate = SEND_RATE * scale / stands_for;
    for hour in NINE_AM_UTC {
        let ctx = world.context(sampled_rate.ceil() as usize);
        send_until_done(&ctx, &messaging, day + hour * HOUR).await?;
    }
    eprintln!(
        "progress: {scale}×: 09:00 sent, {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // 10:00: the import, its sends going out as they are due.
    let ctx = world.context(SEND_RATE as usize);
    let mut second = day + 10 * HOUR;
    let rate = match spread.workspace_shards {
        1 => IMPORT_RATE,
        _ => imports::PACED_ROWS_A_SECOND as usize,
    };
    for first in (0..IMPORT_ROWS).step_by(rate) {
        simulate_clock(second);
        import(&importer, &importer_caller, first, rate, SendAt::After(0)).await?;
        send_due(&ctx, &messaging, second).await?;
        second += 1;
    }
    send_until_done(&ctx, &messaging, second).await?;
    eprintln!(
        "progress: {scale}×: import sent, {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // 12:00: the website, its burst, and the webhooks' deliveries.
    let ctx = world.context(SEND_RATE as usize);
    let app = crate::serve::router(ctx.clone());
    let webhooks = Arc::new(LocalQueue::new(
        world.raw.clone(),
        ovation::messaging::local_queue::WEBHOOKS,
    ));
    let mut visitor = 0;
    for s in 0..WEBSITE_SECONDS {
        let now = day + 12 * HOUR + s;
        simulate_clock(now);
        let rate = if (10..10 + BURST_SECONDS).contains(&s) {
            BURST
        } else {
            ANSWERS
        };
        let count = rate as usize;
        answer(&app, &site, visitor..visitor + count).await?;
        visitor += count;
        delivery::dispatch_due(&ctx, webhooks.as_ref(), now).await?;
        drain(&webhooks, |event| job_webhooks::handle(&ctx, event)).await?;
    }
    eprintln!(
        "progress: {scale}×: website answered, {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // A workspace's own partitions are the same in either layout.
    report(&world);
    Ok(())
}

/// A workspace named `name`, known by that name in the figures, and its owner as an admin.
async fn workspace(ctx: &Context, world: &mut World, name: &str) -> Result<(TenantStore, Caller)> {
    let (store, caller) = super::workspace(ctx, name).await?;
    world.names.push((store.tenant().to_string(), name.to_owned()));
    Ok((store, caller))
}

/// Imports `count` people from number `first`, each sent the default survey `at`.
async fn import(store: &TenantStore, caller: &Caller, first: usize, count: usize, at: SendAt) -> Result<()> {
    let csv: String = std::iter::once("email\n".to_owned())
        .chain((first..first + count).map(|i| format!("person{i}@example.com\n")))
        .collect();
    let options = ImportOptions {
        mapping: Vec::new(),
        send: Some(SendRequest {
            channel: Channel::Email,
            at,
            survey: None,
        }),
        first_row: first as u64 + 2,
        job: None,
    };
    imports::run(store, caller, false, csv.as_bytes(), &options, |_| {}).await?;
    Ok(())
}

/// One simulated second of sending at `now`: a scheduler run, then every message it queued
/// delivered (the deliverer's batches of ten, eight at once). How many it queued.
async fn send_due(ctx: &Arc<Context>, messaging: &Messaging, now: i64) -> Result<SchedulerReport> {
    let report = scheduler::schedule_due(ctx, messaging, now).await?;
    let queue = messaging.local_queue.clone().ok_or(Error::internal("no local queue"))?;
    drain(&queue, |event| job_deliver::handle(ctx, messaging, event)).await?;
    Ok(report)
}

/// Sends second by second from `from` until five runs in a row queue nothing and leave nothing
/// (at most two hours).
async fn send_until_done(ctx: &Arc<Context>, messaging: &Messaging, from: i64) -> Result<()> {
    let mut idle = 0;
    for now in from..from + 2 * HOUR {
        simulate_clock(now);
        let run = send_due(ctx, messaging, now).await?;
        idle = match (run.queued + run.requeued, run.more) {
            (0, false) => idle + 1,
            _ => 0,
        };
        if idle == 5 {
            return Ok(());
        }
    }
    Err(Error::internal("sends still due after two simulated hours"))
}

/// The shop's website survey with its site key, and two webhook endpoints on a receiver.
async fn website(world: &mut World, store: &TenantStore, caller: &Caller) -> Result<String> {
    let patch = serde_json::from_value(json!({"name": "Shop", "questions": []})).map_err(Error::internal)?;
    let survey = surveys::create(store, caller, patch).await?;
    world.names.push((survey.id.to_string(), "survey".into()));
    let new = NewSiteKey {
        name: "Shop".into(),
        survey_id: survey.id.clone(),
        origins: vec![ORIGIN.into()],
        signed_emails: false,
    };
    let key = site_keys::create(store, caller, new).await?.public();
    let url = super::webhooks::receiver(Arc::default()).await?;
    for _ in 0..2 {
        let request = EndpointRequest {
            url: Some(format!("{url}/hook")),
            events: None,
            active: None,
        };
        endpoints::create(store, caller, true, request).await?;
    }
    Ok(key)
}

/// Visitors `visitors` each shown the survey and answering it, `CONCURRENCY` at once.
async fn answer(app: &axum::Router, key: &str, visitors: std::ops::Range<usize>) -> Result<()> {
    let done: Vec<Result<()>> = futures_util::stream::iter(visitors)
        .map(|n| async move {
            let visitor = json!({"visitor_id": format!("{n:032x}")});
            let decided = post(app, "/w/v1/decide", json!({"key": key, "visitor": visitor})).await?;
            let answer = json!({"key": key, "ask": decided["ask"], "visitor": visitor, "score": n % 11});
            post(app, "/w/v1/answers", answer).await.map(drop)
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    done.into_iter().collect::<Result<Vec<()>>>()?;
    Ok(())
}

async fn post(app: &axum::Router, path: &str, body: serde_json::Value) -> Result<serde_json::Value> {
    let request = Request::post(path)
        .header(header::ORIGIN, ORIGIN)
        .header(header::CONTENT_TYPE, "text/plain;charset=UTF-8")
        .body(Body::from(body.to_string()))
        .map_err(Error::internal)?;
    let response = app.clone().oneshot(request).await.map_err(Error::internal)?;
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .map_err(Error::internal)?;
    if !status.is_success() {
        return Err(Error::internal(format!(
            "{path} answered {status}: {}",
            String::from_utf8_lossy(&bytes)
        )));
    }
    serde_json::from_slice(&bytes).map_err(Error::internal)
}

/// Every message `queue` holds through a function's handler, eight batches of ten at once.
async fn drain<F, Fut>(queue: &LocalQueue, handle: F) -> Result<()>
where
    F: Fn(SqsEvent) -> Fut,
    Fut: Future<Output = SqsBatchResponse>,
{
    loop {
        let mut batches = Vec::new();
        for _ in 0..8 {
            let taken = queue.receive(10, 60, 5).await?;
            if taken.is_empty() {
                break;
            }
            batches.push(taken);
        }
        if batches.is_empty() {
            return Ok(());
        }
        let handled: Vec<Result<()>> = futures_util::stream::iter(batches)
            .map(|taken| {
                let handle = &handle;
                async move {
                    let answer = handle(ovation::jobs::sqs_event(&taken)?).await;
                    if !answer.batch_item_failures.is_empty() {
                        return Err(Error::internal("a queued message failed"));
                    }
                    queue
                        .delete(&taken.iter().map(|m| m.receipt.clone()).collect::<Vec<_>>())
                        .await
                }
            })
            .buffer_unordered(8)
            .collect()
            .await;
        handled.into_iter().collect::<Result<Vec<()>>>()?;
    }
}

/// The hottest partitions of the replay, by write and by read units, against their limits: the
/// shared ones, and with `own_too` those of the busiest workspaces.
fn report(world: &World) {
    let all = |units| world.meter.hottest(units, usize::MAX);
    for (units, label) in [(Units::Write, "write"), (Units::Read, "read")] {
        // The local queues stand in for SQS, which has no partitions to heat.
        let (shared, own): (Vec<Hottest>, Vec<Hottest>) = all(units)
            .into_iter()
            .filter(|h| !h.partition.starts_with("Q#") && !h.partition.starts_with("QV#"))
            .partition(|h| !h.partition.starts_with("T#"));
        println!(
            "shared partitions, {label} units in their busiest second (limit {:.0}), the busiest of each kind",
            units.limit()
        );
        let mut kinds: Vec<&str> = Vec::new();
        let busiest: Vec<Hottest> = shared
            .iter()
            .filter(|h| {
                let kind = h.partition.split('#').next().unwrap_or_default();
                if kinds.contains(&kind) {
                    return false;
                }
                kinds.push(kind);
                true
            })
            .cloned()
            .collect();
        print_hottest(world, units, &busiest);
        // A workspace's own, the busiest few of each of the busiest workspaces.
        let mut workspaces: Vec<&str> = Vec::new();
        for hot in &own {
            let tenant = hot.partition.split('#').nth(1).unwrap_or_default();
            if !workspaces.contains(&tenant) {
                workspaces.push(tenant);
            }
        }
        for tenant in workspaces.iter().take(WORKSPACES_SHOWN) {
            println!(
                "{}'s own partitions, {label} units in their busiest second (limit {:.0})",
                world.name(tenant),
                units.limit()
            );
            // The busiest shard of each of their partitions (a survey's counter shards as one).
            let mut seen: Vec<String> = Vec::new();
            let theirs: Vec<Hottest> = own
                .iter()
                .filter(|h| h.partition.split('#').nth(1) == Some(tenant))
                .filter(|h| {
                    let whole = keys::unsharded(&h.partition);
                    let whole = match whole.rsplit_once("#AGG#") {
                        Some((survey, _)) => format!("{survey}#AGG#*"),
                        None => whole.to_owned(),
                    };
                    let first = !seen.contains(&whole);
                    seen.push(whole);
                    first
                })
                .take(SHOWN_EACH)
                .cloned()
                .collect();
            print_hottest(world, units, &theirs);
        }
    }
}

fn print_hottest(world: &World, units: Units, hottest: &[Hottest]) {
    for hot in hottest {
        println!(
            "  {:>9.0} {:>5.0} %  {:<5} {:<48} at {}",
            hot.units,
            100.0 * hot.units / units.limit(),
            format!("{:?}", hot.target).to_lowercase(),
            world.name(&hot.partition),
            clock(hot.at - world.day)
        );
    }
}

/// `HH:MM:SS` of a second of the simulated day.
fn clock(at: i64) -> String {
    let s = at.rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}
