//! Alerts: what the anomaly rules raise. One alert gathers one rule's hits on one player while
//! it is unresolved and each hit comes within the rule's dedup window of the last, so a burst
//! is one alert with a hit count, not a flood; it keeps the latest hit's evidence (the event,
//! the facts the rule read and its trace) and every hit's event id. A shadow rule's hits are
//! kept the same way in state `shadow`, which nobody is told about and nobody handles.
//!
//! Operators acknowledge an alert (it is theirs to look at), assign it, and resolve it with an
//! outcome and a note. Each step is a conditional update of the alert's state, so two
//! operators never both take or close the same alert. New live alerts and every step go to the
//! outbox (`ops.alert.raised`, `ops.alert.acknowledged`, `ops.alert.assigned`,
//! `ops.alert.resolved`) for the notifications and for the analytics that count interventions.

use chrono::{DateTime, Utc};
use pitboss_core::new_id;
use pitboss_core::time::{from_micros, to_micros};
use pitboss_store::{Arg, Conditions, Db, Tx, bind_args, db, exec, sqlx, tx};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::OpsError;
use crate::anomaly_rules::{AnomalyRule, RuleMode, Severity};

pitboss_core::string_enum!(
    /// Where an alert is: `open` (raised, nobody on it yet), `acknowledged` (someone is), or
    /// `resolved` with an outcome; `shadow` for a shadow rule's recorded hits.
    AlertState {
        Open => "open",
        Acknowledged => "acknowledged",
        Resolved => "resolved",
        Shadow => "shadow",
    }
);

pitboss_core::string_enum!(
    /// How an alert ended: a real problem that was acted on, a false alarm (the rule may need
    /// tuning), or real but needing nothing.
    Outcome {
        Confirmed => "confirmed",
        FalsePositive => "false_positive",
        NoAction => "no_action",
    }
);

/// An alert.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Alert {
    pub id: Uuid,
    pub rule_id: Uuid,
    pub rule_name: String,
    /// The rule's version that raised it.
    pub rule_version: i64,
    pub player_id: Uuid,
    pub severity: Severity,
    pub state: AlertState,
    /// How many events hit the rule for this alert.
    pub hits: i64,
    /// The latest hit: `event` (id, type, occurred_at, payload), `trace` (the condition, node by
    /// node, with the values it read) and `window_minutes`.
    #[schema(value_type = Object)]
    pub evidence: serde_json::Value,
    /// When the first and latest hit events happened.
    pub first_hit_at: DateTime<Utc>,
    pub last_hit_at: DateTime<Utc>,
    pub assignee: Option<String>,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub outcome: Option<Outcome>,
    /// The note the resolver gave.
    pub resolution: Option<String>,
    pub raised_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One test of the condition as the evidence's trace records it, with its depth in the
/// condition: `recent.deposits >= 5`, true, `recent.deposits = 6 >= 5`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceLine {
    pub depth: usize,
    pub result: bool,
    pub text: String,
    /// The values it compared; empty for `and`, `or` and `not`.
    pub detail: String,
}

impl Alert {
    /// Why the rule held at the latest hit: its trace, node by node, depth first.
    pub fn trace_lines(&self) -> Vec<TraceLine> {
        fn walk(node: &serde_json::Value, depth: usize, out: &mut Vec<TraceLine>) {
            let Some(text) = node["text"].as_str() else { return };
            out.push(TraceLine {
                depth,
                result: node["result"].as_bool() == Some(true),
                text: text.to_string(),
                detail: node["detail"].as_str().unwrap_or_default().to_string(),
            });
            for child in node["children"].as_array().into_iter().flatten() {
                walk(child, depth + 1, out);
            }
        }
        let mut out = Vec::new();
        walk(&self.evidence["trace"], 0, &mut out);
        out
    }
}

/// The longest note or assignee name.
pub const MAX_NOTE: usize = 2_000;
const MAX_ASSIGNEE: usize = 200;

/// Most alerts one read returns.
pub const MAX_PAGE: u32 = 500;

/// Records `rule`'s hit on `event` about `player`: joins the player's unresolved alert of the
/// rule when the hit is within its dedup window, or raises a new one. Returns the alert and
/// whether it is new, or `None` when this event's hit was recorded before.
pub async fn raise(
    tx: &mut Tx,
    rule: &AnomalyRule,
    player: Uuid,
    event: Uuid,
    occurred_at: DateTime<Utc>,
    evidence: &serde_json::Value,
    now: DateTime<Utc>,
) -> Result<Option<(Alert, bool)>, OpsError> {
    // The states of an alert that a hit may join, and the state of a new one.
    let ([joins, also_joins], state) = match rule.mode {
        RuleMode::Shadow => ([AlertState::Shadow; 2], AlertState::Shadow),
        _ => ([AlertState::Open, AlertState::Acknowledged], AlertState::Open),
    };
    let at = to_micros(occurred_at);
    let joinable: Option<Uuid> = if rule.dedup_minutes == 0 {
        None
    } else {
        let since = at - rule.dedup_minutes * 60_000_000;
        tx!(tx, |c| sqlx::query_scalar(
            "SELECT id FROM alerts WHERE rule_id = $1 AND player_id = $2 AND state IN ($3, $4) AND last_hit_at >= $5 \
             ORDER BY last_hit_at DESC LIMIT 1"
        )
        .bind(rule.id)
        .bind(player)
        .bind(joins.as_str())
        .bind(also_joins.as_str())
        .bind(since)
        .fetch_optional(c)
        .await)?
    };
    let id = joinable.unwrap_or_else(new_id);
    let recorded = exec!(
        tx,
        "INSERT INTO alert_hits (rule_id, event_id, alert_id, occurred_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        rule.id,
        event,
        id,
        at,
    )?;
    if recorded == 0 {
        return Ok(None);
    }
    let evidence = evidence.to_string();
    if joinable.is_some() {
        // A late event does not move the latest hit back, nor take the evidence of a later one.
        exec!(
            tx,
            "UPDATE alerts SET hits = hits + 1, \
             evidence = CASE WHEN last_hit_at <= $1 THEN $2 ELSE evidence END, \
             first_hit_at = CASE WHEN first_hit_at > $1 THEN $1 ELSE first_hit_at END, \
             last_hit_at = CASE WHEN last_hit_at < $1 THEN $1 ELSE last_hit_at END, updated_at = $3 WHERE id = $4",
            at,
            evidence,
            to_micros(now),
            id,
        )?;
    } else {
        exec!(
            tx,
            "INSERT INTO alerts (id, rule_id, rule_name, rule_version, player_id, severity, state, hits, evidence, \
             first_hit_at, last_hit_at, raised_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9, $9, $10, $10)",
            id,
            rule.id,
            rule.name.as_str(),
            rule.version,
            player,
            rule.severity.as_str(),
            state.as_str(),
            evidence,
            at,
            to_micros(now),
        )?;
    }
    let alert = get_in(tx, id).await?;
    let new = joinable.is_none();
    if new && state == AlertState::Open {
        crate::announce(tx, "ops.alert.raised", player, "alert", &alert, now).await?;
    }
    Ok(Some((alert, new)))
}

/// The operator takes an open alert: it is theirs to look at (and assigned to them, unless it
/// was assigned already).
pub async fn acknowledge(tx: &mut Tx, id: Uuid, actor: &str, now: DateTime<Utc>) -> Result<Alert, OpsError> {
    let alert = get_in(tx, id).await?;
    if alert.state != AlertState::Open {
        return Err(refused(&alert, "acknowledged"));
    }
    let changed = exec!(
        tx,
        "UPDATE alerts SET state = $1, acknowledged_by = $2, acknowledged_at = $3, assignee = COALESCE(assignee, $2), \
         updated_at = $3 WHERE id = $4 AND state = $5",
        AlertState::Acknowledged.as_str(),
        actor,
        to_micros(now),
        id,
        AlertState::Open.as_str(),
    )?;
    settled(tx, changed, id, "ops.alert.acknowledged", now).await
}

/// Gives an unresolved alert to an operator (by their name).
pub async fn assign(tx: &mut Tx, id: Uuid, assignee: &str, now: DateTime<Utc>) -> Result<Alert, OpsError> {
    let assignee = assignee.trim();
    if assignee.is_empty() || assignee.chars().count() > MAX_ASSIGNEE {
        return Err(OpsError::invalid("assignee", format!("name the operator, 1 to {MAX_ASSIGNEE} characters")));
    }
    let alert = get_in(tx, id).await?;
    if !matches!(alert.state, AlertState::Open | AlertState::Acknowledged) {
        return Err(refused(&alert, "assigned"));
    }
    let changed = exec!(
        tx,
        "UPDATE alerts SET assignee = $1, updated_at = $2 WHERE id = $3 AND state IN ('open', 'acknowledged')",
        assignee,
        to_micros(now),
        id,
    )?;
    settled(tx, changed, id, "ops.alert.assigned", now).await
}

/// Resolves an unresolved alert with its outcome and a note saying what was found or done.
pub async fn resolve(
    tx: &mut Tx,
    id: Uuid,
    outcome: Outcome,
    note: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Alert, OpsError> {
    let note = note.trim();
    if note.is_empty() {
        return Err(OpsError::invalid("note", "say what was found or done"));
    }
    if note.chars().count() > MAX_NOTE {
        return Err(OpsError::invalid("note", format!("at most {MAX_NOTE} characters")));
    }
    let alert = get_in(tx, id).await?;
    if !matches!(alert.state, AlertState::Open | AlertState::Acknowledged) {
        return Err(refused(&alert, "resolved"));
    }
    let changed = exec!(
        tx,
        "UPDATE alerts SET state = $1, outcome = $2, resolution = $3, resolved_by = $4, resolved_at = $5, updated_at = $5 \
         WHERE id = $6 AND state = $7",
        AlertState::Resolved.as_str(),
        outcome.as_str(),
        note,
        actor,
        to_micros(now),
        id,
        alert.state.as_str(),
    )?;
    settled(tx, changed, id, "ops.alert.resolved", now).await
}

/// Why an alert in its state cannot be `what`.
fn refused(alert: &Alert, what: &str) -> OpsError {
    OpsError::Decided(match alert.state {
        AlertState::Shadow => format!("a shadow rule's hit is a record, not an alert: it cannot be {what}"),
        AlertState::Resolved => format!(
            "the alert was already resolved ({}) by {}",
            alert.outcome.map(|o| o.to_string()).unwrap_or_default(),
            alert.resolved_by.as_deref().unwrap_or("someone else")
        ),
        AlertState::Acknowledged => {
            format!(
                "the alert was already acknowledged by {}",
                alert.acknowledged_by.as_deref().unwrap_or("someone else")
            )
        }
        AlertState::Open => format!("the alert is open and cannot be {what} now"),
    })
}

/// After a conditional update: the alert as it is now, announced; or the race lost.
async fn settled(tx: &mut Tx, changed: u64, id: Uuid, topic: &str, now: DateTime<Utc>) -> Result<Alert, OpsError> {
    if changed != 1 {
        return Err(OpsError::Decided("another operator changed this alert at the same moment; look again".into()));
    }
    let alert = get_in(tx, id).await?;
    crate::announce(tx, topic, alert.player_id, "alert", &alert, now).await?;
    Ok(alert)
}

/// Which alerts to list.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    /// Default: open and acknowledged.
    pub states: Vec<AlertState>,
    pub min_severity: Option<Severity>,
    pub rule: Option<Uuid>,
    pub player: Option<Uuid>,
    pub assignee: Option<String>,
    /// Only alerts changed after this instant (the live panel's poll).
    pub changed_after: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, rule_id, rule_name, rule_version, player_id, severity, state, hits, evidence, first_hit_at, \
                       last_hit_at, assignee, acknowledged_by, acknowledged_at, resolved_by, resolved_at, outcome, \
                       resolution, raised_at, updated_at";

/// Alerts matching `filter`, newest change first; `offset` pages on.
pub async fn list(db: &Db, filter: &AlertFilter, limit: u32, offset: u32) -> Result<Vec<Alert>, OpsError> {
    let limit = limit.clamp(1, MAX_PAGE);
    let mut c = Conditions::new();
    let states =
        if filter.states.is_empty() { vec![AlertState::Open, AlertState::Acknowledged] } else { filter.states.clone() };
    let marks: Vec<String> = states.iter().map(|s| c.arg(Arg::Text(s.as_str().into()))).collect();
    c.and(format!("state IN ({})", marks.join(", ")));
    if let Some(min) = filter.min_severity {
        let marks: Vec<String> =
            Severity::ALL.iter().filter(|s| **s >= min).map(|s| c.arg(Arg::Text(s.as_str().into()))).collect();
        c.and(format!("severity IN ({})", marks.join(", ")));
    }
    if let Some(rule) = filter.rule {
        c.compare("rule_id", "=", Arg::Id(rule));
    }
    if let Some(player) = filter.player {
        c.compare("player_id", "=", Arg::Id(player));
    }
    if let Some(assignee) = &filter.assignee {
        c.compare("assignee", "=", Arg::Text(assignee.clone()));
    }
    if let Some(after) = filter.changed_after {
        c.compare("updated_at", ">", Arg::Int(to_micros(after)));
    }
    let sql = format!(
        "SELECT {COLUMNS} FROM alerts {} ORDER BY updated_at DESC, id LIMIT {limit} OFFSET {offset}",
        c.where_sql()
    );
    let rows: Vec<AlertRow> = db!(db, |conn| {
        let mut query = sqlx::query_as(&sql);
        bind_args!(query, &c.args);
        query.fetch_all(conn).await
    })?;
    Ok(rows.into_iter().map(from_row).collect())
}

/// An alert.
pub async fn get(db: &Db, id: Uuid) -> Result<Alert, OpsError> {
    let sql = format!("SELECT {COLUMNS} FROM alerts WHERE id = $1");
    let row: Option<AlertRow> = db!(db, |c| sqlx::query_as(&sql).bind(id).fetch_optional(c).await)?;
    row.map(from_row).ok_or(OpsError::AlertNotFound(id))
}

async fn get_in(tx: &mut Tx, id: Uuid) -> Result<Alert, OpsError> {
    let sql = format!("SELECT {COLUMNS} FROM alerts WHERE id = $1");
    let row: Option<AlertRow> = tx!(tx, |c| sqlx::query_as(&sql).bind(id).fetch_optional(c).await)?;
    row.map(from_row).ok_or(OpsError::AlertNotFound(id))
}

/// The events that hit an alert's rule, oldest first.
pub async fn hit_events(db: &Db, id: Uuid) -> Result<Vec<(Uuid, DateTime<Utc>)>, OpsError> {
    let rows: Vec<(Uuid, i64)> = db!(db, |c| sqlx::query_as(
        "SELECT event_id, occurred_at FROM alert_hits WHERE alert_id = $1 ORDER BY occurred_at, event_id LIMIT 1000"
    )
    .bind(id)
    .fetch_all(c)
    .await)?;
    Ok(rows.into_iter().map(|(e, at)| (e, from_micros(at))).collect())
}

#[derive(sqlx::FromRow)]
struct AlertRow {
    id: Uuid,
    rule_id: Uuid,
    rule_name: String,
    rule_version: i64,
    player_id: Uuid,
    severity: String,
    state: String,
    hits: i64,
    evidence: String,
    first_hit_at: i64,
    last_hit_at: i64,
    assignee: Option<String>,
    acknowledged_by: Option<String>,
    acknowledged_at: Option<i64>,
    resolved_by: Option<String>,
    resolved_at: Option<i64>,
    outcome: Option<String>,
    resolution: Option<String>,
    raised_at: i64,
    updated_at: i64,
}

fn from_row(r: AlertRow) -> Alert {
    Alert {
        id: r.id,
        rule_id: r.rule_id,
        rule_name: r.rule_name,
        rule_version: r.rule_version,
        player_id: r.player_id,
        // Written from these enums only.
        severity: r.severity.parse().unwrap_or(Severity::Medium),
        state: r.state.parse().unwrap_or(AlertState::Open),
        hits: r.hits,
        evidence: serde_json::from_str(&r.evidence).unwrap_or(serde_json::Value::Null),
        first_hit_at: from_micros(r.first_hit_at),
        last_hit_at: from_micros(r.last_hit_at),
        assignee: r.assignee,
        acknowledged_by: r.acknowledged_by,
        acknowledged_at: r.acknowledged_at.map(from_micros),
        resolved_by: r.resolved_by,
        resolved_at: r.resolved_at.map(from_micros),
        outcome: r.outcome.and_then(|o| o.parse().ok()),
        resolution: r.resolution,
        raised_at: from_micros(r.raised_at),
        updated_at: from_micros(r.updated_at),
    }
}
