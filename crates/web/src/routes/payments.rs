//! The ledger API: transactions, their history, adjustments and status changes.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use chrono::Utc;
use pitboss_auth::{AuditEntry, Scope, audit};
use pitboss_payments::operations::{self, Context};
use pitboss_payments::queries::{TransactionDetail, TransactionPage, TransactionQuery};
use pitboss_payments::{LedgerTransaction, TxStatus, ledger};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::extract::{Authenticated, Json, Path, Query};
use crate::{AppState, Problem};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/transactions", get(list))
        .route("/transactions/{id}", get(fetch))
        .route("/transactions/{id}/status", post(change_status))
        .route("/players/{id}/adjustments", post(adjust))
}

/// Ledger transactions, newest first, filtered.
#[utoipa::path(get, path = "/api/v1/transactions", tag = "payments", params(TransactionQuery),
    responses((status = 200, body = TransactionPage), (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn list(
    State(s): State<AppState>,
    caller: Authenticated,
    Query(q): Query<TransactionQuery>,
) -> Result<axum::Json<TransactionPage>, Problem> {
    caller.require(Scope::LedgerRead)?;
    Ok(axum::Json(pitboss_payments::queries::transactions(&s.db, &q).await?))
}

/// A transaction with its postings and the history of its status.
#[utoipa::path(get, path = "/api/v1/transactions/{id}", tag = "payments", params(("id" = Uuid, Path)),
    responses((status = 200, body = TransactionDetail), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn fetch(
    State(s): State<AppState>,
    caller: Authenticated,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<TransactionDetail>, Problem> {
    caller.require(Scope::LedgerRead)?;
    Ok(axum::Json(pitboss_payments::queries::transaction(&s.db, id).await?))
}

/// A status change asked for by an operator.
#[derive(Debug, Deserialize, ToSchema)]
pub struct StatusRequest {
    /// `disputed`, `completed` (a dispute resolved, or a pending payment confirmed), `reversed`, `failed`.
    pub status: TxStatus,
    /// Why; kept in the status history and the audit log.
    pub reason: String,
}

/// Move a transaction to another status: dispute it, resolve a dispute, reverse it (a
/// chargeback), or settle a stuck pending payment.
#[utoipa::path(post, path = "/api/v1/transactions/{id}/status", tag = "payments", params(("id" = Uuid, Path)), request_body = StatusRequest,
    responses((status = 200, body = LedgerTransaction), (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn change_status(
    State(s): State<AppState>,
    caller: Authenticated,
    Path(id): Path<Uuid>,
    Json(req): Json<StatusRequest>,
) -> Result<axum::Json<LedgerTransaction>, Problem> {
    let caller = caller.require(Scope::LedgerWrite)?;
    if req.reason.trim().is_empty() {
        return Err(Problem::validation("reason", "reason: say why the status changes"));
    }
    let mut tx = s.db.begin().await?;
    let t = ledger::transition(&mut tx, id, req.status, Some(&req.reason), &caller.actor(), Utc::now()).await?;
    audit::record(
        &mut tx,
        &AuditEntry::new(caller.actor(), "transaction.status", "transaction", id).details(json!({
            "to": req.status, "reason": req.reason,
        })),
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(t))
}

/// A manual correction of a player's cash balance.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AdjustmentRequest {
    /// Your idempotency key: sending the same request twice adjusts once.
    pub reference: String,
    /// Minor units: positive credits the player, negative debits.
    pub amount: i64,
    pub reason: String,
    /// Allow the player's balance to go below zero (reclaiming money already spent).
    #[serde(default)]
    pub allow_overdraft: bool,
}

/// Adjust a player's cash balance, with a reason.
#[utoipa::path(post, path = "/api/v1/players/{id}/adjustments", tag = "payments", params(("id" = Uuid, Path)), request_body = AdjustmentRequest,
    responses((status = 201, body = LedgerTransaction), (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn adjust(
    State(s): State<AppState>,
    caller: Authenticated,
    Path(player): Path<Uuid>,
    Json(req): Json<AdjustmentRequest>,
) -> Result<(StatusCode, axum::Json<LedgerTransaction>), Problem> {
    let caller = caller.require(Scope::LedgerWrite)?;
    if req.reference.trim().is_empty() || req.reference.len() > 200 {
        return Err(Problem::validation("reference", "reference: give an idempotency key of 1 to 200 characters"));
    }
    if req.amount.unsigned_abs() > pitboss_core::money::MAX_AMOUNT as u64 {
        return Err(Problem::validation("amount", "amount: larger than any single movement may be"));
    }
    let now = Utc::now();
    let actor = caller.actor();
    let mut tx = s.db.begin().await?;
    let p = pitboss_players::get_in(&mut tx, player).await?;
    let ctx = Context { player, currency: p.currency, occurred_at: now, now, actor: &actor };
    let change =
        operations::adjustment(&mut tx, &ctx, &req.reference, req.amount, &req.reason, req.allow_overdraft).await?;
    if change.note.is_none() {
        audit::record(
            &mut tx,
            &AuditEntry::new(actor.clone(), "ledger.adjust", "player", player).details(json!({
                "transaction": change.transaction.id, "amount": req.amount, "currency": p.currency,
                "reason": req.reason, "allow_overdraft": req.allow_overdraft,
            })),
        )
        .await?;
    }
    tx.commit().await?;
    let status = if change.note.is_none() { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, axum::Json(change.transaction)))
}
