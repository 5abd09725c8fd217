//! Surveys, people and the respondent journey over real HTTP, on every engine: Delighted's people
//! and survey_responses API (JSON and form bodies, Basic auth, `.json` paths, Link paging), the
//! respondent pages (a GET never records, the POST does, one response per invitation, comments
//! escaped), the web link, unsubscribe, CSV imports and the privacy options.

use base64::Engine as _;
use ovation::crypto::links::{Link, LinkKind};
use ovation::ids::TenantId;
use ovation::services::people::person;
use serde_json::{Value, json};

use crate::api::{Answer, Auth, Stack};
use crate::support::Engines;

on_every_engine!(
    delighted_people_and_responses,
    respondent_pages,
    surveys_and_the_web_link,
    csv_imports,
    unsubscribe_and_privacy,
);

async fn stack(e: Engines) -> Stack {
    Stack::start(e, |_| {}).await
}

/// A form or raw body sent with HTTP Basic (as Delighted's curl examples do).
async fn raw(s: &Stack, method: &str, path: &str, key: &str, content_type: &str, body: &str) -> Answer {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{key}:"));
    let response = reqwest::Client::new()
        .request(method.parse().unwrap(), format!("{}{path}", s.url))
        .header("authorization", format!("Basic {basic}"))
        .header("content-type", content_type)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    Answer::read(response).await
}

/// A page of the respondent's (no redirects followed).
pub(crate) async fn page(s: &Stack, method: &str, path: &str, form: Option<&str>) -> Answer {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut request = client.request(method.parse().unwrap(), format!("{}{path}", s.url));
    if let Some(form) = form {
        request = request
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_owned());
    }
    Answer::read(request.send().await.unwrap()).await
}

/// Where a relative `location` leads from the respondent page at the path `from`, checked to lead
/// to the same page on a server at its root and under an API stage (`/Prod`).
pub(crate) fn leads_to(from: &str, location: &str) -> String {
    let at = |stage: &str| {
        let url = reqwest::Url::parse(&format!("http://h{stage}{from}")).unwrap();
        let to = url.join(location).unwrap();
        (
            to.path().to_owned(),
            to.query().map(|q| format!("?{q}")).unwrap_or_default(),
        )
    };
    let (path, query) = at("");
    assert_eq!(
        at("/Prod"),
        (format!("/Prod{path}"), query.clone()),
        "{location} holds under a stage"
    );
    format!("{path}{query}")
}

fn path_of(url: &str) -> String {
    let rest = url.split_once("://").unwrap().1;
    rest[rest.find('/').unwrap()..].to_owned()
}

fn basic(key: &str) -> String {
    format!("{key}:")
}

async fn delighted_people_and_responses(e: Engines) {
    let s = stack(e).await;
    let owner = s.tenant("acme").await;
    let (key, _) = s.api_key(&owner, "write").await;
    let b = basic(&key);
    // Create, with Basic auth, at Delighted's `.json` path.
    let created = s
        .call(
            1,
            "POST",
            "/v1/people.json",
            Auth::Basic(&b),
            Some(json!({"email": "Jony@Appleseed.example", "name": "Jony", "properties": {"plan": "pro", "seats": 5}})),
        )
        .await;
    assert_eq!(created.status, 200, "{created:?}");
    let id = created.str("id");
    assert_eq!(created.str("email"), "jony@appleseed.example");
    assert_eq!(created.body["properties"]["seats"], "5");
    assert!(created.body["next_survey_scheduled_at"].is_i64());
    assert!(created.str("survey_url").contains("/r/"));
    // The same email again is the same person, properties merged; a form body works too.
    let again = raw(
        &s,
        "POST",
        "/v1/people",
        &key,
        "application/x-www-form-urlencoded",
        "email=jony%40appleseed.example&properties[team]=design&send=false",
    )
    .await;
    assert_eq!(again.status, 200, "{again:?}");
    assert_eq!(again.str("id"), id);
    assert_eq!(
        again.body["properties"],
        json!({"plan": "pro", "seats": "5", "team": "design"})
    );
    assert!(again.body.get("survey_url").is_none(), "send=false schedules nothing");
    // Bad input: each a 422 naming the field, nothing written.
    for (body, field) in [
        (json!({"email": "not-an-email"}), "email"),
        (json!({"phone_number": "12345"}), "phone_number"),
        (json!({"email": "a@b.example", "delay": -1}), "delay"),
        (json!({"email": "a@b.example", "channel": "fax"}), "channel"),
        (json!({"email": "a@b.example", "sms": true}), "sms"),
        (
            json!({"email": "a@b.example", "properties": {"x": {"deep": 1}}}),
            "properties",
        ),
        (json!({"name": "no contact"}), "email"),
        (json!({"phone_number": "+4520123456", "channel": "email"}), "email"),
        (
            json!({"email": "a@b.example", "last_sent_at": i64::MAX}),
            "last_sent_at",
        ),
        (
            json!({"email": "a@b.example", "last_sent_at": i64::MIN}),
            "last_sent_at",
        ),
    ] {
        let r = s
            .call(1, "POST", "/v1/people", Auth::Basic(&b), Some(body.clone()))
            .await;
        assert_eq!(
            (r.status, r.body["field"].as_str()),
            (422, Some(field)),
            "{body}: {r:?}"
        );
    }
    let sms = s
        .call(
            1,
            "POST",
            "/v1/people",
            Auth::Basic(&b),
            Some(json!({"phone_number": "+45 20 12 34 56"})),
        )
        .await;
    assert_eq!(sms.str("phone_number"), "+4520123456", "{sms:?}");
    // Listing pages with an absolute Link, as Delighted's client follows it.
    let first = s.call(1, "GET", "/v1/people?per_page=1", Auth::Basic(&b), None).await;
    assert_eq!(first.body.as_array().unwrap().len(), 1);
    let next = first.header("link").unwrap().to_owned();
    assert!(next.starts_with(&format!("<{}/v1/people?", s.url)), "{next}");
    let url = next.trim_start_matches('<').split('>').next().unwrap();
    let second = s.call(1, "GET", &path_of(url), Auth::Basic(&b), None).await;
    assert_eq!(second.body[0]["phone_number"], "+4520123456", "{second:?}");
    let by_email = s
        .call(
            1,
            "GET",
            "/v1/people.json?email=JONY@appleseed.example",
            Auth::Basic(&b),
            None,
        )
        .await;
    assert_eq!(by_email.body[0]["id"], id.as_str());
    // A response through the API; created_at in the future is refused.
    let response = s
        .call(
            1,
            "POST",
            "/v1/survey_responses.json",
            Auth::Basic(&b),
            Some(json!({"person": id, "score": 3, "comment": "Too slow"})),
        )
        .await;
    assert_eq!(response.status, 201, "{response:?}");
    assert_eq!(response.body["survey_type"], "nps");
    let rid = response.str("id");
    for (body, field) in [
        (json!({"person": id, "score": 11}), "score"),
        (json!({"person": id, "score": "x"}), "score"),
        (
            json!({"person": id, "score": 5, "created_at": 99_999_999_999i64}),
            "created_at",
        ),
        (json!({"score": 5}), "person"),
        (json!({"person": "01J0000000000000000000000", "score": 5}), "person"),
        (
            json!({"person": id, "score": 5, "comment": "x".repeat(5001)}),
            "comment",
        ),
    ] {
        let r = s
            .call(1, "POST", "/v1/survey_responses", Auth::Basic(&b), Some(body.clone()))
            .await;
        assert_eq!(
            (r.status, r.body["field"].as_str()),
            (422, Some(field)),
            "{body}: {r:?}"
        );
    }
    // Notes and tags by PUT, the way the client's save() sends the whole object back.
    let mut whole = s
        .call(
            1,
            "GET",
            &format!("/v1/survey_responses/{rid}.json?expand[]=person"),
            Auth::Basic(&b),
            None,
        )
        .await
        .body;
    assert_eq!(whole["person"]["email"], "jony@appleseed.example");
    // Delighted's array form: both expansions at once, on the list too.
    let listed = s
        .call(
            1,
            "GET",
            "/v1/survey_responses.json?expand[]=person&expand[]=notes",
            Auth::Basic(&b),
            None,
        )
        .await;
    assert_eq!(listed.status, 200, "{listed:?}");
    assert_eq!(listed.body[0]["person"]["email"], "jony@appleseed.example");
    whole["notes"] = json!(["Called back"]);
    whole["tags"] = json!(["vip", "vip"]);
    let put = s
        .call(
            1,
            "PUT",
            &format!("/v1/survey_responses/{rid}"),
            Auth::Basic(&b),
            Some(whole),
        )
        .await;
    assert_eq!(put.status, 200, "{put:?}");
    assert_eq!(put.body["notes"][0]["text"], "Called back");
    assert_eq!(put.body["tags"], json!(["vip"]));
    assert!(put.body["updated_at"].as_i64() >= response.body["updated_at"].as_i64());
    let unknown = s
        .call(
            1,
            "PUT",
            &format!("/v1/survey_responses/{rid}"),
            Auth::Basic(&b),
            Some(json!({"rating": 1})),
        )
        .await;
    assert_eq!(unknown.status, 422);
    // The Node client's `save()`: PUT to the collection, the id in the body.
    let mut saved = put.body.clone();
    saved["tags"] = json!(["vip", "saved"]);
    let put = s
        .call(1, "PUT", "/v1/survey_responses", Auth::Basic(&b), Some(saved))
        .await;
    assert_eq!(
        (put.status, put.body["tags"].clone()),
        (200, json!(["vip", "saved"])),
        "{put:?}"
    );
    let nameless = s
        .call(
            1,
            "PUT",
            "/v1/survey_responses",
            Auth::Basic(&b),
            Some(json!({"score": 3})),
        )
        .await;
    assert_eq!(
        (nameless.status, nameless.str("field").as_str()),
        (422, "id"),
        "{nameless:?}"
    );
    // `phone_number` where `person_phone_number` is meant, as the client's README writes it.
    let member = s
        .call(
            1,
            "POST",
            "/v1/autopilot/sms/memberships",
            Auth::Basic(&b),
            Some(json!({"phone_number": "+4520123499"})),
        )
        .await;
    assert_eq!(
        (member.status, member.body["person"]["phone_number"].clone()),
        (200, json!("+4520123499")),
        "{member:?}"
    );
    // Lists: filters, order, Delighted's page numbers, read keys read.
    let (read_key, _) = s.api_key(&owner, "read").await;
    let list = s
        .call(
            1,
            "GET",
            "/v1/survey_responses?order=desc&per_page=5&page=1",
            Auth::Basic(&basic(&read_key)),
            None,
        )
        .await;
    assert_eq!(list.status, 200, "{list:?}");
    assert_eq!(list.body[0]["comment"], "Too slow");
    let empty = s
        .call(1, "GET", "/v1/survey_responses?page=2", Auth::Basic(&b), None)
        .await;
    assert_eq!(empty.body, json!([]));
    let too_deep = s
        .call(1, "GET", "/v1/survey_responses?page=501", Auth::Basic(&b), None)
        .await;
    assert_eq!(too_deep.status, 422);
    let bad_order = s
        .call(1, "GET", "/v1/survey_responses?order=sideways", Auth::Basic(&b), None)
        .await;
    assert_eq!(bad_order.body["field"], "order");
    let read_write = s
        .call(
            1,
            "POST",
            "/v1/people",
            Auth::Basic(&basic(&read_key)),
            Some(json!({"email": "x@y.example"})),
        )
        .await;
    assert_eq!(read_write.status, 403, "a read key cannot write");
    // Cancel pending surveys, then delete the person: their responses lose personal fields.
    let cancel = s
        .call(
            1,
            "DELETE",
            "/v1/people/jony%40appleseed.example/survey_requests/pending",
            Auth::Basic(&b),
            None,
        )
        .await;
    assert_eq!(
        (cancel.status, cancel.body["canceled"].as_i64()),
        (200, Some(1)),
        "{cancel:?}"
    );
    let deleted = s
        .call(
            1,
            "DELETE",
            "/v1/people/email%3Ajony%40appleseed.example",
            Auth::Basic(&b),
            None,
        )
        .await;
    assert_eq!(deleted.body, json!({"ok": true}), "{deleted:?}");
    // Their responses go with them, as Delighted deletes them.
    let after = s
        .call(1, "GET", &format!("/v1/survey_responses/{rid}"), Auth::Basic(&b), None)
        .await;
    assert_eq!(after.status, 404, "{after:?}");
    let gone = s
        .call(
            1,
            "GET",
            "/v1/people?email=jony@appleseed.example",
            Auth::Basic(&b),
            None,
        )
        .await;
    assert_eq!(gone.body, json!([]));
    let twice = s
        .call(
            1,
            "DELETE",
            "/v1/people/email%3Ajony%40appleseed.example",
            Auth::Basic(&b),
            None,
        )
        .await;
    assert_eq!(twice.status, 404);
    // Another tenant sees none of it.
    let other = s.tenant("bravo").await;
    let theirs = s.get(&format!("/v1/survey_responses/{rid}"), &other.token).await;
    assert_eq!(theirs.status, 404);
}

/// The default survey's id, once `patch` is applied to it.
async fn patched_default_survey(s: &Stack, token: &str, patch: Value) -> String {
    let survey = s.get("/v1/surveys", token).await.body[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let patched = s.send("PATCH", &format!("/v1/surveys/{survey}"), token, patch).await;
    assert_eq!(patched.status, 200, "{patched:?}");
    survey
}

/// The token of a person's new invitation (made through the API).
async fn invite(s: &Stack, token: &str, body: Value) -> (String, String) {
    let person = s.send("POST", "/v1/people", token, body).await;
    assert_eq!(person.status, 200, "{person:?}");
    (person.str("id"), path_of(&person.str("survey_url")))
}

async fn respondent_pages(e: Engines) {
    let s = stack(e).await;
    let owner = s.tenant("acme").await;
    // The default survey, asked to offer Danish only beside English.
    let survey = patched_default_survey(&s, &owner.token, json!({"languages": ["en", "da"]})).await;
    let (_, link) = invite(
        &s,
        &owner.token,
        json!({"email": "ann@example.com", "properties": {"locale": "da-DK", "product_name": "Widget"}}),
    )
    .await;
    // A GET (a link scanner's) renders the score chosen and records nothing.
    let shown = page(&s, "GET", &format!("{link}?score=9"), None).await;
    assert_eq!(shown.status, 200, "{shown:?}");
    assert!(shown.text.contains("anbefale Widget"), "Danish, product filled in");
    assert!(shown.text.contains(r#"value="9" checked"#));
    assert!(shown.text.len() < 30_000, "{} bytes", shown.text.len());
    assert!(
        shown.text.contains(r#"<form id="answer" method="post">"#),
        "posts to its own address, under an API stage too"
    );
    let csp = shown.header("content-security-policy").unwrap().to_owned();
    let nonce = csp.split("'nonce-").nth(1).unwrap().split('\'').next().unwrap();
    assert!(
        shown.text.contains(&format!(r#"<script nonce="{nonce}">"#)),
        "the auto-submit is nonce'd"
    );
    assert!(
        !csp.contains("unsafe-inline") && csp.contains("form-action 'self'"),
        "{csp}"
    );
    assert_eq!(s.get("/v1/survey_responses", &owner.token).await.body, json!([]));
    // The script's POST records; the page comes back saved, the score kept.
    let auto = page(&s, "POST", &link, Some("auto=1&score=9&comment=")).await;
    assert_eq!(auto.status, 303, "{auto:?}");
    assert_eq!(
        leads_to(&link, auto.header("location").unwrap()),
        format!("{link}?saved=1")
    );
    let saved = page(&s, "GET", &format!("{link}?saved=1"), None).await;
    assert!(saved.text.contains("Din score er gemt"), "{}", saved.text);
    assert!(
        !saved.text.contains("<script"),
        "an answered invitation is not sent again"
    );
    // A comment with markup: stored as text, escaped on the page.
    let comment = "<script>alert(1)</script> & \"quotes\"";
    let form = format!("score=9&comment={}", ovation::http::extract::encode_component(comment));
    let thanks = page(&s, "POST", &link, Some(&form)).await;
    assert_eq!(thanks.status, 200);
    assert!(thanks.text.contains("Tak!"), "{}", thanks.text);
    let listed = s.get("/v1/survey_responses", &owner.token).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1, "one response per invitation");
    assert_eq!(listed.body[0]["comment"], comment);
    assert_eq!(listed.body[0]["score"], 9);
    let reopened = page(&s, "GET", &link, None).await;
    assert!(
        reopened.text.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;")
            || reopened.text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{}",
        reopened.text
    );
    assert!(!reopened.text.contains("<script>alert"));
    // Bad input on the page: a clear page, nothing changed.
    let bad = page(&s, "POST", &link, Some("score=11")).await;
    assert_eq!(bad.status, 422);
    let long = format!("score=5&comment={}", "x".repeat(5001));
    assert_eq!(page(&s, "POST", &link, Some(&long)).await.status, 422);
    assert_eq!(s.get("/v1/survey_responses", &owner.token).await.body[0]["score"], 9);
    // Forged, altered and foreign tokens.
    let token = link.trim_start_matches("/r/").to_owned();
    let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&token).unwrap();
    bytes[60] ^= 1;
    let altered = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes);
    let other = s.get("/v1/me", &s.tenant("bravo").await.token).await.str("tenant_id");
    let mut moved = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&token).unwrap();
    moved[1..17].copy_from_slice(&ulid::Ulid::from_string(&other).unwrap().0.to_be_bytes());
    let moved = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&moved);
    let not_text = page(&s, "GET", "/r/%FF%FE", None).await;
    assert_eq!(
        (not_text.status, not_text.header("content-type")),
        (404, Some("text/html; charset=utf-8")),
        "{not_text:?}"
    );
    for forged in [altered, moved, "AAAA".into(), "x".repeat(300)] {
        for method in ["GET", "POST"] {
            let r = page(&s, method, &format!("/r/{forged}"), Some("score=1")).await;
            assert_eq!(r.status, 404, "{method} {forged}");
            assert!(r.text.contains("This link is not valid"));
        }
    }
    // Two first answers at once make one response.
    let (person, fresh) = invite(
        &s,
        &owner.token,
        json!({"email": "bo@example.com", "properties": {"locale": "da"}}),
    )
    .await;
    let (a, b) = tokio::join!(
        page(&s, "POST", &fresh, Some("score=7&auto=1")),
        page(&s, "POST", &fresh, Some("score=8&auto=1"))
    );
    assert_eq!((a.status, b.status), (303, 303));
    let theirs = s
        .get(&format!("/v1/survey_responses?person_id={person}"), &owner.token)
        .await;
    assert_eq!(theirs.body.as_array().unwrap().len(), 1, "{theirs:?}");
    // An expired link says so in the person's language, whatever the browser prefers.
    let (_, old) = invite(
        &s,
        &owner.token,
        json!({"email": "dora@example.com", "properties": {"locale": "da"}}),
    )
    .await;
    let (link, _) = Link::claimed(old.trim_start_matches("/r/")).unwrap();
    let store = s.ctx.tenant_store(&link.tenant);
    let key = ovation::store::keys::invitation(&link.tenant, &link.survey, &link.subject).unwrap();
    let long_ago = ovation::store::now_unix() - 400 * 86_400;
    let updates = ["due_at", "created_at"].map(|n| ovation::store::Update::Set(n.into(), long_ago.into()));
    store.update(&key, &updates, None).await.unwrap();
    let expired = in_english(&s, &old).await;
    assert_eq!(expired.status, 410);
    assert!(
        expired.text.contains(r#"lang="da""#) && expired.text.contains("Dette link er udløbet."),
        "{}",
        expired.text
    );
    // A closed survey shows a clear page, in the person's language too.
    s.send(
        "PATCH",
        &format!("/v1/surveys/{survey}"),
        &owner.token,
        json!({"status": "closed"}),
    )
    .await;
    let closed = in_english(&s, &fresh).await;
    assert_eq!(closed.status, 410);
    assert!(
        closed.text.contains(r#"lang="da""#) && closed.text.contains("Denne undersøgelse er lukket."),
        "{}",
        closed.text
    );
}

/// A respondent page asked for by an English browser.
async fn in_english(s: &Stack, path: &str) -> Answer {
    let response = reqwest::Client::new()
        .get(format!("{}{path}", s.url))
        .header("accept-language", "en-GB,en;q=0.9")
        .send()
        .await
        .unwrap();
    Answer::read(response).await
}

async fn surveys_and_the_web_link(e: Engines) {
    let s = stack(e).await;
    let owner = s.tenant("acme").await;
    let created = s
        .send(
            "POST",
            "/v1/surveys",
            &owner.token,
            json!({
                "name": "Onboarding",
                "languages": ["en", "de"],
                "texts": {"de": {"question": "Würden Sie {{ product_name }} empfehlen?"}},
                "brand_color": "#FFD700",
                "questions": [
                    {"id": "csat", "kind": "csat", "text": {"en": "How satisfied are you?", "de": "Wie zufrieden sind Sie?"}},
                    {"id": "plan", "kind": "single", "text": {"en": "Your plan?", "de": "Ihr Tarif?"},
                     "choices": [{"en": "Free", "de": "Gratis"}, {"en": "Pro", "de": "Pro"}]}
                ]
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    let id = created.str("id");
    for (body, field) in [
        (
            json!({"name": "x", "logo_url": "http://insecure.example/logo.png"}),
            "logo_url",
        ),
        (json!({"name": "x", "brand_color": "gold"}), "brand_color"),
        (json!({"name": "x", "throttle_days": 9999}), "throttle_days"),
        (json!({"name": "x", "close_at": i64::MIN}), "close_at"),
        (json!({"name": ""}), "name"),
        (json!({"name": "x", "colour": "#000000"}), "colour"),
        // A placeholder typo is refused when saved, not sent as a gap.
        (
            json!({"name": "x", "texts": {"en": {"question": "Recommend {{ prodcut_name }}?"}}}),
            "texts.question",
        ),
        (
            json!({"name": "x", "texts": {"en": {"thanks": "Thanks {{ properties.first_name"}}}),
            "texts.thanks",
        ),
    ] {
        let r = s.send("POST", "/v1/surveys", &owner.token, body.clone()).await;
        assert_eq!(
            (r.status, r.body["field"].as_str()),
            (422, Some(field)),
            "{body}: {r:?}"
        );
    }
    let list = s.get("/v1/surveys", &owner.token).await;
    assert_eq!(
        list.body.as_array().unwrap().len(),
        2,
        "the default survey and this one"
    );
    let default = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["is_default"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let archive_default = s
        .call(
            1,
            "DELETE",
            &format!("/v1/surveys/{default}"),
            Auth::Bearer(&owner.token),
            None,
        )
        .await;
    assert_eq!(archive_default.status, 422);
    // The web link: German for a German browser, a gold brand with dark text.
    let link = path_of(&created.str("web_link"));
    let shown = reqwest::Client::new()
        .get(format!("{}{link}", s.url))
        .header("accept-language", "de-DE,de;q=0.9")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(shown.contains("Würden Sie acme empfehlen?"), "{shown}");
    assert!(shown.contains("color:#1f2328"), "dark text on a light brand colour");
    let answered = page(&s, "POST", &link, Some("score=10&q_csat=5&q_plan=1&comment=Great")).await;
    assert_eq!(answered.status, 200, "{answered:?}");
    let own = answered
        .text
        .split("href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&#x2f;", "/");
    let own = leads_to(&link, &own);
    assert!(own.starts_with("/r/"), "the visitor can change their answer: {own}");
    let listed = s
        .get(&format!("/v1/survey_responses?survey_id={id}"), &owner.token)
        .await;
    let r = &listed.body[0];
    assert_eq!(
        (r["score"].clone(), r["channel"].clone()),
        (json!(10), json!("web")),
        "{listed:?}"
    );
    assert_eq!(r["additional_answers"][0]["value"], json!({"scale": 5}));
    assert_eq!(r["additional_answers"][1]["value"]["select_one"]["text"], "Pro");
    assert_eq!(page(&s, "POST", &link, Some("score=10&q_csat=9")).await.status, 422);
    // Closing the survey closes its link; archiving leaves the list.
    s.send(
        "PATCH",
        &format!("/v1/surveys/{id}"),
        &owner.token,
        json!({"status": "closed"}),
    )
    .await;
    assert_eq!(page(&s, "GET", &link, None).await.status, 410);
    assert_eq!(page(&s, "POST", &link, Some("score=1")).await.status, 410);
    let archived = s
        .call(
            1,
            "DELETE",
            &format!("/v1/surveys/{id}"),
            Auth::Bearer(&owner.token),
            None,
        )
        .await;
    assert_eq!(archived.status, 204);
    assert_eq!(
        s.get("/v1/surveys", &owner.token).await.body.as_array().unwrap().len(),
        1
    );
    assert_eq!(
        s.get("/v1/surveys?archived=true", &owner.token)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

async fn csv_imports(e: Engines) {
    let s = stack(e).await;
    let owner = s.tenant("acme").await;
    let (key, _) = s.api_key(&owner, "write").await;
    let csv = "\u{feff}E-mail,Full Name,Plan,Mobile\n\
               ann@example.com,\"Ann, the first\",pro,+4520123456\n\
               bad-email,Bo,free,\n\
               cy@example.com,=HYPERLINK(\"http://evil\"),free,\n\
               dee@example.com,Dee,\"multi\nline\",\n\
               eve@example.com,Eve\n\
               ANN@example.com,Ann Again,team,\n\
               ,No Contact,free,\n";
    let first = raw(&s, "POST", "/v1/people/imports", &key, "text/csv", csv).await;
    assert_eq!(first.status, 201, "{first:?}");
    let b = &first.body;
    assert_eq!((b["rows"].as_i64(), b["failed"].as_i64()), (Some(7), Some(4)), "{b}");
    assert_eq!(
        b["created"].as_i64().unwrap() + b["updated"].as_i64().unwrap(),
        3,
        "{b}"
    );
    let fields: Vec<(i64, &str)> = b["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["row"].as_i64().unwrap(), e["field"].as_str().unwrap()))
        .collect();
    assert_eq!(fields, [(3, "email"), (4, "name"), (6, "row"), (8, "email")]);
    let report = s
        .call(
            1,
            "GET",
            &format!("/v1/people/imports/{}/errors", first.str("id")),
            Auth::Bearer(&key),
            None,
        )
        .await;
    assert_eq!(report.header("content-type"), Some("text/csv; charset=utf-8"));
    assert!(report.text.starts_with("row,field,reason\n3,email,"), "{}", report.text);
    assert!(
        !report.text.contains("bad-email") && !report.text.contains("HYPERLINK"),
        "no values in the report"
    );
    let ann = s.get("/v1/people?email=ann@example.com", &owner.token).await;
    assert_eq!(
        ann.body[0]["name"], "Ann Again",
        "the later row updates the same person"
    );
    assert_eq!(ann.body[0]["phone_number"], "+4520123456");
    assert_eq!(ann.body[0]["properties"]["Plan"], "team");
    // A re-run makes no duplicates and ends where the first run ended: Bob is unchanged; Ann's
    // two rows are applied again in file order (the first renames her, the second names her back).
    let again = raw(&s, "POST", "/v1/people/imports", &key, "text/csv", csv).await;
    assert_eq!(
        (
            again.body["created"].as_i64(),
            again.body["updated"].as_i64(),
            again.body["unchanged"].as_i64()
        ),
        (Some(0), Some(2), Some(1)),
        "{again:?}"
    );
    let ann = s.get("/v1/people?email=ann@example.com", &owner.token).await;
    assert_eq!(ann.body[0]["name"], "Ann Again");
    // Whole-file refusals: UTF-16, no contact column, a mapping to nowhere.
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain("email\n".bytes().flat_map(|c| [c, 0]))
        .collect();
    let r = raw(
        &s,
        "POST",
        "/v1/people/imports",
        &key,
        "text/csv",
        &String::from_utf8_lossy(&utf16),
    )
    .await;
    assert_eq!(r.status, 422, "{r:?}");
    let r = raw(
        &s,
        "POST",
        "/v1/people/imports",
        &key,
        "text/csv",
        "name,plan\nAnn,pro\n",
    )
    .await;
    assert_eq!((r.status, r.body["field"].as_str()), (422, Some("file")));
    let mapped = raw(
        &s,
        "POST",
        "/v1/people/imports?map=Kontakt:email,Navn:name",
        &key,
        "text/csv",
        "Kontakt,Navn\nfi@example.com,Fi\n",
    )
    .await;
    assert_eq!(mapped.body["created"], 1, "{mapped:?}");
    let r = raw(
        &s,
        "POST",
        "/v1/people/imports?map=Kontakt:nowhere",
        &key,
        "text/csv",
        "Kontakt\nx@y.z\n",
    )
    .await;
    assert_eq!(r.body["field"], "map");
}

async fn unsubscribe_and_privacy(e: Engines) {
    let s = stack(e).await;
    let owner = s.tenant("acme").await;
    let tenant: TenantId = s.get("/v1/me", &owner.token).await.str("tenant_id").parse().unwrap();
    // Hashed email only, and respondents' addresses kept.
    let settings = s
        .send(
            "PATCH",
            "/v1/tenant",
            &owner.token,
            json!({"privacy": {"store_respondent_ip": true, "store_email_hash_only": true}}),
        )
        .await;
    assert_eq!(settings.status, 200, "{settings:?}");
    s.ctx.tenants.forget(&tenant);
    let (person, link) = invite(
        &s,
        &owner.token,
        json!({"email": "hidden@example.com", "name": "Hidden"}),
    )
    .await;
    let listed = s.get("/v1/people", &owner.token).await;
    assert_eq!(listed.body[0]["email"], Value::Null, "only the blind index is kept");
    let found = s.get("/v1/people?email=hidden@example.com", &owner.token).await;
    assert_eq!(found.body[0]["id"], person.as_str(), "lookups still work");
    let store = s.ctx.tenant_store(&tenant);
    let item = store
        .get(&ovation::store::keys::person(&tenant, &person).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(item.get("email").is_none());
    assert!(
        matches!(item.get("name"), Some(ovation::store::Value::B(_))),
        "the name is encrypted"
    );
    assert_eq!(page(&s, "POST", &link, Some("score=6")).await.status, 200);
    let response = s.get("/v1/survey_responses", &owner.token).await.body[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let item = store
        .get(&ovation::store::keys::response(&tenant, &response).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(item.get("ip"), Some(ovation::store::Value::B(_))),
        "kept, encrypted"
    );
    // One-click unsubscribe (RFC 8058): a POST of `List-Unsubscribe=One-Click`.
    let survey = s.get("/v1/surveys", &owner.token).await.body[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = Link {
        kind: LinkKind::Unsubscribe,
        tenant: tenant.clone(),
        survey,
        subject: person.clone(),
    }
    .token(store.crypto())
    .await
    .unwrap();
    let shown = page(&s, "GET", &format!("/u/{token}"), None).await;
    assert!(
        shown.text.contains("Stop receiving surveys from acme?"),
        "{}",
        shown.text
    );
    let done = page(&s, "POST", &format!("/u/{token}"), Some("List-Unsubscribe=One-Click")).await;
    assert_eq!(done.status, 200);
    let unsubscribed = person::load(&store, &person).await.unwrap().unwrap();
    assert!(unsubscribed.unsubscribed_at.is_some());
    assert_eq!(page(&s, "POST", &format!("/u/{token}x"), None).await.status, 404);
    // A survey link is no unsubscribe link.
    assert_eq!(page(&s, "GET", &link.replace("/r/", "/u/"), None).await.status, 404);
}

/// Ids in paths are parsed at the edge: text that cannot be an id answers 404 as an unknown id
/// does, a path segment that is not UTF-8 a 422 naming `id`; both in JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_ids_are_parsed_at_the_edge() {
    let s = stack(Engines::embedded()).await;
    let owner = s.tenant("path-ids").await;
    for path in [
        "/v1/surveys/nope",
        "/v1/survey_responses/12345",
        "/v1/webhooks/01H%23X",
        "/v1/people/imports/x",
        "/v1/exports/x",
        "/v1/users/not-an-id",
    ] {
        let answer = s.get(path, &owner.token).await;
        assert_eq!(
            (answer.status, answer.code()),
            (404, "not_found"),
            "{path}: {}",
            answer.text
        );
    }
    let survey = s.get("/v1/surveys", &owner.token).await.body[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let with_suffix = s
        .get(&format!("/v1/surveys/{}.json", survey.to_lowercase()), &owner.token)
        .await;
    assert_eq!(with_suffix.str("id"), survey, "Delighted's .json suffix, any case");
    let answer = s.get("/v1/surveys/%FF", &owner.token).await;
    assert_eq!(answer.status, 422, "{}", answer.text);
    assert_eq!(answer.str("field"), "id");
}

/// The workspace narrows the languages its new surveys offer (the default survey too): a person
/// whose locale is left out is asked in the survey's default language.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workspace_narrows_the_languages_of_new_surveys() {
    let s = stack(Engines::embedded()).await;
    let owner = s.tenant("nordic").await;
    for (languages, field) in [(json!([]), "languages"), (json!(["da", "xx"]), "languages")] {
        let refused = s
            .send("PATCH", "/v1/tenant", &owner.token, json!({ "languages": languages }))
            .await;
        assert_eq!(refused.status, 422, "{refused:?}");
        assert!(
            refused.body["field"].as_str().unwrap_or_default().starts_with(field),
            "{refused:?}"
        );
    }
    let narrowed = s
        .send(
            "PATCH",
            "/v1/tenant",
            &owner.token,
            json!({"languages": ["sv", "da", "sv"]}),
        )
        .await;
    assert_eq!(narrowed.status, 200, "{narrowed:?}");
    assert_eq!(
        narrowed.body["settings"]["languages"],
        json!(["da", "sv"]),
        "{narrowed:?}"
    );
    let listed = s.get("/v1/surveys", &owner.token).await;
    assert_eq!(
        (&listed.body[0]["languages"], &listed.body[0]["default_language"]),
        (&json!(["da", "sv"]), &json!("da")),
        "the default survey, made after: {listed:?}"
    );
    let created = s
        .send("POST", "/v1/surveys", &owner.token, json!({"name": "Support"}))
        .await;
    assert_eq!(created.body["languages"], json!(["da", "sv"]), "{created:?}");
    let (_, german) = invite(
        &s,
        &owner.token,
        json!({"email": "de@example.com", "properties": {"locale": "de"}}),
    )
    .await;
    let (_, swedish) = invite(
        &s,
        &owner.token,
        json!({"email": "sv@example.com", "properties": {"locale": "sv-SE"}}),
    )
    .await;
    assert!(page(&s, "GET", &german, None).await.text.contains(r#"lang="da""#));
    assert!(page(&s, "GET", &swedish, None).await.text.contains(r#"lang="sv""#));
    // A survey may still offer more of its own.
    let widened = s
        .send(
            "PATCH",
            &format!("/v1/surveys/{}", created.str("id")),
            &owner.token,
            json!({"languages": ["da", "sv", "de"]}),
        )
        .await;
    assert_eq!(widened.body["languages"], json!(["da", "de", "sv"]), "{widened:?}");
}
/// What a respondent meets when answering as people do: an unanswered text question starts empty
/// (never "None", which the one-click post would save), every survey text is filled (choices,
/// the thank-you heading), another score clicked in the email changes the answer through the
/// page's script and says so without script, a link's score that is no score is named, control
/// characters leave comments, and a field for no question is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn respondents_answer_as_people_do() {
    let s = stack(Engines::embedded()).await;
    let owner = s.tenant("people").await;
    let survey = patched_default_survey(
        &s,
        &owner.token,
        json!({
            "texts": {
                "en": {"thanks": "Thanks, {{ sender }} reads every answer."},
                "de": {"thanks": "Danke, {{ sender }} liest jede Antwort."}
            },
            "questions": [
                {"id": "why", "kind": "text", "text": {"en": "Anything else?", "de": "Sonst noch etwas?"}},
                {"id": "plan", "kind": "single", "text": {"en": "Your plan?", "de": "Ihr Tarif?"},
                 "choices": [
                    {"en": "{{ product_name }} Free", "de": "{{ product_name }} Gratis"},
                    {"en": "{{ product_name }} Pro for {{ properties.plan }}", "de": "{{ product_name }} Pro für {{ properties.plan }}"}
                 ]}
            ]
        }),
    )
    .await;
    let typo = s
        .send(
            "PATCH",
            &format!("/v1/surveys/{survey}"),
            &owner.token,
            json!({"questions": [{"id": "x", "kind": "text", "text": {"en": "{{ prodcut }}?"}}]}),
        )
        .await;
    assert_eq!(
        (typo.status, typo.body["field"].as_str()),
        (422, Some("questions.text")),
        "{typo:?}"
    );
    let (person, link) = invite(
        &s,
        &owner.token,
        json!({"email": "cat@example.com", "properties": {"product_name": "Widget", "plan": "teams"}}),
    )
    .await;

    // The first click: the text question is empty, the choices filled.
    let first = page(&s, "GET", &format!("{link}?score=6"), None).await;
    assert!(
        first
            .text
            .contains(r#"<textarea name="q_why" aria-labelledby="q-why" maxlength="5000"></textarea>"#),
        "{}",
        first.text
    );
    assert!(!first.text.contains(">none<") && !first.text.contains(">None<"));
    assert!(
        first.text.contains("Widget Pro for teams") && !first.text.contains("{{"),
        "{}",
        first.text
    );
    assert!(first.text.contains("<noscript>") && first.text.contains("Nothing is recorded until you press Send."));
    // The page's script posts the form as it stands.
    let posted = page(&s, "POST", &link, Some("auto=1&score=6&comment=&q_why=")).await;
    assert_eq!(posted.status, 303, "{posted:?}");
    let theirs = format!("/v1/survey_responses?person_id={person}");
    let stored = s.get(&theirs, &owner.token).await;
    assert_eq!(stored.body[0]["score"], 6, "{stored:?}");
    assert_eq!(
        stored.body[0]["additional_answers"],
        json!([]),
        "nothing typed, nothing kept"
    );

    // Another score clicked in the email: sent by the script, said without it.
    let again = page(&s, "GET", &format!("{link}?score=3"), None).await;
    assert!(again.text.contains(r#"value="3" checked"#));
    assert!(
        again.text.contains("<script nonce="),
        "the new score is sent by the page's script"
    );
    assert!(
        again
            .text
            .contains("Your new score is saved only when you press Send. Your saved score is 6."),
        "{}",
        again.text
    );
    assert_eq!(
        s.get(&theirs, &owner.token).await.body[0]["score"],
        6,
        "the GET changed nothing"
    );
    assert_eq!(
        page(&s, "POST", &link, Some("auto=1&score=3&comment=")).await.status,
        303
    );
    assert_eq!(s.get(&theirs, &owner.token).await.body[0]["score"], 3);
    // The same score again: nothing to send.
    let same = page(&s, "GET", &format!("{link}?score=3"), None).await;
    assert!(!same.text.contains("<script") && !same.text.contains("<noscript>"));

    // A link's score that is no score is named; a field for no question is refused.
    let eleven = page(&s, "GET", &format!("{link}?score=11"), None).await;
    assert!(
        eleven.text.contains("The score in this link is not valid."),
        "{}",
        eleven.text
    );
    let unknown = page(&s, "POST", &link, Some("score=5&q_nope=1")).await;
    assert_eq!(unknown.status, 422, "{unknown:?}");
    assert_eq!(s.get(&theirs, &owner.token).await.body[0]["score"], 3);

    // Sent with the button: the thank-you heading filled; control characters gone.
    let form = format!(
        "score=9&comment={}&q_why={}",
        ovation::http::extract::encode_component("fast\u{1b}[31m\r\nreally"),
        ovation::http::extract::encode_component("\u{7}ok")
    );
    let thanks = page(&s, "POST", &link, Some(&form)).await;
    assert_eq!(thanks.status, 200, "{thanks:?}");
    assert!(
        thanks.text.contains("Thanks, people reads every answer."),
        "{}",
        thanks.text
    );
    let stored = s.get(&theirs, &owner.token).await;
    assert_eq!(stored.body[0]["comment"], "fast[31m\nreally");
    assert_eq!(
        stored.body[0]["additional_answers"][0]["value"],
        json!({"free_response": "ok"})
    );
    // Once the person wrote more, another score from the email waits for Send (shown, not sent),
    // and a script's post changes nothing.
    let later = page(&s, "GET", &format!("{link}?score=2"), None).await;
    assert!(
        !later.text.contains("<script") && !later.text.contains("<noscript>"),
        "{}",
        later.text
    );
    assert!(later.text.contains("Your new score is saved only when you press Send."));
    let scripted = page(&s, "POST", &link, Some("auto=1&score=2&comment=old")).await;
    assert_eq!(
        (scripted.status, scripted.header("location").map(|l| leads_to(&link, l))),
        (303, Some(format!("{link}?score=2"))),
        "{scripted:?}"
    );
    let stored = s.get(&theirs, &owner.token).await;
    assert_eq!(
        (&stored.body[0]["score"], &stored.body[0]["comment"]),
        (&json!(9), &json!("fast[31m\nreally"))
    );

    // A person's locale picks the language of every page: the default survey speaks all eight.
    let (german, link) = invite(
        &s,
        &owner.token,
        json!({"email": "dora@example.com", "properties": {"locale": "de-AT"}}),
    )
    .await;
    let shown = page(&s, "GET", &link, None).await;
    assert!(shown.text.contains(r#"<html lang="de">"#), "{}", shown.text);
    assert!(shown.text.contains("Wie wahrscheinlich"), "{}", shown.text);
    let no_score = page(&s, "POST", &link, Some("score=&comment=")).await;
    assert_eq!(no_score.status, 422, "{no_score:?}");
    assert!(
        no_score.text.contains("Wählen Sie einen Wert von 0 bis 10"),
        "{}",
        no_score.text
    );
    let tenant: TenantId = s.get("/v1/me", &owner.token).await.str("tenant_id").parse().unwrap();
    let unsubscribe = Link {
        kind: LinkKind::Unsubscribe,
        tenant: tenant.clone(),
        survey: survey.clone(),
        subject: german,
    }
    .token(s.ctx.tenant_store(&tenant).crypto())
    .await
    .unwrap();
    let asked = page(&s, "GET", &format!("/u/{unsubscribe}"), None).await;
    assert!(asked.text.contains(r#"<html lang="de">"#), "{}", asked.text);

    // A link that is not valid, in the browser's language.
    let invalid = reqwest::Client::new()
        .get(format!("{}/r/AAAA", s.url))
        .header("accept-language", "de-DE,de;q=0.9,en;q=0.5")
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), 404);
    let text = invalid.text().await.unwrap();
    assert!(
        text.contains(r#"<html lang="de">"#) && text.contains("Dieser Link ist ungültig."),
        "{text}"
    );
}

/// Where partitions are limited, an import job writes at most `PACED_ROWS_A_SECOND` rows a second
/// (each new person's lookup is written in the workspace's own partition); every row is imported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_jobs_are_paced_where_partitions_are_limited() {
    use ovation::services::people::import_jobs::{self, ImportMessage};
    use ovation::services::people::imports::{Column, PACED_ROWS_A_SECOND};
    let s = stack(Engines::limited()).await;
    let owner = s.tenant("acme").await;
    let tenant: TenantId = s.get("/v1/me", &owner.token).await.str("tenant_id").parse().unwrap();
    let store = s.ctx.tenant_store(&tenant);
    let caller = owner.owner_of(&tenant);
    let rows = 600;
    let csv: String = std::iter::once("email\n".to_owned())
        .chain((0..rows).map(|i| format!("p{i}@example.com\n")))
        .collect();
    let id = import_jobs::upload(&store, &caller, csv.as_bytes()).await.unwrap();
    let id = id.parse().unwrap();
    import_jobs::start(&s.ctx, &store, &caller, &id, &[("email".into(), Column::Email)], None)
        .await
        .unwrap();
    let began = std::time::Instant::now();
    let message = ImportMessage {
        tenant: tenant.to_string(),
        import: id.to_string(),
    };
    import_jobs::run(&s.ctx, &message, 1).await.unwrap();
    let took = began.elapsed().as_secs_f64();
    // Chunks of 256: the third starts no sooner than 512 rows' worth of the pace.
    let least = 512.0 / PACED_ROWS_A_SECOND as f64;
    assert!(
        took >= least,
        "{rows} rows in {took:.2} s, under the pace's {least:.2} s"
    );
    let summary = import_jobs::get(&store, &id)
        .await
        .unwrap()
        .summary
        .expect("the import ended");
    assert_eq!((summary.rows, summary.created, summary.failed), (rows, rows, 0));
}
