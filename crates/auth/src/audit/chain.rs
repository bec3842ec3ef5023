//! Appending to the chain, and reading it back in order.
//!
//! Appends are serialised by the one-row `audit_head` table, which holds the last `seq` and
//! hash. On PostgreSQL [`append`] reads it with `SELECT ... FOR UPDATE`, so a concurrent
//! transaction waits at that row until this one commits or rolls back, then reads the new head:
//! two transactions can never both extend the same record (and should anything else try, the
//! primary key on `seq` and the insert trigger refuse it). On SQLite the store has a single
//! writer connection, and SQLite's own write lock serialises writers across processes.
//! The cost of an append is one head read, one insert and one head update.

use std::collections::VecDeque;

use pitboss_store::{Db, Engine, StoreError, Tx, db, sqlx, tx};
use uuid::Uuid;

use super::canonical::{self, Fields};
use super::merkle::{Hash, leaf_hash};
use super::{AuditEntry, AuditRecord};

/// The stored columns, in the order of [`StoredRecord`].
pub(crate) const COLUMNS: &str = "seq, id, at, actor, action, target_type, target_id, ip, user_agent, \
                                  before_state, after_state, reason, details, prev_hash, hash";

/// One row of `audit_log`, exactly as stored (JSON as text, hashes as hex); an export writes it
/// as it is.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub(crate) struct StoredRecord {
    pub seq: i64,
    pub id: Uuid,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub before_state: Option<String>,
    pub after_state: Option<String>,
    pub reason: Option<String>,
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

impl StoredRecord {
    pub fn fields(&self) -> Fields<'_> {
        Fields {
            seq: self.seq,
            id: self.id,
            at: self.at,
            actor: &self.actor,
            action: &self.action,
            target_type: &self.target_type,
            target_id: &self.target_id,
            ip: self.ip.as_deref(),
            user_agent: self.user_agent.as_deref(),
            before_state: self.before_state.as_deref(),
            after_state: self.after_state.as_deref(),
            reason: self.reason.as_deref(),
            details: &self.details,
        }
    }

    /// The hash this record should have if it follows `prev`.
    pub fn hash_after(&self, prev: &Hash) -> Hash {
        canonical::record_hash(prev, &self.fields())
    }

    /// True when the stored hash is the hash of the stored content after the stored previous
    /// hash: the row was not edited without recomputing it.
    pub fn is_self_consistent(&self) -> bool {
        match (canonical::parse_hash(&self.prev_hash), canonical::parse_hash(&self.hash)) {
            (Some(prev), Some(hash)) => self.hash_after(&prev) == hash,
            _ => false,
        }
    }

    /// The stored hash as bytes; a malformed one (only ever the work of an edit) is replaced by
    /// a digest of its text, so that it still makes a leaf, just not the signed one.
    pub fn hash_bytes(&self) -> Hash {
        canonical::parse_hash(&self.hash).unwrap_or_else(|| leaf_hash(self.hash.as_bytes()))
    }

    /// The Merkle leaf hash of this record.
    pub fn leaf(&self) -> Hash {
        leaf_hash(&self.hash_bytes())
    }

    pub fn into_record(self) -> AuditRecord {
        // JSON columns are written only by `append` from a serde_json::Value, so they parse;
        // should an edited row not, its text is kept rather than the record lost from view.
        fn json(text: String) -> serde_json::Value {
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
        }
        AuditRecord {
            seq: self.seq,
            id: self.id,
            at: self.at,
            actor: self.actor,
            action: self.action,
            target_type: self.target_type,
            target_id: self.target_id,
            ip: self.ip,
            user_agent: self.user_agent,
            before: self.before_state.map(json),
            after: self.after_state.map(json),
            reason: self.reason,
            details: json(self.details),
            prev_hash: self.prev_hash,
            hash: self.hash,
        }
    }
}

/// Appends `entry` to the chain inside `tx`. `at` is the record's instant; `None` takes the
/// clock after the head is locked, so that on one clock `at` follows `seq`.
pub(crate) async fn append(tx: &mut Tx, entry: &AuditEntry, at: Option<i64>) -> Result<StoredRecord, StoreError> {
    let lock = match tx.engine() {
        Engine::Postgres => "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE",
        // No FOR UPDATE in SQLite: its single writer already serialises appends.
        Engine::Sqlite => "SELECT seq, hash FROM audit_head WHERE id = 1",
    };
    let (head_seq, head_hash): (i64, String) = tx!(tx, |c| sqlx::query_as(lock).fetch_one(c).await)?;
    let prev = canonical::parse_hash(&head_hash).ok_or_else(|| {
        StoreError::Config(format!(
            "the audit head holds a malformed hash ({head_hash:?}), so no audit record can be written; \
             run `pitboss audit verify` and restore the database from a backup"
        ))
    })?;
    let seq = head_seq.checked_add(1).ok_or_else(|| {
        StoreError::Config("the audit head's seq is at its maximum; run `pitboss audit verify`".into())
    })?;
    let mut row = StoredRecord {
        seq,
        id: pitboss_core::new_id(),
        at: at.unwrap_or_else(crate::now_micros),
        actor: entry.actor.clone(),
        action: entry.action.clone(),
        target_type: entry.target_type.clone(),
        target_id: entry.target_id.clone(),
        ip: entry.ip.clone(),
        user_agent: entry.user_agent.clone(),
        before_state: entry.before.as_ref().map(|v| v.to_string()),
        after_state: entry.after.as_ref().map(|v| v.to_string()),
        reason: entry.reason.clone(),
        details: entry.details.to_string(),
        prev_hash: head_hash,
        hash: String::new(),
    };
    row.hash = hex::encode(row.hash_after(&prev));
    tx!(tx, |c| {
        sqlx::query(&format!("INSERT INTO audit_log ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"))
            .bind(row.seq)
            .bind(row.id)
            .bind(row.at)
            .bind(&row.actor)
            .bind(&row.action)
            .bind(&row.target_type)
            .bind(&row.target_id)
            .bind(row.ip.as_deref())
            .bind(row.user_agent.as_deref())
            .bind(row.before_state.as_deref())
            .bind(row.after_state.as_deref())
            .bind(row.reason.as_deref())
            .bind(&row.details)
            .bind(&row.prev_hash)
            .bind(&row.hash)
            .execute(&mut *c)
            .await?;
        sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
            .bind(row.seq)
            .bind(&row.hash)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
    })?;
    Ok(row)
}

/// The head: the last appended `seq` (0 when none) and its hash (hex).
pub(crate) async fn head(db: &Db) -> Result<(i64, String), StoreError> {
    Ok(db!(db, |c| sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_one(c).await)?)
}

/// The purge anchor: the last purged `seq` and its hash, or `None` if nothing was purged.
pub(crate) async fn anchor(db: &Db) -> Result<Option<(i64, String)>, StoreError> {
    Ok(db!(db, |c| {
        sqlx::query_as("SELECT seq, hash FROM audit_anchor ORDER BY seq DESC LIMIT 1").fetch_optional(c).await
    })?)
}

/// Records after `after` up to and including `upto`, in `seq` order, read a page at a time so
/// that memory stays bounded however long the log is.
pub(crate) struct RecordStream<'a> {
    db: &'a Db,
    after: i64,
    upto: i64,
    buffer: VecDeque<StoredRecord>,
    exhausted: bool,
}

/// Rows per page when walking the log.
pub(crate) const PAGE: i64 = 1000;

impl<'a> RecordStream<'a> {
    pub fn new(db: &'a Db, after: i64, upto: i64) -> RecordStream<'a> {
        RecordStream { db, after, upto, buffer: VecDeque::new(), exhausted: false }
    }

    async fn fill(&mut self) -> Result<(), StoreError> {
        if !self.buffer.is_empty() || self.exhausted {
            return Ok(());
        }
        let sql = format!("SELECT {COLUMNS} FROM audit_log WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3");
        let rows: Vec<StoredRecord> =
            db!(self.db, |c| { sqlx::query_as(&sql).bind(self.after).bind(self.upto).bind(PAGE).fetch_all(c).await })?;
        self.exhausted = (rows.len() as i64) < PAGE;
        if let Some(last) = rows.last() {
            self.after = last.seq;
        }
        self.buffer.extend(rows);
        Ok(())
    }

    pub async fn next(&mut self) -> Result<Option<StoredRecord>, StoreError> {
        self.fill().await?;
        Ok(self.buffer.pop_front())
    }

    pub async fn peek(&mut self) -> Result<Option<&StoredRecord>, StoreError> {
        self.fill().await?;
        Ok(self.buffer.front())
    }
}

/// `(seq, hash)` of the records after `after` up to `upto`, a page at a time: all a Merkle
/// computation needs.
pub(crate) async fn hash_page(db: &Db, after: i64, upto: i64, limit: i64) -> Result<Vec<(i64, String)>, StoreError> {
    Ok(db!(db, |c| {
        sqlx::query_as("SELECT seq, hash FROM audit_log WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3")
            .bind(after)
            .bind(upto)
            .bind(limit)
            .fetch_all(c)
            .await
    })?)
}
