//! The outbox, the relay and idempotent consumers over the in-process transport, on both engines.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use pitboss_bus::consumer::{Applied, apply_once, handler_fn};
use pitboss_bus::in_process::InProcess;
use pitboss_bus::outbox::enqueue;
use pitboss_bus::relay::{Relay, lag};
use pitboss_bus::{BusError, Handler, Message, Transport};
use pitboss_store::{Db, StoreError, db, exec};

fn message(key: &str, seq: usize) -> Message {
    Message {
        id: pitboss_core::new_id(),
        topic: "test.happened".into(),
        key: key.into(),
        payload: format!(r#"{{"key":"{key}","seq":{seq}}}"#),
    }
}

/// Writes `count` messages spread over `keys` keys, `per_tx` to a transaction, and returns
/// them in the order they were written.
async fn write_messages(db: &Db, count: usize, keys: usize, per_tx: usize) -> Vec<Message> {
    let mut written = Vec::with_capacity(count);
    for chunk_start in (0..count).step_by(per_tx) {
        let mut tx = db.begin().await.unwrap();
        for seq in chunk_start..(chunk_start + per_tx).min(count) {
            let m = message(&format!("player-{}", seq % keys), seq);
            enqueue(&mut tx, &m, 1_000 + seq as i64).await.unwrap();
            written.push(m);
        }
        tx.commit().await.unwrap();
    }
    written
}

async fn unpublished(db: &Db) -> i64 {
    db!(db, |c| sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE published_at IS NULL").fetch_one(c).await)
        .unwrap()
}

/// Remembers everything delivered to it.
#[derive(Default, Clone)]
struct Recorder(Arc<Mutex<Vec<Message>>>);

impl Recorder {
    fn seen(&self) -> Vec<Message> {
        self.0.lock().unwrap().clone()
    }
}

#[async_trait]
impl Handler for Recorder {
    async fn handle(&self, message: &Message) -> Result<(), BusError> {
        self.0.lock().unwrap().push(message.clone());
        Ok(())
    }
}

/// The in-process transport behind a switch: while `failing`, each publish delivers only the
/// first `deliver_before_failing` messages of its batch, then fails (a connection lost halfway).
struct Flaky {
    inner: InProcess,
    failing: AtomicBool,
    deliver_before_failing: usize,
    failures: AtomicUsize,
}

#[async_trait]
impl Transport for Flaky {
    fn name(&self) -> &'static str {
        "flaky"
    }

    async fn publish(&self, messages: &[Message]) -> Result<(), BusError> {
        if self.failing.load(Ordering::SeqCst) {
            let n = self.deliver_before_failing.min(messages.len());
            self.inner.publish(&messages[..n]).await?;
            self.failures.fetch_add(1, Ordering::SeqCst);
            return Err(BusError::Transport("broker unreachable (test)".into()));
        }
        self.inner.publish(messages).await
    }

    async fn subscribe(&self, consumer: &str, handler: Arc<dyn Handler>) -> Result<(), BusError> {
        self.inner.subscribe(consumer, handler).await
    }

    async fn health(&self) -> Result<(), BusError> {
        Ok(())
    }
}

fn assert_in_key_order(delivered: &[Message], written: &[Message]) {
    for key in written.iter().map(|m| &m.key).collect::<std::collections::BTreeSet<_>>() {
        let want: Vec<_> = written.iter().filter(|m| &m.key == key).map(|m| m.id).collect();
        let got: Vec<_> = delivered.iter().filter(|m| &m.key == key).map(|m| m.id).collect();
        assert_eq!(got, want, "messages of {key} out of order or missing");
    }
}

async fn create_effects_table(db: &Db) {
    let mut tx = db.begin().await.unwrap();
    exec!(&mut tx, "CREATE TABLE test_effects (message_id UUID NOT NULL, consumer TEXT NOT NULL)").unwrap();
    tx.commit().await.unwrap();
}

/// A consumer that records each message it applies in `test_effects`, through `apply_once`.
fn effect_consumer(db: Db, consumer: &'static str, deliveries: Arc<AtomicUsize>) -> Arc<dyn Handler> {
    handler_fn(move |message: Message| {
        let db = db.clone();
        let deliveries = deliveries.clone();
        async move {
            deliveries.fetch_add(1, Ordering::SeqCst);
            apply_once(&db, consumer, &message, async |tx| -> Result<(), StoreError> {
                exec!(tx, "INSERT INTO test_effects (message_id, consumer) VALUES ($1, $2)", message.id, consumer)?;
                Ok(())
            })
            .await?;
            Ok(())
        }
    })
}

async fn effect_counts(db: &Db) -> (i64, i64) {
    db!(db, |c| sqlx::query_as("SELECT COUNT(*), COUNT(DISTINCT message_id) FROM test_effects").fetch_one(c).await)
        .unwrap()
}

pitboss_store::both_engines!(publishes_every_message_once_in_key_order, |db| async move {
    let written = write_messages(&db, 250, 7, 30).await;
    let transport = InProcess::new();
    let recorder = Recorder::default();
    transport.subscribe("recorder", Arc::new(recorder.clone())).await.unwrap();
    let relay = Relay::new(db.clone(), Arc::new(transport)).with_batch_size(40);

    assert_eq!(relay.publish_pending().await.unwrap(), 40, "one batch at a time");
    assert_eq!(relay.flush().await.unwrap(), 210);
    assert_eq!(relay.flush().await.unwrap(), 0, "nothing is published twice");

    let delivered = recorder.seen();
    assert_eq!(delivered, written, "outbox order is write order");
    assert_in_key_order(&delivered, &written);
    assert_eq!(unpublished(&db).await, 0);
    assert_eq!(lag(&db).await.unwrap(), (0, None));
});

pitboss_store::both_engines!(lag_counts_pending_rows_and_the_oldest, |db| async move {
    assert_eq!(lag(&db).await.unwrap(), (0, None));
    write_messages(&db, 3, 1, 3).await;
    assert_eq!(lag(&db).await.unwrap(), (3, Some(1_000)));

    let relay = Relay::new(db.clone(), Arc::new(InProcess::new())).with_batch_size(2);
    relay.publish_pending().await.unwrap();
    assert_eq!(lag(&db).await.unwrap(), (1, Some(1_002)));
    relay.flush().await.unwrap();
    assert_eq!(lag(&db).await.unwrap(), (0, None));
});

pitboss_store::both_engines!(a_failing_transport_loses_nothing, |db| async move {
    create_effects_table(&db).await;
    let written = write_messages(&db, 60, 4, 60).await;
    let transport = Arc::new(Flaky {
        inner: InProcess::new(),
        failing: AtomicBool::new(true),
        deliver_before_failing: 7,
        failures: AtomicUsize::new(0),
    });
    let recorder = Recorder::default();
    transport.subscribe("recorder", Arc::new(recorder.clone())).await.unwrap();
    let deliveries = Arc::new(AtomicUsize::new(0));
    transport.subscribe("effects", effect_consumer(db.clone(), "effects", deliveries.clone())).await.unwrap();
    let relay = Relay::new(db.clone(), transport.clone()).with_batch_size(25);

    // A failed batch stays pending as a whole, even the part that got through.
    assert!(matches!(relay.publish_pending().await, Err(BusError::Transport(_))));
    assert_eq!(unpublished(&db).await, 60);
    assert_eq!(lag(&db).await.unwrap().0, 60);

    // The running relay keeps retrying with back-off until the transport recovers.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let notify = relay.notifier();
    let running = tokio::spawn(relay.run(stopped));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(transport.failures.load(Ordering::SeqCst) >= 3, "the relay retried");
    assert_eq!(unpublished(&db).await, 60, "nothing is marked published while the transport fails");

    transport.failing.store(false, Ordering::SeqCst);
    notify.notify_one();
    tokio::time::timeout(Duration::from_secs(20), async {
        while unpublished(&db).await > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the relay catches up once the transport is back");

    // Writes after recovery go out too, at once when the writer pokes the relay.
    let mut tx = db.begin().await.unwrap();
    let late = message("player-late", 60);
    enqueue(&mut tx, &late, 9_999).await.unwrap();
    tx.commit().await.unwrap();
    notify.notify_one();
    tokio::time::timeout(Duration::from_secs(10), async {
        while unpublished(&db).await > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the poked relay publishes the late message");

    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), running).await.expect("the relay stops").unwrap();

    // Every message arrived, some more than once (the halves of failed batches) ...
    let delivered = recorder.seen();
    let mut all = written.clone();
    all.push(late);
    for m in &all {
        assert!(delivered.iter().any(|d| d.id == m.id), "message {} was lost", m.id);
    }
    assert!(delivered.len() > all.len(), "failed batches were delivered again");
    // ... and took effect exactly once.
    assert!(deliveries.load(Ordering::SeqCst) > all.len());
    assert_eq!(effect_counts(&db).await, (all.len() as i64, all.len() as i64));
});

pitboss_store::both_engines!(the_relay_stops_on_shutdown_after_a_final_flush, |db| async move {
    let transport = InProcess::new();
    let recorder = Recorder::default();
    transport.subscribe("recorder", Arc::new(recorder.clone())).await.unwrap();
    let relay = Relay::new(db.clone(), Arc::new(transport)).with_batch_size(10);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(relay.run(stopped));

    let written = write_messages(&db, 35, 3, 35).await;
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), running).await.expect("the relay stops").unwrap();
    assert_eq!(unpublished(&db).await, 0, "shutdown flushes what was written before it");
    assert_eq!(recorder.seen(), written);
});

pitboss_store::both_engines!(apply_once_applies_a_redelivered_message_once, |db| async move {
    create_effects_table(&db).await;
    let m = message("player-1", 1);
    let runs = AtomicUsize::new(0);
    let effect = async |tx: &mut pitboss_store::Tx| -> Result<(), StoreError> {
        runs.fetch_add(1, Ordering::SeqCst);
        exec!(tx, "INSERT INTO test_effects (message_id, consumer) VALUES ($1, $2)", m.id, "c")?;
        Ok(())
    };

    // A failing effect rolls back with the record: the message is still to be applied.
    let failed = apply_once(&db, "c", &m, async |tx| -> Result<(), BusError> {
        exec!(tx, "INSERT INTO test_effects (message_id, consumer) VALUES ($1, $2)", m.id, "c")
            .map_err(StoreError::from)?;
        Err(BusError::Handler { consumer: "c".into(), message: m.id, reason: "boom".into() })
    })
    .await;
    assert!(matches!(failed, Err(BusError::Handler { .. })));
    assert_eq!(effect_counts(&db).await, (0, 0));

    assert_eq!(apply_once(&db, "c", &m, effect).await.unwrap(), Applied::Applied);
    assert_eq!(apply_once(&db, "c", &m, effect).await.unwrap(), Applied::AlreadyApplied);
    assert_eq!(apply_once(&db, "c", &m, effect).await.unwrap(), Applied::AlreadyApplied);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(effect_counts(&db).await, (1, 1));

    // Each consumer keeps its own record.
    assert_eq!(
        apply_once(&db, "other", &m, async |_| -> Result<(), StoreError> { Ok(()) }).await.unwrap(),
        Applied::Applied
    );
});

pitboss_store::both_engines!(concurrent_deliveries_apply_once, |db| async move {
    create_effects_table(&db).await;
    let m = message("player-1", 1);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let db = db.clone();
        let m = m.clone();
        tasks.push(tokio::spawn(async move {
            apply_once(&db, "c", &m, async |tx| -> Result<(), StoreError> {
                exec!(tx, "INSERT INTO test_effects (message_id, consumer) VALUES ($1, $2)", m.id, "c")?;
                // Holds the transaction open so the other deliveries overlap with it.
                tokio::time::sleep(Duration::from_millis(30)).await;
                Ok(())
            })
            .await
            .unwrap()
        }));
    }
    let mut applied = 0;
    for task in tasks {
        if tokio::time::timeout(Duration::from_secs(30), task).await.unwrap().unwrap() == Applied::Applied {
            applied += 1;
        }
    }
    assert_eq!(applied, 1);
    assert_eq!(effect_counts(&db).await, (1, 1));
});
