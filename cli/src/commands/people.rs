//! `ovation people import FILE`: imports people from CSV with a progress bar. Into the store
//! directly (`--tenant`, the embedded data directory or `--aws`), streaming the file through the
//! import service in one run; or through any Ovation's API (`--api-key`, `--url`), sending the file
//! in parts of at most `PART_ROWS` rows with their row numbers, so the error report's rows are the
//! file's. Either way the error report is written beside the file.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use ovation::domain::send_at::SendAt;
use ovation::domain::{Channel, Slug};
use ovation::services::Caller;
use ovation::services::accounts::tenants;
use ovation::services::people::imports::{self, ImportOptions, ImportSummary};
use ovation::services::people::person::SendRequest;
use ovation::{Context, Error, Result};

use crate::commands::backend::BackendArgs;

/// Rows per request when importing through the API (well under the 4 MiB body limit).
pub const PART_ROWS: usize = 5_000;

#[derive(Subcommand)]
pub enum PeopleCommand {
    /// Import people from a CSV file (UTF-8; a header row with email and/or phone_number).
    Import(ImportArgs),
}

#[derive(Args)]
pub struct ImportArgs {
    /// The CSV file.
    pub file: PathBuf,
    /// The tenant's slug: import straight into the store (stop `ovation serve` first).
    #[arg(long, conflicts_with = "api_key")]
    pub tenant: Option<String>,
    /// An API key (write scope): import through the API at `--url`.
    #[arg(long, env = "OVATION_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// The API's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Column mapping: `Header:target,...` (email, phone_number, name, ignore, properties.<name>).
    #[arg(long)]
    pub map: Option<String>,
    /// Schedule the survey for every imported person.
    #[arg(long)]
    pub send: bool,
    #[arg(long, value_parser = ["email", "sms"], default_value = "email")]
    pub channel: String,
    /// Seconds before the survey goes out.
    #[arg(long, default_value_t = 0)]
    pub delay: i64,
    /// The survey to send [default: the tenant's default survey].
    #[arg(long)]
    pub survey_id: Option<String>,
    #[command(flatten)]
    pub backend: BackendArgs,
}

pub async fn run(command: PeopleCommand) -> Result<()> {
    let PeopleCommand::Import(args) = command;
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template("{spinner} {pos} rows imported ({per_sec})").map_err(Error::internal)?);
    let (summary, report) = match (&args.tenant, &args.api_key) {
        (Some(slug), _) => into_store(&args, slug, &bar).await?,
        (None, Some(key)) => through_api(&args, key, &bar).await?,
        (None, None) => {
            return Err(Error::invalid(
                "tenant",
                "pass --tenant SLUG (store) or --api-key KEY (API)",
            ));
        }
    };
    bar.finish_and_clear();
    println!(
        "{} rows: {} created, {} updated, {} unchanged, {} failed, {} surveys scheduled",
        summary.rows, summary.created, summary.updated, summary.unchanged, summary.failed, summary.scheduled
    );
    if summary.failed > 0 {
        let path = report_path(&args.file);
        std::fs::write(&path, report).map_err(Error::internal)?;
        println!("error report: {}", path.display());
    }
    Ok(())
}

fn report_path(file: &Path) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(".errors.csv");
    file.with_file_name(name)
}

fn options(args: &ImportArgs, first_row: u64) -> Result<ImportOptions> {
    let at = SendAt::after(args.delay)?;
    Ok(ImportOptions {
        mapping: imports::mapping(args.map.as_deref())?,
        send: args.send.then(|| SendRequest {
            channel: if args.channel == "sms" {
                Channel::Sms
            } else {
                Channel::Email
            },
            at,
            survey: args.survey_id.clone(),
        }),
        first_row,
        job: None,
    })
}

async fn into_store(args: &ImportArgs, slug: &str, bar: &ProgressBar) -> Result<(ImportSummary, String)> {
    let ctx = Context::from_settings(args.backend.settings()?).await?;
    let tenant = tenants::by_slug(&ctx, &Slug::parse(slug)?)
        .await?
        .filter(|t| t.is_active())
        .ok_or(Error::NotFound("tenant"))?;
    let store = ctx.tenant_store(&tenant.id);
    let hash_only = tenant.settings.privacy.store_email_hash_only;
    // The operator's command, audited as the operator.
    let caller = Caller::operator(tenant.id.clone());
    let file = std::fs::File::open(&args.file).map_err(|e| Error::invalid("file", e.to_string()))?;
    let summary = imports::run(&store, &caller, hash_only, file, &options(args, 2)?, |rows| {
        bar.set_position(rows)
    })
    .await?;
    let report = imports::error_report(&store, &summary.id.parse()?).await?;
    Ok((summary, report))
}

async fn through_api(args: &ImportArgs, key: &str, bar: &ProgressBar) -> Result<(ImportSummary, String)> {
    let file = std::fs::File::open(&args.file).map_err(|e| Error::invalid("file", e.to_string()))?;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(false)
        .from_reader(file);
    let mut records = reader.byte_records();
    let header = match records.next() {
        Some(Ok(h)) => h,
        _ => return Err(Error::invalid("file", "has no readable header row")),
    };
    options(args, 2)?; // The mapping and delay are checked before anything is sent.
    let client = reqwest::Client::new();
    let mut total = ImportSummary::default();
    let mut report = String::from("row,field,reason\n");
    let mut first_row = 2u64;
    loop {
        let mut part = csv::Writer::from_writer(Vec::new());
        part.write_byte_record(&header).map_err(Error::internal)?;
        let mut rows = 0;
        for record in records.by_ref().take(PART_ROWS) {
            let record = record.unwrap_or_default();
            part.write_byte_record(&record).map_err(Error::internal)?;
            rows += 1;
        }
        if rows == 0 {
            break;
        }
        let body = part.into_inner().map_err(Error::internal)?;
        let mut query = vec![("first_row", first_row.to_string())];
        if let Some(map) = &args.map {
            query.push(("map", map.clone()));
        }
        if args.send {
            query.push(("send", "true".into()));
            query.push(("channel", args.channel.clone()));
            query.push(("delay", args.delay.to_string()));
            if let Some(s) = &args.survey_id {
                query.push(("survey_id", s.clone()));
            }
        }
        let query: Vec<String> = query
            .iter()
            .map(|(n, v)| format!("{n}={}", ovation::http::extract::encode_component(v)))
            .collect();
        let url = format!(
            "{}/v1/people/imports?{}",
            args.url.trim_end_matches('/'),
            query.join("&")
        );
        let sent = client
            .post(url)
            .bearer_auth(key)
            .header("content-type", "text/csv")
            .body(body)
            .send()
            .await
            .map_err(|e| Error::Unavailable {
                service: "the Ovation API",
                reason: e.to_string(),
            })?;
        let status = sent.status();
        let text = sent.text().await.map_err(Error::internal)?;
        if !status.is_success() {
            return Err(Error::internal(format!(
                "the API refused the import ({status}): {text}"
            )));
        }
        let summary: ImportSummary = serde_json::from_str(&text).map_err(Error::internal)?;
        if summary.failed > 0 {
            let errors = client
                .get(format!(
                    "{}/v1/people/imports/{}/errors",
                    args.url.trim_end_matches('/'),
                    summary.id
                ))
                .bearer_auth(key)
                .send()
                .await
                .and_then(|r| r.error_for_status())
                .map_err(|e| Error::Unavailable {
                    service: "the Ovation API",
                    reason: e.to_string(),
                })?
                .text()
                .await
                .map_err(Error::internal)?;
            report.extend(errors.lines().skip(1).flat_map(|l| [l, "\n"]));
        }
        for (sum, part) in [
            (&mut total.rows, summary.rows),
            (&mut total.created, summary.created),
            (&mut total.updated, summary.updated),
            (&mut total.unchanged, summary.unchanged),
            (&mut total.failed, summary.failed),
            (&mut total.scheduled, summary.scheduled),
        ] {
            *sum += part;
        }
        first_row += rows as u64;
        bar.set_position(total.rows);
    }
    Ok((total, report))
}
