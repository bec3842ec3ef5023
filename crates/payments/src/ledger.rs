//! Recording transactions and moving them through their statuses.
//!
//! Postings are append-only. A hold writes `pending` postings; posting it writes the negated
//! `pending` rows and the same amounts as `posted`; voiding writes only the negated rows.
//! The cached columns of player accounts change in the same transaction, and the overdraft
//! check is part of the UPDATE itself, so two concurrent spends cannot both pass it.

use chrono::{DateTime, Utc};
use pitboss_core::time::{from_micros, to_micros};
use pitboss_core::{Currency, new_id};
use std::collections::BTreeMap;

use pitboss_store::{Tx, exec, sqlx, tx};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::LedgerError;
use crate::accounts::{self, tracks_balance};
use crate::types::{LedgerTransaction, NewTransaction, Transfer, TxKind, TxStatus};

/// What `record` did.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    /// A new transaction.
    Created(LedgerTransaction),
    /// The same reference with the same data was recorded before: nothing changed.
    Replayed(LedgerTransaction),
}

impl Recorded {
    pub fn transaction(&self) -> &LedgerTransaction {
        match self {
            Recorded::Created(t) | Recorded::Replayed(t) => t,
        }
    }
}

/// The idempotency fingerprint: what must match when a reference is used again.
pub fn request_hash(
    kind: TxKind,
    player: Option<Uuid>,
    currency: Currency,
    amount: i64,
    detail: Option<&str>,
) -> String {
    let text = format!(
        "{kind}|{}|{currency}|{amount}|{}",
        player.map(|p| p.to_string()).unwrap_or_default(),
        detail.unwrap_or_default()
    );
    hex_digest(&text)
}

fn hex_digest(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Records a transaction, or recognises a replay of one.
pub async fn record(tx: &mut Tx, new: NewTransaction, now: DateTime<Utc>) -> Result<Recorded, LedgerError> {
    let hash = request_hash(new.kind, new.player_id, new.currency, new.amount, new.detail.as_deref());
    check_transfers(&new)?;
    let now_us = to_micros(now);
    let (status, held) = initial_status(&new);
    let id = new_id();
    // ON CONFLICT: a concurrent writer of the same key waits for ours, then finds it taken.
    let inserted = exec!(
        tx,
        "INSERT INTO ledger_transactions (id, kind, reference, request_hash, player_id, currency, amount, status, held, \
         description, method, occurred_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13) \
         ON CONFLICT (kind, reference) DO NOTHING",
        id,
        new.kind.as_str(),
        &new.reference,
        &hash,
        new.player_id,
        new.currency.as_str(),
        new.amount,
        status.as_str(),
        held,
        &new.description,
        &new.method,
        to_micros(new.occurred_at),
        now_us,
    )?;
    if inserted == 0 {
        let existing = find(tx, new.kind, &new.reference)
            .await?
            .ok_or_else(|| LedgerError::NotFound { kind: new.kind.to_string(), reference: new.reference.clone() })?;
        return if existing.request_hash == hash { Ok(Recorded::Replayed(existing)) } else { Err(reused(&existing)) };
    }
    write_legs(tx, id, new.currency, &initial_legs(&new), !new.allow_overdraft, now_us).await?;
    history(tx, id, None, status, new.description.as_deref(), &new.actor, now_us).await?;
    Ok(Recorded::Created(created_transaction(id, new, hash, now_us)))
}

/// Each transfer debits and credits the same amount, so a transaction balances by construction;
/// what it cannot be given is a negative amount or one account on both sides.
pub(crate) fn check_transfers(new: &NewTransaction) -> Result<(), LedgerError> {
    if new.transfers.iter().any(|t| t.amount < 0 || t.debit == t.credit) {
        return Err(LedgerError::Invalid("a transfer needs a positive amount and two different accounts".into()));
    }
    Ok(())
}

/// The status a new transaction starts in, and whether it holds money.
pub(crate) fn initial_status(new: &NewTransaction) -> (TxStatus, bool) {
    let status = if new.failed {
        TxStatus::Failed
    } else if new.hold {
        TxStatus::Pending
    } else {
        TxStatus::Completed
    };
    (status, new.hold && !new.failed)
}

/// The postings a new transaction writes: its transfers, held or posted (none if it failed).
pub(crate) fn initial_legs(new: &NewTransaction) -> Vec<Leg> {
    if new.failed {
        return Vec::new();
    }
    let phase = if new.hold { Phase::Pending } else { Phase::Posted };
    new.transfers
        .iter()
        .filter(|t| t.amount > 0)
        .flat_map(|t| [Leg::debit(&t.debit, phase, t.amount), Leg::credit(&t.credit, phase, t.amount)])
        .collect()
}

/// The transaction as `record` stores it.
pub(crate) fn created_transaction(id: Uuid, new: NewTransaction, hash: String, now_us: i64) -> LedgerTransaction {
    let (status, held) = initial_status(&new);
    LedgerTransaction {
        id,
        kind: new.kind,
        reference: new.reference,
        player_id: new.player_id,
        currency: new.currency,
        amount: new.amount,
        status,
        held,
        description: new.description,
        method: new.method,
        occurred_at: from_micros(to_micros(new.occurred_at)),
        created_at: from_micros(now_us),
        updated_at: from_micros(now_us),
        request_hash: hash,
    }
}

pub(crate) fn reused(existing: &LedgerTransaction) -> LedgerError {
    LedgerError::ReferenceReused {
        kind: existing.kind.to_string(),
        reference: existing.reference.clone(),
        existing: format!(
            "{} {} for player {}",
            pitboss_core::Money::new(existing.amount, existing.currency),
            existing.status,
            existing.player_id.map(|p| p.to_string()).unwrap_or_else(|| "-".into())
        ),
    }
}

/// Checks that `kind`/`reference` was recorded with this data; a mismatch is refused.
pub fn check_same(
    existing: &LedgerTransaction,
    player: Option<Uuid>,
    currency: Currency,
    amount: i64,
) -> Result<(), LedgerError> {
    if existing.request_hash == request_hash(existing.kind, player, currency, amount, None) {
        Ok(())
    } else {
        Err(reused(existing))
    }
}

/// Moves a transaction to `to`. Moving to the status it already has changes nothing.
///
/// Allowed: pending → completed (posts the hold) or failed (voids it); completed → disputed
/// or reversed; disputed → completed or reversed. Reversing posts the opposite of every
/// posted amount and may take a player below zero (the money was already spent).
pub async fn transition(
    tx: &mut Tx,
    id: Uuid,
    to: TxStatus,
    reason: Option<&str>,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<LedgerTransaction, LedgerError> {
    let current = get_in(tx, id).await?;
    if current.status == to {
        return Ok(current);
    }
    let now_us = to_micros(now);
    let legs: Vec<Leg> = match movement(&current, to)? {
        Movement::Settle => settle_legs(outstanding_holds(tx, id).await?, to),
        Movement::None => Vec::new(),
        // The opposite of everything posted: debits become credits.
        Movement::Reverse => posted_totals(tx, id)
            .await?
            .into_iter()
            .map(|(account, debit, credit)| Leg { account, phase: Phase::Posted, debit: credit, credit: debit })
            .collect(),
    };
    // Settling a hold moves reserved money; a reversal may take the player below zero.
    write_legs(tx, id, current.currency, &legs, false, now_us).await?;
    exec!(
        tx,
        "UPDATE ledger_transactions SET status = $1, held = $2, updated_at = $3 WHERE id = $4",
        to.as_str(),
        false,
        now_us,
        id,
    )?;
    history(tx, id, Some(current.status), to, reason, actor, now_us).await?;
    get_in(tx, id).await
}

/// What moving a transaction to another status does to its postings.
pub(crate) enum Movement {
    /// A hold ends: released, and posted if the transaction completed.
    Settle,
    /// Nothing moves (a dispute opened or closed).
    None,
    /// Everything posted is undone.
    Reverse,
}

/// Allowed: pending → completed or failed; completed → disputed or reversed; disputed →
/// completed or reversed.
pub(crate) fn movement(current: &LedgerTransaction, to: TxStatus) -> Result<Movement, LedgerError> {
    use TxStatus::*;
    match (current.status, to) {
        (Pending, Completed) | (Pending, Failed) => Ok(Movement::Settle),
        (Completed, Disputed) | (Disputed, Completed) => Ok(Movement::None),
        (Completed, Reversed) | (Disputed, Reversed) => Ok(Movement::Reverse),
        (from, to) => Err(LedgerError::InvalidTransition {
            kind: current.kind.to_string(),
            reference: current.reference.clone(),
            from: from.to_string(),
            to: to.to_string(),
        }),
    }
}

/// Ending holds of `(account, debit, credit)`: each released, and on completion posted.
pub(crate) fn settle_legs(holds: Vec<(String, i64, i64)>, to: TxStatus) -> Vec<Leg> {
    let mut legs = Vec::new();
    for (account, debit, credit) in holds {
        legs.push(Leg { account: account.clone(), phase: Phase::Pending, debit: -debit, credit: -credit });
        if to == TxStatus::Completed {
            legs.push(Leg { account, phase: Phase::Posted, debit, credit });
        }
    }
    legs
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Posted,
    Pending,
}

impl Phase {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Phase::Posted => "posted",
            Phase::Pending => "pending",
        }
    }
}

/// One posting to be written: an amount on one side of one account, in one phase.
/// Negative amounts release a hold.
pub(crate) struct Leg {
    pub(crate) account: String,
    pub(crate) phase: Phase,
    pub(crate) debit: i64,
    pub(crate) credit: i64,
}

impl Leg {
    fn debit(account: &str, phase: Phase, amount: i64) -> Leg {
        Leg { account: account.to_string(), phase, debit: amount, credit: 0 }
    }

    fn credit(account: &str, phase: Phase, amount: i64) -> Leg {
        Leg { account: account.to_string(), phase, debit: 0, credit: amount }
    }
}

/// Writes a transaction's legs: opens accounts it has not seen, moves each player account's
/// cached balance in one statement (refusing an overdraft when `check_overdraft`), and appends
/// the postings in one statement. Accounts are updated in code order, so two transactions
/// touching the same accounts lock them in the same order.
async fn write_legs(
    tx: &mut Tx,
    transaction: Uuid,
    currency: Currency,
    legs: &[Leg],
    check_overdraft: bool,
    now_us: i64,
) -> Result<(), LedgerError> {
    if legs.is_empty() {
        return Ok(());
    }
    let deltas = account_deltas(legs);
    let codes: Vec<&str> = deltas.keys().copied().collect();
    let opened: Vec<(&str, Currency)> = codes.iter().map(|code| (*code, currency)).collect();
    accounts::ensure_all(tx, &opened, now_us).await?;
    for (code, [pd, pc, hd, hc]) in &deltas {
        if !tracks_balance(code) {
            continue;
        }
        let spend = spend(&[*pd, *pc, *hd, *hc]);
        let checked = check_overdraft && spend > 0;
        let changed = exec!(
            tx,
            "UPDATE ledger_accounts SET posted_debits = posted_debits + $1, posted_credits = posted_credits + $2, \
             pending_debits = pending_debits + $3, pending_credits = pending_credits + $4, updated_at = $5 \
             WHERE code = $6 AND ($7 OR posted_credits - posted_debits - pending_debits >= $8)",
            pd,
            pc,
            hd,
            hc,
            now_us,
            *code,
            !checked,
            spend,
        )?;
        if changed == 0 {
            let available = available(tx, code).await?;
            return Err(LedgerError::InsufficientFunds { account: code.to_string(), available, needed: spend });
        }
    }
    let rows: Vec<String> = (0..legs.len())
        .map(|i| {
            let b = i * 7;
            format!("(${}, ${}, ${}, ${}, ${}, ${}, ${})", b + 1, b + 2, b + 3, b + 4, b + 5, b + 6, b + 7)
        })
        .collect();
    let sql = format!(
        "INSERT INTO ledger_postings (id, transaction_id, account_code, phase, debit, credit, created_at) VALUES {}",
        rows.join(", ")
    );
    tx!(tx, |c| {
        let mut q = sqlx::query(&sql);
        for leg in legs {
            q = q
                .bind(new_id())
                .bind(transaction)
                .bind(leg.account.as_str())
                .bind(leg.phase.as_str())
                .bind(leg.debit)
                .bind(leg.credit)
                .bind(now_us);
        }
        q.execute(c).await.map(|_| ())
    })?;
    Ok(())
}

/// Per account, in code order: what the legs add to posted debits, posted credits, pending
/// debits and pending credits.
pub(crate) fn account_deltas(legs: &[Leg]) -> BTreeMap<&str, [i64; 4]> {
    let mut deltas: BTreeMap<&str, [i64; 4]> = BTreeMap::new();
    for leg in legs {
        let d = deltas.entry(&leg.account).or_default();
        let (debit, credit) = match leg.phase {
            Phase::Posted => (0, 1),
            Phase::Pending => (2, 3),
        };
        d[debit] += leg.debit;
        d[credit] += leg.credit;
    }
    deltas
}

/// What a change of an account's four columns takes from what it can spend.
pub(crate) fn spend(delta: &[i64; 4]) -> i64 {
    delta[0] + delta[2]
}

/// What an account of these four columns can spend: posted credits, less posted and held debits.
pub(crate) fn spendable(columns: &[i64; 4]) -> i64 {
    columns[1] - columns[0] - columns[2]
}

async fn available(tx: &mut Tx, account: &str) -> Result<i64, LedgerError> {
    let v: Option<i64> = tx!(tx, |c| {
        sqlx::query_scalar(
            "SELECT posted_credits - posted_debits - pending_debits FROM ledger_accounts WHERE code = $1",
        )
        .bind(account)
        .fetch_optional(c)
        .await
    })?;
    Ok(v.unwrap_or(0))
}

/// Per account, the hold amounts not yet released.
async fn outstanding_holds(tx: &mut Tx, id: Uuid) -> Result<Vec<(String, i64, i64)>, LedgerError> {
    sums_by_phase(tx, id, Phase::Pending).await
}

async fn posted_totals(tx: &mut Tx, id: Uuid) -> Result<Vec<(String, i64, i64)>, LedgerError> {
    sums_by_phase(tx, id, Phase::Posted).await
}

async fn sums_by_phase(tx: &mut Tx, id: Uuid, phase: Phase) -> Result<Vec<(String, i64, i64)>, LedgerError> {
    let rows: Vec<(String, i64, i64)> = tx!(tx, |c| {
        sqlx::query_as(
            "SELECT account_code, CAST(SUM(debit) AS BIGINT), CAST(SUM(credit) AS BIGINT) FROM ledger_postings \
             WHERE transaction_id = $1 AND phase = $2 GROUP BY account_code ORDER BY account_code",
        )
        .bind(id)
        .bind(phase.as_str())
        .fetch_all(c)
        .await
    })?;
    Ok(rows.into_iter().filter(|(_, d, c)| *d != 0 || *c != 0).collect())
}

async fn history(
    tx: &mut Tx,
    id: Uuid,
    from: Option<TxStatus>,
    to: TxStatus,
    reason: Option<&str>,
    actor: &str,
    now_us: i64,
) -> Result<(), LedgerError> {
    exec!(
        tx,
        "INSERT INTO ledger_status_history (id, transaction_id, from_status, to_status, reason, actor, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        new_id(),
        id,
        from.map(|s| s.as_str()),
        to.as_str(),
        reason,
        actor,
        now_us,
    )?;
    Ok(())
}

pub(crate) const TX_COLUMNS: &str = "id, kind, reference, request_hash, player_id, currency, amount, status, held, \
    description, method, occurred_at, created_at, updated_at";

#[derive(sqlx::FromRow)]
pub(crate) struct TxRow {
    id: Uuid,
    kind: String,
    reference: String,
    request_hash: String,
    player_id: Option<Uuid>,
    currency: String,
    amount: i64,
    status: String,
    held: bool,
    description: Option<String>,
    method: Option<String>,
    occurred_at: i64,
    created_at: i64,
    updated_at: i64,
}

impl TxRow {
    pub(crate) fn into_transaction(self) -> LedgerTransaction {
        LedgerTransaction {
            id: self.id,
            kind: self.kind.parse().unwrap_or(TxKind::Adjustment),
            reference: self.reference,
            request_hash: self.request_hash,
            player_id: self.player_id,
            currency: self.currency.parse().unwrap_or(Currency::EUR),
            amount: self.amount,
            status: self.status.parse().unwrap_or(TxStatus::Pending),
            held: self.held,
            description: self.description,
            method: self.method,
            occurred_at: from_micros(self.occurred_at),
            created_at: from_micros(self.created_at),
            updated_at: from_micros(self.updated_at),
        }
    }
}

/// The transaction with this idempotency key, inside `tx`.
pub async fn find(tx: &mut Tx, kind: TxKind, reference: &str) -> Result<Option<LedgerTransaction>, LedgerError> {
    let sql = format!("SELECT {TX_COLUMNS} FROM ledger_transactions WHERE kind = $1 AND reference = $2");
    let row: Option<TxRow> =
        tx!(tx, |c| sqlx::query_as(&sql).bind(kind.as_str()).bind(reference).fetch_optional(c).await)?;
    Ok(row.map(TxRow::into_transaction))
}

/// A transaction by id, inside `tx`.
pub async fn get_in(tx: &mut Tx, id: Uuid) -> Result<LedgerTransaction, LedgerError> {
    let sql = format!("SELECT {TX_COLUMNS} FROM ledger_transactions WHERE id = $1");
    let row: Option<TxRow> = tx!(tx, |c| sqlx::query_as(&sql).bind(id).fetch_optional(c).await)?;
    row.map(TxRow::into_transaction)
        .ok_or_else(|| LedgerError::NotFound { kind: "transaction".into(), reference: id.to_string() })
}

/// A transfer helper for callers that build transactions.
pub fn transfer(debit: String, credit: String, amount: i64) -> Transfer {
    Transfer { debit, credit, amount }
}
