//! The people a tenant surveys: their records (created or updated by email or phone), CSV
//! imports (and the web app's, as jobs), and the suppression lists (unsubscribed, bounced).

pub mod import_jobs;
pub mod imports;
pub mod person;
pub mod suppressions;
pub mod upsert;
