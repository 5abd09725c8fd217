//! `ovation export FILE`: a tenant's survey responses to CSV or Excel (by the file's extension or
//! `--format`), straight from the store (the embedded data directory with `ovation serve`
//! stopped, or `--aws`), with a progress bar; filtered like the responses list.

use std::path::PathBuf;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use ovation::domain::Slug;
use ovation::services::exports::{self, Format};
use ovation::services::responses::ResponseFilter;
use ovation::services::tenants;
use ovation::{Context, Error, Result};

use crate::backend::BackendArgs;

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

pub async fn run(args: ExportArgs) -> Result<()> {
    let extension = args.file.extension().and_then(|e| e.to_str()).unwrap_or_default();
    let format = Format::parse(args.format.as_deref().unwrap_or(extension))?;
    let ctx = Context::from_settings(args.backend.settings()?).await?;
    let tenant = tenants::by_slug(&ctx, &Slug::parse(&args.tenant)?)
        .await?
        .filter(|t| t.is_active())
        .ok_or(Error::NotFound("tenant"))?;
    let store = ctx.tenant_store(&tenant.id);
    let filter = ResponseFilter {
        since: args.since,
        until: args.until,
        survey: args.survey_id.clone(),
        ..ResponseFilter::default()
    };
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {pos} responses written ({per_sec})").map_err(Error::internal)?,
    );
    let summary =
        exports::responses_to_file(&store, &filter, format, &args.file, None, |rows| bar.set_position(rows)).await?;
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
