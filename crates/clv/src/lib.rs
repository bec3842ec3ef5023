//! Pitboss CLV: churn risk and customer lifetime value models for analysts.
//!
//! From a log of deposits (customer, day, amount) it builds per-customer summaries
//! ([`summary`]), fits the BG/NBD model of repeat transactions and dropout ([`bgnbd`]) and the
//! Gamma-Gamma model of transaction values ([`gamma_gamma`]) by maximum likelihood ([`fit`]),
//! and turns them into per-customer figures: probability of being active, churn-risk band,
//! expected deposits, lifetime value ([`predict`]); [`calibration`] checks a fit against a
//! holdout period, and [`simulate`] draws synthetic customers from the models.
//!
//! This crate must never do I/O: no database, no network, no files, no clock. Callers read
//! logs and write reports. Amounts are integer minor units of **one** currency, converted to
//! `f64`; every money figure it returns is an estimate in the same unit, for analysis and
//! targeting only, and must never be posted to the ledger. Time is counted in periods of a
//! caller-chosen number of days (1 by default); parameters fitted on one period length do not
//! apply to another.

pub mod bgnbd;
pub mod calibration;
pub mod csv;
mod error;
pub mod fit;
pub mod gamma_gamma;
pub mod predict;
pub mod simulate;
pub mod special;
pub mod summary;

pub use bgnbd::BgNbdParams;
pub use calibration::{CalibrationGroup, CalibrationReport, HoldoutComparison, calibration_report, compare_holdout};
pub use csv::parse_transactions;
pub use error::ClvError;
pub use fit::{BgNbdFit, Convergence, FitOptions, GammaGammaFit, fit_bgnbd, fit_gamma_gamma};
pub use gamma_gamma::{GammaGammaParams, Spend};
pub use predict::{ChurnRisk, ChurnThresholds, ClvModel, CustomerPrediction, ModelFit, PredictionSettings, fit_model};
pub use summary::{CustomerSummary, History, Split, SplitCustomer, Transaction, split_calibration_holdout, summarize};
