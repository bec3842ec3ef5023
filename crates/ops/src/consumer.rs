//! The withdrawal queue fed on the event path: for each withdrawal the platform asks for (the
//! ingested `payment.withdrawal.requested`, relayed from the outbox), the review policy is
//! applied once, behind ingestion, so that reviewing never slows it; a withdrawal the platform
//! settles or cancels before an officer decides leaves the queue. A second consumer flags the
//! deposits, rounds and sessions that went through although the checks would have refused them;
//! others keep the sessions the time limits count, run the anomaly rules, and tell subscribers
//! of new alerts.

use std::sync::Arc;

use async_trait::async_trait;
use pitboss_bus::consumer::apply_once;
use pitboss_bus::{BusError, Handler, Message};
use pitboss_rules::Rates;
use pitboss_store::Db;

use crate::anomalies::{self, JudgedEvent};
use crate::checks::Activity;
use crate::notifications::{self, Sender};
use crate::withdrawals::{self, ReviewPolicy};
use crate::{Jurisdictions, alerts, anomaly_rules, breaches, sessions};

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

/// The name of the consumer that flags events breaking a limit.
pub const BREACHES: &str = "limit-breaches";

/// Flags each deposit and round that went through although the checks would have refused it
/// (see [`crate::breaches`]).
pub struct BreachesConsumer {
    db: Db,
    rates: Arc<Rates>,
}

impl BreachesConsumer {
    pub fn new(db: Db, rates: Arc<Rates>) -> Arc<BreachesConsumer> {
        Arc::new(BreachesConsumer { db, rates })
    }
}

#[async_trait]
impl Handler for BreachesConsumer {
    async fn handle(&self, message: &Message) -> Result<(), BusError> {
        let activity = match message.topic.as_str() {
            "payment.deposit.completed" => Activity::Deposit,
            "game.round" => Activity::Stake,
            "session.started" => Activity::Session,
            _ => return Ok(()),
        };
        let failed = |reason: String| BusError::Handler { consumer: BREACHES.into(), message: message.id, reason };
        let Some(event) = JudgedEvent::from_message(message).map_err(failed)? else { return Ok(()) };
        let (player, event_id, at) = (event.player, event.id, event.occurred_at);
        let profile = match pitboss_players::get(&self.db, player).await {
            Ok(p) => p,
            Err(pitboss_players::PlayerError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(failed(e.to_string())),
        };
        let verdict = breaches::judge(&self.db, Jurisdictions::shipped(), &self.rates, &profile, activity, at)
            .await
            .map_err(|e| failed(e.to_string()))?;
        let Some(verdict) = verdict else { return Ok(()) };
        let now = chrono::Utc::now();
        apply_once(&self.db, BREACHES, message, async |tx| -> Result<(), BusError> {
            if let Some(b) = breaches::record(tx, event_id, player, activity, verdict, at, now)
                .await
                .map_err(|e| failed(e.to_string()))?
            {
                tracing::warn!(%player, event = %event_id, code = %b.code, "an event broke a limit; flagged");
            }
            Ok(())
        })
        .await?;
        Ok(())
    }
}

/// The name of the consumer that runs the anomaly rules.
pub const ANOMALIES: &str = "anomalies";

/// Runs the anomaly rules on every platform event about a player on file: remembers the
/// device, IP address and payment instrument it shows, and records each rule's hit as an alert
/// (see [`crate::alerts`]), all in the transaction that marks the message applied. The rules
/// are read for each message, so a change applies to the next event.
pub struct AnomaliesConsumer {
    db: Db,
    rates: Arc<Rates>,
}

impl AnomaliesConsumer {
    pub fn new(db: Db, rates: Arc<Rates>) -> Arc<AnomaliesConsumer> {
        Arc::new(AnomaliesConsumer { db, rates })
    }
}

#[async_trait]
impl Handler for AnomaliesConsumer {
    async fn handle(&self, message: &Message) -> Result<(), BusError> {
        let failed = |reason: String| BusError::Handler { consumer: ANOMALIES.into(), message: message.id, reason };
        // Only the platform's events: what operations announce is not judged again.
        if message.topic.parse::<pitboss_core::event::EventType>().is_err() {
            return Ok(());
        }
        let Some(event) = JudgedEvent::from_message(message).map_err(failed)? else { return Ok(()) };
        let rules = anomaly_rules::running(&self.db).await.map_err(|e| failed(e.to_string()))?;
        let now = chrono::Utc::now();
        let hits =
            anomalies::judge(&self.db, &rules, &event, &self.rates, now).await.map_err(|e| failed(e.to_string()))?;
        apply_once(&self.db, ANOMALIES, message, async |tx| -> Result<(), BusError> {
            anomalies::remember_identifiers(tx, &event).await.map_err(|e| failed(e.to_string()))?;
            for hit in &hits {
                let raised = alerts::raise(tx, hit.rule, event.player, event.id, event.occurred_at, &hit.evidence, now)
                    .await
                    .map_err(|e| failed(e.to_string()))?;
                if let Some((alert, true)) = raised {
                    tracing::warn!(rule = %hit.rule.name, player = %event.player, alert = %alert.id, state = %alert.state, "anomaly rule hit");
                }
            }
            Ok(())
        })
        .await?;
        Ok(())
    }
}

/// The name of the consumer that tells subscribers of alerts.
pub const NOTIFICATIONS: &str = "alert-notifications";

/// Delivers each newly raised live alert to its subscribers, and tries a failed delivery again
/// when its timer puts it back on the bus (see [`crate::notifications`]).
pub struct NotificationsConsumer {
    db: Db,
    sender: Arc<Sender>,
}

impl NotificationsConsumer {
    pub fn new(db: Db, sender: Arc<Sender>) -> Arc<NotificationsConsumer> {
        Arc::new(NotificationsConsumer { db, sender })
    }
}

#[async_trait]
impl Handler for NotificationsConsumer {
    async fn handle(&self, message: &Message) -> Result<(), BusError> {
        let failed = |reason: String| BusError::Handler { consumer: NOTIFICATIONS.into(), message: message.id, reason };
        let id = |value: &serde_json::Value| value.as_str().and_then(|v| v.parse::<uuid::Uuid>().ok());
        let body = || serde_json::from_str::<serde_json::Value>(&message.payload).map_err(|e| failed(e.to_string()));
        let delivered = match message.topic.as_str() {
            "ops.alert.raised" => {
                let Some(alert) = id(&body()?["alert"]["id"]) else {
                    return Err(failed(format!("the message names no alert: {}", message.payload)));
                };
                notifications::deliver_all(&self.db, &self.sender, alert).await
            }
            notifications::DELIVERY_DUE => {
                let body = body()?;
                let (Some(alert), Some(subscription)) =
                    (id(&body["delivery"]["alert_id"]), id(&body["delivery"]["subscription_id"]))
                else {
                    return Err(failed(format!("the message names no delivery: {}", message.payload)));
                };
                notifications::deliver_again(&self.db, &self.sender, alert, subscription).await
            }
            _ => return Ok(()),
        };
        delivered.map_err(|e| failed(e.to_string()))
    }
}

/// Fires deliveries' retry timers (kind [`notifications::RETRY_TIMER`]).
pub struct DeliveryRetries;

#[async_trait]
impl pitboss_bus::timers::TimerHandler for DeliveryRetries {
    async fn fire(&self, tx: &mut pitboss_store::Tx, keys: &[String], now: i64) -> Result<(), BusError> {
        for key in keys {
            notifications::retry_due(tx, key, pitboss_core::time::from_micros(now)).await.map_err(|e| {
                BusError::Handler { consumer: NOTIFICATIONS.into(), message: uuid::Uuid::nil(), reason: e.to_string() }
            })?;
        }
        Ok(())
    }
}

/// The name of the consumer that keeps the sessions the session-time limits count.
pub const SESSIONS: &str = "rg-sessions";

/// Records each session's start and end (see [`crate::sessions`]).
pub struct SessionsConsumer {
    db: Db,
}

impl SessionsConsumer {
    pub fn new(db: Db) -> Arc<SessionsConsumer> {
        Arc::new(SessionsConsumer { db })
    }
}

#[async_trait]
impl Handler for SessionsConsumer {
    async fn handle(&self, message: &Message) -> Result<(), BusError> {
        if !matches!(message.topic.as_str(), "session.started" | "session.ended") {
            return Ok(());
        }
        let failed = |reason: String| BusError::Handler { consumer: SESSIONS.into(), message: message.id, reason };
        let Some(event) = JudgedEvent::from_message(message).map_err(failed)? else { return Ok(()) };
        let Some(session) = event.payload["session_id"].as_str() else {
            return Err(failed(format!("the event has no payload.session_id: {}", message.payload)));
        };
        apply_once(&self.db, SESSIONS, message, async |tx| -> Result<(), BusError> {
            let recorded = match message.topic.as_str() {
                "session.started" => sessions::started(tx, event.player, session, event.occurred_at).await,
                _ => {
                    let duration = event.payload["duration_seconds"].as_u64();
                    sessions::ended(tx, event.player, session, event.occurred_at, duration).await
                }
            };
            recorded.map_err(|e| failed(e.to_string()))
        })
        .await?;
        Ok(())
    }
}
