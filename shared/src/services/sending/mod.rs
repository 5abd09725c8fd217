//! Getting a survey to a person: invitations and their links, autopilot (recurring sends), the
//! scheduler and deliverer, and the delivery events mail providers report.

pub mod autopilot;
pub mod deliverer;
pub mod delivery_events;
pub mod invitations;
pub mod links;
pub mod message;
pub mod scheduler;
pub mod short_links;
pub mod status;
pub mod steps;
