//! Pitboss ingest: the way platform events enter.
//!
//! A batch is validated item by item; each valid event is applied (ledger postings, player
//! aggregates), stored, and written to the outbox, all in one database transaction, with a
//! savepoint per item so that one refused event never refuses the rest. Game rounds and the
//! sessions among them go through as sets, merged across players (`schedule`, `rounds`); each
//! player's events keep their order, and every answer is the one applying the batch strictly in
//! order gives. Duplicates are recognised by event id. The answer names each item's fate:
//! accepted, duplicate or rejected, with the reason.
//!
//! This crate must never publish to the bus directly: it writes the outbox, and the relay
//! publishes after commit, so an accepted event is never lost and never half-applied.

mod apply;
mod batch;
mod sets;

pub use batch::{BatchReport, Ingestor, ItemReport, ItemStatus, MAX_BATCH};
