//! Synthetic customers drawn from the models' own generative processes with the caller's
//! (seeded) random number generator: for parameter-recovery tests, checks of the closed forms
//! and demos. What it makes is never real data and never goes near the ledger.

use chrono::{Days, NaiveDate};
use rand::Rng;
use rand_distr::{Beta, Distribution, Exp, Gamma};

use crate::{BgNbdParams, ClvError, GammaGammaParams, History, Transaction};

fn distribution_error(name: &'static str, value: f64) -> ClvError {
    ClvError::InvalidParameter { name, value, reason: "not usable as a distribution parameter" }
}

/// Draw one customer's transaction rate `λ ~ Gamma(r, rate α)` and dropout probability
/// `p ~ Beta(a, b)`.
pub fn draw_customer<R: Rng + ?Sized>(params: &BgNbdParams, rng: &mut R) -> Result<(f64, f64), ClvError> {
    params.validate()?;
    let rate = Gamma::new(params.r, 1.0 / params.alpha).map_err(|_| distribution_error("r", params.r))?;
    let dropout = Beta::new(params.a, params.b).map_err(|_| distribution_error("a", params.a))?;
    Ok((rate.sample(rng), dropout.sample(rng)))
}

/// Times in `(0, until]` of the repeat transactions of a customer alive at time 0 with rate
/// `lambda` who drops out with probability `p` right after each one.
pub fn repeat_times<R: Rng + ?Sized>(lambda: f64, p: f64, until: f64, rng: &mut R) -> Vec<f64> {
    let mut times = Vec::new();
    if !(lambda.is_finite() && lambda > 0.0) {
        return times;
    }
    let Ok(gap) = Exp::new(lambda) else { return times };
    let mut now = 0.0;
    loop {
        now += gap.sample(rng);
        if now > until {
            return times;
        }
        times.push(now);
        if rng.random::<f64>() < p {
            return times;
        }
    }
}

/// The number of transactions in the next `t` periods of a customer alive now.
pub fn transactions_while_alive<R: Rng + ?Sized>(lambda: f64, p: f64, t: f64, rng: &mut R) -> u32 {
    repeat_times(lambda, p, t, rng).len() as u32
}

/// One new customer observed for `age` periods after their first transaction, and their
/// repeat transactions in the `holdout` periods after that.
pub fn simulate_history<R: Rng + ?Sized>(
    params: &BgNbdParams,
    age: f64,
    holdout: f64,
    rng: &mut R,
) -> Result<(History, u32), ClvError> {
    let (lambda, p) = draw_customer(params, rng)?;
    let times = repeat_times(lambda, p, age + holdout, rng);
    let calibration: Vec<f64> = times.iter().copied().filter(|t| *t <= age).collect();
    let history = History::new(calibration.len() as u32, calibration.last().copied().unwrap_or(0.0), age)?;
    Ok((history, (times.len() - calibration.len()) as u32))
}

/// One customer's mean value of `frequency` transactions: their mean-spend scale
/// `ν ~ Gamma(q, rate γ)`, then each value `~ Gamma(p, rate ν)`.
pub fn simulate_mean_value<R: Rng + ?Sized>(
    params: &GammaGammaParams,
    frequency: u32,
    rng: &mut R,
) -> Result<f64, ClvError> {
    let values = simulate_values(params, frequency, rng)?;
    Ok(values.iter().sum::<f64>() / f64::from(frequency.max(1)))
}

fn simulate_values<R: Rng + ?Sized>(params: &GammaGammaParams, n: u32, rng: &mut R) -> Result<Vec<f64>, ClvError> {
    params.validate()?;
    let nu = Gamma::new(params.q, 1.0 / params.gamma).map_err(|_| distribution_error("q", params.q))?.sample(rng);
    let value = Gamma::new(params.p, 1.0 / nu).map_err(|_| distribution_error("nu", nu))?;
    Ok((0..n).map(|_| value.sample(rng)).collect())
}

/// A whole transaction log in days: `customers` customers, ids `c000000`, ..., born on a day
/// drawn uniformly from `cohort_days` days starting at `first_day`, transacting by BG/NBD
/// (parameters per day) until `observation_end`, each amount drawn by Gamma-Gamma (in minor
/// units, rounded). Several transactions on one day stay separate lines.
pub fn simulate_transaction_log<R: Rng + ?Sized>(
    bgnbd: &BgNbdParams,
    gamma_gamma: &GammaGammaParams,
    customers: usize,
    first_day: NaiveDate,
    cohort_days: u32,
    observation_end: NaiveDate,
    rng: &mut R,
) -> Result<Vec<Transaction>, ClvError> {
    let mut log = Vec::new();
    for i in 0..customers {
        let birth = first_day + Days::new(u64::from(rng.random_range(0..cohort_days.max(1))));
        if birth > observation_end {
            continue;
        }
        let (lambda, p) = draw_customer(bgnbd, rng)?;
        let until = (observation_end - birth).num_days() as f64 + 1.0;
        let times = repeat_times(lambda, p, until, rng);
        let values = simulate_values(gamma_gamma, times.len() as u32 + 1, rng)?;
        let customer = format!("c{i:06}");
        let days = std::iter::once(0.0).chain(times.iter().copied());
        for (t, value) in days.zip(values) {
            let date = birth + Days::new(t.floor() as u64);
            if date <= observation_end {
                log.push(Transaction { customer: customer.clone(), date, amount: value.round() as i64 });
            }
        }
    }
    Ok(log)
}
