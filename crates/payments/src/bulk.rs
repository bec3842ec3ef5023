//! Money movements a set at a time: the rules of [`operations`] decided in memory, over the
//! state of the whole set read once, then written with one statement per table.
//!
//! Most of a casino's traffic moves money (rounds, payments, bonuses); one statement per table
//! per set instead of a dozen per movement is what lets ingest keep up with it. The rules are
//! the same code on both paths ([`operations::perform`] against [`Books`]); what differs is how
//! the books are kept, and ingest's tests hold the two ways to the same answers, balances and
//! rows.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use pitboss_core::time::{from_micros, to_micros};
use pitboss_core::{Currency, new_id};
use pitboss_store::{Arg, Engine, StoreError, Tx, exec_values, fetch_values};
use uuid::Uuid;

use crate::LedgerError;
use crate::accounts::{ensure_all, player_bonus, player_cash, tracks_balance};
use crate::books::Books;
use crate::ledger::{
    Leg, Movement, Recorded, TX_COLUMNS, TxRow, account_deltas, check_transfers, created_transaction, initial_legs,
    movement, request_hash, reused, settle_legs, spend, spendable,
};
use crate::operations::{self, Change, Context, Operation};
use crate::types::{LedgerTransaction, NewTransaction, TxKind, TxStatus};

/// One movement of a set: whose, in which currency, when, and what.
#[derive(Debug, Clone)]
pub struct Entry {
    pub player: Uuid,
    pub currency: Currency,
    pub occurred_at: DateTime<Utc>,
    /// A payment's method, as in [`Context::method`].
    pub method: Option<String>,
    pub operation: Operation,
}

/// Carries out the entries in order, as [`operations::perform`] would one by one on the
/// database: the answer for each is the same `Change` or the same error, and what is written
/// is the same. An `Err` is the database failing; nothing is written then.
pub async fn perform_all(
    tx: &mut Tx,
    entries: &[Entry],
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Result<Change, LedgerError>>, LedgerError> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let mut books = SetBooks::load(tx, entries, now).await?;
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let ctx = Context {
            player: e.player,
            currency: e.currency,
            method: e.method.as_deref(),
            occurred_at: e.occurred_at,
            now,
            actor,
        };
        out.push(operations::perform(&mut books, &ctx, &e.operation).await);
    }
    books.write(tx).await?;
    Ok(out)
}

/// The books of one set, kept in memory: what the database held for the set's transactions and
/// accounts when it was read, and everything the set has done since, to write at the end.
struct SetBooks {
    now_us: i64,
    /// Every transaction of the set's keys, as it now stands.
    known: HashMap<(TxKind, String), LedgerTransaction>,
    keys: HashMap<Uuid, (TxKind, String)>,
    /// Per pending transaction, the held `(account, debit, credit)` not yet released, in code order.
    holds: HashMap<Uuid, Vec<(String, i64, i64)>>,
    /// Player accounts as they now stand: posted debits, posted credits, pending debits, pending credits.
    accounts: HashMap<String, [i64; 4]>,
    /// What the set adds to each player account.
    deltas: BTreeMap<String, [i64; 4]>,
    /// Accounts the set's postings touch, with their currency, to open if new.
    touched: BTreeMap<String, Currency>,
    /// Transactions the set created, in order.
    created: Vec<Uuid>,
    created_ids: HashSet<Uuid>,
    /// Transactions read from the database whose status the set changed.
    moved: BTreeSet<Uuid>,
    postings: Vec<Vec<Arg>>,
    history: Vec<Vec<Arg>>,
}

impl SetBooks {
    async fn load(tx: &mut Tx, entries: &[Entry], now: DateTime<Utc>) -> Result<SetBooks, LedgerError> {
        let mut keys: BTreeSet<(TxKind, &str)> = BTreeSet::new();
        let mut codes: BTreeSet<String> = BTreeSet::new();
        for e in entries {
            keys.insert(e.operation.key());
            codes.insert(player_cash(e.player, e.currency));
            if matches!(e.operation, Operation::Bonus { .. }) {
                codes.insert(player_bonus(e.player, e.currency));
            }
        }
        let known: HashMap<(TxKind, String), LedgerTransaction> =
            transactions(tx, &keys).await?.into_iter().map(|t| ((t.kind, t.reference.clone()), t)).collect();
        let pending: Vec<Uuid> = known.values().filter(|t| t.status == TxStatus::Pending).map(|t| t.id).collect();
        let holds = outstanding_holds(tx, &pending).await?;
        let codes: Vec<String> = codes.into_iter().collect();
        let mut accounts = locked_accounts(tx, &codes).await?;
        for code in codes {
            // Not opened yet: empty.
            accounts.entry(code).or_insert([0; 4]);
        }
        let keys = known.iter().map(|(k, t)| (t.id, k.clone())).collect();
        Ok(SetBooks {
            now_us: to_micros(now),
            known,
            keys,
            holds,
            accounts,
            deltas: BTreeMap::new(),
            touched: BTreeMap::new(),
            created: Vec::new(),
            created_ids: HashSet::new(),
            moved: BTreeSet::new(),
            postings: Vec::new(),
            history: Vec::new(),
        })
    }

    /// Posts a transaction's legs as `ledger`'s `write_legs` does: all of them, or none if a
    /// player account would be overdrawn (checked per account in code order).
    fn post(
        &mut self,
        transaction: Uuid,
        currency: Currency,
        legs: &[Leg],
        check_overdraft: bool,
    ) -> Result<(), LedgerError> {
        let deltas = account_deltas(legs);
        for (code, delta) in &deltas {
            if !tracks_balance(code) {
                continue;
            }
            let columns = self.accounts.get(*code).ok_or_else(|| {
                LedgerError::Store(StoreError::Config(format!("account {code} was not read for this set")))
            })?;
            let needed = spend(delta);
            if check_overdraft && needed > 0 && spendable(columns) < needed {
                return Err(LedgerError::InsufficientFunds {
                    account: code.to_string(),
                    available: spendable(columns),
                    needed,
                });
            }
        }
        for (code, delta) in deltas {
            self.touched.insert(code.to_string(), currency);
            if !tracks_balance(code) {
                continue;
            }
            let (now, total) =
                (self.accounts.entry(code.to_string()).or_default(), self.deltas.entry(code.to_string()).or_default());
            for i in 0..4 {
                now[i] += delta[i];
                total[i] += delta[i];
            }
        }
        for leg in legs {
            self.postings.push(vec![
                Arg::Id(new_id()),
                Arg::Id(transaction),
                Arg::Text(leg.account.clone()),
                Arg::Text(leg.phase.as_str().into()),
                Arg::Int(leg.debit),
                Arg::Int(leg.credit),
                Arg::Int(self.now_us),
            ]);
        }
        Ok(())
    }

    fn history(&mut self, id: Uuid, from: Option<TxStatus>, to: TxStatus, reason: Option<&str>, actor: &str) {
        self.history.push(vec![
            Arg::Id(new_id()),
            Arg::Id(id),
            Arg::OptText(from.map(|s| s.as_str().to_string())),
            Arg::Text(to.as_str().into()),
            Arg::OptText(reason.map(str::to_string)),
            Arg::Text(actor.to_string()),
            Arg::Int(self.now_us),
        ]);
    }

    /// Writes what the set did: one statement per table.
    async fn write(self, tx: &mut Tx) -> Result<(), LedgerError> {
        let opened: Vec<(&str, Currency)> =
            self.touched.iter().map(|(code, currency)| (code.as_str(), *currency)).collect();
        ensure_all(tx, &opened, self.now_us).await?;
        let transaction = |id: &Uuid| &self.known[&self.keys[id]];
        let new_rows: Vec<Vec<Arg>> = self
            .created
            .iter()
            .map(|id| {
                let t = transaction(id);
                vec![
                    Arg::Id(t.id),
                    Arg::Text(t.kind.as_str().into()),
                    Arg::Text(t.reference.clone()),
                    Arg::Text(t.request_hash.clone()),
                    Arg::OptId(t.player_id),
                    Arg::Text(t.currency.as_str().into()),
                    Arg::Int(t.amount),
                    Arg::Text(t.status.as_str().into()),
                    Arg::Bool(t.held),
                    Arg::OptText(t.description.clone()),
                    Arg::OptText(t.method.clone()),
                    Arg::Int(to_micros(t.occurred_at)),
                    Arg::Int(to_micros(t.created_at)),
                    Arg::Int(to_micros(t.updated_at)),
                ]
            })
            .collect();
        exec_values(
            tx,
            "INSERT INTO ledger_transactions (id, kind, reference, request_hash, player_id, currency, amount, status, \
             held, description, method, occurred_at, created_at, updated_at) VALUES {values}",
            &new_rows,
        )
        .await?;
        let moved: Vec<Vec<Arg>> = self
            .moved
            .iter()
            .map(|id| {
                let t = transaction(id);
                vec![Arg::Id(t.id), Arg::Text(t.status.as_str().into()), Arg::Bool(t.held), Arg::Int(self.now_us)]
            })
            .collect();
        exec_values(
            tx,
            "WITH v (id, status, held, at) AS (VALUES {values}) UPDATE ledger_transactions SET status = v.status, \
             held = v.held, updated_at = v.at FROM v WHERE ledger_transactions.id = v.id",
            &moved,
        )
        .await?;
        let updates: Vec<Vec<Arg>> = self
            .deltas
            .iter()
            .map(|(code, d)| {
                vec![
                    Arg::Text(code.clone()),
                    Arg::Int(d[0]),
                    Arg::Int(d[1]),
                    Arg::Int(d[2]),
                    Arg::Int(d[3]),
                    Arg::Int(self.now_us),
                ]
            })
            .collect();
        exec_values(
            tx,
            "WITH v (code, pd, pc, hd, hc, at) AS (VALUES {values}) \
             UPDATE ledger_accounts SET posted_debits = posted_debits + v.pd, posted_credits = posted_credits + v.pc, \
             pending_debits = pending_debits + v.hd, pending_credits = pending_credits + v.hc, updated_at = v.at \
             FROM v WHERE ledger_accounts.code = v.code",
            &updates,
        )
        .await?;
        exec_values(
            tx,
            "INSERT INTO ledger_postings (id, transaction_id, account_code, phase, debit, credit, created_at) \
             VALUES {values}",
            &self.postings,
        )
        .await?;
        exec_values(
            tx,
            "INSERT INTO ledger_status_history (id, transaction_id, from_status, to_status, reason, actor, at) \
             VALUES {values}",
            &self.history,
        )
        .await?;
        Ok(())
    }
}

impl Books for SetBooks {
    async fn find(&mut self, kind: TxKind, reference: &str) -> Result<Option<LedgerTransaction>, LedgerError> {
        Ok(self.known.get(&(kind, reference.to_string())).cloned())
    }

    async fn record(&mut self, new: NewTransaction, _now: DateTime<Utc>) -> Result<Recorded, LedgerError> {
        let hash = request_hash(new.kind, new.player_id, new.currency, new.amount, new.detail.as_deref());
        check_transfers(&new)?;
        let key = (new.kind, new.reference.clone());
        if let Some(existing) = self.known.get(&key) {
            return if existing.request_hash == hash {
                Ok(Recorded::Replayed(existing.clone()))
            } else {
                Err(reused(existing))
            };
        }
        let id = new_id();
        let legs = initial_legs(&new);
        self.post(id, new.currency, &legs, !new.allow_overdraft)?;
        if new.hold && !new.failed {
            let held = account_deltas(&legs)
                .into_iter()
                .map(|(code, d)| (code.to_string(), d[2], d[3]))
                .filter(|(_, d, c)| *d != 0 || *c != 0)
                .collect();
            self.holds.insert(id, held);
        }
        let actor = new.actor.clone();
        let t = created_transaction(id, new, hash, self.now_us);
        self.history(id, None, t.status, t.description.as_deref(), &actor);
        self.known.insert(key.clone(), t.clone());
        self.keys.insert(id, key);
        self.created.push(id);
        self.created_ids.insert(id);
        Ok(Recorded::Created(t))
    }

    async fn transition(
        &mut self,
        id: Uuid,
        to: TxStatus,
        reason: Option<&str>,
        actor: &str,
        _now: DateTime<Utc>,
    ) -> Result<LedgerTransaction, LedgerError> {
        let key = self
            .keys
            .get(&id)
            .cloned()
            .ok_or_else(|| LedgerError::NotFound { kind: "transaction".into(), reference: id.to_string() })?;
        let current = self.known[&key].clone();
        if current.status == to {
            return Ok(current);
        }
        let legs = match movement(&current, to)? {
            Movement::Settle => settle_legs(self.holds.get(&id).cloned().unwrap_or_default(), to),
            Movement::None => Vec::new(),
            // Platform events never reverse; an operator's reversal goes through the database.
            Movement::Reverse => {
                return Err(LedgerError::Invalid(format!(
                    "{} '{}' cannot be reversed in a set",
                    current.kind, current.reference
                )));
            }
        };
        self.post(id, current.currency, &legs, false)?;
        self.holds.remove(&id);
        self.history(id, Some(current.status), to, reason, actor);
        let t = self.known.get_mut(&key).expect("read above");
        t.status = to;
        t.held = false;
        t.updated_at = from_micros(self.now_us);
        if !self.created_ids.contains(&id) {
            self.moved.insert(id);
        }
        Ok(t.clone())
    }
}

/// The transactions recorded under these `(kind, reference)` keys.
async fn transactions(tx: &mut Tx, keys: &BTreeSet<(TxKind, &str)>) -> Result<Vec<LedgerTransaction>, LedgerError> {
    let rows: Vec<Vec<Arg>> = keys
        .iter()
        .map(|(kind, reference)| vec![Arg::Text(kind.as_str().into()), Arg::Text(reference.to_string())])
        .collect();
    let found: Vec<TxRow> = fetch_values(
        tx,
        &format!("SELECT {TX_COLUMNS} FROM ledger_transactions WHERE (kind, reference) IN (VALUES {{values}})"),
        &rows,
    )
    .await?;
    Ok(found.into_iter().map(TxRow::into_transaction).collect())
}

/// Per pending transaction, the held amounts per account not yet released.
async fn outstanding_holds(tx: &mut Tx, ids: &[Uuid]) -> Result<HashMap<Uuid, Vec<(String, i64, i64)>>, LedgerError> {
    let rows: Vec<(Uuid, String, i64, i64)> = fetch_values(
        tx,
        "SELECT transaction_id, account_code, CAST(SUM(debit) AS BIGINT), CAST(SUM(credit) AS BIGINT) \
         FROM ledger_postings WHERE phase = 'pending' AND transaction_id IN (VALUES {values}) \
         GROUP BY transaction_id, account_code ORDER BY transaction_id, account_code",
        &ids.iter().map(|id| vec![Arg::Id(*id)]).collect::<Vec<_>>(),
    )
    .await?;
    let mut out: HashMap<Uuid, Vec<(String, i64, i64)>> = HashMap::new();
    for (id, account, debit, credit) in rows {
        if debit != 0 || credit != 0 {
            out.entry(id).or_default().push((account, debit, credit));
        }
    }
    Ok(out)
}

/// The accounts' four columns. On PostgreSQL the rows stay locked until commit, so a concurrent
/// batch for the same players waits instead of spending the same money.
async fn locked_accounts(tx: &mut Tx, codes: &[String]) -> Result<HashMap<String, [i64; 4]>, LedgerError> {
    let lock = if tx.engine() == Engine::Postgres { " ORDER BY code FOR UPDATE" } else { "" };
    let rows: Vec<(String, i64, i64, i64, i64)> = fetch_values(
        tx,
        &format!(
            "SELECT code, posted_debits, posted_credits, pending_debits, pending_credits FROM ledger_accounts \
             WHERE code IN (VALUES {{values}}){lock}"
        ),
        &codes.iter().map(|code| vec![Arg::Text(code.clone())]).collect::<Vec<_>>(),
    )
    .await?;
    Ok(rows.into_iter().map(|(code, pd, pc, hd, hc)| (code, [pd, pc, hd, hc])).collect())
}
