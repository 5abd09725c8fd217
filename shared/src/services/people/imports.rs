//! CSV imports of people: the header is mapped to fields (or given a mapping), every row is
//! parsed and upserted like `POST /v1/people` (so re-running a file updates the same people and
//! writes nothing for rows that did not change), bad rows are reported with row, field and reason
//! (never the value), and the file is read in chunks so memory stays flat whatever its length.

use std::io::Read;
use std::time::Duration;

use futures_util::StreamExt;
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::{Email, Phone, Properties};
use crate::error::{Error, Result};
use crate::ids::{ImportId, new_id};
use crate::services::Caller;
use crate::services::audit::{self, Outcome, Target};
use crate::services::people::person::{PersonInput, SendRequest};
use crate::services::people::upsert;
use crate::store::{BatchOp, Condition, Item, Query, TenantStore, Update, keys, now_unix};

pub const MAX_ROWS: u64 = 100_000;
/// The largest file an import takes at once: API Gateway hands a body to Lambda base64-encoded
/// (every media type is binary) and Lambda takes 6 MB a request, so 4 MiB (5.6 MB encoded, with
/// room for the headers). The CLI splits larger files.
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;
/// Error rows kept per import; the count goes on.
pub const MAX_ERRORS: usize = 10_000;
/// Rows read ahead and upserted at once.
const CHUNK: usize = 256;
/// Rows an import job writes a second at most where partitions are limited (DynamoDB): each new
/// person's email lookup is written in the workspace's own partition (2 write units, in its
/// transaction), and this keeps that partition under half its limit (`ovation bench --only
/// scale`). 100,000 rows take about 8 minutes, well within the job's 15.
pub const PACED_ROWS_A_SECOND: u64 = 200;
const CONCURRENCY: usize = 16;
/// Error rows an import's answer shows; the report has all that were kept.
pub const SHOWN_ERRORS: usize = 100;

/// Where a column goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Column {
    Email,
    Phone,
    Name,
    Property(String),
    Ignore,
}

impl Column {
    /// A mapping target: `email`, `phone_number`, `name`, `ignore` or `properties.<name>`.
    pub fn parse(text: &str) -> Result<Column> {
        match text.trim() {
            "email" => Ok(Column::Email),
            "phone_number" => Ok(Column::Phone),
            "name" => Ok(Column::Name),
            "ignore" => Ok(Column::Ignore),
            t => match t.strip_prefix("properties.") {
                Some(p) if !p.is_empty() => Ok(Column::Property(p.to_owned())),
                _ => Err(Error::invalid(
                    "map",
                    "targets are email, phone_number, name, ignore or properties.<name>",
                )),
            },
        }
    }

    /// The mapping target this column is written as (what `parse` reads).
    pub fn target(&self) -> String {
        match self {
            Column::Email => "email".into(),
            Column::Phone => "phone_number".into(),
            Column::Name => "name".into(),
            Column::Ignore => "ignore".into(),
            Column::Property(name) => format!("properties.{name}"),
        }
    }

    /// The column a header names when no mapping says otherwise.
    pub fn guess(header: &str) -> Column {
        match header.trim().to_ascii_lowercase().as_str() {
            "email" | "e-mail" | "email address" | "email_address" => Column::Email,
            "phone" | "phone_number" | "phone number" | "mobile" | "mobile phone" => Column::Phone,
            "name" | "full name" | "full_name" => Column::Name,
            _ => Column::Property(header.trim().to_owned()),
        }
    }
}

/// A mapping as written in `map=` and `--map`: `Header:target,Header:target`.
pub fn mapping(text: Option<&str>) -> Result<Vec<(String, Column)>> {
    let mut mapping = Vec::new();
    for pair in text.iter().flat_map(|m| m.split(',')).filter(|p| !p.trim().is_empty()) {
        let (header, target) = pair
            .rsplit_once(':')
            .ok_or_else(|| Error::invalid("map", "write it as Header:target,Header:target"))?;
        mapping.push((header.trim().to_owned(), Column::parse(target)?));
    }
    Ok(mapping)
}

#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Header (case-insensitive) → target, overriding the guess.
    pub mapping: Vec<(String, Column)>,
    pub send: Option<SendRequest>,
    /// The number of the file's first data row (a part of a larger file).
    pub first_row: u64,
    /// A page's import (`import_jobs`): the id its item has, where the rows done are written as
    /// it runs and its summary when it ends.
    pub job: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct RowError {
    /// The row in the file (the header is row 1).
    pub row: u64,
    pub field: String,
    pub reason: String,
}

#[derive(Clone, Debug, Default, Serialize, serde::Deserialize, ToSchema)]
pub struct ImportSummary {
    pub id: String,
    pub rows: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub failed: u64,
    /// Surveys scheduled for imported people.
    pub scheduled: u64,
    /// The first error rows (all are counted in `failed`); the report has them.
    #[serde(skip_deserializing)]
    pub errors: Vec<RowError>,
    pub created_at: i64,
    pub finished_at: i64,
}

/// Why a whole file is refused before any row is read.
fn file_error(reason: &'static str) -> Error {
    Error::invalid("file", reason)
}

/// Reads `input` as CSV and upserts its people. `progress` is told the rows done so far.
pub async fn run<R: Read>(
    store: &TenantStore,
    caller: &Caller,
    hash_only: bool,
    input: R,
    options: &ImportOptions,
    progress: impl Fn(u64),
) -> Result<ImportSummary> {
    // Its people are sent a survey the caller sees (their teams' now, for a page's import).
    if let Some(send) = &options.send {
        crate::services::surveys::resolve_visible(store, caller, send.survey.as_deref()).await?;
    }
    let mut reader = csv_reader(input)?;
    let columns = columns(&headers(&mut reader)?, &options.mapping)?;
    let mut summary = ImportSummary {
        id: options.job.clone().unwrap_or_else(new_id),
        created_at: now_unix(),
        ..ImportSummary::default()
    };
    // A page's import run again after a failed attempt goes on after the rows it had done.
    if let Some(job) = &options.job
        && let Some(item) = store.get(&import_key(store, job)?).await?
        && let Some(progress) = item.str(PROGRESS)
    {
        summary = serde_json::from_str(progress).map_err(Error::internal)?;
    }
    let first_row = options.first_row.max(2);
    let mut records = reader.into_byte_records();
    if summary.rows > 0 {
        records.by_ref().take(summary.rows as usize).for_each(drop);
    }
    let mut stored_errors = 0usize;
    let paced = options.job.is_some() && store.spread().await?.workspace_shards > 1;
    let (started, resumed_at) = (tokio::time::Instant::now(), summary.rows);
    loop {
        let mut chunk = Vec::with_capacity(CHUNK);
        for record in records.by_ref().take(CHUNK) {
            let row = first_row + summary.rows + chunk.len() as u64;
            chunk.push((row, record));
        }
        if chunk.is_empty() {
            break;
        }
        if paced {
            let done = (summary.rows - resumed_at) as f64;
            tokio::time::sleep_until(started + Duration::from_secs_f64(done / PACED_ROWS_A_SECOND as f64)).await;
        }
        if summary.rows + chunk.len() as u64 > MAX_ROWS {
            let row = first_row + MAX_ROWS;
            summary.failed += 1;
            summary.errors.push(RowError {
                row,
                field: "file".into(),
                reason: format!("an import takes at most {MAX_ROWS} rows; split the file"),
            });
            chunk.truncate((MAX_ROWS - summary.rows) as usize);
            process(store, hash_only, &columns, options, chunk, &mut summary).await?;
            break;
        }
        process(store, hash_only, &columns, options, chunk, &mut summary).await?;
        stored_errors = flush_errors(store, &summary, stored_errors).await?;
        progress(summary.rows);
        if options.job.is_some() {
            save_progress(store, &mut summary).await?;
        }
    }
    flush_errors(store, &summary, stored_errors).await?;
    summary.finished_at = now_unix();
    progress(summary.rows);
    // The summary item holds counts only; the error rows are items of their own.
    let errors = std::mem::take(&mut summary.errors);
    let json = serde_json::to_string(&summary).map_err(Error::internal)?;
    let key = import_key(store, &summary.id)?;
    match &options.job {
        None => {
            store
                .put_own(Item::new(key).with(SUMMARY, json), Condition::NotExists)
                .await?
        }
        Some(_) => {
            let done = [
                Update::Set(SUMMARY.into(), json.into()),
                Update::Set(ROWS_DONE.into(), (summary.rows as i64).into()),
            ];
            store.update(&key, &done, Some(Condition::Exists)).await?;
        }
    }
    summary.errors = errors.into_iter().take(SHOWN_ERRORS).collect();
    audit::record(
        store,
        caller,
        "people.imported",
        Target::Import(summary.id.clone()),
        Outcome::Success,
    )
    .await?;
    Ok(summary)
}

/// An import's counts, once it is done (a JSON `ImportSummary`).
pub const SUMMARY: &str = "summary";
/// The rows a page's import has read so far.
pub const ROWS_DONE: &str = "rows_done";
/// A page's import's counts so far (a JSON `ImportSummary` without its error rows), where a run
/// that failed goes on from.
const PROGRESS: &str = "progress";

/// Writes a page's import's counts after a chunk: its page shows them, and a retry goes on from
/// them rather than from the first row (which would send its surveys twice).
async fn save_progress(store: &TenantStore, summary: &mut ImportSummary) -> Result<()> {
    let errors = std::mem::take(&mut summary.errors);
    let json = serde_json::to_string(&summary).map_err(Error::internal);
    summary.errors = errors;
    let updates = [
        Update::Set(ROWS_DONE.into(), (summary.rows as i64).into()),
        Update::Set(PROGRESS.into(), json?.into()),
    ];
    store
        .update(&import_key(store, &summary.id)?, &updates, Some(Condition::Exists))
        .await?;
    Ok(())
}

pub fn import_key(store: &TenantStore, id: &str) -> Result<crate::store::Key> {
    Ok(crate::store::Key::new(
        keys::imports_partition(store.tenant()),
        id.to_owned(),
    ))
}

/// A CSV reader of `input`: a UTF-8 byte-order mark skipped, UTF-16 refused.
fn csv_reader<R: Read>(input: R) -> Result<csv::Reader<std::io::BufReader<R>>> {
    let mut input = std::io::BufReader::with_capacity(64 * 1024, input);
    let head = std::io::BufRead::fill_buf(&mut input).map_err(|_| file_error("cannot be read"))?;
    if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
        return Err(file_error("is UTF-16; save it as CSV UTF-8"));
    }
    let bom = if head.starts_with(&[0xEF, 0xBB, 0xBF]) { 3 } else { 0 };
    std::io::BufRead::consume(&mut input, bom);
    Ok(csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_reader(input))
}

/// The header row's names.
fn headers<R: Read>(reader: &mut csv::Reader<R>) -> Result<Vec<String>> {
    let raw = reader
        .byte_headers()
        .map_err(|_| file_error("has no readable header row"))?;
    raw.iter()
        .map(|h| {
            std::str::from_utf8(h)
                .map(str::to_owned)
                .map_err(|_| file_error("is not UTF-8; save it as CSV UTF-8"))
        })
        .collect()
}

/// What a file holds, read before it is imported: its header, its first rows and how many rows
/// it has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inspection {
    pub headers: Vec<String>,
    pub samples: Vec<Vec<String>>,
    pub rows: u64,
}

/// Rows an inspection keeps to show.
pub const SAMPLES: usize = 3;

/// Reads a whole file as an import would, without importing: refused as `run` would refuse it
/// (encoding, header, more than `MAX_ROWS` rows).
pub fn inspect(file: &[u8]) -> Result<Inspection> {
    let mut reader = csv_reader(file)?;
    let headers = headers(&mut reader)?;
    let (mut samples, mut rows) = (Vec::new(), 0u64);
    for record in reader.into_byte_records() {
        rows += 1;
        if samples.len() < SAMPLES
            && let Ok(record) = record
        {
            samples.push(
                record
                    .iter()
                    .map(|c| String::from_utf8_lossy(c).trim().to_owned())
                    .collect(),
            );
        }
    }
    if rows == 0 {
        return Err(file_error("has a header but no rows"));
    }
    if rows > MAX_ROWS {
        return Err(file_error("has more than 100,000 rows; split it"));
    }
    Ok(Inspection { headers, samples, rows })
}

/// Where each of `headers` goes: `mapping` (by header, case-insensitive), else the guess. A
/// mapping without an email or phone column, or with two columns for one field, is refused.
pub fn columns(headers: &[String], mapping: &[(String, Column)]) -> Result<Vec<Column>> {
    let mut columns = Vec::with_capacity(headers.len());
    for header in headers {
        let mapped = mapping
            .iter()
            .find(|(h, _)| h.eq_ignore_ascii_case(header.trim()))
            .map(|(_, c)| c.clone());
        let column = mapped.unwrap_or_else(|| Column::guess(header));
        if let Column::Property(name) = &column
            && name.is_empty()
        {
            columns.push(Column::Ignore);
            continue;
        }
        if column != Column::Ignore && columns.contains(&column) {
            return Err(file_error(
                "has two columns for the same field; map one of them to `ignore`",
            ));
        }
        columns.push(column);
    }
    if !columns.iter().any(|c| matches!(c, Column::Email | Column::Phone)) {
        return Err(file_error(
            "needs an email or phone_number column (name it so, or map one with `map`)",
        ));
    }
    Ok(columns)
}

/// A cell a spreadsheet would run as a formula: refused, so exports never carry one. A sign is
/// let through only before a plain number or a phone number written with spaces or brackets
/// (`-5`, `+45 20 12 34 56`): anything more (`+1+1`, `-2+3+cmd|…`) is a formula.
fn formula_like(value: &str) -> bool {
    let mut chars = value.chars();
    match chars.next() {
        Some('=' | '@' | '\t' | '\r') => true,
        Some('+' | '-') => !chars.all(|c| c.is_ascii_digit() || matches!(c, ' ' | '.' | ',' | '(' | ')')),
        _ => false,
    }
}

/// Parses one row into a person's input; the error names the field.
fn parse_row(
    columns: &[Column],
    record: &csv::ByteRecord,
    options: &ImportOptions,
) -> std::result::Result<PersonInput, (String, String)> {
    let bad = |field: &str, reason: &str| (field.to_owned(), reason.to_owned());
    if record.len() != columns.len() {
        return Err(bad(
            "row",
            &format!("has {} cells; the header has {}", record.len(), columns.len()),
        ));
    }
    let mut input = PersonInput {
        send: options.send.clone(),
        ..PersonInput::default()
    };
    let mut properties = std::collections::BTreeMap::new();
    for (column, raw) in columns.iter().zip(record.iter()) {
        let value = std::str::from_utf8(raw).map_err(|_| bad("row", "is not UTF-8; save the file as CSV UTF-8"))?;
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        let invalid = |field: &str, e: Error| match e {
            Error::Invalid { reason, .. } => (field.to_owned(), reason.into_owned()),
            e => (field.to_owned(), e.to_string()),
        };
        match column {
            Column::Email => input.email = Some(Email::parse(value).map_err(|e| invalid("email", e))?),
            Column::Phone => {
                input.phone = Some(Phone::parse_field("phone_number", value).map_err(|e| invalid("phone_number", e))?)
            }
            Column::Name => {
                if formula_like(value) {
                    return Err(bad("name", "starts with a spreadsheet formula character (= + - @)"));
                }
                input.name = Some(crate::domain::label("name", value).map_err(|e| invalid("name", e))?);
            }
            Column::Property(name) => {
                if formula_like(value) {
                    return Err((
                        format!("properties.{name}"),
                        "starts with a spreadsheet formula character (= + - @)".into(),
                    ));
                }
                properties.insert(name.clone(), value.to_owned());
            }
            Column::Ignore => {}
        }
    }
    if input.email.is_none() && input.phone.is_none() {
        return Err(bad("email", "an email or a phone_number is required"));
    }
    input.properties = Properties::checked("properties", properties).map_err(|e| match e {
        Error::Invalid { reason, .. } => ("properties".to_owned(), reason.into_owned()),
        e => ("properties".to_owned(), e.to_string()),
    })?;
    Ok(input)
}

async fn process(
    store: &TenantStore,
    hash_only: bool,
    columns: &[Column],
    options: &ImportOptions,
    chunk: Vec<(u64, csv::Result<csv::ByteRecord>)>,
    summary: &mut ImportSummary,
) -> Result<()> {
    summary.rows += chunk.len() as u64;
    let mut parsed = Vec::with_capacity(chunk.len());
    for (row, record) in chunk {
        let input = match record {
            Ok(record) => parse_row(columns, &record, options),
            Err(_) => Err(("row".to_owned(), "is not valid CSV (check its quotes)".to_owned())),
        };
        match input {
            Ok(input) => parsed.push((row, input)),
            Err((field, reason)) => fail(summary, row, field, reason),
        }
    }
    for wave in in_file_order(parsed) {
        let mut results = futures_util::stream::iter(wave)
            .map(|(row, input)| async move { (row, upsert::upsert(store, &input, hash_only).await) })
            .buffer_unordered(CONCURRENCY);
        while let Some((row, result)) = results.next().await {
            match result {
                Ok(done) => {
                    match (done.created, done.changed) {
                        (true, _) => summary.created += 1,
                        (false, true) => summary.updated += 1,
                        (false, false) => summary.unchanged += 1,
                    }
                    summary.scheduled += u64::from(done.invitation.is_some());
                }
                Err(Error::Invalid { field, reason }) => fail(summary, row, field.into_owned(), reason.into_owned()),
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// Splits rows into waves that may each be upserted concurrently: a row sharing an email or a
/// phone number with an earlier row waits for a later wave, so rows about the same person are
/// applied in file order (the later row wins, whatever the timing).
fn in_file_order(rows: Vec<(u64, PersonInput)>) -> Vec<Vec<(u64, PersonInput)>> {
    let contacts = |input: &PersonInput| {
        [
            input.email.as_ref().map(|e| e.as_str().to_owned()),
            input.phone.as_ref().map(|p| p.as_str().to_owned()),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
    };
    let mut waves = Vec::new();
    let mut pending = rows;
    while !pending.is_empty() {
        let mut seen = std::collections::HashSet::new();
        let (mut wave, mut later) = (Vec::new(), Vec::new());
        for (row, input) in pending {
            let keys = contacts(&input);
            let free = keys.iter().all(|k| !seen.contains(k));
            seen.extend(keys);
            if free {
                wave.push((row, input))
            } else {
                later.push((row, input))
            }
        }
        waves.push(wave);
        pending = later;
    }
    waves
}

fn fail(summary: &mut ImportSummary, row: u64, field: String, reason: String) {
    summary.failed += 1;
    if summary.errors.len() < MAX_ERRORS {
        summary.errors.push(RowError { row, field, reason });
    }
}

/// Writes the error rows not yet stored; returns how many are stored.
async fn flush_errors(store: &TenantStore, summary: &ImportSummary, stored: usize) -> Result<usize> {
    let partition = keys::import_partition(store.tenant(), &summary.id)?;
    let mut ops = Vec::new();
    for e in &summary.errors[stored..] {
        let item = Item::new(crate::store::Key::new(partition.clone(), format!("E#{:010}", e.row)))
            .with("field", e.field.as_str())
            .with("reason", e.reason.as_str());
        ops.push(BatchOp::Put(item));
    }
    if !ops.is_empty() {
        store.batch_write(ops).await?;
    }
    Ok(summary.errors.len())
}

/// An import's summary, its error rows left out.
pub async fn load(store: &TenantStore, id: &ImportId) -> Result<ImportSummary> {
    let id = id.as_str();
    let key = import_key(store, id).map_err(|_| Error::NotFound("import"))?;
    let item = store.get(&key).await?.ok_or(Error::NotFound("import"))?;
    let summary = item
        .str(SUMMARY)
        .ok_or_else(|| Error::invalid("import", "is not done yet; its counts come when it ends"))?;
    serde_json::from_str(summary).map_err(Error::internal)
}

/// The error report as CSV: `row,field,reason`.
pub async fn error_report(store: &TenantStore, id: &ImportId) -> Result<String> {
    load(store, id).await?;
    let id = id.as_str();
    let items = store
        .query_all(Query::new(keys::import_partition(store.tenant(), id)?).prefix("E#"))
        .await?;
    let mut out = csv::Writer::from_writer(Vec::new());
    let write = |w: &mut csv::Writer<Vec<u8>>, fields: [&str; 3]| w.write_record(fields).map_err(Error::internal);
    write(&mut out, ["row", "field", "reason"])?;
    for item in &items {
        let row = item.key.sk.trim_start_matches("E#").trim_start_matches('0').to_owned();
        write(
            &mut out,
            [
                &row,
                item.str("field").unwrap_or_default(),
                item.str("reason").unwrap_or_default(),
            ],
        )?;
    }
    String::from_utf8(out.into_inner().map_err(Error::internal)?).map_err(Error::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(email: Option<&str>, phone: Option<&str>) -> PersonInput {
        PersonInput {
            email: email.map(|e| Email::parse(e).unwrap()),
            phone: phone.map(|p| Phone::parse_field("phone_number", p).unwrap()),
            ..PersonInput::default()
        }
    }

    #[test]
    fn rows_about_the_same_person_are_applied_in_file_order() {
        let rows = vec![
            (2, person(Some("ann@example.com"), None)),
            (3, person(Some("bob@example.com"), Some("+4520123456"))),
            (4, person(Some("ANN@example.com"), None)),
            (5, person(None, Some("+4520123456"))),
            (6, person(Some("cy@example.com"), None)),
            (7, person(Some("ann@example.com"), Some("+4520999999"))),
            (8, person(None, Some("+4520999999"))),
        ];
        let waves: Vec<Vec<u64>> = in_file_order(rows)
            .into_iter()
            .map(|wave| wave.into_iter().map(|(row, _)| row).collect())
            .collect();
        assert_eq!(waves, [vec![2, 3, 6], vec![4, 5], vec![7], vec![8]]);
    }
}
