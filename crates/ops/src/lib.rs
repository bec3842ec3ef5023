//! Pitboss ops: what the operations panel decides about a player's account.
//!
//! - [`locks`]: an account locked wholly or in part (deposits, withdrawals, gameplay, bonuses),
//!   by an operator or by another module, with a reason and an optional expiry;
//! - [`exclusions`]: time-outs and self-exclusions, within what the player's jurisdiction
//!   allows ([`jurisdictions`]: the regulators' numbers, kept in a profiles file, not in code);
//! - [`checks`]: the answer to the casino platform's "may this player do this now?", which
//!   honours the account's status, any break in force and every lock.
//!
//! - [`limits`]: deposit, wager, loss and session-time limits per day, week and month and the
//!   reality-check interval, with the jurisdiction's cooling-off before a player's increase
//!   applies, and the jurisdiction's deposit cap; [`sessions`]: the play the time limits count.
//! - [`breaches`]: deposits, rounds and sessions that went through although a limit, a lock or
//!   a break should have stopped them, flagged by a consumer of the platform's events.
//! - [`withdrawals`]: the withdrawal approval queue (rules, VIP first, maker-checker), fed by
//!   [`consumer`] from the platform's withdrawal requests on the bus.
//! - [`anomaly_rules`], [`anomalies`], [`alerts`], [`notifications`]: rules in the rule language
//!   run on every event, the alerts they raise and who is told of them.

pub mod alerts;
pub mod anomalies;
pub mod anomaly_rules;
pub mod breaches;
pub mod checks;
pub mod consumer;
mod error;
pub mod exclusions;
pub mod jurisdictions;
pub mod limits;
pub mod locks;
pub mod notifications;
pub mod sessions;
pub mod withdrawals;

pub use checks::{Activity, CheckAnswer, CheckRequest, check};
pub use error::OpsError;
pub use exclusions::{Exclusion, ExclusionKind, NewExclusion};
pub use jurisdictions::{Jurisdictions, Profile};
pub use limits::{LimitChange, LimitKind, LimitOrigin, LimitPeriod, NewLimit};
pub use locks::{Lock, LockScope, NewLock};

use chrono::{DateTime, Utc};
use pitboss_store::Tx;
use uuid::Uuid;

/// Writes `{"type": topic, "player_id": .., field: value}` to the outbox in `tx`, keyed by the
/// player, for the modules that react to what operations decide.
async fn announce(
    tx: &mut Tx,
    topic: &str,
    player: Uuid,
    field: &str,
    value: &impl serde::Serialize,
    now: DateTime<Utc>,
) -> Result<(), OpsError> {
    let payload = serde_json::json!({ "type": topic, "player_id": player, field: value }).to_string();
    let message =
        pitboss_bus::Message { id: pitboss_core::new_id(), topic: topic.into(), key: player.to_string(), payload };
    pitboss_bus::outbox::enqueue(tx, &message, pitboss_core::time::to_micros(now)).await?;
    Ok(())
}
