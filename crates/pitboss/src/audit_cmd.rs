//! `pitboss audit ...`: verify the tamper-evident audit log, sign a checkpoint, export a time
//! range for a regulator (and check such an export), prove two checkpoints consistent, and
//! purge records past the retention period. The logic lives in `pitboss_auth::audit`.

use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::{DateTime, NaiveDate, Utc};
use clap::Subcommand;
use pitboss_auth::audit::{self, ExportFormat, VerifyingKey};

use crate::cli::{StoreArgs, open, settings};
use crate::config::{Overrides, Settings};

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Check the whole log: every record's hash and chain, the Merkle root at every checkpoint,
    /// and every checkpoint's signature. Fails naming the first bad record.
    Verify {
        #[command(flatten)]
        store: StoreArgs,
        /// The public key to trust (64 hex characters); default: the one of the audit_signing_key
        /// file. A verifier who does not run the server should always give it.
        #[arg(long)]
        public_key: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Sign a checkpoint over the records added since the last one (serve does it periodically).
    Checkpoint {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Print the public key that verifies the checkpoints, for regulators and auditors.
    PublicKey {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Write the records of a time range with their hashes; JSONL ends with the latest signed
    /// checkpoint and inclusion proofs of the first and last record.
    Export {
        #[command(flatten)]
        store: StoreArgs,
        /// First instant, inclusive: RFC 3339 (2025-01-31T12:00:00Z) or a date (UTC midnight).
        #[arg(long)]
        from: String,
        /// Last instant, exclusive: RFC 3339, or a date (that whole day is included).
        #[arg(long)]
        to: String,
        /// jsonl (verifiable) or csv (for spreadsheets).
        #[arg(long, default_value = "jsonl")]
        format: ExportFormat,
        /// Output file; standard output if left out.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check a JSONL export with a public key, without the database.
    CheckExport {
        /// The export file.
        file: PathBuf,
        /// The public key to trust (64 hex characters).
        #[arg(long)]
        public_key: String,
    },
    /// Print (as JSON) the proof that the checkpoint of NEW records extends the one of OLD.
    Consistency {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        old: i64,
        #[arg(long)]
        new: i64,
    },
    /// Delete records older than the cut-off, which must lie outside the retention period
    /// (audit_retention_years, at least 5). The chain still verifies afterwards.
    Purge {
        #[command(flatten)]
        store: StoreArgs,
        /// Cut-off, exclusive: RFC 3339, or a date (UTC midnight).
        #[arg(long)]
        before: String,
    },
}

pub async fn run(config: Option<&Path>, command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Verify { store, public_key, json } => {
            let s = settings(config, &store, Overrides::default())?;
            let key = match public_key {
                Some(hex) => audit::parse_public_key(&hex)?,
                None => existing_key(&s)?.verifying_key(),
            };
            let db = open(&s).await?;
            let report = audit::verify(&db, &key).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_report(&report, &key);
            }
            if !report.is_ok() {
                bail!("the audit log does not verify");
            }
            Ok(())
        }
        AuditCommand::Checkpoint { store } => {
            let s = settings(config, &store, Overrides::default())?;
            let key = audit::load_or_create_signing_key(&s.audit_signing_key_path())?;
            let db = open(&s).await?;
            match audit::checkpoint(&db, &key).await? {
                Some(c) => println!("signed a checkpoint of {} records, root {}", c.tree_size, c.root_hash),
                None => println!("no records were added since the last checkpoint"),
            }
            Ok(())
        }
        AuditCommand::PublicKey { store } => {
            let s = settings(config, &store, Overrides::default())?;
            let key = audit::load_or_create_signing_key(&s.audit_signing_key_path())?;
            println!("{}", audit::public_key_hex(&key.verifying_key()));
            Ok(())
        }
        AuditCommand::Export { store, from, to, format, out } => {
            let s = settings(config, &store, Overrides::default())?;
            let (from, to) = (parse_instant(&from, false)?, parse_instant(&to, true)?);
            if from >= to {
                bail!("--from must come before --to");
            }
            let db = open(&s).await?;
            // Sign what is there now, so that the proofs cover the whole range.
            if s.audit_signing_key_path().exists() {
                audit::checkpoint(&db, &existing_key(&s)?).await?;
            }
            let mut writer: Box<dyn Write + Send> = match &out {
                Some(path) => Box::new(BufWriter::new(
                    std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
                )),
                None => Box::new(BufWriter::new(std::io::stdout())),
            };
            let summary = audit::export(&db, from, to, format, &mut writer).await?;
            drop(writer);
            // An export is a read of sensitive data: it is audited too, naming the person at
            // the terminal as the operating system knows them.
            let who = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
            let entry =
                audit::AuditEntry::new(format!("cli:{who}"), "audit.export", "audit_log", format!("{from}..{to}"))
                    .details(serde_json::json!({
                        "format": format!("{format:?}").to_lowercase(),
                        "records": summary.records,
                        "out": out.as_ref().map(|p| p.display().to_string()),
                    }));
            let mut tx = db.begin().await?;
            audit::record(&mut tx, &entry).await?;
            tx.commit().await?;
            eprintln!(
                "exported {} records{}",
                summary.records,
                match (summary.first_seq, summary.last_seq) {
                    (Some(a), Some(b)) => format!(" (seq {a} to {b})"),
                    _ => String::new(),
                }
            );
            if format == ExportFormat::Jsonl {
                match &summary.checkpoint {
                    Some(c) => eprintln!(
                        "with inclusion proofs of seq {:?} against the checkpoint of {} records",
                        summary.proven, c.tree_size
                    ),
                    None => eprintln!("no checkpoint was ever signed, so the export holds no proofs"),
                }
            }
            Ok(())
        }
        AuditCommand::CheckExport { file, public_key } => {
            let key = audit::parse_public_key(&public_key)?;
            let reader =
                BufReader::new(std::fs::File::open(&file).with_context(|| format!("opening {}", file.display()))?);
            let check = audit::verify_export(reader, &key)?;
            println!("{} records chain without a gap and match their hashes", check.records);
            match &check.checkpoint {
                Some(c) => println!(
                    "the checkpoint of {} records is signed by the key; seq {:?} proven in its tree",
                    c.tree_size, check.proven
                ),
                None => println!("the export carries no checkpoint: nothing ties it to a signed tree"),
            }
            Ok(())
        }
        AuditCommand::Consistency { store, old, new } => {
            let s = settings(config, &store, Overrides::default())?;
            let db = open(&s).await?;
            let proof = audit::consistency_proof(&db, old, new).await?;
            println!("{}", serde_json::to_string_pretty(&proof)?);
            Ok(())
        }
        AuditCommand::Purge { store, before } => {
            let s = settings(config, &store, Overrides::default())?;
            let retention = s.audit_retention()?;
            let before = parse_instant(&before, false)?;
            let db = open(&s).await?;
            let report = audit::purge(&db, before, retention).await?;
            if report.purged == 0 {
                println!(
                    "nothing to purge: no checkpoint covers only records before the cut-off (purged through seq {})",
                    report.through_seq
                );
            } else {
                println!("purged {} records, through seq {}", report.purged, report.through_seq);
            }
            Ok(())
        }
    }
}

/// The signing key from its file, which must already exist (verifying never creates one).
fn existing_key(s: &Settings) -> anyhow::Result<audit::SigningKey> {
    let path = s.audit_signing_key_path();
    if !path.exists() {
        bail!("there is no audit signing key at {}; give --public-key, or set audit_signing_key", path.display());
    }
    Ok(audit::load_or_create_signing_key(&path)?)
}

fn print_report(report: &audit::VerifyReport, key: &VerifyingKey) {
    println!(
        "{} records (through seq {}) and {} checkpoints checked against key {}",
        report.records_checked,
        report.last_seq,
        report.checkpoints_checked,
        audit::public_key_hex(key)
    );
    if report.purged_through > 0 {
        println!("records up to seq {} were purged; the chain resumes from their anchor", report.purged_through);
    }
    if let Some(bad) = &report.first_bad_record {
        println!("FIRST BAD RECORD: {bad}");
    }
    for c in &report.bad_checkpoints {
        println!("BAD CHECKPOINT: {c}");
    }
    if report.more_bad_checkpoints > 0 {
        println!("... and {} more bad checkpoints", report.more_bad_checkpoints);
    }
    if let Some(problem) = &report.anchor_problem {
        println!("BAD PURGE ANCHOR: {problem}");
    }
    if report.is_ok() {
        println!("the audit log is intact");
    }
}

/// An RFC 3339 instant, or a date meaning UTC midnight at its start (or, with `end_of_day`, at
/// its end), as microseconds since the Unix epoch.
fn parse_instant(text: &str, end_of_day: bool) -> anyhow::Result<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc).timestamp_micros());
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .with_context(|| format!("`{text}` is neither an RFC 3339 instant nor a YYYY-MM-DD date"))?;
    let date = if end_of_day { date.succ_opt().context("that date is the last one there is")? } else { date };
    Ok(date.and_hms_opt(0, 0, 0).context("midnight exists")?.and_utc().timestamp_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_and_dates_parse() {
        assert_eq!(parse_instant("1970-01-01T00:00:01Z", false).unwrap(), 1_000_000);
        assert_eq!(parse_instant("1970-01-01T01:00:00+01:00", false).unwrap(), 0);
        assert_eq!(parse_instant("1970-01-02", false).unwrap(), 86_400_000_000);
        assert_eq!(parse_instant("1970-01-01", true).unwrap(), 86_400_000_000, "a --to date includes its day");
        assert!(parse_instant("yesterday", false).unwrap_err().to_string().contains("RFC 3339"));
    }
}
