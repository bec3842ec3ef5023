//! Where the ledger's rules read and write: [`Books`]. The rules of a money movement
//! (`operations`) are written once against it; the database (`Tx`, one statement at a time)
//! and a set decided in memory (`bulk`) both keep the books.

use chrono::{DateTime, Utc};
use pitboss_store::Tx;
use uuid::Uuid;

use crate::LedgerError;
use crate::ledger::{self, Recorded};
use crate::types::{LedgerTransaction, NewTransaction, TxKind, TxStatus};

/// The three things the rules of a movement do with the books.
// Callers name a concrete `Books`, so the futures' `Send` is known where it matters.
#[allow(async_fn_in_trait)]
pub trait Books {
    /// The transaction with this idempotency key.
    async fn find(&mut self, kind: TxKind, reference: &str) -> Result<Option<LedgerTransaction>, LedgerError>;

    /// Records a transaction, or recognises a replay of one ([`ledger::record`]).
    async fn record(&mut self, new: NewTransaction, now: DateTime<Utc>) -> Result<Recorded, LedgerError>;

    /// Moves a transaction to another status ([`ledger::transition`]).
    async fn transition(
        &mut self,
        id: Uuid,
        to: TxStatus,
        reason: Option<&str>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<LedgerTransaction, LedgerError>;
}

impl Books for Tx {
    async fn find(&mut self, kind: TxKind, reference: &str) -> Result<Option<LedgerTransaction>, LedgerError> {
        ledger::find(self, kind, reference).await
    }

    async fn record(&mut self, new: NewTransaction, now: DateTime<Utc>) -> Result<Recorded, LedgerError> {
        ledger::record(self, new, now).await
    }

    async fn transition(
        &mut self,
        id: Uuid,
        to: TxStatus,
        reason: Option<&str>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<LedgerTransaction, LedgerError> {
        ledger::transition(self, id, to, reason, actor, now).await
    }
}
