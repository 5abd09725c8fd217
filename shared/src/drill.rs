//! The restore drill: point-in-time recovery proved, not assumed. It restores the table to its
//! latest restorable time into a new table, checks the copy (items by partition family, a
//! sample of every workspace's sealed fields opened with the keyring, every survey's counters
//! against a recount of its responses), and deletes the copy whatever the outcome. The command
//! runs it whole (`ovation restore-drill --aws`); the scheduled job runs one step an hour
//! (`step`), its state and last figures kept in the source table's `SYS` partition.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, PointInTimeRecoveryStatus, TableStatus};
use serde::{Deserialize, Serialize};

use crate::aws::map_sdk_error;
use crate::config::{Backend, Settings};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::ids::TenantId;
use crate::services::exports::tenant_export::{self, Partitions};
use crate::services::results::metrics::{self, MetricsQuery};
use crate::services::results::response_record::COUNTED;
use crate::store::{Condition, Item, Key, Query, Update, keys, now_unix};

/// How many items of each of a workspace's partitions the sample opens, and how many partitions.
const SAMPLE_PER_PARTITION: u32 = 20;
const SAMPLE_PARTITIONS: usize = 50;
/// The scheduled drill's cadence, and how long a restore may take before the drill fails.
pub const EVERY_SECONDS: i64 = 30 * 86_400;
pub const RESTORE_LIMIT_SECONDS: i64 = 12 * 3_600;

/// What a drill found.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The table restored and its copy.
    pub table: String,
    pub copy: String,
    /// The time restored to (unix seconds) and when the restore began: their difference is
    /// the recovery point reached.
    pub restored_to: i64,
    pub started_at: i64,
    pub restore_seconds: f64,
    pub verify_seconds: f64,
    pub items: u64,
    /// Items by partition family (`T#*#R`: every workspace's responses).
    pub families: BTreeMap<String, u64>,
    pub workspaces: usize,
    /// Workspaces deleted and waiting for their purge (their keys shredded: not checked).
    pub deleted: usize,
    /// Sealed fields opened in the sample.
    pub opened: u64,
    pub surveys: usize,
    /// Everything that did not hold; the drill failed when any.
    pub problems: Vec<String>,
}

impl Report {
    /// Seconds of changes the restored copy lacks, as of the restore's start.
    pub fn recovery_point_seconds(&self) -> i64 {
        self.started_at - self.restored_to
    }

    pub fn print(&self) -> String {
        let mut out = format!(
            "restore drill of {} into {}\n  restored to {} ({} s before the restore began)\n  restore took {:.1} s, checks {:.1} s\n  {} items, {} workspaces ({} deleted, not checked), {} sealed fields opened, {} surveys' counters recounted\n",
            self.table,
            self.copy,
            self.restored_to,
            self.recovery_point_seconds(),
            self.restore_seconds,
            self.verify_seconds,
            self.items,
            self.workspaces,
            self.deleted,
            self.opened,
            self.surveys,
        );
        for (family, n) in &self.families {
            out.push_str(&format!("  {n:>10}  {family}\n"));
        }
        for problem in &self.problems {
            out.push_str(&format!("  PROBLEM: {problem}\n"));
        }
        out
    }
}

/// Runs a whole drill, waiting for the restore (up to `wait`): the command's way.
pub async fn run(settings: &Settings, config: &aws_config::SdkConfig, wait: Duration) -> Result<Report> {
    let table = table_of(settings)?;
    let dynamo = Dynamo {
        client: Client::new(config),
    };
    let started = plan(&dynamo, &table).await?;
    begin(&dynamo, &started).await?;
    let deadline = Instant::now() + wait;
    let outcome = async {
        while active(&dynamo, &started.copy).await? != Some(true) {
            if Instant::now() > deadline {
                return Err(Error::Unavailable {
                    service: "DynamoDB",
                    reason: format!(
                        "the restore into {} did not finish in {} s",
                        started.copy,
                        wait.as_secs()
                    ),
                });
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        verify(settings, &dynamo, started.clone()).await
    }
    .await;
    // The first failure is the one told; a copy that could not go is logged.
    let deleted = delete_copy(&dynamo, &started.copy).await;
    match (outcome, deleted) {
        (Err(e), Err(d)) => {
            tracing::error!(error = %d, "the restore drill's copy was not deleted");
            Err(e)
        }
        (outcome, deleted) => deleted.and(outcome),
    }
}

/// The DynamoDB calls of the drill, and the IAM actions they need (its function's policy, checked
/// against these calls by the template test).
struct Dynamo {
    client: Client,
}

pub const IAM_ACTIONS: &[&str] = &[
    "dynamodb:DescribeContinuousBackups",
    "dynamodb:RestoreTableToPointInTime",
    "dynamodb:DescribeTable",
    "dynamodb:DeleteTable",
    "dynamodb:Scan",
];

fn sdk_error<E, R>(e: aws_sdk_dynamodb::error::SdkError<E, R>) -> Error
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    map_sdk_error("DynamoDB", e, |_, _| None)
}

/// A drill under way: what the scheduled job remembers between its steps.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Started {
    pub table: String,
    pub copy: String,
    pub restored_to: i64,
    pub started_at: i64,
}

/// What one scheduled step did.
#[derive(Debug, PartialEq)]
pub enum Step {
    /// Nothing due: the last drill is recent.
    Idle,
    Started(Started),
    /// The copy is still being restored.
    Waiting,
    Finished(Report),
}

/// One step of the scheduled drill: start one when the last is a month old, check a copy that
/// finished restoring, delete it. A failed drill is an error (the function's error alarm), its
/// report kept; a restore past `RESTORE_LIMIT_SECONDS` fails too.
pub async fn step(ctx: &Context, config: &aws_config::SdkConfig, now: i64) -> Result<Step> {
    let table = table_of(&ctx.settings)?;
    let dynamo = Dynamo {
        client: Client::new(config),
    };
    let state = ctx.store.get(&keys::restore_drill()).await?;
    let under_way = state
        .as_ref()
        .and_then(|i| i.str("under_way"))
        .and_then(|s| serde_json::from_str::<Started>(s).ok());
    let last = state.as_ref().and_then(|i| i.num("finished_at")).unwrap_or(0);
    let Some(started) = under_way else {
        if now - last < EVERY_SECONDS {
            return Ok(Step::Idle);
        }
        // The copy is recorded before it is asked for: one drill at a time, and no copy that
        // nothing remembers.
        let started = plan(&dynamo, &table).await?;
        let text = serde_json::to_string(&started).map_err(Error::internal)?;
        let item = Item::new(keys::restore_drill())
            .with("under_way", text)
            .with("finished_at", last);
        ctx.store.put(item, Some(unchanged(state.as_ref()))).await?;
        if let Err(e) = begin(&dynamo, &started).await {
            finish(ctx, &state, now, None).await?;
            return Err(e);
        }
        return Ok(Step::Started(started));
    };
    let Some(ready) = active(&dynamo, &started.copy).await? else {
        // Recorded, never made (the run stopped between the two): this drill is over.
        finish(ctx, &state, now, None).await?;
        return Err(Error::Unavailable {
            service: "restore drill",
            reason: format!("the restore into {} never began", started.copy),
        });
    };
    if !ready {
        if now - started.started_at > RESTORE_LIMIT_SECONDS {
            delete_copy(&dynamo, &started.copy).await?;
            finish(ctx, &state, now, None).await?;
            return Err(Error::Unavailable {
                service: "DynamoDB",
                reason: format!(
                    "the restore drill's copy {} was not ready in {RESTORE_LIMIT_SECONDS} s",
                    started.copy
                ),
            });
        }
        return Ok(Step::Waiting);
    }
    // A check begun by an earlier run that never finished (stopped at Lambda's deadline): the
    // copy goes and the drill fails, rather than checking forever.
    if state.as_ref().is_some_and(|i| i.num("checking_since").is_some()) {
        delete_copy(&dynamo, &started.copy).await?;
        finish(ctx, &state, now, None).await?;
        return Err(Error::Unavailable {
            service: "restore drill",
            reason: format!("the checks of {} did not finish within one run", started.copy),
        });
    }
    let checking = Update::Set("checking_since".into(), now.into());
    ctx.store
        .update(&keys::restore_drill(), &[checking], Some(unchanged(state.as_ref())))
        .await?;
    let outcome = verify(&ctx.settings, &dynamo, started.clone()).await;
    delete_copy(&dynamo, &started.copy).await?;
    finish(ctx, &state, now, outcome.as_ref().ok()).await?;
    let report = outcome?;
    if report.problems.is_empty() {
        Ok(Step::Finished(report))
    } else {
        Err(Error::internal(format!(
            "the restore drill failed:\n{}",
            report.print()
        )))
    }
}

/// The drill's state item unchanged since it was read (absent, or the same version).
fn unchanged(state: Option<&Item>) -> Condition {
    match state.and_then(|i| i.num("finished_at")) {
        Some(at) => Condition::eq("finished_at", at),
        None => Condition::NotExists,
    }
}

/// Records the end of a drill (and its report when it ran its checks).
async fn finish(ctx: &Context, state: &Option<Item>, now: i64, report: Option<&Report>) -> Result<()> {
    let mut item = Item::new(keys::restore_drill()).with("finished_at", now);
    if let Some(report) = report {
        item = item.with("report", serde_json::to_string(report).map_err(Error::internal)?);
    }
    let read = state.as_ref().and_then(|i| i.num("finished_at"));
    let condition = match read {
        Some(at) => Condition::eq("finished_at", at),
        None => Condition::Exists,
    };
    ctx.store.put(item, Some(condition)).await
}

fn table_of(settings: &Settings) -> Result<String> {
    match &settings.backend {
        Backend::Aws { table, .. } => Ok(table.clone()),
        Backend::Embedded { .. } => Err(Error::Config {
            name: "--aws",
            reason: "the restore drill restores the DynamoDB table; the embedded store has `ovation backup` and `ovation restore`".into(),
        }),
    }
}

/// Plans restoring `table` at its latest restorable time into a new table named as a drill's copy
/// (`{table}-drill-{time}`: the only tables the drill deletes, and its role may delete).
async fn plan(dynamo: &Dynamo, table: &str) -> Result<Started> {
    let backups = dynamo
        .client
        .describe_continuous_backups()
        .table_name(table)
        .send()
        .await
        .map_err(sdk_error)?;
    let pitr = backups
        .continuous_backups_description()
        .and_then(|d| d.point_in_time_recovery_description());
    if pitr.and_then(|p| p.point_in_time_recovery_status()) != Some(&PointInTimeRecoveryStatus::Enabled) {
        return Err(Error::Config {
            name: "OVATION_TABLE",
            reason: format!("{table} has point-in-time recovery off: turn it on (the template does)"),
        });
    }
    let started_at = now_unix();
    let restored_to = pitr
        .and_then(|p| p.latest_restorable_date_time())
        .map_or(started_at, |t| t.secs());
    let copy = format!("{}-drill-{started_at}", &table[..table.len().min(200)]);
    Ok(Started {
        table: table.to_owned(),
        copy,
        restored_to,
        started_at,
    })
}

/// Asks DynamoDB to restore the table into the planned copy.
async fn begin(dynamo: &Dynamo, started: &Started) -> Result<()> {
    dynamo
        .client
        .restore_table_to_point_in_time()
        .source_table_name(&started.table)
        .target_table_name(&started.copy)
        .use_latest_restorable_time(true)
        .send()
        .await
        .map_err(sdk_error)?;
    Ok(())
}

/// Whether the copy is ready; `None` when there is no such table.
async fn active(dynamo: &Dynamo, copy: &str) -> Result<Option<bool>> {
    match dynamo.client.describe_table().table_name(copy).send().await {
        Ok(described) => Ok(Some(
            described.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active),
        )),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(sdk_error(e)),
    }
}

/// Deletes a drill's copy: only a table whose name says it is one.
async fn delete_copy(dynamo: &Dynamo, copy: &str) -> Result<()> {
    if !copy.contains("-drill-") {
        return Err(Error::internal(format!("{copy} is not a restore drill's copy")));
    }
    match dynamo.client.delete_table().table_name(copy).send().await {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            Ok(())
        }
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => Err(Error::Unavailable {
            service: "DynamoDB",
            reason: format!(
                "{copy} is still being restored: delete it once it is ready (aws dynamodb delete-table --table-name {copy})"
            ),
        }),
        Err(e) => Err(sdk_error(e)),
    }
}

/// Checks a restored copy through the same code that serves the product, over the copy.
async fn verify(settings: &Settings, dynamo: &Dynamo, started: Started) -> Result<Report> {
    let began = Instant::now();
    let restore_seconds = (now_unix() - started.started_at) as f64;
    let mut on_copy = settings.clone();
    if let Backend::Aws { table, .. } = &mut on_copy.backend {
        table.clone_from(&started.copy);
    }
    let ctx = Context::on_aws(on_copy).await?;
    let mut report = Report {
        table: started.table.clone(),
        copy: started.copy.clone(),
        restored_to: started.restored_to,
        started_at: started.started_at,
        restore_seconds,
        ..Report::default()
    };
    let workspaces = scan(dynamo, &started.copy, &mut report).await?;
    report.workspaces = workspaces.len();
    if report.items == 0 {
        report.problems.push("the copy holds no items".into());
    }
    for tenant in &workspaces {
        check_workspace(&ctx, tenant, &mut report).await?;
    }
    report.verify_seconds = began.elapsed().as_secs_f64();
    Ok(report)
}

/// Counts every item by family; returns the workspaces (those with a tenant item).
async fn scan(dynamo: &Dynamo, copy: &str, report: &mut Report) -> Result<BTreeSet<TenantId>> {
    let mut workspaces = BTreeSet::new();
    let mut after: Option<std::collections::HashMap<String, AttributeValue>> = None;
    loop {
        let page = dynamo
            .client
            .scan()
            .table_name(copy)
            .projection_expression("pk, sk")
            .set_exclusive_start_key(after.take())
            .send()
            .await
            .map_err(sdk_error)?;
        for item in page.items() {
            let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            let (pk, sk) = (text("pk"), text("sk"));
            *report.families.entry(keys::family(&pk)).or_default() += 1;
            report.items += 1;
            if let Some(tenant) = keys::tenant_of_item(&Key::new(pk, sk)) {
                workspaces.insert(tenant);
            }
        }
        match page.last_evaluated_key() {
            Some(key) if !key.is_empty() => after = Some(key.clone()),
            _ => return Ok(workspaces),
        }
    }
}

/// Opens a sample of a workspace's sealed fields and recounts its surveys' responses.
async fn check_workspace(ctx: &Arc<Context>, tenant: &TenantId, report: &mut Report) -> Result<()> {
    let store = ctx.tenant_store(tenant);
    let raw = ctx.store.as_ref();
    let created_at = match crate::services::accounts::tenants::load(ctx, tenant).await? {
        Some(t) if t.is_active() => t.created_at,
        // Deleted, its keys shredded, waiting for the purge: nothing of it opens, by design.
        Some(_) => {
            report.deleted += 1;
            return Ok(());
        }
        None => {
            report
                .problems
                .push(format!("workspace {tenant}: its tenant item does not read"));
            return Ok(());
        }
    };
    let now = now_unix();
    let mut opened = 0u64;
    let mut partitions = Partitions::of(raw, tenant, created_at, now)?;
    let mut walked = 0;
    while let Some((partition, _)) = partitions.next().await? {
        let page = raw.query(&Query::new(&partition).limit(SAMPLE_PER_PARTITION)).await?;
        for item in &page.items {
            opened += tenant_export::open_sealed(&store, item).await?;
        }
        // Empty partitions (a survey's unused counter shards) are no sample.
        walked += usize::from(!page.items.is_empty());
        if walked == SAMPLE_PARTITIONS {
            break;
        }
    }
    if opened == 0 {
        report
            .problems
            .push(format!("workspace {tenant}: no sealed field opened with the keyring"));
    }
    report.opened += opened;
    // Responses counted, by survey, against the counters' totals.
    let mut recount: BTreeMap<String, i64> = BTreeMap::new();
    let mut after = None;
    loop {
        let page = raw
            .query(
                &Query::new(keys::responses_partition(tenant))
                    .only(["survey".to_owned(), COUNTED.to_owned()])
                    .after(after),
            )
            .await?;
        for item in &page.items {
            if item.get(COUNTED).is_some() {
                *recount
                    .entry(item.str("survey").unwrap_or_default().to_owned())
                    .or_default() += 1;
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    for survey in crate::services::surveys::list(&store, true).await? {
        let query = MetricsQuery {
            survey: Some(survey.id.clone()),
            since: Some(0),
            until: Some((now / 86_400 + 2) * 86_400),
            ..MetricsQuery::default()
        };
        let counted = metrics::of_surveys(&store, std::slice::from_ref(&survey), &query)
            .await?
            .totals
            .response_count;
        let recounted = recount.get(&survey.id).copied().unwrap_or(0);
        if counted != recounted {
            report.problems.push(format!(
                "workspace {tenant}, survey {}: counters say {counted} responses, a recount finds {recounted}",
                survey.id
            ));
        }
        report.surveys += 1;
    }
    Ok(())
}
