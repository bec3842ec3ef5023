use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};

use crate::StoreError;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
/// Statements whose syntax differs per engine (triggers, functions). An engine migration
/// numbered N runs right after common migration N / 1000: `sqlite/5001_*.sql` after
/// `0005_*.sql` and before `0006_*.sql`. Common migrations stay below 1000.
static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The common migrations with one engine's own merged in at their places (see above).
fn migrations(engine: Engine) -> Vec<sqlx::migrate::Migration> {
    let own = match engine {
        Engine::Sqlite => &SQLITE_MIGRATOR,
        Engine::Postgres => &POSTGRES_MIGRATOR,
    };
    let mut all: Vec<sqlx::migrate::Migration> = MIGRATOR.iter().chain(own.iter()).cloned().collect();
    all.sort_by_key(|m| if m.version < 1000 { m.version * 1000 } else { m.version });
    all
}

/// Hands a merged list to [`sqlx::migrate::Migrator::new`].
#[derive(Debug)]
struct Merged(Vec<sqlx::migrate::Migration>);

type Resolved = Result<Vec<sqlx::migrate::Migration>, sqlx::error::BoxDynError>;

impl sqlx::migrate::MigrationSource<'static> for Merged {
    fn resolve(self) -> std::pin::Pin<Box<dyn std::future::Future<Output = Resolved> + Send + 'static>> {
        Box::pin(async move { Ok(self.0) })
    }
}

/// The name of the SQLite file inside the data directory.
pub const SQLITE_FILE: &str = "pitboss.db";

/// Where the data lives: a PostgreSQL URL wins over the data directory.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    /// Connections in the PostgreSQL pool (and SQLite read pool).
    pub max_connections: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    pub fn name(&self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
        }
    }
}

/// A connection pool on one of the two engines.
///
/// SQLite allows one writer at a time, so it gets a single-connection pool for transactions
/// (writers queue in Rust instead of failing with SQLITE_BUSY) and a pool of readers beside it.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite { read: SqlitePool, write: SqlitePool },
    Postgres(PgPool),
}

/// An open transaction on either engine. Dropped without [`Tx::commit`], it rolls back.
pub enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl Db {
    /// Connects as the settings say and brings the schema up to date.
    pub async fn open(settings: &StoreSettings) -> Result<Db, StoreError> {
        let db = match &settings.database_url {
            Some(url) => Db::open_postgres(url, settings.max_connections).await?,
            None => {
                std::fs::create_dir_all(&settings.data_dir)
                    .map_err(|source| StoreError::DataDir { path: settings.data_dir.display().to_string(), source })?;
                Db::open_sqlite(settings.data_dir.join(SQLITE_FILE), settings.max_connections).await?
            }
        };
        db.migrate().await?;
        Ok(db)
    }

    pub async fn open_sqlite(path: PathBuf, readers: u32) -> Result<Db, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(60))
            .connect_with(options.clone())
            .await?;
        let read =
            SqlitePoolOptions::new().max_connections(readers.max(1)).connect_with(options.read_only(true)).await?;
        Ok(Db::Sqlite { read, write })
    }

    pub async fn open_postgres(url: &str, max_connections: u32) -> Result<Db, StoreError> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(Db::Postgres(pool))
    }

    pub fn engine(&self) -> Engine {
        match self {
            Db::Sqlite { .. } => Engine::Sqlite,
            Db::Postgres(_) => Engine::Postgres,
        }
    }

    /// Applies the migrations compiled into the binary that have not run yet.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = sqlx::migrate::Migrator::new(Merged(migrations(self.engine()))).await?;
        match self {
            Db::Sqlite { write, .. } => migrator.run(write).await?,
            Db::Postgres(pool) => migrator.run(pool).await?,
        }
        Ok(())
    }

    pub async fn begin(&self) -> Result<Tx, StoreError> {
        Ok(match self {
            Db::Sqlite { write, .. } => Tx::Sqlite(write.begin().await?),
            Db::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    /// A round trip to the database, for readiness checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let one: i64 = crate::db!(self, |c| sqlx::query_scalar("SELECT CAST(1 AS BIGINT)").fetch_one(c).await)?;
        debug_assert_eq!(one, 1);
        Ok(())
    }

    pub async fn close(&self) {
        match self {
            Db::Sqlite { read, write } => {
                read.close().await;
                write.close().await;
            }
            Db::Postgres(pool) => pool.close().await,
        }
    }
}

impl Tx {
    pub async fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }

    pub async fn rollback(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(t) => t.rollback().await?,
            Tx::Postgres(t) => t.rollback().await?,
        }
        Ok(())
    }

    pub fn engine(&self) -> Engine {
        match self {
            Tx::Sqlite(_) => Engine::Sqlite,
            Tx::Postgres(_) => Engine::Postgres,
        }
    }

    /// Runs `work` inside a savepoint: on error, only what `work` did is undone and the
    /// transaction stays usable. Ingest uses this so one bad event never spoils a batch.
    pub async fn savepoint(&mut self) -> Result<(), StoreError> {
        crate::exec!(self, "SAVEPOINT item")?;
        Ok(())
    }

    pub async fn release_savepoint(&mut self) -> Result<(), StoreError> {
        crate::exec!(self, "RELEASE SAVEPOINT item")?;
        Ok(())
    }

    pub async fn rollback_to_savepoint(&mut self) -> Result<(), StoreError> {
        crate::exec!(self, "ROLLBACK TO SAVEPOINT item")?;
        crate::exec!(self, "RELEASE SAVEPOINT item")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_migrations_sit_between_the_common_ones() {
        assert!(MIGRATOR.iter().all(|m| (1..1000).contains(&m.version)), "common migrations stay below 1000");
        for engine in [Engine::Sqlite, Engine::Postgres] {
            let all = migrations(engine);
            for m in all.iter().filter(|m| m.version >= 1000) {
                assert!(MIGRATOR.version_exists(m.version / 1000), "{} follows no common migration", m.version);
            }
            let versions: Vec<i64> = all.iter().map(|m| m.version).collect();
            let five = versions.iter().position(|v| *v == 5).expect("0005 exists");
            assert_eq!(versions[five + 1], 5001, "{engine:?}: {versions:?}");
        }
    }
}
