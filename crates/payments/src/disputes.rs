//! Disputes: an operator opens one on a player's transaction (a chargeback, a stuck payment, a
//! wrong balance), the team attaches notes, and it is resolved, always with a reason: by
//! reversing the transaction, by settling a stuck payment either way, by a manual credit or
//! debit (an adjustment, posted like any other), or by deciding that the transaction stands.
//!
//! A chargeback marks the deposit `disputed` in the ledger until it is resolved. A stuck
//! payment resolved by a manual credit is failed, so that it can never credit twice. Each
//! resolution's ledger movement goes through [`ledger::transition`], so what the ledger
//! refuses (reversing a failed payment, say) is refused here too. A transaction has at most one
//! unresolved dispute, and a resolved dispute takes no more notes or resolutions. An adjustment
//! that needs a second officer leaves the dispute `awaiting_approval` until the request is
//! decided: approved, the dispute is resolved by it; rejected, the dispute is open again.

use chrono::{DateTime, Utc};
use pitboss_core::new_id;
use pitboss_core::time::{from_micros, to_micros};
use pitboss_store::{Db, Tx, db, exec, sqlx, tx};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{LedgerError, TxKind, TxStatus, ledger};

pitboss_core::string_enum!(
    /// What a dispute is about.
    DisputeKind {
        Chargeback => "chargeback",
        StuckPayment => "stuck_payment",
        WrongBalance => "wrong_balance",
    }
);

pitboss_core::string_enum!(
    /// Where a dispute is.
    DisputeState {
        Open => "open",
        AwaitingApproval => "awaiting_approval",
        Resolved => "resolved",
    }
);

pitboss_core::string_enum!(
    /// How a dispute ends: `reverse` the transaction (money back), `complete` or `fail` a
    /// stuck payment, `adjust` the balance by a manual credit or debit, or `uphold` the
    /// transaction as it is.
    Resolution {
        Reverse => "reverse",
        Complete => "complete",
        Fail => "fail",
        Adjust => "adjust",
        Uphold => "uphold",
    }
);

/// The longest reason or note.
pub const MAX_TEXT: usize = 4_000;

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Note {
    pub id: Uuid,
    pub author: String,
    pub body: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Dispute {
    pub id: Uuid,
    pub transaction_id: Uuid,
    pub player_id: Uuid,
    pub kind: DisputeKind,
    pub state: DisputeState,
    /// Why it was opened.
    pub reason: String,
    pub opened_by: String,
    pub opened_at: DateTime<Utc>,
    pub resolution: Option<Resolution>,
    pub resolution_reason: Option<String>,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// The adjustment request waiting for a second officer, when the resolution needs one.
    pub adjustment_request: Option<Uuid>,
    /// The adjustment that resolved it.
    pub adjustment_id: Option<Uuid>,
    /// Oldest first; empty in lists.
    pub notes: Vec<Note>,
}

const COLUMNS: &str = "id, transaction_id, player_id, kind, state, reason, opened_by, opened_at, resolution, \
    resolution_reason, resolved_by, resolved_at, adjustment_request, adjustment_id";

#[derive(sqlx::FromRow)]
struct DisputeRow {
    id: Uuid,
    transaction_id: Uuid,
    player_id: Uuid,
    kind: String,
    state: String,
    reason: String,
    opened_by: String,
    opened_at: i64,
    resolution: Option<String>,
    resolution_reason: Option<String>,
    resolved_by: Option<String>,
    resolved_at: Option<i64>,
    adjustment_request: Option<Uuid>,
    adjustment_id: Option<Uuid>,
}

impl DisputeRow {
    fn into_dispute(self) -> Dispute {
        Dispute {
            id: self.id,
            transaction_id: self.transaction_id,
            player_id: self.player_id,
            kind: self.kind.parse().unwrap_or(DisputeKind::WrongBalance),
            state: self.state.parse().unwrap_or(DisputeState::Open),
            reason: self.reason,
            opened_by: self.opened_by,
            opened_at: from_micros(self.opened_at),
            resolution: self.resolution.and_then(|r| r.parse().ok()),
            resolution_reason: self.resolution_reason,
            resolved_by: self.resolved_by,
            resolved_at: self.resolved_at.map(from_micros),
            adjustment_request: self.adjustment_request,
            adjustment_id: self.adjustment_id,
            notes: Vec::new(),
        }
    }
}

/// A reason or note, trimmed, or what is wrong with it.
fn text(field: &str, value: &str) -> Result<String, LedgerError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(LedgerError::Invalid(format!("{field}: say why")));
    }
    if value.chars().count() > MAX_TEXT {
        return Err(LedgerError::Invalid(format!("{field}: at most {MAX_TEXT} characters")));
    }
    Ok(value.to_string())
}

fn conflict(message: impl Into<String>) -> LedgerError {
    LedgerError::Conflict(message.into())
}

/// Opens a dispute on a player's transaction. A chargeback is on a completed deposit, which
/// becomes `disputed`; a stuck payment is a pending one; a wrong balance may concern any.
pub async fn open(
    tx: &mut Tx,
    transaction_id: Uuid,
    kind: DisputeKind,
    reason: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Dispute, LedgerError> {
    let reason = text("reason", reason)?;
    let t = ledger::get_in(tx, transaction_id).await?;
    let player_id =
        t.player_id.ok_or_else(|| LedgerError::Invalid("a dispute is about a player's transaction".into()))?;
    match kind {
        DisputeKind::Chargeback if t.kind != TxKind::Deposit || t.status != TxStatus::Completed => {
            return Err(conflict(format!(
                "a chargeback is on a completed deposit; this is a {} {}",
                t.status,
                t.kind.as_str().replace('_', " ")
            )));
        }
        DisputeKind::StuckPayment if t.status != TxStatus::Pending => {
            return Err(conflict(format!("only a pending payment can be stuck; this one is {}", t.status)));
        }
        _ => {}
    }
    let id = new_id();
    let inserted = exec!(
        tx,
        &format!(
            "INSERT INTO disputes ({COLUMNS}, updated_at) \
             VALUES ($1, $2, $3, $4, 'open', $5, $6, $7, NULL, NULL, NULL, NULL, NULL, NULL, $7)"
        ),
        id,
        transaction_id,
        player_id,
        kind.as_str(),
        reason.as_str(),
        actor,
        to_micros(now),
    );
    if let Err(e) = inserted {
        let e = pitboss_store::StoreError::from(e);
        return Err(if e.is_unique_violation() {
            conflict("this transaction already has an unresolved dispute; add a note to it instead")
        } else {
            e.into()
        });
    }
    if kind == DisputeKind::Chargeback {
        ledger::transition(tx, transaction_id, TxStatus::Disputed, Some(&reason), actor, now).await?;
    }
    get_in(tx, id).await
}

/// Adds a note to a dispute that is not resolved.
pub async fn add_note(
    tx: &mut Tx,
    id: Uuid,
    author: &str,
    body: &str,
    now: DateTime<Utc>,
) -> Result<Note, LedgerError> {
    let body = text("body", body)?;
    let dispute = get_in(tx, id).await?;
    if dispute.state == DisputeState::Resolved {
        return Err(conflict("the dispute is resolved; open a new one if something is still wrong"));
    }
    let note = Note { id: new_id(), author: author.to_string(), body, at: from_micros(to_micros(now)) };
    exec!(
        tx,
        "INSERT INTO dispute_notes (id, dispute_id, author, body, at) VALUES ($1, $2, $3, $4, $5)",
        note.id,
        id,
        note.author.as_str(),
        note.body.as_str(),
        to_micros(now),
    )?;
    Ok(note)
}

/// What the caller checks before resolving: the dispute is open (not waiting for a second
/// officer, not resolved) and the reason is given. Returns the dispute and the reason.
pub async fn check_open(tx: &mut Tx, id: Uuid, reason: &str) -> Result<(Dispute, String), LedgerError> {
    let dispute = get_in(tx, id).await?;
    match dispute.state {
        DisputeState::Open => Ok((dispute, text("reason", reason)?)),
        DisputeState::AwaitingApproval => {
            Err(conflict("the dispute waits for a second officer's decision on its adjustment"))
        }
        DisputeState::Resolved => Err(conflict("the dispute is already resolved")),
    }
}

/// Resolves an open dispute, moving its transaction as the resolution says. For `adjust`, the
/// caller has posted the adjustment in the same transaction and gives its id.
pub async fn resolve(
    tx: &mut Tx,
    id: Uuid,
    resolution: Resolution,
    reason: &str,
    adjustment: Option<Uuid>,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Dispute, LedgerError> {
    let (dispute, reason) = check_open(tx, id, reason).await?;
    if (resolution == Resolution::Adjust) != adjustment.is_some() {
        return Err(LedgerError::Invalid("an adjustment resolves a dispute only as `adjust`".into()));
    }
    let t = ledger::get_in(tx, dispute.transaction_id).await?;
    let to = match resolution {
        Resolution::Reverse => Some(TxStatus::Reversed),
        Resolution::Complete => Some(TxStatus::Completed),
        Resolution::Fail => Some(TxStatus::Failed),
        // A stuck payment made good by hand is failed, so that if it arrives after all it
        // cannot credit the player a second time.
        Resolution::Adjust if t.status == TxStatus::Pending => Some(TxStatus::Failed),
        // The correction is the adjustment, or nothing; a disputed deposit stands again.
        Resolution::Adjust | Resolution::Uphold => (t.status == TxStatus::Disputed).then_some(TxStatus::Completed),
    };
    if let Some(to) = to {
        if t.status == to {
            return Err(conflict(format!("the transaction is already {to}")));
        }
        ledger::transition(tx, t.id, to, Some(&reason), actor, now).await?;
    }
    let changed = exec!(
        tx,
        "UPDATE disputes SET state = 'resolved', resolution = $1, resolution_reason = $2, resolved_by = $3, \
         resolved_at = $4, adjustment_id = $5, updated_at = $4 WHERE id = $6 AND state = 'open'",
        resolution.as_str(),
        reason.as_str(),
        actor,
        to_micros(now),
        adjustment,
        id,
    )?;
    if changed != 1 {
        return Err(conflict("someone else resolved the dispute at the same moment"));
    }
    get_in(tx, id).await
}

/// Marks an open dispute as waiting for a second officer's decision on the adjustment request
/// that would resolve it.
pub async fn await_approval(tx: &mut Tx, id: Uuid, request: Uuid, now: DateTime<Utc>) -> Result<Dispute, LedgerError> {
    let changed = exec!(
        tx,
        "UPDATE disputes SET state = 'awaiting_approval', adjustment_request = $1, updated_at = $2 \
         WHERE id = $3 AND state = 'open'",
        request,
        to_micros(now),
        id,
    )?;
    if changed != 1 {
        return Err(conflict("the dispute is no longer open"));
    }
    get_in(tx, id).await
}

/// After a second officer decided an adjustment request: the dispute waiting for it (if any) is
/// resolved by the adjustment, or, if the request was rejected, open again with a note saying
/// so.
pub async fn request_decided(
    tx: &mut Tx,
    request: &crate::approvals::AdjustmentRequest,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Option<Dispute>, LedgerError> {
    let found: Option<Uuid> = tx!(tx, |c| sqlx::query_scalar(
        "SELECT id FROM disputes WHERE adjustment_request = $1 AND state = 'awaiting_approval'"
    )
    .bind(request.id)
    .fetch_optional(c)
    .await)?;
    let Some(id) = found else { return Ok(None) };
    exec!(tx, "UPDATE disputes SET state = 'open', updated_at = $1 WHERE id = $2", to_micros(now), id)?;
    match request.transaction_id {
        Some(adjustment) if request.status == "approved" => {
            resolve(tx, id, Resolution::Adjust, &request.reason, Some(adjustment), by, now).await.map(Some)
        }
        _ => {
            let why = request.decision_reason.as_deref().unwrap_or("no reason given");
            add_note(tx, id, by, &format!("The adjustment was rejected: {why}"), now).await?;
            get_in(tx, id).await.map(Some)
        }
    }
}

async fn get_in(tx: &mut Tx, id: Uuid) -> Result<Dispute, LedgerError> {
    let sql = format!("SELECT {COLUMNS} FROM disputes WHERE id = $1");
    let row: Option<DisputeRow> = tx!(tx, |c| sqlx::query_as(&sql).bind(id).fetch_optional(c).await)?;
    let mut dispute = row.map(DisputeRow::into_dispute).ok_or_else(|| not_found(id))?;
    let notes: Vec<(Uuid, String, String, i64)> = tx!(tx, |c| sqlx::query_as(
        "SELECT id, author, body, at FROM dispute_notes WHERE dispute_id = $1 ORDER BY at, id"
    )
    .bind(id)
    .fetch_all(c)
    .await)?;
    dispute.notes =
        notes.into_iter().map(|(id, author, body, at)| Note { id, author, body, at: from_micros(at) }).collect();
    Ok(dispute)
}

fn not_found(id: Uuid) -> LedgerError {
    LedgerError::NotFound { kind: "dispute".into(), reference: id.to_string() }
}

/// A dispute with its notes.
pub async fn get(db: &Db, id: Uuid) -> Result<Dispute, LedgerError> {
    let mut tx = db.begin().await?;
    let dispute = get_in(&mut tx, id).await;
    tx.rollback().await?;
    dispute
}

/// Disputes (without their notes): unresolved ones oldest first, resolved ones newest first;
/// of one transaction when given.
pub async fn list(
    db: &Db,
    state: Option<DisputeState>,
    transaction: Option<Uuid>,
    limit: u32,
) -> Result<Vec<Dispute>, LedgerError> {
    let limit = limit.clamp(1, 500);
    let order = if state == Some(DisputeState::Resolved) { "resolved_at DESC" } else { "opened_at" };
    let sql = format!(
        "SELECT {COLUMNS} FROM disputes WHERE ($1 IS NULL OR state = $1) AND ($2 IS NULL OR transaction_id = $2) \
         ORDER BY {order}, id LIMIT {limit}"
    );
    let rows: Vec<DisputeRow> =
        db!(db, |c| sqlx::query_as(&sql).bind(state.map(|s| s.as_str())).bind(transaction).fetch_all(c).await)?;
    Ok(rows.into_iter().map(DisputeRow::into_dispute).collect())
}
