//! From a transaction log to what the models read: per customer, the number of repeat
//! transactions `x`, the time of the last one `t_x`, the age `T`, and the mean value of the
//! repeat transactions; the same as `summary_data_from_transaction_data` of the Python
//! `lifetimes` package.
//!
//! **Unit of time: the period**, `period_days` days long (1 = days, the default; 7 = weeks).
//! Periods are counted back from the observation end, so the last period ends exactly there. A
//! customer is born with their first transaction; that period does not count as a repeat. Every
//! later period with at least one transaction is one repeat transaction (several deposits on the
//! same day, with daily periods, count once, and their amounts are added).
//!
//! **Money**: amounts are integer minor units of one currency (cents of EUR, say). The models work
//! on them as `f64` and their outputs are estimates in the same unit, never ledger entries.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::ClvError;

/// One line of a transaction log: a deposit (or purchase) of a customer on a day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    pub customer: String,
    pub date: NaiveDate,
    /// Integer minor units of the log's single currency, never negative.
    pub amount: i64,
}

/// A customer's history as BG/NBD sees it, in periods.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// `x`: repeat transactions (transactions after the first).
    pub frequency: u32,
    /// `t_x`: time of the last repeat transaction since the first transaction (0 when `x = 0`).
    pub recency: f64,
    /// `T`: time from the first transaction to the end of observation.
    pub age: f64,
}

impl History {
    /// A checked history: finite, `0 <= t_x <= T`, and `t_x = 0` when `x = 0`.
    pub fn new(frequency: u32, recency: f64, age: f64) -> Result<Self, ClvError> {
        let h = History { frequency, recency, age };
        h.validate()?;
        Ok(h)
    }

    /// Check a history built by hand (the fields are public).
    pub fn validate(&self) -> Result<(), ClvError> {
        let bad = |reason| {
            Err(ClvError::InvalidHistory { frequency: self.frequency, recency: self.recency, age: self.age, reason })
        };
        if !self.recency.is_finite() || !self.age.is_finite() {
            return bad("times must be finite");
        }
        if self.recency < 0.0 {
            return bad("t_x must not be negative");
        }
        if self.recency > self.age {
            return bad("the last transaction cannot come after the end of observation (t_x > T)");
        }
        if self.frequency == 0 && self.recency != 0.0 {
            return bad("without repeat transactions t_x must be 0");
        }
        Ok(())
    }
}

/// The summary of one customer's transactions up to the observation end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerSummary {
    pub customer: String,
    /// The day of the first transaction (the customer's birth).
    pub first: NaiveDate,
    /// The day of the last transaction up to the observation end.
    pub last: NaiveDate,
    pub history: History,
    /// Mean value of the repeat transactions (per period), in minor units; 0 when `x = 0`.
    /// The first transaction is left out, as Gamma-Gamma is fitted on repeat spending.
    pub monetary_value: f64,
}

/// Check a period length: a whole number of days, at least one.
fn check_period(period_days: u32) -> Result<i64, ClvError> {
    if period_days == 0 {
        return Err(ClvError::InvalidParameter {
            name: "period_days",
            value: 0.0,
            reason: "a period is at least one day",
        });
    }
    Ok(i64::from(period_days))
}

/// Periods from `date` back to `end` (0 for the last period, which ends at `end`).
fn periods_before(date: NaiveDate, end: NaiveDate, period_days: i64) -> i64 {
    (end - date).num_days() / period_days
}

/// One customer's transactions in one period.
struct PeriodTotal {
    amount: i128,
    first: NaiveDate,
    last: NaiveDate,
}

/// A customer's periods, keyed by periods before the end (so the first period has the largest key).
type Periods = BTreeMap<i64, PeriodTotal>;

/// Per customer, the sum of amounts in each period. Transactions after `end` are left out.
fn periods_by_customer(
    transactions: &[Transaction],
    end: NaiveDate,
    period_days: i64,
) -> Result<BTreeMap<&str, Periods>, ClvError> {
    let mut customers: BTreeMap<&str, Periods> = BTreeMap::new();
    for t in transactions {
        if t.amount < 0 {
            return Err(ClvError::InvalidTransaction {
                customer: t.customer.clone(),
                date: t.date,
                reason: "negative amount (refunds and withdrawals do not belong in a deposit log)",
            });
        }
        if t.customer.is_empty() {
            return Err(ClvError::InvalidTransaction {
                customer: String::new(),
                date: t.date,
                reason: "empty customer id",
            });
        }
        if t.date > end {
            continue;
        }
        let period = periods_before(t.date, end, period_days);
        let slot = customers.entry(t.customer.as_str()).or_default().entry(period).or_insert(PeriodTotal {
            amount: 0,
            first: t.date,
            last: t.date,
        });
        slot.amount += i128::from(t.amount);
        slot.first = slot.first.min(t.date);
        slot.last = slot.last.max(t.date);
    }
    Ok(customers)
}

/// Summarise a transaction log as of `observation_end` (transactions after it are ignored),
/// one row per customer, sorted by customer id.
pub fn summarize(
    transactions: &[Transaction],
    observation_end: NaiveDate,
    period_days: u32,
) -> Result<Vec<CustomerSummary>, ClvError> {
    let period_days = check_period(period_days)?;
    let customers = periods_by_customer(transactions, observation_end, period_days)?;
    let mut out = Vec::with_capacity(customers.len());
    for (customer, periods) in customers {
        // Keys are periods before the end: the largest is the first period.
        let (Some((&first_key, first_period)), Some((&last_key, last_period))) =
            (periods.iter().next_back(), periods.iter().next())
        else {
            continue; // a customer is only ever created with a period
        };
        let frequency = (periods.len() - 1) as u32;
        let repeat_total: i128 = periods.iter().filter(|(k, _)| **k != first_key).map(|(_, v)| v.amount).sum();
        let monetary_value = if frequency == 0 { 0.0 } else { repeat_total as f64 / f64::from(frequency) };
        let history = History { frequency, recency: (first_key - last_key) as f64, age: first_key as f64 };
        out.push(CustomerSummary {
            customer: customer.to_string(),
            first: first_period.first,
            last: last_period.last,
            history,
            monetary_value,
        });
    }
    Ok(out)
}

/// One customer of a calibration/holdout split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitCustomer {
    /// The summary as of the end of the calibration period.
    pub calibration: CustomerSummary,
    /// Periods with at least one transaction after the calibration end, up to the observation end.
    pub holdout_transactions: u32,
}

/// A transaction log split at a cut-off, as `calibration_and_holdout_data` of `lifetimes` does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Split {
    pub calibration_end: NaiveDate,
    pub observation_end: NaiveDate,
    pub period_days: u32,
    /// Length of the holdout period, in periods.
    pub holdout_periods: f64,
    /// Customers born on or before the calibration end; later ones are not in the calibration data.
    pub customers: Vec<SplitCustomer>,
}

/// Split a log at `calibration_end`: summaries as of that day, and each of those customers'
/// repeat transactions in `(calibration_end, observation_end]`. The holdout must be a whole
/// number of periods so that periods line up on both sides of the cut-off.
pub fn split_calibration_holdout(
    transactions: &[Transaction],
    calibration_end: NaiveDate,
    observation_end: NaiveDate,
    period_days: u32,
) -> Result<Split, ClvError> {
    let days = check_period(period_days)?;
    let holdout_days = (observation_end - calibration_end).num_days();
    if holdout_days <= 0 {
        return Err(ClvError::InvalidSplit(format!(
            "the calibration end {calibration_end} must come before the observation end {observation_end}"
        )));
    }
    if holdout_days % days != 0 {
        return Err(ClvError::InvalidSplit(format!(
            "the holdout period ({holdout_days} days) must be a whole number of {days}-day periods"
        )));
    }
    let calibration = summarize(transactions, calibration_end, period_days)?;
    if calibration.is_empty() {
        return Err(ClvError::EmptyLog { context: " on or before the calibration end" });
    }
    let mut holdout: BTreeMap<&str, std::collections::BTreeSet<i64>> = BTreeMap::new();
    for t in transactions {
        if t.date > calibration_end && t.date <= observation_end {
            holdout.entry(t.customer.as_str()).or_default().insert(periods_before(t.date, observation_end, days));
        }
    }
    let customers = calibration
        .into_iter()
        .map(|c| {
            let holdout_transactions = holdout.get(c.customer.as_str()).map_or(0, |p| p.len() as u32);
            SplitCustomer { calibration: c, holdout_transactions }
        })
        .collect();
    Ok(Split {
        calibration_end,
        observation_end,
        period_days,
        holdout_periods: (holdout_days / days) as f64,
        customers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn tx(customer: &str, date: &str, amount: i64) -> Transaction {
        Transaction { customer: customer.into(), date: day(date), amount }
    }

    #[test]
    fn summaries_count_repeat_days_and_average_repeat_amounts() {
        let log = vec![
            tx("a", "2024-01-01", 1000),
            tx("a", "2024-01-01", 500), // same day as the first: still the birth period
            tx("a", "2024-01-05", 2000),
            tx("a", "2024-01-05", 1000), // same day: one repeat transaction of 3000
            tx("a", "2024-01-11", 1000),
            tx("b", "2024-01-10", 700),
            tx("c", "2024-02-01", 100), // after the end: ignored, and c does not exist yet
        ];
        let s = summarize(&log, day("2024-01-31"), 1).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].customer, "a");
        assert_eq!(s[0].history, History { frequency: 2, recency: 10.0, age: 30.0 });
        assert_eq!(s[0].monetary_value, 2000.0);
        assert_eq!((s[0].first, s[0].last), (day("2024-01-01"), day("2024-01-11")));
        assert_eq!(s[1].history, History { frequency: 0, recency: 0.0, age: 21.0 });
        assert_eq!(s[1].monetary_value, 0.0);
    }

    #[test]
    fn weekly_periods_are_counted_back_from_the_end() {
        // End 2024-01-28; weeks end on it: [01-22, 01-28] is period 0, [01-15, 01-21] period 1, ...
        let log = vec![tx("a", "2024-01-01", 10), tx("a", "2024-01-06", 10), tx("a", "2024-01-20", 10)];
        let s = summarize(&log, day("2024-01-28"), 7).unwrap();
        // 01-01 and 01-06 fall in the same week (3 weeks before the end's week), 01-20 in week 1.
        assert_eq!(s[0].history, History { frequency: 1, recency: 2.0, age: 3.0 });
    }

    #[test]
    fn bad_transactions_and_periods_are_refused() {
        let err = summarize(&[tx("a", "2024-01-01", -5)], day("2024-01-31"), 1).unwrap_err();
        assert!(err.to_string().contains("negative amount"), "{err}");
        assert!(summarize(&[tx("a", "2024-01-01", 5)], day("2024-01-31"), 0).is_err());
        assert!(History::new(0, 1.0, 2.0).is_err());
        assert!(History::new(2, 3.0, 2.0).is_err());
        assert!(History::new(2, f64::NAN, 2.0).is_err());
        assert!(History::new(2, 1.0, 2.0).is_ok());
    }

    #[test]
    fn the_split_counts_holdout_repeats_of_customers_born_before_the_cut_off() {
        let log = vec![
            tx("a", "2024-01-01", 10),
            tx("a", "2024-01-10", 10),
            tx("a", "2024-02-05", 10),
            tx("a", "2024-02-05", 10),
            tx("a", "2024-02-20", 10),
            tx("b", "2024-02-02", 10), // born in the holdout: not in the report
        ];
        let split = split_calibration_holdout(&log, day("2024-01-31"), day("2024-03-01"), 1).unwrap();
        assert_eq!(split.holdout_periods, 30.0);
        assert_eq!(split.customers.len(), 1);
        assert_eq!(split.customers[0].calibration.history, History { frequency: 1, recency: 9.0, age: 30.0 });
        assert_eq!(split.customers[0].holdout_transactions, 2);
        let err = split_calibration_holdout(&log, day("2024-01-31"), day("2024-03-01"), 7).unwrap_err();
        assert!(err.to_string().contains("whole number of 7-day periods"), "{err}");
        assert!(split_calibration_holdout(&log, day("2024-03-01"), day("2024-01-31"), 1).is_err());
    }
}
