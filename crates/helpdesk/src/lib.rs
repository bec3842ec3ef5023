//! Pitboss help desk (issue 6), growing: so far the SLA clock's arithmetic ([`sla`]): business
//! time in a calendar with its time zone, opening hours and holidays, paused while a ticket waits
//! on the player. Tickets, channels, the knowledge base and templates come next.

pub mod sla;

pub use sla::{Calendar, CalendarError, Pause};
