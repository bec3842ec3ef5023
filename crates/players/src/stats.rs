//! The player's activity aggregates: lifetime totals, daily buckets for trailing windows, and
//! one row per game category played (lifetime figures with when it was first and last played,
//! so "played in the last N days" needs no daily row per category).
//!
//! Amounts are in the player's wallet currency (ingest refuses money events in any other).

use chrono::{DateTime, Utc};
use pitboss_core::time::{day_number, from_micros, to_micros};
use std::collections::BTreeMap;

use pitboss_store::{Arg, Db, Tx, db, exec_values, sqlx};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::PlayerError;

/// One thing a player did that moves the aggregates. A round carries its game's category as
/// sent; it is kept as [`category`] normalises it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Activity {
    SessionStarted,
    DepositCompleted { amount: i64 },
    WithdrawalCompleted { amount: i64 },
    Round { stake: i64, win: i64, category: String },
    BonusGranted { amount: i64 },
    BonusConverted { amount: i64 },
    BonusForfeited { amount: i64 },
}

/// Longest game category kept, in characters.
pub const CATEGORY_MAX: usize = 64;

/// A game category as kept and compared: trimmed and lower-cased (`" Live_Casino"` is
/// `live_casino`), 1 to [`CATEGORY_MAX`] characters. The platform's spelling varies between
/// providers; one spelling per category keeps a player's categories (and rules over them) from
/// splitting.
pub fn category(s: &str) -> Result<String, PlayerError> {
    let c = s.trim().to_lowercase();
    let len = c.chars().count();
    if len == 0 {
        Err(PlayerError::invalid("category", "must not be empty (e.g. slots, live_casino, table, crash)"))
    } else if len > CATEGORY_MAX {
        Err(PlayerError::invalid(
            "category",
            format!("is {len} characters long; a game category is a short name (e.g. slots) of at most {CATEGORY_MAX}"),
        ))
    } else {
        Ok(c)
    }
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
    pub bonus_granted_sum: i64,
    pub bonus_converted_sum: i64,
    pub bonus_forfeited_sum: i64,
}

/// A game category the player has played, over their lifetime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CategoryStats {
    /// Trimmed and lower-cased, e.g. `live_casino`.
    pub category: String,
    pub rounds_count: i64,
    pub stake_sum: i64,
    pub first_played: DateTime<Utc>,
    pub last_played: DateTime<Utc>,
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
    pub bonus_forfeited_sum: i64,
    pub last_activity_at: Option<DateTime<Utc>>,
    pub last_7_days: WindowTotals,
    pub last_30_days: WindowTotals,
    pub last_90_days: WindowTotals,
    /// Every game category played, by name.
    pub categories: Vec<CategoryStats>,
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
    bonus_forfeited: i64,
}

impl Delta {
    fn add(&mut self, o: &Delta) {
        self.sessions += o.sessions;
        self.deposit_count += o.deposit_count;
        self.deposit_sum += o.deposit_sum;
        self.withdrawal_count += o.withdrawal_count;
        self.withdrawal_sum += o.withdrawal_sum;
        self.rounds += o.rounds;
        self.stake += o.stake;
        self.win += o.win;
        self.bonus_granted += o.bonus_granted;
        self.bonus_converted += o.bonus_converted;
        self.bonus_forfeited += o.bonus_forfeited;
    }
}

impl From<&Activity> for Delta {
    fn from(a: &Activity) -> Delta {
        let d = Delta::default();
        match *a {
            Activity::SessionStarted => Delta { sessions: 1, ..d },
            Activity::DepositCompleted { amount } => Delta { deposit_count: 1, deposit_sum: amount, ..d },
            Activity::WithdrawalCompleted { amount } => Delta { withdrawal_count: 1, withdrawal_sum: amount, ..d },
            Activity::Round { stake, win, .. } => Delta { rounds: 1, stake, win, ..d },
            Activity::BonusGranted { amount } => Delta { bonus_granted: amount, ..d },
            Activity::BonusConverted { amount } => Delta { bonus_converted: amount, ..d },
            Activity::BonusForfeited { amount } => Delta { bonus_forfeited: amount, ..d },
        }
    }
}

/// Applies one activity at `at` (when it happened) to the lifetime totals and its day's bucket.
pub async fn record(
    tx: &mut Tx,
    player: Uuid,
    activity: Activity,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), PlayerError> {
    record_many(tx, &[(player, activity, at)], now).await
}

/// What a run of activities adds to one player's lifetime totals.
#[derive(Default)]
struct Totals {
    delta: Delta,
    last_session: Option<i64>,
    first_deposit: Option<i64>,
    last_deposit: Option<i64>,
    last_withdrawal: Option<i64>,
    last_activity: Option<i64>,
}

/// What a run of rounds adds to one player's row of one category.
struct Played {
    rounds: i64,
    stake: i64,
    first: i64,
    last: i64,
}

fn latest(a: Option<i64>, b: i64) -> Option<i64> {
    Some(a.map_or(b, |a| a.max(b)))
}

/// Applies many activities with one statement per table. First/last times take the
/// earliest/latest seen, so events arriving out of order land right.
pub async fn record_many(
    tx: &mut Tx,
    activities: &[(Uuid, Activity, DateTime<Utc>)],
    now: DateTime<Utc>,
) -> Result<(), PlayerError> {
    let now_us = to_micros(now);
    let mut players: BTreeMap<Uuid, Totals> = BTreeMap::new();
    let mut days: BTreeMap<(Uuid, i64), Delta> = BTreeMap::new();
    // One row per key: PostgreSQL refuses to upsert the same row twice in one statement.
    let mut categories: BTreeMap<(Uuid, String), Played> = BTreeMap::new();
    for (player, activity, at) in activities {
        let (d, at_us) = (Delta::from(activity), to_micros(*at));
        let t = players.entry(*player).or_default();
        t.delta.add(&d);
        t.last_activity = latest(t.last_activity, at_us);
        if d.sessions > 0 {
            t.last_session = latest(t.last_session, at_us);
        }
        if d.deposit_count > 0 {
            t.first_deposit = Some(t.first_deposit.map_or(at_us, |f| f.min(at_us)));
            t.last_deposit = latest(t.last_deposit, at_us);
        }
        if d.withdrawal_count > 0 {
            t.last_withdrawal = latest(t.last_withdrawal, at_us);
        }
        if let Activity::Round { stake, category: name, .. } = activity {
            let p = categories.entry((*player, category(name)?)).or_insert(Played {
                rounds: 0,
                stake: 0,
                first: at_us,
                last: at_us,
            });
            p.rounds += 1;
            p.stake += stake;
            p.first = p.first.min(at_us);
            p.last = p.last.max(at_us);
        }
        days.entry((*player, day_number(*at))).or_default().add(&d);
    }
    let rows: Vec<Vec<Arg>> = players
        .into_iter()
        .map(|(player, t)| {
            let d = t.delta;
            vec![
                Arg::Id(player),
                Arg::Int(d.sessions),
                Arg::OptInt(t.last_session),
                Arg::Int(d.deposit_count),
                Arg::Int(d.deposit_sum),
                Arg::OptInt(t.first_deposit),
                Arg::OptInt(t.last_deposit),
                Arg::Int(d.withdrawal_count),
                Arg::Int(d.withdrawal_sum),
                Arg::OptInt(t.last_withdrawal),
                Arg::Int(d.rounds),
                Arg::Int(d.stake),
                Arg::Int(d.win),
                Arg::Int(d.bonus_granted),
                Arg::Int(d.bonus_converted),
                Arg::Int(d.bonus_forfeited),
                Arg::OptInt(t.last_activity),
                Arg::Int(now_us),
            ]
        })
        .collect();
    exec_values(
        tx,
        "WITH v (player_id, sessions, last_session, deposits, deposited, first_deposit, last_deposit, withdrawals, \
         withdrawn, last_withdrawal, rounds, staked, won, bonus_granted, bonus_converted, bonus_forfeited, last_activity, \
         at) AS (VALUES {values}) \
         UPDATE player_stats SET \
         sessions_count = sessions_count + v.sessions, \
         last_session_at = CASE WHEN v.last_session IS NOT NULL AND (last_session_at IS NULL OR last_session_at < v.last_session) THEN v.last_session ELSE last_session_at END, \
         deposit_count = deposit_count + v.deposits, deposit_sum = deposit_sum + v.deposited, \
         first_deposit_at = CASE WHEN v.first_deposit IS NOT NULL AND (first_deposit_at IS NULL OR first_deposit_at > v.first_deposit) THEN v.first_deposit ELSE first_deposit_at END, \
         last_deposit_at = CASE WHEN v.last_deposit IS NOT NULL AND (last_deposit_at IS NULL OR last_deposit_at < v.last_deposit) THEN v.last_deposit ELSE last_deposit_at END, \
         withdrawal_count = withdrawal_count + v.withdrawals, withdrawal_sum = withdrawal_sum + v.withdrawn, \
         last_withdrawal_at = CASE WHEN v.last_withdrawal IS NOT NULL AND (last_withdrawal_at IS NULL OR last_withdrawal_at < v.last_withdrawal) THEN v.last_withdrawal ELSE last_withdrawal_at END, \
         rounds_count = rounds_count + v.rounds, stake_sum = stake_sum + v.staked, win_sum = win_sum + v.won, \
         bonus_granted_sum = bonus_granted_sum + v.bonus_granted, bonus_converted_sum = bonus_converted_sum + v.bonus_converted, \
         bonus_forfeited_sum = bonus_forfeited_sum + v.bonus_forfeited, \
         last_activity_at = CASE WHEN v.last_activity IS NOT NULL AND (last_activity_at IS NULL OR last_activity_at < v.last_activity) THEN v.last_activity ELSE last_activity_at END, \
         updated_at = v.at FROM v WHERE player_stats.player_id = v.player_id",
        &rows,
    )
    .await?;
    let day_rows: Vec<Vec<Arg>> = days
        .into_iter()
        .map(|((player, day), d)| {
            vec![
                Arg::Id(player),
                Arg::Int(day),
                Arg::Int(d.sessions),
                Arg::Int(d.deposit_count),
                Arg::Int(d.deposit_sum),
                Arg::Int(d.withdrawal_count),
                Arg::Int(d.withdrawal_sum),
                Arg::Int(d.rounds),
                Arg::Int(d.stake),
                Arg::Int(d.win),
                Arg::Int(d.bonus_granted),
                Arg::Int(d.bonus_converted),
                Arg::Int(d.bonus_forfeited),
            ]
        })
        .collect();
    exec_values(
        tx,
        "INSERT INTO player_daily (player_id, day, sessions_count, deposit_count, deposit_sum, withdrawal_count, \
         withdrawal_sum, rounds_count, stake_sum, win_sum, bonus_granted_sum, bonus_converted_sum, bonus_forfeited_sum) \
         VALUES {values} \
         ON CONFLICT (player_id, day) DO UPDATE SET \
         sessions_count = player_daily.sessions_count + excluded.sessions_count, \
         deposit_count = player_daily.deposit_count + excluded.deposit_count, \
         deposit_sum = player_daily.deposit_sum + excluded.deposit_sum, \
         withdrawal_count = player_daily.withdrawal_count + excluded.withdrawal_count, \
         withdrawal_sum = player_daily.withdrawal_sum + excluded.withdrawal_sum, \
         rounds_count = player_daily.rounds_count + excluded.rounds_count, \
         stake_sum = player_daily.stake_sum + excluded.stake_sum, \
         win_sum = player_daily.win_sum + excluded.win_sum, \
         bonus_granted_sum = player_daily.bonus_granted_sum + excluded.bonus_granted_sum, \
         bonus_converted_sum = player_daily.bonus_converted_sum + excluded.bonus_converted_sum, \
         bonus_forfeited_sum = player_daily.bonus_forfeited_sum + excluded.bonus_forfeited_sum",
        &day_rows,
    )
    .await?;
    let category_rows: Vec<Vec<Arg>> = categories
        .into_iter()
        .map(|((player, name), p)| {
            vec![
                Arg::Id(player),
                Arg::Text(name),
                Arg::Int(p.rounds),
                Arg::Int(p.stake),
                Arg::Int(p.first),
                Arg::Int(p.last),
            ]
        })
        .collect();
    // CASE rather than MIN/MAX: the two-argument forms differ between the engines.
    exec_values(
        tx,
        "INSERT INTO player_categories (player_id, category, rounds_count, stake_sum, first_played, last_played) \
         VALUES {values} ON CONFLICT (player_id, category) DO UPDATE SET \
         rounds_count = player_categories.rounds_count + excluded.rounds_count, \
         stake_sum = player_categories.stake_sum + excluded.stake_sum, \
         first_played = CASE WHEN excluded.first_played < player_categories.first_played \
         THEN excluded.first_played ELSE player_categories.first_played END, \
         last_played = CASE WHEN excluded.last_played > player_categories.last_played \
         THEN excluded.last_played ELSE player_categories.last_played END",
        &category_rows,
    )
    .await?;
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
    bonus_forfeited_sum: i64,
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
    bonus_granted_sum: i64,
    bonus_converted_sum: i64,
    bonus_forfeited_sum: i64,
}

/// The player's aggregates as of `now` (the trailing windows end today, UTC, inclusive).
pub async fn get(db: &Db, player: Uuid, now: DateTime<Utc>) -> Result<PlayerStats, PlayerError> {
    let row: Option<StatsRow> = db!(db, |c| {
        sqlx::query_as(
            "SELECT sessions_count, last_session_at, deposit_count, deposit_sum, first_deposit_at, last_deposit_at, \
             withdrawal_count, withdrawal_sum, last_withdrawal_at, rounds_count, stake_sum, win_sum, \
             bonus_granted_sum, bonus_converted_sum, bonus_forfeited_sum, last_activity_at \
             FROM player_stats WHERE player_id = $1",
        )
        .bind(player)
        .fetch_optional(c)
        .await
    })?;
    let r = row.ok_or(PlayerError::NotFound(player))?;
    let today = day_number(now);
    let days: Vec<DailyRow> = db!(db, |c| {
        sqlx::query_as(
            "SELECT day, sessions_count, deposit_count, deposit_sum, withdrawal_count, withdrawal_sum, stake_sum, win_sum, \
             bonus_granted_sum, bonus_converted_sum, bonus_forfeited_sum FROM player_daily WHERE player_id = $1 AND day > $2",
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
            w.bonus_granted_sum += d.bonus_granted_sum;
            w.bonus_converted_sum += d.bonus_converted_sum;
            w.bonus_forfeited_sum += d.bonus_forfeited_sum;
        }
        w.ggr = w.stake_sum - w.win_sum;
        w
    };
    let categories: Vec<(String, i64, i64, i64, i64)> = db!(db, |c| {
        sqlx::query_as(
            "SELECT category, rounds_count, stake_sum, first_played, last_played FROM player_categories \
             WHERE player_id = $1 ORDER BY category",
        )
        .bind(player)
        .fetch_all(c)
        .await
    })?;
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
        bonus_forfeited_sum: r.bonus_forfeited_sum,
        last_activity_at: r.last_activity_at.map(from_micros),
        last_7_days: window(7),
        last_30_days: window(30),
        last_90_days: window(90),
        categories: categories
            .into_iter()
            .map(|(category, rounds_count, stake_sum, first, last)| CategoryStats {
                category,
                rounds_count,
                stake_sum,
                first_played: from_micros(first),
                last_played: from_micros(last),
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_are_trimmed_lower_cased_and_short() {
        assert_eq!(category(" Live_Casino\t").unwrap(), "live_casino");
        assert_eq!(category("SLOTS").unwrap(), "slots");
        assert_eq!(category(&"ü".repeat(CATEGORY_MAX)).unwrap().chars().count(), CATEGORY_MAX);
        for bad in ["", "  ", &"c".repeat(CATEGORY_MAX + 1)] {
            match category(bad) {
                Err(PlayerError::Invalid { field: "category", message }) => {
                    assert!(!message.is_empty(), "{bad:?}")
                }
                other => panic!("{bad:?}: expected a category error, got {other:?}"),
            }
        }
        let long = category(&"c".repeat(100)).unwrap_err().to_string();
        assert!(long.contains("100 characters") && long.contains("at most 64"), "{long}");
    }
}
