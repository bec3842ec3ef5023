//! Responsible-gambling limits: how much a player may deposit, wager or lose, and how long they
//! may play, per day, week or month (rolling: the last 24 hours, 7 days, 30 days), and how often
//! a reality check interrupts play; set by the player or imposed by an operator. Money limits
//! are in a currency; time limits and the reality check in minutes.
//!
//! A player's decrease applies at once; an increase or a removal waits for the cooling-off of
//! the player's jurisdiction, and while it waits no other increase is taken (a decrease still
//! is, and cancels it). An operator's limit applies at once either way. The tightest limit in
//! force binds. Every change is a row; none is edited but to mark a waiting change cancelled.

use chrono::{DateTime, Duration, Utc};
use pitboss_core::money::{Currency, MAX_AMOUNT};
use pitboss_core::new_id;
use pitboss_core::time::{from_micros, to_micros};
use pitboss_rules::Rates;
use pitboss_store::{Db, Tx, db, exec, sqlx, tx};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::OpsError;
use crate::jurisdictions::Jurisdictions;

pitboss_core::string_enum!(
    /// What a limit measures: money deposited, money staked (wagered), or money lost (stakes
    /// less wins) over its window; minutes played in sessions (`session_time`); or the minutes
    /// between reality checks (`reality_check`, which has no window: its period is `day`).
    LimitKind {
        Deposit => "deposit",
        Wager => "wager",
        Loss => "loss",
        SessionTime => "session_time",
        RealityCheck => "reality_check",
    }
);

impl LimitKind {
    /// Whether the limit is a number of minutes rather than money.
    pub fn in_minutes(self) -> bool {
        matches!(self, LimitKind::SessionTime | LimitKind::RealityCheck)
    }
}

/// The most minutes a time limit may be: a month's.
pub const MAX_MINUTES: i64 = 30 * 24 * 60;

pitboss_core::string_enum!(
    /// The rolling window a limit counts over.
    LimitPeriod { Day => "day", Week => "week", Month => "month" }
);

pitboss_core::string_enum!(
    /// Who set a limit.
    LimitOrigin { Player => "player", Operator => "operator" }
);

impl LimitPeriod {
    /// How far back the window reaches.
    pub fn window(self) -> Duration {
        match self {
            LimitPeriod::Day => Duration::days(1),
            LimitPeriod::Week => Duration::days(7),
            LimitPeriod::Month => Duration::days(30),
        }
    }
}

/// One change of one limit.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LimitChange {
    pub id: Uuid,
    pub player_id: Uuid,
    pub kind: LimitKind,
    pub period: LimitPeriod,
    pub origin: LimitOrigin,
    /// Minor units of `currency`, or minutes for a time limit; absent when the change removes
    /// the limit.
    pub amount: Option<i64>,
    /// The money limit's currency; none for a time limit.
    pub currency: Option<Currency>,
    pub reason: Option<String>,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    /// When it applies: at once, or after the cooling-off.
    pub effective_at: DateTime<Utc>,
    /// Set when a later change replaced it before it applied.
    pub cancelled_at: Option<DateTime<Utc>>,
}

impl LimitChange {
    /// The limit as people read it: `500.00 EUR`, `120 minutes`, or `removed`.
    pub fn amount_text(&self) -> String {
        match (self.amount, self.currency) {
            (None, _) => "removed".into(),
            (Some(a), Some(c)) => pitboss_core::money::Money::new(a, c).to_string(),
            (Some(a), None) => format!("{a} minutes"),
        }
    }
}

/// A limit to set (or, with no amount, to remove).
#[derive(Debug, Clone)]
pub struct NewLimit<'a> {
    pub player: Uuid,
    pub kind: LimitKind,
    pub period: LimitPeriod,
    pub origin: LimitOrigin,
    pub amount: Option<i64>,
    pub currency: Option<Currency>,
    pub reason: Option<&'a str>,
    pub requested_by: &'a str,
}

/// Records a change in `tx` and says when it applies.
pub async fn set(
    tx: &mut Tx,
    profiles: &Jurisdictions,
    rates: &Rates,
    new: &NewLimit<'_>,
    now: DateTime<Utc>,
) -> Result<LimitChange, OpsError> {
    match (new.kind.in_minutes(), new.currency) {
        (true, Some(_)) => {
            return Err(OpsError::invalid("currency", "a time limit is in minutes: leave the currency out"));
        }
        (false, None) => return Err(OpsError::invalid("currency", "a money limit needs its currency (ISO 4217)")),
        _ => {}
    }
    if new.kind == LimitKind::RealityCheck && new.period != LimitPeriod::Day {
        return Err(OpsError::invalid("period", "a reality check has no window: give the period as day"));
    }
    let (most, unit) = if new.kind.in_minutes() { (MAX_MINUTES, "minutes") } else { (MAX_AMOUNT, "minor units") };
    if let Some(amount) = new.amount
        && !(1..=most).contains(&amount)
    {
        return Err(OpsError::invalid("amount", format!("1 to {most} {unit}; leave it out to remove the limit")));
    }
    let reason = new.reason.map(str::trim).filter(|r| !r.is_empty()).map(str::to_string);
    let player = pitboss_players::get_in(tx, new.player).await?;
    let profile = profiles.for_country(&player.country);
    let sql = format!(
        "SELECT {COLUMNS} FROM rg_limits WHERE player_id = $1 AND kind = $2 AND period = $3 AND origin = $4 \
         AND cancelled_at IS NULL ORDER BY effective_at, id"
    );
    let rows: Vec<LimitRow> = tx!(tx, |c| sqlx::query_as(&sql)
        .bind(new.player)
        .bind(new.kind.as_str())
        .bind(new.period.as_str())
        .bind(new.origin.as_str())
        .fetch_all(c)
        .await)?;
    let changes = rows.into_iter().map(LimitRow::into_change).collect::<Result<Vec<_>, _>>()?;
    let current = changes.iter().rev().find(|c| c.effective_at <= now);
    let waiting: Vec<&LimitChange> = changes.iter().filter(|c| c.effective_at > now).collect();
    let tighter = match (new.amount, current.and_then(|c| c.amount.map(|a| (a, c.currency)))) {
        (None, _) => false,
        (Some(_), None) => true,
        // Compared in one currency; without a rate it cannot be shown tighter, so it waits.
        (Some(n), Some((c, currency))) => match (new.currency, currency) {
            (Some(from), Some(to)) => rates.convert(n, from, to).is_some_and(|n| n < c),
            _ => n < c,
        },
    };
    let effective_at = if new.origin == LimitOrigin::Operator || tighter {
        now
    } else if let Some(w) = waiting.first() {
        return Err(OpsError::CoolingOff { until: w.effective_at.to_rfc3339() });
    } else {
        now + Duration::hours(i64::from(profile.limit_increase_cooling_off_hours))
    };
    // What applies now replaces whatever was still waiting.
    if effective_at == now {
        let at = to_micros(now);
        for w in &waiting {
            exec!(tx, "UPDATE rg_limits SET cancelled_at = $1 WHERE id = $2", at, w.id)?;
        }
    }
    let change = LimitChange {
        id: new_id(),
        player_id: new.player,
        kind: new.kind,
        period: new.period,
        origin: new.origin,
        amount: new.amount,
        currency: new.currency,
        reason,
        requested_by: new.requested_by.to_string(),
        requested_at: from_micros(to_micros(now)),
        effective_at: from_micros(to_micros(effective_at)),
        cancelled_at: None,
    };
    exec!(
        tx,
        "INSERT INTO rg_limits (id, player_id, kind, period, origin, amount, currency, reason, requested_by, \
         requested_at, effective_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        change.id,
        change.player_id,
        change.kind.as_str(),
        change.period.as_str(),
        change.origin.as_str(),
        change.amount,
        change.currency.as_ref().map_or("", Currency::as_str),
        change.reason.as_deref(),
        &change.requested_by,
        to_micros(change.requested_at),
        to_micros(change.effective_at)
    )?;
    crate::announce(tx, "ops.limit.changed", new.player, "limit", &change, now).await?;
    Ok(change)
}

/// Every change of a player's limits, newest first.
pub async fn changes(db: &Db, player: Uuid) -> Result<Vec<LimitChange>, OpsError> {
    let sql = format!("SELECT {COLUMNS} FROM rg_limits WHERE player_id = $1 ORDER BY requested_at DESC, id DESC");
    let rows: Vec<LimitRow> = db!(db, |c| sqlx::query_as(&sql).bind(player).fetch_all(c).await)?;
    rows.into_iter().map(LimitRow::into_change).collect()
}

/// The limits in force at `now`: per kind, period and origin, the latest change in effect, if it
/// sets an amount.
pub async fn in_force(db: &Db, player: Uuid, now: DateTime<Utc>) -> Result<Vec<LimitChange>, OpsError> {
    let mut all = changes(db, player).await?;
    all.retain(|c| c.cancelled_at.is_none() && c.effective_at <= now);
    all.sort_by_key(|c| (c.kind, c.period, c.origin, std::cmp::Reverse((c.effective_at, c.id))));
    all.dedup_by_key(|c| (c.kind, c.period, c.origin));
    all.retain(|c| c.amount.is_some());
    Ok(all)
}

const COLUMNS: &str = "id, player_id, kind, period, origin, amount, currency, reason, requested_by, requested_at, \
                       effective_at, cancelled_at";

#[derive(sqlx::FromRow)]
struct LimitRow {
    id: Uuid,
    player_id: Uuid,
    kind: String,
    period: String,
    origin: String,
    amount: Option<i64>,
    currency: String,
    reason: Option<String>,
    requested_by: String,
    requested_at: i64,
    effective_at: i64,
    cancelled_at: Option<i64>,
}

impl LimitRow {
    fn into_change(self) -> Result<LimitChange, OpsError> {
        let id = self.id;
        let bad = |e: String| OpsError::Store(pitboss_store::StoreError::Config(format!("limit change {id}: {e}")));
        Ok(LimitChange {
            id,
            player_id: self.player_id,
            kind: self.kind.parse().map_err(bad)?,
            period: self.period.parse().map_err(bad)?,
            origin: self.origin.parse().map_err(bad)?,
            amount: self.amount,
            // A time limit stores no currency.
            currency: match self.currency.as_str() {
                "" => None,
                c => Some(c.parse().map_err(|e: pitboss_core::money::CurrencyError| bad(e.to_string()))?),
            },
            reason: self.reason,
            requested_by: self.requested_by,
            requested_at: from_micros(self.requested_at),
            effective_at: from_micros(self.effective_at),
            cancelled_at: self.cancelled_at.map(from_micros),
        })
    }
}
