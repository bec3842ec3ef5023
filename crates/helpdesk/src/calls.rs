//! Phone: call events from the telephony system (started, answered, ended, with the caller's
//! number, the duration and the recording's link), matched to the player by phone number and
//! logged on a ticket.
//!
//! A call's first event opens a phone ticket (for the player whose E.164 number called, or for
//! the number alone) unless it names the ticket it is about; each event is a call-log line on
//! that ticket. Events are keyed by the provider's call id and kind, so a webhook delivered
//! twice logs once, and they may arrive in any order: the call's row takes whatever each event
//! knows. A call that ended without being answered is marked missed. Agents add their own call
//! notes on the ticket as call-log messages.

use chrono::{DateTime, Utc};
use pitboss_core::new_id;
use pitboss_core::time::{from_micros, to_micros};
use pitboss_store::{Db, Tx, db, exec, sqlx, tx};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::config::DeskConfig;
use crate::error::HelpdeskError;
use crate::policy::Priority;
use crate::tickets::{self, AgentMessage, Channel, MessageKind, NewTicket, Status, Ticket};

/// Who writes the call log on tickets.
pub const AUTHOR: &str = "telephony";

/// What happened to a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallEventKind {
    Started,
    Answered,
    Ended,
}

impl CallEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CallEventKind::Started => "started",
            CallEventKind::Answered => "answered",
            CallEventKind::Ended => "ended",
        }
    }
}

/// One event from the telephony system.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallEvent {
    /// The provider's id of the call, the same on all its events.
    #[schema(example = "CA5f1e9c")]
    pub call_id: String,
    pub event: CallEventKind,
    /// When it happened (RFC 3339); now when left out.
    pub at: Option<DateTime<Utc>>,
    /// The caller's number, E.164 (`+35699123456`); spaces and dashes are ignored.
    #[schema(example = "+35699123456")]
    pub caller_number: String,
    /// `inbound` (the player called; the default) or `outbound` (an agent called the player).
    #[serde(default)]
    pub direction: Option<String>,
    /// The agent who took the call, as the telephony system names them.
    pub agent: Option<String>,
    /// On `ended`: the talk time in seconds.
    pub duration_seconds: Option<i64>,
    /// On `ended`: where the recording can be heard (http or https).
    pub recording_url: Option<String>,
    /// The ticket the call is about, when the agent's phone app knows it.
    pub ticket_number: Option<i64>,
}

/// A call as the help desk keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Call {
    pub id: Uuid,
    pub call_id: String,
    pub ticket_id: Uuid,
    pub player_id: Option<Uuid>,
    pub caller_number: String,
    pub direction: String,
    /// `ringing`, `answered`, `ended` or `missed`.
    pub state: String,
    pub agent: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub duration_seconds: Option<i64>,
    pub recording_url: Option<String>,
}

/// What became of an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Logged {
    /// Logged on the call's ticket (opened by this event when `opened`).
    Logged { call: Call, ticket: Box<Ticket>, opened: bool },
    /// This call's event of this kind was taken before.
    Duplicate(Call),
}

fn invalid(field: &'static str, message: impl Into<String>) -> HelpdeskError {
    HelpdeskError::invalid(field, message)
}

/// The event, checked; its caller's number in E.164.
fn check(e: &CallEvent) -> Result<String, HelpdeskError> {
    let id_ok = (1..=200).contains(&e.call_id.len()) && !e.call_id.chars().any(char::is_control);
    if !id_ok {
        return Err(invalid("call_id", "1 to 200 characters, no control characters"));
    }
    let number = pitboss_players::profile::phone(&e.caller_number).map_err(|_| {
        invalid("caller_number", format!("'{}' is not an E.164 number such as +35699123456", e.caller_number))
    })?;
    if let Some(d) = e.direction.as_deref()
        && !matches!(d, "inbound" | "outbound")
    {
        return Err(invalid("direction", "inbound or outbound"));
    }
    if e.duration_seconds.is_some_and(|d| !(0..=86_400).contains(&d)) {
        return Err(invalid("duration_seconds", "0 to 86,400 seconds"));
    }
    if let Some(url) = &e.recording_url {
        let ok = url.len() <= 2_000 && (url.starts_with("https://") || url.starts_with("http://"));
        if !ok {
            return Err(invalid("recording_url", "an http or https link of at most 2,000 characters"));
        }
    }
    if e.agent.as_deref().is_some_and(|a| a.chars().count() > 200) {
        return Err(invalid("agent", "at most 200 characters"));
    }
    Ok(number)
}

type Row = (
    Uuid,
    String,
    Uuid,
    Option<Uuid>,
    String,
    String,
    String,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

const COLUMNS: &str = "id, call_id, ticket_id, player_id, caller_number, direction, state, agent, started_at, \
                       answered_at, ended_at, duration_seconds, recording_url";

fn from_row(r: Row) -> Call {
    let (id, call_id, ticket_id, player_id, caller_number, direction, state, agent, s, a, e, duration, recording) = r;
    Call {
        id,
        call_id,
        ticket_id,
        player_id,
        caller_number,
        direction,
        state,
        agent,
        started_at: s.map(from_micros),
        answered_at: a.map(from_micros),
        ended_at: e.map(from_micros),
        duration_seconds: duration,
        recording_url: recording,
    }
}

async fn call_in(tx: &mut Tx, call_id: &str) -> Result<Option<Call>, HelpdeskError> {
    let sql = format!("SELECT {COLUMNS} FROM helpdesk_calls WHERE call_id = $1");
    let row: Option<Row> = tx!(tx, |c| sqlx::query_as(&sql).bind(call_id).fetch_optional(c).await)?;
    Ok(row.map(from_row))
}

/// Takes one call event: the call recorded, its line on the call's ticket.
pub async fn log(tx: &mut Tx, desk: &DeskConfig, e: &CallEvent, now: DateTime<Utc>) -> Result<Logged, HelpdeskError> {
    let number = check(e)?;
    let at = e.at.unwrap_or(now);
    let seen: Option<(String,)> =
        tx!(tx, |c| sqlx::query_as("SELECT call_id FROM helpdesk_call_events WHERE call_id = $1 AND event = $2")
            .bind(&e.call_id)
            .bind(e.event.as_str())
            .fetch_optional(c)
            .await)?;
    if seen.is_some()
        && let Some(call) = call_in(tx, &e.call_id).await?
    {
        return Ok(Logged::Duplicate(call));
    }
    exec!(
        tx,
        "INSERT INTO helpdesk_call_events (call_id, event, at, received_at) VALUES ($1, $2, $3, $4)",
        &e.call_id,
        e.event.as_str(),
        to_micros(at),
        to_micros(now),
    )?;
    let (mut call, opened) = match call_in(tx, &e.call_id).await? {
        Some(call) => (call, false),
        None => (open(tx, desk, e, &number, at, now).await?, true),
    };
    match e.event {
        CallEventKind::Started => call.started_at = call.started_at.or(Some(at)),
        CallEventKind::Answered => {
            call.answered_at = Some(at);
            if call.state != "ended" {
                call.state = "answered".into();
            }
        }
        CallEventKind::Ended => {
            call.ended_at = Some(at);
            call.state = if call.answered_at.is_some() || e.duration_seconds.is_some_and(|d| d > 0) {
                "ended".into()
            } else {
                "missed".into()
            };
            call.duration_seconds = e.duration_seconds.or(call.duration_seconds);
            call.recording_url = e.recording_url.clone().or(call.recording_url);
        }
    }
    call.agent = e.agent.clone().or(call.agent);
    exec!(
        tx,
        "UPDATE helpdesk_calls SET state = $2, agent = $3, started_at = $4, answered_at = $5, ended_at = $6, \
         duration_seconds = $7, recording_url = $8 WHERE id = $1",
        call.id,
        &call.state,
        call.agent.as_deref(),
        call.started_at.map(to_micros),
        call.answered_at.map(to_micros),
        call.ended_at.map(to_micros),
        call.duration_seconds,
        call.recording_url.as_deref(),
    )?;
    let ticket = note(tx, desk, &call, e, now).await?;
    Ok(Logged::Logged { call, ticket: Box::new(ticket), opened })
}

/// The call's row, on the ticket it names or on a new phone ticket.
async fn open(
    tx: &mut Tx,
    desk: &DeskConfig,
    e: &CallEvent,
    number: &str,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Call, HelpdeskError> {
    let player_id: Option<Uuid> =
        tx!(tx, |c| sqlx::query_scalar("SELECT id FROM players WHERE phone = $1 ORDER BY registered_at LIMIT 1")
            .bind(number)
            .fetch_optional(c)
            .await)?;
    let named = match e.ticket_number {
        Some(n) => {
            let found: Option<Uuid> = tx!(tx, |c| sqlx::query_scalar("SELECT id FROM tickets WHERE number = $1")
                .bind(n)
                .fetch_optional(c)
                .await)?;
            Some(found.ok_or_else(|| invalid("ticket_number", format!("there is no ticket #{n}")))?)
        }
        None => None,
    };
    let ticket_id = match named {
        Some(id) => id,
        None => {
            let player = match player_id {
                Some(id) => Some(pitboss_players::get_in(tx, id).await?),
                None => None,
            };
            let direction = e.direction.as_deref().unwrap_or("inbound");
            let subject = match direction {
                "outbound" => format!("Call to {number}"),
                _ => format!("Call from {number}"),
            };
            let new = NewTicket {
                subject,
                player,
                requester: number.to_string(),
                channel: Channel::Phone,
                priority: Priority::Normal,
                tags: vec![],
                body: format!("{} call with {number}.", if direction == "outbound" { "Outbound" } else { "Inbound" }),
                first_kind: MessageKind::Call,
                author: AUTHOR.into(),
                received_at: Some(at.min(now)),
                email_message_id: None,
                language: None,
            };
            tickets::create(tx, desk, &new, AUTHOR, now).await?.id
        }
    };
    let id = new_id();
    exec!(
        tx,
        "INSERT INTO helpdesk_calls (id, call_id, ticket_id, player_id, caller_number, direction, state, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'ringing', $7)",
        id,
        &e.call_id,
        ticket_id,
        player_id,
        number,
        e.direction.as_deref().unwrap_or("inbound"),
        to_micros(now),
    )?;
    Ok(Call {
        id,
        call_id: e.call_id.clone(),
        ticket_id,
        player_id,
        caller_number: number.to_string(),
        direction: e.direction.clone().unwrap_or_else(|| "inbound".into()),
        state: "ringing".into(),
        agent: None,
        started_at: None,
        answered_at: None,
        ended_at: None,
        duration_seconds: None,
        recording_url: None,
    })
}

/// The event's line in the ticket's call log. A closed ticket keeps the call on its row only.
async fn note(
    tx: &mut Tx,
    desk: &DeskConfig,
    call: &Call,
    e: &CallEvent,
    now: DateTime<Utc>,
) -> Result<Ticket, HelpdeskError> {
    let ticket = tickets::get_in(tx, call.ticket_id).await?;
    let line = match e.event {
        CallEventKind::Started => {
            format!("Call {} started ({}, {}).", call.call_id, call.direction, call.caller_number)
        }
        CallEventKind::Answered => {
            format!("Call {} answered by {}.", call.call_id, call.agent.as_deref().unwrap_or("an agent"))
        }
        CallEventKind::Ended if call.state == "missed" => format!("Call {} missed: nobody answered.", call.call_id),
        CallEventKind::Ended => {
            let talk = call.duration_seconds.map(|d| format!(" after {} min {} s", d / 60, d % 60)).unwrap_or_default();
            let recording = call.recording_url.as_deref().map(|u| format!(" Recording: {u}")).unwrap_or_default();
            format!("Call {} ended{talk}.{recording}", call.call_id)
        }
    };
    if ticket.status == Status::Closed {
        return Ok(ticket);
    }
    let message = AgentMessage { kind: MessageKind::Call, body: line, then: None };
    Ok(tickets::reply(tx, desk, ticket.id, &message, AUTHOR, now).await?.0)
}

/// A ticket's calls, oldest first.
pub async fn of_ticket(db: &Db, ticket: Uuid) -> Result<Vec<Call>, HelpdeskError> {
    let sql = format!("SELECT {COLUMNS} FROM helpdesk_calls WHERE ticket_id = $1 ORDER BY created_at");
    let rows: Vec<Row> = db!(db, |c| sqlx::query_as(&sql).bind(ticket).fetch_all(c).await)?;
    Ok(rows.into_iter().map(from_row).collect())
}
