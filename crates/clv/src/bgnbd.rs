//! The BG/NBD model (Fader, Hardie and Lee 2005, "Counting Your Customers the Easy Way: An
//! Alternative to the Pareto/NBD Model", Marketing Science 24(2)).
//!
//! While alive, a customer transacts as a Poisson process of rate `λ`; after each repeat
//! transaction they drop out for good with probability `p`. Across customers
//! `λ ~ Gamma(shape r, rate α)` and `p ~ Beta(a, b)`. Times are in periods (see
//! [`crate::summary`]); `α` is in the same unit, so parameters fitted on days and on weeks differ
//! (`α_days ≈ 7 α_weeks`).

use serde::{Deserialize, Serialize};

use crate::special::{hyp2f1, inverse_one_plus_exp, ln_gamma, log_sum_exp};
use crate::{ClvError, History};

/// The four BG/NBD parameters, all positive.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BgNbdParams {
    /// Shape of the transaction-rate distribution.
    pub r: f64,
    /// Rate (inverse scale) of the transaction-rate distribution, in 1/period.
    pub alpha: f64,
    /// First shape of the dropout-probability distribution.
    pub a: f64,
    /// Second shape of the dropout-probability distribution.
    pub b: f64,
}

fn positive(name: &'static str, value: f64) -> Result<(), ClvError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(ClvError::InvalidParameter { name, value, reason: "must be a finite number above 0" })
    }
}

/// A horizon of prediction: finite and not negative.
pub(crate) fn check_horizon(t: f64) -> Result<(), ClvError> {
    if t.is_finite() && t >= 0.0 {
        Ok(())
    } else {
        Err(ClvError::InvalidParameter { name: "horizon", value: t, reason: "must be a finite number of periods >= 0" })
    }
}

impl BgNbdParams {
    /// Checked parameters.
    pub fn new(r: f64, alpha: f64, a: f64, b: f64) -> Result<Self, ClvError> {
        let p = BgNbdParams { r, alpha, a, b };
        p.validate()?;
        Ok(p)
    }

    /// Check parameters built by hand (the fields are public).
    pub fn validate(&self) -> Result<(), ClvError> {
        positive("r", self.r)?;
        positive("alpha", self.alpha)?;
        positive("a", self.a)?;
        positive("b", self.b)
    }

    /// The part of the log-likelihood that depends on `x` only:
    /// `ln Γ(r+x) − ln Γ(r) + r ln α + ln Γ(a+b) + ln Γ(b+x) − ln Γ(b) − ln Γ(a+b+x)`.
    fn ln_frequency_part(&self, x: f64) -> f64 {
        let BgNbdParams { r, alpha, a, b } = *self;
        ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln() + ln_gamma(a + b) + ln_gamma(b + x)
            - ln_gamma(b)
            - ln_gamma(a + b + x)
    }

    /// The log-likelihood of one customer's history, the paper's closed form:
    ///
    /// `L = B(a, b+x)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+T)^(r+x))
    ///    + δ(x>0) · B(a+1, b+x−1)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+t_x)^(r+x))`,
    ///
    /// evaluated as `ln A₁ + ln A₂ + ln(e^ln A₃ + δ e^ln A₄)` (log-sum-exp: `(α+T)^(r+x)`
    /// overflows for frequent customers). With `x = 0` the second term is absent.
    pub fn log_likelihood(&self, h: &History) -> f64 {
        let x = f64::from(h.frequency);
        self.ln_frequency_part(x) + self.ln_time_part(x, h.frequency > 0, h.recency, h.age)
    }

    /// `ln(A₃ + δ A₄)`, the part that depends on the times.
    #[inline]
    fn ln_time_part(&self, x: f64, repeat: bool, recency: f64, age: f64) -> f64 {
        let rx = self.r + x;
        let ln_a3 = -rx * (self.alpha + age).ln();
        if repeat {
            let ln_a4 = self.a.ln() - (self.b + x - 1.0).ln() - rx * (self.alpha + recency).ln();
            log_sum_exp(ln_a3, ln_a4)
        } else {
            ln_a3
        }
    }

    /// The sum of [`Self::log_likelihood`] over customers.
    pub fn total_log_likelihood(&self, histories: &[History]) -> f64 {
        histories.iter().map(|h| self.log_likelihood(h)).sum()
    }

    /// `ln` of the odds of having dropped out: `ln(a/(b+x−1)) + (r+x) ln((α+T)/(α+t_x))`.
    fn ln_dropout_odds(&self, h: &History) -> f64 {
        let x = f64::from(h.frequency);
        (self.a / (self.b + x - 1.0)).ln() + (self.r + x) * ((self.alpha + h.age).ln() - (self.alpha + h.recency).ln())
    }

    /// P(alive | x, t_x, T) (Fader, Hardie and Lee 2008, "Computing P(alive) Using the BG/NBD
    /// Model": the alive half of the likelihood over the whole):
    /// `1 / (1 + δ(x>0) a/(b+x−1) ((α+T)/(α+t_x))^(r+x))`.
    ///
    /// A customer without repeat transactions is alive with probability 1: in BG/NBD dropout
    /// only happens right after a repeat transaction. That is the model, not a bug; read
    /// their expected transactions, which do fall with age, alongside.
    pub fn p_alive(&self, h: &History) -> f64 {
        if h.frequency == 0 {
            return 1.0;
        }
        inverse_one_plus_exp(self.ln_dropout_odds(h))
    }

    /// P(alive), except that a customer without repeat transactions may also have dropped out
    /// right after their first transaction, as in the MBG/NBD model (Batislam, Denizel and
    /// Filiztekin 2007): for `x = 0`, `1 / (1 + (a/b) ((α+T)/α)^r)`; for `x > 0`, [`Self::p_alive`].
    ///
    /// Why: BG/NBD's P(alive) of a one-time customer is 1 however long ago they came, which
    /// tells a churn-risk band nothing about the (usually largest) group of customers who came
    /// once and never again. This asks, with the same fitted `p ~ Beta(a, b)` and
    /// `λ ~ Gamma(r, α)`, how likely it is that they did not drop out at their first
    /// transaction given `T` periods without another: `1 − a/(a+b)` at `T = 0`, falling with
    /// `T`. Expected transactions stay BG/NBD's (what the parameters were fitted and calibrated
    /// for); use this for the probability and band only.
    pub fn p_alive_counting_first(&self, h: &History) -> f64 {
        if h.frequency > 0 {
            return self.p_alive(h);
        }
        let ln_odds = (self.a / self.b).ln() + self.r * ((self.alpha + h.age).ln() - self.alpha.ln());
        inverse_one_plus_exp(ln_odds)
    }

    /// E[transactions in (T, T+t] | x, t_x, T], the paper's equation (10):
    ///
    /// `(a+b+x−1)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) ₂F₁(r+x, b+x; a+b+x−1; z)] · P(alive)`,
    /// with `z = t/(α+T+t)`.
    ///
    /// ₂F₁ is taken through Euler's transformation
    /// `(1−z)^(r+x) ₂F₁(r+x, b+x; c; z) = (1−z)^(a−1) ₂F₁(a+b−1−r, a−1; c; z)`: the same value,
    /// but its first two parameters no longer grow with `x`, so the series neither overflows
    /// nor needs thousands of terms for frequent customers. At `a = 1` the formula is `0/0`; the
    /// expectation is smooth in `a`, so there it is the mean of `a = 1 ± 1e-6`.
    pub fn conditional_expected_transactions(&self, h: &History, t: f64) -> Result<f64, ClvError> {
        check_horizon(t)?;
        if t == 0.0 {
            return Ok(0.0);
        }
        const NEAR_ONE: f64 = 1e-6;
        let alive = self.p_alive(h);
        let given_alive = if (self.a - 1.0).abs() < NEAR_ONE {
            let below = BgNbdParams { a: 1.0 - NEAR_ONE, ..*self }.expected_given_alive(h, t)?;
            let above = BgNbdParams { a: 1.0 + NEAR_ONE, ..*self }.expected_given_alive(h, t)?;
            0.5 * (below + above)
        } else {
            self.expected_given_alive(h, t)?
        };
        Ok(alive * given_alive)
    }

    /// Equation (10)'s numerator: expected transactions in the next `t` for a customer known alive.
    fn expected_given_alive(&self, h: &History, t: f64) -> Result<f64, ClvError> {
        let BgNbdParams { r, alpha, a, b } = *self;
        let x = f64::from(h.frequency);
        let c = a + b + x - 1.0;
        let z = t / (alpha + h.age + t);
        // ln(1 − z) = −ln(1 + t/(α+T)), exact even when z is tiny.
        let ln_one_minus_z = -(t / (alpha + h.age)).ln_1p();
        let g = ((a - 1.0) * ln_one_minus_z).exp() * hyp2f1(a + b - 1.0 - r, a - 1.0, c, z)?;
        Ok(c / (a - 1.0) * (1.0 - g))
    }

    /// E[X(t)]: expected repeat transactions in the first `t` periods of a new customer, the
    /// paper's unconditional expectation. It is equation (10) with `x = t_x = T = 0`.
    pub fn expected_transactions(&self, t: f64) -> Result<f64, ClvError> {
        self.conditional_expected_transactions(&History { frequency: 0, recency: 0.0, age: 0.0 }, t)
    }
}

/// Histories grouped for fast likelihood sums: the `ln Γ` terms depend on `x` only, and
/// identical `(t_x, T)` pairs (common with whole days) are counted once with a weight.
#[derive(Debug, Clone)]
pub(crate) struct BgNbdData {
    groups: Vec<FrequencyGroup>,
    pub(crate) customers: usize,
    pub(crate) mean_frequency: f64,
    pub(crate) mean_age: f64,
}

#[derive(Debug, Clone)]
struct FrequencyGroup {
    frequency: u32,
    weight: f64,
    /// `(t_x, T, how many customers)`.
    times: Vec<(f64, f64, f64)>,
}

impl BgNbdData {
    pub(crate) fn new(histories: &[History]) -> Result<Self, ClvError> {
        let mut by_x: std::collections::BTreeMap<u32, Vec<(f64, f64)>> = Default::default();
        for h in histories {
            h.validate()?;
            by_x.entry(h.frequency).or_default().push((h.recency, h.age));
        }
        let groups = by_x
            .into_iter()
            .map(|(frequency, mut pairs)| {
                pairs.sort_by(|p, q| p.0.total_cmp(&q.0).then(p.1.total_cmp(&q.1)));
                let mut times: Vec<(f64, f64, f64)> = Vec::new();
                for (tx, age) in pairs {
                    match times.last_mut() {
                        Some(last) if last.0 == tx && last.1 == age => last.2 += 1.0,
                        _ => times.push((tx, age, 1.0)),
                    }
                }
                let weight = times.iter().map(|t| t.2).sum();
                FrequencyGroup { frequency, weight, times }
            })
            .collect();
        let n = histories.len().max(1) as f64;
        Ok(BgNbdData {
            groups,
            customers: histories.len(),
            mean_frequency: histories.iter().map(|h| f64::from(h.frequency)).sum::<f64>() / n,
            mean_age: histories.iter().map(|h| h.age).sum::<f64>() / n,
        })
    }

    /// The total log-likelihood; the same sum as [`BgNbdParams::total_log_likelihood`].
    pub(crate) fn log_likelihood(&self, p: &BgNbdParams) -> f64 {
        let mut total = 0.0;
        for g in &self.groups {
            let x = f64::from(g.frequency);
            let mut sum = g.weight * p.ln_frequency_part(x);
            for &(tx, age, w) in &g.times {
                sum += w * p.ln_time_part(x, g.frequency > 0, tx, age);
            }
            total += sum;
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate;
    use crate::special::ln_beta;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    /// The CDNOW estimates of the paper (weeks).
    fn cdnow() -> BgNbdParams {
        BgNbdParams::new(0.243, 4.414, 0.793, 2.426).unwrap()
    }

    fn h(x: u32, tx: f64, age: f64) -> History {
        History::new(x, tx, age).unwrap()
    }

    #[test]
    fn one_time_customers_may_have_dropped_out_at_their_first_transaction() {
        let p = cdnow();
        let fresh = p.p_alive_counting_first(&h(0, 0.0, 0.0));
        assert!((fresh - p.b / (p.a + p.b)).abs() < 1e-12, "{fresh}");
        let month = p.p_alive_counting_first(&h(0, 0.0, 4.0));
        let year = p.p_alive_counting_first(&h(0, 0.0, 52.0));
        assert!(fresh > month && month > year && year > 0.0, "{fresh} {month} {year}");
        // By hand: 1 / (1 + a/b ((α+T)/α)^r).
        let by_hand = 1.0 / (1.0 + p.a / p.b * ((p.alpha + 52.0) / p.alpha).powf(p.r));
        assert!((year - by_hand).abs() < 1e-12);
        // Repeat customers keep BG/NBD's P(alive).
        assert_eq!(p.p_alive_counting_first(&h(3, 10.0, 30.0)), p.p_alive(&h(3, 10.0, 30.0)));
        assert_eq!(p.p_alive(&h(0, 0.0, 52.0)), 1.0);
    }

    /// Composite Simpson's rule with `n` (even) intervals.
    fn simpson(f: impl Fn(f64) -> f64, lo: f64, hi: f64, n: usize) -> f64 {
        let step = (hi - lo) / n as f64;
        let mut s = f(lo) + f(hi);
        for i in 1..n {
            s += f(lo + i as f64 * step) * if i % 2 == 1 { 4.0 } else { 2.0 };
        }
        s * step / 3.0
    }

    /// `∫₀¹ p^(s−1) (1−p)^(t−1) g(p) dp` for smooth `g`, by Simpson on each half after the
    /// substitutions `p = v^(3/s)` and `1−p = w^(3/t)`, which turn the endpoint factors into
    /// `v²` and `w²`: smooth, whatever the shapes.
    fn beta_integral(s: f64, t: f64, g: impl Fn(f64) -> f64) -> f64 {
        let n = 4000;
        let left = simpson(
            |v: f64| {
                let p = v.powf(3.0 / s);
                3.0 / s * v * v * (1.0 - p).powf(t - 1.0) * g(p)
            },
            0.0,
            0.5f64.powf(s / 3.0),
            n,
        );
        let right = simpson(
            |w: f64| {
                let q = w.powf(3.0 / t);
                3.0 / t * w * w * (1.0 - q).powf(s - 1.0) * g(1.0 - q)
            },
            0.0,
            0.5f64.powf(t / 3.0),
            n,
        );
        left + right
    }

    /// `E[λ^x e^(−λ s)]` for `λ ~ Gamma(r, rate α)`, by Simpson after `λ = u^(3/r)`.
    fn gamma_integral(r: f64, alpha: f64, x: f64, s: f64) -> f64 {
        let lambda_max = (3.0 * (x + r) + 60.0) / (alpha + s);
        let integral = simpson(
            |u: f64| {
                let lambda = u.powf(3.0 / r);
                3.0 / r * u * u * lambda.powf(x) * (-lambda * (alpha + s)).exp()
            },
            0.0,
            lambda_max.powf(r / 3.0),
            20_000,
        );
        integral * (r * alpha.ln() - ln_gamma(r)).exp()
    }

    /// The likelihood by direct numerical integration of the individual-level likelihood
    /// `(1−p)^x λ^x e^(−λT) + δ p (1−p)^(x−1) λ^x e^(−λ t_x)` over the Gamma and Beta mixing
    /// distributions. Returns `(ln L, ln of the alive term)`.
    fn integrated(p: &BgNbdParams, hist: &History) -> (f64, f64) {
        let x = f64::from(hist.frequency);
        let beta = (-ln_beta(p.a, p.b)).exp();
        let alive = gamma_integral(p.r, p.alpha, x, hist.age) * beta_integral(p.a, p.b, |q| (1.0 - q).powf(x)) * beta;
        let dead = if hist.frequency > 0 {
            gamma_integral(p.r, p.alpha, x, hist.recency)
                * beta_integral(p.a, p.b, |q| q * (1.0 - q).powf(x - 1.0))
                * beta
        } else {
            0.0
        };
        ((alive + dead).ln(), alive.ln())
    }

    #[test]
    fn the_closed_form_likelihood_matches_numerical_integration() {
        let other = BgNbdParams::new(1.7, 12.0, 2.5, 1.2).unwrap();
        for p in [cdnow(), other] {
            for hist in [h(0, 0.0, 38.0), h(1, 2.0, 30.0), h(2, 30.43, 38.86), h(7, 35.0, 36.0), h(3, 0.5, 60.0)] {
                let closed = p.log_likelihood(&hist);
                let (numeric, ln_alive) = integrated(&p, &hist);
                assert!((closed - numeric).abs() < 1e-7, "{p:?} {hist:?}: closed {closed}, numeric {numeric}");
                // P(alive) is the alive term's share of the likelihood.
                let share = (ln_alive - numeric).exp();
                assert!((p.p_alive(&hist) - share).abs() < 1e-7, "{hist:?}: {} vs {share}", p.p_alive(&hist));
            }
        }
    }

    #[test]
    fn the_likelihood_stays_finite_for_very_frequent_customers() {
        let p = cdnow();
        let ll = p.log_likelihood(&h(5000, 1000.0, 1000.5));
        assert!(ll.is_finite(), "{ll}");
        let e = p.conditional_expected_transactions(&h(5000, 1000.0, 1000.5), 52.0).unwrap();
        // A customer who bought 5,000 times in 1,000 weeks is about 5 a week while alive.
        assert!(e > 200.0 && e < 300.0, "{e}");
    }

    #[test]
    fn the_conditional_expectation_matches_integration_over_the_posterior() {
        // Given alive, λ | data ~ Gamma(r+x, α+T) and p | data ~ Beta(a, b+x), and
        // E[Y(t) | λ, p] = (1 − e^(−λpt))/p; integrating λ out leaves one integral over p.
        let other = BgNbdParams::new(1.7, 12.0, 2.5, 1.2).unwrap();
        let unit = BgNbdParams::new(0.5, 3.0, 1.0, 2.0).unwrap();
        for p in [cdnow(), other, unit] {
            for (hist, t) in [(h(0, 0.0, 38.0), 39.0), (h(2, 30.43, 38.86), 39.0), (h(7, 35.0, 36.0), 10.0)] {
                let x = f64::from(hist.frequency);
                let k = t / (p.alpha + hist.age);
                let g = |q: f64| {
                    if q < 1e-12 { k * (p.r + x) } else { -((-(p.r + x)) * (q * k).ln_1p()).exp_m1() / q }
                };
                let numeric = beta_integral(p.a, p.b + x, g) / ln_beta(p.a, p.b + x).exp() * p.p_alive(&hist);
                let closed = p.conditional_expected_transactions(&hist, t).unwrap();
                assert!((closed - numeric).abs() < 1e-6 * numeric.max(1.0), "{p:?} {hist:?}: {closed} vs {numeric}");
            }
        }
    }

    #[test]
    fn p_alive_and_the_conditional_expectation_match_monte_carlo() {
        // Self-normalised importance sampling: draw (λ, p) from the population, weigh each draw
        // by the individual likelihood of the history, and for draws where the customer is
        // alive at T simulate the next t periods. Tolerance: 4 Monte-Carlo standard errors.
        let p = cdnow();
        let mut rng = StdRng::seed_from_u64(7);
        let draws = 40_000;
        let population: Vec<(f64, f64)> = (0..draws).map(|_| simulate::draw_customer(&p, &mut rng).unwrap()).collect();
        for (hist, t) in [(h(0, 0.0, 32.0), 39.0), (h(1, 5.0, 32.0), 39.0), (h(2, 30.0, 35.0), 39.0)] {
            let x = hist.frequency as i32;
            let mut weights = Vec::with_capacity(draws);
            let mut alive_share = Vec::with_capacity(draws);
            let mut future = Vec::with_capacity(draws);
            for &(lambda, q) in &population {
                let alive = (1.0 - q).powi(x) * lambda.powi(x) * (-lambda * hist.age).exp();
                let dead = if x > 0 {
                    q * (1.0 - q).powi(x - 1) * lambda.powi(x) * (-lambda * hist.recency).exp()
                } else {
                    0.0
                };
                let l = alive + dead;
                weights.push(l);
                alive_share.push(if l > 0.0 { alive / l } else { 0.0 });
                future.push(f64::from(simulate::transactions_while_alive(lambda, q, t, &mut rng)));
            }
            let total: f64 = weights.iter().sum();
            let estimate = |f: &dyn Fn(usize) -> f64| {
                let mean = (0..draws).map(|i| weights[i] * f(i)).sum::<f64>() / total;
                let var = (0..draws).map(|i| (weights[i] * (f(i) - mean)).powi(2)).sum::<f64>() / total.powi(2);
                (mean, var.sqrt())
            };
            let (mc_alive, se_alive) = estimate(&|i| alive_share[i]);
            let (mc_future, se_future) = estimate(&|i| alive_share[i] * future[i]);
            let closed_alive = p.p_alive(&hist);
            let closed_future = p.conditional_expected_transactions(&hist, t).unwrap();
            assert!(
                (closed_alive - mc_alive).abs() <= 4.0 * se_alive + 1e-9,
                "{hist:?}: P(alive) {closed_alive} vs MC {mc_alive} ± {se_alive}"
            );
            assert!(
                (closed_future - mc_future).abs() <= 4.0 * se_future,
                "{hist:?}: E[Y] {closed_future} vs MC {mc_future} ± {se_future}"
            );
        }
    }

    #[test]
    fn the_unconditional_expectation_matches_simulated_customers() {
        let p = cdnow();
        let mut rng = StdRng::seed_from_u64(11);
        let n = 40_000;
        let t = 39.0;
        let counts: Vec<f64> = (0..n)
            .map(|_| {
                let (lambda, q) = simulate::draw_customer(&p, &mut rng).unwrap();
                f64::from(simulate::transactions_while_alive(lambda, q, t, &mut rng))
            })
            .collect();
        let mean = counts.iter().sum::<f64>() / n as f64;
        let sd = (counts.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / (n as f64 - 1.0)).sqrt();
        let closed = p.expected_transactions(t).unwrap();
        assert!((closed - mean).abs() <= 4.0 * sd / (n as f64).sqrt(), "{closed} vs {mean}");
        // Zero at 0, and growing with t.
        assert_eq!(p.expected_transactions(0.0).unwrap(), 0.0);
        assert!(p.expected_transactions(78.0).unwrap() > closed);
    }

    #[test]
    fn p_alive_falls_with_time_since_the_last_transaction() {
        let p = cdnow();
        assert_eq!(p.p_alive(&h(0, 0.0, 30.0)), 1.0);
        let recent = p.p_alive(&h(3, 29.0, 30.0));
        let lapsed = p.p_alive(&h(3, 5.0, 30.0));
        assert!(recent > 0.8 && lapsed < 0.1, "{recent} {lapsed}");
        let e_recent = p.conditional_expected_transactions(&h(3, 29.0, 30.0), 10.0).unwrap();
        let e_lapsed = p.conditional_expected_transactions(&h(3, 5.0, 30.0), 10.0).unwrap();
        assert!(e_lapsed < e_recent);
        assert!(p.conditional_expected_transactions(&h(3, 5.0, 30.0), -1.0).is_err());
        assert!(BgNbdParams::new(0.0, 1.0, 1.0, 1.0).is_err());
        assert!(BgNbdParams::new(1.0, f64::INFINITY, 1.0, 1.0).is_err());
    }

    #[test]
    fn grouped_sums_equal_plain_sums() {
        let hs = vec![h(0, 0.0, 10.0), h(0, 0.0, 10.0), h(2, 3.0, 10.0), h(2, 3.0, 12.0), h(5, 9.0, 9.5)];
        let data = BgNbdData::new(&hs).unwrap();
        let p = cdnow();
        assert!((data.log_likelihood(&p) - p.total_log_likelihood(&hs)).abs() < 1e-10);
        assert_eq!(data.customers, 5);
    }
}
