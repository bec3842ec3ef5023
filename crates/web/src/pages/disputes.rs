//! Disputes in the UI: the list (unresolved first), a dispute's page with its notes and the
//! resolution form, and opening one from a payment's page.

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use pitboss_payments::disputes::{Dispute, DisputeKind, DisputeState, Resolution};
use uuid::Uuid;

use super::form::FormData;
use super::{Done, Shell, at as when, message, render_status, status_of};
use crate::guard::Authenticated;
use crate::routes::disputes::{
    DisputeQuery, ResolveRequest, dispute_for, note_dispute, open_dispute, resolve_dispute, visible_disputes,
};
use crate::{AppState, Problem};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/disputes", get(list))
        .route("/disputes/{id}", get(page))
        .route("/disputes/{id}/notes", post(add_note))
        .route("/disputes/{id}/resolve", post(resolve))
        .route("/payments/{id}/disputes", post(open))
}

struct Line {
    id: Uuid,
    opened: String,
    kind: String,
    state: String,
    transaction: Uuid,
    player: Uuid,
    reason: String,
    resolution: String,
}

fn line(d: Dispute) -> Line {
    Line {
        id: d.id,
        opened: when(d.opened_at),
        kind: d.kind.as_str().replace('_', " "),
        state: d.state.as_str().replace('_', " "),
        transaction: d.transaction_id,
        player: d.player_id,
        reason: d.reason,
        resolution: d.resolution.map(|r| r.as_str().to_string()).unwrap_or_default(),
    }
}

#[derive(Template)]
#[template(path = "disputes.html")]
struct ListPage {
    shell: Shell,
    unresolved: Vec<Line>,
    resolved: Vec<Line>,
    error: Option<String>,
}

async fn list(State(s): State<AppState>, auth: Authenticated) -> Response {
    let unresolved = async {
        let mut open =
            visible_disputes(&s, &auth.caller, &DisputeQuery { state: Some(DisputeState::Open), ..Default::default() })
                .await?;
        let waiting = DisputeQuery { state: Some(DisputeState::AwaitingApproval), ..Default::default() };
        open.extend(visible_disputes(&s, &auth.caller, &waiting).await?);
        Ok::<_, Problem>(open)
    };
    let resolved = DisputeQuery { state: Some(DisputeState::Resolved), limit: Some(50), ..Default::default() };
    let (unresolved, resolved, error) = match (unresolved.await, visible_disputes(&s, &auth.caller, &resolved).await) {
        (Ok(u), Ok(r)) => (u, r, None),
        (Err(e), _) | (_, Err(e)) => (Vec::new(), Vec::new(), Some(e.detail)),
    };
    let status = if error.is_some() { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
    render_status(
        status,
        &ListPage {
            shell: Shell::new(&s, &auth, "/disputes"),
            unresolved: unresolved.into_iter().map(line).collect(),
            resolved: resolved.into_iter().map(line).collect(),
            error,
        },
    )
}

struct NoteLine {
    at: String,
    author: String,
    body: String,
}

#[derive(Template)]
#[template(path = "dispute.html")]
struct DisputePage {
    shell: Shell,
    d: Line,
    opened_by: String,
    resolved: bool,
    awaiting: bool,
    resolution_reason: String,
    resolved_by: String,
    resolved_at: String,
    adjustment: Option<Uuid>,
    request: Option<Uuid>,
    currency: String,
    notes: Vec<NoteLine>,
    resolutions: Vec<(&'static str, &'static str)>,
    error: Option<String>,
}

async fn page(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
    Query(shown): Query<Done>,
) -> Response {
    let notice = shown.done.map(|done| format!("The dispute is {}.", done.replace('_', " ")));
    dispute_page(&s, &auth, id, notice, None).await
}

async fn dispute_page(
    s: &AppState,
    auth: &Authenticated,
    id: Uuid,
    notice: Option<String>,
    error: Option<(StatusCode, String)>,
) -> Response {
    let d = match dispute_for(s, &auth.caller, id, pitboss_auth::policy::Action::PaymentRead).await {
        Ok(d) => d,
        Err(p) => return message(status_of(&p), "Disputes", p.detail, "/disputes", "Back to the disputes"),
    };
    let currency = pitboss_players::get(&s.db, d.player_id).await.map(|p| p.currency.to_string()).unwrap_or_default();
    let status = error.as_ref().map_or(StatusCode::OK, |(s, _)| *s);
    let page = DisputePage {
        shell: Shell::new(s, auth, "/disputes").notice(notice),
        opened_by: d.opened_by.clone(),
        resolved: d.state == DisputeState::Resolved,
        awaiting: d.state == DisputeState::AwaitingApproval,
        resolution_reason: d.resolution_reason.clone().unwrap_or_default(),
        resolved_by: d.resolved_by.clone().unwrap_or_default(),
        resolved_at: d.resolved_at.map(when).unwrap_or_default(),
        adjustment: d.adjustment_id,
        request: d.adjustment_request,
        currency,
        notes: d
            .notes
            .iter()
            .map(|n| NoteLine { at: when(n.at), author: n.author.clone(), body: n.body.clone() })
            .collect(),
        resolutions: vec![
            ("reverse", "Reverse the transaction (money back)"),
            ("adjust", "Credit or debit the balance"),
            ("complete", "Complete the stuck payment"),
            ("fail", "Fail the stuck payment"),
            ("uphold", "The transaction stands"),
        ],
        d: line(d),
        error: error.map(|(_, e)| e),
    };
    render_status(status, &page)
}

async fn add_note(State(s): State<AppState>, auth: Authenticated, Path(id): Path<Uuid>, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    match note_dispute(&s, &auth.caller, id, form.get("body").unwrap_or_default()).await {
        Ok(_) => Redirect::to(&format!("/disputes/{id}")).into_response(),
        Err(p) => dispute_page(&s, &auth, id, None, Some((status_of(&p), p.detail))).await,
    }
}

async fn resolve(State(s): State<AppState>, auth: Authenticated, Path(id): Path<Uuid>, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let refused = |p: Problem| (status_of(&p), p.detail);
    let request = async {
        let resolution: Resolution = form
            .get("resolution")
            .unwrap_or_default()
            .parse()
            .map_err(|_| Problem::validation("resolution", "Choose how the dispute is resolved."))?;
        let amount = match form.get("amount").map(str::trim).filter(|a| !a.is_empty()) {
            None => None,
            Some(text) => {
                let d = pitboss_payments::disputes::get(&s.db, id).await?;
                let player = pitboss_players::get(&s.db, d.player_id).await?;
                Some(player.currency.minor_units(text).map_err(|e| Problem::validation("amount", e))?)
            }
        };
        Ok::<_, Problem>(ResolveRequest {
            resolution,
            reason: form.get("reason").unwrap_or_default().to_string(),
            amount,
            allow_overdraft: form.get("allow_overdraft").is_some(),
        })
    };
    let outcome = match request.await {
        Ok(req) => resolve_dispute(&s, &auth.caller, id, &req).await,
        Err(p) => Err(p),
    };
    match outcome {
        Ok((_, d)) => Redirect::to(&format!("/disputes/{id}?done={}", d.state)).into_response(),
        Err(p) => dispute_page(&s, &auth, id, None, Some(refused(p))).await,
    }
}

async fn open(State(s): State<AppState>, auth: Authenticated, Path(transaction): Path<Uuid>, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let kind = form.get("kind").unwrap_or_default().parse::<DisputeKind>();
    let opened = match kind {
        Ok(kind) => open_dispute(&s, &auth.caller, transaction, kind, form.get("reason").unwrap_or_default()).await,
        Err(_) => Err(Problem::validation("kind", "Choose what the dispute is about.")),
    };
    match opened {
        Ok(d) => Redirect::to(&format!("/disputes/{}", d.id)).into_response(),
        Err(p) => message(
            status_of(&p),
            "Open a dispute",
            p.detail,
            &format!("/payments/{transaction}"),
            "Back to the payment",
        ),
    }
}
