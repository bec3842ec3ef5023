//! The game categories a player has played and the bonus figures per day, on both engines: kept
//! by the one-by-one and the batched path alike.

use chrono::{DateTime, Duration, Utc};
use pitboss_core::Currency;
use pitboss_players::{Activity, CategoryStats, NewPlayer, Player, PlayerError, PlayerStats, stats};
use pitboss_store::{Db, both_engines, db, sqlx};
use uuid::Uuid;

/// A fixed instant at noon UTC, so that day windows never straddle midnight during a test.
fn noon() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-15T12:00:00Z").unwrap().with_timezone(&Utc)
}

async fn create(db: &Db, external_id: &str) -> Player {
    let new = NewPlayer::new(external_id, "DE", Currency::EUR);
    let mut tx = db.begin().await.unwrap();
    let p = pitboss_players::create(&mut tx, new, noon() - Duration::days(200)).await.unwrap();
    tx.commit().await.unwrap();
    p
}

fn round(stake: i64, category: &str) -> Activity {
    Activity::Round { stake, win: stake / 2, category: category.to_string() }
}

/// Each activity in a transaction of its own, the way a one-by-one caller records.
async fn one_by_one(db: &Db, player: Uuid, activities: &[(Activity, DateTime<Utc>)]) {
    for (activity, at) in activities {
        let mut tx = db.begin().await.unwrap();
        stats::record(&mut tx, player, activity.clone(), *at, noon()).await.unwrap();
        tx.commit().await.unwrap();
    }
}

/// All activities in one `record_many` call.
async fn batched(db: &Db, activities: &[(Uuid, Activity, DateTime<Utc>)]) {
    let mut tx = db.begin().await.unwrap();
    stats::record_many(&mut tx, activities, noon()).await.unwrap();
    tx.commit().await.unwrap();
}

both_engines!(categories_are_kept_normalised_with_when_first_and_last_played, |db| async move {
    let now = noon();
    let p = create(&db, "p-1").await;
    let other = create(&db, "p-2").await;
    let days = |n: i64| now - Duration::days(n);
    // Out of order, in several spellings of one category.
    one_by_one(
        &db,
        p.id,
        &[
            (round(100, "slots"), days(3)),
            (round(200, " Slots "), days(40)),
            (round(50, "LIVE_CASINO"), days(1)),
            (round(300, "SLOTS"), days(2)),
            (Activity::DepositCompleted { amount: 1_000 }, days(2)),
        ],
    )
    .await;
    one_by_one(&db, other.id, &[(round(7, "crash"), days(5))]).await;

    let s = stats::get(&db, p.id, now).await.unwrap();
    assert_eq!(
        s.categories,
        vec![
            CategoryStats {
                category: "live_casino".into(),
                rounds_count: 1,
                stake_sum: 50,
                first_played: days(1),
                last_played: days(1),
            },
            CategoryStats {
                category: "slots".into(),
                rounds_count: 3,
                stake_sum: 600,
                first_played: days(40),
                last_played: days(2),
            },
        ]
    );
    assert_eq!((s.rounds_count, s.stake_sum), (4, 650), "the lifetime totals count every round once");
    let o = stats::get(&db, other.id, now).await.unwrap();
    assert_eq!(o.categories.iter().map(|c| c.category.as_str()).collect::<Vec<_>>(), ["crash"]);

    // A player who never played has no categories.
    let idle = create(&db, "p-3").await;
    assert!(stats::get(&db, idle.id, now).await.unwrap().categories.is_empty());
});

both_engines!(bonus_figures_land_in_the_trailing_windows_and_the_lifetime_totals, |db| async move {
    let now = noon();
    let p = create(&db, "p-1").await;
    let days = |n: i64| now - Duration::days(n);
    one_by_one(
        &db,
        p.id,
        &[
            (Activity::BonusGranted { amount: 1_000 }, days(1)),
            (Activity::BonusConverted { amount: 400 }, days(6)),
            (Activity::BonusForfeited { amount: 600 }, days(0)),
            (Activity::BonusGranted { amount: 2_000 }, days(20)),
            (Activity::BonusForfeited { amount: 2_000 }, days(29)),
            (Activity::BonusGranted { amount: 5_000 }, days(40)),
            (Activity::BonusConverted { amount: 5_000 }, days(89)),
            // Older than 90 days: lifetime only.
            (Activity::BonusGranted { amount: 10_000 }, days(90)),
            (Activity::BonusForfeited { amount: 3 }, days(120)),
        ],
    )
    .await;
    let s = stats::get(&db, p.id, now).await.unwrap();
    let bonus = |w: pitboss_players::WindowTotals| (w.bonus_granted_sum, w.bonus_converted_sum, w.bonus_forfeited_sum);
    assert_eq!(bonus(s.last_7_days), (1_000, 400, 600));
    assert_eq!(bonus(s.last_30_days), (3_000, 400, 2_600));
    assert_eq!(bonus(s.last_90_days), (8_000, 5_400, 2_600));
    assert_eq!((s.bonus_granted_sum, s.bonus_converted_sum, s.bonus_forfeited_sum), (18_000, 5_400, 2_603));
    // Bonus movements are activity but neither deposits nor rounds.
    assert_eq!((s.deposit_count, s.rounds_count), (0, 0));
    assert_eq!(s.last_activity_at, Some(days(0)));
    assert_eq!(s.last_7_days.sessions_count, 0);
    // A week later the windows have moved on; the lifetime totals have not.
    let later = stats::get(&db, p.id, now + Duration::days(7)).await.unwrap();
    assert_eq!(bonus(later.last_7_days), (0, 0, 0));
    assert_eq!(later.bonus_forfeited_sum, 2_603);
});

both_engines!(an_over_long_or_empty_category_is_refused_naming_the_field, |db| async move {
    let p = create(&db, "p-1").await;
    for bad in ["c".repeat(stats::CATEGORY_MAX + 1), "   ".to_string()] {
        let mut tx = db.begin().await.unwrap();
        match stats::record(&mut tx, p.id, round(10, &bad), noon(), noon()).await {
            Err(PlayerError::Invalid { field: "category", .. }) => {}
            other => panic!("{bad:?}: expected a category error, got {other:?}"),
        }
    }
    // The longest allowed is kept whole, in lower case; a multi-byte name counts characters.
    let longest = "É".repeat(stats::CATEGORY_MAX);
    one_by_one(&db, p.id, &[(round(10, &longest), noon())]).await;
    let s = stats::get(&db, p.id, noon()).await.unwrap();
    assert_eq!(s.categories.len(), 1);
    assert_eq!(s.categories[0].category, "é".repeat(stats::CATEGORY_MAX));
    assert_eq!(s.rounds_count, 1);
});

/// A deterministic mix of every activity for one player, spread over 120 days and several
/// categories (differently spelled), out of order.
fn mix(seed: u64, n: usize) -> Vec<(Activity, DateTime<Utc>)> {
    let mut x = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let mut next = move |m: u64| {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (x >> 33) % m
    };
    let categories = ["slots", " Slots", "LIVE_CASINO", "live_casino ", "table", "crash"];
    (0..n)
        .map(|_| {
            let at = noon() - Duration::minutes(next(120 * 24 * 60) as i64);
            let amount = 1 + next(5_000) as i64;
            let activity = match next(8) {
                0 => Activity::SessionStarted,
                1 => Activity::DepositCompleted { amount },
                2 => Activity::WithdrawalCompleted { amount },
                3 => Activity::BonusGranted { amount },
                4 => Activity::BonusConverted { amount },
                5 => Activity::BonusForfeited { amount },
                _ => Activity::Round {
                    stake: amount,
                    win: next(3) as i64 * amount / 2,
                    category: categories[next(categories.len() as u64) as usize].to_string(),
                },
            };
            (activity, at)
        })
        .collect()
}

/// A player's aggregates with the player id left out, to compare two players.
fn figures(mut s: PlayerStats) -> PlayerStats {
    s.player_id = Uuid::nil();
    s
}

/// The player's daily buckets and category rows as stored.
#[allow(clippy::type_complexity)] // the rows' tuples, read as they are
async fn stored(db: &Db, player: Uuid) -> (Vec<Vec<i64>>, Vec<(String, i64, i64, i64, i64)>) {
    let days: Vec<(i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64)> = db!(db, |c| {
        sqlx::query_as(
            "SELECT day, sessions_count, deposit_count, deposit_sum, withdrawal_count, withdrawal_sum, rounds_count, \
             stake_sum, win_sum, bonus_granted_sum, bonus_converted_sum, bonus_forfeited_sum FROM player_daily \
             WHERE player_id = $1 ORDER BY day",
        )
        .bind(player)
        .fetch_all(c)
        .await
    })
    .unwrap();
    let categories = db!(db, |c| {
        sqlx::query_as(
            "SELECT category, rounds_count, stake_sum, first_played, last_played FROM player_categories \
             WHERE player_id = $1 ORDER BY category",
        )
        .bind(player)
        .fetch_all(c)
        .await
    })
    .unwrap();
    let days = days.into_iter().map(|d| vec![d.0, d.1, d.2, d.3, d.4, d.5, d.6, d.7, d.8, d.9, d.10, d.11]).collect();
    (days, categories)
}

both_engines!(the_batched_path_keeps_the_same_figures_as_one_by_one, |db| async move {
    let (single, many, also) = (create(&db, "single").await, create(&db, "many").await, create(&db, "also").await);
    let activities = mix(7, 300);
    one_by_one(&db, single.id, &activities).await;
    // Two players' activities interleaved in one call, in two calls, as the set path sends them.
    let (first, rest) = activities.split_at(120);
    for part in [first, rest] {
        let set: Vec<(Uuid, Activity, DateTime<Utc>)> =
            part.iter().flat_map(|(a, at)| [(many.id, a.clone(), *at), (also.id, a.clone(), *at)]).collect();
        batched(&db, &set).await;
    }
    let expected = figures(stats::get(&db, single.id, noon()).await.unwrap());
    assert!(expected.categories.len() >= 4, "the mix plays several categories: {:?}", expected.categories);
    assert!(expected.last_90_days.bonus_forfeited_sum > 0 && expected.last_7_days.stake_sum > 0);
    for p in [&many, &also] {
        assert_eq!(figures(stats::get(&db, p.id, noon()).await.unwrap()), expected, "{}", p.external_id);
        assert_eq!(stored(&db, p.id).await, stored(&db, single.id).await, "{}", p.external_id);
    }

    // A set with a bad category is refused whole: nothing of it is written.
    let before = stats::get(&db, many.id, noon()).await.unwrap();
    let mut tx = db.begin().await.unwrap();
    let bad = vec![
        (many.id, round(5, "slots"), noon()),
        (many.id, Activity::BonusForfeited { amount: 9 }, noon()),
        (many.id, round(5, &"x".repeat(stats::CATEGORY_MAX + 1)), noon()),
    ];
    assert!(matches!(
        stats::record_many(&mut tx, &bad, noon()).await,
        Err(PlayerError::Invalid { field: "category", .. })
    ));
    drop(tx);
    assert_eq!(stats::get(&db, many.id, noon()).await.unwrap(), before);
});
