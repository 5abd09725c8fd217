//! Webhooks: endpoints, the events writes emit, and their signed delivery.

pub mod webhooks;
