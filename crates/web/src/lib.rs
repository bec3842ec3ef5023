//! Pitboss web: the HTTP server.
//!
//! It mounts the routes of the modules a process runs (its targets), turns every error into
//! RFC 9457 problem details, authenticates callers, and serves `/healthz`, `/readyz`,
//! `/metrics` and the OpenAPI document at `/api/openapi.json`.
//!
//! This crate must never hold domain rules: a handler checks the caller, parses the request,
//! calls the module, writes the audit record in the module's transaction, and answers.

mod chat_hub;
mod extract;
pub mod guard;
mod metrics;
pub mod openapi;
mod pages;
mod problem;
mod routes;
mod state;
mod webhook;

use std::time::Duration;

use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use metrics::{install_recorder, metrics_handle};
pub use problem::Problem;
pub use state::{AppState, DEFAULT_TWO_FACTOR_ROLES, Security, Target, WebhookSecrets};

/// Largest request body accepted (a full batch of events fits with room to spare).
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// The application for the given state: the routes of its targets plus the system routes.
pub fn app(state: AppState) -> Router {
    let mut api = Router::new();
    if state.runs(Target::Ingest) {
        api = api.merge(routes::events::router());
    }
    if state.runs(Target::Players) {
        api = api.merge(routes::players::router());
    }
    if state.runs(Target::Payments) {
        api = api.merge(routes::payments::router());
        api = api.merge(routes::monitor::router());
        api = api.merge(routes::disputes::router());
    }
    if state.runs(Target::Segments) {
        api = api.merge(routes::segments::router());
        api = api.merge(routes::models::router());
    }
    if state.runs(Target::Ops) {
        api = api.merge(routes::ops::router());
        api = api.merge(routes::withdrawals::router());
        api = api.merge(routes::alerts::router());
    }
    if state.runs(Target::Helpdesk) {
        api = api.merge(routes::tickets::router());
        api = api.merge(routes::templates::router());
        api = api.merge(routes::calls::router());
        api = api.merge(routes::attachments::router());
        api = api.merge(routes::contacts::router());
        api = api.merge(routes::kb::router());
    }
    api = api.merge(routes::access::router());
    Router::new()
        .nest("/api/v1", api)
        .merge(routes::system::router())
        .merge(pages::router())
        // Applied to every route (not the fallback): authentication, CSRF and the policies.
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), guard::guard))
        .fallback(routes::system::not_found)
        .method_not_allowed_fallback(routes::system::method_not_allowed)
        .layer(axum::middleware::from_fn(metrics::track))
        .layer(TraceLayer::new_for_http())
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::GATEWAY_TIMEOUT, Duration::from_secs(60)))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        // The extractors' own 2 MB default would otherwise cut below the limit above.
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(problem::panic_to_problem))
        .with_state(state)
}
