//! Anomaly rules: conditions in the rule language that run on the event stream. Each names the
//! events it judges, its condition over the player's facts and the event's (`event.*`,
//! `recent.*` counted over the rule's window, `shared.*`, `ledger.*`), how much an alert weighs,
//! how long hits join one alert, and its mode: `live` raises alerts, `shadow` only records its
//! hits (to try a threshold before anyone is woken by it), `off` rests. Operators change all of
//! it without a code change; each change is a new version, and alerts name the version that
//! raised them. The rules the product ships are installed once, by their key.

use std::sync::{Arc, LazyLock};

use chrono::{DateTime, Utc};
use pitboss_core::event::EventType;
use pitboss_core::new_id;
use pitboss_core::time::{from_micros, to_micros};
use pitboss_rules::{Rule, RuleCache};
use pitboss_store::{Db, Tx, db, exec, sqlx, tx};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::OpsError;

pitboss_core::string_enum!(
    /// How much an alert weighs, lowest first.
    Severity {
        Low => "low",
        Medium => "medium",
        High => "high",
        Critical => "critical",
    }
);

pitboss_core::string_enum!(
    /// Whether a rule raises alerts (`live`), only records its hits (`shadow`), or rests (`off`).
    RuleMode {
        Live => "live",
        Shadow => "shadow",
        Off => "off",
    }
);

/// An anomaly rule as stored.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AnomalyRule {
    pub id: Uuid,
    /// Stable: the shipped rules' keys, or one made from the name.
    pub key: String,
    pub name: String,
    pub description: String,
    /// The event types it judges, e.g. `payment.deposit.completed`.
    pub events: Vec<String>,
    /// The condition, in the rule language.
    pub condition: String,
    /// The window the `recent.*` facts count over, in minutes before the event.
    pub window_minutes: i64,
    /// Hits within this many minutes of an unresolved alert's last one join it.
    pub dedup_minutes: i64,
    pub severity: Severity,
    pub mode: RuleMode,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

/// A new rule, or a change to one: on a change, what is left out stays as it is.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub events: Option<Vec<String>>,
    pub condition: Option<String>,
    /// 1 to 43,200 (30 days); default 60.
    pub window_minutes: Option<i64>,
    /// 0 (every hit its own alert) to 10,080 (a week); default 60.
    pub dedup_minutes: Option<i64>,
    /// Default `medium`.
    pub severity: Option<Severity>,
    /// Default `shadow`: a new rule records its hits until someone makes it live.
    pub mode: Option<RuleMode>,
}

/// The longest window and dedup period, in minutes.
pub const MAX_WINDOW_MINUTES: i64 = 30 * 24 * 60;
pub const MAX_DEDUP_MINUTES: i64 = 7 * 24 * 60;
const MAX_NAME: usize = 100;
const MAX_DESCRIPTION: usize = 1_000;

/// A rule the product ships: key, name, description, events, condition, window, severity.
pub struct Shipped {
    pub key: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub events: &'static [&'static str],
    pub condition: &'static str,
    pub window_minutes: i64,
    pub severity: Severity,
}

/// The shipped rules, live from the start; operators tune or silence them like any other.
pub const SHIPPED: &[Shipped] = &[
    Shipped {
        key: "deposit_velocity",
        name: "Deposit velocity",
        description: "Many deposits in a short time: a player chasing losses, or stolen cards being tried.",
        events: &["payment.deposit.completed"],
        condition: "recent.deposits >= 5",
        window_minutes: 60,
        severity: Severity::Medium,
    },
    Shipped {
        key: "outsized_win",
        name: "Win far above the stake",
        description: "A round paying hundreds of times its stake: a game fault, collusion or a feed error.",
        events: &["game.round"],
        condition: "event.win_multiple >= 500 and event.win >= 1000 EUR",
        window_minutes: 60,
        severity: Severity::High,
    },
    Shipped {
        key: "deposit_withdrawal_little_play",
        name: "Deposit, then withdrawal with little play",
        description: "Money in and out again with hardly a stake between: the pattern of laundering through the casino.",
        events: &["payment.withdrawal.requested"],
        condition: "recent.deposits_sum >= 50 EUR and recent.turnover < 30",
        window_minutes: 24 * 60,
        severity: Severity::High,
    },
    Shipped {
        key: "failed_deposits",
        name: "Many failed deposits",
        description: "Deposit after deposit refused: card testing, or a player without funds trying again and again.",
        events: &["payment.deposit.failed"],
        condition: "recent.failed_deposits >= 5",
        window_minutes: 60,
        severity: Severity::Medium,
    },
    Shipped {
        key: "shared_identifiers",
        name: "Accounts sharing a device, IP or payment instrument",
        description: "Several accounts behind one device, address or card: multi-accounting or bonus abuse.",
        events: &[
            "session.started",
            "payment.deposit.requested",
            "payment.deposit.completed",
            "payment.withdrawal.requested",
        ],
        condition: "shared.device >= 2 or shared.ip >= 4 or shared.instrument >= 1",
        window_minutes: 60,
        severity: Severity::Medium,
    },
    Shipped {
        key: "balance_mismatch",
        name: "Balance does not match its postings",
        description: "A cached balance that differs from the sum of its ledger postings: a defect or tampering.",
        events: &["payment.deposit.completed", "payment.withdrawal.requested"],
        condition: "ledger.balance_mismatch > 0 EUR",
        window_minutes: 60,
        severity: Severity::Critical,
    },
];

/// Who installs the shipped rules.
pub const SHIPPED_BY: &str = "system:shipped-rules";

/// Installs each shipped rule not installed before (by key); returns how many were new.
pub async fn install_shipped(db: &Db, now: DateTime<Utc>) -> Result<usize, OpsError> {
    let mut tx = db.begin().await?;
    let mut added = 0;
    for s in SHIPPED {
        let rule = Checked {
            name: s.name.into(),
            description: s.description.into(),
            events: s.events.iter().map(|e| e.to_string()).collect(),
            condition: s.condition.into(),
            window_minutes: s.window_minutes,
            dedup_minutes: 60,
            severity: s.severity,
            mode: RuleMode::Live,
        };
        added += insert(&mut tx, new_id(), s.key, &rule, SHIPPED_BY, now).await?;
    }
    tx.commit().await?;
    Ok(added as usize)
}

/// Writes a new rule at version 1, unless its key or name is taken; 1 if written.
async fn insert(
    tx: &mut Tx,
    id: Uuid,
    key: &str,
    c: &Checked,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<u64, OpsError> {
    Ok(exec!(
        tx,
        "INSERT INTO anomaly_rules (id, rule_key, name, description, events, condition_text, window_minutes, \
         dedup_minutes, severity, mode, version, created_at, updated_at, updated_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1, $11, $11, $12) ON CONFLICT DO NOTHING",
        id,
        key,
        c.name.as_str(),
        c.description.as_str(),
        serde_json::to_string(&c.events).unwrap_or_else(|_| "[]".into()),
        c.condition.as_str(),
        c.window_minutes,
        c.dedup_minutes,
        c.severity.as_str(),
        c.mode.as_str(),
        to_micros(now),
        actor,
    )?)
}

/// Parses a rule's condition, with the error pointing at the faulty part.
pub fn parse_condition(text: &str) -> Result<Rule, OpsError> {
    pitboss_rules::from_text(text).map_err(|e| OpsError::invalid("condition", e.render(text)))
}

/// The checked parts of a rule.
struct Checked {
    name: String,
    description: String,
    events: Vec<String>,
    condition: String,
    window_minutes: i64,
    dedup_minutes: i64,
    severity: Severity,
    mode: RuleMode,
}

/// `input` over `base` (a rule's current state, or nothing for a new one), checked.
fn checked(input: RuleInput, base: Option<&AnomalyRule>) -> Result<Checked, OpsError> {
    // What the input gives, else what the rule has; a new rule must give it.
    let required = |given: Option<String>, current: Option<String>, field: &'static str, missing: &str| {
        given.map(|g| g.trim().to_string()).or(current).ok_or_else(|| OpsError::invalid(field, missing))
    };
    let name = required(input.name, base.map(|b| b.name.clone()), "name", "a rule needs a name")?;
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(OpsError::invalid("name", format!("1 to {MAX_NAME} characters")));
    }
    let description = input.description.map(|d| d.trim().to_string()).or_else(|| base.map(|b| b.description.clone()));
    let description = description.unwrap_or_default();
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(OpsError::invalid("description", format!("at most {MAX_DESCRIPTION} characters")));
    }
    let events = input
        .events
        .or_else(|| base.map(|b| b.events.clone()))
        .ok_or_else(|| OpsError::invalid("events", "name the event types the rule judges"))?;
    if events.is_empty() {
        return Err(OpsError::invalid("events", "name at least one event type"));
    }
    for e in &events {
        e.parse::<EventType>().map_err(|why| OpsError::invalid("events", why))?;
    }
    let condition =
        required(input.condition, base.map(|b| b.condition.clone()), "condition", "a rule needs a condition")?;
    parse_condition(&condition)?;
    let window_minutes = input.window_minutes.or(base.map(|b| b.window_minutes)).unwrap_or(60);
    if !(1..=MAX_WINDOW_MINUTES).contains(&window_minutes) {
        return Err(OpsError::invalid("window_minutes", format!("1 to {MAX_WINDOW_MINUTES} minutes")));
    }
    let dedup_minutes = input.dedup_minutes.or(base.map(|b| b.dedup_minutes)).unwrap_or(60);
    if !(0..=MAX_DEDUP_MINUTES).contains(&dedup_minutes) {
        return Err(OpsError::invalid("dedup_minutes", format!("0 to {MAX_DEDUP_MINUTES} minutes")));
    }
    Ok(Checked {
        name,
        description,
        events,
        condition,
        window_minutes,
        dedup_minutes,
        severity: input.severity.or(base.map(|b| b.severity)).unwrap_or(Severity::Medium),
        mode: input.mode.or(base.map(|b| b.mode)).unwrap_or(RuleMode::Shadow),
    })
}

/// A key from a rule's name: lower case letters and digits joined by `_`.
fn key_of(name: &str) -> String {
    let words: Vec<String> =
        name.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect();
    words.join("_")
}

async fn name_taken(tx: &mut Tx, name: &str, except: Option<Uuid>) -> Result<(), OpsError> {
    let other: Option<Uuid> = tx!(tx, |c| sqlx::query_scalar("SELECT id FROM anomaly_rules WHERE name = $1")
        .bind(name)
        .fetch_optional(c)
        .await)?;
    match other {
        Some(id) if Some(id) != except => Err(OpsError::Taken(format!("a rule named \"{name}\" exists already"))),
        _ => Ok(()),
    }
}

/// Creates a rule (in shadow mode unless said otherwise).
pub async fn create(tx: &mut Tx, input: RuleInput, actor: &str, now: DateTime<Utc>) -> Result<AnomalyRule, OpsError> {
    let c = checked(input, None)?;
    name_taken(tx, &c.name, None).await?;
    let id = new_id();
    // A key made from the name may be a retired rule's: the id keeps it unique.
    let key = format!("{}_{}", key_of(&c.name), &id.simple().to_string()[24..]);
    if insert(tx, id, &key, &c, actor, now).await? == 0 {
        return Err(OpsError::Taken(format!("a rule named \"{}\" was created at the same moment", c.name)));
    }
    get_in(tx, id).await
}

/// Changes a rule: a new version, in force for the next event.
pub async fn update(
    tx: &mut Tx,
    id: Uuid,
    input: RuleInput,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<AnomalyRule, OpsError> {
    let current = get_in(tx, id).await?;
    let c = checked(input, Some(&current))?;
    name_taken(tx, &c.name, Some(id)).await?;
    let changed = exec!(
        tx,
        "UPDATE anomaly_rules SET name = $1, description = $2, events = $3, condition_text = $4, window_minutes = $5, \
         dedup_minutes = $6, severity = $7, mode = $8, version = version + 1, updated_at = $9, updated_by = $10 \
         WHERE id = $11 AND version = $12",
        c.name.as_str(),
        c.description.as_str(),
        serde_json::to_string(&c.events).unwrap_or_else(|_| "[]".into()),
        c.condition.as_str(),
        c.window_minutes,
        c.dedup_minutes,
        c.severity.as_str(),
        c.mode.as_str(),
        to_micros(now),
        actor,
        id,
        current.version,
    )?;
    if changed != 1 {
        return Err(OpsError::Decided("someone else changed this rule at the same moment; look again".into()));
    }
    get_in(tx, id).await
}

const COLUMNS: &str = "id, rule_key, name, description, events, condition_text, window_minutes, dedup_minutes, \
                       severity, mode, version, created_at, updated_at, updated_by";

type RuleRow = (Uuid, String, String, String, String, String, i64, i64, String, String, i64, i64, i64, String);

fn from_row(r: RuleRow) -> AnomalyRule {
    let (id, key, name, description, events, condition, window, dedup, severity, mode, version, created, updated, by) =
        r;
    AnomalyRule {
        id,
        key,
        name,
        description,
        events: serde_json::from_str(&events).unwrap_or_default(),
        condition,
        window_minutes: window,
        dedup_minutes: dedup,
        // Written from these enums only; an unknown value rests the rule rather than guessing.
        severity: severity.parse().unwrap_or(Severity::Medium),
        mode: mode.parse().unwrap_or(RuleMode::Off),
        version,
        created_at: from_micros(created),
        updated_at: from_micros(updated),
        updated_by: by,
    }
}

async fn get_in(tx: &mut Tx, id: Uuid) -> Result<AnomalyRule, OpsError> {
    let sql = format!("SELECT {COLUMNS} FROM anomaly_rules WHERE id = $1");
    let row: Option<RuleRow> = tx!(tx, |c| sqlx::query_as(&sql).bind(id).fetch_optional(c).await)?;
    row.map(from_row).ok_or(OpsError::RuleNotFound(id))
}

/// A rule.
pub async fn get(db: &Db, id: Uuid) -> Result<AnomalyRule, OpsError> {
    let sql = format!("SELECT {COLUMNS} FROM anomaly_rules WHERE id = $1");
    let row: Option<RuleRow> = db!(db, |c| sqlx::query_as(&sql).bind(id).fetch_optional(c).await)?;
    row.map(from_row).ok_or(OpsError::RuleNotFound(id))
}

/// Every rule, by name.
pub async fn list(db: &Db) -> Result<Vec<AnomalyRule>, OpsError> {
    let sql = format!("SELECT {COLUMNS} FROM anomaly_rules ORDER BY name");
    let rows: Vec<RuleRow> = db!(db, |c| sqlx::query_as(&sql).fetch_all(c).await)?;
    Ok(rows.into_iter().map(from_row).collect())
}

/// Checked conditions by (rule, version): a rule is parsed once per version, not per event.
static CHECKED: LazyLock<RuleCache<(Uuid, i64)>> = LazyLock::new(RuleCache::default);

/// The rules that run (live and shadow), each with its checked condition. A stored condition
/// that no longer parses (the language changed under it) is skipped with a warning, never
/// guessed at.
pub async fn running(db: &Db) -> Result<Vec<(AnomalyRule, Arc<Rule>)>, OpsError> {
    let sql = format!("SELECT {COLUMNS} FROM anomaly_rules WHERE mode <> 'off' ORDER BY name");
    let rows: Vec<RuleRow> = db!(db, |c| sqlx::query_as(&sql).fetch_all(c).await)?;
    Ok(rows
        .into_iter()
        .map(from_row)
        .filter_map(|r| match CHECKED.get((r.id, r.version), &r.condition) {
            Ok(rule) => Some((r, rule)),
            Err(e) => {
                tracing::warn!(rule = %r.name, error = %e, "an anomaly rule's condition no longer parses; skipped");
                None
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_rules_are_valid() {
        for s in SHIPPED {
            let input = RuleInput {
                name: Some(s.name.into()),
                events: Some(s.events.iter().map(|e| e.to_string()).collect()),
                condition: Some(s.condition.into()),
                window_minutes: Some(s.window_minutes),
                ..Default::default()
            };
            checked(input, None).unwrap_or_else(|e| panic!("{}: {e}", s.key));
        }
        let keys: std::collections::HashSet<&str> = SHIPPED.iter().map(|s| s.key).collect();
        assert_eq!(keys.len(), SHIPPED.len(), "each shipped rule is installed by its own key");
    }

    #[test]
    fn bad_definitions_are_refused_with_the_field() {
        let base = || RuleInput {
            name: Some("x".into()),
            events: Some(vec!["game.round".into()]),
            condition: Some("event.win_multiple >= 100".into()),
            ..Default::default()
        };
        let field = |input: RuleInput| match checked(input, None) {
            Err(OpsError::Invalid { field, .. }) => field,
            other => panic!("not refused: {:?}", other.map(|c| c.name)),
        };
        assert_eq!(field(RuleInput { events: Some(vec!["game.teleported".into()]), ..base() }), "events");
        assert_eq!(field(RuleInput { events: Some(vec![]), ..base() }), "events");
        assert_eq!(field(RuleInput { condition: Some("event.win_multipel >= 1".into()), ..base() }), "condition");
        assert_eq!(field(RuleInput { window_minutes: Some(0), ..base() }), "window_minutes");
        assert_eq!(field(RuleInput { dedup_minutes: Some(-1), ..base() }), "dedup_minutes");
        assert_eq!(field(RuleInput { name: Some("  ".into()), ..base() }), "name");
        let c = checked(base(), None).unwrap();
        assert_eq!((c.mode, c.severity, c.window_minutes), (RuleMode::Shadow, Severity::Medium, 60));
        assert_eq!(key_of("Win far above the stake!"), "win_far_above_the_stake");
    }
}
