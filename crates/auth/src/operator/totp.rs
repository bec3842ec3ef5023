//! Two-factor authentication: TOTP (RFC 6238: SHA-1, 6 digits, 30-second steps, the settings
//! every authenticator app understands) and one-time recovery codes.
//!
//! Enrolment stores a new secret unconfirmed and shows it as an `otpauth://` QR code; the first
//! valid code confirms it and hands out the recovery codes, once. A code is accepted for the
//! current step or one step either side (clock drift), and never for a step at or before the
//! last one accepted, so a code seen over someone's shoulder cannot be replayed.

use pitboss_store::{Db, db, exec, sqlx};
use qrcode::QrCode;
use qrcode::render::svg;
use sha2::{Digest, Sha256};
use totp_rs::{Algorithm, Secret, TOTP};
use uuid::Uuid;

use super::random_text;
use crate::{AuthError, Caller, audit, now_micros};

pub const STEP_SECONDS: u64 = 30;
pub const RECOVERY_CODES: usize = 10;
/// Shown as the account's issuer in authenticator apps.
const ISSUER: &str = "Pitboss";

/// What an operator needs to add Pitboss to an authenticator app.
#[derive(Debug, Clone)]
pub struct Enrolment {
    /// The base32 secret, for typing in by hand.
    pub secret: String,
    pub otpauth_url: String,
    /// The URL as a QR code, an SVG document.
    pub qr_svg: String,
}

fn totp(secret: Vec<u8>, username: &str) -> Result<TOTP, AuthError> {
    TOTP::new(Algorithm::SHA1, 6, 1, STEP_SECONDS, secret, Some(ISSUER.into()), username.replace(':', "_"))
        .map_err(|e| AuthError::Validation(format!("cannot set up two-factor authentication: {e}")))
}

fn decode(secret: &str) -> Result<Vec<u8>, AuthError> {
    Secret::Encoded(secret.to_string()).to_bytes().map_err(|_| {
        AuthError::Validation("the stored two-factor secret is damaged; reset two-factor authentication".into())
    })
}

/// Starts (or restarts) enrolment: a new secret, stored unconfirmed. Any confirmed
/// authenticator stays in force until the new one is confirmed.
pub async fn begin_enrolment(db: &Db, operator_id: Uuid, by: &Caller) -> Result<Enrolment, AuthError> {
    let info = super::get(db, operator_id).await?.ok_or(AuthError::OperatorNotFound { id: operator_id })?;
    let raw = Secret::generate_secret().to_bytes().map_err(|e| AuthError::Validation(e.to_string()))?;
    let code = totp(raw.clone(), &info.username)?;
    let secret = code.get_secret_base32();
    let otpauth_url = code.get_url();
    let qr_svg = QrCode::new(otpauth_url.as_bytes())
        .map(|qr| qr.render::<svg::Color>().min_dimensions(200, 200).quiet_zone(true).build())
        .map_err(|e| AuthError::Validation(format!("cannot draw the QR code: {e}")))?;
    let mut tx = db.begin().await?;
    // A pending secret lives beside a confirmed one: `totp_secret` holds it, and
    // `totp_confirmed_at` is cleared only when it is confirmed (see `confirm_enrolment`).
    exec!(&mut tx, "UPDATE operators SET pending_totp_secret = $2 WHERE id = $1", operator_id, &secret)?;
    audit::record(&mut tx, &by.audit("operator.two_factor_enrolment_started", "operator", operator_id)).await?;
    tx.commit().await?;
    Ok(Enrolment { secret, otpauth_url, qr_svg })
}

/// Confirms enrolment with a first code; returns the recovery codes, shown once.
pub async fn confirm_enrolment(db: &Db, operator_id: Uuid, code: &str, by: &Caller) -> Result<Vec<String>, AuthError> {
    let info = super::get(db, operator_id).await?.ok_or(AuthError::OperatorNotFound { id: operator_id })?;
    let row: Option<(Option<String>,)> = db!(db, |c| {
        sqlx::query_as("SELECT pending_totp_secret FROM operators WHERE id = $1")
            .bind(operator_id)
            .fetch_optional(c)
            .await
    })?;
    let Some(secret) = row.and_then(|r| r.0) else {
        return Err(AuthError::Validation(
            "start two-factor enrolment first: there is no pending authenticator".into(),
        ));
    };
    let step = matching_step(&totp(decode(&secret)?, &info.username)?, code, now_seconds(), None)
        .ok_or(AuthError::InvalidSecondFactor)?;
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| recovery_code()).collect();
    let now = now_micros();
    let mut tx = db.begin().await?;
    exec!(
        &mut tx,
        "UPDATE operators SET totp_secret = $2, pending_totp_secret = NULL, totp_confirmed_at = $3, totp_last_step = $4 \
         WHERE id = $1",
        operator_id,
        &secret,
        now,
        step as i64,
    )?;
    exec!(&mut tx, "DELETE FROM operator_recovery_codes WHERE operator_id = $1", operator_id)?;
    for code in &codes {
        exec!(
            &mut tx,
            "INSERT INTO operator_recovery_codes (operator_id, code_hash, created_at) VALUES ($1, $2, $3)",
            operator_id,
            hash_code(code),
            now,
        )?;
    }
    audit::record(&mut tx, &by.audit("operator.two_factor_enrolled", "operator", operator_id)).await?;
    tx.commit().await?;
    Ok(codes)
}

/// Checks a six-digit code, or a recovery code (which is then used up). Failures are audited.
pub async fn verify(db: &Db, operator_id: Uuid, code: &str, by: &Caller) -> Result<SecondFactor, AuthError> {
    let info = super::get(db, operator_id).await?.ok_or(AuthError::OperatorNotFound { id: operator_id })?;
    let row: Option<(Option<String>, Option<i64>)> = db!(db, |c| {
        sqlx::query_as(
            "SELECT totp_secret, totp_last_step FROM operators WHERE id = $1 AND totp_confirmed_at IS NOT NULL",
        )
        .bind(operator_id)
        .fetch_optional(c)
        .await
    })?;
    let Some((Some(secret), last_step)) = row else {
        return Err(AuthError::Validation("two-factor authentication is not set up for this account".into()));
    };
    let code = code.trim();
    let mut tx = db.begin().await?;
    let accepted = if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        match matching_step(&totp(decode(&secret)?, &info.username)?, code, now_seconds(), last_step) {
            // Only a step after the last accepted one moves it on: a concurrent replay of the
            // same code finds the row already updated and changes nothing.
            Some(step) => {
                let updated = exec!(
                    &mut tx,
                    "UPDATE operators SET totp_last_step = $2 WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)",
                    operator_id,
                    step as i64,
                )?;
                (updated == 1).then_some(SecondFactor::Code)
            }
            None => None,
        }
    } else {
        let updated = exec!(
            &mut tx,
            "UPDATE operator_recovery_codes SET used_at = $3 WHERE operator_id = $1 AND code_hash = $2 AND used_at IS NULL",
            operator_id,
            hash_code(code),
            now_micros(),
        )?;
        (updated == 1).then_some(SecondFactor::RecoveryCode)
    };
    let action = match accepted {
        Some(SecondFactor::Code) => "operator.two_factor_passed",
        Some(SecondFactor::RecoveryCode) => "operator.recovery_code_used",
        None => "operator.two_factor_failed",
    };
    audit::record(&mut tx, &by.audit(action, "operator", operator_id)).await?;
    tx.commit().await?;
    accepted.ok_or(AuthError::InvalidSecondFactor)
}

/// How the second factor was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactor {
    Code,
    RecoveryCode,
}

/// Removes an operator's authenticator and recovery codes (an administrator's reset for a lost
/// phone). The operator enrols again at the next sign-in if their role requires it.
pub async fn reset(db: &Db, operator_id: Uuid, reason: &str, by: &Caller) -> Result<(), AuthError> {
    super::get(db, operator_id).await?.ok_or(AuthError::OperatorNotFound { id: operator_id })?;
    let mut tx = db.begin().await?;
    exec!(
        &mut tx,
        "UPDATE operators SET totp_secret = NULL, pending_totp_secret = NULL, totp_confirmed_at = NULL, \
         totp_last_step = NULL WHERE id = $1",
        operator_id,
    )?;
    exec!(&mut tx, "DELETE FROM operator_recovery_codes WHERE operator_id = $1", operator_id)?;
    audit::record(&mut tx, &by.audit("operator.two_factor_reset", "operator", operator_id).reason(reason.to_string()))
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Recovery codes left unused.
pub async fn recovery_codes_left(db: &Db, operator_id: Uuid) -> Result<i64, AuthError> {
    let (n,): (i64,) = db!(db, |c| {
        sqlx::query_as("SELECT COUNT(*) FROM operator_recovery_codes WHERE operator_id = $1 AND used_at IS NULL")
            .bind(operator_id)
            .fetch_one(c)
            .await
    })?;
    Ok(n)
}

/// The time step within one step of `now` whose code is `code`, if it is after `last_step`.
fn matching_step(totp: &TOTP, code: &str, now: u64, last_step: Option<i64>) -> Option<u64> {
    let current = now / STEP_SECONDS;
    [current.saturating_sub(1), current, current + 1]
        .into_iter()
        .filter(|step| last_step.is_none_or(|last| *step as i64 > last))
        .find(|step| crate::secret::same(totp.generate(step * STEP_SECONDS).as_bytes(), code.as_bytes()))
}

fn now_seconds() -> u64 {
    (now_micros() / 1_000_000).max(0) as u64
}

/// `xxxxx-xxxxx` from the unambiguous alphabet, lowercased: about 57 bits.
fn recovery_code() -> String {
    let text = random_text(10).to_lowercase();
    format!("{}-{}", &text[..5], &text[5..])
}

/// Codes are compared case-insensitively and without spaces, as people type them.
fn hash_code(code: &str) -> String {
    let normalised: String = code.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_lowercase();
    hex::encode(Sha256::digest(normalised.as_bytes()))
}

/// The current code for a base32 secret: for tests and for the browser tests' authenticator.
pub fn current_code(secret: &str, username: &str) -> Result<String, AuthError> {
    Ok(totp(decode(secret)?, username)?.generate(now_seconds()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 rows (8 digits there; the last 6 of each are ours).
    #[test]
    fn codes_match_the_rfc_test_vectors() {
        let secret = b"12345678901234567890".to_vec();
        let t = TOTP::new(Algorithm::SHA1, 8, 1, 30, secret, None, "x".into()).unwrap();
        for (time, code) in [
            (59, "94287082"),
            (1111111109, "07081804"),
            (1111111111, "14050471"),
            (1234567890, "89005924"),
            (2000000000, "69279037"),
            (20000000000, "65353130"),
        ] {
            assert_eq!(t.generate(time), code, "at {time}");
        }
    }

    #[test]
    fn a_code_is_accepted_within_one_step_and_never_twice() {
        let t = totp(b"12345678901234567890".to_vec(), "anna").unwrap();
        let now = 1_700_000_000;
        let code = t.generate(now);
        let step = now / STEP_SECONDS;
        assert_eq!(matching_step(&t, &code, now, None), Some(step));
        assert_eq!(matching_step(&t, &code, now + STEP_SECONDS, None), Some(step));
        assert_eq!(matching_step(&t, &code, now + 2 * STEP_SECONDS, None), None, "expired");
        assert_eq!(matching_step(&t, &code, now, Some(step as i64)), None, "replayed");
        assert_eq!(matching_step(&t, "000000", now, None).filter(|_| code != "000000"), None);
    }

    #[test]
    fn recovery_codes_are_normalised_before_hashing() {
        let code = recovery_code();
        assert_eq!(code.len(), 11);
        assert_eq!(hash_code(&code), hash_code(&format!(" {} ", code.to_uppercase())));
    }
}
