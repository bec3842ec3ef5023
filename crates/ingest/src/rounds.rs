//! A set of events applied at once: game rounds, with the sessions and bonus wagering progress
//! between them. The players, duplicate ids, round references and balances of the whole set are
//! read once, each item is decided in memory with the same rules and answers as the one-by-one
//! path, and every table is written with one statement. No savepoints are needed: nothing is
//! written before every item is decided.

use std::collections::HashMap;

use chrono::Utc;
use pitboss_core::event::{EventBody, EventType};
use pitboss_core::time::to_micros;
use pitboss_payments::bulk::{Round, settle_rounds};
use pitboss_players::{Activity, stats};
use pitboss_store::{Arg, StoreError, Tx, exec_values, placeholders, sqlx, tx};
use uuid::Uuid;

use crate::apply::{ACTOR, ApplyError, PlayerCache, currency_mismatch, unknown_player};
use crate::batch::{Item, ItemReport, ItemStatus, id_reused, outbox_message, rejected, report};

/// Whether events of this type go through the set path: game rounds, and the events that only
/// count or are only passed on (sessions, bonus wagering progress), which nothing but an unknown
/// player, a known id or a wrong currency refuses.
pub(crate) fn in_set(t: EventType) -> bool {
    matches!(t, EventType::GameRound | EventType::SessionStarted | EventType::SessionEnded | EventType::BonusWagered)
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
    // The items still in play, with their player (and a round's category as kept), in order,
    // and the rounds among them.
    let mut live: Vec<(&Item, Uuid, Option<String>)> = Vec::new();
    let mut rounds: Vec<Round> = Vec::new();
    for &item in run {
        let (index, event, hash) = item;
        // The checks in the order the one-by-one path makes them: player, id, currency, category.
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
        let currency = match &event.body {
            EventBody::GameRound(g) => Some(g.currency),
            EventBody::Bonus(_, b) => Some(b.currency),
            _ => None,
        };
        if let Some(c) = currency.filter(|c| *c != wallet) {
            reports.push(rejected(*index, Some(event.id), currency_mismatch(c, wallet)));
            continue;
        }
        let mut category = None;
        if let EventBody::GameRound(g) = &event.body {
            match stats::category(&g.category).map_err(ApplyError::from) {
                Ok(c) => category = Some(c),
                Err(ApplyError::Rejected(error)) => {
                    reports.push(rejected(*index, Some(event.id), error));
                    continue;
                }
                Err(ApplyError::Store(s)) => return Err(s),
            }
            rounds.push(Round {
                player,
                currency: wallet,
                round_id: g.round_id.clone(),
                stake: g.stake.minor(),
                win: g.win.minor(),
                occurred_at: event.occurred_at,
            });
        }
        live.push((item, player, category));
    }

    let mut outcomes = settle_rounds(tx, &rounds, ACTOR, now)
        .await
        .map_err(|e| match ApplyError::from(e) {
            ApplyError::Store(s) => s,
            ApplyError::Rejected(r) => StoreError::Config(format!("the round set failed as a whole: {r}")),
        })?
        .into_iter();
    let mut events = Vec::new();
    let mut messages = Vec::new();
    let mut activities = Vec::new();
    for ((index, event, hash), player, category) in live {
        let (note, activity) = match &event.body {
            EventBody::GameRound(g) => match outcomes.next().expect("an outcome for every round") {
                Ok(change) => {
                    let category = category.unwrap_or_default();
                    let activity = Activity::Round { stake: g.stake.minor(), win: g.win.minor(), category };
                    (change.note, change.settled.then_some(activity))
                }
                Err(e) => match ApplyError::from(e) {
                    ApplyError::Rejected(error) => {
                        reports.push(rejected(*index, Some(event.id), error));
                        continue;
                    }
                    ApplyError::Store(s) => return Err(s),
                },
            },
            EventBody::SessionStarted(_) => (None, Some(Activity::SessionStarted)),
            _ => (None, None),
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
