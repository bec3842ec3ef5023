//! Account locks: a player's account closed wholly or in part, with a reason, by an operator or
//! by another module (its `origin`, e.g. `kyc`), until it is lifted or its expiry passes.
//!
//! A lock is never edited or deleted: lifting one records who lifted it, when and why, so the
//! player's history keeps every lock. Each change also goes to the outbox (`ops.lock.set`,
//! `ops.lock.lifted`) for the modules that react to it.

use chrono::{DateTime, Utc};
use pitboss_core::new_id;
use pitboss_core::time::{from_micros, to_micros};
use pitboss_store::{Db, Tx, db, exec, sqlx, tx};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::OpsError;
use crate::checks::Activity;

pitboss_core::string_enum!(
    /// What a lock closes.
    LockScope {
        All => "all",
        Deposits => "deposits",
        Withdrawals => "withdrawals",
        Gameplay => "gameplay",
        Bonuses => "bonuses",
    }
);

impl LockScope {
    /// Whether a lock of this scope stops the activity.
    pub fn covers(self, activity: Activity) -> bool {
        match self {
            LockScope::All => true,
            LockScope::Deposits => activity == Activity::Deposit,
            LockScope::Withdrawals => activity == Activity::Withdrawal,
            LockScope::Gameplay => matches!(activity, Activity::Session | Activity::Stake),
            LockScope::Bonuses => activity == Activity::Bonus,
        }
    }
}

/// Who sets a lock when an operator does; other modules name themselves (`kyc`, `aml`, ...).
pub const OPERATOR_ORIGIN: &str = "operator";

/// A lock, in force or not.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Lock {
    pub id: Uuid,
    pub player_id: Uuid,
    pub scope: LockScope,
    pub reason: String,
    /// `operator`, or the module that set it (e.g. `kyc`).
    pub origin: String,
    /// The operator (`operator:NAME`), API key or module that set it.
    pub set_by: String,
    pub set_at: DateTime<Utc>,
    /// When it ends by itself; never if absent.
    pub expires_at: Option<DateTime<Utc>>,
    pub lifted_at: Option<DateTime<Utc>>,
    pub lifted_by: Option<String>,
    pub lift_reason: Option<String>,
}

impl Lock {
    /// Neither lifted nor expired at `now`.
    pub fn in_force(&self, now: DateTime<Utc>) -> bool {
        self.lifted_at.is_none() && self.expires_at.is_none_or(|end| end > now)
    }
}

/// A lock to set.
#[derive(Debug, Clone)]
pub struct NewLock<'a> {
    pub player: Uuid,
    pub scope: LockScope,
    pub reason: &'a str,
    pub origin: &'a str,
    pub expires_at: Option<DateTime<Utc>>,
    pub set_by: &'a str,
}

const MAX_REASON: usize = 1000;

/// Sets a lock in `tx` (the caller commits it with its audit record).
pub async fn set(tx: &mut Tx, new: &NewLock<'_>, now: DateTime<Utc>) -> Result<Lock, OpsError> {
    let reason = checked_reason("reason", new.reason)?;
    let origin = new.origin.trim();
    if origin.is_empty() || origin.len() > 40 || !origin.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
        return Err(OpsError::invalid("origin", "name the module that sets the lock in lower case, e.g. kyc"));
    }
    if let Some(end) = new.expires_at
        && end <= now
    {
        return Err(OpsError::invalid(
            "expires_at",
            format!("the expiry {end} has already passed; leave it out for a lock without end"),
        ));
    }
    // The player must exist; reading the profile also fails early on an unknown id.
    pitboss_players::get_in(tx, new.player).await?;
    let lock = Lock {
        id: new_id(),
        player_id: new.player,
        scope: new.scope,
        reason,
        origin: origin.to_string(),
        set_by: new.set_by.to_string(),
        set_at: from_micros(to_micros(now)),
        expires_at: new.expires_at.map(|t| from_micros(to_micros(t))),
        lifted_at: None,
        lifted_by: None,
        lift_reason: None,
    };
    exec!(
        tx,
        "INSERT INTO player_locks (id, player_id, scope, reason, origin, set_by, set_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        lock.id,
        lock.player_id,
        lock.scope.as_str(),
        &lock.reason,
        &lock.origin,
        &lock.set_by,
        to_micros(lock.set_at),
        lock.expires_at.map(to_micros)
    )?;
    crate::announce(tx, "ops.lock.set", lock.player_id, "lock", &lock, now).await?;
    Ok(lock)
}

/// Lifts a lock in force, with a reason: `(before, after)`.
pub async fn lift(tx: &mut Tx, id: Uuid, by: &str, reason: &str, now: DateTime<Utc>) -> Result<(Lock, Lock), OpsError> {
    let reason = checked_reason("reason", reason)?;
    let before = get_in(tx, id).await?;
    if let Some(at) = before.lifted_at {
        let by = before.lifted_by.as_deref().unwrap_or("?");
        return Err(OpsError::NotInForce { id, why: format!("lifted at {at} by {by}") });
    }
    if let Some(end) = before.expires_at.filter(|end| *end <= now) {
        return Err(OpsError::NotInForce { id, why: format!("it expired at {end}") });
    }
    let at = to_micros(now);
    // The condition keeps two operators from both lifting it: the second touches nothing.
    let touched = exec!(
        tx,
        "UPDATE player_locks SET lifted_at = $1, lifted_by = $2, lift_reason = $3 WHERE id = $4 AND lifted_at IS NULL",
        at,
        by,
        &reason,
        id
    )?;
    if touched == 0 {
        return Err(OpsError::NotInForce { id, why: "someone else lifted it just now".into() });
    }
    let after = Lock {
        lifted_at: Some(from_micros(at)),
        lifted_by: Some(by.to_string()),
        lift_reason: Some(reason),
        ..before.clone()
    };
    crate::announce(tx, "ops.lock.lifted", after.player_id, "lock", &after, now).await?;
    Ok((before, after))
}

/// Every lock of a player, in force or not, newest first.
pub async fn for_player(db: &Db, player: Uuid) -> Result<Vec<Lock>, OpsError> {
    let sql = format!("SELECT {COLUMNS} FROM player_locks WHERE player_id = $1 ORDER BY set_at DESC, id DESC");
    let rows: Vec<LockRow> = db!(db, |c| sqlx::query_as(&sql).bind(player).fetch_all(c).await)?;
    rows.into_iter().map(LockRow::into_lock).collect()
}

/// The player's locks in force at `now`, newest first.
pub async fn in_force(db: &Db, player: Uuid, now: DateTime<Utc>) -> Result<Vec<Lock>, OpsError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM player_locks WHERE player_id = $1 AND lifted_at IS NULL \
         AND (expires_at IS NULL OR expires_at > $2) ORDER BY set_at DESC, id DESC"
    );
    let rows: Vec<LockRow> = db!(db, |c| sqlx::query_as(&sql).bind(player).bind(to_micros(now)).fetch_all(c).await)?;
    rows.into_iter().map(LockRow::into_lock).collect()
}

/// A lock by id.
pub async fn get(db: &Db, id: Uuid) -> Result<Lock, OpsError> {
    let sql = format!("SELECT {COLUMNS} FROM player_locks WHERE id = $1");
    let row: Option<LockRow> = db!(db, |c| sqlx::query_as(&sql).bind(id).fetch_optional(c).await)?;
    row.ok_or(OpsError::LockNotFound(id))?.into_lock()
}

async fn get_in(tx: &mut Tx, id: Uuid) -> Result<Lock, OpsError> {
    let sql = format!("SELECT {COLUMNS} FROM player_locks WHERE id = $1");
    let row: Option<LockRow> = tx!(tx, |c| sqlx::query_as(&sql).bind(id).fetch_optional(c).await)?;
    row.ok_or(OpsError::LockNotFound(id))?.into_lock()
}

/// The first lock among `locks` in force at `now` that stops `activity`.
pub fn blocking(locks: &[Lock], activity: Activity, now: DateTime<Utc>) -> Option<&Lock> {
    locks.iter().find(|l| l.in_force(now) && l.scope.covers(activity))
}

fn checked_reason(field: &'static str, reason: &str) -> Result<String, OpsError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(OpsError::invalid(field, "say why; the player's history and the audit log keep it"));
    }
    if reason.chars().count() > MAX_REASON {
        return Err(OpsError::invalid(field, format!("at most {MAX_REASON} characters")));
    }
    Ok(reason.to_string())
}

const COLUMNS: &str =
    "id, player_id, scope, reason, origin, set_by, set_at, expires_at, lifted_at, lifted_by, lift_reason";

#[derive(sqlx::FromRow)]
struct LockRow {
    id: Uuid,
    player_id: Uuid,
    scope: String,
    reason: String,
    origin: String,
    set_by: String,
    set_at: i64,
    expires_at: Option<i64>,
    lifted_at: Option<i64>,
    lifted_by: Option<String>,
    lift_reason: Option<String>,
}

impl LockRow {
    fn into_lock(self) -> Result<Lock, OpsError> {
        let scope = self.scope.parse().map_err(|e: String| {
            OpsError::Store(pitboss_store::StoreError::Config(format!("lock {}: stored scope {e}", self.id)))
        })?;
        Ok(Lock {
            id: self.id,
            player_id: self.player_id,
            scope,
            reason: self.reason,
            origin: self.origin,
            set_by: self.set_by,
            set_at: from_micros(self.set_at),
            expires_at: self.expires_at.map(from_micros),
            lifted_at: self.lifted_at.map(from_micros),
            lifted_by: self.lifted_by,
            lift_reason: self.lift_reason,
        })
    }
}
