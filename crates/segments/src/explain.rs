//! Why a player is in a segment, or not: the segment's condition evaluated in memory on the
//! player's facts now, with the per-node trace, beside the stored membership.

use pitboss_rules::{Rates, Trace};
use pitboss_store::{Db, db, sqlx};
use serde::Serialize;
use uuid::Uuid;

use crate::{SegmentError, facts, get};

/// A segment's answer for one player, and why.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Explanation {
    pub segment_id: Uuid,
    pub segment: String,
    pub version: i64,
    pub player_id: Uuid,
    /// Whether the player is a member as stored.
    pub member: bool,
    /// When the player entered (microseconds since the Unix epoch), if a member.
    pub since: Option<i64>,
    /// Whether the condition holds now; differs from `member` only while an update is on its way.
    pub holds: bool,
    /// The condition node by node: each part, whether it held, and the values it compared.
    #[schema(value_type = Object)]
    pub trace: Trace,
    /// When the passing of time alone next changes the answer, if it ever does.
    pub next_change: Option<i64>,
    /// The instant evaluated at.
    pub at: i64,
}

/// Evaluates segment `id` for `player` at `now`.
pub async fn explain(db: &Db, id: Uuid, player: Uuid, now: i64, rates: &Rates) -> Result<Explanation, SegmentError> {
    let segment = get(db, id).await?;
    let rule = pitboss_rules::from_text(&segment.condition)
        .map_err(|e| SegmentError::Condition { rendered: e.render(&segment.condition), error: e })?;
    let facts = facts::load(db, &[player], now).await?;
    let Some(f) = facts.get(&player) else {
        return Err(SegmentError::PlayerNotFound { id: player });
    };
    let since: Option<i64> = db!(db, |c| {
        sqlx::query_scalar("SELECT since FROM segment_members WHERE segment_id = $1 AND player_id = $2")
            .bind(id)
            .bind(player)
            .fetch_optional(c)
            .await
    })?;
    let trace = rule.evaluate(f, now, rates);
    Ok(Explanation {
        segment_id: id,
        segment: segment.name,
        version: segment.version,
        player_id: player,
        member: since.is_some(),
        since,
        holds: trace.result,
        next_change: rule.next_change(f, now, rates),
        trace,
        at: now,
    })
}
