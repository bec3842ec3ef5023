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
    let (entered, exited) = apply(tx, &segment, &rule, None, now, rates).await?;
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
    for user in crate::references::used_by(tx, name, id).await? {
        let dependent: Option<Uuid> = tx!(tx, |c| {
            sqlx::query_scalar("SELECT id FROM segments WHERE name = $1").bind(&user).fetch_optional(c).await
        })?;
        if let Some(dependent) = dependent {
            Box::pin(refresh_one(tx, dependent, now, rates, depth + 1)).await?;
        }
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
/// match, optionally only among `only`; writes a message for each.
async fn apply(
    tx: &mut Tx,
    segment: &Segment,
    rule: &pitboss_rules::Rule,
    only: Option<&[Uuid]>,
    now: i64,
    rates: &Rates,
) -> Result<(usize, usize), SegmentError> {
    let id = segment.id;
    // $1 = the segment, $2 = now; the condition's parameters follow; a player list after them.
    let enter_cond = rule.to_sql(now, rates, 3);
    let player_filter = |first: usize| match only {
        Some(list) => {
            let marks: Vec<String> = (0..list.len()).map(|i| format!("${}", first + i)).collect();
            format!(" AND p.id IN ({})", marks.join(", "))
        }
        None => String::new(),
    };
    let enter_sql = format!(
        "INSERT INTO segment_members (segment_id, player_id, since) SELECT $1, p.id, $2 FROM {FROM} WHERE {}{} \
         AND NOT EXISTS (SELECT 1 FROM segment_members m WHERE m.segment_id = $1 AND m.player_id = p.id) \
         RETURNING player_id",
        enter_cond.sql,
        player_filter(3 + enter_cond.params.len()),
    );
    let players = only.unwrap_or_default();
    let entered: Vec<Uuid> = tx!(tx, |c| {
        let q = bind_params!(sqlx::query_scalar(&enter_sql).bind(id).bind(now), &enter_cond.params);
        let mut q = q;
        for p in players {
            q = q.bind(*p);
        }
        q.fetch_all(c).await
    })?;
    // $1 = the segment; the condition's parameters follow.
    let exit_cond = rule.to_sql(now, rates, 2);
    let member_filter = match only {
        Some(list) => {
            let first = 2 + exit_cond.params.len();
            let marks: Vec<String> = (0..list.len()).map(|i| format!("${}", first + i)).collect();
            format!(" AND player_id IN ({})", marks.join(", "))
        }
        None => String::new(),
    };
    let exit_sql = format!(
        "DELETE FROM segment_members WHERE segment_id = $1{member_filter} AND NOT EXISTS \
         (SELECT 1 FROM {FROM} WHERE p.id = segment_members.player_id AND {}) RETURNING player_id",
        exit_cond.sql,
    );
    let exited: Vec<Uuid> = tx!(tx, |c| {
        let q = bind_params!(sqlx::query_scalar(&exit_sql).bind(id), &exit_cond.params);
        let mut q = q;
        for p in players {
            q = q.bind(*p);
        }
        q.fetch_all(c).await
    })?;
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
