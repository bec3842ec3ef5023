//! Reading the log for people: filters, and keyset pagination by `seq`, newest first.

use pitboss_store::{Arg, Db, StoreError, db, sqlx};

use super::AuditRecord;
use super::chain::{COLUMNS, StoredRecord};

/// The largest page [`list_page`] returns, so that a careless caller cannot pull the whole log.
pub const MAX_LIMIT: i64 = 1000;

/// Which records to list; every filter left `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub actor: Option<String>,
    /// An exact action (`player.update`), or a prefix ending in `*` (`player.*`).
    pub action: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    /// Records at or after this instant (microseconds since the Unix epoch).
    pub from: Option<i64>,
    /// Records before this instant.
    pub to: Option<i64>,
}

/// One page: the records with `seq` below `before_seq` (all, if `None`), newest first. The next
/// page starts before the last record's `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub before_seq: Option<i64>,
    /// Clamped to 1..=[`MAX_LIMIT`].
    pub limit: i64,
}

impl Page {
    pub fn first(limit: i64) -> Page {
        Page { before_seq: None, limit }
    }
}

/// The records that match `filter`, newest first, one page at a time.
pub async fn list_page(db: &Db, filter: &AuditFilter, page: Page) -> Result<Vec<AuditRecord>, StoreError> {
    let mut conditions: Vec<String> = Vec::new();
    let mut args: Vec<Arg> = Vec::new();
    let mut bind = |condition: &str, arg: Arg| {
        args.push(arg);
        conditions.push(condition.replace('?', &format!("${}", args.len())));
    };
    if let Some(actor) = &filter.actor {
        bind("actor = ?", Arg::Text(actor.clone()));
    }
    match filter.action.as_deref().map(|a| (a, a.strip_suffix('*'))) {
        // A prefix match that is exact on both engines (SQLite's LIKE ignores case): the first
        // characters must equal the prefix.
        Some((_, Some(prefix))) if !prefix.is_empty() => {
            bind("substr(action, 1, length(?)) = ?", Arg::Text(prefix.to_string()));
        }
        Some((_, Some(_))) | None => {}
        Some((exact, None)) => bind("action = ?", Arg::Text(exact.to_string())),
    }
    if let Some(target_type) = &filter.target_type {
        bind("target_type = ?", Arg::Text(target_type.clone()));
    }
    if let Some(target_id) = &filter.target_id {
        bind("target_id = ?", Arg::Text(target_id.clone()));
    }
    if let Some(from) = filter.from {
        bind("at >= ?", Arg::Int(from));
    }
    if let Some(to) = filter.to {
        bind("at < ?", Arg::Int(to));
    }
    if let Some(before) = page.before_seq {
        bind("seq < ?", Arg::Int(before));
    }
    args.push(Arg::Int(page.limit.clamp(1, MAX_LIMIT)));
    let filter_sql = if conditions.is_empty() { String::new() } else { format!("WHERE {}", conditions.join(" AND ")) };
    let sql = format!("SELECT {COLUMNS} FROM audit_log {filter_sql} ORDER BY seq DESC LIMIT ${}", args.len());
    let rows: Vec<StoredRecord> = db!(db, |c| {
        let mut query = sqlx::query_as(&sql);
        for arg in &args {
            query = match arg {
                Arg::Int(v) => query.bind(*v),
                Arg::Text(v) => query.bind(v.as_str()),
                // Only the two kinds above are pushed.
                _ => query,
            };
        }
        query.fetch_all(c).await
    })?;
    Ok(rows.into_iter().map(StoredRecord::into_record).collect())
}

/// The newest records first, optionally only those about one target type and/or one target.
/// `limit` is clamped to 1..=[`MAX_LIMIT`]. Kept for its callers; [`list_page`] filters more.
pub async fn list(
    db: &Db,
    target_type: Option<&str>,
    target_id: Option<&str>,
    limit: i64,
) -> Result<Vec<AuditRecord>, StoreError> {
    let filter = AuditFilter {
        target_type: target_type.map(str::to_string),
        target_id: target_id.map(str::to_string),
        ..AuditFilter::default()
    };
    list_page(db, &filter, Page::first(limit)).await
}
