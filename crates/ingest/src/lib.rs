//! Pitboss ingest: the way platform events enter.
//!
//! A batch is validated item by item; the valid events are applied (profiles, ledger postings,
//! player aggregates), stored, and written to the outbox, all in one database transaction. The
//! batch is applied as one set, in its order (`sets`): every item is decided in memory by the
//! same rules as applying it alone, so a refused event writes nothing and never refuses the
//! rest, and every answer is the one applying the batch strictly in order gives (applying each
//! item on its own under a savepoint, `Ingestor::one_by_one`, is the reference it is tested
//! against). Duplicates are recognised by event id. The answer names each item's fate:
//! accepted, duplicate or rejected, with the reason.
//!
//! This crate must never publish to the bus directly: it writes the outbox, and the relay
//! publishes after commit, so an accepted event is never lost and never half-applied.

mod apply;
mod batch;
mod sets;

pub use batch::{BatchReport, Ingestor, ItemReport, ItemStatus, MAX_BATCH};
