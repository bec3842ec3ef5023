//! Pitboss bus: how the events that changes cause reach the modules that react to them.
//!
//! A change writes its events to the outbox table in its own transaction ([`outbox::enqueue`]);
//! the [`relay`] publishes them through a [`Transport`] (in-process by default, or RabbitMQ);
//! consumers apply each message at most once with [`consumer::apply_once`], so at-least-once
//! delivery gives an effectively-once effect.
//!
//! This crate must never know what an event means: it moves opaque messages by topic and key.

pub mod consumer;
pub mod in_process;
pub mod outbox;
pub mod rabbitmq;
pub mod relay;
pub mod timers;

pub use consumer::{Applied, apply_once, handler_fn};
pub use in_process::InProcess;
pub use rabbitmq::RabbitMq;
pub use relay::Relay;

use std::sync::Arc;

use async_trait::async_trait;
use uuid::Uuid;

/// One message on the bus: an outbox row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Unique per message; consumers remember it to drop redeliveries.
    pub id: Uuid,
    /// The event type, e.g. `payment.deposit.completed` (the routing key).
    pub topic: String,
    /// Keeps one player's messages in order on a partitioned transport (the player id).
    pub key: String,
    /// The event, as JSON text.
    pub payload: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("bus transport error: {0}")]
    Transport(String),
    #[error("the broker did not confirm message {0}")]
    NotConfirmed(Uuid),
    #[error(transparent)]
    Store(#[from] pitboss_store::StoreError),
    #[error("consumer '{consumer}' failed on message {message}: {reason}")]
    Handler { consumer: String, message: Uuid, reason: String },
}

/// What a consumer does with one message. Returning an error leaves the message
/// unacknowledged, so the transport delivers it again.
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    async fn handle(&self, message: &Message) -> Result<(), BusError>;
}

/// A way to move messages from the relay to consumers.
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    /// `in-process` or `rabbitmq`.
    fn name(&self) -> &'static str;

    /// Returns once the transport has taken responsibility for every message of the batch
    /// (for RabbitMQ: the broker confirmed each one). An error means some may not have
    /// arrived; the relay sends the batch again.
    async fn publish(&self, messages: &[Message]) -> Result<(), BusError>;

    /// Starts delivering every message published from now on to `handler`, under the durable
    /// subscription name `consumer` (one queue per consumer on RabbitMQ).
    async fn subscribe(&self, consumer: &str, handler: Arc<dyn Handler>) -> Result<(), BusError>;

    /// Whether the transport can publish right now (for `/readyz`).
    async fn health(&self) -> Result<(), BusError>;
}
