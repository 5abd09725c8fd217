//! Real clients against the local stack: Delighted's official Python client (only its base URL
//! changed) and the respondent's journey in headless Chromium. The test command installs both
//! (`scripts/tools.sh`); without them the tests fail under CI and are skipped elsewhere.

use std::process::Command;

use serde_json::{Value, json};

use crate::api::{Auth, Stack};
use crate::support::Engines;

/// A tool the test command installs, from its environment variable; `None` (skip) outside CI.
fn tool(variable: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(path) if !path.is_empty() => Some(path),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{variable} is not set: run the tests with scripts/test, which installs the clients")
        }
        _ => {
            eprintln!("skipped: {variable} is not set (scripts/test sets it)");
            None
        }
    }
}

fn script(name: &str) -> String {
    format!("{}/clients/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Runs a client to the end; its last line of output is JSON.
async fn run(mut command: Command) -> Value {
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delighteds_python_client_works_unchanged() {
    let Some(python) = tool("OVATION_TEST_PYTHON") else {
        return;
    };
    let s = Stack::start(Engines::embedded(), |_| {}).await;
    let owner = s.tenant("acme").await;
    let (key, _) = s.api_key(&owner, "write").await;
    let mut command = Command::new(python);
    command.arg(script("delighted_client.py")).arg(&s.url).arg(&key);
    let seen = run(command).await;
    assert_eq!(seen["person_email"], "ada@example.com");
    assert_eq!(
        seen["people_listed"],
        json!(["+14155550100", "ada@example.com", "bob@example.com"]),
        "auto-paging followed the Link header"
    );
    assert_eq!(seen["response_score"], 10);
    assert_eq!(seen["listed_comments"], json!(["Love it"]));
    assert_eq!(seen["listed_person_email"], "ada@example.com");
    assert_eq!(seen["saved_tags"], json!(["vip"]));
    assert_eq!(seen["saved_notes"], json!(["Called to thank"]));
    assert_eq!(seen["pending_deleted"]["ok"], true);
    assert_eq!(seen["deleted"]["ok"], true);
    assert_eq!(seen["unsubscribed"], json!(["carl@example.com"]));
    assert_eq!(seen["bounced"], json!([]));
    assert_eq!(seen["autopilot_frequency"], 90 * 86_400);
    assert_eq!(
        (&seen["member_email"], &seen["members"], &seen["left"]),
        (
            &json!("dana@example.com"),
            &json!(["dana@example.com"]),
            &json!("dana@example.com")
        )
    );
    assert_eq!(
        (seen["validation_error"].clone(), seen["auth_error"].clone()),
        (json!(422), json!(401))
    );
    // What the client did is there.
    let people = s.call(1, "GET", "/v1/people", Auth::Bearer(&key), None).await;
    assert_eq!(
        people.body.as_array().unwrap().len(),
        4,
        "bob was deleted; carl unsubscribed and dana joined autopilot: {people:?}"
    );
}

/// Runs the browser journey over `link` (and the email at `mail`): what it saw.
async fn journey(chromium: &str, modules: &str, link: &str, mail: Option<(&std::path::Path, Value)>) -> Value {
    // Node resolves `puppeteer-core` and `axe-core` from a node_modules beside the script.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(script("journey.mjs"), dir.path().join("journey.mjs")).unwrap();
    std::os::unix::fs::symlink(modules, dir.path().join("node_modules")).unwrap();
    let mut command = Command::new("node");
    command
        .arg(dir.path().join("journey.mjs"))
        .arg(link)
        .env("OVATION_TEST_CHROMIUM", chromium);
    if let Some((mail, extra)) = mail {
        command.arg(mail).arg(extra.to_string());
    }
    run(command).await
}

/// Every page the journey audited: no axe-core violation of any impact, nothing wider than the
/// screen, the person's language; `expected` audits in all.
fn audited(seen: &Value, lang: &str, expected: usize) {
    let audits = seen["audits"].as_array().unwrap();
    assert_eq!(audits.len(), expected, "{seen}");
    for audit in audits {
        assert_eq!(audit["violations"], json!([]), "{audit}");
        assert!(audit["overflow"].as_i64().unwrap() <= 0, "{audit}");
        assert_eq!(audit["lang"], lang, "{audit}");
    }
}

/// The respondent's journey in Chromium, in English, Danish and German: the email's score link,
/// the page's script recording it (and changing it), a comment sent by keyboard; then every page
/// (survey with and without script, thanks, an invalid link; in English also the web link and
/// the unsubscribe page) at 320, 375 and 1280 px and the email at 320 and 640 px, each audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_respondent_journey_in_a_real_browser() {
    let Some(chromium) = tool("OVATION_TEST_CHROMIUM") else {
        return;
    };
    let Some(modules) = tool("OVATION_TEST_NODE_MODULES") else {
        return;
    };
    let (s, send, data_dir) =
        crate::sending::sending_stack(Engines::embedded(), "surveys@acme.example", true, |_| {}).await;
    let owner = s.tenant("acme").await;
    let mut links = Vec::new();
    for (email, locale) in [
        ("ada@example.com", "en"),
        ("bo@example.com", "da"),
        ("dora@example.com", "de"),
    ] {
        let person = s
            .send(
                "POST",
                "/v1/people",
                &owner.token,
                json!({"email": email, "properties": {"locale": locale}}),
            )
            .await;
        // The link as the local stack serves it.
        let url = person.str("survey_url");
        links.push(format!("{}{}", s.url, &url[url.find("/r/").unwrap()..]));
    }
    // The English email, as sent.
    job_scheduler::handle(&s.ctx, &send.messaging).await.unwrap();
    let event = crate::sending::receive(&send).await;
    let answer = job_deliver::handle(&s.ctx, &send.messaging, event.clone()).await;
    crate::sending::settle(&send, &event, &answer).await;
    let mail = crate::sending::sent_mail(&send, &data_dir).await;
    let english = mail
        .iter()
        .filter_map(|raw| ovation::messaging::mime::parse(raw))
        .find(|m| m.header("To").is_some_and(|to| to.contains("ada@")))
        .expect("the English email");
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("mail.html");
    std::fs::write(&html, &english.html).unwrap();

    // The web link and the email's unsubscribe page, served by this stack.
    let local = |url: &str| format!("{}{}", s.url, &url[url.find("/s/").or(url.find("/u/")).unwrap()..]);
    let web = s.get("/v1/surveys", &owner.token).await.body[0]["web_link"]
        .as_str()
        .unwrap()
        .to_owned();
    let unsubscribe = english.header("List-Unsubscribe").unwrap();
    let unsubscribe = unsubscribe
        .split('<')
        .find(|u| u.starts_with("http"))
        .unwrap()
        .trim_end_matches(['>', ',', ' ']);
    let extra = json!({"web link": local(&web), "unsubscribe": local(unsubscribe)});
    let seen = journey(&chromium, &modules, &links[0], Some((&html, extra))).await;
    assert_eq!(
        (&seen["checked"], &seen["changed"]),
        (&json!("9"), &json!("2")),
        "{seen}"
    );
    assert!(
        seen["saved"].as_str().unwrap().contains("Your score is saved"),
        "{seen}"
    );
    assert_eq!(seen["heading"], "Thank you!");
    assert_eq!(seen["violations"], json!([]), "no CSP violations");
    audited(&seen, "en", 20);
    let unsent = seen["audits"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["unsent"].as_str())
        .collect::<Vec<_>>();
    assert_eq!(unsent.len(), 3, "{seen}");
    assert!(
        unsent
            .iter()
            .all(|u| u.contains("Your new score is saved only when you press Send. Your saved score is")),
        "{unsent:?}"
    );
    let listed = s.get("/v1/survey_responses", &owner.token).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1, "{listed:?}");
    assert_eq!(listed.body[0]["score"], 5, "the last score sent by the button");
    assert_eq!(listed.body[0]["comment"], "Fast and friendly <b>support</b>");

    for (link, lang, heading) in [(&links[1], "da", "Tak!"), (&links[2], "de", "Vielen Dank!")] {
        let seen = journey(&chromium, &modules, link, None).await;
        assert_eq!(seen["heading"], heading, "{seen}");
        audited(&seen, lang, 12);
    }
}
