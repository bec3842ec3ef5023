//! The withdrawal approval queue: the waiting withdrawals in the order officers take them (VIP
//! players' first), why each waits, and approve or reject with a reason; the latest decisions
//! below.

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use pitboss_auth::policy::{Action, Module, RequestFacts, Resource};
use pitboss_core::money::Money;
use pitboss_ops::withdrawals::{Decision, Review, ReviewState};
use serde::Deserialize;
use uuid::Uuid;

use super::form::FormData;
use super::{Shell, at as when, render_status, status_of};
use crate::AppState;
use crate::guard::{Authenticated, decide};
use crate::routes::withdrawals::{ReviewQuery, decide_withdrawal, reviews};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/withdrawals", get(page))
        .route("/withdrawals/{id}/approve", post(approve))
        .route("/withdrawals/{id}/reject", post(reject))
}

/// A review as a row shows it.
struct Row {
    id: Uuid,
    player: Uuid,
    requested: String,
    amount: String,
    vip: bool,
    reasons: String,
    /// Waiting for a second approval, after this officer's.
    first_by: Option<String>,
    needs_second: bool,
    state: String,
    decided: String,
    decided_by: String,
    decision_reason: String,
}

fn row(r: Review) -> Row {
    Row {
        id: r.transaction_id,
        player: r.player_id,
        requested: when(r.requested_at),
        amount: Money::new(r.amount, r.currency).to_string(),
        vip: r.vip,
        reasons: if r.reasons.is_empty() { "no review rule applied".into() } else { r.reasons.join("; ") },
        first_by: (r.state == ReviewState::SecondApproval).then(|| r.first_by.clone().unwrap_or_default()),
        needs_second: r.needs_second,
        state: r.state.as_str().into(),
        decided: r.decided_at.map(when).unwrap_or_default(),
        decided_by: r.decided_by.unwrap_or_default(),
        decision_reason: r.decision_reason.unwrap_or_default(),
    }
}

#[derive(Template)]
#[template(path = "withdrawals.html")]
struct QueuePage {
    shell: Shell,
    open: Vec<Row>,
    decided: Vec<Row>,
    can_decide: bool,
    error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Shown {
    /// The withdrawal just decided, and how.
    done: Option<Uuid>,
    state: Option<String>,
}

async fn page(State(s): State<AppState>, auth: Authenticated, Query(shown): Query<Shown>) -> Response {
    let notice = shown.done.map(|id| {
        let state = shown.state.as_deref().unwrap_or("decided").replace('_', " ");
        format!("Withdrawal {id}: {state}.")
    });
    queue_page(&s, &auth, notice, None).await
}

async fn queue_page(
    s: &AppState,
    auth: &Authenticated,
    notice: Option<String>,
    error: Option<(StatusCode, String)>,
) -> Response {
    let open = reviews(s, &auth.caller, &ReviewQuery::default()).await;
    let decided =
        reviews(s, &auth.caller, &ReviewQuery { view: Some("decided".into()), limit: Some(20), offset: None }).await;
    let (open, decided, error) = match (open, decided) {
        (Ok(open), Ok(decided)) => (open, decided, error),
        (Err(e), _) | (_, Err(e)) => (Vec::new(), Vec::new(), Some((StatusCode::SERVICE_UNAVAILABLE, e.detail))),
    };
    let module = Resource::Module(Module::Ops);
    let can_decide = decide(s, &auth.caller, Action::WithdrawalApprove, &module, RequestFacts::default()).allowed;
    let status = error.as_ref().map_or(StatusCode::OK, |(status, _)| *status);
    render_status(
        status,
        &QueuePage {
            shell: Shell::new(s, auth, "/withdrawals").notice(notice),
            open: open.into_iter().map(row).collect(),
            decided: decided.into_iter().map(row).collect(),
            can_decide,
            error: error.map(|(_, e)| e),
        },
    )
}

async fn approve(State(s): State<AppState>, auth: Authenticated, Path(id): Path<Uuid>, body: Bytes) -> Response {
    decided(&s, &auth, id, Decision::Approve, &body).await
}

async fn reject(State(s): State<AppState>, auth: Authenticated, Path(id): Path<Uuid>, body: Bytes) -> Response {
    decided(&s, &auth, id, Decision::Reject, &body).await
}

async fn decided(s: &AppState, auth: &Authenticated, id: Uuid, decision: Decision, body: &[u8]) -> Response {
    let form = FormData::parse(body);
    match decide_withdrawal(s, &auth.caller, id, decision, form.get("reason")).await {
        Ok(review) => Redirect::to(&format!("/withdrawals?done={id}&state={}", review.state)).into_response(),
        Err(p) => queue_page(s, auth, None, Some((status_of(&p), p.detail))).await,
    }
}
