//! Reading the ledger: balances, transactions with their postings and history, and the
//! verification that every cached balance agrees with the postings.

use chrono::{DateTime, Utc};
use pitboss_core::Currency;
use pitboss_core::money::MAX_AMOUNT;
use pitboss_core::time::{from_micros, to_micros};
use pitboss_store::{Arg, Conditions, Db, bind_args, db, sqlx};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::LedgerError;
use crate::ledger::{TX_COLUMNS, TxRow};
use crate::types::{Balance, LedgerTransaction, Posting, StatusChange, TxKind, TxStatus};

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

/// A filter over transactions, newest first, with keyset pagination on id. Every filter given
/// must hold.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TransactionQuery {
    pub player_id: Option<Uuid>,
    /// `deposit`, `withdrawal`, `game_round`, `bonus_grant`, `bonus_convert`, `bonus_forfeit`, `adjustment`.
    pub kind: Option<String>,
    /// `pending`, `completed`, `failed`, `reversed`, `disputed`.
    pub status: Option<String>,
    pub reference: Option<String>,
    /// How a payment is made, as the platform names it (`card`, `bank_transfer`...).
    pub method: Option<String>,
    /// ISO 4217 code (`EUR`).
    pub currency: Option<String>,
    /// Amounts from this many minor units of the transaction's own currency.
    pub min_amount: Option<i64>,
    /// Amounts up to this many minor units, inclusive.
    pub max_amount: Option<i64>,
    /// When the transaction happened, from this moment (inclusive).
    pub from: Option<DateTime<Utc>>,
    /// When the transaction happened, before this moment.
    pub to: Option<DateTime<Utc>>,
    /// 1 to 500, default 50.
    pub limit: Option<u32>,
    pub after: Option<Uuid>,
}

/// Which transactions a query may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every kind.
    Ledger,
    /// Deposits and withdrawals: the payments monitor.
    Payments,
}

/// The kinds of transaction that are payments.
const PAYMENT_KINDS: &str = "kind IN ('deposit', 'withdrawal')";

impl TransactionQuery {
    /// Refuses a query whose filters are wrong, before anything is read.
    pub fn check(&self, scope: Scope) -> Result<(), LedgerError> {
        self.conditions(scope).map(|_| ())
    }

    /// The query's filters (all but the page), checked.
    fn conditions(&self, scope: Scope) -> Result<Conditions, LedgerError> {
        let invalid = |field: &str, e: String| LedgerError::Invalid(format!("{field}: {e}"));
        let mut c = Conditions::new();
        if scope == Scope::Payments {
            c.and(PAYMENT_KINDS);
        }
        if let Some(p) = self.player_id {
            c.compare("player_id", "=", Arg::Id(p));
        }
        if let Some(k) = &self.kind {
            let kind = k.parse::<TxKind>().map_err(|e| invalid("kind", e.to_string()))?;
            if scope == Scope::Payments && !matches!(kind, TxKind::Deposit | TxKind::Withdrawal) {
                return Err(invalid("kind", "the payments monitor shows deposits and withdrawals".into()));
            }
            c.compare("kind", "=", Arg::Text(kind.as_str().into()));
        }
        if let Some(s) = &self.status {
            let status = s.parse::<TxStatus>().map_err(|e| invalid("status", e.to_string()))?;
            c.compare("status", "=", Arg::Text(status.as_str().into()));
        }
        if let Some(r) = &self.reference {
            c.compare("reference", "=", Arg::Text(r.clone()));
        }
        if let Some(m) = self.method.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
            c.compare("method", "=", Arg::Text(m.to_string()));
        }
        if let Some(cur) = &self.currency {
            let currency =
                cur.trim().to_ascii_uppercase().parse::<Currency>().map_err(|e| invalid("currency", e.to_string()))?;
            c.compare("currency", "=", Arg::Text(currency.to_string()));
        }
        for (field, bound) in [("min_amount", self.min_amount), ("max_amount", self.max_amount)] {
            if bound.is_some_and(|a| !(0..=MAX_AMOUNT).contains(&a)) {
                return Err(invalid(field, format!("must be between 0 and {MAX_AMOUNT} minor units")));
            }
        }
        if let (Some(min), Some(max)) = (self.min_amount, self.max_amount)
            && min > max
        {
            return Err(invalid("max_amount", "must not be below min_amount".into()));
        }
        if let Some(min) = self.min_amount {
            c.compare("amount", ">=", Arg::Int(min));
        }
        if let Some(max) = self.max_amount {
            c.compare("amount", "<=", Arg::Int(max));
        }
        if let (Some(from), Some(to)) = (self.from, self.to)
            && from >= to
        {
            return Err(invalid("to", "must be after from".into()));
        }
        if let Some(from) = self.from {
            c.compare("occurred_at", ">=", Arg::Int(to_micros(from)));
        }
        if let Some(to) = self.to {
            c.compare("occurred_at", "<", Arg::Int(to_micros(to)));
        }
        Ok(c)
    }
}

/// One page of transactions.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TransactionPage {
    pub items: Vec<LedgerTransaction>,
    pub next: Option<Uuid>,
}

pub async fn transactions(db: &Db, q: &TransactionQuery, scope: Scope) -> Result<TransactionPage, LedgerError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(LedgerError::Invalid("limit: must be between 1 and 500".into()));
    }
    let mut c = q.conditions(scope)?;
    if let Some(a) = q.after {
        c.compare("id", "<", Arg::Id(a));
    }
    let sql =
        format!("SELECT {TX_COLUMNS} FROM ledger_transactions {} ORDER BY id DESC LIMIT {}", c.where_sql(), limit + 1);
    let mut rows: Vec<TxRow> = db!(db, |conn| {
        let mut query = sqlx::query_as(&sql);
        bind_args!(query, &c.args);
        query.fetch_all(conn).await
    })?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let items: Vec<LedgerTransaction> = rows.into_iter().map(TxRow::into_transaction).collect();
    let next = if more { items.last().map(|t| t.id) } else { None };
    Ok(TransactionPage { items, next })
}

/// Payments of one status and currency, and whose they are: the totals are summed per player
/// group so that the caller sees only what the policies let them see (a brand's officer, that
/// brand's payments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentGroup {
    pub status: TxStatus,
    pub currency: Currency,
    /// The players' brand and VIP tier; `None` for payments without a player.
    pub brand: Option<String>,
    pub vip_tier: Option<String>,
    pub count: i64,
    pub amount: i64,
}

/// The payments the query finds, counted and summed per status, currency, brand and VIP tier.
pub async fn payment_groups(db: &Db, q: &TransactionQuery) -> Result<Vec<PaymentGroup>, LedgerError> {
    let c = q.conditions(Scope::Payments)?;
    let sql = format!(
        "SELECT t.status, t.currency, p.brand, p.vip_tier, COUNT(*), CAST(SUM(t.amount) AS BIGINT) \
         FROM (SELECT status, currency, player_id, amount FROM ledger_transactions {}) AS t \
         LEFT JOIN players p ON p.id = t.player_id GROUP BY t.status, t.currency, p.brand, p.vip_tier",
        c.where_sql()
    );
    type Row = (String, String, Option<String>, Option<String>, i64, i64);
    let rows: Vec<Row> = db!(db, |conn| {
        let mut query = sqlx::query_as(&sql);
        bind_args!(query, &c.args);
        query.fetch_all(conn).await
    })?;
    Ok(rows
        .into_iter()
        .filter_map(|(status, currency, brand, vip_tier, count, amount)| {
            Some(PaymentGroup {
                status: status.parse().ok()?,
                currency: currency.parse().ok()?,
                brand,
                vip_tier,
                count,
                amount,
            })
        })
        .collect())
}

/// The payments the query finds whose last change comes after `after` (its time in
/// microseconds, then its id, so that many changes in one microsecond page cleanly), in the
/// order of their last change, at most `limit`: what the live monitor sends.
pub async fn payments_changed(
    db: &Db,
    q: &TransactionQuery,
    after: (i64, Uuid),
    limit: u32,
) -> Result<Vec<LedgerTransaction>, LedgerError> {
    let mut c = q.conditions(Scope::Payments)?;
    let (at, id) = (c.arg(Arg::Int(after.0)), c.arg(Arg::Id(after.1)));
    c.and(format!("(updated_at > {at} OR (updated_at = {at} AND id > {id}))"));
    let sql =
        format!("SELECT {TX_COLUMNS} FROM ledger_transactions {} ORDER BY updated_at, id LIMIT {limit}", c.where_sql());
    let rows: Vec<TxRow> = db!(db, |conn| {
        let mut query = sqlx::query_as(&sql);
        bind_args!(query, &c.args);
        query.fetch_all(conn).await
    })?;
    Ok(rows.into_iter().map(TxRow::into_transaction).collect())
}

/// How far a player's cached balances are from their postings: over the player's accounts, the
/// sum of each cached figure's distance from the sum of its postings, in minor units of the
/// accounts' currency; 0 when they agree, as they always should ([`verify`] checks every account).
pub async fn balance_drift(db: &Db, player: Uuid) -> Result<i64, LedgerError> {
    // Per account: the cached posted and pending debits and credits, then their postings' sums.
    type Figures = (i64, i64, i64, i64, i64, i64, i64, i64);
    let rows: Vec<Figures> = db!(db, |c| {
        sqlx::query_as(
            "SELECT a.posted_debits, a.posted_credits, a.pending_debits, a.pending_credits, \
             CAST(COALESCE(SUM(CASE WHEN p.phase = 'posted' THEN p.debit END), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN p.phase = 'posted' THEN p.credit END), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN p.phase <> 'posted' THEN p.debit END), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN p.phase <> 'posted' THEN p.credit END), 0) AS BIGINT) \
             FROM ledger_accounts a LEFT JOIN ledger_postings p ON p.account_code = a.code \
             WHERE a.player_id = $1 AND a.tracks_balance = $2 \
             GROUP BY a.code, a.posted_debits, a.posted_credits, a.pending_debits, a.pending_credits",
        )
        .bind(player)
        .bind(true)
        .fetch_all(c)
        .await
    })?;
    Ok(rows
        .into_iter()
        .map(|(pd, pc, hd, hc, sd, sc, shd, shc)| {
            (pd - sd).abs() + (pc - sc).abs() + (hd - shd).abs() + (hc - shc).abs()
        })
        .sum())
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
