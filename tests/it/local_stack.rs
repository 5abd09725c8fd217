//! The real `ovation` process over real HTTP: `serve` on the embedded engine and on AWS (moto),
//! clean stops on SIGINT, and `kill -9` in the middle of writes losing nothing acknowledged.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use ovation::http::ErrorBody;
use ovation::store::Store;
use ovation::store::embedded::EmbeddedStore;
use serde_json::Value;

use crate::support::emulator_available;

const BINARY: &str = env!("CARGO_BIN_EXE_ovation-under-test");
const WAIT: Duration = Duration::from_secs(60);

/// A running `ovation` process; killed when dropped.
struct Process {
    child: Child,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
}

fn lines(reader: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Process {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Process {
        let mut command = Command::new(BINARY);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("start ovation");
        let stdout = lines(child.stdout.take().unwrap());
        let stderr = lines(child.stderr.take().unwrap());
        Process { child, stdout, stderr }
    }

    /// `ovation serve` on a free port; returns the process and its base URL.
    fn serve(extra: &[&str], env: &[(&str, &str)]) -> (Process, String) {
        let mut args = vec!["serve", "--addr", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let p = Process::start(&args, env);
        let first = p
            .stdout
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("no address printed; stderr: {}", p.drain_stderr()));
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in {first:?}"))
            .to_owned();
        (p, url)
    }

    fn drain_stderr(&self) -> String {
        self.stderr.try_iter().collect::<Vec<_>>().join("\n")
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn wait(&mut self) -> std::process::ExitStatus {
        for _ in 0..600 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the process did not stop within 30 s");
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn health(url: &str) -> Value {
    let response = reqwest::get(format!("{url}/health")).await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn serve_answers_over_http_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut p, url) = Process::serve(&["--data-dir", data.to_str().unwrap()], &[]);
    let client = reqwest::Client::new();

    let response = client
        .get(format!("{url}/health"))
        .header("x-request-id", "trace-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let h = response.headers();
    assert_eq!(h["x-request-id"], "trace-42");
    assert_eq!(
        h["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    );
    assert!(h.get("server").is_none(), "no server banner");
    assert!(h["strict-transport-security"].to_str().unwrap().starts_with("max-age="));
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["store"]["engine"], "redb");
    assert!(body["store"]["version"].as_str().unwrap().starts_with('4'), "{body}");
    assert_eq!(body["keyring"]["kind"], "local");

    // A generated request id when the client sends none (or a malformed one).
    let response = client
        .get(format!("{url}/health"))
        .header("x-request-id", "bad id; drop")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"].len(), 26);

    let missing = client.get(format!("{url}/nothing/here")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let b: ErrorBody = missing.json().await.unwrap();
    assert_eq!((b.status, b.code.as_str()), (404, "not_found"));
    let wrong = client.post(format!("{url}/health")).send().await.unwrap();
    assert_eq!(wrong.status(), 405);
    assert_eq!(wrong.json::<ErrorBody>().await.unwrap().code, "method_not_allowed");
    let huge = client
        .post(format!("{url}/health"))
        .body(vec![b'x'; 2 * 1024 * 1024])
        .send()
        .await;
    if let Ok(huge) = huge {
        assert_eq!(huge.status(), 413);
        assert_eq!(huge.json::<ErrorBody>().await.unwrap().code, "body_too_large");
    }

    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("master.key")), 0o600);
    assert!(data.join("ovation.redb").exists());

    p.signal("INT");
    let status = p.wait();
    assert!(status.success(), "{status:?}");
    let said: Vec<String> = p.stdout.try_iter().collect();
    assert!(said.iter().any(|l| l.contains("stopped cleanly")), "{said:?}");
    let logs = p.drain_stderr();
    assert!(
        logs.contains("request_id=trace-42") && logs.contains("route=/health"),
        "{logs}"
    );
    assert!(
        !logs.contains("/nothing/here"),
        "paths are not logged, only route templates"
    );
}

#[tokio::test]
async fn kill_9_during_writes_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let p = Process::start(
        &["bench", "--only", "store", "--records", "50000", "--data-dir", data],
        &[],
    );
    // The bench reports every 1,000 acknowledged (fsynced) puts; kill it without warning after 3.
    let mut acknowledged = 0;
    while acknowledged < 3000 {
        let line = p.stderr.recv_timeout(WAIT).expect("bench progress");
        if let Some(n) = line.strip_prefix("progress: put (one writer) ") {
            acknowledged = n.trim().parse().unwrap();
        }
    }
    drop(p); // SIGKILL, then reaped
    let store = EmbeddedStore::open(&dir.path().join("ovation.redb")).expect("the store opens after kill -9");
    for i in 0..acknowledged {
        let item = store.get(&ovation_cli::bench_key(i)).await.unwrap();
        assert_eq!(
            item.and_then(|i| i.num("n")),
            Some(i as i64),
            "acknowledged write {i} survived"
        );
    }
    drop(store);
    // That directory has data but no master key (the bench made none): serve must not mint a new
    // key that could never read the data.
    let mut refused = Process::start(&["serve", "--addr", "127.0.0.1:0", "--data-dir", data], &[]);
    assert!(!refused.wait().success());
    let err = refused.drain_stderr();
    assert!(
        err.contains("master.key") && err.contains("restore it from your backup"),
        "{err}"
    );
}

#[tokio::test]
async fn serve_restarts_after_kill_9_and_logs_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let (server, url) = Process::serve(&["--data-dir", data], &[]);
    health(&url).await;
    drop(server);
    let json = [("OVATION_LOG_FORMAT", "json")];
    let (mut server, url) = Process::serve(&["--data-dir", data], &json);
    assert_eq!(health(&url).await["store"]["engine"], "redb");
    server.signal("TERM");
    assert!(server.wait().success());
    // As on Lambda: one JSON object a line, the request id on every line logged for a request.
    let logs = server.drain_stderr();
    let lines: Vec<Value> = logs.lines().map(|l| serde_json::from_str(l).expect(l)).collect();
    let served: Vec<&Value> = lines.iter().filter(|l| l["message"] == "served").collect();
    assert_eq!(served.len(), 1, "{logs}");
    assert_eq!(served[0]["span"]["route"], "/health");
    assert_eq!(served[0]["span"]["request_id"].as_str().unwrap().len(), 26);
    assert_eq!(served[0]["status"], 200);
}

#[tokio::test]
async fn a_request_names_its_tenant_once_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let mut made = Process::start(
        &[
            "tenant",
            "create",
            "--slug",
            "logs",
            "--owner-email",
            "o@logs.example",
            "--data-dir",
            data,
        ],
        &[],
    );
    assert!(made.wait().success());
    let mut key = Process::start(
        &[
            "api-key",
            "create",
            "--tenant",
            "logs",
            "--scope",
            "write",
            "--data-dir",
            data,
        ],
        &[],
    );
    assert!(key.wait().success());
    let key = key.stdout.recv_timeout(WAIT).unwrap();
    let (mut server, url) = Process::serve(&["--data-dir", data], &[("OVATION_LOG_FORMAT", "text")]);
    let client = reqwest::Client::new();
    let listed = client
        .get(format!("{url}/v1/surveys"))
        .basic_auth(&key, Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    let made = client
        .post(format!("{url}/v1/people"))
        .basic_auth(&key, Some(""))
        .json(&serde_json::json!({"email": "ann@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 200);
    server.signal("TERM");
    assert!(server.wait().success());
    let logs = server.drain_stderr();
    let served: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("served") && l.contains("route=/v1/"))
        .collect();
    assert_eq!(served.len(), 2, "{logs}");
    for line in served {
        assert_eq!(line.matches("tenant_id=").count(), 1, "{line}");
        assert!(!line.contains("ann@example.com"), "no personal data: {line}");
    }
}

#[tokio::test]
async fn serve_aws_runs_on_dynamodb_and_kms() {
    if !emulator_available() {
        return;
    }
    // `ovation provision` makes the table and key, as a developer would.
    let mut made = Process::start(&["provision", "--prefix", "ovation-it"], &[]);
    assert!(made.wait().success(), "{}", made.drain_stderr());
    let exports: std::collections::HashMap<String, String> = made
        .stdout
        .try_iter()
        .filter_map(|l| {
            l.strip_prefix("export ")?
                .split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        })
        .collect();
    let table = exports["OVATION_TABLE"].clone();
    let (_server, url) = Process::serve(
        &["--aws"],
        &[
            ("OVATION_TABLE", &table),
            ("OVATION_KMS_KEY_ID", &exports["OVATION_KMS_KEY_ID"]),
        ],
    );
    let body = health(&url).await;
    assert_eq!(body["store"]["engine"], "dynamodb");
    assert!(
        body["store"].get("location").is_none(),
        "no table name for anonymous callers"
    );
    assert_eq!(body["keyring"]["kind"], "aws-kms");
}

#[tokio::test]
async fn serve_aws_without_settings_says_what_is_missing() {
    let mut p = Process::start(
        &["serve", "--aws", "--addr", "127.0.0.1:0"],
        &[("OVATION_TABLE", ""), ("OVATION_KMS_KEY_ID", "")],
    );
    let status = p.wait();
    assert!(!status.success());
    let err = p.drain_stderr();
    assert!(err.contains("OVATION_TABLE"), "{err}");
}

#[tokio::test]
async fn each_client_address_is_throttled_whatever_headers_it_sends() {
    let dir = tempfile::tempdir().unwrap();
    let limits = [("OVATION_RATE_PER_IP", "2"), ("OVATION_BURST_PER_IP", "3")];
    let (_server, url) = Process::serve(&["--data-dir", dir.path().to_str().unwrap()], &limits);
    let client = reqwest::Client::new();
    for left in ["2", "1", "0"] {
        let r = client.get(format!("{url}/health")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            (&r.headers()["x-ratelimit-limit"], &r.headers()["x-ratelimit-remaining"]),
            (&"3".parse().unwrap(), &left.parse().unwrap())
        );
    }
    // A client cannot claim another address: X-Forwarded-For is not trusted.
    let refused = client
        .get(format!("{url}/health"))
        .header("x-forwarded-for", "198.51.100.7")
        .header("x-real-ip", "198.51.100.7")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_eq!(refused.headers()["x-ratelimit-remaining"], "0");
    let body: ErrorBody = refused.json().await.unwrap();
    assert_eq!((body.status, body.code.as_str()), (429, "rate_limited"));
    // At 2 a second, a token is back within half a second.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(client.get(format!("{url}/health")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn browsers_may_call_from_configured_origins_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let allowed = "https://app.example.com";
    let (_server, url) = Process::serve(&["--data-dir", data], &[("OVATION_CORS_ORIGINS", allowed)]);
    let client = reqwest::Client::new();
    let preflight = |origin: &str| {
        client
            .request(reqwest::Method::OPTIONS, format!("{url}/health"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let ok = preflight(allowed).await.unwrap();
    assert!(ok.status().is_success(), "{}", ok.status());
    assert_eq!(ok.headers()["access-control-allow-origin"], allowed);
    assert!(
        ok.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("authorization")
    );
    let foreign = preflight("https://evil.example.com").await.unwrap();
    assert!(foreign.headers().get("access-control-allow-origin").is_none());
    let get = client
        .get(format!("{url}/health"))
        .header("origin", allowed)
        .send()
        .await
        .unwrap();
    assert_eq!(get.headers()["access-control-allow-origin"], allowed);
    assert!(
        get.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("x-request-id")
    );

    // Without configured origins no browser page may read an answer.
    let other = tempfile::tempdir().unwrap();
    let (_plain, plain_url) = Process::serve(&["--data-dir", other.path().to_str().unwrap()], &[]);
    let get = client
        .get(format!("{plain_url}/health"))
        .header("origin", allowed)
        .send()
        .await
        .unwrap();
    assert!(get.headers().get("access-control-allow-origin").is_none());
}

/// Runs an `ovation` command to its end; returns its stdout and stderr.
fn run(args: &[&str]) -> (String, String) {
    let out = Command::new(BINARY).args(args).stdin(Stdio::null()).output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    );
    assert!(out.status.success(), "ovation {args:?}: {stderr}");
    (stdout, stderr)
}

async fn sign_in(url: &str, slug: &str, email: &str, password: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{url}/v1/auth/sign_in"))
        .json(&serde_json::json!({"tenant": slug, "email": email, "password": password}))
        .send()
        .await
        .unwrap()
}

/// The operator's commands print only their secret, and work with and without a server running
/// on the same data directory; a new data directory gets the demo tenant, announced once.
#[tokio::test]
async fn operator_commands_work_beside_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();

    // Without a server: the store is opened directly.
    let password = create_acme(data);
    let password = password.trim().to_owned();
    assert_eq!(password.lines().count(), 1);
    assert!(password.len() >= 20, "{password:?}");

    let (mut p, url) = Process::serve(&["--data-dir", data], &[]);
    let second: String = p.stdout.recv_timeout(Duration::from_secs(1)).unwrap_or_default();
    assert!(
        !second.contains("Created tenant"),
        "the demo tenant is made only on a new data directory"
    );
    assert_eq!(sign_in(&url, "acme", "o@acme.example", &password).await.status(), 200);
    let channel = Path::new(data).join(ovation_cli::ADMIN_FILE);
    let mode = std::fs::metadata(&channel).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // With the server running (it holds the store's lock): through its platform API.
    let (key, _) = run(&[
        "api-key",
        "create",
        "--tenant",
        "acme",
        "--scope",
        "read",
        "--data-dir",
        data,
    ]);
    let key = key.trim();
    assert!(key.starts_with("ovk_") && !key.contains('\n'), "{key:?}");
    let me: Value = reqwest::Client::new()
        .get(format!("{url}/v1/me"))
        .basic_auth(key, None::<&str>)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (me["tenant_slug"].as_str(), me["role"].as_str()),
        (Some("acme"), Some("analyst"))
    );
    let (other, _) = run(&[
        "tenant",
        "create",
        "--slug",
        "bravo",
        "--owner-email",
        "o@bravo.example",
        "--data-dir",
        data,
    ]);
    assert_eq!(
        sign_in(&url, "bravo", "o@bravo.example", other.trim()).await.status(),
        200
    );
    run(&["tenant", "delete", "--slug", "bravo", "--data-dir", data]);
    assert_eq!(
        sign_in(&url, "bravo", "o@bravo.example", other.trim()).await.status(),
        401
    );

    p.signal("TERM");
    assert!(p.wait().success());
    assert!(!channel.exists(), "the channel is removed on a clean stop");

    // The key works after a restart: everything went through the one store.
    let (_p, url) = Process::serve(&["--data-dir", data], &[]);
    let r = reqwest::Client::new()
        .get(format!("{url}/v1/tenant"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_new_data_directory_gets_the_demo_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (p, url) = Process::serve(&["--data-dir", data.to_str().unwrap()], &[]);
    let line = p.stdout.recv_timeout(WAIT).unwrap();
    assert!(line.contains("Created tenant `demo`"), "{line}");
    let password = line
        .split("one-time password ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap();
    let r = sign_in(&url, ovation_cli::DEMO_SLUG, ovation_cli::DEMO_OWNER, password).await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["required_action"], "password_change", "{body}");
}

/// `ovation tenant create` of the tenant `acme` (owner o@acme.example); prints the owner's
/// one-time password.
pub(crate) fn create_acme(data: &str) -> String {
    run(&[
        "tenant",
        "create",
        "--slug",
        "acme",
        "--owner-email",
        "o@acme.example",
        "--data-dir",
        data,
    ])
    .0
}

/// An operator's tenant and write key on a new data directory, made before the server starts.
pub(crate) fn tenant_with_key(data: &str) -> String {
    create_acme(data);
    let (key, _) = run(&[
        "api-key",
        "create",
        "--tenant",
        "acme",
        "--scope",
        "write",
        "--data-dir",
        data,
    ]);
    key.trim().to_owned()
}

/// Webhooks on a laptop: `ovation serve` with loopback allowed calls a receiver on this machine,
/// signed, within seconds of the response that emits the event.
#[tokio::test]
async fn serve_calls_webhooks_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    create_acme(data);
    let (key, _) = run(&[
        "api-key",
        "create",
        "--tenant",
        "acme",
        "--scope",
        "admin",
        "--data-dir",
        data,
    ]);
    let key = key.trim();
    let (_p, url) = Process::serve(&["--data-dir", data], &[("OVATION_WEBHOOKS_ALLOW_LOOPBACK", "true")]);
    let (base, receiver) = crate::webhooks::start_receiver().await;
    let client = reqwest::Client::new();
    let post =
        |path: &str, body: serde_json::Value| client.post(format!("{url}{path}")).bearer_auth(key).json(&body).send();
    let endpoint: serde_json::Value = post("/v1/webhooks", serde_json::json!({"url": format!("{base}/hook")}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    *receiver.secret.lock().unwrap() = endpoint["secret"].as_str().unwrap().to_owned();
    let person: serde_json::Value = post(
        "/v1/people",
        serde_json::json!({"email": "ann@example.com", "send": false}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let answered = post(
        "/v1/survey_responses",
        serde_json::json!({"person": person["id"], "score": 10}),
    )
    .await
    .unwrap();
    assert_eq!(answered.status(), 201);
    let (verified, body) = within_10_s("a webhook call", || async {
        let seen = receiver.seen.lock().unwrap();
        seen.calls
            .first()
            .map(|(verified, body, _, _)| (*verified, body.clone()))
    })
    .await;
    assert!(verified, "the signature verifies");
    assert_eq!(body["event_type"], "survey_response.created");
    assert_eq!(body["event_data"]["score"], 10);
}

/// What `check` finds, asked every 100 ms; the test fails when 10 s pass without it.
async fn within_10_s<T, F: std::future::Future<Output = Option<T>>>(what: &str, mut check: impl FnMut() -> F) -> T {
    let started = std::time::Instant::now();
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no {what} within 10 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A large export on a laptop: asked for, run by `ovation serve`'s export worker, downloaded
/// from the data directory through the link the job shows.
#[tokio::test]
async fn serve_runs_large_exports() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let key = tenant_with_key(data);
    let (_p, url) = Process::serve(&["--data-dir", data], &[]);
    let client = reqwest::Client::new();
    let asked: serde_json::Value = client
        .post(format!("{url}/v1/exports/responses?format=xlsx"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = asked["id"].as_str().unwrap();
    let link = within_10_s("finished export", || async {
        let job = api_get(&url, &format!("/v1/exports/{id}"), &key).await;
        assert_ne!(job["status"], "failed", "{job}");
        (job["status"] == "done").then(|| job["download_url"].as_str().unwrap().to_owned())
    })
    .await;
    assert_eq!(link, format!("{url}/v1/exports/{id}/file"));
    let file = client.get(&link).bearer_auth(&key).send().await.unwrap();
    assert_eq!(file.status(), 200);
    let bytes = file.bytes().await.unwrap();
    assert!(bytes.starts_with(b"PK"), "an xlsx (zip) file");
}

/// Issue #5's loop on a laptop: a person created with `delay=0` is in the outbox within
/// seconds, a score link of the email records the answer, and the outbox's bounce button (SES's
/// event through the delivery-events handler) suppresses the person.
#[tokio::test]
async fn serve_sends_at_once_and_a_bounce_suppresses() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let key = tenant_with_key(data);
    let (_p, url) = Process::serve(&["--data-dir", data], &[]);
    let client = reqwest::Client::new();
    let created = client
        .post(format!("{url}/v1/people"))
        .bearer_auth(&key)
        .json(&serde_json::json!({"email": "ann@example.com", "delay": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200);
    let name = within_10_s("email", || async {
        let page = client
            .get(format!("{url}/dev/outbox"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let at = page.find("href=\"/dev/outbox/")?;
        let rest = &page[at + "href=\"/dev/outbox/".len()..];
        Some(rest[..rest.find('"').unwrap()].to_owned())
    })
    .await;
    // Its page: the headers, the text part, and the HTML framed at two widths.
    let shown = client
        .get(format!("{url}/dev/outbox/{name}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for part in [
        "<dt>From</dt>",
        "<dt>To</dt>",
        "ann@example.com",
        "<h2>Text part</h2>",
        "class=\"phone\"",
    ] {
        assert!(shown.contains(part), "{part}: {shown}");
    }
    let email = client
        .get(format!("{url}/dev/outbox/{name}/html"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let link = email
        .split('"')
        .find(|part| part.starts_with(&format!("{url}/r/")) && part.ends_with("?score=9"))
        .expect("the score links point at this server")
        .to_owned();
    assert_eq!(client.get(&link).send().await.unwrap().status(), 200);
    let answered = client
        .post(link.split('?').next().unwrap())
        .header("content-type", "application/x-www-form-urlencoded")
        .body("score=9")
        .send()
        .await
        .unwrap();
    assert_eq!(answered.status(), 200);
    let responses = api_get(&url, "/v1/survey_responses", &key).await;
    assert_eq!(responses[0]["score"], 9, "{responses}");

    // Another site's page may not play events on this machine's server.
    let bounce = format!("{url}/dev/outbox/{name}/events/bounce");
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let forged = no_redirects
        .post(&bounce)
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    // A bounce is asked about first (it suppresses the person); the page's button plays it.
    let asked = client.get(&bounce).send().await.unwrap().text().await.unwrap();
    assert!(
        asked.contains("Play bounce for") && asked.contains("ann@example.com") && asked.contains("method=\"post\""),
        "{asked}"
    );
    assert!(
        api_get(&url, "/v1/bounces", &key).await.as_array().unwrap().is_empty(),
        "nothing played yet"
    );
    let played = no_redirects.post(&bounce).header("origin", &url).send().await.unwrap();
    assert_eq!(played.status(), 303, "{:?}", played.text().await);
    let bounces = api_get(&url, "/v1/bounces", &key).await;
    assert_eq!(bounces[0]["email"], "ann@example.com", "{bounces}");
}

/// A JSON answer of the API to a GET with a key.
async fn api_get(url: &str, path: &str, key: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{url}{path}"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Lines of the outbox's log of what went out.
fn sent_lines(outbox: &Path) -> Vec<String> {
    std::fs::read_to_string(outbox.join(ovation::messaging::outbox::SENT_LOG))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// `kill -9` of `ovation serve` in the middle of a large send: after a restart every invitation
/// goes out, and none twice (the outbox logs each message it writes).
#[tokio::test]
async fn kill_9_in_the_middle_of_a_send_loses_none_and_sends_none_twice() {
    const PEOPLE: usize = 3_000;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    create_acme(data);
    let csv = dir.path().join("people.csv");
    let rows: String = (0..PEOPLE).map(|i| format!("p{i}@example.com\n")).collect();
    std::fs::write(&csv, format!("email\n{rows}")).unwrap();
    run(&[
        "people",
        "import",
        csv.to_str().unwrap(),
        "--tenant",
        "acme",
        "--send",
        "--data-dir",
        data,
    ]);
    let outbox = Path::new(data).join(ovation::messaging::outbox::FOLDER);

    let (server, _) = Process::serve(&["--data-dir", data], &[]);
    let started = std::time::Instant::now();
    while sent_lines(&outbox).len() < PEOPLE / 10 {
        assert!(
            started.elapsed() < WAIT,
            "sending did not start: {}",
            server.drain_stderr()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(server); // SIGKILL
    let at_kill = sent_lines(&outbox).len();
    assert!(at_kill < PEOPLE, "the kill came after the whole send ({at_kill})");

    let (_server, _) = Process::serve(&["--data-dir", data], &[]);
    // What the killed process had queued or in flight is enqueued again at start. A message it
    // held waits out its claim's lease (60 s) and the queue's retry (30 s, then 60 s): on a
    // loaded two-core machine with a debug build, the last one can take minutes.
    let started = std::time::Instant::now();
    while sent_lines(&outbox).len() < PEOPLE {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "{} of {PEOPLE} sent after the restart",
            sent_lines(&outbox).len()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    let lines = sent_lines(&outbox);
    let unique: std::collections::BTreeSet<&String> = lines.iter().collect();
    assert_eq!(lines.len(), PEOPLE, "nothing sent twice");
    assert_eq!(unique.len(), PEOPLE);
    let emails = std::fs::read_dir(&outbox)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_str()
                .unwrap()
                .ends_with("-invite.eml")
        })
        .count();
    assert_eq!(
        emails, PEOPLE,
        "every invitation went out once (killed after {at_kill})"
    );
}
