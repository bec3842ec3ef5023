//! The chart of accounts. Codes are readable (`player:<id>:cash:EUR`), so a posting says
//! where money went without a join.

use pitboss_core::Currency;
use pitboss_store::{Tx, exec};
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

/// Opens the account if it is new. Cheap when it exists: one index probe, no write.
pub async fn ensure(tx: &mut Tx, code: &str, currency: Currency, now_us: i64) -> Result<(), LedgerError> {
    let (kind, player) = describe(code);
    exec!(
        tx,
        "INSERT INTO ledger_accounts (code, kind, player_id, currency, tracks_balance, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (code) DO NOTHING",
        code,
        kind,
        player,
        currency.as_str(),
        tracks_balance(code),
        now_us,
    )?;
    Ok(())
}
