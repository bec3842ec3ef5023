//! The withdrawal queue fed on the event path: for each withdrawal the platform asks for (the
//! ingested `payment.withdrawal.requested`, relayed from the outbox), the review policy is
//! applied once, behind ingestion, so that reviewing never slows it; a withdrawal the platform
//! settles or cancels before an officer decides leaves the queue.

use std::sync::Arc;

use async_trait::async_trait;
use pitboss_bus::consumer::apply_once;
use pitboss_bus::{BusError, Handler, Message};
use pitboss_rules::Rates;
use pitboss_store::Db;

use crate::withdrawals::{self, ReviewPolicy};

/// The consumer's durable name on the bus.
pub const CONSUMER: &str = "withdrawals";
/// The topics it acts on: a withdrawal asked for, and one settled or cancelled.
pub const WITHDRAWAL_REQUESTED: &str = "payment.withdrawal.requested";
const WITHDRAWAL_SETTLED: [&str; 3] =
    ["payment.withdrawal.completed", "payment.withdrawal.failed", "payment.withdrawal.cancelled"];

pub struct WithdrawalsConsumer {
    db: Db,
    policy: Arc<ReviewPolicy>,
    rates: Arc<Rates>,
}

impl WithdrawalsConsumer {
    pub fn new(db: Db, policy: Arc<ReviewPolicy>, rates: Arc<Rates>) -> Arc<WithdrawalsConsumer> {
        Arc::new(WithdrawalsConsumer { db, policy, rates })
    }
}

#[async_trait]
impl Handler for WithdrawalsConsumer {
    async fn handle(&self, message: &Message) -> Result<(), BusError> {
        let requested = message.topic == WITHDRAWAL_REQUESTED;
        if !requested && !WITHDRAWAL_SETTLED.contains(&message.topic.as_str()) {
            return Ok(());
        }
        let failed = |reason: String| BusError::Handler { consumer: CONSUMER.into(), message: message.id, reason };
        let event: serde_json::Value = serde_json::from_str(&message.payload).map_err(|e| failed(e.to_string()))?;
        // A payment's stored payload is `[type, fields]`.
        let fields = match &event["payload"] {
            serde_json::Value::Array(parts) => parts.get(1).unwrap_or(&serde_json::Value::Null),
            other => other,
        };
        let Some(reference) = fields["transaction_id"].as_str() else {
            return Err(failed(format!("the event has no payload.transaction_id: {}", message.payload)));
        };
        let now = chrono::Utc::now();
        apply_once(&self.db, CONSUMER, message, async |tx| -> Result<(), BusError> {
            if !requested {
                withdrawals::close(tx, reference, now).await.map_err(|e| failed(e.to_string()))?;
                return Ok(());
            }
            let review = withdrawals::assess(tx, &self.policy, &self.rates, reference, now)
                .await
                .map_err(|e| failed(e.to_string()))?;
            if let Some(r) = review {
                tracing::info!(withdrawal = %r.transaction_id, state = %r.state, reasons = ?r.reasons, "withdrawal reviewed");
            }
            Ok(())
        })
        .await?;
        Ok(())
    }
}
