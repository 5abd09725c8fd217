//! What people answered and what it adds up to: responses, their counters (kept exact in the
//! response's own transaction) and the metrics read from them.

pub mod counters;
pub mod edges;
pub mod figures;
pub mod metrics;
pub mod response_list;
pub mod response_record;
pub mod response_wire;
pub mod responses;
