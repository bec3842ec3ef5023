//! The errors of this crate, worded for the person who has to act on them.

use pitboss_store::StoreError;
use thiserror::Error;
use uuid::Uuid;

#[derive(Debug, Error)]
pub enum SegmentError {
    /// The condition does not parse or check; `rendered` points at the faulty part.
    #[error("{rendered}")]
    Condition { error: pitboss_rules::RuleError, rendered: String },
    #[error("{0}")]
    Invalid(String),
    #[error("there is no segment with id {id}")]
    NotFound { id: Uuid },
    #[error("there is no player with id {id}")]
    PlayerNotFound { id: Uuid },
    #[error("a segment named `{name}` exists already; choose another name")]
    NameTaken { name: String },
    #[error(
        "the segment was changed by someone else (it is at version {current}, you edited version {expected}); reload it and edit again"
    )]
    StaleVersion { expected: i64, current: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<pitboss_store::sqlx::Error> for SegmentError {
    fn from(e: pitboss_store::sqlx::Error) -> Self {
        SegmentError::Store(e.into())
    }
}
