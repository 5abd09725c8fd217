//! The operator's commands: tenants and API keys, the operator key, people imports, exports,
//! backups of the embedded store and their restore, and provisioning a table and key for
//! `serve --aws`; each reads where its data lives from `backend`.

pub mod admin;
pub mod backend;
pub mod backup;
pub mod export;
pub mod people;
pub mod provision;
