//! Game rounds applied as a set must answer and leave the books exactly as applying them one
//! by one does: the same item outcomes, balances, aggregates and rows, on both engines.

use chrono::{Duration, Utc};
use pitboss_ingest::{BatchReport, Ingestor};
use pitboss_payments::queries::{player_balances, verify};
use pitboss_players::stats;
use pitboss_store::{Db, both_engines, db, sqlx};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use uuid::Uuid;

const PLAYERS: [&str; 4] = ["p0", "p1", "p2", "ghost"];

fn envelope(kind: &str, player: &str, payload: Value, at: chrono::DateTime<Utc>) -> Value {
    json!({"id": Uuid::now_v7(), "type": kind, "player_id": player, "occurred_at": at.to_rfc3339(), "payload": payload})
}

/// Batches of mostly rounds, with deposits between them, overdrafts, replayed and reused round
/// ids, resent events, unknown players and wrong currencies.
fn traffic(seed: u64) -> Vec<Vec<Value>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let start = Utc::now() - Duration::days(3);
    let mut batches = vec![
        PLAYERS[..3]
            .iter()
            .map(|p| envelope("player.registered", p, json!({"country": "DE", "currency": "EUR"}), start))
            .collect::<Vec<_>>(),
    ];
    let mut sent: Vec<Value> = Vec::new();
    let mut rounds: Vec<(String, String, i64, i64)> = Vec::new();
    for b in 0..8 {
        let mut batch = Vec::new();
        for i in 0..120 {
            let at = start + Duration::minutes(b * 200 + i);
            let player = PLAYERS[rng.random_range(0..PLAYERS.len())];
            let roll = rng.random_range(0..100);
            let event = if roll < 8 {
                envelope(
                    "payment.deposit.completed",
                    player,
                    json!({"transaction_id": format!("d-{b}-{i}"), "amount": rng.random_range(100..5_000), "currency": "EUR"}),
                    at,
                )
            } else if roll < 12 && !sent.is_empty() {
                sent[rng.random_range(0..sent.len())].clone()
            } else if roll < 16 && !rounds.is_empty() {
                let (p, id, stake, win) = rounds[rng.random_range(0..rounds.len())].clone();
                let win = if rng.random_bool(0.5) { win } else { win + 1 };
                envelope(
                    "game.round",
                    &p,
                    json!({"round_id": id, "game": "g", "provider": "p", "category": "slots", "stake": stake, "win": win, "currency": "EUR"}),
                    at,
                )
            } else {
                let (stake, win) = (rng.random_range(0..800), rng.random_range(0..900));
                let currency = if rng.random_range(0..40) == 0 { "USD" } else { "EUR" };
                let id = format!("r-{b}-{i}");
                rounds.push((player.to_string(), id.clone(), stake, win));
                envelope(
                    "game.round",
                    player,
                    json!({"round_id": id, "game": "g", "provider": "p", "category": "slots", "stake": stake, "win": win, "currency": currency}),
                    at,
                )
            };
            sent.push(event.clone());
            batch.push(event);
        }
        batches.push(batch);
    }
    batches
}

async fn external_ids(db: &Db) -> Vec<(Uuid, String)> {
    db!(db, |c| sqlx::query_as("SELECT id, external_id FROM players").fetch_all(c).await).unwrap()
}

/// Each item's outcome, with player ids replaced by external ids so two stores compare.
async fn outcomes(db: &Db, reports: &[BatchReport]) -> Vec<String> {
    let ids = external_ids(db).await;
    reports
        .iter()
        .flat_map(|r| r.items.iter())
        .map(|i| {
            let mut s = format!("{:?} {:?} {:?}", i.status, i.note, i.error);
            for (id, ext) in &ids {
                s = s.replace(&id.to_string(), ext);
            }
            s
        })
        .collect()
}

async fn books(db: &Db) -> Vec<String> {
    let mut out = Vec::new();
    for (id, ext) in external_ids(db).await {
        let b: Vec<i64> = player_balances(db, id).await.unwrap().iter().flat_map(|b| [b.posted, b.held]).collect();
        let s = stats::get(db, id, Utc::now()).await.unwrap();
        out.push(format!(
            "{ext}: {b:?} rounds {} stake {} win {} deposits {} {} 7d {:?} last {:?}",
            s.rounds_count, s.stake_sum, s.win_sum, s.deposit_count, s.deposit_sum, s.last_7_days, s.last_activity_at
        ));
    }
    out.sort();
    for table in ["events", "outbox", "ledger_transactions", "ledger_postings", "ledger_status_history"] {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        let n: i64 = db!(db, |c| sqlx::query_scalar(&sql).fetch_one(c).await).unwrap();
        out.push(format!("{table}: {n}"));
    }
    out
}

async fn second(db: &Db) -> Db {
    match db.engine() {
        pitboss_store::Engine::Sqlite => pitboss_store::testing::sqlite().await.unwrap(),
        pitboss_store::Engine::Postgres => pitboss_store::testing::postgres().await.unwrap(),
    }
}

both_engines!(rounds_applied_as_a_set_match_rounds_applied_one_by_one, |db| async move {
    let reference = second(&db).await;
    for seed in [1, 2, 3] {
        let (set, one) = (Ingestor::new(db.clone()), Ingestor::new(reference.clone()).one_by_one());
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for batch in traffic(seed) {
            a.push(set.ingest(&batch, Utc::now()).await.unwrap());
            b.push(one.ingest(&batch, Utc::now()).await.unwrap());
        }
        let (oa, ob) = (outcomes(&db, &a).await, outcomes(&reference, &b).await);
        assert_eq!(oa.len(), ob.len());
        for (i, (x, y)) in oa.iter().zip(&ob).enumerate() {
            assert_eq!(x, y, "item {i} of seed {seed}");
        }
        let rejected: usize = a.iter().map(|r| r.rejected).sum();
        let duplicates: usize = a.iter().map(|r| r.duplicates).sum();
        assert!(
            rejected > 10 && duplicates > 5,
            "the traffic exercises refusals ({rejected}) and resends ({duplicates})"
        );
        assert_eq!(books(&db).await, books(&reference).await, "seed {seed}");
        assert!(verify(&db).await.unwrap().problems.is_empty());
    }
});
