//! Signed checkpoints: the Merkle tree's size and root, signed with Ed25519 every few minutes.
//!
//! The signed bytes are the UTF-8 text (no trailing newline)
//!
//! ```text
//! pitboss-audit-checkpoint v1
//! <tree size, decimal>
//! <root hash, 64 lowercase hex digits>
//! <head hash: the chain hash of record seq = tree size, 64 lowercase hex digits>
//! <time of signing, microseconds since the Unix epoch, decimal>
//! ```
//!
//! The root commits to every record's hash; the head hash, which the root also determines but
//! does not reveal, lets the next checkpoint check in O(1) that the chain it extends is the one
//! that was signed, and lets a purge anchor be checked against a signed value.
//!
//! Each checkpoint also stores the public key it was signed with (so that a reader can tell
//! which key to ask for; [`verify`](super::verify) trusts only the key it is given) and the
//! Merkle frontier at its size (not signed: it is checked against the signed root wherever it
//! is used), so that the next checkpoint reads only the records added since, and so that a
//! purge can drop the leaves below it and still let later roots be computed.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use pitboss_store::{Db, db, sqlx, tx};
use serde::{Deserialize, Serialize};

use super::canonical::{GENESIS, parse_hash};
use super::chain::{self, RecordStream};
use super::error::AuditError;
use super::merkle::{Frontier, Hash};

/// The first line of the signed text; a new format gets a new version.
pub const CHECKPOINT_TAG: &str = "pitboss-audit-checkpoint v1";

/// A signed tree head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Checkpoint {
    /// The number of records (leaves) it covers: those with `seq` 1 to `tree_size`.
    pub tree_size: i64,
    /// Hex of the RFC 9162 root over those records' hashes.
    pub root_hash: String,
    /// Hex of the chain hash of the last record it covers (`seq = tree_size`).
    pub head_hash: String,
    /// When it was signed, in microseconds since the Unix epoch.
    pub at: i64,
    /// Hex of the Ed25519 public key it was signed with.
    pub public_key: String,
    /// Hex of the Ed25519 signature over [`checkpoint_message`].
    pub signature: String,
}

/// The exact bytes a checkpoint's signature covers (see the module documentation).
pub fn checkpoint_message(tree_size: i64, root_hex: &str, head_hex: &str, at: i64) -> String {
    format!("{CHECKPOINT_TAG}\n{tree_size}\n{root_hex}\n{head_hex}\n{at}")
}

impl Checkpoint {
    pub fn message(&self) -> String {
        checkpoint_message(self.tree_size, &self.root_hash, &self.head_hash, self.at)
    }

    pub fn root(&self) -> Option<Hash> {
        parse_hash(&self.root_hash)
    }

    /// Whether `key` signed exactly this checkpoint. The stored `public_key` is not trusted.
    pub fn is_signed_by(&self, key: &VerifyingKey) -> bool {
        let Some(bytes) = hex::decode(&self.signature).ok().and_then(|b| <[u8; 64]>::try_from(b).ok()) else {
            return false;
        };
        // Strict: no small-order keys or malleable signatures, which plain `verify` tolerates.
        key.verify_strict(self.message().as_bytes(), &Signature::from_bytes(&bytes)).is_ok()
    }
}

/// Lowercase hex of a public key, as printed for regulators and stored with checkpoints.
pub fn public_key_hex(key: &VerifyingKey) -> String {
    hex::encode(key.as_bytes())
}

/// Reads a public key given as 64 hex characters.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, AuditError> {
    let bytes: [u8; 32] = hex::decode(text.trim())
        .map_err(|e| AuditError::PublicKey(e.to_string()))?
        .try_into()
        .map_err(|_| AuditError::PublicKey("it is not 32 bytes long".into()))?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| AuditError::PublicKey(e.to_string()))
}

/// The signing key kept in `path` (64 hex characters), created there with mode 0600 if the file
/// does not exist. Back the file up: without it, new checkpoints need a new key and regulators
/// a new public key.
pub fn load_or_create_signing_key(path: &Path) -> Result<SigningKey, AuditError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_signing_key(path, &text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_signing_key(path),
        Err(source) => Err(AuditError::KeyFile { action: "read", path: path.to_path_buf(), source }),
    }
}

fn parse_signing_key(path: &Path, text: &str) -> Result<SigningKey, AuditError> {
    let bytes: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| AuditError::KeyFileMalformed { path: path.to_path_buf() })?;
    Ok(SigningKey::from_bytes(&bytes))
}

fn create_signing_key(path: &Path) -> Result<SigningKey, AuditError> {
    let key_file = |action, source| AuditError::KeyFile { action, path: path.to_path_buf(), source };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| key_file("create the directory of", e))?;
    }
    let key = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(format!("{}\n", hex::encode(key.to_bytes())).as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| key_file("write", e))?;
            tracing::warn!(
                path = %path.display(),
                public_key = public_key_hex(&key.verifying_key()),
                "created a new audit signing key: back it up, and give the public key to whoever verifies the log"
            );
            Ok(key)
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(path).map_err(|e| key_file("read", e))?;
            parse_signing_key(path, &text)
        }
        Err(e) => Err(key_file("create", e)),
    }
}

/// A stored checkpoint with its frontier.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct CheckpointRow {
    #[sqlx(flatten)]
    pub checkpoint: Checkpoint,
    pub frontier: String,
}

impl CheckpointRow {
    /// The stored frontier, if it parses and hashes to the checkpoint's root.
    pub fn frontier_matching_root(&self) -> Option<Frontier> {
        let frontier = Frontier::decode(u64::try_from(self.checkpoint.tree_size).ok()?, &self.frontier)?;
        (Some(frontier.root()) == self.checkpoint.root()).then_some(frontier)
    }
}

pub(crate) const CHECKPOINT_COLUMNS: &str = "tree_size, root_hash, head_hash, at, public_key, signature, frontier";

/// The checkpoint with the largest tree, if any.
pub async fn latest_checkpoint(db: &Db) -> Result<Option<Checkpoint>, AuditError> {
    Ok(latest_row(db).await?.map(|r| r.checkpoint))
}

async fn latest_row(db: &Db) -> Result<Option<CheckpointRow>, AuditError> {
    let sql = format!("SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY tree_size DESC LIMIT 1");
    Ok(db!(db, |c| sqlx::query_as(&sql).fetch_optional(c).await)?)
}

/// The checkpoint of exactly `tree_size` records, if one was signed.
pub(crate) async fn checkpoint_row(db: &Db, tree_size: i64) -> Result<Option<CheckpointRow>, AuditError> {
    let sql = format!("SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE tree_size = $1");
    Ok(db!(db, |c| sqlx::query_as(&sql).bind(tree_size).fetch_optional(c).await)?)
}

/// Checkpoints with `tree_size` above `after`, smallest first, one page.
pub(crate) async fn checkpoint_page(db: &Db, after: i64, limit: i64) -> Result<Vec<CheckpointRow>, AuditError> {
    let sql =
        format!("SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE tree_size > $1 ORDER BY tree_size LIMIT $2");
    Ok(db!(db, |c| sqlx::query_as(&sql).bind(after).bind(limit).fetch_all(c).await)?)
}

/// Signs a checkpoint over every record appended so far, unless none was added since the last
/// one (then `None`, as also when another process signed the same size first). Refuses, with
/// the seq, when the records since the last checkpoint do not chain: signing them would vouch
/// for an edit.
pub async fn checkpoint(db: &Db, key: &SigningKey) -> Result<Option<Checkpoint>, AuditError> {
    checkpoint_at(db, key, crate::now_micros()).await
}

pub(crate) async fn checkpoint_at(db: &Db, key: &SigningKey, now: i64) -> Result<Option<Checkpoint>, AuditError> {
    let (head_seq, _) = chain::head(db).await?;
    let last = latest_row(db).await?;
    if head_seq == 0 || last.as_ref().is_some_and(|l| l.checkpoint.tree_size >= head_seq) {
        return Ok(None);
    }
    let (mut frontier, mut prev) = start(db, &key.verifying_key(), last).await?;
    let mut records = RecordStream::new(db, frontier.size() as i64, head_seq);
    while let Some(r) = records.next().await? {
        let expected = frontier.size() as i64 + 1;
        let broken = |reason: &str| Err(AuditError::ChainBroken { seq: expected, reason: reason.to_string() });
        if r.seq != expected {
            return broken(&format!("found seq {} where {expected} should be", r.seq));
        }
        if r.prev_hash != hex::encode(prev) {
            return broken("it does not name the previous record's hash");
        }
        if parse_hash(&r.hash) != Some(r.hash_after(&prev)) {
            return broken("its content does not match its hash");
        }
        prev = r.hash_bytes();
        frontier.push(r.leaf());
    }
    if frontier.size() as i64 != head_seq {
        return Err(AuditError::ChainBroken {
            seq: frontier.size() as i64 + 1,
            reason: format!("the head says {head_seq} records, but the log ends at {}", frontier.size()),
        });
    }
    let root_hash = hex::encode(frontier.root());
    let head_hash = hex::encode(prev);
    let message = checkpoint_message(head_seq, &root_hash, &head_hash, now);
    let checkpoint = Checkpoint {
        tree_size: head_seq,
        root_hash,
        head_hash,
        at: now,
        public_key: public_key_hex(&key.verifying_key()),
        signature: hex::encode(key.sign(message.as_bytes()).to_bytes()),
    };
    let mut tx = db.begin().await?;
    let sql = format!(
        "INSERT INTO audit_checkpoints ({CHECKPOINT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (tree_size) DO NOTHING"
    );
    let written = tx!(&mut tx, |c| {
        sqlx::query(&sql)
            .bind(checkpoint.tree_size)
            .bind(&checkpoint.root_hash)
            .bind(&checkpoint.head_hash)
            .bind(checkpoint.at)
            .bind(&checkpoint.public_key)
            .bind(&checkpoint.signature)
            .bind(frontier.encode())
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    tx.commit().await?;
    Ok((written == 1).then_some(checkpoint))
}

/// Where to go on from: the last checkpoint's frontier and the hash of its last record, when
/// this key signed it and its frontier matches its root; otherwise (a new key, or a damaged
/// row) the whole log is read again from the purge anchor or the start.
async fn start(db: &Db, key: &VerifyingKey, last: Option<CheckpointRow>) -> Result<(Frontier, Hash), AuditError> {
    if let Some(last) = last {
        if last.checkpoint.is_signed_by(key)
            && let Some(frontier) = last.frontier_matching_root()
        {
            let prev = hash_of(db, last.checkpoint.tree_size).await?;
            if hex::encode(prev) != last.checkpoint.head_hash {
                return Err(AuditError::ChainBroken {
                    seq: last.checkpoint.tree_size,
                    reason: "its hash is not the one the last checkpoint signed".into(),
                });
            }
            return Ok((frontier, prev));
        }
        tracing::warn!(
            tree_size = last.checkpoint.tree_size,
            "the last audit checkpoint was not signed by this key (or its frontier is damaged); \
             reading the whole log to sign the next one"
        );
    }
    match chain::anchor(db).await? {
        None => Ok((Frontier::new(), GENESIS)),
        Some((seq, hash)) => {
            let row = checkpoint_row(db, seq).await?;
            let frontier = row.as_ref().and_then(CheckpointRow::frontier_matching_root).ok_or_else(|| {
                AuditError::ChainBroken { seq, reason: "the purge anchor has no matching checkpoint".into() }
            })?;
            let hash = parse_hash(&hash).ok_or_else(|| AuditError::ChainBroken {
                seq,
                reason: "the purge anchor's hash is malformed".into(),
            })?;
            Ok((frontier, hash))
        }
    }
}

/// The hash of record `seq` (zeros for 0), from the log or, if it was purged, the anchor.
async fn hash_of(db: &Db, seq: i64) -> Result<Hash, AuditError> {
    if seq == 0 {
        return Ok(GENESIS);
    }
    let stored: Option<String> = db!(db, |c| {
        sqlx::query_scalar(
            "SELECT hash FROM audit_log WHERE seq = $1 UNION ALL SELECT hash FROM audit_anchor WHERE seq = $1",
        )
        .bind(seq)
        .fetch_optional(c)
        .await
    })?;
    stored
        .as_deref()
        .and_then(parse_hash)
        .ok_or_else(|| AuditError::ChainBroken { seq, reason: "the record is missing or its hash is malformed".into() })
}

/// Signs a checkpoint every `interval` (the first at once) until the task is aborted. Failures
/// are logged and retried at the next tick: the log itself never waits for a checkpoint.
pub fn spawn_checkpointer(db: Db, key: SigningKey, interval: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval.max(Duration::from_secs(1)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match checkpoint(&db, &key).await {
                Ok(Some(c)) => tracing::debug!(tree_size = c.tree_size, root = c.root_hash, "audit checkpoint signed"),
                Ok(None) => {}
                Err(e @ AuditError::ChainBroken { .. }) => tracing::error!(error = %e, "audit checkpoint refused"),
                Err(e) => tracing::warn!(error = %e, "audit checkpoint failed; retrying at the next interval"),
            }
        }
    })
}
