//! Pitboss ops: what the operations panel decides about a player's account.
//!
//! - [`locks`]: an account locked wholly or in part (deposits, withdrawals, gameplay, bonuses),
//!   by an operator or by another module, with a reason and an optional expiry;
//! - [`checks`]: the answer to the casino platform's "may this player do this now?", which
//!   honours every lock in force.
//!
//! Responsible-gambling limits, anomaly rules and alerts join this crate next (issue 5).

pub mod checks;
mod error;
pub mod locks;

pub use checks::{Activity, CheckAnswer, CheckRequest, check};
pub use error::OpsError;
pub use locks::{Lock, LockScope, NewLock};
