//! The sample events in `events/` fed to each function's handler as Lambda would deliver them,
//! and the route table checked against the functions' routers and `template.yaml`.

use std::path::PathBuf;

use ovation::config::KeyCache;
use ovation::http::routes::{ROUTES, of_function};
use serde_json::Value;
use tower::ServiceExt;

use crate::support::Engines;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[tokio::test]
async fn api_admin_answers_its_sample_events() {
    let engines = Engines::embedded();
    let ctx = engines.context(KeyCache::default());
    let dir = repo().join("events").join(api_admin::FUNCTION);
    let mut fed = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let event: Value = serde_json::from_str(&text).unwrap();
        let request = lambda_http::request::from_str(&text).unwrap();
        let app = ovation::http::on_lambda(ovation::http::app(api_admin::routes(ctx.clone())));
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), 200, "{}", path.display());
        // API Gateway's request id is the one the response (and every log line) carries.
        assert_eq!(
            response.headers()["x-request-id"],
            event["requestContext"]["requestId"].as_str().unwrap()
        );
        let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["status"], "ok");
        fed += 1;
    }
    assert!(fed > 0, "no events in {}", dir.display());
}

/// The SAM resource name of a function crate: `api-admin` → `ApiAdminFunction`.
fn resource_name(function: &str) -> String {
    let mut name: String = function.split('-').map(|w| w[..1].to_uppercase() + &w[1..]).collect();
    name.push_str("Function");
    name
}

#[tokio::test]
async fn every_route_is_served_by_its_function_and_declared_in_the_template() {
    let engines = Engines::embedded();
    let ctx = engines.context(KeyCache::default());
    let template = std::fs::read_to_string(repo().join("template.yaml")).unwrap();
    for route in ROUTES {
        assert_eq!(
            route.function,
            api_admin::FUNCTION,
            "a route of a function this test does not know yet"
        );
        let request = axum::http::Request::builder()
            .method(route.method)
            .uri(route.path)
            .body(axum::body::Body::empty())
            .unwrap();
        let response = api_admin::routes(ctx.clone()).oneshot(request).await.unwrap();
        assert_ne!(response.status(), 404, "{} {}", route.method, route.path);

        let header = format!("\n  {}:\n", resource_name(route.function));
        let start = template
            .find(&header)
            .unwrap_or_else(|| panic!("{header:?} missing from template.yaml"));
        let block = &template[start + header.len()..];
        let end = block
            .find("\n  \n")
            .or_else(|| block.find("\n\n"))
            .unwrap_or(block.len());
        let block = &block[..end];
        assert!(
            block.contains(&format!("Path: {}", route.path)),
            "{} not in {}",
            route.path,
            resource_name(route.function)
        );
        assert!(block.contains(&format!("Method: {}", route.method.to_lowercase())));
    }
    assert_eq!(of_function(api_admin::FUNCTION).count(), ROUTES.len());
}
