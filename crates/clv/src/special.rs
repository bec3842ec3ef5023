//! Special functions the models need: `ln Γ`, a stable log-sum-exp, and the Gaussian
//! hypergeometric function ₂F₁ on `0 <= z < 1`.
//!
//! `ln Γ` comes from the `libm` crate (a port of musl's `lgamma`, accurate to a few ulps), not a
//! hand-written Lanczos sum. ₂F₁ has no maintained pure-Rust crate we trust for this range, and
//! the models only need it for real parameters and `0 <= z < 1`, where the Gauss series converges;
//! so it is summed here with an explicit bound on the tail (see [`hyp2f1`]).

use crate::ClvError;

/// `ln Γ(x)` for `x > 0` (the models never need it elsewhere).
pub fn ln_gamma(x: f64) -> f64 {
    libm::lgamma(x)
}

/// `ln B(a, b) = ln Γ(a) + ln Γ(b) - ln Γ(a + b)`.
pub fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

/// `ln(e^a + e^b)` without overflow or underflow: factor out the larger term.
pub fn log_sum_exp(a: f64, b: f64) -> f64 {
    let (hi, lo) = if a >= b { (a, b) } else { (b, a) };
    if hi == f64::NEG_INFINITY {
        return f64::NEG_INFINITY;
    }
    hi + (lo - hi).exp().ln_1p()
}

/// The logistic function `1 / (1 + e^u)`, written so that neither branch overflows.
pub fn inverse_one_plus_exp(u: f64) -> f64 {
    if u > 0.0 {
        let e = (-u).exp();
        e / (1.0 + e)
    } else {
        1.0 / (1.0 + u.exp())
    }
}

/// Terms summed at most before [`hyp2f1`] gives up. At `z = 0.9999` the series needs about
/// 400,000; a model horizon that long relative to a customer's age is better refused than summed.
pub const HYP2F1_MAX_TERMS: usize = 1_000_000;

/// Relative accuracy asked of [`hyp2f1`].
const HYP2F1_EPS: f64 = 1e-15;

/// The Gauss series `₂F₁(a, b; c; z) = Σ (a)ₙ (b)ₙ / (c)ₙ zⁿ / n!` for real parameters and
/// `0 <= z < 1` (also `-1 < z < 0`), where it converges.
///
/// Convergence check: term `n+1` is term `n` times `ρₙ = z (a+n)(b+n) / ((c+n)(n+1))`, and
/// `ρₙ → z` monotonically once `n` is past the parameters. So once `n > max(|a|, |b|, |c|)` and
/// `q = max(|ρₙ|, |z|) < 1`, the rest of the series is at most `|termₙ| q / (1 - q)`; we stop when
/// that bound, for three terms running, is below `1e-15 · |sum|`. A terminating series (`a` or
/// `b` a non-positive integer) stops at its last term. Anything else after
/// [`HYP2F1_MAX_TERMS`] terms is an error, never a silently wrong number.
pub fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> Result<f64, ClvError> {
    let fail = |terms| ClvError::Hypergeometric { a, b, c, z, terms };
    if !(a.is_finite() && b.is_finite() && c.is_finite() && z.is_finite()) || z.abs() >= 1.0 {
        return Err(fail(0));
    }
    if c <= 0.0 && c.fract() == 0.0 {
        // (c)ₙ hits zero: the series is undefined.
        return Err(fail(0));
    }
    if z == 0.0 {
        return Ok(1.0);
    }
    let past_parameters = a.abs().max(b.abs()).max(c.abs());
    let mut sum = 1.0_f64;
    let mut term = 1.0_f64;
    let mut quiet = 0;
    for n in 0..HYP2F1_MAX_TERMS {
        let nf = n as f64;
        let ratio = z * (a + nf) * (b + nf) / ((c + nf) * (nf + 1.0));
        term *= ratio;
        sum += term;
        if !sum.is_finite() {
            return Err(fail(n + 1));
        }
        if term == 0.0 {
            return Ok(sum);
        }
        let q = ratio.abs().max(z.abs());
        if nf > past_parameters && q < 1.0 && term.abs() * q / (1.0 - q) <= HYP2F1_EPS * sum.abs() {
            quiet += 1;
            if quiet >= 3 {
                return Ok(sum);
            }
        } else {
            quiet = 0;
        }
    }
    Err(fail(HYP2F1_MAX_TERMS))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: f64, want: f64, rel: f64) {
        assert!((got - want).abs() <= rel * want.abs().max(1e-300), "got {got}, want {want}");
    }

    #[test]
    fn ln_gamma_matches_factorials_and_half_integers() {
        close(ln_gamma(1.0), 0.0, 1e-15);
        close(ln_gamma(5.0), 24f64.ln(), 1e-14);
        close(ln_gamma(0.5), std::f64::consts::PI.sqrt().ln(), 1e-14);
        close(ln_gamma(171.5), 709.1431630309282, 1e-13);
    }

    #[test]
    fn log_sum_exp_is_stable_at_the_extremes() {
        close(log_sum_exp(0.0, 0.0), 2f64.ln(), 1e-15);
        close(log_sum_exp(-1000.0, -1000.0), -1000.0 + 2f64.ln(), 1e-15);
        close(log_sum_exp(800.0, 0.0), 800.0, 1e-15);
        assert_eq!(log_sum_exp(-5.0, f64::NEG_INFINITY), -5.0);
        assert_eq!(log_sum_exp(f64::NEG_INFINITY, f64::NEG_INFINITY), f64::NEG_INFINITY);
        close(inverse_one_plus_exp(800.0), (-800f64).exp(), 1e-12);
        close(inverse_one_plus_exp(-800.0), 1.0, 1e-15);
    }

    #[test]
    fn hyp2f1_matches_closed_forms() {
        for z in [0.0f64, 0.1, 0.5, 0.9, 0.99, 0.999] {
            // ₂F₁(1, 1; 2; z) = -ln(1 - z) / z
            let want = if z == 0.0 { 1.0 } else { -(-z).ln_1p() / z };
            close(hyp2f1(1.0, 1.0, 2.0, z).unwrap(), want, 1e-12);
            // ₂F₁(a, b; b; z) = (1 - z)^-a
            close(hyp2f1(0.7, 3.3, 3.3, z).unwrap(), (1.0 - z).powf(-0.7), 1e-12);
            // ₂F₁(1/2, 1/2; 3/2; z²) = asin(z) / z
            let s = z.sqrt();
            let want = if z == 0.0 { 1.0 } else { s.asin() / s };
            close(hyp2f1(0.5, 0.5, 1.5, z).unwrap(), want, 1e-12);
        }
        // A terminating series: ₂F₁(-2, b; c; z) is a quadratic.
        let (b, c, z) = (1.7, 2.9, 0.6);
        let want = 1.0 - 2.0 * b * z / c + b * (b + 1.0) * z * z / (c * (c + 1.0));
        close(hyp2f1(-2.0, b, c, z).unwrap(), want, 1e-14);
        // Negative z: ₂F₁(1, 1; 2; -z) = ln(1 + z) / z.
        close(hyp2f1(1.0, 1.0, 2.0, -0.8).unwrap(), 1.8f64.ln() / 0.8, 1e-12);
    }

    #[test]
    fn hyp2f1_satisfies_euler_transformation_with_large_parameters() {
        // ₂F₁(a, b; c; z) = (1 - z)^(c-a-b) ₂F₁(c-a, c-b; c; z), the identity the BG/NBD
        // expectation relies on, with the parameter sizes of a frequent customer (x = 60).
        let (a, b, c) = (60.243, 62.426, 62.219);
        for z in [0.05, 0.3, 0.7] {
            let left = hyp2f1(a, b, c, z).unwrap();
            let right = (1.0 - z).powf(c - a - b) * hyp2f1(c - a, c - b, c, z).unwrap();
            close(left, right, 1e-10);
        }
    }

    #[test]
    fn hyp2f1_refuses_what_it_cannot_sum() {
        assert!(matches!(hyp2f1(1.0, 1.0, 2.0, 1.0), Err(ClvError::Hypergeometric { .. })));
        assert!(hyp2f1(1.0, 1.0, -3.0, 0.5).is_err());
        assert!(hyp2f1(f64::NAN, 1.0, 2.0, 0.5).is_err());
        // So slow that the budget runs out: the error says so instead of returning a partial sum.
        assert!(matches!(
            hyp2f1(1.0, 1.0, 2.0, 1.0 - 1e-9),
            Err(ClvError::Hypergeometric { terms: HYP2F1_MAX_TERMS, .. })
        ));
    }
}
