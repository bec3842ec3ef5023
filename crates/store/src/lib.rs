//! Pitboss store: one database API over two engines.
//!
//! SQLite (a file in the data directory, WAL mode) is the embedded default; PostgreSQL is used
//! when a URL is given. Both run the same migrations and the same SQL, written in the portable
//! subset (`$1` parameters, integer timestamps, text JSON). Code that runs a query writes it once
//! inside [`db!`] or [`tx!`], which compile it for each engine.
//!
//! This crate must never hold domain rules: it only connects, migrates and runs what modules ask.

mod conditions;
mod db;
mod error;
pub mod testing;
mod values;

pub use conditions::Conditions;
pub use db::{Db, Engine, StoreSettings, Tx};
pub use error::StoreError;
pub use values::{Arg, exec_values, fetch_values, in_list_len, placeholders};

/// Re-exported so that modules name one sqlx version.
pub use sqlx;

/// Runs `$body` against the pool of whichever engine `$db` is, with `$c` bound to the pool.
/// Reads go here; writes go through a transaction and [`tx!`].
///
/// ```ignore
/// let n: i64 = db!(db, |c| sqlx::query_scalar("SELECT COUNT(*) FROM players").fetch_one(c).await)?;
/// ```
#[macro_export]
macro_rules! db {
    ($db:expr, |$c:ident| $body:expr) => {
        match $db {
            $crate::Db::Sqlite { read: $c, .. } => $body,
            $crate::Db::Postgres($c) => $body,
        }
    };
}

/// Runs `$body` inside the transaction `$tx` (a `&mut Tx`), with `$c` bound to its connection.
/// Use `&mut *$c` to run more than one statement.
#[macro_export]
macro_rules! tx {
    ($tx:expr, |$c:ident| $body:expr) => {
        match $tx {
            $crate::Tx::Sqlite(t) => {
                let $c: &mut $crate::sqlx::SqliteConnection = &mut *t;
                $body
            }
            $crate::Tx::Postgres(t) => {
                let $c: &mut $crate::sqlx::PgConnection = &mut *t;
                $body
            }
        }
    };
}

/// Executes one statement in the transaction `$tx` with the given bind values, and returns the
/// number of rows it touched.
///
/// ```ignore
/// let n = exec!(tx, "UPDATE players SET status = $1 WHERE id = $2", status, id)?;
/// ```
#[macro_export]
macro_rules! exec {
    ($tx:expr, $sql:expr $(, $arg:expr)* $(,)?) => {
        $crate::tx!($tx, |c| $crate::sqlx::query($sql)$(.bind($arg))*.execute(c).await.map(|r| r.rows_affected()))
    };
}
