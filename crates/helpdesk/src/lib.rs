//! Pitboss help desk (issue 6), growing: so far the SLA clock: its arithmetic ([`sla`]: business
//! time in a calendar with its time zone, opening hours and holidays, paused while a ticket waits
//! on the player) and the policies it measures against ([`policy`]: first-response and
//! resolution targets per priority, tighter for VIP tiers, with a warning before each). Tickets,
//! channels, the knowledge base and templates come next.

pub mod policy;
pub mod sla;

pub use policy::{Priority, SlaClock, SlaPolicy, Targets, TicketTimes, clock};
pub use sla::{Calendar, CalendarError, Pause};
