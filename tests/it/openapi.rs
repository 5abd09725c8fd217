//! The OpenAPI document served at `/openapi.json` describes every route of the route table, and
//! every schema it names is in its components.

use ovation::http::routes::ROUTES;
use serde_json::{Value, json};

use crate::api::{Auth, Stack};
use crate::support::Engines;

fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn every_route_is_documented_and_every_schema_exists() {
    let s = Stack::start(Engines::embedded(), |_| {}).await;
    let doc = s.call(1, "GET", "/openapi.json", Auth::None, None).await;
    assert_eq!(doc.status, 200);
    let doc = doc.body;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut operations = 0;
    // The web app's pages are no part of the API.
    for route in ROUTES.iter().filter(|r| r.function != "web") {
        let op = &doc["paths"][route.path][route.method.to_lowercase()];
        assert!(op.is_object(), "{} {} is not in the document", route.method, route.path);
        assert_eq!(op["summary"], route.summary);
        assert_eq!(op["tags"][0], route.function);
        assert!(
            op["responses"][route.status.to_string()].is_object(),
            "{} {}",
            route.method,
            route.path
        );
        for name in route.query {
            let documented = op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == *name && p["in"] == "query");
            assert!(documented, "{} {} ?{name}", route.method, route.path);
        }
        operations += 1;
    }
    let documented: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum();
    assert_eq!(documented, operations, "the document has no route the table lacks");
    let mut found = vec![];
    refs(&doc, &mut found);
    assert!(found.len() > 20);
    for r in found {
        let name = r.trim_start_matches("#/components/schemas/");
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "{r} is not in the components"
        );
    }
    // What a creation requires, the document requires.
    for (method, path, required) in [
        ("post", "/v1/survey_responses", json!(["person", "score"])),
        ("post", "/v1/webhooks", json!(["url"])),
        ("post", "/oauth/token", json!(["grant_type"])),
        ("post", "/v1/unsubscribes", json!(["person_email"])),
    ] {
        let body = &doc["paths"][path][method]["requestBody"]["content"];
        let media = body.as_object().unwrap().values().next().unwrap();
        let name = media["schema"]["$ref"]
            .as_str()
            .unwrap()
            .trim_start_matches("#/components/schemas/");
        let schema = &doc["components"]["schemas"][name];
        for field in required.as_array().unwrap() {
            assert!(
                schema["required"].as_array().is_some_and(|r| r.contains(field)),
                "{method} {path}: {field} is not required in {name}: {schema}"
            );
        }
    }
    for scheme in ["bearer", "basic", "operator"] {
        assert!(doc["components"]["securitySchemes"][scheme].is_object());
    }
}
