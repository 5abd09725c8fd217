//! Webhooks on every engine: endpoints refuse URLs that reach inside (each kind of address, over
//! the API); a response created and changed and an unsubscribe emit their events, which the
//! scheduler queues and the webhook job delivers to a receiver on loopback that verifies the
//! signature (and refuses a tampered body); a failure is logged and retried; a day of failures
//! disables the endpoint with an audit event; a test event goes at once. The outbound client
//! refuses a name that resolves to loopback, follows no redirect, keeps 1 KB of an answer and
//! gives up on an endpoint that hangs.

use std::sync::{Arc, Mutex};

use aws_lc_rs::hmac;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use ovation::messaging::Queue;
use ovation::services::webhooks::delivery::WebhookDelivery;
use ovation::services::webhooks::{delivery, events};
use serde_json::{Value, json};

use crate::api::Stack;
use crate::support::{Engines, TestQueue};

on_every_engine!(events_are_signed_delivered_retried_and_disabled);

/// What the receiver saw: each request's signature check, event and answer.
#[derive(Default)]
pub(crate) struct Seen {
    /// (verified, the body as JSON, the signature header, the raw body)
    pub(crate) calls: Vec<(bool, Value, String, Vec<u8>)>,
    redirected_to: usize,
}

pub(crate) struct Receiver {
    pub(crate) secret: Mutex<String>,
    /// Answers 500 while true.
    failing: Mutex<bool>,
    pub(crate) seen: Mutex<Seen>,
}

/// Verifies `Ovation-Signature: t=…,v1=…` as an integrator would: HMAC-SHA-256 of `{t}.{body}`
/// under the secret, compared in constant time, within five minutes.
fn verified(secret: &str, header: &str, body: &[u8]) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = value.parse::<i64>().ok(),
            Some(("v1", value)) => v1 = Some(value.to_owned()),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else { return false };
    if (ovation::store::now_unix() - t).abs() > 300 {
        return false;
    }
    let Some(tag) = (0..v1.len() / 2)
        .map(|i| u8::from_str_radix(v1.get(2 * i..2 * i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()
    else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let mut signed = format!("{t}.").into_bytes();
    signed.extend_from_slice(body);
    hmac::verify(&key, &signed, &tag).is_ok()
}

/// A receiver on loopback (`/hook` verifies signatures with its secret, `/redirect`, `/big`).
pub(crate) async fn start_receiver() -> (String, Arc<Receiver>) {
    let receiver = Arc::new(Receiver {
        secret: Mutex::new(String::new()),
        failing: Mutex::new(false),
        seen: Mutex::new(Seen::default()),
    });
    let state = receiver.clone();
    let hook = move |headers: HeaderMap, body: Bytes| {
        let state = state.clone();
        async move {
            let header = headers
                .get(delivery::SIGNATURE_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let ok = verified(&state.secret.lock().unwrap(), &header, &body);
            let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
            state.seen.lock().unwrap().calls.push((ok, json, header, body.to_vec()));
            if !ok {
                return (StatusCode::UNAUTHORIZED, "bad signature").into_response();
            }
            if *state.failing.lock().unwrap() {
                return (StatusCode::INTERNAL_SERVER_ERROR, "down for maintenance").into_response();
            }
            (StatusCode::OK, "thanks").into_response()
        }
    };
    let target = receiver.clone();
    let app = axum::Router::new()
        .route("/hook", post(hook))
        .route(
            "/redirect",
            post(|| async { (StatusCode::FOUND, [("location", "/internal")]).into_response() }),
        )
        .route(
            "/internal",
            post(move || {
                let target = target.clone();
                async move {
                    target.seen.lock().unwrap().redirected_to += 1;
                    "internal"
                }
            }),
        )
        .route("/big", post(|| async { "x".repeat(1 << 20) }))
        .route(
            "/hang",
            post(|| async {
                tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                "late"
            }),
        )
        .route("/health", get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, receiver)
}

/// The messaging the scheduler runs with: its webhook queue is `queue` (nothing is sent: the
/// people are made without a survey).
fn messaging(queue: Arc<dyn Queue>, outbox: &std::path::Path) -> ovation::messaging::Messaging {
    let outbox = Arc::new(ovation::messaging::outbox::Outbox::open(outbox).unwrap());
    ovation::messaging::Messaging {
        queue: queue.clone(),
        mailer: outbox.clone(),
        sms: outbox,
        local_queue: None,
        webhooks: Some(queue),
        local_webhooks: None,
        rate: None,
    }
}

async fn events_are_signed_delivered_retried_and_disabled(e: Engines) {
    let aws = e.aws.clone();
    let outbox = e.dir.path().join("outbox");
    let s = Stack::start(e, |settings| {
        settings.public_url = Some("https://survey.example.test".into());
        settings.webhooks.allow_loopback = true;
    })
    .await;
    let hooks = TestQueue::new(
        s.ctx.store.clone(),
        aws.as_ref(),
        ovation::messaging::local_queue::WEBHOOKS,
    )
    .await;
    // The writes' own dispatch goes to this queue too.
    assert!(s.ctx.use_webhook_queue(hooks.port()));
    let messaging = messaging(hooks.port(), &outbox);
    let (base, receiver) = start_receiver().await;
    let owner = s.tenant("hooked").await;
    let (admin, _) = s.api_key(&owner, "admin").await;
    let (writer, _) = s.api_key(&owner, "write").await;

    // URLs that reach inside are refused, each naming the field.
    for (url, says) in [
        ("http://hooks.example.com/", "must be https"),
        ("https://169.254.169.254/latest/meta-data/", "link-local"),
        ("https://[fd00:ec2::254]/", "private"),
        ("https://10.0.0.8/hook", "private"),
        ("https://192.168.1.1/hook", "private"),
        ("https://[::ffff:169.254.169.254]/", "link-local"),
        ("https://[::]/", "reserved"),
        ("https://user:pw@hooks.example.com/", "password"),
        ("http://localhost:8080/hook", "127.0.0.1"),
        ("not a url", "not a URL"),
    ] {
        let refused = s.send("POST", "/v1/webhooks", &admin, json!({"url": url})).await;
        assert_eq!(
            (refused.status, refused.str("field")),
            (422, "url".into()),
            "{url}: {refused:?}"
        );
        assert!(refused.text.contains(says), "{url}: {refused:?}");
    }
    let refused = s
        .send(
            "POST",
            "/v1/webhooks",
            &admin,
            json!({"url": "https://hooks.example.com/", "events": ["nope"]}),
        )
        .await;
    assert_eq!(
        (refused.status, refused.str("field")),
        (422, "events".into()),
        "{refused:?}"
    );
    let forbidden = s
        .send(
            "POST",
            "/v1/webhooks",
            &writer,
            json!({"url": "https://hooks.example.com/"}),
        )
        .await;
    assert_eq!(forbidden.status, 403, "{forbidden:?}");

    // An endpoint: its secret is shown once.
    let created = s
        .send("POST", "/v1/webhooks", &admin, json!({"url": format!("{base}/hook")}))
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    let id = created.str("id");
    let secret = created.str("secret");
    assert!(secret.starts_with("whsec_") && secret.len() > 40, "{created:?}");
    assert_eq!(created.body["events"].as_array().unwrap().len(), 4);
    *receiver.secret.lock().unwrap() = secret.clone();
    let listed = s.get("/v1/webhooks", &admin).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1, "{listed:?}");
    assert!(!listed.text.contains(&secret), "{listed:?}");

    // A response created, then changed, and an unsubscribe: three events.
    let person = s
        .send(
            "POST",
            "/v1/people",
            &writer,
            json!({"email": "ann@example.com", "send": false}),
        )
        .await;
    let person_id = person.str("id");
    let response = s
        .send(
            "POST",
            "/v1/survey_responses",
            &writer,
            json!({"person": person_id, "score": 3, "comment": "=cmd|' /C calc'!A0"}),
        )
        .await;
    assert_eq!(response.status, 201, "{response:?}");
    let response_id = response.str("id");
    let changed = s
        .send(
            "PUT",
            &format!("/v1/survey_responses/{response_id}"),
            &writer,
            json!({"score": 9}),
        )
        .await;
    assert_eq!(changed.status, 200, "{changed:?}");
    let unsubscribed = s
        .send(
            "POST",
            "/v1/unsubscribes",
            &writer,
            json!({"person_email": "ann@example.com"}),
        )
        .await;
    assert_eq!(unsubscribed.status, 200, "{unsubscribed:?}");

    // The writes queued them at once (the scheduler finds them done with); the job delivers
    // them, signed.
    let taken = hooks.take().await;
    assert_eq!(taken.len(), 3, "{taken:?}");
    job_scheduler::handle(&s.ctx, &messaging).await.unwrap();
    assert!(hooks.take().await.is_empty());
    let event = ovation::jobs::sqs_event(&taken).unwrap();
    let answer = job_webhooks::handle(&s.ctx, event).await;
    assert!(answer.batch_item_failures.is_empty(), "{answer:?}");
    {
        let seen = receiver.seen.lock().unwrap();
        assert_eq!(seen.calls.len(), 3);
        assert!(seen.calls.iter().all(|c| c.0), "every signature verifies");
        let by_type = |kind: &str| seen.calls.iter().find(|c| c.1["event_type"] == kind).unwrap().1.clone();
        let created = by_type("survey_response.created");
        assert_eq!(created["event_data"]["id"], response_id.as_str());
        assert_eq!(
            created["event_data"]["score"], 3,
            "the body is the response as it was first sent"
        );
        assert_eq!(created["event_data"]["person"]["email"], "ann@example.com");
        assert_eq!(
            created["event_data"]["permalink"],
            format!("https://survey.example.test/responses/{response_id}")
        );
        assert!(created["event_id"].as_str().is_some_and(|i| i.len() == 26));
        assert_eq!(by_type("survey_response.updated")["event_data"]["score"], 9);
        let unsubscribe = by_type("unsubscribe.created");
        assert_eq!(unsubscribe["event_data"]["person_id"], person_id.as_str());
        assert!(unsubscribe["event_data"]["unsubscribed_at"].as_i64().is_some());
    }
    // A tampered body (or a replayed signature on another body) is refused by the receiver.
    let (header, body) = {
        let seen = receiver.seen.lock().unwrap();
        (seen.calls[0].2.clone(), seen.calls[0].3.clone())
    };
    let mut tampered = body.clone();
    tampered[10] ^= 1;
    let client = reqwest::Client::new();
    let refused = client
        .post(format!("{base}/hook"))
        .header(delivery::SIGNATURE_HEADER, &header)
        .body(tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    // Delivered events are not queued again.
    job_scheduler::handle(&s.ctx, &messaging).await.unwrap();
    assert!(hooks.take().await.is_empty());
    let log = s.get(&format!("/v1/webhooks/{id}/deliveries"), &admin).await;
    assert_eq!(log.status, 200, "{log:?}");
    let entries = log.body.as_array().unwrap();
    assert_eq!(entries.len(), 3, "{log:?}");
    assert!(
        entries
            .iter()
            .all(|e| e["status"] == "delivered" && e["http_status"] == 200 && e["attempts"] == 1)
    );
    assert_eq!(entries[0]["answer"], "thanks");

    // A failing endpoint: logged, retried after a backoff; after a day, disabled and audited.
    *receiver.failing.lock().unwrap() = true;
    let again = s
        .send(
            "PUT",
            &format!("/v1/survey_responses/{response_id}"),
            &writer,
            json!({"score": 10}),
        )
        .await;
    assert_eq!(again.status, 200, "{again:?}");
    job_scheduler::handle(&s.ctx, &messaging).await.unwrap();
    let taken = hooks.take().await;
    assert_eq!(taken.len(), 1, "{taken:?}");
    let delivery: WebhookDelivery = delivery::parse_delivery(&taken[0].body).unwrap();
    let outbound = s.ctx.outbound().unwrap();
    let now = ovation::store::now_unix();
    let calls = || receiver.seen.lock().unwrap().calls.len();
    let before = calls();
    delivery::deliver(&s.ctx, outbound, &delivery, now).await.unwrap();
    // The same message again (at least once) before the retry is due: no call.
    delivery::deliver(&s.ctx, outbound, &delivery, now + 29).await.unwrap();
    assert_eq!(calls(), before + 1);
    delivery::deliver(&s.ctx, outbound, &delivery, now + 30).await.unwrap();
    assert_eq!(calls(), before + 2);
    let log = s.get(&format!("/v1/webhooks/{id}/deliveries?per_page=1"), &admin).await;
    let entry = &log.body[0];
    assert_eq!(
        (
            entry["status"].as_str(),
            entry["attempts"].as_i64(),
            entry["http_status"].as_i64()
        ),
        (Some("failing"), Some(2), Some(500)),
        "{log:?}"
    );
    assert_eq!(entry["answer"], "down for maintenance");
    // The scheduler queues it again when its backoff (30 s, then 60 s) has passed, not before.
    delivery::dispatch_due(&s.ctx, hooks.port().as_ref(), now + 89)
        .await
        .unwrap();
    assert!(hooks.take().await.is_empty());
    delivery::dispatch_due(&s.ctx, hooks.port().as_ref(), now + 90)
        .await
        .unwrap();
    assert_eq!(hooks.take().await.len(), 1);
    // A day after the event: given up, the endpoint disabled.
    delivery::deliver(&s.ctx, outbound, &delivery, now + events::RETRY_FOR)
        .await
        .unwrap();
    assert_eq!(calls(), before + 3);
    let endpoint = s.get(&format!("/v1/webhooks/{id}"), &admin).await;
    assert_eq!(endpoint.body["active"], false, "{endpoint:?}");
    assert!(endpoint.str("disabled_reason").contains("24 hours"), "{endpoint:?}");
    let log = s.get(&format!("/v1/webhooks/{id}/deliveries?per_page=1"), &admin).await;
    assert_eq!(
        (log.body[0]["status"].as_str(), log.body[0]["attempts"].as_i64()),
        (Some("gave_up"), Some(3)),
        "{log:?}"
    );
    let audit = s.get("/v1/audit_events", &owner.token).await;
    assert!(
        audit
            .body
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "webhook.disabled" && e["target_id"] == id.as_str() && e["actor_type"] == "system"),
        "{audit:?}"
    );
    // A disabled endpoint gets no new events.
    let calls_before = receiver.seen.lock().unwrap().calls.len();
    s.send(
        "PUT",
        &format!("/v1/survey_responses/{response_id}"),
        &writer,
        json!({"score": 8}),
    )
    .await;
    job_scheduler::handle(&s.ctx, &messaging).await.unwrap();
    assert!(hooks.take().await.is_empty());

    // A test event goes at once, even to a disabled endpoint, and says how it went.
    *receiver.failing.lock().unwrap() = false;
    let tested = s
        .send(
            "POST",
            &format!("/v1/webhooks/{id}/test"),
            &admin,
            json!({"event_type": "person.bounced"}),
        )
        .await;
    assert_eq!(tested.status, 200, "{tested:?}");
    assert_eq!(
        (tested.body["delivered"].as_bool(), tested.body["status"].as_i64()),
        (Some(true), Some(200))
    );
    {
        let seen = receiver.seen.lock().unwrap();
        assert_eq!(seen.calls.len(), calls_before + 1);
        let (ok, body, _, _) = seen.calls.last().unwrap();
        assert!(ok);
        assert_eq!(body["event_type"], "person.bounced");
    }
    // Enabled again; a rotated secret signs from then on.
    let enabled = s
        .send("PATCH", &format!("/v1/webhooks/{id}"), &admin, json!({"active": true}))
        .await;
    assert_eq!(
        (enabled.status, enabled.body["active"].as_bool()),
        (200, Some(true)),
        "{enabled:?}"
    );
    assert!(enabled.body["disabled_reason"].is_null());
    // A person deleted before their event went: nothing about them is sent.
    let bob = s
        .send(
            "POST",
            "/v1/people",
            &writer,
            json!({"email": "bob@example.com", "send": false}),
        )
        .await
        .str("id");
    let answered = s
        .send(
            "POST",
            "/v1/survey_responses",
            &writer,
            json!({"person": bob, "score": 1}),
        )
        .await;
    assert_eq!(answered.status, 201, "{answered:?}");
    let gone = s.send("DELETE", &format!("/v1/people/{bob}"), &writer, json!({})).await;
    assert!(gone.status < 300, "{gone:?}");
    let calls_before = receiver.seen.lock().unwrap().calls.len();
    job_scheduler::handle(&s.ctx, &messaging).await.unwrap();
    let taken = hooks.take().await;
    assert_eq!(taken.len(), 1, "{taken:?}");
    let answer = job_webhooks::handle(&s.ctx, ovation::jobs::sqs_event(&taken).unwrap()).await;
    assert!(answer.batch_item_failures.is_empty());
    assert_eq!(receiver.seen.lock().unwrap().calls.len(), calls_before);
    let log = s.get(&format!("/v1/webhooks/{id}/deliveries?per_page=1"), &admin).await;
    assert_eq!(log.body[0]["status"], "skipped", "{log:?}");
    assert!(log.body[0]["error"].as_str().unwrap().contains("deleted"), "{log:?}");
    let rotated = s
        .send("POST", &format!("/v1/webhooks/{id}/secret"), &admin, json!({}))
        .await;
    assert_eq!(rotated.status, 200, "{rotated:?}");
    assert_ne!(rotated.str("secret"), secret);
    let tested = s
        .send("POST", &format!("/v1/webhooks/{id}/test"), &admin, json!({}))
        .await;
    assert_eq!(
        tested.body["status"], 401,
        "the receiver still holds the old secret: {tested:?}"
    );
    let deleted = s.send("DELETE", &format!("/v1/webhooks/{id}"), &admin, json!({})).await;
    assert_eq!(deleted.status, 204, "{deleted:?}");
    assert_eq!(s.get(&format!("/v1/webhooks/{id}"), &admin).await.status, 404);

    // The client itself: a name resolving to loopback is refused without the local flag, no
    // redirect is followed, an answer is kept to 1 KB.
    let strict = ovation::outbound::Outbound::new(false).unwrap();
    let port = base.rsplit(':').next().unwrap();
    let error = strict
        .post_json(&format!("https://localhost:{port}/hook"), &[], b"{}".to_vec())
        .await
        .unwrap_err();
    assert!(error.contains("resolves to a loopback address"), "{error}");
    assert!(!error.contains("127.0.0.1"), "the address is not told: {error}");
    let redirect = outbound
        .post_json(&format!("{base}/redirect"), &[], b"{}".to_vec())
        .await
        .unwrap();
    assert_eq!(redirect.status, 302);
    assert_eq!(receiver.seen.lock().unwrap().redirected_to, 0);
    let big = outbound
        .post_json(&format!("{base}/big"), &[], b"{}".to_vec())
        .await
        .unwrap();
    assert_eq!((big.status, big.body.len()), (200, ovation::outbound::ANSWER_KEPT));
    // An endpoint that hangs is given up after the total timeout (10 s), as a failed attempt.
    let started = std::time::Instant::now();
    let hung = outbound
        .post_json(&format!("{base}/hang"), &[], b"{}".to_vec())
        .await
        .unwrap_err();
    assert!(hung.contains("timed out"), "{hung}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}
