//! The beginning and end of a tenant's data: creating and purging a tenant, and erasing a person
//! across every item that holds them.

pub mod erasure;
pub mod tenants;
