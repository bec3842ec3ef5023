//! Game rounds a batch at a time: the same rules as [`operations::game_round`], decided in
//! memory over state read once, then written with one statement per table.
//!
//! Rounds are most of a casino's traffic, and one statement per table per batch instead of per
//! round is what lets ingest keep up with it. The per-round path in `operations` stays the
//! reference; ingest's tests check that both give the same outcomes and balances.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use pitboss_core::time::{from_micros, to_micros};
use pitboss_core::{Currency, new_id};
use pitboss_store::{Arg, Engine, Tx, exec_values, placeholders, sqlx, tx};
use uuid::Uuid;

use crate::LedgerError;
use crate::accounts::{ensure_all, house_games, player_cash};
use crate::ledger::{TX_COLUMNS, TxRow, request_hash, reused};
use crate::operations::Change;
use crate::types::{LedgerTransaction, TxKind, TxStatus};

/// One settled round to record.
#[derive(Debug, Clone)]
pub struct Round {
    pub player: Uuid,
    pub currency: Currency,
    pub round_id: String,
    pub stake: i64,
    pub win: i64,
    pub occurred_at: DateTime<Utc>,
}

/// Records the rounds in order, as [`crate::operations::game_round`] would one by one:
/// the answer for each is the same `Change` or the same error.
pub async fn settle_rounds(
    tx: &mut Tx,
    rounds: &[Round],
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Result<Change, LedgerError>>, LedgerError> {
    if rounds.is_empty() {
        return Ok(Vec::new());
    }
    let now_us = to_micros(now);
    let mut known = existing_rounds(tx, rounds).await?;
    let cash_codes: Vec<String> = {
        let mut c: Vec<String> = rounds.iter().map(|r| player_cash(r.player, r.currency)).collect();
        c.sort();
        c.dedup();
        c
    };
    let mut available = available_balances(tx, &cash_codes).await?;

    let mut out = Vec::with_capacity(rounds.len());
    let mut new_rows: Vec<Vec<Arg>> = Vec::new();
    let mut postings: Vec<Vec<Arg>> = Vec::new();
    let mut history: Vec<Vec<Arg>> = Vec::new();
    // Per player cash account: posted debits, posted credits.
    let mut deltas: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    let mut accounts: BTreeMap<Currency, Vec<String>> = BTreeMap::new();
    for r in rounds {
        let detail = format!("win={}", r.win);
        let hash = request_hash(TxKind::GameRound, Some(r.player), r.currency, r.stake, Some(&detail));
        if let Some(existing) = known.get(&r.round_id) {
            out.push(if existing.request_hash == hash {
                Ok(Change {
                    transaction: existing.clone(),
                    settled: false,
                    note: Some("replay: already recorded".into()),
                })
            } else {
                Err(reused(existing))
            });
            continue;
        }
        let (cash, house) = (player_cash(r.player, r.currency), house_games(r.currency));
        let balance = available.entry(cash.clone()).or_insert(0);
        if r.stake > 0 && *balance < r.stake {
            out.push(Err(LedgerError::InsufficientFunds { account: cash, available: *balance, needed: r.stake }));
            continue;
        }
        *balance += r.win - r.stake;
        let id = new_id();
        let description = format!("stake {}, win {}", r.stake, r.win);
        let t = LedgerTransaction {
            id,
            kind: TxKind::GameRound,
            reference: r.round_id.clone(),
            player_id: Some(r.player),
            currency: r.currency,
            amount: r.stake,
            status: TxStatus::Completed,
            held: false,
            description: Some(description.clone()),
            occurred_at: from_micros(to_micros(r.occurred_at)),
            created_at: from_micros(now_us),
            updated_at: from_micros(now_us),
            request_hash: hash.clone(),
        };
        new_rows.push(vec![
            Arg::Id(id),
            Arg::Text(TxKind::GameRound.as_str().into()),
            Arg::Text(r.round_id.clone()),
            Arg::Text(hash),
            Arg::OptId(Some(r.player)),
            Arg::Text(r.currency.as_str().into()),
            Arg::Int(r.stake),
            Arg::Text(TxStatus::Completed.as_str().into()),
            Arg::Bool(false),
            Arg::OptText(Some(description.clone())),
            Arg::Int(to_micros(r.occurred_at)),
            Arg::Int(now_us),
            Arg::Int(now_us),
        ]);
        // The same legs, in the same order, as the per-round path writes.
        for (debit, credit, amount) in [(&cash, &house, r.stake), (&house, &cash, r.win)] {
            if amount > 0 {
                postings.push(posting(id, debit, amount, 0, now_us));
                postings.push(posting(id, credit, 0, amount, now_us));
            }
        }
        let d = deltas.entry(cash.clone()).or_default();
        d.0 += r.stake;
        d.1 += r.win;
        let codes = accounts.entry(r.currency).or_default();
        codes.push(cash);
        codes.push(house);
        history.push(vec![
            Arg::Id(new_id()),
            Arg::Id(id),
            Arg::OptText(None),
            Arg::Text(TxStatus::Completed.as_str().into()),
            Arg::OptText(Some(description)),
            Arg::Text(actor.to_string()),
            Arg::Int(now_us),
        ]);
        known.insert(r.round_id.clone(), t.clone());
        out.push(Ok(Change { transaction: t, settled: true, note: None }));
    }

    for (currency, mut codes) in accounts {
        codes.sort();
        codes.dedup();
        let refs: Vec<&str> = codes.iter().map(String::as_str).collect();
        ensure_all(tx, &refs, currency, now_us).await?;
    }
    exec_values(
        tx,
        "INSERT INTO ledger_transactions (id, kind, reference, request_hash, player_id, currency, amount, status, held, \
         description, occurred_at, created_at, updated_at) VALUES {values}",
        &new_rows,
    )
    .await?;
    let updates: Vec<Vec<Arg>> = deltas
        .into_iter()
        .map(|(code, (d, c))| vec![Arg::Text(code), Arg::Int(d), Arg::Int(c), Arg::Int(now_us)])
        .collect();
    exec_values(
        tx,
        "WITH v (code, add_debits, add_credits, at) AS (VALUES {values}) \
         UPDATE ledger_accounts SET posted_debits = posted_debits + v.add_debits, \
         posted_credits = posted_credits + v.add_credits, updated_at = v.at FROM v WHERE ledger_accounts.code = v.code",
        &updates,
    )
    .await?;
    exec_values(
        tx,
        "INSERT INTO ledger_postings (id, transaction_id, account_code, phase, debit, credit, created_at) VALUES {values}",
        &postings,
    )
    .await?;
    exec_values(
        tx,
        "INSERT INTO ledger_status_history (id, transaction_id, from_status, to_status, reason, actor, at) VALUES {values}",
        &history,
    )
    .await?;
    Ok(out)
}

fn posting(transaction: Uuid, account: &str, debit: i64, credit: i64, now_us: i64) -> Vec<Arg> {
    vec![
        Arg::Id(new_id()),
        Arg::Id(transaction),
        Arg::Text(account.to_string()),
        Arg::Text("posted".into()),
        Arg::Int(debit),
        Arg::Int(credit),
        Arg::Int(now_us),
    ]
}

/// Rounds already recorded under the batch's round ids.
async fn existing_rounds(tx: &mut Tx, rounds: &[Round]) -> Result<HashMap<String, LedgerTransaction>, LedgerError> {
    let mut refs: Vec<&str> = rounds.iter().map(|r| r.round_id.as_str()).collect();
    refs.sort();
    refs.dedup();
    let mut found = HashMap::new();
    for chunk in refs.chunks(pitboss_store::in_list_len(tx.engine())) {
        let sql = format!(
            "SELECT {TX_COLUMNS} FROM ledger_transactions WHERE kind = $1 AND reference IN ({})",
            placeholders(2, chunk.len())
        );
        let rows: Vec<TxRow> = tx!(tx, |c| {
            let mut q = sqlx::query_as(&sql).bind(TxKind::GameRound.as_str());
            for r in chunk {
                q = q.bind(*r);
            }
            q.fetch_all(c).await
        })?;
        for row in rows {
            let t = row.into_transaction();
            found.insert(t.reference.clone(), t);
        }
    }
    Ok(found)
}

/// What each account can spend now. On PostgreSQL the rows stay locked until commit, so a
/// concurrent batch for the same players waits instead of spending the same money.
async fn available_balances(tx: &mut Tx, codes: &[String]) -> Result<HashMap<String, i64>, LedgerError> {
    let lock = if tx.engine() == Engine::Postgres { " ORDER BY code FOR UPDATE" } else { "" };
    let mut out = HashMap::new();
    for chunk in codes.chunks(pitboss_store::in_list_len(tx.engine())) {
        let sql = format!(
            "SELECT code, posted_credits - posted_debits - pending_debits FROM ledger_accounts WHERE code IN ({}){lock}",
            placeholders(1, chunk.len())
        );
        let rows: Vec<(String, i64)> = tx!(tx, |c| {
            let mut q = sqlx::query_as(&sql);
            for code in chunk {
                q = q.bind(code.as_str());
            }
            q.fetch_all(c).await
        })?;
        out.extend(rows);
    }
    Ok(out)
}
