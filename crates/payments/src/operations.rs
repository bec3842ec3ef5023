//! The casino's money movements in ledger terms: which accounts each one touches, and how
//! the events of one payment's life (requested, completed, failed...) move its transaction.
//!
//! Events may arrive out of order. The rules, in one place:
//! - `completed` with no `requested` before it records the payment as completed directly;
//!   a `requested` arriving afterwards is stale and changes nothing.
//! - `failed`/`cancelled` with no `requested` records a failed payment with no movement;
//!   a later `requested` is stale, a later `completed` is refused (it needs an adjustment).
//! - Replaying any event changes nothing; the same reference with a different player,
//!   currency or amount is refused.

//!
//! Each rule is written once against [`Books`]: the database one statement at a time (`Tx`), or
//! a set decided in memory (`bulk`).

use chrono::{DateTime, Utc};
use pitboss_core::Currency;
use uuid::Uuid;

use crate::LedgerError;
use crate::accounts::{house_adjustments, house_bonus, house_games, payment_clearing, player_bonus, player_cash};
use crate::books::Books;
use crate::ledger::{Recorded, check_same, transfer};
use crate::types::{LedgerTransaction, NewTransaction, Transfer, TxKind, TxStatus};

/// Who, in which currency, how, and when.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub player: Uuid,
    pub currency: Currency,
    /// A payment's method, kept on the transaction a payment event creates.
    pub method: Option<&'a str>,
    pub occurred_at: DateTime<Utc>,
    pub now: DateTime<Utc>,
    pub actor: &'a str,
}

/// What an operation did to the ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub transaction: LedgerTransaction,
    /// Money moved for good just now (a deposit or withdrawal newly completed, a round
    /// settled): the player's aggregates count it once, on this change.
    pub settled: bool,
    /// Why nothing changed, when nothing did: a replay, or a stale event.
    pub note: Option<String>,
}

fn created(t: LedgerTransaction, settled: bool) -> Change {
    Change { transaction: t, settled, note: None }
}

fn unchanged(t: LedgerTransaction, note: impl Into<String>) -> Change {
    Change { transaction: t, settled: false, note: Some(note.into()) }
}

fn new_tx(ctx: &Context<'_>, kind: TxKind, reference: &str, amount: i64, transfers: Vec<Transfer>) -> NewTransaction {
    NewTransaction {
        kind,
        reference: reference.to_string(),
        player_id: Some(ctx.player),
        currency: ctx.currency,
        amount,
        detail: None,
        transfers,
        hold: false,
        failed: false,
        allow_overdraft: false,
        occurred_at: ctx.occurred_at,
        description: None,
        method: ctx.method.map(str::to_string),
        actor: ctx.actor.to_string(),
    }
}

fn payment_transfer(ctx: &Context<'_>, kind: TxKind, amount: i64) -> Transfer {
    let (cash, clearing) = (player_cash(ctx.player, ctx.currency), payment_clearing(ctx.currency));
    match kind {
        TxKind::Deposit => transfer(clearing, cash, amount),
        _ => transfer(cash, clearing, amount),
    }
}

/// A payment was requested: the amount is held (a withdrawal's leaves the spendable balance;
/// a deposit's shows as incoming) until it completes or fails.
pub async fn payment_requested(
    tx: &mut impl Books,
    ctx: &Context<'_>,
    kind: TxKind,
    reference: &str,
    amount: i64,
) -> Result<Change, LedgerError> {
    if let Some(existing) = tx.find(kind, reference).await? {
        check_same(&existing, Some(ctx.player), ctx.currency, amount)?;
        let note = if existing.status == TxStatus::Pending {
            "replay: already requested".to_string()
        } else {
            format!("stale: the {kind} is already {}", existing.status)
        };
        return Ok(unchanged(existing, note));
    }
    let mut new = new_tx(ctx, kind, reference, amount, vec![payment_transfer(ctx, kind, amount)]);
    new.hold = true;
    Ok(created(tx.record(new, ctx.now).await?.transaction().clone(), false))
}

/// A payment completed: its hold is posted, or, if it was never requested, it is posted now.
pub async fn payment_completed(
    tx: &mut impl Books,
    ctx: &Context<'_>,
    kind: TxKind,
    reference: &str,
    amount: i64,
) -> Result<Change, LedgerError> {
    match tx.find(kind, reference).await? {
        Some(existing) => {
            check_same(&existing, Some(ctx.player), ctx.currency, amount)?;
            match existing.status {
                TxStatus::Pending => {
                    let t = tx.transition(existing.id, TxStatus::Completed, None, ctx.actor, ctx.now).await?;
                    Ok(created(t, true))
                }
                TxStatus::Failed => Err(LedgerError::InvalidTransition {
                    kind: kind.to_string(),
                    reference: reference.to_string(),
                    from: "failed".into(),
                    to: "completed (a late completion needs a manual adjustment)".into(),
                }),
                status => Ok(unchanged(existing, format!("replay: already {status}"))),
            }
        }
        None => {
            let new = new_tx(ctx, kind, reference, amount, vec![payment_transfer(ctx, kind, amount)]);
            Ok(created(tx.record(new, ctx.now).await?.transaction().clone(), true))
        }
    }
}

/// A payment failed or was cancelled: its hold is released. Never requested: it is recorded
/// as failed, with no money movement, so a late `requested` cannot revive it.
pub async fn payment_failed(
    tx: &mut impl Books,
    ctx: &Context<'_>,
    kind: TxKind,
    reference: &str,
    amount: i64,
    reason: Option<&str>,
) -> Result<Change, LedgerError> {
    match tx.find(kind, reference).await? {
        Some(existing) => {
            check_same(&existing, Some(ctx.player), ctx.currency, amount)?;
            match existing.status {
                TxStatus::Pending => {
                    let t = tx.transition(existing.id, TxStatus::Failed, reason, ctx.actor, ctx.now).await?;
                    Ok(created(t, false))
                }
                TxStatus::Failed => Ok(unchanged(existing, "replay: already failed")),
                status => Err(LedgerError::InvalidTransition {
                    kind: kind.to_string(),
                    reference: reference.to_string(),
                    from: status.to_string(),
                    to: "failed".into(),
                }),
            }
        }
        None => {
            let mut new = new_tx(ctx, kind, reference, amount, vec![]);
            new.failed = true;
            new.description = reason.map(str::to_string);
            Ok(created(tx.record(new, ctx.now).await?.transaction().clone(), false))
        }
    }
}

/// A settled game round: the stake goes to the house, the win comes back.
pub async fn game_round(
    tx: &mut impl Books,
    ctx: &Context<'_>,
    round_id: &str,
    stake: i64,
    win: i64,
) -> Result<Change, LedgerError> {
    let (cash, house) = (player_cash(ctx.player, ctx.currency), house_games(ctx.currency));
    let transfers = vec![transfer(cash.clone(), house.clone(), stake), transfer(house, cash, win)];
    let mut new = new_tx(ctx, TxKind::GameRound, round_id, stake, transfers);
    // A replay of the round with another win is refused, not ignored.
    new.detail = Some(format!("win={win}"));
    new.description = Some(format!("stake {stake}, win {win}"));
    settle(tx, new, ctx.now).await
}

/// Bonus money: `granted` from the house to the player's bonus account, `converted` from bonus
/// to cash, `forfeited` back to the house.
pub async fn bonus(
    tx: &mut impl Books,
    ctx: &Context<'_>,
    kind: TxKind,
    bonus_id: &str,
    amount: i64,
) -> Result<Change, LedgerError> {
    let (bonus, house) = (player_bonus(ctx.player, ctx.currency), house_bonus(ctx.currency));
    let t = match kind {
        TxKind::BonusGrant => transfer(house, bonus, amount),
        TxKind::BonusConvert => transfer(bonus, player_cash(ctx.player, ctx.currency), amount),
        TxKind::BonusForfeit => transfer(bonus, house, amount),
        other => return Err(LedgerError::Invalid(format!("{other} is not a bonus movement"))),
    };
    settle(tx, new_tx(ctx, kind, bonus_id, amount, vec![t]), ctx.now).await
}

/// A manual correction by an operator: `delta` positive credits the player's cash, negative
/// debits it. The reason is kept in the status history.
pub async fn adjustment(
    tx: &mut impl Books,
    ctx: &Context<'_>,
    reference: &str,
    delta: i64,
    reason: &str,
    allow_overdraft: bool,
) -> Result<Change, LedgerError> {
    if delta == 0 {
        return Err(LedgerError::Invalid("an adjustment must move a non-zero amount".into()));
    }
    if reason.trim().is_empty() {
        return Err(LedgerError::Invalid("an adjustment needs a reason".into()));
    }
    let (cash, house) = (player_cash(ctx.player, ctx.currency), house_adjustments(ctx.currency));
    let t = if delta > 0 { transfer(house, cash, delta) } else { transfer(cash, house, -delta) };
    let mut new = new_tx(ctx, TxKind::Adjustment, reference, delta, vec![t]);
    new.allow_overdraft = allow_overdraft;
    new.description = Some(reason.to_string());
    settle(tx, new, ctx.now).await
}

async fn settle(tx: &mut impl Books, new: NewTransaction, now: DateTime<Utc>) -> Result<Change, LedgerError> {
    Ok(match tx.record(new, now).await? {
        Recorded::Created(t) => created(t, true),
        Recorded::Replayed(t) => unchanged(t, "replay: already recorded"),
    })
}

/// A money movement the platform reports, as the ledger takes it.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    PaymentRequested {
        kind: TxKind,
        reference: String,
        amount: i64,
    },
    PaymentCompleted {
        kind: TxKind,
        reference: String,
        amount: i64,
    },
    /// Failed or cancelled, with the reason given.
    PaymentFailed {
        kind: TxKind,
        reference: String,
        amount: i64,
        reason: Option<String>,
    },
    Round {
        round_id: String,
        stake: i64,
        win: i64,
    },
    /// `kind` is one of the bonus kinds.
    Bonus {
        kind: TxKind,
        bonus_id: String,
        amount: i64,
    },
}

impl Operation {
    /// The ledger transaction it records or moves: `(kind, reference)`, the idempotency key.
    pub fn key(&self) -> (TxKind, &str) {
        match self {
            Operation::PaymentRequested { kind, reference, .. }
            | Operation::PaymentCompleted { kind, reference, .. }
            | Operation::PaymentFailed { kind, reference, .. } => (*kind, reference),
            Operation::Round { round_id, .. } => (TxKind::GameRound, round_id),
            Operation::Bonus { kind, bonus_id, .. } => (*kind, bonus_id),
        }
    }
}

/// Carries out `operation` by the rules above.
pub async fn perform(tx: &mut impl Books, ctx: &Context<'_>, operation: &Operation) -> Result<Change, LedgerError> {
    match operation {
        Operation::PaymentRequested { kind, reference, amount } => {
            payment_requested(tx, ctx, *kind, reference, *amount).await
        }
        Operation::PaymentCompleted { kind, reference, amount } => {
            payment_completed(tx, ctx, *kind, reference, *amount).await
        }
        Operation::PaymentFailed { kind, reference, amount, reason } => {
            payment_failed(tx, ctx, *kind, reference, *amount, reason.as_deref()).await
        }
        Operation::Round { round_id, stake, win } => game_round(tx, ctx, round_id, *stake, *win).await,
        Operation::Bonus { kind, bonus_id, amount } => bonus(tx, ctx, *kind, bonus_id, *amount).await,
    }
}
