//! The models page: the diagnostics of a churn and lifetime value fit (parameters,
//! log-likelihoods, convergence, the holdout calibration, churn bands), the fits before it, and
//! a refit button.
//!
//! A fit's report is read as JSON rather than as the Rust types that wrote it, so that a report
//! written by an older or newer release still shows what it has.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use pitboss_auth::policy::{Action, RequestFacts, Resource};
use pitboss_models::{ClvFit, FitStatus};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::{Shell, message, render, when};
use crate::AppState;
use crate::guard::{Authenticated, decide};
use crate::routes::models::refit_clv;

pub fn router() -> Router<AppState> {
    Router::new().route("/models", get(show)).route("/models/refit", post(refit))
}

fn can_refit(s: &AppState, auth: &Authenticated) -> bool {
    let action = Action::ModelRefit;
    decide(s, &auth.caller, action, &Resource::Module(action.module()), RequestFacts::default()).allowed
}

/// A number from the report, shown with `digits` significant digits; "—" when absent (a
/// non-finite value is stored as null).
fn num(v: &Value, digits: usize) -> String {
    match v.as_f64() {
        Some(0.0) => "0".into(),
        Some(x) if x.abs() >= 1e6 || x.abs() < 1e-3 => format!("{x:.prec$e}", prec = digits.saturating_sub(1)),
        Some(x) => {
            let magnitude = x.abs().log10().floor() as i64;
            let decimals = (digits as i64 - 1 - magnitude).clamp(0, 12) as usize;
            format!("{x:.decimals$}")
        }
        None => "—".into(),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "—".into(),
        other => other.to_string(),
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().map(text).collect()).unwrap_or_default()
}

/// One model's estimate and how the optimiser got there.
struct ModelView {
    name: &'static str,
    params: Vec<(String, String)>,
    log_likelihood: String,
    customers: String,
    converged: bool,
    iterations: String,
    restarts: String,
    termination: String,
    warnings: Vec<String>,
}

fn model_view(name: &'static str, fit: &Value, params: &[&str]) -> Option<ModelView> {
    if fit.is_null() {
        return None;
    }
    let c = &fit["convergence"];
    Some(ModelView {
        name,
        params: params.iter().map(|p| (p.to_string(), num(&fit["params"][p], 5))).collect(),
        log_likelihood: num(&fit["log_likelihood"], 8),
        customers: text(&fit["customers"]),
        converged: c["converged"].as_bool().unwrap_or(false),
        iterations: text(&c["iterations"]),
        restarts: text(&c["restarts"]),
        termination: text(&c["termination"]),
        warnings: strings(&fit["warnings"]),
    })
}

struct GroupRow {
    label: String,
    customers: String,
    actual_total: String,
    predicted_total: String,
    actual_mean: String,
    predicted_mean: String,
}

struct CalibrationView {
    calibration_end: String,
    observation_end: String,
    /// In periods of the fit (days, by default).
    holdout_periods: String,
    customers: String,
    actual_total: String,
    predicted_total: String,
    relative_error: String,
    params: String,
    groups: Vec<GroupRow>,
    chart: String,
}

fn calibration_view(c: &Value) -> Option<CalibrationView> {
    if c.is_null() {
        return None;
    }
    let groups: Vec<GroupRow> = c["groups"]
        .as_array()
        .map(|gs| {
            gs.iter()
                .map(|g| GroupRow {
                    label: text(&g["calibration_repeats"]),
                    customers: text(&g["customers"]),
                    actual_total: text(&g["actual_total"]),
                    predicted_total: num(&g["predicted_total"], 4),
                    actual_mean: num(&g["actual_mean"], 3),
                    predicted_mean: num(&g["predicted_mean"], 3),
                })
                .collect()
        })
        .unwrap_or_default();
    let p = &c["fit"]["params"];
    Some(CalibrationView {
        calibration_end: text(&c["calibration_end"]),
        observation_end: text(&c["observation_end"]),
        holdout_periods: c["holdout_periods"].as_f64().map(|d| format!("{d:.0}")).unwrap_or_else(|| "—".into()),
        customers: text(&c["customers"]),
        actual_total: text(&c["actual_total"]),
        predicted_total: num(&c["predicted_total"], 5),
        relative_error: c["relative_error"]
            .as_f64()
            .map(|e| format!("{:+.1}%", e * 100.0))
            .unwrap_or_else(|| "—".into()),
        params: format!(
            "r = {}, α = {}, a = {}, b = {}",
            num(&p["r"], 4),
            num(&p["alpha"], 4),
            num(&p["a"], 4),
            num(&p["b"], 4)
        ),
        chart: chart(c["groups"].as_array().map(Vec::as_slice).unwrap_or_default()),
        groups,
    })
}

/// Mean actual against mean predicted holdout deposits per group, as paired bars (SVG drawn
/// here, no script).
fn chart(groups: &[Value]) -> String {
    if groups.is_empty() {
        return String::new();
    }
    let (w, h, pad) = (600.0, 180.0, 28.0);
    let values: Vec<(String, f64, f64)> = groups
        .iter()
        .map(|g| {
            (
                text(&g["calibration_repeats"]),
                g["actual_mean"].as_f64().unwrap_or(0.0),
                g["predicted_mean"].as_f64().unwrap_or(0.0),
            )
        })
        .collect();
    let max = values.iter().map(|v| v.1.max(v.2)).fold(0.0, f64::max).max(1e-9);
    let slot = (w - 2.0 * pad) / values.len() as f64;
    let bar = slot * 0.35;
    let y = |m: f64| h - pad - m / max * (h - 2.0 * pad);
    let mut parts = Vec::new();
    for (i, (label, actual, predicted)) in values.iter().enumerate() {
        let x = pad + i as f64 * slot + slot * 0.15;
        parts.push(format!(
            r##"<rect x="{x:.1}" y="{:.1}" width="{bar:.1}" height="{:.1}" fill="#5b6474"><title>{label}: actual {actual:.3}</title></rect>"##,
            y(*actual),
            h - pad - y(*actual)
        ));
        parts.push(format!(
            r##"<rect x="{:.1}" y="{:.1}" width="{bar:.1}" height="{:.1}" fill="#1f5fbf"><title>{label}: predicted {predicted:.3}</title></rect>"##,
            x + bar,
            y(*predicted),
            h - pad - y(*predicted)
        ));
        parts.push(format!(
            r#"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle">{label}</text>"#,
            x + bar,
            h - 8.0
        ));
    }
    format!(
        r##"<svg viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="Mean repeat deposits per player in the holdout, actual (grey) and predicted (blue), by repeat deposits before it">{}<text x="4" y="14" font-size="12">{max:.2}</text></svg>"##,
        parts.join("")
    )
}

/// The chosen fit, for the template.
struct FitView {
    id: Uuid,
    when: String,
    trigger: String,
    requested_by: String,
    succeeded: bool,
    error: Option<String>,
    currency: String,
    players: i64,
    scored: String,
    observation_end: String,
    seconds: String,
    data: Vec<(&'static str, String)>,
    models: Vec<ModelView>,
    calibration: Option<CalibrationView>,
    calibration_note: Option<String>,
    bands: Vec<(&'static str, String)>,
    notes: Vec<String>,
}

fn fit_view(fit: &ClvFit) -> FitView {
    let r = &fit.report;
    let d = &r["data"];
    let b = &r["bands"];
    let s = &r["settings"];
    let first_last = format!("{} to {}", text(&d["first_deposit"]), text(&d["last_deposit"]));
    FitView {
        id: fit.id,
        when: when(fit.fitted_at),
        trigger: fit.trigger.to_string(),
        requested_by: fit.requested_by.clone(),
        succeeded: fit.status == FitStatus::Succeeded,
        error: fit.error.clone(),
        currency: fit.currency.clone(),
        players: fit.players,
        scored: text(&d["players"]),
        observation_end: text(&r["observation_end"]),
        seconds: num(&r["seconds"], 3),
        data: vec![
            ("Deposits (completed)", text(&d["deposits"])),
            ("Depositors", text(&d["depositors"])),
            ("Of them with repeat deposits", text(&d["repeat_depositors"])),
            ("Deposits from", first_last),
            ("Players without a reference rate", text(&d["players_without_rate"])),
            (
                "Lifetime value",
                format!(
                    "{} months, discounted at {} a month",
                    text(&s["horizon_months"]),
                    s["monthly_discount_rate"]
                        .as_f64()
                        .map(|x| format!("{:.2}%", x * 100.0))
                        .unwrap_or_else(|| "—".into())
                ),
            ),
            (
                "Churn bands",
                format!(
                    "low from p_active {}, medium from {}, high below",
                    num(&s["low_risk_from"], 2),
                    num(&s["medium_risk_from"], 2)
                ),
            ),
        ],
        models: [
            model_view("BG/NBD: repeat deposits and dropout", &r["bgnbd"], &["r", "alpha", "a", "b"]),
            model_view("Gamma-Gamma: deposit value", &r["gamma_gamma"], &["p", "q", "gamma"]),
        ]
        .into_iter()
        .flatten()
        .collect(),
        calibration: calibration_view(&r["calibration"]),
        calibration_note: r["calibration_note"].as_str().map(str::to_string),
        bands: if b.is_null() {
            Vec::new()
        } else {
            vec![
                ("Low", text(&b["low"])),
                ("Medium", text(&b["medium"])),
                ("High", text(&b["high"])),
                ("Never deposited (defaults, counted as high)", text(&b["never_deposited"])),
                ("Deposited on one day only", text(&b["one_time"])),
            ]
        },
        notes: strings(&r["notes"]),
    }
}

struct FitLine {
    id: Uuid,
    when: String,
    trigger: String,
    requested_by: String,
    succeeded: bool,
    players: i64,
    log_likelihood: String,
    shown: bool,
}

#[derive(Template)]
#[template(path = "models.html")]
struct Page {
    shell: Shell,
    fit: Option<FitView>,
    fits: Vec<FitLine>,
    next: Option<String>,
    can_refit: bool,
}

#[derive(Debug, Default, Deserialize)]
struct PageQuery {
    /// The fit to show; the latest when absent.
    fit: Option<Uuid>,
    /// The `next` cursor of the earlier fits' table.
    after: Option<Uuid>,
}

const FITS_PER_PAGE: u32 = 20;

async fn show(State(s): State<AppState>, auth: Authenticated, Query(q): Query<PageQuery>) -> Response {
    let page = match pitboss_models::fits(&s.db, q.after, FITS_PER_PAGE).await {
        Ok(page) => page,
        Err(e) => return message(StatusCode::SERVICE_UNAVAILABLE, "Models", e.to_string(), "/", "Home"),
    };
    let chosen = match q.fit {
        Some(id) => match pitboss_models::fit(&s.db, id).await {
            Ok(fit) => Some(fit),
            Err(e) => return message(StatusCode::NOT_FOUND, "Models", e.to_string(), "/models", "Models"),
        },
        None => match pitboss_models::latest_fit(&s.db).await {
            Ok(fit) => fit,
            Err(e) => return message(StatusCode::SERVICE_UNAVAILABLE, "Models", e.to_string(), "/", "Home"),
        },
    };
    let shown = chosen.as_ref().map(|f| f.id);
    let fits = page
        .items
        .iter()
        .map(|f| FitLine {
            id: f.id,
            when: when(f.fitted_at),
            trigger: f.trigger.to_string(),
            requested_by: f.requested_by.clone(),
            succeeded: f.status == FitStatus::Succeeded,
            players: f.players,
            log_likelihood: num(&f.report["bgnbd"]["log_likelihood"], 8),
            shown: Some(f.id) == shown,
        })
        .collect();
    render(&Page {
        shell: Shell::new(&s, &auth, "/models"),
        fit: chosen.as_ref().map(fit_view),
        fits,
        next: page.next.map(|n| format!("/models?after={n}")),
        can_refit: can_refit(&s, &auth),
    })
}

async fn refit(State(s): State<AppState>, auth: Authenticated) -> Response {
    match refit_clv(&s, &auth.caller).await {
        Ok(fit) => Redirect::to(&format!("/models?fit={}", fit.id)).into_response(),
        Err(e) => message(
            StatusCode::from_u16(e.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            "Refit",
            e.detail,
            "/models",
            "Models",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_keep_their_significant_digits() {
        assert_eq!(num(&json!(0.24312345), 4), "0.2431");
        assert_eq!(num(&json!(30.897), 4), "30.90");
        assert_eq!(num(&json!(-1234.5678), 8), "-1234.5678");
        assert_eq!(num(&json!(12345678.0), 3), "1.23e7");
        assert_eq!(num(&json!(0), 3), "0");
        assert_eq!(num(&Value::Null, 3), "—");
    }

    #[test]
    fn the_chart_draws_two_bars_per_group() {
        let groups = [
            json!({"calibration_repeats": "0", "actual_mean": 0.1, "predicted_mean": 0.12}),
            json!({"calibration_repeats": "7+", "actual_mean": 3.0, "predicted_mean": 2.5}),
        ];
        let svg = chart(&groups);
        assert_eq!(svg.matches("<rect").count(), 4);
        assert!(svg.contains("7+: predicted 2.500"), "{svg}");
        assert_eq!(chart(&[]), "");
    }
}
