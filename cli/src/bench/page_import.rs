//! An import of 100,000 people through the web app's pages: the CSV uploaded (a multipart form
//! through the whole router), its mapping page, the start, then the job run by the export job's
//! handler from the local queue, as `ovation serve` runs it; the time of each step and the
//! process's peak memory (server and job share it here, so it bounds either).

use std::time::Instant;

use axum::body::Body;
use axum::http::{Request, header};
use ovation::http::pages::{self, SESSION};
use ovation::messaging::local_queue::{EXPORTS, LocalQueue};
use ovation::{Error, Result};
use tower::ServiceExt;

use super::auth::peak_rss_mib;
use super::web::{owner_session, post, request};

const ROWS: usize = 100_000;
/// Every this many rows, one with a bad email (refused, listed in the error file).
const BAD_EVERY: usize = 100;

pub async fn figures(dir: &std::path::Path) -> Result<()> {
    println!("# an import of {ROWS} rows through the pages (embedded store)");
    let (_, ctx) = super::metered_context(dir)?;
    let app = crate::serve::router(ctx.clone());
    let (session, _) = owner_session(&ctx, "imports").await?;
    let cookie = format!("{}={session}", pages::cookie_name(&ctx, SESSION));
    let csrf = pages::csrf_token(&session);
    let plans = ["free", "starter", "pro", "business"];
    let mut csv = String::from("Email,Name,Plan\n");
    for i in 0..ROWS {
        let email = if i % BAD_EVERY == 7 {
            format!("p{i}-at-example.com")
        } else {
            format!("p{i}@example.com")
        };
        csv.push_str(&format!("{email},Person {i},{}\n", plans[i % 4]));
    }
    println!("{:<44} {:>9.2} MB", "file", csv.len() as f64 / 1e6);
    let boundary = "----OvationBenchBoundary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n--{boundary}\r\n\
         Content-Disposition: form-data; name=\"file\"; filename=\"people.csv\"\r\nContent-Type: text/csv\r\n\r\n\
         {csv}\r\n--{boundary}--\r\n"
    );
    drop(csv);
    let upload = Request::post("/people/imports")
        .header(header::COOKIE, &cookie)
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(Body::from(body))
        .map_err(Error::internal)?;
    let started = Instant::now();
    let response = app.clone().oneshot(upload).await.map_err(Error::internal)?;
    let upload_ms = started.elapsed().as_secs_f64() * 1e3;
    let location = response
        .headers()
        .get(header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .filter(|l| l.contains("people/imports/"))
        .ok_or_else(|| Error::internal(format!("the upload was refused ({})", response.status())))?;
    let path = format!("/people/imports/{}", location.rsplit('/').next().unwrap_or_default());
    println!("{:<44} {:>9.1} ms", "upload (read, sealed, kept)", upload_ms);
    let (status, bytes, ms) = request(&app, &path, &cookie).await?;
    println!("{:<44} {:>9.1} ms ({status}, {bytes} bytes)", "the mapping page", ms);
    let mapping = [
        ("csrf", csrf.as_str()),
        ("map.0", "email"),
        ("map.1", "name"),
        ("map.2", "properties.plan"),
    ];
    let (status, _, ms) = post(&app, &path, &cookie, &mapping).await?;
    println!("{:<44} {:>9.1} ms ({status})", "start (mapping checked, queued)", ms);
    let before = peak_rss_mib();
    let queue = LocalQueue::new(ctx.store.clone(), EXPORTS);
    let taken = queue.receive(1, 900, 3).await?;
    let started = Instant::now();
    let answer = job_exports::handle(&ctx, ovation::jobs::sqs_event(&taken)?).await;
    let secs = started.elapsed().as_secs_f64();
    if !answer.batch_item_failures.is_empty() {
        return Err(Error::internal("the import job failed"));
    }
    println!(
        "{:<44} {:>9.2} s = {:>7.0} rows/s",
        "the job: every row imported",
        secs,
        ROWS as f64 / secs
    );
    let (status, bytes, ms) = request(&app, &path, &cookie).await?;
    println!("{:<44} {:>9.1} ms ({status}, {bytes} bytes)", "the page when done", ms);
    let (status, bytes, ms) = request(&app, &format!("{path}/errors"), &cookie).await?;
    println!(
        "{:<44} {:>9.1} ms ({status}, {bytes} bytes, {} rows)",
        "the refused rows as CSV",
        ms,
        ROWS / BAD_EVERY
    );
    println!(
        "{:<44} {:>9.1} MiB (before the job: {before:.1})",
        "peak resident memory of the process",
        peak_rss_mib()
    );
    Ok(())
}
