//! The sending benchmark: invitations due at once go out through the local stack as in
//! `ovation serve` (the scheduler on its ticker, the deliverer workers on the durable queue, the
//! outbox): the time from due to sent, the store and queue calls per invitation, and the
//! process's resident memory while it sends.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ovation::config::Settings;
use ovation::crypto::local::LocalKeyring;
use ovation::domain::Channel;
use ovation::domain::send_at::SendAt;
use ovation::messaging::outbox;
use ovation::services::people::imports::{self, ImportOptions};
use ovation::services::people::person::SendRequest;
use ovation::store::embedded::EmbeddedStore;
use ovation::store::metered::{Calls, MeteredStore};
use ovation::{Context, Error, Result};

/// The resident set of this process now, in MiB (Linux; 0 elsewhere).
fn resident_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn per_invitation(what: &str, calls: Calls, n: usize) {
    let n = n as f64;
    println!(
        "{what:<44} {:>9.2} (gets {:.2}, queries {:.2}, writes {:.2}, transactions {:.2}, batch writes {:.2})",
        calls.total() as f64 / n,
        calls.gets as f64 / n,
        calls.queries as f64 / n,
        calls.writes as f64 / n,
        calls.transactions as f64 / n,
        calls.batch_writes as f64 / n,
    );
}

pub async fn figures(dir: &Path, invitations: usize) -> Result<()> {
    println!(
        "# sending through the local stack: {invitations} invitations due at once, until every one is in the outbox"
    );
    let store = Arc::new(EmbeddedStore::open(&dir.join(ovation::context::STORE_FILE))?);
    // The jobs' calls and the queue's (it lives on the same store) are counted apart.
    let jobs_store = Arc::new(MeteredStore::new(store.clone()));
    let queue_store = Arc::new(MeteredStore::new(store));
    let mut settings = Settings::local(dir.to_owned());
    settings.public_url = Some("http://127.0.0.1:8080".into());
    let keyring = Arc::new(LocalKeyring::open(dir, true)?);
    let ctx = Context::with_adapters(settings, jobs_store.clone(), keyring);

    // Due now: people imported with a send, as `ovation people import --send` makes them.
    let (tenant_store, caller) = super::bench_tenant(&ctx).await?;
    let csv: String = std::iter::once("email\n".to_owned())
        .chain((0..invitations).map(|i| format!("person{i}@example.com\n")))
        .collect();
    let options = ImportOptions {
        mapping: Vec::new(),
        send: Some(SendRequest {
            channel: Channel::Email,
            at: SendAt::After(0),
            survey: None,
        }),
        first_row: 2,
        job: None,
    };
    let started = Instant::now();
    imports::run(&tenant_store, &caller, false, csv.as_bytes(), &options, |_| {}).await?;
    drop(csv);
    eprintln!(
        "progress: {invitations} invitations scheduled in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let before = jobs_store.calls();
    let resident_before = resident_mib();

    let messaging = ctx.messaging(queue_store.clone()).await?;
    let queue = messaging.local_queue.clone().ok_or(Error::internal("no local queue"))?;
    let started = Instant::now();
    let mut tasks = vec![tokio::spawn(crate::serve::workers::schedule(
        ctx.clone(),
        messaging.clone(),
    ))];
    for _ in 0..crate::serve::workers::DELIVER_WORKERS {
        tasks.push(tokio::spawn(crate::serve::workers::deliver(
            ctx.clone(),
            messaging.clone(),
            queue.clone(),
        )));
    }
    let log = dir.join(outbox::FOLDER).join(outbox::SENT_LOG);
    let mut peak = resident_before;
    let mut next_report = invitations / 10;
    loop {
        let sent = std::fs::read(&log).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count());
        peak = peak.max(resident_mib());
        if sent >= next_report.max(1) {
            eprintln!(
                "progress: {sent} sent in {:.1} s, resident {:.1} MiB",
                started.elapsed().as_secs_f64(),
                resident_mib()
            );
            next_report += invitations / 10;
        }
        if sent >= invitations {
            break;
        }
        if started.elapsed() > Duration::from_secs(1800) {
            return Err(Error::internal(format!(
                "only {sent} of {invitations} sent in 30 minutes"
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    for task in &tasks {
        task.abort();
    }
    let jobs = jobs_store.calls().since(before);
    println!(
        "{:<44} {invitations:>9} in {elapsed:>7.3} s = {:>10.0} /s",
        "due to sent (scheduler + 4 deliverers)",
        invitations as f64 / elapsed
    );
    per_invitation("store calls per invitation (jobs)", jobs, invitations);
    per_invitation(
        "store calls per invitation (local queue)",
        queue_store.calls(),
        invitations,
    );
    println!(
        "{:<44} {:>9.1} MiB before sending, {peak:.1} MiB at most while sending",
        "resident memory", resident_before
    );
    Ok(())
}
