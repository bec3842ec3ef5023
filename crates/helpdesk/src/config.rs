//! The help desk's settings, from one TOML file (setting `helpdesk_config`): the business
//! calendar the SLA clock counts in, the SLA policy, what happens at a breach, the queue new
//! tickets go to when no routing rule takes them, and the limits on what comes in.
//!
//! ```toml
//! default_queue = "support"
//! [calendar]
//! time_zone = "Europe/Malta"
//! monday = ["08:00-20:00"]          # a weekday left out is closed; "24:00" is midnight
//! holidays = ["2026-12-25"]
//! [sla]
//! warn_before_percent = 75
//! [sla.targets]
//! normal = { first_response_minutes = 240, resolution_minutes = 1440 }
//! [escalation]
//! raise_priority = true
//! reassign_to = "escalations"
//! ```

use chrono::{NaiveDate, NaiveTime};
use chrono_tz::Tz;
use serde::Deserialize;

use crate::policy::SlaPolicy;
use crate::sla::Calendar;

/// What a breach sets off, besides the breach itself being recorded on the ticket and
/// announced (`helpdesk.sla.breached`, which the notifications pick up).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Escalation {
    /// Raise the ticket's priority one step.
    #[serde(default)]
    pub raise_priority: bool,
    /// Move the ticket to this queue (and to its next agent there).
    #[serde(default)]
    pub reassign_to: Option<String>,
}

/// The help desk's settings.
#[derive(Debug, Clone)]
pub struct DeskConfig {
    pub calendar: Calendar,
    pub policy: SlaPolicy,
    pub escalation: Escalation,
    pub default_queue: String,
    /// The address replies go out from (and that inbound mail to it must not come from).
    pub mail_from: lettre::message::Mailbox,
}

/// What is wrong with the settings, said so an operator can fix the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("help desk settings: {0}")]
pub struct ConfigError(pub String);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default = "default_queue")]
    default_queue: String,
    calendar: CalendarFile,
    sla: toml::Value,
    #[serde(default = "no_escalation")]
    escalation: Escalation,
    #[serde(default)]
    email: EmailFile,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmailFile {
    /// `Support <support@casino.example>`.
    #[serde(default = "default_from")]
    from: String,
}

impl Default for EmailFile {
    fn default() -> Self {
        EmailFile { from: default_from() }
    }
}

fn default_from() -> String {
    "Casino support <support@localhost>".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CalendarFile {
    time_zone: String,
    #[serde(default)]
    monday: Vec<String>,
    #[serde(default)]
    tuesday: Vec<String>,
    #[serde(default)]
    wednesday: Vec<String>,
    #[serde(default)]
    thursday: Vec<String>,
    #[serde(default)]
    friday: Vec<String>,
    #[serde(default)]
    saturday: Vec<String>,
    #[serde(default)]
    sunday: Vec<String>,
    #[serde(default)]
    holidays: Vec<NaiveDate>,
}

fn default_queue() -> String {
    "support".into()
}

fn no_escalation() -> Escalation {
    Escalation { raise_priority: false, reassign_to: None }
}

/// The settings the product ships with: support open 08:00 to midnight every day, Malta time;
/// urgent tickets answered within 30 minutes, VIPs faster; a breach raises the priority.
pub const SHIPPED: &str = r#"
default_queue = "support"

[calendar]
time_zone = "Europe/Malta"
monday = ["08:00-24:00"]
tuesday = ["08:00-24:00"]
wednesday = ["08:00-24:00"]
thursday = ["08:00-24:00"]
friday = ["08:00-24:00"]
saturday = ["08:00-24:00"]
sunday = ["08:00-24:00"]
holidays = ["2026-12-25", "2027-01-01"]

[sla]
warn_before_percent = 75

[sla.targets]
low = { first_response_minutes = 1440, resolution_minutes = 4320 }
normal = { first_response_minutes = 240, resolution_minutes = 1440 }
high = { first_response_minutes = 60, resolution_minutes = 480 }
urgent = { first_response_minutes = 30, resolution_minutes = 240 }

[sla.vip.gold]
normal = { first_response_minutes = 60, resolution_minutes = 480 }
high = { first_response_minutes = 30, resolution_minutes = 240 }

[sla.vip.platinum]
normal = { first_response_minutes = 30, resolution_minutes = 240 }
high = { first_response_minutes = 15, resolution_minutes = 120 }
urgent = { first_response_minutes = 10, resolution_minutes = 60 }

[escalation]
raise_priority = true

[email]
from = "Casino support <support@localhost>"
"#;

impl DeskConfig {
    /// The shipped settings.
    pub fn shipped() -> DeskConfig {
        // The shipped text is checked by a test; it cannot fail here.
        DeskConfig::from_toml(SHIPPED).unwrap_or_else(|e| panic!("the shipped help desk settings: {e}"))
    }

    /// Settings from their TOML, checked.
    pub fn from_toml(text: &str) -> Result<DeskConfig, ConfigError> {
        let file: File = toml::from_str(text).map_err(|e| ConfigError(e.to_string()))?;
        let tz: Tz = file.calendar.time_zone.parse().map_err(|_| {
            ConfigError(format!("calendar.time_zone: '{}' is not an IANA time zone", file.calendar.time_zone))
        })?;
        let c = &file.calendar;
        let days = [&c.monday, &c.tuesday, &c.wednesday, &c.thursday, &c.friday, &c.saturday, &c.sunday];
        let mut week: [Vec<(NaiveTime, Option<NaiveTime>)>; 7] = Default::default();
        for (periods, text) in week.iter_mut().zip(days) {
            for p in text {
                periods.push(period(p)?);
            }
        }
        let calendar =
            Calendar::new(tz, week, c.holidays.iter().copied()).map_err(|e| ConfigError(format!("calendar: {e}")))?;
        let sla = toml::to_string(&file.sla).map_err(|e| ConfigError(format!("sla: {e}")))?;
        let policy = SlaPolicy::from_toml(&sla).map_err(|e| ConfigError(format!("sla: {e}")))?;
        if file.default_queue.trim().is_empty() {
            return Err(ConfigError("default_queue: name the queue new tickets go to".into()));
        }
        if file.escalation.reassign_to.as_deref().is_some_and(|q| q.trim().is_empty()) {
            return Err(ConfigError("escalation.reassign_to: name a queue, or leave it out".into()));
        }
        let mail_from = file.email.from.parse().map_err(|e| {
            ConfigError(format!(
                "email.from: '{}' is not an address like \"Support <support@casino.example>\": {e}",
                file.email.from
            ))
        })?;
        Ok(DeskConfig { calendar, policy, escalation: file.escalation, default_queue: file.default_queue, mail_from })
    }
}

/// `"08:00-20:00"`; `"24:00"` as an end is midnight.
fn period(text: &str) -> Result<(NaiveTime, Option<NaiveTime>), ConfigError> {
    let bad = || ConfigError(format!("calendar: '{text}' is not an opening period like \"08:00-20:00\""));
    let (from, to) = text.split_once('-').ok_or_else(bad)?;
    let from = NaiveTime::parse_from_str(from.trim(), "%H:%M").map_err(|_| bad())?;
    let to = match to.trim() {
        "24:00" => None,
        t => Some(NaiveTime::parse_from_str(t, "%H:%M").map_err(|_| bad())?),
    };
    Ok((from, to))
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::policy::Priority;

    #[test]
    fn the_shipped_settings_read() {
        let c = DeskConfig::shipped();
        assert_eq!(c.default_queue, "support");
        assert_eq!(c.policy.targets_for(Priority::Urgent, "platinum").first_response_minutes, 10);
        assert!(c.escalation.raise_priority);
        // 07:00 in Malta (06:00 UTC) is before opening: 30 minutes from then are due at 08:30 local.
        let opened = Utc.with_ymd_and_hms(2026, 12, 7, 6, 0, 0).unwrap();
        let due = c.calendar.due(opened, chrono::Duration::minutes(30), &[]).unwrap();
        assert_eq!(due, Utc.with_ymd_and_hms(2026, 12, 7, 7, 30, 0).unwrap());
    }

    #[test]
    fn mistakes_are_named() {
        let zone = SHIPPED.replace("Europe/Malta", "Mars/Olympus");
        assert!(DeskConfig::from_toml(&zone).unwrap_err().0.contains("Mars/Olympus"));
        let hours = SHIPPED.replace("monday = [\"08:00-24:00\"]", "monday = [\"8 to 5\"]");
        assert!(DeskConfig::from_toml(&hours).unwrap_err().0.contains("8 to 5"));
        let backwards = SHIPPED.replace("monday = [\"08:00-24:00\"]", "monday = [\"20:00-08:00\"]");
        assert!(DeskConfig::from_toml(&backwards).unwrap_err().0.contains("Monday"));
        let looser =
            SHIPPED.replace("normal = { first_response_minutes = 30,", "normal = { first_response_minutes = 300,");
        assert!(DeskConfig::from_toml(&looser).unwrap_err().0.contains("platinum"));
        assert!(DeskConfig::from_toml("default_queue = 1").is_err());
    }
}
