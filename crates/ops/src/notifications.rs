//! Who is told of alerts, and telling them. An operator subscribes by email or by webhook, from
//! a severity up, to every rule or to some (by key). When a live rule raises an alert
//! (`ops.alert.raised` on the bus), each matching subscription gets it once: an email through
//! the configured SMTP server, or a JSON POST signed with the subscription's secret
//! (`Pitboss-Signature`, see `pitboss_core::signature`).
//!
//! Sending happens outside any database transaction. A failed try is recorded on the delivery
//! with its error and retried from a durable timer (kind [`RETRY_TIMER`]), a minute later,
//! doubling, up to [`MAX_ATTEMPTS`] tries; the timer only puts a `ops.alert.delivery_due`
//! message on the outbox, so a receiver that is down never holds up the bus or the database.
//! A delivery can repeat if the process stops between sending and recording it: receivers
//! should treat the alert id as the key.

use chrono::{DateTime, Utc};
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use pitboss_core::new_id;
use pitboss_core::time::{from_micros, to_micros};
use pitboss_store::{Db, Tx, db, exec, sqlx, tx};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::OpsError;
use crate::alerts::Alert;
use crate::anomaly_rules::Severity;

pitboss_core::string_enum!(
    /// How a subscriber is told.
    Channel {
        Email => "email",
        Webhook => "webhook",
    }
);

/// A subscription to alerts.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Subscription {
    pub id: Uuid,
    /// Who subscribed, e.g. `operator:olga`.
    pub owner: String,
    pub channel: Channel,
    /// The email address, or the webhook's URL.
    pub target: String,
    /// Alerts of this severity and above.
    pub min_severity: Severity,
    /// Rule keys; empty for every rule.
    pub rules: Vec<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

/// A new subscription.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSubscription {
    pub channel: Channel,
    /// An email address, or an `https://` (or `http://`) URL.
    pub target: String,
    /// Default `low`: every alert.
    pub min_severity: Option<Severity>,
    /// Rule keys (see `/api/v1/anomaly-rules`); none for every rule.
    #[serde(default)]
    pub rules: Vec<String>,
}

/// The timer kind of a delivery's next try; the key is `<alert id>:<subscription id>`.
pub const RETRY_TIMER: &str = "alerts.delivery";
/// Tries before a delivery is given up as failed.
pub const MAX_ATTEMPTS: i64 = 8;
/// The topic a retry timer puts on the outbox.
pub const DELIVERY_DUE: &str = "ops.alert.delivery_due";

/// Subscribes `owner`; a webhook's secret, which signs every delivery, is returned this once.
pub async fn subscribe(
    tx: &mut Tx,
    db: &Db,
    owner: &str,
    new: NewSubscription,
    now: DateTime<Utc>,
) -> Result<(Subscription, Option<String>), OpsError> {
    let target = new.target.trim().to_string();
    match new.channel {
        Channel::Email => {
            target
                .parse::<lettre::Address>()
                .map_err(|e| OpsError::invalid("target", format!("not an email address: {e}")))?;
        }
        Channel::Webhook => {
            let url = url::Url::parse(&target).map_err(|e| OpsError::invalid("target", format!("not a URL: {e}")))?;
            if !matches!(url.scheme(), "https" | "http") {
                return Err(OpsError::invalid("target", "a webhook is an https:// (or http://) URL"));
            }
        }
    }
    let known: Vec<String> = crate::anomaly_rules::list(db).await?.into_iter().map(|r| r.key).collect();
    if let Some(unknown) = new.rules.iter().find(|k| !known.contains(k)) {
        return Err(OpsError::invalid("rules", format!("no anomaly rule has the key `{unknown}`")));
    }
    let secret = (new.channel == Channel::Webhook).then(|| hex::encode(rand::random::<[u8; 32]>()));
    let subscription = Subscription {
        id: new_id(),
        owner: owner.to_string(),
        channel: new.channel,
        target,
        min_severity: new.min_severity.unwrap_or(Severity::Low),
        rules: new.rules,
        active: true,
        created_at: from_micros(to_micros(now)),
    };
    exec!(
        tx,
        "INSERT INTO alert_subscriptions (id, owner, channel, target, secret, min_severity, rules, active, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
        subscription.id,
        owner,
        subscription.channel.as_str(),
        subscription.target.as_str(),
        secret.as_deref(),
        subscription.min_severity.as_str(),
        serde_json::to_string(&subscription.rules).unwrap_or_else(|_| "[]".into()),
        true,
        to_micros(now),
    )?;
    Ok((subscription, secret))
}

/// Ends `owner`'s subscription; deliveries under way finish.
pub async fn unsubscribe(tx: &mut Tx, id: Uuid, owner: &str, now: DateTime<Utc>) -> Result<(), OpsError> {
    let ended = exec!(
        tx,
        "UPDATE alert_subscriptions SET active = $1, updated_at = $2 WHERE id = $3 AND owner = $4 AND active = $5",
        false,
        to_micros(now),
        id,
        owner,
        true,
    )?;
    if ended == 0 {
        return Err(OpsError::invalid("id", "you have no active subscription with this id"));
    }
    Ok(())
}

type SubscriptionRow = (Uuid, String, String, String, Option<String>, String, String, bool, i64);

const COLUMNS: &str = "id, owner, channel, target, secret, min_severity, rules, active, created_at";

fn from_row(r: SubscriptionRow) -> Option<(Subscription, Option<String>)> {
    let (id, owner, channel, target, secret, min_severity, rules, active, created_at) = r;
    Some((
        Subscription {
            id,
            owner,
            channel: channel.parse().ok()?,
            target,
            min_severity: min_severity.parse().ok()?,
            rules: serde_json::from_str(&rules).unwrap_or_default(),
            active,
            created_at: from_micros(created_at),
        },
        secret,
    ))
}

/// `owner`'s active subscriptions.
pub async fn list(db: &Db, owner: &str) -> Result<Vec<Subscription>, OpsError> {
    let sql = format!("SELECT {COLUMNS} FROM alert_subscriptions WHERE owner = $1 AND active = $2 ORDER BY created_at");
    let rows: Vec<SubscriptionRow> = db!(db, |c| sqlx::query_as(&sql).bind(owner).bind(true).fetch_all(c).await)?;
    Ok(rows.into_iter().filter_map(from_row).map(|(s, _)| s).collect())
}

/// The active subscriptions an alert of `rule_key` goes to, with their secrets.
async fn matching(db: &Db, alert: &Alert, rule_key: &str) -> Result<Vec<(Subscription, Option<String>)>, OpsError> {
    let sql = format!("SELECT {COLUMNS} FROM alert_subscriptions WHERE active = $1");
    let rows: Vec<SubscriptionRow> = db!(db, |c| sqlx::query_as(&sql).bind(true).fetch_all(c).await)?;
    Ok(rows
        .into_iter()
        .filter_map(from_row)
        .filter(|(s, _)| alert.severity >= s.min_severity)
        .filter(|(s, _)| s.rules.is_empty() || s.rules.iter().any(|k| k == rule_key))
        .collect())
}

async fn subscription(db: &Db, id: Uuid) -> Result<Option<(Subscription, Option<String>)>, OpsError> {
    let sql = format!("SELECT {COLUMNS} FROM alert_subscriptions WHERE id = $1");
    let row: Option<SubscriptionRow> = db!(db, |c| sqlx::query_as(&sql).bind(id).fetch_optional(c).await)?;
    Ok(row.and_then(from_row))
}

/// Where a delivery is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Delivery {
    pub alert_id: Uuid,
    pub subscription_id: Uuid,
    /// `pending` (a try failed; another is due), `delivered` or `failed` (given up).
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
}

/// A delivery's state, if it was tried.
pub async fn delivery(db: &Db, alert: Uuid, subscription: Uuid) -> Result<Option<Delivery>, OpsError> {
    let row: Option<(String, i64, Option<String>)> = db!(db, |c| sqlx::query_as(
        "SELECT state, attempts, last_error FROM alert_deliveries WHERE alert_id = $1 AND subscription_id = $2"
    )
    .bind(alert)
    .bind(subscription)
    .fetch_optional(c)
    .await)?;
    Ok(row.map(|(state, attempts, last_error)| Delivery {
        alert_id: alert,
        subscription_id: subscription,
        state,
        attempts,
        last_error,
    }))
}

/// Sends alerts by email and webhook.
pub struct Sender {
    http: reqwest::Client,
    smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
}

impl Sender {
    /// A sender through `smtp_url` (`smtp://host:port`, `smtps://...`, or with `?tls=required`),
    /// if mail is configured, with `from` as the sender's address.
    pub fn new(smtp_url: Option<&str>, from: &str) -> Result<Sender, OpsError> {
        let smtp = match smtp_url.map(str::trim).filter(|u| !u.is_empty()) {
            Some(url) => Some(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| OpsError::invalid("smtp_url", e.to_string()))?
                    .timeout(Some(std::time::Duration::from_secs(10)))
                    .build(),
            ),
            None => None,
        };
        let from = from.parse().map_err(|e| OpsError::invalid("mail_from", format!("not an email address: {e}")))?;
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| OpsError::invalid("webhook", e.to_string()))?;
        Ok(Sender { http, smtp, from })
    }

    async fn send(&self, subscription: &Subscription, secret: Option<&str>, alert: &Alert) -> Result<(), String> {
        match subscription.channel {
            Channel::Webhook => self.post(&subscription.target, secret.unwrap_or_default(), alert).await,
            Channel::Email => self.mail(&subscription.target, alert).await,
        }
    }

    async fn post(&self, url: &str, secret: &str, alert: &Alert) -> Result<(), String> {
        let body = serde_json::json!({ "type": "alert.raised", "alert": alert }).to_string();
        let signature = pitboss_core::signature::sign(secret, Utc::now().timestamp(), body.as_bytes());
        let response = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("pitboss-signature", signature)
            .body(body)
            .send()
            .await
            .map_err(|e| format!("POST {url}: {e}"))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("POST {url}: the receiver answered {}", response.status()))
        }
    }

    async fn mail(&self, to: &str, alert: &Alert) -> Result<(), String> {
        let Some(smtp) = &self.smtp else {
            return Err("no SMTP server is configured (setting smtp_url)".into());
        };
        let to: Mailbox = to.parse().map_err(|e| format!("{to}: {e}"))?;
        let mut lines = vec![
            format!("Rule: {} (version {})", alert.rule_name, alert.rule_version),
            format!("Severity: {}", alert.severity),
            format!("Player: {}", alert.player_id),
            format!("Raised: {}", alert.raised_at.format("%Y-%m-%d %H:%M:%S UTC")),
            format!("In the panel: /alerts/{}", alert.id),
            String::new(),
            "Why:".to_string(),
        ];
        // `  true  recent.deposits >= 5 (recent.deposits = 6 >= 5)`, indented by depth.
        lines.extend(alert.trace_lines().into_iter().map(|t| {
            let result = if t.result { "true " } else { "false" };
            let detail = if t.detail.is_empty() { String::new() } else { format!(" ({})", t.detail) };
            format!("{}{result} {}{detail}", "  ".repeat(t.depth + 1), t.text)
        }));
        let message = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(format!("[Pitboss] {} alert: {}", alert.severity, alert.rule_name))
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(lines.join("\n"))
            .map_err(|e| e.to_string())?;
        smtp.send(message).await.map(|_| ()).map_err(|e| format!("SMTP: {e}"))
    }
}

/// Delivers a newly raised alert to every matching subscription.
pub async fn deliver_all(db: &Db, sender: &Sender, alert_id: Uuid) -> Result<(), OpsError> {
    let alert = crate::alerts::get(db, alert_id).await?;
    let rule_key = crate::anomaly_rules::get(db, alert.rule_id).await?.key;
    for (subscription, secret) in matching(db, &alert, &rule_key).await? {
        deliver(db, sender, &alert, &subscription, secret.as_deref()).await?;
    }
    Ok(())
}

/// Tries a delivery again (its retry timer came due).
pub async fn deliver_again(db: &Db, sender: &Sender, alert_id: Uuid, subscription_id: Uuid) -> Result<(), OpsError> {
    let alert = crate::alerts::get(db, alert_id).await?;
    match subscription(db, subscription_id).await? {
        Some((s, secret)) if s.active => deliver(db, sender, &alert, &s, secret.as_deref()).await,
        _ => Ok(()),
    }
}

/// One try of one delivery, unless it is done; the outcome is recorded, and a failure sets the
/// next try's timer or, after the last, marks it failed.
async fn deliver(
    db: &Db,
    sender: &Sender,
    alert: &Alert,
    subscription: &Subscription,
    secret: Option<&str>,
) -> Result<(), OpsError> {
    let done = delivery(db, alert.id, subscription.id).await?;
    if done.as_ref().is_some_and(|d| d.state != "pending") {
        return Ok(());
    }
    let attempts = done.map_or(0, |d| d.attempts) + 1;
    let outcome = sender.send(subscription, secret, alert).await;
    let now = Utc::now();
    let (state, error) = match &outcome {
        Ok(()) => ("delivered", None),
        Err(e) if attempts >= MAX_ATTEMPTS => ("failed", Some(e.as_str())),
        Err(e) => ("pending", Some(e.as_str())),
    };
    let mut tx = db.begin().await?;
    exec!(
        &mut tx,
        "INSERT INTO alert_deliveries (alert_id, subscription_id, state, attempts, last_error, delivered_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (alert_id, subscription_id) DO UPDATE SET \
         state = $3, attempts = $4, last_error = $5, delivered_at = $6, updated_at = $7",
        alert.id,
        subscription.id,
        state,
        attempts,
        error,
        outcome.is_ok().then(|| to_micros(now)),
        to_micros(now),
    )?;
    if state == "pending" {
        // A minute after the first failure, doubling up to two hours.
        let delay_minutes = (1_i64 << (attempts - 1).clamp(0, 7)).min(120);
        let due = to_micros(now) + delay_minutes * 60_000_000;
        pitboss_bus::timers::set(
            &mut tx,
            RETRY_TIMER,
            &format!("{}:{}", alert.id, subscription.id),
            due,
            to_micros(now),
        )
        .await?;
    }
    tx.commit().await?;
    match outcome {
        Ok(()) => tracing::info!(alert = %alert.id, subscription = %subscription.id, "alert delivered"),
        Err(e) => {
            tracing::warn!(alert = %alert.id, subscription = %subscription.id, attempts, error = %e, "alert delivery failed")
        }
    }
    Ok(())
}

/// Fires a delivery's retry: the try itself happens on the bus, outside this transaction.
pub async fn retry_due(tx: &mut Tx, key: &str, now: DateTime<Utc>) -> Result<(), OpsError> {
    let Some((alert, subscription)) = key.split_once(':') else { return Ok(()) };
    let (Ok(alert), Ok(subscription)) = (alert.parse::<Uuid>(), subscription.parse::<Uuid>()) else { return Ok(()) };
    let player: Option<Uuid> = tx!(tx, |c| sqlx::query_scalar("SELECT player_id FROM alerts WHERE id = $1")
        .bind(alert)
        .fetch_optional(c)
        .await)?;
    let Some(player) = player else { return Ok(()) };
    let due = serde_json::json!({ "alert_id": alert, "subscription_id": subscription });
    crate::announce(tx, DELIVERY_DUE, player, "delivery", &due, now).await
}
