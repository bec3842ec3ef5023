//! The errors of this crate, worded for the person who has to act on them.

use pitboss_store::StoreError;
use thiserror::Error;
use uuid::Uuid;

#[derive(Debug, Error)]
pub enum AuthError {
    /// Deliberately one message for unknown, malformed and revoked keys: telling them apart
    /// would help someone guessing keys.
    #[error(
        "the API key is not valid: it is unknown, revoked or incomplete; send the whole key \
         (it starts with `pbk_`) or ask an administrator for a new one"
    )]
    InvalidApiKey,
    /// One message for an unknown user and a wrong password, for the same reason as above.
    #[error("wrong username or password")]
    InvalidCredentials,
    #[error("{0}")]
    Validation(String),
    /// Only reported after the right password was given, so it reveals nothing to a guesser.
    #[error("the operator account `{username}` is disabled; ask an administrator to enable it")]
    AccountDisabled { username: String },
    #[error("the username `{username}` is already taken; choose another one")]
    UsernameTaken { username: String },
    #[error("a live API key is already named `{name}`; choose another name, or revoke that key first")]
    ApiKeyNameTaken { name: String },
    #[error("there is no API key with id {id}")]
    ApiKeyNotFound { id: Uuid },
    #[error("there is no operator with id {id}")]
    OperatorNotFound { id: Uuid },
    /// Given for known and unknown usernames alike.
    #[error("too many failed sign-ins for this username; try again in {retry_after_seconds} seconds")]
    TooManyAttempts { retry_after_seconds: i64 },
    #[error(
        "the code is not valid: it is wrong, expired or already used; enter the current code from your authenticator app, or a recovery code"
    )]
    InvalidSecondFactor,
    #[error(transparent)]
    Store(#[from] StoreError),
}

// The query macros return sqlx errors; this lets `?` carry them through StoreError.
impl From<pitboss_store::sqlx::Error> for AuthError {
    fn from(e: pitboss_store::sqlx::Error) -> Self {
        AuthError::Store(e.into())
    }
}
