//! The chart of accounts. Codes are readable (`player:<id>:cash:EUR`), so a posting says
//! where money went without a join.

use pitboss_core::Currency;
use pitboss_store::{Arg, Db, Tx, exec_values};
use uuid::Uuid;

use crate::LedgerError;

pub fn player_cash(player: Uuid, currency: Currency) -> String {
    format!("player:{player}:cash:{currency}")
}

pub fn player_bonus(player: Uuid, currency: Currency) -> String {
    format!("player:{player}:bonus:{currency}")
}

/// The house's side of every bet and win.
pub fn house_games(currency: Currency) -> String {
    format!("house:games:{currency}")
}

/// The house's side of bonus money given and taken back.
pub fn house_bonus(currency: Currency) -> String {
    format!("house:bonus:{currency}")
}

/// The house's side of manual adjustments.
pub fn house_adjustments(currency: Currency) -> String {
    format!("house:adjustments:{currency}")
}

/// Money in transit with the payment providers.
pub fn payment_clearing(currency: Currency) -> String {
    format!("clearing:payments:{currency}")
}

/// Player accounts must not go negative, so their balances are cached and checked.
pub fn tracks_balance(code: &str) -> bool {
    code.starts_with("player:")
}

/// `(kind, player)` of an account code.
fn describe(code: &str) -> (String, Option<Uuid>) {
    let parts: Vec<&str> = code.split(':').collect();
    match parts.as_slice() {
        ["player", id, kind, _] => (format!("player_{kind}"), Uuid::parse_str(id).ok()),
        [owner, kind, _] => (format!("{owner}_{kind}"), None),
        _ => ("other".to_string(), None),
    }
}

/// Opens the accounts `(code, currency)` that are new, in one statement. Cheap when they
/// exist: index probes, no writes.
pub async fn ensure_all(tx: &mut Tx, accounts: &[(&str, Currency)], now_us: i64) -> Result<(), LedgerError> {
    let rows: Vec<Vec<Arg>> = accounts
        .iter()
        .map(|(code, currency)| {
            let (kind, player) = describe(code);
            vec![
                Arg::Text(code.to_string()),
                Arg::Text(kind),
                Arg::OptId(player),
                Arg::Text(currency.as_str().to_string()),
                Arg::Bool(tracks_balance(code)),
                Arg::Int(now_us),
                Arg::Int(now_us),
            ]
        })
        .collect();
    exec_values(
        tx,
        "INSERT INTO ledger_accounts (code, kind, player_id, currency, tracks_balance, created_at, updated_at) \
         VALUES {values} ON CONFLICT (code) DO NOTHING",
        &rows,
    )
    .await?;
    Ok(())
}

/// Opens the house and clearing accounts of every currency, in a short transaction of its own.
///
/// Run at start-up: opening them lazily inside long ingest batches makes concurrent batches
/// insert the same new rows in different orders, which deadlocks on PostgreSQL.
pub async fn open_house_accounts(db: &Db) -> Result<(), LedgerError> {
    let now_us = pitboss_core::time::to_micros(chrono::Utc::now());
    let mut tx = db.begin().await?;
    let codes: Vec<(String, Currency)> = Currency::all()
        .flat_map(|c| [house_games(c), house_bonus(c), house_adjustments(c), payment_clearing(c)].map(|code| (code, c)))
        .collect();
    let accounts: Vec<(&str, Currency)> = codes.iter().map(|(code, c)| (code.as_str(), *c)).collect();
    ensure_all(&mut tx, &accounts, now_us).await?;
    tx.commit().await?;
    Ok(())
}
