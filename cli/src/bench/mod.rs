//! `ovation bench`: figures for BENCHMARKS.md. The embedded store's put, get and query rates,
//! field encryption and decryption rates, and how many keyring (KMS) calls 10,000 field
//! encryptions of one tenant cost; password hashing and authentication (`auth`); and, each on
//! its own, the functions' cold start (`cold_start`), sending through the local stack
//! (`sending`), reading metrics (`metrics`), exporting responses (`exports`), webhook fan-out
//! (`webhooks`), the web app's pages (`web`), an import through them (`page_import`), staff
//! notifications (`notifications`), backups (`backup`) and the partition model (`scale`).
//! Progress goes to stderr, figures to stdout.

mod auth;
mod backup;
mod cold_start;
mod exports;
mod metrics;
mod notifications;
mod page_import;
mod retention;
mod scale;
mod sending;
mod teams;
mod web;
mod webhooks;
mod website;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use clap::{Args, ValueEnum};
use ovation::config::Settings;
use ovation::crypto::local::LocalKeyring;
use ovation::crypto::metered::MeteredKeyring;
use ovation::ids::TenantId;
use ovation::store::embedded::EmbeddedStore;
use ovation::store::metered::MeteredStore;
use ovation::store::{Item, Key, Query, Store};
use ovation::{Context, Error, Result};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Part {
    /// The store, the field cipher and authentication.
    All,
    Store,
    Crypto,
    /// Password hashing and what authenticating a request costs.
    Auth,
    /// The functions' release binaries on a Lambda Runtime API stub (needs `AWS_ENDPOINT_URL`).
    ColdStart,
    /// `--invitations` due at once, sent through the local stack.
    Sending,
    /// A year of one survey's metrics with 1,000 and 1,000,000 responses.
    Metrics,
    /// `--responses` responses exported to CSV and Excel.
    Exports,
    /// `--events` responses' webhook events to 10 endpoints on a loopback receiver.
    Webhooks,
    /// The built-in SMS in every language: characters, encoding, segments.
    Sms,
    /// The retention job over `--responses` responses past their period.
    Retention,
    /// The web app's pages, timed on the server with 1,000 and 1,000,000 answers.
    Web,
    /// Staff notifications for 10,000 answers in an hour (run as a minute).
    Notifications,
    /// Surveys limited to teams: the owner's and a team analyst's requests through the router.
    Teams,
    /// An import of 100,000 people through the web app's pages.
    PageImport,
    /// The website survey: its script's size, decisions and answers through the router.
    Website,
    /// A backup of `--records` items, its check and its restore.
    Backup,
    /// The partition model: a busy synthetic day (and ten times it) on a simulated clock, the
    /// hottest DynamoDB partitions against their limits.
    Scale,
}

#[derive(Args)]
pub struct BenchArgs {
    /// Items (and fields) per measurement.
    #[arg(long, default_value_t = 10_000)]
    records: usize,
    /// Where the store file and master key go [default: a temporary directory].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Which part to run.
    #[arg(long, value_enum, default_value = "all")]
    only: Part,
    /// cold-start: where the release binaries are.
    #[arg(long, default_value = "target/release")]
    bin_dir: PathBuf,
    /// cold-start: starts per binary (the median is reported).
    #[arg(long, default_value_t = 15)]
    runs: usize,
    /// sending: invitations due at once.
    #[arg(long, default_value_t = 100_000)]
    invitations: usize,
    /// exports: responses exported; retention: responses swept.
    #[arg(long, default_value_t = 100_000)]
    responses: usize,
    /// webhooks: responses recorded (each an event to every endpoint).
    #[arg(long, default_value_t = 2_000)]
    events: usize,
}

/// A context over an embedded store in `dir` whose calls are counted, and that store.
fn metered_context(dir: &std::path::Path) -> Result<(Arc<MeteredStore>, Arc<Context>)> {
    metered_context_with(dir, |_| {})
}

/// `metered_context` with its settings changed by `tweak`.
fn metered_context_with(
    dir: &std::path::Path,
    tweak: impl FnOnce(&mut Settings),
) -> Result<(Arc<MeteredStore>, Arc<Context>)> {
    let store = Arc::new(MeteredStore::new(Arc::new(EmbeddedStore::open(
        &dir.join(ovation::context::STORE_FILE),
    )?)));
    let keyring = Arc::new(LocalKeyring::open(dir, true)?);
    let mut settings = Settings::local(dir.to_owned());
    // Links in mails name the local stack's address.
    settings.public_url = Some("http://127.0.0.1:8080".into());
    tweak(&mut settings);
    Ok((store.clone(), Context::with_adapters(settings, store, keyring)))
}

/// The benchmarks' tenant `bench` (owner `owner@bench.example`), its store and the operator
/// acting in it as an admin.
async fn bench_tenant(ctx: &Context) -> Result<(ovation::store::TenantStore, ovation::services::Caller)> {
    workspace(ctx, "bench").await
}

/// A new workspace `slug` (owner `owner@{slug}.example`), its store and the operator acting in it
/// as an admin.
async fn workspace(ctx: &Context, slug: &str) -> Result<(ovation::store::TenantStore, ovation::services::Caller)> {
    use ovation::services::lifecycle::tenants::{self, NewTenant};
    let created = tenants::create(
        ctx,
        NewTenant {
            slug: slug.into(),
            owner_email: format!("owner@{slug}.example"),
            display_name: Some(slug.into()),
        },
    )
    .await?;
    let caller = ovation::services::Caller::operator(created.tenant.id.clone());
    Ok((ctx.tenant_store(&created.tenant.id), caller))
}

/// Concurrent writers in the concurrent-put measurement.
const WRITERS: usize = 16;
/// A field the size of a typical email address or name.
const FIELD: &[u8] = b"someone.with.a.long.name@example-company.com";

fn report(what: &str, count: usize, started: Instant) {
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{what:<44} {count:>9} in {secs:>7.3} s = {:>10.0} /s",
        count as f64 / secs
    );
}

async fn timed<F, Fut>(what: &str, count: usize, mut op: F) -> Result<()>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let started = Instant::now();
    for i in 0..count {
        op(i).await?;
        if (i + 1) % 1000 == 0 {
            eprintln!("progress: {what} {}", i + 1);
        }
    }
    report(what, count, started);
    Ok(())
}

/// The key of the `i`th item the put measurement writes.
pub fn bench_key(i: usize) -> Key {
    Key::new("BENCH#P", format!("I#{i:010}"))
}

fn bench_item(i: usize) -> Item {
    Item::new(bench_key(i))
        .with("n", i as i64)
        .with("payload", "x".repeat(200))
}

async fn store_figures(store: Arc<EmbeddedStore>, n: usize) -> Result<()> {
    println!("# embedded store (redb): every write fsynced before it is acknowledged; concurrent writes share commits");
    let s = store.clone();
    timed("put (one writer)", n, |i| {
        let s = s.clone();
        async move { s.put(bench_item(i), None).await }
    })
    .await?;

    let started = Instant::now();
    let per_writer = n / WRITERS;
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..per_writer {
                s.put(bench_item(n + w * per_writer + i), None).await?;
            }
            Ok::<_, Error>(())
        }));
    }
    for t in tasks {
        t.await.map_err(Error::internal)??;
    }
    report(
        &format!("put ({WRITERS} concurrent writers)"),
        per_writer * WRITERS,
        started,
    );

    let s = store.clone();
    timed("get", n, |i| {
        let s = s.clone();
        async move {
            s.get(&bench_key(i))
                .await?
                .ok_or(Error::NotFound("bench item"))
                .map(drop)
        }
    })
    .await?;

    let pages = (n / 100).max(1);
    let s = store.clone();
    let started = Instant::now();
    let mut after = None;
    let mut read = 0;
    for _ in 0..pages {
        let page = s.query(&Query::new("BENCH#P").limit(100).after(after.take())).await?;
        read += page.items.len();
        after = page.next;
    }
    report("query (pages of 100 items)", pages, started);
    println!("{:<44} {read:>9}", "  items read by those queries");
    Ok(())
}

async fn crypto_figures(store: Arc<EmbeddedStore>, dir: &std::path::Path, n: usize) -> Result<()> {
    println!("# field encryption (AES-256-GCM, per-tenant data key, cached)");
    let keyring = Arc::new(MeteredKeyring::new(Arc::new(LocalKeyring::open(dir, true)?)));
    let ctx = Context::with_adapters(Settings::local(dir.to_owned()), store, keyring.clone());
    let tenant = TenantId::generate();
    let crypto = ctx.crypto(&tenant);
    let key = Key::new(format!("T#{tenant}#P#x"), "PERSON");
    let mut sealed = Vec::with_capacity(n);
    let started = Instant::now();
    for _ in 0..n {
        sealed.push(crypto.encrypt(&key, "email", FIELD).await?);
    }
    report(&format!("encrypt a {}-byte field", FIELD.len()), n, started);
    let calls_for_encryptions = keyring.calls();
    let started = Instant::now();
    for s in &sealed {
        crypto.decrypt(&key, "email", s).await?;
    }
    report(&format!("decrypt a {}-byte field", FIELD.len()), n, started);
    let started = Instant::now();
    for i in 0..n {
        crypto.blind_index("email", &format!("person{i}@example.com")).await?;
    }
    report("blind index (HMAC-SHA-256)", n, started);
    println!(
        "{:<44} {calls_for_encryptions:>9} (for {n} encryptions of one tenant; {} after decrypting too)",
        "keyring calls",
        keyring.calls()
    );
    Ok(())
}

/// The built-in SMS of each language with a real short link (signed like any) at a custom
/// domain and at an API stage's default address: its length, GSM-7 or UCS-2, and its segments.
async fn sms_figures(dir: &std::path::Path) -> Result<()> {
    use ovation::crypto::links::{Link, LinkKind};
    use ovation::domain::language::LANGUAGES;
    use ovation::services::sending::message::built_in_sms;
    let store = Arc::new(EmbeddedStore::open(&dir.join(ovation::context::STORE_FILE))?);
    let keyring = Arc::new(LocalKeyring::open(dir, true)?);
    let ctx = Context::with_adapters(Settings::local(dir.to_owned()), store, keyring);
    let tenant = TenantId::generate();
    let link = Link {
        kind: LinkKind::Invitation,
        tenant: tenant.clone(),
        survey: ovation::ids::new_id(),
        subject: ovation::ids::new_id(),
    };
    let code = link.short_code(&ctx.crypto(&tenant)).await?;
    for base in [
        "https://surveys.example.com",
        "https://abcdefghij.execute-api.eu-west-1.amazonaws.com/Prod",
    ] {
        let url = format!("{base}/l/{code}");
        println!(
            "# the built-in SMS from \"Acme\" about \"Acme\"; link {url} ({} characters)",
            url.chars().count()
        );
        println!(
            "{:<10} {:>10} {:>9} {:>9}",
            "language", "characters", "encoding", "segments"
        );
        for language in LANGUAGES {
            let text = built_in_sms(language, "Acme", "Acme", &url);
            println!(
                "{:<10} {:>10} {:>9} {:>9}",
                language.code(),
                text.chars().count(),
                if ovation::messaging::sms_is_gsm7(&text) {
                    "GSM-7"
                } else {
                    "UCS-2"
                },
                ovation::messaging::sms_segments(&text)
            );
        }
    }
    Ok(())
}

pub async fn run(args: BenchArgs) -> Result<()> {
    if args.only == Part::ColdStart {
        return cold_start::run(&args.bin_dir, args.runs).await;
    }
    let temp;
    let dir = match &args.data_dir {
        Some(d) => d.clone(),
        None => {
            temp = tempfile::tempdir().map_err(Error::internal)?;
            temp.path().to_owned()
        }
    };
    std::fs::create_dir_all(&dir).map_err(Error::internal)?;
    if args.only == Part::Sending {
        return sending::figures(&dir, args.invitations).await;
    }
    if args.only == Part::Metrics {
        return metrics::figures(&dir).await;
    }
    if args.only == Part::Exports {
        return exports::figures(&dir, args.responses).await;
    }
    if args.only == Part::Webhooks {
        return webhooks::figures(&dir, args.events).await;
    }
    if args.only == Part::Web {
        return web::figures(&dir).await;
    }
    if args.only == Part::Notifications {
        return notifications::figures(&dir).await;
    }
    if args.only == Part::Website {
        return website::figures(&dir).await;
    }
    if args.only == Part::Teams {
        return teams::figures(&dir).await;
    }
    if args.only == Part::Scale {
        return scale::figures(&dir).await;
    }
    if args.only == Part::Backup {
        return backup::run(&dir, args.records).await;
    }
    if args.only == Part::PageImport {
        return page_import::figures(&dir).await;
    }
    if args.only == Part::Retention {
        return retention::figures(&dir, args.responses).await;
    }
    if args.only == Part::Sms {
        return sms_figures(&dir).await;
    }
    // aws-lc seeds its generator on first use (CPU jitter entropy unless built without it):
    // a one-time cost of the first TLS handshake or nonce of every cold start.
    let started = Instant::now();
    ovation::crypto::random_secret()?;
    println!(
        "{:<44} {:>9.3} ms",
        "first random bytes of this process",
        started.elapsed().as_secs_f64() * 1e3
    );
    let store = Arc::new(EmbeddedStore::open(&dir.join(ovation::context::STORE_FILE))?);
    if matches!(args.only, Part::All | Part::Store) {
        store_figures(store.clone(), args.records).await?;
    }
    if matches!(args.only, Part::All | Part::Crypto) {
        crypto_figures(store, &dir, args.records).await?;
    }
    if matches!(args.only, Part::All | Part::Auth) {
        auth::figures(&dir, args.records).await?;
    }
    Ok(())
}
