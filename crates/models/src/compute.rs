//! From players and their completed deposits to fitted models and one prediction per player.
//! No I/O here (the caller reads and writes), so the whole decision is testable on its own.
//!
//! **Currency.** The models are fitted in one currency ([`RefitSettings::currency`], EUR by
//! default, the base of the reference rates): every deposit is converted with the reference
//! rates, and each player's predicted value is converted back to their own currency. A player
//! whose deposits have no rate still counts for BG/NBD (timing needs no rate) but not for
//! Gamma-Gamma (whose scale `γ` is in the model currency); their value is their own mean deposit
//! in their own currency times BG/NBD's discounted expectations.
//!
//! **Time.** Periods of one day, counted back from the day of the refit (UTC). A deposit day
//! is one transaction: several deposits on one day count once, their amounts added.
//!
//! **Players who never deposited** are not customers yet in the models' sense (BG/NBD starts a
//! customer at their first transaction), so they get a documented default: `p_active` 0,
//! nothing expected, value 0, churn risk `high`, `deposit_days` 0.
//!
//! **One-time depositors**: BG/NBD says P(alive) = 1 for every customer without a repeat
//! deposit, however long ago they came; `p_active` and the band use
//! [`pitboss_clv::BgNbdParams::p_alive_counting_first`] instead, which lets the first deposit
//! be the last. Expected deposits and value stay BG/NBD's and Gamma-Gamma's.

use std::collections::{BTreeSet, HashMap};

use chrono::{Days, NaiveDate};
use pitboss_clv::{
    BgNbdFit, CalibrationReport, CustomerSummary, FitOptions, GammaGammaFit, PredictionSettings, Transaction,
    calibration_report, fit_model, summarize,
};
use pitboss_core::Currency;
use pitboss_payments::deposits::CompletedDeposit;
use pitboss_rules::Rates;
use serde::Serialize;
use uuid::Uuid;

use crate::model::ChurnBand;

/// How to refit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefitSettings {
    /// The currency the models are fitted in.
    pub currency: Currency,
    /// Length of the models' period in days.
    pub period_days: u32,
    /// The holdout for the calibration check: the models are fitted again on the history before
    /// the last `holdout_days`, and their predictions for those days compared with what players
    /// did. Shortened to a third of the history when that is shorter.
    pub holdout_days: u32,
    /// Lifetime value horizon, discount rate and churn thresholds.
    pub prediction: PredictionSettings,
    pub fit: FitOptions,
}

impl Default for RefitSettings {
    fn default() -> Self {
        RefitSettings {
            currency: Currency::EUR,
            period_days: 1,
            holdout_days: 90,
            prediction: PredictionSettings::default(),
            fit: FitOptions::default(),
        }
    }
}

/// Fewest days a holdout may have: shorter ones say nothing about repeat deposits.
const MIN_HOLDOUT_DAYS: u32 = 14;

impl RefitSettings {
    pub fn validate(&self) -> Result<(), String> {
        if self.period_days == 0 || self.prediction.period_days != f64::from(self.period_days) {
            return Err(format!(
                "period_days ({}) must be at least 1 and the same as the prediction settings' ({})",
                self.period_days, self.prediction.period_days
            ));
        }
        if self.holdout_days < MIN_HOLDOUT_DAYS.max(self.period_days) {
            return Err(format!("holdout_days must be at least {MIN_HOLDOUT_DAYS} and one period"));
        }
        self.prediction.validate().map_err(|e| e.to_string())
    }
}

/// A player to score: the predicted value is converted to `currency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlayerInput {
    pub id: Uuid,
    pub currency: Currency,
}

/// One player's figures, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub player_id: Uuid,
    pub p_active: f64,
    pub active_percent: i64,
    pub expected_30d: f64,
    pub expected_90d: f64,
    /// Minor units of the player's currency.
    pub predicted_value: i64,
    pub churn_risk: ChurnBand,
    pub deposit_days: i64,
}

/// What went into a fit.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DataSummary {
    /// Players scored (everyone registered when the refit read the profiles).
    pub players: usize,
    /// Players with at least one completed deposit: those the models are fitted to.
    pub depositors: usize,
    /// Of them, players with deposits on more than one day.
    pub repeat_depositors: usize,
    pub deposits: usize,
    pub first_deposit: Option<NaiveDate>,
    pub last_deposit: Option<NaiveDate>,
    /// Players whose deposits could not be converted (no reference rate): counted for timing,
    /// valued in their own currency.
    pub players_without_rate: usize,
    pub currencies_without_rate: Vec<String>,
}

/// The settings a fit ran with, for the record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportSettings {
    pub horizon_months: u32,
    pub monthly_discount_rate: f64,
    pub low_risk_from: f64,
    pub medium_risk_from: f64,
    pub holdout_days: u32,
}

/// How many players fell in each churn band.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BandCounts {
    pub low: usize,
    pub medium: usize,
    pub high: usize,
    /// Players with the never-deposited defaults (counted in `high` too).
    pub never_deposited: usize,
    /// Players with deposits on one day only (their `p_active` lets that deposit be the last).
    pub one_time: usize,
}

/// Everything a fit records in `clv_fits.report_json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FitReport {
    pub model: &'static str,
    pub currency: String,
    pub period_days: u32,
    /// The last day of history the models saw (the refit's day, UTC).
    pub observation_end: NaiveDate,
    pub data: DataSummary,
    pub settings: ReportSettings,
    pub bgnbd: Option<BgNbdFit>,
    pub gamma_gamma: Option<GammaGammaFit>,
    /// The models fitted again on the history before a holdout, and their predicted against
    /// the actual repeat deposits in it.
    pub calibration: Option<CalibrationReport>,
    /// Why there is no calibration, when there is none.
    pub calibration_note: Option<String>,
    pub bands: BandCounts,
    /// Anything else worth knowing about this fit.
    pub notes: Vec<String>,
    /// Seconds spent reading the deposits and profiles and fitting (set by the caller; the
    /// writing that follows is not counted).
    pub seconds: f64,
}

/// A computed refit: the report, and the predictions or why there are none.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub report: FitReport,
    pub predictions: Result<Vec<Scored>, String>,
}

impl Outcome {
    /// Players the models were fitted to.
    pub fn depositors(&self) -> usize {
        self.report.data.depositors
    }
}

/// A money estimate as integer minor units: rounded, never negative, saturating.
fn to_minor(v: f64) -> i64 {
    if !v.is_finite() || v <= 0.0 {
        0
    } else if v >= i64::MAX as f64 {
        i64::MAX
    } else {
        v.round() as i64
    }
}

/// A probability as stored: finite and within 0..=1.
fn probability(p: f64) -> f64 {
    if p.is_finite() { p.clamp(0.0, 1.0) } else { 0.0 }
}

/// An expectation as stored: finite and not negative.
fn expectation(e: f64) -> f64 {
    if e.is_finite() { e.max(0.0) } else { 0.0 }
}

/// The figures of a player who never deposited (see the module documentation).
fn never_deposited(player_id: Uuid) -> Scored {
    Scored {
        player_id,
        p_active: 0.0,
        active_percent: 0,
        expected_30d: 0.0,
        expected_90d: 0.0,
        predicted_value: 0,
        churn_risk: ChurnBand::High,
        deposit_days: 0,
    }
}

/// The deposit logs the models read: every deposit in the model currency (0 when it has no
/// rate), and the deposits of players without a rate in their own currency.
struct Logs {
    model: Vec<Transaction>,
    own: Vec<Transaction>,
    without_rate: BTreeSet<Uuid>,
    currencies_without_rate: BTreeSet<String>,
    unknown_players: usize,
}

fn build_logs(players: &HashMap<Uuid, Currency>, deposits: &[CompletedDeposit], rates: &Rates, to: Currency) -> Logs {
    let mut logs = Logs {
        model: Vec::with_capacity(deposits.len()),
        own: Vec::new(),
        without_rate: BTreeSet::new(),
        currencies_without_rate: BTreeSet::new(),
        unknown_players: 0,
    };
    // A player is valued in the model currency only if every deposit of theirs converts, so
    // that their mean deposit is not an average of converted and missing amounts.
    for d in deposits {
        if rates.convert(d.amount.max(0), d.currency, to).is_none() {
            logs.without_rate.insert(d.player_id);
            logs.currencies_without_rate.insert(d.currency.as_str().to_string());
        }
    }
    for d in deposits {
        let Some(own_currency) = players.get(&d.player_id) else {
            // Profiles are read after deposits, so this does not happen unless a profile was
            // removed by hand; such deposits cannot be scored.
            logs.unknown_players += 1;
            continue;
        };
        let customer = d.player_id.to_string();
        let date = d.occurred_at.date_naive();
        let amount = d.amount.max(0);
        if logs.without_rate.contains(&d.player_id) {
            logs.model.push(Transaction { customer: customer.clone(), date, amount: 0 });
            if d.currency == *own_currency {
                logs.own.push(Transaction { customer, date, amount });
            }
        } else {
            let converted = rates.convert(amount, d.currency, to).unwrap_or(0);
            logs.model.push(Transaction { customer, date, amount: converted });
        }
    }
    logs
}

/// Each player's own mean deposit (minor units of their currency): the mean of their repeat
/// deposit days, or their first day's total when they have no repeat.
fn own_values(own: &[Transaction], today: NaiveDate, period_days: u32) -> HashMap<String, f64> {
    let Ok(summaries) = summarize(own, today, period_days) else { return HashMap::new() };
    let mut first_day: HashMap<&str, (NaiveDate, i64)> = HashMap::new();
    for t in own.iter().filter(|t| t.date <= today) {
        let slot = first_day.entry(t.customer.as_str()).or_insert((t.date, 0));
        if t.date < slot.0 {
            *slot = (t.date, 0);
        }
        if t.date == slot.0 {
            slot.1 = slot.1.saturating_add(t.amount);
        }
    }
    summaries
        .iter()
        .map(|s| {
            let value = if s.history.frequency > 0 {
                s.monetary_value
            } else {
                first_day.get(s.customer.as_str()).map_or(0.0, |(_, total)| *total as f64)
            };
            (s.customer.clone(), value)
        })
        .collect()
}

fn data_summary(
    players: usize,
    deposits: &[CompletedDeposit],
    summaries: &[CustomerSummary],
    logs: &Logs,
) -> DataSummary {
    DataSummary {
        players,
        depositors: summaries.len(),
        repeat_depositors: summaries.iter().filter(|s| s.history.frequency > 0).count(),
        deposits: deposits.len(),
        first_deposit: summaries.iter().map(|s| s.first).min(),
        last_deposit: summaries.iter().map(|s| s.last).max(),
        players_without_rate: logs.without_rate.len(),
        currencies_without_rate: logs.currencies_without_rate.iter().cloned().collect(),
    }
}

/// The calibration check on a holdout at the end of the history, or why there is none.
fn calibrate(
    log: &[Transaction],
    first: Option<NaiveDate>,
    today: NaiveDate,
    settings: &RefitSettings,
) -> Result<CalibrationReport, String> {
    let first = first.ok_or("no deposits")?;
    let span = u32::try_from((today - first).num_days()).unwrap_or(0);
    // A holdout longer than a third of the history leaves too little to fit on.
    let wanted = settings.holdout_days.min(span / 3);
    let holdout = wanted - wanted % settings.period_days;
    if holdout < MIN_HOLDOUT_DAYS.max(settings.period_days) {
        return Err(format!(
            "the deposit history covers {span} days; a holdout of at least {MIN_HOLDOUT_DAYS} days needs {} or more",
            3 * MIN_HOLDOUT_DAYS
        ));
    }
    let end = today.checked_sub_days(Days::new(u64::from(holdout))).ok_or("the holdout reaches before the calendar")?;
    calibration_report(log, end, today, settings.period_days, &settings.fit)
        .map_err(|e| format!("the models could not be fitted on the history before the {holdout}-day holdout: {e}"))
}

/// Fits both models to every depositor's history up to `today` and scores every player.
pub fn compute(
    players: &[PlayerInput],
    deposits: &[CompletedDeposit],
    rates: &Rates,
    settings: &RefitSettings,
    today: NaiveDate,
) -> Outcome {
    let thresholds = settings.prediction.thresholds;
    let mut report = FitReport {
        model: "BG/NBD (repeat deposits and dropout) and Gamma-Gamma (deposit value)",
        currency: settings.currency.as_str().to_string(),
        period_days: settings.period_days,
        observation_end: today,
        data: DataSummary { players: players.len(), deposits: deposits.len(), ..Default::default() },
        settings: ReportSettings {
            horizon_months: settings.prediction.horizon_months,
            monthly_discount_rate: settings.prediction.monthly_discount_rate,
            low_risk_from: thresholds.low_risk_from,
            medium_risk_from: thresholds.medium_risk_from,
            holdout_days: settings.holdout_days,
        },
        bgnbd: None,
        gamma_gamma: None,
        calibration: None,
        calibration_note: None,
        bands: BandCounts::default(),
        notes: Vec::new(),
        seconds: 0.0,
    };
    let fail = |report: FitReport, why: String| Outcome { report, predictions: Err(why) };
    if let Err(e) = settings.validate() {
        return fail(report, format!("the refit settings are invalid: {e}"));
    }
    let currency_of: HashMap<Uuid, Currency> = players.iter().map(|p| (p.id, p.currency)).collect();
    let logs = build_logs(&currency_of, deposits, rates, settings.currency);
    if logs.unknown_players > 0 {
        report.notes.push(format!("{} deposits of players without a profile were left out", logs.unknown_players));
    }
    let summaries = match summarize(&logs.model, today, settings.period_days) {
        Ok(s) => s,
        Err(e) => return fail(report, format!("the deposit history could not be summarised: {e}")),
    };
    report.data = data_summary(players.len(), deposits, &summaries, &logs);
    let fitted = match fit_model(&summaries, &settings.fit) {
        Ok(f) => f,
        Err(e) => return fail(report, e.to_string()),
    };
    report.bgnbd = Some(fitted.bgnbd.clone());
    report.gamma_gamma = Some(fitted.gamma_gamma.clone());
    let model = fitted.model();
    let own = own_values(&logs.own, today, settings.period_days);

    let mut scored = Vec::with_capacity(players.len());
    let mut by_id: HashMap<String, &CustomerSummary> = summaries.iter().map(|s| (s.customer.clone(), s)).collect();
    let mut unconvertible = 0usize;
    for player in players {
        let key = player.id.to_string();
        let Some(summary) = by_id.remove(&key) else {
            scored.push(never_deposited(player.id));
            continue;
        };
        let h = &summary.history;
        let prediction = match model.predict(summary, &settings.prediction) {
            Ok(p) => p,
            Err(e) => return fail(report, format!("scoring player {}: {e}", player.id)),
        };
        let predicted_value = if logs.without_rate.contains(&player.id) {
            let value = own.get(&key).copied().unwrap_or(0.0);
            match model.lifetime_value(h, value, &settings.prediction) {
                Ok(v) => to_minor(v),
                Err(e) => return fail(report, format!("valuing player {}: {e}", player.id)),
            }
        } else {
            match rates.convert(to_minor(prediction.lifetime_value), settings.currency, player.currency) {
                Some(v) => v,
                None => {
                    unconvertible += 1;
                    0
                }
            }
        };
        let p_active = probability(model.bgnbd.p_alive_counting_first(h));
        scored.push(Scored {
            player_id: player.id,
            p_active,
            active_percent: (p_active * 100.0).floor() as i64,
            expected_30d: expectation(prediction.expected_deposits_30d),
            expected_90d: expectation(prediction.expected_deposits_90d),
            predicted_value,
            churn_risk: thresholds.band(p_active).into(),
            deposit_days: i64::from(h.frequency) + 1,
        });
    }
    if unconvertible > 0 {
        report.notes.push(format!(
            "{unconvertible} players have deposits that convert to {} but no rate for their own currency: \
             their predicted value is 0 until one is configured",
            settings.currency
        ));
    }
    if report.data.players_without_rate > 0 {
        report.notes.push(format!(
            "{} players deposit in currencies without a reference rate ({}): their timing is in the fit, \
             their value is their own mean deposit in their own currency",
            report.data.players_without_rate,
            report.data.currencies_without_rate.join(", ")
        ));
    }
    for s in &scored {
        match s.churn_risk {
            ChurnBand::Low => report.bands.low += 1,
            ChurnBand::Medium => report.bands.medium += 1,
            ChurnBand::High => report.bands.high += 1,
        }
        match s.deposit_days {
            0 => report.bands.never_deposited += 1,
            1 => report.bands.one_time += 1,
            _ => {}
        }
    }
    match calibrate(&logs.model, report.data.first_deposit, today, settings) {
        Ok(c) => report.calibration = Some(c),
        Err(why) => report.calibration_note = Some(why),
    }
    Outcome { report, predictions: Ok(scored) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_are_stored_in_range() {
        assert_eq!(to_minor(1234.5), 1235);
        assert_eq!(to_minor(-3.0), 0);
        assert_eq!(to_minor(f64::NAN), 0);
        assert_eq!(to_minor(1e300), i64::MAX);
        assert_eq!(probability(1.0000001), 1.0);
        assert_eq!(probability(f64::NAN), 0.0);
        assert_eq!(expectation(-1e-12), 0.0);
    }

    #[test]
    fn without_enough_depositors_nothing_is_scored_and_the_report_says_why() {
        let players: Vec<PlayerInput> =
            (0..5).map(|_| PlayerInput { id: Uuid::now_v7(), currency: Currency::EUR }).collect();
        let deposits: Vec<CompletedDeposit> = players
            .iter()
            .map(|p| CompletedDeposit {
                id: Uuid::now_v7(),
                player_id: p.id,
                currency: Currency::EUR,
                amount: 1_000,
                occurred_at: "2026-01-01T12:00:00Z".parse().unwrap(),
            })
            .collect();
        let today = NaiveDate::from_ymd_opt(2026, 2, 1).unwrap();
        let out = compute(&players, &deposits, &Rates::new(), &RefitSettings::default(), today);
        let why = out.predictions.unwrap_err();
        assert!(why.contains("at least 20"), "{why}");
        assert_eq!((out.report.data.players, out.report.data.depositors, out.report.data.deposits), (5, 5, 5));
        assert!(out.report.bgnbd.is_none());
    }

    #[test]
    fn bad_settings_are_refused_before_fitting() {
        let settings = RefitSettings { period_days: 7, ..RefitSettings::default() };
        assert!(settings.validate().unwrap_err().contains("period_days"));
        let out = compute(&[], &[], &Rates::new(), &settings, NaiveDate::from_ymd_opt(2026, 2, 1).unwrap());
        assert!(out.predictions.unwrap_err().contains("settings"));
    }
}
