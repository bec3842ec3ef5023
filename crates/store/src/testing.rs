//! Databases for tests: a fresh SQLite file, or a fresh PostgreSQL database of its own.
//!
//! Storage tests run on both engines through [`both_engines!`](crate::both_engines). The
//! PostgreSQL half is `#[ignore]`d by default, so that the plain test command needs no server;
//! the integration run sets `PITBOSS_TEST_DATABASE_URL` and passes `--ignored`.

use std::path::PathBuf;

use crate::{Db, StoreError};

/// The server the PostgreSQL tests create their databases on.
pub const TEST_DATABASE_URL_VAR: &str = "PITBOSS_TEST_DATABASE_URL";

/// A migrated SQLite database in a new temporary directory (left behind for inspection;
/// the OS temp directory is the place for it).
pub async fn sqlite() -> Result<Db, StoreError> {
    let dir: PathBuf = std::env::temp_dir().join(format!("pitboss-test-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).map_err(|source| StoreError::DataDir { path: dir.display().to_string(), source })?;
    let db = Db::open_sqlite(dir.join(crate::db::SQLITE_FILE), 4).await?;
    db.migrate().await?;
    Ok(db)
}

/// A migrated PostgreSQL database created for this one test on the server named by
/// `PITBOSS_TEST_DATABASE_URL`. Test databases older than a day are dropped on the way.
pub async fn postgres() -> Result<Db, StoreError> {
    let url = std::env::var(TEST_DATABASE_URL_VAR).map_err(|_| {
        StoreError::Config(format!(
            "{TEST_DATABASE_URL_VAR} is not set: point it at a PostgreSQL server, e.g. postgres://postgres@127.0.0.1:5432/postgres"
        ))
    })?;
    let admin = Db::open_postgres(&url, 1).await?;
    let Db::Postgres(admin_pool) = &admin else { unreachable!() };
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
    drop_stale(admin_pool, now).await;
    let name = format!("pitboss_test_{now}_{}", uuid::Uuid::now_v7().simple());
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(admin_pool).await?;
    admin.close().await;
    let test_url = replace_database(&url, &name);
    let db = Db::open_postgres(&test_url, 8).await?;
    db.migrate().await?;
    Ok(db)
}

async fn drop_stale(admin: &sqlx::PgPool, now: u64) {
    let names: Vec<String> = sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'pitboss_test_%'")
        .fetch_all(admin)
        .await
        .unwrap_or_default();
    for name in names {
        let created: u64 =
            name.trim_start_matches("pitboss_test_").split('_').next().and_then(|s| s.parse().ok()).unwrap_or(now);
        if now.saturating_sub(created) > 86_400 {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(admin).await;
        }
    }
}

/// The same server URL with another database name in its path.
pub fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_and_path = &base[scheme_end..];
    let host = host_and_path.split('/').next().unwrap_or(host_and_path);
    let mut out = format!("{}{}/{}", &base[..scheme_end], host, name);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// Declares one async test that runs on SQLite, and its twin on PostgreSQL (ignored unless
/// the integration run asks for it with `--ignored`).
///
/// ```ignore
/// both_engines!(replaying_a_reference_changes_nothing, |db| async move { ... });
/// ```
#[macro_export]
macro_rules! both_engines {
    ($name:ident, |$db:ident| $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test]
            async fn sqlite() {
                let $db = $crate::testing::sqlite().await.expect("open a test SQLite database");
                $body.await;
            }

            #[tokio::test]
            #[ignore = "needs PostgreSQL: set PITBOSS_TEST_DATABASE_URL and run with --ignored"]
            async fn postgres() {
                let $db = $crate::testing::postgres().await.expect("create a test PostgreSQL database");
                $body.await;
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_only_the_database_name() {
        assert_eq!(
            replace_database("postgres://u@127.0.0.1:5432/postgres?sslmode=disable", "x"),
            "postgres://u@127.0.0.1:5432/x?sslmode=disable"
        );
        assert_eq!(replace_database("postgres://127.0.0.1", "x"), "postgres://127.0.0.1/x");
    }
}
