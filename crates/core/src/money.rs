//! Money: integer minor units with an ISO 4217 currency. Never a float.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::ToSchema;

/// Active ISO 4217 currency codes that Pitboss accepts.
const ISO_4217: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN", "BHD", "BIF",
    "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHF", "CLF", "CLP", "CNY", "COP",
    "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL",
    "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK",
    "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD",
    "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MYR", "MZN",
    "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON",
    "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC",
    "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS",
    "VES", "VND", "VUV", "WST", "XAF", "XCD", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG",
];

const ZERO_DECIMALS: &[&str] =
    &["BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"];
const THREE_DECIMALS: &[&str] = &["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];

/// The largest amount one movement may carry, in minor units (10^15: ten trillion units of a
/// two-decimal currency). It keeps every lifetime sum far from `i64` overflow.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CurrencyError {
    #[error("'{0}' is not an ISO 4217 currency code (three upper-case letters such as EUR, USD, GBP)")]
    Unknown(String),
}

/// An ISO 4217 currency code, validated.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ToSchema)]
#[schema(value_type = String, example = "EUR")]
pub struct Currency([u8; 3]);

impl Currency {
    pub const EUR: Currency = Currency(*b"EUR");
    pub const USD: Currency = Currency(*b"USD");

    pub fn as_str(&self) -> &str {
        // Only ASCII upper-case letters ever get in (see FromStr).
        std::str::from_utf8(&self.0).unwrap_or("???")
    }

    /// Every currency Pitboss accepts.
    pub fn all() -> impl Iterator<Item = Currency> {
        ISO_4217.iter().filter_map(|c| c.parse().ok())
    }

    /// Digits after the decimal point: 2 for EUR, 0 for JPY, 3 for KWD.
    pub fn exponent(&self) -> u32 {
        let code = self.as_str();
        if ZERO_DECIMALS.contains(&code) {
            0
        } else if THREE_DECIMALS.contains(&code) {
            3
        } else if code == "CLF" {
            4
        } else {
            2
        }
    }

    /// An amount written in major units, `12.50` EUR, as minor units, 1250 (`-3` as -300): no
    /// more decimals than the currency has.
    pub fn minor_units(&self, text: &str) -> Result<i64, String> {
        let exponent = self.exponent() as usize;
        let (sign, unsigned) = text.strip_prefix('-').map_or((1, text), |rest| (-1, rest));
        let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !digits(whole) || !digits(fraction) {
            return Err(format!("`{text}` is not an amount: write digits, with a point before any decimals"));
        }
        if fraction.len() > exponent {
            return Err(format!("`{text} {self}` has more decimals than {self} has ({exponent})"));
        }
        format!("{whole}{fraction:0<exponent$}")
            .parse::<i64>()
            .ok()
            .filter(|v| *v <= MAX_AMOUNT)
            .map(|v| sign * v)
            .ok_or_else(|| format!("`{text} {self}` is larger than any amount Pitboss can hold"))
    }
}

impl FromStr for Currency {
    type Err = CurrencyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match ISO_4217.binary_search(&s) {
            Ok(i) => {
                let b = ISO_4217[i].as_bytes();
                Ok(Currency([b[0], b[1], b[2]]))
            }
            Err(_) => Err(CurrencyError::Unknown(s.to_string())),
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An amount in minor units (cents): an integer from 0 to 10^15.
// Deserialising says exactly what is wrong with a bad amount: negative, fractional,
// a string, or too large.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, ToSchema)]
#[schema(value_type = i64, example = 2500)]
pub struct Amount(i64);

impl Amount {
    pub const ZERO: Amount = Amount(0);

    pub fn new(minor: i64) -> Result<Amount, String> {
        if minor < 0 {
            Err(format!("amount must be zero or positive, got {minor}"))
        } else if minor > MAX_AMOUNT {
            Err(format!("amount {minor} is larger than the maximum of {MAX_AMOUNT} minor units"))
        } else {
            Ok(Amount(minor))
        }
    }

    pub fn minor(self) -> i64 {
        self.0
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let v = serde_json::Value::deserialize(d)?;
        let n = match &v {
            serde_json::Value::Number(n) => n,
            other => {
                return Err(D::Error::custom(format!(
                    "amount must be an integer number of minor units (e.g. 2500 for 25.00), got {other}"
                )));
            }
        };
        if let Some(i) = n.as_i64() {
            return Amount::new(i).map_err(D::Error::custom);
        }
        if n.as_u64().is_some() {
            return Err(D::Error::custom(format!("amount {n} is larger than the maximum of {MAX_AMOUNT} minor units")));
        }
        let f = n.as_f64().unwrap_or(f64::NAN);
        if f.fract() != 0.0 {
            Err(D::Error::custom(format!(
                "amount must be an integer number of minor units (e.g. 2500 for 25.00), got {n}"
            )))
        } else if f < 0.0 {
            Err(D::Error::custom(format!("amount must be zero or positive, got {n}")))
        } else {
            Err(D::Error::custom(format!("amount {n} is larger than the maximum of {MAX_AMOUNT} minor units")))
        }
    }
}

/// An amount with its currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Money {
    /// Minor units (cents for EUR).
    pub amount: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(amount: i64, currency: Currency) -> Money {
        Money { amount, currency }
    }
}

impl fmt::Display for Money {
    /// `12.34 EUR`, `1500 JPY`, `-0.05 USD`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exp = self.currency.exponent();
        if exp == 0 {
            return write!(f, "{} {}", self.amount, self.currency);
        }
        let scale = 10i64.pow(exp);
        let sign = if self.amount < 0 { "-" } else { "" };
        let abs = self.amount.unsigned_abs();
        let scale = scale as u64;
        write!(f, "{sign}{}.{:0width$} {}", abs / scale, abs % scale, self.currency, width = exp as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn major_units_become_minor_units_with_the_currency_decimals() {
        assert_eq!(Currency::EUR.minor_units("12.5"), Ok(1250));
        assert_eq!(Currency::EUR.minor_units("7"), Ok(700));
        let jpy: Currency = "JPY".parse().unwrap();
        assert_eq!(jpy.minor_units("1500"), Ok(1500));
        assert!(jpy.minor_units("1500.5").unwrap_err().contains("more decimals"));
        assert!(Currency::EUR.minor_units("1.234").unwrap_err().contains("more decimals"));
        assert_eq!(Currency::EUR.minor_units("-1.05"), Ok(-105));
        for bad in ["", "--5", "+5", "1e3", ".5", "1,5", "12.a", "1.2.3"] {
            assert!(Currency::EUR.minor_units(bad).is_err(), "{bad} is refused");
        }
        assert!(Currency::EUR.minor_units("99999999999999999999").unwrap_err().contains("larger"));
    }

    #[test]
    fn currency_list_is_sorted_so_lookup_works() {
        assert!(ISO_4217.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn accepts_iso_codes_and_refuses_others() {
        assert_eq!("EUR".parse::<Currency>().unwrap(), Currency::EUR);
        assert!("eur".parse::<Currency>().is_err());
        assert!("XXX".parse::<Currency>().is_err());
        assert!("BTC".parse::<Currency>().is_err());
    }

    #[test]
    fn formats_with_the_currency_exponent() {
        assert_eq!(Money::new(1234, Currency::EUR).to_string(), "12.34 EUR");
        assert_eq!(Money::new(-5, Currency::USD).to_string(), "-0.05 USD");
        assert_eq!(Money::new(1500, "JPY".parse().unwrap()).to_string(), "1500 JPY");
        assert_eq!(Money::new(1, "KWD".parse().unwrap()).to_string(), "0.001 KWD");
    }

    fn amount(json: &str) -> Result<Amount, String> {
        serde_json::from_str::<Amount>(json).map_err(|e| e.to_string())
    }

    #[test]
    fn amount_errors_say_what_is_wrong() {
        assert_eq!(amount("2500").unwrap().minor(), 2500);
        assert!(amount("-1").unwrap_err().contains("zero or positive"));
        assert!(amount("10.5").unwrap_err().contains("integer number of minor units"));
        assert!(amount("\"10\"").unwrap_err().contains("integer number of minor units"));
        assert!(amount("18446744073709551615").unwrap_err().contains("maximum"));
        assert!(amount("1e30").unwrap_err().contains("maximum"));
        assert!(amount("1000000000000000000").unwrap_err().contains("maximum"));
    }
}
