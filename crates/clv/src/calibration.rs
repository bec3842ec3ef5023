//! Calibration on a holdout period: fit on the transactions up to a cut-off, predict each
//! customer's repeat transactions after it, and compare with what they did, in total and by
//! the number of repeat transactions in the calibration period (0, 1, ..., 6, 7+), as the
//! BG/NBD paper's conditional-expectation figure does.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::fit::{BgNbdFit, FitOptions, fit_bgnbd};
use crate::summary::split_calibration_holdout;
use crate::{BgNbdParams, ClvError, History, Transaction};

/// Calibration-period repeat transactions from which customers share the last group ("7+").
pub const LAST_GROUP: u32 = 7;

/// Predicted against actual holdout transactions for one group of customers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationGroup {
    /// "0", "1", ..., "6", or "7+".
    pub calibration_repeats: String,
    pub customers: usize,
    pub actual_total: u64,
    pub predicted_total: f64,
    /// Per customer.
    pub actual_mean: f64,
    pub predicted_mean: f64,
}

/// Predicted against actual holdout transactions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HoldoutComparison {
    pub customers: usize,
    pub actual_total: u64,
    pub predicted_total: f64,
    /// `(predicted − actual) / actual` of the totals; 0 when both are 0.
    pub relative_error: f64,
    /// Groups by calibration-period repeat transactions; only groups with customers appear.
    pub groups: Vec<CalibrationGroup>,
}

/// The whole calibration-on-holdout report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationReport {
    pub calibration_end: NaiveDate,
    pub observation_end: NaiveDate,
    pub period_days: u32,
    pub holdout_periods: f64,
    /// The model fitted on the calibration period only.
    pub fit: BgNbdFit,
    #[serde(flatten)]
    pub comparison: HoldoutComparison,
}

/// Compare `params`' conditional expectations over `holdout_periods` with the actual holdout
/// transactions of each `(calibration history, holdout transactions)`.
pub fn compare_holdout(
    params: &BgNbdParams,
    customers: &[(History, u32)],
    holdout_periods: f64,
) -> Result<HoldoutComparison, ClvError> {
    let groups_len = LAST_GROUP as usize + 1;
    let mut count = vec![0usize; groups_len];
    let mut actual = vec![0u64; groups_len];
    let mut predicted = vec![0f64; groups_len];
    for (history, holdout) in customers {
        let g = history.frequency.min(LAST_GROUP) as usize;
        count[g] += 1;
        actual[g] += u64::from(*holdout);
        predicted[g] += params.conditional_expected_transactions(history, holdout_periods)?;
    }
    let groups = (0..groups_len)
        .filter(|&g| count[g] > 0)
        .map(|g| CalibrationGroup {
            calibration_repeats: if g as u32 == LAST_GROUP { format!("{LAST_GROUP}+") } else { g.to_string() },
            customers: count[g],
            actual_total: actual[g],
            predicted_total: predicted[g],
            actual_mean: actual[g] as f64 / count[g] as f64,
            predicted_mean: predicted[g] / count[g] as f64,
        })
        .collect();
    let actual_total: u64 = actual.iter().sum();
    let predicted_total: f64 = predicted.iter().sum();
    let relative_error = if actual_total == 0 {
        if predicted_total == 0.0 { 0.0 } else { f64::INFINITY }
    } else {
        (predicted_total - actual_total as f64) / actual_total as f64
    };
    Ok(HoldoutComparison { customers: customers.len(), actual_total, predicted_total, relative_error, groups })
}

/// Split the log at `calibration_end`, fit BG/NBD on the calibration period, and compare its
/// predictions with the holdout period `(calibration_end, observation_end]`.
pub fn calibration_report(
    transactions: &[Transaction],
    calibration_end: NaiveDate,
    observation_end: NaiveDate,
    period_days: u32,
    options: &FitOptions,
) -> Result<CalibrationReport, ClvError> {
    let split = split_calibration_holdout(transactions, calibration_end, observation_end, period_days)?;
    let pairs: Vec<(History, u32)> =
        split.customers.iter().map(|c| (c.calibration.history, c.holdout_transactions)).collect();
    let histories: Vec<History> = pairs.iter().map(|p| p.0).collect();
    let fit = fit_bgnbd(&histories, options)?;
    let comparison = compare_holdout(&fit.params, &pairs, split.holdout_periods)?;
    Ok(CalibrationReport {
        calibration_end,
        observation_end,
        period_days,
        holdout_periods: split.holdout_periods,
        fit,
        comparison,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_stop_at_seven_plus() {
        let p = BgNbdParams::new(0.243, 4.414, 0.793, 2.426).unwrap();
        let customers = vec![
            (History::new(0, 0.0, 30.0).unwrap(), 1),
            (History::new(0, 0.0, 30.0).unwrap(), 0),
            (History::new(7, 25.0, 30.0).unwrap(), 5),
            (History::new(12, 29.0, 30.0).unwrap(), 9),
        ];
        let c = compare_holdout(&p, &customers, 39.0).unwrap();
        assert_eq!(c.customers, 4);
        assert_eq!(c.actual_total, 15);
        let labels: Vec<&str> = c.groups.iter().map(|g| g.calibration_repeats.as_str()).collect();
        assert_eq!(labels, ["0", "7+"]);
        assert_eq!(c.groups[1].customers, 2);
        assert_eq!(c.groups[0].actual_mean, 0.5);
        let sum: f64 = c.groups.iter().map(|g| g.predicted_total).sum();
        assert!((sum - c.predicted_total).abs() < 1e-12);
    }
}
