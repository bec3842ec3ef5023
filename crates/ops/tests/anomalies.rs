//! The anomaly rules on both engines, each shipped rule fed real platform events through
//! ingestion, the outbox and the bus: what raises an alert and what does not, deduplication,
//! shadow mode, a rule changed without a code change, thresholds across currencies, and an
//! alert acknowledged, assigned and resolved by one operator only.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use pitboss_bus::Transport;
use pitboss_bus::in_process::InProcess;
use pitboss_bus::relay::Relay;
use pitboss_ingest::Ingestor;
use pitboss_ops::OpsError;
use pitboss_ops::alerts::{self, Alert, AlertFilter, AlertState, Outcome};
use pitboss_ops::anomaly_rules::{self, RuleInput, RuleMode, Severity};
use pitboss_ops::consumer::{ANOMALIES, AnomaliesConsumer};
use pitboss_rules::Rates;
use pitboss_store::{Db, both_engines, db, exec, sqlx};
use serde_json::{Value, json};
use uuid::Uuid;

struct World {
    db: Db,
    ingestor: Ingestor,
    relay: Relay,
}

impl World {
    /// The shipped rules, installed as the server does, and the anomalies consumer on the bus.
    async fn new(db: &Db) -> World {
        assert_eq!(anomaly_rules::install_shipped(db, Utc::now()).await.unwrap(), anomaly_rules::SHIPPED.len());
        assert_eq!(anomaly_rules::install_shipped(db, Utc::now()).await.unwrap(), 0, "installed once");
        let transport = Arc::new(InProcess::new());
        // 1 USD = 0.92 EUR.
        let rates = Rates::new().with("USD".parse().unwrap(), 920_000);
        transport.subscribe(ANOMALIES, AnomaliesConsumer::new(db.clone(), Arc::new(rates))).await.unwrap();
        World { db: db.clone(), ingestor: Ingestor::new(db.clone()), relay: Relay::new(db.clone(), transport) }
    }

    /// Ingests the events (every one must be accepted) and delivers what they announce.
    async fn send(&self, events: Vec<Value>) {
        let report = self.ingestor.ingest(&events, Utc::now()).await.unwrap();
        assert_eq!(report.accepted, events.len(), "{:?}", report.items);
        self.relay.flush().await.unwrap();
    }

    async fn register(&self, player: &str, currency: &str) -> Uuid {
        let payload = json!({"country": "DE", "currency": currency});
        self.send(vec![event("player.registered", player, minutes_ago(3 * 24 * 60), payload)]).await;
        db!(&self.db, |c| sqlx::query_scalar("SELECT id FROM players WHERE external_id = $1")
            .bind(player)
            .fetch_one(c)
            .await)
        .unwrap()
    }

    /// Every alert about the player, live and shadow, of every state.
    /// A deposit two days ago, outside every window, to play with.
    async fn fund(&self, player: &str, currency: &str, amount: i64) {
        let payload = json!({"transaction_id": format!("fund-{player}"), "amount": amount, "currency": currency});
        self.send(vec![event("payment.deposit.completed", player, minutes_ago(2 * 24 * 60), payload)]).await;
    }

    async fn alerts(&self, player: Uuid) -> Vec<Alert> {
        let filter = AlertFilter { states: AlertState::ALL.to_vec(), player: Some(player), ..Default::default() };
        alerts::list(&self.db, &filter, 100, 0).await.unwrap()
    }

    async fn rule(&self, key: &str) -> anomaly_rules::AnomalyRule {
        anomaly_rules::list(&self.db).await.unwrap().into_iter().find(|r| r.key == key).unwrap()
    }

    async fn change(&self, key: &str, input: RuleInput) {
        let id = self.rule(key).await.id;
        let mut tx = self.db.begin().await.unwrap();
        anomaly_rules::update(&mut tx, id, input, "operator:rita", Utc::now()).await.unwrap();
        tx.commit().await.unwrap();
    }

    async fn outbox(&self, topic: &str) -> i64 {
        db!(&self.db, |c| sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE topic = $1")
            .bind(topic)
            .fetch_one(c)
            .await)
        .unwrap()
    }
}

fn minutes_ago(m: i64) -> DateTime<Utc> {
    Utc::now() - Duration::minutes(m)
}

fn event(kind: &str, player: &str, at: DateTime<Utc>, payload: Value) -> Value {
    json!({
        "id": Uuid::now_v7(), "type": kind, "player_id": player, "occurred_at": at.to_rfc3339(),
        "source": "test", "payload": payload,
    })
}

fn payment(kind: &str, player: &str, reference: &str, amount: i64, at: DateTime<Utc>) -> Value {
    event(kind, player, at, json!({"transaction_id": reference, "amount": amount, "currency": "EUR"}))
}

fn deposit(player: &str, reference: &str, amount: i64, at: DateTime<Utc>) -> Value {
    payment("payment.deposit.completed", player, reference, amount, at)
}

fn round(player: &str, id: &str, stake: i64, win: i64, currency: &str, at: DateTime<Utc>) -> Value {
    let payload = json!({"round_id": id, "game": "g", "provider": "p", "category": "slots", "stake": stake, "win": win, "currency": currency});
    event("game.round", player, at, payload)
}

/// One step on an alert in its own transaction, committed when it succeeds.
macro_rules! step {
    ($db:expr, |$tx:ident| $body:expr) => {{
        let mut owned = $db.begin().await.unwrap();
        let out = {
            let $tx = &mut owned;
            $body.await
        };
        if out.is_ok() {
            owned.commit().await.unwrap();
        }
        out
    }};
}

/// The alerts' rule names, in a stable order.
fn names(alerts: &[Alert]) -> Vec<&str> {
    let mut names: Vec<&str> = alerts.iter().map(|a| a.rule_name.as_str()).collect();
    names.sort();
    names
}

both_engines!(deposit_velocity_alerts_on_the_fifth_deposit_within_the_hour_and_deduplicates, |db| async move {
    let w = World::new(&db).await;
    let p = w.register("p-1", "EUR").await;
    // Four within the hour, and one two hours ago that is outside the window.
    let mut events = vec![deposit("p-1", "d-0", 1_000, minutes_ago(119))];
    events.extend((1..=4).map(|i| deposit("p-1", &format!("d-{i}"), 1_000, minutes_ago(50 - i))));
    w.send(events).await;
    assert_eq!(w.alerts(p).await, vec![], "four deposits within the hour are not five");
    w.send(vec![deposit("p-1", "d-5", 1_000, minutes_ago(10))]).await;
    let raised = w.alerts(p).await;
    assert_eq!(names(&raised), ["Deposit velocity"]);
    let alert = &raised[0];
    assert_eq!((alert.state, alert.severity, alert.hits), (AlertState::Open, Severity::Medium, 1));
    assert_eq!(alert.evidence["trace"]["detail"], "recent.deposits = 5 >= 5", "{}", alert.evidence);
    assert_eq!(alert.evidence["event"]["payload"]["transaction_id"], "d-5");
    assert_eq!(w.outbox("ops.alert.raised").await, 1);
    // The sixth joins the same alert: one alert with two hits, and nobody is told twice.
    w.send(vec![deposit("p-1", "d-6", 1_000, minutes_ago(5))]).await;
    let raised = w.alerts(p).await;
    assert_eq!((raised.len(), raised[0].hits), (1, 2));
    assert_eq!(raised[0].evidence["event"]["payload"]["transaction_id"], "d-6", "the latest hit's evidence");
    assert_eq!(w.outbox("ops.alert.raised").await, 1);
    let hits = alerts::hit_events(&db, raised[0].id).await.unwrap();
    assert_eq!(hits.len(), 2);
});

both_engines!(a_win_far_above_the_stake_alerts_in_any_currency, |db| async move {
    let w = World::new(&db).await;
    let eur = w.register("p-eur", "EUR").await;
    let usd = w.register("p-usd", "USD").await;
    w.fund("p-eur", "EUR", 10_000).await;
    w.fund("p-usd", "USD", 10_000).await;
    // 1.00 staked: 400x is not enough, 600x of 6.00 is too small, 600x of 1.00 paying 1,500.00 is.
    w.send(vec![
        round("p-eur", "r-1", 100, 40_000, "EUR", minutes_ago(30)),
        round("p-eur", "r-2", 1, 600, "EUR", minutes_ago(29)),
    ])
    .await;
    assert_eq!(w.alerts(eur).await, vec![]);
    w.send(vec![round("p-eur", "r-3", 250, 150_000, "EUR", minutes_ago(28))]).await;
    let raised = w.alerts(eur).await;
    assert_eq!((names(&raised), raised[0].severity), (vec!["Win far above the stake"], Severity::High));
    // The 1,000 EUR floor holds for a USD player through the rates: 1,050 USD is 966 EUR, too
    // little; 1,100 USD is 1,012 EUR.
    w.send(vec![round("p-usd", "r-4", 200, 105_000, "USD", minutes_ago(27))]).await;
    assert_eq!(w.alerts(usd).await, vec![], "1,050 USD is under 1,000 EUR");
    w.send(vec![round("p-usd", "r-5", 200, 110_000, "USD", minutes_ago(26))]).await;
    assert_eq!(names(&w.alerts(usd).await), ["Win far above the stake"]);
});

both_engines!(a_deposit_withdrawn_with_little_play_alerts, |db| async move {
    let w = World::new(&db).await;
    let quick = w.register("p-quick", "EUR").await;
    let player = w.register("p-player", "EUR").await;
    let rounds = |p: &str, n: i64| -> Vec<Value> {
        (0..n).map(|i| round(p, &format!("{p}-r{i}"), 1_000, 0, "EUR", minutes_ago(100 - i))).collect()
    };
    // 200.00 in, 20.00 staked (10%), 180.00 asked back.
    let mut events = vec![deposit("p-quick", "q-d", 20_000, minutes_ago(120))];
    events.extend(rounds("p-quick", 2));
    events.push(payment("payment.withdrawal.requested", "p-quick", "q-w", 18_000, minutes_ago(60)));
    // 200.00 in, 100.00 staked (50%): played, not laundered.
    events.push(deposit("p-player", "p-d", 20_000, minutes_ago(120)));
    events.extend(rounds("p-player", 10));
    events.push(payment("payment.withdrawal.requested", "p-player", "p-w", 10_000, minutes_ago(60)));
    w.send(events).await;
    let raised = w.alerts(quick).await;
    assert_eq!(names(&raised), ["Deposit, then withdrawal with little play"]);
    let trace = raised[0].evidence["trace"].to_string();
    assert!(trace.contains("recent.turnover = 10 < 30"), "{trace}");
    assert_eq!(w.alerts(player).await, vec![]);
});

both_engines!(many_failed_deposits_alert, |db| async move {
    let w = World::new(&db).await;
    let p = w.register("p-1", "EUR").await;
    let failed = |i: i64| payment("payment.deposit.failed", "p-1", &format!("f-{i}"), 5_000, minutes_ago(40 - i));
    w.send((0..4).map(failed).collect()).await;
    assert_eq!(w.alerts(p).await, vec![]);
    w.send(vec![failed(4)]).await;
    assert_eq!(names(&w.alerts(p).await), ["Many failed deposits"]);
});

both_engines!(accounts_sharing_a_device_or_a_payment_instrument_alert, |db| async move {
    let w = World::new(&db).await;
    let mut players = Vec::new();
    for name in ["p-a", "p-b", "p-c"] {
        players.push(w.register(name, "EUR").await);
    }
    let session = |p: &str, device: &str, ip: &str| {
        let payload = json!({"session_id": format!("s-{p}-{device}"), "ip": ip, "device": "ios", "device_id": device});
        event("session.started", p, minutes_ago(30), payload)
    };
    // Two accounts on one device is one other: under the shipped threshold of two others.
    w.send(vec![session("p-a", "dev-1", "10.0.0.1"), session("p-b", "dev-1", "10.0.0.2")]).await;
    assert!(w.alerts(players[0]).await.is_empty() && w.alerts(players[1]).await.is_empty());
    // The third account on it is seen with two others.
    w.send(vec![session("p-c", "DEV-1", "10.0.0.3")]).await;
    let raised = w.alerts(players[2]).await;
    assert_eq!(names(&raised), ["Accounts sharing a device, IP or payment instrument"]);
    assert!(raised[0].evidence["trace"].to_string().contains("shared.device = 2 >= 2"), "{}", raised[0].evidence);
    // One card behind two accounts.
    let paid = |p: &str, reference: &str| {
        let payload =
            json!({"transaction_id": reference, "amount": 1_000, "currency": "EUR", "instrument": "tok_4242"});
        event("payment.deposit.completed", p, minutes_ago(20), payload)
    };
    w.send(vec![paid("p-a", "c-1")]).await;
    assert!(w.alerts(players[0]).await.is_empty(), "the card's first account");
    w.send(vec![paid("p-b", "c-2")]).await;
    assert_eq!(names(&w.alerts(players[1]).await), ["Accounts sharing a device, IP or payment instrument"]);
    // Only a fingerprint of each identifier is kept.
    let stored: Vec<String> =
        db!(&db, |c| sqlx::query_scalar("SELECT value_hash FROM player_identifiers").fetch_all(c).await).unwrap();
    assert!(stored.iter().all(|h| h.len() == 64 && !h.contains("dev") && !h.contains("tok")), "{stored:?}");
});

both_engines!(a_balance_that_does_not_match_its_postings_alerts, |db| async move {
    let w = World::new(&db).await;
    let p = w.register("p-1", "EUR").await;
    w.send(vec![deposit("p-1", "d-1", 5_000, minutes_ago(30))]).await;
    assert_eq!(w.alerts(p).await, vec![], "a sound ledger");
    // The cached balance is changed behind the ledger's back.
    let mut tx = db.begin().await.unwrap();
    exec!(&mut tx, "UPDATE ledger_accounts SET posted_credits = posted_credits + 100 WHERE player_id = $1", p).unwrap();
    tx.commit().await.unwrap();
    w.send(vec![deposit("p-1", "d-2", 5_000, minutes_ago(20))]).await;
    let raised = w.alerts(p).await;
    assert_eq!((names(&raised), raised[0].severity), (vec!["Balance does not match its postings"], Severity::Critical));
    assert!(
        raised[0].evidence["trace"].to_string().contains("ledger.balance_mismatch = 1.00 EUR"),
        "{}",
        raised[0].evidence
    );
});

both_engines!(a_rule_changed_without_code_and_in_shadow_records_hits_without_alerting, |db| async move {
    let w = World::new(&db).await;
    let p = w.register("p-1", "EUR").await;
    // The threshold lowered to three for German players (a fact about the player, loaded for
    // it), and the rule put in shadow.
    let lower = RuleInput {
        condition: Some("recent.deposits >= 3 and country == \"DE\"".into()),
        mode: Some(RuleMode::Shadow),
        ..Default::default()
    };
    w.change("deposit_velocity", lower).await;
    let rule = w.rule("deposit_velocity").await;
    assert_eq!((rule.version, rule.updated_by.as_str()), (2, "operator:rita"));
    w.send((1..=3).map(|i| deposit("p-1", &format!("d-{i}"), 1_000, minutes_ago(30 - i))).collect()).await;
    let recorded = w.alerts(p).await;
    assert_eq!(recorded.len(), 1);
    assert_eq!((recorded[0].state, recorded[0].rule_version), (AlertState::Shadow, 2));
    assert_eq!(w.outbox("ops.alert.raised").await, 0, "a shadow hit tells nobody");
    let live = alerts::list(&db, &AlertFilter::default(), 100, 0).await.unwrap();
    assert!(live.is_empty(), "the panel lists no shadow hit");
    let mut tx = db.begin().await.unwrap();
    let refused = alerts::acknowledge(&mut tx, recorded[0].id, "operator:olga", Utc::now()).await;
    assert!(matches!(refused, Err(OpsError::Decided(ref m)) if m.contains("shadow")), "{refused:?}");
    drop(tx);
    // Live again with a window of ten minutes: the three deposits are 27 to 29 minutes old.
    w.change(
        "deposit_velocity",
        RuleInput { mode: Some(RuleMode::Live), window_minutes: Some(10), ..Default::default() },
    )
    .await;
    w.send(vec![deposit("p-1", "d-4", 1_000, minutes_ago(1))]).await;
    assert_eq!(w.alerts(p).await.len(), 1, "one deposit within ten minutes");
    // Off: nothing runs.
    w.change(
        "deposit_velocity",
        RuleInput { mode: Some(RuleMode::Off), window_minutes: Some(60), ..Default::default() },
    )
    .await;
    w.send(vec![deposit("p-1", "d-5", 1_000, minutes_ago(1))]).await;
    assert_eq!(w.alerts(p).await.len(), 1);

    // Bad changes are refused with the field, and the rule stays as it was.
    let id = w.rule("deposit_velocity").await.id;
    let mut tx = db.begin().await.unwrap();
    let bad = RuleInput { condition: Some("recent.deposit >= 3".into()), ..Default::default() };
    let refused = anomaly_rules::update(&mut tx, id, bad, "operator:rita", Utc::now()).await;
    assert!(
        matches!(refused, Err(OpsError::Invalid { field: "condition", ref message }) if message.contains("recent.deposits")),
        "{refused:?}"
    );
    let taken = RuleInput { name: Some("Many failed deposits".into()), ..Default::default() };
    assert!(matches!(
        anomaly_rules::update(&mut tx, id, taken, "operator:rita", Utc::now()).await,
        Err(OpsError::Taken(_))
    ));
});

both_engines!(an_alert_is_acknowledged_assigned_and_resolved_once, |db| async move {
    let w = World::new(&db).await;
    let p = w.register("p-1", "EUR").await;
    w.fund("p-1", "EUR", 10_000).await;
    w.send(vec![round("p-1", "r-1", 100, 200_000, "EUR", minutes_ago(5))]).await;
    let id = w.alerts(p).await[0].id;
    let now = Utc::now();
    let acked = step!(db, |tx| alerts::acknowledge(tx, id, "operator:olga", now)).unwrap();
    assert_eq!((acked.state, acked.assignee.as_deref()), (AlertState::Acknowledged, Some("operator:olga")));
    let again = step!(db, |tx| alerts::acknowledge(tx, id, "operator:pete", now));
    assert!(
        matches!(again, Err(OpsError::Decided(ref m)) if m.contains("already acknowledged by operator:olga")),
        "{again:?}"
    );
    let assigned = step!(db, |tx| alerts::assign(tx, id, "operator:pete", now)).unwrap();
    assert_eq!(assigned.assignee.as_deref(), Some("operator:pete"));
    let no_note = step!(db, |tx| alerts::resolve(tx, id, Outcome::Confirmed, "  ", "operator:pete", now));
    assert!(matches!(no_note, Err(OpsError::Invalid { field: "note", .. })), "{no_note:?}");
    let resolved = step!(db, |tx| alerts::resolve(
        tx,
        id,
        Outcome::FalsePositive,
        "provider's jackpot, confirmed",
        "operator:pete",
        now
    ))
    .unwrap();
    assert_eq!((resolved.state, resolved.outcome), (AlertState::Resolved, Some(Outcome::FalsePositive)));
    let twice = step!(db, |tx| alerts::resolve(tx, id, Outcome::Confirmed, "again", "operator:olga", now));
    assert!(matches!(twice, Err(OpsError::Decided(ref m)) if m.contains("already resolved")), "{twice:?}");
    for topic in ["ops.alert.acknowledged", "ops.alert.assigned", "ops.alert.resolved"] {
        assert_eq!(w.outbox(topic).await, 1, "{topic}: each step announced once, for the analytics");
    }
    // A new hit after the resolution is a new alert, not a reopened one.
    w.send(vec![round("p-1", "r-2", 100, 200_000, "EUR", minutes_ago(1))]).await;
    let all = w.alerts(p).await;
    assert_eq!(all.len(), 2);
    assert_eq!(all.iter().filter(|a| a.state == AlertState::Open).count(), 1);
});
