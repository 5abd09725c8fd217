//! The people a tenant surveys: their records (created or updated by email or phone), CSV
//! imports, and the suppression lists (unsubscribed, bounced).

pub mod imports;
pub mod person;
pub mod suppressions;
pub mod upsert;
