//! Backups that are restored: `ovation backup` of a running `ovation serve` under writes,
//! `ovation restore` into an empty directory answering the same API calls, damaged backups
//! refused with clear errors; and the restore drill of the DynamoDB table on moto (restore,
//! checks that find a drift, the copy deleted, the scheduled steps).

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ovation::config::{Backend, Settings};
use ovation::context::Context;
use ovation::crypto::Keyring;
use ovation::crypto::kms::KmsKeyring;
use ovation::crypto::metered::MeteredKeyring;
use ovation::drill::{self, Step};
use ovation::store::dynamo::DynamoStore;
use ovation::store::{Store, keys};
use serde_json::{Value, json};

use crate::api::{Auth, Stack, call};
use crate::support::{Engines, emulator_available};

const BINARY: &str = env!("CARGO_BIN_EXE_ovation-under-test");

/// Runs an `ovation` command to its end: (success, stdout, stderr).
fn ovation(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BINARY)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run ovation");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every page of a list the API links page to page.
async fn all(url: &str, key: &str, first: &str) -> Vec<Value> {
    let mut out = vec![];
    let mut path = first.to_owned();
    loop {
        let page = call(url, 1, "GET", &path, Auth::Basic(&format!("{key}:")), None).await;
        assert_eq!(page.status, 200, "{page:?}");
        out.extend(page.body.as_array().unwrap().iter().cloned());
        match page.next_page() {
            Some(next) => path = next,
            None => return out,
        }
    }
}

/// A list by id, each entry's links relative (the two servers differ by their port).
fn by_id(list: &[Value], url: &str) -> BTreeMap<String, Value> {
    list.iter()
        .map(|v| {
            let text = v.to_string().replace(url, "");
            (
                v["id"].as_str().unwrap().to_owned(),
                serde_json::from_str(&text).unwrap(),
            )
        })
        .collect()
}

/// A running `ovation serve`, stopped when dropped (a failed assertion included).
struct Served(std::process::Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `ovation serve` on a data directory; the base URL.
fn serve(dir: &str) -> (Served, String) {
    let mut child = Command::new(BINARY)
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir", dir])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Its output is read to the end (a closed pipe would fail its later prints).
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let first = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("serve prints its address");
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {first:?}"))
        .to_owned();
    (Served(child), url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_of_a_running_stack_under_writes_restores_to_the_same_answers() {
    let root = tempfile::tempdir().unwrap();
    let (a, b) = (root.path().join("a"), root.path().join("b"));
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let file = root.path().join("ovation.backup");
    let file = file.to_str().unwrap();
    let key = crate::local_stack::tenant_with_key(a);
    let (_server, url) = serve(a);

    // One client keeps adding people and their answers while the backup is taken.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (url, key, stop) = (url.clone(), key.clone(), stop.clone());
        tokio::spawn(async move {
            let mut acknowledged: Vec<(std::time::Instant, String)> = vec![];
            let mut i = 0;
            let auth = format!("{key}:");
            // A fast machine meets the key's rate limit: the client waits as told, as Delighted's do.
            let post = async |path: &str, body: serde_json::Value| loop {
                let answer = call(&url, 1, "POST", path, Auth::Basic(&auth), Some(body.clone())).await;
                if answer.status != 429 {
                    return answer;
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            };
            while !stop.load(Ordering::Relaxed) {
                let person = post(
                    "/v1/people",
                    json!({"email": format!("p{i}@example.com"), "name": format!("Person {i}")}),
                )
                .await;
                assert_eq!(person.status, 200, "{person:?}");
                let body = json!({"person": person.str("id"), "score": i % 11, "comment": format!("comment {i}")});
                let answer = post("/v1/survey_responses", body).await;
                assert_eq!(answer.status, 201, "{answer:?}");
                acknowledged.push((std::time::Instant::now(), answer.str("id")));
                i += 1;
            }
            acknowledged
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    // The server's backup route is the operator's alone.
    let elsewhere = root.path().join("stolen.backup");
    for auth in [None, Some(key.as_str()), Some("ovo_not-the-key")] {
        let mut asked = reqwest::Client::new()
            .post(format!("{url}/local/backup"))
            .json(&json!({"file": elsewhere}));
        if let Some(auth) = auth {
            asked = asked.bearer_auth(auth);
        }
        assert_eq!(asked.send().await.unwrap().status(), 401);
    }
    assert!(!elsewhere.exists());
    let began = std::time::Instant::now();
    let (backed_up, out, err) = tokio::task::spawn_blocking({
        let (a, file) = (a.to_owned(), file.to_owned());
        move || ovation(&["backup", &file, "--data-dir", &a])
    })
    .await
    .unwrap();
    assert!(backed_up, "{err}");
    assert!(out.contains("backed up") && out.contains("sha256"), "{out}");
    assert!(err.contains("master.key") && err.contains("never beside"), "{err}");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let acknowledged = writer.await.unwrap();
    let before: Vec<&String> = acknowledged
        .iter()
        .filter(|(at, _)| *at < began)
        .map(|(_, id)| id)
        .collect();
    assert!(before.len() >= 5, "writes before the backup: {}", before.len());
    assert!(
        acknowledged.len() > before.len(),
        "writes went on during and after the backup"
    );

    // The file checks whole; it restores into an empty directory only.
    let (checked, out, err) = ovation(&["restore", file, "--check"]);
    assert!(checked && out.contains("is whole"), "{out}{err}");
    let (refused, _, err) = ovation(&["restore", file, "--data-dir", a]);
    assert!(
        !refused && err.contains("restore into an empty data directory"),
        "{err}"
    );
    let (restored, out, err) = ovation(&["restore", file, "--data-dir", b]);
    assert!(restored && out.contains("restored"), "{out}{err}");
    assert!(err.contains("Now put the master key"), "{err}");
    // Without its master key the restored store does not start (and no new key is made).
    let mut keyless = Command::new(BINARY)
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir", b])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stopped = (0..600).find_map(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        keyless.try_wait().unwrap()
    });
    let _ = keyless.kill();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut keyless.stderr.take().unwrap(), &mut err).unwrap();
    assert!(stopped.is_some_and(|s| !s.success()), "serve must refuse: {err}");
    assert!(err.contains("restore it from your backup"), "{err}");
    assert!(
        !std::path::Path::new(b).join("master.key").exists(),
        "no new key is made"
    );
    std::fs::copy(format!("{a}/master.key"), format!("{b}/master.key")).unwrap();

    let (_restored_server, restored_url) = serve(b);
    let original = by_id(&all(&url, &key, "/v1/survey_responses?per_page=100").await, &url);
    let copy = by_id(
        &all(&restored_url, &key, "/v1/survey_responses?per_page=100").await,
        &restored_url,
    );
    for id in &before {
        assert!(
            copy.contains_key(*id),
            "an answer acknowledged before the backup began is in it"
        );
    }
    for (id, answer) in &copy {
        assert_eq!(Some(answer), original.get(id), "the copy answers as the original did");
    }
    // What the backup's moment held reads the same: the surveys, and each person as made (the
    // original went on sending them surveys and recording answers after the backup).
    let surveys = by_id(&all(&restored_url, &key, "/v1/surveys").await, &restored_url);
    assert_eq!(surveys, by_id(&all(&url, &key, "/v1/surveys").await, &url));
    let made = |list: BTreeMap<String, Value>| -> BTreeMap<String, Value> {
        list.into_iter()
            .map(|(id, p)| (id, json!([p["email"], p["name"], p["created_at"], p["properties"]])))
            .collect()
    };
    let people = made(by_id(
        &all(&restored_url, &key, "/v1/people?per_page=100").await,
        &restored_url,
    ));
    let now = made(by_id(&all(&url, &key, "/v1/people?per_page=100").await, &url));
    assert!(people.len() >= before.len());
    for (id, person) in &people {
        assert_eq!(Some(person), now.get(id), "person {id}");
    }
}

#[tokio::test]
async fn a_damaged_backup_is_refused_and_writes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let a = root.path().join("a");
    let a = a.to_str().unwrap();
    crate::local_stack::create_acme(a);
    let good = root.path().join("good.backup");
    let (backed_up, _, err) = ovation(&["backup", good.to_str().unwrap(), "--data-dir", a]);
    assert!(backed_up, "{err}");
    let (again, _, err) = ovation(&["backup", good.to_str().unwrap(), "--data-dir", a]);
    assert!(
        !again && err.contains("exists already"),
        "a backup is never overwritten: {err}"
    );
    let bytes = std::fs::read(&good).unwrap();

    let mut flipped = bytes.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x01;
    let mut cut = bytes.clone();
    cut.truncate(bytes.len() - 40);
    let mut extra = bytes.clone();
    extra.push(0);
    let cases: [(&str, Vec<u8>, &[&str]); 4] = [
        ("flipped", flipped, &["checksum", "does not read", "malformed"]),
        ("cut", cut, &["ends early"]),
        ("extra", extra, &["bytes after its end"]),
        (
            "text",
            b"name,email\nAnn,ann@example.com\n".to_vec(),
            &["is not an Ovation backup"],
        ),
    ];
    for (name, content, said) in cases {
        let file = root.path().join(format!("{name}.backup"));
        std::fs::write(&file, content).unwrap();
        let (checked, _, err) = ovation(&["restore", file.to_str().unwrap(), "--check"]);
        assert!(!checked && said.iter().any(|s| err.contains(s)), "{name}: {err}");
        let into = root.path().join(format!("into-{name}"));
        let (restored, _, err) = ovation(&["restore", file.to_str().unwrap(), "--data-dir", into.to_str().unwrap()]);
        assert!(!restored && said.iter().any(|s| err.contains(s)), "{name}: {err}");
        let left: Vec<_> = std::fs::read_dir(&into)
            .map(|d| d.flatten().collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{name}: a refused restore leaves nothing: {left:?}");
    }
    let into = root.path().join("into-good");
    let (restored, out, err) = ovation(&["restore", good.to_str().unwrap(), "--data-dir", into.to_str().unwrap()]);
    assert!(restored, "{out}{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_restore_drill_restores_checks_and_deletes_its_copy() {
    if !emulator_available() {
        return;
    }
    let config = crate::support::patient_aws_config().await;
    let (table, kms_key_id) = ovation::provision::table_and_key(&config, "ovation-drill")
        .await
        .unwrap();
    let dynamo = aws_sdk_dynamodb::Client::new(&config);
    let store: Arc<dyn Store> = DynamoStore::open(dynamo.clone(), table.clone());
    let keyring: Arc<dyn Keyring> = Arc::new(KmsKeyring::new(aws_sdk_kms::Client::new(&config), kms_key_id.clone()));
    let engines = Engines {
        store: store.clone(),
        keyring: Arc::new(MeteredKeyring::new(keyring.clone())),
        aws: Some(config.clone()),
        dir: tempfile::tempdir().unwrap(),
    };
    let s = Stack::start(engines, |_| {}).await;
    assert_eq!(s.create_tenant("drill").await.status, 201);
    let key = s.tenant_key("drill").await;
    let auth = format!("{key}:");
    let mut answers = vec![];
    for i in 0..4 {
        let person = s
            .call(
                1,
                "POST",
                "/v1/people",
                Auth::Basic(&auth),
                Some(json!({"email": format!("d{i}@example.com")})),
            )
            .await;
        let body = json!({"person": person.str("id"), "score": 10 - i, "comment": "kept sealed"});
        let answer = s
            .call(1, "POST", "/v1/survey_responses", Auth::Basic(&auth), Some(body))
            .await;
        assert_eq!(answer.status, 201, "{answer:?}");
        answers.push(answer.str("id"));
    }
    let local = tempfile::tempdir().unwrap();
    let mut settings = Settings::local(local.path().to_owned());
    settings.backend = Backend::Aws {
        table: table.clone(),
        kms_key_id,
    };
    let copies = async || -> Vec<String> {
        let listed = dynamo.list_tables().send().await.unwrap();
        listed
            .table_names()
            .iter()
            .filter(|t| t.starts_with(&format!("{table}-drill-")))
            .cloned()
            .collect()
    };

    let report = drill::run(&settings, &config, std::time::Duration::from_secs(120))
        .await
        .unwrap();
    assert!(report.problems.is_empty(), "{}", report.print());
    assert_eq!(report.workspaces, 1);
    assert_eq!(report.families.get("T#*#R"), Some(&4), "{:?}", report.families);
    assert!(report.items >= 20, "{}", report.print());
    assert!(report.opened >= 8, "emails and comments opened: {}", report.print());
    assert!(report.surveys >= 1);
    assert!(report.recovery_point_seconds() >= 0);
    assert!(copies().await.is_empty(), "the copy is deleted");

    // A drift the checks must find: an answer gone from the table while its counters stay.
    let tenant = ovation::services::accounts::tenants::by_slug(&s.ctx, &ovation::domain::Slug::parse("drill").unwrap())
        .await
        .unwrap()
        .unwrap()
        .id;
    store
        .delete(&keys::response(&tenant, &answers[0]).unwrap(), None)
        .await
        .unwrap();
    let report = drill::run(&settings, &config, std::time::Duration::from_secs(120))
        .await
        .unwrap();
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains("counters say 4") && p.contains("recount finds 3")),
        "{}",
        report.print()
    );
    assert!(
        copies().await.is_empty(),
        "the copy is deleted after a failed drill too"
    );

    // The scheduled job: one step an hour; a drill a month; a failed one is an error.
    let ctx = Context::on_aws(settings.clone()).await.unwrap();
    let now = ovation::store::now_unix();
    let Step::Started(started) = job_restore_drill::handle(&ctx, now).await.unwrap() else {
        panic!("the first step starts a drill")
    };
    assert_eq!(copies().await, vec![started.copy.clone()]);
    let failed = job_restore_drill::handle(&ctx, now + 60).await.unwrap_err();
    assert!(failed.to_string().contains("recount finds 3"), "{failed}");
    assert!(copies().await.is_empty());
    assert_eq!(
        job_restore_drill::handle(&ctx, now + 120).await.unwrap(),
        Step::Idle,
        "a month until the next"
    );
    let kept = store.get(&keys::restore_drill()).await.unwrap().unwrap();
    assert!(kept.str("report").unwrap().contains("recount finds 3"));
    assert!(kept.str("under_way").is_none());
    let Step::Started(_) = job_restore_drill::handle(&ctx, now + drill::EVERY_SECONDS + 180)
        .await
        .unwrap()
    else {
        panic!("a month on, the next drill starts")
    };
    // A check that an earlier run began and never finished (stopped at its deadline) is not
    // begun again: the copy goes and the drill fails.
    let stopped = ovation::store::Update::Set("checking_since".into(), (now + drill::EVERY_SECONDS + 200).into());
    store.update(&keys::restore_drill(), &[stopped], None).await.unwrap();
    let failed = job_restore_drill::handle(&ctx, now + drill::EVERY_SECONDS + 240)
        .await
        .unwrap_err();
    assert!(failed.to_string().contains("did not finish within one run"), "{failed}");
    assert!(copies().await.is_empty());
    // A copy recorded and never asked for (a run stopped between the two) ends that drill.
    let never = drill::Started {
        table: table.clone(),
        copy: format!("{table}-drill-1"),
        restored_to: now,
        started_at: now,
    };
    let state = ovation::store::Item::new(keys::restore_drill())
        .with("under_way", serde_json::to_string(&never).unwrap())
        .with("finished_at", now + drill::EVERY_SECONDS + 240);
    store.put(state, None).await.unwrap();
    let failed = job_restore_drill::handle(&ctx, now + drill::EVERY_SECONDS + 300)
        .await
        .unwrap_err();
    assert!(failed.to_string().contains("never began"), "{failed}");
    let after = job_restore_drill::handle(&ctx, now + drill::EVERY_SECONDS + 360)
        .await
        .unwrap();
    assert_eq!(after, Step::Idle);
}
