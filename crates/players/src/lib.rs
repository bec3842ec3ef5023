//! Pitboss players: the master player profile, the one source of truth every module links to.
//!
//! A profile is created from `player.registered` or the API, updated from `player.updated`
//! or the API, and found by id, external id, email, phone or name. Beside it, the activity
//! aggregates (sessions, deposits, withdrawals, stakes, wins, GGR, bonuses, game categories played)
//! that ingest keeps current.
//!
//! This crate must never hold another module's data: modules keep the player's id, not a copy
//! of the profile. Callers open the transaction and write the audit record; this crate does not.

pub mod bulk;
mod error;
pub mod profile;
mod repo;
pub mod search;
pub mod stats;

pub use error::PlayerError;
pub use profile::{DEFAULT_BRAND, Gender, KycStatus, NewPlayer, Player, PlayerPatch, PlayerStatus};
pub use repo::{create, get, get_in, id_by_external, ids_by_external, update};
pub use search::{Page, PlayerQuery, search};
pub use stats::{Activity, CategoryStats, PlayerStats, WindowTotals};
