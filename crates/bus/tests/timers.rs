//! Durable timers on both engines: they fire at their due time and not before, moving a timer
//! replaces it, a firing that fails is rolled back and pushed back without holding up the
//! others, and the scheduler wakes for a timer due soon.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use pitboss_bus::BusError;
use pitboss_bus::timers::{self, Scheduler, TimerHandler};
use pitboss_store::{Tx, both_engines, exec};
use uuid::Uuid;

const MINUTE: i64 = 60_000_000;

/// Records what fired; fails for the key "bad"; sets a follow-up for keys starting "again".
#[derive(Default)]
struct Recorder {
    fired: Mutex<Vec<(String, i64)>>,
}

#[async_trait]
impl TimerHandler for Recorder {
    async fn fire(&self, tx: &mut Tx, keys: &[String], now: i64) -> Result<(), BusError> {
        for key in keys {
            if key == "bad" {
                return Err(BusError::Handler {
                    consumer: "test".into(),
                    message: Uuid::nil(),
                    reason: "bad key".into(),
                });
            }
            if key.starts_with("again") {
                timers::set(tx, "test", key, now + 10 * MINUTE, now).await?;
            }
            // Written in the firing's transaction: rolled back with it.
            exec!(
                tx,
                "INSERT INTO consumed_messages (consumer, message_id, consumed_at) VALUES ($1, $2, $3)",
                format!("timer:{key}"),
                Uuid::now_v7(),
                now
            )
            .map_err(pitboss_store::StoreError::from)?;
        }
        self.fired.lock().unwrap().extend(keys.iter().map(|k| (k.clone(), now)));
        Ok(())
    }
}

impl Recorder {
    fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.fired.lock().unwrap().iter().map(|(k, _)| k.clone()).collect();
        keys.sort();
        keys
    }
}

both_engines!(timers_fire_when_due_once_and_a_failing_one_holds_up_nothing, |db| async move {
    let t0 = 1_795_435_200_000_000_i64;
    let mut tx = db.begin().await.unwrap();
    timers::set(&mut tx, "test", "a", t0 + 5 * MINUTE, t0).await.unwrap();
    timers::set(&mut tx, "test", "b", t0 + 20 * MINUTE, t0).await.unwrap();
    timers::set(&mut tx, "test", "bad", t0 + MINUTE, t0).await.unwrap();
    timers::set(&mut tx, "test", "again", t0 + 2 * MINUTE, t0).await.unwrap();
    timers::set(&mut tx, "other", "a", t0, t0).await.unwrap();
    // Moved: fires at the later time only.
    timers::set(&mut tx, "test", "b", t0 + 30 * MINUTE, t0).await.unwrap();
    tx.commit().await.unwrap();

    let recorder = Recorder::default();
    assert_eq!(timers::fire_due(&db, "test", &recorder, t0, 10).await.unwrap(), 0, "nothing is due yet");
    assert_eq!(timers::fire_due(&db, "test", &recorder, t0 + 6 * MINUTE, 10).await.unwrap(), 2);
    assert_eq!(recorder.keys(), ["a", "again"]);
    // The failing one was pushed back a minute and keeps its error; the others of its kind did not wait.
    let bad = timers::due_at(&db, "test", "bad").await.unwrap().unwrap();
    assert_eq!(bad, t0 + 7 * MINUTE);
    assert_eq!(timers::counts(&db, "test").await.unwrap(), (3, 1));
    // The follow-up the handler set in its transaction.
    assert_eq!(timers::due_at(&db, "test", "again").await.unwrap(), Some(t0 + 16 * MINUTE));
    assert_eq!(timers::fire_due(&db, "test", &recorder, t0 + 29 * MINUTE, 10).await.unwrap(), 1);
    assert_eq!(recorder.keys(), ["a", "again", "again"]);
    // "bad" failed again: each failure doubles the wait (two minutes now).
    assert_eq!(timers::due_at(&db, "test", "bad").await.unwrap(), Some(t0 + 31 * MINUTE));
    assert_eq!(timers::fire_due(&db, "test", &recorder, t0 + 30 * MINUTE, 10).await.unwrap(), 1);
    assert_eq!(recorder.keys(), ["a", "again", "again", "b"]);
    // Another kind is another scheduler's.
    assert_eq!(timers::due_at(&db, "other", "a").await.unwrap(), Some(t0));
    // The third failure waits four minutes; the rolled-back firings left nothing behind.
    assert_eq!(timers::fire_due(&db, "test", &recorder, t0 + 31 * MINUTE, 10).await.unwrap(), 0);
    assert_eq!(timers::due_at(&db, "test", "bad").await.unwrap(), Some(t0 + 35 * MINUTE));
    let consumed: i64 = pitboss_store::db!(&db, |c| pitboss_store::sqlx::query_scalar(
        "SELECT COUNT(*) FROM consumed_messages WHERE consumer = 'timer:bad'"
    )
    .fetch_one(c)
    .await)
    .unwrap();
    assert_eq!(consumed, 0);
    let mut tx = db.begin().await.unwrap();
    timers::clear_many(&mut tx, "test", &["bad".to_string()]).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(timers::due_at(&db, "test", "bad").await.unwrap(), None);
});

both_engines!(the_scheduler_fires_a_timer_at_its_time_without_a_sweep, |db| async move {
    let recorder = Arc::new(Recorder::default());
    let scheduler = Scheduler::new(db.clone(), "test", recorder.clone());
    let waker = scheduler.waker();
    let shutdown = Arc::new(tokio::sync::Notify::new());
    let running = tokio::spawn(scheduler.run(shutdown.clone()));
    let now = pitboss_core::time::to_micros(chrono::Utc::now());
    let mut tx = db.begin().await.unwrap();
    timers::set(&mut tx, "test", "soon", now + 300_000, now).await.unwrap();
    tx.commit().await.unwrap();
    waker.notify_one();
    // Due in 0.3 s: fired well before the scheduler's longest sleep (30 s).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while recorder.keys().is_empty() {
        assert!(std::time::Instant::now() < deadline, "the timer did not fire");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let fired_at = recorder.fired.lock().unwrap()[0].1;
    assert!(fired_at >= now + 300_000, "fired before it was due");
    shutdown.notify_one();
    running.await.unwrap();
});
