//! Website surveys: site keys through the API, the widget's routes over real HTTP as a browser on
//! a customer's site calls them (text/plain JSON, an `Origin`), the attacks a visitor can try, and
//! the script in Chromium on a second loopback origin (`tests/clients/widget.mjs`).

use ovation::config::Settings;
use ovation::crypto::links::{Link, LinkKind};
use serde_json::{Value, json};

use crate::api::{Answer, Stack};
use crate::support::Engines;

const SITE: &str = "https://shop.example.com";

/// A visitor's request from a page of `origin` (none: no `Origin` header), as the script sends it.
async fn visit(s: &Stack, path: &str, origin: Option<&str>, body: &Value) -> Answer {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", s.url))
        .header("content-type", "text/plain;charset=UTF-8")
        .body(body.to_string());
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    Answer::read(request.send().await.unwrap()).await
}

/// A workspace with a survey (one CSAT question) and a site key for `SITE`: its owner's token,
/// the survey and the public key.
async fn site(s: &Stack, slug: &str) -> (String, String, String) {
    let owner = s.tenant(slug).await;
    let survey = s
        .send(
            "POST",
            "/v1/surveys",
            &owner.token,
            json!({"name": "Shop", "throttle_days": 0, "questions": [
                {"id": "support", "kind": "csat", "text": {"en": "How was our support?"}}
            ]}),
        )
        .await;
    assert_eq!(survey.status, 201, "{}", survey.text);
    let key = s
        .send(
            "POST",
            "/v1/site_keys",
            &owner.token,
            json!({"name": "Shop", "survey_id": survey.str("id"), "origins": [SITE, "https://*.example.org"]}),
        )
        .await;
    assert_eq!(key.status, 201, "{}", key.text);
    (owner.token, survey.str("id"), key.str("key"))
}

/// A request whose body is sent in chunks, without a length: its status.
async fn chunked(s: &Stack, path: &str, body: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(s.url.trim_start_matches("http://"))
        .await
        .unwrap();
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\norigin: {SITE}\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    );
    for part in body.as_bytes().chunks(8_192) {
        request.push_str(&format!("{:x}\r\n{}\r\n", part.len(), String::from_utf8_lossy(part)));
    }
    request.push_str("0\r\n\r\n");
    // The server may answer and close before reading it all.
    let _ = stream.write_all(request.as_bytes()).await;
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer).await;
    answer.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0)
}

/// `token` with one character of its payload changed (a full 6 bits: the last character of
/// unpadded base64 carries unused bits, which decoders may ignore).
fn tampered(token: &str) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    chars[20] = if chars[20] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

fn anonymous(n: u8) -> Value {
    json!({"visitor_id": format!("{n:02x}").repeat(16)})
}

async fn responses(s: &Stack, token: &str) -> Vec<Value> {
    s.get("/v1/survey_responses?per_page=100", token)
        .await
        .body
        .as_array()
        .cloned()
        .unwrap()
}

async fn site_keys_through_the_api(e: Engines) {
    let s = Stack::start(e, |_| {}).await;
    let (token, survey, public) = site(&s, "acme").await;
    let listed = s.get("/v1/site_keys", &token).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1, "{}", listed.text);
    let key = &listed.body[0];
    assert_eq!(key["key"], public.as_str());
    assert_eq!(key["survey_id"], survey.as_str());
    assert_eq!(key["origins"], json!([SITE, "https://*.example.org"]));
    assert_eq!(key["script"], format!("/w/v1/{public}/ovation.js"));
    let id = key["id"].as_str().unwrap().to_owned();
    // Bad input, each refused naming its field.
    for (body, field) in [
        (json!({"name": "x", "survey_id": survey, "origins": []}), "origins"),
        (
            json!({"name": "x", "survey_id": survey, "origins": ["shop.example.com"]}),
            "origins",
        ),
        (
            json!({"name": "x", "survey_id": survey, "origins": ["https://a.com/path"]}),
            "origins",
        ),
        (
            json!({"name": "x", "survey_id": "01JAAAAAAAAAAAAAAAAAAAAAAA", "origins": [SITE]}),
            "survey_id",
        ),
        (json!({"name": "", "survey_id": survey, "origins": [SITE]}), "name"),
        (
            json!({"name": "x", "survey_id": survey, "origins": [SITE], "secret": 1}),
            "secret",
        ),
    ] {
        let refused = s.send("POST", "/v1/site_keys", &token, body.clone()).await;
        assert_eq!(
            (refused.status, refused.body["field"].as_str()),
            (422, Some(field)),
            "{body}: {}",
            refused.text
        );
    }
    let changed = s
        .send(
            "PATCH",
            &format!("/v1/site_keys/{id}"),
            &token,
            json!({"origins": ["http://localhost:3000"]}),
        )
        .await;
    assert_eq!(
        changed.body["origins"],
        json!(["http://localhost:3000"]),
        "{}",
        changed.text
    );
    assert_eq!(
        s.send("DELETE", &format!("/v1/site_keys/{id}"), &token, json!({}))
            .await
            .status,
        204
    );
    let revoked = s.get(&format!("/v1/site_keys/{id}"), &token).await;
    assert!(revoked.body["revoked_at"].is_i64(), "{}", revoked.text);
    let again = s
        .send("PATCH", &format!("/v1/site_keys/{id}"), &token, json!({"name": "back"}))
        .await;
    assert_eq!(again.status, 422, "a revoked key stays revoked: {}", again.text);
    // Another workspace sees none of it.
    let other = s.tenant("other").await;
    assert_eq!(s.get(&format!("/v1/site_keys/{id}"), &other.token).await.status, 404);
    assert_eq!(s.get("/v1/site_keys", &other.token).await.body, json!([]));
    let audit = s.get("/v1/audit_events?action=site_key.revoked", &token).await;
    assert_eq!(audit.body.as_array().map(Vec::len), Some(1), "{}", audit.text);
}

async fn a_visitor_answers_through_the_widget(e: Engines) {
    let s = Stack::start(e, |_| {}).await;
    let (token, survey, key) = site(&s, "acme").await;
    let visitor = anonymous(1);
    let decide = json!({"key": key, "visitor": visitor, "properties": {"plan": "pro", "questionProductName": "Acme Shop"},
        "language": "en-GB"});
    let shown = visit(&s, "/w/v1/decide", Some(SITE), &decide).await;
    assert_eq!(shown.status, 200, "{}", shown.text);
    assert_eq!(
        shown.header("access-control-allow-origin"),
        Some(SITE),
        "CORS for the key's origin"
    );
    assert_eq!(shown.body["show"], true, "{}", shown.text);
    let texts = &shown.body["survey"];
    assert_eq!(texts["id"], survey.as_str());
    assert!(
        texts["question"].as_str().unwrap().contains("Acme Shop"),
        "questionProductName fills the question: {texts}"
    );
    assert_eq!(texts["questions"][0]["scale"], json!([1, 2, 3, 4, 5]));
    let ask = shown.str("ask");
    let answer = json!({"key": key, "ask": ask, "visitor": visitor, "score": 3, "properties": {"plan": "pro"},
        "page_url": "https://shop.example.com/cart?token=secret#pay"});
    let answered = visit(&s, "/w/v1/answers", Some(SITE), &answer).await;
    assert_eq!(answered.status, 201, "{}", answered.text);
    let response_token = answered.str("response");
    // The same showing answers once: a repeat (a retry whose answer was lost) gets the same receipt.
    let twice = visit(&s, "/w/v1/answers", Some(SITE), &answer).await;
    assert_eq!(
        (twice.status, twice.str("response")),
        (201, response_token.clone()),
        "{}",
        twice.text
    );
    // The receipt opens no respondent page (it names an answer, for its comment only).
    let page = reqwest::get(format!("{}/r/{response_token}", s.url)).await.unwrap();
    assert_eq!(page.status(), 404);
    let comment =
        json!({"key": key, "response": response_token, "comment": "Checkout was slow", "answers": {"support": 4}});
    let commented = visit(&s, "/w/v1/comments", Some(SITE), &comment).await;
    assert_eq!(commented.status, 200, "{}", commented.text);
    // Through another workspace's key, the token changes nothing.
    let (_, _, foreign_key) = site(&s, "other").await;
    let foreign = json!({"key": foreign_key, "response": response_token, "comment": "Hijacked"});
    let refused = visit(&s, "/w/v1/comments", Some(SITE), &foreign).await;
    assert_eq!(
        (refused.status, refused.code()),
        (403, "response_invalid"),
        "{}",
        refused.text
    );
    let listed = responses(&s, &token).await;
    assert_eq!(listed.len(), 1, "one response: {listed:?}");
    let r = &listed[0];
    assert_eq!(
        (r["score"].as_i64(), r["comment"].as_str()),
        (Some(3), Some("Checkout was slow"))
    );
    assert_eq!(r["channel"], "web");
    assert_eq!(r["person_properties"]["plan"], "pro");
    assert_eq!(
        r["person_properties"]["page_url"], "https://shop.example.com/cart",
        "the page without its query or fragment: {r}"
    );
    assert_eq!(r["additional_answers"][0]["value"]["scale"], 4, "{r}");
    let metrics = s.get(&format!("/v1/metrics?trend={survey}&channel=web"), &token).await;
    assert_eq!(
        (
            metrics.body["response_count"].as_i64(),
            metrics.body["detractor_count"].as_i64()
        ),
        (Some(1), Some(1)),
        "{}",
        metrics.text
    );
    // Within the recurring period the same visitor is not asked again; after a period of 0
    // seconds at once, then (that showing left untouched) not within the hour; forceDisplay asks
    // anyway (`false` for once only: `untouched_showings_and_dismissals`).
    let again = visit(&s, "/w/v1/decide", Some(SITE), &decide).await;
    assert_eq!(again.body, json!({"show": false}), "{}", again.text);
    let mut every = decide.clone();
    every["recurring_period"] = json!(0);
    assert_eq!(visit(&s, "/w/v1/decide", Some(SITE), &every).await.body["show"], true);
    assert_eq!(visit(&s, "/w/v1/decide", Some(SITE), &every).await.body["show"], false);
    let mut forced = decide.clone();
    forced["force_display"] = json!(true);
    assert_eq!(visit(&s, "/w/v1/decide", Some(SITE), &forced).await.body["show"], true);

    // A dismissal is remembered; a subdomain of the wildcard origin is one of the key's.
    let other_site = "https://eu.example.org";
    let second = json!({"key": key, "visitor": anonymous(2)});
    let shown = visit(&s, "/w/v1/decide", Some(other_site), &second).await;
    assert_eq!(shown.header("access-control-allow-origin"), Some(other_site));
    let dismissal = json!({"key": key, "ask": shown.str("ask"), "visitor": anonymous(2)});
    assert_eq!(
        visit(&s, "/w/v1/dismissals", Some(other_site), &dismissal).await.status,
        204
    );
    assert_eq!(
        visit(&s, "/w/v1/decide", Some(other_site), &second).await.body["show"],
        false
    );
    // Sampling at 0 shows no one; the initial delay waits from the date given.
    let third = json!({"key": key, "visitor": anonymous(3), "sample_factor": 0});
    assert_eq!(visit(&s, "/w/v1/decide", Some(SITE), &third).await.body["show"], false);
    let new_customer =
        json!({"key": key, "visitor": anonymous(4), "created_at": "2099-01-01T00:00:00Z", "initial_delay": 60});
    assert_eq!(
        visit(&s, "/w/v1/decide", Some(SITE), &new_customer).await.body["show"],
        false
    );

    // An email visitor becomes a person; a known email gets the same answers as an unknown one,
    // and a visitor's name or properties never change a person who exists.
    let known = s
        .send(
            "POST",
            "/v1/people",
            &token,
            json!({"email": "known@example.com", "name": "Known", "send": false}),
        )
        .await;
    assert_eq!(known.status, 200, "{}", known.text);
    let many: serde_json::Map<String, Value> = (0..50).map(|n| (format!("p{n}"), json!("x"))).collect();
    let mut seen = vec![];
    for email in ["known@example.com", "stranger@example.com"] {
        let who = json!({"email": email});
        let decided = visit(&s, "/w/v1/decide", Some(SITE), &json!({"key": key, "visitor": who})).await;
        let ask = decided.str("ask");
        let long_name = json!({"key": key, "ask": ask, "visitor": who, "score": 10, "name": "x".repeat(101)});
        let too_many = json!({"key": key, "ask": ask, "visitor": who, "score": 10, "properties": many,
            "page_url": "https://shop.example.com/"});
        let body = json!({"key": key, "ask": ask, "visitor": who, "score": 10, "name": "Mallory",
            "properties": {"plan": "free"}});
        let mut refusals = vec![];
        for body in [&long_name, &too_many] {
            let refused = visit(&s, "/w/v1/answers", Some(SITE), body).await;
            refusals.push((refused.status, refused.body));
        }
        let answered = visit(&s, "/w/v1/answers", Some(SITE), &body).await;
        seen.push((decided.status, decided.body["show"].clone(), refusals, answered.status));
    }
    assert_eq!(seen[0], seen[1], "nothing tells a known email from an unknown one");
    assert_eq!(
        seen[0].2.iter().map(|r| r.0).collect::<Vec<_>>(),
        [422, 422],
        "{seen:?}"
    );
    let person = s.get("/v1/people?email=known@example.com", &token).await;
    assert_eq!(person.body[0]["name"], "Known", "{}", person.text);
    let stranger = s.get("/v1/people?email=stranger@example.com", &token).await;
    assert_eq!(
        stranger.body[0]["name"], "Mallory",
        "a new person keeps the name given: {}",
        stranger.text
    );
    assert_eq!(responses(&s, &token).await.len(), 3);
}

/// Every refusal a visitor's request can meet: each clear, none writing anything.
async fn the_widget_refuses_abuse(e: Engines) {
    let s = Stack::start(e, |settings: &mut Settings| {
        settings.rate_per_site_key_minute = 40;
    })
    .await;
    let (token, survey, key) = site(&s, "acme").await;
    let visitor = anonymous(7);
    let shown = visit(&s, "/w/v1/decide", Some(SITE), &json!({"key": key, "visitor": visitor})).await;
    let ask = shown.str("ask");
    let answer = |key: &str, ask: &str| json!({"key": key, "ask": ask, "visitor": visitor, "score": 9});
    // Each refusal, and whether the page may read it (only a page of the key's origins, once the
    // body named the key).
    let refusals = [
        (
            "a wrong origin",
            Some("https://evil.example.net"),
            answer(&key, &ask),
            403,
            "origin_not_allowed",
            false,
        ),
        ("no origin", None, answer(&key, &ask), 403, "origin_not_allowed", false),
        (
            "the wildcard's own domain",
            Some("https://example.org"),
            answer(&key, &ask),
            403,
            "origin_not_allowed",
            false,
        ),
        (
            "an unknown key",
            Some(SITE),
            answer("pk_01JAAAAAAAAAAAAAAAAAAAAAAA_01JAAAAAAAAAAAAAAAAAAAAAAA", &ask),
            403,
            "site_key_invalid",
            false,
        ),
        (
            "a malformed key",
            Some(SITE),
            answer("sk_live_x", &ask),
            403,
            "site_key_invalid",
            false,
        ),
        (
            "a forged showing",
            Some(SITE),
            answer(&key, &tampered(&ask)),
            403,
            "ask_invalid",
            true,
        ),
        ("no showing", Some(SITE), answer(&key, ""), 403, "ask_invalid", true),
        (
            "a score of 11",
            Some(SITE),
            json!({"key": key, "ask": ask, "visitor": visitor, "score": 11}),
            422,
            "invalid_field",
            true,
        ),
        (
            "another visitor",
            Some(SITE),
            json!({"key": key, "ask": ask, "visitor": anonymous(8), "score": 9}),
            403,
            "ask_invalid",
            true,
        ),
        (
            "an unknown field",
            Some(SITE),
            json!({"key": key, "ask": ask, "visitor": visitor, "score": 9, "survey_id": survey}),
            422,
            "invalid_field",
            false,
        ),
    ];
    for (what, origin, body, status, code, readable) in refusals {
        let refused = visit(&s, "/w/v1/answers", origin, &body).await;
        assert_eq!(
            (refused.status, refused.code()),
            (status, code),
            "{what}: {}",
            refused.text
        );
        assert_eq!(
            refused.header("access-control-allow-origin").is_some(),
            readable,
            "{what}"
        );
    }
    // A showing of another survey, signed by the workspace itself: the key shows only its own.
    let (store, tenant) = {
        let tenant = s.get("/v1/tenant", &token).await.str("id");
        (s.ctx.tenant_store(&tenant.parse().unwrap()), tenant)
    };
    let other_survey = s
        .send("POST", "/v1/surveys", &token, json!({"name": "Other"}))
        .await
        .str("id");
    let forged = Link {
        kind: LinkKind::SiteAsk,
        tenant: tenant.parse().unwrap(),
        survey: other_survey,
        subject: ovation::ids::new_id(),
    }
    .token(store.crypto())
    .await
    .unwrap();
    let refused = visit(&s, "/w/v1/answers", Some(SITE), &answer(&key, &forged)).await;
    assert_eq!(
        (refused.status, refused.code()),
        (403, "survey_not_on_key"),
        "{}",
        refused.text
    );
    // An oversized body is refused before it is read.
    let huge = json!({"key": key, "ask": ask, "visitor": visitor, "score": 9, "properties": {"x": "y".repeat(70_000)}});
    assert_eq!(visit(&s, "/w/v1/answers", Some(SITE), &huge).await.status, 413);
    // A body without a length (chunked) is cut at the limit too.
    assert_eq!(chunked(&s, "/w/v1/answers", &huge.to_string()).await, 413);
    // An email visitor's answer with a forged showing writes no person either.
    let who = json!({"email": "nobody@example.com"});
    let forged = json!({"key": key, "ask": tampered(&ask), "visitor": who, "score": 9});
    let refused = visit(&s, "/w/v1/answers", Some(SITE), &forged).await;
    assert_eq!(refused.code(), "ask_invalid", "{}", refused.text);
    assert_eq!(s.get("/v1/people", &token).await.body, json!([]), "no person was made");
    // A comment with a token that names no answer.
    let comment = json!({"key": key, "response": ask, "comment": "hi"});
    let refused = visit(&s, "/w/v1/comments", Some(SITE), &comment).await;
    assert_eq!(
        (refused.status, refused.code()),
        (403, "response_invalid"),
        "{}",
        refused.text
    );
    // A revoked key is refused at once.
    let id = s.get("/v1/site_keys", &token).await.body[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        s.send("DELETE", &format!("/v1/site_keys/{id}"), &token, json!({}))
            .await
            .status,
        204
    );
    let refused = visit(&s, "/w/v1/answers", Some(SITE), &answer(&key, &ask)).await;
    assert_eq!(
        (refused.status, refused.code()),
        (403, "site_key_revoked"),
        "{}",
        refused.text
    );
    assert!(responses(&s, &token).await.is_empty(), "nothing was recorded");
    // A burst over the key's budget (40 a minute) is refused with when to come back.
    let (_, _, busy) = site(&s, "busy").await;
    let mut statuses = vec![];
    for n in 0..60u8 {
        let decided = visit(
            &s,
            "/w/v1/decide",
            Some(SITE),
            &json!({"key": busy, "visitor": anonymous(n)}),
        )
        .await;
        statuses.push((decided.status, decided.header("retry-after").is_some()));
    }
    // 20 of 60 within one minute; fewer when the minute turns during the burst.
    let refused = statuses.iter().filter(|(status, _)| *status == 429).count();
    assert!((1..=20).contains(&refused), "{statuses:?}");
    assert!(
        statuses[..40].iter().all(|(s, _)| *s == 200),
        "the budget's 40 first: {statuses:?}"
    );
    assert!(statuses.iter().filter(|(s, _)| *s == 429).all(|(_, retry)| *retry));
}

/// The per-address budget of the widget's routes, and the script itself: cached, revalidated,
/// refused for a name that is no script's.
async fn the_script_and_the_address_budget(e: Engines) {
    let s = Stack::start(e, |settings: &mut Settings| {
        settings.site_rate_per_ip.per_second = 1;
        settings.site_rate_per_ip.burst = 5;
    })
    .await;
    let (_, _, key) = site(&s, "acme").await;
    let client = reqwest::Client::new();
    let script = Answer::read(
        client
            .get(format!("{}/w/v1/{key}/delighted.js", s.url))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(script.status, 200);
    assert_eq!(script.header("content-type"), Some("text/javascript; charset=utf-8"));
    assert!(
        script
            .header("cache-control")
            .unwrap()
            .starts_with("public, max-age=3600")
    );
    assert!(script.text.contains("attachShadow"), "the widget");
    let etag = script.header("etag").unwrap().to_owned();
    let gzipped = client
        .get(format!("{}/w/v1/{key}/ovation.js", s.url))
        .header("accept-encoding", "br, gzip;q=0.9")
        .send()
        .await
        .unwrap();
    assert_eq!(gzipped.headers()["content-encoding"], "gzip");
    assert_eq!(gzipped.headers()["vary"], "Accept-Encoding");
    let gzip_tag = gzipped.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(gzip_tag, etag, "one tag per encoding");
    let size = gzipped.bytes().await.unwrap().len();
    let revalidated = client
        .get(format!("{}/w/v1/{key}/ovation.js", s.url))
        .header("accept-encoding", "gzip")
        .header("if-none-match", format!("W/{gzip_tag}"))
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), 304);
    let refused = client
        .get(format!("{}/w/v1/{key}/ovation.js", s.url))
        .header("accept-encoding", "gzip;q=0, identity")
        .send()
        .await
        .unwrap();
    assert!(refused.headers().get("content-encoding").is_none(), "q=0 refuses gzip");
    assert_eq!(refused.text().await.unwrap(), script.text);
    assert!(
        size < 12 * 1024 && size * 2 < script.text.len(),
        "gzipped: {size} bytes"
    );
    let fresh = client
        .get(format!("{}/w/v1/{key}/ovation.js", s.url))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), 304);
    for bad in ["ovation.css", "1x.js", "a-b.js", "x.js.map"] {
        let refused = client.get(format!("{}/w/v1/{key}/{bad}", s.url)).send().await.unwrap();
        assert_eq!(refused.status(), 404, "{bad}");
    }
    let mut statuses = vec![];
    for n in 0..8u8 {
        statuses.push(
            visit(
                &s,
                "/w/v1/decide",
                Some(SITE),
                &json!({"key": key, "visitor": anonymous(n)}),
            )
            .await
            .status,
        );
    }
    assert_eq!(&statuses[..5], &[200; 5], "{statuses:?}");
    assert!(statuses[5..].contains(&429), "over the address's burst: {statuses:?}");
}

on_every_engine!(a_visitor_answers_through_the_widget, the_widget_refuses_abuse);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn site_keys_are_made_changed_and_revoked() {
    site_keys_through_the_api(Engines::embedded()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_script_is_cached_and_visitors_have_a_budget() {
    the_script_and_the_address_budget(Engines::embedded()).await;
}

/// The script on a customer's page in Chromium (`tests/clients/widget.mjs`): a page on a second
/// loopback origin, with a CSP that allows only Ovation's origin and a hostile stylesheet, loads
/// Delighted's loader pointed at Ovation. After `minTimeOnPage` the bar appears, intact and
/// without a CSP violation; 3 by keyboard, then a comment, make one web response with the page's
/// properties (through the API and in metrics); a reload asks nothing; a dismissal is remembered;
/// the same page on an origin the key does not allow gets nothing; axe-core finds nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_website_survey_in_chromium() {
    let Some(chromium) = crate::clients::Chromium::installed() else {
        return;
    };
    let s = Stack::start(Engines::embedded(), |_| {}).await;
    let owner = s.tenant("acme").await;
    let survey = s
        .send(
            "POST",
            "/v1/surveys",
            &owner.token,
            json!({"name": "Shop", "brand_color": "#0f766e", "questions": [
                {"id": "support", "kind": "csat", "text": {"en": "How was our support?"}}
            ]}),
        )
        .await
        .str("id");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let shop = format!("http://127.0.0.1:{port}");
    let key = s
        .send(
            "POST",
            "/v1/site_keys",
            &owner.token,
            json!({"name": "Shop", "survey_id": survey, "origins": [shop]}),
        )
        .await
        .str("key");
    let loader = ovation::services::website::site_keys::loader(&s.url, &key, "ovation");
    let dir = tempfile::tempdir().unwrap();
    let mut command = chromium.node(dir.path(), &["widget.mjs", "web-steps.mjs"]);
    command.args([s.url.as_str(), &port.to_string(), &loader]);
    let seen: Value = crate::clients::run(command).await;
    assert_eq!(
        (&seen["first"]["early"], &seen["first"]["shown"]),
        (&json!(false), &json!(true)),
        "no bar before minTimeOnPage, a bar after: {seen}"
    );
    assert!(seen["first"]["afterMs"].as_i64().unwrap() >= 2000, "{seen}");
    assert_eq!(
        (&seen["box"]["inView"], &seen["box"]["hitsThree"]),
        (&json!(true), &json!(true)),
        "{seen}"
    );
    assert!(seen["box"]["height"].as_f64().unwrap() > 60.0, "{seen}");
    assert_eq!(
        seen["events"],
        json!(["show", "respond:3", "comment", "submit", "hide"]),
        "{seen}"
    );
    assert_eq!(
        (&seen["animation"], &seen["reducedAnimation"]),
        (&json!("ov-up"), &json!("none")),
        "a slide-up, none for reduced motion: {seen}"
    );
    assert_eq!(seen["reloadShown"], false, "{seen}");
    assert_eq!(seen["closedEvents"], json!(["show", "hide"]), "{seen}");
    assert_eq!(seen["dismissedShown"], false, "{seen}");
    assert_eq!(seen["elsewhereShown"], false, "{seen}");
    assert_eq!(seen["elsewhereEvents"], json!([]), "{seen}");
    assert_eq!(
        seen["violations"],
        json!([]),
        "the page's CSP allowed all it did: {seen}"
    );
    crate::web::all_passed(&seen, 8);
    let listed = responses(&s, &owner.token).await;
    assert_eq!(listed.len(), 1, "one response, none from the other origin: {listed:?}");
    let r = &listed[0];
    assert_eq!(
        (r["score"].as_i64(), r["comment"].as_str(), r["channel"].as_str()),
        (Some(3), Some("Checkout was slow"), Some("web"))
    );
    assert_eq!(r["person_properties"]["plan"], "pro", "{r}");
    assert_eq!(r["person_properties"]["page_url"], format!("{shop}/shop"), "{r}");
    assert_eq!(r["additional_answers"][0]["value"]["scale"], 4, "{r}");
    let metrics = s
        .get(&format!("/v1/metrics?trend={survey}&channel=web"), &owner.token)
        .await;
    assert_eq!(metrics.body["response_count"], 1, "{}", metrics.text);
}

/// What is remembered of a visitor over time (on the service, at chosen times): a showing left
/// untouched holds the survey back an hour, then it may show again, three times at most; a
/// dismissal (or an answer) holds it back the whole recurring period.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untouched_showings_and_dismissals() {
    use ovation::services::website::{site_keys, visits};
    let s = Stack::start(Engines::embedded(), |_| {}).await;
    let (_, _, key) = site(&s, "acme").await;
    let site = site_keys::open(&s.ctx, &key, Some(SITE)).await.unwrap();
    let decide = |n: u8| -> visits::DecideRequest {
        serde_json::from_value(json!({"key": key, "visitor": anonymous(n), "recurring_period": 86_400})).unwrap()
    };
    let t0 = ovation::store::now_unix();
    let shown = |d: &visits::Decision| d.show;
    // Untouched: held an hour, then again, three times; then the period.
    let mut seen = vec![];
    for (at, n) in [
        (0, 1),
        (1_800, 1),
        (3_700, 1),
        (7_400, 1),
        (11_100, 1),
        (94_000, 1),
        (95_800, 1),
        (97_800, 1),
    ] {
        seen.push(shown(&visits::decide(&site, &decide(n), t0 + at).await.unwrap()));
    }
    assert_eq!(
        seen,
        [true, false, true, true, false, true, false, true],
        "untouched showings, then the count starts again"
    );
    // Dismissed: held the whole period, not just the hour.
    let first = visits::decide(&site, &decide(2), t0).await.unwrap();
    let dismissal: visits::DismissRequest =
        serde_json::from_value(json!({"key": key, "ask": first.ask, "visitor": anonymous(2)})).unwrap();
    visits::dismiss(&site, &dismissal, t0 + 10).await.unwrap();
    let held = [3_700, 80_000].map(|at| t0 + at);
    for at in held {
        assert!(!shown(&visits::decide(&site, &decide(2), at).await.unwrap()), "{at}");
    }
    let once: visits::DecideRequest =
        serde_json::from_value(json!({"key": key, "visitor": anonymous(2), "recurring_period": false})).unwrap();
    assert!(
        !shown(&visits::decide(&site, &once, t0 + 90_000).await.unwrap()),
        "once only"
    );
    assert!(shown(&visits::decide(&site, &decide(2), t0 + 90_000).await.unwrap()));
    // A dismissal of a showing that is no longer the visitor's latest is refused.
    let forced: visits::DecideRequest =
        serde_json::from_value(json!({"key": key, "visitor": anonymous(3), "force_display": true})).unwrap();
    let older = visits::decide(&site, &forced, t0).await.unwrap();
    visits::decide(&site, &forced, t0 + 5).await.unwrap();
    let stale: visits::DismissRequest =
        serde_json::from_value(json!({"key": key, "ask": older.ask, "visitor": anonymous(3)})).unwrap();
    let refused = visits::dismiss(&site, &stale, t0 + 6).await;
    assert!(
        matches!(
            refused,
            Err(ovation::Error::Forbidden {
                code: "ask_invalid",
                ..
            })
        ),
        "{refused:?}"
    );
}

/// A key that takes only signed emails refuses an email without its server's signature, takes
/// one with it; erasing the person removes what the widget remembered of their email.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_emails_and_erasure() {
    use aws_lc_rs::hmac;
    let s = Stack::start(Engines::embedded(), |_| {}).await;
    let (token, survey, key) = site(&s, "acme").await;
    let id = s.get("/v1/site_keys", &token).await.body[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let changed = s
        .send(
            "PATCH",
            &format!("/v1/site_keys/{id}"),
            &token,
            json!({"signed_emails": true}),
        )
        .await;
    assert_eq!(changed.body["signed_emails"], true, "{}", changed.text);
    let secret = changed.str("identity_secret");
    let sign = |email: &str| {
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()), email.as_bytes());
        tag.as_ref().iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    let email = "ada@example.com";
    for (signature, status) in [
        (None, 403),
        (Some("00".repeat(32)), 403),
        (Some(sign("eve@example.com")), 403),
        (Some(sign(email)), 200),
    ] {
        let who = json!({"email": "Ada@Example.com", "email_signature": signature});
        let decided = visit(&s, "/w/v1/decide", Some(SITE), &json!({"key": key, "visitor": who})).await;
        assert_eq!(decided.status, status, "{signature:?}: {}", decided.text);
        if status == 403 {
            assert_eq!(decided.code(), "email_signature_invalid");
            continue;
        }
        // The showing a signed email got, carried without the signature: refused.
        let unsigned = json!({"email": email});
        for (path, body) in [
            (
                "/w/v1/answers",
                json!({"key": key, "ask": decided.str("ask"), "visitor": unsigned, "score": 8}),
            ),
            (
                "/w/v1/dismissals",
                json!({"key": key, "ask": decided.str("ask"), "visitor": unsigned}),
            ),
        ] {
            let refused = visit(&s, path, Some(SITE), &body).await;
            assert_eq!(
                (refused.status, refused.code()),
                (403, "email_signature_invalid"),
                "{path}"
            );
        }
        assert_eq!(s.get("/v1/people", &token).await.body, json!([]), "no person yet");
        let body = json!({"key": key, "ask": decided.str("ask"), "visitor": who, "score": 8});
        assert_eq!(visit(&s, "/w/v1/answers", Some(SITE), &body).await.status, 201);
    }
    assert!(
        s.get("/v1/people?email=eve@example.com", &token)
            .await
            .body
            .as_array()
            .unwrap()
            .is_empty()
    );
    // A new identity secret: the earlier one's signatures fail at once.
    let rotated = s
        .send(
            "PATCH",
            &format!("/v1/site_keys/{id}"),
            &token,
            json!({"new_identity_secret": true}),
        )
        .await;
    let fresh = rotated.str("identity_secret");
    assert!(fresh.len() == 64 && fresh != secret, "{}", rotated.text);
    let old = json!({"email": email, "email_signature": sign(email)});
    let refused = visit(&s, "/w/v1/decide", Some(SITE), &json!({"key": key, "visitor": old})).await;
    assert_eq!(refused.code(), "email_signature_invalid");
    // The person made by the answer, then erased: the widget's memory of the email goes too.
    let tenant: ovation::ids::TenantId = s.get("/v1/tenant", &token).await.str("id").parse().unwrap();
    let store = s.ctx.tenant_store(&tenant);
    let blind = ovation::services::people::person::email_index(&store, &ovation::domain::Email::parse(email).unwrap())
        .await
        .unwrap();
    let remembered = ovation::store::keys::site_visit(&tenant, &survey, &format!("E{blind}")).unwrap();
    assert!(store.get(&remembered).await.unwrap().is_some());
    let erased = s
        .send("DELETE", &format!("/v1/people/email:{email}"), &token, json!({}))
        .await;
    assert_eq!(erased.status, 200, "{}", erased.text);
    assert!(
        store.get(&remembered).await.unwrap().is_none(),
        "erased with the person"
    );
}
