//! The route table: every HTTP route and the function (Lambda) that serves it. It is the source
//! of truth that the local server, the functions' routers and `template.yaml` are checked against.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    /// The path in axum's syntax (`/v1/people/{id}`).
    pub path: &'static str,
    /// The function crate (and SAM resource) that serves it.
    pub function: &'static str,
}

pub const ROUTES: &[Route] = &[Route {
    method: "GET",
    path: "/health",
    function: "api-admin",
}];
