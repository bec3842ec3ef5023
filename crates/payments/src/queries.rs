//! Reading the ledger: balances, transactions with their postings and history, and the
//! verification that every cached balance agrees with the postings.

use pitboss_core::Currency;
use pitboss_core::time::from_micros;
use pitboss_store::{Db, db, sqlx};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::LedgerError;
use crate::ledger::{TX_COLUMNS, TxRow};
use crate::types::{Balance, LedgerTransaction, Posting, StatusChange};

/// The balances of a player's accounts.
pub async fn player_balances(db: &Db, player: Uuid) -> Result<Vec<Balance>, LedgerError> {
    let rows: Vec<(String, String, i64, i64, i64, i64)> = db!(db, |c| {
        sqlx::query_as(
            "SELECT code, currency, posted_debits, posted_credits, pending_debits, pending_credits \
             FROM ledger_accounts WHERE player_id = $1 ORDER BY code",
        )
        .bind(player)
        .fetch_all(c)
        .await
    })?;
    Ok(rows
        .into_iter()
        .map(|(account, currency, pd, pc, hd, hc)| Balance {
            account,
            currency: currency.parse().unwrap_or(Currency::EUR),
            posted: pc - pd,
            held: hd,
            incoming: hc,
            available: pc - pd - hd,
        })
        .collect())
}

/// A transaction by id, with its postings and status history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TransactionDetail {
    #[serde(flatten)]
    pub transaction: LedgerTransaction,
    pub postings: Vec<Posting>,
    pub history: Vec<StatusChange>,
}

#[derive(sqlx::FromRow)]
struct HistoryRow {
    from_status: Option<String>,
    to_status: String,
    reason: Option<String>,
    actor: String,
    at: i64,
}

pub async fn transaction(db: &Db, id: Uuid) -> Result<TransactionDetail, LedgerError> {
    let sql = format!("SELECT {TX_COLUMNS} FROM ledger_transactions WHERE id = $1");
    let row: Option<TxRow> = db!(db, |c| sqlx::query_as(&sql).bind(id).fetch_optional(c).await)?;
    let transaction = row
        .map(TxRow::into_transaction)
        .ok_or_else(|| LedgerError::NotFound { kind: "transaction".into(), reference: id.to_string() })?;
    let postings: Vec<(String, String, i64, i64, i64)> = db!(db, |c| {
        sqlx::query_as(
            "SELECT account_code, phase, debit, credit, created_at FROM ledger_postings WHERE transaction_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(c)
        .await
    })?;
    let history: Vec<HistoryRow> = db!(db, |c| {
        sqlx::query_as(
            "SELECT from_status, to_status, reason, actor, at FROM ledger_status_history WHERE transaction_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(c)
        .await
    })?;
    Ok(TransactionDetail {
        transaction,
        postings: postings
            .into_iter()
            .map(|(account, phase, debit, credit, at)| Posting { account, phase, debit, credit, at: from_micros(at) })
            .collect(),
        history: history
            .into_iter()
            .filter_map(|h| {
                Some(StatusChange {
                    from: h.from_status.and_then(|f| f.parse().ok()),
                    to: h.to_status.parse().ok()?,
                    reason: h.reason,
                    actor: h.actor,
                    at: from_micros(h.at),
                })
            })
            .collect(),
    })
}

/// A filter over transactions, newest first, with keyset pagination on id.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TransactionQuery {
    pub player_id: Option<Uuid>,
    /// `deposit`, `withdrawal`, `game_round`, `bonus_grant`, `bonus_convert`, `bonus_forfeit`, `adjustment`.
    pub kind: Option<String>,
    /// `pending`, `completed`, `failed`, `reversed`, `disputed`.
    pub status: Option<String>,
    pub reference: Option<String>,
    /// 1 to 500, default 50.
    pub limit: Option<u32>,
    pub after: Option<Uuid>,
}

/// One page of transactions.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TransactionPage {
    pub items: Vec<LedgerTransaction>,
    pub next: Option<Uuid>,
}

pub async fn transactions(db: &Db, q: &TransactionQuery) -> Result<TransactionPage, LedgerError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(LedgerError::Invalid("limit: must be between 1 and 500".into()));
    }
    if let Some(k) = &q.kind {
        k.parse::<crate::TxKind>().map_err(|e| LedgerError::Invalid(format!("kind: {e}")))?;
    }
    if let Some(s) = &q.status {
        s.parse::<crate::TxStatus>().map_err(|e| LedgerError::Invalid(format!("status: {e}")))?;
    }
    let mut clauses = Vec::new();
    let mut n = 0;
    let mut next_arg = || {
        n += 1;
        format!("${n}")
    };
    if q.player_id.is_some() {
        clauses.push(format!("player_id = {}", next_arg()));
    }
    if q.kind.is_some() {
        clauses.push(format!("kind = {}", next_arg()));
    }
    if q.status.is_some() {
        clauses.push(format!("status = {}", next_arg()));
    }
    if q.reference.is_some() {
        clauses.push(format!("reference = {}", next_arg()));
    }
    if q.after.is_some() {
        clauses.push(format!("id < {}", next_arg()));
    }
    let filter = if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
    let sql = format!("SELECT {TX_COLUMNS} FROM ledger_transactions {filter} ORDER BY id DESC LIMIT {}", limit + 1);
    let mut rows: Vec<TxRow> = db!(db, |c| {
        let mut query = sqlx::query_as(&sql);
        if let Some(p) = q.player_id {
            query = query.bind(p);
        }
        for v in [&q.kind, &q.status, &q.reference].into_iter().flatten() {
            query = query.bind(v.as_str());
        }
        if let Some(a) = q.after {
            query = query.bind(a);
        }
        query.fetch_all(c).await
    })?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let items: Vec<LedgerTransaction> = rows.into_iter().map(TxRow::into_transaction).collect();
    let next = if more { items.last().map(|t| t.id) } else { None };
    Ok(TransactionPage { items, next })
}

/// What [`verify`] found.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct Verification {
    pub accounts_checked: i64,
    pub transactions_checked: i64,
    /// Each problem in words; empty when the ledger is sound.
    pub problems: Vec<String>,
}

/// Proves the ledger sound: every player account's cached balance equals the sum of its
/// postings, every transaction balances in each phase, each currency sums to zero, and no
/// player account that was never allowed an overdraft is below zero.
pub async fn verify(db: &Db) -> Result<Verification, LedgerError> {
    let mut report = Verification::default();
    let cached: Vec<(String, i64, i64, i64, i64)> = db!(db, |c| {
        sqlx::query_as(
            "SELECT code, posted_debits, posted_credits, pending_debits, pending_credits FROM ledger_accounts WHERE tracks_balance = $1",
        )
        .bind(true)
        .fetch_all(c)
        .await
    })?;
    let sums: Vec<(String, String, i64, i64)> = db!(db, |c| {
        sqlx::query_as(
            "SELECT account_code, phase, CAST(SUM(debit) AS BIGINT), CAST(SUM(credit) AS BIGINT) FROM ledger_postings GROUP BY account_code, phase",
        )
        .fetch_all(c)
        .await
    })?;
    let mut derived: std::collections::HashMap<String, [i64; 4]> = Default::default();
    for (account, phase, d, c) in sums {
        let e = derived.entry(account).or_default();
        if phase == "posted" {
            e[0] += d;
            e[1] += c;
        } else {
            e[2] += d;
            e[3] += c;
        }
    }
    for (code, pd, pc, hd, hc) in cached {
        report.accounts_checked += 1;
        let d = derived.get(&code).copied().unwrap_or_default();
        if d != [pd, pc, hd, hc] {
            report.problems.push(format!(
                "{code}: cached posted {pd}/{pc} pending {hd}/{hc} but postings sum to posted {}/{} pending {}/{}",
                d[0], d[1], d[2], d[3]
            ));
        }
    }
    let unbalanced: Vec<(Uuid, String, i64, i64)> = db!(db, |c| {
        sqlx::query_as(
            "SELECT transaction_id, phase, CAST(SUM(debit) AS BIGINT), CAST(SUM(credit) AS BIGINT) FROM ledger_postings \
             GROUP BY transaction_id, phase HAVING SUM(debit) <> SUM(credit)",
        )
        .fetch_all(c)
        .await
    })?;
    for (id, phase, d, c) in unbalanced {
        report.problems.push(format!("transaction {id} does not balance in phase {phase}: debits {d}, credits {c}"));
    }
    report.transactions_checked =
        db!(db, |c| sqlx::query_scalar("SELECT COUNT(*) FROM ledger_transactions").fetch_one(c).await)?;
    let currencies: Vec<(String, i64, i64)> = db!(db, |c| {
        sqlx::query_as(
            "SELECT a.currency, CAST(SUM(p.debit) AS BIGINT), CAST(SUM(p.credit) AS BIGINT) FROM ledger_postings p \
             JOIN ledger_accounts a ON a.code = p.account_code GROUP BY a.currency HAVING SUM(p.debit) <> SUM(p.credit)",
        )
        .fetch_all(c)
        .await
    })?;
    for (cur, d, c) in currencies {
        report.problems.push(format!("{cur} does not sum to zero: debits {d}, credits {c}"));
    }
    Ok(report)
}
