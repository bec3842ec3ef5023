//! The withdrawal approval queue's API: the waiting withdrawals in the order officers take them,
//! the latest decisions, and approving or rejecting one (maker-checker above the second
//! threshold); every decision audited.

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use chrono::Utc;
use pitboss_auth::policy::{Action, RequestFacts};
use pitboss_auth::{Caller, audit};
use pitboss_ops::withdrawals::{self, Decision, MAX_PAGE, Review};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::extract::{Json, Path, Query};
use crate::guard::{Authenticated, authorize};
use crate::routes::players::{only_allowed, resource};
use crate::{AppState, Problem};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/withdrawals", get(list))
        .route("/withdrawals/{id}", get(fetch))
        .route("/withdrawals/{id}/approve", post(approve))
        .route("/withdrawals/{id}/reject", post(reject))
}

/// Which reviews to list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReviewQuery {
    /// `open` (default): waiting for a first or second approval, VIP players' first, then the
    /// longest waiting. `decided`: the latest approvals and rejections, newest first.
    pub view: Option<String>,
    /// 1 to 500, default 50.
    pub limit: Option<u32>,
    /// Reviews to skip (`open` only).
    pub offset: Option<u32>,
}

/// Reviews, as the caller may see them.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewPage {
    pub items: Vec<Review>,
}

/// The withdrawal queue, or the latest decisions.
#[utoipa::path(get, path = "/api/v1/withdrawals", tag = "ops", params(ReviewQuery),
    responses((status = 200, body = ReviewPage), (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn list(
    State(s): State<AppState>,
    auth: Authenticated,
    Query(q): Query<ReviewQuery>,
) -> Result<axum::Json<ReviewPage>, Problem> {
    Ok(axum::Json(ReviewPage { items: reviews(&s, &auth.caller, &q).await? }))
}

/// The reviews the query asks for that the caller may see (their brands' players).
pub(crate) async fn reviews(s: &AppState, caller: &Caller, q: &ReviewQuery) -> Result<Vec<Review>, Problem> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(Problem::validation("limit", format!("limit: must be between 1 and {MAX_PAGE}")));
    }
    let found = match q.view.as_deref().unwrap_or("open") {
        "open" => withdrawals::queue(&s.db, limit, q.offset.unwrap_or(0)).await?,
        "decided" => withdrawals::decided(&s.db, limit).await?,
        other => return Err(Problem::validation("view", format!("view: `{other}` is neither open nor decided"))),
    };
    Ok(only_allowed(s, caller, Action::WithdrawalReview, found, |r| r.player_id).await)
}

/// A withdrawal's review: why it waits, who approved it, what was decided.
#[utoipa::path(get, path = "/api/v1/withdrawals/{id}", tag = "ops", params(("id" = Uuid, Path, description = "The withdrawal's ledger transaction")),
    responses((status = 200, body = Review), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn fetch(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Review>, Problem> {
    let review = withdrawals::get(&s.db, id).await?;
    let player = pitboss_players::get(&s.db, review.player_id).await?;
    authorize(&s, &auth.caller, Action::WithdrawalReview, &resource(&player), RequestFacts::default()).await?;
    Ok(axum::Json(review))
}

/// An officer's word on a withdrawal.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct DecisionRequest {
    /// Why: required to reject; a note to an approval (kept with it).
    pub reason: Option<String>,
}

/// Approve a waiting withdrawal. One that needs two officers is approved by the second; the
/// first approver cannot be the second. The approval goes to the platform on the bus
/// (`payment.withdrawal.approved`).
#[utoipa::path(post, path = "/api/v1/withdrawals/{id}/approve", tag = "ops", params(("id" = Uuid, Path)), request_body = DecisionRequest,
    responses((status = 200, body = Review), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn approve(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
    Json(req): Json<DecisionRequest>,
) -> Result<axum::Json<Review>, Problem> {
    Ok(axum::Json(decide_withdrawal(&s, &auth.caller, id, Decision::Approve, req.reason.as_deref()).await?))
}

/// Reject a waiting withdrawal, with the reason: it fails in the ledger and its held money is
/// released to the player (`payment.withdrawal.rejected` on the bus).
#[utoipa::path(post, path = "/api/v1/withdrawals/{id}/reject", tag = "ops", params(("id" = Uuid, Path)), request_body = DecisionRequest,
    responses((status = 200, body = Review), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn reject(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
    Json(req): Json<DecisionRequest>,
) -> Result<axum::Json<Review>, Problem> {
    Ok(axum::Json(decide_withdrawal(&s, &auth.caller, id, Decision::Reject, req.reason.as_deref()).await?))
}

/// Decides a withdrawal for the caller, if the policies let them for its player, and audits it
/// in the same transaction.
pub(crate) async fn decide_withdrawal(
    s: &AppState,
    caller: &Caller,
    id: Uuid,
    decision: Decision,
    reason: Option<&str>,
) -> Result<Review, Problem> {
    let review = withdrawals::get(&s.db, id).await?;
    let player = pitboss_players::get(&s.db, review.player_id).await?;
    authorize(s, caller, Action::WithdrawalApprove, &resource(&player), RequestFacts::default()).await?;
    let mut tx = s.db.begin().await?;
    let decided = withdrawals::decide(&mut tx, id, decision, &caller.actor(), reason, Utc::now()).await?;
    let action = match decision {
        Decision::Approve => "withdrawal.approve",
        Decision::Reject => "withdrawal.reject",
    };
    let mut record = caller.audit(action, "transaction", id).details(json!({
        "state": decided.state, "player_id": decided.player_id, "amount": decided.amount, "currency": decided.currency,
    }));
    if let Some(reason) = reason.map(str::trim).filter(|r| !r.is_empty()) {
        record = record.reason(reason.to_string());
    }
    audit::record(&mut tx, &record).await?;
    tx.commit().await?;
    Ok(decided)
}
