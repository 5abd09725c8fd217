//! The retention benchmark: a workspace whose `--responses` responses (each with an encrypted
//! comment and properties, and its person's pointer) are all past a one-day period, swept by
//! the retention job: the first run anonymises them all, the next day's run reads none of them
//! again, and a run after the workspace chose to delete removes them. Time and store calls of each run.

use std::path::Path;
use std::time::{Duration, Instant};

use ovation::domain::tenant::SettingsPatch;
use ovation::ids::{id_at, new_id};
use ovation::services::accounts::tenants;
use ovation::services::lifecycle::retention::{self, RetentionReport};
use ovation::services::surveys;
use ovation::store::metered::Calls;
use ovation::store::{BatchOp, Item, TenantStore, keys, now_unix};
use ovation::{Error, Result};

const DAY: i64 = 86_400;
/// People the responses belong to.
const PEOPLE: usize = 10_000;
/// Items per batch write while seeding.
const SEED_BATCH: usize = 100;

/// Stores `count` responses of `survey`, one a second from `first`, as the API stores them
/// (the comment and properties sealed, the person's pointer beside them).
pub(super) async fn seed(store: &TenantStore, survey: &str, count: usize, first: i64) -> Result<()> {
    let people: Vec<String> = (0..PEOPLE).map(|_| new_id()).collect();
    let plans = ["free", "starter", "pro", "business", "enterprise"];
    let mut batch = Vec::with_capacity(SEED_BATCH);
    for i in 0..count {
        let at = first + i as i64;
        // One a second: the second's first id is theirs alone.
        let id = id_at(at, false);
        let key = keys::response(store.tenant(), &id)?;
        let person = &people[i % PEOPLE];
        let properties = serde_json::json!({"plan": plans[i % plans.len()], "name": "Ada Lovelace"});
        let properties = serde_json::to_vec(&properties).map_err(Error::internal)?;
        let crypto = store.crypto();
        let item = Item::new(key.clone())
            .with("survey", survey)
            .with("channel", "email")
            .with("language", "en")
            .with("score", (i % 11) as i64)
            .with("created_at", at)
            .with("updated_at", at)
            .with("version", 1)
            .with("counted_segments", &["plan".to_owned()][..])
            .with("person", person.as_str())
            .with(
                "comment",
                crypto.encrypt_str(&key, "comment", "Call me about the invoice").await?,
            )
            .with(
                "person_properties",
                crypto.encrypt(&key, "person_properties", &properties).await?,
            )
            .with_index(keys::responses_by_update(store.tenant()), keys::updated_sort(at, &id));
        batch.push(BatchOp::Put(item));
        batch.push(BatchOp::Put(Item::new(keys::person_pointer(
            store.tenant(),
            person,
            "R",
            &id,
        )?)));
        if batch.len() >= SEED_BATCH {
            store.batch_write(std::mem::take(&mut batch)).await?;
        }
        if (i + 1) % 200_000 == 0 {
            eprintln!("progress: {} responses stored", i + 1);
        }
    }
    if !batch.is_empty() {
        store.batch_write(batch).await?;
    }
    Ok(())
}

fn line(name: &str, seconds: f64, calls: Calls, report: &RetentionReport, per: usize) {
    let removed = report.removed;
    println!(
        "{name:<46} {seconds:>8.1} s {:>8} calls ({} queries, {} gets, {} transactions, {} batch writes, {} writes); \
         anonymised {}, deleted {}; {:.1} µs a response",
        calls.total(),
        calls.queries,
        calls.gets,
        calls.transactions,
        calls.batch_writes,
        calls.writes,
        removed.responses_anonymized,
        removed.responses_deleted,
        seconds * 1e6 / per.max(1) as f64,
    );
}

pub async fn figures(dir: &Path, responses: usize) -> Result<()> {
    println!("# retention: {responses} responses past a one-day period (one workspace)");
    let (store, ctx) = super::metered_context(dir)?;
    let (tenant_store, caller) = super::bench_tenant(&ctx).await?;
    let patch =
        serde_json::from_value(serde_json::json!({"name": "Kept", "segments": ["plan"]})).map_err(Error::internal)?;
    let survey = surveys::create(&tenant_store, &caller, patch).await?;
    let now = now_unix();
    let started = Instant::now();
    seed(&tenant_store, &survey.id, responses, now - 30 * DAY - responses as i64).await?;
    eprintln!("progress: stored in {:.1} s", started.elapsed().as_secs_f64());
    let set =
        |json: serde_json::Value| -> Result<SettingsPatch> { serde_json::from_value(json).map_err(Error::internal) };
    tenants::update_settings(&ctx, &caller, set(serde_json::json!({"retention_days": 1}))?, None).await?;
    let deadline = || Instant::now() + Duration::from_secs(24 * 3600);
    for (name, at) in [("first run: anonymise all", now), ("next day: nothing new", now + DAY)] {
        let before = store.calls();
        let started = Instant::now();
        let report = retention::run_due(&ctx, at, deadline()).await?;
        line(
            name,
            started.elapsed().as_secs_f64(),
            store.calls().since(before),
            &report,
            responses,
        );
    }
    // Set to delete: the responses anonymised so far are deleted (the sweep starts over).
    tenants::update_settings(
        &ctx,
        &caller,
        set(serde_json::json!({"retention_action": "delete"}))?,
        None,
    )
    .await?;
    let before = store.calls();
    let started = Instant::now();
    let report = retention::run_due(&ctx, now + 2 * DAY, deadline()).await?;
    line(
        "set to delete: delete all",
        started.elapsed().as_secs_f64(),
        store.calls().since(before),
        &report,
        responses,
    );
    Ok(())
}
