//! Ovation's common library: the domain, the ports and their adapters (embedded and AWS), the
//! services the Lambda functions call, and the HTTP plumbing they share.

pub mod auth;
pub mod aws;
pub mod config;
pub mod context;
pub mod crypto;
pub mod dns;
pub mod domain;
pub mod drill;
pub mod error;
pub mod files;
pub mod http;
pub mod ids;
pub mod jobs;
pub mod messaging;
pub mod outbound;
pub mod provision;
pub mod services;
pub mod store;
pub mod telemetry;
pub mod tenant_cache;

pub use context::Context;
pub use error::{Error, Result};
