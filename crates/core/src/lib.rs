//! Pitboss core: the vocabulary every other crate speaks.
//!
//! Ids, money, time and the event envelope, as plain types with their validation rules.
//! This crate must never do I/O: no database, no network, no clock other than the caller's.

pub mod event;
pub mod id;
pub mod money;
pub mod signature;
mod string_enum;
pub mod time;

pub use event::{Envelope, EventBody, EventError, EventType, RawEnvelope};
pub use id::new_id;
pub use money::{Amount, Currency, CurrencyError, Money};
