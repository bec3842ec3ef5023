//! Maximum-likelihood fitting of both models.
//!
//! **Optimiser: Nelder–Mead from the `argmin` crate**, on the logarithms of the parameters so
//! that every point it tries is a valid (positive) parameter set. Why Nelder–Mead: the
//! likelihoods are cheap, smooth and have 3–4 parameters, where it is robust, needs no
//! gradient (no digamma functions to get right), and is what the reference implementation
//! (`lifetimes`) uses, so fits are comparable. Nelder–Mead can stall on a flat ridge, so each fit
//! is restarted from its best point with a fresh, smaller simplex until a restart no longer
//! improves the objective; the objective is the mean negative log-likelihood per customer, so
//! the tolerance means the same whatever the number of customers.

use std::cell::Cell;

use argmin::core::{CostFunction, Executor, State, TerminationReason, TerminationStatus};
use argmin::solver::neldermead::NelderMead;
use serde::{Deserialize, Serialize};

use crate::bgnbd::BgNbdData;
use crate::gamma_gamma::GammaGammaData;
use crate::{BgNbdParams, ClvError, GammaGammaParams, History, Spend};

/// Fewest customers a BG/NBD fit accepts (4 parameters; far more are needed for precise ones).
pub const MIN_CUSTOMERS_BGNBD: usize = 20;
/// Fewest customers with repeat transactions a Gamma-Gamma fit accepts.
pub const MIN_CUSTOMERS_GAMMA_GAMMA: usize = 10;

/// How hard to try.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FitOptions {
    /// Nelder–Mead iterations per run.
    pub max_iterations: u64,
    /// Convergence: the standard deviation of the simplex's objective values, and the
    /// improvement a restart must fall under (mean log-likelihood per customer).
    pub tolerance: f64,
    /// Restarts from the best point after the first run.
    pub max_restarts: u32,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions { max_iterations: 5_000, tolerance: 1e-10, max_restarts: 4 }
    }
}

/// What the optimiser did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Convergence {
    /// The last run met the tolerance and its restart found nothing better.
    pub converged: bool,
    /// Nelder–Mead iterations over all runs.
    pub iterations: u64,
    /// Likelihood evaluations over all runs.
    pub evaluations: u64,
    /// Restarts made after the first run.
    pub restarts: u32,
    /// Why the last run stopped.
    pub termination: String,
}

/// A fitted BG/NBD model and how it was fitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BgNbdFit {
    pub params: BgNbdParams,
    /// Total log-likelihood at the estimate.
    pub log_likelihood: f64,
    pub customers: usize,
    pub convergence: Convergence,
    /// Signs the estimate should not be trusted as is (empty when none).
    pub warnings: Vec<String>,
}

/// A fitted Gamma-Gamma model and how it was fitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GammaGammaFit {
    pub params: GammaGammaParams,
    pub log_likelihood: f64,
    /// Customers used: at least one repeat transaction and a positive mean value.
    pub customers: usize,
    /// Customers left out (no repeat transaction, or a mean value of 0).
    pub skipped: usize,
    pub convergence: Convergence,
    pub warnings: Vec<String>,
}

/// Objective values that are not finite (parameters so extreme that `ln Γ` or a power
/// overflows) become this: worse than any real point, yet finite so that the simplex's
/// arithmetic stays sound.
const PENALTY: f64 = 1e100;

/// The objective as argmin wants it, counting its evaluations.
struct Objective<'a, F: Fn(&[f64]) -> f64>(F, &'a Cell<u64>);

impl<F: Fn(&[f64]) -> f64> CostFunction for Objective<'_, F> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, theta: &Vec<f64>) -> Result<f64, argmin::core::Error> {
        self.1.set(self.1.get() + 1);
        let value = (self.0)(theta);
        Ok(if value.is_finite() { value } else { PENALTY })
    }
}

/// Minimise `objective` from `start` by Nelder–Mead with restarts; returns the best point, its
/// value, and what happened.
fn minimize(
    model: &'static str,
    objective: impl Fn(&[f64]) -> f64 + Copy,
    start: Vec<f64>,
    options: &FitOptions,
) -> Result<(Vec<f64>, f64, Convergence), ClvError> {
    let failed = |message: String| ClvError::Optimiser { model, message };
    if !(options.tolerance.is_finite() && options.tolerance > 0.0) {
        return Err(ClvError::InvalidParameter {
            name: "tolerance",
            value: options.tolerance,
            reason: "must be a finite number above 0",
        });
    }
    let evaluations = Cell::new(0);
    let mut best = start;
    let mut best_cost = Objective(objective, &evaluations).cost(&best).map_err(|e| failed(e.to_string()))?;
    if best_cost >= PENALTY {
        return Err(failed("the likelihood is not finite at the starting point".into()));
    }
    let mut report =
        Convergence { converged: false, iterations: 0, evaluations: 0, restarts: 0, termination: String::new() };
    for run in 0..=options.max_restarts {
        // A simplex around the best point: wide at first (the start is a guess), then narrow.
        let step = if run == 0 { 0.5 } else { 0.1 };
        let mut simplex = vec![best.clone()];
        for i in 0..best.len() {
            let mut vertex = best.clone();
            vertex[i] += step;
            simplex.push(vertex);
        }
        let solver =
            NelderMead::new(simplex).with_sd_tolerance(options.tolerance).map_err(|e| failed(e.to_string()))?;
        let result = Executor::new(Objective(objective, &evaluations), solver)
            .configure(|state| state.max_iters(options.max_iterations))
            .run()
            .map_err(|e| failed(e.to_string()))?;
        let state = result.state();
        report.iterations += state.get_iter();
        report.evaluations = evaluations.get();
        report.restarts = run;
        let converged_run =
            matches!(state.get_termination_status(), TerminationStatus::Terminated(TerminationReason::SolverConverged));
        report.termination = match state.get_termination_reason() {
            Some(reason) => reason.text().to_string(),
            None => "not terminated".to_string(),
        };
        let cost = state.get_best_cost();
        let improvement = best_cost - cost;
        if cost < best_cost
            && let Some(param) = state.get_best_param()
        {
            best = param.clone();
            best_cost = cost;
        }
        if run > 0 && converged_run && improvement <= options.tolerance * (1.0 + best_cost.abs()) {
            report.converged = true;
            break;
        }
    }
    Ok((best, best_cost, report))
}

/// Warn about parameters that ran off towards 0 or infinity: the data do not pin them down.
fn boundary_warnings(names: &[&str], values: &[f64]) -> Vec<String> {
    names
        .iter()
        .zip(values)
        .filter(|(_, v)| v.ln().abs() > 15.0)
        .map(|(name, v)| {
            format!("{name} = {v:e} ran towards the edge of its range: the data hardly identify it, so predictions that depend on it are unreliable")
        })
        .collect()
}

fn not_converged_warning(c: &Convergence) -> Option<String> {
    (!c.converged)
        .then(|| format!("the optimiser did not converge ({}); raise max_iterations or check the data", c.termination))
}

/// Fit BG/NBD by maximum likelihood to customers' histories (all of them: customers with no
/// repeat transaction carry information too).
pub fn fit_bgnbd(histories: &[History], options: &FitOptions) -> Result<BgNbdFit, ClvError> {
    if histories.len() < MIN_CUSTOMERS_BGNBD {
        return Err(ClvError::TooFewCustomers { model: "BG/NBD", needed: MIN_CUSTOMERS_BGNBD, got: histories.len() });
    }
    if histories.iter().all(|h| h.frequency == 0) {
        return Err(ClvError::NoRepeatTransactions { customers: histories.len() });
    }
    let data = BgNbdData::new(histories)?;
    let n = data.customers as f64;
    let params =
        |theta: &[f64]| BgNbdParams { r: theta[0].exp(), alpha: theta[1].exp(), a: theta[2].exp(), b: theta[3].exp() };
    let objective = |theta: &[f64]| -data.log_likelihood(&params(theta)) / n;
    // Start at r = a = b = 1 and α matching the observed mean rate (E[λ] = r/α).
    let alpha0 = data.mean_age.max(1.0) / data.mean_frequency.max(0.01);
    let (theta, _, convergence) = minimize("BG/NBD", objective, vec![0.0, alpha0.ln(), 0.0, 0.0], options)?;
    let params = params(&theta);
    let mut warnings = boundary_warnings(&["r", "alpha", "a", "b"], &[params.r, params.alpha, params.a, params.b]);
    warnings.extend(not_converged_warning(&convergence));
    Ok(BgNbdFit {
        params,
        log_likelihood: data.log_likelihood(&params),
        customers: data.customers,
        convergence,
        warnings,
    })
}

/// Fit Gamma-Gamma by maximum likelihood to customers' repeat spending. Spends the model cannot
/// use (no repeat transaction, mean value 0) are left out and counted in `skipped`.
pub fn fit_gamma_gamma(spends: &[Spend], options: &FitOptions) -> Result<GammaGammaFit, ClvError> {
    let data = GammaGammaData::new(spends);
    if data.customers < MIN_CUSTOMERS_GAMMA_GAMMA {
        return Err(ClvError::TooFewCustomers {
            model: "Gamma-Gamma (customers with a repeat transaction of positive value)",
            needed: MIN_CUSTOMERS_GAMMA_GAMMA,
            got: data.customers,
        });
    }
    let n = data.customers as f64;
    let params = |theta: &[f64]| GammaGammaParams { p: theta[0].exp(), q: theta[1].exp(), gamma: theta[2].exp() };
    let objective = |theta: &[f64]| -data.log_likelihood(&params(theta)) / n;
    // Start at p = 1, q = 2 and γ = the observed mean, so that the start's mean pγ/(q−1) fits.
    let start = vec![0.0, 2f64.ln(), data.mean_value.ln()];
    let (theta, _, convergence) = minimize("Gamma-Gamma", objective, start, options)?;
    let params = params(&theta);
    // γ is in money units, so judge it relative to the data's mean value.
    let mut warnings =
        boundary_warnings(&["p", "q", "gamma / mean value"], &[params.p, params.q, params.gamma / data.mean_value]);
    if params.q <= 1.0 {
        warnings.push(format!(
            "q = {} <= 1: the population mean value is infinite; customers without repeat transactions cannot be valued",
            params.q
        ));
    }
    warnings.extend(not_converged_warning(&convergence));
    Ok(GammaGammaFit {
        params,
        log_likelihood: data.log_likelihood(&params),
        customers: data.customers,
        skipped: spends.len() - data.customers,
        convergence,
        warnings,
    })
}
