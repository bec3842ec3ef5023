//! Ingest on both engines: each item's fate, nothing lost, nothing applied twice.

use chrono::{Duration, Utc};
use pitboss_ingest::{BatchReport, Ingestor, ItemStatus};
use pitboss_payments::queries::{player_balances, verify};
use pitboss_players::stats;
use pitboss_store::{Db, both_engines, db, sqlx};
use serde_json::{Value, json};
use uuid::Uuid;

fn event(kind: &str, player: &str, payload: Value) -> Value {
    json!({
        "id": Uuid::now_v7(), "type": kind, "player_id": player,
        "occurred_at": (Utc::now() - Duration::seconds(5)).to_rfc3339(), "source": "test", "payload": payload,
    })
}

fn registered(player: &str) -> Value {
    event(
        "player.registered",
        player,
        json!({
            "email": format!("{player}@example.com"), "country": "DE", "currency": "EUR",
            "traffic_source": "affiliate", "affiliate_id": "aff-7", "consents": {"email": true}
        }),
    )
}

fn money(kind: &str, player: &str, reference: &str, amount: Value) -> Value {
    event(kind, player, json!({"transaction_id": reference, "amount": amount, "currency": "EUR"}))
}

async fn send(db: &Db, items: Vec<Value>) -> BatchReport {
    Ingestor::new(db.clone()).ingest(&items, Utc::now()).await.expect("the batch is stored")
}

async fn player_id(db: &Db, external: &str) -> Uuid {
    db!(db, |c| sqlx::query_scalar("SELECT id FROM players WHERE external_id = $1").bind(external).fetch_one(c).await)
        .unwrap()
}

async fn count(db: &Db, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    db!(db, |c| sqlx::query_scalar(&sql).fetch_one(c).await).unwrap()
}

both_engines!(a_bad_item_is_rejected_with_its_reason_and_the_rest_go_through, |db| async move {
    let report = send(
        &db,
        vec![
            registered("p1"),
            json!("not an object"),
            event("payment.deposit.teleported", "p1", json!({})),
            money("payment.deposit.completed", "p1", "d-1", json!(-5)),
            money("payment.deposit.completed", "p1", "d-2", json!(1e30)),
            event(
                "payment.deposit.completed",
                "p1",
                json!({"transaction_id": "d-3", "amount": 100, "currency": "USD"}),
            ),
            money("payment.deposit.completed", "nobody", "d-4", json!(100)),
            money("payment.deposit.completed", "p1", "d-5", json!(2500)),
        ],
    )
    .await;
    let statuses: Vec<ItemStatus> = report.items.iter().map(|i| i.status).collect();
    use ItemStatus::*;
    assert_eq!(statuses, vec![Accepted, Rejected, Rejected, Rejected, Rejected, Rejected, Rejected, Accepted]);
    let reason = |i: usize| report.items[i].error.clone().unwrap().to_string();
    assert!(reason(1).contains("JSON object"), "{}", reason(1));
    assert!(reason(2).contains("unknown event type"), "{}", reason(2));
    assert!(reason(3).contains("zero or positive"), "{}", reason(3));
    assert!(reason(4).contains("maximum"), "{}", reason(4));
    assert!(reason(5).contains("wallet currency EUR"), "{}", reason(5));
    assert!(reason(6).contains("unknown player 'nobody'"), "{}", reason(6));
    assert_eq!((report.accepted, report.rejected), (2, 6));

    let p = player_id(&db, "p1").await;
    let cash = player_balances(&db, p).await.unwrap();
    assert_eq!(cash.iter().map(|b| b.posted).sum::<i64>(), 2500);
    // Rejected items leave no trace: only the two accepted events are stored and sent on.
    assert_eq!(count(&db, "events").await, 2);
    assert_eq!(count(&db, "outbox").await, 2);
});

both_engines!(duplicates_are_recognised_within_and_across_batches, |db| async move {
    let reg = registered("p2");
    let dep = money("payment.deposit.completed", "p2", "d-1", json!(1000));
    let first = send(&db, vec![reg.clone(), dep.clone(), dep.clone()]).await;
    assert_eq!(first.items[2].status, ItemStatus::Duplicate);
    let again = send(&db, vec![reg.clone(), dep.clone()]).await;
    assert_eq!(again.duplicates, 2);

    let mut reused = dep.clone();
    reused["payload"]["amount"] = json!(999);
    let report = send(&db, vec![reused]).await;
    assert_eq!(report.items[0].status, ItemStatus::Rejected);
    assert!(report.items[0].error.as_ref().unwrap().message.contains("different event"));

    let p = player_id(&db, "p2").await;
    let s = stats::get(&db, p, Utc::now()).await.unwrap();
    assert_eq!((s.deposit_count, s.deposit_sum), (1, 1000));
});

both_engines!(a_deposit_completed_before_it_was_requested_is_counted_once, |db| async move {
    send(&db, vec![registered("p3")]).await;
    let report = send(
        &db,
        vec![
            money("payment.deposit.completed", "p3", "d-9", json!(4000)),
            money("payment.deposit.requested", "p3", "d-9", json!(4000)),
        ],
    )
    .await;
    assert_eq!(report.accepted, 2);
    assert!(report.items[1].note.as_deref().unwrap().starts_with("stale"));
    let p = player_id(&db, "p3").await;
    let s = stats::get(&db, p, Utc::now()).await.unwrap();
    assert_eq!((s.deposit_count, s.deposit_sum, s.last_7_days.deposit_sum), (1, 4000, 4000));
});

both_engines!(ingest_keeps_the_aggregates_and_the_ledger_in_step, |db| async move {
    let old = (Utc::now() - Duration::days(40)).to_rfc3339();
    let mut early = money("payment.deposit.completed", "p4", "d-old", json!(10_000));
    early["occurred_at"] = json!(old);
    let report = send(
        &db,
        vec![
            registered("p4"),
            early,
            event("session.started", "p4", json!({"session_id": "s-1"})),
            money("payment.deposit.requested", "p4", "d-1", json!(5_000)),
            money("payment.deposit.completed", "p4", "d-1", json!(5_000)),
            event(
                "game.round",
                "p4",
                json!({"round_id": "r-1", "game": "Book of Ra", "provider": "novomatic",
            "category": "slots", "stake": 1_000, "win": 300, "currency": "EUR"}),
            ),
            money("payment.withdrawal.requested", "p4", "w-1", json!(2_000)),
            money("payment.withdrawal.completed", "p4", "w-1", json!(2_000)),
            money("payment.withdrawal.requested", "p4", "w-2", json!(99_999)),
            event("bonus.granted", "p4", json!({"bonus_id": "b-1", "amount": 500, "currency": "EUR"})),
            event("bonus.converted", "p4", json!({"bonus_id": "b-1", "amount": 500, "currency": "EUR"})),
        ],
    )
    .await;
    assert_eq!(report.rejected, 1, "{report:?}");
    assert!(report.items[8].error.as_ref().unwrap().message.contains("insufficient funds"));

    let p = player_id(&db, "p4").await;
    let s = stats::get(&db, p, Utc::now()).await.unwrap();
    assert_eq!(s.sessions_count, 1);
    assert_eq!((s.deposit_count, s.deposit_sum), (2, 15_000));
    assert_eq!((s.last_30_days.deposit_count, s.last_30_days.deposit_sum), (1, 5_000));
    assert_eq!((s.last_90_days.deposit_count, s.last_90_days.deposit_sum), (2, 15_000));
    assert_eq!((s.withdrawal_count, s.withdrawal_sum), (1, 2_000));
    assert_eq!((s.stake_sum, s.win_sum, s.ggr), (1_000, 300, 700));
    assert!(s.first_deposit_at.unwrap() < s.last_deposit_at.unwrap());

    let balances = player_balances(&db, p).await.unwrap();
    let cash = balances.iter().find(|b| b.account.contains(":cash:")).unwrap();
    assert_eq!(cash.posted, 15_000 - 1_000 + 300 - 2_000 + 500);
    assert!(verify(&db).await.unwrap().problems.is_empty());
});

both_engines!(a_registration_gives_the_player_its_brand_or_main, |db| async move {
    let mut branded = registered("p-lucky");
    branded["payload"]["brand"] = json!("LuckyStar");
    let mut bad = registered("p-bad");
    bad["payload"]["brand"] = json!("lucky star");
    let report = send(&db, vec![registered("p-plain"), branded, bad]).await;
    let statuses: Vec<ItemStatus> = report.items.iter().map(|i| i.status).collect();
    assert_eq!(statuses, vec![ItemStatus::Accepted, ItemStatus::Accepted, ItemStatus::Rejected]);
    let error = report.items[2].error.clone().unwrap();
    assert_eq!(error.field, "payload.brand");
    assert!(error.message.contains("'lucky star'"), "{error}");

    let brand = |id| {
        let db = db.clone();
        async move { pitboss_players::get(&db, id).await.unwrap().brand }
    };
    assert_eq!(brand(player_id(&db, "p-plain").await).await, "main");
    let lucky = player_id(&db, "p-lucky").await;
    assert_eq!(brand(lucky).await, "luckystar");

    // player.updated moves the player to another brand; a bad one is refused by name.
    let report = send(
        &db,
        vec![
            event("player.updated", "p-lucky", json!({"brand": "nordlys"})),
            event("player.updated", "p-lucky", json!({"brand": "nord:lys"})),
        ],
    )
    .await;
    assert_eq!(report.items[0].status, ItemStatus::Accepted);
    assert_eq!(report.items[1].status, ItemStatus::Rejected);
    assert_eq!(report.items[1].error.as_ref().unwrap().field, "payload.brand");
    assert_eq!(brand(lucky).await, "nordlys");
});
