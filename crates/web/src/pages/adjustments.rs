//! Manual adjustments waiting for a second officer: the requests, with approve and reject (a
//! reason required); the requester cannot decide their own.

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use pitboss_core::money::Money;
use uuid::Uuid;

use super::form::FormData;
use super::{Done, Shell, render_status, status_of, when};
use crate::AppState;
use crate::guard::Authenticated;
use crate::routes::payments::{approve_adjustment, reject_adjustment, visible_requests};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/adjustments", get(page))
        .route("/adjustments/{id}/approve", post(approve))
        .route("/adjustments/{id}/reject", post(reject))
}

struct Line {
    id: Uuid,
    player: Uuid,
    amount: String,
    reason: String,
    requested: String,
    status: String,
    decided: String,
}

#[derive(Template)]
#[template(path = "adjustments.html")]
struct AdjustmentsPage {
    shell: Shell,
    pending: Vec<Line>,
    decided: Vec<Line>,
    error: Option<String>,
}

async fn page(State(s): State<AppState>, auth: Authenticated, Query(done): Query<Done>) -> Response {
    adjustments_page(&s, &auth, done.done, None).await
}

async fn adjustments_page(
    s: &AppState,
    auth: &Authenticated,
    notice: Option<String>,
    error: Option<(StatusCode, String)>,
) -> Response {
    let all = visible_requests(s, &auth.caller, None, 100).await;
    let (all, error) = match all {
        Ok(all) => (all, error),
        Err(p) => (Vec::new(), Some((status_of(&p), p.detail))),
    };
    let (pending, decided): (Vec<_>, Vec<_>) = all
        .into_iter()
        .map(|r| Line {
            id: r.id,
            player: r.player_id,
            amount: Money::new(r.amount, r.currency).to_string(),
            reason: r.reason,
            requested: format!("{} by {}", when(r.requested_at), r.requested_by),
            decided: match (r.decided_at, r.decided_by) {
                (Some(at), Some(by)) => {
                    format!("{} by {}{}", when(at), by, r.decision_reason.map(|w| format!(": {w}")).unwrap_or_default())
                }
                _ => String::new(),
            },
            status: r.status,
        })
        .partition(|l| l.status == "pending");
    let status = error.as_ref().map_or(StatusCode::OK, |(s, _)| *s);
    render_status(
        status,
        &AdjustmentsPage {
            shell: Shell::new(s, auth, "/adjustments").notice(notice),
            pending,
            decided,
            error: error.map(|(_, e)| e),
        },
    )
}

async fn approve(State(s): State<AppState>, auth: Authenticated, Path(id): Path<Uuid>) -> Response {
    match approve_adjustment(&s, &auth.caller, id).await {
        Ok((_, posted)) => {
            let done = format!("Approved and posted: {}.", Money::new(posted.amount, posted.currency));
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            Redirect::to(&format!("/adjustments?{}", query.append_pair("done", &done).finish())).into_response()
        }
        Err(p) => adjustments_page(&s, &auth, None, Some((status_of(&p), p.detail))).await,
    }
}

async fn reject(State(s): State<AppState>, auth: Authenticated, Path(id): Path<Uuid>, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    match reject_adjustment(&s, &auth.caller, id, form.get("reason").map(str::to_string)).await {
        Ok(_) => Redirect::to("/adjustments?done=Rejected.").into_response(),
        Err(p) => adjustments_page(&s, &auth, None, Some((status_of(&p), p.detail))).await,
    }
}
