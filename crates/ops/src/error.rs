use pitboss_players::PlayerError;
use pitboss_store::StoreError;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("no player with id {0}")]
    PlayerNotFound(Uuid),
    #[error("no lock with id {0}")]
    LockNotFound(Uuid),
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
    #[error("lock {id} is no longer in force ({why}); there is nothing to lift")]
    NotInForce { id: Uuid, why: String },
    #[error("the player is already on a {kind} {until}; a new break may only end later")]
    AlreadyExcluded { kind: String, until: String },
    #[error(
        "a change of this limit already waits for its cooling-off until {until}; until then only a decrease is taken"
    )]
    CoolingOff { until: String },
    #[error("no withdrawal review for transaction {0}")]
    ReviewNotFound(Uuid),
    /// The withdrawal is no longer waiting for this decision.
    #[error("{0}")]
    Decided(String),
    /// Maker-checker: the second approval came from the first approver.
    #[error("{0}")]
    SameOfficer(String),
    #[error("no anomaly rule with id {0}")]
    RuleNotFound(Uuid),
    #[error("no alert with id {0}")]
    AlertNotFound(Uuid),
    /// A name that must be unique is in use.
    #[error("{0}")]
    Taken(String),
    #[error(transparent)]
    Ledger(pitboss_payments::LedgerError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<pitboss_segments::SegmentError> for OpsError {
    fn from(e: pitboss_segments::SegmentError) -> Self {
        match e {
            pitboss_segments::SegmentError::Store(s) => OpsError::Store(s),
            other => OpsError::Store(StoreError::Config(other.to_string())),
        }
    }
}

impl From<pitboss_store::sqlx::Error> for OpsError {
    fn from(e: pitboss_store::sqlx::Error) -> Self {
        OpsError::Store(StoreError::Sqlx(e))
    }
}

impl From<PlayerError> for OpsError {
    fn from(e: PlayerError) -> Self {
        match e {
            PlayerError::NotFound(id) => OpsError::PlayerNotFound(id),
            PlayerError::Store(s) => OpsError::Store(s),
            other => OpsError::Store(StoreError::Config(other.to_string())),
        }
    }
}

impl OpsError {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> OpsError {
        OpsError::Invalid { field, message: message.into() }
    }
}

impl From<pitboss_payments::LedgerError> for OpsError {
    fn from(e: pitboss_payments::LedgerError) -> Self {
        match e {
            pitboss_payments::LedgerError::Store(s) => OpsError::Store(s),
            other => OpsError::Ledger(other),
        }
    }
}
