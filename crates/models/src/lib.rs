//! Pitboss models: churn risk and lifetime value as player profile facts.
//!
//! [`refit`] reads every player and their completed deposits (through the players and payments
//! crates' public APIs), fits BG/NBD (repeat deposits and dropout) and Gamma-Gamma (deposit
//! value) by maximum likelihood with `pitboss_clv`, checks the fit on a holdout period, scores
//! every player ([`compute`] says how, including players without deposits and currencies
//! without a reference rate), and in one transaction records the fit in `clv_fits`, replaces
//! `player_predictions` and writes the audit record. A fit that cannot be made is recorded as
//! failed with its reason and leaves the last good predictions in place. [`schedule`] refits
//! every `clv_refit_hours`; the API, the `/models` page and `pitboss model refit` on demand.
//!
//! The predictions are estimates for targeting (the rule language reads them as profile facts);
//! `predicted_value` is integer minor units of the player's currency, and never goes near the
//! ledger. This crate never decides who may refit or read: the web layer asks the policies.

pub mod compute;
mod error;
mod model;
mod refit;
mod repo;
pub mod schedule;

pub use compute::{FitReport, PlayerInput, RefitSettings, Scored};
pub use error::ModelError;
pub use model::{ChurnBand, ClvFit, FitPage, FitStatus, FitTrigger, PlayerPrediction};
pub use refit::{REFITTED, Requester, refit, refit_detached};
pub use repo::{MAX_FIT_PAGE, fit, fits, last_fitted_at, latest_fit, prediction};
pub use schedule::spawn_scheduler;
