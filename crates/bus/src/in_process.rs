//! The default transport: delivers each message to every subscribed handler inside this process.
//!
//! `publish` returns only after every handler has applied the message, so the relay marks a
//! message published only once it took effect: nothing is lost if the process stops between.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::RwLock;

use crate::{BusError, Handler, Message, Transport};

/// Subscribed handlers, by consumer name.
type Subscribers = Vec<(String, Arc<dyn Handler>)>;

#[derive(Default, Clone)]
pub struct InProcess {
    handlers: Arc<RwLock<Subscribers>>,
}

impl InProcess {
    pub fn new() -> InProcess {
        InProcess::default()
    }
}

#[async_trait]
impl Transport for InProcess {
    fn name(&self) -> &'static str {
        "in-process"
    }

    async fn publish(&self, messages: &[Message]) -> Result<(), BusError> {
        let handlers = self.handlers.read().await;
        for message in messages {
            for (_, handler) in handlers.iter() {
                handler.handle(message).await?;
            }
        }
        Ok(())
    }

    async fn subscribe(&self, consumer: &str, handler: Arc<dyn Handler>) -> Result<(), BusError> {
        self.handlers.write().await.push((consumer.to_string(), handler));
        Ok(())
    }

    async fn health(&self) -> Result<(), BusError> {
        Ok(())
    }
}
