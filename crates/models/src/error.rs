//! The errors of this crate, worded for the person who has to act on them.

use pitboss_store::StoreError;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("there is no model fit with id {0}")]
    FitNotFound(Uuid),
    #[error("{0}")]
    Invalid(String),
    /// The fit ran on a task that panicked or was cancelled (a bug, or the server stopping).
    #[error("the refit did not finish: {0}")]
    Interrupted(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Players(#[from] pitboss_players::PlayerError),
    #[error(transparent)]
    Ledger(#[from] pitboss_payments::LedgerError),
}

impl From<pitboss_store::sqlx::Error> for ModelError {
    fn from(e: pitboss_store::sqlx::Error) -> Self {
        ModelError::Store(StoreError::Sqlx(e))
    }
}
