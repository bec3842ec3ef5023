//! The player's activity aggregates: lifetime totals, and daily buckets for trailing windows.
//!
//! Amounts are in the player's wallet currency (ingest refuses money events in any other).

use chrono::{DateTime, Utc};
use pitboss_core::time::{day_number, from_micros, to_micros};
use pitboss_store::{Db, Tx, db, exec, sqlx};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::PlayerError;

/// One thing a player did that moves the aggregates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    SessionStarted,
    DepositCompleted { amount: i64 },
    WithdrawalCompleted { amount: i64 },
    Round { stake: i64, win: i64 },
    BonusGranted { amount: i64 },
    BonusConverted { amount: i64 },
}

/// Counts and sums over a trailing window of days.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct WindowTotals {
    pub deposit_count: i64,
    pub deposit_sum: i64,
    pub withdrawal_count: i64,
    pub withdrawal_sum: i64,
    pub stake_sum: i64,
    pub win_sum: i64,
    /// Gross gaming revenue: stakes minus wins.
    pub ggr: i64,
    pub sessions_count: i64,
}

/// Everything the back office and segments want to know about a player's activity.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PlayerStats {
    pub player_id: Uuid,
    pub sessions_count: i64,
    pub last_session_at: Option<DateTime<Utc>>,
    pub deposit_count: i64,
    pub deposit_sum: i64,
    pub first_deposit_at: Option<DateTime<Utc>>,
    pub last_deposit_at: Option<DateTime<Utc>>,
    pub withdrawal_count: i64,
    pub withdrawal_sum: i64,
    pub last_withdrawal_at: Option<DateTime<Utc>>,
    pub rounds_count: i64,
    pub stake_sum: i64,
    pub win_sum: i64,
    /// Gross gaming revenue, lifetime: stakes minus wins.
    pub ggr: i64,
    pub bonus_granted_sum: i64,
    pub bonus_converted_sum: i64,
    pub last_activity_at: Option<DateTime<Utc>>,
    pub last_7_days: WindowTotals,
    pub last_30_days: WindowTotals,
    pub last_90_days: WindowTotals,
}

/// How one activity moves each counter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Delta {
    sessions: i64,
    deposit_count: i64,
    deposit_sum: i64,
    withdrawal_count: i64,
    withdrawal_sum: i64,
    rounds: i64,
    stake: i64,
    win: i64,
    bonus_granted: i64,
    bonus_converted: i64,
}

impl From<Activity> for Delta {
    fn from(a: Activity) -> Delta {
        let d = Delta::default();
        match a {
            Activity::SessionStarted => Delta { sessions: 1, ..d },
            Activity::DepositCompleted { amount } => Delta { deposit_count: 1, deposit_sum: amount, ..d },
            Activity::WithdrawalCompleted { amount } => Delta { withdrawal_count: 1, withdrawal_sum: amount, ..d },
            Activity::Round { stake, win } => Delta { rounds: 1, stake, win, ..d },
            Activity::BonusGranted { amount } => Delta { bonus_granted: amount, ..d },
            Activity::BonusConverted { amount } => Delta { bonus_converted: amount, ..d },
        }
    }
}

/// Applies one activity at `at` (when it happened) to the lifetime totals and its day's bucket.
/// First/last times take the earliest/latest seen, so events arriving out of order land right.
pub async fn record(
    tx: &mut Tx,
    player: Uuid,
    activity: Activity,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), PlayerError> {
    let d = Delta::from(activity);
    // One statement for every kind of activity, so the database prepares it once.
    exec!(
        tx,
        "UPDATE player_stats SET \
         sessions_count = sessions_count + $3, \
         last_session_at = CASE WHEN $3 > 0 AND (last_session_at IS NULL OR last_session_at < $2) THEN $2 ELSE last_session_at END, \
         deposit_count = deposit_count + $4, deposit_sum = deposit_sum + $5, \
         first_deposit_at = CASE WHEN $4 > 0 AND (first_deposit_at IS NULL OR first_deposit_at > $2) THEN $2 ELSE first_deposit_at END, \
         last_deposit_at = CASE WHEN $4 > 0 AND (last_deposit_at IS NULL OR last_deposit_at < $2) THEN $2 ELSE last_deposit_at END, \
         withdrawal_count = withdrawal_count + $6, withdrawal_sum = withdrawal_sum + $7, \
         last_withdrawal_at = CASE WHEN $6 > 0 AND (last_withdrawal_at IS NULL OR last_withdrawal_at < $2) THEN $2 ELSE last_withdrawal_at END, \
         rounds_count = rounds_count + $8, stake_sum = stake_sum + $9, win_sum = win_sum + $10, \
         bonus_granted_sum = bonus_granted_sum + $11, bonus_converted_sum = bonus_converted_sum + $12, \
         last_activity_at = CASE WHEN last_activity_at IS NULL OR last_activity_at < $2 THEN $2 ELSE last_activity_at END, \
         updated_at = $13 WHERE player_id = $1",
        player,
        to_micros(at),
        d.sessions,
        d.deposit_count,
        d.deposit_sum,
        d.withdrawal_count,
        d.withdrawal_sum,
        d.rounds,
        d.stake,
        d.win,
        d.bonus_granted,
        d.bonus_converted,
        to_micros(now),
    )?;
    if d.bonus_granted == 0 && d.bonus_converted == 0 {
        exec!(
            tx,
            "INSERT INTO player_daily (player_id, day, sessions_count, deposit_count, deposit_sum, withdrawal_count, \
             withdrawal_sum, rounds_count, stake_sum, win_sum) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (player_id, day) DO UPDATE SET \
             sessions_count = player_daily.sessions_count + excluded.sessions_count, \
             deposit_count = player_daily.deposit_count + excluded.deposit_count, \
             deposit_sum = player_daily.deposit_sum + excluded.deposit_sum, \
             withdrawal_count = player_daily.withdrawal_count + excluded.withdrawal_count, \
             withdrawal_sum = player_daily.withdrawal_sum + excluded.withdrawal_sum, \
             rounds_count = player_daily.rounds_count + excluded.rounds_count, \
             stake_sum = player_daily.stake_sum + excluded.stake_sum, \
             win_sum = player_daily.win_sum + excluded.win_sum",
            player,
            day_number(at),
            d.sessions,
            d.deposit_count,
            d.deposit_sum,
            d.withdrawal_count,
            d.withdrawal_sum,
            d.rounds,
            d.stake,
            d.win,
        )?;
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct StatsRow {
    sessions_count: i64,
    last_session_at: Option<i64>,
    deposit_count: i64,
    deposit_sum: i64,
    first_deposit_at: Option<i64>,
    last_deposit_at: Option<i64>,
    withdrawal_count: i64,
    withdrawal_sum: i64,
    last_withdrawal_at: Option<i64>,
    rounds_count: i64,
    stake_sum: i64,
    win_sum: i64,
    bonus_granted_sum: i64,
    bonus_converted_sum: i64,
    last_activity_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct DailyRow {
    day: i64,
    sessions_count: i64,
    deposit_count: i64,
    deposit_sum: i64,
    withdrawal_count: i64,
    withdrawal_sum: i64,
    stake_sum: i64,
    win_sum: i64,
}

/// The player's aggregates as of `now` (the trailing windows end today, UTC, inclusive).
pub async fn get(db: &Db, player: Uuid, now: DateTime<Utc>) -> Result<PlayerStats, PlayerError> {
    let row: Option<StatsRow> = db!(db, |c| {
        sqlx::query_as(
            "SELECT sessions_count, last_session_at, deposit_count, deposit_sum, first_deposit_at, last_deposit_at, \
             withdrawal_count, withdrawal_sum, last_withdrawal_at, rounds_count, stake_sum, win_sum, \
             bonus_granted_sum, bonus_converted_sum, last_activity_at FROM player_stats WHERE player_id = $1",
        )
        .bind(player)
        .fetch_optional(c)
        .await
    })?;
    let r = row.ok_or(PlayerError::NotFound(player))?;
    let today = day_number(now);
    let days: Vec<DailyRow> = db!(db, |c| {
        sqlx::query_as(
            "SELECT day, sessions_count, deposit_count, deposit_sum, withdrawal_count, withdrawal_sum, stake_sum, win_sum \
             FROM player_daily WHERE player_id = $1 AND day > $2",
        )
        .bind(player)
        .bind(today - 90)
        .fetch_all(c)
        .await
    })?;
    let window = |n: i64| {
        let mut w = WindowTotals::default();
        for d in days.iter().filter(|d| d.day > today - n && d.day <= today) {
            w.sessions_count += d.sessions_count;
            w.deposit_count += d.deposit_count;
            w.deposit_sum += d.deposit_sum;
            w.withdrawal_count += d.withdrawal_count;
            w.withdrawal_sum += d.withdrawal_sum;
            w.stake_sum += d.stake_sum;
            w.win_sum += d.win_sum;
        }
        w.ggr = w.stake_sum - w.win_sum;
        w
    };
    Ok(PlayerStats {
        player_id: player,
        sessions_count: r.sessions_count,
        last_session_at: r.last_session_at.map(from_micros),
        deposit_count: r.deposit_count,
        deposit_sum: r.deposit_sum,
        first_deposit_at: r.first_deposit_at.map(from_micros),
        last_deposit_at: r.last_deposit_at.map(from_micros),
        withdrawal_count: r.withdrawal_count,
        withdrawal_sum: r.withdrawal_sum,
        last_withdrawal_at: r.last_withdrawal_at.map(from_micros),
        rounds_count: r.rounds_count,
        stake_sum: r.stake_sum,
        win_sum: r.win_sum,
        ggr: r.stake_sum - r.win_sum,
        bonus_granted_sum: r.bonus_granted_sum,
        bonus_converted_sum: r.bonus_converted_sum,
        last_activity_at: r.last_activity_at.map(from_micros),
        last_7_days: window(7),
        last_30_days: window(30),
        last_90_days: window(90),
    })
}
