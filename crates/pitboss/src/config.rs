//! Configuration: defaults, then a TOML file, then `PITBOSS_*` environment variables, then
//! command-line flags; each later source wins. Every setting is listed in [`SETTINGS`] with
//! its meaning, and `pitboss config` prints the effective values with secrets redacted.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// The file read when `--config` is not given, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "pitboss.toml";

/// Longest interval between scheduled refits of the churn and lifetime value models: a year.
const MAX_CLV_REFIT_HOURS: u64 = 24 * 366;

/// Every setting: (key, meaning). The environment variable is `PITBOSS_` + the key in capitals.
pub const SETTINGS: &[(&str, &str)] = &[
    ("data_dir", "Directory of the embedded store (SQLite file pitboss.db) and of demo credentials."),
    (
        "database_url",
        "PostgreSQL URL (postgres://user:pass@host/db). When set, it is used instead of the embedded store.",
    ),
    ("database_max_connections", "Connections in the database pool (readers, for SQLite)."),
    ("listen", "Address the HTTP server listens on."),
    (
        "targets",
        "Modules this process runs: all, or a comma list of ingest, players, payments, segments, ops, helpdesk.",
    ),
    ("bus_transport", "Event bus transport: in-process, or rabbitmq."),
    ("amqp_url", "RabbitMQ URL, used when bus_transport = rabbitmq."),
    ("amqp_exchange", "RabbitMQ topic exchange the relay publishes to."),
    ("relay_batch_size", "Outbox rows the relay publishes per batch (1 to 1000)."),
    ("shutdown_grace_seconds", "How long a shutdown waits for in-flight requests and the outbox flush."),
    ("log_format", "Log lines as text or json."),
    ("redis_url", "Redis URL (redis://host:6379). When set, operator sessions live there; otherwise in this process."),
    ("session_idle_minutes", "An operator session ends after this many minutes without a request."),
    ("session_absolute_hours", "An operator session ends this many hours after sign-in, whatever the activity."),
    (
        "cookie_secure",
        "Mark cookies Secure (HTTPS only): always, never, or auto (always, unless listening on a loopback address).",
    ),
    ("two_factor_roles", "Comma list of roles whose operators must use two-factor authentication."),
    ("policy_dir", "Directory of Cedar policies (pitboss.cedarschema and *.cedar); the built-in ones if unset."),
    (
        "marketing_holdout_percent",
        "Share of all players (0 to 50, two decimals) kept out of every campaign as the global holdout, to measure campaigns against.",
    ),
    ("marketing_holdout_salt", "Chooses who is in the holdout; changing it reshuffles everyone."),
    (
        "clv_refit_hours",
        "Hours between refits of the churn and lifetime value models (0: never on a schedule; refit on demand). \
         Counted from the last fit, so a restart does not refit at once. Run by processes with the segments target.",
    ),
    (
        "reference_rates",
        "Exchange rates for thresholds written in another currency ([reference_rates] table: USD = \"0.92\" is the euro value of one US dollar).",
    ),
    (
        "withdrawal_review_from_eur",
        "Withdrawals worth this many euros or more (other currencies through reference_rates) wait for an officer's approval.",
    ),
    (
        "withdrawal_second_approval_from_eur",
        "From this many euros, a withdrawal needs a second officer's approval, from someone other than the first.",
    ),
    (
        "withdrawal_review_rules",
        "Rules about the player that make a withdrawal wait ([withdrawal_review_rules] table: the reason shown = a condition in the segment rule language); an empty condition switches a shipped rule off.",
    ),
    (
        "smtp_url",
        "SMTP server for alert emails: smtp://host:25, smtps://user:pass@host:465, or smtp://host:587?tls=required. Unset: email subscriptions are not delivered.",
    ),
    ("mail_from", "The sender of alert emails, e.g. \"Pitboss <pitboss@casino.example>\"."),
    (
        "helpdesk_config",
        "TOML file of the help desk's business calendar, SLA policy and escalation; the shipped settings if unset.",
    ),
    (
        "telephony_webhook_secret",
        "Shared secret the telephony system signs its call webhook with (Pitboss-Signature). Unset: the webhook is refused.",
    ),
    (
        "mail_webhook_secret",
        "Shared secret the mail gateway signs the inbound-mail webhook with (Pitboss-Signature). Unset: the webhook is refused.",
    ),
    (
        "chat_widget_secret",
        "Shared secret the casino website signs a signed-in player's external id with for the chat widget (data-player-signature). Unset: chats are from visitors, not linked to a player.",
    ),
    (
        "oidc",
        "Single sign-on ([oidc] table: issuer_url, client_id, client_secret, redirect_url, groups_claim, role_map).",
    ),
    (
        "audit_signing_key",
        "File of the Ed25519 key that signs audit checkpoints, created (mode 0600) if absent; back it up. \
         Default: <data_dir>/audit-signing.key.",
    ),
    ("audit_checkpoint_seconds", "How often serve signs an audit checkpoint over the records added since the last."),
    (
        "audit_retention_years",
        "Years audit records are kept before `pitboss audit purge` may remove them (at least 5).",
    ),
    ("log_level", "Log filter, e.g. info, or pitboss_ingest=debug,info."),
];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub database_max_connections: u32,
    pub listen: SocketAddr,
    pub targets: String,
    pub bus_transport: String,
    pub amqp_url: String,
    pub amqp_exchange: String,
    pub relay_batch_size: usize,
    pub shutdown_grace_seconds: u64,
    pub log_format: String,
    pub log_level: String,
    pub audit_signing_key: Option<PathBuf>,
    pub audit_checkpoint_seconds: u64,
    pub audit_retention_years: u32,
    pub redis_url: Option<String>,
    pub session_idle_minutes: u64,
    pub session_absolute_hours: u64,
    pub cookie_secure: String,
    pub two_factor_roles: String,
    pub policy_dir: Option<PathBuf>,
    pub oidc: Option<pitboss_auth::oidc::OidcSettings>,
    pub reference_rates: std::collections::BTreeMap<String, String>,
    pub marketing_holdout_percent: f64,
    pub marketing_holdout_salt: String,
    pub clv_refit_hours: u64,
    pub withdrawal_review_from_eur: String,
    pub withdrawal_second_approval_from_eur: String,
    pub withdrawal_review_rules: std::collections::BTreeMap<String, String>,
    pub smtp_url: Option<String>,
    pub mail_from: String,
    pub helpdesk_config: Option<PathBuf>,
    pub telephony_webhook_secret: Option<String>,
    pub mail_webhook_secret: Option<String>,
    pub chat_widget_secret: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            data_dir: PathBuf::from("./pitboss-data"),
            database_url: None,
            database_max_connections: 16,
            listen: "127.0.0.1:8080".parse().expect("a valid address"),
            targets: "all".into(),
            bus_transport: "in-process".into(),
            amqp_url: "amqp://guest:guest@127.0.0.1:5672/%2f".into(),
            amqp_exchange: "pitboss.events".into(),
            relay_batch_size: 500,
            shutdown_grace_seconds: 30,
            log_format: "text".into(),
            log_level: "info".into(),
            audit_signing_key: None,
            audit_checkpoint_seconds: 300,
            audit_retention_years: pitboss_auth::audit::retention::MIN_YEARS,
            redis_url: None,
            session_idle_minutes: 30,
            session_absolute_hours: 12,
            cookie_secure: "auto".into(),
            two_factor_roles: pitboss_web::DEFAULT_TWO_FACTOR_ROLES.join(","),
            policy_dir: None,
            oidc: None,
            reference_rates: Default::default(),
            marketing_holdout_percent: 5.0,
            marketing_holdout_salt: "pitboss-holdout-1".into(),
            clv_refit_hours: 24,
            withdrawal_review_from_eur: "2000.00".into(),
            withdrawal_second_approval_from_eur: "10000.00".into(),
            withdrawal_review_rules: pitboss_ops::withdrawals::DEFAULT_RULES
                .iter()
                .map(|(reason, rule)| (reason.to_string(), rule.to_string()))
                .collect(),
            smtp_url: None,
            mail_from: "Pitboss <pitboss@localhost>".into(),
            helpdesk_config: None,
            telephony_webhook_secret: None,
            mail_webhook_secret: None,
            chat_widget_secret: None,
        }
    }
}

/// Values given on the command line; `None` leaves the setting to the other sources.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub targets: Option<String>,
}

impl Settings {
    /// Reads the settings: defaults < file < environment < overrides.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> anyhow::Result<Settings> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        match file {
            Some(f) => {
                if !f.exists() {
                    bail!("the configuration file {} does not exist", f.display());
                }
                figment = figment.merge(Toml::file(f));
            }
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => figment = figment.merge(Toml::file(DEFAULT_CONFIG_FILE)),
            None => {}
        }
        // PITBOSS_CONFIG names the file, it is not a setting.
        figment = figment.merge(Env::prefixed("PITBOSS_").ignore(&["CONFIG"]));
        figment = figment.merge(Serialized::defaults(overrides));
        let mut s: Settings = figment.extract().context("reading the configuration")?;
        if s.database_url.as_deref().is_some_and(|u| u.trim().is_empty()) {
            s.database_url = None;
        }
        if s.redis_url.as_deref().is_some_and(|u| u.trim().is_empty()) {
            s.redis_url = None;
        }
        s.validate()?;
        Ok(s)
    }

    fn validate(&self) -> anyhow::Result<()> {
        if let Some(url) = &self.database_url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            bail!("database_url must be a postgres:// URL (leave it unset for the embedded SQLite store)");
        }
        if !matches!(self.bus_transport.as_str(), "in-process" | "rabbitmq") {
            bail!("bus_transport must be in-process or rabbitmq, not '{}'", self.bus_transport);
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            bail!("log_format must be text or json, not '{}'", self.log_format);
        }
        if !matches!(self.cookie_secure.as_str(), "auto" | "always" | "never") {
            bail!("cookie_secure must be auto, always or never, not '{}'", self.cookie_secure);
        }
        if self.session_idle_minutes == 0 || self.session_absolute_hours == 0 {
            bail!("session_idle_minutes and session_absolute_hours must be at least 1");
        }
        self.rates()?;
        self.withdrawal_policy()?;
        self.helpdesk()?;
        if !(0.0..=50.0).contains(&self.marketing_holdout_percent) {
            bail!("marketing_holdout_percent must be between 0 and 50");
        }
        if self.marketing_holdout_salt.trim().is_empty() {
            bail!("marketing_holdout_salt must not be empty");
        }
        if self.clv_refit_hours > MAX_CLV_REFIT_HOURS {
            bail!("clv_refit_hours must be between 0 (never) and {MAX_CLV_REFIT_HOURS} (a year)");
        }
        pitboss_auth::operator::validate_roles(&self.two_factor_role_list())
            .map_err(|e| anyhow::anyhow!("two_factor_roles: {e}"))?;
        if self.audit_checkpoint_seconds == 0 {
            bail!("audit_checkpoint_seconds must be at least 1");
        }
        self.audit_retention().context("audit_retention_years")?;
        if !(1..=1000).contains(&self.relay_batch_size) {
            bail!("relay_batch_size must be between 1 and 1000");
        }
        pitboss_web::Target::parse_list(&self.targets).map_err(anyhow::Error::msg)?;
        Ok(())
    }

    /// The reference rates, checked: each a currency code and a positive decimal euro value
    /// with at most six decimals.
    pub fn rates(&self) -> anyhow::Result<pitboss_rules::Rates> {
        let mut rates = pitboss_rules::Rates::new();
        for (code, value) in &self.reference_rates {
            let currency: pitboss_core::money::Currency = code
                .parse()
                .map_err(|_| anyhow::anyhow!("reference_rates: `{code}` is not an ISO 4217 currency code"))?;
            rates = rates.with(currency, eur_micros(value).ok_or_else(|| {
                anyhow::anyhow!("reference_rates: {code} = \"{value}\" is not a positive euro value like \"0.92\" (at most 6 decimals)")
            })?);
        }
        Ok(rates)
    }

    /// When withdrawals wait for officers, checked: amounts in euros with at most two decimals,
    /// and each rule a valid condition.
    pub fn withdrawal_policy(&self) -> anyhow::Result<pitboss_ops::withdrawals::ReviewPolicy> {
        let euros = |key: &str, text: &str| {
            pitboss_core::money::Currency::EUR
                .minor_units(text.trim())
                .ok()
                .filter(|cents| *cents >= 0)
                .ok_or_else(|| anyhow::anyhow!("{key}: `{text}` is not an amount of euros like \"2000.00\""))
        };
        let review = euros("withdrawal_review_from_eur", &self.withdrawal_review_from_eur)?;
        let second = euros("withdrawal_second_approval_from_eur", &self.withdrawal_second_approval_from_eur)?;
        let rules = self.withdrawal_review_rules.iter().filter(|(_, rule)| !rule.trim().is_empty());
        let rules = rules.map(|(reason, rule)| (reason.clone(), rule.clone())).collect();
        pitboss_ops::withdrawals::ReviewPolicy::new(review, second, &rules).map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// The help desk's calendar, SLA policy and escalation: from `helpdesk_config`, else the
    /// shipped settings.
    pub fn helpdesk(&self) -> anyhow::Result<pitboss_helpdesk::DeskConfig> {
        let Some(path) = &self.helpdesk_config else { return Ok(pitboss_helpdesk::DeskConfig::shipped()) };
        let text =
            std::fs::read_to_string(path).with_context(|| format!("helpdesk_config: reading {}", path.display()))?;
        pitboss_helpdesk::DeskConfig::from_toml(&text)
            .map_err(|e| anyhow::anyhow!("helpdesk_config {}: {e}", path.display()))
    }

    /// What sends alert notifications: mail through `smtp_url`, webhooks over HTTP.
    pub fn alert_sender(&self) -> anyhow::Result<pitboss_ops::notifications::Sender> {
        pitboss_ops::notifications::Sender::new(self.smtp_url.as_deref(), &self.mail_from)
            .map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// How often `serve` refits the churn and lifetime value models; `None` when never.
    pub fn clv_refit_every(&self) -> Option<std::time::Duration> {
        (self.clv_refit_hours > 0).then(|| std::time::Duration::from_secs(self.clv_refit_hours * 3600))
    }

    /// The global holdout, in basis points of all players.
    pub fn holdout(&self) -> pitboss_segments::split::Holdout {
        pitboss_segments::split::Holdout {
            salt: self.marketing_holdout_salt.clone(),
            basis_points: (self.marketing_holdout_percent * 100.0).round() as u32,
        }
    }

    pub fn two_factor_role_list(&self) -> Vec<String> {
        self.two_factor_roles.split(',').map(str::trim).filter(|r| !r.is_empty()).map(str::to_string).collect()
    }

    /// Whether cookies are marked Secure.
    pub fn secure_cookies(&self) -> bool {
        match self.cookie_secure.as_str() {
            "always" => true,
            "never" => false,
            _ => !self.listen.ip().is_loopback(),
        }
    }

    /// Where the audit signing key lives.
    pub fn audit_signing_key_path(&self) -> PathBuf {
        self.audit_signing_key.clone().unwrap_or_else(|| self.data_dir.join("audit-signing.key"))
    }

    pub fn audit_retention(&self) -> Result<pitboss_auth::audit::Retention, pitboss_auth::audit::AuditError> {
        pitboss_auth::audit::Retention::years(self.audit_retention_years)
    }

    pub fn store(&self) -> pitboss_store::StoreSettings {
        pitboss_store::StoreSettings {
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
            max_connections: self.database_max_connections,
        }
    }

    /// The effective settings as a commented TOML file, with passwords in URLs replaced.
    pub fn describe(&self) -> String {
        let mut shown = self.clone();
        shown.database_url = shown.database_url.as_deref().map(redact_url);
        shown.amqp_url = redact_url(&shown.amqp_url);
        shown.redis_url = shown.redis_url.as_deref().map(redact_url);
        if let Some(oidc) = shown.oidc.as_mut()
            && oidc.client_secret.is_some()
        {
            oidc.client_secret = Some("****".into());
        }
        let table = toml::Value::try_from(&shown).unwrap_or(toml::Value::Table(Default::default()));
        let mut out = String::new();
        for (key, meaning) in SETTINGS {
            out.push_str(&format!("# {meaning} (env PITBOSS_{})\n", key.to_uppercase()));
            match table.get(key) {
                Some(v) => out.push_str(&format!("{key} = {v}\n\n")),
                None => out.push_str(&format!("# {key} is not set\n\n")),
            }
        }
        out
    }
}

/// "0.92" → 920000 millionths; `None` unless positive with at most six decimals.
fn eur_micros(text: &str) -> Option<i64> {
    let (whole, fraction) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    if fraction.len() > 6 || !whole.chars().all(|c| c.is_ascii_digit()) || !fraction.chars().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let value: i64 = format!("{whole}{fraction:0<6}").parse().ok()?;
    (value > 0).then_some(value)
}

/// `scheme://user:secret@host/...` → `scheme://user:****@host/...`.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else { return url.to_string() };
    let rest = &url[scheme_end..];
    let Some(at) = rest.find('@') else { return url.to_string() };
    let userinfo = &rest[..at];
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{}{user}:****{}", &url[..scheme_end], &rest[at..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
// figment::Jail's closures return figment's own (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_is_documented() {
        let table = toml::Value::try_from(Settings::default()).unwrap();
        let mut keys: Vec<&str> = table.as_table().unwrap().keys().map(String::as_str).collect();
        keys.extend(["database_url", "redis_url", "policy_dir", "oidc", "reference_rates"]);
        for k in keys {
            assert!(SETTINGS.iter().any(|(key, _)| *key == k), "setting {k} has no description");
        }
    }

    #[test]
    fn reference_rates_are_decimal_euro_values() {
        assert_eq!(eur_micros("0.92"), Some(920_000));
        assert_eq!(eur_micros("1"), Some(1_000_000));
        assert_eq!(eur_micros("0.0061"), Some(6_100));
        assert_eq!(eur_micros("0"), None);
        assert_eq!(eur_micros("-1"), None);
        assert_eq!(eur_micros("0.1234567"), None);
        let mut s = Settings::default();
        s.reference_rates.insert("XYZ".into(), "1".into());
        assert!(s.rates().unwrap_err().to_string().contains("XYZ"));
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact_url("postgres://app:s3cret@db:5432/pitboss"), "postgres://app:****@db:5432/pitboss");
        assert_eq!(redact_url("postgres://db/pitboss"), "postgres://db/pitboss");
        let s = Settings { database_url: Some("postgres://app:s3cret@db/pitboss".into()), ..Settings::default() };
        let text = s.describe();
        assert!(!text.contains("s3cret"));
        assert!(!text.contains("guest:guest"));
    }

    #[test]
    fn file_environment_and_flags_layer_in_order() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("p.toml", "listen = \"127.0.0.1:9000\"\nlog_level = \"debug\"\nrelay_batch_size = 50")?;
            jail.set_env("PITBOSS_LOG_LEVEL", "warn");
            let flags = Overrides { data_dir: Some("/tmp/x".into()), ..Default::default() };
            let s = Settings::load(Some(Path::new("p.toml")), &flags).map_err(|e| e.to_string())?;
            assert_eq!(s.listen.port(), 9000);
            assert_eq!(s.log_level, "warn");
            assert_eq!(s.relay_batch_size, 50);
            assert_eq!(s.data_dir, PathBuf::from("/tmp/x"));
            Ok(())
        });
    }

    #[test]
    fn audit_retention_below_five_years_is_refused() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("PITBOSS_AUDIT_RETENTION_YEARS", "4");
            let err = format!("{:#}", Settings::load(None, &Overrides::default()).unwrap_err());
            assert!(err.contains("audit_retention_years") && err.contains("at least 5"), "{err}");
            jail.set_env("PITBOSS_AUDIT_RETENTION_YEARS", "7");
            let s = Settings::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(s.audit_retention().map(|r| r.in_years()).ok(), Some(7));
            assert_eq!(s.audit_signing_key_path(), s.data_dir.join("audit-signing.key"));
            Ok(())
        });
    }

    #[test]
    fn clv_refits_every_day_unless_told_otherwise() {
        assert_eq!(Settings::default().clv_refit_every(), Some(std::time::Duration::from_secs(24 * 3600)));
        figment::Jail::expect_with(|jail| {
            jail.set_env("PITBOSS_CLV_REFIT_HOURS", "0");
            let s = Settings::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(s.clv_refit_every(), None);
            jail.set_env("PITBOSS_CLV_REFIT_HOURS", "100000");
            let err = Settings::load(None, &Overrides::default()).unwrap_err().to_string();
            assert!(err.contains("clv_refit_hours"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn bad_values_are_refused_with_the_reason() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("PITBOSS_BUS_TRANSPORT", "carrier-pigeon");
            let err = Settings::load(None, &Overrides::default()).unwrap_err().to_string();
            assert!(err.contains("bus_transport"), "{err}");
            Ok(())
        });
    }
}
