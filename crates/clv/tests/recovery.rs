//! Validation by parameter recovery: simulate customers from the models' generative processes
//! with known parameters and a fixed seed, fit, and demand estimates near the truth.
//!
//! Tolerances are about four sampling standard deviations, measured over 12 seeds at these
//! sample sizes with a throwaway release-build harness: with 20,000 CDNOW-like customers
//! observed 27–39 weeks, r varies by about 2% (sd), α by 3%, a by 7% and b by 10% (the dropout
//! shapes are weakly identified over such short histories), while what they predict together
//! (expected transactions, the mean dropout probability) is much steadier. A fitted
//! log-likelihood must also be at least that of the true parameters
//! (the optimiser really maximised).

use chrono::NaiveDate;
use pitboss_clv::{
    BgNbdParams, ChurnRisk, FitOptions, GammaGammaParams, History, PredictionSettings, Spend, calibration_report,
    compare_holdout, fit_bgnbd, fit_gamma_gamma, fit_model, simulate, summarize,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn cdnow() -> BgNbdParams {
    BgNbdParams::new(0.243, 4.414, 0.793, 2.426).unwrap()
}

fn paper_spend() -> GammaGammaParams {
    GammaGammaParams::new(6.25, 3.74, 15.44).unwrap()
}

fn assert_within(name: &str, got: f64, truth: f64, relative: f64) {
    let error = (got - truth).abs() / truth.abs();
    assert!(
        error <= relative,
        "{name}: estimated {got}, truth {truth}, off by {:.1}% (allowed {:.0}%)",
        error * 100.0,
        relative * 100.0
    );
}

#[test]
fn bgnbd_recovers_the_cdnow_parameters_and_predicts_the_holdout() {
    let truth = cdnow();
    let mut rng = StdRng::seed_from_u64(2005);
    // CDNOW's design: births spread over 12 weeks, calibration ends at week 39, and a holdout
    // of 39 weeks.
    let customers: Vec<(History, u32)> = (0..20_000)
        .map(|_| simulate::simulate_history(&truth, rng.random_range(27.0..39.0), 39.0, &mut rng).unwrap())
        .collect();
    let histories: Vec<History> = customers.iter().map(|c| c.0).collect();
    let fit = fit_bgnbd(&histories, &FitOptions::default()).unwrap();
    let p = fit.params;
    eprintln!("BG/NBD truth {truth:?}\n       fit   {p:?}\n       {:?}", fit.convergence);

    assert!(fit.convergence.converged, "{:?}", fit.convergence);
    assert!(fit.warnings.is_empty(), "{:?}", fit.warnings);
    assert_eq!(fit.customers, 20_000);
    assert!(fit.log_likelihood >= truth.total_log_likelihood(&histories) - 1e-6);
    assert!((fit.log_likelihood - p.total_log_likelihood(&histories)).abs() < 1e-6);

    assert_within("r", p.r, truth.r, 0.08);
    assert_within("alpha", p.alpha, truth.alpha, 0.12);
    assert_within("a", p.a, truth.a, 0.28);
    assert_within("b", p.b, truth.b, 0.40);
    assert_within("mean dropout a/(a+b)", p.a / (p.a + p.b), truth.a / (truth.a + truth.b), 0.12);
    assert_within("E[X(39)]", p.expected_transactions(39.0).unwrap(), truth.expected_transactions(39.0).unwrap(), 0.06);

    // Calibration on the holdout: the total within 8%, the busiest groups within four
    // standard errors of their actual means.
    let report = compare_holdout(&p, &customers, 39.0).unwrap();
    eprintln!("holdout: actual {} predicted {:.0}", report.actual_total, report.predicted_total);
    assert!(report.relative_error.abs() < 0.08, "{report:?}");
    for group in report.groups.iter().take(4) {
        let x: u32 = group.calibration_repeats.parse().unwrap();
        let actual: Vec<f64> = customers.iter().filter(|c| c.0.frequency == x).map(|c| f64::from(c.1)).collect();
        let n = actual.len() as f64;
        let sd = (actual.iter().map(|a| (a - group.actual_mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        assert!(
            (group.predicted_mean - group.actual_mean).abs() <= 4.0 * sd / n.sqrt() + 0.02,
            "group {}: predicted {} actual {} (sd {sd}, n {n})",
            group.calibration_repeats,
            group.predicted_mean,
            group.actual_mean
        );
    }
}

#[test]
fn gamma_gamma_recovers_the_paper_parameters() {
    let truth = paper_spend();
    let mut rng = StdRng::seed_from_u64(1999);
    let spends: Vec<Spend> = (0..20_000)
        .map(|_| {
            let frequency = rng.random_range(1..=10);
            Spend { frequency, mean_value: simulate::simulate_mean_value(&truth, frequency, &mut rng).unwrap() }
        })
        .chain([Spend { frequency: 0, mean_value: 0.0 }]) // left out, and counted
        .collect();
    let fit = fit_gamma_gamma(&spends, &FitOptions::default()).unwrap();
    let g = fit.params;
    eprintln!("Gamma-Gamma truth {truth:?}\n            fit   {g:?}\n            {:?}", fit.convergence);
    assert!(fit.convergence.converged, "{:?}", fit.convergence);
    assert_eq!((fit.customers, fit.skipped), (20_000, 1));
    let truth_ll: f64 = spends.iter().filter(|s| s.usable()).map(|s| truth.log_likelihood(s)).sum();
    assert!(fit.log_likelihood >= truth_ll - 1e-6);
    // Over 12 seeds: sd of p about 5%, q 1%, γ 6.5%; the mean value about 0.5%.
    assert_within("p", g.p, truth.p, 0.20);
    assert_within("q", g.q, truth.q, 0.05);
    assert_within("gamma", g.gamma, truth.gamma, 0.25);
    assert_within("mean value", g.mean_value().unwrap(), truth.mean_value().unwrap(), 0.03);
}

#[test]
fn from_a_transaction_log_to_predictions_and_a_calibration_report() {
    // In days and minor units: α per day is 7 times α per week, γ in cents 100 times γ in euros.
    let bg = BgNbdParams::new(0.243, 4.414 * 7.0, 0.793, 2.426).unwrap();
    let gg = GammaGammaParams::new(6.25, 3.74, 1544.0).unwrap();
    let mut rng = StdRng::seed_from_u64(42);
    let start = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    let end = NaiveDate::from_ymd_opt(2025, 6, 30).unwrap();
    let log = simulate::simulate_transaction_log(&bg, &gg, 6_000, start, 84, end, &mut rng).unwrap();

    let summaries = summarize(&log, end, 1).unwrap();
    assert_eq!(summaries.len(), 6_000);
    let fit = fit_model(&summaries, &FitOptions::default()).unwrap();
    eprintln!("{:?}\n{:?}", fit.bgnbd.params, fit.gamma_gamma.params);
    // Smaller sample, and whole days merge same-day deposits: looser, but still the truth.
    assert_within("r", fit.bgnbd.params.r, bg.r, 0.15);
    assert_within("alpha", fit.bgnbd.params.alpha, bg.alpha, 0.25);
    assert_within(
        "E[X(270 days)]",
        fit.bgnbd.params.expected_transactions(270.0).unwrap(),
        bg.expected_transactions(270.0).unwrap(),
        0.12,
    );
    assert_within("mean value", fit.gamma_gamma.params.mean_value().unwrap(), gg.mean_value().unwrap(), 0.10);

    let model = fit.model();
    let settings = PredictionSettings::default();
    let predictions: Vec<_> = summaries.iter().map(|s| model.predict(s, &settings).unwrap()).collect();
    assert!(predictions.iter().all(|p| p.lifetime_value.is_finite() && p.lifetime_value >= 0.0));
    assert!(predictions.iter().any(|p| p.churn_risk == ChurnRisk::High));
    assert!(predictions.iter().any(|p| p.churn_risk == ChurnRisk::Low));

    let cutoff = NaiveDate::from_ymd_opt(2024, 12, 31).unwrap();
    let report = calibration_report(&log, cutoff, end, 1, &FitOptions::default()).unwrap();
    assert_eq!(report.holdout_periods, 181.0);
    assert!(report.comparison.relative_error.abs() < 0.15, "{:?}", report.comparison);
    let labels: Vec<&str> = report.comparison.groups.iter().map(|g| g.calibration_repeats.as_str()).collect();
    assert_eq!(labels, ["0", "1", "2", "3", "4", "5", "6", "7+"]);
    let json = serde_json::to_value(&report).unwrap();
    assert!(json["groups"].is_array() && json["fit"]["params"]["alpha"].is_number(), "{json}");
}
