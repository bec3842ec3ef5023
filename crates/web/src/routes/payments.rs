//! The ledger API: transactions, their history, adjustments and status changes.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use pitboss_auth::{Caller, audit};
use pitboss_core::time::to_micros;
use pitboss_payments::operations::{self, Context};
use pitboss_payments::queries::{Scope, TransactionDetail, TransactionPage, TransactionQuery};
use pitboss_payments::{LedgerTransaction, TxStatus, approvals, disputes, ledger};
use pitboss_store::Tx;
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::extract::{Json, Path, Query};
use crate::guard::{Authenticated, authorize, decide};
use crate::{AppState, Problem};

use pitboss_auth::policy::{Action, Module, RequestFacts, Resource};
use pitboss_core::money::Currency;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/transactions", get(list))
        .route("/transactions/{id}", get(fetch))
        .route("/transactions/{id}/status", post(change_status))
        .route("/players/{id}/adjustments", post(adjust))
        .route("/adjustment-requests", get(list_requests))
        .route("/adjustment-requests/{id}/approve", post(approve_request))
        .route("/adjustment-requests/{id}/reject", post(reject_request))
}

/// Ledger transactions, newest first, filtered.
#[utoipa::path(get, path = "/api/v1/transactions", tag = "payments", params(TransactionQuery),
    responses((status = 200, body = TransactionPage), (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn list(
    State(s): State<AppState>,
    auth: Authenticated,
    Query(q): Query<TransactionQuery>,
) -> Result<axum::Json<TransactionPage>, Problem> {
    Ok(axum::Json(visible_page(&s, &auth.caller, &q, Scope::Ledger).await?))
}

/// The page of transactions the query finds, as the caller may see it (see [`visible`]).
pub(crate) async fn visible_page(
    s: &AppState,
    caller: &Caller,
    q: &TransactionQuery,
    scope: Scope,
) -> Result<TransactionPage, Problem> {
    let page = pitboss_payments::queries::transactions(&s.db, q, scope).await?;
    Ok(TransactionPage { items: visible(s, caller, page.items).await, next: page.next })
}

/// The transactions the caller may see. Like players, each transaction is shown only to those
/// the policies let see its player's payments, and with its details only to those who may see
/// full payment details.
pub(crate) async fn visible(s: &AppState, caller: &Caller, found: Vec<LedgerTransaction>) -> Vec<LedgerTransaction> {
    let mut players = crate::routes::players::PlayerResources::new(s);
    let mut items = Vec::with_capacity(found.len());
    for mut t in found {
        let resource = match t.player_id {
            Some(id) => players.get(id).await,
            None => Some(Resource::Module(Module::Payments)),
        };
        let Some(resource) = resource else { continue };
        if !decide(s, caller, Action::PaymentRead, &resource, RequestFacts::default()).allowed {
            continue;
        }
        if !decide(s, caller, Action::PaymentReadDetails, &resource, RequestFacts::default()).allowed {
            hide_details(&mut t);
        }
        items.push(t);
    }
    items
}

/// Full payment details hidden: the description and how it was paid.
fn hide_details(t: &mut LedgerTransaction) {
    t.description = None;
    t.method = None;
}

/// A transaction with its postings and the history of its status.
#[utoipa::path(get, path = "/api/v1/transactions/{id}", tag = "payments", params(("id" = Uuid, Path)),
    responses((status = 200, body = TransactionDetail), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn fetch(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<TransactionDetail>, Problem> {
    Ok(axum::Json(transaction_for(&s, &auth.caller, id).await?.0))
}

/// A transaction as the caller may see it: refused unless they may see its player's payments,
/// and without the full details unless they may see those; with what the policies were asked
/// about (its player, or the payments module).
pub(crate) async fn transaction_for(
    s: &AppState,
    caller: &Caller,
    id: Uuid,
) -> Result<(TransactionDetail, Resource), Problem> {
    let mut detail = pitboss_payments::queries::transaction(&s.db, id).await?;
    let resource = transaction_resource(s, detail.transaction.player_id).await?;
    authorize(s, caller, Action::PaymentRead, &resource, RequestFacts::default()).await?;
    if !decide(s, caller, Action::PaymentReadDetails, &resource, RequestFacts::default()).allowed {
        redact(&mut detail);
    }
    Ok((detail, resource))
}

/// What the policies are asked about for a transaction: its player (brand, VIP tier), or the
/// payments module for one without a player.
pub(crate) async fn transaction_resource(s: &AppState, player: Option<Uuid>) -> Result<Resource, Problem> {
    Ok(match player {
        Some(player) => crate::routes::players::resource(&pitboss_players::get(&s.db, player).await?),
        None => Resource::Module(Module::Payments),
    })
}

/// Full payment details, for those the policies let see them: the description, the postings
/// between accounts, how it was paid, and who changed the status and why. The rest (kind,
/// reference, amount, status and times) stays.
fn redact(detail: &mut TransactionDetail) {
    hide_details(&mut detail.transaction);
    detail.postings.clear();
    for change in &mut detail.history {
        change.reason = None;
        change.actor = crate::routes::players::MASK.to_string();
    }
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
    auth: Authenticated,
    Path(id): Path<Uuid>,
    Json(req): Json<StatusRequest>,
) -> Result<axum::Json<LedgerTransaction>, Problem> {
    let caller = &auth.caller;
    if req.reason.trim().is_empty() {
        return Err(Problem::validation("reason", "reason: say why the status changes"));
    }
    // As for reading it: the caller must be allowed this player's payments (their brand).
    let current = pitboss_payments::queries::transaction(&s.db, id).await?;
    let resource = transaction_resource(&s, current.transaction.player_id).await?;
    authorize(&s, caller, Action::PaymentChangeStatus, &resource, RequestFacts::default()).await?;
    let mut tx = s.db.begin().await?;
    let t = ledger::transition(&mut tx, id, req.status, Some(&req.reason), &caller.actor(), Utc::now()).await?;
    audit::record(
        &mut tx,
        &caller.audit("transaction.status", "transaction", id).reason(req.reason.clone()).details(json!({
            "to": req.status, "reason": req.reason,
        })),
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(t))
}

/// A manual correction of a player's cash balance.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewAdjustment {
    /// Your idempotency key: sending the same request twice adjusts once.
    pub reference: String,
    /// Minor units: positive credits the player, negative debits.
    pub amount: i64,
    pub reason: String,
    /// Allow the player's balance to go below zero (reclaiming money already spent).
    #[serde(default)]
    pub allow_overdraft: bool,
}

/// Adjust a player's cash balance, with a reason. Above what the policies let the caller do
/// alone, the adjustment waits for a second officer: the answer is then 202 with the request.
#[utoipa::path(post, path = "/api/v1/players/{id}/adjustments", tag = "payments", params(("id" = Uuid, Path)), request_body = NewAdjustment,
    responses((status = 201, body = LedgerTransaction), (status = 202, body = approvals::AdjustmentRequest),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn adjust(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(player): Path<Uuid>,
    Json(req): Json<NewAdjustment>,
) -> Result<Response, Problem> {
    let caller = &auth.caller;
    if req.reference.trim().is_empty() || req.reference.len() > 200 {
        return Err(Problem::validation("reference", "reference: give an idempotency key of 1 to 200 characters"));
    }
    check_adjustment_amount(req.amount)?;
    if req.reason.trim().is_empty() {
        return Err(Problem::validation("reason", "reason: say why the balance changes"));
    }
    let p = pitboss_players::get(&s.db, player).await?;
    if needs_second_officer(&s, caller, p.currency, req.amount).await? {
        let mut tx = s.db.begin().await?;
        let filed = file_request(&mut tx, caller, player, p.currency, &req).await?;
        tx.commit().await?;
        return Ok((StatusCode::ACCEPTED, axum::Json(filed)).into_response());
    }
    let (status, transaction, ()) =
        post_adjustment(&s, caller, player, &req, &caller.actor(), async |_, _| Ok(())).await?;
    Ok((status, axum::Json(transaction)).into_response())
}

/// Refuses an adjustment larger than any single movement may be.
pub(crate) fn check_adjustment_amount(amount: i64) -> Result<(), Problem> {
    if amount.unsigned_abs() > pitboss_core::money::MAX_AMOUNT as u64 {
        return Err(Problem::validation("amount", "amount: larger than any single movement may be"));
    }
    Ok(())
}

/// Whether the caller may post this adjustment only with a second officer's approval (true:
/// file it for one) rather than alone (false); refused when not even that would allow it.
pub(crate) async fn needs_second_officer(
    s: &AppState,
    caller: &Caller,
    currency: Currency,
    amount: i64,
) -> Result<bool, Problem> {
    let resource = adjustment_resource(&s.rates, currency, amount);
    if decide(s, caller, Action::LedgerAdjust, &resource, RequestFacts::default()).allowed {
        return Ok(false);
    }
    authorize(s, caller, Action::LedgerAdjust, &resource, RequestFacts { approved_by_second_officer: true }).await?;
    Ok(true)
}

/// Files an adjustment for a second officer's approval, audited, in `tx`.
pub(crate) async fn file_request(
    tx: &mut Tx,
    caller: &Caller,
    player: Uuid,
    currency: Currency,
    req: &NewAdjustment,
) -> Result<approvals::AdjustmentRequest, Problem> {
    let new = approvals::NewRequest {
        player_id: player,
        currency,
        reference: &req.reference,
        amount: req.amount,
        reason: &req.reason,
        allow_overdraft: req.allow_overdraft,
        requested_by: &caller.actor(),
        now: to_micros(Utc::now()),
    };
    let filed = approvals::request(tx, &new).await?;
    let record = caller.audit("ledger.adjustment_requested", "adjustment_request", filed.id);
    audit::record(tx, &record.reason(req.reason.clone()).after(json!(filed))).await?;
    Ok(filed)
}

/// Posts an adjustment as `actor` and audits it; `then` does what must happen with it in the
/// same transaction (recording the approval that allowed it, resolving a dispute), and its
/// answer is returned beside the posted transaction.
pub(crate) async fn post_adjustment<T>(
    s: &AppState,
    caller: &Caller,
    player: Uuid,
    req: &NewAdjustment,
    actor: &str,
    then: impl AsyncFnOnce(&mut Tx, &LedgerTransaction) -> Result<T, Problem>,
) -> Result<(StatusCode, LedgerTransaction, T), Problem> {
    let now = Utc::now();
    let mut tx = s.db.begin().await?;
    let p = pitboss_players::get_in(&mut tx, player).await?;
    let ctx = Context { player, currency: p.currency, method: None, occurred_at: now, now, actor };
    let change =
        operations::adjustment(&mut tx, &ctx, &req.reference, req.amount, &req.reason, req.allow_overdraft).await?;
    let after = then(&mut tx, &change.transaction).await?;
    if change.note.is_none() {
        audit::record(
            &mut tx,
            &caller.audit("ledger.adjust", "player", player).reason(req.reason.clone()).details(json!({
                "transaction": change.transaction.id, "amount": req.amount, "currency": p.currency,
                "allow_overdraft": req.allow_overdraft, "requested_by": actor,
            })),
        )
        .await?;
    }
    tx.commit().await?;
    let status = if change.note.is_none() { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, change.transaction, after))
}

/// What the policies are asked about an adjustment: its size, and its value in euro cents at
/// the reference rates (above any threshold when no rate is known: a rule must never silently
/// skip a player because of their currency).
pub(crate) fn adjustment_resource(rates: &pitboss_rules::Rates, currency: Currency, amount: i64) -> Resource {
    let amount = amount.saturating_abs();
    Resource::Adjustment {
        currency: currency.to_string(),
        amount_minor: amount,
        amount_eur_minor: rates.convert(amount, currency, Currency::EUR).unwrap_or(i64::MAX),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RequestsQuery {
    /// `pending`, `approved` or `rejected`; all when left out.
    pub status: Option<String>,
    /// 1 to 500, default 100.
    pub limit: Option<i64>,
}

/// Adjustment requests waiting for (or given) a second officer's decision, newest first.
#[utoipa::path(get, path = "/api/v1/adjustment-requests", tag = "payments", params(RequestsQuery),
    responses((status = 200, body = Vec<approvals::AdjustmentRequest>)), security(("api_key" = [])))]
pub async fn list_requests(
    State(s): State<AppState>,
    auth: Authenticated,
    Query(q): Query<RequestsQuery>,
) -> Result<axum::Json<Vec<approvals::AdjustmentRequest>>, Problem> {
    Ok(axum::Json(visible_requests(&s, &auth.caller, q.status.as_deref(), q.limit.unwrap_or(100)).await?))
}

/// Adjustment requests of the players whose payments the caller may see.
pub(crate) async fn visible_requests(
    s: &AppState,
    caller: &Caller,
    status: Option<&str>,
    limit: i64,
) -> Result<Vec<approvals::AdjustmentRequest>, Problem> {
    if let Some(status) = status
        && !matches!(status, "pending" | "approved" | "rejected")
    {
        return Err(Problem::validation("status", "status: one of pending, approved, rejected"));
    }
    let found = approvals::list(&s.db, status, limit).await?;
    Ok(crate::routes::players::only_allowed(s, caller, Action::PaymentRead, found, |r| r.player_id).await)
}

/// A second officer's decision.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct Decision {
    /// Why; required to reject.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Approve an adjustment request: it is posted now. The approver must not be the requester.
#[utoipa::path(post, path = "/api/v1/adjustment-requests/{id}/approve", tag = "payments", params(("id" = Uuid, Path)), request_body = Decision,
    responses((status = 201, body = LedgerTransaction), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn approve_request(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
) -> Result<(StatusCode, axum::Json<LedgerTransaction>), Problem> {
    let (status, posted) = approve_adjustment(&s, &auth.caller, id).await?;
    Ok((status, axum::Json(posted)))
}

/// Approves an adjustment request for the caller (never its requester) and posts it.
pub(crate) async fn approve_adjustment(
    s: &AppState,
    caller: &Caller,
    id: Uuid,
) -> Result<(StatusCode, LedgerTransaction), Problem> {
    let request = {
        let mut tx = s.db.begin().await?;
        let r = approvals::get_in(&mut tx, id).await?;
        tx.commit().await?;
        r
    };
    approvals::check_decider(&request, &caller.actor())?;
    // The approver, too, must be someone the policies let adjust this much with a second pair
    // of eyes (a payments officer), not merely anyone who may approve.
    let resource = adjustment_resource(&s.rates, request.currency, request.amount);
    authorize(s, caller, Action::LedgerAdjust, &resource, RequestFacts { approved_by_second_officer: true }).await?;
    let req = NewAdjustment {
        reference: request.reference.clone(),
        amount: request.amount,
        reason: request.reason.clone(),
        allow_overdraft: request.allow_overdraft,
    };
    let record_approval = async |tx: &mut Tx, posted: &LedgerTransaction| -> Result<(), Problem> {
        let request = approvals::get_in(tx, request.id).await?;
        let now = Utc::now();
        let decided =
            approvals::decide(tx, &request, true, &caller.actor(), None, Some(posted.id), to_micros(now)).await?;
        audit::record(
            tx,
            &caller
                .audit("ledger.adjustment_approved", "adjustment_request", request.id)
                .before(json!(request))
                .after(json!(decided)),
        )
        .await?;
        disputes::request_decided(tx, &decided, &caller.actor(), now).await?;
        Ok(())
    };
    let (status, posted, ()) =
        post_adjustment(s, caller, request.player_id, &req, &request.requested_by, record_approval).await?;
    Ok((status, posted))
}

/// Reject an adjustment request, with a reason.
#[utoipa::path(post, path = "/api/v1/adjustment-requests/{id}/reject", tag = "payments", params(("id" = Uuid, Path)), request_body = Decision,
    responses((status = 200, body = approvals::AdjustmentRequest), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn reject_request(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
    Json(decision): Json<Decision>,
) -> Result<axum::Json<approvals::AdjustmentRequest>, Problem> {
    Ok(axum::Json(reject_adjustment(&s, &auth.caller, id, decision.reason).await?))
}

/// Rejects an adjustment request for the caller (never its requester), with the reason; a
/// dispute waiting for it is open again.
pub(crate) async fn reject_adjustment(
    s: &AppState,
    caller: &Caller,
    id: Uuid,
    reason: Option<String>,
) -> Result<approvals::AdjustmentRequest, Problem> {
    let Some(reason) = reason.filter(|r| !r.trim().is_empty()) else {
        return Err(Problem::validation("reason", "reason: say why the request is rejected"));
    };
    let mut tx = s.db.begin().await?;
    let request = approvals::get_in(&mut tx, id).await?;
    let now = Utc::now();
    let decided =
        approvals::decide(&mut tx, &request, false, &caller.actor(), Some(&reason), None, to_micros(now)).await?;
    disputes::request_decided(&mut tx, &decided, &caller.actor(), now).await?;
    audit::record(
        &mut tx,
        &caller
            .audit("ledger.adjustment_rejected", "adjustment_request", id)
            .reason(reason)
            .before(json!(request))
            .after(json!(decided)),
    )
    .await?;
    tx.commit().await?;
    Ok(decided)
}
