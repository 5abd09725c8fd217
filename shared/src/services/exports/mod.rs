//! Results and whole tenants as files: CSV and Excel writers, downloads within a request, export
//! jobs for any size, and the full tenant export.

pub mod downloads;
pub mod jobs;
pub mod spreadsheets;
pub mod tenant_export;
