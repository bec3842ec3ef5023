//! The audit log: who did what to which record, written in the same transaction as the change.
//!
//! [`record`] takes the caller's transaction so that a change and its audit record commit or
//! roll back together. This module must never update or delete a record; the append-only,
//! hash-chained log (triggers, Merkle checkpoints, see DESIGN.md) grows behind the same
//! `record` signature.

use pitboss_store::{Db, StoreError, Tx, db, sqlx, tx};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// One change to record. `details` must never hold a secret (key, password, hash).
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// [`Caller::actor`](crate::Caller::actor): `api-key:<name>`, `operator:<username>`, `system`.
    pub actor: String,
    /// Dotted `<target type>.<verb>`, e.g. `api_key.create`.
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub details: serde_json::Value,
}

impl AuditEntry {
    /// An entry with empty details; add them with [`AuditEntry::details`].
    pub fn new(
        actor: impl Into<String>,
        action: impl Into<String>,
        target_type: impl Into<String>,
        target_id: impl ToString,
    ) -> AuditEntry {
        AuditEntry {
            actor: actor.into(),
            action: action.into(),
            target_type: target_type.into(),
            target_id: target_id.to_string(),
            details: serde_json::Value::Object(Default::default()),
        }
    }

    pub fn details(mut self, details: serde_json::Value) -> AuditEntry {
        self.details = details;
        self
    }
}

/// A stored audit record.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AuditRecord {
    pub id: Uuid,
    /// Microseconds since the Unix epoch.
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub details: serde_json::Value,
}

/// Writes `entry` inside `tx`; it becomes visible only if the caller commits.
pub async fn record(tx: &mut Tx, entry: &AuditEntry) -> Result<(), StoreError> {
    tx!(tx, |c| {
        sqlx::query(
            "INSERT INTO audit_log (id, at, actor, action, target_type, target_id, details) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(pitboss_core::new_id())
        .bind(crate::now_micros())
        .bind(&entry.actor)
        .bind(&entry.action)
        .bind(&entry.target_type)
        .bind(&entry.target_id)
        .bind(entry.details.to_string())
        .execute(c)
        .await
        .map(|_| ())
    })?;
    Ok(())
}

/// The largest page [`list`] returns, so that a careless caller cannot pull the whole log.
pub const MAX_LIMIT: i64 = 1000;

type Row = (Uuid, i64, String, String, String, String, String);

/// The newest records first, optionally only those about one target type and/or one target.
/// `limit` is clamped to 1..=[`MAX_LIMIT`].
pub async fn list(
    db: &Db,
    target_type: Option<&str>,
    target_id: Option<&str>,
    limit: i64,
) -> Result<Vec<AuditRecord>, StoreError> {
    const COLUMNS: &str = "SELECT id, at, actor, action, target_type, target_id, details FROM audit_log";
    const ORDER: &str = "ORDER BY at DESC, id DESC";
    let limit = limit.clamp(1, MAX_LIMIT);
    // One statement per filter combination rather than `($1 IS NULL OR ...)`, so that each can
    // use the (target_type, target_id, at) index on both engines.
    let (sql, binds): (String, Vec<&str>) = match (target_type, target_id) {
        (None, None) => (format!("{COLUMNS} {ORDER} LIMIT $1"), vec![]),
        (Some(t), None) => (format!("{COLUMNS} WHERE target_type = $1 {ORDER} LIMIT $2"), vec![t]),
        (None, Some(i)) => (format!("{COLUMNS} WHERE target_id = $1 {ORDER} LIMIT $2"), vec![i]),
        (Some(t), Some(i)) => {
            (format!("{COLUMNS} WHERE target_type = $1 AND target_id = $2 {ORDER} LIMIT $3"), vec![t, i])
        }
    };
    let rows: Vec<Row> = db!(db, |c| {
        let mut query = sqlx::query_as(&sql);
        for value in &binds {
            query = query.bind(*value);
        }
        query.bind(limit).fetch_all(c).await
    })?;
    Ok(rows.into_iter().map(to_record).collect())
}

fn to_record((id, at, actor, action, target_type, target_id, details): Row) -> AuditRecord {
    // Details are written only by `record` from a serde_json::Value, so they parse; should a
    // hand-edited row not, its text is kept rather than the record being lost from view.
    let details = serde_json::from_str(&details).unwrap_or(serde_json::Value::String(details));
    AuditRecord { id, at, actor, action, target_type, target_id, details }
}
