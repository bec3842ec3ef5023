//! The SLA's warnings and breaches, fired at their due time by a durable timer per ticket
//! (kind [`TIMER`], key the ticket's id), never by a sweep: after every change a ticket's timer
//! is moved to its next mark (a warning or a breach not yet fired), or removed when none is
//! ahead (solved, or waiting on the player: the clock stands still).
//!
//! A mark fires once: it is kept on the ticket, in its history, and announced
//! (`helpdesk.sla.warning`, `helpdesk.sla.breached`). A breach escalates as the settings say:
//! the priority goes up a step, the ticket moves to another queue and its next agent, and a note
//! on the ticket says what happened.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pitboss_bus::BusError;
use pitboss_bus::timers::{self, TimerHandler};
use pitboss_core::time::{from_micros, to_micros};
use pitboss_store::{Tx, exec};
use uuid::Uuid;

use crate::config::DeskConfig;
use crate::error::HelpdeskError;
use crate::policy::SlaClock;
use crate::tickets::{self, MessageKind, Ticket, TicketUpdate};

/// The timers' kind.
pub const TIMER: &str = "helpdesk.sla";

/// Who the history names for what the clock did.
pub const SLA_ACTOR: &str = "sla";

/// A mark ahead of a ticket: what it is and when it falls due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pub name: &'static str,
    pub breach: bool,
    pub at: DateTime<Utc>,
}

/// The marks of `ticket` not yet fired, in time order (none for a ticket no longer worked on
/// or whose clock stands still).
pub fn marks_ahead(ticket: &Ticket, clock: &SlaClock) -> Vec<Mark> {
    let mut out = Vec::new();
    if !ticket.status.unsolved() {
        return out;
    }
    let targets = [
        (
            &clock.first_response,
            tickets::FIRST_RESPONSE_WARNED,
            tickets::FIRST_RESPONSE_BREACHED,
            ticket.first_response_at.is_some(),
        ),
        (&clock.resolution, tickets::RESOLUTION_WARNED, tickets::RESOLUTION_BREACHED, false),
    ];
    for (target, warned, breached, done) in targets {
        if done {
            continue;
        }
        if let Some(at) = target.warn_at.filter(|_| !ticket.marked(warned) && !ticket.marked(breached)) {
            out.push(Mark { name: warned, breach: false, at });
        }
        if let Some(at) = target.due.filter(|_| !ticket.marked(breached)) {
            out.push(Mark { name: breached, breach: true, at });
        }
    }
    out.sort_by_key(|m| m.at);
    out
}

/// Keeps the ticket's due times and moves its timer to its next mark; returns the ticket as
/// it is now.
pub async fn rearm(
    tx: &mut Tx,
    desk: &DeskConfig,
    mut ticket: Ticket,
    now: DateTime<Utc>,
) -> Result<Ticket, HelpdeskError> {
    let clock = ticket.sla(desk, now);
    let (first_response_due, resolution_due) = (clock.first_response.due, clock.resolution.due);
    if (first_response_due, resolution_due) != (ticket.first_response_due, ticket.resolution_due) {
        exec!(
            tx,
            "UPDATE tickets SET first_response_due = $1, resolution_due = $2 WHERE id = $3",
            first_response_due.map(to_micros),
            resolution_due.map(to_micros),
            ticket.id,
        )?;
        ticket.first_response_due = first_response_due;
        ticket.resolution_due = resolution_due;
    }
    let key = ticket.id.to_string();
    match marks_ahead(&ticket, &clock).first() {
        Some(next) => timers::set(tx, TIMER, &key, to_micros(next.at.max(now)), to_micros(now)).await?,
        None => timers::clear_many(tx, TIMER, &[key]).await?,
    }
    Ok(ticket)
}

/// Removes a ticket's timer (it closed or was merged away).
pub(crate) async fn disarm(tx: &mut Tx, ticket: Uuid) -> Result<(), HelpdeskError> {
    timers::clear_many(tx, TIMER, &[ticket.to_string()]).await?;
    Ok(())
}

/// Fires the marks of one ticket that are due at `now`, escalates a breach, and sets the
/// timer for the next mark. Returns the marks it fired.
pub async fn fire(tx: &mut Tx, desk: &DeskConfig, id: Uuid, now: DateTime<Utc>) -> Result<Vec<Mark>, HelpdeskError> {
    let ticket = match tickets::get_in(tx, id).await {
        Ok(t) => t,
        // A timer outliving its ticket has nothing to do.
        Err(HelpdeskError::TicketNotFound(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let clock = ticket.sla(desk, now);
    let due: Vec<Mark> = marks_ahead(&ticket, &clock).into_iter().filter(|m| m.at <= now).collect();
    if due.is_empty() {
        rearm(tx, desk, ticket, now).await?;
        return Ok(due);
    }
    let mut marks = ticket.sla_marks.clone();
    marks.extend(due.iter().map(|m| m.name.to_string()));
    exec!(
        tx,
        "UPDATE tickets SET sla_state = $1, updated_at = $2, version = version + 1 WHERE id = $3",
        serde_json::to_string(&marks).unwrap_or_else(|_| "[]".into()),
        to_micros(now),
        id,
    )?;
    let ticket = tickets::get_in(tx, id).await?;
    for mark in &due {
        // A warning that comes due with its own breach is not worth a second message.
        let overtaken =
            !mark.breach && due.iter().any(|m| m.breach && m.name.split('.').next() == mark.name.split('.').next());
        let (what, topic) = if mark.breach {
            ("sla.breached", "helpdesk.sla.breached")
        } else {
            ("sla.warned", "helpdesk.sla.warning")
        };
        let detail = serde_json::json!({ "mark": mark.name, "due": mark.at });
        tickets::record(tx, id, SLA_ACTOR, what, detail, now).await?;
        if !overtaken {
            tickets::announce(tx, topic, &ticket, now).await?;
        }
    }
    if due.iter().any(|m| m.breach) {
        escalate(tx, desk, &ticket, &due, now).await?;
    } else {
        rearm(tx, desk, ticket, now).await?;
    }
    Ok(due)
}

/// What the settings do at a breach, with a note on the ticket saying it.
async fn escalate(
    tx: &mut Tx,
    desk: &DeskConfig,
    ticket: &Ticket,
    due: &[Mark],
    now: DateTime<Utc>,
) -> Result<(), HelpdeskError> {
    let breached: Vec<&str> = due.iter().filter(|m| m.breach).map(|m| m.name.trim_end_matches(".breached")).collect();
    let mut change = TicketUpdate::default();
    let mut said = vec![format!("SLA breached: {} overdue.", breached.join(" and ").replace('_', " "))];
    if desk.escalation.raise_priority
        && let Some(up) = ticket.priority.raised()
    {
        change.priority = Some(up);
        said.push(format!("Priority raised from {} to {up}.", ticket.priority));
    }
    if let Some(queue) = desk.escalation.reassign_to.as_deref().filter(|q| *q != ticket.queue) {
        change.queue = Some(queue.to_string());
        said.push(format!("Moved to queue {queue}."));
    }
    tickets::add_message(tx, ticket.id, MessageKind::Note, SLA_ACTOR, &said.join(" "), None, now).await?;
    let escalated = if change.is_empty() {
        rearm(tx, desk, ticket.clone(), now).await?
    } else {
        tickets::update(tx, desk, ticket.id, &change, SLA_ACTOR, now).await?
    };
    let detail =
        serde_json::json!({ "priority": escalated.priority, "queue": escalated.queue, "assignee": escalated.assignee });
    tickets::record(tx, ticket.id, SLA_ACTOR, "escalated", detail, now).await?;
    Ok(())
}

/// The scheduler's handler for [`TIMER`].
pub struct SlaTimers {
    desk: Arc<DeskConfig>,
}

impl SlaTimers {
    pub fn new(desk: Arc<DeskConfig>) -> Arc<SlaTimers> {
        Arc::new(SlaTimers { desk })
    }
}

#[async_trait]
impl TimerHandler for SlaTimers {
    async fn fire(&self, tx: &mut Tx, keys: &[String], now: i64) -> Result<(), BusError> {
        let now = from_micros(now);
        for key in keys {
            let Ok(id) = key.parse::<Uuid>() else {
                tracing::warn!(key, "an SLA timer whose key is not a ticket id; dropped");
                continue;
            };
            fire(tx, &self.desk, id, now).await.map_err(|e| BusError::Handler {
                consumer: TIMER.into(),
                message: id,
                reason: e.to_string(),
            })?;
        }
        Ok(())
    }
}
