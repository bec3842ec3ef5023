use pitboss_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error(
        "reference '{reference}' was already used for a different {kind} ({existing}); a reference may only be replayed with the same data"
    )]
    ReferenceReused { kind: String, reference: String, existing: String },
    #[error("insufficient funds in {account}: {available} available, {needed} needed")]
    InsufficientFunds { account: String, available: i64, needed: i64 },
    #[error("a {kind} '{reference}' that is {from} cannot become {to}")]
    InvalidTransition { kind: String, reference: String, from: String, to: String },
    #[error("no {kind} with reference '{reference}'")]
    NotFound { kind: String, reference: String },
    #[error("{0}")]
    Invalid(String),
    /// The record is not in a state that allows this (a resolved dispute, say).
    #[error("{0}")]
    Conflict(String),
    #[error("four eyes: an officer other than the one who asked must decide this request")]
    FourEyes,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<pitboss_store::sqlx::Error> for LedgerError {
    fn from(e: pitboss_store::sqlx::Error) -> Self {
        LedgerError::Store(StoreError::Sqlx(e))
    }
}
