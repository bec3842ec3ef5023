//! Membership kept current between full evaluations: on each event about a player, and at the
//! instant the passing of time changes a player's membership.
//!
//! Both paths evaluate every active segment in memory for the players concerned (their facts
//! loaded once), write only the differences with their `segment.entered` / `segment.exited`
//! messages, and leave one durable timer per player at the next instant one of that player's
//! memberships changes with no event at all (`last_session < 14d ago` turning true on day 14).
//! When a segment is created or changed, [`schedule_all`] sets those timers for every player.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use pitboss_bus::timers::{self, TimerHandler};
use pitboss_bus::{BusError, Message};
use pitboss_rules::{PlayerFacts, Rates, Rule, RuleCache};
use pitboss_store::{Arg, Db, Tx, db, exec, exec_values, placeholders, sqlx, tx};
use serde_json::json;
use uuid::Uuid;

use crate::SegmentError;
use crate::facts;

/// The kind of the players' segment timers.
pub const TIMER_KIND: &str = "segments.player";

/// A segment as the live path needs it: its rule, compiled once per version.
#[derive(Clone)]
pub struct LiveSegment {
    pub id: Uuid,
    pub name: String,
    pub version: i64,
    pub rule: Arc<Rule>,
}

/// Compiled rules by (segment, version): conditions change rarely and events are many.
static COMPILED: LazyLock<RuleCache<(Uuid, i64)>> = LazyLock::new(RuleCache::default);

/// The active segments, compiled, each after the segments it is built on; those whose
/// condition no longer checks come back apart, with why, so that a broken segment never stops
/// the others.
pub async fn active_segments(tx: &mut Tx) -> Result<(Vec<LiveSegment>, Vec<(Uuid, String)>), SegmentError> {
    let rows: Vec<(Uuid, String, i64, String)> = tx!(tx, |c| {
        sqlx::query_as("SELECT id, name, version, condition_text FROM segments WHERE status = 'active' ORDER BY id")
            .fetch_all(c)
            .await
    })?;
    Ok(compile(rows))
}

fn compile(rows: Vec<(Uuid, String, i64, String)>) -> (Vec<LiveSegment>, Vec<(Uuid, String)>) {
    let (mut live, mut broken) = (Vec::new(), Vec::new());
    for (id, name, version, text) in rows {
        match COMPILED.get((id, version), &text) {
            Ok(rule) => live.push(LiveSegment { id, name, version, rule }),
            Err(why) => broken.push((id, why.message)),
        }
    }
    let (ordered, unmet) = crate::references::order(live);
    broken.extend(unmet);
    (ordered, broken)
}

/// What an update of a few players changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LiveReport {
    pub entered: usize,
    pub exited: usize,
    /// Segments skipped because their condition no longer checks, with why.
    pub broken: Vec<(Uuid, String)>,
}

/// Updates every active segment for these players only (no scan of the others), in memory,
/// and sets each player's timer for the next change that time alone brings. Returns
/// (entered, exited, broken segments).
pub async fn refresh_players(
    tx: &mut Tx,
    players: &[Uuid],
    now: i64,
    rates: &Rates,
) -> Result<(usize, usize, Vec<(Uuid, String)>), SegmentError> {
    let report = update_players(tx, players, now, rates).await?;
    Ok((report.entered, report.exited, report.broken))
}

/// [`refresh_players`], with a report.
pub async fn update_players(
    tx: &mut Tx,
    players: &[Uuid],
    now: i64,
    rates: &Rates,
) -> Result<LiveReport, SegmentError> {
    let (segments, broken) = active_segments(tx).await?;
    let mut report = LiveReport { broken, ..LiveReport::default() };
    if players.is_empty() {
        return Ok(report);
    }
    let facts = facts::load_in(tx, players, now).await?;
    let current = memberships(tx, players).await?;
    let mut entered: Vec<(Uuid, &LiveSegment)> = Vec::new();
    let mut exited: Vec<(Uuid, &LiveSegment)> = Vec::new();
    let mut timers_set = Vec::new();
    let mut timers_cleared = Vec::new();
    for player in players {
        let Some(f) = facts.get(player) else { continue };
        // Segments built on others read the memberships decided before them, in this order.
        let mut f = f.clone();
        for segment in &segments {
            let holds = segment.rule.holds(&f, now, rates);
            let member = current.contains(&(segment.id, *player));
            if holds && !member {
                entered.push((*player, segment));
                f.segments.push(segment.name.clone());
            } else if !holds && member {
                exited.push((*player, segment));
                f.segments.retain(|n| *n != segment.name);
            }
        }
        match next_change(&segments, &f, now, rates) {
            Some(due) => timers_set.push((player.to_string(), due)),
            None => timers_cleared.push(player.to_string()),
        }
    }
    write_changes(tx, &entered, &exited, now).await?;
    timers::set_many(tx, TIMER_KIND, &timers_set, now).await?;
    timers::clear_many(tx, TIMER_KIND, &timers_cleared).await?;
    report.entered = entered.len();
    report.exited = exited.len();
    Ok(report)
}

/// The next instant any of these segments changes its answer for `facts` with time alone.
pub fn next_change(segments: &[LiveSegment], facts: &PlayerFacts, now: i64, rates: &Rates) -> Option<i64> {
    segments.iter().filter_map(|s| s.rule.next_change(facts, now, rates)).min()
}

/// The (segment, player) pairs these players are members of.
async fn memberships(tx: &mut Tx, players: &[Uuid]) -> Result<HashSet<(Uuid, Uuid)>, SegmentError> {
    let mut pairs = HashSet::new();
    for chunk in players.chunks(500) {
        let sql = format!(
            "SELECT segment_id, player_id FROM segment_members WHERE player_id IN ({})",
            placeholders(1, chunk.len())
        );
        let rows: Vec<(Uuid, Uuid)> = tx!(tx, |c| {
            let mut q = sqlx::query_as(&sql);
            for p in chunk {
                q = q.bind(*p);
            }
            q.fetch_all(c).await
        })?;
        pairs.extend(rows);
    }
    Ok(pairs)
}

/// Writes entries and exits with their messages, and moves the segments' member counts.
async fn write_changes(
    tx: &mut Tx,
    entered: &[(Uuid, &LiveSegment)],
    exited: &[(Uuid, &LiveSegment)],
    now: i64,
) -> Result<(), SegmentError> {
    if entered.is_empty() && exited.is_empty() {
        return Ok(());
    }
    let rows: Vec<Vec<Arg>> = entered.iter().map(|(p, s)| vec![Arg::Id(s.id), Arg::Id(*p), Arg::Int(now)]).collect();
    exec_values(
        tx,
        "INSERT INTO segment_members (segment_id, player_id, since) VALUES {values} \
         ON CONFLICT (segment_id, player_id) DO NOTHING",
        &rows,
    )
    .await?;
    for (player, segment) in exited {
        exec!(tx, "DELETE FROM segment_members WHERE segment_id = $1 AND player_id = $2", segment.id, *player)?;
    }
    let mut deltas: HashMap<Uuid, i64> = HashMap::new();
    for (_, s) in entered {
        *deltas.entry(s.id).or_default() += 1;
    }
    for (_, s) in exited {
        *deltas.entry(s.id).or_default() -= 1;
    }
    // In a stable order, so that concurrent updates lock the segments' rows in the same order.
    let mut deltas: Vec<(Uuid, i64)> = deltas.into_iter().filter(|(_, d)| *d != 0).collect();
    deltas.sort();
    // The size history gets one point per hour from the live path (a full refresh adds its own).
    let hour = now - now.rem_euclid(3_600_000_000);
    for (id, delta) in deltas {
        exec!(tx, "UPDATE segments SET member_count = member_count + $2 WHERE id = $1", id, delta)?;
        exec!(
            tx,
            "INSERT INTO segment_sizes (segment_id, at, members) SELECT id, $2, member_count FROM segments \
             WHERE id = $1 ON CONFLICT (segment_id, at) DO UPDATE SET members = excluded.members",
            id,
            hour,
        )?;
    }
    let messages: Vec<Message> = entered
        .iter()
        .map(|(p, s)| message("segment.entered", s.id, &s.name, s.version, *p, now))
        .chain(exited.iter().map(|(p, s)| message("segment.exited", s.id, &s.name, s.version, *p, now)))
        .collect();
    pitboss_bus::outbox::enqueue_many(tx, &messages, now).await?;
    Ok(())
}

/// A `segment.entered` or `segment.exited` message, keyed by the player.
pub(crate) fn message(topic: &str, segment: Uuid, name: &str, version: i64, player: Uuid, now: i64) -> Message {
    let payload = json!({
        "id": pitboss_core::new_id(), "type": topic, "segment_id": segment, "segment": name,
        "version": version, "player_id": player, "at": now,
    });
    Message {
        id: pitboss_core::new_id(),
        topic: topic.to_string(),
        key: player.to_string(),
        payload: payload.to_string(),
    }
}

/// Sets every player's timer for the next change time alone brings to any active segment (after
/// a segment is created or changed), in batches of `batch` players; returns the players walked.
pub async fn schedule_all(db: &Db, now: i64, rates: &Rates, batch: usize) -> Result<usize, SegmentError> {
    // Player ids in order; their text forms (the timer keys) sort the same way, so each batch
    // replaces the timers of its stretch of keys with one range delete (the nil id's text is
    // below every player's).
    let mut after = Uuid::nil();
    let mut walked = 0;
    let batch = batch.clamp(1, 5_000);
    loop {
        let ids: Vec<Uuid> = db!(db, |c| {
            sqlx::query_scalar("SELECT id FROM players WHERE id > $1 ORDER BY id LIMIT $2")
                .bind(after)
                .bind(batch as i64)
                .fetch_all(c)
                .await
        })?;
        let mut tx = db.begin().await?;
        let Some(last) = ids.last().copied() else {
            // Past the last player: timers of players that are gone.
            timers::clear_range(&mut tx, TIMER_KIND, &after.to_string(), None).await?;
            tx.commit().await?;
            return Ok(walked);
        };
        timers::clear_range(&mut tx, TIMER_KIND, &after.to_string(), Some(&last.to_string())).await?;
        let (segments, _) = active_segments(&mut tx).await?;
        let facts = facts::load_in(&mut tx, &ids, now).await?;
        let due: Vec<(String, i64)> = facts
            .iter()
            .filter_map(|(id, f)| next_change(&segments, f, now, rates).map(|at| (id.to_string(), at)))
            .collect();
        timers::set_many(&mut tx, TIMER_KIND, &due, now).await?;
        tx.commit().await?;
        after = last;
        walked += ids.len();
    }
}

/// Fires the players' segment timers: the same update as for an event.
pub struct SegmentTimers {
    rates: Arc<Rates>,
}

impl SegmentTimers {
    pub fn new(rates: Arc<Rates>) -> Arc<SegmentTimers> {
        Arc::new(SegmentTimers { rates })
    }
}

#[async_trait]
impl TimerHandler for SegmentTimers {
    async fn fire(&self, tx: &mut Tx, keys: &[String], now: i64) -> Result<(), BusError> {
        // A key that is not a player id was not set by this module: dropping it is all there is to do.
        let players: Vec<Uuid> = keys.iter().filter_map(|k| k.parse().ok()).collect();
        let report = update_players(tx, &players, now, &self.rates).await.map_err(|e| BusError::Handler {
            consumer: TIMER_KIND.into(),
            message: Uuid::nil(),
            reason: e.to_string(),
        })?;
        for (segment, why) in report.broken {
            tracing::warn!(%segment, %why, "segment skipped: its condition no longer checks");
        }
        Ok(())
    }
}
