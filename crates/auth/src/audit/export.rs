//! Exports for regulators, and the proofs that let them check one without our database.
//!
//! An export holds the records whose `at` lies in `[from, to)`: every record from the first
//! such `seq` to the last, in `seq` order, so that the range is contiguous and each record's
//! `prev_hash` is the previous line's `hash`. JSON columns are exported as the exact stored text
//! (strings), so every hash can be recomputed byte for byte from the line
//! ([`canonical`](super::canonical)).
//!
//! JSONL adds a last line, `{"kind":"proof",...}`, with the latest signed checkpoint and RFC 9162
//! inclusion proofs of the first and last exported records against it. A reader who trusts the
//! public key then knows: the checkpoint is genuine (signature), the first and last records are
//! in the signed tree (inclusion), and every record between them is genuine (the chain links
//! them to the last one). [`consistency_proof`] shows that a later checkpoint's tree extends an
//! earlier one's, so two exports taken at different times can be tied together.
//! [`verify_export`] and [`verify_consistency_proof`] are the reader's side of both.
//!
//! CSV holds the same record columns for reading in a spreadsheet, with no proof line; it
//! cannot tell an absent value from an empty one, so use JSONL to verify.

use std::io::{BufRead, Write};
use std::ops::Range;
use std::str::FromStr;

use ed25519_dalek::VerifyingKey;
use pitboss_store::{Db, db, sqlx};
use serde::{Deserialize, Serialize};

use super::canonical::{parse_hash, record_hash};
use super::chain::{self, RecordStream, StoredRecord};
use super::checkpoint::{Checkpoint, checkpoint_row, latest_checkpoint};
use super::error::AuditError;
use super::merkle::{Frontier, Hash, RangeHasher, consistency_ranges, inclusion_ranges, leaf_hash};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Jsonl,
    Csv,
}

impl FromStr for ExportFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "jsonl" => Ok(ExportFormat::Jsonl),
            "csv" => Ok(ExportFormat::Csv),
            other => Err(format!("unknown export format `{other}`: use jsonl or csv")),
        }
    }
}

/// One line of a JSONL export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Line {
    Record(ExportedRecord),
    Proof(ProofLine),
}

/// A record exactly as stored ([`StoredRecord`], which serialises field by field).
type ExportedRecord = StoredRecord;

impl StoredRecord {
    fn csv_fields(&self) -> [String; 15] {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        [
            self.seq.to_string(),
            self.id.to_string(),
            self.at.to_string(),
            self.actor.clone(),
            self.action.clone(),
            self.target_type.clone(),
            self.target_id.clone(),
            opt(&self.ip),
            opt(&self.user_agent),
            opt(&self.before_state),
            opt(&self.after_state),
            opt(&self.reason),
            self.details.clone(),
            self.prev_hash.clone(),
            self.hash.clone(),
        ]
    }
}

const CSV_HEADER: [&str; 15] = [
    "seq",
    "id",
    "at",
    "actor",
    "action",
    "target_type",
    "target_id",
    "ip",
    "user_agent",
    "before_state",
    "after_state",
    "reason",
    "details",
    "prev_hash",
    "hash",
];

/// One CSV row as RFC 4180 has it: fields with a comma, quote or line break are quoted, and
/// quotes inside are doubled.
fn csv_row<W: Write>(out: &mut W, fields: &[&str]) -> std::io::Result<()> {
    let cells: Vec<String> =
        fields
            .iter()
            .map(|f| {
                if f.contains([',', '"', '\n', '\r']) {
                    format!("\"{}\"", f.replace('"', "\"\""))
                } else {
                    f.to_string()
                }
            })
            .collect();
    out.write_all(cells.join(",").as_bytes())?;
    out.write_all(b"\r\n")
}

/// The last line of a JSONL export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ProofLine {
    /// The latest checkpoint when the export was made; `None` if none was ever signed.
    checkpoint: Option<Checkpoint>,
    /// For the first and the last exported record, when the checkpoint covers them.
    inclusion: Vec<InclusionProof>,
}

/// RFC 9162 inclusion proof of one record in a checkpoint's tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    pub seq: i64,
    /// `seq - 1`.
    pub leaf_index: u64,
    pub tree_size: i64,
    /// Hex node hashes, bottom-up.
    pub audit_path: Vec<String>,
}

/// What [`export`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportSummary {
    pub records: u64,
    pub first_seq: Option<i64>,
    pub last_seq: Option<i64>,
    pub checkpoint: Option<Checkpoint>,
    /// The records whose inclusion proofs were written (JSONL only).
    pub proven: Vec<i64>,
}

/// Writes the records with `at` in `[from_micros, to_micros)` to `out` (see the module
/// documentation for what exactly, and the proof line of JSONL).
pub async fn export<W: Write>(
    db: &Db,
    from_micros: i64,
    to_micros: i64,
    format: ExportFormat,
    out: &mut W,
) -> Result<ExportSummary, AuditError> {
    let (first, last): (Option<i64>, Option<i64>) = db!(db, |c| {
        sqlx::query_as("SELECT MIN(seq), MAX(seq) FROM audit_log WHERE at >= $1 AND at < $2")
            .bind(from_micros)
            .bind(to_micros)
            .fetch_one(c)
            .await
    })?;
    if format == ExportFormat::Csv {
        csv_row(out, &CSV_HEADER)?;
    }
    let mut summary = ExportSummary { records: 0, first_seq: first, last_seq: last, checkpoint: None, proven: vec![] };
    if let (Some(first), Some(last)) = (first, last) {
        let mut records = RecordStream::new(db, first - 1, last);
        while let Some(r) = records.next().await? {
            match format {
                ExportFormat::Jsonl => {
                    serde_json::to_writer(&mut *out, &Line::Record(r)).map_err(std::io::Error::from)?;
                    out.write_all(b"\n")?;
                }
                ExportFormat::Csv => {
                    let fields = r.csv_fields();
                    csv_row(out, &fields.each_ref().map(String::as_str))?;
                }
            }
            summary.records += 1;
        }
    }
    if format == ExportFormat::Jsonl {
        let checkpoint = latest_checkpoint(db).await?;
        let mut inclusion = Vec::new();
        if let Some(c) = &checkpoint {
            let mut seqs: Vec<i64> = [first, last].into_iter().flatten().filter(|s| *s <= c.tree_size).collect();
            seqs.dedup();
            inclusion = inclusion_proofs(db, &seqs, c.tree_size).await?;
        }
        summary.proven = inclusion.iter().map(|p| p.seq).collect();
        summary.checkpoint = checkpoint.clone();
        serde_json::to_writer(&mut *out, &Line::Proof(ProofLine { checkpoint, inclusion }))
            .map_err(std::io::Error::from)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(summary)
}

/// Inclusion proofs of records `seqs` in the tree of `tree_size` records, in one pass.
pub(crate) async fn inclusion_proofs(db: &Db, seqs: &[i64], tree_size: i64) -> Result<Vec<InclusionProof>, AuditError> {
    let size = u64::try_from(tree_size).map_err(|_| AuditError::ProofUnavailable("a negative tree size".into()))?;
    let mut ranges = Vec::new();
    for seq in seqs {
        let index = u64::try_from(seq - 1).ok().filter(|i| *i < size).ok_or_else(|| {
            AuditError::ProofUnavailable(format!("record seq {seq} is not in the tree of {tree_size} records"))
        })?;
        ranges.push(inclusion_ranges(index, size));
    }
    let roots = range_roots(db, &ranges.concat()).await?;
    let mut roots = roots.into_iter();
    Ok(seqs
        .iter()
        .zip(&ranges)
        .map(|(seq, r)| InclusionProof {
            seq: *seq,
            leaf_index: (*seq - 1) as u64,
            tree_size,
            audit_path: roots.by_ref().take(r.len()).map(hex::encode).collect(),
        })
        .collect())
}

/// The roots of the given leaf ranges, from one streaming pass over the records' hashes. After
/// a purge the leaves below the anchor are gone; their part comes from the anchor's checkpoint
/// frontier, which serves every proof about records that are still kept.
async fn range_roots(db: &Db, ranges: &[Range<u64>]) -> Result<Vec<Hash>, AuditError> {
    let known = match chain::anchor(db).await? {
        None => Frontier::new(),
        Some((seq, _)) => {
            checkpoint_row(db, seq).await?.and_then(|row| row.frontier_matching_root()).ok_or_else(|| {
                AuditError::ProofUnavailable(format!("the purge anchor at seq {seq} has no usable checkpoint"))
            })?
        }
    };
    let mut hashers: Vec<RangeHasher> = ranges
        .iter()
        .map(|r| RangeHasher::new(r.clone(), &known))
        .collect::<Option<_>>()
        .ok_or_else(|| AuditError::ProofUnavailable("the proof needs records that were purged".into()))?;
    let end = ranges.iter().map(|r| r.end).max().unwrap_or(0) as i64;
    let mut after = known.size() as i64;
    while after < end {
        let page = chain::hash_page(db, after, end, 5000).await?;
        if page.is_empty() {
            break;
        }
        for (seq, hash) in page {
            if seq != after + 1 {
                return Err(AuditError::ProofUnavailable(format!(
                    "the log has no record seq {}; run `pitboss audit verify`",
                    after + 1
                )));
            }
            let leaf = leaf_hash(&parse_hash(&hash).unwrap_or_else(|| leaf_hash(hash.as_bytes())));
            hashers.iter_mut().for_each(|h| h.push((seq - 1) as u64, leaf));
            after = seq;
        }
    }
    hashers.iter().map(RangeHasher::finish).collect::<Option<Vec<_>>>().ok_or_else(|| {
        AuditError::ProofUnavailable(format!("the log holds fewer than {end} records; run `pitboss audit verify`"))
    })
}

/// Proof that the checkpoint of `new_size` records extends the one of `old_size`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyProof {
    pub old: Checkpoint,
    pub new: Checkpoint,
    /// Hex node hashes (RFC 9162 2.1.4).
    pub path: Vec<String>,
}

/// The consistency proof between two signed checkpoints, given by their sizes.
pub async fn consistency_proof(db: &Db, old_size: i64, new_size: i64) -> Result<ConsistencyProof, AuditError> {
    let find = |size: i64| async move {
        checkpoint_row(db, size)
            .await?
            .map(|row| row.checkpoint)
            .ok_or_else(|| AuditError::ProofUnavailable(format!("there is no checkpoint of {size} records")))
    };
    if old_size > new_size {
        return Err(AuditError::ProofUnavailable("the old checkpoint must not be larger than the new one".into()));
    }
    let (old, new) = (find(old_size).await?, find(new_size).await?);
    let ranges = consistency_ranges(old_size as u64, new_size as u64);
    let path = range_roots(db, &ranges).await?.iter().map(hex::encode).collect();
    Ok(ConsistencyProof { old, new, path })
}

/// The reader's check of a [`ConsistencyProof`]: both checkpoints signed by `key`, and the
/// newer tree an extension of the older.
pub fn verify_consistency_proof(proof: &ConsistencyProof, key: &VerifyingKey) -> Result<(), AuditError> {
    let invalid = |m: &str| AuditError::ProofInvalid(m.to_string());
    for c in [&proof.old, &proof.new] {
        if !c.is_signed_by(key) {
            return Err(AuditError::ProofInvalid(format!(
                "the checkpoint of {} records is not signed by the key",
                c.tree_size
            )));
        }
    }
    let (Some(old_root), Some(new_root)) = (proof.old.root(), proof.new.root()) else {
        return Err(invalid("a root hash is malformed"));
    };
    let path: Vec<Hash> = proof
        .path
        .iter()
        .map(|h| parse_hash(h))
        .collect::<Option<_>>()
        .ok_or_else(|| invalid("a path hash is malformed"))?;
    let (Ok(old), Ok(new)) = (u64::try_from(proof.old.tree_size), u64::try_from(proof.new.tree_size)) else {
        return Err(invalid("a tree size is negative"));
    };
    if !super::merkle::verify_consistency(old, new, &path, &old_root, &new_root) {
        return Err(invalid("the newer tree does not extend the older one"));
    }
    Ok(())
}

/// What [`verify_export`] established.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportCheck {
    pub records: u64,
    pub first_seq: Option<i64>,
    pub last_seq: Option<i64>,
    pub checkpoint: Option<Checkpoint>,
    /// The records proven to be in the signed tree (the first and last, when covered).
    pub proven: Vec<i64>,
}

/// The reader's check of a JSONL export: every record's hash recomputed, the records chained
/// without a gap, the checkpoint signed by `key`, and the inclusion proofs valid. Fails at the
/// first line that does not hold.
pub fn verify_export<R: BufRead>(reader: R, key: &VerifyingKey) -> Result<ExportCheck, AuditError> {
    let mut check = ExportCheck { records: 0, first_seq: None, last_seq: None, checkpoint: None, proven: vec![] };
    let mut ends: Vec<(i64, Hash)> = Vec::new();
    let mut last: Option<(i64, String)> = None;
    let mut proof_seen = false;
    for (n, line) in reader.lines().enumerate() {
        let number = n + 1;
        let bad = |reason: String| AuditError::BadExport { line: number, reason };
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        if proof_seen {
            return Err(bad("there is a line after the proof line".into()));
        }
        match serde_json::from_str::<Line>(&line).map_err(|e| bad(format!("not an export line: {e}")))? {
            Line::Record(r) => {
                let prev = parse_hash(&r.prev_hash).ok_or_else(|| bad("prev_hash is not a hash".into()))?;
                let computed = record_hash(&prev, &r.fields());
                if parse_hash(&r.hash) != Some(computed) {
                    return Err(bad(format!("record seq {}: its content does not match its hash", r.seq)));
                }
                if let Some((seq, hash)) = &last {
                    if r.seq != seq + 1 {
                        return Err(bad(format!("record seq {} follows seq {seq}: records are missing", r.seq)));
                    }
                    if &r.prev_hash != hash {
                        return Err(bad(format!("record seq {} does not follow seq {seq}", r.seq)));
                    }
                }
                if check.first_seq.is_none() {
                    check.first_seq = Some(r.seq);
                    ends.push((r.seq, computed));
                }
                check.last_seq = Some(r.seq);
                check.records += 1;
                last = Some((r.seq, r.hash));
            }
            Line::Proof(p) => {
                proof_seen = true;
                if let Some((seq, hash)) = &last
                    && ends.first().is_none_or(|(first, _)| first != seq)
                {
                    ends.push((*seq, parse_hash(hash).unwrap_or_default()));
                }
                if let Some(c) = &p.checkpoint {
                    if !c.is_signed_by(key) {
                        return Err(bad(format!("the checkpoint of {} records is not signed by the key", c.tree_size)));
                    }
                    let root = c.root().ok_or_else(|| bad("the checkpoint's root is malformed".into()))?;
                    for proof in &p.inclusion {
                        let (_, hash) = ends.iter().find(|(s, _)| *s == proof.seq).ok_or_else(|| {
                            bad(format!(
                                "an inclusion proof for seq {}, which is not the first or last record",
                                proof.seq
                            ))
                        })?;
                        let path: Vec<Hash> = proof
                            .audit_path
                            .iter()
                            .map(|h| parse_hash(h))
                            .collect::<Option<_>>()
                            .ok_or_else(|| bad("an audit path hash is malformed".into()))?;
                        let index = u64::try_from(proof.seq - 1).map_err(|_| bad("a seq below 1".into()))?;
                        let size = u64::try_from(c.tree_size).map_err(|_| bad("a negative tree size".into()))?;
                        if proof.leaf_index != index || proof.tree_size != c.tree_size {
                            return Err(bad(format!("the proof for seq {} names another leaf or tree", proof.seq)));
                        }
                        if !super::merkle::verify_inclusion(&leaf_hash(hash), index, size, &path, &root) {
                            return Err(bad(format!("record seq {} is not in the signed tree", proof.seq)));
                        }
                        check.proven.push(proof.seq);
                    }
                } else if !p.inclusion.is_empty() {
                    return Err(bad("inclusion proofs without a checkpoint".into()));
                }
                check.checkpoint = p.checkpoint;
            }
        }
    }
    if !proof_seen {
        return Err(AuditError::BadExport {
            line: 0,
            reason: "the proof line is missing: the export was cut short".into(),
        });
    }
    Ok(check)
}
