//! One batch: parse, de-duplicate, apply the whole batch as one set (or, as the reference the
//! set is tested against, each item under a savepoint), commit once.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use pitboss_bus::Message;
use pitboss_core::event::EventError;
use pitboss_core::time::to_micros;
use pitboss_core::{Envelope, new_id};
use pitboss_store::{Db, StoreError, Tx, exec, sqlx, tx};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Notify;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::apply::{self, Applied, ApplyError, PlayerCache};

/// A valid item of a batch, first of its id: its index in the batch, the event, its content hash.
pub(crate) type Item = (usize, Envelope, String);

/// The most events one request may carry.
pub const MAX_BATCH: usize = 5_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    /// Applied and stored; it will not be lost.
    Accepted,
    /// An event with this id was accepted before; nothing changed.
    Duplicate,
    /// Refused for the reason given; nothing changed. Fix it and send it again.
    Rejected,
}

/// The fate of one item of a batch, in the order sent.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ItemReport {
    pub index: usize,
    /// The event id, when the item had a readable one.
    pub id: Option<Uuid>,
    pub status: ItemStatus,
    /// For accepted events that changed nothing (a replayed or stale payment), why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<EventError>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct BatchReport {
    pub accepted: usize,
    pub duplicates: usize,
    pub rejected: usize,
    pub items: Vec<ItemReport>,
}

/// Applies batches of events. Cheap to clone.
#[derive(Clone)]
pub struct Ingestor {
    db: Db,
    relay: Option<Arc<Notify>>,
    bulk: bool,
}

impl Ingestor {
    pub fn new(db: Db) -> Ingestor {
        Ingestor { db, relay: None, bulk: true }
    }

    /// Applies every event on its own, never as a set: the reference behaviour the set path
    /// must match (its tests compare the two).
    pub fn one_by_one(mut self) -> Ingestor {
        self.bulk = false;
        self
    }

    /// Pokes the outbox relay after each commit, so events go out without waiting for a poll.
    pub fn with_relay(mut self, relay: Arc<Notify>) -> Ingestor {
        self.relay = Some(relay);
        self
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Ingests one batch. An `Err` means the database failed and nothing of the batch was
    /// accepted: the client should send the whole batch again (duplicates are recognised).
    pub async fn ingest(&self, items: &[Value], received_at: DateTime<Utc>) -> Result<BatchReport, StoreError> {
        let mut reports: Vec<ItemReport> = Vec::with_capacity(items.len());
        let mut valid: Vec<Item> = Vec::with_capacity(items.len());
        let mut seen: HashMap<Uuid, String> = HashMap::new();
        for (index, item) in items.iter().enumerate() {
            match Envelope::parse(item, received_at) {
                Err(error) => {
                    let id = item.get("id").and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok());
                    reports.push(rejected(index, id, error));
                }
                Ok(event) => {
                    let hash = event.content_hash();
                    match seen.get(&event.id) {
                        Some(h) if *h == hash => {
                            reports.push(report(index, Some(event.id), ItemStatus::Duplicate, None))
                        }
                        Some(_) => reports.push(rejected(index, Some(event.id), id_reused())),
                        None => {
                            seen.insert(event.id, hash.clone());
                            reports.push(report(index, Some(event.id), ItemStatus::Accepted, None));
                            valid.push((index, event, hash));
                        }
                    }
                }
            }
        }

        if !valid.is_empty() {
            let mut tx = self.db.begin().await?;
            let mut players = PlayerCache::default();
            if self.bulk {
                let run: Vec<&Item> = valid.iter().collect();
                for report in crate::sets::apply(&mut tx, &mut players, &run).await? {
                    let index = report.index;
                    reports[index] = report;
                }
            } else {
                for (index, event, hash) in &valid {
                    reports[*index] = apply_one(&mut tx, &mut players, *index, event, hash).await?;
                }
            }
            tx.commit().await?;
            if let Some(relay) = &self.relay {
                relay.notify_one();
            }
        }

        let count = |s: ItemStatus| reports.iter().filter(|r| r.status == s).count();
        let result = BatchReport {
            accepted: count(ItemStatus::Accepted),
            duplicates: count(ItemStatus::Duplicate),
            rejected: count(ItemStatus::Rejected),
            items: reports,
        };
        metrics::counter!("pitboss_events_ingested_total", "outcome" => "accepted").increment(result.accepted as u64);
        metrics::counter!("pitboss_events_ingested_total", "outcome" => "duplicate")
            .increment(result.duplicates as u64);
        metrics::counter!("pitboss_events_ingested_total", "outcome" => "rejected").increment(result.rejected as u64);
        Ok(result)
    }
}

pub(crate) fn report(index: usize, id: Option<Uuid>, status: ItemStatus, note: Option<String>) -> ItemReport {
    ItemReport { index, id, status, note, error: None }
}

pub(crate) fn rejected(index: usize, id: Option<Uuid>, error: EventError) -> ItemReport {
    ItemReport { index, id, status: ItemStatus::Rejected, note: None, error: Some(error) }
}

pub(crate) fn id_reused() -> EventError {
    EventError::new("id", "this id was already used for a different event; every event needs its own id")
}

/// The bus message announcing an applied event: the envelope, with Pitboss's player id added.
/// `body` is the event's JSON (`Envelope::to_json`), as stored.
pub(crate) fn outbox_message(event: &Envelope, body: &str, player: Option<Uuid>) -> Message {
    let payload = match player {
        // The stored body is a JSON object, so the id goes in as one more member before its
        // closing brace, without parsing and writing the event again.
        Some(p) if body.ends_with('}') && body.len() > 2 => {
            format!("{},\"pitboss_player_id\":\"{p}\"}}", &body[..body.len() - 1])
        }
        _ => body.to_string(),
    };
    Message {
        id: new_id(),
        topic: event.event_type.as_str().to_string(),
        key: player.map(|p| p.to_string()).unwrap_or_else(|| event.player_ref.clone()),
        payload,
    }
}

/// Applies one event inside a savepoint: all of it, or none of it.
async fn apply_one(
    tx: &mut Tx,
    players: &mut PlayerCache,
    index: usize,
    event: &Envelope,
    hash: &str,
) -> Result<ItemReport, StoreError> {
    // Who the event is about, before anything is written: an unknown player is refused here.
    let player = match apply::resolve(tx, players, event).await {
        Ok(p) => p,
        Err(ApplyError::Rejected(error)) => return Ok(rejected(index, Some(event.id), error)),
        Err(ApplyError::Store(e)) => return Err(e),
    };
    // Claim the id: a duplicate costs one statement and applies nothing.
    tx.savepoint().await?;
    let now = Utc::now();
    let body = event.to_json().to_string();
    let claimed = exec!(
        tx,
        "INSERT INTO events (id, type, player_ref, player_id, occurred_at, received_at, source, content_hash, body, outcome) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'accepted') ON CONFLICT (id) DO NOTHING",
        event.id,
        event.event_type.as_str(),
        &event.player_ref,
        player.map(|(id, _)| id),
        to_micros(event.occurred_at),
        to_micros(event.received_at),
        &event.source,
        hash,
        &body,
    )?;
    if claimed == 0 {
        tx.release_savepoint().await?;
        let stored: Option<String> = tx!(tx, |c| {
            sqlx::query_scalar("SELECT content_hash FROM events WHERE id = $1").bind(event.id).fetch_optional(c).await
        })?;
        return Ok(if stored.as_deref() == Some(hash) {
            report(index, Some(event.id), ItemStatus::Duplicate, None)
        } else {
            rejected(index, Some(event.id), id_reused())
        });
    }
    match apply::apply(tx, players, event, player, now).await {
        Ok(Applied { player: applied_to, note }) => {
            // A registration learns its player id only now; a replay or stale event says why it changed nothing.
            if applied_to != player.map(|(id, _)| id) || note.is_some() {
                exec!(
                    tx,
                    "UPDATE events SET player_id = $1, outcome = $2 WHERE id = $3",
                    applied_to,
                    note.as_deref().unwrap_or("accepted"),
                    event.id
                )?;
            }
            pitboss_bus::outbox::enqueue(tx, &outbox_message(event, &body, applied_to), to_micros(now)).await?;
            tx.release_savepoint().await?;
            Ok(report(index, Some(event.id), ItemStatus::Accepted, note))
        }
        Err(ApplyError::Rejected(error)) => {
            tx.rollback_to_savepoint().await?;
            Ok(rejected(index, Some(event.id), error))
        }
        Err(ApplyError::Store(e)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bus_message_is_the_stored_event_with_the_player_id_added() {
        let sent = serde_json::json!({
            "id": Uuid::now_v7(), "type": "session.started", "player_id": "p \"1\"",
            "occurred_at": "2026-01-02T03:04:05Z", "payload": {"session_id": "s-1"}
        });
        let event = Envelope::parse(&sent, Utc::now()).unwrap();
        let body = event.to_json().to_string();
        let player = Uuid::now_v7();

        let message = outbox_message(&event, &body, Some(player));
        let mut expected = event.to_json();
        expected["pitboss_player_id"] = Value::String(player.to_string());
        assert_eq!(serde_json::from_str::<Value>(&message.payload).unwrap(), expected);
        assert_eq!((message.topic.as_str(), message.key), ("session.started", player.to_string()));

        // Not yet a player of ours: the event as stored, keyed by the platform's id.
        let message = outbox_message(&event, &body, None);
        assert_eq!(message.payload, body);
        assert_eq!(message.key, "p \"1\"");
    }
}
