//! The real binary's `model fit` on a CSV of simulated deposits: the JSON it prints, and how it
//! refuses a bad file.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Output};

use chrono::NaiveDate;
use pitboss_clv::{BgNbdParams, GammaGammaParams, simulate};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn pitboss(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pitboss"))
        .args(args)
        .current_dir(dir)
        .env_remove("PITBOSS_CONFIG")
        .output()
        .expect("the binary runs")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// The paper's CDNOW estimates, per day (α × 7), and Gamma-Gamma values in cents.
fn truth() -> (BgNbdParams, GammaGammaParams) {
    (BgNbdParams::new(0.243, 4.414 * 7.0, 0.793, 2.426).unwrap(), GammaGammaParams::new(6.25, 3.74, 1544.0).unwrap())
}

fn write_log(path: &Path) {
    let (bg, gg) = truth();
    let mut rng = StdRng::seed_from_u64(17);
    let start = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    let end = NaiveDate::from_ymd_opt(2025, 6, 30).unwrap();
    let log = simulate::simulate_transaction_log(&bg, &gg, 4_000, start, 84, end, &mut rng).unwrap();
    let mut csv = String::from("customer_id,date,amount\n");
    for t in log {
        writeln!(csv, "{},{},{}", t.customer, t.date, t.amount).unwrap();
    }
    std::fs::write(path, csv).unwrap();
}

fn number(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn model_fit_prints_parameters_likelihoods_and_the_holdout_report() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("deposits.csv");
    write_log(&input);

    let out = pitboss(dir.path(), &["model", "fit", "--input", input.to_str().unwrap(), "--holdout-days", "181"]);
    assert!(out.status.success(), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");

    assert_eq!(json["input"]["customers"], 4_000);
    assert_eq!(json["input"]["observation_end"], "2025-06-30");
    assert_eq!(json["input"]["period_days"], 1);

    let (bg, gg) = truth();
    let bgnbd = &json["bgnbd"];
    assert_eq!(bgnbd["customers"], 4_000);
    assert_eq!(bgnbd["convergence"]["converged"], true, "{bgnbd}");
    assert!(number(&bgnbd["log_likelihood"]) < 0.0);
    // 4,000 customers: loose, honest bounds (the recovery tests in pitboss-clv are the tight ones).
    let r = number(&bgnbd["params"]["r"]);
    let alpha = number(&bgnbd["params"]["alpha"]);
    assert!((r - bg.r).abs() < 0.25 * bg.r, "r = {r}");
    assert!((alpha - bg.alpha).abs() < 0.35 * bg.alpha, "alpha = {alpha}");
    for name in ["a", "b"] {
        assert!(number(&bgnbd["params"][name]) > 0.0);
    }

    let spend = &json["gamma_gamma"];
    assert!(number(&spend["customers"]) > 500.0, "{spend}");
    assert!(number(&spend["log_likelihood"]).is_finite());
    let (p, q, gamma) =
        (number(&spend["params"]["p"]), number(&spend["params"]["q"]), number(&spend["params"]["gamma"]));
    let mean = p * gamma / (q - 1.0);
    let true_mean = gg.mean_value().unwrap();
    assert!((mean - true_mean).abs() < 0.15 * true_mean, "mean value {mean}, truth {true_mean}");

    let calibration = &json["calibration"];
    assert_eq!(calibration["calibration_end"], "2024-12-31");
    assert_eq!(number(&calibration["holdout_periods"]), 181.0);
    assert!(number(&calibration["fit"]["log_likelihood"]) < 0.0);
    let labels: Vec<&str> =
        calibration["groups"].as_array().unwrap().iter().map(|g| g["calibration_repeats"].as_str().unwrap()).collect();
    assert_eq!(labels, ["0", "1", "2", "3", "4", "5", "6", "7+"]);
    let actual = number(&calibration["actual_total"]);
    let predicted = number(&calibration["predicted_total"]);
    assert!(actual > 0.0 && (predicted - actual).abs() < 0.2 * actual, "predicted {predicted}, actual {actual}");

    // Without a holdout there is no calibration section.
    let out = pitboss(dir.path(), &["model", "fit", "--input", input.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json.get("calibration").is_none());
}

#[test]
fn model_fit_names_the_bad_line_and_refuses_impossible_requests() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "customer_id,date,amount\np-1,2024-01-05,1000\np-1,2024-02-01,12.50\n").unwrap();
    let out = pitboss(dir.path(), &["model", "fit", "--input", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let message = text(&out);
    assert!(message.contains("bad.csv") && message.contains("line 3") && message.contains("minor units"), "{message}");

    let tiny = dir.path().join("tiny.csv");
    std::fs::write(&tiny, "p-1,2024-01-05,1000\np-1,2024-02-01,1200\np-2,2024-01-07,500\n").unwrap();
    let out = pitboss(dir.path(), &["model", "fit", "--input", tiny.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out).contains("at least 20 needed"), "{}", text(&out));

    let out = pitboss(dir.path(), &["model", "fit", "--input", tiny.to_str().unwrap(), "--holdout-days", "400"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("before the first transaction"), "{}", text(&out));

    let out = pitboss(dir.path(), &["model", "fit", "--input", dir.path().join("missing.csv").to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out).contains("reading"), "{}", text(&out));
}
