//! A batch applied as one set, in its order: registrations, profile updates, sessions, payments,
//! rounds and bonuses alike. The players, duplicate ids, profiles, ledger transactions and
//! balances the batch names are read once; each item is decided in memory with the same rules
//! and answers as the one-by-one path (the profile's rules by `pitboss_players::bulk`, the
//! ledger's by `pitboss_payments::bulk`, the same code as on the database); then every table is
//! written with one statement. No savepoints are needed: nothing is written before every item
//! is decided, and a refused item leaves nothing behind.

use std::collections::HashMap;

use chrono::Utc;
use pitboss_core::event::{EventBody, EventError};
use pitboss_core::time::to_micros;
use pitboss_payments::bulk::{Entry, perform_all};
use pitboss_players::bulk::ProfileSet;
use pitboss_players::{Activity, NewPlayer, PlayerError, PlayerPatch, stats};
use pitboss_store::{Arg, StoreError, Tx, exec_values, fetch_values};
use uuid::Uuid;

use crate::apply::{ACTOR, ApplyError, Money, PlayerCache, already_registered, money, payment_method, unknown_player};
use crate::batch::{Item, ItemReport, ItemStatus, id_reused, outbox_message, rejected, report};

/// Applies the items in their order and answers each.
pub(crate) async fn apply(
    tx: &mut Tx,
    players: &mut PlayerCache,
    run: &[&Item],
) -> Result<Vec<ItemReport>, StoreError> {
    let now = Utc::now();
    // A registration stores the platform's id trimmed: look up that form too.
    let refs: Vec<&str> = run.iter().flat_map(|(_, e, _)| [e.player_ref.as_str(), e.player_ref.trim()]).collect();
    players.load(tx, &refs).await?;
    let stored = stored_hashes(tx, run).await?;
    let mut updated: Vec<Uuid> = run
        .iter()
        .filter(|(_, e, _)| matches!(e.body, EventBody::PlayerUpdated(_)))
        .filter_map(|(_, e, _)| players.get(&e.player_ref).map(|(id, _)| id))
        .collect();
    updated.sort_unstable();
    updated.dedup();
    let mut profiles = ProfileSet::load(tx, &updated, now).await.map_err(store_error)?;
    // An id stored by an earlier batch: the same event again, or another under a used id.
    let already_stored = |(index, event, hash): &Item| {
        stored.get(&event.id).map(|h| {
            if h == hash {
                report(*index, Some(event.id), ItemStatus::Duplicate, None)
            } else {
                rejected(*index, Some(event.id), id_reused())
            }
        })
    };

    let mut reports = Vec::with_capacity(run.len());
    // The items still in play, with their player and what they ask of the ledger, in order,
    // and the ledger's entries among them.
    let mut live: Vec<(&Item, Uuid, Option<Money>)> = Vec::new();
    let mut entries: Vec<Entry> = Vec::new();
    for &item in run {
        let (index, event, _) = item;
        // The checks in the order the one-by-one path makes them: player (but for a
        // registration), id, then the event's own.
        let refuse = |error: EventError| rejected(*index, Some(event.id), error);
        if let EventBody::PlayerRegistered(r) = &event.body {
            if let Some(report) = already_stored(item) {
                reports.push(report);
                continue;
            }
            let created = NewPlayer::from_event(&event.player_ref, event.occurred_at, r)
                .and_then(|new| profiles.create(new, |external_id| players.get(external_id).is_some()));
            match created {
                Ok(player) => {
                    players.insert(&player);
                    live.push((item, player.id, None));
                }
                Err(PlayerError::DuplicateExternalId(id)) => reports.push(refuse(already_registered(&id))),
                Err(e) => reports.push(refuse(rejection(e.into())?)),
            }
            continue;
        }
        let Some((player, wallet)) = players.get(&event.player_ref) else {
            reports.push(refuse(unknown_player(&event.player_ref)));
            continue;
        };
        if let Some(report) = already_stored(item) {
            reports.push(report);
            continue;
        }
        let decided = match &event.body {
            EventBody::PlayerUpdated(u) => PlayerPatch::from_event(u)
                .and_then(|patch| profiles.update(player, &patch))
                .map(|_| None)
                .map_err(ApplyError::from),
            _ => money(event, wallet),
        };
        match decided {
            Ok(m) => {
                if let Some(m) = &m {
                    entries.push(Entry {
                        player,
                        currency: wallet,
                        occurred_at: event.occurred_at,
                        method: payment_method(event).map(str::to_string),
                        operation: m.operation.clone(),
                    });
                }
                live.push((item, player, m));
            }
            Err(e) => reports.push(refuse(rejection(e)?)),
        }
    }

    // Profiles first: the rest of the set refers to the players it registered.
    profiles.write(tx).await.map_err(store_error)?;
    let mut outcomes = perform_all(tx, &entries, ACTOR, now).await.map_err(store_error)?.into_iter();
    let mut events = Vec::new();
    let mut messages = Vec::new();
    let mut activities = Vec::new();
    for ((index, event, hash), player, m) in live {
        let (note, activity) = match m {
            Some(m) => match outcomes.next().expect("an outcome for every entry") {
                Ok(change) => (change.note.clone(), m.settled_activity(&change)),
                Err(e) => {
                    reports.push(rejected(*index, Some(event.id), rejection(e.into())?));
                    continue;
                }
            },
            None if matches!(event.body, EventBody::SessionStarted(_)) => (None, Some(Activity::SessionStarted)),
            None => (None, None),
        };
        let body = event.to_json().to_string();
        // Messages in the order of the set, which keeps each player's.
        messages.push(outbox_message(event, &body, Some(player)));
        events.push(vec![
            Arg::Id(event.id),
            Arg::Text(event.event_type.as_str().into()),
            Arg::Text(event.player_ref.clone()),
            Arg::OptId(Some(player)),
            Arg::Int(to_micros(event.occurred_at)),
            Arg::Int(to_micros(event.received_at)),
            Arg::Text(event.source.clone()),
            Arg::Text(hash.clone()),
            Arg::Text(body),
            Arg::Text(note.clone().unwrap_or_else(|| "accepted".into())),
        ]);
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
    stats::record_many(tx, &activities, now).await.map_err(store_error)?;
    pitboss_bus::outbox::enqueue_many(tx, &messages, to_micros(now)).await?;
    Ok(reports)
}

/// `(id, content hash)` of the run's events already stored by earlier batches.
async fn stored_hashes(tx: &mut Tx, run: &[&Item]) -> Result<HashMap<Uuid, String>, StoreError> {
    let ids: Vec<Vec<Arg>> = run.iter().map(|(_, e, _)| vec![Arg::Id(e.id)]).collect();
    let found: Vec<(Uuid, String)> =
        fetch_values(tx, "SELECT id, content_hash FROM events WHERE id IN (VALUES {values})", &ids).await?;
    Ok(found.into_iter().collect())
}

/// Why an item is refused; a database failure fails the whole set instead.
fn rejection(e: ApplyError) -> Result<EventError, StoreError> {
    match e {
        ApplyError::Rejected(error) => Ok(error),
        ApplyError::Store(s) => Err(s),
    }
}

/// A failure writing what the set decided: the set fails as a whole, and the client resends it.
fn store_error(e: impl Into<ApplyError>) -> StoreError {
    match e.into() {
        ApplyError::Store(s) => s,
        ApplyError::Rejected(r) => StoreError::Config(format!("the set failed as a whole: {r}")),
    }
}
