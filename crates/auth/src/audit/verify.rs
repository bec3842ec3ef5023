//! Verifying the whole log: the chain record by record, the Merkle root at every checkpoint,
//! and every checkpoint's signature against a trusted public key.
//!
//! The walk reads the log a page at a time in `seq` order and keeps only the previous record's
//! hash, a one-record lookahead and the O(log n) Merkle frontier, so it runs in bounded memory
//! over millions of records. It stops diagnosing at the first bad record (everything after it
//! follows from it) but goes on computing roots, so that checkpoints over later records are
//! still checked.

use std::collections::VecDeque;
use std::fmt;

use ed25519_dalek::VerifyingKey;
use pitboss_store::{Db, db, sqlx};
use serde::Serialize;
use uuid::Uuid;

use super::canonical::{GENESIS, parse_hash};
use super::chain::{self, COLUMNS, RecordStream, StoredRecord};
use super::checkpoint::{CheckpointRow, checkpoint_page, checkpoint_row, public_key_hex};
use super::error::AuditError;
use super::merkle::{Frontier, Hash};
use super::retention::MIN_RETENTION_MICROS;

/// What a bad record looks like it suffered. Where the evidence fits several stories, the
/// explanation says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tamper {
    /// Its content (or its hash) was changed.
    Altered,
    /// One or more records are missing here.
    Deleted,
    /// It was added without being appended through the chain.
    Inserted,
    /// It sits at another record's place.
    Reordered,
}

impl fmt::Display for Tamper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Tamper::Altered => "altered",
            Tamper::Deleted => "deleted",
            Tamper::Inserted => "inserted",
            Tamper::Reordered => "reordered",
        })
    }
}

/// The first record where the chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadRecord {
    /// The record's `seq`, or for a deletion the first missing `seq`.
    pub seq: i64,
    /// The record's id; `None` for a deletion (the record is gone).
    pub id: Option<Uuid>,
    pub tamper: Tamper,
    pub explanation: String,
}

impl fmt::Display for BadRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.id {
            Some(id) => write!(f, "record seq {} (id {id}) {}: {}", self.seq, self.tamper, self.explanation),
            None => write!(f, "record seq {} {}: {}", self.seq, self.tamper, self.explanation),
        }
    }
}

/// Why a checkpoint does not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointProblem {
    /// Its root or signature is not hex of the right length, or its size is not positive.
    Malformed,
    /// It names another public key, and the trusted key did not sign it: forged, or signed
    /// before a key change (verify those with the old key).
    SignedByOtherKey { public_key: String },
    /// It names the trusted key, but the signature does not match its size, root and time.
    BadSignature,
    /// Validly signed, but the records it covers no longer hash to its root: they were changed
    /// after it was signed (for instance a rewritten chain with recomputed hashes).
    RootMismatch,
    /// Validly signed and matching, but the stored frontier (used to sign the next checkpoint
    /// and by purges) was edited.
    FrontierMismatch,
    /// It covers more records than the log holds: records at the end were deleted.
    BeyondLog { records: i64 },
}

impl fmt::Display for CheckpointProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckpointProblem::Malformed => f.write_str("its root, signature or size is malformed"),
            CheckpointProblem::SignedByOtherKey { public_key } => {
                write!(f, "it was not signed by the trusted key (it names key {public_key})")
            }
            CheckpointProblem::BadSignature => f.write_str("its signature does not match its contents"),
            CheckpointProblem::RootMismatch => {
                f.write_str("the records it covers no longer hash to its signed root: they were changed after signing")
            }
            CheckpointProblem::FrontierMismatch => f.write_str("its stored Merkle frontier was edited"),
            CheckpointProblem::BeyondLog { records } => {
                write!(f, "it covers more records than the log holds ({records}): records at the end were deleted")
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadCheckpoint {
    pub tree_size: i64,
    pub problem: CheckpointProblem,
}

impl fmt::Display for BadCheckpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "checkpoint of {} records: {}", self.tree_size, self.problem)
    }
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub records_checked: u64,
    /// The `seq` of the last record walked (0 if none).
    pub last_seq: i64,
    /// The `seq` of the last purged record (0 if nothing was purged).
    pub purged_through: i64,
    pub checkpoints_checked: u64,
    pub first_bad_record: Option<BadRecord>,
    /// At most [`MAX_BAD_CHECKPOINTS`], smallest first; `more_bad_checkpoints` counts the rest.
    pub bad_checkpoints: Vec<BadCheckpoint>,
    pub more_bad_checkpoints: u64,
    /// What is wrong with the purge anchor, if anything.
    pub anchor_problem: Option<String>,
}

/// Bad checkpoints listed one by one; a rewritten chain can spoil thousands.
pub const MAX_BAD_CHECKPOINTS: usize = 100;

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.first_bad_record.is_none() && self.bad_checkpoints.is_empty() && self.anchor_problem.is_none()
    }

    fn bad_checkpoint(&mut self, tree_size: i64, problem: CheckpointProblem) {
        if self.bad_checkpoints.len() < MAX_BAD_CHECKPOINTS {
            self.bad_checkpoints.push(BadCheckpoint { tree_size, problem });
        } else {
            self.more_bad_checkpoints += 1;
        }
    }
}

/// Walks the whole log and every checkpoint; `key` is the public key the checkpoints must be
/// signed with (the one stored beside them is not trusted). Errors only when the database
/// cannot be read; tampering is reported in the [`VerifyReport`].
pub async fn verify(db: &Db, key: &VerifyingKey) -> Result<VerifyReport, AuditError> {
    verify_at(db, key, crate::now_micros()).await
}

pub(crate) async fn verify_at(db: &Db, key: &VerifyingKey, now: i64) -> Result<VerifyReport, AuditError> {
    let mut report = VerifyReport::default();
    // Records appended while the walk runs are left for the next run.
    let (head_seq, _) = chain::head(db).await?;
    let mut checkpoints = Checkpoints::new(db);

    // Where the chain starts: the genesis, or the anchor a purge left.
    let (start_seq, mut prev, mut frontier) = match chain::anchor(db).await? {
        None => (0, GENESIS, Some(Frontier::new())),
        Some((seq, hash)) => {
            report.purged_through = seq;
            let (prev, frontier) = check_anchor(db, key, now, seq, &hash, &mut report).await?;
            (seq, prev, frontier)
        }
    };
    // Checkpoints below the anchor can only have their signatures checked: their records are gone.
    while let Some(row) = checkpoints.next_up_to(start_seq).await? {
        report.checkpoints_checked += 1;
        if let Some(problem) = check_checkpoint(&row, key, None) {
            report.bad_checkpoint(row.checkpoint.tree_size, problem);
        }
    }
    report.first_bad_record = record_below_start(db, start_seq).await?;

    let mut records = RecordStream::new(db, start_seq, head_seq);
    let mut expected = start_seq + 1;
    let mut leaves = start_seq;
    let mut previous: Option<Previous> = None;
    while let Some(r) = records.next().await? {
        if report.first_bad_record.is_none() && !(r.seq == expected && chains_from(&r, &prev)) {
            let next = records.peek().await?;
            report.first_bad_record = Some(diagnose(&r, expected, &prev, previous.as_ref(), next));
        }
        prev = r.hash_bytes();
        expected = r.seq.saturating_add(1);
        leaves += 1;
        if let Some(f) = frontier.as_mut() {
            f.push(r.leaf());
        }
        report.records_checked += 1;
        report.last_seq = r.seq;
        while let Some(row) = checkpoints.next_up_to(leaves).await? {
            report.checkpoints_checked += 1;
            let at_size = frontier.as_ref().filter(|_| row.checkpoint.tree_size == leaves).map(|f| (f, &prev));
            if let Some(problem) = check_checkpoint(&row, key, at_size) {
                report.bad_checkpoint(row.checkpoint.tree_size, problem);
            }
        }
        previous = Some(Previous { seq: r.seq, id: r.id, prev_hash: r.prev_hash });
    }

    // Checkpoints beyond the end: deleted records, unless signed while the walk ran.
    let max_seq: Option<i64> = db!(db, |c| sqlx::query_scalar("SELECT MAX(seq) FROM audit_log").fetch_one(c).await)?;
    while let Some(row) = checkpoints.next_up_to(i64::MAX).await? {
        let size = row.checkpoint.tree_size;
        if size <= head_seq || size > max_seq.unwrap_or(0) {
            report.checkpoints_checked += 1;
            report.bad_checkpoint(size, CheckpointProblem::BeyondLog { records: leaves });
        }
    }
    if report.first_bad_record.is_none() {
        report.first_bad_record = check_head(db, report.purged_through).await?;
    }
    Ok(report)
}

/// The anchor's checks: its checkpoint exists, was signed by `key` long enough ago, and its
/// frontier matches its root. Returns the chain's starting hash and the frontier (if usable).
async fn check_anchor(
    db: &Db,
    key: &VerifyingKey,
    now: i64,
    seq: i64,
    hash: &str,
    report: &mut VerifyReport,
) -> Result<(Hash, Option<Frontier>), AuditError> {
    let prev = parse_hash(hash).unwrap_or_else(|| {
        report.anchor_problem = Some(format!("the purge anchor at seq {seq} holds a malformed hash"));
        GENESIS
    });
    let row = checkpoint_row(db, seq).await?;
    let problem = match &row {
        None => Some(format!("there is no checkpoint of {seq} records for the purge anchor to rest on")),
        Some(row) if !row.checkpoint.is_signed_by(key) => {
            Some(format!("the checkpoint of {seq} records under the purge anchor is not signed by the trusted key"))
        }
        Some(row) if row.checkpoint.head_hash != hash => {
            Some(format!("the purge anchor's hash is not the one signed with the checkpoint of {seq} records"))
        }
        Some(row) if row.frontier_matching_root().is_none() => Some(format!(
            "the checkpoint of {seq} records under the purge anchor has a frontier that does not match its root"
        )),
        Some(row) if row.checkpoint.at > now - MIN_RETENTION_MICROS => Some(format!(
            "records up to seq {seq} were purged although the checkpoint covering them was signed less than five \
             years ago (at {} µs)",
            row.checkpoint.at
        )),
        Some(_) => None,
    };
    if report.anchor_problem.is_none() {
        report.anchor_problem = problem;
    }
    Ok((prev, row.as_ref().and_then(CheckpointRow::frontier_matching_root)))
}

/// A record numbered at or below the start of the chain can only have been inserted.
async fn record_below_start(db: &Db, start_seq: i64) -> Result<Option<BadRecord>, AuditError> {
    let sql = format!("SELECT {COLUMNS} FROM audit_log WHERE seq <= $1 ORDER BY seq LIMIT 1");
    let row: Option<StoredRecord> = db!(db, |c| sqlx::query_as(&sql).bind(start_seq).fetch_optional(c).await)?;
    Ok(row.map(|r| BadRecord {
        seq: r.seq,
        id: Some(r.id),
        tamper: Tamper::Inserted,
        explanation: format!("the chain starts after seq {start_seq}, so no record can be numbered {}", r.seq),
    }))
}

/// The head and the log's end must agree, each read in one statement so that an append
/// committing meanwhile cannot make them seem to differ.
async fn check_head(db: &Db, purged_through: i64) -> Result<Option<BadRecord>, AuditError> {
    let (head_seq, head_hash, max_seq, hash_at_head): (i64, String, Option<i64>, Option<String>) = db!(db, |c| {
        sqlx::query_as(
            "SELECT h.seq, h.hash, (SELECT MAX(seq) FROM audit_log), (SELECT l.hash FROM audit_log l WHERE l.seq = h.seq) \
             FROM audit_head h WHERE h.id = 1",
        )
        .fetch_one(c)
        .await
    })?;
    let last = max_seq.unwrap_or(purged_through);
    if head_seq > last {
        return Ok(Some(BadRecord {
            seq: last + 1,
            id: None,
            tamper: Tamper::Deleted,
            explanation: format!("the log ends at seq {last}, but records up to seq {head_seq} were appended"),
        }));
    }
    if let Some(hash) = hash_at_head
        && hash != head_hash
    {
        let id: Option<Uuid> = db!(db, |c| {
            sqlx::query_scalar("SELECT id FROM audit_log WHERE seq = $1").bind(head_seq).fetch_optional(c).await
        })?;
        return Ok(Some(BadRecord {
            seq: head_seq,
            id,
            tamper: Tamper::Altered,
            explanation: "its hash differs from the one the head recorded when it was appended".into(),
        }));
    }
    let beyond: Option<(i64, Uuid)> = db!(db, |c| {
        sqlx::query_as(
            "SELECT l.seq, l.id FROM audit_log l JOIN audit_head h ON h.id = 1 AND l.seq > h.seq ORDER BY l.seq LIMIT 1",
        )
        .fetch_optional(c)
        .await
    })?;
    Ok(beyond.map(|(seq, id)| BadRecord {
        seq,
        id: Some(id),
        tamper: Tamper::Inserted,
        explanation: format!("it lies beyond the head of the chain (seq {head_seq}): it was not appended through it"),
    }))
}

/// What the walk remembers of the record before the current one.
struct Previous {
    seq: i64,
    id: Uuid,
    prev_hash: String,
}

/// True when `r` names `prev` as its predecessor and its hash is that of its content after it.
fn chains_from(r: &StoredRecord, prev: &Hash) -> bool {
    r.prev_hash == hex::encode(prev) && parse_hash(&r.hash) == Some(r.hash_after(prev))
}

/// Explains why `r` (numbered `r.seq`, expected `expected`) does not follow `prev`, using the
/// record before it and the one after it as witnesses.
fn diagnose(
    r: &StoredRecord,
    expected: i64,
    prev: &Hash,
    previous: Option<&Previous>,
    next: Option<&StoredRecord>,
) -> BadRecord {
    let prev_hex = hex::encode(prev);
    let bad = |seq, id, tamper, explanation: String| BadRecord { seq, id, tamper, explanation };
    let here = |tamper, explanation: String| bad(r.seq, Some(r.id), tamper, explanation);
    if r.seq > expected {
        if r.prev_hash == prev_hex && r.is_self_consistent() {
            return here(
                Tamper::Inserted,
                format!(
                    "it follows seq {} but is numbered {}: it was written with a forged number",
                    expected - 1,
                    r.seq
                ),
            );
        }
        let missing =
            if r.seq - expected == 1 { format!("{expected}") } else { format!("{expected} to {}", r.seq - 1) };
        return bad(
            expected,
            None,
            Tamper::Deleted,
            format!("seq {missing} is missing; the next record is seq {} (id {})", r.seq, r.id),
        );
    }
    if r.seq < expected {
        return here(Tamper::Inserted, format!("seq {} appears twice or out of order", r.seq));
    }
    // The record after this one follows the record before it: this one is out of place.
    if let Some(n) = next.filter(|n| n.prev_hash == prev_hex) {
        if r.prev_hash == n.hash {
            return here(
                Tamper::Reordered,
                format!("it and seq {} (id {}) were swapped: each names the other as its predecessor", n.seq, n.id),
            );
        }
        return here(
            Tamper::Inserted,
            format!("it is not part of the chain: seq {} follows seq {} directly", n.seq, expected - 1),
        );
    }
    if r.prev_hash == prev_hex {
        return here(Tamper::Altered, "its content does not match its hash".into());
    }
    // It names the record two back: the one in between was slipped in.
    if let Some(p) = previous.filter(|p| p.prev_hash == r.prev_hash) {
        return bad(
            p.seq,
            Some(p.id),
            Tamper::Inserted,
            format!(
                "seq {} names seq {}'s hash as its predecessor, so seq {} was slipped in between",
                r.seq,
                p.seq - 1,
                p.seq
            ),
        );
    }
    // Its hash fits its content under a higher number: records before it were removed and the
    // rest renumbered to close the gap.
    if let Some(prev_stored) = parse_hash(&r.prev_hash)
        && let Some(shift) = (1..=64).find(|d| {
            let Some(seq) = r.seq.checked_add(*d) else { return false };
            let moved = StoredRecord { seq, ..r.clone() };
            parse_hash(&r.hash) == Some(moved.hash_after(&prev_stored))
        })
    {
        return bad(
            expected,
            None,
            Tamper::Deleted,
            format!(
                "{shift} record(s) before seq {} were removed and the later ones renumbered: record {} was seq {}",
                r.seq,
                r.id,
                r.seq + shift
            ),
        );
    }
    // Intact, and the chain goes on from it: the record before it had its hash rewritten.
    if r.is_self_consistent() && next.is_none_or(|n| n.prev_hash == r.hash) {
        if let Some(p) = previous {
            return bad(
                p.seq,
                Some(p.id),
                Tamper::Altered,
                format!("its hash was recomputed after an edit: seq {} still names its original hash", r.seq),
            );
        }
        return here(Tamper::Altered, "it does not follow the start of the chain (genesis or purge anchor)".into());
    }
    here(Tamper::Altered, "it neither follows the previous record nor matches its own hash".into())
}

/// `None` when the checkpoint holds; `at_size` is the recomputed frontier and the last record's
/// hash when the walk is at exactly the checkpoint's size (`None` below a purge anchor, where
/// the records are gone).
fn check_checkpoint(
    row: &CheckpointRow,
    key: &VerifyingKey,
    at_size: Option<(&Frontier, &Hash)>,
) -> Option<CheckpointProblem> {
    let c = &row.checkpoint;
    let Some(root) = c.root().filter(|_| c.tree_size > 0) else { return Some(CheckpointProblem::Malformed) };
    if !c.is_signed_by(key) {
        let trusted = public_key_hex(key);
        return Some(if c.public_key.eq_ignore_ascii_case(&trusted) {
            CheckpointProblem::BadSignature
        } else {
            CheckpointProblem::SignedByOtherKey { public_key: c.public_key.clone() }
        });
    }
    let (frontier, head) = at_size?;
    if frontier.root() != root || hex::encode(head) != c.head_hash {
        return Some(CheckpointProblem::RootMismatch);
    }
    (row.frontier != frontier.encode()).then_some(CheckpointProblem::FrontierMismatch)
}

/// Every checkpoint, smallest first, a page at a time.
struct Checkpoints<'a> {
    db: &'a Db,
    after: i64,
    buffer: VecDeque<CheckpointRow>,
    exhausted: bool,
}

impl<'a> Checkpoints<'a> {
    fn new(db: &'a Db) -> Checkpoints<'a> {
        Checkpoints { db, after: i64::MIN, buffer: VecDeque::new(), exhausted: false }
    }

    /// The next checkpoint if its size is at most `size`.
    async fn next_up_to(&mut self, size: i64) -> Result<Option<CheckpointRow>, AuditError> {
        if self.buffer.is_empty() && !self.exhausted {
            let page = checkpoint_page(self.db, self.after, 200).await?;
            self.exhausted = page.len() < 200;
            if let Some(last) = page.last() {
                self.after = last.checkpoint.tree_size;
            }
            self.buffer.extend(page);
        }
        if self.buffer.front().is_some_and(|c| c.checkpoint.tree_size <= size) {
            return Ok(self.buffer.pop_front());
        }
        Ok(None)
    }
}
