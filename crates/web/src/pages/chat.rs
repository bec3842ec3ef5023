//! Live chat in the UI: the agents' console (the waiting chats and the agent's own, refreshed
//! every few seconds; each opened in a panel of its own, several at once) and a page that hosts
//! the player's widget as the casino's website would, to try it.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use pitboss_helpdesk::chat::{self, Chat};

use super::{Shell, at as when, render};
use crate::AppState;
use crate::guard::Authenticated;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/chat/console", get(console))
        .route("/chat/console/rows", get(rows))
        .route("/chat/console/{id}/ws", get(crate::routes::chat::console))
        .route("/chat/widget", get(crate::routes::chat::widget))
        .route("/chat/demo", get(demo))
}

/// A chat as the console lists it.
struct ChatRow {
    chat: Chat,
    started: String,
}

#[derive(Template)]
#[template(path = "chat_console.html")]
struct ConsolePage {
    shell: Shell,
    rows: Vec<ChatRow>,
    /// Canned answers: the response templates' names.
    canned: Vec<String>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "chat_rows.html")]
struct Rows {
    rows: Vec<ChatRow>,
}

async fn listed(s: &AppState, auth: &Authenticated) -> Result<Vec<ChatRow>, String> {
    let found = chat::console(&s.db, &auth.caller.actor()).await.map_err(|e| crate::Problem::from(e).detail)?;
    Ok(found.into_iter().map(|c| ChatRow { started: when(c.started_at), chat: c }).collect())
}

async fn console(State(s): State<AppState>, auth: Authenticated) -> Response {
    let (rows, error) = match listed(&s, &auth).await {
        Ok(rows) => (rows, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    let canned = pitboss_helpdesk::templates::names(&s.db).await.unwrap_or_default();
    render(&ConsolePage { shell: Shell::new(&s, &auth, "/tickets"), rows, canned, error })
}

async fn rows(State(s): State<AppState>, auth: Authenticated) -> Response {
    render(&Rows { rows: listed(&s, &auth).await.unwrap_or_default() })
}

#[derive(Template)]
#[template(path = "chat_demo.html")]
struct Demo;

async fn demo() -> Response {
    render(&Demo)
}
