//! Time-outs and self-exclusions: a player stepping away from gambling for a period their
//! jurisdiction allows. Unlike a lock, neither can be lifted: it ends at its end (a permanent
//! self-exclusion never), and a new one may only reach further. Withdrawals stay open.

use chrono::{DateTime, Duration, Utc};
use pitboss_core::new_id;
use pitboss_core::time::{from_micros, to_micros};
use pitboss_store::{Db, Tx, db, exec, sqlx, tx};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::OpsError;
use crate::jurisdictions::Jurisdictions;

pitboss_core::string_enum!(
    /// A break the player takes.
    ExclusionKind { Timeout => "timeout", SelfExclusion => "self_exclusion" }
);

/// A time-out or self-exclusion.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Exclusion {
    pub id: Uuid,
    pub player_id: Uuid,
    pub kind: ExclusionKind,
    /// The profile whose rules it was taken under, e.g. `ukgc`.
    pub jurisdiction: String,
    pub starts_at: DateTime<Utc>,
    /// Never, for a permanent self-exclusion.
    pub ends_at: Option<DateTime<Utc>>,
    pub reason: Option<String>,
    /// Who asked: the platform's key on the player's behalf, or an operator.
    pub requested_by: String,
}

impl Exclusion {
    pub fn in_force(&self, now: DateTime<Utc>) -> bool {
        self.starts_at <= now && self.ends_at.is_none_or(|end| end > now)
    }
}

/// A break to start now.
#[derive(Debug, Clone)]
pub struct NewExclusion<'a> {
    pub player: Uuid,
    pub kind: ExclusionKind,
    /// Its length; `None` is a self-exclusion without end.
    pub days: Option<u32>,
    pub reason: Option<&'a str>,
    pub requested_by: &'a str,
}

/// Starts a time-out or self-exclusion in `tx`, checked against the player's jurisdiction.
pub async fn start(
    tx: &mut Tx,
    profiles: &Jurisdictions,
    new: &NewExclusion<'_>,
    now: DateTime<Utc>,
) -> Result<Exclusion, OpsError> {
    let player = pitboss_players::get_in(tx, new.player).await?;
    let profile = profiles.for_country(&player.country);
    match (new.kind, new.days) {
        (ExclusionKind::Timeout, None) => {
            return Err(OpsError::invalid("days", "a time-out needs its length in days"));
        }
        (ExclusionKind::Timeout, Some(days)) if !profile.allows_timeout(days) => {
            let max = profile.timeout_max_days.map(|m| format!(", or any length up to {m} days")).unwrap_or_default();
            return Err(OpsError::invalid(
                "days",
                format!("{} allows time-outs of {:?} days{max}", profile.name, profile.timeout_days),
            ));
        }
        (ExclusionKind::SelfExclusion, days) => {
            if let Some(why) = profile.refuses_self_exclusion(days) {
                return Err(OpsError::invalid("days", why));
            }
        }
        _ => {}
    }
    let reason = new.reason.map(str::trim).filter(|r| !r.is_empty()).map(str::to_string);
    if reason.as_ref().is_some_and(|r| r.chars().count() > 1000) {
        return Err(OpsError::invalid("reason", "at most 1000 characters"));
    }
    let starts_at = from_micros(to_micros(now));
    let ends_at = new.days.map(|d| starts_at + Duration::days(i64::from(d)));
    // A new break may only reach further than the one in force: a shorter one must not look
    // like a way to end a self-exclusion early.
    let sql = format!("SELECT {COLUMNS} FROM rg_exclusions WHERE player_id = $1");
    let rows: Vec<ExclusionRow> = tx!(tx, |c| sqlx::query_as(&sql).bind(new.player).fetch_all(c).await)?;
    for current in rows.into_iter().map(ExclusionRow::into_exclusion) {
        let current = current?;
        let covers = match (current.ends_at, ends_at) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(c), Some(n)) => c >= n,
        };
        if current.in_force(now) && covers {
            let until = current.ends_at.map_or_else(|| "without end".to_string(), |e| format!("until {e}"));
            return Err(OpsError::AlreadyExcluded { kind: current.kind.to_string(), until });
        }
    }
    let exclusion = Exclusion {
        id: new_id(),
        player_id: new.player,
        kind: new.kind,
        jurisdiction: profile.code.clone(),
        starts_at,
        ends_at,
        reason,
        requested_by: new.requested_by.to_string(),
    };
    exec!(
        tx,
        "INSERT INTO rg_exclusions (id, player_id, kind, jurisdiction, starts_at, ends_at, reason, requested_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        exclusion.id,
        exclusion.player_id,
        exclusion.kind.as_str(),
        &exclusion.jurisdiction,
        to_micros(exclusion.starts_at),
        exclusion.ends_at.map(to_micros),
        exclusion.reason.as_deref(),
        &exclusion.requested_by
    )?;
    crate::announce(tx, "ops.exclusion.started", new.player, "exclusion", &exclusion, now).await?;
    Ok(exclusion)
}

/// Every time-out and self-exclusion of a player, newest first.
pub async fn for_player(db: &Db, player: Uuid) -> Result<Vec<Exclusion>, OpsError> {
    let sql = format!("SELECT {COLUMNS} FROM rg_exclusions WHERE player_id = $1 ORDER BY starts_at DESC, id DESC");
    let rows: Vec<ExclusionRow> = db!(db, |c| sqlx::query_as(&sql).bind(player).fetch_all(c).await)?;
    rows.into_iter().map(ExclusionRow::into_exclusion).collect()
}

/// The one in force at `now` that ends last (a permanent one first), if any.
pub async fn in_force(db: &Db, player: Uuid, now: DateTime<Utc>) -> Result<Option<Exclusion>, OpsError> {
    let all = for_player(db, player).await?;
    Ok(all.into_iter().filter(|e| e.in_force(now)).max_by_key(|e| e.ends_at.map_or(i64::MAX, to_micros)))
}

const COLUMNS: &str = "id, player_id, kind, jurisdiction, starts_at, ends_at, reason, requested_by";

#[derive(sqlx::FromRow)]
struct ExclusionRow {
    id: Uuid,
    player_id: Uuid,
    kind: String,
    jurisdiction: String,
    starts_at: i64,
    ends_at: Option<i64>,
    reason: Option<String>,
    requested_by: String,
}

impl ExclusionRow {
    fn into_exclusion(self) -> Result<Exclusion, OpsError> {
        let kind = self.kind.parse().map_err(|e: String| {
            OpsError::Store(pitboss_store::StoreError::Config(format!("exclusion {}: stored kind {e}", self.id)))
        })?;
        Ok(Exclusion {
            id: self.id,
            player_id: self.player_id,
            kind,
            jurisdiction: self.jurisdiction,
            starts_at: from_micros(self.starts_at),
            ends_at: self.ends_at.map(from_micros),
            reason: self.reason,
            requested_by: self.requested_by,
        })
    }
}
