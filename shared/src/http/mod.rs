//! HTTP plumbing shared by every function: the layers each Lambda (and the local server) wraps
//! its routes in, the error-to-response mapping, `/health`, and the route table.

mod error;
mod health;
mod layers;
pub mod routes;

use axum::Router;

pub use error::ErrorBody;
pub use health::health;
pub use layers::{MAX_BODY_BYTES, REQUEST_ID_HEADER};

/// Wraps a function's routes in the common layers: request id and tracing span, security
/// headers, body limit, and JSON answers for unknown routes and methods.
pub fn app(routes: Router) -> Router {
    layers::apply(routes)
}
