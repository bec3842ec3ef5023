//! The outbox relay: publishes committed outbox rows through the transport, oldest first, and
//! marks them published only after the transport took responsibility for them.
//!
//! A row is never dropped: a failed publish leaves the whole batch pending and the relay tries
//! again after a back-off, so a message may be published more than once (consumers dedupe with
//! [`crate::consumer::apply_once`]) but never lost. Rows go out in outbox id order (UUIDv7, so
//! creation order), which keeps one key's messages in order as long as a writer creates them in
//! that order.
//!
//! Run one relay per database: two relays would each publish the same rows, and could
//! interleave one key's messages out of order.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pitboss_store::{Db, StoreError, db, tx};
use tokio::sync::{Notify, watch};
use uuid::Uuid;

use crate::{BusError, Message, Transport};

/// Rows per publish when the caller does not say.
pub const DEFAULT_BATCH_SIZE: usize = 100;
/// Upper bound of a batch: keeps the `IN (...)` list of the marking update far below the bind
/// parameter limits of both engines.
pub const MAX_BATCH_SIZE: usize = 1_000;

/// How long an idle relay waits before looking again, unless a writer pokes it sooner.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How often the pending gauge is refreshed (it costs a COUNT over the unpublished rows).
const GAUGE_INTERVAL: Duration = Duration::from_secs(1);

pub struct Relay {
    db: Db,
    transport: Arc<dyn Transport>,
    batch_size: usize,
    notify: Arc<Notify>,
}

impl Relay {
    pub fn new(db: Db, transport: Arc<dyn Transport>) -> Relay {
        Relay { db, transport, batch_size: DEFAULT_BATCH_SIZE, notify: Arc::new(Notify::new()) }
    }

    /// Publishes at most `batch_size` rows per transport call (clamped to 1..=[`MAX_BATCH_SIZE`]).
    pub fn with_batch_size(mut self, batch_size: usize) -> Relay {
        self.batch_size = batch_size.clamp(1, MAX_BATCH_SIZE);
        self
    }

    /// A handle that writers poke (`notify_one`) after committing outbox rows, so that the
    /// running relay publishes them at once instead of at its next poll.
    pub fn notifier(&self) -> Arc<Notify> {
        self.notify.clone()
    }

    /// Publishes the oldest pending rows (up to the batch size) as one batch and marks them
    /// published. Returns how many; 0 means nothing was pending.
    pub async fn publish_pending(&self) -> Result<usize, BusError> {
        let messages = self.pending_batch().await?;
        if messages.is_empty() {
            return Ok(0);
        }
        self.transport.publish(&messages).await?;
        // If the process stops (or this update fails) now, the rows stay pending and are
        // published again: a duplicate, which consumers drop, rather than a loss.
        let now = pitboss_core::time::to_micros(chrono::Utc::now());
        mark_published(&self.db, &messages, now).await?;
        metrics::counter!("pitboss_outbox_published_total").increment(messages.len() as u64);
        Ok(messages.len())
    }

    /// Publishes until nothing is pending, for a graceful shutdown. Stops at the first error,
    /// which leaves the rest in the outbox for the next start. Returns how many were published.
    pub async fn flush(&self) -> Result<usize, BusError> {
        let mut total = 0;
        loop {
            match self.publish_pending().await? {
                0 => return Ok(total),
                n => total += n,
            }
        }
    }

    /// Publishes until `shutdown` turns true (or its sender is dropped), then flushes once more
    /// and returns. Transport and database errors are logged and retried with exponential
    /// back-off; they never end the loop.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = MIN_BACKOFF;
        let mut gauge_due = Instant::now();
        tracing::info!(transport = self.transport.name(), batch_size = self.batch_size, "outbox relay started");
        loop {
            if *shutdown.borrow() {
                break;
            }
            if Instant::now() >= gauge_due {
                self.update_gauge().await;
                gauge_due = Instant::now() + GAUGE_INTERVAL;
            }
            let (wait, idle) = match self.publish_pending().await {
                Ok(0) => {
                    backoff = MIN_BACKOFF;
                    (POLL_INTERVAL, true)
                }
                Ok(_) => {
                    backoff = MIN_BACKOFF;
                    continue;
                }
                Err(error) => {
                    tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64, "outbox relay could not publish; will retry");
                    let wait = backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    (wait, false)
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                // A writer's poke only cuts short the idle wait, not a back-off: a failing
                // transport should not be hammered by every commit.
                _ = self.notify.notified(), if idle => {}
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
            }
        }
        match self.flush().await {
            Ok(n) => tracing::info!(published = n, "outbox relay flushed and stopped"),
            Err(error) => {
                tracing::warn!(%error, "outbox relay stopped with rows still pending; they go out at the next start")
            }
        }
        self.update_gauge().await;
    }

    async fn update_gauge(&self) {
        match lag(&self.db).await {
            Ok((pending, _)) => metrics::gauge!("pitboss_outbox_pending").set(pending as f64),
            Err(error) => tracing::warn!(%error, "cannot measure the outbox lag"),
        }
    }

    async fn pending_batch(&self) -> Result<Vec<Message>, StoreError> {
        let limit = self.batch_size as i64;
        let rows: Vec<(Uuid, String, String, String)> = db!(&self.db, |c| sqlx::query_as(
            "SELECT id, topic, partition_key, payload FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $1"
        )
        .bind(limit)
        .fetch_all(c)
        .await)?;
        Ok(rows.into_iter().map(|(id, topic, key, payload)| Message { id, topic, key, payload }).collect())
    }
}

async fn mark_published(db: &Db, messages: &[Message], now: i64) -> Result<(), StoreError> {
    let placeholders: Vec<String> = (0..messages.len()).map(|i| format!("${}", i + 2)).collect();
    let sql = format!(
        "UPDATE outbox SET published_at = $1 WHERE published_at IS NULL AND id IN ({})",
        placeholders.join(", ")
    );
    let mut tx = db.begin().await?;
    tx!(&mut tx, |c| {
        let mut query = sqlx::query(&sql).bind(now);
        for message in messages {
            query = query.bind(message.id);
        }
        query.execute(c).await.map(|r| r.rows_affected())
    })?;
    tx.commit().await
}

/// How many outbox rows wait to be published, and when the oldest of them was written
/// (microseconds since the epoch), for metrics and `/readyz`.
pub async fn lag(db: &Db) -> Result<(i64, Option<i64>), StoreError> {
    let row: (i64, Option<i64>) =
        db!(db, |c| sqlx::query_as("SELECT COUNT(*), MIN(created_at) FROM outbox WHERE published_at IS NULL")
            .fetch_one(c)
            .await)?;
    Ok(row)
}

/// Deletes rows published before `before_micros`; the outbox is a queue, not an archive
/// (ingest keeps every event in its own table). Returns how many were deleted.
pub async fn purge_published(db: &Db, before_micros: i64) -> Result<u64, StoreError> {
    let mut tx = db.begin().await?;
    let n = pitboss_store::exec!(
        &mut tx,
        "DELETE FROM outbox WHERE published_at IS NOT NULL AND published_at < $1",
        before_micros,
    )?;
    tx.commit().await?;
    Ok(n)
}
