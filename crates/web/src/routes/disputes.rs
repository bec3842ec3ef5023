//! The disputes API: open a dispute on a transaction, attach notes, and resolve it by a
//! reversal, by settling a stuck payment, by a manual credit or debit (four eyes above the
//! policies' threshold, as for any adjustment), or by upholding the transaction; each step
//! audited.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use pitboss_auth::policy::{Action, RequestFacts};
use pitboss_auth::{Caller, audit};
use pitboss_payments::disputes::{self, Dispute, DisputeKind, DisputeState, Note, Resolution};
use pitboss_store::Tx;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::extract::{Json, Path, Query};
use crate::guard::{Authenticated, authorize};
use crate::routes::payments::{
    NewAdjustment, check_adjustment_amount, file_request, needs_second_officer, post_adjustment, transaction_resource,
};
use crate::routes::players::only_allowed;
use crate::{AppState, Problem};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/transactions/{id}/disputes", post(open))
        .route("/disputes", get(list))
        .route("/disputes/{id}", get(fetch))
        .route("/disputes/{id}/notes", post(add_note))
        .route("/disputes/{id}/resolve", post(resolve))
}

/// A dispute to open.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewDispute {
    pub kind: DisputeKind,
    /// What is wrong.
    pub reason: String,
}

/// Open a dispute on a player's transaction: a chargeback on a completed deposit (which becomes
/// `disputed`), a stuck pending payment, or a wrong balance.
#[utoipa::path(post, path = "/api/v1/transactions/{id}/disputes", tag = "payments", params(("id" = Uuid, Path)), request_body = NewDispute,
    responses((status = 201, body = Dispute), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn open(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
    Json(req): Json<NewDispute>,
) -> Result<(StatusCode, axum::Json<Dispute>), Problem> {
    Ok((StatusCode::CREATED, axum::Json(open_dispute(&s, &auth.caller, id, req.kind, &req.reason).await?)))
}

/// Opens a dispute for the caller, if they may change this player's payments; audited.
pub(crate) async fn open_dispute(
    s: &AppState,
    caller: &Caller,
    transaction: Uuid,
    kind: DisputeKind,
    reason: &str,
) -> Result<Dispute, Problem> {
    let t = pitboss_payments::queries::transaction(&s.db, transaction).await?;
    let resource = transaction_resource(s, t.transaction.player_id).await?;
    authorize(s, caller, Action::PaymentChangeStatus, &resource, RequestFacts::default()).await?;
    let mut tx = s.db.begin().await?;
    let dispute = disputes::open(&mut tx, transaction, kind, reason, &caller.actor(), Utc::now()).await?;
    let record = caller.audit("dispute.open", "dispute", dispute.id).reason(dispute.reason.clone());
    audit::record(&mut tx, &record.after(json!(dispute))).await?;
    tx.commit().await?;
    Ok(dispute)
}

/// Which disputes to list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DisputeQuery {
    /// `open`, `awaiting_approval` or `resolved`; all when left out.
    pub state: Option<DisputeState>,
    pub transaction_id: Option<Uuid>,
    /// 1 to 500, default 100.
    pub limit: Option<u32>,
}

/// Disputes, as the caller may see them.
#[derive(Debug, Serialize, ToSchema)]
pub struct DisputePage {
    pub items: Vec<Dispute>,
}

/// Disputes: unresolved ones oldest first, resolved ones newest first.
#[utoipa::path(get, path = "/api/v1/disputes", tag = "payments", params(DisputeQuery),
    responses((status = 200, body = DisputePage), (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn list(
    State(s): State<AppState>,
    auth: Authenticated,
    Query(q): Query<DisputeQuery>,
) -> Result<axum::Json<DisputePage>, Problem> {
    Ok(axum::Json(DisputePage { items: visible_disputes(&s, &auth.caller, &q).await? }))
}

/// The disputes the query finds whose players' payments the caller may see.
pub(crate) async fn visible_disputes(s: &AppState, caller: &Caller, q: &DisputeQuery) -> Result<Vec<Dispute>, Problem> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(Problem::validation("limit", "limit: must be between 1 and 500"));
    }
    let found = disputes::list(&s.db, q.state, q.transaction_id, limit).await?;
    Ok(only_allowed(s, caller, Action::PaymentRead, found, |d| d.player_id).await)
}

/// A dispute with its notes.
#[utoipa::path(get, path = "/api/v1/disputes/{id}", tag = "payments", params(("id" = Uuid, Path)),
    responses((status = 200, body = Dispute), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn fetch(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Dispute>, Problem> {
    Ok(axum::Json(dispute_for(&s, &auth.caller, id, Action::PaymentRead).await?))
}

/// The dispute, if the caller may `action` its player's payments.
pub(crate) async fn dispute_for(s: &AppState, caller: &Caller, id: Uuid, action: Action) -> Result<Dispute, Problem> {
    let dispute = disputes::get(&s.db, id).await?;
    let resource = transaction_resource(s, Some(dispute.player_id)).await?;
    authorize(s, caller, action, &resource, RequestFacts::default()).await?;
    Ok(dispute)
}

/// A note to attach.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewNote {
    pub body: String,
}

/// Attach a note to an unresolved dispute.
#[utoipa::path(post, path = "/api/v1/disputes/{id}/notes", tag = "payments", params(("id" = Uuid, Path)), request_body = NewNote,
    responses((status = 201, body = Note), (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn add_note(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
    Json(req): Json<NewNote>,
) -> Result<(StatusCode, axum::Json<Note>), Problem> {
    Ok((StatusCode::CREATED, axum::Json(note_dispute(&s, &auth.caller, id, &req.body).await?)))
}

/// Adds the caller's note, audited.
pub(crate) async fn note_dispute(s: &AppState, caller: &Caller, id: Uuid, body: &str) -> Result<Note, Problem> {
    dispute_for(s, caller, id, Action::PaymentChangeStatus).await?;
    let mut tx = s.db.begin().await?;
    let note = disputes::add_note(&mut tx, id, &caller.actor(), body, Utc::now()).await?;
    audit::record(&mut tx, &caller.audit("dispute.note", "dispute", id).details(json!({"note": note.body}))).await?;
    tx.commit().await?;
    Ok(note)
}

/// How to resolve a dispute.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ResolveRequest {
    pub resolution: Resolution,
    /// Why: kept with the dispute, in the transaction's history and in the audit log.
    pub reason: String,
    /// For `adjust`: minor units of the player's currency, positive credits the player,
    /// negative debits.
    pub amount: Option<i64>,
    /// For `adjust`: let the balance go below zero (reclaiming money already spent).
    #[serde(default)]
    pub allow_overdraft: bool,
}

/// Resolve a dispute. An `adjust` beyond what the policies let the caller post alone waits for
/// a second officer: the answer is then 202 and the dispute `awaiting_approval` with its
/// adjustment request (see `/api/v1/adjustment-requests`).
#[utoipa::path(post, path = "/api/v1/disputes/{id}/resolve", tag = "payments", params(("id" = Uuid, Path)), request_body = ResolveRequest,
    responses((status = 200, body = Dispute), (status = 202, body = Dispute),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn resolve(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
    Json(req): Json<ResolveRequest>,
) -> Result<Response, Problem> {
    let (status, dispute) = resolve_dispute(&s, &auth.caller, id, &req).await?;
    Ok((status, axum::Json(dispute)).into_response())
}

/// Resolves the dispute for the caller; 202 when an adjustment waits for a second officer.
pub(crate) async fn resolve_dispute(
    s: &AppState,
    caller: &Caller,
    id: Uuid,
    req: &ResolveRequest,
) -> Result<(StatusCode, Dispute), Problem> {
    let dispute = dispute_for(s, caller, id, Action::PaymentChangeStatus).await?;
    if req.reason.trim().is_empty() {
        return Err(Problem::validation("reason", "reason: say how and why the dispute is resolved"));
    }
    let audited = async |tx: &mut Tx, resolved: &Dispute| -> Result<(), Problem> {
        let record = caller.audit("dispute.resolve", "dispute", id).reason(req.reason.trim().to_string());
        audit::record(tx, &record.before(json!(dispute)).after(json!(resolved))).await?;
        Ok(())
    };
    if req.resolution != Resolution::Adjust {
        if req.amount.is_some() {
            return Err(Problem::validation("amount", "amount: only an `adjust` resolution moves an amount"));
        }
        let mut tx = s.db.begin().await?;
        let resolved =
            disputes::resolve(&mut tx, id, req.resolution, &req.reason, None, &caller.actor(), Utc::now()).await?;
        audited(&mut tx, &resolved).await?;
        tx.commit().await?;
        return Ok((StatusCode::OK, resolved));
    }
    let amount = match req.amount {
        Some(0) | None => {
            return Err(Problem::validation(
                "amount",
                "amount: give the credit (positive) or debit (negative) in minor units",
            ));
        }
        Some(a) => a,
    };
    check_adjustment_amount(amount)?;
    let player = pitboss_players::get(&s.db, dispute.player_id).await?;
    let adjustment = NewAdjustment {
        reference: format!("dispute:{id}"),
        amount,
        reason: req.reason.trim().to_string(),
        allow_overdraft: req.allow_overdraft,
    };
    if needs_second_officer(s, caller, player.currency, amount).await? {
        // Four eyes: the second officer's approval of the adjustment resolves the dispute.
        let mut tx = s.db.begin().await?;
        disputes::check_open(&mut tx, id, &req.reason).await?;
        let filed = file_request(&mut tx, caller, player.id, player.currency, &adjustment).await?;
        let waiting = disputes::await_approval(&mut tx, id, filed.id, Utc::now()).await?;
        audited(&mut tx, &waiting).await?;
        tx.commit().await?;
        return Ok((StatusCode::ACCEPTED, waiting));
    }
    let settle = async |tx: &mut Tx, posted: &pitboss_payments::LedgerTransaction| -> Result<Dispute, Problem> {
        let now = Utc::now();
        let done =
            disputes::resolve(tx, id, Resolution::Adjust, &req.reason, Some(posted.id), &caller.actor(), now).await?;
        audited(tx, &done).await?;
        Ok(done)
    };
    let (_, _, resolved) = post_adjustment(s, caller, player.id, &adjustment, &caller.actor(), settle).await?;
    Ok((StatusCode::OK, resolved))
}
