//! Many rows in one statement: `exec_values` runs a statement whose `VALUES {values}` stands for
//! the rows. It serves plain multi-row inserts and `WITH v(...) AS (VALUES {values}) UPDATE ...
//! FROM v` alike. On SQLite the rows become a multi-row `VALUES` list, in short chunks. On
//! PostgreSQL they become one array per column, `SELECT * FROM UNNEST($1::int8[], ...)`: one
//! statement for any number of rows, whose text never changes, so the server parses and plans it
//! once per connection instead of once per batch (a `VALUES` list of a new length is a new
//! statement, with tens of thousands of parameters to bind one by one).

use uuid::Uuid;

use crate::{StoreError, Tx};

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

/// The rows' stand-in in a template.
const VALUES: &str = "VALUES {values}";

/// Every column array onto a PostgreSQL query.
macro_rules! bind_columns {
    ($q:ident, $columns:expr) => {
        for column in $columns {
            $q = match column {
                Column::Int(v) => $q.bind(v),
                Column::Text(v) => $q.bind(v),
                Column::Id(v) => $q.bind(v),
                Column::Bool(v) => $q.bind(v),
            };
        }
    };
}

/// Runs `template`, whose `VALUES {values}` stands for `rows`, and returns the rows touched.
/// Every row must have the same number of values, and each column values of one type.
pub async fn exec_values(tx: &mut Tx, template: &str, rows: &[Vec<Arg>]) -> Result<u64, StoreError> {
    let mut touched = 0;
    match tx {
        Tx::Postgres(c) => {
            if let Some((sql, columns)) = unnest(template, rows)? {
                let mut q = sqlx::query(&sql);
                bind_columns!(q, columns);
                touched = q.execute(&mut **c).await?.rows_affected();
            }
        }
        Tx::Sqlite(c) => {
            for (sql, chunk) in chunks(template, rows)? {
                let mut q = sqlx::query(&sql);
                crate::bind_args!(q, chunk.iter().flatten());
                touched += q.execute(&mut **c).await?.rows_affected();
            }
        }
    }
    Ok(touched)
}

/// Runs the query `template`, whose `VALUES {values}` stands for `rows` (as in
/// `WHERE (kind, reference) IN (VALUES {values})`), and returns what it finds. On PostgreSQL
/// the text never changes with the number of rows, so the server plans it once per connection.
pub async fn fetch_values<R>(tx: &mut Tx, template: &str, rows: &[Vec<Arg>]) -> Result<Vec<R>, StoreError>
where
    R: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>,
    R: Send + Unpin,
{
    let mut found = Vec::new();
    match tx {
        Tx::Postgres(c) => {
            if let Some((sql, columns)) = unnest(template, rows)? {
                let mut q = sqlx::query_as(&sql);
                bind_columns!(q, columns);
                found = q.fetch_all(&mut **c).await?;
            }
        }
        Tx::Sqlite(c) => {
            for (sql, chunk) in chunks(template, rows)? {
                let mut q = sqlx::query_as(&sql);
                crate::bind_args!(q, chunk.iter().flatten());
                found.extend(q.fetch_all(&mut **c).await?);
            }
        }
    }
    Ok(found)
}

/// The rows' width, after checking the template and that every row has it; `None` if no rows.
fn width(template: &str, rows: &[Vec<Arg>]) -> Result<Option<usize>, StoreError> {
    let Some(width) = rows.first().map(Vec::len) else { return Ok(None) };
    if width == 0 || rows.iter().any(|r| r.len() != width) {
        return Err(StoreError::Config("every row of a VALUES list needs the same number of values".into()));
    }
    if !template.contains(VALUES) {
        return Err(StoreError::Config(format!("a statement for a VALUES list needs `{VALUES}` where the rows go")));
    }
    Ok(Some(width))
}

/// A statement's text and the rows it binds.
type Chunk<'a> = (String, &'a [Vec<Arg>]);

/// SQLite: a multi-row `VALUES` list per short chunk of rows.
fn chunks<'a>(template: &str, rows: &'a [Vec<Arg>]) -> Result<Vec<Chunk<'a>>, StoreError> {
    let Some(width) = width(template, rows)? else { return Ok(Vec::new()) };
    let per_chunk = (max_params(crate::Engine::Sqlite) / width).max(1);
    Ok(rows
        .chunks(per_chunk)
        .map(|chunk| {
            let list: Vec<String> = (0..chunk.len())
                .map(|r| {
                    let marks: Vec<String> = (1..=width).map(|c| format!("${}", r * width + c)).collect();
                    format!("({})", marks.join(", "))
                })
                .collect();
            (template.replace(VALUES, &format!("VALUES {}", list.join(", "))), chunk)
        })
        .collect())
}

/// PostgreSQL: every row in one statement, one array parameter per column.
fn unnest<'a>(template: &str, rows: &'a [Vec<Arg>]) -> Result<Option<(String, Vec<Column<'a>>)>, StoreError> {
    if width(template, rows)?.is_none() {
        return Ok(None);
    }
    let mut columns: Vec<Column> = rows[0].iter().map(|a| Column::new(a, rows.len())).collect();
    for row in rows {
        for (i, (column, arg)) in columns.iter_mut().zip(row).enumerate() {
            if !column.push(arg) {
                return Err(StoreError::Config(format!("column {} of a VALUES list mixes types", i + 1)));
            }
        }
    }
    let arrays: Vec<String> =
        columns.iter().enumerate().map(|(i, col)| format!("${}::{}", i + 1, col.cast())).collect();
    Ok(Some((template.replace(VALUES, &format!("SELECT * FROM UNNEST({})", arrays.join(", "))), columns)))
}

/// One column of rows as an array parameter.
enum Column<'a> {
    Int(Vec<Option<i64>>),
    Text(Vec<Option<&'a str>>),
    Id(Vec<Option<Uuid>>),
    Bool(Vec<Option<bool>>),
}

impl<'a> Column<'a> {
    fn new(first: &Arg, len: usize) -> Column<'a> {
        match first {
            Arg::Int(_) | Arg::OptInt(_) => Column::Int(Vec::with_capacity(len)),
            Arg::Text(_) | Arg::OptText(_) => Column::Text(Vec::with_capacity(len)),
            Arg::Id(_) | Arg::OptId(_) => Column::Id(Vec::with_capacity(len)),
            Arg::Bool(_) => Column::Bool(Vec::with_capacity(len)),
        }
    }

    fn cast(&self) -> &'static str {
        match self {
            Column::Int(_) => "int8[]",
            Column::Text(_) => "text[]",
            Column::Id(_) => "uuid[]",
            Column::Bool(_) => "bool[]",
        }
    }

    /// Adds a value; false if it is not of the column's type.
    fn push(&mut self, arg: &'a Arg) -> bool {
        match (self, arg) {
            (Column::Int(v), Arg::Int(x)) => v.push(Some(*x)),
            (Column::Int(v), Arg::OptInt(x)) => v.push(*x),
            (Column::Text(v), Arg::Text(x)) => v.push(Some(x.as_str())),
            (Column::Text(v), Arg::OptText(x)) => v.push(x.as_deref()),
            (Column::Id(v), Arg::Id(x)) => v.push(Some(*x)),
            (Column::Id(v), Arg::OptId(x)) => v.push(*x),
            (Column::Bool(v), Arg::Bool(x)) => v.push(Some(*x)),
            _ => return false,
        }
        true
    }
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
