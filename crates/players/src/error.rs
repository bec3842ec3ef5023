use pitboss_store::StoreError;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum PlayerError {
    #[error("no player with id {0}")]
    NotFound(Uuid),
    #[error("no player with external id '{0}'")]
    UnknownExternalId(String),
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
    #[error("a player with external id '{0}' already exists")]
    DuplicateExternalId(String),
    #[error(
        "the player was changed by someone else (now at version {current}, you sent {expected}); reload and try again"
    )]
    VersionConflict { expected: i64, current: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<pitboss_store::sqlx::Error> for PlayerError {
    fn from(e: pitboss_store::sqlx::Error) -> Self {
        PlayerError::Store(StoreError::Sqlx(e))
    }
}

impl PlayerError {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> PlayerError {
        PlayerError::Invalid { field, message: message.into() }
    }
}
