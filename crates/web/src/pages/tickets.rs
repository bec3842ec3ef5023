//! The help desk in the UI: the ticket queue (filters, saved views, bulk changes, pages), a new
//! ticket, a ticket's page (its thread, the reply and note form, its properties, SLA clock,
//! merge and history), and the queues and routing set-up.

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::Utc;
use pitboss_auth::policy::{Action, Module, RequestFacts, Resource};
use pitboss_helpdesk::queues::{self, Assignment, Member, Queue, RouteField};
use pitboss_helpdesk::tickets;
use pitboss_helpdesk::views;
use pitboss_helpdesk::{AgentMessage, Channel, MessageKind, Priority, Status, Ticket, TicketUpdate};
use uuid::Uuid;

use super::form::FormData;
use super::{Done, Shell, at as when, choices, message, render_status, split_list, status_of};
use crate::guard::{Authenticated, decide};
use crate::routes::tickets::{
    NewTicketRequest, RouteRequest, SlaView, TicketQuery, bulk_change, change_ticket, drop_route, merge_tickets,
    open_ticket, store_queue, store_route, store_view, ticket_detail, visible_tickets, write_on,
};
use crate::{AppState, Problem};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tickets", get(list).post(create))
        .route("/tickets/new", get(new_form))
        .route("/tickets/bulk", post(bulk))
        .route("/tickets/views", post(save_view))
        .route("/tickets/{id}", get(page).post(change))
        .route("/tickets/{id}/messages", post(write))
        .route("/tickets/{id}/merge", post(merge))
        .route("/tickets/{id}/attachments/{file}", get(file))
        .route("/helpdesk", get(setup))
        .route("/helpdesk/queues", post(save_queue))
        .route("/helpdesk/routing", post(add_route))
        .route("/helpdesk/routing/{id}/remove", post(remove_route))
}

const PAGE: u32 = 50;

/// A ticket as a row of the queue shows it.
struct Row {
    id: Uuid,
    number: i64,
    subject: String,
    requester: String,
    player: Option<Uuid>,
    priority: &'static str,
    status: &'static str,
    queue: String,
    assignee: String,
    /// The next due time that matters: the first response's until it is given, then the
    /// resolution's.
    due: String,
    breached: bool,
    updated: String,
}

fn row(t: &Ticket) -> Row {
    let due = if t.first_response_at.is_none() { t.first_response_due } else { t.resolution_due };
    Row {
        id: t.id,
        number: t.number,
        subject: t.subject.clone(),
        requester: t.requester.clone(),
        player: t.player_id,
        priority: t.priority.as_str(),
        status: t.status.as_str(),
        queue: t.queue.clone(),
        assignee: t.assignee.clone().unwrap_or_default(),
        due: match (t.status.unsolved(), due) {
            (false, _) => String::new(),
            (true, None) => "paused".into(),
            (true, Some(d)) => d.format("%Y-%m-%d %H:%M").to_string(),
        },
        breached: t.breached(),
        updated: when(t.updated_at),
    }
}

#[derive(Template)]
#[template(path = "tickets.html")]
struct ListPage {
    shell: Shell,
    rows: Vec<Row>,
    can_handle: bool,
    statuses: Vec<(&'static str, bool)>,
    priorities: Vec<(&'static str, bool)>,
    channels: Vec<(&'static str, bool)>,
    queues: Vec<(String, String, bool)>,
    all_statuses: Vec<&'static str>,
    all_priorities: Vec<&'static str>,
    assignee: String,
    q: String,
    tag: String,
    breached: bool,
    /// The current query string, to save as a view and to page with.
    query: String,
    views: Vec<(String, String)>,
    previous: Option<String>,
    next: Option<String>,
    error: Option<String>,
}

pub(super) fn can(s: &AppState, auth: &Authenticated, action: Action) -> bool {
    decide(s, &auth.caller, action, &Resource::Module(Module::Helpdesk), RequestFacts::default()).allowed
}

/// The query string with `offset` set to `to`.
fn paged(query: &str, to: u32) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()).filter(|(k, _)| k != "offset" && k != "done") {
        out.append_pair(&k, &v);
    }
    out.append_pair("offset", &to.to_string());
    out.finish()
}

async fn list(State(s): State<AppState>, auth: Authenticated, RawQuery(raw): RawQuery) -> Response {
    let raw = raw.unwrap_or_default();
    let parsed: Result<TicketQuery, Problem> = {
        let uri = format!("/tickets?{raw}").parse::<axum::http::Uri>().ok();
        match uri.and_then(|u| Query::<TicketQuery>::try_from_uri(&u).ok()) {
            Some(Query(q)) => Ok(q),
            None => Err(Problem::validation("query", "the filters do not read; start again from the ticket list")),
        }
    };
    let done = url::form_urlencoded::parse(raw.as_bytes()).find(|(k, _)| k == "done").map(|(_, v)| v.to_string());
    list_page(&s, &auth, &raw, parsed, done, None).await
}

async fn list_page(
    s: &AppState,
    auth: &Authenticated,
    raw: &str,
    parsed: Result<TicketQuery, Problem>,
    notice: Option<String>,
    error: Option<(StatusCode, String)>,
) -> Response {
    let mut q = parsed.as_ref().cloned().unwrap_or_default();
    // `me` is the operator reading the list.
    if q.assignee.as_deref() == Some("me") {
        q.assignee = Some(auth.caller.actor());
    }
    q.limit = Some(PAGE);
    let offset = q.offset.unwrap_or(0);
    let (rows, error) = match (parsed.as_ref().err(), error) {
        (_, Some(e)) => (Vec::new(), Some(e)),
        (Some(p), None) => (Vec::new(), Some((status_of(p), p.detail.clone()))),
        (None, None) => match visible_tickets(s, &auth.caller, &q).await {
            Ok(found) => (found.iter().map(row).collect::<Vec<_>>(), None),
            Err(p) => (Vec::new(), Some((status_of(&p), p.detail))),
        },
    };
    let queue_list = queues::list(&s.db).await.unwrap_or_default();
    let chosen_queue = q.queue.clone().unwrap_or_default();
    let saved = views::list(&s.db, &auth.caller.actor()).await.unwrap_or_default();
    let status = error.as_ref().map_or(StatusCode::OK, |(s, _)| *s);
    let query = paged(raw, offset);
    let page = ListPage {
        shell: Shell::new(s, auth, "/tickets").notice(notice),
        can_handle: can(s, auth, Action::TicketHandle),
        statuses: choices(Status::ALL.iter().map(|s| s.as_str()), q.status.as_deref().unwrap_or_default()),
        priorities: choices(Priority::ALL.iter().map(|p| p.as_str()), q.priority.as_deref().unwrap_or_default()),
        channels: choices(Channel::ALL.iter().map(|c| c.as_str()), q.channel.as_deref().unwrap_or_default()),
        queues: queue_list.into_iter().map(|x| (x.key.clone(), x.name, x.key == chosen_queue)).collect(),
        all_statuses: Status::ALL.iter().filter(|s| **s != Status::New).map(|s| s.as_str()).collect(),
        all_priorities: Priority::ALL.iter().map(|p| p.as_str()).collect(),
        assignee: parsed.as_ref().ok().and_then(|p| p.assignee.clone()).unwrap_or_default(),
        q: q.q.clone().unwrap_or_default(),
        tag: q.tag.clone().unwrap_or_default(),
        breached: q.breached.unwrap_or(false),
        previous: (offset > 0).then(|| paged(raw, offset.saturating_sub(PAGE))),
        next: (rows.len() as u32 >= PAGE).then(|| paged(raw, offset + PAGE)),
        query,
        views: saved.into_iter().map(|v| (v.name, v.query)).collect(),
        rows,
        error: error.map(|(_, e)| e),
    };
    render_status(status, &page)
}

async fn save_view(State(s): State<AppState>, auth: Authenticated, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let query = form.get("query").unwrap_or_default().to_string();
    match store_view(&s, &auth.caller, form.get("name").unwrap_or_default(), &query).await {
        Ok(v) => Redirect::to(&format!("/tickets?{}", v.query)).into_response(),
        Err(p) => list_page(&s, &auth, &query, Ok(TicketQuery::default()), None, Some((status_of(&p), p.detail))).await,
    }
}

/// The bulk form's change: each field left at "keep" stays.
fn bulk_update(form: &FormData) -> Result<TicketUpdate, Problem> {
    let pick = |field: &str| form.get(field).map(str::trim).filter(|v| !v.is_empty());
    let status =
        pick("status").map(|v| v.parse::<Status>()).transpose().map_err(|e| Problem::validation("status", e))?;
    let priority =
        pick("priority").map(|v| v.parse::<Priority>()).transpose().map_err(|e| Problem::validation("priority", e))?;
    let assignee = match pick("assignee") {
        None => None,
        Some("none") => Some(None),
        Some(a) => Some(Some(a.to_string())),
    };
    let change =
        TicketUpdate { status, priority, assignee, queue: pick("queue").map(str::to_string), ..Default::default() };
    if change.is_empty() {
        return Err(Problem::validation(
            "change",
            "Choose what to change: a status, a priority, a queue or an assignee.",
        ));
    }
    Ok(change)
}

async fn bulk(State(s): State<AppState>, auth: Authenticated, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let back = form.get("query").unwrap_or_default().to_string();
    let ids: Result<Vec<Uuid>, _> = form.all("ids").iter().map(|i| i.parse::<Uuid>()).collect();
    let result = match (ids, bulk_update(&form)) {
        (Ok(ids), _) if ids.is_empty() => Err(Problem::validation("ids", "Tick the tickets to change first.")),
        (Ok(ids), Ok(change)) => bulk_change(&s, &auth.caller, &ids, change).await,
        (Err(_), _) => Err(Problem::validation("ids", "a ticket id does not read")),
        (_, Err(p)) => Err(p),
    };
    match result {
        Ok(done) => {
            let notice = format!("{} tickets changed", done.len());
            let done: String = url::form_urlencoded::byte_serialize(notice.as_bytes()).collect();
            Redirect::to(&format!("/tickets?{}&done={done}", paged(&back, 0))).into_response()
        }
        Err(p) => list_page(&s, &auth, &back, Ok(TicketQuery::default()), None, Some((status_of(&p), p.detail))).await,
    }
}

#[derive(Template)]
#[template(path = "ticket_new.html")]
struct NewPage {
    shell: Shell,
    player: String,
    channels: Vec<(&'static str, bool)>,
    priorities: Vec<(&'static str, bool)>,
    error: Option<String>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct ForPlayer {
    player: Option<Uuid>,
}

async fn new_form(State(s): State<AppState>, auth: Authenticated, Query(f): Query<ForPlayer>) -> Response {
    new_page(&s, &auth, f.player.map(|p| p.to_string()).unwrap_or_default(), None)
}

fn new_page(s: &AppState, auth: &Authenticated, player: String, error: Option<(StatusCode, String)>) -> Response {
    let status = error.as_ref().map_or(StatusCode::OK, |(s, _)| *s);
    let page = NewPage {
        shell: Shell::new(s, auth, "/tickets"),
        player,
        channels: choices(Channel::ALL.iter().map(|c| c.as_str()), "phone"),
        priorities: choices(Priority::ALL.iter().map(|p| p.as_str()), "normal"),
        error: error.map(|(_, e)| e),
    };
    render_status(status, &page)
}

fn new_request(form: &FormData) -> Result<NewTicketRequest, Problem> {
    let text = |f: &str| form.get(f).unwrap_or_default().to_string();
    let player_id = match form.get("player_id").map(str::trim).filter(|v| !v.is_empty()) {
        None => None,
        Some(p) => Some(p.parse::<Uuid>().map_err(|_| Problem::validation("player_id", "player: a player's id"))?),
    };
    let channel = text("channel").parse::<Channel>().map_err(|e| Problem::validation("channel", e))?;
    let priority = text("priority").parse::<Priority>().map_err(|e| Problem::validation("priority", e))?;
    let kind = match form.get("kind") {
        Some("note") => MessageKind::Note,
        Some("call") => MessageKind::Call,
        _ => MessageKind::Player,
    };
    Ok(NewTicketRequest {
        subject: text("subject"),
        player_id,
        requester: text("requester"),
        channel,
        priority,
        tags: split_list(&text("tags")),
        body: text("body"),
        kind,
        received_at: None,
        language: form.get("language").map(str::to_string).filter(|l| !l.trim().is_empty()),
    })
}

async fn create(State(s): State<AppState>, auth: Authenticated, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let result = match new_request(&form) {
        Ok(req) => open_ticket(&s, &auth.caller, req).await,
        Err(p) => Err(p),
    };
    match result {
        Ok(t) => Redirect::to(&format!("/tickets/{}?done=opened", t.id)).into_response(),
        Err(p) => {
            new_page(&s, &auth, form.get("player_id").unwrap_or_default().to_string(), Some((status_of(&p), p.detail)))
        }
    }
}

/// A message as the thread shows it.
struct Said {
    kind: &'static str,
    author: String,
    at: String,
    body: String,
}

#[derive(Template)]
#[template(path = "ticket.html")]
struct TicketPage {
    shell: Shell,
    t: Row,
    ticket: Ticket,
    sla: SlaView,
    first_response: String,
    resolution: String,
    figures: Vec<(&'static str, String)>,
    thread: Vec<Said>,
    /// Replies by email: to, subject, state, tries, last error.
    mail: Vec<(String, String, String, i64, String)>,
    history: Vec<(String, String, String, String)>,
    statuses: Vec<(&'static str, bool)>,
    priorities: Vec<(&'static str, bool)>,
    queues: Vec<(String, String, bool)>,
    tags: String,
    calls: Vec<CallRow>,
    /// Files: id, name, type, size, added by, when.
    files: Vec<TicketFile>,
    /// The response templates' names, for the reply form.
    templates: Vec<String>,
    open: bool,
    can_handle: bool,
    error: Option<String>,
}

/// Downloads one of the ticket's files.
async fn file(State(s): State<AppState>, auth: Authenticated, Path((id, file)): Path<(Uuid, Uuid)>) -> Response {
    match crate::routes::attachments::file_response(&s, &auth.caller, id, file).await {
        Ok(r) => r,
        Err(p) => message(status_of(&p), "Tickets", p.detail, &format!("/tickets/{id}"), "Back to the ticket"),
    }
}

type TicketFile = (Uuid, String, String, String, String, String);

/// A call on a ticket's page.
struct CallRow {
    number: String,
    direction: String,
    state: String,
    agent: String,
    at: String,
    talk: String,
    recording: Option<String>,
}

async fn page(State(s): State<AppState>, auth: Authenticated, Path(id): Path<Uuid>, Query(d): Query<Done>) -> Response {
    ticket_page(&s, &auth, id, d.done.map(|d| format!("Ticket {d}.")), None).await
}

/// How a target stands, in words.
fn target_text(due: Option<chrono::DateTime<Utc>>, met: Option<bool>, used: i64, paused: bool) -> String {
    let due_text = due.map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string());
    match (met, due_text) {
        (Some(true), _) => format!("met ({used} business minutes)"),
        (Some(false), Some(d)) => format!("breached: was due {d}"),
        (Some(false), None) => "breached".into(),
        (None, Some(d)) => format!("due {d} ({used} business minutes used)"),
        (None, None) if paused => format!("paused while waiting on the player ({used} business minutes used)"),
        (None, None) => "no due time in the calendar's horizon".into(),
    }
}

async fn ticket_page(
    s: &AppState,
    auth: &Authenticated,
    id: Uuid,
    notice: Option<String>,
    error: Option<(StatusCode, String)>,
) -> Response {
    let detail = match ticket_detail(s, &auth.caller, id).await {
        Ok(d) => d,
        Err(p) => return message(status_of(&p), "Tickets", p.detail, "/tickets", "Back to the tickets"),
    };
    let t = detail.ticket;
    let sla = detail.sla;
    let fr = &sla.first_response;
    let first_response = if t.first_response_at.is_some() || fr.met.is_some() {
        target_text(fr.due, fr.met, fr.used_minutes, false)
    } else {
        target_text(fr.due, fr.met, fr.used_minutes, sla.paused)
    };
    let res = &sla.resolution;
    let resolution = target_text(res.due, res.met, res.used_minutes, sla.paused);
    let minutes = |secs: i64| format!("{} min", secs / 60);
    let figures = vec![
        (
            "First response",
            t.first_response_at.map(|a| minutes((a - t.created_at).num_seconds())).unwrap_or_else(|| "not yet".into()),
        ),
        ("Handling time", minutes(t.handling_seconds)),
        (
            "Resolution",
            t.solved_at.map(|a| minutes((a - t.created_at).num_seconds())).unwrap_or_else(|| "not yet".into()),
        ),
        ("Reopened", format!("{} times", t.reopen_count)),
    ];
    let queue_list = queues::list(&s.db).await.unwrap_or_default();
    let templates = pitboss_helpdesk::templates::names(&s.db).await.unwrap_or_default();
    let status = error.as_ref().map_or(StatusCode::OK, |(s, _)| *s);
    let page = TicketPage {
        shell: Shell::new(s, auth, "/tickets").notice(notice),
        t: row(&t),
        first_response,
        resolution,
        figures,
        thread: detail
            .messages
            .into_iter()
            .map(|m| Said { kind: m.kind.as_str(), author: m.author, at: when(m.created_at), body: m.body })
            .collect(),
        mail: detail
            .mail
            .into_iter()
            .map(|m| (m.to_address, m.subject, m.state, m.attempts, m.last_error.unwrap_or_default()))
            .collect(),
        calls: detail
            .calls
            .into_iter()
            .map(|c| CallRow {
                number: c.caller_number,
                direction: c.direction,
                state: c.state,
                agent: c.agent.unwrap_or_default(),
                at: c.started_at.or(c.ended_at).map(when).unwrap_or_default(),
                talk: c.duration_seconds.map(|d| format!("{} min {} s", d / 60, d % 60)).unwrap_or_default(),
                recording: c.recording_url,
            })
            .collect(),
        files: detail
            .files
            .into_iter()
            .map(|f| {
                (
                    f.id,
                    f.name,
                    f.content_type,
                    format!("{} KiB", (f.size + 1023) / 1024),
                    f.added_by,
                    when(f.created_at),
                )
            })
            .collect(),
        history: detail.history.into_iter().map(|c| (when(c.at), c.actor, c.what, c.detail.to_string())).collect(),
        statuses: choices(Status::ALL.iter().filter(|s| **s != Status::New).map(|s| s.as_str()), t.status.as_str()),
        priorities: choices(Priority::ALL.iter().map(|p| p.as_str()), t.priority.as_str()),
        queues: queue_list.into_iter().map(|q| (q.key.clone(), q.name, q.key == t.queue)).collect(),
        tags: t.tags.join(", "),
        templates,
        open: t.status != Status::Closed,
        can_handle: can(s, auth, Action::TicketHandle),
        sla,
        ticket: t,
        error: error.map(|(_, e)| e),
    };
    render_status(status, &page)
}

async fn write(State(s): State<AppState>, auth: Authenticated, Path(id): Path<Uuid>, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let kind = match form.get("kind") {
        Some("note") => MessageKind::Note,
        Some("call") => MessageKind::Call,
        _ => MessageKind::Reply,
    };
    let then = match form.get("then").map(str::trim).filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => match v.parse::<Status>() {
            Ok(st) => Some(st),
            Err(e) => return ticket_page(&s, &auth, id, None, Some((StatusCode::UNPROCESSABLE_ENTITY, e))).await,
        },
    };
    let message = AgentMessage { kind, body: form.get("body").unwrap_or_default().to_string(), then };
    match write_on(&s, &auth.caller, id, &message).await {
        Ok((_, m)) => {
            let done = match m.kind {
                MessageKind::Reply => "answered",
                MessageKind::Call => "call%20logged",
                _ => "noted",
            };
            Redirect::to(&format!("/tickets/{id}?done={done}")).into_response()
        }
        Err(p) => ticket_page(&s, &auth, id, None, Some((status_of(&p), p.detail))).await,
    }
}

async fn change(State(s): State<AppState>, auth: Authenticated, Path(id): Path<Uuid>, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let pick = |f: &str| form.get(f).map(str::to_string);
    let parsed = (|| -> Result<TicketUpdate, Problem> {
        Ok(TicketUpdate {
            subject: pick("subject"),
            status: pick("status")
                .map(|v| v.parse())
                .transpose()
                .map_err(|e: String| Problem::validation("status", e))?,
            priority: pick("priority")
                .map(|v| v.parse())
                .transpose()
                .map_err(|e: String| Problem::validation("priority", e))?,
            queue: pick("queue"),
            assignee: pick("assignee").map(|a| Some(a).filter(|a| !a.trim().is_empty())),
            tags: pick("tags").map(|t| split_list(&t)),
            expected_version: pick("version").and_then(|v| v.parse().ok()),
        })
    })();
    let result = match parsed {
        Ok(change) => change_ticket(&s, &auth.caller, id, change).await,
        Err(p) => Err(p),
    };
    match result {
        Ok(_) => Redirect::to(&format!("/tickets/{id}?done=saved")).into_response(),
        Err(p) => ticket_page(&s, &auth, id, None, Some((status_of(&p), p.detail))).await,
    }
}

async fn merge(State(s): State<AppState>, auth: Authenticated, Path(id): Path<Uuid>, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let number = form.get("into").map(|n| n.trim().trim_start_matches('#')).and_then(|n| n.parse::<i64>().ok());
    let into = match number {
        None => Err(Problem::validation("into", "Give the number of the ticket to merge into, like 1042.")),
        Some(n) => match tickets::by_number(&s.db, n).await {
            Ok(Some(t)) => Ok(t.id),
            Ok(None) => Err(Problem::not_found(format!("no ticket #{n}"))),
            Err(e) => Err(e.into()),
        },
    };
    let result = match into {
        Ok(into) => merge_tickets(&s, &auth.caller, id, into).await,
        Err(p) => Err(p),
    };
    match result {
        Ok(kept) => Redirect::to(&format!("/tickets/{}?done=merged", kept.id)).into_response(),
        Err(p) => ticket_page(&s, &auth, id, None, Some((status_of(&p), p.detail))).await,
    }
}

#[derive(Template)]
#[template(path = "helpdesk.html")]
struct SetupPage {
    shell: Shell,
    /// Inbound mail set aside: received, sender, subject, reason.
    quarantine: Vec<(String, String, String, String)>,
    queues: Vec<(Queue, String)>,
    rules: Vec<(Uuid, i64, &'static str, String, String)>,
    fields: Vec<&'static str>,
    can_manage: bool,
    error: Option<String>,
}

async fn setup(State(s): State<AppState>, auth: Authenticated, Query(d): Query<Done>) -> Response {
    setup_page(&s, &auth, d.done.map(|d| format!("{d}.")), None).await
}

async fn setup_page(
    s: &AppState,
    auth: &Authenticated,
    notice: Option<String>,
    error: Option<(StatusCode, String)>,
) -> Response {
    let (queue_list, rules, error) = match (queues::list(&s.db).await, queues::routing(&s.db).await) {
        (Ok(q), Ok(r)) => (q, r, error),
        (Err(e), _) | (_, Err(e)) => {
            (Vec::new(), Vec::new(), Some((StatusCode::SERVICE_UNAVAILABLE, Problem::from(e).detail)))
        }
    };
    let quarantine = pitboss_helpdesk::email::quarantined(&s.db, 50, 0).await.unwrap_or_default();
    let status = error.as_ref().map_or(StatusCode::OK, |(s, _)| *s);
    let page = SetupPage {
        shell: Shell::new(s, auth, "/tickets").notice(notice),
        quarantine: quarantine.into_iter().map(|q| (when(q.received_at), q.sender, q.subject, q.reason)).collect(),
        queues: queue_list.into_iter().map(|q| (q.clone(), members_text(&q.members))).collect(),
        rules: rules.into_iter().map(|r| (r.id, r.position, r.field.as_str(), r.value, r.queue)).collect(),
        fields: RouteField::ALL.iter().map(|f| f.as_str()).collect(),
        can_manage: can(s, auth, Action::HelpdeskManage),
        error: error.map(|(_, e)| e),
    };
    render_status(status, &page)
}

/// Members as the form writes them: `anna: de en; bernd`.
fn members_text(members: &[Member]) -> String {
    members
        .iter()
        .map(
            |m| {
                if m.languages.is_empty() { m.agent.clone() } else { format!("{}: {}", m.agent, m.languages.join(" ")) }
            },
        )
        .collect::<Vec<_>>()
        .join("; ")
}

fn members_from(text: &str) -> Vec<Member> {
    text.split([';', '\n'])
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(|m| match m.split_once(':') {
            Some((agent, langs)) => Member { agent: agent.trim().to_string(), languages: split_list(langs) },
            None => Member { agent: m.to_string(), languages: Vec::new() },
        })
        .collect()
}

async fn save_queue(State(s): State<AppState>, auth: Authenticated, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let text = |f: &str| form.get(f).unwrap_or_default().to_string();
    let queue = Queue {
        key: text("key"),
        name: text("name"),
        description: text("description"),
        members: members_from(&text("members")),
        assignment: form.get("assignment").and_then(Assignment::from_name).unwrap_or(Assignment::Manual),
    };
    match store_queue(&s, &auth.caller, &queue).await {
        Ok(q) => Redirect::to(&format!("/helpdesk?done=Queue%20{}%20saved", q.key)).into_response(),
        Err(p) => setup_page(&s, &auth, None, Some((status_of(&p), p.detail))).await,
    }
}

async fn add_route(State(s): State<AppState>, auth: Authenticated, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let request = match (
        form.get("field").and_then(RouteField::from_name),
        form.get("position").map(|p| p.trim().parse::<i64>()),
    ) {
        (Some(field), Some(Ok(position))) => Ok(RouteRequest {
            position,
            field,
            value: form.get("value").unwrap_or_default().to_string(),
            queue: form.get("queue").unwrap_or_default().to_string(),
        }),
        _ => Err(Problem::validation("field", "Choose what the rule looks at and give its position as a number.")),
    };
    let result = match request {
        Ok(r) => store_route(&s, &auth.caller, &r).await,
        Err(p) => Err(p),
    };
    match result {
        Ok(_) => Redirect::to("/helpdesk?done=Routing%20rule%20added").into_response(),
        Err(p) => setup_page(&s, &auth, None, Some((status_of(&p), p.detail))).await,
    }
}

async fn remove_route(State(s): State<AppState>, auth: Authenticated, Path(id): Path<Uuid>) -> Response {
    match drop_route(&s, &auth.caller, id).await {
        Ok(()) => Redirect::to("/helpdesk?done=Routing%20rule%20removed").into_response(),
        Err(p) => setup_page(&s, &auth, None, Some((status_of(&p), p.detail))).await,
    }
}
