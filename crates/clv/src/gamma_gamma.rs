//! The Gamma-Gamma model of transaction values (Fader, Hardie and Lee 2005b, "RFM and CLV:
//! Using Iso-value Curves for Customer Base Analysis", after Colombo and Jiang 1999).
//!
//! Each transaction value of a customer is `Gamma(shape p, rate ν)`, so their mean value is
//! `p/ν`; across customers `ν ~ Gamma(shape q, rate γ)`. Values are independent of how often a
//! customer transacts (an assumption worth checking: the correlation of frequency and mean
//! value should be near zero).
//!
//! Values are minor units of one currency as `f64`; `γ` is in the same unit, and so are the
//! expected values, which are estimates, never amounts to post.

use serde::{Deserialize, Serialize};

use crate::ClvError;
use crate::special::ln_gamma;

/// The three Gamma-Gamma parameters, all positive.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GammaGammaParams {
    /// Shape of each transaction's value.
    pub p: f64,
    /// Shape of the distribution of `ν` across customers.
    pub q: f64,
    /// Rate of the distribution of `ν` across customers (in minor units).
    pub gamma: f64,
}

/// What Gamma-Gamma reads of a customer: `x` repeat transactions and their mean value `m_x`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spend {
    pub frequency: u32,
    /// Mean value of the `frequency` transactions, minor units.
    pub mean_value: f64,
}

impl Spend {
    /// Whether the model can use it: at least one transaction and a positive finite mean.
    pub fn usable(&self) -> bool {
        self.frequency >= 1 && self.mean_value.is_finite() && self.mean_value > 0.0
    }
}

impl GammaGammaParams {
    /// Checked parameters.
    pub fn new(p: f64, q: f64, gamma: f64) -> Result<Self, ClvError> {
        let params = GammaGammaParams { p, q, gamma };
        params.validate()?;
        Ok(params)
    }

    /// Check parameters built by hand (the fields are public).
    pub fn validate(&self) -> Result<(), ClvError> {
        for (name, value) in [("p", self.p), ("q", self.q), ("gamma", self.gamma)] {
            if !(value.is_finite() && value > 0.0) {
                return Err(ClvError::InvalidParameter { name, value, reason: "must be a finite number above 0" });
            }
        }
        Ok(())
    }

    /// The log-density of a customer's mean value `m_x` of `x` transactions:
    ///
    /// `ln Γ(px+q) − ln Γ(px) − ln Γ(q) + q ln γ + (px−1) ln m_x + px ln x − (px+q) ln(γ + x m_x)`.
    ///
    /// `−∞` for a spend the model cannot use (no transaction, or a mean that is not positive).
    pub fn log_likelihood(&self, spend: &Spend) -> f64 {
        if !spend.usable() {
            return f64::NEG_INFINITY;
        }
        let x = f64::from(spend.frequency);
        let px = self.p * x;
        self.ln_frequency_part(x) + (px - 1.0) * spend.mean_value.ln()
            - (px + self.q) * (self.gamma + x * spend.mean_value).ln()
    }

    /// The terms that depend on `x` only.
    fn ln_frequency_part(&self, x: f64) -> f64 {
        let px = self.p * x;
        ln_gamma(px + self.q) - ln_gamma(px) - ln_gamma(self.q) + self.q * self.gamma.ln() + px * x.ln()
    }

    /// The population's mean transaction value `pγ/(q−1)`; infinite when `q <= 1`.
    pub fn mean_value(&self) -> Result<f64, ClvError> {
        if self.q > 1.0 {
            Ok(self.p * self.gamma / (self.q - 1.0))
        } else {
            Err(ClvError::NoFiniteMeanValue { q: self.q })
        }
    }

    /// E[mean transaction value | x, m_x] = `p(γ + x m_x) / (px + q − 1)`: a weighted average of
    /// the population mean and the customer's own mean, the weight of their own growing with
    /// `x`. A customer without transactions (`x = 0`) gets the population mean.
    pub fn conditional_expected_value(&self, spend: &Spend) -> Result<f64, ClvError> {
        if spend.frequency == 0 {
            return self.mean_value();
        }
        if !(spend.mean_value.is_finite() && spend.mean_value >= 0.0) {
            return Err(ClvError::InvalidParameter {
                name: "mean_value",
                value: spend.mean_value,
                reason: "a mean transaction value is a finite amount >= 0",
            });
        }
        let x = f64::from(spend.frequency);
        let denominator = self.p * x + self.q - 1.0;
        if denominator <= 0.0 {
            return Err(ClvError::NoFiniteMeanValue { q: self.q });
        }
        Ok(self.p * (self.gamma + x * spend.mean_value) / denominator)
    }
}

/// Spends grouped by `x` for fast likelihood sums, with `ln m_x` computed once.
#[derive(Debug, Clone)]
pub(crate) struct GammaGammaData {
    groups: Vec<SpendGroup>,
    pub(crate) customers: usize,
    pub(crate) mean_value: f64,
}

/// The customers with the same `x`.
#[derive(Debug, Clone)]
struct SpendGroup {
    frequency: f64,
    customers: f64,
    /// `(ln m_x, x m_x)` per customer.
    values: Vec<(f64, f64)>,
}

impl GammaGammaData {
    /// The usable spends (see [`Spend::usable`]); the rest are left out.
    pub(crate) fn new(spends: &[Spend]) -> Self {
        let mut by_x: std::collections::BTreeMap<u32, Vec<(f64, f64)>> = Default::default();
        let mut total = 0.0;
        let mut customers = 0;
        for s in spends.iter().filter(|s| s.usable()) {
            by_x.entry(s.frequency).or_default().push((s.mean_value.ln(), f64::from(s.frequency) * s.mean_value));
            total += s.mean_value;
            customers += 1;
        }
        let groups = by_x
            .into_iter()
            .map(|(x, values)| SpendGroup { frequency: f64::from(x), customers: values.len() as f64, values })
            .collect();
        GammaGammaData { groups, customers, mean_value: total / (customers.max(1) as f64) }
    }

    pub(crate) fn log_likelihood(&self, params: &GammaGammaParams) -> f64 {
        let mut total = 0.0;
        for g in &self.groups {
            let px = params.p * g.frequency;
            let mut sum = g.customers * params.ln_frequency_part(g.frequency);
            for &(ln_m, xm) in &g.values {
                sum += (px - 1.0) * ln_m - (px + params.q) * (params.gamma + xm).ln();
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
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn paper() -> GammaGammaParams {
        GammaGammaParams::new(6.25, 3.74, 15.44).unwrap()
    }

    #[test]
    fn the_density_integrates_to_one_and_has_the_right_mean() {
        // m_x of x values is, given ν, Gamma(px, rate xν); mixing over ν gives the density above.
        let g = paper();
        for x in [1u32, 3, 10] {
            let (mut mass, mut mean) = (0.0, 0.0);
            let step = 0.01;
            for i in 1..200_000 {
                let m = i as f64 * step;
                let density = g.log_likelihood(&Spend { frequency: x, mean_value: m }).exp();
                mass += density * step;
                mean += m * density * step;
            }
            assert!((mass - 1.0).abs() < 1e-4, "x = {x}: mass {mass}");
            assert!((mean - g.mean_value().unwrap()).abs() < 1e-2, "x = {x}: mean {mean}");
        }
    }

    #[test]
    fn the_conditional_expectation_matches_simulated_customers() {
        // Among simulated customers with x = 2 whose mean value falls near m, the average of
        // their true mean value p/ν should be the closed form.
        let g = paper();
        let mut rng = StdRng::seed_from_u64(3);
        let expected = g.conditional_expected_value(&Spend { frequency: 2, mean_value: 30.0 }).unwrap();
        let mut truths = Vec::new();
        let nu_dist = rand_distr::Gamma::new(g.q, 1.0 / g.gamma).unwrap();
        while truths.len() < 4000 {
            let nu: f64 = rand_distr::Distribution::sample(&nu_dist, &mut rng);
            let value = rand_distr::Gamma::new(g.p, 1.0 / nu).unwrap();
            let m = (rand_distr::Distribution::sample(&value, &mut rng)
                + rand_distr::Distribution::sample(&value, &mut rng))
                / 2.0;
            if (m - 30.0).abs() < 0.5 {
                truths.push(g.p / nu);
            }
        }
        let n = truths.len() as f64;
        let mean = truths.iter().sum::<f64>() / n;
        let sd = (truths.iter().map(|t| (t - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        assert!((mean - expected).abs() < 4.0 * sd / n.sqrt() + 0.05, "closed {expected}, simulated {mean} (sd {sd})");
        // Simulation helper agrees on the population mean.
        let means: Vec<f64> = (0..20_000).map(|_| simulate::simulate_mean_value(&g, 1, &mut rng).unwrap()).collect();
        let pop = means.iter().sum::<f64>() / means.len() as f64;
        assert!((pop - g.mean_value().unwrap()).abs() < 1.5, "{pop}");
    }

    #[test]
    fn customers_without_spend_get_the_population_mean_and_bad_input_is_refused() {
        let g = paper();
        let none = Spend { frequency: 0, mean_value: 0.0 };
        assert_eq!(g.conditional_expected_value(&none).unwrap(), g.mean_value().unwrap());
        assert_eq!(g.log_likelihood(&none), f64::NEG_INFINITY);
        assert!(GammaGammaParams::new(1.0, 0.9, 1.0).unwrap().mean_value().is_err());
        assert!(g.conditional_expected_value(&Spend { frequency: 2, mean_value: f64::NAN }).is_err());
        assert!(GammaGammaParams::new(-1.0, 2.0, 1.0).is_err());
        let data = GammaGammaData::new(&[
            Spend { frequency: 2, mean_value: 30.0 },
            none,
            Spend { frequency: 1, mean_value: 10.0 },
            Spend { frequency: 2, mean_value: 12.0 },
        ]);
        assert_eq!(data.customers, 3);
        let plain: f64 = [(2, 30.0), (1, 10.0), (2, 12.0)]
            .iter()
            .map(|&(frequency, mean_value)| g.log_likelihood(&Spend { frequency, mean_value }))
            .sum();
        assert!((data.log_likelihood(&g) - plain).abs() < 1e-10);
    }
}
