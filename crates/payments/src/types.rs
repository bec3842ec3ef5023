use chrono::{DateTime, Utc};
use pitboss_core::Currency;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pitboss_core::string_enum!(
    /// What a ledger transaction is.
    TxKind {
        Deposit => "deposit",
        Withdrawal => "withdrawal",
        GameRound => "game_round",
        BonusGrant => "bonus_grant",
        BonusConvert => "bonus_convert",
        BonusForfeit => "bonus_forfeit",
        Adjustment => "adjustment",
    }
);

pitboss_core::string_enum!(
    /// Where a transaction is in its life. Every change is kept in the status history.
    TxStatus {
        Pending => "pending",
        Completed => "completed",
        Failed => "failed",
        Reversed => "reversed",
        Disputed => "disputed",
    }
);

/// Money moving from one account to another: `debit` is charged, `credit` receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Transfer {
    pub debit: String,
    pub credit: String,
    pub amount: i64,
}

/// A transaction to record.
#[derive(Debug, Clone)]
pub struct NewTransaction {
    pub kind: TxKind,
    /// The platform's reference: with `kind`, the idempotency key.
    pub reference: String,
    pub player_id: Option<Uuid>,
    pub currency: Currency,
    /// The headline amount (a deposit's size, a round's stake): part of the idempotency check.
    pub amount: i64,
    /// Anything else a replay must match (a round's win), part of the idempotency check.
    pub detail: Option<String>,
    pub transfers: Vec<Transfer>,
    /// Reserve the transfers as a hold (status `pending`) instead of posting them.
    pub hold: bool,
    /// Record a transaction that already failed, with no money movement.
    pub failed: bool,
    /// Let a player account go below zero (a chargeback reclaiming spent money).
    pub allow_overdraft: bool,
    pub occurred_at: DateTime<Utc>,
    pub description: Option<String>,
    /// How a deposit or withdrawal is paid (`card`, `bank_transfer`...), as the platform said.
    pub method: Option<String>,
    pub actor: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LedgerTransaction {
    pub id: Uuid,
    pub kind: TxKind,
    pub reference: String,
    pub player_id: Option<Uuid>,
    pub currency: Currency,
    pub amount: i64,
    pub status: TxStatus,
    /// A hold is outstanding: the amount is reserved but not yet posted.
    pub held: bool,
    pub description: Option<String>,
    /// How a deposit or withdrawal is paid (`card`, `bank_transfer`...), when the platform said.
    pub method: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip)]
    pub request_hash: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Posting {
    pub account: String,
    /// `posted`, or `pending` for a hold (a released hold shows as negative amounts).
    pub phase: String,
    pub debit: i64,
    pub credit: i64,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct StatusChange {
    pub from: Option<TxStatus>,
    pub to: TxStatus,
    pub reason: Option<String>,
    pub actor: String,
    pub at: DateTime<Utc>,
}

/// An account's balance, from the account holder's side: money the player has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Balance {
    pub account: String,
    pub currency: Currency,
    /// Posted credits minus posted debits.
    pub posted: i64,
    /// Held for pending withdrawals (not spendable).
    pub held: i64,
    /// Pending incoming money (deposits not yet completed).
    pub incoming: i64,
    /// What can be spent now: posted minus held.
    pub available: i64,
}
