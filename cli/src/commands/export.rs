//! `ovation export FILE`: a tenant's survey responses to CSV or Excel (by the file's extension or
//! `--format`), straight from the store (the embedded data directory with `ovation serve`
//! stopped, or `--aws`), with a progress bar; filtered like the responses list.
//! `ovation export-tenant FILE`: every item of a tenant, decrypted, as JSON lines (audited).

use std::path::PathBuf;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use ovation::domain::Slug;
use ovation::services::Caller;
use ovation::services::accounts::tenants;
use ovation::services::audit::{self, Outcome, Target};
use ovation::services::exports::spreadsheets::{self, Format};
use ovation::services::exports::tenant_export;
use ovation::services::results::response_list::ResponseFilter;
use ovation::{Context, Error, Result};

use crate::commands::backend::BackendArgs;

#[derive(Args)]
pub struct ExportArgs {
    /// Where the file goes (`.csv` or `.xlsx`).
    pub file: PathBuf,
    /// The tenant's slug.
    #[arg(long)]
    pub tenant: String,
    /// csv or xlsx [default: the file's extension].
    #[arg(long)]
    pub format: Option<String>,
    /// Only this survey's responses.
    #[arg(long)]
    pub survey_id: Option<String>,
    /// Only responses created at or after this Unix time.
    #[arg(long)]
    pub since: Option<i64>,
    /// Only responses created at or before this Unix time.
    #[arg(long)]
    pub until: Option<i64>,
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// An active tenant by its slug.
async fn active_tenant(ctx: &Context, slug: &str) -> Result<ovation::domain::tenant::Tenant> {
    tenants::by_slug(ctx, &Slug::parse(slug)?)
        .await?
        .filter(|t| t.is_active())
        .ok_or(Error::NotFound("tenant"))
}

#[derive(Args)]
pub struct TenantExportArgs {
    /// Where the JSON lines go.
    pub file: PathBuf,
    /// The tenant's slug.
    #[arg(long)]
    pub tenant: String,
    #[command(flatten)]
    pub backend: BackendArgs,
}

pub async fn tenant(args: TenantExportArgs) -> Result<()> {
    let ctx = Context::from_settings(args.backend.settings()?).await?;
    let tenant = active_tenant(&ctx, &args.tenant).await?;
    let store = ctx.tenant_store(&tenant.id);
    let file = std::fs::File::create(&args.file).map_err(|e| Error::Config {
        name: "FILE",
        reason: format!("cannot create {}: {e}", args.file.display()),
    })?;
    let mut out = std::io::BufWriter::new(file);
    let exported = tenant_export::export(&ctx, &store, tenant.created_at, &mut out, None).await?;
    let target = Target::Tenant(tenant.id.to_string());
    audit::record_operator(&store, "tenant.exported", target, Outcome::Success).await?;
    std::io::Write::flush(&mut out).map_err(Error::internal)?;
    eprintln!("{} items, {:.1} MB", exported.items, exported.bytes as f64 / 1e6);
    println!("{}", args.file.display());
    Ok(())
}

pub async fn run(args: ExportArgs) -> Result<()> {
    let extension = args.file.extension().and_then(|e| e.to_str()).unwrap_or_default();
    let format = args.format.as_deref().unwrap_or(extension).parse::<Format>()?;
    let ctx = Context::from_settings(args.backend.settings()?).await?;
    let tenant = active_tenant(&ctx, &args.tenant).await?;
    let store = ctx.tenant_store(&tenant.id);
    let filter = ResponseFilter {
        since: args.since,
        until: args.until,
        survey: args.survey_id.clone(),
        ..ResponseFilter::default()
    }
    .for_caller(&store, &Caller::operator(tenant.id.clone()))
    .await?;
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {pos} responses written ({per_sec})").map_err(Error::internal)?,
    );
    let summary = spreadsheets::responses_to_file(&store, &filter, (format, true), &args.file, None, |rows| {
        bar.set_position(rows)
    })
    .await?;
    bar.finish_and_clear();
    let view = summary.counts.view();
    eprintln!(
        "{} responses, NPS {}",
        summary.rows,
        view.nps.map_or("-".to_owned(), |n| n.to_string())
    );
    println!("{}", args.file.display());
    Ok(())
}
