//! Ovation's black-box tests, one binary: the store, tenant scoping and encryption suites on both
//! engines (embedded, and AWS through moto server), the local stack over real HTTP, crash tests
//! of the real `ovation` process, and the sample Lambda events fed to the functions' handlers.

#[macro_use]
mod support;

mod access;
mod api;
mod backups;
mod clients;
mod dns;
mod encryption;
mod export_jobs;
mod faults;
mod lambda_events;
mod local_stack;
mod openapi;
mod portability;
mod results;
mod retention;
mod saml;
mod scim;
mod sending;
mod sso;
mod store_conformance;
mod surveys;
mod team_access;
mod template;
mod tenant_scope;
mod web;
mod webhooks;
mod website;
