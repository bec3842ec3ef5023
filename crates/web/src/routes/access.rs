//! The audit log, for those allowed to read it.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use pitboss_auth::{AuditRecord, audit};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::extract::Query;
use crate::guard::Authenticated;
use crate::{AppState, Problem};

pub fn router() -> Router<AppState> {
    Router::new().route("/audit", get(list))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// `operator:<username>`, `api-key:<name>` or `system`.
    pub actor: Option<String>,
    /// An exact action (`player.update`), or a prefix ending in `*` (`player.*`).
    pub action: Option<String>,
    /// e.g. `player`, `transaction`, `api_key`.
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    /// Records at or after this instant (microseconds since the Unix epoch).
    pub from: Option<i64>,
    /// Records before this instant (microseconds since the Unix epoch).
    pub to: Option<i64>,
    /// Records with a smaller `seq`: pass the last `seq` of a page to get the next one.
    pub before_seq: Option<i64>,
    /// 1 to 1000, default 100.
    pub limit: Option<i64>,
}

/// Audit records, newest first (by `seq`), filtered and paged. Needs the `admin` scope.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = Vec<AuditRecord>)), security(("api_key" = [])))]
pub async fn list(
    State(s): State<AppState>,
    _auth: Authenticated,
    Query(q): Query<AuditQuery>,
) -> Result<axum::Json<Vec<AuditRecord>>, Problem> {
    let filter = audit::AuditFilter {
        actor: q.actor,
        action: q.action,
        target_type: q.target_type,
        target_id: q.target_id,
        from: q.from,
        to: q.to,
    };
    let page = audit::Page { before_seq: q.before_seq, limit: q.limit.unwrap_or(100) };
    let records = audit::list_page(&s.db, &filter, page).await?;
    Ok(axum::Json(records))
}
