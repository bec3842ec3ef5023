//! Many rows in one statement: `exec_values` fills a statement's `{values}` with a multi-row
//! `VALUES` list, in chunks that stay under both engines' bind-parameter limits. It serves
//! plain multi-row inserts and `WITH v(...) AS (VALUES ...) UPDATE ... FROM v` alike, which both
//! SQLite and PostgreSQL run.

use uuid::Uuid;

use crate::{StoreError, Tx, tx};

/// One bind value of a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Int(i64),
    OptInt(Option<i64>),
    Text(String),
    OptText(Option<String>),
    Id(Uuid),
    OptId(Option<Uuid>),
    Bool(bool),
}

/// Bind parameters per statement. PostgreSQL takes up to 65,535; on SQLite, binding costs grow
/// faster than the parameter count, so its statements stay short (measured: 1,000 rows of 13
/// values in one statement were slower than one statement per row).
fn max_params(engine: crate::Engine) -> usize {
    match engine {
        crate::Engine::Postgres => 30_000,
        crate::Engine::Sqlite => 500,
    }
}

/// Runs `template` once per chunk of `rows`, with `{values}` replaced by `($1, $2), ($3, $4)...`.
/// Every row must have the same number of values. Returns the rows touched.
pub async fn exec_values(tx: &mut Tx, template: &str, rows: &[Vec<Arg>]) -> Result<u64, StoreError> {
    let Some(width) = rows.first().map(Vec::len) else { return Ok(0) };
    if width == 0 || rows.iter().any(|r| r.len() != width) {
        return Err(StoreError::Config("every row of a VALUES list needs the same number of values".into()));
    }
    let per_chunk = (max_params(tx.engine()) / width).max(1);
    let mut touched = 0;
    for chunk in rows.chunks(per_chunk) {
        let list: Vec<String> = (0..chunk.len())
            .map(|r| {
                let marks: Vec<String> = (1..=width).map(|c| format!("${}", r * width + c)).collect();
                format!("({})", marks.join(", "))
            })
            .collect();
        let sql = template.replace("{values}", &list.join(", "));
        touched += tx!(tx, |c| {
            let mut q = sqlx::query(&sql);
            for arg in chunk.iter().flatten() {
                q = match arg {
                    Arg::Int(v) => q.bind(*v),
                    Arg::OptInt(v) => q.bind(*v),
                    Arg::Text(v) => q.bind(v.as_str()),
                    Arg::OptText(v) => q.bind(v.as_deref()),
                    Arg::Id(v) => q.bind(*v),
                    Arg::OptId(v) => q.bind(*v),
                    Arg::Bool(v) => q.bind(*v),
                };
            }
            q.execute(c).await.map(|r| r.rows_affected())
        })?;
    }
    Ok(touched)
}

/// How many values one `IN (...)` list should carry on this engine (see [`exec_values`] on why
/// SQLite's are short).
pub fn in_list_len(engine: crate::Engine) -> usize {
    max_params(engine).min(10_000)
}

/// `$first, $first+1, ...` for an `IN (...)` list of `n` values.
pub fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}
