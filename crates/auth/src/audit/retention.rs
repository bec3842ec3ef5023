//! Retention: records are kept at least five years, then may be purged without breaking
//! verification.
//!
//! A purge removes a prefix of the log, always ending at a signed checkpoint: records 1 to S,
//! where S is the largest checkpoint signed before the cut-off whose records are all older than
//! it. In one transaction it first writes an anchor row `(S, hash of record S, time)` to the
//! append-only `audit_anchor` table, then deletes the records up to S. The database enforces
//! the rules itself, whoever connects (see the `*_audit_chain_guards.sql` migrations):
//!
//! - an anchor can only be written at the size of an existing checkpoint, naming the stored
//!   hash of that record, above every earlier anchor; anchors are never updated or deleted;
//! - a record can only be deleted if its `seq` is at or below the highest anchor *and* its
//!   `at` is more than five years (5 × 366 days) before the database's clock.
//!
//! After a purge, [`verify`](super::verify) starts the chain from the anchor's hash and the
//! Merkle tree from the frontier stored with checkpoint S (checked against its signed root), so
//! every later record and checkpoint is still verified; it also reports a purge whose
//! checkpoint was signed less than five years ago. Checkpoints are kept: they are small, and
//! they let older exports still be checked.

use pitboss_store::{Db, sqlx, tx};
use serde::Serialize;

use super::error::AuditError;

/// The regulatory minimum, in years.
pub const MIN_YEARS: u32 = 5;

const DAY_MICROS: i64 = 86_400 * 1_000_000;

/// Years are counted as 366 days, so that a retention is never shorter than the same number of
/// calendar years, leap days included.
const YEAR_MICROS: i64 = 366 * DAY_MICROS;

/// Five years in microseconds: the floor the database triggers enforce too (158112000000000).
pub const MIN_RETENTION_MICROS: i64 = MIN_YEARS as i64 * YEAR_MICROS;

/// How long records are kept: at least [`MIN_YEARS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    years: u32,
}

impl Retention {
    /// Refuses anything below [`MIN_YEARS`].
    pub fn years(years: u32) -> Result<Retention, AuditError> {
        if years < MIN_YEARS {
            return Err(AuditError::RetentionTooShort { years, min: MIN_YEARS });
        }
        Ok(Retention { years })
    }

    pub fn in_years(&self) -> u32 {
        self.years
    }

    pub fn micros(&self) -> i64 {
        i64::from(self.years).saturating_mul(YEAR_MICROS)
    }
}

impl Default for Retention {
    fn default() -> Self {
        Retention { years: MIN_YEARS }
    }
}

/// What a purge did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PurgeReport {
    /// Records deleted by this purge.
    pub purged: u64,
    /// The highest purged `seq` so far (0 if nothing was ever purged).
    pub through_seq: i64,
}

/// Deletes the records before `before_micros` down to the last checkpoint boundary, as the
/// module documentation describes. Refuses a cut-off inside the retention period; does nothing
/// (and says so with `purged: 0`) when no checkpoint lies wholly before the cut-off.
pub async fn purge(db: &Db, before_micros: i64, retention: Retention) -> Result<PurgeReport, AuditError> {
    purge_at(db, before_micros, retention, crate::now_micros()).await
}

pub(crate) async fn purge_at(
    db: &Db,
    before_micros: i64,
    retention: Retention,
    now: i64,
) -> Result<PurgeReport, AuditError> {
    let latest_allowed = now.saturating_sub(retention.micros());
    if before_micros > latest_allowed {
        return Err(AuditError::InsideRetention { cutoff: before_micros, latest_allowed, years: retention.years });
    }
    let mut tx = db.begin().await?;
    let anchored: i64 =
        tx!(&mut tx, |c| sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM audit_anchor").fetch_one(c).await)?;
    // The first record at or after the cut-off bounds the purge, whatever the checkpoints say.
    let first_young: Option<i64> = tx!(&mut tx, |c| {
        sqlx::query_scalar("SELECT MIN(seq) FROM audit_log WHERE at >= $1").bind(before_micros).fetch_one(c).await
    })?;
    let bound = first_young.map_or(i64::MAX, |s| s - 1);
    let through: Option<i64> = tx!(&mut tx, |c| {
        sqlx::query_scalar(
            "SELECT MAX(tree_size) FROM audit_checkpoints WHERE tree_size > $1 AND tree_size <= $2 AND at < $3",
        )
        .bind(anchored)
        .bind(bound)
        .bind(before_micros)
        .fetch_one(c)
        .await
    })?;
    let Some(through) = through else {
        return Ok(PurgeReport { purged: 0, through_seq: anchored });
    };
    let hash: String = tx!(&mut tx, |c| {
        sqlx::query_scalar("SELECT hash FROM audit_log WHERE seq = $1").bind(through).fetch_one(c).await
    })?;
    tx!(&mut tx, |c| {
        sqlx::query("INSERT INTO audit_anchor (seq, hash, at) VALUES ($1, $2, $3)")
            .bind(through)
            .bind(&hash)
            .bind(now)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    let purged = tx!(&mut tx, |c| {
        sqlx::query("DELETE FROM audit_log WHERE seq <= $1").bind(through).execute(c).await.map(|r| r.rows_affected())
    })?;
    tx.commit().await?;
    tracing::info!(purged, through_seq = through, "purged audit records older than the retention period");
    Ok(PurgeReport { purged, through_seq: through })
}
