//! Per-customer outputs of the two models together: probability of being active, a churn-risk
//! band, expected deposits in the next 30 and 90 days, and a predicted lifetime value.
//!
//! **Lifetime value** over a horizon of `H` months (a month is 30 days) with a monthly discount
//! rate `d`:
//!
//! `CLV = Σ_{m=1..H} (E[Y(m months)] − E[Y(m−1 months)]) · E[value] / (1 + d)^m`
//!
//! where `E[Y(t)]` is BG/NBD's expected number of transactions in the next `t` given the
//! customer's history (equation 10) and `E[value]` is Gamma-Gamma's expected value of the
//! customer's transactions. Each month's expected transactions are valued and discounted
//! to today as if they fell at the month's end. The result is an estimate in the minor
//! units of the input's currency, never an amount for the ledger.

use serde::{Deserialize, Serialize};

use crate::fit::{BgNbdFit, FitOptions, GammaGammaFit, fit_bgnbd, fit_gamma_gamma};
use crate::{BgNbdParams, ClvError, CustomerSummary, GammaGammaParams, History, Spend};

/// Days in a month, for horizons given in months.
pub const DAYS_PER_MONTH: f64 = 30.0;

/// How worried to be about a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChurnRisk {
    Low,
    Medium,
    High,
}

/// Bands of P(alive): at or above `low_risk_from` is low risk, at or above `medium_risk_from`
/// medium, below it high.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ChurnThresholds {
    pub low_risk_from: f64,
    pub medium_risk_from: f64,
}

impl Default for ChurnThresholds {
    /// 0.7 and 0.3: a customer more likely gone than not is at least medium risk.
    fn default() -> Self {
        ChurnThresholds { low_risk_from: 0.7, medium_risk_from: 0.3 }
    }
}

impl ChurnThresholds {
    /// Checked thresholds: `0 <= medium_risk_from <= low_risk_from <= 1`.
    pub fn new(low_risk_from: f64, medium_risk_from: f64) -> Result<Self, ClvError> {
        let t = ChurnThresholds { low_risk_from, medium_risk_from };
        t.validate()?;
        Ok(t)
    }

    pub fn validate(&self) -> Result<(), ClvError> {
        if !(0.0..=1.0).contains(&self.low_risk_from) {
            return Err(ClvError::InvalidParameter {
                name: "low_risk_from",
                value: self.low_risk_from,
                reason: "a probability between 0 and 1",
            });
        }
        if !(0.0..=self.low_risk_from).contains(&self.medium_risk_from) {
            return Err(ClvError::InvalidParameter {
                name: "medium_risk_from",
                value: self.medium_risk_from,
                reason: "a probability between 0 and low_risk_from",
            });
        }
        Ok(())
    }

    /// The band of a probability of being alive.
    pub fn band(&self, p_alive: f64) -> ChurnRisk {
        if p_alive >= self.low_risk_from {
            ChurnRisk::Low
        } else if p_alive >= self.medium_risk_from {
            ChurnRisk::Medium
        } else {
            ChurnRisk::High
        }
    }
}

/// How to turn the models into per-customer figures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PredictionSettings {
    /// Length of the models' period in days (the `period_days` the summaries were built with).
    pub period_days: f64,
    /// Lifetime value horizon, in months of 30 days.
    pub horizon_months: u32,
    /// Discount rate per month (0.01 is about 12.7% a year).
    pub monthly_discount_rate: f64,
    pub thresholds: ChurnThresholds,
}

impl Default for PredictionSettings {
    fn default() -> Self {
        PredictionSettings {
            period_days: 1.0,
            horizon_months: 12,
            monthly_discount_rate: 0.01,
            thresholds: ChurnThresholds::default(),
        }
    }
}

impl PredictionSettings {
    pub fn validate(&self) -> Result<(), ClvError> {
        if !(self.period_days.is_finite() && self.period_days > 0.0) {
            return Err(ClvError::InvalidParameter {
                name: "period_days",
                value: self.period_days,
                reason: "a period is a positive number of days",
            });
        }
        if !(1..=600).contains(&self.horizon_months) {
            return Err(ClvError::InvalidParameter {
                name: "horizon_months",
                value: f64::from(self.horizon_months),
                reason: "between 1 and 600 months",
            });
        }
        if !(self.monthly_discount_rate.is_finite() && self.monthly_discount_rate >= 0.0) {
            return Err(ClvError::InvalidParameter {
                name: "monthly_discount_rate",
                value: self.monthly_discount_rate,
                reason: "a rate >= 0, e.g. 0.01 for 1% a month",
            });
        }
        self.thresholds.validate()
    }

    /// Days as periods.
    fn periods(&self, days: f64) -> f64 {
        days / self.period_days
    }
}

/// What the models say about one customer. Money figures are estimates in minor units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerPrediction {
    pub customer: String,
    /// P(alive | history).
    pub p_alive: f64,
    pub churn_risk: ChurnRisk,
    pub expected_deposits_30d: f64,
    pub expected_deposits_90d: f64,
    /// Gamma-Gamma's expected value of this customer's deposits.
    pub expected_deposit_value: f64,
    /// Discounted expected value of the deposits over the horizon (see the module's formula).
    pub lifetime_value: f64,
}

/// Both fitted models.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClvModel {
    pub bgnbd: BgNbdParams,
    pub gamma_gamma: GammaGammaParams,
}

impl ClvModel {
    /// All the per-customer figures.
    pub fn predict(
        &self,
        summary: &CustomerSummary,
        settings: &PredictionSettings,
    ) -> Result<CustomerPrediction, ClvError> {
        settings.validate()?;
        let h = &summary.history;
        let p_alive = self.bgnbd.p_alive(h);
        let spend = Spend { frequency: h.frequency, mean_value: summary.monetary_value };
        let expected_deposit_value = self.gamma_gamma.conditional_expected_value(&spend)?;
        Ok(CustomerPrediction {
            customer: summary.customer.clone(),
            p_alive,
            churn_risk: settings.thresholds.band(p_alive),
            expected_deposits_30d: self.bgnbd.conditional_expected_transactions(h, settings.periods(30.0))?,
            expected_deposits_90d: self.bgnbd.conditional_expected_transactions(h, settings.periods(90.0))?,
            expected_deposit_value,
            lifetime_value: self.lifetime_value(h, expected_deposit_value, settings)?,
        })
    }

    /// The discounted lifetime value of a customer whose deposits are worth `value` each.
    pub fn lifetime_value(&self, h: &History, value: f64, settings: &PredictionSettings) -> Result<f64, ClvError> {
        settings.validate()?;
        let mut total = 0.0;
        let mut before = 0.0;
        for month in 1..=settings.horizon_months {
            let m = f64::from(month);
            let cumulative = self.bgnbd.conditional_expected_transactions(h, settings.periods(m * DAYS_PER_MONTH))?;
            total += (cumulative - before) * value / (1.0 + settings.monthly_discount_rate).powf(m);
            before = cumulative;
        }
        Ok(total)
    }
}

/// Both models fitted to the same customers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFit {
    pub bgnbd: BgNbdFit,
    pub gamma_gamma: GammaGammaFit,
}

impl ModelFit {
    pub fn model(&self) -> ClvModel {
        ClvModel { bgnbd: self.bgnbd.params, gamma_gamma: self.gamma_gamma.params }
    }
}

/// Fit BG/NBD on every customer and Gamma-Gamma on those with repeat transactions.
pub fn fit_model(summaries: &[CustomerSummary], options: &FitOptions) -> Result<ModelFit, ClvError> {
    let histories: Vec<History> = summaries.iter().map(|s| s.history).collect();
    let spends: Vec<Spend> =
        summaries.iter().map(|s| Spend { frequency: s.history.frequency, mean_value: s.monetary_value }).collect();
    Ok(ModelFit { bgnbd: fit_bgnbd(&histories, options)?, gamma_gamma: fit_gamma_gamma(&spends, options)? })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> ClvModel {
        // CDNOW's BG/NBD estimates in weeks, turned into days (α scales with the unit).
        ClvModel {
            bgnbd: BgNbdParams::new(0.243, 4.414 * 7.0, 0.793, 2.426).unwrap(),
            gamma_gamma: GammaGammaParams::new(6.25, 3.74, 1544.0).unwrap(),
        }
    }

    fn summary(x: u32, tx: f64, age: f64, m: f64) -> CustomerSummary {
        let day = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
        CustomerSummary {
            customer: "c".into(),
            first: day,
            last: day,
            history: History::new(x, tx, age).unwrap(),
            monetary_value: m,
        }
    }

    #[test]
    fn bands_follow_the_thresholds() {
        let t = ChurnThresholds::default();
        assert_eq!(t.band(0.95), ChurnRisk::Low);
        assert_eq!(t.band(0.7), ChurnRisk::Low);
        assert_eq!(t.band(0.5), ChurnRisk::Medium);
        assert_eq!(t.band(0.1), ChurnRisk::High);
        assert!(ChurnThresholds::new(0.3, 0.7).is_err());
        assert!(ChurnThresholds::new(1.2, 0.3).is_err());
        assert_eq!(serde_json::to_string(&ChurnRisk::Medium).unwrap(), "\"medium\"");
    }

    #[test]
    fn lifetime_value_is_the_discounted_sum_of_monthly_expectations() {
        let m = model();
        let s = summary(4, 150.0, 200.0, 3000.0);
        let settings = PredictionSettings::default();
        let p = m.predict(&s, &settings).unwrap();
        assert!(p.expected_deposits_30d < p.expected_deposits_90d);
        // With no discounting the monthly increments add up to the 12-month expectation.
        let flat = PredictionSettings { monthly_discount_rate: 0.0, ..settings };
        let undiscounted = m.lifetime_value(&s.history, p.expected_deposit_value, &flat).unwrap();
        let year = m.bgnbd.conditional_expected_transactions(&s.history, 360.0).unwrap();
        assert!((undiscounted - year * p.expected_deposit_value).abs() < 1e-6 * undiscounted);
        assert!(p.lifetime_value < undiscounted && p.lifetime_value > 0.0);
        // Three months: by hand.
        let short = PredictionSettings { horizon_months: 3, ..settings };
        let e = |d: f64| m.bgnbd.conditional_expected_transactions(&s.history, d).unwrap();
        let by_hand = (e(30.0) / 1.01 + (e(60.0) - e(30.0)) / 1.01f64.powi(2) + (e(90.0) - e(60.0)) / 1.01f64.powi(3))
            * p.expected_deposit_value;
        assert!(
            (m.lifetime_value(&s.history, p.expected_deposit_value, &short).unwrap() - by_hand).abs() < 1e-9 * by_hand
        );
    }

    #[test]
    fn weekly_periods_give_the_same_answers_as_daily_ones() {
        let days = model();
        let weeks = ClvModel { bgnbd: BgNbdParams { alpha: 4.414, ..days.bgnbd }, ..days };
        let in_days = days.predict(&summary(3, 70.0, 140.0, 2000.0), &PredictionSettings::default()).unwrap();
        let weekly = PredictionSettings { period_days: 7.0, ..Default::default() };
        let in_weeks = weeks.predict(&summary(3, 10.0, 20.0, 2000.0), &weekly).unwrap();
        assert!((in_days.p_alive - in_weeks.p_alive).abs() < 1e-12);
        assert!((in_days.expected_deposits_90d - in_weeks.expected_deposits_90d).abs() < 1e-9);
        assert!((in_days.lifetime_value - in_weeks.lifetime_value).abs() < 1e-6);
    }

    #[test]
    fn a_lapsed_customer_is_high_risk_and_worth_less() {
        let m = model();
        let settings = PredictionSettings::default();
        let active = m.predict(&summary(6, 195.0, 200.0, 3000.0), &settings).unwrap();
        let lapsed = m.predict(&summary(6, 20.0, 200.0, 3000.0), &settings).unwrap();
        assert_eq!(active.churn_risk, ChurnRisk::Low);
        assert_eq!(lapsed.churn_risk, ChurnRisk::High);
        assert!(lapsed.lifetime_value < active.lifetime_value / 5.0);
        assert!(
            m.predict(&summary(6, 20.0, 200.0, 3000.0), &PredictionSettings { horizon_months: 0, ..settings }).is_err()
        );
    }
}
