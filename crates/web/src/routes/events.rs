//! `POST /api/v1/events`: the casino platform's way in.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use pitboss_ingest::{BatchReport, MAX_BATCH};
use serde_json::Value;

use crate::guard::Authenticated;
use crate::{AppState, Problem};

pub fn router() -> Router<AppState> {
    Router::new().route("/events", post(ingest)).route("/events/schemas", get(schemas))
}

/// Ingest a batch of events.
///
/// The body is a JSON array of event envelopes, or an object `{"events": [...]}`. Each item is
/// answered in order: `accepted`, `duplicate` (its id was accepted before) or `rejected` with
/// the field and reason. One rejected item never affects the others. A 503 means nothing of the
/// batch was stored: send it again (accepted ids come back as duplicates).
#[utoipa::path(
    post, path = "/api/v1/events", tag = "events",
    request_body(content = Vec<pitboss_core::RawEnvelope>, description = "Up to 5,000 events"),
    responses(
        (status = 200, description = "Each item's fate", body = BatchReport),
        (status = 400, description = "The body is not JSON, or not a list of events", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key lacks events:write", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "More events than one batch may carry", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database failed; nothing was stored", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn ingest(
    State(state): State<AppState>,
    _auth: Authenticated,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<BatchReport>, Problem> {
    let body = body.map_err(|_| {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            format!("the request body is larger than {} bytes; send smaller batches", crate::MAX_BODY_BYTES),
        )
    })?;
    let received_at = Utc::now();
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| Problem::bad_request(format!("the request body is not valid JSON: {e}")))?;
    let items = match value {
        Value::Array(items) => items,
        Value::Object(mut o) => match o.remove("events") {
            Some(Value::Array(items)) => items,
            _ => return Err(Problem::bad_request("send a JSON array of events, or an object with an 'events' array")),
        },
        _ => return Err(Problem::bad_request("send a JSON array of events, or an object with an 'events' array")),
    };
    if items.is_empty() {
        return Err(Problem::bad_request("the batch is empty; send at least one event"));
    }
    if items.len() > MAX_BATCH {
        return Err(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch-too-large",
            format!("the batch has {} events; at most {MAX_BATCH} fit in one request, so split it", items.len()),
        ));
    }
    let report = state.ingestor.ingest(&items, received_at).await?;
    Ok(Json(report))
}

/// The JSON Schema of every event type's payload, and of the envelope.
#[utoipa::path(get, path = "/api/v1/events/schemas", tag = "events",
    responses((status = 200, description = "Schemas keyed by event type", body = Object)), security(("api_key" = [])))]
pub async fn schemas() -> Json<Value> {
    Json(crate::openapi::event_schemas())
}
