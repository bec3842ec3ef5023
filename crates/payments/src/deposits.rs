//! Reading a player's money history for other modules: completed deposits in bulk, for models
//! that learn from players' deposit histories (churn and lifetime value), and a player's
//! deposits and rounds over a window, for the limits. Read-only; other modules get these through
//! here rather than from the ledger tables.

use chrono::{DateTime, Utc};
use pitboss_core::Currency;
use pitboss_core::time::{from_micros, to_micros};
use pitboss_store::{Db, db, sqlx};
use uuid::Uuid;

use crate::LedgerError;
use crate::types::{TxKind, TxStatus};

/// Most rows one page may ask for.
pub const MAX_PAGE: u32 = 50_000;

/// One completed deposit: who, how much (integer minor units of `currency`, the player's wallet
/// currency) and when the platform says it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedDeposit {
    pub id: Uuid,
    pub player_id: Uuid,
    pub currency: Currency,
    pub amount: i64,
    pub occurred_at: DateTime<Utc>,
}

/// One page of deposits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DepositPage {
    pub items: Vec<CompletedDeposit>,
    /// Pass as `after` for the next page; `None` on the last.
    pub next: Option<Uuid>,
}

/// One page of completed deposits that occurred up to `until`, in transaction id order, after
/// the deposit `after` (the `next` of the previous page). Reversed, disputed, failed and pending
/// deposits are left out: they are not money the player has brought in.
pub async fn completed_deposits(
    db: &Db,
    until: DateTime<Utc>,
    after: Option<Uuid>,
    limit: u32,
) -> Result<DepositPage, LedgerError> {
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(LedgerError::Invalid(format!("limit: must be between 1 and {MAX_PAGE}")));
    }
    // The id is a UUIDv7, so walking it in order walks the primary key without a sort; the
    // cursor is bound as the nil id on the first page so that the SQL text stays one.
    let rows: Vec<(Uuid, Option<Uuid>, String, i64, i64)> = db!(db, |c| {
        sqlx::query_as(
            "SELECT id, player_id, currency, amount, occurred_at FROM ledger_transactions \
             WHERE kind = $1 AND status = $2 AND occurred_at <= $3 AND id > $4 AND player_id IS NOT NULL \
             ORDER BY id LIMIT $5",
        )
        .bind(TxKind::Deposit.as_str())
        .bind(TxStatus::Completed.as_str())
        .bind(to_micros(until))
        .bind(after.unwrap_or(Uuid::nil()))
        .bind(i64::from(limit))
        .fetch_all(c)
        .await
    })?;
    let next = (rows.len() == limit as usize).then(|| rows.last().map(|r| r.0)).flatten();
    let items = rows
        .into_iter()
        .filter_map(|(id, player_id, currency, amount, occurred_at)| {
            Some(CompletedDeposit {
                id,
                player_id: player_id?,
                // The ledger only ever stores ISO 4217 codes; a row that does not parse is skipped
                // rather than guessed.
                currency: currency.parse().ok()?,
                amount,
                occurred_at: from_micros(occurred_at),
            })
        })
        .collect();
    Ok(DepositPage { items, next })
}

/// A player's deposits since `since` (by when the platform says each happened): completed ones
/// and those still pending, which are on their way in; failed and reversed ones are not. As
/// `(currency, amount, occurred_at)`, for limits that each sum their own window of it.
pub async fn deposits_since(
    db: &Db,
    player: Uuid,
    since: DateTime<Utc>,
) -> Result<Vec<(Currency, i64, DateTime<Utc>)>, LedgerError> {
    Ok(deposit_attempts_since(db, player, since)
        .await?
        .into_iter()
        .filter(|d| matches!(d.status, TxStatus::Completed | TxStatus::Pending))
        .map(|d| (d.currency, d.amount, d.occurred_at))
        .collect())
}

/// One deposit the player made or tried, whatever became of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DepositAttempt {
    pub status: TxStatus,
    pub currency: Currency,
    pub amount: i64,
    pub occurred_at: DateTime<Utc>,
}

/// Every deposit of a player's since `since` (by when the platform says each happened), in any
/// status: the anomaly rules count the completed and the failed ones.
pub async fn deposit_attempts_since(
    db: &Db,
    player: Uuid,
    since: DateTime<Utc>,
) -> Result<Vec<DepositAttempt>, LedgerError> {
    let rows: Vec<(String, String, i64, i64)> = db!(db, |c| {
        sqlx::query_as(
            "SELECT status, currency, amount, occurred_at FROM ledger_transactions \
             WHERE player_id = $1 AND kind = $2 AND occurred_at >= $3",
        )
        .bind(player)
        .bind(TxKind::Deposit.as_str())
        .bind(to_micros(since))
        .fetch_all(c)
        .await
    })?;
    let stored =
        |what: &str, e: String| LedgerError::Store(pitboss_store::StoreError::Config(format!("stored {what}: {e}")));
    rows.into_iter()
        .map(|(status, currency, amount, at)| {
            Ok(DepositAttempt {
                status: status.parse().map_err(|e| stored("status", e))?,
                currency: currency
                    .parse()
                    .map_err(|e: pitboss_core::money::CurrencyError| stored("currency", e.to_string()))?,
                amount,
                occurred_at: from_micros(at),
            })
        })
        .collect()
}

/// One settled round: its stake and what it paid back to the player.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub currency: Currency,
    pub stake: i64,
    pub win: i64,
    pub occurred_at: DateTime<Utc>,
}

/// A player's rounds since `since` (by when the platform says each happened), for the wager
/// and loss limits. The win is what the round's postings paid into the player's accounts.
pub async fn rounds_since(db: &Db, player: Uuid, since: DateTime<Utc>) -> Result<Vec<Round>, LedgerError> {
    let rows: Vec<(String, i64, i64, i64)> = db!(db, |c| {
        sqlx::query_as(
            "SELECT t.currency, t.amount, CAST(COALESCE((SELECT SUM(p.credit) FROM ledger_postings p \
             JOIN ledger_accounts a ON a.code = p.account_code \
             WHERE p.transaction_id = t.id AND a.player_id = t.player_id AND p.phase = 'posted'), 0) AS BIGINT), \
             t.occurred_at FROM ledger_transactions t \
             WHERE t.player_id = $1 AND t.kind = $2 AND t.occurred_at >= $3 AND t.status = $4",
        )
        .bind(player)
        .bind(TxKind::GameRound.as_str())
        .bind(to_micros(since))
        .bind(TxStatus::Completed.as_str())
        .fetch_all(c)
        .await
    })?;
    rows.into_iter()
        .map(|(currency, stake, win, at)| {
            let currency = currency
                .parse()
                .map_err(|e| LedgerError::Store(pitboss_store::StoreError::Config(format!("stored currency: {e}"))))?;
            Ok(Round { currency, stake, win, occurred_at: from_micros(at) })
        })
        .collect()
}
