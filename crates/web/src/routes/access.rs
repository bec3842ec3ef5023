//! The audit log, for those allowed to read it.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use pitboss_auth::{AuditRecord, Scope, audit};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::extract::{Authenticated, Query};
use crate::{AppState, Problem};

pub fn router() -> Router<AppState> {
    Router::new().route("/audit", get(list))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// e.g. `player`, `transaction`, `api_key`.
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    /// 1 to 1000, default 100.
    pub limit: Option<i64>,
}

/// Audit records, newest first. Needs the `admin` scope.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = Vec<AuditRecord>)), security(("api_key" = [])))]
pub async fn list(
    State(s): State<AppState>,
    caller: Authenticated,
    Query(q): Query<AuditQuery>,
) -> Result<axum::Json<Vec<AuditRecord>>, Problem> {
    caller.require(Scope::Admin)?;
    let records = audit::list(&s.db, q.target_type.as_deref(), q.target_id.as_deref(), q.limit.unwrap_or(100)).await?;
    Ok(axum::Json(records))
}
