//! Webhooks: endpoints, the events writes emit, and their signed delivery.

pub mod delivery;
pub mod endpoints;
pub mod events;
