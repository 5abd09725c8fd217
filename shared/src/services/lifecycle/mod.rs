//! The beginning and end of a tenant's data: creating and purging a tenant, erasing a person
//! across every item that holds them, and the retention period applied each day.

pub mod erasure;
pub mod retention;
pub mod tenants;
