//! Refits on both engines, over players whose deposit histories are drawn from known BG/NBD and
//! Gamma-Gamma parameters (`pitboss_clv::simulate`) plus a few written by hand: every player is
//! scored, the bands make sense, values come out in each player's own currency, a fit that
//! cannot be made is recorded as failed and leaves the last predictions alone, and every refit
//! is audited.

use chrono::{DateTime, Days, Duration, NaiveDate, Utc};
use pitboss_clv::{BgNbdParams, GammaGammaParams, simulate};
use pitboss_core::Currency;
use pitboss_models::{ChurnBand, FitStatus, FitTrigger, RefitSettings, Requester};
use pitboss_payments::TxKind;
use pitboss_payments::operations::{self, Context};
use pitboss_rules::Rates;
use pitboss_store::{Db, both_engines, db, sqlx};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::json;
use uuid::Uuid;

fn now() -> DateTime<Utc> {
    "2026-11-23T12:00:00Z".parse().unwrap()
}

fn today() -> NaiveDate {
    now().date_naive()
}

/// One US dollar is 0.80 EUR and one yen 0.005 EUR, so that the same history is easy to write
/// in each (50.00 EUR = 62.50 USD = 10,000 JPY). SEK has no rate.
fn rates() -> Rates {
    Rates::new().with("USD".parse().unwrap(), 800_000).with("JPY".parse().unwrap(), 5_000)
}

async fn player(db: &Db, external: &str, currency: &str) -> Uuid {
    let mut tx = db.begin().await.unwrap();
    let new = serde_json::from_value(json!({"external_id": external, "country": "DE", "currency": currency})).unwrap();
    let p = pitboss_players::create(&mut tx, new, now() - Duration::days(800)).await.unwrap();
    tx.commit().await.unwrap();
    p.id
}

/// Completed deposits of one player: (day, amount in minor units of `currency`).
async fn deposits(db: &Db, player: Uuid, currency: &str, list: &[(NaiveDate, i64)]) {
    let currency: Currency = currency.parse().unwrap();
    let mut tx = db.begin().await.unwrap();
    for (i, (day, amount)) in list.iter().enumerate() {
        let at = day.and_hms_opt(12, 0, 0).unwrap().and_utc();
        let ctx = Context { player, currency, method: None, occurred_at: at, now: at, actor: "test" };
        operations::payment_completed(&mut tx, &ctx, TxKind::Deposit, &format!("{player}-{i}"), *amount).await.unwrap();
    }
    tx.commit().await.unwrap();
}

/// Every 7 days from `first` up to and including `last`.
fn weekly(first: NaiveDate, last: NaiveDate, amount: i64) -> Vec<(NaiveDate, i64)> {
    let mut out = Vec::new();
    let mut day = first;
    while day <= last {
        out.push((day, amount));
        day = day + Days::new(7);
    }
    out
}

/// A simulated casino: CDNOW-like repeat behaviour per day and deposits of about 35 EUR, over
/// players who joined in the past year; every third one plays in US dollars.
async fn simulated_players(db: &Db, customers: usize) -> Vec<Uuid> {
    let bgnbd = BgNbdParams::new(0.243, 4.414 * 7.0, 0.793, 2.426).unwrap();
    let spend = GammaGammaParams::new(6.25, 3.74, 1544.0).unwrap();
    let mut rng = StdRng::seed_from_u64(2026);
    let end = today() - Days::new(1);
    let log =
        simulate::simulate_transaction_log(&bgnbd, &spend, customers, today() - Days::new(365), 270, end, &mut rng)
            .unwrap();
    let mut by_customer: std::collections::BTreeMap<String, Vec<(NaiveDate, i64)>> = Default::default();
    for t in log {
        by_customer.entry(t.customer).or_default().push((t.date, t.amount.max(1)));
    }
    let mut ids = Vec::new();
    for (i, (customer, list)) in by_customer.into_iter().enumerate() {
        let (currency, list) =
            if i % 3 == 0 { ("USD", list.into_iter().map(|(d, a)| (d, a * 5 / 4)).collect()) } else { ("EUR", list) };
        let id = player(db, &format!("sim-{customer}"), currency).await;
        deposits(db, id, currency, &list).await;
        ids.push(id);
    }
    ids
}

async fn count(db: &Db, sql: &str) -> i64 {
    db!(db, |c| sqlx::query_scalar::<_, i64>(sql).fetch_one(c).await).unwrap()
}

both_engines!(a_refit_scores_every_player_in_their_own_currency_and_bands_them_sensibly, |db| async move {
    let simulated = simulated_players(&db, 400).await;
    assert!(simulated.len() >= 380, "{}", simulated.len());

    // The same weekly history until yesterday in three currencies, worth the same in euros.
    let year_ago = today() - Days::new(364);
    let yesterday = today() - Days::new(1);
    let mut weekly_ids = Vec::new();
    for (name, currency, amount) in
        [("weekly-eur", "EUR", 5_000), ("weekly-usd", "USD", 6_250), ("weekly-jpy", "JPY", 10_000)]
    {
        let id = player(&db, name, currency).await;
        deposits(&db, id, currency, &weekly(year_ago - Days::new(6), yesterday, amount)).await;
        weekly_ids.push(id);
    }
    // Weekly for a year, then silent for a year.
    let lapsed = player(&db, "lapsed", "EUR").await;
    let two_years_ago = today() - Days::new(730);
    deposits(&db, lapsed, "EUR", &weekly(two_years_ago, today() - Days::new(366), 5_000)).await;
    // A currency without a reference rate: timing counts, value stays in kronor.
    let krona = player(&db, "weekly-sek", "SEK").await;
    deposits(&db, krona, "SEK", &weekly(year_ago, yesterday, 55_000)).await;
    // Registered, never deposited; and one whose only deposit failed.
    let never = player(&db, "never", "EUR").await;
    let failed = player(&db, "failed-only", "EUR").await;
    {
        let mut tx = db.begin().await.unwrap();
        let ctx = Context {
            player: failed,
            currency: Currency::EUR,
            method: None,
            occurred_at: now(),
            now: now(),
            actor: "test",
        };
        operations::payment_requested(&mut tx, &ctx, TxKind::Deposit, "f-1", 9_000).await.unwrap();
        operations::payment_failed(&mut tx, &ctx, TxKind::Deposit, "f-1", 9_000, Some("declined")).await.unwrap();
        tx.commit().await.unwrap();
    }

    let fit = pitboss_models::refit(&db, &rates(), &RefitSettings::default(), &Requester::cli("tester"), now())
        .await
        .unwrap();
    assert_eq!(fit.status, FitStatus::Succeeded, "{:?}\n{}", fit.error, fit.report);
    assert_eq!((fit.trigger, fit.requested_by.as_str(), fit.currency.as_str()), (FitTrigger::Cli, "cli:tester", "EUR"));
    let players = count(&db, "SELECT COUNT(*) FROM players").await;
    assert_eq!(fit.players, players - 2, "every depositor is in the fit");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM player_predictions").await, players, "every player is scored");
    // The segments that read the predictions hear of it.
    let told = format!("SELECT COUNT(*) FROM outbox WHERE topic = '{}'", pitboss_models::REFITTED);
    assert_eq!(count(&db, &told).await, 1);

    // The diagnostics: parameters, likelihoods, convergence, the holdout, the bands.
    let r = &fit.report;
    for name in ["r", "alpha", "a", "b"] {
        assert!(r["bgnbd"]["params"][name].as_f64().is_some_and(|v| v > 0.0), "{name}: {r}");
    }
    for name in ["p", "q", "gamma"] {
        assert!(r["gamma_gamma"]["params"][name].as_f64().is_some_and(|v| v > 0.0), "{name}: {r}");
    }
    assert!(r["bgnbd"]["log_likelihood"].as_f64().is_some_and(|v| v < 0.0), "{r}");
    assert!(r["bgnbd"]["convergence"]["converged"].is_boolean());
    assert_eq!(r["calibration"]["observation_end"], today().to_string(), "{}", r["calibration_note"]);
    assert!(!r["calibration"]["groups"].as_array().unwrap().is_empty(), "{}", r["calibration"]);
    assert!(r["calibration"]["predicted_total"].as_f64().is_some());
    assert_eq!(r["data"]["players_without_rate"], 1);
    assert_eq!(r["data"]["currencies_without_rate"], json!(["SEK"]));
    let bands = &r["bands"];
    let banded = ["low", "medium", "high"].iter().map(|b| bands[b].as_i64().unwrap()).sum::<i64>();
    assert_eq!(banded, players);
    assert_eq!(bands["never_deposited"], 2);

    let get = async |id: Uuid| pitboss_models::prediction(&db, id).await.unwrap().expect("a prediction");
    let eur = get(weekly_ids[0]).await;
    assert_eq!(eur.fit_id, fit.id);
    assert_eq!(eur.deposit_days, 53);
    assert_ne!(eur.churn_risk, ChurnBand::High, "{eur:?}");
    assert!(eur.p_active > 0.7 && eur.active_percent == (eur.p_active * 100.0).floor() as i64, "{eur:?}");
    assert!(eur.expected_30d > 1.0 && eur.expected_90d > eur.expected_30d, "{eur:?}");
    assert!(eur.predicted_value > 5_000, "a weekly depositor of 50 EUR is worth more than one deposit: {eur:?}");
    // The same history in dollars and yen: the same value in the player's own currency.
    let usd = get(weekly_ids[1]).await;
    let jpy = get(weekly_ids[2]).await;
    assert_eq!(usd.predicted_value, eur.predicted_value * 5 / 4, "{usd:?} {eur:?}");
    assert_eq!(jpy.predicted_value, eur.predicted_value * 2, "{jpy:?} {eur:?}");
    assert_eq!((usd.p_active, jpy.churn_risk), (eur.p_active, eur.churn_risk));

    let gone = get(lapsed).await;
    assert_eq!(gone.churn_risk, ChurnBand::High, "{gone:?}");
    assert!(gone.p_active < 0.3 && gone.expected_90d < 0.1, "{gone:?}");
    assert!(gone.predicted_value < eur.predicted_value / 10, "{gone:?}");

    let sek = get(krona).await;
    assert_ne!(sek.churn_risk, ChurnBand::High, "{sek:?}");
    // 550 SEK a week: worth about eleven times the euro player's 50 EUR, in kronor.
    let ratio = sek.predicted_value as f64 / eur.predicted_value as f64;
    assert!((9.0..13.0).contains(&ratio), "{ratio}: {sek:?} {eur:?}");

    for id in [never, failed] {
        let p = get(id).await;
        assert_eq!((p.deposit_days, p.p_active, p.predicted_value, p.churn_risk), (0, 0.0, 0, ChurnBand::High));
    }
    // Across the simulated players: probabilities in range, values never negative, and the
    // longer someone has been silent after repeat deposits, the likelier high risk.
    for id in &simulated {
        let p = get(*id).await;
        assert!(
            (0.0..=1.0).contains(&p.p_active) && p.predicted_value >= 0 && p.expected_90d >= p.expected_30d,
            "{p:?}"
        );
    }

    // A refit that cannot be made (nothing deposited yet at that time) is recorded as failed and
    // leaves the predictions of the last good fit in place.
    let early = now() - Duration::days(2_000);
    let failed_fit =
        pitboss_models::refit(&db, &rates(), &RefitSettings::default(), &Requester::schedule(), early).await.unwrap();
    assert_eq!(failed_fit.status, FitStatus::Failed);
    assert!(failed_fit.error.as_deref().is_some_and(|e| e.contains("at least 20")), "{:?}", failed_fit.error);
    assert_eq!(failed_fit.requested_by, "system");
    assert_eq!(get(weekly_ids[0]).await.fit_id, fit.id);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM player_predictions").await, players);

    // Both are kept, newest first, and audited.
    let page = pitboss_models::fits(&db, None, 1).await.unwrap();
    assert_eq!(page.items[0].id, failed_fit.id);
    let rest = pitboss_models::fits(&db, page.next, 10).await.unwrap();
    assert_eq!((rest.items.len(), rest.items[0].id, rest.next), (1, fit.id, None));
    assert_eq!(pitboss_models::latest_fit(&db).await.unwrap().map(|f| f.id), Some(failed_fit.id));
    let audited = pitboss_auth::audit::list(&db, Some("clv_fit"), None, 10).await.unwrap();
    let seen: Vec<(String, String)> = audited.iter().map(|a| (a.action.clone(), a.actor.clone())).collect();
    assert_eq!(
        seen,
        [("model.refit".to_string(), "system".to_string()), ("model.refit".to_string(), "cli:tester".to_string())]
    );
    assert_eq!(audited[0].details["status"], "failed");
});

both_engines!(a_refit_of_too_few_players_is_recorded_as_failed_with_the_reason, |db| async move {
    for i in 0..3 {
        let id = player(&db, &format!("p-{i}"), "EUR").await;
        deposits(&db, id, "EUR", &weekly(today() - Days::new(60), today(), 2_000)).await;
    }
    let fit =
        pitboss_models::refit(&db, &rates(), &RefitSettings::default(), &Requester::schedule(), now()).await.unwrap();
    assert_eq!(fit.status, FitStatus::Failed);
    assert_eq!(fit.players, 3);
    let error = fit.error.unwrap();
    assert!(error.contains("3 customers") && error.contains("at least 20"), "{error}");
    assert_eq!(fit.report["data"]["depositors"], 3);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM player_predictions").await, 0);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM outbox").await, 0, "nothing changed for the segments");
    assert_eq!(pitboss_models::last_fitted_at(&db).await.unwrap(), Some(now().timestamp_micros()));
});
