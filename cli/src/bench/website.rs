//! The website survey: its script's size (raw and gzipped, as API Gateway sends it), and its
//! routes through the whole router (layers, gate, site key, store) with 8 requests at a time:
//! decisions for first-time visitors (shown, one write each) and for returning ones (not shown,
//! reads only), then answers (one transaction each), each with its throughput and p50/p99.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::{Request, header};
use ovation::services::surveys;
use ovation::services::website::site_keys::{self, NewSiteKey};
use ovation::store::metered::MeteredStore;
use ovation::{Error, Result};
use serde_json::{Value, json};
use tower::ServiceExt;

/// Requests of each kind.
const REQUESTS: usize = 4_000;
/// Requests in flight at once.
const CONCURRENCY: usize = 8;
const ORIGIN: &str = "https://shop.example.com";

fn visitor(n: usize) -> Value {
    json!({"visitor_id": format!("{n:032x}")})
}

/// One visitor's request through the router: its status, body and milliseconds.
async fn call(app: &axum::Router, path: &str, body: &Value) -> Result<(u16, Value, f64)> {
    let request = Request::post(path)
        .header(header::ORIGIN, ORIGIN)
        .header(header::CONTENT_TYPE, "text/plain;charset=UTF-8")
        .body(Body::from(body.to_string()))
        .map_err(Error::internal)?;
    let started = Instant::now();
    let response = app.clone().oneshot(request).await.map_err(Error::internal)?;
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .map_err(Error::internal)?;
    let ms = started.elapsed().as_secs_f64() * 1e3;
    Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null), ms))
}

/// Runs `bodies` through `path`, `CONCURRENCY` at a time; prints the figures (and the store
/// calls per request) and returns the answers in order.
async fn measured(
    (app, meter): (&axum::Router, &MeteredStore),
    label: &str,
    path: &'static str,
    bodies: Vec<Value>,
    expect: u16,
) -> Result<Vec<Value>> {
    let before = meter.calls();
    let count = bodies.len();
    let bodies = Arc::new(bodies);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..CONCURRENCY {
        let (app, bodies) = (app.clone(), bodies.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for i in (worker..bodies.len()).step_by(CONCURRENCY) {
                out.push((i, call(&app, path, &bodies[i]).await?));
            }
            Ok::<_, Error>(out)
        }));
    }
    let mut answers = vec![Value::Null; count];
    let mut times = Vec::with_capacity(count);
    for task in tasks {
        for (i, (status, body, ms)) in task.await.map_err(Error::internal)?? {
            if status != expect {
                return Err(Error::internal(format!("{path} answered {status}: {body}")));
            }
            answers[i] = body;
            times.push(ms);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    times.sort_by(f64::total_cmp);
    println!(
        "{label:<46} {:>7.0} /s   p50 {:>6.2} ms   p99 {:>6.2} ms",
        count as f64 / seconds,
        times[count / 2],
        times[count * 99 / 100]
    );
    per_request(meter.calls().since(before));
    Ok(answers)
}

/// Store calls per request of a run.
fn per_request(calls: ovation::store::metered::Calls) {
    let n = REQUESTS as f64;
    println!(
        "{:<46} {:>7.2} reads, {:.2} writes (transactions {:.2}) a request",
        "  store calls",
        calls.reads() as f64 / n,
        (calls.writes + calls.transactions) as f64 / n,
        calls.transactions as f64 / n
    );
}

pub async fn figures(dir: &Path) -> Result<()> {
    let script = respond::widget::SCRIPT.as_bytes();
    let gzipped = respond::widget::SCRIPT_GZIP.len();
    println!("# website survey: the script, then its routes through the router ({CONCURRENCY} at a time)");
    println!(
        "{:<46} {:>7} bytes raw, {gzipped} bytes gzip -9",
        "script /w/v1/{key}/{name}.js",
        script.len()
    );

    let (meter, ctx) = super::metered_context_with(dir, |settings| {
        settings.rate_per_site_key_minute = u32::MAX;
    })?;
    let app = crate::serve::router(ctx.clone());
    let (store, caller) = super::bench_tenant(&ctx).await?;
    let patch = serde_json::from_value(json!({"name": "Shop", "questions": [
        {"id": "support", "kind": "csat", "text": {"en": "How was our support?"}}
    ]}))
    .map_err(Error::internal)?;
    let survey = surveys::create(&store, &caller, patch).await?;
    let new = NewSiteKey {
        name: "Shop".into(),
        survey_id: survey.id.clone(),
        origins: vec![ORIGIN.into()],
        signed_emails: false,
    };
    let key = site_keys::create(&store, &caller, new).await?.public();
    let decide = |n: usize| json!({"key": key, "visitor": visitor(n), "properties": {"plan": "pro"}});

    let shown = measured(
        (&app, &meter),
        "decide, first visit (shown)",
        "/w/v1/decide",
        (0..REQUESTS).map(decide).collect(),
        200,
    )
    .await?;
    measured(
        (&app, &meter),
        "decide, returning visitor (not shown)",
        "/w/v1/decide",
        (0..REQUESTS).map(decide).collect(),
        200,
    )
    .await?;
    let answers: Vec<Value> = shown
        .iter()
        .enumerate()
        .map(|(n, d)| json!({"key": key, "ask": d["ask"], "visitor": visitor(n), "score": n % 11, "page_url": "https://shop.example.com/cart"}))
        .collect();
    let receipts = measured((&app, &meter), "answers (score)", "/w/v1/answers", answers, 201).await?;
    let comments = receipts
        .iter()
        .map(|r| json!({"key": key, "response": r["response"], "comment": "Checkout was quick", "answers": {"support": 4}}))
        .collect();
    measured(
        (&app, &meter),
        "comments (comment and a CSAT answer)",
        "/w/v1/comments",
        comments,
        200,
    )
    .await?;
    Ok(())
}
