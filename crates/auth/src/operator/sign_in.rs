//! Signing in with a username and password, with lockout and back-off.
//!
//! Failures are counted per username, whether or not the account exists, so that a locked
//! name and an unknown one behave the same. After [`FREE_FAILURES`] failures in a row the name
//! is locked for [`FIRST_LOCK_SECONDS`], doubling with each further failure up to
//! [`MAX_LOCK_SECONDS`]; a success clears the count. Every attempt is audited, with the
//! client's address, in the same transaction as the count.

use pitboss_store::{Db, Tx, db, exec, sqlx};
use serde_json::json;

use super::record::get_with_hash;
use super::{DUMMY_HASH, OperatorInfo, PASSWORD_MAX_CHARS, blocking, validate_username, verify};
use crate::{AuthError, Origin, audit, now_micros};

/// Failures allowed before the first lock.
pub const FREE_FAILURES: i64 = 5;
pub const FIRST_LOCK_SECONDS: i64 = 30;
pub const MAX_LOCK_SECONDS: i64 = 3600;

/// The operator whose username and password these are, if the name is not locked.
///
/// An unknown username and a wrong password both give [`AuthError::InvalidCredentials`] after
/// the same hashing work. A disabled account is reported only to someone who knew its
/// password. The caller decides what comes next (two-factor, enrolment).
pub async fn sign_in(db: &Db, username: &str, password: &str, origin: &Origin) -> Result<OperatorInfo, AuthError> {
    let username = username.trim();
    let now = now_micros();
    if let Some(locked_until) = locked_until(db, username).await?
        && locked_until > now
    {
        let retry_after_seconds = (locked_until - now + 999_999) / 1_000_000;
        let mut tx = db.begin().await?;
        record_attempt(
            &mut tx,
            origin,
            username,
            "operator.sign_in_locked",
            json!({ "retry_after_seconds": retry_after_seconds }),
        )
        .await?;
        tx.commit().await?;
        return Err(AuthError::TooManyAttempts { retry_after_seconds });
    }

    // A username that fails validation cannot exist: no need to ask the database.
    let found = if validate_username(username).is_ok() { get_with_hash(db, username).await? } else { None };
    let stored = found.as_ref().map(|(_, hash)| hash.clone());
    let candidate = password.to_owned();
    let too_long = password.chars().count() > PASSWORD_MAX_CHARS;
    let matches = blocking(move || {
        let hash = stored.as_deref().filter(|h| !h.is_empty()).unwrap_or(&DUMMY_HASH);
        verify(&candidate, hash) && !too_long && stored.as_deref().is_some_and(|h| !h.is_empty())
    })
    .await;

    let mut tx = db.begin().await?;
    let outcome = match found {
        Some((info, _)) if matches => {
            exec!(&mut tx, "DELETE FROM sign_in_throttle WHERE username = $1", username)?;
            if info.disabled_at.is_some() {
                record_attempt(&mut tx, origin, username, "operator.sign_in_refused", json!({ "reason": "disabled" }))
                    .await?;
                Err(AuthError::AccountDisabled { username: info.username })
            } else {
                let entry = audit::AuditEntry::new(
                    format!("operator:{}", info.username),
                    "operator.sign_in_password",
                    "operator",
                    info.id,
                )
                .client(origin.ip.clone(), origin.user_agent.clone());
                audit::record(&mut tx, &entry).await?;
                Ok(info)
            }
        }
        _ => {
            let failures = count_failure(&mut tx, username, now).await?;
            record_attempt(
                &mut tx,
                origin,
                username,
                "operator.sign_in_failed",
                json!({ "failures_in_a_row": failures }),
            )
            .await?;
            Err(AuthError::InvalidCredentials)
        }
    };
    tx.commit().await?;
    outcome
}

async fn locked_until(db: &Db, username: &str) -> Result<Option<i64>, AuthError> {
    let row: Option<(i64,)> = db!(db, |c| {
        sqlx::query_as("SELECT locked_until FROM sign_in_throttle WHERE username = $1")
            .bind(username)
            .fetch_optional(c)
            .await
    })?;
    Ok(row.map(|r| r.0))
}

/// Adds one failure and sets the lock; returns the failures in a row.
async fn count_failure(tx: &mut Tx, username: &str, now: i64) -> Result<i64, AuthError> {
    let row: Option<(i64,)> = pitboss_store::tx!(tx, |c| {
        sqlx::query_as("SELECT failures FROM sign_in_throttle WHERE username = $1")
            .bind(username)
            .fetch_optional(c)
            .await
    })?;
    let failures = row.map_or(0, |r| r.0) + 1;
    let locked_until = now + lock_seconds(failures) * 1_000_000;
    if row.is_some() {
        exec!(
            tx,
            "UPDATE sign_in_throttle SET failures = $2, last_failure_at = $3, locked_until = $4 WHERE username = $1",
            username,
            failures,
            now,
            locked_until,
        )?;
    } else {
        exec!(
            tx,
            "INSERT INTO sign_in_throttle (username, failures, last_failure_at, locked_until) VALUES ($1, $2, $3, $4)",
            username,
            failures,
            now,
            locked_until,
        )?;
    }
    Ok(failures)
}

/// Seconds a name stays locked after `failures` failures in a row.
pub fn lock_seconds(failures: i64) -> i64 {
    if failures < FREE_FAILURES {
        return 0;
    }
    let doublings = (failures - FREE_FAILURES).min(20) as u32;
    (FIRST_LOCK_SECONDS << doublings).min(MAX_LOCK_SECONDS)
}

/// Audits an attempt that did not sign anyone in. The actor is the name as typed, which may
/// not exist; the audit log is for administrators, who may know that.
async fn record_attempt(
    tx: &mut Tx,
    origin: &Origin,
    username: &str,
    action: &str,
    details: serde_json::Value,
) -> Result<(), AuthError> {
    let shown: String = username.chars().take(64).collect();
    let entry = audit::AuditEntry::new(format!("anonymous:{shown}"), action, "operator", &shown)
        .client(origin.ip.clone(), origin.user_agent.clone())
        .details(details);
    audit::record(tx, &entry).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_doubles_after_five_failures_up_to_an_hour() {
        assert_eq!((1..=4).map(lock_seconds).collect::<Vec<_>>(), [0, 0, 0, 0]);
        assert_eq!(lock_seconds(5), 30);
        assert_eq!(lock_seconds(6), 60);
        assert_eq!(lock_seconds(7), 120);
        assert_eq!(lock_seconds(12), 3600);
        assert_eq!(lock_seconds(1000), 3600);
    }
}
