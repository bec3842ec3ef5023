//! The SQL a rule compiles to selects exactly the players the evaluator says it holds for, on
//! both engines: random players (some with unknown facts, several currencies, activity spread
//! over two years) against random and hand-picked rules.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use pitboss_core::event::Consents;
use pitboss_core::money::Currency;
use pitboss_rules::sql::{FROM, SqlValue};
use pitboss_rules::{CategoryPlayed, Day, Lifetime, PlayerFacts, Prediction, Rates, from_text};
use pitboss_store::{Db, both_engines, db, exec, sqlx};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

const DAY: i64 = 86_400_000_000;
/// 2026-11-23 12:00 UTC.
const NOW: i64 = 1_795_435_200_000_000;

fn rates() -> Rates {
    Rates::new().with("USD".parse().unwrap(), 920_000).with("JPY".parse().unwrap(), 6_100)
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

fn random_player(rng: &mut StdRng) -> PlayerFacts {
    let today = NOW / DAY;
    let currency: Currency = pick(rng, &["EUR", "EUR", "USD", "JPY", "GBP"]).parse().unwrap();
    let mut daily: Vec<Day> = Vec::new();
    for _ in 0..rng.random_range(0..12) {
        let day = today - rng.random_range(0..700);
        if daily.iter().any(|d| d.day == day) {
            continue;
        }
        let deposits = rng.random_range(0..3);
        daily.push(Day {
            day,
            sessions: rng.random_range(0..4),
            deposit_count: deposits,
            deposit_sum: deposits * rng.random_range(1_000..50_000),
            withdrawal_count: rng.random_range(0..2),
            withdrawal_sum: rng.random_range(0..20_000),
            rounds: rng.random_range(0..50),
            stake_sum: rng.random_range(0..30_000),
            win_sum: rng.random_range(0..30_000),
            bonus_granted: rng.random_range(0..2) * rng.random_range(0..5_000),
            bonus_converted: rng.random_range(0..2) * rng.random_range(0..3_000),
            bonus_forfeited: rng.random_range(0..2) * rng.random_range(0..3_000),
        });
    }
    let sum = |f: fn(&Day) -> i64| daily.iter().map(f).sum::<i64>();
    let last = |f: fn(&Day) -> i64| daily.iter().filter(|d| f(d) > 0).map(|d| d.day * DAY + 3_600_000_000).max();
    let first = |f: fn(&Day) -> i64| daily.iter().filter(|d| f(d) > 0).map(|d| d.day * DAY + 3_600_000_000).min();
    let lifetime = Lifetime {
        sessions: sum(|d| d.sessions),
        deposit_count: sum(|d| d.deposit_count),
        deposit_sum: sum(|d| d.deposit_sum),
        withdrawal_count: sum(|d| d.withdrawal_count),
        withdrawal_sum: sum(|d| d.withdrawal_sum),
        rounds: sum(|d| d.rounds),
        stake_sum: sum(|d| d.stake_sum),
        win_sum: sum(|d| d.win_sum),
        bonus_granted: sum(|d| d.bonus_granted),
        bonus_converted: sum(|d| d.bonus_converted),
        bonus_forfeited: sum(|d| d.bonus_forfeited),
        last_session_at: last(|d| d.sessions),
        first_deposit_at: first(|d| d.deposit_count),
        last_deposit_at: last(|d| d.deposit_count),
        last_activity_at: last(|d| d.sessions + d.rounds + d.deposit_count),
    };
    let birth = if rng.random_bool(0.8) {
        NaiveDate::from_ymd_opt(rng.random_range(1950..2010), rng.random_range(1..=12), rng.random_range(1..=28))
    } else {
        None
    };
    let maybe = |rng: &mut StdRng, options: &[&str]| rng.random_bool(0.7).then(|| pick(rng, options).to_string());
    PlayerFacts {
        country: pick(rng, &["DE", "AT", "SE", "GB"]).to_string(),
        language: maybe(rng, &["de", "en", "sv"]),
        gender: maybe(rng, &["male", "female"]),
        brand: pick(rng, &["main", "luckystar"]).to_string(),
        currency: Some(currency),
        traffic_source: maybe(rng, &["affiliate", "organic"]),
        affiliate: maybe(rng, &["aff-1", "aff-2"]),
        campaign: maybe(rng, &["spring", "autumn"]),
        vip_tier: pick(rng, &["none", "gold"]).to_string(),
        kyc_status: pick(rng, &["none", "verified"]).to_string(),
        status: pick(rng, &["active", "blocked"]).to_string(),
        birth_date: birth,
        registered_at: NOW - rng.random_range(0..800) * DAY - rng.random_range(0..DAY),
        tags: if rng.random_bool(0.3) { vec!["vip".into()] } else { vec![] },
        consents: Consents { email: rng.random_bool(0.5), sms: rng.random_bool(0.5), push: false, messenger: false },
        lifetime,
        daily,
        categories: {
            let mut played = Vec::new();
            for c in ["slots", "live", "table"] {
                if rng.random_bool(0.4) {
                    let last_played = NOW - rng.random_range(0..400) * DAY + rng.random_range(0..DAY / 2);
                    played.push(CategoryPlayed { category: c.to_string(), last_played });
                }
            }
            played
        },
        segments: if rng.random_bool(0.3) { vec![SEGMENT.into()] } else { vec![] },
        prediction: rng.random_bool(0.7).then(|| Prediction {
            churn_risk: pick(rng, &["low", "medium", "high"]).to_string(),
            active_percent: rng.random_range(0..=100),
            // Quarters, some exactly whole: equality with a whole number happens.
            expected_30d: f64::from(rng.random_range(0..12)) / 4.0,
            expected_90d: rng.random_range(0.0..9.0),
            predicted_value: rng.random_range(0..200_000),
        }),
        event: None,
    }
}

/// The segment some players are in, for `segments contains ...`.
const SEGMENT: &str = "whales";
const SEGMENT_ID: Uuid = Uuid::from_u128(1);
const FIT_ID: Uuid = Uuid::from_u128(2);

async fn setup(db: &Db) {
    let mut tx = db.begin().await.unwrap();
    exec!(
        &mut tx,
        "INSERT INTO segments (id, name, description, version, condition_text, condition_json, status, created_at, \
         created_by, updated_at, updated_by) VALUES ($1, $2, '', 1, 'has_deposited', '{}', 'active', $3, 't', $3, 't')",
        SEGMENT_ID,
        SEGMENT,
        NOW,
    )
    .unwrap();
    exec!(
        &mut tx,
        "INSERT INTO clv_fits (id, fitted_at, trigger, requested_by, status, currency, players, report_json) \
         VALUES ($1, $2, 'cli', 't', 'succeeded', 'EUR', 0, '{}')",
        FIT_ID,
        NOW,
    )
    .unwrap();
    tx.commit().await.unwrap();
}

async fn store(db: &Db, id: Uuid, p: &PlayerFacts) {
    let mut tx = db.begin().await.unwrap();
    exec!(
        &mut tx,
        "INSERT INTO players (id, external_id, birth_date, gender, country, language, currency, registered_at, \
         traffic_source, affiliate_id, campaign, consent_email, consent_sms, status, kyc_status, vip_tier, brand, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $18)",
        id,
        id.to_string(),
        p.birth_date.map(|d| d.format("%Y-%m-%d").to_string()),
        p.gender.clone(),
        p.country.clone(),
        p.language.clone(),
        p.currency.unwrap().as_str().to_string(),
        p.registered_at,
        p.traffic_source.clone(),
        p.affiliate.clone(),
        p.campaign.clone(),
        p.consents.email,
        p.consents.sms,
        p.status.clone(),
        p.kyc_status.clone(),
        p.vip_tier.clone(),
        p.brand.clone(),
        NOW,
    )
    .unwrap();
    for tag in &p.tags {
        exec!(&mut tx, "INSERT INTO player_tags (player_id, tag) VALUES ($1, $2)", id, tag.clone()).unwrap();
    }
    let l = &p.lifetime;
    exec!(
        &mut tx,
        "INSERT INTO player_stats (player_id, sessions_count, last_session_at, deposit_count, deposit_sum, \
         first_deposit_at, last_deposit_at, withdrawal_count, withdrawal_sum, rounds_count, stake_sum, win_sum, \
         bonus_granted_sum, bonus_converted_sum, last_activity_at, updated_at, bonus_forfeited_sum) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
        id,
        l.sessions,
        l.last_session_at,
        l.deposit_count,
        l.deposit_sum,
        l.first_deposit_at,
        l.last_deposit_at,
        l.withdrawal_count,
        l.withdrawal_sum,
        l.rounds,
        l.stake_sum,
        l.win_sum,
        l.bonus_granted,
        l.bonus_converted,
        l.last_activity_at,
        NOW,
        l.bonus_forfeited,
    )
    .unwrap();
    for d in &p.daily {
        exec!(
            &mut tx,
            "INSERT INTO player_daily (player_id, day, sessions_count, deposit_count, deposit_sum, withdrawal_count, \
             withdrawal_sum, rounds_count, stake_sum, win_sum, bonus_granted_sum, bonus_converted_sum, \
             bonus_forfeited_sum) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            id,
            d.day,
            d.sessions,
            d.deposit_count,
            d.deposit_sum,
            d.withdrawal_count,
            d.withdrawal_sum,
            d.rounds,
            d.stake_sum,
            d.win_sum,
            d.bonus_granted,
            d.bonus_converted,
            d.bonus_forfeited,
        )
        .unwrap();
    }
    for c in &p.categories {
        exec!(
            &mut tx,
            "INSERT INTO player_categories (player_id, category, rounds_count, stake_sum, first_played, last_played) \
             VALUES ($1, $2, 1, 100, $3, $3)",
            id,
            c.category.clone(),
            c.last_played,
        )
        .unwrap();
    }
    if !p.segments.is_empty() {
        exec!(
            &mut tx,
            "INSERT INTO segment_members (segment_id, player_id, since) VALUES ($1, $2, $3)",
            SEGMENT_ID,
            id,
            NOW
        )
        .unwrap();
    }
    if let Some(x) = &p.prediction {
        exec!(
            &mut tx,
            "INSERT INTO player_predictions (player_id, fit_id, p_active, active_percent, expected_30d, expected_90d, \
             predicted_value, churn_risk, scored_at) VALUES ($1, $2, 0.5, $3, $7, $8, $4, $5, $6)",
            id,
            FIT_ID,
            x.active_percent,
            x.predicted_value,
            x.churn_risk.clone(),
            NOW,
            x.expected_30d,
            x.expected_90d,
        )
        .unwrap();
    }
    tx.commit().await.unwrap();
}

async fn select(db: &Db, text: &str) -> BTreeSet<Uuid> {
    let rule = from_text(text).unwrap_or_else(|e| panic!("{text}: {}", e.render(text)));
    let compiled = rule.to_sql(NOW, &rates(), 1);
    let sql = format!("SELECT p.id FROM {FROM} WHERE {}", compiled.sql);
    let ids: Vec<Uuid> = db!(db, |c| {
        let mut q = sqlx::query_scalar(&sql);
        for p in &compiled.params {
            q = match p {
                SqlValue::Int(v) => q.bind(*v),
                SqlValue::Text(v) => q.bind(v.clone()),
                SqlValue::Bool(v) => q.bind(*v),
            };
        }
        q.fetch_all(c).await
    })
    .unwrap_or_else(|e| panic!("{text}: {e}\n{sql}"));
    ids.into_iter().collect()
}

/// A random test: a fact or measure, an operator, and a value of its type.
fn random_atom(rng: &mut StdRng) -> String {
    let windows = ["(7d)", "(30d)", "(90d)", "(365d)", "()"];
    let w = pick(rng, &windows).to_string();
    let op = pick(rng, &["==", "!=", "<", "<=", ">", ">="]).to_string();
    let eq = pick(rng, &["==", "!="]).to_string();
    match rng.random_range(0..26) {
        0 => format!("country {eq} \"{}\"", pick(rng, &["DE", "AT", "SE"])),
        1 => "language in [\"de\", \"sv\"]".to_string(),
        2 => "gender not in [\"male\"]".to_string(),
        3 => format!("age {op} {}", rng.random_range(16..70)),
        4 => format!("deposits_sum{w} {op} {} {}", rng.random_range(0..800), pick(rng, &["EUR", "USD", "JPY", "GBP"])),
        5 => format!("deposits_count{w} {op} {}", rng.random_range(0..5)),
        6 => format!("ggr{w} {op} {} EUR", rng.random_range(-200..200)),
        7 => format!("net_loss{w} {op} withdrawals_sum{w}"),
        8 => format!("last_session {op} {}d ago", rng.random_range(0..400)),
        9 => format!("days_since_last_deposit {op} {}d", rng.random_range(0..400)),
        10 => format!("days_since_registration {op} {}d", rng.random_range(0..800)),
        11 => format!("active_days({}d) {op} {}", rng.random_range(1..730), rng.random_range(0..4)),
        12 => "tags contains \"vip\"".to_string(),
        13 => format!("consent.email {eq} {}", pick(rng, &["true", "false"])),
        14 => "has_deposited".to_string(),
        15 => format!("categories_played{w} contains \"{}\"", pick(rng, &["slots", "Live", "table", "bingo"])),
        16 => format!("bonus_granted{w} {op} {} EUR", rng.random_range(0..60)),
        17 => format!("bonus_forfeited{w} {op} bonus_converted{w}"),
        18 => format!("churn_risk {eq} \"{}\"", pick(rng, &["low", "high"])),
        19 => format!("active_probability {op} {}", rng.random_range(0..100)),
        20 => format!("predicted_value {op} {} {}", rng.random_range(0..2_000), pick(rng, &["EUR", "USD"])),
        21 => format!("segments contains \"{}\"", pick(rng, &[SEGMENT, "minnows"])),
        23 => format!("expected_deposits_30d {op} {}", rng.random_range(0..4)),
        24 => format!("expected_deposits_90d {op} {}", rng.random_range(0..9)),
        22 => "churn_risk in [\"medium\", \"high\"] and categories_played() contains \"slots\"".to_string(),
        _ => format!("registered {op} last_deposit"),
    }
}

fn random_rule(rng: &mut StdRng, depth: u32) -> String {
    if depth == 0 || rng.random_bool(0.4) {
        return random_atom(rng);
    }
    let a = random_rule(rng, depth - 1);
    let b = random_rule(rng, depth - 1);
    match rng.random_range(0..3) {
        0 => format!("({a}) and ({b})"),
        1 => format!("({a}) or ({b})"),
        _ => format!("not ({a})"),
    }
}

both_engines!(compiled_sql_selects_exactly_the_players_the_evaluator_accepts, |db| async move {
    let mut rng = StdRng::seed_from_u64(7);
    setup(&db).await;
    let mut players = Vec::new();
    for _ in 0..80 {
        let id = Uuid::now_v7();
        let facts = random_player(&mut rng);
        store(&db, id, &facts).await;
        players.push((id, facts));
    }
    let mut rules: Vec<String> = [
        r#"country in ["DE", "AT"] and deposits_sum(30d) >= 100 EUR and last_session > 14d ago"#,
        "not (age >= 18)",
        "age != 30",
        "age in [20, 30, 40]",
        "age not in [20, 30, 40]",
        "not (language == \"de\")",
        "affiliate != \"aff-1\"",
        "bonus_granted() > 50 EUR",
        "deposits_sum() > withdrawals_sum()",
        "first_deposit < 100d ago",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for _ in 0..250 {
        rules.push(random_rule(&mut rng, 3));
    }
    let rates = rates();
    let mut discriminating = 0;
    for text in &rules {
        let rule = from_text(text).unwrap_or_else(|e| panic!("{text}: {}", e.render(text)));
        let expected: BTreeSet<Uuid> =
            players.iter().filter(|(_, f)| rule.holds(f, NOW, &rates)).map(|(id, _)| *id).collect();
        // The trace's answer is the same as the quick one.
        for (_, f) in &players {
            assert_eq!(rule.evaluate(f, NOW, &rates).result, rule.holds(f, NOW, &rates), "{text}");
        }
        let got = select(&db, text).await;
        assert_eq!(got, expected, "{text}");
        discriminating += usize::from(!expected.is_empty() && expected.len() < players.len());
    }
    // The rules tell players apart, so agreeing is not trivially "everyone" or "no one".
    assert!(discriminating * 2 > rules.len(), "only {discriminating} of {} rules split the players", rules.len());
});
