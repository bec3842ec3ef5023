//! Idempotent consumers: every transport delivers at least once, so each consumer records the
//! ids it has applied, in the same transaction as the effect, and skips a redelivery.
//!
//! ```ignore
//! let outcome = apply_once(&db, "crm.segments", &message, async |tx| -> Result<(), StoreError> {
//!     exec!(tx, "UPDATE segment_members SET ... WHERE player_id = $1", player_id)?;
//!     Ok(())
//! })
//! .await?;
//! ```

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use pitboss_store::{Db, StoreError, Tx, exec, tx};

use crate::{BusError, Handler, Message};

/// What [`apply_once`] did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The effect ran and committed together with the record of the message.
    Applied,
    /// This consumer had applied the message before; the effect did not run.
    AlreadyApplied,
}

/// Runs `effect` for `message` unless `consumer` already applied it, and commits the effect
/// together with the record that it was applied, so a crash can never leave one without the
/// other.
///
/// The effect gets the open transaction; returning an error rolls everything back (the
/// message counts as not applied, so its redelivery runs the effect again). The error type is
/// the caller's: any type that a [`StoreError`] converts into, e.g. [`BusError`] or
/// `StoreError` itself.
pub async fn apply_once<F, E>(db: &Db, consumer: &str, message: &Message, effect: F) -> Result<Applied, E>
where
    F: AsyncFnOnce(&mut Tx) -> Result<(), E>,
    E: From<StoreError>,
{
    let Some(mut tx) = begin_once(db, consumer, message).await? else {
        return Ok(Applied::AlreadyApplied);
    };
    effect(&mut tx).await?;
    match tx.commit().await {
        Ok(()) => Ok(Applied::Applied),
        // A concurrent delivery of the same message won the race: its effect stands, ours
        // was rolled back with the failed commit.
        Err(e) if e.is_unique_violation() => Ok(Applied::AlreadyApplied),
        Err(e) => Err(e.into()),
    }
}

/// The first half of [`apply_once`], for callers that want to drive the transaction
/// themselves: returns an open transaction that already records `message` as applied by
/// `consumer` (commit it with the effect), or `None` when the message was applied before.
pub async fn begin_once(db: &Db, consumer: &str, message: &Message) -> Result<Option<Tx>, StoreError> {
    let mut tx = db.begin().await?;
    // Checking first keeps the common redelivery case free of a failing statement (which on
    // PostgreSQL would abort the transaction) and of a unique-violation error in the logs.
    let seen: i64 = tx!(&mut tx, |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM consumed_messages WHERE consumer = $1 AND message_id = $2"
    )
    .bind(consumer)
    .bind(message.id)
    .fetch_one(c)
    .await)?;
    if seen > 0 {
        tx.rollback().await?;
        return Ok(None);
    }
    let now = pitboss_core::time::to_micros(chrono::Utc::now());
    let inserted = exec!(
        &mut tx,
        "INSERT INTO consumed_messages (consumer, message_id, consumed_at) VALUES ($1, $2, $3)",
        consumer,
        message.id,
        now,
    )
    .map_err(StoreError::from);
    match inserted {
        Ok(_) => Ok(Some(tx)),
        // Another delivery of the same message inserted its row after our check (PostgreSQL
        // makes us wait for it to commit, then reports the conflict): it has been applied.
        Err(e) if e.is_unique_violation() => {
            tx.rollback().await?;
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Makes a [`Handler`] of an async function, for consumers that need no state of their own
/// beyond what the closure captures.
///
/// ```ignore
/// transport.subscribe("crm.triggers", handler_fn(move |message| { let db = db.clone(); async move { ... } })).await?;
/// ```
pub fn handler_fn<F, Fut>(f: F) -> Arc<dyn Handler>
where
    F: Fn(Message) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), BusError>> + Send + 'static,
{
    Arc::new(FnHandler(f))
}

struct FnHandler<F>(F);

#[async_trait]
impl<F, Fut> Handler for FnHandler<F>
where
    F: Fn(Message) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), BusError>> + Send + 'static,
{
    async fn handle(&self, message: &Message) -> Result<(), BusError> {
        (self.0)(message.clone()).await
    }
}
