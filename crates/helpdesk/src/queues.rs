//! Queues (a team's inbox), the routing rules that send a new ticket to one, and the
//! assignment within it: by hand, or round robin among the queue's members, those who speak
//! the ticket's language first.

use chrono::{DateTime, Utc};
use pitboss_core::new_id;
use pitboss_core::time::to_micros;
use pitboss_store::{Db, Tx, db, exec, sqlx, tx};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::config::DeskConfig;
use crate::error::HelpdeskError;
use crate::tickets::Channel;

pitboss_core::string_enum!(
    /// How a queue gives its new tickets out.
    Assignment {
        Manual => "manual",
        RoundRobin => "round_robin",
    }
);

/// A member of a queue's team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Member {
    /// The agent's operator name.
    pub agent: String,
    /// Languages the agent answers in (`en`, `de`); empty: any.
    #[serde(default)]
    pub languages: Vec<String>,
}

/// A queue.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Queue {
    pub key: String,
    pub name: String,
    pub description: String,
    pub members: Vec<Member>,
    pub assignment: Assignment,
}

/// What routing reads of a new ticket.
#[derive(Debug, Clone, Copy)]
pub struct Routed<'a> {
    pub language: &'a str,
    pub brand: &'a str,
    pub vip_tier: &'a str,
    pub channel: Channel,
}

pitboss_core::string_enum!(
    /// What a routing rule looks at.
    RouteField {
        Language => "language",
        Brand => "brand",
        VipTier => "vip_tier",
        Channel => "channel",
    }
);

/// Tickets whose `field` equals `value` go to `queue`; the first rule by position wins.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RoutingRule {
    pub id: Uuid,
    pub position: i64,
    pub field: RouteField,
    pub value: String,
    pub queue: String,
}

const MAX_MEMBERS: usize = 200;

const QUEUE: &str = "SELECT queue_key, name, description, members, assignment, next_member FROM helpdesk_queues";
const ONE_QUEUE: &str =
    "SELECT queue_key, name, description, members, assignment, next_member FROM helpdesk_queues WHERE queue_key = $1";

/// Creates the default queue if it is missing (a fresh install), so every ticket has a home.
pub async fn install_default(db: &Db, desk: &DeskConfig, now: DateTime<Utc>) -> Result<(), HelpdeskError> {
    let mut tx = db.begin().await?;
    exec!(
        &mut tx,
        "INSERT INTO helpdesk_queues (queue_key, name, description, members, assignment, next_member, created_at, updated_at) \
         VALUES ($1, $2, $3, '[]', 'manual', 0, $4, $4) ON CONFLICT (queue_key) DO NOTHING",
        desk.default_queue.as_str(),
        "Support",
        "Where tickets go when no routing rule takes them.",
        to_micros(now),
    )?;
    tx.commit().await?;
    Ok(())
}

/// Creates or changes a queue.
pub async fn save(tx: &mut Tx, queue: &Queue, now: DateTime<Utc>) -> Result<Queue, HelpdeskError> {
    let key = queue.key.trim().to_lowercase();
    if key.is_empty() || key.len() > 50 || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(HelpdeskError::invalid("key", "1 to 50 of a-z, 0-9, - and _"));
    }
    let name = queue.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(HelpdeskError::invalid("name", "1 to 100 characters"));
    }
    if queue.description.chars().count() > 1000 {
        return Err(HelpdeskError::invalid("description", "at most 1,000 characters"));
    }
    if queue.members.len() > MAX_MEMBERS {
        return Err(HelpdeskError::invalid("members", format!("at most {MAX_MEMBERS}")));
    }
    let mut members: Vec<Member> = Vec::with_capacity(queue.members.len());
    for m in &queue.members {
        let agent = m.agent.trim();
        if agent.is_empty() || agent.chars().count() > 200 {
            return Err(HelpdeskError::invalid("members", "name each agent, at most 200 characters"));
        }
        if members.iter().any(|x| x.agent == agent) {
            return Err(HelpdeskError::invalid("members", format!("{agent} is listed twice")));
        }
        let languages = m.languages.iter().map(|l| l.trim().to_lowercase()).filter(|l| !l.is_empty()).collect();
        members.push(Member { agent: agent.to_string(), languages });
    }
    if queue.assignment == Assignment::RoundRobin && members.is_empty() {
        return Err(HelpdeskError::invalid("members", "a round robin needs at least one member"));
    }
    let members_json = serde_json::to_string(&members).unwrap_or_else(|_| "[]".into());
    exec!(
        tx,
        "INSERT INTO helpdesk_queues (queue_key, name, description, members, assignment, next_member, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 0, $6, $6) ON CONFLICT (queue_key) DO UPDATE SET name = excluded.name, \
         description = excluded.description, members = excluded.members, assignment = excluded.assignment, \
         updated_at = excluded.updated_at",
        key.as_str(),
        name,
        queue.description.trim(),
        members_json,
        queue.assignment.as_str(),
        to_micros(now),
    )?;
    get_in(tx, &key).await
}

/// Every queue, by name.
pub async fn list(db: &Db) -> Result<Vec<Queue>, HelpdeskError> {
    let rows: Vec<QueueRow> = db!(db, |c| sqlx::query_as(&format!("{QUEUE} ORDER BY name")).fetch_all(c).await)?;
    rows.into_iter().map(from_row).map(|r| r.map(|(q, _)| q)).collect()
}

/// A queue by its key.
pub async fn get(db: &Db, key: &str) -> Result<Queue, HelpdeskError> {
    let row: Option<QueueRow> = db!(db, |c| sqlx::query_as(ONE_QUEUE).bind(key).fetch_optional(c).await)?;
    Ok(from_row(row.ok_or_else(|| HelpdeskError::QueueNotFound(key.to_string()))?)?.0)
}

pub(crate) async fn get_in(tx: &mut Tx, key: &str) -> Result<Queue, HelpdeskError> {
    Ok(get_with_cursor(tx, key).await?.0)
}

async fn get_with_cursor(tx: &mut Tx, key: &str) -> Result<(Queue, i64), HelpdeskError> {
    let row: Option<QueueRow> = tx!(tx, |c| sqlx::query_as(ONE_QUEUE).bind(key).fetch_optional(c).await)?;
    from_row(row.ok_or_else(|| HelpdeskError::QueueNotFound(key.to_string()))?)
}

/// The queue a new ticket goes to: the first routing rule that matches, else the default.
pub(crate) async fn route(tx: &mut Tx, desk: &DeskConfig, t: &Routed<'_>) -> Result<Queue, HelpdeskError> {
    let rules = routing_in(tx).await?;
    let hit = rules.iter().find(|r| {
        let have = match r.field {
            RouteField::Language => t.language,
            RouteField::Brand => t.brand,
            RouteField::VipTier => t.vip_tier,
            RouteField::Channel => t.channel.as_str(),
        };
        have.eq_ignore_ascii_case(&r.value)
    });
    let key = hit.map_or(desk.default_queue.as_str(), |r| r.queue.as_str());
    get_in(tx, key).await
}

/// The agent who takes the queue's next ticket in `language`: none for a manual queue; the
/// next member round the circle who speaks it (or, if none does, the next member at all).
/// Moves the circle on.
pub(crate) async fn next_agent(
    tx: &mut Tx,
    queue: &Queue,
    language: &str,
    now: DateTime<Utc>,
) -> Result<Option<String>, HelpdeskError> {
    if queue.assignment != Assignment::RoundRobin {
        return Ok(None);
    }
    // Read again in the transaction: the cursor others moved.
    let (queue, cursor) = get_with_cursor(tx, &queue.key).await?;
    let Some(index) = pick(&queue.members, cursor, language) else { return Ok(None) };
    exec!(
        tx,
        "UPDATE helpdesk_queues SET next_member = $1, updated_at = $2 WHERE queue_key = $3",
        (index + 1) as i64,
        to_micros(now),
        queue.key.as_str(),
    )?;
    Ok(Some(queue.members[index].agent.clone()))
}

/// The index of the member round the circle from `cursor` who speaks `language`, or else the
/// member at the cursor.
fn pick(members: &[Member], cursor: i64, language: &str) -> Option<usize> {
    if members.is_empty() {
        return None;
    }
    let n = members.len();
    let start = usize::try_from(cursor).unwrap_or(0) % n;
    let speaks = |m: &Member| m.languages.is_empty() || m.languages.iter().any(|l| l.eq_ignore_ascii_case(language));
    (0..n).map(|i| (start + i) % n).find(|&i| speaks(&members[i])).or(Some(start))
}

/// The routing rules, by position.
pub async fn routing(db: &Db) -> Result<Vec<RoutingRule>, HelpdeskError> {
    let rows: Vec<RuleRow> = db!(db, |c| sqlx::query_as(
        "SELECT id, position, field, value, queue_key FROM helpdesk_routing ORDER BY position, created_at"
    )
    .fetch_all(c)
    .await)?;
    rows.into_iter().map(rule_from_row).collect()
}

async fn routing_in(tx: &mut Tx) -> Result<Vec<RoutingRule>, HelpdeskError> {
    let rows: Vec<RuleRow> = tx!(tx, |c| sqlx::query_as(
        "SELECT id, position, field, value, queue_key FROM helpdesk_routing ORDER BY position, created_at"
    )
    .fetch_all(c)
    .await)?;
    rows.into_iter().map(rule_from_row).collect()
}

/// Adds a routing rule at `position` (lower first).
pub async fn add_rule(
    tx: &mut Tx,
    position: i64,
    field: RouteField,
    value: &str,
    queue: &str,
    now: DateTime<Utc>,
) -> Result<RoutingRule, HelpdeskError> {
    let value = value.trim().to_lowercase();
    if value.is_empty() || value.chars().count() > 100 {
        return Err(HelpdeskError::invalid("value", "1 to 100 characters"));
    }
    if !(0..=10_000).contains(&position) {
        return Err(HelpdeskError::invalid("position", "0 to 10,000"));
    }
    let queue = get_in(tx, queue).await?;
    let id = new_id();
    exec!(
        tx,
        "INSERT INTO helpdesk_routing (id, position, field, value, queue_key, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        id,
        position,
        field.as_str(),
        value.as_str(),
        queue.key.as_str(),
        to_micros(now),
    )?;
    Ok(RoutingRule { id, position, field, value, queue: queue.key })
}

/// Removes a routing rule; whether there was one.
pub async fn remove_rule(tx: &mut Tx, id: Uuid) -> Result<bool, HelpdeskError> {
    Ok(exec!(tx, "DELETE FROM helpdesk_routing WHERE id = $1", id)? == 1)
}

type QueueRow = (String, String, String, String, String, i64);
type RuleRow = (Uuid, i64, String, String, String);

fn from_row((key, name, description, members, assignment, cursor): QueueRow) -> Result<(Queue, i64), HelpdeskError> {
    let corrupt = |e: String| HelpdeskError::Store(pitboss_store::StoreError::Config(format!("queue {key}: {e}")));
    let members: Vec<Member> = serde_json::from_str(&members).map_err(|e| corrupt(e.to_string()))?;
    let assignment = assignment.parse().map_err(corrupt)?;
    Ok((Queue { key: key.clone(), name, description, members, assignment }, cursor))
}

fn rule_from_row((id, position, field, value, queue): RuleRow) -> Result<RoutingRule, HelpdeskError> {
    let field = field.parse().map_err(|e: String| {
        HelpdeskError::Store(pitboss_store::StoreError::Config(format!("routing rule {id}: {e}")))
    })?;
    Ok(RoutingRule { id, position, field, value, queue })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(agent: &str, langs: &[&str]) -> Member {
        Member { agent: agent.into(), languages: langs.iter().map(|l| l.to_string()).collect() }
    }

    #[test]
    fn round_robin_prefers_who_speaks_the_language() {
        let team = [m("ann", &["en"]), m("bernd", &["de", "en"]), m("carla", &["it"])];
        assert_eq!(pick(&team, 0, "en"), Some(0));
        assert_eq!(pick(&team, 1, "en"), Some(1));
        assert_eq!(pick(&team, 2, "en"), Some(0), "carla speaks no English: the circle goes on to ann");
        assert_eq!(pick(&team, 0, "de"), Some(1));
        assert_eq!(pick(&team, 5, "fi"), Some(2), "nobody speaks Finnish: whoever's turn it is");
        assert_eq!(pick(&[], 0, "en"), None);
    }
}
