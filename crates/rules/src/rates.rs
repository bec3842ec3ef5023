//! Exchange rates, so that a threshold written in one currency holds for players of every
//! currency (never silently skipping them).

use std::collections::BTreeMap;

use pitboss_core::money::Currency;

/// Reference rates: what one major unit of each currency is worth, in millionths of a euro.
/// A currency without a rate cannot be compared with another: such a test is false for its
/// players, and the trace says why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rates {
    eur_micros: BTreeMap<Currency, i64>,
}

impl Rates {
    pub fn new() -> Rates {
        Rates::default()
    }

    /// Sets the rate of `currency`: one major unit is worth `eur_micros` millionths of a euro.
    pub fn with(mut self, currency: Currency, eur_micros: i64) -> Rates {
        if eur_micros > 0 {
            self.eur_micros.insert(currency, eur_micros);
        }
        self
    }

    fn rate(&self, c: Currency) -> Option<i64> {
        if c.as_str() == "EUR" { Some(1_000_000) } else { self.eur_micros.get(&c).copied() }
    }

    /// `amount` minor units of `from` in minor units of `to`, rounded toward zero; `None` when a
    /// rate is missing or the result is out of range.
    pub fn convert(&self, amount: i64, from: Currency, to: Currency) -> Option<i64> {
        if from == to {
            return Some(amount);
        }
        let (rf, rt) = (i128::from(self.rate(from)?), i128::from(self.rate(to)?));
        let num = i128::from(amount) * rf * 10i128.pow(to.exponent());
        let den = rt * 10i128.pow(from.exponent());
        i64::try_from(num / den).ok()
    }

    /// Every currency with a rate (EUR included).
    pub fn currencies(&self) -> Vec<Currency> {
        let mut all: Vec<Currency> = self.eur_micros.keys().copied().collect();
        if let Ok(eur) = "EUR".parse::<Currency>()
            && !all.contains(&eur)
        {
            all.push(eur);
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(code: &str) -> Currency {
        code.parse().unwrap()
    }

    #[test]
    fn conversions_respect_each_currencys_minor_units() {
        let rates = Rates::new().with(c("USD"), 920_000).with(c("JPY"), 6_100);
        assert_eq!(rates.convert(10_000, c("EUR"), c("EUR")), Some(10_000));
        // 100.00 EUR = 108.69 USD at 0.92 EUR per USD.
        assert_eq!(rates.convert(10_000, c("EUR"), c("USD")), Some(10_869));
        // 100.00 EUR = 16,393 JPY (no minor unit) at 0.0061 EUR per JPY.
        assert_eq!(rates.convert(10_000, c("EUR"), c("JPY")), Some(16_393));
        assert_eq!(rates.convert(16_393, c("JPY"), c("EUR")), Some(9_999));
        assert_eq!(rates.convert(10_000, c("EUR"), c("GBP")), None, "no rate, no answer");
    }
}
