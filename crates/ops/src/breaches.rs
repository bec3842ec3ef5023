//! Limit breaches: platform events that went through although a limit, a lock, a break or the
//! account's status should have stopped them (the platform did not ask the checks, or did not
//! heed the answer). The event is accepted, since the money moved, and flagged here, with the
//! reason the checks would have given, for compliance to follow up; never silently.

use chrono::{DateTime, Utc};
use pitboss_core::new_id;
use pitboss_core::time::{from_micros, to_micros};
use pitboss_players::Player;
use pitboss_rules::Rates;
use pitboss_store::{Db, Tx, db, exec, sqlx};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::checks::{Activity, CheckRequest, check};
use crate::{Jurisdictions, OpsError};

/// A flagged event.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Breach {
    pub id: Uuid,
    /// The platform event that broke it.
    pub event_id: Uuid,
    pub player_id: Uuid,
    /// `deposit` or `stake`.
    pub activity: Activity,
    /// The checks' code: `deposit_limit`, `wager_limit`, `loss_limit`, `locked`,
    /// `self_excluded`, `timed_out`, `account_blocked`, `account_closed`, `no_rate`.
    pub code: String,
    pub reason: String,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
}

/// What the checks say of an activity that already happened at `at` (and is already in the
/// ledger): the code and reason if it broke something. A limit is broken only when its use is
/// now beyond it; reaching it exactly is allowed.
pub async fn judge(
    db: &Db,
    profiles: &Jurisdictions,
    rates: &Rates,
    player: &Player,
    activity: Activity,
    at: DateTime<Utc>,
) -> Result<Option<(String, String)>, OpsError> {
    let q = CheckRequest { activity, amount: None, currency: None };
    let answer = check(db, profiles, rates, player, &q, at).await?;
    if answer.allowed {
        return Ok(None);
    }
    let code = answer.code.unwrap_or_default();
    let within_limit = code.ends_with("_limit") && answer.headroom.as_ref().is_some_and(|h| h.amount >= 0);
    Ok((!within_limit).then(|| (code, answer.reason.unwrap_or_default())))
}

/// Records a breach once per event, and announces it (`ops.limit.breached`). Returns it, or
/// `None` when the event was flagged before.
pub async fn record(
    tx: &mut Tx,
    event_id: Uuid,
    player: Uuid,
    activity: Activity,
    (code, reason): (String, String),
    occurred_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Option<Breach>, OpsError> {
    let breach = Breach {
        id: new_id(),
        event_id,
        player_id: player,
        activity,
        code,
        reason,
        occurred_at: from_micros(to_micros(occurred_at)),
        recorded_at: from_micros(to_micros(now)),
    };
    let inserted = exec!(
        tx,
        "INSERT INTO limit_breaches (id, event_id, player_id, activity, code, reason, occurred_at, recorded_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (event_id) DO NOTHING",
        breach.id,
        event_id,
        player,
        activity.as_str(),
        breach.code.as_str(),
        breach.reason.as_str(),
        to_micros(occurred_at),
        to_micros(now),
    )?;
    if inserted == 0 {
        return Ok(None);
    }
    crate::announce(tx, "ops.limit.breached", player, "breach", &breach, now).await?;
    Ok(Some(breach))
}

/// A player's flagged events, newest first.
pub async fn for_player(db: &Db, player: Uuid) -> Result<Vec<Breach>, OpsError> {
    type Row = (Uuid, Uuid, Uuid, String, String, String, i64, i64);
    let rows: Vec<Row> = db!(db, |c| sqlx::query_as(
        "SELECT id, event_id, player_id, activity, code, reason, occurred_at, recorded_at FROM limit_breaches \
         WHERE player_id = $1 ORDER BY occurred_at DESC, id LIMIT 500"
    )
    .bind(player)
    .fetch_all(c)
    .await)?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, event_id, player_id, activity, code, reason, at, recorded)| {
            Some(Breach {
                id,
                event_id,
                player_id,
                activity: activity.parse().ok()?,
                code,
                reason,
                occurred_at: from_micros(at),
                recorded_at: from_micros(recorded),
            })
        })
        .collect())
}
