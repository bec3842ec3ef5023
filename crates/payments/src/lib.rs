//! Pitboss payments: the double-entry money ledger.
//!
//! Every deposit, withdrawal, game round, bonus movement and manual adjustment is a ledger
//! transaction: a balanced set of postings between accounts (player cash, player bonus, house,
//! payment clearing). A withdrawal under review holds its amount (pending postings) and then
//! posts or voids. The platform's reference, with the kind, is the idempotency key.
//!
//! This crate must never edit a balance by hand: balances follow from postings, and player
//! balances are cached in the same statement that writes the postings.

pub mod accounts;
pub mod approvals;
pub mod books;
pub mod bulk;
pub mod deposits;
pub mod disputes;
mod error;
pub mod ledger;
pub mod operations;
pub mod queries;
mod types;

pub use error::LedgerError;
pub use types::{Balance, LedgerTransaction, NewTransaction, Posting, StatusChange, Transfer, TxKind, TxStatus};
