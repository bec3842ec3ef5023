//! Response templates in the UI: the list with an editor (the help desk's managers), and the
//! fragment that fills a ticket's reply with a template rendered for that ticket, for the agent
//! to read and edit before sending.

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use pitboss_auth::policy::Action;
use pitboss_helpdesk::templates::{self, ResponseTemplate};
use serde::Deserialize;
use uuid::Uuid;

use super::form::FormData;
use super::tickets::can;
use super::{Shell, at as when, render, render_status, status_of};
use crate::AppState;
use crate::guard::Authenticated;
use crate::routes::templates::{TemplateRequest, drop_template, render_for, store_template};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/helpdesk/templates", get(list).post(save))
        .route("/helpdesk/templates/{id}/remove", post(remove))
        .route("/tickets/{id}/template-preview", post(preview))
}

#[derive(Template)]
#[template(path = "templates.html")]
struct TemplatesPage {
    shell: Shell,
    templates: Vec<(ResponseTemplate, String)>,
    /// The editor's contents: a template being changed, or what was sent back with an error.
    name: String,
    language: String,
    body: String,
    can_manage: bool,
    error: Option<String>,
}

#[derive(Deserialize)]
struct ListQuery {
    edit: Option<Uuid>,
    done: Option<String>,
}

async fn list(State(s): State<AppState>, auth: Authenticated, Query(q): Query<ListQuery>) -> Response {
    let notice = q.done.map(|d| format!("{d}."));
    let editing = TemplateRequest { name: String::new(), language: "en".into(), body: String::new() };
    page(&s, &auth, editing, q.edit, notice, None).await
}

async fn page(
    s: &AppState,
    auth: &Authenticated,
    mut editing: TemplateRequest,
    edit: Option<Uuid>,
    notice: Option<String>,
    error: Option<(StatusCode, String)>,
) -> Response {
    let (found, error) = match templates::list(&s.db).await {
        Ok(t) => (t, error),
        Err(e) => (Vec::new(), Some((StatusCode::SERVICE_UNAVAILABLE, crate::Problem::from(e).detail))),
    };
    if let Some(t) = edit.and_then(|id| found.iter().find(|t| t.id == id)) {
        editing = TemplateRequest { name: t.name.clone(), language: t.language.clone(), body: t.body.clone() };
    }
    let status = error.as_ref().map_or(StatusCode::OK, |(s, _)| *s);
    let page = TemplatesPage {
        shell: Shell::new(s, auth, "/tickets").notice(notice),
        templates: found.into_iter().map(|t| (t.clone(), when(t.updated_at))).collect(),
        name: editing.name,
        language: editing.language,
        body: editing.body,
        can_manage: can(s, auth, Action::HelpdeskManage),
        error: error.map(|(_, e)| e),
    };
    render_status(status, &page)
}

async fn save(State(s): State<AppState>, auth: Authenticated, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let text = |f: &str| form.get(f).unwrap_or_default().to_string();
    let request = TemplateRequest { name: text("name"), language: text("language"), body: text("body") };
    match store_template(&s, &auth.caller, &request).await {
        Ok(t) => Redirect::to(&format!("/helpdesk/templates?done=Template%20{}%20({})%20saved", t.name, t.language))
            .into_response(),
        Err(p) => page(&s, &auth, request, None, None, Some((status_of(&p), p.detail))).await,
    }
}

async fn remove(State(s): State<AppState>, auth: Authenticated, Path(id): Path<Uuid>) -> Response {
    match drop_template(&s, &auth.caller, id).await {
        Ok(_) => Redirect::to("/helpdesk/templates?done=Template%20deleted").into_response(),
        Err(p) => {
            let empty = TemplateRequest { name: String::new(), language: "en".into(), body: String::new() };
            page(&s, &auth, empty, None, None, Some((status_of(&p), p.detail))).await
        }
    }
}

/// The reply's text box, filled with the template rendered for the ticket.
#[derive(Template)]
#[template(path = "reply_area.html")]
struct ReplyArea {
    body: String,
    note: Option<String>,
    error: Option<String>,
}

async fn preview(State(s): State<AppState>, auth: Authenticated, Path(id): Path<Uuid>, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let current = form.get("body").unwrap_or_default().to_string();
    let area = match form.get("template").map(str::trim).filter(|n| !n.is_empty()) {
        None => ReplyArea { body: current, note: None, error: Some("Choose a template first.".into()) },
        Some(name) => match render_for(&s, &auth.caller, id, name).await {
            Ok(p) => ReplyArea {
                body: p.body,
                note: Some(format!(
                    "From the template {} ({}): read it through, change what you need, then send.",
                    p.name, p.language
                )),
                error: None,
            },
            Err(p) => ReplyArea { body: current, note: None, error: Some(p.detail) },
        },
    };
    render(&area)
}
