//! The exports benchmark: `--responses` responses (people imported, then answers recorded
//! through the service, spread over a year, with properties, comments, tags) exported to CSV and
//! to Excel, timed. Peak memory is measured on `ovation export` in its own process over the data
//! directory this leaves (BENCHMARKS.md has the commands).

use std::path::Path;
use std::time::Instant;

use futures_util::StreamExt;
use ovation::config::Settings;
use ovation::crypto::local::LocalKeyring;
use ovation::domain::{Email, Score};
use ovation::services::Caller;
use ovation::services::exports::spreadsheets::{self, Format};
use ovation::services::people::imports::{self, ImportOptions};
use ovation::services::people::person;
use ovation::services::results::response_list::ResponseFilter;
use ovation::services::results::responses;
use ovation::services::results::responses::NewResponse;
use ovation::store::embedded::EmbeddedStore;
use ovation::{Context, Error, Result};

/// Answers recorded at once while filling the store.
const WRITERS: usize = 16;
/// 2025-01-01 00:00 UTC.
const YEAR_START: i64 = 1_735_689_600;

pub async fn figures(dir: &Path, responses: usize) -> Result<()> {
    println!("# exports: {responses} responses to CSV and to Excel (embedded store)");
    let store = std::sync::Arc::new(EmbeddedStore::open(&dir.join(ovation::context::STORE_FILE))?);
    let keyring = std::sync::Arc::new(LocalKeyring::open(dir, true)?);
    let ctx = Context::with_adapters(Settings::local(dir.to_owned()), store, keyring);
    let (tenant, caller) = super::bench_tenant(&ctx).await?;
    let plans = ["free", "starter", "pro", "business"];
    let csv: String = std::iter::once("email,name,plan,country\n".to_owned())
        .chain((0..responses).map(|i| format!("person{i}@example.com,Person {i},{},DK\n", plans[i % 4])))
        .collect();
    let options = ImportOptions {
        mapping: Vec::new(),
        send: None,
        first_row: 2,
        job: None,
    };
    imports::run(&tenant, &caller, false, csv.as_bytes(), &options, |_| {}).await?;
    drop(csv);
    let started = Instant::now();
    let recorded: Vec<Result<()>> = futures_util::stream::iter(0..responses)
        .map(|i| {
            let (tenant, caller) = (&tenant, &caller);
            async move {
                let email = Email::parse_field("email", &format!("person{i}@example.com"))?;
                let person = person::load_by_email(tenant, &email)
                    .await?
                    .ok_or(Error::NotFound("person"))?;
                let comment = match i % 5 {
                    0 => Some("=HYPERLINK(\"http://example.com\") looked odd".to_owned()),
                    1 => Some("Fast delivery, friendly support, would buy again.".to_owned()),
                    _ => None,
                };
                let new = NewResponse {
                    person: person.id,
                    score: Score::new((i * 7 % 11) as i64)?,
                    comment,
                    person_properties: None,
                    created_at: Some(YEAR_START + (i as i64 * 313) % (365 * 86_400)),
                    survey: None,
                };
                responses::create(tenant, caller, new).await.map(drop)
            }
        })
        .buffer_unordered(WRITERS)
        .collect()
        .await;
    recorded.into_iter().collect::<Result<Vec<()>>>()?;
    eprintln!(
        "progress: {responses} responses recorded in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for format in [Format::Csv, Format::Xlsx] {
        let path = dir.join(format!("export.{}", format.extension()));
        let started = Instant::now();
        let every = ResponseFilter::default()
            .for_caller(&tenant, &Caller::operator(tenant.tenant().clone()))
            .await?;
        let summary = spreadsheets::responses_to_file(&tenant, &every, (format, true), &path, None, |_| {}).await?;
        let secs = started.elapsed().as_secs_f64();
        let bytes = std::fs::metadata(&path).map_err(Error::internal)?.len();
        println!(
            "{:<44} {:>9} in {secs:>7.3} s = {:>10.0} rows/s, {:.1} MB",
            format!("export to {}", format.extension()),
            summary.rows,
            summary.rows as f64 / secs,
            bytes as f64 / 1e6
        );
    }
    Ok(())
}
