//! The audit log: who did what to which record, when and from where, written in the same
//! transaction as the change, and made tamper-evident.
//!
//! [`record`] takes the caller's transaction so that a change and its audit record commit or
//! roll back together. The log is:
//!
//! - **append-only**: database triggers refuse `UPDATE` and `DELETE` (and `TRUNCATE` on
//!   PostgreSQL) on `audit_log`, its head, checkpoints and purge anchors; the only deletion
//!   allowed is a [`purge`] of records older than the retention period, below a recorded
//!   anchor (see [`retention`]);
//! - **hash-chained**: records are numbered `seq` = 1, 2, 3 ... without gaps, and each stores
//!   `hash = SHA-256(prev_hash || canonical bytes)` ([`canonical`] documents the encoding), so
//!   editing, removing, inserting or reordering a record breaks the chain at that record;
//! - **Merkle-checkpointed**: the records' hashes are the leaves of an RFC 9162 Merkle tree
//!   ([`merkle`]); [`checkpoint`] periodically signs its size and root with Ed25519, so that
//!   even someone who rewrites the whole chain with recomputed hashes cannot match a signed root
//!   without the signing key, and a regulator can be given inclusion and consistency proofs
//!   ([`export`]);
//! - **verifiable**: [`verify`] walks the log and names the first record that was altered,
//!   deleted, inserted or reordered, and every checkpoint that does not hold.
//!
//! What it cannot do: records appended after the last checkpoint are only as trustworthy as
//! the database until the next checkpoint signs them, and someone holding both the database and
//! the signing key can rewrite anything. Keep the key away from the database's administrators
//! and give regulators the public key (`pitboss audit public-key`).

pub mod canonical;
mod chain;
mod checkpoint;
mod error;
mod export;
mod list;
pub mod merkle;
pub mod retention;
mod verify;

pub use checkpoint::{
    Checkpoint, checkpoint, checkpoint_message, latest_checkpoint, load_or_create_signing_key, parse_public_key,
    public_key_hex, spawn_checkpointer,
};
pub use ed25519_dalek::{SigningKey, VerifyingKey};
pub use error::AuditError;
pub use export::{
    ConsistencyProof, ExportCheck, ExportFormat, ExportSummary, InclusionProof, consistency_proof, export,
    verify_consistency_proof, verify_export,
};
pub use list::{AuditFilter, MAX_LIMIT, Page, list, list_page};
pub use retention::{PurgeReport, Retention, purge};
pub use verify::{BadCheckpoint, BadRecord, CheckpointProblem, Tamper, VerifyReport, verify};

use pitboss_store::{StoreError, Tx};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// One change to record. `details`, `before` and `after` must never hold a secret (key,
/// password, hash): the log keeps them for years and regulators read it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// [`Caller::actor`](crate::Caller::actor): `api-key:<name>`, `operator:<username>`, `system`.
    pub actor: String,
    /// Dotted `<target type>.<verb>`, e.g. `api_key.create`.
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    /// The client's address, when the change came over the network.
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The target's state before and after the change, where that is worth keeping.
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    /// Why, in the actor's words (e.g. the justification an operator typed).
    pub reason: Option<String>,
    pub details: serde_json::Value,
}

impl AuditEntry {
    /// An entry with empty details; add the rest with the builder methods.
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
            ip: None,
            user_agent: None,
            before: None,
            after: None,
            reason: None,
            details: serde_json::Value::Object(Default::default()),
        }
    }

    pub fn details(mut self, details: serde_json::Value) -> AuditEntry {
        self.details = details;
        self
    }

    /// Where the change came from.
    pub fn client(mut self, ip: Option<String>, user_agent: Option<String>) -> AuditEntry {
        self.ip = ip;
        self.user_agent = user_agent;
        self
    }

    pub fn before(mut self, state: serde_json::Value) -> AuditEntry {
        self.before = Some(state);
        self
    }

    pub fn after(mut self, state: serde_json::Value) -> AuditEntry {
        self.after = Some(state);
        self
    }

    pub fn reason(mut self, reason: impl Into<String>) -> AuditEntry {
        self.reason = Some(reason.into());
        self
    }
}

/// A stored audit record.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AuditRecord {
    /// Position in the chain: 1, 2, 3 ... without gaps. Newer records have larger numbers.
    pub seq: i64,
    pub id: Uuid,
    /// Microseconds since the Unix epoch.
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub reason: Option<String>,
    pub details: serde_json::Value,
    /// Hex SHA-256 of the previous record (zeros for the first).
    pub prev_hash: String,
    /// Hex SHA-256 of `prev_hash` and this record's canonical encoding.
    pub hash: String,
}

/// Writes `entry` inside `tx`; it becomes visible only if the caller commits. On PostgreSQL it
/// holds the chain's head row locked until then, so call it late in the transaction.
pub async fn record(tx: &mut Tx, entry: &AuditEntry) -> Result<(), StoreError> {
    chain::append(tx, entry, None).await.map(|_| ())
}

#[cfg(test)]
mod tests;
