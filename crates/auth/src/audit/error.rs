//! What can go wrong with the audit chain's tools, worded for the operator who must act.

use std::path::PathBuf;

use pitboss_store::StoreError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum AuditError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot {action} the audit signing key file {}: {source}", path.display())]
    KeyFile { action: &'static str, path: PathBuf, source: std::io::Error },
    #[error(
        "the audit signing key file {} is malformed: it must hold 64 hex characters (32 bytes); \
         restore it from the backup, or move it away to start a new key (older checkpoints then \
         verify only with the old public key)", path.display()
    )]
    KeyFileMalformed { path: PathBuf },
    #[error("the public key is not valid: {0}; give the 64 hex characters printed by `pitboss audit public-key`")]
    PublicKey(String),
    #[error("the audit retention must be at least {min} years (regulation), not {years}")]
    RetentionTooShort { years: u32, min: u32 },
    #[error(
        "refusing to purge records before {}: the retention of {years} years keeps every record \
         after {}; choose a cut-off on or before that", instant(*cutoff), instant(*latest_allowed)
    )]
    InsideRetention { cutoff: i64, latest_allowed: i64, years: u32 },
    #[error(
        "the audit chain is broken at seq {seq} ({reason}); refusing to sign a checkpoint over it: \
         run `pitboss audit verify` to see what changed"
    )]
    ChainBroken { seq: i64, reason: String },
    #[error("no proof can be made: {0}")]
    ProofUnavailable(String),
    #[error("the proof does not hold: {0}")]
    ProofInvalid(String),
    #[error("the export does not verify: line {line}: {reason}")]
    BadExport { line: usize, reason: String },
    #[error("writing the export failed: {0}")]
    Write(#[from] std::io::Error),
}

/// An instant in microseconds, as a person reads it.
fn instant(micros: i64) -> String {
    pitboss_core::time::from_micros(micros).format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

impl From<pitboss_store::sqlx::Error> for AuditError {
    fn from(e: pitboss_store::sqlx::Error) -> Self {
        AuditError::Store(e.into())
    }
}
