//! The help desk's API: tickets (list with filters, open, read with messages, history and SLA
//! clock, change, write on, merge, bulk changes), a player's tickets, the queues and routing
//! rules, and an agent's saved views. A ticket about a player is authorised against that player
//! (an agent sees only their brands' players' tickets); every change is audited in its
//! transaction.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use chrono::{DateTime, Utc};
use pitboss_auth::policy::{Action, Module, RequestFacts, Resource};
use pitboss_auth::{Caller, audit};
use pitboss_helpdesk::queues::{self, Assignment, Member, Queue, RouteField, RoutingRule};
use pitboss_helpdesk::tickets::{self, MAX_PAGE, NewTicket, TicketChange};
use pitboss_helpdesk::views::{self, SavedView};
use pitboss_helpdesk::{
    AgentMessage, Channel, MessageKind, Priority, Status, Ticket, TicketFilter, TicketMessage, TicketUpdate,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::extract::{Json, Path, Query};
use crate::guard::{Authenticated, authorize};
use crate::routes::ops::authorize_player;
use crate::routes::players::only_allowed;
use crate::{AppState, Problem, webhook};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tickets", get(list).post(create))
        .route("/tickets/bulk", post(bulk))
        .route("/tickets/{id}", get(fetch).patch(change))
        .route("/tickets/{id}/messages", post(write))
        .route("/tickets/{id}/merge", post(merge))
        .route("/players/{id}/tickets", get(player_tickets))
        .route("/helpdesk/queues", get(queue_list).post(save_queue))
        .route("/helpdesk/routing", get(routing).post(add_route))
        .route("/helpdesk/routing/{id}", delete(remove_route))
        .route("/helpdesk/views", get(view_list).post(save_view))
        .route("/helpdesk/views/{id}", delete(delete_view))
        .route("/helpdesk/inbound-mail", post(inbound_mail))
        .route("/helpdesk/quarantine", get(quarantine))
}

/// Which tickets to list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams, Serialize)]
#[into_params(parameter_in = Query)]
pub struct TicketQuery {
    /// Statuses, comma-separated: `new`, `open`, `pending`, `on_hold`, `solved`, `closed`;
    /// default every unsolved one.
    pub status: Option<String>,
    pub queue: Option<String>,
    /// An agent's name, or `none` for unassigned tickets.
    pub assignee: Option<String>,
    pub priority: Option<String>,
    pub channel: Option<String>,
    pub player: Option<Uuid>,
    pub tag: Option<String>,
    /// Words in the subject or the requester.
    pub q: Option<String>,
    /// `true`: only tickets that breached an SLA target.
    pub breached: Option<bool>,
    /// 1 to 500, default 50.
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

fn blank(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl TicketQuery {
    pub(crate) fn filter(&self) -> Result<TicketFilter, Problem> {
        let statuses = match blank(&self.status) {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(|s| s.trim().parse::<Status>().map_err(|e| Problem::validation("status", format!("status: {e}"))))
                .collect::<Result<_, _>>()?,
        };
        let parse = |field: &'static str, v: &Option<String>| -> Result<Option<String>, Problem> {
            Ok(blank(v).map(str::to_string)).and_then(|v| match (field, v) {
                ("priority", Some(p)) => {
                    p.parse::<Priority>().map_err(|e| Problem::validation("priority", format!("priority: {e}")))?;
                    Ok(Some(p))
                }
                ("channel", Some(c)) => {
                    c.parse::<Channel>().map_err(|e| Problem::validation("channel", format!("channel: {e}")))?;
                    Ok(Some(c))
                }
                (_, v) => Ok(v),
            })
        };
        Ok(TicketFilter {
            statuses,
            queue: blank(&self.queue).map(str::to_string),
            assignee: blank(&self.assignee).map(|a| (a != "none").then(|| a.to_string())),
            priority: parse("priority", &self.priority)?.and_then(|p| p.parse().ok()),
            channel: parse("channel", &self.channel)?.and_then(|c| c.parse().ok()),
            player: self.player,
            tag: blank(&self.tag).map(str::to_string),
            text: blank(&self.q).map(str::to_string),
            breached: self.breached.unwrap_or(false),
            brands: None,
        })
    }
}

/// Tickets, as the caller may see them.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketPage {
    pub items: Vec<Ticket>,
}

/// Tickets matching the filters, the most urgent first (priority, then the resolution due
/// time), only those about players the caller may see.
#[utoipa::path(get, path = "/api/v1/tickets", tag = "helpdesk", params(TicketQuery),
    responses((status = 200, body = TicketPage), (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn list(
    State(s): State<AppState>,
    auth: Authenticated,
    Query(q): Query<TicketQuery>,
) -> Result<axum::Json<TicketPage>, Problem> {
    Ok(axum::Json(TicketPage { items: visible_tickets(&s, &auth.caller, &q).await? }))
}

/// The tickets the query asks for that the caller may see: those about a player the policies
/// let them read tickets of, and those from unknown senders.
pub(crate) async fn visible_tickets(s: &AppState, caller: &Caller, q: &TicketQuery) -> Result<Vec<Ticket>, Problem> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(Problem::validation("limit", format!("limit: must be between 1 and {MAX_PAGE}")));
    }
    let mut found = tickets::list(&s.db, &q.filter()?, limit, q.offset.unwrap_or(0)).await?;
    let about_players: Vec<(Uuid, Uuid)> = found.iter().filter_map(|t| Some((t.id, t.player_id?))).collect();
    let allowed: Vec<Uuid> = only_allowed(s, caller, Action::TicketRead, about_players, |(_, p)| *p)
        .await
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    found.retain(|t| t.player_id.is_none() || allowed.contains(&t.id));
    Ok(found)
}

/// Reads a ticket for the caller, if they may `action` it: a ticket about a player is
/// authorised against the player, one from an unknown sender against the help desk.
pub(crate) async fn authorized_ticket(
    s: &AppState,
    caller: &Caller,
    action: Action,
    id: Uuid,
) -> Result<Ticket, Problem> {
    let ticket = tickets::get(&s.db, id).await?;
    match ticket.player_id {
        Some(player) => {
            authorize_player(s, caller, action, player).await?;
        }
        None => authorize(s, caller, action, &Resource::Module(Module::Helpdesk), RequestFacts::default()).await?,
    }
    Ok(ticket)
}

/// A new ticket.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewTicketRequest {
    pub subject: String,
    /// The player it is about; the requester's email, language, brand and VIP tier come from
    /// the profile.
    pub player_id: Option<Uuid>,
    /// Who asked (an email, a phone number or a name); the player's email when left out.
    #[serde(default)]
    pub requester: String,
    pub channel: Channel,
    #[serde(default = "normal")]
    pub priority: Priority,
    #[serde(default)]
    pub tags: Vec<String>,
    /// The player's message, or the agent's account of what was asked.
    pub body: String,
    /// `player` (the player's own words, the default) or `note` (an agent's account).
    #[serde(default = "player_kind")]
    pub kind: MessageKind,
    /// When the player asked, if before now (up to 30 days): the SLA clock starts then.
    pub received_at: Option<DateTime<Utc>>,
    /// The language, when there is no player.
    pub language: Option<String>,
}

fn normal() -> Priority {
    Priority::Normal
}

fn player_kind() -> MessageKind {
    MessageKind::Player
}

/// Open a ticket: numbered, routed to its queue and agent, its SLA clock started.
#[utoipa::path(post, path = "/api/v1/tickets", tag = "helpdesk", request_body = NewTicketRequest,
    responses((status = 201, body = Ticket), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn create(
    State(s): State<AppState>,
    auth: Authenticated,
    Json(req): Json<NewTicketRequest>,
) -> Result<(StatusCode, axum::Json<Ticket>), Problem> {
    Ok((StatusCode::CREATED, axum::Json(open_ticket(&s, &auth.caller, req).await?)))
}

pub(crate) async fn open_ticket(s: &AppState, caller: &Caller, req: NewTicketRequest) -> Result<Ticket, Problem> {
    let player = match req.player_id {
        Some(id) => Some(authorize_player(s, caller, Action::TicketHandle, id).await?),
        None => {
            let module = Resource::Module(Module::Helpdesk);
            authorize(s, caller, Action::TicketHandle, &module, RequestFacts::default()).await?;
            None
        }
    };
    if !matches!(req.kind, MessageKind::Player | MessageKind::Note | MessageKind::Call) {
        return Err(Problem::validation("kind", "kind: the first message is the player's, a note or a call log"));
    }
    let actor = caller.actor();
    let new = NewTicket {
        subject: req.subject,
        player,
        requester: req.requester,
        channel: req.channel,
        priority: req.priority,
        tags: req.tags,
        body: req.body,
        first_kind: req.kind,
        author: actor.clone(),
        received_at: req.received_at,
        email_message_id: None,
        language: req.language,
    };
    let now = Utc::now();
    let mut tx = s.db.begin().await?;
    let ticket = tickets::create(&mut tx, &s.helpdesk, &new, &actor, now).await?;
    let record = caller.audit("ticket.create", "ticket", ticket.id).details(json!({
        "number": ticket.number, "player_id": ticket.player_id, "channel": ticket.channel,
        "priority": ticket.priority, "queue": ticket.queue, "assignee": ticket.assignee,
    }));
    audit::record(&mut tx, &record).await?;
    tx.commit().await?;
    s.sla_wake.notify_one();
    Ok(ticket)
}

/// Where a ticket's SLA stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlaView {
    pub first_response: TargetView,
    pub resolution: TargetView,
    /// The clock stands still: the ticket waits on the player.
    pub paused: bool,
}

/// One SLA target.
#[derive(Debug, Serialize, ToSchema)]
pub struct TargetView {
    pub due: Option<DateTime<Utc>>,
    pub warn_at: Option<DateTime<Utc>>,
    /// Business minutes used so far.
    pub used_minutes: i64,
    /// Met in time, breached, or neither yet.
    pub met: Option<bool>,
}

impl SlaView {
    pub(crate) fn of(t: &Ticket, desk: &pitboss_helpdesk::DeskConfig, now: DateTime<Utc>) -> SlaView {
        let clock = t.sla(desk, now);
        let view = |c: pitboss_helpdesk::policy::TargetClock| TargetView {
            due: c.due,
            warn_at: c.warn_at,
            used_minutes: c.used.num_minutes(),
            met: c.met,
        };
        SlaView {
            first_response: view(clock.first_response),
            resolution: view(clock.resolution),
            paused: t.status.waits_on_player(),
        }
    }
}

/// A ticket with its messages (internal notes included), history and SLA clock.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketDetail {
    #[serde(flatten)]
    pub ticket: Ticket,
    pub messages: Vec<TicketMessage>,
    /// The replies sent (or being sent) by email, with their threading headers.
    pub mail: Vec<pitboss_helpdesk::email::OutboundMail>,
    /// The calls logged on it by the telephony system.
    pub calls: Vec<pitboss_helpdesk::calls::Call>,
    /// The files on it.
    pub files: Vec<pitboss_helpdesk::attachments::FileInfo>,
    pub history: Vec<TicketChange>,
    pub sla: SlaView,
}

/// A ticket, with its messages, history and SLA clock.
#[utoipa::path(get, path = "/api/v1/tickets/{id}", tag = "helpdesk", params(("id" = Uuid, Path)),
    responses((status = 200, body = TicketDetail), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn fetch(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<TicketDetail>, Problem> {
    Ok(axum::Json(ticket_detail(&s, &auth.caller, id).await?))
}

pub(crate) async fn ticket_detail(s: &AppState, caller: &Caller, id: Uuid) -> Result<TicketDetail, Problem> {
    let ticket = authorized_ticket(s, caller, Action::TicketRead, id).await?;
    let (messages, history, mail, calls, files) = tokio::try_join!(
        tickets::messages(&s.db, id, true),
        tickets::history(&s.db, id),
        pitboss_helpdesk::email::outbound(&s.db, id),
        pitboss_helpdesk::calls::of_ticket(&s.db, id),
        pitboss_helpdesk::attachments::of_ticket(&s.db, id)
    )?;
    let sla = SlaView::of(&ticket, &s.helpdesk, Utc::now());
    Ok(TicketDetail { ticket, messages, mail, calls, files, history, sla })
}

/// What to change on a ticket; what is left out stays.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ChangeRequest {
    pub subject: Option<String>,
    pub status: Option<Status>,
    pub priority: Option<Priority>,
    pub queue: Option<String>,
    /// An agent's name; an empty string unassigns.
    pub assignee: Option<String>,
    pub tags: Option<Vec<String>>,
    /// The version read: the change is refused (409) if the ticket moved on since.
    pub expected_version: Option<i64>,
}

impl ChangeRequest {
    pub(crate) fn update(self) -> TicketUpdate {
        TicketUpdate {
            subject: self.subject,
            status: self.status,
            priority: self.priority,
            queue: self.queue,
            assignee: self.assignee.map(|a| Some(a).filter(|a| !a.trim().is_empty())),
            tags: self.tags,
            expected_version: self.expected_version,
        }
    }
}

/// Change a ticket's subject, status, priority, queue, assignee or tags.
#[utoipa::path(patch, path = "/api/v1/tickets/{id}", tag = "helpdesk", params(("id" = Uuid, Path)), request_body = ChangeRequest,
    responses((status = 200, body = Ticket), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn change(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
    Json(req): Json<ChangeRequest>,
) -> Result<axum::Json<Ticket>, Problem> {
    Ok(axum::Json(change_ticket(&s, &auth.caller, id, req.update()).await?))
}

pub(crate) async fn change_ticket(
    s: &AppState,
    caller: &Caller,
    id: Uuid,
    change: TicketUpdate,
) -> Result<Ticket, Problem> {
    authorized_ticket(s, caller, Action::TicketHandle, id).await?;
    let (now, actor) = (Utc::now(), caller.actor());
    let mut tx = s.db.begin().await?;
    let ticket = tickets::update(&mut tx, &s.helpdesk, id, &change, &actor, now).await?;
    audit::record(&mut tx, &changed(caller, "ticket.update", &ticket)).await?;
    tx.commit().await?;
    s.sla_wake.notify_one();
    Ok(ticket)
}

fn changed(caller: &Caller, action: &str, t: &Ticket) -> audit::AuditEntry {
    caller.audit(action, "ticket", t.id).details(json!({
        "number": t.number, "player_id": t.player_id, "status": t.status, "priority": t.priority,
        "queue": t.queue, "assignee": t.assignee, "tags": t.tags, "version": t.version,
    }))
}

/// What an agent writes on a ticket.
#[derive(Debug, Deserialize, ToSchema)]
pub struct WriteRequest {
    /// `reply` (to the player: the first one is the first response), `note` (internal) or
    /// `call` (a call's log).
    pub kind: MessageKind,
    pub body: String,
    /// The status to set with it; by default a reply leaves the ticket pending on the player.
    pub status: Option<Status>,
}

/// Reply to the player, add an internal note or log a call.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/messages", tag = "helpdesk", params(("id" = Uuid, Path)), request_body = WriteRequest,
    responses((status = 201, body = TicketMessage), (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn write(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
    Json(req): Json<WriteRequest>,
) -> Result<(StatusCode, axum::Json<TicketMessage>), Problem> {
    let message = AgentMessage { kind: req.kind, body: req.body, then: req.status };
    let (_, written) = write_on(&s, &auth.caller, id, &message).await?;
    Ok((StatusCode::CREATED, axum::Json(written)))
}

pub(crate) async fn write_on(
    s: &AppState,
    caller: &Caller,
    id: Uuid,
    message: &AgentMessage,
) -> Result<(Ticket, TicketMessage), Problem> {
    authorized_ticket(s, caller, Action::TicketHandle, id).await?;
    let (now, actor) = (Utc::now(), caller.actor());
    let mut tx = s.db.begin().await?;
    let (ticket, written) = tickets::reply(&mut tx, &s.helpdesk, id, message, &actor, now).await?;
    let action = match message.kind {
        MessageKind::Reply => "ticket.reply",
        MessageKind::Call => "ticket.call_note",
        _ => "ticket.note",
    };
    let record = caller.audit(action, "ticket", id).details(json!({
        "number": ticket.number, "player_id": ticket.player_id, "message_id": written.id, "status": ticket.status,
    }));
    audit::record(&mut tx, &record).await?;
    tx.commit().await?;
    s.sla_wake.notify_one();
    Ok((ticket, written))
}

/// Which ticket a duplicate goes into.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MergeRequest {
    /// The ticket that carries on.
    pub into: Uuid,
}

/// Merge this ticket (a duplicate) into another: its messages move over and it closes.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/merge", tag = "helpdesk", params(("id" = Uuid, Path)), request_body = MergeRequest,
    responses((status = 200, body = Ticket), (status = 409, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn merge(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
    Json(req): Json<MergeRequest>,
) -> Result<axum::Json<Ticket>, Problem> {
    Ok(axum::Json(merge_tickets(&s, &auth.caller, id, req.into).await?))
}

pub(crate) async fn merge_tickets(
    s: &AppState,
    caller: &Caller,
    duplicate: Uuid,
    into: Uuid,
) -> Result<Ticket, Problem> {
    authorized_ticket(s, caller, Action::TicketHandle, duplicate).await?;
    authorized_ticket(s, caller, Action::TicketHandle, into).await?;
    let (now, actor) = (Utc::now(), caller.actor());
    let mut tx = s.db.begin().await?;
    let ticket = tickets::merge(&mut tx, &s.helpdesk, duplicate, into, &actor, now).await?;
    let record =
        caller.audit("ticket.merge", "ticket", duplicate).details(json!({ "into": into, "number": ticket.number }));
    audit::record(&mut tx, &record).await?;
    tx.commit().await?;
    Ok(ticket)
}

/// One change for many tickets.
#[derive(Debug, Deserialize, ToSchema)]
pub struct BulkRequest {
    pub ids: Vec<Uuid>,
    pub change: ChangeRequest,
}

/// Apply one change to many tickets, all or none (a refusal names its ticket).
#[utoipa::path(post, path = "/api/v1/tickets/bulk", tag = "helpdesk", request_body = BulkRequest,
    responses((status = 200, body = TicketPage), (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn bulk(
    State(s): State<AppState>,
    auth: Authenticated,
    Json(req): Json<BulkRequest>,
) -> Result<axum::Json<TicketPage>, Problem> {
    Ok(axum::Json(TicketPage { items: bulk_change(&s, &auth.caller, &req.ids, req.change.update()).await? }))
}

pub(crate) async fn bulk_change(
    s: &AppState,
    caller: &Caller,
    ids: &[Uuid],
    change: TicketUpdate,
) -> Result<Vec<Ticket>, Problem> {
    if ids.len() > MAX_PAGE as usize {
        return Err(Problem::validation("ids", format!("ids: at most {MAX_PAGE} tickets at once")));
    }
    for id in ids {
        authorized_ticket(s, caller, Action::TicketHandle, *id).await?;
    }
    let (now, actor) = (Utc::now(), caller.actor());
    let mut tx = s.db.begin().await?;
    let done = tickets::bulk_update(&mut tx, &s.helpdesk, ids, &change, &actor, now).await?;
    for t in &done {
        audit::record(&mut tx, &changed(caller, "ticket.bulk_update", t)).await?;
    }
    tx.commit().await?;
    s.sla_wake.notify_one();
    Ok(done)
}

/// A player's tickets, newest first, every status.
#[utoipa::path(get, path = "/api/v1/players/{id}/tickets", tag = "helpdesk", params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<Ticket>), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn player_tickets(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(player): Path<Uuid>,
) -> Result<axum::Json<Vec<Ticket>>, Problem> {
    Ok(axum::Json(tickets_of(&s, &auth.caller, player).await?))
}

pub(crate) async fn tickets_of(s: &AppState, caller: &Caller, player: Uuid) -> Result<Vec<Ticket>, Problem> {
    authorize_player(s, caller, Action::TicketRead, player).await?;
    let filter = TicketFilter { statuses: Status::ALL.to_vec(), player: Some(player), ..Default::default() };
    let mut found = tickets::list(&s.db, &filter, 200, 0).await?;
    found.sort_by_key(|t| std::cmp::Reverse(t.created_at));
    Ok(found)
}

/// Every queue, by name.
#[utoipa::path(get, path = "/api/v1/helpdesk/queues", tag = "helpdesk",
    responses((status = 200, body = Vec<Queue>)), security(("api_key" = [])))]
pub async fn queue_list(State(s): State<AppState>, _auth: Authenticated) -> Result<axum::Json<Vec<Queue>>, Problem> {
    Ok(axum::Json(queues::list(&s.db).await?))
}

/// A queue to create or change.
#[derive(Debug, Deserialize, ToSchema)]
pub struct QueueRequest {
    /// a-z, 0-9, - and _; a queue with this key is changed.
    pub key: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub members: Vec<Member>,
    /// `manual` or `round_robin`.
    pub assignment: Assignment,
}

/// Create or change a queue: its team and how it gives out new tickets.
#[utoipa::path(post, path = "/api/v1/helpdesk/queues", tag = "helpdesk", request_body = QueueRequest,
    responses((status = 200, body = Queue), (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn save_queue(
    State(s): State<AppState>,
    auth: Authenticated,
    Json(req): Json<QueueRequest>,
) -> Result<axum::Json<Queue>, Problem> {
    let queue = Queue {
        key: req.key,
        name: req.name,
        description: req.description,
        members: req.members,
        assignment: req.assignment,
    };
    Ok(axum::Json(store_queue(&s, &auth.caller, &queue).await?))
}

pub(crate) async fn store_queue(s: &AppState, caller: &Caller, queue: &Queue) -> Result<Queue, Problem> {
    let mut tx = s.db.begin().await?;
    let saved = queues::save(&mut tx, queue, Utc::now()).await?;
    let record = caller.audit("helpdesk.queue_save", "queue", &saved.key).details(json!({
        "name": saved.name, "members": saved.members, "assignment": saved.assignment,
    }));
    audit::record(&mut tx, &record).await?;
    tx.commit().await?;
    Ok(saved)
}

/// The routing rules, by position.
#[utoipa::path(get, path = "/api/v1/helpdesk/routing", tag = "helpdesk",
    responses((status = 200, body = Vec<RoutingRule>)), security(("api_key" = [])))]
pub async fn routing(State(s): State<AppState>, _auth: Authenticated) -> Result<axum::Json<Vec<RoutingRule>>, Problem> {
    Ok(axum::Json(queues::routing(&s.db).await?))
}

/// A routing rule.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RouteRequest {
    /// Lower first.
    pub position: i64,
    /// `language`, `brand`, `vip_tier` or `channel`.
    pub field: RouteField,
    pub value: String,
    pub queue: String,
}

/// Add a routing rule: new tickets whose field equals the value go to the queue.
#[utoipa::path(post, path = "/api/v1/helpdesk/routing", tag = "helpdesk", request_body = RouteRequest,
    responses((status = 201, body = RoutingRule), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn add_route(
    State(s): State<AppState>,
    auth: Authenticated,
    Json(req): Json<RouteRequest>,
) -> Result<(StatusCode, axum::Json<RoutingRule>), Problem> {
    Ok((StatusCode::CREATED, axum::Json(store_route(&s, &auth.caller, &req).await?)))
}

pub(crate) async fn store_route(s: &AppState, caller: &Caller, req: &RouteRequest) -> Result<RoutingRule, Problem> {
    let mut tx = s.db.begin().await?;
    let rule = queues::add_rule(&mut tx, req.position, req.field, &req.value, &req.queue, Utc::now()).await?;
    let record = caller.audit("helpdesk.route_add", "routing_rule", rule.id).details(json!({
        "position": rule.position, "field": rule.field, "value": rule.value, "queue": rule.queue,
    }));
    audit::record(&mut tx, &record).await?;
    tx.commit().await?;
    Ok(rule)
}

/// Remove a routing rule.
#[utoipa::path(delete, path = "/api/v1/helpdesk/routing/{id}", tag = "helpdesk", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn remove_route(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, Problem> {
    drop_route(&s, &auth.caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn drop_route(s: &AppState, caller: &Caller, id: Uuid) -> Result<(), Problem> {
    let mut tx = s.db.begin().await?;
    if !queues::remove_rule(&mut tx, id).await? {
        return Err(Problem::not_found(format!("no routing rule with id {id}")));
    }
    audit::record(&mut tx, &caller.audit("helpdesk.route_remove", "routing_rule", id)).await?;
    tx.commit().await?;
    Ok(())
}

/// What became of an inbound message.
#[derive(Debug, Serialize, ToSchema)]
pub struct MailReceipt {
    /// `opened` (a new ticket, or a follow-up of a closed one), `added` (to an open ticket),
    /// `duplicate` (taken before) or `quarantined`.
    pub outcome: &'static str,
    pub ticket_id: Option<Uuid>,
    pub ticket_number: Option<i64>,
    /// Why it was quarantined.
    pub reason: Option<String>,
}

/// Take one inbound email, the raw MIME message as the body (`Content-Type: message/rfc822`),
/// as a mail gateway forwards it, signed with the shared `mail_webhook_secret`
/// (`Pitboss-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`): threaded onto
/// its ticket (In-Reply-To, References, the subject's `[#1042]` from its requester), a new
/// ticket, or quarantined with the reason (unreadable, over 10 MiB, no sender, an auto-reply, a
/// bounce, a loop). Never dropped.
#[utoipa::path(post, path = "/api/v1/helpdesk/inbound-mail", tag = "helpdesk",
    request_body(content = String, content_type = "message/rfc822", description = "The raw message"),
    params(("Pitboss-Signature" = String, Header, description = "t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">")),
    responses((status = 202, body = MailReceipt),
        (status = 401, body = Problem, content_type = "application/problem+json", description = "missing, stale or wrong signature"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json", description = "mail_webhook_secret is not set")))]
pub async fn inbound_mail(
    State(s): State<AppState>,
    caller: webhook::Caller,
    body: axum::body::Bytes,
) -> Result<(StatusCode, axum::Json<MailReceipt>), Problem> {
    caller.verify(&s, "mail", s.webhooks.mail.as_deref(), "mail_webhook_secret", &body).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(take_mail(&s, &caller, &body).await?)))
}

pub(crate) async fn take_mail(s: &AppState, caller: &webhook::Caller, raw: &[u8]) -> Result<MailReceipt, Problem> {
    use pitboss_helpdesk::email::{self, Received};
    let now = Utc::now();
    let mut tx = s.db.begin().await?;
    let received = email::receive(&mut tx, &s.helpdesk, raw, now).await?;
    let receipt = match &received {
        Received::Opened(t) => {
            MailReceipt { outcome: "opened", ticket_id: Some(t.id), ticket_number: Some(t.number), reason: None }
        }
        Received::Added(t) => {
            MailReceipt { outcome: "added", ticket_id: Some(t.id), ticket_number: Some(t.number), reason: None }
        }
        Received::Duplicate(id) => {
            MailReceipt { outcome: "duplicate", ticket_id: Some(*id), ticket_number: None, reason: None }
        }
        Received::Quarantined { reason, .. } => {
            MailReceipt { outcome: "quarantined", ticket_id: None, ticket_number: None, reason: Some(reason.clone()) }
        }
    };
    let target = match &received {
        Received::Quarantined { id, .. } => id.to_string(),
        _ => receipt.ticket_id.map(|t| t.to_string()).unwrap_or_default(),
    };
    let record = caller.audit("mail", "ticket.mail_in", "ticket", target).details(json!({
        "outcome": receipt.outcome, "number": receipt.ticket_number, "reason": receipt.reason, "size": raw.len(),
    }));
    audit::record(&mut tx, &record).await?;
    tx.commit().await?;
    s.sla_wake.notify_one();
    Ok(receipt)
}

/// Inbound mail that became no ticket message, newest first, with why.
#[utoipa::path(get, path = "/api/v1/helpdesk/quarantine", tag = "helpdesk", params(TicketQuery),
    responses((status = 200, body = Vec<pitboss_helpdesk::email::Quarantined>)), security(("api_key" = [])))]
pub async fn quarantine(
    State(s): State<AppState>,
    _auth: Authenticated,
    Query(q): Query<TicketQuery>,
) -> Result<axum::Json<Vec<pitboss_helpdesk::email::Quarantined>>, Problem> {
    let found = pitboss_helpdesk::email::quarantined(&s.db, q.limit.unwrap_or(50), q.offset.unwrap_or(0)).await?;
    Ok(axum::Json(found))
}

/// The caller's saved views.
#[utoipa::path(get, path = "/api/v1/helpdesk/views", tag = "helpdesk",
    responses((status = 200, body = Vec<SavedView>)), security(("api_key" = [])))]
pub async fn view_list(State(s): State<AppState>, auth: Authenticated) -> Result<axum::Json<Vec<SavedView>>, Problem> {
    Ok(axum::Json(views::list(&s.db, &auth.caller.actor()).await?))
}

/// A view to save.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ViewRequest {
    pub name: String,
    /// The ticket list's query string, e.g. `status=open&queue=vip&breached=true`.
    pub query: String,
}

/// Save a view of the ticket list under a name (one of that name is replaced).
#[utoipa::path(post, path = "/api/v1/helpdesk/views", tag = "helpdesk", request_body = ViewRequest,
    responses((status = 201, body = SavedView), (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn save_view(
    State(s): State<AppState>,
    auth: Authenticated,
    Json(req): Json<ViewRequest>,
) -> Result<(StatusCode, axum::Json<SavedView>), Problem> {
    Ok((StatusCode::CREATED, axum::Json(store_view(&s, &auth.caller, &req.name, &req.query).await?)))
}

pub(crate) async fn store_view(s: &AppState, caller: &Caller, name: &str, query: &str) -> Result<SavedView, Problem> {
    // The query must read as the list's filters, so a saved view always opens.
    let uri: axum::http::Uri = format!("/tickets?{}", query.trim().trim_start_matches('?'))
        .parse()
        .map_err(|_| Problem::validation("query", "query: not a query string"))?;
    let axum::extract::Query(parsed) = axum::extract::Query::<TicketQuery>::try_from_uri(&uri)
        .map_err(|e| Problem::validation("query", format!("query: {}", e.body_text())))?;
    parsed.filter()?;
    let mut tx = s.db.begin().await?;
    let view = views::save(&mut tx, &caller.actor(), name, query, Utc::now()).await?;
    let record =
        caller.audit("helpdesk.view_save", "view", view.id).details(json!({ "name": view.name, "query": view.query }));
    audit::record(&mut tx, &record).await?;
    tx.commit().await?;
    Ok(view)
}

/// Delete one of the caller's saved views.
#[utoipa::path(delete, path = "/api/v1/helpdesk/views/{id}", tag = "helpdesk", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn delete_view(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, Problem> {
    let mut tx = s.db.begin().await?;
    if !views::delete(&mut tx, &auth.caller.actor(), id).await? {
        return Err(Problem::not_found(format!("you have no saved view with id {id}")));
    }
    audit::record(&mut tx, &auth.caller.audit("helpdesk.view_delete", "view", id)).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
