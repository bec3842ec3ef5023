//! "May this player do this now?": the casino platform asks before a deposit, a withdrawal, a
//! session, a stake or a bonus, and gets allow or deny with the reason.
//!
//! What is honoured, in order: the account's status (a blocked account does nothing; a closed or
//! self-excluded one may still withdraw what it holds), then a time-out or self-exclusion in
//! force (withdrawals stay open), then every lock in force that covers the activity, then, for a
//! deposit, every deposit limit in force and the jurisdiction's deposit cap, measured in the
//! player's currency through the reference rates (a limit in a currency without a rate denies
//! rather than being skipped); for a stake, every wager and loss limit; for a session, every
//! session-time limit, with the minutes left and the reality-check interval in the answer.

use chrono::{DateTime, Datelike, TimeZone, Utc};
use pitboss_core::money::{Currency, MAX_AMOUNT};
use pitboss_players::{Player, PlayerStatus};
use pitboss_rules::Rates;
use pitboss_store::Db;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::exclusions::{self, ExclusionKind};
use crate::jurisdictions::Jurisdictions;
use crate::limits::{self, LimitChange, LimitKind};
use crate::{OpsError, locks, sessions};

pitboss_core::string_enum!(
    /// What the player is about to do.
    Activity {
        Deposit => "deposit",
        Withdrawal => "withdrawal",
        Session => "session",
        Stake => "stake",
        Bonus => "bonus",
    }
);

/// The question.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    pub activity: Activity,
    /// Minor units, for a deposit, withdrawal, stake or bonus: what limits are measured against.
    pub amount: Option<i64>,
    /// ISO 4217; required with `amount`.
    pub currency: Option<Currency>,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CheckAnswer {
    pub allowed: bool,
    /// Why not: `account_blocked`, `account_closed`, `self_excluded`, `timed_out`, `locked`,
    /// `deposit_limit`, `wager_limit`, `loss_limit`, `session_time_limit` or `no_rate` (an
    /// amount or limit in a currency without a reference rate).
    pub code: Option<String>,
    /// Why not, for a person.
    pub reason: Option<String>,
    /// The lock that denies it.
    pub lock_id: Option<Uuid>,
    /// For a deposit or a stake under a limit or cap: what the tightest one still leaves.
    pub headroom: Option<Headroom>,
    /// For a session under a session-time limit: the minutes the tightest one still leaves.
    pub time_left_minutes: Option<i64>,
    /// For a session: how often to interrupt play with a reality check (the player's or an
    /// operator's interval, else the jurisdiction's).
    pub reality_check_minutes: Option<i64>,
}

/// What a limit still leaves, in the player's currency.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Headroom {
    /// Minor units; zero or less when the limit is used up.
    pub amount: i64,
    pub currency: Currency,
    /// Which limit, e.g. `deposit limit per day (player)`.
    pub limit: String,
}

impl CheckAnswer {
    fn allow() -> CheckAnswer {
        CheckAnswer {
            allowed: true,
            code: None,
            reason: None,
            lock_id: None,
            headroom: None,
            time_left_minutes: None,
            reality_check_minutes: None,
        }
    }

    fn deny(code: &str, reason: String, lock_id: Option<Uuid>) -> CheckAnswer {
        CheckAnswer { allowed: false, code: Some(code.into()), reason: Some(reason), lock_id, ..CheckAnswer::allow() }
    }
}

/// What the checks read about a player besides the profile: the break, the locks and the
/// limits in force.
#[derive(Debug, Clone)]
pub struct Standing {
    exclusion: Option<exclusions::Exclusion>,
    locks: Vec<locks::Lock>,
    limits: Vec<LimitChange>,
}

/// Reads a player's standing at `now`, the three reads at once: an answer waits for one round
/// trip, not three. It needs only the player's id, so a caller may read it while it reads the
/// profile.
pub async fn standing(db: &Db, player: Uuid, now: DateTime<Utc>) -> Result<Standing, OpsError> {
    let (exclusion, locks, limits) = tokio::try_join!(
        exclusions::in_force(db, player, now),
        locks::in_force(db, player, now),
        limits::in_force(db, player, now)
    )?;
    Ok(Standing { exclusion, locks, limits })
}

/// Answers the question for `profile`'s player at `now`.
pub async fn check(
    db: &Db,
    profiles: &Jurisdictions,
    rates: &Rates,
    profile: &Player,
    q: &CheckRequest,
    now: DateTime<Utc>,
) -> Result<CheckAnswer, OpsError> {
    let standing = standing(db, profile.id, now).await?;
    check_with(db, profiles, rates, profile, standing, q, now).await
}

/// Answers the question for `profile`'s player at `now`, from their standing read before.
pub async fn check_with(
    db: &Db,
    profiles: &Jurisdictions,
    rates: &Rates,
    profile: &Player,
    standing: Standing,
    q: &CheckRequest,
    now: DateTime<Utc>,
) -> Result<CheckAnswer, OpsError> {
    validate(q)?;
    let withdrawing = q.activity == Activity::Withdrawal;
    match profile.status {
        PlayerStatus::Blocked => {
            return Ok(CheckAnswer::deny("account_blocked", "the account is blocked".into(), None));
        }
        PlayerStatus::Closed if !withdrawing => {
            return Ok(CheckAnswer::deny(
                "account_closed",
                "the account is closed; only a withdrawal is allowed".into(),
                None,
            ));
        }
        PlayerStatus::SelfExcluded if !withdrawing => {
            return Ok(CheckAnswer::deny(
                "self_excluded",
                "the player is self-excluded; only a withdrawal is allowed".into(),
                None,
            ));
        }
        _ => {}
    }
    let Standing { exclusion, locks: in_force, limits } = standing;
    if !withdrawing && let Some(e) = exclusion {
        let (code, what) = match e.kind {
            ExclusionKind::Timeout => ("timed_out", "on a time-out"),
            ExclusionKind::SelfExclusion => ("self_excluded", "self-excluded"),
        };
        let until = e.ends_at.map_or_else(|| "without end".to_string(), |end| format!("until {end}"));
        return Ok(CheckAnswer::deny(
            code,
            format!("the player is {what} {until}; only a withdrawal is allowed"),
            None,
        ));
    }
    if let Some(lock) = locks::blocking(&in_force, q.activity, now) {
        let until = lock.expires_at.map(|t| format!(" until {t}")).unwrap_or_default();
        let reason = format!(
            "{} locked by {} ({}){until}: {}",
            lock.scope.as_str().replace("all", "the account"),
            lock.origin,
            lock.set_by,
            lock.reason
        );
        return Ok(CheckAnswer::deny("locked", reason, Some(lock.id)));
    }
    match q.activity {
        Activity::Deposit | Activity::Stake => within_limits(db, profiles, rates, profile, &limits, q, now).await,
        Activity::Session => within_play_time(db, profiles, profile, &limits, now).await,
        Activity::Withdrawal | Activity::Bonus => Ok(CheckAnswer::allow()),
    }
}

/// A session against every session-time limit in force, with the reality-check interval.
async fn within_play_time(
    db: &Db,
    profiles: &Jurisdictions,
    player: &Player,
    limits: &[LimitChange],
    now: DateTime<Utc>,
) -> Result<CheckAnswer, OpsError> {
    let interval = |l: &&LimitChange| (l.kind == LimitKind::RealityCheck).then_some(l.amount).flatten();
    let reality_check = limits
        .iter()
        .filter_map(|l| interval(&l))
        .min()
        .or_else(|| profiles.for_country(&player.country).reality_check_minutes.map(i64::from));
    let answer = CheckAnswer { reality_check_minutes: reality_check, ..CheckAnswer::allow() };
    let timed: Vec<&LimitChange> = limits.iter().filter(|l| l.kind == LimitKind::SessionTime).collect();
    let Some(earliest) = timed.iter().map(|l| now - l.period.window()).min() else { return Ok(answer) };
    let played = sessions::played(db, player.id, earliest, now).await?;
    let tightest = timed
        .iter()
        .map(|l| {
            let used = sessions::minutes_within(&played, now - l.period.window(), now);
            let limit = l.amount.unwrap_or_default();
            (limit - used, used, limit, format!("session time limit per {} ({})", l.period, l.origin))
        })
        .min_by_key(|(left, ..)| *left);
    let Some((left, used, limit, what)) = tightest else { return Ok(answer) };
    if left <= 0 {
        let reason = format!("{what}: {used} of {limit} minutes played");
        let denied = CheckAnswer::deny("session_time_limit", reason, None);
        return Ok(CheckAnswer { time_left_minutes: Some(0), reality_check_minutes: reality_check, ..denied });
    }
    Ok(CheckAnswer { time_left_minutes: Some(left), ..answer })
}

/// What a limit's use is counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Measure {
    /// Deposits, completed or on their way in.
    Deposits,
    /// Stakes (a wager limit).
    Stakes,
    /// Stakes less wins, when more was lost than won (a loss limit).
    Losses,
}

impl Measure {
    /// What a money limit is counted in; none for a time limit.
    fn of(kind: LimitKind) -> Option<Measure> {
        match kind {
            LimitKind::Deposit => Some(Measure::Deposits),
            LimitKind::Wager => Some(Measure::Stakes),
            LimitKind::Loss => Some(Measure::Losses),
            LimitKind::SessionTime | LimitKind::RealityCheck => None,
        }
    }

    /// The answer's code when this limit denies.
    fn code(self) -> &'static str {
        match self {
            Measure::Deposits => "deposit_limit",
            Measure::Stakes => "wager_limit",
            Measure::Losses => "loss_limit",
        }
    }
}

/// One limit as the check measures it: what it allows, in its currency, since when it counts.
struct Measured {
    what: String,
    limit: i64,
    currency: Currency,
    since: DateTime<Utc>,
    measure: Measure,
}

/// A deposit against every deposit limit in force and the jurisdiction's monthly cap; a stake
/// against every wager and loss limit (the stake counts as lost until the round says otherwise).
async fn within_limits(
    db: &Db,
    profiles: &Jurisdictions,
    rates: &Rates,
    player: &Player,
    limits: &[LimitChange],
    q: &CheckRequest,
    now: DateTime<Utc>,
) -> Result<CheckAnswer, OpsError> {
    let wallet = player.currency;
    let no_rate =
        |c: Currency| CheckAnswer::deny("no_rate", format!("no reference rate between {c} and {wallet}"), None);
    let asked = match (q.amount, q.currency) {
        (Some(a), Some(c)) => match rates.convert(a, c, wallet) {
            Some(a) => a,
            None => return Ok(no_rate(c)),
        },
        _ => 0,
    };
    let depositing = q.activity == Activity::Deposit;
    let mut measured: Vec<Measured> = limits
        .iter()
        .filter_map(|l| {
            let measure = Measure::of(l.kind).filter(|m| (*m == Measure::Deposits) == depositing)?;
            Some(Measured {
                what: format!("{} limit per {} ({})", l.kind, l.period, l.origin),
                limit: l.amount.unwrap_or_default(),
                currency: l.currency?,
                since: now - l.period.window(),
                measure,
            })
        })
        .collect();
    let profile = profiles.for_country(&player.country);
    if depositing && let Some(cap) = profile.monthly_deposit_cap {
        let month = Utc.with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0).single().unwrap_or(now);
        measured.push(Measured {
            what: format!("monthly deposit cap ({})", profile.code),
            limit: cap.amount,
            currency: cap.currency,
            since: month,
            measure: Measure::Deposits,
        });
    }
    let Some(earliest) = measured.iter().map(|m| m.since).min() else { return Ok(CheckAnswer::allow()) };
    // One read of the longest window, in the wallet's currency, as (measured amount, when);
    // each limit sums its own part of it.
    let mut used_by: Vec<(Measure, i64, DateTime<Utc>)> = Vec::new();
    if depositing {
        for (c, amount, at) in pitboss_payments::deposits::deposits_since(db, player.id, earliest).await? {
            let Some(amount) = rates.convert(amount, c, wallet) else { return Ok(no_rate(c)) };
            used_by.push((Measure::Deposits, amount, at));
        }
    } else {
        for r in pitboss_payments::deposits::rounds_since(db, player.id, earliest).await? {
            let convert = |a: i64| rates.convert(a, r.currency, wallet);
            let (Some(stake), Some(win)) = (convert(r.stake), convert(r.win)) else { return Ok(no_rate(r.currency)) };
            used_by.push((Measure::Stakes, stake, r.occurred_at));
            used_by.push((Measure::Losses, stake - win, r.occurred_at));
        }
    }
    let mut tightest: Option<(Headroom, Measure, i64, i64)> = None;
    for m in measured {
        let Some(limit) = rates.convert(m.limit, m.currency, wallet) else { return Ok(no_rate(m.currency)) };
        let sum = used_by
            .iter()
            .filter(|(measure, _, at)| *measure == m.measure && *at >= m.since)
            .fold(0i64, |sum, (_, a, _)| sum.saturating_add(*a));
        // Winnings beyond the losses leave no credit for further losses.
        let used = if m.measure == Measure::Losses { sum.max(0) } else { sum };
        let left = limit - used;
        if tightest.as_ref().is_none_or(|(h, ..)| left < h.amount) {
            tightest = Some((Headroom { amount: left, currency: wallet, limit: m.what }, m.measure, used, limit));
        }
    }
    let Some((headroom, measure, used, limit)) = tightest else { return Ok(CheckAnswer::allow()) };
    if asked > headroom.amount || headroom.amount <= 0 {
        let reason = format!(
            "{}: {used} of {limit} minor units of {wallet} used, {} left, {asked} asked",
            headroom.limit,
            headroom.amount.max(0)
        );
        return Ok(CheckAnswer { headroom: Some(headroom), ..CheckAnswer::deny(measure.code(), reason, None) });
    }
    Ok(CheckAnswer { headroom: Some(headroom), ..CheckAnswer::allow() })
}

fn validate(q: &CheckRequest) -> Result<(), OpsError> {
    match (q.amount, q.currency) {
        (Some(amount), _) if amount < 0 => {
            Err(OpsError::invalid("amount", "a positive amount in minor units (the direction is the activity's)"))
        }
        (Some(amount), _) if amount > MAX_AMOUNT => {
            Err(OpsError::invalid("amount", "larger than any single movement may be"))
        }
        (Some(_), None) => Err(OpsError::invalid("currency", "give the amount's currency (ISO 4217)")),
        (None, Some(_)) => Err(OpsError::invalid("amount", "a currency needs an amount")),
        _ => Ok(()),
    }
}
