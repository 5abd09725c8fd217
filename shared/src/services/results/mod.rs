//! What people answered and what it adds up to: responses, their counters (kept exact in the
//! response's own transaction) and the metrics read from them.

pub mod counters;
pub mod metrics;
pub mod responses;
