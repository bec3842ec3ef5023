//! The game categories a player played and the bonus figures per window, as ingest keeps them,
//! on both engines and both paths (rounds as a set, and one by one): every event counted once,
//! however often it is sent.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use pitboss_ingest::{BatchReport, Ingestor, ItemStatus};
use pitboss_players::{PlayerStats, stats};
use pitboss_store::{Db, both_engines, db, sqlx};
use serde_json::{Value, json};
use uuid::Uuid;

fn event(kind: &str, player: &str, payload: Value, at: DateTime<Utc>) -> Value {
    json!({"id": Uuid::now_v7(), "type": kind, "player_id": player, "occurred_at": at.to_rfc3339(), "payload": payload})
}

fn round(player: &str, id: &str, category: &str, stake: i64, at: DateTime<Utc>) -> Value {
    event(
        "game.round",
        player,
        json!({"round_id": id, "game": "g", "provider": "p", "category": category, "stake": stake, "win": 0, "currency": "EUR"}),
        at,
    )
}

fn bonus(kind: &str, player: &str, id: &str, amount: i64, at: DateTime<Utc>) -> Value {
    event(kind, player, json!({"bonus_id": id, "amount": amount, "currency": "EUR"}), at)
}

/// The rounds and bonuses of `events` under new ids: the ledger's references make them replays.
fn resent_under_new_ids(events: &[Value]) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e["type"] != "session.started")
        .map(|e| {
            let mut e = e.clone();
            e["id"] = json!(Uuid::now_v7());
            if e["type"] == "game.round" {
                // Another spelling of the same category changes nothing either.
                let upper = e["payload"]["category"].as_str().unwrap().to_uppercase();
                e["payload"]["category"] = json!(upper);
            }
            e
        })
        .collect()
}

async fn player_id(db: &Db, external: &str) -> Uuid {
    db!(db, |c| sqlx::query_scalar("SELECT id FROM players WHERE external_id = $1").bind(external).fetch_one(c).await)
        .unwrap()
}

fn statuses(report: &BatchReport) -> Vec<ItemStatus> {
    report.items.iter().map(|i| i.status).collect()
}

fn categories(s: &PlayerStats) -> Vec<(String, i64, i64)> {
    s.categories.iter().map(|c| (c.category.clone(), c.rounds_count, c.stake_sum)).collect()
}

both_engines!(rounds_count_their_category_and_bonuses_their_window_once_on_both_paths, |db| async move {
    // Whole microseconds, as stored.
    let now = Utc::now().trunc_subsecs(6);
    let ago = |d: i64| now - Duration::days(d) - Duration::minutes(1);
    for (ingest, p) in [(Ingestor::new(db.clone()), "set"), (Ingestor::new(db.clone()).one_by_one(), "single")] {
        let registered = event("player.registered", p, json!({"country": "DE", "currency": "EUR"}), ago(60));
        let deposit = event(
            "payment.deposit.completed",
            p,
            json!({"transaction_id": format!("{p}-d"), "amount": 10_000, "currency": "EUR"}),
            ago(59),
        );
        ingest.ingest(&[registered, deposit], now).await.unwrap();
        let play = vec![
            round(p, &format!("{p}-r1"), " Slots ", 100, ago(40)),
            round(p, &format!("{p}-r2"), "LIVE_Casino", 50, ago(3)),
            event("session.started", p, json!({"session_id": "s"}), ago(3)),
            round(p, &format!("{p}-r3"), "slots", 30, ago(1)),
            bonus("bonus.granted", p, &format!("{p}-b1"), 1_000, ago(20)),
            bonus("bonus.forfeited", p, &format!("{p}-b1"), 400, ago(2)),
            bonus("bonus.converted", p, &format!("{p}-b1"), 600, ago(2)),
            bonus("bonus.granted", p, &format!("{p}-b2"), 70, ago(100)),
            bonus("bonus.forfeited", p, &format!("{p}-b2"), 70, ago(95)),
        ];
        let first = ingest.ingest(&play, now).await.unwrap();
        assert_eq!(first.accepted, play.len(), "{p}: {first:?}");

        let id = player_id(&db, p).await;
        let expected = stats::get(&db, id, now).await.unwrap();
        assert_eq!(categories(&expected), [("live_casino".into(), 1, 50), ("slots".into(), 2, 130)], "{p}");
        let slots = &expected.categories[1];
        assert_eq!((slots.first_played, slots.last_played), (ago(40), ago(1)), "{p}");
        let bonus =
            |w: pitboss_players::WindowTotals| (w.bonus_granted_sum, w.bonus_converted_sum, w.bonus_forfeited_sum);
        assert_eq!(bonus(expected.last_7_days), (0, 600, 400), "{p}");
        assert_eq!(bonus(expected.last_30_days), (1_000, 600, 400), "{p}");
        assert_eq!(bonus(expected.last_90_days), (1_000, 600, 400), "{p}");
        assert_eq!(
            (expected.bonus_granted_sum, expected.bonus_converted_sum, expected.bonus_forfeited_sum),
            (1_070, 600, 470),
            "{p}"
        );

        // Sent again: every item a duplicate, nothing counted twice.
        let again = ingest.ingest(&play, now).await.unwrap();
        assert_eq!(again.duplicates, play.len(), "{p}: {again:?}");
        assert_eq!(stats::get(&db, id, now).await.unwrap(), expected, "{p}: a resend");

        // The same rounds and bonuses under new event ids: replays, noted and not counted.
        let replayed = ingest.ingest(&resent_under_new_ids(&play), now).await.unwrap();
        assert_eq!(replayed.accepted, 8, "{p}: {replayed:?}");
        assert!(
            replayed.items.iter().all(|i| i.note.as_deref().is_some_and(|n| n.contains("replay"))),
            "{p}: every round and bonus is a replay: {replayed:?}"
        );
        assert_eq!(stats::get(&db, id, now).await.unwrap(), expected, "{p}: a replay under a new id");
    }
});

both_engines!(an_over_long_category_is_rejected_with_its_reason_and_the_rest_go_through, |db| async move {
    let now = Utc::now();
    let at = now - Duration::minutes(5);
    for (ingest, p) in [(Ingestor::new(db.clone()), "set"), (Ingestor::new(db.clone()).one_by_one(), "single")] {
        let setup = [
            event("player.registered", p, json!({"country": "DE", "currency": "EUR"}), at),
            event(
                "payment.deposit.completed",
                p,
                json!({"transaction_id": format!("{p}-d"), "amount": 1_000, "currency": "EUR"}),
                at,
            ),
        ];
        ingest.ingest(&setup, now).await.unwrap();
        let long = "x".repeat(stats::CATEGORY_MAX + 1);
        let batch = [
            round(p, &format!("{p}-r1"), "crash", 10, at),
            round(p, &format!("{p}-r2"), &long, 20, at),
            round(p, &format!("{p}-r3"), &"y".repeat(stats::CATEGORY_MAX), 30, at),
            round(p, &format!("{p}-r4"), "   ", 40, at),
        ];
        let report = ingest.ingest(&batch, now).await.unwrap();
        assert_eq!(
            statuses(&report),
            [ItemStatus::Accepted, ItemStatus::Rejected, ItemStatus::Accepted, ItemStatus::Rejected],
            "{p}: {report:?}"
        );
        let error = report.items[1].error.clone().unwrap();
        assert_eq!(error.field, "payload.category", "{p}");
        assert!(error.message.contains("65 characters") && error.message.contains("at most 64"), "{p}: {error}");
        assert_eq!(report.items[3].error.clone().unwrap().field, "payload.category", "{p}");

        let s = stats::get(&db, player_id(&db, p).await, now).await.unwrap();
        assert_eq!(categories(&s), [("crash".into(), 1, 10), ("y".repeat(stats::CATEGORY_MAX), 1, 30)], "{p}");
        assert_eq!((s.rounds_count, s.stake_sum), (2, 40), "{p}: the refused rounds moved nothing");
        // Fixed and sent again under the same ids, the refused round is no duplicate: it counts now.
        let mut fixed = batch[1].clone();
        fixed["payload"]["category"] = json!("Crash");
        let report = ingest.ingest(&[fixed], now).await.unwrap();
        assert_eq!(statuses(&report), [ItemStatus::Accepted], "{p}: {report:?}");
        let s = stats::get(&db, player_id(&db, p).await, now).await.unwrap();
        assert_eq!(categories(&s)[0], ("crash".into(), 2, 30), "{p}");
    }
});
