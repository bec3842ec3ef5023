//! Game rounds applied as a set, merged across players, must answer and leave the books exactly
//! as applying every event one by one in batch order does: the same item outcomes, balances,
//! aggregates and rows, and each player's messages in the same order, on both engines.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use pitboss_ingest::{BatchReport, Ingestor};
use pitboss_payments::queries::{player_balances, verify};
use pitboss_players::stats;
use pitboss_store::{Db, both_engines, db, sqlx};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use uuid::Uuid;

const PLAYERS: [&str; 4] = ["p0", "p1", "p2", "ghost"];

/// Game categories as platforms spell them, with one too long to keep.
const CATEGORIES: [&str; 6] = [
    "slots",
    " Slots",
    "LIVE_CASINO",
    "table",
    "crash ",
    "a category name far longer than any platform should ever send us, really",
];

/// A category for a round, from its id: a replay of the round names the same one.
fn category_of(round_id: &str) -> &'static str {
    CATEGORIES[round_id.bytes().map(usize::from).sum::<usize>() % CATEGORIES.len()]
}

fn envelope(kind: &str, player: &str, payload: Value, at: DateTime<Utc>) -> Value {
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
                // Replayed under another spelling of its category now and then: still a replay.
                let category = CATEGORIES[rng.random_range(0..CATEGORIES.len() - 1)];
                envelope(
                    "game.round",
                    &p,
                    json!({"round_id": id, "game": "g", "provider": "p", "category": category, "stake": stake, "win": win, "currency": "EUR"}),
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
                    json!({"round_id": id, "game": "g", "provider": "p", "category": category_of(&id), "stake": stake, "win": win, "currency": currency}),
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
        assert_same(&rows(&db).await, &rows(&reference).await, &format!("rows, seed {seed}"));
        assert!(verify(&db).await.unwrap().problems.is_empty());
    }
});

/// Everything ingest writes, as text that compares across two stores: player ids are replaced
/// by external ids, ids and times the stores chose themselves are left out. Each player's
/// outbox messages are listed in the order the relay would publish them.
#[allow(clippy::type_complexity)] // the rows' tuples, read as they are
async fn rows(db: &Db) -> Vec<String> {
    let ids = external_ids(db).await;
    let named = |s: String| {
        let mut s = s;
        for (id, ext) in &ids {
            s = s.replace(&id.to_string(), &format!("<{ext}>"));
        }
        s
    };
    let mut out = Vec::new();
    let players: Vec<(String, Option<String>, String, String, String, String, i64, Option<String>, i64)> =
        db!(db, |c| {
            sqlx::query_as(
                "SELECT external_id, email, vip_tier, brand, status, currency, version, search_name, registered_at \
                 FROM players",
            )
            .fetch_all(c)
            .await
        })
        .unwrap();
    out.extend(players.into_iter().map(|p| format!("player {p:?}")));
    let tags: Vec<(String, String)> = db!(db, |c| {
        sqlx::query_as("SELECT p.external_id, t.tag FROM player_tags t JOIN players p ON p.id = t.player_id")
            .fetch_all(c)
            .await
    })
    .unwrap();
    out.extend(tags.into_iter().map(|t| format!("tag {t:?}")));
    for (id, ext) in &ids {
        let s = stats::get(db, *id, Utc::now()).await.unwrap();
        out.push(named(format!("stats {ext} {s:?}")));
    }
    let events: Vec<(Uuid, String, String, Option<Uuid>, String, String)> = db!(db, |c| {
        sqlx::query_as("SELECT id, type, player_ref, player_id, content_hash, outcome FROM events").fetch_all(c).await
    })
    .unwrap();
    out.extend(events.into_iter().map(|e| named(format!("event {e:?}"))));
    let accounts: Vec<(String, String, String, bool, i64, i64, i64, i64)> = db!(db, |c| {
        sqlx::query_as(
            "SELECT code, kind, currency, tracks_balance, posted_debits, posted_credits, pending_debits, pending_credits \
             FROM ledger_accounts",
        )
        .fetch_all(c)
        .await
    })
    .unwrap();
    out.extend(accounts.into_iter().map(|a| named(format!("account {a:?}"))));
    let transactions: Vec<(String, String, Option<Uuid>, String, i64, String, bool, Option<String>, i64)> =
        db!(db, |c| {
            sqlx::query_as(
                "SELECT kind, reference, player_id, currency, amount, status, held, description, occurred_at \
                 FROM ledger_transactions",
            )
            .fetch_all(c)
            .await
        })
        .unwrap();
    out.extend(transactions.into_iter().map(|t| named(format!("transaction {t:?}"))));
    let postings: Vec<(String, String, String, String, i64, i64)> = db!(db, |c| {
        sqlx::query_as(
            "SELECT t.kind, t.reference, p.account_code, p.phase, p.debit, p.credit \
             FROM ledger_postings p JOIN ledger_transactions t ON t.id = p.transaction_id",
        )
        .fetch_all(c)
        .await
    })
    .unwrap();
    out.extend(postings.into_iter().map(|p| named(format!("posting {p:?}"))));
    let history: Vec<(String, String, Option<String>, String, Option<String>, String)> = db!(db, |c| {
        sqlx::query_as(
            "SELECT t.kind, t.reference, h.from_status, h.to_status, h.reason, h.actor \
             FROM ledger_status_history h JOIN ledger_transactions t ON t.id = h.transaction_id",
        )
        .fetch_all(c)
        .await
    })
    .unwrap();
    out.extend(history.into_iter().map(|h| named(format!("status {h:?}"))));
    let categories: Vec<(Uuid, String, i64, i64, i64, i64)> = db!(db, |c| {
        sqlx::query_as(
            "SELECT player_id, category, rounds_count, stake_sum, first_played, last_played FROM player_categories",
        )
        .fetch_all(c)
        .await
    })
    .unwrap();
    out.extend(categories.into_iter().map(|c| named(format!("category {c:?}"))));
    let days: Vec<(Uuid, i64, i64, i64, i64, i64, i64, i64)> = db!(db, |c| {
        sqlx::query_as(
            "SELECT player_id, day, sessions_count, rounds_count, stake_sum, bonus_granted_sum, bonus_converted_sum, \
             bonus_forfeited_sum FROM player_daily",
        )
        .fetch_all(c)
        .await
    })
    .unwrap();
    out.extend(days.into_iter().map(|d| named(format!("day {d:?}"))));
    out.sort();
    // The outbox, each partition key's messages in publishing order.
    let outbox: Vec<(String, String, String)> = db!(db, |c| {
        sqlx::query_as("SELECT partition_key, topic, payload FROM outbox ORDER BY id").fetch_all(c).await
    })
    .unwrap();
    let mut streams: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (key, topic, payload) in outbox {
        let body: Value = serde_json::from_str(&payload).unwrap();
        streams.entry(named(key)).or_default().push(named(format!("{topic} {}", body["id"])));
    }
    out.extend(streams.into_iter().map(|(key, messages)| format!("outbox {key}: {}", messages.join(", "))));
    out
}

fn assert_same(a: &[String], b: &[String], what: &str) {
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert_eq!(x, y, "{what}: line {i}");
    }
    assert_eq!(a.len(), b.len(), "{what}: as many lines");
}

/// Players of the mixed traffic: `MIXED` of each seed, and a ghost who never registers.
const MIXED: usize = 24;

/// The player registered as " s1p17 " (stored trimmed), who plays as `s1p17`.
const PADDED: usize = 17;

fn player(seed: u64, i: usize) -> String {
    if i == MIXED { "ghost".into() } else { format!("s{seed}p{i:02}") }
}

/// Mixed traffic of many players, in batches: registrations (also mid-batch, after the player's
/// first events, and again for a registered player), sessions, profile updates, deposits and
/// withdrawals requested, completed, failed and cancelled (also out of order), rounds (some
/// overdrawing), bonuses, resent events within and across batches, ids reused for other
/// content, references another player already used, wrong currencies and invalid items.
fn mixed(seed: u64, batches: usize, size: usize) -> Vec<Vec<Value>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let start = Utc::now() - Duration::days(4);
    let mut minute = 0;
    let mut at = || {
        minute += 1;
        start + Duration::minutes(minute)
    };
    let registration = |p: usize, at| {
        let id = if p == PADDED { format!(" {} ", player(seed, p)) } else { player(seed, p) };
        let payload = json!({"country": "DE", "currency": "EUR", "first_name": "Ann", "tags": ["new", "Welcome"]});
        envelope("player.registered", &id, payload, at)
    };
    let money = |kind: &str, p: &str, reference: &str, amount: i64, at| {
        envelope(kind, p, json!({"transaction_id": reference, "amount": amount, "currency": "EUR"}), at)
    };
    let round = |p: &str, id: &str, stake: i64, win: i64, currency: &str, at| {
        envelope(
            "game.round",
            p,
            json!({"round_id": id, "game": "g", "provider": "p", "category": category_of(id), "stake": stake, "win": win, "currency": currency}),
            at,
        )
    };
    let bonus = |kind: &str, p: &str, id: &str, amount: i64, currency: &str, at| {
        envelope(kind, p, json!({"bonus_id": id, "amount": amount, "currency": currency}), at)
    };
    let mut registered = [false; MIXED + 1];
    let mut out = vec![(0..MIXED / 2).map(|p| registration(p, at())).collect::<Vec<_>>()];
    registered[..MIXED / 2].fill(true);
    let mut sent: Vec<Value> = Vec::new();
    // (player, reference, amount) of what was sent, to complete, fail, replay or reuse later.
    let (mut rounds, mut deposits, mut withdrawals, mut bonuses) =
        (Vec::<(String, String, i64, i64)>::new(), Vec::new(), Vec::new(), Vec::new());
    let mut n = 0;
    for _ in 0..batches {
        let mut batch = Vec::new();
        while batch.len() < size {
            n += 1;
            let at = at();
            let i = if rng.random_range(0..40) == 0 { MIXED } else { rng.random_range(0..MIXED) };
            let p = player(seed, i);
            if i != MIXED && !registered[i] && rng.random_bool(0.3) {
                registered[i] = true;
                let e = registration(i, at);
                sent.push(e.clone());
                batch.push(e);
                continue;
            }
            let pick = |rng: &mut StdRng, list: &Vec<(String, String, i64)>| {
                (!list.is_empty()).then(|| list[rng.random_range(0..list.len())].clone())
            };
            let roll = rng.random_range(0..100);
            let event = match roll {
                0..35 => {
                    let stake =
                        if rng.random_bool(0.1) { rng.random_range(1_000..5_000) } else { rng.random_range(0..800) };
                    let win = if rng.random_bool(0.5) { 0 } else { rng.random_range(0..1_500) };
                    let currency = if rng.random_range(0..40) == 0 { "USD" } else { "EUR" };
                    let id = format!("r-{n}");
                    rounds.push((p.clone(), id.clone(), stake, win));
                    round(&p, &id, stake, win, currency, at)
                }
                35..40 if !rounds.is_empty() => {
                    // A replayed round (of this player or, now and then, another's), same or other win.
                    let (owner, id, stake, win) = rounds[rng.random_range(0..rounds.len())].clone();
                    let who = if rng.random_bool(0.7) { owner } else { p.clone() };
                    round(&who, &id, stake, if rng.random_bool(0.5) { win } else { win + 1 }, "EUR", at)
                }
                40..45 => {
                    let kind = if rng.random_bool(0.6) { "session.started" } else { "session.ended" };
                    envelope(kind, &p, json!({"session_id": format!("s-{n}")}), at)
                }
                45..52 => {
                    let (reference, amount) = (format!("d-{n}"), rng.random_range(100..5_000));
                    deposits.push((p.clone(), reference.clone(), amount));
                    money("payment.deposit.requested", &p, &reference, amount, at)
                }
                52..60 => match pick(&mut rng, &deposits).filter(|_| rng.random_bool(0.6)) {
                    // Completing a requested deposit (mostly its own player's; sometimes another
                    // player names the same reference).
                    Some((owner, reference, amount)) => {
                        let who = if rng.random_bool(0.85) { owner } else { p.clone() };
                        money("payment.deposit.completed", &who, &reference, amount, at)
                    }
                    None => {
                        let (reference, amount) = (format!("d-{n}"), rng.random_range(100..5_000));
                        deposits.push((p.clone(), reference.clone(), amount));
                        money("payment.deposit.completed", &p, &reference, amount, at)
                    }
                },
                60..62 => match pick(&mut rng, &deposits) {
                    Some((owner, reference, amount)) => money("payment.deposit.failed", &owner, &reference, amount, at),
                    None => continue,
                },
                62..67 => {
                    let (reference, amount) = (format!("w-{n}"), rng.random_range(100..4_000));
                    withdrawals.push((p.clone(), reference.clone(), amount));
                    money("payment.withdrawal.requested", &p, &reference, amount, at)
                }
                67..72 => match pick(&mut rng, &withdrawals) {
                    Some((owner, reference, amount)) => {
                        let kind = match rng.random_range(0..4) {
                            0 => "payment.withdrawal.cancelled",
                            1 => "payment.withdrawal.failed",
                            _ => "payment.withdrawal.completed",
                        };
                        money(kind, &owner, &reference, amount, at)
                    }
                    None => continue,
                },
                72..76 => {
                    let (id, amount) = (format!("b-{n}"), rng.random_range(100..1_000));
                    bonuses.push((p.clone(), id.clone(), amount));
                    bonus("bonus.granted", &p, &id, amount, "EUR", at)
                }
                76..79 => match pick(&mut rng, &bonuses) {
                    Some((owner, id, amount)) => {
                        let kind = ["bonus.converted", "bonus.forfeited", "bonus.wagered"][rng.random_range(0..3)];
                        // Converting more than was granted overdraws the bonus account.
                        let currency = if rng.random_range(0..10) == 0 { "USD" } else { "EUR" };
                        bonus(kind, &owner, &id, amount + rng.random_range(0..2) * 500, currency, at)
                    }
                    None => continue,
                },
                79..81 => {
                    let payload = match rng.random_range(0..10) {
                        0..6 => json!({"vip_tier": format!("tier-{n}"), "email": format!("{p}-{n}@example.com")}),
                        // Tags replaced, or the same again (no change, no new version).
                        6 => json!({"tags": ["vip", format!("t{}", n % 3)], "last_name": "Lee"}),
                        7 => json!({"tags": ["new", "welcome"], "first_name": "Ann"}),
                        _ => json!({"brand": "not a brand"}),
                    };
                    envelope("player.updated", &p, payload, at)
                }
                81..87 if !sent.is_empty() => sent[rng.random_range(0..sent.len())].clone(),
                87..89 if !sent.is_empty() => {
                    // The id of an earlier event with other content.
                    let mut e = sent[rng.random_range(0..sent.len())].clone();
                    if let Some(o) = e.as_object_mut() {
                        o.insert("source".into(), json!(format!("other-{n}")));
                    }
                    e
                }
                89..92 => match rng.random_range(0..5) {
                    0 => json!("not an event"),
                    1 => money("payment.deposit.completed", &p, &format!("d-{n}"), -5, at),
                    2 => envelope("casino.exploded", &p, json!({}), at),
                    3 => {
                        let mut e = round(&p, &format!("r-{n}"), 1, 1, "EUR", at);
                        e["player_id"] = json!("  ");
                        e
                    }
                    _ => round(&format!("{p} "), &format!("r-{n}"), 1, 1, "EUR", at),
                },
                92..94 if i != MIXED => registration(i, at),
                _ => {
                    let id = format!("r-{n}");
                    rounds.push((p.clone(), id.clone(), 10, 20));
                    round(&p, &id, 10, 20, "EUR", at)
                }
            };
            sent.push(event.clone());
            batch.push(event);
        }
        out.push(batch);
    }
    out
}

both_engines!(a_mixed_batch_applied_in_waves_matches_one_by_one, |db| async move {
    let reference = second(&db).await;
    let (set, one) = (Ingestor::new(db.clone()), Ingestor::new(reference.clone()).one_by_one());
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for seed in [11, 12, 13] {
        for batch in mixed(seed, 6, 300) {
            a.push(set.ingest(&batch, Utc::now()).await.unwrap());
            b.push(one.ingest(&batch, Utc::now()).await.unwrap());
        }
        assert_same(&outcomes(&db, &a).await, &outcomes(&reference, &b).await, &format!("outcomes, seed {seed}"));
        assert_same(&rows(&db).await, &rows(&reference).await, &format!("rows, seed {seed}"));
        assert_same(&books(&db).await, &books(&reference).await, &format!("books, seed {seed}"));
        assert!(verify(&db).await.unwrap().problems.is_empty());
    }
    // The traffic exercises what it claims to.
    let items: Vec<_> = a.iter().flat_map(|r| r.items.iter()).collect();
    let rejected = |needle: &str| {
        items.iter().filter(|i| i.error.as_ref().is_some_and(|e| e.to_string().contains(needle))).count()
    };
    let noted = |needle: &str| items.iter().filter(|i| i.note.as_deref().is_some_and(|n| n.contains(needle))).count();
    for needle in [
        "unknown player",
        "insufficient funds",
        "already registered",
        "different event",
        "wallet currency",
        "was already used for a different",
        "a game category is a short name",
    ] {
        assert!(rejected(needle) > 2, "{needle}: {}", rejected(needle));
    }
    assert!(noted("replay") > 2 && noted("stale") > 0, "notes");
    assert!(a.iter().map(|r| r.duplicates).sum::<usize>() > 20, "duplicates");
});
