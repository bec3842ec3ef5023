//! "May this player do this now?": the casino platform asks before a deposit, a withdrawal, a
//! session, a stake or a bonus, and gets allow or deny with the reason.
//!
//! What is honoured, in order: the account's status (a blocked account does nothing; a closed or
//! self-excluded one may still withdraw what it holds), then a time-out or self-exclusion in
//! force (withdrawals stay open), then every lock in force that covers the activity.

use chrono::{DateTime, Utc};
use pitboss_core::money::{Currency, MAX_AMOUNT};
use pitboss_players::PlayerStatus;
use pitboss_store::Db;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::exclusions::{self, ExclusionKind};
use crate::{OpsError, locks};

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
    /// Why not: `account_blocked`, `account_closed`, `self_excluded`, `timed_out` or `locked`.
    pub code: Option<String>,
    /// Why not, for a person.
    pub reason: Option<String>,
    /// The lock that denies it.
    pub lock_id: Option<Uuid>,
}

impl CheckAnswer {
    fn allow() -> CheckAnswer {
        CheckAnswer { allowed: true, code: None, reason: None, lock_id: None }
    }

    fn deny(code: &str, reason: String, lock_id: Option<Uuid>) -> CheckAnswer {
        CheckAnswer { allowed: false, code: Some(code.into()), reason: Some(reason), lock_id }
    }
}

/// Answers the question for `player` at `now`.
pub async fn check(db: &Db, player: Uuid, q: &CheckRequest, now: DateTime<Utc>) -> Result<CheckAnswer, OpsError> {
    validate(q)?;
    let profile = pitboss_players::get(db, player).await?;
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
    if !withdrawing && let Some(e) = exclusions::in_force(db, player, now).await? {
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
    let in_force = locks::in_force(db, player, now).await?;
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
    Ok(CheckAnswer::allow())
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
