//! SLA policies: first-response and resolution targets per ticket priority, in business time,
//! with tighter targets for VIP tiers; and a ticket's SLA clock under one (when each target is
//! due, when to warn before it, whether it was met or breached).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use crate::sla::{Calendar, Pause};

pitboss_core::string_enum!(
    /// A ticket's priority, lowest first.
    Priority {
        Low => "low",
        Normal => "normal",
        High => "high",
        Urgent => "urgent",
    }
);

impl Priority {
    /// The next priority up, if there is one (an escalation raises it).
    pub fn raised(self) -> Option<Priority> {
        match self {
            Priority::Low => Some(Priority::Normal),
            Priority::Normal => Some(Priority::High),
            Priority::High => Some(Priority::Urgent),
            Priority::Urgent => None,
        }
    }
}

/// Targets for one priority, in business minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    pub first_response_minutes: i64,
    pub resolution_minutes: i64,
}

/// What is wrong with a policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("the policy does not read: {0}")]
    Syntax(String),
    #[error("{0:?}: no targets; every priority needs them")]
    Missing(Priority),
    #[error("{at}: targets are positive minutes, and the first response comes before the resolution")]
    Targets { at: String },
    #[error("VIP tier {tier}, {priority:?}: a VIP target may not be looser than everyone's")]
    LooserForVip { tier: String, priority: Priority },
    #[error("warn_before_percent: 1 to 99")]
    Warning,
}

/// An SLA policy.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaPolicy {
    /// Targets per priority.
    pub targets: BTreeMap<Priority, Targets>,
    /// Tighter targets per VIP tier, for the priorities given.
    #[serde(default)]
    pub vip: BTreeMap<String, BTreeMap<Priority, Targets>>,
    /// Warn when this share of a target's time is used (e.g. 75: a quarter before it is due).
    pub warn_before_percent: u8,
}

impl SlaPolicy {
    /// A policy from its TOML, checked.
    pub fn from_toml(text: &str) -> Result<SlaPolicy, PolicyError> {
        let policy: SlaPolicy = toml::from_str(text).map_err(|e| PolicyError::Syntax(e.to_string()))?;
        policy.check()?;
        Ok(policy)
    }

    fn check(&self) -> Result<(), PolicyError> {
        if !(1..=99).contains(&self.warn_before_percent) {
            return Err(PolicyError::Warning);
        }
        let sane = |t: &Targets| 0 < t.first_response_minutes && t.first_response_minutes <= t.resolution_minutes;
        for &p in Priority::ALL {
            let base = self.targets.get(&p).ok_or(PolicyError::Missing(p))?;
            if !sane(base) {
                return Err(PolicyError::Targets { at: format!("{p:?}") });
            }
        }
        for (tier, targets) in &self.vip {
            for (p, t) in targets {
                if !sane(t) {
                    return Err(PolicyError::Targets { at: format!("VIP tier {tier}, {p:?}") });
                }
                let base = self.targets[p];
                if t.first_response_minutes > base.first_response_minutes
                    || t.resolution_minutes > base.resolution_minutes
                {
                    return Err(PolicyError::LooserForVip { tier: tier.clone(), priority: *p });
                }
            }
        }
        Ok(())
    }

    /// The targets for a ticket of `priority` from a player of `vip_tier` (empty: none).
    pub fn targets_for(&self, priority: Priority, vip_tier: &str) -> Targets {
        self.vip
            .get(vip_tier)
            .and_then(|t| t.get(&priority))
            .or_else(|| self.targets.get(&priority))
            .copied()
            .unwrap_or(
                // `check` made sure every priority has targets.
                Targets { first_response_minutes: 1, resolution_minutes: 1 },
            )
    }
}

/// Where one target stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetClock {
    /// When it is due; `None` while the clock stands still (waiting on the player).
    pub due: Option<DateTime<Utc>>,
    /// When to warn that it nears.
    pub warn_at: Option<DateTime<Utc>>,
    /// Business time used so far (up to when it was met, if it was).
    pub used: Duration,
    /// Met in time, breached, or neither yet.
    pub met: Option<bool>,
}

/// A ticket's SLA clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaClock {
    pub first_response: TargetClock,
    pub resolution: TargetClock,
}

/// The moments of a ticket's life the SLA clock reads.
#[derive(Debug, Clone, Copy)]
pub struct TicketTimes<'a> {
    pub opened: DateTime<Utc>,
    /// While it waited on the player.
    pub pauses: &'a [Pause],
    pub first_response: Option<DateTime<Utc>>,
    pub resolved: Option<DateTime<Utc>>,
}

/// A ticket's SLA clock under `targets`, seen at `now`.
pub fn clock(
    calendar: &Calendar,
    policy: &SlaPolicy,
    targets: Targets,
    t: &TicketTimes,
    now: DateTime<Utc>,
) -> SlaClock {
    let (opened, pauses) = (t.opened, t.pauses);
    let target = |minutes: i64, done: Option<DateTime<Utc>>| {
        let budget = Duration::minutes(minutes);
        let due = calendar.due(opened, budget, pauses);
        let warn = budget * i32::from(policy.warn_before_percent) / 100;
        let until = done.unwrap_or(now);
        TargetClock {
            due,
            warn_at: calendar.due(opened, warn, pauses),
            used: calendar.elapsed(opened, until, pauses),
            met: match (done, due) {
                (Some(at), Some(due)) => Some(at <= due),
                // Done while the clock stood still, before any due time: in time.
                (Some(_), None) => Some(true),
                (None, Some(due)) if now > due => Some(false),
                (None, _) => None,
            },
        }
    };
    SlaClock {
        first_response: target(targets.first_response_minutes, t.first_response),
        resolution: target(targets.resolution_minutes, t.resolved),
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveTime, TimeZone};
    use chrono_tz::Europe;

    use super::*;

    const POLICY: &str = r#"
        warn_before_percent = 75
        [targets]
        low = { first_response_minutes = 1440, resolution_minutes = 4800 }
        normal = { first_response_minutes = 480, resolution_minutes = 2400 }
        high = { first_response_minutes = 120, resolution_minutes = 960 }
        urgent = { first_response_minutes = 30, resolution_minutes = 240 }
        [vip.gold]
        normal = { first_response_minutes = 60, resolution_minutes = 480 }
    "#;

    fn berlin(d: u32, h: u32, m: u32) -> DateTime<Utc> {
        Europe::Berlin.with_ymd_and_hms(2026, 12, d, h, m, 0).single().unwrap().with_timezone(&Utc)
    }

    fn office() -> Calendar {
        let (nine, five) = (NaiveTime::from_hms_opt(9, 0, 0).unwrap(), NaiveTime::from_hms_opt(17, 0, 0).unwrap());
        Calendar::weekdays(Europe::Berlin, nine, five, []).unwrap()
    }

    #[test]
    fn vip_tiers_get_their_tighter_targets_and_others_everyones() {
        let p = SlaPolicy::from_toml(POLICY).unwrap();
        assert_eq!(p.targets_for(Priority::Normal, "gold").first_response_minutes, 60);
        assert_eq!(p.targets_for(Priority::Normal, "").first_response_minutes, 480);
        assert_eq!(p.targets_for(Priority::Urgent, "gold").first_response_minutes, 30, "no VIP target: everyone's");
    }

    #[test]
    fn a_bad_policy_is_refused_with_the_reason() {
        let without_low = POLICY.replace("low = { first_response_minutes = 1440, resolution_minutes = 4800 }", "");
        assert_eq!(SlaPolicy::from_toml(&without_low), Err(PolicyError::Missing(Priority::Low)));
        let looser = POLICY.replace("resolution_minutes = 480 }", "resolution_minutes = 3000 }");
        assert!(matches!(SlaPolicy::from_toml(&looser), Err(PolicyError::LooserForVip { .. })));
        let backwards = POLICY.replace("resolution_minutes = 240", "resolution_minutes = 20");
        assert!(matches!(SlaPolicy::from_toml(&backwards), Err(PolicyError::Targets { .. })));
        assert_eq!(SlaPolicy::from_toml(&POLICY.replace("= 75", "= 0")), Err(PolicyError::Warning));
        assert!(matches!(SlaPolicy::from_toml("targets = 3"), Err(PolicyError::Syntax(_))));
    }

    #[test]
    fn the_clock_warns_before_a_target_and_says_whether_it_was_met() {
        let p = SlaPolicy::from_toml(POLICY).unwrap();
        let targets = p.targets_for(Priority::High, "");
        // Opened Friday 16:00: the first response (two business hours) is due Monday 10:00, the
        // warning at 90 minutes, Monday 09:30.
        let opened = berlin(4, 16, 0);
        let times = |pauses, first_response| TicketTimes { opened, pauses, first_response, resolved: None };
        let c = clock(&office(), &p, targets, &times(&[], None), berlin(7, 9, 15));
        assert_eq!((c.first_response.due, c.first_response.warn_at), (Some(berlin(7, 10, 0)), Some(berlin(7, 9, 30))));
        assert_eq!((c.first_response.used, c.first_response.met), (Duration::minutes(75), None));
        // Answered at 09:50: met. Not answered by 10:30: breached.
        let answered = clock(&office(), &p, targets, &times(&[], Some(berlin(7, 9, 50))), berlin(7, 11, 0));
        assert_eq!((answered.first_response.met, answered.first_response.used), (Some(true), Duration::minutes(110)));
        let late = clock(&office(), &p, targets, &times(&[], None), berlin(7, 10, 30));
        assert_eq!(late.first_response.met, Some(false));
        // Waiting on the player from 16:30 on Friday: no due time while it waits.
        let waiting = [Pause { from: berlin(4, 16, 30), until: None }];
        let paused = clock(&office(), &p, targets, &times(&waiting, None), berlin(8, 12, 0));
        assert_eq!((paused.resolution.due, paused.resolution.met), (None, None));
        assert_eq!(paused.resolution.used, Duration::minutes(30));
    }
}
