//! The metrics benchmark: a year of one survey's results read through `GET /v1/metrics`'s service
//! with 1,000 and with 1,000,000 responses counted (random times, scores, four channels, a
//! segment property with five values), timing each read and counting its store calls.
//! The counters are written as those responses leave them, a day's worth per transaction; the
//! two quarter hours a second-exact range cuts through also hold stored responses (read raw).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use ovation::domain::Email;
use ovation::domain::{Channel, Properties, Score};
use ovation::services::Caller;
use ovation::services::people::person::PersonInput;
use ovation::services::people::upsert;
use ovation::services::results::counters::{self, Counted, Measure, Tally};
use ovation::services::results::metrics::{self, MetricsQuery, Period};
use ovation::services::results::responses::{self, NewResponse};
use ovation::services::surveys::{self, Survey};
use ovation::store::TenantStore;
use ovation::{Error, Result};

/// 2025-01-01 00:00 UTC: the year read.
const YEAR_START: i64 = 1_735_689_600;
pub(super) const YEAR: i64 = 365 * 86_400;
/// Reads timed per figure (the median is reported).
const READS: usize = 21;

/// A deterministic generator (SplitMix64), so both sizes see the same kind of data.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Counts `responses` answers to `survey`, spread over the year from `start`.
pub(super) async fn count_responses(store: &TenantStore, survey: &Survey, responses: usize, start: i64) -> Result<()> {
    let channels = [Channel::Email, Channel::Sms, Channel::Web, Channel::Api];
    let plans = ["free", "starter", "pro", "business", "enterprise"];
    let mut by_plan = Vec::new();
    for plan in plans {
        by_plan.push(Properties(BTreeMap::from([("plan".to_owned(), plan.to_owned())])));
    }
    let mut mix = Mix(responses as u64);
    let mut days: BTreeMap<i64, Tally> = BTreeMap::new();
    for i in 0..responses {
        let at = start + mix.below(YEAR as u64) as i64;
        let score = Score::new(mix.below(11) as i64)?;
        let channel = channels[mix.below(4) as usize];
        let properties = &by_plan[mix.below(5) as usize];
        let counted = Counted::new(
            store,
            &survey.definition.segments,
            Measure::of_score(score),
            at,
            channel,
            properties,
        )
        .await?;
        let day = days.entry(at / 86_400).or_default();
        *day = std::mem::take(day).and(Tally::moved(None, Some(&counted)));
        if (i + 1) % 100_000 == 0 {
            eprintln!("progress: {} responses counted", i + 1);
        }
    }
    for tally in days.values() {
        counters::transact(store, &survey.id, vec![], tally).await?;
    }
    Ok(())
}

/// The quarter hours a second-exact year cuts through (its first and its last), each given the
/// responses an average quarter hour of `responses` a year holds (at least one), stored as
/// responses (and counted): what such a read reads raw.
async fn answer_at_the_edges(store: &TenantStore, caller: &Caller, survey: &Survey, responses: usize) -> Result<usize> {
    let per_quarter_hour = (responses as i64 * counters::SLOT_SECONDS / YEAR).max(1);
    let mut written = 0;
    for slot in [YEAR_START, YEAR_START + YEAR - counters::SLOT_SECONDS] {
        for i in 0..per_quarter_hour {
            let input = PersonInput {
                email: Some(Email::parse(&format!("edge-{responses}-{slot}-{i}@bench.example"))?),
                properties: Properties(BTreeMap::from([("plan".to_owned(), "pro".to_owned())])),
                ..PersonInput::default()
            };
            let person = upsert::upsert(store, &input, false).await?.person;
            let answer = NewResponse {
                person: person.id,
                score: Score::new(i % 11)?,
                comment: Some("at the edge".into()),
                person_properties: None,
                created_at: Some(slot + i * counters::SLOT_SECONDS / per_quarter_hour),
                survey: Some(survey.id.clone()),
            };
            responses::create(store, caller, answer).await?;
            written += 1;
        }
    }
    Ok(written)
}

pub(super) fn median_ms(mut runs: Vec<f64>) -> f64 {
    runs.sort_by(f64::total_cmp);
    runs[runs.len() / 2]
}

pub async fn figures(dir: &Path) -> Result<()> {
    println!("# metrics: a year of one survey, read from its counters (median of {READS} reads)");
    let (store, ctx) = super::metered_context(dir)?;
    let (tenant_store, caller) = super::bench_tenant(&ctx).await?;
    for responses in [1_000, 1_000_000] {
        let patch = serde_json::from_value(serde_json::json!({
            "name": format!("{responses} responses"),
            "segments": ["plan"],
        }))
        .map_err(Error::internal)?;
        let survey = surveys::create(&tenant_store, &caller, patch).await?;
        let started = Instant::now();
        count_responses(&tenant_store, &survey, responses, YEAR_START).await?;
        let at_edges = answer_at_the_edges(&tenant_store, &caller, &survey, responses).await?;
        eprintln!(
            "progress: {responses} responses' counters written in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let year = MetricsQuery {
            survey: Some(survey.id.clone()),
            since: Some(YEAR_START),
            until: Some(YEAR_START + YEAR - 1),
            ..MetricsQuery::default()
        };
        let cases = [
            ("year (UTC)", year.clone()),
            (
                "year to the second (ends off the quarter hour)",
                MetricsQuery {
                    since: Some(YEAR_START + 7),
                    until: Some(YEAR_START + YEAR - 8),
                    ..year.clone()
                },
            ),
            (
                "year by month (UTC)",
                MetricsQuery {
                    group_by: Some(Period::Month),
                    ..year.clone()
                },
            ),
            (
                "year by segment plan",
                MetricsQuery {
                    segment: Some("plan".into()),
                    ..year.clone()
                },
            ),
            (
                "year by month in Asia/Kolkata",
                MetricsQuery {
                    group_by: Some(Period::Month),
                    zone: metrics::zone("Asia/Kolkata")?,
                    ..year.clone()
                },
            ),
            (
                "year by day in Europe/Paris",
                MetricsQuery {
                    group_by: Some(Period::Day),
                    zone: metrics::zone("Europe/Paris")?,
                    ..year.clone()
                },
            ),
        ];
        for (name, query) in cases {
            let mut runs = Vec::with_capacity(READS);
            let mut calls = None;
            let mut answer = None;
            for _ in 0..READS {
                let before = store.calls();
                let started = Instant::now();
                let read = metrics::read(&tenant_store, &caller, &query).await?;
                runs.push(started.elapsed().as_secs_f64() * 1e3);
                calls = Some(store.calls().since(before));
                answer = Some(read);
            }
            let (calls, answer) = (calls.unwrap_or_default(), answer.ok_or(Error::internal("no read"))?);
            println!(
                "{:<60} {:>9.2} ms ({} store reads; {} responses, NPS {})",
                format!("{name}, {responses} (+{at_edges} stored at the edges)"),
                median_ms(runs),
                calls.reads(),
                answer.totals.response_count,
                answer.totals.nps.unwrap_or_default(),
            );
        }
    }
    Ok(())
}
