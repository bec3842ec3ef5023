//! Loading what the rule engine knows about players ([`PlayerFacts`]) from the profile and
//! aggregate tables, for evaluation in memory on the event path and for the "why" trace.
//!
//! The tables read are the ones the rule compiler's `FROM` documents (the profile, its tags,
//! the lifetime and daily aggregates), so the evaluator and the SQL see the same facts.

use std::collections::HashMap;

use chrono::NaiveDate;
use pitboss_core::event::Consents;
use pitboss_rules::catalog::MAX_WINDOW_DAYS;
use pitboss_rules::{CategoryPlayed, Day, Lifetime, PlayerFacts, Prediction};
use pitboss_store::{Db, Tx, placeholders, sqlx, tx};
use uuid::Uuid;

use crate::SegmentError;

const DAY_MICROS: i64 = 86_400_000_000;
/// Players per query: well inside both engines' parameter limits.
const CHUNK: usize = 500;

#[derive(sqlx::FromRow)]
struct ProfileRow {
    id: Uuid,
    country: String,
    language: Option<String>,
    gender: Option<String>,
    brand: String,
    currency: String,
    traffic_source: Option<String>,
    affiliate_id: Option<String>,
    campaign: Option<String>,
    vip_tier: String,
    kyc_status: String,
    status: String,
    birth_date: Option<String>,
    registered_at: i64,
    consent_email: bool,
    consent_sms: bool,
    consent_push: bool,
    consent_messenger: bool,
}

#[derive(sqlx::FromRow)]
struct DailyRow {
    player_id: Uuid,
    day: i64,
    sessions_count: i64,
    deposit_count: i64,
    deposit_sum: i64,
    withdrawal_count: i64,
    withdrawal_sum: i64,
    rounds_count: i64,
    stake_sum: i64,
    win_sum: i64,
    bonus_granted_sum: i64,
    bonus_converted_sum: i64,
    bonus_forfeited_sum: i64,
}

#[derive(sqlx::FromRow)]
struct StatsRow {
    player_id: Uuid,
    sessions_count: i64,
    deposit_count: i64,
    deposit_sum: i64,
    withdrawal_count: i64,
    withdrawal_sum: i64,
    rounds_count: i64,
    stake_sum: i64,
    win_sum: i64,
    bonus_granted_sum: i64,
    bonus_converted_sum: i64,
    bonus_forfeited_sum: i64,
    last_session_at: Option<i64>,
    first_deposit_at: Option<i64>,
    last_deposit_at: Option<i64>,
    last_activity_at: Option<i64>,
}

/// The facts of these players at `now` (players that do not exist are left out).
pub async fn load_in(tx: &mut Tx, players: &[Uuid], now: i64) -> Result<HashMap<Uuid, PlayerFacts>, SegmentError> {
    let mut facts = HashMap::with_capacity(players.len());
    for chunk in players.chunks(CHUNK) {
        load_chunk(tx, chunk, now, &mut facts).await?;
    }
    Ok(facts)
}

/// [`load_in`] outside any transaction of the caller's.
pub async fn load(db: &Db, players: &[Uuid], now: i64) -> Result<HashMap<Uuid, PlayerFacts>, SegmentError> {
    let mut tx = db.begin().await?;
    let facts = load_in(&mut tx, players, now).await?;
    tx.rollback().await?;
    Ok(facts)
}

async fn load_chunk(
    tx: &mut Tx,
    ids: &[Uuid],
    now: i64,
    out: &mut HashMap<Uuid, PlayerFacts>,
) -> Result<(), SegmentError> {
    let marks = placeholders(1, ids.len());
    let profile_sql = format!(
        "SELECT p.id, p.country, p.language, p.gender, p.brand, p.currency, p.traffic_source, p.affiliate_id, \
         p.campaign, p.vip_tier, p.kyc_status, p.status, p.birth_date, p.registered_at, p.consent_email, \
         p.consent_sms, p.consent_push, p.consent_messenger FROM players p WHERE p.id IN ({marks})"
    );
    let rows: Vec<ProfileRow> = of_players(tx, &profile_sql, ids, None).await?;
    out.extend(rows.into_iter().map(|r| (r.id, profile(r))));

    let stats_sql = format!(
        "SELECT player_id, sessions_count, deposit_count, deposit_sum, withdrawal_count, withdrawal_sum, \
         rounds_count, stake_sum, win_sum, bonus_granted_sum, bonus_converted_sum, bonus_forfeited_sum, last_session_at, \
         first_deposit_at, last_deposit_at, last_activity_at FROM player_stats WHERE player_id IN ({marks})"
    );
    let stats: Vec<StatsRow> = of_players(tx, &stats_sql, ids, None).await?;
    for s in stats {
        if let Some(f) = out.get_mut(&s.player_id) {
            f.lifetime = Lifetime {
                sessions: s.sessions_count,
                deposit_count: s.deposit_count,
                deposit_sum: s.deposit_sum,
                withdrawal_count: s.withdrawal_count,
                withdrawal_sum: s.withdrawal_sum,
                rounds: s.rounds_count,
                stake_sum: s.stake_sum,
                win_sum: s.win_sum,
                bonus_granted: s.bonus_granted_sum,
                bonus_converted: s.bonus_converted_sum,
                bonus_forfeited: s.bonus_forfeited_sum,
                last_session_at: s.last_session_at,
                first_deposit_at: s.first_deposit_at,
                last_deposit_at: s.last_deposit_at,
                last_activity_at: s.last_activity_at,
            };
        }
    }

    // Only the days a window can reach.
    let first_day = now.div_euclid(DAY_MICROS) - MAX_WINDOW_DAYS;
    let daily_sql = format!(
        "SELECT player_id, day, sessions_count, deposit_count, deposit_sum, withdrawal_count, withdrawal_sum, \
         rounds_count, stake_sum, win_sum, bonus_granted_sum, bonus_converted_sum, bonus_forfeited_sum \
         FROM player_daily WHERE player_id IN ({marks}) AND day > ${}",
        ids.len() + 1
    );
    let days: Vec<DailyRow> = of_players(tx, &daily_sql, ids, Some(first_day)).await?;
    for d in days {
        if let Some(f) = out.get_mut(&d.player_id) {
            f.daily.push(Day {
                day: d.day,
                sessions: d.sessions_count,
                deposit_count: d.deposit_count,
                deposit_sum: d.deposit_sum,
                withdrawal_count: d.withdrawal_count,
                withdrawal_sum: d.withdrawal_sum,
                rounds: d.rounds_count,
                stake_sum: d.stake_sum,
                win_sum: d.win_sum,
                bonus_granted: d.bonus_granted_sum,
                bonus_converted: d.bonus_converted_sum,
                bonus_forfeited: d.bonus_forfeited_sum,
            });
        }
    }

    let tags_sql = format!("SELECT player_id, tag FROM player_tags WHERE player_id IN ({marks})");
    let tags: Vec<(Uuid, String)> = of_players(tx, &tags_sql, ids, None).await?;
    for (id, tag) in tags {
        if let Some(f) = out.get_mut(&id) {
            f.tags.push(tag);
        }
    }

    let categories_sql =
        format!("SELECT player_id, category, last_played FROM player_categories WHERE player_id IN ({marks})");
    let categories: Vec<(Uuid, String, i64)> = of_players(tx, &categories_sql, ids, None).await?;
    for (id, category, last_played) in categories {
        if let Some(f) = out.get_mut(&id) {
            f.categories.push(CategoryPlayed { category, last_played });
        }
    }

    let segments_sql = format!(
        "SELECT m.player_id, g.name FROM segment_members m JOIN segments g ON g.id = m.segment_id \
         WHERE m.player_id IN ({marks})"
    );
    let segments: Vec<(Uuid, String)> = of_players(tx, &segments_sql, ids, None).await?;
    for (id, name) in segments {
        if let Some(f) = out.get_mut(&id) {
            f.segments.push(name);
        }
    }

    let predictions_sql = format!(
        "SELECT player_id, churn_risk, active_percent, expected_30d, expected_90d, predicted_value \
         FROM player_predictions WHERE player_id IN ({marks})"
    );
    let predictions: Vec<(Uuid, String, i64, f64, f64, i64)> = of_players(tx, &predictions_sql, ids, None).await?;
    for (id, churn_risk, active_percent, expected_30d, expected_90d, predicted_value) in predictions {
        if let Some(f) = out.get_mut(&id) {
            f.prediction = Some(Prediction { churn_risk, active_percent, expected_30d, expected_90d, predicted_value });
        }
    }
    Ok(())
}

/// Runs `sql` with the player ids bound first (`IN ($1..$n)`) and `then` after them.
async fn of_players<T>(tx: &mut Tx, sql: &str, ids: &[Uuid], then: Option<i64>) -> Result<Vec<T>, SegmentError>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
    T: Send + Unpin,
{
    let rows = tx!(tx, |c| {
        let mut q = sqlx::query_as::<_, T>(sql);
        for id in ids {
            q = q.bind(*id);
        }
        if let Some(v) = then {
            q = q.bind(v);
        }
        q.fetch_all(c).await
    })?;
    Ok(rows)
}

fn profile(r: ProfileRow) -> PlayerFacts {
    PlayerFacts {
        country: r.country,
        language: r.language,
        gender: r.gender,
        brand: r.brand,
        // A currency the money module does not know cannot be compared with anything.
        currency: r.currency.parse().ok(),
        traffic_source: r.traffic_source,
        affiliate: r.affiliate_id,
        campaign: r.campaign,
        vip_tier: r.vip_tier,
        kyc_status: r.kyc_status,
        status: r.status,
        birth_date: r.birth_date.and_then(|b| NaiveDate::parse_from_str(&b, "%Y-%m-%d").ok()),
        registered_at: r.registered_at,
        tags: Vec::new(),
        consents: Consents {
            email: r.consent_email,
            sms: r.consent_sms,
            push: r.consent_push,
            messenger: r.consent_messenger,
        },
        lifetime: Lifetime::default(),
        daily: Vec::new(),
        categories: Vec::new(),
        segments: Vec::new(),
        prediction: None,
        event: None,
    }
}
