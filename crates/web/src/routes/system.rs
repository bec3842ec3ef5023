//! Liveness, readiness, metrics and the API description. These are deliberately public:
//! they carry no player data and are what probes, scrapers and client generators fetch.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::{AppState, Problem};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/openapi.json", get(openapi))
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "system", responses((status = 200, description = "Alive")))]
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// The database and the bus answer.
#[utoipa::path(get, path = "/readyz", tag = "system",
    responses((status = 200, description = "Ready"), (status = 503, body = Problem, content_type = "application/problem+json")))]
pub async fn readyz(State(s): State<AppState>) -> Result<Json<serde_json::Value>, Problem> {
    s.db.ping().await.map_err(|e| Problem::unavailable(format!("the database is not answering: {e}")))?;
    s.transport
        .health()
        .await
        .map_err(|e| Problem::unavailable(format!("the {} bus is not answering: {e}", s.transport.name())))?;
    Ok(Json(json!({"status": "ready", "database": s.db.engine().name(), "bus": s.transport.name()})))
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "system", responses((status = 200, description = "Prometheus text format")))]
pub async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    if let Ok((pending, oldest)) = pitboss_bus::relay::lag(&s.db).await {
        metrics::gauge!("pitboss_outbox_pending").set(pending as f64);
        let now = pitboss_core::time::to_micros(chrono::Utc::now());
        let lag = oldest.map(|t| (now - t).max(0) as f64 / 1e6).unwrap_or(0.0);
        metrics::gauge!("pitboss_outbox_lag_seconds").set(lag);
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], crate::metrics_handle().render())
}

/// This API, as OpenAPI 3.1.
pub async fn openapi() -> impl IntoResponse {
    Json(crate::openapi::document())
}

pub async fn not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "not-found", "no such endpoint; the API is described at /api/openapi.json")
}

pub async fn method_not_allowed() -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "this endpoint does not take that method; the API is described at /api/openapi.json",
    )
}
