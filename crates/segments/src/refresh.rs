//! A full evaluation of a segment over every player, compiled to SQL. Each entry and exit is
//! written with its `segment.entered` / `segment.exited` message in the same transaction.
//! (Updates for the players an event touched, and at the instants time changes membership,
//! are in [`crate::live`].)

use pitboss_bus::Message;
use pitboss_rules::Rates;
use pitboss_rules::sql::FROM;
use pitboss_store::{Db, Tx, exec, sqlx, tx};
use serde::Serialize;
use uuid::Uuid;

use crate::SegmentError;
use crate::model::{Segment, SegmentStatus};
use crate::repo::get_in;

/// What a refresh changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RefreshReport {
    pub segment_id: Uuid,
    pub entered: usize,
    pub exited: usize,
    pub members: i64,
    /// The instant the condition was evaluated at (microseconds since the Unix epoch).
    pub at: i64,
}

/// Evaluates a segment over every player at `now` and records who entered and who left, in
/// `tx` (the caller audits and commits).
pub async fn refresh_in(tx: &mut Tx, id: Uuid, now: i64, rates: &Rates) -> Result<RefreshReport, SegmentError> {
    refresh_one(tx, id, now, rates, 0).await
}

async fn refresh_one(
    tx: &mut Tx,
    id: Uuid,
    now: i64,
    rates: &Rates,
    depth: usize,
) -> Result<RefreshReport, SegmentError> {
    let segment = get_in(tx, id).await?;
    let empty = RefreshReport { segment_id: id, entered: 0, exited: 0, members: 0, at: now };
    if segment.status == SegmentStatus::Archived {
        return Ok(empty);
    }
    let rule = pitboss_rules::from_text(&segment.condition)
        .map_err(|e| SegmentError::Condition { rendered: e.render(&segment.condition), error: e })?;
    let (entered, exited) = apply(tx, &segment, &rule, now, rates).await?;
    let members: i64 = tx!(tx, |c| {
        sqlx::query_scalar("SELECT COUNT(*) FROM segment_members WHERE segment_id = $1").bind(id).fetch_one(c).await
    })?;
    exec!(tx, "UPDATE segments SET member_count = $2, evaluated_at = $3 WHERE id = $1", id, members, now)?;
    exec!(
        tx,
        "INSERT INTO segment_sizes (segment_id, at, members) VALUES ($1, $2, $3) ON CONFLICT (segment_id, at) DO NOTHING",
        id,
        now,
        members,
    )?;
    if entered + exited > 0 {
        refresh_dependents(tx, &segment.name, id, now, rates, depth).await?;
    }
    Ok(RefreshReport { segment_id: id, entered, exited, members, at: now })
}

/// Segments built on this one read its members: they are evaluated again after it changes.
async fn refresh_dependents(
    tx: &mut Tx,
    name: &str,
    id: Uuid,
    now: i64,
    rates: &Rates,
    depth: usize,
) -> Result<(), SegmentError> {
    // References are refused when they go round in a circle; the bound guards against one
    // edited into the database by hand.
    const MAX_DEPTH: usize = 16;
    if depth >= MAX_DEPTH {
        return Ok(());
    }
    for (dependent, _) in crate::references::used_by(tx, name, id).await? {
        Box::pin(refresh_one(tx, dependent, now, rates, depth + 1)).await?;
    }
    Ok(())
}

/// [`refresh_in`] in a transaction of its own.
pub async fn refresh(db: &Db, id: Uuid, now: i64, rates: &Rates) -> Result<RefreshReport, SegmentError> {
    let mut tx = db.begin().await?;
    let report = refresh_in(&mut tx, id, now, rates).await?;
    tx.commit().await?;
    Ok(report)
}

/// Inserts the players who now match and are not members, deletes the members who no longer
/// match; writes a message for each.
async fn apply(
    tx: &mut Tx,
    segment: &Segment,
    rule: &pitboss_rules::Rule,
    now: i64,
    rates: &Rates,
) -> Result<(usize, usize), SegmentError> {
    let id = segment.id;
    // $1 = the segment, $2 = now; the condition's parameters follow.
    let cond = rule.to_sql(now, rates, 3);
    let (entered, exited): (Vec<Uuid>, Vec<Uuid>) = match tx {
        // One statement: the condition is evaluated once over every player, and both
        // directions are taken from that set. JIT compilation costs more than it saves on
        // these plans (a third of a second per statement on a million players), so it is off.
        Tx::Postgres(t) => {
            sqlx::query("SET LOCAL jit = off").execute(&mut **t).await?;
            let sql = format!(
                "WITH matches AS MATERIALIZED (SELECT p.id FROM {FROM} WHERE {cond}), \
                 entered AS (INSERT INTO segment_members (segment_id, player_id, since) \
                   SELECT $1, m.id, $2 FROM matches m WHERE NOT EXISTS \
                   (SELECT 1 FROM segment_members x WHERE x.segment_id = $1 AND x.player_id = m.id) \
                   ORDER BY m.id RETURNING player_id), \
                 exited AS (DELETE FROM segment_members x WHERE x.segment_id = $1 AND NOT EXISTS \
                   (SELECT 1 FROM matches m WHERE m.id = x.player_id) RETURNING player_id) \
                 SELECT TRUE, player_id FROM entered UNION ALL SELECT FALSE, player_id FROM exited",
                cond = cond.sql,
            );
            let q = bind_params!(sqlx::query_as::<_, (bool, Uuid)>(&sql).bind(id).bind(now), &cond.params);
            let rows = q.fetch_all(&mut **t).await?;
            let (ins, outs): (Vec<_>, Vec<_>) = rows.into_iter().partition(|(entered, _)| *entered);
            (ins.into_iter().map(|r| r.1).collect(), outs.into_iter().map(|r| r.1).collect())
        }
        // SQLite has no data-modifying WITH: one statement per direction.
        Tx::Sqlite(t) => {
            let enter_sql = format!(
                "INSERT INTO segment_members (segment_id, player_id, since) SELECT $1, p.id, $2 FROM {FROM} \
                 WHERE {} AND NOT EXISTS (SELECT 1 FROM segment_members m WHERE m.segment_id = $1 \
                 AND m.player_id = p.id) RETURNING player_id",
                cond.sql,
            );
            let q = bind_params!(sqlx::query_scalar(&enter_sql).bind(id).bind(now), &cond.params);
            let entered = q.fetch_all(&mut **t).await?;
            // $1 = the segment; the condition's parameters follow.
            let exit_cond = rule.to_sql(now, rates, 2);
            let exit_sql = format!(
                "DELETE FROM segment_members WHERE segment_id = $1 AND NOT EXISTS \
                 (SELECT 1 FROM {FROM} WHERE p.id = segment_members.player_id AND {}) RETURNING player_id",
                exit_cond.sql,
            );
            let q = bind_params!(sqlx::query_scalar(&exit_sql).bind(id), &exit_cond.params);
            (entered, q.fetch_all(&mut **t).await?)
        }
    };
    let message =
        |topic: &str, player: &Uuid| crate::live::message(topic, id, &segment.name, segment.version, *player, now);
    let messages: Vec<Message> = entered
        .iter()
        .map(|p| message("segment.entered", p))
        .chain(exited.iter().map(|p| message("segment.exited", p)))
        .collect();
    if !messages.is_empty() {
        pitboss_bus::outbox::enqueue_many(tx, &messages, now).await?;
    }
    Ok((entered.len(), exited.len()))
}
