//! Retention: once a day, in every workspace with `retention_days`, what is older goes —
//! responses anonymised (or deleted, as the workspace chose; the results keep counting them),
//! finished invitations with their short links, people without activity, imports, and audit
//! months past the audit period — and one audit entry says how much.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::Context;
use crate::domain::tenant::{RetentionAction, Tenant};
use crate::domain::time;
use crate::error::{Error, Result};
use crate::ids::{TenantId, id_at, id_time};
use crate::services::accounts::tenants;
use crate::services::audit::{self, Target};
use crate::services::lifecycle::erasure;
use crate::services::people::person::{self, Person};
use crate::services::results::response_record;
use crate::services::sending::autopilot;
use crate::services::sending::invitations::Invitation;
use crate::services::sending::status::StepStatus;
use crate::services::surveys::Survey;
use crate::store::{BatchOp, Condition, Item, Key, MAX_QUERY_LIMIT, Query, SortKey, TenantStore, TxOp, keys};

/// Audit entries are kept at least this long (a year of evidence for a security review), or
/// as long as the retention period when that is longer; they go by whole months.
pub const AUDIT_KEPT_DAYS: u32 = 365;
const DAY: i64 = 86_400;
/// Responses written in one transaction (two operations each: the response, its pointer).
const RESPONSES_PER_WRITE: usize = 50;

/// What one run removed, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Removed {
    pub responses_anonymized: u64,
    pub responses_deleted: u64,
    pub invitations_deleted: u64,
    pub people_deleted: u64,
    pub imports_deleted: u64,
    pub audit_months_deleted: u64,
}

impl Removed {
    fn figures(&self) -> BTreeMap<String, u64> {
        [
            ("responses_anonymized", self.responses_anonymized),
            ("responses_deleted", self.responses_deleted),
            ("invitations_deleted", self.invitations_deleted),
            ("people_deleted", self.people_deleted),
            ("imports_deleted", self.imports_deleted),
            ("audit_months_deleted", self.audit_months_deleted),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    fn any(&self) -> bool {
        self.figures().values().any(|n| *n > 0)
    }

    fn add(&mut self, other: Removed) {
        self.responses_anonymized += other.responses_anonymized;
        self.responses_deleted += other.responses_deleted;
        self.invitations_deleted += other.invitations_deleted;
        self.people_deleted += other.people_deleted;
        self.imports_deleted += other.imports_deleted;
        self.audit_months_deleted += other.audit_months_deleted;
    }
}

/// What a run of the job did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Workspaces swept (those already swept today are passed by).
    pub workspaces: usize,
    pub removed: Removed,
    /// True when the run stopped at its deadline: the next run goes on where it stopped.
    pub more: bool,
    /// Workspaces whose sweep failed (logged; tried again next run).
    pub failed: usize,
}

/// Refuses a response dated before the workspace's retention period: it would be out of its
/// period on arrival (and behind what the job has swept).
pub async fn refuse_expired(ctx: &Context, tenant: &TenantId, created_at: Option<i64>, now: i64) -> Result<()> {
    let days = tenants::active(ctx, tenant)
        .await?
        .and_then(|t| t.settings.retention_days);
    match (created_at, days) {
        (Some(at), Some(days)) if at < cutoff(now, days) => Err(Error::invalid(
            "created_at",
            format!("is older than this workspace keeps responses (retention_days: {days})"),
        )),
        _ => Ok(()),
    }
}

fn cutoff(now: i64, days: u32) -> i64 {
    now - i64::from(days) * DAY
}

/// Sweeps every listed workspace not yet swept on `now`'s day, until `deadline`; one cut short
/// is finished by the next run.
pub async fn run_due(ctx: &Context, now: i64, deadline: Instant) -> Result<RetentionReport> {
    let mut report = RetentionReport::default();
    let listed = Query::new(keys::SYSTEM_PARTITION)
        .prefix(keys::RETAIN_PREFIX)
        .limit(MAX_QUERY_LIMIT);
    let mut after = None;
    loop {
        let page = ctx.store.query(&listed.clone().after(after)).await?;
        for entry in &page.items {
            if Instant::now() >= deadline {
                report.more = true;
                return Ok(report);
            }
            let id: TenantId = entry.str("tenant").unwrap_or_default().parse()?;
            match tenants::load(ctx, &id).await? {
                Some(tenant) if tenant.is_active() => match sweep(ctx, &tenant, now, deadline).await {
                    Ok(None) => {}
                    Ok(Some(swept)) => {
                        report.workspaces += 1;
                        report.removed.add(swept.removed);
                        report.more |= !swept.finished;
                    }
                    // One workspace's failure stops neither the others nor its next run (its
                    // progress is saved); the job reports it.
                    Err(e) => {
                        tracing::error!(tenant = %tenant.id, error = %e, "retention failed for a workspace");
                        report.failed += 1;
                    }
                },
                // A deleted workspace's items go with its purge.
                _ => ctx.store.delete(&entry.key, None).await?,
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(report),
        }
    }
}

/// One workspace's sweep: what it removed, and whether it finished before the deadline.
pub struct Swept {
    pub removed: Removed,
    pub finished: bool,
}

/// Sweeps one workspace on `now`'s day; none when it keeps everything or was swept that day.
pub async fn sweep(ctx: &Context, tenant: &Tenant, now: i64, deadline: Instant) -> Result<Option<Swept>> {
    let Some(days) = tenant.settings.retention_days else {
        return Ok(None);
    };
    let store = ctx.tenant_store(&tenant.id);
    let mut state = State::load(&store).await?;
    let today = now.div_euclid(86_400);
    if state.finished_day == Some(today) {
        return Ok(None);
    }
    let action = tenant.settings.retention_action;
    // Set to delete after anonymising: the responses anonymised so far are deleted too.
    if state.action != Some(action) {
        if action == RetentionAction::Delete {
            state.responses_to = 0;
        }
        state.action = Some(action);
    }
    let mut run = Run {
        store: &store,
        cutoff: cutoff(now, days),
        now,
        deadline,
        removed: Removed::default(),
    };
    let audit_cutoff = cutoff(now, days.max(AUDIT_KEPT_DAYS));
    let steps = async {
        Ok::<_, Error>(
            run.responses(action, &mut state).await?
                && run.invitations().await?
                && run.people(&mut state).await?
                && run.imports().await?
                && run.audit_months(audit_cutoff, tenant.created_at, &mut state).await?,
        )
    }
    .await;
    // What was done is kept and audited even when a step failed.
    let finished = *steps.as_ref().unwrap_or(&false);
    if finished {
        state.finished_day = Some(today);
    }
    state.save(&store).await?;
    let removed = run.removed;
    if removed.any() {
        let target = Target::Tenant(tenant.id.to_string());
        audit::record_system(&store, "retention.applied", target, &removed.figures()).await?;
        tracing::info!(tenant = %tenant.id, ?removed, finished, "retention applied");
    }
    steps?;
    Ok(Some(Swept { removed, finished }))
}

/// A workspace's progress, kept between runs.
#[derive(Default)]
struct State {
    /// Every response made before this second has been swept (anonymised ones stay: the next
    /// run starts here).
    responses_to: i64,
    /// Where an unfinished walk through the people stopped.
    people_cursor: Option<String>,
    /// Every audit month before this one (`2025-11`) is gone.
    audit_from: Option<String>,
    /// The day (unix days) the last sweep finished.
    finished_day: Option<i64>,
    /// The action of the last sweep (a change to `delete` sweeps from the start).
    action: Option<RetentionAction>,
}

impl State {
    async fn load(store: &TenantStore) -> Result<State> {
        let Some(item) = store.get(&keys::retention_state(store.tenant())).await? else {
            return Ok(State::default());
        };
        Ok(State {
            responses_to: item.num("responses_to").unwrap_or_default(),
            people_cursor: item.str("people_cursor").map(str::to_owned),
            audit_from: item.str("audit_from").map(str::to_owned),
            finished_day: item.num("finished_day"),
            action: match item.str("action") {
                Some("delete") => Some(RetentionAction::Delete),
                Some("anonymize") => Some(RetentionAction::Anonymize),
                _ => None,
            },
        })
    }

    async fn save(&self, store: &TenantStore) -> Result<()> {
        let mut item = Item::new(keys::retention_state(store.tenant())).with("responses_to", self.responses_to);
        for (name, value) in [("people_cursor", &self.people_cursor), ("audit_from", &self.audit_from)] {
            if let Some(value) = value {
                item = item.with(name, value.as_str());
            }
        }
        if let Some(day) = self.finished_day {
            item = item.with("finished_day", day);
        }
        if let Some(action) = self.action {
            let name = match action {
                RetentionAction::Anonymize => "anonymize",
                RetentionAction::Delete => "delete",
            };
            item = item.with("action", name);
        }
        store.put(item, None).await
    }
}

/// One sweep of one workspace; each step answers whether it finished before the deadline.
struct Run<'a> {
    store: &'a TenantStore,
    /// What was made before this second is past the retention period.
    cutoff: i64,
    now: i64,
    deadline: Instant,
    removed: Removed,
}

impl Run<'_> {
    fn out_of_time(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// Responses made in `[state.responses_to, cutoff)`: anonymised or deleted.
    async fn responses(&mut self, action: RetentionAction, state: &mut State) -> Result<bool> {
        // A longer period set since the last run moves the start back, so that a response
        // dated into the gap is not passed by.
        let from = state.responses_to.min(self.cutoff);
        state.responses_to = from;
        let query = Query::new(keys::responses_partition(self.store.tenant()))
            .sort(SortKey::Between(id_at(from, false), id_at(self.cutoff - 1, true)))
            .limit(MAX_QUERY_LIMIT);
        let mut cursor: Option<String> = None;
        loop {
            if self.out_of_time() {
                return Ok(false);
            }
            let page = self.store.query(query.clone(), cursor.as_deref()).await?;
            match action {
                RetentionAction::Anonymize => self.anonymize(&page.items).await?,
                RetentionAction::Delete => self.delete_responses(&page.items).await?,
            }
            // Everything before the last one's second is done (its second is looked at again).
            if let Some(last) = page.items.last().and_then(|i| id_time(&i.key.sk)) {
                state.responses_to = last;
            }
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => {
                    // The next run looks at the last day again: a response dated into it while
                    // this run went (or under a period cached for a moment) is not passed by;
                    // the anonymised ones are skipped.
                    state.responses_to = self.cutoff - DAY;
                    return Ok(true);
                }
            }
        }
    }

    async fn anonymize(&mut self, items: &[Item]) -> Result<()> {
        let mut writes = Vec::with_capacity(items.len());
        for item in items {
            if let Some(put) = response_record::anonymized(self.store, item, self.now).await? {
                writes.push((item, put));
            }
        }
        for chunk in writes.chunks(RESPONSES_PER_WRITE) {
            let ops = chunk
                .iter()
                .map(|(item, put)| Ok([Some(put.clone()), self.pointer_deletion(item)?]))
                .collect::<Result<Vec<_>>>()?;
            match self.store.transact(ops.into_iter().flatten().flatten().collect()).await {
                Ok(()) => self.removed.responses_anonymized += chunk.len() as u64,
                // One of them changed meanwhile: each on its own, read again.
                Err(Error::TransactionCanceled(_)) => {
                    for (item, _) in chunk {
                        self.anonymize_one(&item.key).await?;
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Anonymises one response read afresh, retrying while others change it.
    async fn anonymize_one(&mut self, key: &Key) -> Result<()> {
        for _ in 0..3 {
            let Some(item) = self.store.get(key).await? else {
                return Ok(());
            };
            let Some(put) = response_record::anonymized(self.store, &item, self.now).await? else {
                return Ok(());
            };
            let ops = [Some(put), self.pointer_deletion(&item)?]
                .into_iter()
                .flatten()
                .collect();
            match self.store.transact(ops).await {
                Ok(()) => {
                    self.removed.responses_anonymized += 1;
                    return Ok(());
                }
                Err(Error::TransactionCanceled(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::ConditionFailed)
    }

    /// The deletion of the person's pointer to a response (or an invitation) in `item`.
    fn pointer_deletion(&self, item: &Item) -> Result<Option<TxOp>> {
        let kind = if item.key.sk.starts_with("INV#") { "INV" } else { "R" };
        let id = item.key.sk.strip_prefix("INV#").unwrap_or(&item.key.sk);
        item.str("person")
            .map(|person| {
                Ok(TxOp::Delete {
                    key: keys::person_pointer(self.store.tenant(), person, kind, id)?,
                    condition: None,
                })
            })
            .transpose()
    }

    async fn delete_responses(&mut self, items: &[Item]) -> Result<()> {
        let mut deletes = Vec::with_capacity(items.len() * 2);
        for item in items {
            deletes.push(BatchOp::Delete(item.key.clone()));
            if let Some(TxOp::Delete { key, .. }) = self.pointer_deletion(item)? {
                deletes.push(BatchOp::Delete(key));
            }
        }
        if !deletes.is_empty() {
            self.store.batch_write(deletes).await?;
        }
        self.removed.responses_deleted += items.len() as u64;
        Ok(())
    }

    /// Invitations made before the cutoff with nothing left to do (no step pending, the link
    /// expired, any answer itself past the period), with their short links and their people's
    /// pointers. Each goes on the condition that it still has nothing to do.
    async fn invitations(&mut self) -> Result<bool> {
        let tenant = self.store.tenant();
        let surveys = self
            .store
            .query_all(Query::new(keys::tenant_partition(tenant)).prefix(keys::SURVEY_PREFIX))
            .await?;
        for survey in surveys.iter().map(Survey::from_item) {
            let survey = survey?;
            let query = Query::new(keys::survey_partition(tenant, &survey.id)?)
                .sort(SortKey::Between(
                    format!("INV#{}", id_at(0, false)),
                    format!("INV#{}", id_at(self.cutoff - 1, true)),
                ))
                .limit(MAX_QUERY_LIMIT);
            let mut cursor: Option<String> = None;
            loop {
                if self.out_of_time() {
                    return Ok(false);
                }
                let page = self.store.query(query.clone(), cursor.as_deref()).await?;
                for item in &page.items {
                    if self.invitation_done(item, &survey)? {
                        self.delete_invitation(item, &survey.id).await?;
                    }
                }
                match page.cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
        }
        Ok(true)
    }

    fn invitation_done(&self, item: &Item, survey: &Survey) -> Result<bool> {
        let waiting = [StepStatus::Pending, StepStatus::Queued, StepStatus::Sending]
            .iter()
            .any(|s| item.str("status") == Some(s.as_str()));
        let link_open = Invitation::from_item(item)?.link_expires_at(survey) >= self.now;
        let answer_kept = item
            .str("response")
            .and_then(id_time)
            .is_some_and(|at| at >= self.cutoff);
        // An index entry names the invitation's next action (a reminder due).
        Ok(!waiting && !link_open && !answer_kept && item.index_key().is_none())
    }

    /// Deletes an invitation that has nothing left to do, unless it changed meanwhile (a
    /// reminder scheduled, an answer recorded), then its short link and its person's pointer.
    async fn delete_invitation(&mut self, item: &Item, survey: &str) -> Result<()> {
        let unchanged = Condition::And(vec![
            Condition::AttrNotExists(crate::store::attr::GSI1PK.into()),
            match item.str("response") {
                Some(response) => Condition::eq("response", response),
                None => Condition::AttrNotExists("response".into()),
            },
        ]);
        match self.store.delete(&item.key, Some(unchanged)).await {
            Ok(()) => {}
            Err(Error::ConditionFailed) => return Ok(()),
            Err(e) => return Err(e),
        }
        let id = item.key.sk.trim_start_matches("INV#");
        let mut deletes = vec![BatchOp::Delete(keys::short_link(self.store.tenant(), survey, id)?)];
        if let Some(TxOp::Delete { key, .. }) = self.pointer_deletion(item)? {
            deletes.push(BatchOp::Delete(key));
        }
        self.store.batch_write(deletes).await?;
        self.removed.invitations_deleted += 1;
        Ok(())
    }

    /// People idle since before the cutoff (nothing made, written, sent or answered; not kept
    /// for an unsubscribe, a bounce, a scheduled survey or reminder, or an autopilot
    /// membership), erased. People last written before activity was recorded are kept.
    async fn people(&mut self, state: &mut State) -> Result<bool> {
        let query = Query::new(keys::people_partition(self.store.tenant())).limit(MAX_QUERY_LIMIT);
        loop {
            let page = self.store.query(query.clone(), state.people_cursor.as_deref()).await?;
            for item in &page.items {
                // Stopped inside a page, the next run reads it again (the erased are gone).
                if self.out_of_time() {
                    return Ok(false);
                }
                if self.idle(item) && !self.still_kept(&item.key).await? {
                    // Read afresh: a person written since the page was read is not erased.
                    let Some(fresh) = self.store.get(&item.key).await? else {
                        continue;
                    };
                    if self.idle(&fresh) {
                        erasure::erase(self.store, &Person::from_item(self.store, &fresh).await?).await?;
                        self.removed.people_deleted += 1;
                    }
                }
            }
            state.people_cursor = page.cursor;
            if state.people_cursor.is_none() {
                return Ok(true);
            }
        }
    }

    fn idle(&self, item: &Item) -> bool {
        item.get("updated_at").is_some() && person::idle_since(item).is_some_and(|at| at < self.cutoff)
    }

    /// Whether something still keeps a person: an autopilot membership, or an invitation with
    /// a step still due (a reminder).
    async fn still_kept(&self, person: &Key) -> Result<bool> {
        if autopilot::is_member(self.store, &person.sk).await? {
            return Ok(true);
        }
        let pointers = keys::person_partition(self.store.tenant(), &person.sk)?;
        for pointer in self.store.query_all(Query::new(pointers).prefix("INV#")).await? {
            let survey = pointer.str("survey").unwrap_or_default();
            let id = pointer.key.sk.trim_start_matches("INV#");
            let invitation = self
                .store
                .get(&keys::invitation(self.store.tenant(), survey, id)?)
                .await?;
            if invitation.is_some_and(|i| i.index_key().is_some()) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Imports (their summaries and row errors) made before the cutoff.
    async fn imports(&mut self) -> Result<bool> {
        let tenant = self.store.tenant();
        let old = Query::new(keys::imports_partition(tenant))
            .sort(SortKey::AtMost(id_at(self.cutoff - 1, true)))
            .limit(MAX_QUERY_LIMIT);
        for import in self.store.query_all(old).await? {
            if self.out_of_time() {
                return Ok(false);
            }
            self.delete_partition(&keys::import_partition(tenant, &import.key.sk)?)
                .await?;
            self.store.delete(&import.key, None).await?;
            self.removed.imports_deleted += 1;
        }
        Ok(true)
    }

    /// Audit months wholly before `audit_cutoff`'s month, from where the last run stopped.
    async fn audit_months(&mut self, audit_cutoff: i64, created_at: i64, state: &mut State) -> Result<bool> {
        let keep_from = time::month_of(audit_cutoff);
        let mut at = time::start_of_month(created_at);
        if let Some(from) = &state.audit_from {
            while time::month_of(at) < *from && time::month_of(at) < keep_from {
                at = time::start_of_next_month(at);
            }
        }
        while time::month_of(at) < keep_from {
            if self.out_of_time() {
                return Ok(false);
            }
            let month = time::month_of(at);
            let partition = keys::audit_partition(self.store.tenant(), &month)?;
            if self.delete_partition(&partition).await? > 0 {
                self.removed.audit_months_deleted += 1;
            }
            at = time::start_of_next_month(at);
            state.audit_from = Some(time::month_of(at));
        }
        Ok(true)
    }

    /// Deletes every item of one of the tenant's partitions; how many there were.
    async fn delete_partition(&self, partition: &str) -> Result<usize> {
        let mut deleted = 0;
        loop {
            let page = self
                .store
                .query(Query::new(partition).limit(MAX_QUERY_LIMIT), None)
                .await?;
            if page.items.is_empty() {
                return Ok(deleted);
            }
            deleted += page.items.len();
            let more = page.cursor.is_some();
            self.store
                .batch_write(page.items.into_iter().map(|i| BatchOp::Delete(i.key)).collect())
                .await?;
            if !more {
                return Ok(deleted);
            }
        }
    }
}
