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
use pitboss_rules::catalog::Field;
use pitboss_store::Db;
use uuid::Uuid;

use crate::SegmentError;

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

/// The topic the churn and lifetime value models send after a refit (`pitboss_models::REFITTED`):
/// every player's predictions changed at once.
pub const MODEL_REFITTED: &str = "model.clv.refitted";

/// The player a message is about: its key, for events about players (not segments' own, nor
/// the models').
fn player_of(message: &Message) -> Option<Uuid> {
    if message.topic.starts_with("segment.") || message.topic.starts_with("model.") {
        return None;
    }
    message.key.parse().ok()
}

/// The facts a refit changes.
const MODEL_FIELDS: [Field; 5] = [
    Field::ChurnRisk,
    Field::ActiveProbability,
    Field::ExpectedDeposits30d,
    Field::ExpectedDeposits90d,
    Field::PredictedValue,
];

/// Evaluates again, over every player, the active segments that read the models' figures.
async fn refresh_model_segments(tx: &mut pitboss_store::Tx, now: i64, rates: &Rates) -> Result<usize, SegmentError> {
    let (segments, _) = crate::live::active_segments(tx).await?;
    let mut refreshed = 0;
    for s in segments {
        if MODEL_FIELDS.iter().any(|f| s.rule.reads(*f)) {
            crate::refresh_in(tx, s.id, now, rates).await?;
            refreshed += 1;
        }
    }
    Ok(refreshed)
}

#[async_trait]
impl Handler for SegmentsConsumer {
    async fn handle(&self, message: &Message) -> Result<(), BusError> {
        let failed = |e: SegmentError| BusError::Handler {
            consumer: CONSUMER.into(),
            message: message.id,
            reason: e.to_string(),
        };
        if message.topic == MODEL_REFITTED {
            let now = pitboss_core::time::to_micros(chrono::Utc::now());
            let rates = self.rates.clone();
            apply_once(&self.db, CONSUMER, message, async |tx| -> Result<(), BusError> {
                let refreshed = refresh_model_segments(tx, now, &rates).await.map_err(failed)?;
                tracing::info!(refreshed, "segments reading the churn and value models evaluated after a refit");
                Ok(())
            })
            .await?;
            return Ok(());
        }
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
            let (_, _, broken) = crate::refresh_players(tx, &[player], now, &rates).await.map_err(failed)?;
            for (segment, why) in broken {
                tracing::warn!(%segment, %why, "segment skipped: its condition no longer checks");
            }
            Ok(())
        })
        .await?;
        Ok(())
    }
}
