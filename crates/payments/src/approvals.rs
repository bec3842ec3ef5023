//! Manual adjustments waiting for a second officer's approval (four eyes).
//!
//! The access policies decide who may adjust how much alone; when a request needs a second
//! pair of eyes, the web layer files it here, and another officer approves (which posts the
//! adjustment, with the reference chosen at the request) or rejects it. This module keeps the
//! requests and enforces only what holds whatever the policies say: a request is decided once,
//! and never by the officer who made it.

use pitboss_core::money::Currency;
use pitboss_store::{Db, Tx, db, exec, sqlx, tx};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::LedgerError;

/// A request for a manual adjustment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AdjustmentRequest {
    pub id: Uuid,
    pub player_id: Uuid,
    /// The ledger reference the adjustment carries once approved.
    pub reference: String,
    pub currency: Currency,
    /// Minor units: positive credits the player, negative debits.
    pub amount: i64,
    pub reason: String,
    pub allow_overdraft: bool,
    /// Who asked (`operator:<username>`).
    pub requested_by: String,
    /// Microseconds since the Unix epoch.
    pub requested_at: i64,
    /// `pending`, `approved` or `rejected`.
    pub status: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub decision_reason: Option<String>,
    /// The ledger transaction an approval posted.
    pub transaction_id: Option<Uuid>,
}

/// What to ask for.
#[derive(Debug, Clone)]
pub struct NewRequest<'a> {
    pub player_id: Uuid,
    pub currency: Currency,
    pub reference: &'a str,
    pub amount: i64,
    pub reason: &'a str,
    pub allow_overdraft: bool,
    pub requested_by: &'a str,
    pub now: i64,
}

const COLUMNS: &str = "id, player_id, reference, currency, amount, reason, allow_overdraft, requested_by, requested_at, \
    status, decided_by, decided_at, decision_reason, transaction_id";

type Row = (
    Uuid,
    Uuid,
    String,
    String,
    i64,
    String,
    bool,
    String,
    i64,
    String,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<Uuid>,
);

fn to_request(r: Row) -> Result<AdjustmentRequest, LedgerError> {
    let currency = r.3.parse::<Currency>().map_err(|e| LedgerError::Invalid(format!("stored request {}: {e}", r.0)))?;
    Ok(AdjustmentRequest {
        id: r.0,
        player_id: r.1,
        reference: r.2,
        currency,
        amount: r.4,
        reason: r.5,
        allow_overdraft: r.6,
        requested_by: r.7,
        requested_at: r.8,
        status: r.9,
        decided_by: r.10,
        decided_at: r.11,
        decision_reason: r.12,
        transaction_id: r.13,
    })
}

/// Files a request. A reference already used by a request is refused, as the ledger refuses a
/// reused reference.
pub async fn request(tx: &mut Tx, new: &NewRequest<'_>) -> Result<AdjustmentRequest, LedgerError> {
    if new.amount == 0 {
        return Err(LedgerError::Invalid("an adjustment must move a non-zero amount".into()));
    }
    if new.reason.trim().is_empty() {
        return Err(LedgerError::Invalid("an adjustment needs a reason".into()));
    }
    let id = pitboss_core::new_id();
    let inserted = exec!(
        tx,
        &format!(
            "INSERT INTO adjustment_requests ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', NULL, NULL, NULL, NULL)"
        ),
        id,
        new.player_id,
        new.reference,
        new.currency.as_str(),
        new.amount,
        new.reason,
        new.allow_overdraft,
        new.requested_by,
        new.now,
    );
    if let Err(e) = inserted {
        let e = pitboss_store::StoreError::from(e);
        return Err(if e.is_unique_violation() {
            LedgerError::ReferenceReused {
                kind: "adjustment request".into(),
                reference: new.reference.to_string(),
                existing: "an earlier request".into(),
            }
        } else {
            e.into()
        });
    }
    get_in(tx, id).await
}

/// A request, read inside `tx` (locked on PostgreSQL, so that two officers cannot decide it at
/// once; SQLite's single writer serialises them anyway).
pub async fn get_in(tx: &mut Tx, id: Uuid) -> Result<AdjustmentRequest, LedgerError> {
    let lock = if tx.engine() == pitboss_store::Engine::Postgres { " FOR UPDATE" } else { "" };
    let sql = format!("SELECT {COLUMNS} FROM adjustment_requests WHERE id = $1{lock}");
    let row: Option<Row> = tx!(tx, |c| sqlx::query_as(&sql).bind(id).fetch_optional(c).await)?;
    row.map(to_request)
        .transpose()?
        .ok_or_else(|| LedgerError::NotFound { kind: "adjustment request".into(), reference: id.to_string() })
}

/// Requests, newest first, optionally of one status.
pub async fn list(db: &Db, status: Option<&str>, limit: i64) -> Result<Vec<AdjustmentRequest>, LedgerError> {
    let limit = limit.clamp(1, 500);
    let rows: Vec<Row> = match status {
        Some(status) => db!(db, |c| {
            sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM adjustment_requests WHERE status = $1 ORDER BY requested_at DESC LIMIT $2"
            ))
            .bind(status)
            .bind(limit)
            .fetch_all(c)
            .await
        })?,
        None => db!(db, |c| {
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM adjustment_requests ORDER BY requested_at DESC LIMIT $1"))
                .bind(limit)
                .fetch_all(c)
                .await
        })?,
    };
    rows.into_iter().map(to_request).collect()
}

/// Checks that `by` may decide `request` now: it is pending and `by` did not ask for it.
pub fn check_decider(request: &AdjustmentRequest, by: &str) -> Result<(), LedgerError> {
    if request.status != "pending" {
        return Err(LedgerError::InvalidTransition {
            kind: "adjustment request".into(),
            reference: request.reference.clone(),
            from: request.status.clone(),
            to: "decided".into(),
        });
    }
    if request.requested_by == by {
        return Err(LedgerError::FourEyes);
    }
    Ok(())
}

/// Records the decision; the caller has posted the adjustment (for an approval) in the same
/// transaction and checked [`check_decider`].
pub async fn decide(
    tx: &mut Tx,
    request: &AdjustmentRequest,
    approved: bool,
    by: &str,
    reason: Option<&str>,
    transaction_id: Option<Uuid>,
    now: i64,
) -> Result<AdjustmentRequest, LedgerError> {
    check_decider(request, by)?;
    let status = if approved { "approved" } else { "rejected" };
    exec!(
        tx,
        "UPDATE adjustment_requests SET status = $2, decided_by = $3, decided_at = $4, decision_reason = $5, \
         transaction_id = $6 WHERE id = $1 AND status = 'pending'",
        request.id,
        status,
        by,
        now,
        reason,
        transaction_id,
    )?;
    get_in(tx, request.id).await
}
