//! Running the anomaly rules on one platform event: what the event says, the facts the rules
//! read (the player's, as segments load them, and the event's: its amounts, the deposits,
//! failed deposits and stakes within each rule's window, the players sharing its device, IP
//! address or payment instrument, how far the player's balances are from their postings),
//! and each rule's answer with its trace, which becomes the alert's evidence. Only the facts
//! some rule reads are loaded.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use pitboss_bus::Message;
use pitboss_core::money::Currency;
use pitboss_core::time::to_micros;
use pitboss_payments::TxStatus;
use pitboss_payments::deposits::{DepositAttempt, Round};
use pitboss_rules::catalog::Field;
use pitboss_rules::{EventFacts, PlayerFacts, Rates, Rule};
use pitboss_store::{Db, Tx, db, exec, sqlx};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::OpsError;
use crate::anomaly_rules::AnomalyRule;

/// A platform event about a player on file, as the ops consumers read it off the bus.
#[derive(Debug, Clone, PartialEq)]
pub struct JudgedEvent {
    pub id: Uuid,
    pub player: Uuid,
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    pub amount: Option<i64>,
    /// The currency of a payment's or a round's amounts (the player's wallet's).
    pub currency: Option<Currency>,
    pub method: Option<String>,
    pub instrument: Option<String>,
    pub stake: Option<i64>,
    pub win: Option<i64>,
    pub ip: Option<String>,
    pub device_id: Option<String>,
    /// The event's payload as the platform sent it, for the evidence.
    pub payload: Value,
}

impl JudgedEvent {
    /// The event an ingested message carries; `None` when it is not about a player on file
    /// (only those carry Pitboss's player id as their key).
    pub fn from_message(message: &Message) -> Result<Option<JudgedEvent>, String> {
        let Ok(player) = message.key.parse::<Uuid>() else { return Ok(None) };
        let event: Value = serde_json::from_str(&message.payload).map_err(|e| e.to_string())?;
        let id = event["id"].as_str().and_then(|id| id.parse::<Uuid>().ok());
        let at = event["occurred_at"].as_str().and_then(|t| t.parse::<DateTime<Utc>>().ok());
        let (Some(id), Some(occurred_at)) = (id, at) else {
            return Err(format!("the event has no id or occurred_at: {}", message.payload));
        };
        // Payments and bonuses store their payload as `[type, fields]`.
        let payload = match &event["payload"] {
            Value::Array(parts) => parts.get(1).cloned().unwrap_or(Value::Null),
            other => other.clone(),
        };
        let text = |field: &str| payload[field].as_str().map(str::to_string);
        let minor = |field: &str| payload[field].as_i64();
        let is_payment = message.topic.starts_with("payment.");
        let is_round = message.topic == "game.round";
        Ok(Some(JudgedEvent {
            id,
            player,
            event_type: message.topic.clone(),
            occurred_at,
            amount: if is_payment { minor("amount") } else { None },
            currency: payload["currency"].as_str().and_then(|c| c.parse().ok()),
            method: if is_payment { text("method") } else { None },
            instrument: if is_payment { text("instrument") } else { None },
            stake: if is_round { minor("stake") } else { None },
            win: if is_round { minor("win") } else { None },
            ip: if message.topic == "session.started" { text("ip") } else { None },
            device_id: if message.topic == "session.started" { text("device_id") } else { None },
            payload,
        }))
    }

    /// The identifiers the event carries, by kind.
    fn identifiers(&self) -> Vec<(&'static str, &str)> {
        [("device", &self.device_id), ("ip", &self.ip), ("instrument", &self.instrument)]
            .into_iter()
            .filter_map(|(kind, v)| v.as_deref().map(|v| (kind, v)))
            .collect()
    }
}

fn fingerprint(kind: &str, value: &str) -> String {
    hex::encode(Sha256::digest(format!("{kind}:{}", value.trim().to_lowercase())))
}

/// Remembers the device, IP address and payment instrument the event shows the player with.
pub async fn remember_identifiers(tx: &mut Tx, event: &JudgedEvent) -> Result<(), OpsError> {
    let at = to_micros(event.occurred_at);
    for (kind, value) in event.identifiers() {
        exec!(
            tx,
            "INSERT INTO player_identifiers (kind, value_hash, player_id, first_seen, last_seen) VALUES ($1, $2, $3, $4, $4) \
             ON CONFLICT (kind, value_hash, player_id) DO UPDATE SET \
             last_seen = CASE WHEN player_identifiers.last_seen < $4 THEN $4 ELSE player_identifiers.last_seen END",
            kind,
            fingerprint(kind, value),
            event.player,
            at,
        )?;
    }
    Ok(())
}

/// How many other players were seen with the event's identifier of `kind`, if it has one.
async fn shared(db: &Db, event: &JudgedEvent, kind: &str) -> Result<Option<i64>, OpsError> {
    let Some((_, value)) = event.identifiers().into_iter().find(|(k, _)| *k == kind) else { return Ok(None) };
    let hash = fingerprint(kind, value);
    let n: i64 = db!(db, |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM player_identifiers WHERE kind = $1 AND value_hash = $2 AND player_id <> $3"
    )
    .bind(kind)
    .bind(&hash)
    .bind(event.player)
    .fetch_one(c)
    .await)?;
    Ok(Some(n))
}

/// One rule's verdict on an event that held: the rule, and the evidence for its alert (the
/// event, the window, the condition and its trace).
#[derive(Debug, Clone)]
pub struct Hit<'r> {
    pub rule: &'r AnomalyRule,
    pub evidence: Value,
}

/// What the player did before the event, as far back as the longest window needs.
struct History {
    deposits: Vec<DepositAttempt>,
    rounds: Vec<Round>,
}

const RECENT: [Field; 5] = [
    Field::RecentDeposits,
    Field::RecentDepositsSum,
    Field::RecentFailedDeposits,
    Field::RecentStakes,
    Field::RecentTurnover,
];

/// Runs every rule in `rules` that judges this event's type; returns those that held. Reads
/// only: the caller records the hits (and remembers the identifiers, which the counts of other
/// players do not depend on) in one transaction.
pub async fn judge<'r>(
    db: &Db,
    rules: &'r [(AnomalyRule, Arc<Rule>)],
    event: &JudgedEvent,
    rates: &Rates,
    now: DateTime<Utc>,
) -> Result<Vec<Hit<'r>>, OpsError> {
    let rules: Vec<&(AnomalyRule, Arc<Rule>)> =
        rules.iter().filter(|(r, _)| r.events.contains(&event.event_type)).collect();
    if rules.is_empty() {
        return Ok(Vec::new());
    }
    let reads = |fields: &[Field]| rules.iter().any(|(_, rule)| fields.iter().any(|f| rule.reads(*f)));
    let now_us = to_micros(now);
    // Rules about the event alone need only the currency its amounts are in, which a payment
    // or a round carries: the player's facts are loaded only for a rule that reads them.
    let mut facts = match event.currency {
        Some(currency) if rules.iter().all(|(_, rule)| rule.reads_only_event_facts()) => {
            PlayerFacts { currency: Some(currency), ..Default::default() }
        }
        _ => {
            let mut loaded = pitboss_segments::facts::load(db, &[event.player], now_us).await?;
            let Some(facts) = loaded.remove(&event.player) else { return Ok(Vec::new()) };
            facts
        }
    };
    let history = if reads(&RECENT) {
        let longest = rules.iter().map(|(r, _)| r.window_minutes).max().unwrap_or(0);
        let since = event.occurred_at - Duration::minutes(longest);
        let (deposits, rounds) = tokio::join!(
            pitboss_payments::deposits::deposit_attempts_since(db, event.player, since),
            pitboss_payments::deposits::rounds_since(db, event.player, since),
        );
        Some(History { deposits: deposits?, rounds: rounds? })
    } else {
        None
    };
    let mut base = EventFacts {
        event_type: event.event_type.clone(),
        amount: event.amount,
        method: event.method.clone(),
        stake: event.stake,
        win: event.win,
        ..Default::default()
    };
    if reads(&[Field::SharedDevice]) {
        base.shared_device = shared(db, event, "device").await?;
    }
    if reads(&[Field::SharedIp]) {
        base.shared_ip = shared(db, event, "ip").await?;
    }
    if reads(&[Field::SharedInstrument]) {
        base.shared_instrument = shared(db, event, "instrument").await?;
    }
    if reads(&[Field::BalanceMismatch]) {
        base.balance_mismatch = Some(pitboss_payments::queries::balance_drift(db, event.player).await?);
    }
    let mut hits = Vec::new();
    for (rule, condition) in rules {
        let mut seen = base.clone();
        if let Some(h) = &history {
            recent(&mut seen, h, event.occurred_at - Duration::minutes(rule.window_minutes), event.occurred_at);
        }
        facts.event = Some(seen);
        let trace = condition.evaluate(&facts, now_us, rates);
        if trace.result {
            let evidence = json!({
                "event": { "id": event.id, "type": event.event_type, "occurred_at": event.occurred_at, "payload": event.payload },
                "window_minutes": rule.window_minutes,
                "condition": rule.condition,
                "trace": trace,
            });
            hits.push(Hit { rule, evidence });
        }
    }
    Ok(hits)
}

/// Fills the `recent.*` facts from what happened in `[from, to]`.
fn recent(facts: &mut EventFacts, history: &History, from: DateTime<Utc>, to: DateTime<Utc>) {
    let within = |at: DateTime<Utc>| at >= from && at <= to;
    for d in history.deposits.iter().filter(|d| within(d.occurred_at)) {
        match d.status {
            TxStatus::Completed => {
                facts.recent_deposits += 1;
                facts.recent_deposits_sum += d.amount;
            }
            TxStatus::Failed => facts.recent_failed_deposits += 1,
            _ => {}
        }
    }
    facts.recent_stakes = history.rounds.iter().filter(|r| within(r.occurred_at)).map(|r| r.stake).sum();
}
