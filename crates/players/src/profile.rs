//! The profile's fields, their allowed values, and the validation both the API and events pass.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use pitboss_core::Currency;
use pitboss_core::event::{Consents, PlayerRegistered, PlayerUpdated};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::PlayerError;

pitboss_core::string_enum!(
    /// Whether the account may play.
    PlayerStatus { Active => "active", Blocked => "blocked", SelfExcluded => "self_excluded", Closed => "closed" }
);
pitboss_core::string_enum!(
    /// Where the player stands in identity verification.
    KycStatus { None => "none", Pending => "pending", Verified => "verified", Rejected => "rejected" }
);
pitboss_core::string_enum!(
    Gender { Male => "male", Female => "female", Other => "other", Undisclosed => "undisclosed" }
);

/// The master profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Player {
    pub id: Uuid,
    /// The casino platform's id for this player.
    pub external_id: String,
    /// The brand (site or skin) the player belongs to, e.g. `main`.
    #[schema(example = "main")]
    pub brand: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub birth_date: Option<NaiveDate>,
    pub gender: Option<Gender>,
    pub country: String,
    pub language: Option<String>,
    pub currency: Currency,
    pub registered_at: DateTime<Utc>,
    pub traffic_source: Option<String>,
    pub affiliate_id: Option<String>,
    pub campaign: Option<String>,
    pub consents: Consents,
    pub status: PlayerStatus,
    pub kyc_status: KycStatus,
    pub vip_tier: String,
    pub tags: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Increases with every change; send it back as `expected_version` to update safely.
    pub version: i64,
}

/// A profile to create.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NewPlayer {
    pub external_id: String,
    /// The brand (site or skin): 1 to 64 of `a-z`, `0-9`, `_`, `-` (lower-cased); `main` if left out.
    #[serde(default)]
    #[schema(example = "main")]
    pub brand: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub birth_date: Option<NaiveDate>,
    pub gender: Option<Gender>,
    /// ISO 3166-1 alpha-2, e.g. `DE`.
    pub country: String,
    /// ISO 639-1, e.g. `de`.
    pub language: Option<String>,
    pub currency: Currency,
    /// Defaults to now.
    pub registered_at: Option<DateTime<Utc>>,
    pub traffic_source: Option<String>,
    pub affiliate_id: Option<String>,
    pub campaign: Option<String>,
    #[serde(default)]
    pub consents: Consents,
    #[serde(default)]
    pub tags: Vec<String>,
}

/// Changes to a profile; fields left out stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct PlayerPatch {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub birth_date: Option<NaiveDate>,
    pub gender: Option<Gender>,
    pub country: Option<String>,
    pub language: Option<String>,
    pub traffic_source: Option<String>,
    pub affiliate_id: Option<String>,
    pub campaign: Option<String>,
    pub consents: Option<Consents>,
    pub status: Option<PlayerStatus>,
    pub kyc_status: Option<KycStatus>,
    pub vip_tier: Option<String>,
    /// Replaces the whole tag set.
    pub tags: Option<Vec<String>>,
    /// Moves the player to another brand (site or skin), e.g. when the platform moves an account.
    pub brand: Option<String>,
    /// When given, the update applies only if the profile is still at this version.
    pub expected_version: Option<i64>,
}

impl Player {
    /// This profile as a `player.registered` payload, for announcing an API-made player.
    pub fn as_registered(&self) -> PlayerRegistered {
        PlayerRegistered {
            email: self.email.clone(),
            phone: self.phone.clone(),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            birth_date: self.birth_date,
            gender: self.gender.map(|g| g.as_str().to_string()),
            country: self.country.clone(),
            language: self.language.clone(),
            currency: self.currency,
            registered_at: Some(self.registered_at),
            traffic_source: self.traffic_source.clone(),
            affiliate_id: self.affiliate_id.clone(),
            campaign: self.campaign.clone(),
            consents: self.consents,
            tags: self.tags.clone(),
            brand: Some(self.brand.clone()),
        }
    }

    /// This profile as a `player.updated` payload carrying every field's current value.
    pub fn as_update(&self) -> PlayerUpdated {
        PlayerUpdated {
            email: self.email.clone(),
            phone: self.phone.clone(),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            birth_date: self.birth_date,
            gender: self.gender.map(|g| g.as_str().to_string()),
            country: Some(self.country.clone()),
            language: self.language.clone(),
            traffic_source: self.traffic_source.clone(),
            affiliate_id: self.affiliate_id.clone(),
            campaign: self.campaign.clone(),
            consents: Some(self.consents),
            status: Some(self.status.as_str().to_string()),
            kyc_status: Some(self.kyc_status.as_str().to_string()),
            vip_tier: Some(self.vip_tier.clone()),
            tags: Some(self.tags.clone()),
            brand: Some(self.brand.clone()),
        }
    }
}

impl NewPlayer {
    /// A profile with only what every player has: the platform's id, country and currency.
    pub fn new(external_id: &str, country: &str, currency: Currency) -> NewPlayer {
        NewPlayer {
            external_id: external_id.to_string(),
            brand: None,
            email: None,
            phone: None,
            first_name: None,
            last_name: None,
            birth_date: None,
            gender: None,
            country: country.to_string(),
            language: None,
            currency,
            registered_at: None,
            traffic_source: None,
            affiliate_id: None,
            campaign: None,
            consents: Consents::default(),
            tags: vec![],
        }
    }

    /// The profile a `player.registered` event describes.
    pub fn from_event(
        external_id: &str,
        occurred_at: DateTime<Utc>,
        e: &PlayerRegistered,
    ) -> Result<NewPlayer, PlayerError> {
        Ok(NewPlayer {
            external_id: external_id.to_string(),
            brand: e.brand.clone(),
            email: e.email.clone(),
            phone: e.phone.clone(),
            first_name: e.first_name.clone(),
            last_name: e.last_name.clone(),
            birth_date: e.birth_date,
            gender: parse_opt(e.gender.as_deref(), "gender")?,
            country: e.country.clone(),
            language: e.language.clone(),
            currency: e.currency,
            registered_at: Some(e.registered_at.unwrap_or(occurred_at)),
            traffic_source: e.traffic_source.clone(),
            affiliate_id: e.affiliate_id.clone(),
            campaign: e.campaign.clone(),
            consents: e.consents,
            tags: e.tags.clone(),
        })
    }

    /// Checks every field and brings it to its stored form (emails lower-cased, codes upper/lower).
    pub fn normalized(mut self, today: NaiveDate) -> Result<NewPlayer, PlayerError> {
        self.external_id = label(&self.external_id, "external_id")?;
        self.brand = Some(brand(self.brand.as_deref().unwrap_or(DEFAULT_BRAND))?);
        self.email = self.email.as_deref().map(email).transpose()?;
        self.phone = self.phone.as_deref().map(phone).transpose()?;
        self.first_name = self.first_name.as_deref().map(|n| name(n, "first_name")).transpose()?;
        self.last_name = self.last_name.as_deref().map(|n| name(n, "last_name")).transpose()?;
        if let Some(d) = self.birth_date {
            birth_date(d, today)?;
        }
        self.country = country(&self.country)?;
        self.language = self.language.as_deref().map(language).transpose()?;
        self.traffic_source = self.traffic_source.as_deref().map(|s| label(s, "traffic_source")).transpose()?;
        self.affiliate_id = self.affiliate_id.as_deref().map(|s| label(s, "affiliate_id")).transpose()?;
        self.campaign = self.campaign.as_deref().map(|s| label(s, "campaign")).transpose()?;
        self.tags = tags(&self.tags)?;
        Ok(self)
    }
}

impl PlayerPatch {
    /// The change a `player.updated` event describes.
    pub fn from_event(e: &PlayerUpdated) -> Result<PlayerPatch, PlayerError> {
        Ok(PlayerPatch {
            email: e.email.clone(),
            phone: e.phone.clone(),
            first_name: e.first_name.clone(),
            last_name: e.last_name.clone(),
            birth_date: e.birth_date,
            gender: parse_opt(e.gender.as_deref(), "gender")?,
            country: e.country.clone(),
            language: e.language.clone(),
            traffic_source: e.traffic_source.clone(),
            affiliate_id: e.affiliate_id.clone(),
            campaign: e.campaign.clone(),
            consents: e.consents,
            status: parse_opt(e.status.as_deref(), "status")?,
            kyc_status: parse_opt(e.kyc_status.as_deref(), "kyc_status")?,
            vip_tier: e.vip_tier.clone(),
            tags: e.tags.clone(),
            brand: e.brand.clone(),
            expected_version: None,
        })
    }

    /// The profile with this patch applied, validated.
    pub fn apply_to(&self, p: &Player, today: NaiveDate) -> Result<Player, PlayerError> {
        let mut n = p.clone();
        if let Some(v) = &self.email {
            n.email = Some(email(v)?);
        }
        if let Some(v) = &self.phone {
            n.phone = Some(phone(v)?);
        }
        if let Some(v) = &self.first_name {
            n.first_name = Some(name(v, "first_name")?);
        }
        if let Some(v) = &self.last_name {
            n.last_name = Some(name(v, "last_name")?);
        }
        if let Some(d) = self.birth_date {
            birth_date(d, today)?;
            n.birth_date = Some(d);
        }
        if let Some(g) = self.gender {
            n.gender = Some(g);
        }
        if let Some(v) = &self.country {
            n.country = country(v)?;
        }
        if let Some(v) = &self.language {
            n.language = Some(language(v)?);
        }
        if let Some(v) = &self.traffic_source {
            n.traffic_source = Some(label(v, "traffic_source")?);
        }
        if let Some(v) = &self.affiliate_id {
            n.affiliate_id = Some(label(v, "affiliate_id")?);
        }
        if let Some(v) = &self.campaign {
            n.campaign = Some(label(v, "campaign")?);
        }
        if let Some(c) = self.consents {
            n.consents = c;
        }
        if let Some(s) = self.status {
            n.status = s;
        }
        if let Some(k) = self.kyc_status {
            n.kyc_status = k;
        }
        if let Some(v) = &self.vip_tier {
            n.vip_tier = tag(v, "vip_tier")?;
        }
        if let Some(t) = &self.tags {
            n.tags = tags(t)?;
        }
        if let Some(v) = &self.brand {
            n.brand = brand(v)?;
        }
        Ok(n)
    }
}

fn parse_opt<T: FromStr<Err = String>>(v: Option<&str>, field: &'static str) -> Result<Option<T>, PlayerError> {
    v.map(|s| s.parse().map_err(|m| PlayerError::invalid(field, m))).transpose()
}

fn label(s: &str, field: &'static str) -> Result<String, PlayerError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(PlayerError::invalid(field, "must not be empty"));
    }
    if s.chars().count() > 200 {
        return Err(PlayerError::invalid(field, "must be at most 200 characters"));
    }
    Ok(s.to_string())
}

fn name(s: &str, field: &'static str) -> Result<String, PlayerError> {
    let s = label(s, field)?;
    if s.chars().any(|c| c.is_control()) {
        return Err(PlayerError::invalid(field, "must not contain control characters"));
    }
    Ok(s)
}

/// Lower-cased; one `@` with a dotted domain after it. Deliverability is the mail module's job.
pub fn email(s: &str) -> Result<String, PlayerError> {
    let s = s.trim().to_lowercase();
    let valid = s.len() <= 254
        && !s.chars().any(char::is_whitespace)
        && matches!(s.split_once('@'), Some((local, domain))
            if !local.is_empty() && !domain.contains('@') && domain.contains('.')
               && !domain.starts_with('.') && !domain.ends_with('.'));
    if valid { Ok(s) } else { Err(PlayerError::invalid("email", format!("'{s}' is not an email address"))) }
}

/// E.164: `+`, then 7 to 15 digits; spaces, dashes, dots and brackets are dropped.
pub fn phone(s: &str) -> Result<String, PlayerError> {
    let cleaned: String = s.chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')')).collect();
    let digits = cleaned.strip_prefix('+').unwrap_or("");
    if (7..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit()) && !digits.starts_with('0') {
        Ok(cleaned)
    } else {
        Err(PlayerError::invalid("phone", format!("'{s}' is not an E.164 number such as +4915112345678")))
    }
}

/// ISO 3166-1 alpha-2, stored upper-case.
pub fn country(s: &str) -> Result<String, PlayerError> {
    let up = s.trim().to_ascii_uppercase();
    if up.len() == 2 && up.chars().all(|c| c.is_ascii_uppercase()) {
        Ok(up)
    } else {
        Err(PlayerError::invalid("country", format!("'{s}' is not an ISO 3166-1 alpha-2 code such as DE or GB")))
    }
}

/// ISO 639-1, optionally with a region (`pt-BR`), stored as given in case.
pub fn language(s: &str) -> Result<String, PlayerError> {
    let s = s.trim();
    let (lang, region) = match s.split_once(['-', '_']) {
        Some((l, r)) => (l, Some(r)),
        None => (s, None),
    };
    let lang_ok = lang.len() == 2 && lang.chars().all(|c| c.is_ascii_alphabetic());
    let region_ok = region.is_none_or(|r| r.len() == 2 && r.chars().all(|c| c.is_ascii_alphabetic()));
    if lang_ok && region_ok {
        Ok(match region {
            Some(r) => format!("{}-{}", lang.to_ascii_lowercase(), r.to_ascii_uppercase()),
            None => lang.to_ascii_lowercase(),
        })
    } else {
        Err(PlayerError::invalid("language", format!("'{s}' is not an ISO 639-1 code such as en or pt-BR")))
    }
}

fn birth_date(d: NaiveDate, today: NaiveDate) -> Result<(), PlayerError> {
    if d > today {
        return Err(PlayerError::invalid("birth_date", format!("{d} is in the future")));
    }
    if today.years_since(d).unwrap_or(0) > 120 {
        return Err(PlayerError::invalid("birth_date", format!("{d} is more than 120 years ago")));
    }
    Ok(())
}

/// Tags and tier names: lower-case letters, digits, `_`, `-`, `:`; 1 to 64 characters.
fn tag(s: &str, field: &'static str) -> Result<String, PlayerError> {
    let t = s.trim().to_lowercase();
    if !t.is_empty() && t.len() <= 64 && t.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':')) {
        Ok(t)
    } else {
        Err(PlayerError::invalid(field, format!("'{s}' must be 1-64 of a-z, 0-9, '_', '-', ':'")))
    }
}

/// The brand of a player created without one (and of every player from before brands existed).
pub const DEFAULT_BRAND: &str = "main";

/// Brands: 1 to 64 of `a-z`, `0-9`, `_`, `-`, after trimming and lower-casing (`Main ` is `main`).
/// The same alphabet as operators' brand lists, so every brand an operator may serve can be a
/// player's and the other way round; unlike tags, no `:`, and no `,` (a search takes a comma list).
pub fn brand(s: &str) -> Result<String, PlayerError> {
    let b = s.trim().to_ascii_lowercase();
    if !b.is_empty() && b.len() <= 64 && b.chars().all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_' | '-')) {
        Ok(b)
    } else {
        Err(PlayerError::invalid("brand", format!("'{s}' must be 1-64 of a-z, 0-9, '_', '-'")))
    }
}

fn tags(list: &[String]) -> Result<Vec<String>, PlayerError> {
    if list.len() > 50 {
        return Err(PlayerError::invalid("tags", "at most 50 tags per player"));
    }
    let mut out: Vec<String> = list.iter().map(|t| tag(t, "tags")).collect::<Result<_, _>>()?;
    out.sort();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contact_details_are_normalised() {
        assert_eq!(email(" Anna@Example.COM ").unwrap(), "anna@example.com");
        assert!(email("anna@example").is_err());
        assert!(email("anna example@x.com").is_err());
        assert_eq!(phone("+49 151 1234-5678").unwrap(), "+4915112345678");
        assert!(phone("015112345678").is_err());
        assert_eq!(country("de").unwrap(), "DE");
        assert!(country("DEU").is_err());
        assert_eq!(language("pt_br").unwrap(), "pt-BR");
    }

    #[test]
    fn tags_are_lower_cased_sorted_and_unique() {
        let t = tags(&["VIP".into(), "high-roller".into(), "vip".into()]).unwrap();
        assert_eq!(t, vec!["high-roller", "vip"]);
        assert!(tags(&["no spaces".into()]).is_err());
    }

    #[test]
    fn brands_are_short_lower_case_names() {
        assert_eq!(brand(" LuckyStar ").unwrap(), "luckystar");
        assert_eq!(brand("nord_bet-2").unwrap(), "nord_bet-2");
        assert_eq!(brand(&"b".repeat(64)).unwrap().len(), 64);
        let long = "b".repeat(65);
        for bad in ["", "  ", "lucky star", "a:b", "a,b", "café", long.as_str()] {
            match brand(bad) {
                Err(PlayerError::Invalid { field: "brand", message }) => assert!(message.contains("a-z"), "{message}"),
                other => panic!("{bad:?}: expected a brand error, got {other:?}"),
            }
        }
    }

    #[test]
    fn unknown_status_names_the_allowed_values() {
        let err = "banned".parse::<PlayerStatus>().unwrap_err();
        assert!(err.contains("self_excluded"), "{err}");
    }
}
