//! Pitboss help desk (issue 6), growing: tickets with their queues, routing and assignment
//! ([`tickets`], [`queues`], [`views`]); the SLA clock, its arithmetic ([`sla`]: business time
//! in a calendar with its time zone, opening hours and holidays, paused while a ticket waits on
//! the player), the policies it measures against ([`policy`]) and the durable timers that warn
//! and escalate at their due time ([`escalation`]); the settings ([`config`]); email in and out
//! ([`email`]) with the files attached ([`attachments`]); phone calls ([`calls`]); live chat ([`chat`]); response templates
//! ([`templates`]); the knowledge base and FAQ ([`kb`]: articles in Markdown with draft and
//! published versions, full-text search on each engine's own index, and articles suggested from
//! a ticket's text); a player's communication history ([`timeline`]).

pub mod attachments;
pub mod calls;
pub mod chat;
pub mod config;
pub mod email;
pub mod error;
pub mod escalation;
pub mod kb;
pub mod policy;
pub mod queues;
pub mod sla;
pub mod templates;
pub mod tickets;
pub mod timeline;
pub mod views;

pub use config::{DeskConfig, Escalation};
pub use error::HelpdeskError;
pub use policy::{Priority, SlaClock, SlaPolicy, Targets, TicketTimes, clock};
pub use sla::{Calendar, CalendarError, Pause};
pub use tickets::{AgentMessage, Channel, MessageKind, Status, Ticket, TicketFilter, TicketMessage, TicketUpdate};
