//! Real clients against the local stack: Delighted's official Python and Node clients (only their
//! base URL changed), schemathesis over the OpenAPI document, and the respondent's journey in
//! headless Chromium. The test command installs both
//! (`scripts/tools.sh`); without them the tests fail under CI and are skipped elsewhere.

use std::process::Command;

use serde_json::{Value, json};

use crate::api::{Auth, Stack};
use crate::support::Engines;

/// A tool the test command installs, from its environment variable; `None` (skip) outside CI.
pub(crate) fn tool(variable: &str) -> Option<String> {
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

/// Headless Chromium and the npm modules (puppeteer-core, axe-core) the test command installs;
/// `None` (skip) outside CI.
pub(crate) struct Chromium {
    chromium: String,
    modules: String,
}

impl Chromium {
    pub(crate) fn installed() -> Option<Chromium> {
        Some(Chromium {
            chromium: tool("OVATION_TEST_CHROMIUM")?,
            modules: tool("OVATION_TEST_NODE_MODULES")?,
        })
    }

    /// `node` running the first of `scripts`, copied with the others into `dir` beside a link to
    /// the npm modules (Node resolves them from a node_modules beside the script); the caller
    /// adds the script's arguments.
    pub(crate) fn node(&self, dir: &std::path::Path, scripts: &[&str]) -> Command {
        for name in scripts {
            std::fs::copy(script(name), dir.join(name)).unwrap();
        }
        std::os::unix::fs::symlink(&self.modules, dir.join("node_modules")).unwrap();
        let mut command = Command::new("node");
        command
            .arg(dir.join(scripts[0]))
            .env("OVATION_TEST_CHROMIUM", &self.chromium);
        command
    }
}

pub(crate) fn script(name: &str) -> String {
    format!("{}/clients/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Runs a client to the end; its last line of output is JSON.
pub(crate) async fn run(mut command: Command) -> Value {
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

/// What both of Delighted's clients saw of the calls they share: each answered as Delighted
/// would (only the base URL changed).
fn every_call_answered(seen: &Value) {
    assert_eq!(seen["person_email"], "ada@example.com", "{seen}");
    assert_eq!(
        seen["people_listed"],
        json!(["+14155550100", "ada@example.com", "bob@example.com"]),
        "auto-paging followed the Link header"
    );
    assert_eq!(seen["response_score"], 10);
    assert_eq!(seen["listed_person_email"], "ada@example.com");
    assert_eq!(
        (&seen["saved_tags"], &seen["saved_notes"]),
        (&json!(["vip"]), &json!(["Called to thank"])),
        "a response saved: {seen}"
    );
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
        ),
        "a member joined, listed and left: {seen}"
    );
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
    every_call_answered(&seen);
    assert_eq!(seen["listed_comments"], json!(["Love it"]));
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

/// Delighted's official Node client (npm `delighted`) for every call it offers, with only its
/// host, port and scheme pointed at the local stack.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delighteds_node_client_works_unchanged() {
    let Some(modules) = tool("OVATION_TEST_NODE_MODULES") else {
        return;
    };
    let s = Stack::start(Engines::embedded(), |_| {}).await;
    let owner = s.tenant("acme").await;
    let (key, _) = s.api_key(&owner, "write").await;
    // Node resolves `delighted` from a node_modules beside the script.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(script("delighted_node.cjs"), dir.path().join("delighted_node.cjs")).unwrap();
    std::os::unix::fs::symlink(&modules, dir.path().join("node_modules")).unwrap();
    let mut command = Command::new("node");
    command.arg(dir.path().join("delighted_node.cjs")).arg(&s.url).arg(&key);
    let seen = run(command).await;
    every_call_answered(&seen);
    assert_eq!(seen["survey_scheduled"], true, "survey_scheduled_at answered: {seen}");
    assert_eq!(seen["metrics"], json!([100, 1]), "{seen}");
    assert_eq!(
        (&seen["validation_error"], &seen["auth_error"]),
        (&json!("ResourceValidationError"), &json!("AuthenticationError"))
    );
}

/// schemathesis (pinned) over `/openapi.json` of the local stack, as an admin key: examples, the
/// schema's boundaries and random input for every operation, a bounded number each. No answer
/// may be a server error, or a status, content type or body the document does not promise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_broken_promise() {
    let Some(schemathesis) = tool("OVATION_TEST_SCHEMATHESIS") else {
        return;
    };
    let s = Stack::start(Engines::embedded(), |_| {}).await;
    let owner = s.tenant("acme").await;
    let (key, _) = s.api_key(&owner, "admin").await;
    // It keeps a cache of what it found in its working directory: a temporary one.
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(schemathesis);
    command
        .current_dir(dir.path())
        .args(["run", &format!("{}/openapi.json", s.url)])
        .args(["--header", &format!("Authorization: Bearer {key}")])
        .args(["--max-examples", "10", "--generation-deterministic"])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ])
        .env("SCHEMATHESIS_HOOKS", "")
        .env("NO_COLOR", "1");
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = report.lines().find(|l| l.contains(" generated, ")).unwrap_or_default();
    assert!(summary.contains("passed") && !summary.contains("failed"), "{report}");
}

/// Runs the browser journey over `link`, the email at `mail` and the `extra` pages: what it saw.
async fn journey(chromium: &Chromium, link: &str, mail: &std::path::Path, extra: &Value) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let mut command = chromium.node(dir.path(), &["journey.mjs"]);
    command.arg(link).arg(mail).arg(extra.to_string());
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

/// A new person's invitation link (to `survey`, else the default survey), as this stack serves
/// it, and its token.
async fn invited(s: &Stack, token: &str, email: &str, locale: &str, survey: Option<&str>) -> (String, String) {
    let mut body = json!({"email": email, "properties": {"locale": locale}});
    if let Some(survey) = survey {
        body["survey_id"] = json!(survey);
    }
    let person = s.send("POST", "/v1/people", token, body).await;
    assert_eq!(person.status, 200, "{person:?}");
    let url = person.str("survey_url");
    let path = &url[url.find("/r/").unwrap()..];
    (format!("{}{path}", s.url), path[3..].to_owned())
}

/// A survey made for the journey's other pages: additional questions of every kind, in the three
/// languages the journey speaks.
async fn survey_with_questions(s: &Stack, token: &str, name: &str) -> String {
    let text = |en: &str, da: &str, de: &str| json!({"en": en, "da": da, "de": de});
    let created = s
        .send(
            "POST",
            "/v1/surveys",
            token,
            json!({
                "name": name,
                "questions": [
                    {"id": "csat", "kind": "csat", "text": text("How satisfied are you?", "Hvor tilfreds er du?", "Wie zufrieden sind Sie?")},
                    {"id": "ces", "kind": "ces", "text": text("How easy was it?", "Hvor nemt var det?", "Wie einfach war es?")},
                    {"id": "why", "kind": "text", "text": text("Anything else?", "Andet?", "Sonst noch etwas?")},
                    {"id": "plan", "kind": "single", "text": text("Your plan?", "Din plan?", "Ihr Tarif?"),
                     "choices": [text("Free", "Gratis", "Gratis"), text("Pro", "Pro", "Pro")]},
                    {"id": "used", "kind": "multiple", "text": text("What do you use?", "Hvad bruger du?", "Was nutzen Sie?"),
                     "choices": [text("Email", "E-mail", "E-Mail"), text("Reports", "Rapporter", "Berichte")]}
                ]
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    created.str("id")
}

/// The respondent's journey in Chromium, in English, Danish and German: the email's score link,
/// the page's script recording it (and changing it), a comment sent by keyboard; then every page
/// (survey with and without script with a score of each group, thanks, additional questions, the
/// web link, unsubscribe, closed, expired and invalid links) at 320, 375 and 1280 px and the email
/// at 320 and 640 px, each audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_respondent_journey_in_a_real_browser() {
    let Some(chromium) = Chromium::installed() else {
        return;
    };
    let (s, send, data_dir) =
        crate::sending::sending_stack(Engines::embedded(), "surveys@acme.example", true, |_| {}).await;
    let owner = s.tenant("acme").await;
    let languages = [("en", "Thank you!"), ("da", "Tak!"), ("de", "Vielen Dank!")];
    let mut links = Vec::new();
    for (lang, _) in languages {
        links.push(
            invited(&s, &owner.token, &format!("{lang}@example.com"), lang, None)
                .await
                .0,
        );
    }
    // Their emails, as sent.
    job_scheduler::handle(&s.ctx, &send.messaging).await.unwrap();
    let event = crate::sending::receive(&send).await;
    let answer = job_deliver::handle(&s.ctx, &send.messaging, event.clone()).await;
    crate::sending::settle(&send, &event, &answer).await;
    let mail: Vec<_> = crate::sending::sent_mail(&send, &data_dir)
        .await
        .iter()
        .filter_map(|raw| ovation::messaging::mime::parse(raw))
        .collect();
    let dir = tempfile::tempdir().unwrap();

    // The other pages: additional questions, a closed survey, an expired link.
    let questions = survey_with_questions(&s, &owner.token, "Questions").await;
    let closing = survey_with_questions(&s, &owner.token, "Closing").await;
    let web = s
        .get(&format!("/v1/surveys/{questions}"), &owner.token)
        .await
        .str("web_link");
    let local = |url: &str| format!("{}{}", s.url, &url[url.find("/s/").or(url.find("/u/")).unwrap()..]);
    let mut pages = Vec::new();
    for (lang, _) in languages {
        let (asked, _) = invited(
            &s,
            &owner.token,
            &format!("q-{lang}@example.com"),
            lang,
            Some(&questions),
        )
        .await;
        let (closed, _) = invited(&s, &owner.token, &format!("c-{lang}@example.com"), lang, Some(&closing)).await;
        let (expired, token) = invited(&s, &owner.token, &format!("x-{lang}@example.com"), lang, None).await;
        let (link, _) = ovation::crypto::links::Link::claimed(&token).unwrap();
        let key = ovation::store::keys::invitation(&link.tenant, &link.survey, &link.subject).unwrap();
        let long_ago = ovation::store::now_unix() - 400 * 86_400;
        let updates = ["due_at", "created_at"].map(|n| ovation::store::Update::Set(n.into(), long_ago.into()));
        s.ctx
            .tenant_store(&link.tenant)
            .update(&key, &updates, None)
            .await
            .unwrap();
        let email = mail
            .iter()
            .find(|m| {
                m.header("To")
                    .is_some_and(|to| to.contains(&format!("{lang}@example.com")))
            })
            .expect("the email");
        let html = dir.path().join(format!("{lang}.html"));
        std::fs::write(&html, &email.html).unwrap();
        let unsubscribe = email.header("List-Unsubscribe").unwrap();
        let unsubscribe = unsubscribe
            .split('<')
            .find(|u| u.starts_with("http"))
            .unwrap()
            .trim_end_matches(['>', ',', ' ']);
        let extra = json!({
            "additional questions": asked,
            "web link": local(&web),
            "unsubscribe": local(unsubscribe),
            "closed": closed,
            "expired": expired,
        });
        pages.push((html, extra));
    }
    let closed = s
        .send(
            "PATCH",
            &format!("/v1/surveys/{closing}"),
            &owner.token,
            json!({"status": "closed"}),
        )
        .await;
    assert_eq!(closed.status, 200, "{closed:?}");

    for (((lang, heading), link), (html, extra)) in languages.iter().zip(&links).zip(&pages) {
        let seen = journey(&chromium, link, html, extra).await;
        assert_eq!(
            (&seen["checked"], &seen["changed"]),
            (&json!("9"), &json!("2")),
            "{seen}"
        );
        assert_eq!(seen["heading"], *heading, "{seen}");
        assert_eq!(seen["violations"], json!([]), "no CSP violations");
        // At each width: the survey, an invalid link, three scores without script, thanks and the
        // five other pages; then the email at two widths.
        audited(&seen, lang, 3 * 11 + 2);
        let unsent = seen["audits"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|a| a["unsent"].as_str())
            .collect::<Vec<_>>();
        assert_eq!(unsent.len(), 9, "{seen}");
        if *lang == "en" {
            assert!(
                seen["saved"].as_str().unwrap().contains("Your score is saved"),
                "{seen}"
            );
            assert!(
                unsent
                    .iter()
                    .all(|u| u.contains("Your new score is saved only when you press Send. Your saved score is")),
                "{unsent:?}"
            );
        }
    }
    // One answer each: the last score sent by the button, with the comment typed.
    let listed = s.get("/v1/survey_responses?per_page=100", &owner.token).await;
    let answers = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["score"].clone(), r["comment"].clone()))
        .collect::<Vec<_>>();
    assert_eq!(
        answers,
        vec![(json!(10), json!("Fast and friendly <b>support</b>")); 3],
        "{listed:?}"
    );
}
