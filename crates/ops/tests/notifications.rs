//! Alert notifications on both engines: a webhook receiver (a local HTTP server) gets each new
//! live alert once, signed with its subscription's secret; a receiver that fails is tried
//! again from the retry timer, through the bus, until it answers; subscriptions filter by
//! severity and rule. The email half sends through a real SMTP server (aiosmtpd, started by
//! `.ci/run`: `PITBOSS_TEST_SMTP_URL`, `PITBOSS_TEST_MAILDIR`) and reads the message it kept.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use chrono::{Duration, Utc};
use pitboss_bus::Transport;
use pitboss_bus::in_process::InProcess;
use pitboss_bus::relay::Relay;
use pitboss_ingest::Ingestor;
use pitboss_ops::anomaly_rules::{self, Severity};
use pitboss_ops::consumer::{ANOMALIES, AnomaliesConsumer, DeliveryRetries, NOTIFICATIONS, NotificationsConsumer};
use pitboss_ops::notifications::{self, Channel, NewSubscription, RETRY_TIMER, Sender};
use pitboss_ops::{OpsError, alerts};
use pitboss_rules::Rates;
use pitboss_store::{Db, both_engines};
use serde_json::{Value, json};
use uuid::Uuid;

/// What the webhook receiver got, and the status it answers with next.
#[derive(Default)]
struct Receiver {
    got: Mutex<Vec<(String, Value)>>,
    answer: AtomicU16,
}

/// A webhook receiver on a free local port; returns its URL.
async fn receiver(state: Arc<Receiver>) -> String {
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(|axum::extract::State(r): axum::extract::State<Arc<Receiver>>, headers: HeaderMap, body: String| async move {
            let signature = headers.get("pitboss-signature").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
            r.got.lock().unwrap().push((signature, serde_json::from_str(&body).unwrap_or(Value::Null)));
            StatusCode::from_u16(r.answer.load(Ordering::SeqCst)).unwrap()
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app.with_state(state)).await });
    format!("http://{addr}/hook")
}

struct World {
    db: Db,
    ingestor: Ingestor,
    relay: Relay,
}

impl World {
    async fn new(db: &Db, sender: Sender) -> World {
        anomaly_rules::install_shipped(db, Utc::now()).await.unwrap();
        let transport = Arc::new(InProcess::new());
        transport.subscribe(ANOMALIES, AnomaliesConsumer::new(db.clone(), Arc::new(Rates::new()))).await.unwrap();
        transport.subscribe(NOTIFICATIONS, NotificationsConsumer::new(db.clone(), Arc::new(sender))).await.unwrap();
        World { db: db.clone(), ingestor: Ingestor::new(db.clone()), relay: Relay::new(db.clone(), transport) }
    }

    async fn send(&self, events: Vec<Value>) {
        let report = self.ingestor.ingest(&events, Utc::now()).await.unwrap();
        assert_eq!(report.accepted, events.len(), "{:?}", report.items);
        self.relay.flush().await.unwrap();
    }

    async fn subscribe(
        &self,
        owner: &str,
        new: NewSubscription,
    ) -> Result<(notifications::Subscription, Option<String>), OpsError> {
        let mut tx = self.db.begin().await.unwrap();
        let made = notifications::subscribe(&mut tx, &self.db, owner, new, Utc::now()).await?;
        tx.commit().await.unwrap();
        Ok(made)
    }
}

fn event(kind: &str, player: &str, payload: Value) -> Value {
    json!({
        "id": Uuid::now_v7(), "type": kind, "player_id": player,
        "occurred_at": (Utc::now() - Duration::minutes(1)).to_rfc3339(), "source": "test", "payload": payload,
    })
}

/// Five failed deposits: the shipped "Many failed deposits" rule (medium) raises an alert.
fn failed_deposits(player: &str) -> Vec<Value> {
    let mut events = vec![event("player.registered", player, json!({"country": "DE", "currency": "EUR"}))];
    events.extend((0..5).map(|i| {
        let payload = json!({"transaction_id": format!("{player}-f{i}"), "amount": 1_000, "currency": "EUR"});
        event("payment.deposit.failed", player, payload)
    }));
    events
}

fn webhook(url: &str, min_severity: Option<Severity>, rules: &[&str]) -> NewSubscription {
    NewSubscription {
        channel: Channel::Webhook,
        target: url.into(),
        min_severity,
        rules: rules.iter().map(|r| r.to_string()).collect(),
    }
}

both_engines!(a_webhook_gets_each_new_alert_once_signed_and_a_failed_try_is_retried, |db| async move {
    let w = World::new(&db, Sender::new(None, "pitboss@casino.test").unwrap()).await;
    let got = Arc::new(Receiver { answer: AtomicU16::new(500), ..Default::default() });
    let url = receiver(got.clone()).await;
    let (hook, secret) = w.subscribe("operator:olga", webhook(&url, None, &["failed_deposits"])).await.unwrap();
    let secret = secret.expect("a webhook's secret is shown once");
    // Filtered out: only high and above, and another rule.
    w.subscribe("operator:pete", webhook(&url, Some(Severity::High), &[])).await.unwrap();
    w.subscribe("operator:rita", webhook(&url, None, &["outsized_win"])).await.unwrap();
    // Refused: not a URL, not an address, a rule that does not exist.
    let refused = |r: Result<_, OpsError>| matches!(r, Err(OpsError::Invalid { field, .. }) if field == "target" || field == "rules");
    assert!(refused(w.subscribe("o", webhook("ftp://x", None, &[])).await));
    assert!(refused(w.subscribe("o", webhook(&url, None, &["no_such_rule"])).await));
    let mail =
        NewSubscription { channel: Channel::Email, target: "not an address".into(), min_severity: None, rules: vec![] };
    assert!(refused(w.subscribe("o", mail).await));

    // The receiver is down: the try is recorded, and a retry timer is set.
    w.send(failed_deposits("p-1")).await;
    let alert = alerts::list(&db, &Default::default(), 10, 0).await.unwrap().remove(0);
    assert_eq!(got.got.lock().unwrap().len(), 1, "one matching subscription was tried");
    let d = notifications::delivery(&db, alert.id, hook.id).await.unwrap().unwrap();
    assert_eq!((d.state.as_str(), d.attempts), ("pending", 1));
    assert!(d.last_error.unwrap().contains("500"));
    let key = format!("{}:{}", alert.id, hook.id);
    let due = pitboss_bus::timers::due_at(&db, RETRY_TIMER, &key).await.unwrap().expect("a retry is due");

    // The receiver is back; the timer fires at its time, and the retry goes through the bus.
    got.answer.store(200, Ordering::SeqCst);
    let fired = pitboss_bus::timers::fire_due(&db, RETRY_TIMER, &DeliveryRetries, due, 10).await.unwrap();
    assert_eq!(fired, 1);
    w.relay.flush().await.unwrap();
    let d = notifications::delivery(&db, alert.id, hook.id).await.unwrap().unwrap();
    assert_eq!((d.state.as_str(), d.attempts), ("delivered", 2));
    let (signature, body) = got.got.lock().unwrap().last().cloned().unwrap();
    assert_eq!(body["type"], "alert.raised");
    assert_eq!(body["alert"]["id"], alert.id.to_string());
    assert_eq!(body["alert"]["rule_name"], "Many failed deposits");
    // The signature is the HMAC of the timestamp and the body, with the subscription's secret.
    let t: i64 = signature.strip_prefix("t=").and_then(|s| s.split(',').next()).unwrap().parse().unwrap();
    assert_eq!(signature, pitboss_core::signature::sign(&secret, t, body.to_string().as_bytes()));
    assert_ne!(signature, pitboss_core::signature::sign("another secret", t, body.to_string().as_bytes()));

    // More hits on the same alert tell nobody again; delivered stays delivered.
    let again =
        event("payment.deposit.failed", "p-1", json!({"transaction_id": "p-1-f9", "amount": 1_000, "currency": "EUR"}));
    w.send(vec![again]).await;
    assert_eq!(got.got.lock().unwrap().len(), 2);
    notifications::deliver_again(&db, &Sender::new(None, "pitboss@casino.test").unwrap(), alert.id, hook.id)
        .await
        .unwrap();
    assert_eq!(got.got.lock().unwrap().len(), 2, "a delivered alert is not sent twice");

    // Unsubscribed: the next alert is not sent.
    let mut tx = db.begin().await.unwrap();
    notifications::unsubscribe(&mut tx, hook.id, "operator:olga", Utc::now()).await.unwrap();
    tx.commit().await.unwrap();
    w.send(failed_deposits("p-2")).await;
    assert_eq!(got.got.lock().unwrap().len(), 2);
});

#[tokio::test]
#[ignore = "needs an SMTP server (PITBOSS_TEST_SMTP_URL, PITBOSS_TEST_MAILDIR); run by .ci/run"]
async fn an_email_subscription_gets_the_alert_through_the_smtp_server() {
    let smtp = std::env::var("PITBOSS_TEST_SMTP_URL").unwrap_or_else(|_| "smtp://127.0.0.1:2525".into());
    let maildir = std::env::var("PITBOSS_TEST_MAILDIR").unwrap_or_else(|_| "/tmp/pitboss-maildir".into());
    let db = pitboss_store::testing::sqlite().await.unwrap();
    let w = World::new(&db, Sender::new(Some(&smtp), "Pitboss <pitboss@casino.test>").unwrap()).await;
    let to = format!("compliance-{}@casino.test", Uuid::now_v7().simple());
    let mail = NewSubscription { channel: Channel::Email, target: to.clone(), min_severity: None, rules: vec![] };
    let (subscription, secret) = w.subscribe("operator:olga", mail).await.unwrap();
    assert_eq!(secret, None, "only webhooks have a secret");
    w.send(failed_deposits("p-mail")).await;
    let alert = alerts::list(&db, &Default::default(), 10, 0).await.unwrap().remove(0);
    let d = notifications::delivery(&db, alert.id, subscription.id).await.unwrap().unwrap();
    assert_eq!(d.state, "delivered", "{:?}", d.last_error);
    // The server kept it in its Maildir: find the message sent to this test's address.
    let mut found = None;
    for _ in 0..50 {
        let dir = std::path::Path::new(&maildir).join("new");
        found = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .find(|m| m.contains(&to));
        if found.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let message = found.expect("the SMTP server kept the message");
    assert!(message.contains("Subject: [Pitboss] medium alert: Many failed deposits"), "{message}");
    assert!(message.contains("recent.failed_deposits = 5 >= 5"), "{message}");
    assert!(message.contains(&format!("/alerts/{}", alert.id)), "{message}");
}
