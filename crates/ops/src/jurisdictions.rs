//! Jurisdiction profiles: the responsible-gambling numbers each regulator sets (cooling-off
//! before a limit rises, the time-outs and self-exclusions a player may choose, deposit caps),
//! read from `profiles/jurisdictions.toml`, which is compiled into the binary.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use pitboss_core::money::Currency;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::OpsError;

const SHIPPED: &str = include_str!("../profiles/jurisdictions.toml");

/// An amount in a currency, as the profiles write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Cap {
    /// Minor units.
    pub amount: i64,
    pub currency: Currency,
}

/// One regulator's rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Filled from the table's key, e.g. `ukgc`.
    #[serde(default)]
    pub code: String,
    pub name: String,
    /// ISO 3166-1 alpha-2 countries whose players it holds by default.
    pub countries: Vec<String>,
    /// How long a player's limit increase or removal waits before it applies.
    pub limit_increase_cooling_off_hours: u32,
    /// Time-outs a player may choose, in days.
    pub timeout_days: Vec<u32>,
    /// Any time-out up to this many days is allowed too.
    pub timeout_max_days: Option<u32>,
    pub self_exclusion_min_days: u32,
    pub self_exclusion_max_days: Option<u32>,
    /// Whether a self-exclusion without end may be chosen.
    pub self_exclusion_permanent: bool,
    /// A deposit cap per calendar month that no player limit can exceed.
    pub monthly_deposit_cap: Option<Cap>,
    /// The reality-check interval in minutes when neither the player nor an operator set one;
    /// none: no reality check unless one is set.
    #[serde(default)]
    pub reality_check_minutes: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    default: String,
    profiles: BTreeMap<String, Profile>,
}

/// Every profile, and the one for players no profile claims by country.
#[derive(Debug, Clone)]
pub struct Jurisdictions {
    profiles: BTreeMap<String, Profile>,
    default: String,
}

impl Jurisdictions {
    /// The shipped profiles (checked by a test, so this cannot fail at run time).
    pub fn shipped() -> &'static Jurisdictions {
        static SHIPPED_PROFILES: OnceLock<Jurisdictions> = OnceLock::new();
        SHIPPED_PROFILES
            .get_or_init(|| Jurisdictions::parse(SHIPPED).expect("the shipped jurisdiction profiles are valid"))
    }

    /// Reads and checks a profiles file.
    pub fn parse(text: &str) -> Result<Jurisdictions, OpsError> {
        let file: File = toml::from_str(text)
            .map_err(|e| OpsError::invalid("jurisdictions", format!("the profiles do not read: {e}")))?;
        let mut profiles = BTreeMap::new();
        for (code, mut p) in file.profiles {
            let bad = |m: &str| OpsError::invalid("jurisdictions", format!("profile {code}: {m}"));
            if p.timeout_days.is_empty() && p.timeout_max_days.is_none() {
                return Err(bad("offers no time-out"));
            }
            if p.timeout_days.contains(&0) || p.self_exclusion_min_days == 0 {
                return Err(bad("a time-out or self-exclusion of zero days"));
            }
            if p.self_exclusion_max_days.is_some_and(|max| max < p.self_exclusion_min_days) {
                return Err(bad("its longest self-exclusion is shorter than its shortest"));
            }
            if p.monthly_deposit_cap.is_some_and(|c| c.amount <= 0) {
                return Err(bad("a deposit cap must be positive"));
            }
            p.code = code.clone();
            profiles.insert(code, p);
        }
        if !profiles.contains_key(&file.default) {
            return Err(OpsError::invalid(
                "jurisdictions",
                format!("the default profile {} is not defined", file.default),
            ));
        }
        Ok(Jurisdictions { profiles, default: file.default })
    }

    pub fn get(&self, code: &str) -> Option<&Profile> {
        self.profiles.get(code)
    }

    pub fn all(&self) -> impl Iterator<Item = &Profile> {
        self.profiles.values()
    }

    /// The profile that holds a player of `country` with no profile chosen.
    pub fn for_country(&self, country: &str) -> &Profile {
        self.profiles
            .values()
            .find(|p| p.countries.iter().any(|c| c.eq_ignore_ascii_case(country)))
            .unwrap_or(&self.profiles[&self.default])
    }
}

impl Profile {
    /// Whether a time-out of `days` is one the player may choose.
    pub fn allows_timeout(&self, days: u32) -> bool {
        days > 0 && (self.timeout_days.contains(&days) || self.timeout_max_days.is_some_and(|max| days <= max))
    }

    /// Why a self-exclusion of `days` (`None`: without end) is not allowed, if it is not.
    pub fn refuses_self_exclusion(&self, days: Option<u32>) -> Option<String> {
        match days {
            None if !self.self_exclusion_permanent => Some(format!("{} has no self-exclusion without end", self.name)),
            None => None,
            Some(d) if d < self.self_exclusion_min_days => {
                Some(format!("{} requires at least {} days", self.name, self.self_exclusion_min_days))
            }
            Some(d) if self.self_exclusion_max_days.is_some_and(|max| d > max) => Some(format!(
                "{} allows at most {} days; choose a self-exclusion without end instead",
                self.name,
                self.self_exclusion_max_days.unwrap_or_default()
            )),
            Some(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_profiles_hold_the_regulators_numbers() {
        let j = Jurisdictions::parse(SHIPPED).unwrap();
        let ukgc = j.get("ukgc").unwrap();
        assert_eq!(ukgc.limit_increase_cooling_off_hours, 24);
        assert!([1, 7, 30, 42].iter().all(|d| ukgc.allows_timeout(*d)));
        assert!(!ukgc.allows_timeout(43) && !ukgc.allows_timeout(0));
        assert!(ukgc.refuses_self_exclusion(Some(182)).is_some());
        assert!(ukgc.refuses_self_exclusion(Some(183)).is_none() && ukgc.refuses_self_exclusion(None).is_none());
        let ggl = j.get("ggl").unwrap();
        assert_eq!(ggl.monthly_deposit_cap, Some(Cap { amount: 100_000, currency: "EUR".parse().unwrap() }));
        assert!(j.get("mga").is_some());
        assert_eq!(j.for_country("de").code, "ggl");
        assert_eq!(j.for_country("MT").code, "mga");
        assert_eq!(j.for_country("SE").code, "ukgc", "the default holds everyone else");
    }

    #[test]
    fn a_profile_that_makes_no_sense_is_refused_with_its_name() {
        let base = SHIPPED.replace("default = \"ukgc\"", "default = \"nowhere\"");
        assert!(Jurisdictions::parse(&base).unwrap_err().to_string().contains("nowhere"));
        let short = SHIPPED.replacen("self_exclusion_max_days = 1826", "self_exclusion_max_days = 10", 1);
        assert!(Jurisdictions::parse(&short).unwrap_err().to_string().contains("ukgc"));
        let unknown = format!("{SHIPPED}\n[profiles.x]\nname = \"x\"\nsurprise = 1\n");
        assert!(Jurisdictions::parse(&unknown).is_err());
    }
}
