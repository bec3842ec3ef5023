//! A player's communication history: one timeline, newest first, of every ticket opened, every
//! message the player and the agents exchanged on them (by email, chat, the web form) and every
//! call. Internal notes are left out: they were never said to the player. Calls come from the
//! calls' own rows (one entry per call, with its outcome), so the telephony system's log lines
//! on the ticket are not listed twice; an agent's own call notes are.
//!
//! Campaign messages join the timeline when the CRM sends them.

use chrono::{DateTime, Utc};
use pitboss_core::time::{from_micros, to_micros};
use pitboss_store::{Db, db, sqlx};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::calls::AUTHOR as TELEPHONY;
use crate::error::HelpdeskError;

/// Longest excerpt of a message shown in the timeline.
const EXCERPT_CHARS: usize = 280;

/// One contact with the player.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Contact {
    pub at: DateTime<Utc>,
    /// `ticket` (opened), `email_in`, `email_out`, `chat_in`, `chat_out`, `message_in`,
    /// `message_out` (another channel), `call`, `call_note`.
    pub kind: String,
    /// Who: the player's address or number, the agent.
    pub who: String,
    pub summary: String,
    pub ticket_id: Uuid,
    pub ticket_number: i64,
}

fn excerpt(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat,
    }
}

/// What a message was, from its kind and its ticket's channel.
fn message_kind(kind: &str, channel: &str) -> &'static str {
    match (kind, channel) {
        ("player", "email") => "email_in",
        ("reply", "email") => "email_out",
        ("player", "chat") => "chat_in",
        ("reply", "chat") => "chat_out",
        ("player", _) => "message_in",
        ("call", _) => "call_note",
        _ => "message_out",
    }
}

/// The player's contacts before `before` (all when `None`), newest first, at most `limit`.
pub async fn of_player(
    db: &Db,
    player: Uuid,
    before: Option<DateTime<Utc>>,
    limit: u32,
) -> Result<Vec<Contact>, HelpdeskError> {
    let before = to_micros(before.unwrap_or(DateTime::<Utc>::MAX_UTC));
    let limit = i64::from(limit.clamp(1, 500));
    let tickets: Vec<(Uuid, i64, String, String, String, i64)> = db!(db, |c| sqlx::query_as(
        "SELECT id, number, subject, channel, requester, created_at FROM tickets \
         WHERE player_id = $1 AND created_at < $2 ORDER BY created_at DESC LIMIT $3"
    )
    .bind(player)
    .bind(before)
    .bind(limit)
    .fetch_all(c)
    .await)?;
    let messages: Vec<(Uuid, i64, String, String, String, String, i64)> = db!(db, |c| sqlx::query_as(
        "SELECT t.id, t.number, t.channel, m.kind, m.author, m.body, m.created_at \
         FROM ticket_messages m JOIN tickets t ON t.id = m.ticket_id \
         WHERE t.player_id = $1 AND m.created_at < $2 AND m.kind IN ('player', 'reply', 'call') AND m.author <> $3 \
         ORDER BY m.created_at DESC LIMIT $4"
    )
    .bind(player)
    .bind(before)
    .bind(TELEPHONY)
    .bind(limit)
    .fetch_all(c)
    .await)?;
    type CallRow = (Uuid, i64, String, String, String, Option<String>, Option<i64>, i64);
    let calls: Vec<CallRow> = db!(db, |c| sqlx::query_as(
        "SELECT t.id, t.number, k.caller_number, k.direction, k.state, k.agent, k.duration_seconds, \
         COALESCE(k.started_at, k.ended_at, k.created_at) FROM helpdesk_calls k JOIN tickets t ON t.id = k.ticket_id \
         WHERE k.player_id = $1 AND COALESCE(k.started_at, k.ended_at, k.created_at) < $2 \
         ORDER BY COALESCE(k.started_at, k.ended_at, k.created_at) DESC LIMIT $3"
    )
    .bind(player)
    .bind(before)
    .bind(limit)
    .fetch_all(c)
    .await)?;

    let mut all: Vec<Contact> = Vec::with_capacity(tickets.len() + messages.len() + calls.len());
    all.extend(tickets.into_iter().map(|(id, number, subject, channel, requester, at)| Contact {
        at: from_micros(at),
        kind: "ticket".into(),
        who: requester,
        summary: format!("Ticket opened by {channel}: {subject}"),
        ticket_id: id,
        ticket_number: number,
    }));
    all.extend(messages.into_iter().map(|(id, number, channel, kind, author, body, at)| Contact {
        at: from_micros(at),
        kind: message_kind(&kind, &channel).into(),
        who: author,
        summary: excerpt(&body),
        ticket_id: id,
        ticket_number: number,
    }));
    all.extend(calls.into_iter().map(|(id, number, caller, direction, state, agent, duration, at)| {
        let talk = duration.map(|d| format!(", {} min {} s", d / 60, d % 60)).unwrap_or_default();
        let by = agent.map(|a| format!(" with {a}")).unwrap_or_default();
        Contact {
            at: from_micros(at),
            kind: "call".into(),
            who: caller,
            summary: format!("{direction} call, {state}{by}{talk}"),
            ticket_id: id,
            ticket_number: number,
        }
    }));
    // Newest first; a ticket's opening before its first message at the same instant.
    all.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| (a.kind == "ticket").cmp(&(b.kind == "ticket"))));
    all.truncate(limit as usize);
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_named_by_channel_and_direction() {
        assert_eq!(message_kind("player", "email"), "email_in");
        assert_eq!(message_kind("reply", "email"), "email_out");
        assert_eq!(message_kind("player", "chat"), "chat_in");
        assert_eq!(message_kind("reply", "web"), "message_out");
        assert_eq!(message_kind("call", "phone"), "call_note");
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        let long = "é".repeat(400);
        let cut = excerpt(&long);
        assert_eq!(cut.chars().count(), EXCERPT_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(excerpt("two\n\nlines"), "two lines");
    }
}
