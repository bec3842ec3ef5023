//! Durable timers: work that falls due at an instant, fired by a scheduler that sleeps until
//! the earliest timer instead of sweeping everything every few minutes.
//!
//! A timer is a row `(kind, key, due_at)`; setting it again moves it, so a module keeps one
//! timer per thing it watches (a player, a ticket). A [`Scheduler`] for one kind claims the
//! due timers in a transaction, hands their keys to a [`TimerHandler`] in that same
//! transaction (which usually sets the next timer for each key), and commits: a crash before
//! the commit leaves the timers in place to fire again, so none is lost. A firing that fails
//! is rolled back and the timer pushed back (by a minute, doubling up to an hour) with the
//! error kept on the row, so one bad key never holds up the rest.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pitboss_store::{Arg, Db, StoreError, Tx, db, exec, exec_values, sqlx, tx};
use tokio::sync::Notify;

use crate::BusError;

/// Sets (or moves) the timer `(kind, key)` to fire at `due_at` (microseconds since the epoch).
pub async fn set(tx: &mut Tx, kind: &str, key: &str, due_at: i64, now: i64) -> Result<(), StoreError> {
    set_many(tx, kind, &[(key.to_string(), due_at)], now).await
}

/// [`set`] for many keys in one statement per chunk.
pub async fn set_many(tx: &mut Tx, kind: &str, timers: &[(String, i64)], now: i64) -> Result<(), StoreError> {
    let rows: Vec<Vec<Arg>> = timers
        .iter()
        .map(|(key, due)| vec![Arg::Text(kind.to_string()), Arg::Text(key.clone()), Arg::Int(*due), Arg::Int(now)])
        .collect();
    exec_values(
        tx,
        "INSERT INTO timers (kind, key, due_at, set_at) VALUES {values} ON CONFLICT (kind, key) DO UPDATE \
         SET due_at = excluded.due_at, set_at = excluded.set_at, attempts = 0, last_error = NULL",
        &rows,
    )
    .await?;
    Ok(())
}

/// Removes the timers of these keys (nothing is due for them any more).
pub async fn clear_many(tx: &mut Tx, kind: &str, keys: &[String]) -> Result<(), StoreError> {
    for chunk in keys.chunks(500) {
        let marks = pitboss_store::placeholders(2, chunk.len());
        let sql = format!("DELETE FROM timers WHERE kind = $1 AND key IN ({marks})");
        tx!(tx, |c| {
            let mut q = sqlx::query(&sql).bind(kind);
            for key in chunk {
                q = q.bind(key.as_str());
            }
            q.execute(c).await.map(|r| r.rows_affected())
        })?;
    }
    Ok(())
}

/// Removes the timers of every key in `(after, upto]` (in text order): for a caller that walks
/// all its keys in order and sets the timers again, without a long list of keys to match.
pub async fn clear_range(tx: &mut Tx, kind: &str, after: &str, upto: Option<&str>) -> Result<(), StoreError> {
    match upto {
        Some(upto) => exec!(tx, "DELETE FROM timers WHERE kind = $1 AND key > $2 AND key <= $3", kind, after, upto)?,
        None => exec!(tx, "DELETE FROM timers WHERE kind = $1 AND key > $2", kind, after)?,
    };
    Ok(())
}

/// When the timer `(kind, key)` fires, if it is set.
pub async fn due_at(db: &Db, kind: &str, key: &str) -> Result<Option<i64>, StoreError> {
    let due: Option<i64> = db!(db, |c| {
        sqlx::query_scalar("SELECT due_at FROM timers WHERE kind = $1 AND key = $2")
            .bind(kind)
            .bind(key)
            .fetch_optional(c)
            .await
    })?;
    Ok(due)
}

/// The earliest timer of a kind.
pub async fn next_due(db: &Db, kind: &str) -> Result<Option<i64>, StoreError> {
    let due: Option<i64> = db!(db, |c| {
        sqlx::query_scalar("SELECT MIN(due_at) FROM timers WHERE kind = $1").bind(kind).fetch_one(c).await
    })?;
    Ok(due)
}

/// How many timers of a kind are set, and how many of them are failing.
pub async fn counts(db: &Db, kind: &str) -> Result<(i64, i64), StoreError> {
    let row: (i64, i64) = db!(db, |c| {
        sqlx::query_as(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN attempts > 0 THEN 1 ELSE 0 END), 0) FROM timers WHERE kind = $1",
        )
        .bind(kind)
        .fetch_one(c)
        .await
    })?;
    Ok(row)
}

/// Deletes up to `limit` timers of `kind` due at `now`, earliest first, and returns their keys.
/// On PostgreSQL, timers another scheduler has claimed are skipped rather than waited for.
async fn claim(tx: &mut Tx, kind: &str, now: i64, limit: i64) -> Result<Vec<(String, i64)>, StoreError> {
    let rows: Vec<(String, i64)> = match tx {
        Tx::Postgres(t) => {
            sqlx::query_as(
                "DELETE FROM timers WHERE kind = $1 AND key IN (SELECT key FROM timers WHERE kind = $1 \
                 AND due_at <= $2 ORDER BY due_at LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING key, attempts",
            )
            .bind(kind)
            .bind(now)
            .bind(limit)
            .fetch_all(&mut **t)
            .await?
        }
        // One writer at a time: nothing to skip.
        Tx::Sqlite(t) => {
            sqlx::query_as(
                "DELETE FROM timers WHERE kind = $1 AND key IN (SELECT key FROM timers WHERE kind = $1 \
                 AND due_at <= $2 ORDER BY due_at LIMIT $3) RETURNING key, attempts",
            )
            .bind(kind)
            .bind(now)
            .bind(limit)
            .fetch_all(&mut **t)
            .await?
        }
    };
    Ok(rows)
}

/// What happens when timers of one kind fall due.
#[async_trait]
pub trait TimerHandler: Send + Sync {
    /// Does the work for `keys` (timers already removed) in `tx`, at `now`; set the next timer
    /// for a key with [`set`] in the same transaction. An error rolls the firing back.
    async fn fire(&self, tx: &mut Tx, keys: &[String], now: i64) -> Result<(), BusError>;
}

/// Fires every timer of `kind` due at `now`, in batches of `batch`; returns how many fired.
/// A failing batch is retried key by key, so only the key at fault is pushed back.
pub async fn fire_due(
    db: &Db,
    kind: &str,
    handler: &dyn TimerHandler,
    now: i64,
    batch: i64,
) -> Result<usize, BusError> {
    let mut fired = 0;
    loop {
        let mut tx = db.begin().await?;
        let claimed = claim(&mut tx, kind, now, batch).await?;
        if claimed.is_empty() {
            tx.rollback().await?;
            return Ok(fired);
        }
        let keys: Vec<String> = claimed.iter().map(|(k, _)| k.clone()).collect();
        match handler.fire(&mut tx, &keys, now).await {
            Ok(()) => {
                tx.commit().await?;
                fired += keys.len();
            }
            Err(_) if keys.len() > 1 => {
                tx.rollback().await?;
                fired += fire_one_by_one(db, kind, handler, &claimed, now).await?;
            }
            Err(e) => {
                tx.rollback().await?;
                back_off(db, kind, &claimed[0], now, &e).await?;
            }
        }
    }
}

async fn fire_one_by_one(
    db: &Db,
    kind: &str,
    handler: &dyn TimerHandler,
    claimed: &[(String, i64)],
    now: i64,
) -> Result<usize, BusError> {
    let mut fired = 0;
    for timer in claimed {
        let mut tx = db.begin().await?;
        // Claimed again one by one: another scheduler may have taken or moved it meanwhile.
        let still_due: i64 = tx!(&mut tx, |c| sqlx::query_scalar(
            "SELECT COUNT(*) FROM timers WHERE kind = $1 AND key = $2 AND due_at <= $3"
        )
        .bind(kind)
        .bind(&timer.0)
        .bind(now)
        .fetch_one(c)
        .await)
        .map_err(StoreError::from)?;
        if still_due == 0 {
            tx.rollback().await?;
            continue;
        }
        exec!(&mut tx, "DELETE FROM timers WHERE kind = $1 AND key = $2", kind, timer.0.as_str())
            .map_err(StoreError::from)?;
        match handler.fire(&mut tx, std::slice::from_ref(&timer.0), now).await {
            Ok(()) => {
                tx.commit().await?;
                fired += 1;
            }
            Err(e) => {
                tx.rollback().await?;
                back_off(db, kind, timer, now, &e).await?;
            }
        }
    }
    Ok(fired)
}

/// Pushes a failing timer back: one minute after the first failure, doubling up to an hour.
async fn back_off(db: &Db, kind: &str, timer: &(String, i64), now: i64, error: &BusError) -> Result<(), BusError> {
    let attempts = timer.1 + 1;
    let delay_minutes = 1_i64 << (attempts - 1).clamp(0, 6);
    let due = now + delay_minutes.min(60) * 60_000_000;
    tracing::warn!(kind, key = %timer.0, attempts, %error, "timer failed; it fires again later");
    let mut tx = db.begin().await?;
    exec!(
        &mut tx,
        "UPDATE timers SET due_at = $3, attempts = $4, last_error = $5 WHERE kind = $1 AND key = $2",
        kind,
        timer.0.as_str(),
        due,
        attempts,
        error.to_string(),
    )
    .map_err(StoreError::from)?;
    tx.commit().await?;
    Ok(())
}

/// The longest the scheduler sleeps without looking at the table again: timers set by another
/// process (or set due sooner by this one without [`Scheduler::wake`]) are noticed within it.
pub const MAX_SLEEP: Duration = Duration::from_secs(30);

/// Fires the timers of one kind at their due time.
pub struct Scheduler {
    db: Db,
    kind: String,
    handler: Arc<dyn TimerHandler>,
    wake: Arc<Notify>,
    batch: i64,
}

impl Scheduler {
    pub fn new(db: Db, kind: &str, handler: Arc<dyn TimerHandler>) -> Scheduler {
        Scheduler { db, kind: kind.to_string(), handler, wake: Arc::new(Notify::new()), batch: 200 }
    }

    /// A handle that makes the scheduler look at the table again now (after committing a
    /// timer that may be due sooner than the one it sleeps for).
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Runs until `shutdown` is notified.
    pub async fn run(self, shutdown: Arc<Notify>) {
        loop {
            let now = pitboss_core::time::to_micros(chrono::Utc::now());
            if let Err(e) = fire_due(&self.db, &self.kind, self.handler.as_ref(), now, self.batch).await {
                tracing::error!(kind = %self.kind, error = %e, "timers could not be fired; trying again shortly");
            }
            let sleep = match next_due(&self.db, &self.kind).await {
                Ok(Some(due)) => {
                    let now = pitboss_core::time::to_micros(chrono::Utc::now());
                    Duration::from_micros(u64::try_from(due - now).unwrap_or(0)).min(MAX_SLEEP)
                }
                Ok(None) => MAX_SLEEP,
                Err(e) => {
                    tracing::error!(kind = %self.kind, error = %e, "timers could not be read");
                    MAX_SLEEP
                }
            };
            tokio::select! {
                () = tokio::time::sleep(sleep) => {}
                () = self.wake.notified() => {}
                () = shutdown.notified() => return,
            }
        }
    }
}
