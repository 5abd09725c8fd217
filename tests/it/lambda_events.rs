//! The sample events in `events/`, one folder per function, fed to that function's handler as
//! Lambda would deliver them (through `lambda_http`), each answer checked. A function without
//! events, or events without a function, fail the test.

use std::path::PathBuf;

use ovation::config::KeyCache;
use ovation_cli::HTTP_FUNCTIONS;
use serde_json::Value;
use tower::ServiceExt;

use crate::support::Engines;

#[tokio::test]
async fn every_function_answers_its_sample_events() {
    let engines = Engines::embedded();
    let ctx = engines.context(KeyCache::default());
    let events = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events");
    for dir in std::fs::read_dir(&events)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
    {
        let name = dir.file_name().unwrap().to_str().unwrap().to_owned();
        assert!(
            HTTP_FUNCTIONS.iter().any(|(f, _)| *f == name) || JOBS.contains(&name.as_str()),
            "events/{name} belongs to no function"
        );
    }
    for (function, routes) in HTTP_FUNCTIONS {
        let dir = events.join(function);
        let mut fed = 0;
        for path in std::fs::read_dir(&dir).unwrap_or_else(|_| panic!("{function} has no events/{function}")) {
            let path = path.unwrap().path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let event: Value = serde_json::from_str(&text).unwrap();
            // `name.404.json` expects that status; a plain `name.json`, 200.
            let stem = path.file_stem().unwrap().to_str().unwrap();
            let expected: u16 = stem.rsplit_once('.').map_or(200, |(_, status)| status.parse().unwrap());
            let request = lambda_http::request::from_str(&text).unwrap();
            let app = ovation::http::on_lambda(ovation::http::app(&ctx, routes(ctx.clone())));
            let response = app.oneshot(request).await.unwrap();
            assert_eq!(response.status(), expected, "{}", path.display());
            // API Gateway's request id is the one the response (and every log line) carries.
            assert_eq!(
                response.headers()["x-request-id"],
                event["requestContext"]["requestId"].as_str().unwrap()
            );
            let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
            let html = content_type.starts_with("text/html");
            let csp = response.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .to_owned();
            let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
            if content_type.starts_with("text/javascript") {
                // The website survey's script.
                assert!(
                    String::from_utf8_lossy(&body).contains("attachShadow"),
                    "{}",
                    path.display()
                );
                continue;
            }
            if html {
                // A respondent's page: HTML under a CSP that allows only its own nonce.
                assert!(body.starts_with(b"<!doctype html>"), "{}", path.display());
                assert!(csp.contains("script-src 'nonce-"), "{csp}");
                fed += 1;
                continue;
            }
            let body: Value = serde_json::from_slice(&body).unwrap();
            match (expected, stem) {
                (200, "health") => assert_eq!(body["status"], "ok"),
                (200, _) => assert!(body.is_object(), "{}", path.display()),
                // The OAuth token endpoint answers in RFC 6749's shape.
                (_, s) if s.starts_with("token") => assert!(body["error"].is_string(), "{}", path.display()),
                _ => assert_eq!(body["status"], expected, "a JSON error body: {}", path.display()),
            }
            fed += 1;
        }
        assert!(fed > 0, "no events in {}", dir.display());
    }
}

/// The background functions, fed SQS, EventBridge and SNS events.
const JOBS: &[&str] = &[
    "job-scheduler",
    "job-deliver",
    "job-delivery-events",
    "job-webhooks",
    "job-exports",
    "job-retention",
    "job-restore-drill",
];

/// The topic of the sample SNS events (the stack's mail events topic).
const SAMPLE_TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:ovation-prod-mail-events";

/// Each job's samples through its handler: `name.json` is handled (a delivery that finds nothing
/// to send is done; a delivery event about an unknown tenant is ignored), `name.refused.json` is
/// refused as it must be (a failed batch item, a refused record with its reason), never an error
/// that would make Lambda retry it.
#[tokio::test]
async fn every_job_handles_its_sample_events() {
    let engines = Engines::embedded();
    let mut settings = engines.context(KeyCache::default()).settings.clone();
    settings.sending.mail_events_topic = Some(SAMPLE_TOPIC.into());
    let ctx = ovation::Context::with_adapters(settings, engines.store.clone(), engines.keyring.clone());
    let messaging = ctx.messaging(ctx.store.clone()).await.unwrap();
    let events = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events");
    for job in JOBS {
        let mut fed = 0;
        for path in std::fs::read_dir(events.join(job)).unwrap_or_else(|_| panic!("{job} has no events/{job}")) {
            let path = path.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let refused = path.to_str().unwrap().ends_with(".refused.json");
            let shown = path.display();
            match *job {
                "job-scheduler" => {
                    let _: Value = serde_json::from_str(&text).unwrap();
                    let report = job_scheduler::handle(&ctx, &messaging).await.unwrap();
                    assert_eq!(report.queued, 0, "{shown}");
                }
                "job-retention" => {
                    let _: Value = serde_json::from_str(&text).unwrap();
                    let report =
                        job_retention::handle(&ctx, ovation::store::now_unix(), std::time::Duration::from_secs(60))
                            .await
                            .unwrap();
                    assert!(!report.more, "{shown}");
                }
                "job-restore-drill" => {
                    let _: Value = serde_json::from_str(&text).unwrap();
                    // The drill restores DynamoDB tables (tests/it/backups.rs runs it on moto):
                    // on the embedded engine it says so.
                    let refused = job_restore_drill::handle(&ctx, ovation::store::now_unix())
                        .await
                        .unwrap_err();
                    assert!(
                        refused.to_string().contains("restores the DynamoDB table"),
                        "{shown}: {refused}"
                    );
                }
                "job-deliver" => {
                    let event = serde_json::from_str(&text).unwrap();
                    let response = job_deliver::handle(&ctx, &messaging, event).await;
                    assert_eq!(response.batch_item_failures.len(), usize::from(refused), "{shown}");
                }
                "job-exports" => {
                    let event = serde_json::from_str(&text).unwrap();
                    let response = job_exports::handle(&ctx, event).await;
                    assert_eq!(response.batch_item_failures.len(), usize::from(refused), "{shown}");
                }
                "job-webhooks" => {
                    let event = serde_json::from_str(&text).unwrap();
                    let response = job_webhooks::handle(&ctx, event).await;
                    assert_eq!(response.batch_item_failures.len(), usize::from(refused), "{shown}");
                }
                _ => {
                    let event: Value = serde_json::from_str(&text).unwrap();
                    let report = job_delivery_events::handle(&ctx, event).await.unwrap();
                    if refused {
                        assert_eq!(report.refused.len(), 1, "{shown}: {report:?}");
                        assert!(!report.refused[0].reason.is_empty());
                        assert_eq!(report.refused[0].message_id, "95df01b4-ee98-5cb9-9903-4c221d41eb5e");
                    } else {
                        assert!(report.refused.is_empty(), "{shown}: {report:?}");
                        assert_eq!(report.ignored.get("tenant_deleted"), Some(&1), "{shown}: {report:?}");
                    }
                }
            }
            fed += 1;
        }
        assert!(fed > 0, "no events for {job}");
    }
}

/// On Lambda the bucket is the address API Gateway saw (`requestContext.identity.sourceIp`).
#[tokio::test]
async fn lambda_requests_are_throttled_by_api_gateways_source_ip() {
    let engines = Engines::embedded();
    let mut settings = engines.context(KeyCache::default()).settings.clone();
    settings.rate_per_ip = ovation::config::RateLimit {
        per_second: 1,
        burst: 1,
    };
    let ctx = ovation::Context::with_adapters(settings, engines.store.clone(), engines.keyring.clone());
    let text =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events/api-admin/health.json"))
            .unwrap();
    let from = |ip: &str| {
        let mut event: Value = serde_json::from_str(&text).unwrap();
        event["requestContext"]["identity"]["sourceIp"] = Value::from(ip);
        event["headers"]["X-Forwarded-For"] = Value::from("192.0.2.1");
        lambda_http::request::from_str(&event.to_string()).unwrap()
    };
    let app = || ovation::http::on_lambda(ovation::http::app(&ctx, api_admin::routes(ctx.clone())));
    assert_eq!(app().oneshot(from("203.0.113.9")).await.unwrap().status(), 200);
    assert_eq!(app().oneshot(from("203.0.113.9")).await.unwrap().status(), 429);
    assert_eq!(
        app().oneshot(from("203.0.113.10")).await.unwrap().status(),
        200,
        "another address, another bucket"
    );
}
