//! Pitboss auth: who is calling, what they may do, and the audit log of what they did.
//!
//! Machine clients present API keys carrying [`Scopes`]; operators sign in with a username and
//! an argon2id-hashed password. Every change made here is written together with its
//! [`audit`] record in one transaction.
//!
//! This crate must never keep a secret it can give back: API keys and passwords are stored only
//! as hashes, are returned once at creation, and never appear in audit details or errors.
//! It holds no HTTP code either: the web crate turns headers and sessions into a [`Caller`].

pub mod api_key;
pub mod audit;
mod caller;
mod error;
pub mod oidc;
pub mod operator;
pub mod policy;
mod scope;
pub mod secret;
pub mod session;

pub use api_key::ApiKeyInfo;
pub use audit::{AuditEntry, AuditRecord};
pub use caller::{Caller, CallerKind, Origin};
pub use error::AuthError;
pub use operator::OperatorInfo;
pub use scope::{Scope, ScopeError, Scopes};

/// The current instant as stored: microseconds since the Unix epoch (see `pitboss_core::time`).
pub(crate) fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
