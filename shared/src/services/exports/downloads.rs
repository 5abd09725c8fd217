//! Exports answered within the request: the responses as CSV or Excel, the whole tenant as JSON
//! lines, each bounded to what one API answer holds and audited. Larger ones are jobs (`jobs`).

use crate::context::Context;
use crate::error::{Error, Result};
use crate::services::Caller;
use crate::services::accounts::tenants;
use crate::services::audit::{self, Outcome, Target};
use crate::services::exports::spreadsheets::{self, Format};
use crate::services::exports::tenant_export;
use crate::services::results::response_list::ScopedFilter;
use crate::store::TenantStore;

/// The largest file a download over the API holds: Lambda answers at most 6 MB, and a binary
/// body goes base64-encoded (4/3 larger).
pub const MAX_BYTES: usize = 4_400_000;

/// The most rows a responses download holds; `ovation export` and jobs have no limit.
pub const MAX_ROWS: u64 = 10_000;

/// A file to hand out whole.
pub struct ExportFile {
    /// The name to save it as.
    pub name: String,
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

/// The responses `filter` admits as `format`, written on the temporary disk and read back;
/// refused (422, pointing to the job) past `MAX_ROWS` rows or `MAX_BYTES`.
pub async fn responses(
    store: &TenantStore,
    caller: &Caller,
    filter: &ScopedFilter,
    format: Format,
) -> Result<ExportFile> {
    let path = std::env::temp_dir().join(format!(
        "ovation-export-{}.{}",
        crate::ids::new_id(),
        format.extension()
    ));
    let shape = (format, caller.sees_people);
    let written = spreadsheets::responses_to_file(store, filter, shape, &path, Some(MAX_ROWS), |_| {}).await;
    let bytes = std::fs::read(&path);
    let _ = std::fs::remove_file(&path);
    let summary = written?;
    let bytes = bytes.map_err(|e| Error::fault("reading the written export", e))?;
    if bytes.len() > MAX_BYTES {
        return Err(Error::invalid(
            "query",
            format!(
                "the file would be {:.1} MB and a download here holds at most {:.1} MB: narrow since/until \
                 or survey_id, or POST this URL for an export job of any size",
                bytes.len() as f64 / 1e6,
                MAX_BYTES as f64 / 1e6
            ),
        ));
    }
    let target = Target::Tenant(store.tenant().to_string());
    audit::record(store, caller, "responses.exported", target, Outcome::Success).await?;
    Ok(ExportFile {
        name: format!("responses-{}.{}", summary.rows, format.extension()),
        content_type: format.content_type(),
        bytes,
    })
}

/// Every item of the caller's tenant as JSON lines, up to `MAX_BYTES`.
pub async fn tenant(ctx: &Context, store: &TenantStore, caller: &Caller) -> Result<ExportFile> {
    let created_at = tenants::active(ctx, store.tenant()).await?.map_or(0, |t| t.created_at);
    let mut bytes = Vec::new();
    tenant_export::export(ctx, store, created_at, &mut bytes, Some(MAX_BYTES as u64)).await?;
    let target = Target::Tenant(store.tenant().to_string());
    audit::record(store, caller, "tenant.exported", target, Outcome::Success).await?;
    Ok(ExportFile {
        name: "tenant.jsonl".into(),
        content_type: tenant_export::CONTENT_TYPE,
        bytes,
    })
}
