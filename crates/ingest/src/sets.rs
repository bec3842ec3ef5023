//! A set of events applied at once: every event but registrations and profile updates (game
//! rounds, payments, bonuses, sessions). The players, duplicate ids, ledger transactions and
//! balances of the whole set are read once, each item is decided in memory with the same rules
//! and answers as the one-by-one path (the ledger's rules are the same code, kept in memory by
//! `pitboss_payments::bulk`), and every table is written with one statement. No savepoints are
//! needed: nothing is written before every item is decided.

use std::collections::HashMap;

use chrono::Utc;
use pitboss_core::event::{EventBody, EventType};
use pitboss_core::time::to_micros;
use pitboss_payments::bulk::{Entry, perform_all};
use pitboss_players::{Activity, stats};
use pitboss_store::{Arg, StoreError, Tx, exec_values, placeholders, sqlx, tx};
use uuid::Uuid;

use crate::apply::{ACTOR, ApplyError, Money, PlayerCache, money, unknown_player};
use crate::batch::{Item, ItemReport, ItemStatus, id_reused, outbox_message, rejected, report};

/// Whether events of this type go through the set path: all but those that write the player's
/// profile (a registration creates the player the rest of the set may name).
pub(crate) fn in_set(t: EventType) -> bool {
    !matches!(t, EventType::PlayerRegistered | EventType::PlayerUpdated)
}

/// Applies the set (every item [`in_set`], each player's in their order) and answers each item.
pub(crate) async fn apply(
    tx: &mut Tx,
    players: &mut PlayerCache,
    run: &[&Item],
) -> Result<Vec<ItemReport>, StoreError> {
    let now = Utc::now();
    let refs: Vec<&str> = run.iter().map(|(_, e, _)| e.player_ref.as_str()).collect();
    players.load(tx, &refs).await?;
    let stored = stored_hashes(tx, run).await?;

    let mut reports = Vec::with_capacity(run.len());
    // The items still in play, with their player and what they ask of the ledger, in order,
    // and the ledger's entries among them.
    let mut live: Vec<(&Item, Uuid, Option<Money>)> = Vec::new();
    let mut entries: Vec<Entry> = Vec::new();
    for &item in run {
        let (index, event, hash) = item;
        // The checks in the order the one-by-one path makes them: player, id, then the money's.
        let Some((player, wallet)) = players.get(&event.player_ref) else {
            reports.push(rejected(*index, Some(event.id), unknown_player(&event.player_ref)));
            continue;
        };
        if let Some(h) = stored.get(&event.id) {
            reports.push(if h == hash {
                report(*index, Some(event.id), ItemStatus::Duplicate, None)
            } else {
                rejected(*index, Some(event.id), id_reused())
            });
            continue;
        }
        let m = match money(event, wallet) {
            Ok(m) => m,
            Err(ApplyError::Rejected(error)) => {
                reports.push(rejected(*index, Some(event.id), error));
                continue;
            }
            Err(ApplyError::Store(s)) => return Err(s),
        };
        if let Some(m) = &m {
            entries.push(Entry {
                player,
                currency: wallet,
                occurred_at: event.occurred_at,
                operation: m.operation.clone(),
            });
        }
        live.push((item, player, m));
    }

    let mut outcomes = perform_all(tx, &entries, ACTOR, now)
        .await
        .map_err(|e| match ApplyError::from(e) {
            ApplyError::Store(s) => s,
            ApplyError::Rejected(r) => StoreError::Config(format!("the set failed as a whole: {r}")),
        })?
        .into_iter();
    let mut events = Vec::new();
    let mut messages = Vec::new();
    let mut activities = Vec::new();
    for ((index, event, hash), player, m) in live {
        let (note, activity) = match m {
            Some(m) => match outcomes.next().expect("an outcome for every entry") {
                Ok(change) => (change.note.clone(), m.settled_activity(&change)),
                Err(e) => match ApplyError::from(e) {
                    ApplyError::Rejected(error) => {
                        reports.push(rejected(*index, Some(event.id), error));
                        continue;
                    }
                    ApplyError::Store(s) => return Err(s),
                },
            },
            None if matches!(event.body, EventBody::SessionStarted(_)) => (None, Some(Activity::SessionStarted)),
            None => (None, None),
        };
        events.push(vec![
            Arg::Id(event.id),
            Arg::Text(event.event_type.as_str().into()),
            Arg::Text(event.player_ref.clone()),
            Arg::OptId(Some(player)),
            Arg::Int(to_micros(event.occurred_at)),
            Arg::Int(to_micros(event.received_at)),
            Arg::Text(event.source.clone()),
            Arg::Text(hash.clone()),
            Arg::Text(event.to_json().to_string()),
            Arg::Text(note.clone().unwrap_or_else(|| "accepted".into())),
        ]);
        // Messages in the order of the set, which keeps each player's.
        messages.push(outbox_message(event, Some(player)));
        if let Some(activity) = activity {
            activities.push((player, activity, event.occurred_at));
        }
        reports.push(report(*index, Some(event.id), ItemStatus::Accepted, note));
    }
    exec_values(
        tx,
        "INSERT INTO events (id, type, player_ref, player_id, occurred_at, received_at, source, content_hash, body, outcome) \
         VALUES {values}",
        &events,
    )
    .await?;
    stats::record_many(tx, &activities, now).await.map_err(|e| match ApplyError::from(e) {
        ApplyError::Store(s) => s,
        ApplyError::Rejected(r) => StoreError::Config(r.to_string()),
    })?;
    pitboss_bus::outbox::enqueue_many(tx, &messages, to_micros(now)).await?;
    Ok(reports)
}

/// `(id, content hash)` of the run's events already stored by earlier batches.
async fn stored_hashes(tx: &mut Tx, run: &[&Item]) -> Result<HashMap<Uuid, String>, StoreError> {
    let ids: Vec<Uuid> = run.iter().map(|(_, e, _)| e.id).collect();
    let mut found = HashMap::new();
    for chunk in ids.chunks(pitboss_store::in_list_len(tx.engine())) {
        let sql = format!("SELECT id, content_hash FROM events WHERE id IN ({})", placeholders(1, chunk.len()));
        let rows: Vec<(Uuid, String)> = tx!(tx, |c| {
            let mut q = sqlx::query_as(&sql);
            for id in chunk {
                q = q.bind(*id);
            }
            q.fetch_all(c).await
        })?;
        found.extend(rows);
    }
    Ok(found)
}
