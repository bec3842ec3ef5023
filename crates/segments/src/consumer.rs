//! Membership kept current on the event path: a bus consumer that, for each event about a
//! player, updates every active segment for that player alone (no scan of the others).
//!
//! It runs behind the outbox, so a slow refresh never slows ingestion; `apply_once` makes a
//! redelivered message change nothing, and the entries and exits it writes go out on the bus
//! in the same transaction as the record that the message was applied.

use std::sync::Arc;

use async_trait::async_trait;
use pitboss_bus::consumer::apply_once;
use pitboss_bus::{BusError, Handler, Message};
use pitboss_rules::Rates;
use pitboss_store::Db;
use uuid::Uuid;

/// The consumer's durable name on the bus.
pub const CONSUMER: &str = "segments";

pub struct SegmentsConsumer {
    db: Db,
    rates: Arc<Rates>,
}

impl SegmentsConsumer {
    pub fn new(db: Db, rates: Arc<Rates>) -> Arc<SegmentsConsumer> {
        Arc::new(SegmentsConsumer { db, rates })
    }
}

/// The player a message is about: its key, for events about players (not segments' own).
fn player_of(message: &Message) -> Option<Uuid> {
    if message.topic.starts_with("segment.") {
        return None;
    }
    message.key.parse().ok()
}

#[async_trait]
impl Handler for SegmentsConsumer {
    async fn handle(&self, message: &Message) -> Result<(), BusError> {
        let Some(player) = player_of(message) else { return Ok(()) };
        // Without an active segment there is nothing to keep current: no need to write even
        // the record of having applied the message.
        let active: i64 = pitboss_store::db!(&self.db, |c| {
            pitboss_store::sqlx::query_scalar("SELECT COUNT(*) FROM segments WHERE status = 'active'")
                .fetch_one(c)
                .await
        })
        .map_err(pitboss_store::StoreError::from)?;
        if active == 0 {
            return Ok(());
        }
        let now = pitboss_core::time::to_micros(chrono::Utc::now());
        let rates = self.rates.clone();
        apply_once(&self.db, CONSUMER, message, async |tx| -> Result<(), BusError> {
            let (_, _, broken) = crate::refresh_players(tx, &[player], now, &rates).await.map_err(|e| {
                BusError::Handler { consumer: CONSUMER.into(), message: message.id, reason: e.to_string() }
            })?;
            for (segment, why) in broken {
                tracing::warn!(%segment, %why, "segment skipped: its condition no longer checks");
            }
            Ok(())
        })
        .await?;
        Ok(())
    }
}
