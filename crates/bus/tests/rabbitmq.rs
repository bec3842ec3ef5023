//! The RabbitMQ transport against a real broker, with the outbox relay and `apply_once` on
//! PostgreSQL. Needs RabbitMQ (`PITBOSS_TEST_AMQP_URL`, default the local guest account) and
//! `PITBOSS_TEST_DATABASE_URL`; run with `--ignored`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use async_trait::async_trait;
use pitboss_bus::consumer::{apply_once, handler_fn};
use pitboss_bus::outbox::enqueue;
use pitboss_bus::rabbitmq::{RabbitMq, queue_name};
use pitboss_bus::relay::{Relay, lag};
use pitboss_bus::{BusError, Handler, Message, Transport};
use pitboss_store::{Db, StoreError, db, exec};
use uuid::Uuid;

const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

fn amqp_url() -> String {
    std::env::var("PITBOSS_TEST_AMQP_URL").unwrap_or_else(|_| DEFAULT_AMQP_URL.to_string())
}

/// An exchange and a consumer of this run only, so that runs never see each other's messages.
struct Names {
    run: String,
    exchange: String,
    consumer: String,
}

fn names() -> Names {
    let run = Uuid::now_v7().simple().to_string();
    Names { exchange: format!("pitboss.test.{run}"), consumer: format!("test-{run}"), run }
}

/// Closes from the broker's side, as a broker restart or an operator would, every connection
/// whose name mentions `tag` (the transport names its connections after the exchange or the
/// queue). Returns how many, or `None` where `rabbitmqctl` is not installed (a remote broker).
async fn broker_closes_connections(tag: &str) -> anyhow::Result<Option<usize>> {
    let listed = tokio::process::Command::new("rabbitmqctl")
        .args(["list_connections", "-q", "--no-table-headers", "pid", "client_properties"])
        .output()
        .await;
    let listed = match listed {
        Ok(listed) => listed,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    ensure!(listed.status.success(), "rabbitmqctl list_connections: {}", String::from_utf8_lossy(&listed.stderr));
    let mut closed = 0;
    for line in String::from_utf8_lossy(&listed.stdout).lines().filter(|line| line.contains(tag)) {
        let Some(pid) = line.split_whitespace().next() else { continue };
        let status = tokio::process::Command::new("rabbitmqctl")
            .args(["close_connection", pid, "closed by a test"])
            .output()
            .await?;
        ensure!(status.status.success(), "rabbitmqctl close_connection: {}", String::from_utf8_lossy(&status.stderr));
        closed += 1;
    }
    Ok(Some(closed))
}

/// Runs one test body under a time limit, then deletes what it declared on the broker whether
/// it passed, failed, panicked or hung.
async fn with_broker<F, Fut>(limit: Duration, body: F)
where
    F: FnOnce(Arc<Names>) -> Fut,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    logs();
    let names = Arc::new(names());
    let mut task = tokio::spawn(body(names.clone()));
    let outcome = tokio::time::timeout(limit, &mut task).await;
    if outcome.is_err() {
        task.abort();
    }
    clean_up(&names).await;
    match outcome {
        Err(_) => panic!("the test timed out after {limit:?}"),
        Ok(Err(join)) => std::panic::resume_unwind(join.into_panic()),
        Ok(Ok(result)) => result.unwrap(),
    }
}

async fn clean_up(names: &Names) {
    let work = async {
        let connection = lapin::Connection::connect(&amqp_url(), lapin::ConnectionProperties::default()).await?;
        let channel = connection.create_channel().await?;
        channel.queue_delete(&queue_name(&names.consumer), lapin::options::QueueDeleteOptions::default()).await?;
        channel.exchange_delete(&names.exchange, lapin::options::ExchangeDeleteOptions::default()).await?;
        connection.close(200, "test done").await
    };
    match tokio::time::timeout(Duration::from_secs(10), work).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => eprintln!("cleaning up {} failed: {e}", names.exchange),
        Err(_) => eprintln!("cleaning up {} timed out", names.exchange),
    }
}

/// Polls `condition` every few milliseconds; fails after `limit`.
async fn wait_until<F, Fut>(what: &str, limit: Duration, mut condition: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<bool>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if condition().await? {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("timed out after {limit:?} waiting until {what}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The transport's warnings (reconnects, retries) in the test output; `RUST_LOG` for more.
fn logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("pitboss_bus=info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
}

/// A handler that keeps every message it gets, in order, and what it kept.
fn recorder() -> (Arc<Mutex<Vec<Message>>>, Arc<dyn Handler>) {
    let received = Arc::new(Mutex::new(Vec::<Message>::new()));
    let sink = received.clone();
    let handler = handler_fn(move |m| {
        let sink = sink.clone();
        async move {
            sink.lock().unwrap().push(m);
            Ok(())
        }
    });
    (received, handler)
}

fn message(topic: &str, key: &str, seq: usize) -> Message {
    Message {
        id: pitboss_core::new_id(),
        topic: topic.into(),
        key: key.into(),
        payload: serde_json::json!({ "key": key, "seq": seq }).to_string(),
    }
}

#[tokio::test]
#[ignore = "needs RabbitMQ: run with --ignored"]
async fn a_message_arrives_whole_and_publishing_survives_a_lost_connection() {
    with_broker(Duration::from_secs(60), round_trip).await;
}

async fn round_trip(names: Arc<Names>) -> anyhow::Result<()> {
    let bus = RabbitMq::connect(&amqp_url(), &names.exchange).await?;
    bus.health().await?;
    let (received, handler) = recorder();
    bus.subscribe(&names.consumer, handler).await?;

    let sent = vec![
        message("payment.deposit.completed", "player-1", 1),
        message("player.registered", "player-2", 2),
        message("game.round", "player-1", 3),
    ];
    bus.publish(&sent).await?;
    wait_until("3 messages arrive", Duration::from_secs(10), || async { Ok(received.lock().unwrap().len() >= 3) })
        .await?;
    assert_eq!(*received.lock().unwrap(), sent, "id, topic, key and payload survive the trip, in order");

    // Cut both connections: health reconnects the publisher, the consumer resubscribes.
    bus.close_connection_for_test().await;
    bus.health().await.context("health reconnects")?;
    let after = vec![message("game.round", "player-3", 4)];
    wait_until("a publish after the cut succeeds", Duration::from_secs(15), || async {
        Ok(bus.publish(&after).await.is_ok())
    })
    .await?;
    wait_until("the consumer resubscribes and gets it", Duration::from_secs(15), || async {
        Ok(received.lock().unwrap().iter().any(|m| m.id == after[0].id))
    })
    .await?;
    bus.close().await;
    Ok(())
}

#[tokio::test]
#[ignore = "needs RabbitMQ: run with --ignored"]
async fn what_is_published_before_a_consumer_first_starts_waits_for_it() {
    with_broker(Duration::from_secs(60), before_the_consumer).await;
}

async fn before_the_consumer(names: Arc<Names>) -> anyhow::Result<()> {
    // A publisher told of the consumer, and one that is not: the second's message is dropped by
    // the broker (no queue is bound yet), the first's is kept.
    let unaware = RabbitMq::connect(&amqp_url(), &names.exchange).await?;
    let lost = vec![message("game.round", "player-1", 0)];
    unaware.publish(&lost).await?;
    let publisher = RabbitMq::connect_for(&amqp_url(), &names.exchange, &[&names.consumer]).await?;
    let sent: Vec<Message> = (1..=20).map(|seq| message("game.round", "player-1", seq)).collect();
    publisher.publish(&sent).await?;
    publisher.close().await;
    unaware.close().await;

    let consumer_bus = RabbitMq::connect(&amqp_url(), &names.exchange).await?;
    let (received, handler) = recorder();
    consumer_bus.subscribe(&names.consumer, handler).await?;
    wait_until("the 20 kept messages arrive", Duration::from_secs(10), || async {
        Ok(received.lock().unwrap().len() >= sent.len())
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(*received.lock().unwrap(), sent, "every message published after the declaration, in order");
    consumer_bus.close().await;
    Ok(())
}

#[tokio::test]
#[ignore = "needs RabbitMQ: run with --ignored"]
async fn a_failing_or_panicking_handler_gets_the_message_again_in_order() {
    with_broker(Duration::from_secs(60), redelivery).await;
}

async fn redelivery(names: Arc<Names>) -> anyhow::Result<()> {
    let bus = RabbitMq::connect(&amqp_url(), &names.exchange).await?;
    let sent: Vec<Message> = (0..50).map(|seq| message("game.round", "player-1", seq)).collect();
    let (fails, panics) = (sent[10].id, sent[20].id);
    let applied = Arc::new(Mutex::new(Vec::<Uuid>::new()));
    let attempts = Arc::new(Mutex::new(BTreeMap::<Uuid, usize>::new()));
    let (record, tries) = (applied.clone(), attempts.clone());
    bus.subscribe(
        &names.consumer,
        handler_fn(move |m: Message| {
            let (record, tries) = (record.clone(), tries.clone());
            async move {
                let attempt = {
                    let mut tries = tries.lock().unwrap();
                    let n = tries.entry(m.id).or_default();
                    *n += 1;
                    *n
                };
                if m.id == fails && attempt == 1 {
                    return Err(BusError::Handler { consumer: "test".into(), message: m.id, reason: "not yet".into() });
                }
                if m.id == panics && attempt == 1 {
                    panic!("a bug in a handler");
                }
                let mut record = record.lock().unwrap();
                if !record.contains(&m.id) {
                    record.push(m.id);
                }
                Ok(())
            }
        }),
    )
    .await?;
    bus.publish(&sent).await?;
    wait_until("all 50 are applied", Duration::from_secs(30), || async { Ok(applied.lock().unwrap().len() >= 50) })
        .await?;
    let position = |id: &Uuid| sent.iter().position(|m| &m.id == id);
    let order: Vec<_> = applied.lock().unwrap().iter().map(position).collect();
    let want: Vec<_> = (0..sent.len()).map(Some).collect();
    assert_eq!(order, want, "redelivered messages keep their place");
    assert_eq!(attempts.lock().unwrap()[&fails], 2);
    assert_eq!(attempts.lock().unwrap()[&panics], 2);
    bus.close().await;
    Ok(())
}

/// Wraps the publisher so that some publishes lose the connection while the batch is in
/// flight, as a broker restart would.
struct CutMidBatch {
    inner: RabbitMq,
    cut_on_calls: Vec<usize>,
    calls: AtomicUsize,
    failures: AtomicUsize,
}

#[async_trait]
impl Transport for CutMidBatch {
    fn name(&self) -> &'static str {
        "rabbitmq-with-cuts"
    }

    async fn publish(&self, messages: &[Message]) -> Result<(), BusError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let result = if self.cut_on_calls.contains(&call) {
            let (result, ()) = tokio::join!(self.inner.publish(messages), self.inner.close_connection_for_test());
            result
        } else {
            self.inner.publish(messages).await
        };
        if result.is_err() {
            self.failures.fetch_add(1, Ordering::SeqCst);
        }
        result
    }

    async fn subscribe(&self, consumer: &str, handler: Arc<dyn Handler>) -> Result<(), BusError> {
        self.inner.subscribe(consumer, handler).await
    }

    async fn health(&self) -> Result<(), BusError> {
        self.inner.health().await
    }
}

const MESSAGES: usize = 2_000;
const KEYS: usize = 20;

async fn write_messages(db: &Db, range: std::ops::Range<usize>) -> anyhow::Result<()> {
    let seqs: Vec<usize> = range.collect();
    for chunk in seqs.chunks(100) {
        let mut tx = db.begin().await?;
        for &seq in chunk {
            let m = message("test.happened", &format!("player-{}", seq % KEYS), seq);
            enqueue(&mut tx, &m, pitboss_core::time::to_micros(chrono::Utc::now())).await?;
        }
        tx.commit().await?;
    }
    Ok(())
}

/// The consumer under test: applies each message once, recording it in `test_effects`.
fn effect_handler(db: Db, consumer: String, deliveries: Arc<AtomicUsize>) -> Arc<dyn Handler> {
    handler_fn(move |message: Message| {
        let db = db.clone();
        let consumer = consumer.clone();
        let deliveries = deliveries.clone();
        async move {
            deliveries.fetch_add(1, Ordering::SeqCst);
            let body: serde_json::Value =
                serde_json::from_str(&message.payload).map_err(|e| BusError::Transport(format!("bad payload: {e}")))?;
            let seq = body["seq"].as_i64().unwrap_or(-1);
            apply_once(&db, &consumer, &message, async |tx| -> Result<(), StoreError> {
                exec!(
                    tx,
                    "INSERT INTO test_effects (message_id, key, seq) VALUES ($1, $2, $3)",
                    message.id,
                    &message.key,
                    seq,
                )?;
                Ok(())
            })
            .await?;
            Ok(())
        }
    })
}

async fn applied(db: &Db) -> anyhow::Result<i64> {
    Ok(db!(db, |c| sqlx::query_scalar("SELECT COUNT(*) FROM test_effects").fetch_one(c).await)?)
}

#[tokio::test]
#[ignore = "needs RabbitMQ: run with --ignored"]
async fn every_message_takes_effect_exactly_once_through_lost_connections_and_a_restart() {
    with_broker(Duration::from_secs(180), exactly_once).await;
}

async fn exactly_once(names: Arc<Names>) -> anyhow::Result<()> {
    let db = pitboss_store::testing::postgres().await?;
    {
        let mut tx = db.begin().await?;
        exec!(
            &mut tx,
            "CREATE TABLE test_effects (applied BIGSERIAL PRIMARY KEY, message_id UUID NOT NULL, key TEXT NOT NULL, seq BIGINT NOT NULL)"
        )?;
        tx.commit().await?;
    }
    let url = amqp_url();
    let deliveries = Arc::new(AtomicUsize::new(0));
    let handler = || effect_handler(db.clone(), names.consumer.clone(), deliveries.clone());

    let consumer_bus = RabbitMq::connect(&url, &names.exchange).await?;
    consumer_bus.subscribe(&names.consumer, handler()).await?;
    let publisher = RabbitMq::connect(&url, &names.exchange).await?;
    let transport = Arc::new(CutMidBatch {
        inner: publisher.clone(),
        cut_on_calls: vec![3, 12, 25],
        calls: AtomicUsize::new(0),
        failures: AtomicUsize::new(0),
    });

    write_messages(&db, 0..MESSAGES / 2).await?;
    let relay = Relay::new(db.clone(), transport.clone()).with_batch_size(25);
    let notify = relay.notifier();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let relay_task = tokio::spawn(relay.run(stopped));
    let limit = Duration::from_secs(60);

    wait_until("a quarter is applied", limit, || async { Ok(applied(&db).await? >= 250) }).await?;
    consumer_bus.close_connection_for_test().await;

    wait_until("half of the first wave is applied", limit, || async { Ok(applied(&db).await? >= 500) }).await?;
    // Restart the consumer: a new process would subscribe under the same name.
    consumer_bus.close().await;
    let consumer_bus = RabbitMq::connect(&url, &names.exchange).await?;
    consumer_bus.subscribe(&names.consumer, handler()).await?;

    write_messages(&db, MESSAGES / 2..MESSAGES - 100).await?;
    notify.notify_one();
    wait_until("most are applied", limit, || async { Ok(applied(&db).await? >= 1_300) }).await?;
    tokio::join!(publisher.close_connection_for_test(), consumer_bus.close_connection_for_test());

    wait_until("most are applied", limit, || async { Ok(applied(&db).await? >= 1_600) }).await?;
    // The publisher reconnects lazily; make sure it is connected so that the broker cuts it too.
    publisher.health().await?;
    match broker_closes_connections(&names.run).await? {
        Some(closed) => {
            ensure!(closed >= 2, "the broker closed {closed} connections, expected the publisher's and the consumer's")
        }
        None => eprintln!("rabbitmqctl is not installed: skipping the broker-side close"),
    }
    // Written after the cut: the publisher has to reconnect to send these.
    write_messages(&db, MESSAGES - 100..MESSAGES).await?;
    notify.notify_one();

    wait_until("every message is applied", limit, || async { Ok(applied(&db).await? >= MESSAGES as i64) }).await?;
    stop.send(true)?;
    tokio::time::timeout(Duration::from_secs(30), relay_task).await.context("the relay stops")??;
    // Give stray redeliveries time to arrive: they must change nothing.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let (rows, distinct): (i64, i64) =
        db!(&db, |c| sqlx::query_as("SELECT COUNT(*), COUNT(DISTINCT message_id) FROM test_effects")
            .fetch_one(c)
            .await)?;
    let (outbox_rows, missing): (i64, i64) = db!(&db, |c| {
        sqlx::query_as(
        "SELECT COUNT(*), COUNT(*) - COUNT(e.message_id) FROM outbox o LEFT JOIN test_effects e ON e.message_id = o.id"
    )
    .fetch_one(c)
    .await
    })?;
    let consumed: i64 = db!(&db, |c| sqlx::query_scalar("SELECT COUNT(*) FROM consumed_messages WHERE consumer = $1")
        .bind(&names.consumer)
        .fetch_one(c)
        .await)?;
    let delivered = deliveries.load(Ordering::SeqCst);
    let publish_failures = transport.failures.load(Ordering::SeqCst);
    eprintln!(
        "applied {rows} of {MESSAGES}; {delivered} deliveries; {publish_failures} publishes failed and were retried"
    );
    ensure!(outbox_rows == MESSAGES as i64, "outbox has {outbox_rows} rows");
    ensure!(missing == 0, "{missing} messages never took effect");
    ensure!(rows == MESSAGES as i64 && distinct == rows, "{rows} effects for {distinct} messages");
    ensure!(consumed == MESSAGES as i64, "{consumed} consumed_messages rows");
    ensure!(lag(&db).await?.0 == 0, "the outbox is drained");
    ensure!(publish_failures >= 1, "no publish lost its connection mid-batch");

    // One key's messages took effect in the order they were written.
    let order: Vec<(String, i64)> =
        db!(&db, |c| sqlx::query_as("SELECT key, seq FROM test_effects ORDER BY applied").fetch_all(c).await)?;
    let mut last: BTreeMap<String, i64> = BTreeMap::new();
    let mut out_of_order = BTreeSet::new();
    for (key, seq) in order {
        if last.get(&key).is_some_and(|&prev| prev > seq) {
            out_of_order.insert(key.clone());
        }
        last.insert(key, seq);
    }
    ensure!(out_of_order.is_empty(), "out of order for {out_of_order:?}");

    consumer_bus.close().await;
    publisher.close().await;
    db.close().await;
    Ok(())
}
