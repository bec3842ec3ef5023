//! Live chat: a player (or a visitor) writes from the widget on the casino's website, an agent
//! answers from the console. A chat is a ticket of the chat channel from its first line, so its
//! transcript is the ticket's thread and it is queued, assigned, measured and kept like any
//! ticket; the chat's own row holds what only a live conversation has: the widget's secret
//! token, who holds it, and how far each side has read.
//!
//! The player's side is rate-limited: more than [`FLOOD_MESSAGES`] lines in
//! [`FLOOD_WINDOW_SECONDS`] are refused with the reason (the widget shows it), never taken and
//! then dropped. Typing is not stored: it only crosses the live connection.

use chrono::{DateTime, Duration, Utc};
use pitboss_core::new_id;
use pitboss_core::time::{from_micros, to_micros};
use pitboss_store::{Db, Tx, db, exec, sqlx, tx};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::config::DeskConfig;
use crate::error::HelpdeskError;
use crate::policy::Priority;
use crate::tickets::{self, AgentMessage, Channel, MessageKind, NewTicket, Status, TicketMessage, TicketUpdate};

/// Lines a player may send within [`FLOOD_WINDOW_SECONDS`].
pub const FLOOD_MESSAGES: i64 = 6;
pub const FLOOD_WINDOW_SECONDS: i64 = 10;
/// Longest line, in characters.
pub const MAX_LINE_CHARS: usize = 2_000;

/// A chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Chat {
    pub id: Uuid,
    pub ticket_id: Uuid,
    pub ticket_number: i64,
    pub player_id: Option<Uuid>,
    /// The name the visitor gave, or the player's.
    pub visitor: String,
    /// The agent holding it; none while it waits.
    pub agent: Option<String>,
    /// `waiting`, `active` or `ended`.
    pub state: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    /// How far each side has read.
    pub player_read_at: Option<DateTime<Utc>>,
    pub agent_read_at: Option<DateTime<Utc>>,
}

/// Which side of a chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Side {
    Player,
    /// An agent, by actor name (`operator:lena`).
    Agent(String),
}

fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn line(text: &str) -> Result<String, HelpdeskError> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > MAX_LINE_CHARS {
        return Err(HelpdeskError::invalid("body", format!("1 to {MAX_LINE_CHARS} characters")));
    }
    Ok(text.to_string())
}

type Row = (Uuid, Uuid, i64, Option<Uuid>, String, Option<String>, String, i64, Option<i64>, Option<i64>, Option<i64>);

const COLUMNS: &str = "c.id, c.ticket_id, t.number, c.player_id, c.visitor, c.agent, c.state, c.started_at, \
                       c.ended_at, c.player_read_at, c.agent_read_at";
/// A chat with its ticket (for the ticket's number).
const FROM: &str = "FROM helpdesk_chats c JOIN tickets t ON t.id = c.ticket_id";

fn from_row(r: Row) -> Chat {
    let (id, ticket_id, ticket_number, player_id, visitor, agent, state, started, ended, player_read, agent_read) = r;
    Chat {
        id,
        ticket_id,
        ticket_number,
        player_id,
        visitor,
        agent,
        state,
        started_at: from_micros(started),
        ended_at: ended.map(from_micros),
        player_read_at: player_read.map(from_micros),
        agent_read_at: agent_read.map(from_micros),
    }
}

async fn get_in(tx: &mut Tx, id: Uuid) -> Result<Chat, HelpdeskError> {
    let sql = format!("SELECT {COLUMNS} {FROM} WHERE c.id = $1");
    let row: Option<Row> = tx!(tx, |c| sqlx::query_as(&sql).bind(id).fetch_optional(c).await)?;
    row.map(from_row).ok_or_else(|| HelpdeskError::Refused(format!("there is no chat {id}")))
}

/// A chat by id.
pub async fn get(db: &Db, id: Uuid) -> Result<Chat, HelpdeskError> {
    let sql = format!("SELECT {COLUMNS} {FROM} WHERE c.id = $1");
    let row: Option<Row> = db!(db, |c| sqlx::query_as(&sql).bind(id).fetch_optional(c).await)?;
    row.map(from_row).ok_or_else(|| HelpdeskError::Refused(format!("there is no chat {id}")))
}

/// The chat the widget's token opens; none when the token is not that chat's.
pub async fn by_token(db: &Db, id: Uuid, token: &str) -> Result<Option<Chat>, HelpdeskError> {
    let stored: Option<String> =
        db!(db, |c| sqlx::query_scalar("SELECT token_digest FROM helpdesk_chats WHERE id = $1")
            .bind(id)
            .fetch_optional(c)
            .await)?;
    match stored {
        Some(d) if d == digest(token) => Ok(Some(get(db, id).await?)),
        _ => Ok(None),
    }
}

/// Starts a chat with its first line: a ticket of the chat channel, and the token the widget
/// keeps to come back to it.
pub async fn start(
    tx: &mut Tx,
    desk: &DeskConfig,
    player: Option<pitboss_players::Player>,
    visitor: &str,
    first_line: &str,
    now: DateTime<Utc>,
) -> Result<(Chat, String), HelpdeskError> {
    let text = line(first_line)?;
    let visitor = match (visitor.trim(), &player) {
        ("", Some(p)) => {
            [p.first_name.clone(), p.last_name.clone()].into_iter().flatten().collect::<Vec<_>>().join(" ")
        }
        (name, _) => name.chars().take(100).collect(),
    };
    let visitor = if visitor.trim().is_empty() { "Visitor".to_string() } else { visitor };
    let subject: String = format!("Chat: {}", text.chars().take(80).collect::<String>());
    let new = NewTicket {
        subject,
        player: player.clone(),
        requester: player.as_ref().and_then(|p| p.email.clone()).unwrap_or_else(|| visitor.clone()),
        channel: Channel::Chat,
        priority: Priority::Normal,
        tags: vec![],
        body: text,
        first_kind: MessageKind::Player,
        author: visitor.clone(),
        received_at: None,
        email_message_id: None,
        language: None,
    };
    let ticket = tickets::create(tx, desk, &new, "chat", now).await?;
    let token = format!("{}{}", new_id().simple(), new_id().simple());
    let id = new_id();
    exec!(
        tx,
        "INSERT INTO helpdesk_chats (id, ticket_id, player_id, visitor, token_digest, agent, state, started_at) \
         VALUES ($1, $2, $3, $4, $5, NULL, 'waiting', $6)",
        id,
        ticket.id,
        player.as_ref().map(|p| p.id),
        &visitor,
        digest(&token),
        to_micros(now),
    )?;
    Ok((get_in(tx, id).await?, token))
}

/// One line from a side. The player's lines are rate-limited; an agent takes a waiting chat
/// by answering it.
pub async fn say(
    tx: &mut Tx,
    desk: &DeskConfig,
    id: Uuid,
    side: &Side,
    text: &str,
    now: DateTime<Utc>,
) -> Result<TicketMessage, HelpdeskError> {
    let text = line(text)?;
    let chat = get_in(tx, id).await?;
    if chat.state == "ended" {
        return Err(HelpdeskError::Refused("this chat has ended; start a new one".into()));
    }
    match side {
        Side::Player => {
            let since = to_micros(now - Duration::seconds(FLOOD_WINDOW_SECONDS));
            let recent: i64 = tx!(tx, |c| sqlx::query_scalar(
                "SELECT COUNT(*) FROM ticket_messages WHERE ticket_id = $1 AND kind = 'player' AND created_at > $2"
            )
            .bind(chat.ticket_id)
            .bind(since)
            .fetch_one(c)
            .await)?;
            if recent >= FLOOD_MESSAGES {
                return Err(HelpdeskError::RateLimited(format!(
                    "you are sending too fast: at most {FLOOD_MESSAGES} messages in {FLOOD_WINDOW_SECONDS} seconds; \
                     this one was not sent, please send it again in a moment"
                )));
            }
            let (_, message) =
                tickets::player_message(tx, desk, chat.ticket_id, MessageKind::Player, &text, None, now).await?;
            Ok(message)
        }
        Side::Agent(agent) => {
            if chat.agent.is_none() {
                take(tx, desk, id, agent, now).await?;
            }
            let message = AgentMessage { kind: MessageKind::Reply, body: text, then: Some(Status::Open) };
            let (_, message) = tickets::reply(tx, desk, chat.ticket_id, &message, agent, now).await?;
            Ok(message)
        }
    }
}

/// An agent takes a waiting chat (or one handed to them).
pub async fn take(
    tx: &mut Tx,
    desk: &DeskConfig,
    id: Uuid,
    agent: &str,
    now: DateTime<Utc>,
) -> Result<Chat, HelpdeskError> {
    let chat = get_in(tx, id).await?;
    if chat.state == "ended" {
        return Err(HelpdeskError::Refused("this chat has ended".into()));
    }
    if let Some(holder) = chat.agent.as_deref().filter(|h| *h != agent) {
        return Err(HelpdeskError::Conflict(format!("{holder} holds this chat; they can transfer it to you")));
    }
    exec!(tx, "UPDATE helpdesk_chats SET agent = $2, state = 'active' WHERE id = $1", id, agent)?;
    assign(tx, desk, chat.ticket_id, agent, now).await?;
    get_in(tx, id).await
}

/// The chat's ticket goes to the agent holding the chat.
async fn assign(
    tx: &mut Tx,
    desk: &DeskConfig,
    ticket: Uuid,
    agent: &str,
    now: DateTime<Utc>,
) -> Result<(), HelpdeskError> {
    let current = tickets::get_in(tx, ticket).await?;
    if current.assignee.as_deref() != Some(agent) {
        let change = TicketUpdate { assignee: Some(Some(agent.to_string())), ..Default::default() };
        tickets::update(tx, desk, ticket, &change, agent, now).await?;
    }
    Ok(())
}

/// The agent holding a chat hands it to another agent.
pub async fn transfer(
    tx: &mut Tx,
    desk: &DeskConfig,
    id: Uuid,
    from: &str,
    to: &str,
    now: DateTime<Utc>,
) -> Result<Chat, HelpdeskError> {
    let to = to.trim();
    if to.is_empty() || to == from {
        return Err(HelpdeskError::invalid("to", "another agent, e.g. operator:lena"));
    }
    let to = if to.contains(':') { to.to_string() } else { format!("operator:{to}") };
    let chat = get_in(tx, id).await?;
    if chat.agent.as_deref() != Some(from) {
        return Err(HelpdeskError::Conflict("only the agent holding a chat can transfer it".into()));
    }
    exec!(tx, "UPDATE helpdesk_chats SET agent = $2 WHERE id = $1", id, &to)?;
    let note =
        AgentMessage { kind: MessageKind::Note, body: format!("Chat transferred from {from} to {to}."), then: None };
    tickets::reply(tx, desk, chat.ticket_id, &note, from, now).await?;
    assign(tx, desk, chat.ticket_id, &to, now).await?;
    get_in(tx, id).await
}

/// A side has read everything up to now.
pub async fn read(tx: &mut Tx, id: Uuid, side: &Side, now: DateTime<Utc>) -> Result<(), HelpdeskError> {
    let column = match side {
        Side::Player => "player_read_at",
        Side::Agent(_) => "agent_read_at",
    };
    exec!(tx, &format!("UPDATE helpdesk_chats SET {column} = $2 WHERE id = $1"), id, to_micros(now))?;
    Ok(())
}

/// Ends a chat: its ticket keeps the transcript and is solved, to reopen if the player writes
/// again by another channel.
pub async fn end(
    tx: &mut Tx,
    desk: &DeskConfig,
    id: Uuid,
    side: &Side,
    now: DateTime<Utc>,
) -> Result<Chat, HelpdeskError> {
    let chat = get_in(tx, id).await?;
    if chat.state == "ended" {
        return Ok(chat);
    }
    exec!(tx, "UPDATE helpdesk_chats SET state = 'ended', ended_at = $2 WHERE id = $1", id, to_micros(now))?;
    let (who, actor) = match side {
        Side::Player => (chat.visitor.clone(), "chat".to_string()),
        Side::Agent(a) => (a.clone(), a.clone()),
    };
    let note = AgentMessage { kind: MessageKind::Note, body: format!("Chat ended by {who}."), then: None };
    tickets::reply(tx, desk, chat.ticket_id, &note, &actor, now).await?;
    let ticket = tickets::get_in(tx, chat.ticket_id).await?;
    if !matches!(ticket.status, Status::Solved | Status::Closed) {
        let change = TicketUpdate { status: Some(Status::Solved), ..Default::default() };
        tickets::update(tx, desk, chat.ticket_id, &change, &actor, now).await?;
    }
    get_in(tx, id).await
}

/// The chats an agent's console shows: every waiting chat, and the ones they hold.
pub async fn console(db: &Db, agent: &str) -> Result<Vec<Chat>, HelpdeskError> {
    let sql = format!(
        "SELECT {COLUMNS} {FROM} WHERE c.state = 'waiting' OR (c.state = 'active' AND c.agent = $1) ORDER BY c.started_at"
    );
    let rows: Vec<Row> = db!(db, |c| sqlx::query_as(&sql).bind(agent).fetch_all(c).await)?;
    Ok(rows.into_iter().map(from_row).collect())
}

/// What the player sees of the chat: the lines both sides wrote (no internal notes).
pub async fn transcript(db: &Db, chat: &Chat) -> Result<Vec<TicketMessage>, HelpdeskError> {
    tickets::messages(db, chat.ticket_id, false).await
}
