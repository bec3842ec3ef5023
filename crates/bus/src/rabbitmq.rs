//! The RabbitMQ transport (AMQP 0-9-1 through lapin).
//!
//! Messages go to one durable topic exchange (routing key = topic) with publisher confirms, as
//! persistent messages carrying their id (`message_id`) and key (header `partition_key`). Each
//! consumer owns a durable quorum queue `pitboss.<consumer>` bound with `#`, consumed with
//! manual acks on a connection of its own. The publisher declares the queues of the consumers
//! it is told of ([`RabbitMq::connect_for`]), so what it publishes before a consumer first
//! starts waits for it.
//!
//! Connections drop (broker restarts, network blips, operators). The publisher reconnects on
//! the next publish, and the batch in flight fails so the relay sends it again; a consumer
//! reconnects with back-off and re-declares its queue, and the broker redelivers whatever was
//! unacknowledged. Both can duplicate a message, never lose one: consumers dedupe with
//! [`crate::consumer::apply_once`].
//!
//! A consumer handles one message at a time, so one key's messages take effect in order. When
//! its handler fails (or panics) the message goes back to the queue with everything prefetched
//! behind it, and comes again after a back-off that grows to a few seconds. There is no
//! delivery limit: a message that can never be applied holds its consumer up (and says so in
//! the log) rather than being skipped out of order.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex as StdMutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use futures::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, BasicRejectOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::{BusError, Handler, Message, Transport};

/// The exchange every Pitboss event goes through unless configured otherwise.
pub const DEFAULT_EXCHANGE: &str = "pitboss.events";
/// The header that carries [`Message::key`].
pub const PARTITION_KEY_HEADER: &str = "partition_key";
/// Unacknowledged deliveries a consumer holds at once: enough to hide the round trip, few
/// enough that a restart redelivers little.
const PREFETCH: u16 = 100;
/// Bounds connecting and declaring, so that a broker that accepts TCP but never answers
/// cannot hang a publish or a reconnect loop.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Bounds waiting for the broker to confirm one batch.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `close` lets a consumer finish the message in hand.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// 320 CONNECTION_FORCED: how a forced close is reported in AMQP.
const REPLY_FORCED: u16 = 320;
/// How often a wait on the broker checks that its connection is still up.
const LIVENESS_CHECK: Duration = Duration::from_millis(100);
const REPLY_SUCCESS: u16 = 200;

/// The durable queue of one consumer.
pub fn queue_name(consumer: &str) -> String {
    format!("pitboss.{consumer}")
}

/// The connection a publisher or a subscription is using right now, reachable from outside
/// its task so that [`RabbitMq::close_connection_for_test`] can cut it.
type Slot = Arc<StdMutex<Option<Arc<Connection>>>>;

fn lock<T>(m: &StdMutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Nothing in this module panics while holding these locks; if something did, the data
    // (an optional handle) is still coherent.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Where to connect, shared with the consumer tasks (which must not keep the transport alive).
struct Endpoint {
    url: String,
    exchange: String,
    /// Consumers whose queues the publisher declares before it publishes anything.
    consumers: Vec<String>,
}

/// A RabbitMQ [`Transport`]. Cheap to clone; every clone shares the connections.
#[derive(Clone)]
pub struct RabbitMq {
    shared: Arc<Shared>,
}

/// An open channel and the connection under it.
#[derive(Clone)]
struct Link {
    connection: Arc<Connection>,
    channel: Channel,
}

struct Shared {
    endpoint: Arc<Endpoint>,
    /// The confirm-mode channel; the lock is held for a whole batch so batches go out one
    /// after the other, in the order the relay sends them.
    publisher: Mutex<Option<Link>>,
    publisher_connection: Slot,
    subscriptions: StdMutex<Vec<Subscription>>,
    /// Turns true on [`RabbitMq::close`]; dropped with the last clone, which stops consumers too.
    stop: watch::Sender<bool>,
}

struct Subscription {
    connection: Slot,
    task: JoinHandle<()>,
}

impl RabbitMq {
    /// Connects to the broker at `url` (e.g. `amqp://guest:guest@127.0.0.1:5672/%2f`) and
    /// declares the durable topic `exchange`. Fails if the broker cannot be reached now.
    pub async fn connect(url: &str, exchange: &str) -> Result<RabbitMq, BusError> {
        RabbitMq::connect_for(url, exchange, &[]).await
    }

    /// As [`RabbitMq::connect`], and the publisher declares the durable queue of each of
    /// `consumers` (bound to every topic) before it publishes, on every connection: a message
    /// published while a consumer is not running, or has never run, waits in its queue.
    /// Without it the broker drops a message that no queue is bound to receive.
    pub async fn connect_for(url: &str, exchange: &str, consumers: &[&str]) -> Result<RabbitMq, BusError> {
        let (stop, _) = watch::channel(false);
        let endpoint = Endpoint {
            url: url.to_string(),
            exchange: exchange.to_string(),
            consumers: consumers.iter().map(|c| c.to_string()).collect(),
        };
        let bus = RabbitMq {
            shared: Arc::new(Shared {
                endpoint: Arc::new(endpoint),
                publisher: Mutex::new(None),
                publisher_connection: Slot::default(),
                subscriptions: StdMutex::new(Vec::new()),
                stop,
            }),
        };
        {
            let mut link = bus.shared.publisher.lock().await;
            bus.publisher_link(&mut link).await?;
        }
        Ok(bus)
    }

    pub fn exchange(&self) -> &str {
        &self.shared.endpoint.exchange
    }

    /// Stops every subscription of this transport (each finishes the message in hand; what
    /// it had prefetched goes back to its queue) and closes the connections. Queues stay, and
    /// keep collecting messages for the consumer's next start. A closed transport takes no
    /// new subscriptions.
    pub async fn close(&self) {
        self.shared.stop.send_replace(true);
        let subscriptions = std::mem::take(&mut *lock(&self.shared.subscriptions));
        for mut subscription in subscriptions {
            if tokio::time::timeout(STOP_TIMEOUT, &mut subscription.task).await.is_err() {
                tracing::warn!("a RabbitMQ consumer did not stop in time; aborting it");
                subscription.task.abort();
                close_slot(&subscription.connection, REPLY_SUCCESS, "consumer stopped").await;
            }
        }
        let mut link = self.shared.publisher.lock().await;
        *link = None;
        close_slot(&self.shared.publisher_connection, REPLY_SUCCESS, "publisher stopped").await;
    }

    /// Cuts every connection of this transport (the publisher's and each consumer's) without
    /// stopping anything, so that tests can show publishing and consuming recover from a lost
    /// connection.
    pub async fn close_connection_for_test(&self) {
        let mut slots = vec![self.shared.publisher_connection.clone()];
        slots.extend(lock(&self.shared.subscriptions).iter().map(|s| s.connection.clone()));
        for slot in slots {
            let connection = lock(&slot).clone();
            if let Some(connection) = connection {
                let _ =
                    tokio::time::timeout(CONNECT_TIMEOUT, connection.close(REPLY_FORCED, "closed for a test")).await;
            }
        }
    }

    /// The confirm-mode publisher channel, opening a new connection if there is none or the
    /// last one died.
    async fn publisher_link(&self, current: &mut Option<Link>) -> Result<Link, BusError> {
        if let Some(link) = current.as_ref()
            && link.channel.status().connected()
            && link.connection.status().connected()
        {
            return Ok(link.clone());
        }
        *current = None;
        close_slot(&self.shared.publisher_connection, REPLY_SUCCESS, "replaced").await;
        let endpoint = &self.shared.endpoint;
        let slot = &self.shared.publisher_connection;
        let link = within(CONNECT_TIMEOUT, "open the publisher channel", async {
            let name = format!("pitboss publisher {}", endpoint.exchange);
            let connection = open_connection(&endpoint.url, &name, slot).await?;
            let channel = connection.create_channel().await.map_err(amqp("open a channel"))?;
            declare_exchange(&channel, &endpoint.exchange).await?;
            for consumer in &endpoint.consumers {
                declare_queue(&channel, &endpoint.exchange, &queue_name(consumer)).await?;
            }
            channel.confirm_select(ConfirmSelectOptions::default()).await.map_err(amqp("enable publisher confirms"))?;
            Ok(Link { connection, channel })
        })
        .await;
        let link = match link {
            Ok(link) => link,
            Err(error) => {
                close_slot(slot, REPLY_SUCCESS, "setup failed").await;
                return Err(error);
            }
        };
        tracing::info!(exchange = %endpoint.exchange, "RabbitMQ publisher connected");
        *current = Some(link.clone());
        Ok(link)
    }

    /// Forgets the publisher channel after a failure, so that the next publish starts afresh.
    async fn reset_publisher(&self, current: &mut Option<Link>) {
        *current = None;
        close_slot(&self.shared.publisher_connection, REPLY_SUCCESS, "reset after an error").await;
    }
}

#[async_trait]
impl Transport for RabbitMq {
    fn name(&self) -> &'static str {
        "rabbitmq"
    }

    async fn publish(&self, messages: &[Message]) -> Result<(), BusError> {
        if messages.is_empty() {
            return Ok(());
        }
        let mut current = self.shared.publisher.lock().await;
        let link = self.publisher_link(&mut current).await?;
        let sent = within(
            CONFIRM_TIMEOUT,
            "publish a batch",
            while_connected(
                &link.connection,
                publish_confirmed(&link.channel, &self.shared.endpoint.exchange, messages),
            ),
        )
        .await;
        match sent {
            // A nack is the broker refusing a message on a healthy channel: keep the channel.
            Err(BusError::NotConfirmed(id)) => Err(BusError::NotConfirmed(id)),
            Err(error) => {
                self.reset_publisher(&mut current).await;
                Err(error)
            }
            Ok(()) => Ok(()),
        }
    }

    async fn subscribe(&self, consumer: &str, handler: Arc<dyn Handler>) -> Result<(), BusError> {
        let queue = queue_name(consumer);
        let endpoint = self.shared.endpoint.clone();
        let slot = Slot::default();
        // The first attach happens here, not in the task, so that the queue exists and is
        // bound when this returns: everything published afterwards reaches this consumer.
        let attached = attach(&endpoint, &queue, &slot).await?;
        let stop = self.shared.stop.subscribe();
        let task = tokio::spawn(consume(endpoint, consumer.to_string(), queue, handler, slot.clone(), attached, stop));
        lock(&self.shared.subscriptions).push(Subscription { connection: slot, task });
        Ok(())
    }

    async fn health(&self) -> Result<(), BusError> {
        if slot_connected(&self.shared.publisher_connection) {
            return Ok(());
        }
        let mut current = tokio::time::timeout(CONNECT_TIMEOUT, self.shared.publisher.lock())
            .await
            .map_err(|_| BusError::Transport("the RabbitMQ publisher is busy reconnecting".into()))?;
        self.publisher_link(&mut current).await.map(|_| ())
    }
}

fn amqp(context: &'static str) -> impl Fn(lapin::Error) -> BusError {
    move |error| BusError::Transport(format!("RabbitMQ: cannot {context}: {error}"))
}

/// Awaits `work` unless the connection closes first: lapin can leave the promise of a frame
/// unresolved when the connection goes away under it (seen with acks), which would hang the
/// caller for good.
async fn while_connected<T>(
    connection: &Connection,
    work: impl Future<Output = Result<T, BusError>>,
) -> Result<T, BusError> {
    let closed = async {
        loop {
            tokio::time::sleep(LIVENESS_CHECK).await;
            if !connection.status().connected() {
                return;
            }
        }
    };
    tokio::select! {
        done = work => done,
        () = closed => Err(BusError::Transport("RabbitMQ: the connection closed".into())),
    }
}

async fn within<T>(
    limit: Duration,
    what: &'static str,
    work: impl Future<Output = Result<T, BusError>>,
) -> Result<T, BusError> {
    tokio::time::timeout(limit, work)
        .await
        .unwrap_or_else(|_| Err(BusError::Transport(format!("RabbitMQ: timed out trying to {what}"))))
}

/// Opens a connection and records it in `slot` (closing the one it replaces).
async fn open_connection(url: &str, name: &str, slot: &Slot) -> Result<Arc<Connection>, BusError> {
    let properties = ConnectionProperties::default().with_connection_name(name.into());
    let connection = Arc::new(Connection::connect(url, properties).await.map_err(amqp("connect"))?);
    let previous = lock(slot).replace(connection.clone());
    if let Some(previous) = previous {
        let _ = previous.close(REPLY_SUCCESS, "replaced").await;
    }
    Ok(connection)
}

fn slot_connected(slot: &Slot) -> bool {
    lock(slot).as_ref().is_some_and(|c| c.status().connected())
}

async fn close_slot(slot: &Slot, code: u16, reason: &str) {
    let connection = lock(slot).take();
    if let Some(connection) = connection
        && connection.status().connected()
    {
        let _ = tokio::time::timeout(CONNECT_TIMEOUT, connection.close(code, reason)).await;
    }
}

async fn declare_exchange(channel: &Channel, exchange: &str) -> Result<(), BusError> {
    channel
        .exchange_declare(
            exchange,
            ExchangeKind::Topic,
            ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() },
            FieldTable::default(),
        )
        .await
        .map_err(amqp("declare the exchange"))
}

/// A consumer's durable quorum queue, bound to every topic of the exchange. Declaring an
/// existing queue with the same settings changes nothing.
async fn declare_queue(channel: &Channel, exchange: &str, queue: &str) -> Result<(), BusError> {
    let mut arguments = FieldTable::default();
    arguments.insert("x-queue-type".into(), AMQPValue::LongString("quorum".into()));
    channel
        .queue_declare(queue, QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() }, arguments)
        .await
        .map_err(amqp("declare the queue"))?;
    channel
        .queue_bind(queue, exchange, "#", QueueBindOptions::default(), FieldTable::default())
        .await
        .map_err(amqp("bind the queue"))
}

fn properties(message: &Message) -> BasicProperties {
    let mut headers = FieldTable::default();
    headers.insert(PARTITION_KEY_HEADER.into(), AMQPValue::LongString(message.key.as_str().into()));
    BasicProperties::default()
        .with_message_id(message.id.to_string().into())
        .with_content_type("application/json".into())
        // 2 = persistent: the broker writes the message to disk before confirming it.
        .with_delivery_mode(2)
        .with_headers(headers)
}

/// Publishes the batch in order and waits for the broker's confirm of every message.
async fn publish_confirmed(channel: &Channel, exchange: &str, messages: &[Message]) -> Result<(), BusError> {
    let mut confirms = Vec::with_capacity(messages.len());
    for message in messages {
        let confirm = channel
            .basic_publish(
                exchange,
                &message.topic,
                BasicPublishOptions::default(),
                message.payload.as_bytes(),
                properties(message),
            )
            .await
            .map_err(amqp("publish"))?;
        confirms.push((message.id, confirm));
    }
    let mut refused = None;
    for (id, confirm) in confirms {
        let confirmation = confirm.await.map_err(amqp("get a publisher confirm"))?;
        if confirmation.is_nack() {
            refused.get_or_insert(id);
        } else if !confirmation.is_ack() {
            return Err(BusError::Transport("RabbitMQ: the channel is not in confirm mode".into()));
        }
    }
    match refused {
        Some(id) => Err(BusError::NotConfirmed(id)),
        None => Ok(()),
    }
}

/// Opens a consumer connection: declares the exchange and the consumer's quorum queue, binds
/// it to every topic and starts consuming with manual acks.
/// A live subscription: the connection it runs on and its stream of deliveries.
struct Attached {
    connection: Arc<Connection>,
    deliveries: lapin::Consumer,
}

async fn attach(endpoint: &Endpoint, queue: &str, slot: &Slot) -> Result<Attached, BusError> {
    let attached = within(CONNECT_TIMEOUT, "subscribe", async {
        let connection = open_connection(&endpoint.url, &format!("pitboss consumer {queue}"), slot).await?;
        let channel = connection.create_channel().await.map_err(amqp("open a channel"))?;
        declare_exchange(&channel, &endpoint.exchange).await?;
        declare_queue(&channel, &endpoint.exchange, queue).await?;
        channel.basic_qos(PREFETCH, BasicQosOptions::default()).await.map_err(amqp("set the prefetch"))?;
        let tag = format!("{queue}.{}", Uuid::now_v7().simple());
        let deliveries = channel
            .basic_consume(queue, &tag, BasicConsumeOptions::default(), FieldTable::default())
            .await
            .map_err(amqp("start consuming"))?;
        Ok(Attached { connection, deliveries })
    })
    .await;
    if attached.is_err() {
        close_slot(slot, REPLY_SUCCESS, "subscribe failed").await;
    }
    attached
}

/// Why a stream of deliveries ended.
enum Ended {
    Stopped,
    Broken(String),
    HandlerFailed,
}

/// The life of one subscription: deliver, and after any break reconnect with back-off until
/// the transport is closed.
async fn consume(
    endpoint: Arc<Endpoint>,
    consumer: String,
    queue: String,
    handler: Arc<dyn Handler>,
    slot: Slot,
    mut attached: Attached,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = MIN_BACKOFF;
    loop {
        match deliver(&consumer, handler.as_ref(), &mut attached, &mut stop, &mut backoff).await {
            Ended::Stopped => {
                close_slot(&slot, REPLY_SUCCESS, "consumer stopped").await;
                return;
            }
            Ended::Broken(reason) => tracing::warn!(%consumer, %reason, "RabbitMQ subscription broke; reconnecting"),
            // The failed message is not nacked: the broker would hand it straight back behind
            // the ones prefetched after it. Closing the connection instead returns all of them
            // to the queue in their order, and after the back-off they come again from there.
            Ended::HandlerFailed => {}
        }
        loop {
            close_slot(&slot, REPLY_SUCCESS, "reconnecting").await;
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = stop.wait_for(|stopped| *stopped) => return,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
            match attach(&endpoint, &queue, &slot).await {
                Ok(resumed) => {
                    tracing::info!(%consumer, "RabbitMQ subscription resumed");
                    attached = resumed;
                    break;
                }
                Err(error) => tracing::warn!(%consumer, %error, "RabbitMQ subscription could not resume"),
            }
        }
    }
}

/// Hands each delivery to the handler, one at a time so that one key's messages are applied
/// in order, and acknowledges it once applied.
async fn deliver(
    consumer: &str,
    handler: &dyn Handler,
    attached: &mut Attached,
    stop: &mut watch::Receiver<bool>,
    backoff: &mut Duration,
) -> Ended {
    let connection = attached.connection.clone();
    loop {
        let next = tokio::select! {
            biased;
            _ = stop.wait_for(|stopped| *stopped) => return Ended::Stopped,
            next = while_connected(&connection, async { Ok(attached.deliveries.next().await) }) => next,
        };
        let delivery = match next {
            Ok(Some(Ok(delivery))) => delivery,
            Ok(Some(Err(error))) => return Ended::Broken(error.to_string()),
            Ok(None) => return Ended::Broken("the subscription was cancelled".into()),
            Err(error) => return Ended::Broken(error.to_string()),
        };
        let message = match decode(&delivery) {
            Ok(message) => message,
            Err(reason) => {
                // Not one of ours, and it never will be: redelivering it would block the queue.
                tracing::error!(%consumer, %reason, "dropping a malformed RabbitMQ message");
                let rejected = delivery.reject(BasicRejectOptions { requeue: false });
                if let Err(error) = while_connected(&connection, async { rejected.await.map_err(amqp("reject")) }).await
                {
                    return Ended::Broken(error.to_string());
                }
                continue;
            }
        };
        // A panicking handler is a failing one: the message comes again, the consumer lives on.
        let handled = AssertUnwindSafe(handler.handle(&message)).catch_unwind().await.unwrap_or_else(|_| {
            Err(BusError::Handler {
                consumer: consumer.to_string(),
                message: message.id,
                reason: "the handler panicked".into(),
            })
        });
        if let Err(error) = handled {
            tracing::warn!(%consumer, message = %message.id, %error, "consumer failed; the message will be redelivered");
            return Ended::HandlerFailed;
        }
        let acked = delivery.ack(BasicAckOptions::default());
        if let Err(error) = while_connected(&connection, async { acked.await.map_err(amqp("ack")) }).await {
            // Applied but not acknowledged: it comes again, and the consumer drops it.
            return Ended::Broken(error.to_string());
        }
        *backoff = MIN_BACKOFF;
    }
}

fn decode(delivery: &Delivery) -> Result<Message, String> {
    let id = delivery
        .properties
        .message_id()
        .as_ref()
        .ok_or("no message_id")?
        .as_str()
        .parse::<Uuid>()
        .map_err(|e| format!("message_id is not a UUID: {e}"))?;
    let key = match delivery.properties.headers().as_ref().and_then(|h| h.inner().get(PARTITION_KEY_HEADER)) {
        Some(AMQPValue::LongString(s)) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        Some(AMQPValue::ShortString(s)) => s.as_str().to_string(),
        _ => return Err(format!("no {PARTITION_KEY_HEADER} header")),
    };
    let payload = String::from_utf8(delivery.data.clone()).map_err(|_| "the body is not UTF-8".to_string())?;
    Ok(Message { id, topic: delivery.routing_key.as_str().to_string(), key, payload })
}
