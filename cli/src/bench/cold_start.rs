//! The cold-start benchmark. A local Lambda Runtime API stub spawns each function's release
//! binary as Lambda would and measures, from spawn, the time to its first
//! `GET /2018-06-01/runtime/invocation/next` (init) and to its first response (first invoke), the
//! median of several runs, side by side with a hello-world `lambda_runtime` binary built with the
//! same profile in the same run; with binary sizes and peak resident memory. The functions run on
//! the AWS adapters against the endpoint in `AWS_ENDPOINT_URL` (moto, started by `scripts/bench`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use ovation::{Error, Result};
use tokio::sync::Notify;

use crate::serve::HTTP_FUNCTIONS;

/// The baseline binary (bench/hello-lambda).
const HELLO: &str = "hello-lambda";
/// How long one start may take before the run fails.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Variables passed through to the functions (credentials, region, the emulator).
const PASSED: &[&str] = &[
    "PATH",
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
];

/// What the stub saw of one start.
#[derive(Default)]
struct Observed {
    init: Option<Instant>,
    response: Option<(Instant, String)>,
    error: Option<String>,
}

struct Stub {
    event: String,
    served: AtomicBool,
    seen: Mutex<Observed>,
    done: Notify,
}

async fn next_invocation(State(stub): State<Arc<Stub>>) -> axum::response::Response {
    if stub.served.swap(true, Ordering::SeqCst) {
        // One invocation a start: later polls wait until the process is killed.
        std::future::pending::<()>().await;
    }
    stub.seen.lock().unwrap_or_else(|p| p.into_inner()).init = Some(Instant::now());
    let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default() + Duration::from_secs(30);
    let headers = [
        ("lambda-runtime-aws-request-id", "cold-start-1".to_owned()),
        ("lambda-runtime-deadline-ms", deadline.as_millis().to_string()),
        (
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:eu-west-1:123456789012:function:bench".to_owned(),
        ),
        (
            "lambda-runtime-trace-id",
            "Root=1-00000000-000000000000000000000000;Sampled=0".to_owned(),
        ),
        ("content-type", "application/json".to_owned()),
    ];
    (headers, stub.event.clone()).into_response()
}

async fn invocation_response(State(stub): State<Arc<Stub>>, body: String) -> StatusCode {
    stub.seen.lock().unwrap_or_else(|p| p.into_inner()).response = Some((Instant::now(), body));
    stub.done.notify_one();
    StatusCode::ACCEPTED
}

async fn error_report(State(stub): State<Arc<Stub>>, body: String) -> StatusCode {
    stub.seen.lock().unwrap_or_else(|p| p.into_inner()).error = Some(body);
    stub.done.notify_one();
    StatusCode::ACCEPTED
}

/// One measured start.
struct Start {
    init: Duration,
    first_invoke: Duration,
    peak_rss_kb: u64,
    response: String,
}

fn peak_rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Starts `binary` once against a fresh stub and measures it.
async fn start_once(binary: &Path, function: &str, event: &str, env: &[(String, String)]) -> Result<Start> {
    let stub = Arc::new(Stub {
        event: event.to_owned(),
        served: AtomicBool::new(false),
        seen: Mutex::new(Observed::default()),
        done: Notify::new(),
    });
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next_invocation))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(invocation_response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error_report))
        .route("/2018-06-01/runtime/init/error", post(error_report))
        .with_state(stub.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(Error::internal)?;
    let api = listener.local_addr().map_err(Error::internal)?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let mut command = Command::new(binary);
    command
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for name in PASSED {
        if let Ok(v) = std::env::var(name) {
            command.env(name, v);
        }
    }
    command
        .env("AWS_LAMBDA_RUNTIME_API", api.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", function)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{function}"))
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "cold-start")
        .envs(env.iter().map(|(k, v)| (k, v)));
    let spawned = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| Error::fault(format!("starting {}", binary.display()), e))?;
    let waited = tokio::time::timeout(TIMEOUT, stub.done.notified()).await;
    let peak_rss_kb = peak_rss_kb(child.id());
    let _ = child.kill();
    let _ = child.wait();
    server.abort();
    if waited.is_err() {
        return Err(Error::internal(format!("{function} did not answer within {TIMEOUT:?}")));
    }
    let seen = stub.seen.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(e) = &seen.error {
        return Err(Error::internal(format!("{function} reported an error: {e}")));
    }
    match (seen.init, &seen.response) {
        (Some(init), Some((answered, response))) => Ok(Start {
            init: init - spawned,
            first_invoke: *answered - spawned,
            peak_rss_kb,
            response: response.clone(),
        }),
        _ => Err(Error::internal(format!("{function} answered without polling"))),
    }
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

/// A sample event of the function and the status it must answer (`name.401.json` → 401).
fn sample_event(function: &str) -> Result<(String, u16)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../events").join(function);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| Error::fault(format!("reading {}", dir.display()), e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    // `name.404.json` files are error cases; the benchmark answers a plain one (200) when the
    // function has one that needs no stored data, else the first error case.
    let is_error = |p: &PathBuf| p.file_stem().and_then(|s| s.to_str()).is_some_and(|s| s.contains('.'));
    files.sort_by_key(|p| (is_error(p), p.clone()));
    let first = files
        .first()
        .ok_or_else(|| Error::internal(format!("no events in {}", dir.display())))?;
    let status = first
        .file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.rsplit_once('.'))
        .and_then(|(_, code)| code.parse().ok())
        .unwrap_or(200);
    Ok((std::fs::read_to_string(first).map_err(Error::internal)?, status))
}

/// A binary to measure: its label, file, event and extra environment.
struct Subject {
    label: String,
    binary: PathBuf,
    event: String,
    /// What the answer must contain (an HTTP function's status, a job's report).
    expect: String,
    env: Vec<(String, String)>,
}

/// The background functions, with what their answer to their first sample event contains.
const JOBS: &[(&str, &str)] = &[
    ("job-scheduler", "\"queued\""),
    ("job-deliver", "batchItemFailures"),
    ("job-delivery-events", "\"tenant_deleted\""),
    ("job-webhooks", "batchItemFailures"),
    ("job-exports", "batchItemFailures"),
];

pub async fn run(bin_dir: &Path, runs: usize) -> Result<()> {
    if std::env::var_os("AWS_ENDPOINT_URL").is_none() {
        return Err(Error::Config {
            name: "AWS_ENDPOINT_URL",
            reason: "the cold-start benchmark runs the functions on the AWS adapters; run it through scripts/bench, which starts moto".into(),
        });
    }
    let config = ovation::aws::load_config().await;
    let (table, key) = ovation::provision::table_and_key(&config, "ovation-bench").await?;
    ovation::provision::start_scheduler(&config, &table, ovation::store::now_unix()).await?;
    let aws = vec![
        ("OVATION_BACKEND".to_owned(), "aws".to_owned()),
        ("OVATION_TABLE".to_owned(), table),
        ("OVATION_KMS_KEY_ID".to_owned(), key),
        ("OVATION_LOG_FORMAT".to_owned(), "json".to_owned()),
    ];
    let (event, _) = sample_event(HTTP_FUNCTIONS[0].0)?;
    let mut subjects = vec![Subject {
        label: HELLO.to_owned(),
        binary: bin_dir.join(HELLO),
        event,
        expect: String::new(),
        env: vec![],
    }];
    for (function, _) in HTTP_FUNCTIONS {
        let (event, status) = sample_event(function)?;
        subjects.push(Subject {
            label: function.to_string(),
            binary: bin_dir.join(function),
            event,
            expect: format!("\"statusCode\":{status}"),
            env: aws.clone(),
        });
    }
    // The jobs' samples need no message sent: the queue's URL is only configured.
    let mut jobs_env = aws.clone();
    jobs_env.push((
        "OVATION_QUEUE_URL".into(),
        "http://127.0.0.1:9/000000000000/ovation-bench".into(),
    ));
    for (function, expect) in JOBS {
        let (event, _) = sample_event(function)?;
        subjects.push(Subject {
            label: function.to_string(),
            binary: bin_dir.join(function),
            event,
            expect: expect.to_string(),
            env: jobs_env.clone(),
        });
    }
    let mut starts: Vec<Vec<Start>> = subjects.iter().map(|_| Vec::new()).collect();
    // Interleaved, so drift of the machine touches every binary alike.
    for round in 0..runs {
        for (subject, done) in subjects.iter().zip(starts.iter_mut()) {
            let start = start_once(&subject.binary, &subject.label, &subject.event, &subject.env).await?;
            if !start.response.contains(&subject.expect) {
                return Err(Error::internal(format!(
                    "{} answered {}",
                    subject.label, start.response
                )));
            }
            done.push(start);
        }
        eprintln!("progress: cold start round {}", round + 1);
    }

    println!("# cold start: median of {runs} starts (spawn to first poll = init; to first response = first invoke)");
    println!(
        "{:<34} {:>9} {:>9} {:>17} {:>12} {:>13}",
        "binary", "size MB", "init ms", "first invoke ms", "peak RSS MB", "init ÷ hello"
    );
    let hello_init = median(starts[0].iter().map(|s| s.init).collect());
    for (subject, done) in subjects.iter().zip(&starts) {
        let size = std::fs::metadata(&subject.binary).map(|m| m.len()).unwrap_or(0) as f64 / 1e6;
        let init = median(done.iter().map(|s| s.init).collect());
        let first = median(done.iter().map(|s| s.first_invoke).collect());
        let rss = done.iter().map(|s| s.peak_rss_kb).max().unwrap_or(0) as f64 / 1024.0;
        println!(
            "{:<34} {size:>9.1} {:>9.2} {:>17.2} {rss:>12.1} {:>13.2}",
            subject.label,
            init.as_secs_f64() * 1e3,
            first.as_secs_f64() * 1e3,
            init.as_secs_f64() / hello_init.as_secs_f64()
        );
    }
    Ok(())
}
