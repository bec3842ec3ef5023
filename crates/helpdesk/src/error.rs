use pitboss_store::StoreError;
use uuid::Uuid;

/// Why a help desk request was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum HelpdeskError {
    #[error("no ticket with id {0}")]
    TicketNotFound(Uuid),
    #[error("no queue '{0}'")]
    QueueNotFound(String),
    #[error("no player with id {0}")]
    PlayerNotFound(Uuid),
    /// No knowledge base article as asked for (by id, or by slug and language).
    #[error("no article {0}")]
    ArticleNotFound(String),
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
    /// The ticket is not in a state that allows this.
    #[error("{0}")]
    Refused(String),
    /// Too much too fast (a chat flood); the reason says when to try again.
    #[error("{0}")]
    RateLimited(String),
    /// Someone else changed the ticket since it was read.
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl HelpdeskError {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> HelpdeskError {
        HelpdeskError::Invalid { field, message: message.into() }
    }
}

impl From<pitboss_store::sqlx::Error> for HelpdeskError {
    fn from(e: pitboss_store::sqlx::Error) -> Self {
        HelpdeskError::Store(StoreError::Sqlx(e))
    }
}

impl From<pitboss_players::PlayerError> for HelpdeskError {
    fn from(e: pitboss_players::PlayerError) -> Self {
        match e {
            pitboss_players::PlayerError::NotFound(id) => HelpdeskError::PlayerNotFound(id),
            pitboss_players::PlayerError::Store(s) => HelpdeskError::Store(s),
            other => HelpdeskError::Store(StoreError::Config(other.to_string())),
        }
    }
}

impl From<pitboss_bus::BusError> for HelpdeskError {
    fn from(e: pitboss_bus::BusError) -> Self {
        match e {
            pitboss_bus::BusError::Store(s) => HelpdeskError::Store(s),
            other => HelpdeskError::Store(StoreError::Config(other.to_string())),
        }
    }
}
