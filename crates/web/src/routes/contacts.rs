//! A player's communication history in the API: every ticket, email, chat message and call,
//! newest first.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use chrono::{DateTime, Utc};
use pitboss_auth::Caller;
use pitboss_auth::policy::Action;
use pitboss_helpdesk::timeline::{self, Contact};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::extract::{Path, Query};
use crate::guard::Authenticated;
use crate::routes::ops::authorize_player;
use crate::{AppState, Problem};

pub fn router() -> Router<AppState> {
    Router::new().route("/players/{id}/contacts", get(contacts))
}

/// Which part of the history.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ContactQuery {
    /// Contacts before this moment (the `at` of the last one of the previous page).
    pub before: Option<DateTime<Utc>>,
    /// 1 to 500, default 100.
    pub limit: Option<u32>,
}

/// The player's communication history, newest first: tickets opened, emails and chat messages
/// both ways, calls and agents' call notes (internal notes left out).
#[utoipa::path(get, path = "/api/v1/players/{id}/contacts", tag = "helpdesk",
    params(("id" = Uuid, Path), ContactQuery),
    responses((status = 200, body = Vec<Contact>), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn contacts(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
    Query(q): Query<ContactQuery>,
) -> Result<axum::Json<Vec<Contact>>, Problem> {
    Ok(axum::Json(contacts_of(&s, &auth.caller, id, q.before, q.limit.unwrap_or(100)).await?))
}

pub(crate) async fn contacts_of(
    s: &AppState,
    caller: &Caller,
    player: Uuid,
    before: Option<DateTime<Utc>>,
    limit: u32,
) -> Result<Vec<Contact>, Problem> {
    if !(1..=500).contains(&limit) {
        return Err(Problem::validation("limit", "limit: 1 to 500"));
    }
    authorize_player(s, caller, Action::TicketRead, player).await?;
    Ok(timeline::of_player(&s.db, player, before, limit).await?)
}
