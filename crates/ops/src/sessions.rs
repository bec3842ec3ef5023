//! Sessions as the session-time limits count them: when each of a player's sessions began and
//! ended, from the platform's `session.started` and `session.ended` (fed by a consumer in
//! [`crate::consumer`]). A session still open counts up to now, but never more than
//! [`LONGEST_SESSION`]: a session whose end never came must not use up every limit for ever.

use chrono::{DateTime, Duration, Utc};
use pitboss_core::time::{from_micros, to_micros};
use pitboss_store::{Db, Tx, db, exec, sqlx};
use uuid::Uuid;

use crate::OpsError;

/// The longest a session counts for.
pub const LONGEST_SESSION: Duration = Duration::hours(24);

/// Records the start of a session (once).
pub async fn started(tx: &mut Tx, player: Uuid, session: &str, at: DateTime<Utc>) -> Result<(), OpsError> {
    exec!(
        tx,
        "INSERT INTO rg_sessions (player_id, session_id, started_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        player,
        session,
        to_micros(at),
    )?;
    Ok(())
}

/// Records the end of a session; one whose start was never seen is kept as ending at its start,
/// with `duration_seconds` (the platform's figure) taken back from the end when given.
pub async fn ended(
    tx: &mut Tx,
    player: Uuid,
    session: &str,
    at: DateTime<Utc>,
    duration_seconds: Option<u64>,
) -> Result<(), OpsError> {
    let end = to_micros(at);
    let changed = exec!(
        tx,
        "UPDATE rg_sessions SET ended_at = CASE WHEN started_at > $1 THEN started_at ELSE $1 END \
         WHERE player_id = $2 AND session_id = $3 AND ended_at IS NULL",
        end,
        player,
        session,
    )?;
    if changed == 0 {
        let seconds =
            duration_seconds.map_or(0, |d| i64::try_from(d).unwrap_or(i64::MAX).min(LONGEST_SESSION.num_seconds()));
        exec!(
            tx,
            "INSERT INTO rg_sessions (player_id, session_id, started_at, ended_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING",
            player,
            session,
            end - seconds * 1_000_000,
            end,
        )?;
    }
    Ok(())
}

/// The stretches of play that may overlap `[since, now]`: each session's start and end (an
/// open one ends now, or [`LONGEST_SESSION`] after its start if that is sooner).
pub async fn played(
    db: &Db,
    player: Uuid,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<(DateTime<Utc>, DateTime<Utc>)>, OpsError> {
    let rows: Vec<(i64, Option<i64>)> = db!(db, |c| sqlx::query_as(
        "SELECT started_at, ended_at FROM rg_sessions WHERE player_id = $1 AND started_at >= $2"
    )
    .bind(player)
    .bind(to_micros(since - LONGEST_SESSION))
    .fetch_all(c)
    .await)?;
    Ok(rows
        .into_iter()
        .map(|(start, end)| {
            let start = from_micros(start);
            let end = end.map(from_micros).unwrap_or(now).min(start + LONGEST_SESSION);
            (start, end)
        })
        .collect())
}

/// Whole minutes of `stretches` within `[since, now]`.
pub fn minutes_within(stretches: &[(DateTime<Utc>, DateTime<Utc>)], since: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    let seconds: i64 =
        stretches.iter().map(|(start, end)| ((*end).min(now) - (*start).max(since)).num_seconds().max(0)).sum();
    seconds / 60
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_count_only_the_part_within_the_window() {
        let now = Utc::now();
        let h = |n: i64| now - Duration::hours(n);
        let stretches = [(h(30), h(29)), (h(25), h(23)), (h(2), h(1)), (now - Duration::minutes(10), now)];
        // The last day: one hour of the session that crossed its start, one hour, ten minutes.
        assert_eq!(minutes_within(&stretches, h(24), now), 60 + 60 + 10);
        assert_eq!(minutes_within(&stretches, h(48), now), 60 + 120 + 60 + 10);
        assert_eq!(minutes_within(&[], h(24), now), 0);
    }
}
