//! Tickets: what a player asked, through which channel, who works on it, and where it stands.
//!
//! A ticket moves `new` → `open` (someone works it) ⇄ `pending` (waiting on the player) /
//! `on_hold` (waiting on someone else) → `solved` → `closed`. A player's message on a pending or
//! solved ticket opens it again (a solved one counts a reopen); a closed ticket stays closed.
//! Every change is a conditional update on the ticket's version, so two agents never overwrite
//! each other unseen; each is kept in the ticket's history and announced on the bus.
//!
//! The SLA clock stands still while the ticket waits on the player (`pending`, and `solved`
//! until the player answers or it closes): those stretches are the ticket's pauses. After each
//! change the due times are computed again and the ticket's SLA timer moved
//! ([`crate::escalation`]).

use chrono::{DateTime, Duration, Utc};
use pitboss_core::new_id;
use pitboss_core::time::{from_micros, to_micros};
use pitboss_store::{Arg, Conditions, Db, Tx, bind_args, db, exec, sqlx, tx};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::config::DeskConfig;
use crate::error::HelpdeskError;
use crate::policy::{Priority, SlaClock, TicketTimes};
use crate::queues;
use crate::sla::Pause;

pitboss_core::string_enum!(
    /// Where a ticket stands.
    Status {
        New => "new",
        Open => "open",
        Pending => "pending",
        OnHold => "on_hold",
        Solved => "solved",
        Closed => "closed",
    }
);

impl Status {
    /// Waiting on the player: the SLA clock stands still.
    pub fn waits_on_player(self) -> bool {
        matches!(self, Status::Pending | Status::Solved)
    }

    /// Still to be worked on.
    pub fn unsolved(self) -> bool {
        matches!(self, Status::New | Status::Open | Status::Pending | Status::OnHold)
    }
}

pitboss_core::string_enum!(
    /// How the player reached the casino.
    Channel {
        Email => "email",
        Chat => "chat",
        Phone => "phone",
        Web => "web",
        Api => "api",
    }
);

pitboss_core::string_enum!(
    /// What a message on a ticket is: the player's own words, an agent's public reply, an
    /// internal note the player never sees, a call's log, or a chat's transcript.
    MessageKind {
        Player => "player",
        Reply => "reply",
        Note => "note",
        Call => "call",
        Chat => "chat",
    }
);

/// A ticket.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Ticket {
    pub id: Uuid,
    /// The number people quote: `#1001`.
    pub number: i64,
    pub subject: String,
    pub player_id: Option<Uuid>,
    /// Who asked: an email address, a phone number or a name.
    pub requester: String,
    pub channel: Channel,
    pub priority: Priority,
    pub status: Status,
    pub queue: String,
    pub assignee: Option<String>,
    pub tags: Vec<String>,
    pub language: String,
    pub brand: String,
    pub vip_tier: String,
    /// The ticket this one was merged into.
    pub merged_into: Option<Uuid>,
    /// When the first response and the resolution are due (none while the clock stands still).
    pub first_response_due: Option<DateTime<Utc>>,
    pub resolution_due: Option<DateTime<Utc>>,
    /// The SLA marks that fired: `first_response.warned`, `first_response.breached`,
    /// `resolution.warned`, `resolution.breached`.
    pub sla_marks: Vec<String>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub solved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// Since when it has its status.
    pub status_since: DateTime<Utc>,
    /// Time spent open, being worked on, in seconds.
    pub handling_seconds: i64,
    pub reopen_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Increases with every change; send it back as `expected_version` to change safely.
    pub version: i64,
    #[serde(skip)]
    #[schema(ignore)]
    pub pauses: Vec<Pause>,
}

impl Ticket {
    /// The token that threads an email to this ticket whatever its headers say.
    pub fn token(&self) -> String {
        format!("[#{}]", self.number)
    }

    /// The ticket's SLA clock at `now`.
    pub fn sla(&self, desk: &DeskConfig, now: DateTime<Utc>) -> SlaClock {
        let targets = desk.policy.targets_for(self.priority, &self.vip_tier);
        let times = TicketTimes {
            opened: self.created_at,
            pauses: &self.pauses,
            first_response: self.first_response_at,
            resolved: self.solved_at.or(self.closed_at),
        };
        crate::policy::clock(&desk.calendar, &desk.policy, targets, &times, now)
    }

    /// Whether an SLA mark (`first_response.breached`) fired.
    pub fn marked(&self, mark: &str) -> bool {
        self.sla_marks.iter().any(|m| m == mark)
    }

    /// Breached either target.
    pub fn breached(&self) -> bool {
        self.marked(FIRST_RESPONSE_BREACHED) || self.marked(RESOLUTION_BREACHED)
    }
}

pub const FIRST_RESPONSE_WARNED: &str = "first_response.warned";
pub const FIRST_RESPONSE_BREACHED: &str = "first_response.breached";
pub const RESOLUTION_WARNED: &str = "resolution.warned";
pub const RESOLUTION_BREACHED: &str = "resolution.breached";

/// A message on a ticket.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TicketMessage {
    pub id: Uuid,
    pub ticket_id: Uuid,
    pub kind: MessageKind,
    pub author: String,
    pub body: String,
    pub email_message_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// One change in a ticket's history.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TicketChange {
    pub ticket_id: Uuid,
    pub actor: String,
    /// `created`, `status`, `priority`, `queue`, `assignee`, `tags`, `subject`, `merged`,
    /// `sla.warned`, `sla.breached`, `escalated`.
    pub what: String,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    pub at: DateTime<Utc>,
}

/// Longest subject, tag, name; largest message body.
pub const MAX_SUBJECT: usize = 300;
pub const MAX_TAG: usize = 50;
pub const MAX_TAGS: usize = 30;
pub const MAX_NAME: usize = 200;
pub const MAX_BODY: usize = 100_000;
/// Most tickets one read returns.
pub const MAX_PAGE: u32 = 500;
/// How far back a ticket's first message may have been received (an import, a mail read late).
pub const MAX_BACKDATE_DAYS: i64 = 30;

/// A new ticket.
#[derive(Debug, Clone)]
pub struct NewTicket {
    pub subject: String,
    pub player: Option<pitboss_players::Player>,
    /// Who asked; the player's email when left empty.
    pub requester: String,
    pub channel: Channel,
    pub priority: Priority,
    pub tags: Vec<String>,
    /// The player's first message (or the agent's description of the call).
    pub body: String,
    pub first_kind: MessageKind,
    /// Its author: the requester for a player's message, the agent otherwise.
    pub author: String,
    /// When the player's message came in, if before now: the SLA clock starts then.
    pub received_at: Option<DateTime<Utc>>,
    pub email_message_id: Option<String>,
    /// The language when there is no player (an unknown sender).
    pub language: Option<String>,
}

/// Opens a ticket: numbered, routed to its queue, given to the queue's next agent, its SLA
/// clock started.
pub async fn create(
    tx: &mut Tx,
    desk: &DeskConfig,
    new: &NewTicket,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Ticket, HelpdeskError> {
    let subject = text("subject", &new.subject, MAX_SUBJECT)?;
    let body = body(&new.body)?;
    let tags = clean_tags(&new.tags)?;
    let player = new.player.as_ref();
    let requester = match (new.requester.trim(), player.and_then(|p| p.email.as_deref())) {
        ("", Some(email)) => email.to_string(),
        ("", None) => return Err(HelpdeskError::invalid("requester", "say who asked: an email, a phone or a name")),
        (r, _) => text("requester", r, MAX_NAME)?,
    };
    let opened = match new.received_at {
        Some(at) if at > now => return Err(HelpdeskError::invalid("received_at", "may not be in the future")),
        Some(at) if at < now - Duration::days(MAX_BACKDATE_DAYS) => {
            return Err(HelpdeskError::invalid("received_at", format!("at most {MAX_BACKDATE_DAYS} days ago")));
        }
        Some(at) => at,
        None => now,
    };
    let language = player
        .and_then(|p| p.language.clone())
        .or_else(|| new.language.clone())
        .unwrap_or_else(|| "en".into())
        .to_lowercase();
    let brand = player.map(|p| p.brand.clone()).unwrap_or_else(|| "main".into());
    let vip_tier = player.map(|p| p.vip_tier.clone()).unwrap_or_default();
    let route = queues::Routed { language: &language, brand: &brand, vip_tier: &vip_tier, channel: new.channel };
    let queue = queues::route(tx, desk, &route).await?;
    let assignee = queues::next_agent(tx, &queue, &language, now).await?;
    let number: i64 = tx!(tx, |c| sqlx::query_scalar(
        "UPDATE helpdesk_counters SET value = value + 1 WHERE name = 'ticket_number' RETURNING value"
    )
    .fetch_one(c)
    .await)?;
    let id = new_id();
    let status = if assignee.is_some() { Status::Open } else { Status::New };
    exec!(
        tx,
        "INSERT INTO tickets (id, number, subject, player_id, requester, channel, priority, status, queue_key, assignee, \
         tags, language, brand, vip_tier, pauses, sla_state, status_since, handling_micros, reopen_count, created_at, \
         updated_at, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, '[]', '[]', $15, 0, 0, \
         $16, $15, 1)",
        id,
        number,
        subject.as_str(),
        player.map(|p| p.id),
        requester.as_str(),
        new.channel.as_str(),
        new.priority.as_str(),
        status.as_str(),
        queue.key.as_str(),
        assignee.as_deref(),
        serde_json::to_string(&tags).unwrap_or_default(),
        language.as_str(),
        brand.as_str(),
        vip_tier.as_str(),
        to_micros(now),
        to_micros(opened),
    )?;
    let author = if new.first_kind == MessageKind::Player { requester.as_str() } else { new.author.as_str() };
    add_message(tx, id, new.first_kind, author, &body, new.email_message_id.as_deref(), opened).await?;
    let detail = serde_json::json!({ "channel": new.channel, "queue": queue.key, "assignee": assignee });
    record(tx, id, actor, "created", detail, now).await?;
    let ticket = get_in(tx, id).await?;
    let ticket = crate::escalation::rearm(tx, desk, ticket, now).await?;
    announce(tx, "helpdesk.ticket.created", &ticket, now).await?;
    Ok(ticket)
}

/// What an agent changes on a ticket; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct TicketUpdate {
    pub subject: Option<String>,
    pub status: Option<Status>,
    pub priority: Option<Priority>,
    pub queue: Option<String>,
    /// `Some(None)` unassigns.
    pub assignee: Option<Option<String>>,
    pub tags: Option<Vec<String>>,
    /// Refuse the change if the ticket moved past this version.
    pub expected_version: Option<i64>,
}

impl TicketUpdate {
    pub fn is_empty(&self) -> bool {
        self.subject.is_none()
            && self.status.is_none()
            && self.priority.is_none()
            && self.queue.is_none()
            && self.assignee.is_none()
            && self.tags.is_none()
    }
}

/// Changes a ticket; each field that changes is kept in its history.
pub async fn update(
    tx: &mut Tx,
    desk: &DeskConfig,
    id: Uuid,
    change: &TicketUpdate,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Ticket, HelpdeskError> {
    if change.is_empty() {
        return Err(HelpdeskError::invalid("change", "say what to change"));
    }
    let before = get_in(tx, id).await?;
    if let Some(expected) = change.expected_version
        && expected != before.version
    {
        return Err(HelpdeskError::Conflict(format!(
            "ticket #{} changed since you read it (version {} now, {expected} read); look again",
            before.number, before.version
        )));
    }
    if before.status == Status::Closed {
        return Err(HelpdeskError::Refused(format!("ticket #{} is closed; open a follow-up instead", before.number)));
    }
    let mut t = before.clone();
    let mut changes: Vec<(&str, serde_json::Value)> = Vec::new();
    if let Some(subject) = &change.subject {
        t.subject = text("subject", subject, MAX_SUBJECT)?;
    }
    if let Some(priority) = change.priority {
        t.priority = priority;
    }
    if let Some(tags) = &change.tags {
        t.tags = clean_tags(tags)?;
    }
    if let Some(queue) = &change.queue {
        let queue = queues::get_in(tx, queue).await?;
        if queue.key != t.queue {
            t.queue = queue.key.clone();
            // A new queue's agent takes it, unless the same change names one.
            if change.assignee.is_none() {
                t.assignee = queues::next_agent(tx, &queue, &t.language, now).await?;
            }
        }
    }
    if let Some(assignee) = &change.assignee {
        t.assignee = match assignee.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(a) => Some(text("assignee", a, MAX_NAME)?),
        };
    }
    if let Some(status) = change.status
        && status != t.status
    {
        move_to(&mut t, status, now)?;
    }
    if t.status == Status::New && t.assignee.is_some() {
        move_to(&mut t, Status::Open, now)?;
    }
    for (what, old, new) in [
        ("subject", json(&before.subject), json(&t.subject)),
        ("status", json(&before.status), json(&t.status)),
        ("priority", json(&before.priority), json(&t.priority)),
        ("queue", json(&before.queue), json(&t.queue)),
        ("assignee", json(&before.assignee), json(&t.assignee)),
        ("tags", json(&before.tags), json(&t.tags)),
    ] {
        if old != new {
            changes.push((what, serde_json::json!({ "from": old, "to": new })));
        }
    }
    if changes.is_empty() {
        return Ok(before);
    }
    save(tx, &before, &t, now).await?;
    for (what, detail) in changes {
        record(tx, id, actor, what, detail, now).await?;
    }
    let ticket = get_in(tx, id).await?;
    let ticket = crate::escalation::rearm(tx, desk, ticket, now).await?;
    announce(tx, "helpdesk.ticket.updated", &ticket, now).await?;
    Ok(ticket)
}

fn json(v: &impl Serialize) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or_default()
}

/// Moves `t` to `status` at `now`: its pauses, handling time, solve and reopen figures follow.
fn move_to(t: &mut Ticket, status: Status, now: DateTime<Utc>) -> Result<(), HelpdeskError> {
    let from = t.status;
    if from == Status::Closed {
        return Err(HelpdeskError::Refused(format!("ticket #{} is closed", t.number)));
    }
    if status == Status::New {
        return Err(HelpdeskError::invalid("status", "a ticket cannot become new again; set it open"));
    }
    if status == Status::Closed && from != Status::Solved {
        return Err(HelpdeskError::invalid("status", "solve the ticket before closing it"));
    }
    if from == Status::Open {
        t.handling_seconds += (now - t.status_since).num_seconds().max(0);
    }
    if from.waits_on_player()
        && !status.waits_on_player()
        && let Some(p) = t.pauses.last_mut().filter(|p| p.until.is_none())
    {
        p.until = Some(now);
    }
    if status.waits_on_player() && !from.waits_on_player() {
        t.pauses.push(Pause { from: now, until: None });
    }
    match status {
        Status::Solved => t.solved_at = Some(now),
        Status::Closed => {
            t.closed_at = Some(now);
            // Closing ends the wait; the resolution time stays that of the solve.
            if let Some(p) = t.pauses.last_mut().filter(|p| p.until.is_none()) {
                p.until = Some(now);
            }
        }
        _ if from == Status::Solved => {
            t.solved_at = None;
            t.reopen_count += 1;
        }
        _ => {}
    }
    t.status = status;
    t.status_since = now;
    Ok(())
}

/// Writes `t` over `before`, if nobody changed it meanwhile.
async fn save(tx: &mut Tx, before: &Ticket, t: &Ticket, now: DateTime<Utc>) -> Result<(), HelpdeskError> {
    let changed = exec!(
        tx,
        "UPDATE tickets SET subject = $1, status = $2, priority = $3, queue_key = $4, assignee = $5, tags = $6, \
         pauses = $7, solved_at = $8, closed_at = $9, status_since = $10, handling_micros = $11, reopen_count = $12, \
         first_response_at = $13, merged_into = $14, updated_at = $15, version = version + 1 \
         WHERE id = $16 AND version = $17",
        t.subject.as_str(),
        t.status.as_str(),
        t.priority.as_str(),
        t.queue.as_str(),
        t.assignee.as_deref(),
        serde_json::to_string(&t.tags).unwrap_or_default(),
        pauses_json(&t.pauses),
        t.solved_at.map(to_micros),
        t.closed_at.map(to_micros),
        to_micros(t.status_since),
        t.handling_seconds * 1_000_000,
        t.reopen_count,
        t.first_response_at.map(to_micros),
        t.merged_into,
        to_micros(now),
        t.id,
        before.version,
    )?;
    if changed != 1 {
        return Err(HelpdeskError::Conflict(format!(
            "ticket #{} was changed by someone else at the same moment; look again",
            t.number
        )));
    }
    Ok(())
}

/// What an agent writes on a ticket.
#[derive(Debug, Clone)]
pub struct AgentMessage {
    /// A public reply, an internal note, or a call's log.
    pub kind: MessageKind,
    pub body: String,
    /// The status to set with it; by default a reply leaves the ticket pending on the player
    /// and a note opens a new ticket.
    pub then: Option<Status>,
}

/// An agent's public reply (the first one is the first response), internal note or call log.
pub async fn reply(
    tx: &mut Tx,
    desk: &DeskConfig,
    id: Uuid,
    message: &AgentMessage,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(Ticket, TicketMessage), HelpdeskError> {
    let AgentMessage { kind, body: body_text, then } = message;
    let (kind, then) = (*kind, *then);
    if !matches!(kind, MessageKind::Reply | MessageKind::Note | MessageKind::Call) {
        return Err(HelpdeskError::invalid("kind", "an agent writes a reply, a note or a call log"));
    }
    let text = body(body_text)?;
    let before = get_in(tx, id).await?;
    if before.status == Status::Closed {
        return Err(HelpdeskError::Refused(format!("ticket #{} is closed; open a follow-up instead", before.number)));
    }
    let mut t = before.clone();
    if kind == MessageKind::Reply && t.first_response_at.is_none() {
        t.first_response_at = Some(now);
    }
    if t.assignee.is_none() && kind == MessageKind::Reply {
        t.assignee = Some(actor.to_string());
    }
    let status = then.or(match (kind, t.status) {
        (MessageKind::Reply, _) => Some(Status::Pending),
        (_, Status::New) => Some(Status::Open),
        _ => None,
    });
    if let Some(status) = status.filter(|s| *s != t.status) {
        move_to(&mut t, status, now)?;
    }
    save(tx, &before, &t, now).await?;
    let message = add_message(tx, id, kind, actor, &text, None, now).await?;
    crate::email::queue_reply(tx, desk, &t, &message, now).await?;
    if t.status != before.status {
        record(tx, id, actor, "status", serde_json::json!({ "from": before.status, "to": t.status }), now).await?;
    }
    let ticket = get_in(tx, id).await?;
    let ticket = crate::escalation::rearm(tx, desk, ticket, now).await?;
    announce(tx, "helpdesk.ticket.replied", &ticket, now).await?;
    Ok((ticket, message))
}

/// The player wrote on their ticket (an email reply, a chat line, a form): a ticket waiting on
/// them opens again. A closed ticket takes no more messages: the caller opens a follow-up.
pub async fn player_message(
    tx: &mut Tx,
    desk: &DeskConfig,
    id: Uuid,
    kind: MessageKind,
    body_text: &str,
    email_message_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(Ticket, TicketMessage), HelpdeskError> {
    let text = body(body_text)?;
    let before = get_in(tx, id).await?;
    if before.status == Status::Closed {
        return Err(HelpdeskError::Refused(format!("ticket #{} is closed; open a follow-up instead", before.number)));
    }
    let mut t = before.clone();
    if t.status.waits_on_player() {
        move_to(&mut t, Status::Open, now)?;
    }
    save(tx, &before, &t, now).await?;
    let message = add_message(tx, id, kind, &before.requester, &text, email_message_id, now).await?;
    if t.status != before.status {
        let detail = serde_json::json!({ "from": before.status, "to": t.status, "by": "the player's message" });
        record(tx, id, &before.requester, "status", detail, now).await?;
    }
    let ticket = get_in(tx, id).await?;
    let ticket = crate::escalation::rearm(tx, desk, ticket, now).await?;
    announce(tx, "helpdesk.ticket.player_wrote", &ticket, now).await?;
    Ok((ticket, message))
}

/// Merges `duplicate` into `into`: its messages move over, its tags join, and it closes
/// pointing at the ticket that carries on.
pub async fn merge(
    tx: &mut Tx,
    desk: &DeskConfig,
    duplicate: Uuid,
    into: Uuid,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Ticket, HelpdeskError> {
    if duplicate == into {
        return Err(HelpdeskError::invalid("into", "a ticket cannot be merged into itself"));
    }
    let dup = get_in(tx, duplicate).await?;
    let target = get_in(tx, into).await?;
    for t in [&dup, &target] {
        if t.status == Status::Closed {
            return Err(HelpdeskError::Refused(format!("ticket #{} is closed and cannot be merged", t.number)));
        }
    }
    if dup.player_id.is_some() && target.player_id.is_some() && dup.player_id != target.player_id {
        return Err(HelpdeskError::Refused(format!(
            "tickets #{} and #{} are about different players",
            dup.number, target.number
        )));
    }
    exec!(tx, "UPDATE ticket_messages SET ticket_id = $1 WHERE ticket_id = $2", into, duplicate)?;
    let mut closed = dup.clone();
    closed.merged_into = Some(into);
    if closed.status != Status::Solved {
        move_to(&mut closed, Status::Solved, now)?;
    }
    move_to(&mut closed, Status::Closed, now)?;
    save(tx, &dup, &closed, now).await?;
    crate::escalation::disarm(tx, duplicate).await?;
    let mut tags = target.tags.clone();
    tags.extend(dup.tags.iter().cloned());
    let mut carried = target.clone();
    carried.tags = clean_tags(&tags)?;
    if carried.player_id.is_none() {
        carried.player_id = dup.player_id;
    }
    save(tx, &target, &carried, now).await?;
    exec!(tx, "UPDATE tickets SET player_id = $1 WHERE id = $2", carried.player_id, into)?;
    let note = format!("Ticket #{} ({}) was merged into this one.", dup.number, dup.subject);
    add_message(tx, into, MessageKind::Note, actor, &note, None, now).await?;
    record(tx, duplicate, actor, "merged", serde_json::json!({ "into": into, "number": target.number }), now).await?;
    record(tx, into, actor, "merged", serde_json::json!({ "from": duplicate, "number": dup.number }), now).await?;
    let ticket = get_in(tx, into).await?;
    let ticket = crate::escalation::rearm(tx, desk, ticket, now).await?;
    announce(tx, "helpdesk.ticket.updated", &ticket, now).await?;
    Ok(ticket)
}

/// Applies one change to many tickets, all or none: the first refusal names its ticket.
pub async fn bulk_update(
    tx: &mut Tx,
    desk: &DeskConfig,
    ids: &[Uuid],
    change: &TicketUpdate,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Ticket>, HelpdeskError> {
    if ids.is_empty() || ids.len() > MAX_PAGE as usize {
        return Err(HelpdeskError::invalid("ids", format!("choose 1 to {MAX_PAGE} tickets")));
    }
    let change = TicketUpdate { expected_version: None, ..change.clone() };
    let mut done = Vec::with_capacity(ids.len());
    for id in ids {
        done.push(update(tx, desk, *id, &change, actor, now).await?);
    }
    Ok(done)
}

/// Which tickets to list.
#[derive(Debug, Clone, Default)]
pub struct TicketFilter {
    /// Default: every unsolved status.
    pub statuses: Vec<Status>,
    pub queue: Option<String>,
    /// `Some(None)`: unassigned tickets.
    pub assignee: Option<Option<String>>,
    pub priority: Option<Priority>,
    pub channel: Option<Channel>,
    pub player: Option<Uuid>,
    pub tag: Option<String>,
    /// Words in the subject or the requester.
    pub text: Option<String>,
    /// Only tickets that breached a target.
    pub breached: bool,
    /// Only these brands (the operator's own); `None`: every brand.
    pub brands: Option<Vec<String>>,
}

const COLUMNS: &str = "id, number, subject, player_id, requester, channel, priority, status, queue_key, assignee, tags, \
                       language, brand, vip_tier, merged_into, pauses, first_response_due, resolution_due, sla_state, \
                       first_response_at, solved_at, closed_at, status_since, handling_micros, reopen_count, created_at, \
                       updated_at, version";

/// Tickets matching `filter`: the most urgent first (priority, then the resolution due time),
/// `offset` paging on.
pub async fn list(db: &Db, filter: &TicketFilter, limit: u32, offset: u32) -> Result<Vec<Ticket>, HelpdeskError> {
    let limit = limit.clamp(1, MAX_PAGE);
    let mut c = Conditions::new();
    let statuses = if filter.statuses.is_empty() {
        Status::ALL.iter().copied().filter(|s| s.unsolved()).collect()
    } else {
        filter.statuses.clone()
    };
    let marks: Vec<String> = statuses.iter().map(|s| c.arg(Arg::Text(s.as_str().into()))).collect();
    c.and(format!("status IN ({})", marks.join(", ")));
    if let Some(q) = &filter.queue {
        c.compare("queue_key", "=", Arg::Text(q.clone()));
    }
    match &filter.assignee {
        Some(Some(a)) => c.compare("assignee", "=", Arg::Text(a.clone())),
        Some(None) => c.and("assignee IS NULL"),
        None => {}
    }
    if let Some(p) = filter.priority {
        c.compare("priority", "=", Arg::Text(p.as_str().into()));
    }
    if let Some(ch) = filter.channel {
        c.compare("channel", "=", Arg::Text(ch.as_str().into()));
    }
    if let Some(p) = filter.player {
        c.compare("player_id", "=", Arg::Id(p));
    }
    if let Some(tag) = &filter.tag {
        // Tags are kept as a JSON list of strings: match the quoted tag.
        c.compare(
            "tags",
            "LIKE",
            Arg::Text(format!("%{}%", serde_json::to_string(&tag.to_lowercase()).unwrap_or_default())),
        );
    }
    if let Some(words) = filter.text.as_deref().map(str::trim).filter(|w| !w.is_empty()) {
        let pattern = c.arg(Arg::Text(format!("%{}%", words.to_lowercase())));
        c.and(format!("(LOWER(subject) LIKE {pattern} OR LOWER(requester) LIKE {pattern})"));
    }
    if filter.breached {
        c.and("sla_state LIKE '%breached%'");
    }
    if let Some(brands) = &filter.brands {
        if brands.is_empty() {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = brands.iter().map(|b| c.arg(Arg::Text(b.clone()))).collect();
        c.and(format!("brand IN ({})", marks.join(", ")));
    }
    let sql = format!(
        "SELECT {COLUMNS} FROM tickets {} ORDER BY CASE priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 \
         WHEN 'normal' THEN 2 ELSE 3 END, COALESCE(resolution_due, 9223372036854775807), number \
         LIMIT {limit} OFFSET {offset}",
        c.where_sql()
    );
    let rows: Vec<TicketRow> = db!(db, |conn| {
        let mut query = sqlx::query_as(&sql);
        bind_args!(query, &c.args);
        query.fetch_all(conn).await
    })?;
    rows.into_iter().map(from_row).collect()
}

/// A ticket.
pub async fn get(db: &Db, id: Uuid) -> Result<Ticket, HelpdeskError> {
    let sql = format!("SELECT {COLUMNS} FROM tickets WHERE id = $1");
    let row: Option<TicketRow> = db!(db, |c| sqlx::query_as(&sql).bind(id).fetch_optional(c).await)?;
    row.map(from_row).transpose()?.ok_or(HelpdeskError::TicketNotFound(id))
}

/// A ticket by its number.
pub async fn by_number(db: &Db, number: i64) -> Result<Option<Ticket>, HelpdeskError> {
    let sql = format!("SELECT {COLUMNS} FROM tickets WHERE number = $1");
    let row: Option<TicketRow> = db!(db, |c| sqlx::query_as(&sql).bind(number).fetch_optional(c).await)?;
    row.map(from_row).transpose()
}

pub(crate) async fn get_in(tx: &mut Tx, id: Uuid) -> Result<Ticket, HelpdeskError> {
    let sql = format!("SELECT {COLUMNS} FROM tickets WHERE id = $1");
    let row: Option<TicketRow> = tx!(tx, |c| sqlx::query_as(&sql).bind(id).fetch_optional(c).await)?;
    row.map(from_row).transpose()?.ok_or(HelpdeskError::TicketNotFound(id))
}

/// A ticket's messages, oldest first; internal notes only when `with_notes`.
pub async fn messages(db: &Db, id: Uuid, with_notes: bool) -> Result<Vec<TicketMessage>, HelpdeskError> {
    type Row = (Uuid, Uuid, String, String, String, Option<String>, i64);
    let rows: Vec<Row> = db!(db, |c| sqlx::query_as(
        "SELECT id, ticket_id, kind, author, body, email_message_id, created_at FROM ticket_messages \
         WHERE ticket_id = $1 ORDER BY created_at, id LIMIT 2000"
    )
    .bind(id)
    .fetch_all(c)
    .await)?;
    let mut out = Vec::with_capacity(rows.len());
    for (id, ticket_id, kind, author, body, email_message_id, at) in rows {
        let kind: MessageKind = kind.parse().map_err(|e: String| corrupt(ticket_id, &e))?;
        if kind == MessageKind::Note && !with_notes {
            continue;
        }
        out.push(TicketMessage { id, ticket_id, kind, author, body, email_message_id, created_at: from_micros(at) });
    }
    Ok(out)
}

/// The body of a ticket's first message that is not an internal note (the player's question,
/// or the agent's account of the call), if it has one.
pub async fn first_message(db: &Db, id: Uuid) -> Result<Option<String>, HelpdeskError> {
    let body: Option<String> = db!(db, |c| sqlx::query_scalar(
        "SELECT body FROM ticket_messages WHERE ticket_id = $1 AND kind <> 'note' ORDER BY created_at, id LIMIT 1"
    )
    .bind(id)
    .fetch_optional(c)
    .await)?;
    Ok(body)
}

/// A ticket's history, oldest first.
pub async fn history(db: &Db, id: Uuid) -> Result<Vec<TicketChange>, HelpdeskError> {
    let rows: Vec<(Uuid, String, String, String, i64)> = db!(db, |c| {
        sqlx::query_as(
        "SELECT ticket_id, actor, what, detail, at FROM ticket_changes WHERE ticket_id = $1 ORDER BY at, id LIMIT 2000"
    )
    .bind(id)
    .fetch_all(c)
    .await
    })?;
    Ok(rows
        .into_iter()
        .map(|(ticket_id, actor, what, detail, at)| TicketChange {
            ticket_id,
            actor,
            what,
            detail: serde_json::from_str(&detail).unwrap_or_default(),
            at: from_micros(at),
        })
        .collect())
}

pub(crate) async fn add_message(
    tx: &mut Tx,
    ticket: Uuid,
    kind: MessageKind,
    author: &str,
    body: &str,
    email_message_id: Option<&str>,
    at: DateTime<Utc>,
) -> Result<TicketMessage, HelpdeskError> {
    let id = new_id();
    exec!(
        tx,
        "INSERT INTO ticket_messages (id, ticket_id, kind, author, body, email_message_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        id,
        ticket,
        kind.as_str(),
        author,
        body,
        email_message_id,
        to_micros(at),
    )?;
    Ok(TicketMessage {
        id,
        ticket_id: ticket,
        kind,
        author: author.to_string(),
        body: body.to_string(),
        email_message_id: email_message_id.map(str::to_string),
        created_at: at,
    })
}

/// Keeps one change in the ticket's history.
pub(crate) async fn record(
    tx: &mut Tx,
    ticket: Uuid,
    actor: &str,
    what: &str,
    detail: serde_json::Value,
    at: DateTime<Utc>,
) -> Result<(), HelpdeskError> {
    exec!(
        tx,
        "INSERT INTO ticket_changes (id, ticket_id, actor, what, detail, at) VALUES ($1, $2, $3, $4, $5, $6)",
        new_id(),
        ticket,
        actor,
        what,
        detail.to_string(),
        to_micros(at),
    )?;
    Ok(())
}

/// Puts a ticket's news on the outbox, keyed by its player (or the ticket, for an unknown
/// sender) so one player's news stay in order.
pub(crate) async fn announce(
    tx: &mut Tx,
    topic: &str,
    ticket: &Ticket,
    now: DateTime<Utc>,
) -> Result<(), HelpdeskError> {
    let payload = serde_json::json!({ "type": topic, "player_id": ticket.player_id, "ticket": ticket }).to_string();
    let key = ticket.player_id.unwrap_or(ticket.id).to_string();
    let message = pitboss_bus::Message { id: new_id(), topic: topic.into(), key, payload };
    pitboss_bus::outbox::enqueue(tx, &message, to_micros(now)).await?;
    Ok(())
}

fn text(field: &'static str, value: &str, max: usize) -> Result<String, HelpdeskError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(HelpdeskError::invalid(field, "may not be empty"));
    }
    if value.chars().count() > max {
        return Err(HelpdeskError::invalid(field, format!("at most {max} characters")));
    }
    if value.chars().any(|c| c.is_control()) {
        return Err(HelpdeskError::invalid(field, "may not hold control characters"));
    }
    Ok(value.to_string())
}

fn body(value: &str) -> Result<String, HelpdeskError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(HelpdeskError::invalid("body", "say something"));
    }
    if value.len() > MAX_BODY {
        return Err(HelpdeskError::invalid("body", format!("at most {MAX_BODY} bytes")));
    }
    Ok(value.to_string())
}

/// Tags lower-cased, trimmed, deduplicated and sorted; each a short word.
pub fn clean_tags(tags: &[String]) -> Result<Vec<String>, HelpdeskError> {
    let mut out: Vec<String> = Vec::new();
    for tag in tags {
        let tag = tag.trim().to_lowercase();
        if tag.is_empty() {
            continue;
        }
        if tag.chars().count() > MAX_TAG || !tag.chars().all(|c| c.is_alphanumeric() || "-_.:".contains(c)) {
            return Err(HelpdeskError::invalid(
                "tags",
                format!("'{tag}': letters, digits and - _ . : only, at most {MAX_TAG}"),
            ));
        }
        out.push(tag);
    }
    out.sort();
    out.dedup();
    if out.len() > MAX_TAGS {
        return Err(HelpdeskError::invalid("tags", format!("at most {MAX_TAGS}")));
    }
    Ok(out)
}

fn pauses_json(pauses: &[Pause]) -> String {
    let pairs: Vec<(i64, Option<i64>)> = pauses.iter().map(|p| (to_micros(p.from), p.until.map(to_micros))).collect();
    serde_json::to_string(&pairs).unwrap_or_else(|_| "[]".into())
}

fn corrupt(ticket: Uuid, why: &str) -> HelpdeskError {
    HelpdeskError::Store(pitboss_store::StoreError::Config(format!("ticket {ticket}: {why}")))
}

#[derive(sqlx::FromRow)]
struct TicketRow {
    id: Uuid,
    number: i64,
    subject: String,
    player_id: Option<Uuid>,
    requester: String,
    channel: String,
    priority: String,
    status: String,
    queue_key: String,
    assignee: Option<String>,
    tags: String,
    language: String,
    brand: String,
    vip_tier: String,
    merged_into: Option<Uuid>,
    pauses: String,
    first_response_due: Option<i64>,
    resolution_due: Option<i64>,
    sla_state: String,
    first_response_at: Option<i64>,
    solved_at: Option<i64>,
    closed_at: Option<i64>,
    status_since: i64,
    handling_micros: i64,
    reopen_count: i64,
    created_at: i64,
    updated_at: i64,
    version: i64,
}

fn from_row(r: TicketRow) -> Result<Ticket, HelpdeskError> {
    let id = r.id;
    let bad = |e: String| corrupt(id, &e);
    let pairs: Vec<(i64, Option<i64>)> = serde_json::from_str(&r.pauses).map_err(|e| bad(e.to_string()))?;
    Ok(Ticket {
        id,
        number: r.number,
        subject: r.subject,
        player_id: r.player_id,
        requester: r.requester,
        channel: r.channel.parse().map_err(bad)?,
        priority: r.priority.parse().map_err(bad)?,
        status: r.status.parse().map_err(bad)?,
        queue: r.queue_key,
        assignee: r.assignee,
        tags: serde_json::from_str(&r.tags).map_err(|e| bad(e.to_string()))?,
        language: r.language,
        brand: r.brand,
        vip_tier: r.vip_tier,
        merged_into: r.merged_into,
        first_response_due: r.first_response_due.map(from_micros),
        resolution_due: r.resolution_due.map(from_micros),
        sla_marks: serde_json::from_str(&r.sla_state).map_err(|e| bad(e.to_string()))?,
        first_response_at: r.first_response_at.map(from_micros),
        solved_at: r.solved_at.map(from_micros),
        closed_at: r.closed_at.map(from_micros),
        status_since: from_micros(r.status_since),
        handling_seconds: r.handling_micros / 1_000_000,
        reopen_count: r.reopen_count,
        created_at: from_micros(r.created_at),
        updated_at: from_micros(r.updated_at),
        version: r.version,
        pauses: pairs.into_iter().map(|(f, u)| Pause { from: from_micros(f), until: u.map(from_micros) }).collect(),
    })
}
