//! Phone in the API: the telephony system's webhook for call events (signed with the shared
//! `telephony_webhook_secret`), and a ticket's calls.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use chrono::Utc;
use pitboss_auth::audit;
use pitboss_auth::policy::Action;
use pitboss_helpdesk::calls::{self, Call, CallEvent, Logged};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::extract::Path;
use crate::guard::Authenticated;
use crate::routes::tickets::authorized_ticket;
use crate::{AppState, Problem, webhook};

pub fn router() -> Router<AppState> {
    Router::new().route("/helpdesk/calls", post(call_event)).route("/tickets/{id}/calls", get(ticket_calls))
}

/// What became of a call event.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallReceipt {
    /// `logged` (on the call's ticket), `opened` (a new phone ticket for it) or `duplicate`.
    pub outcome: &'static str,
    pub call: Call,
    pub ticket_number: Option<i64>,
}

/// One event of a call from the telephony system: `started`, `answered` or `ended` (with the
/// duration and the recording's link), with the caller's E.164 number. The first event of a
/// call opens a phone ticket for the player with that number (or names the ticket in
/// `ticket_number`); each event is logged on it. The same event sent twice is logged once.
/// The body is signed with the shared `telephony_webhook_secret`
/// (`Pitboss-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`).
#[utoipa::path(post, path = "/api/v1/helpdesk/calls", tag = "helpdesk", request_body = CallEvent,
    params(("Pitboss-Signature" = String, Header, description = "t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">")),
    responses((status = 202, body = CallReceipt),
        (status = 401, body = Problem, content_type = "application/problem+json", description = "missing, stale or wrong signature"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json", description = "telephony_webhook_secret is not set")))]
pub async fn call_event(
    State(s): State<AppState>,
    caller: webhook::Caller,
    body: axum::body::Bytes,
) -> Result<(StatusCode, axum::Json<CallReceipt>), Problem> {
    caller.verify(&s, "telephony", s.webhooks.telephony.as_deref(), "telephony_webhook_secret", &body).await?;
    let event: CallEvent = serde_json::from_slice(&body)
        .map_err(|e| Problem::validation("", format!("the call event does not fit: {e}")))?;
    let mut tx = s.db.begin().await?;
    let receipt = match calls::log(&mut tx, &s.helpdesk, &event, Utc::now()).await? {
        Logged::Logged { call, ticket, opened } => {
            CallReceipt { outcome: if opened { "opened" } else { "logged" }, call, ticket_number: Some(ticket.number) }
        }
        Logged::Duplicate(call) => CallReceipt { outcome: "duplicate", call, ticket_number: None },
    };
    let record = caller.audit("telephony", "ticket.call_event", "ticket", receipt.call.ticket_id).details(json!({
        "call_id": event.call_id, "event": event.event.as_str(), "outcome": receipt.outcome,
    }));
    audit::record(&mut tx, &record).await?;
    tx.commit().await?;
    s.sla_wake.notify_one();
    Ok((StatusCode::ACCEPTED, axum::Json(receipt)))
}

/// A ticket's calls, oldest first.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/calls", tag = "helpdesk", params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<Call>)), security(("api_key" = [])))]
pub async fn ticket_calls(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Vec<Call>>, Problem> {
    authorized_ticket(&s, &auth.caller, Action::TicketRead, id).await?;
    Ok(axum::Json(calls::of_ticket(&s.db, id).await?))
}
