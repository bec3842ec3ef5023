//! The audit chain against someone with write access to the database: records written through
//! `audit::record` verify; each kind of tampering (done the way an attacker would, triggers
//! dropped first) is named at the right record; checkpoints, exports, proofs, retention and
//! listing. Each test runs on SQLite and, with `--ignored`, on PostgreSQL.

use pitboss_auth::audit::canonical::{Fields, record_hash};
use pitboss_auth::audit::{
    self, AuditEntry, AuditError, AuditFilter, CheckpointProblem, ExportFormat, Page, Retention, SigningKey, Tamper,
    VerifyReport,
};
use pitboss_store::{Db, Engine, both_engines, db, exec, sqlx};
use serde_json::json;
use uuid::Uuid;

fn key() -> SigningKey {
    SigningKey::from_bytes(&[42; 32])
}

async fn verify(db: &Db) -> VerifyReport {
    audit::verify(db, &key().verifying_key()).await.expect("the log can be read")
}

/// Writes `n` records through `audit::record`, one transaction each, with every field used.
async fn write(db: &Db, n: usize) {
    for i in 0..n {
        let mut tx = db.begin().await.unwrap();
        let entry = AuditEntry::new(
            format!("operator:op{}", i % 3),
            format!("player.{}", ["update", "block"][i % 2]),
            "player",
            i,
        )
        .client(Some(format!("192.0.2.{i}")), (i % 2 == 0).then(|| "Mozilla/5.0".to_string()))
        .before(json!({ "status": "active", "n": i }))
        .after(json!({ "status": "blocked", "n": i }))
        .reason(format!("reason {i}"))
        .details(json!({ "i": i, "note": "ünïcode, \"quotes\"\nand lines" }));
        audit::record(&mut tx, &entry).await.unwrap();
        tx.commit().await.unwrap();
    }
}

async fn run(db: &Db, sql: &str) {
    let mut tx = db.begin().await.unwrap();
    exec!(&mut tx, sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    tx.commit().await.unwrap();
}

/// What an attacker with DDL rights does first: get the triggers out of the way.
async fn drop_guards(db: &Db) {
    match db.engine() {
        Engine::Sqlite => {
            let names: Vec<String> = db!(db, |c| {
                sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'audit%'")
                    .fetch_all(c)
                    .await
            })
            .unwrap();
            assert!(names.len() >= 10, "{names:?}");
            for name in names {
                run(db, &format!("DROP TRIGGER {name}")).await;
            }
        }
        Engine::Postgres => {
            for table in ["audit_log", "audit_head", "audit_checkpoints", "audit_anchor"] {
                run(db, &format!("ALTER TABLE {table} DISABLE TRIGGER USER")).await;
            }
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct Row {
    seq: i64,
    id: Uuid,
    at: i64,
    actor: String,
    action: String,
    target_type: String,
    target_id: String,
    ip: Option<String>,
    user_agent: Option<String>,
    before_state: Option<String>,
    after_state: Option<String>,
    reason: Option<String>,
    details: String,
    prev_hash: String,
    hash: String,
}

impl Row {
    /// The hash this row would have after `prev` (hex), as an attacker recomputes it.
    fn rehash(&self, prev: &str) -> String {
        let prev: [u8; 32] = hex::decode(prev).unwrap().try_into().unwrap();
        let fields = Fields {
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
        };
        hex::encode(record_hash(&prev, &fields))
    }
}

async fn row(db: &Db, seq: i64) -> Row {
    db!(db, |c| sqlx::query_as("SELECT * FROM audit_log WHERE seq = $1").bind(seq).fetch_one(c).await).unwrap()
}

async fn insert(db: &Db, r: &Row) {
    let mut tx = db.begin().await.unwrap();
    exec!(
        &mut tx,
        "INSERT INTO audit_log (seq, id, at, actor, action, target_type, target_id, ip, user_agent, before_state, \
         after_state, reason, details, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        r.seq,
        r.id,
        r.at,
        &r.actor,
        &r.action,
        &r.target_type,
        &r.target_id,
        r.ip.as_deref(),
        r.user_agent.as_deref(),
        r.before_state.as_deref(),
        r.after_state.as_deref(),
        r.reason.as_deref(),
        &r.details,
        &r.prev_hash,
        &r.hash
    )
    .unwrap();
    tx.commit().await.unwrap();
}

/// Moves the records from `from` on by `by` places (the primary key forbids doing it in place).
async fn renumber(db: &Db, from: i64, by: i64) {
    run(db, &format!("UPDATE audit_log SET seq = -(seq + {by}) WHERE seq >= {from}")).await;
    run(db, "UPDATE audit_log SET seq = -seq WHERE seq < 0").await;
}

fn first_bad(report: &VerifyReport) -> (i64, Option<Uuid>, Tamper) {
    let bad = report.first_bad_record.as_ref().unwrap_or_else(|| panic!("tampering went unnoticed: {report:?}"));
    (bad.seq, bad.id, bad.tamper)
}

both_engines!(records_written_through_record_verify, |db| async move {
    assert!(verify(&db).await.is_ok(), "the empty log verifies");
    assert!(audit::checkpoint(&db, &key()).await.unwrap().is_none(), "nothing to sign yet");
    write(&db, 10).await;
    let c = audit::checkpoint(&db, &key()).await.unwrap().expect("a checkpoint over ten records");
    assert_eq!(c.tree_size, 10);
    assert!(audit::checkpoint(&db, &key()).await.unwrap().is_none(), "no records since");
    write(&db, 3).await;
    let report = verify(&db).await;
    assert!(report.is_ok(), "{report:?}");
    assert_eq!((report.records_checked, report.last_seq, report.checkpoints_checked), (13, 13, 1));
    assert_eq!(audit::checkpoint(&db, &key()).await.unwrap().unwrap().tree_size, 13);
    assert_eq!(verify(&db).await.checkpoints_checked, 2);

    // Every field is stored and read back (record 13 is the third of the second batch).
    let r = &audit::list_page(&db, &AuditFilter::default(), Page::first(1)).await.unwrap()[0];
    assert_eq!((r.seq, r.actor.as_str(), r.ip.as_deref()), (13, "operator:op2", Some("192.0.2.2")));
    assert_eq!(r.user_agent.as_deref(), Some("Mozilla/5.0"));
    assert_eq!(r.before, Some(json!({ "status": "active", "n": 2 })));
    assert_eq!(r.after, Some(json!({ "status": "blocked", "n": 2 })));
    assert_eq!(r.reason.as_deref(), Some("reason 2"));
    assert_eq!(r.details["i"], 2);
    assert_eq!(r.prev_hash, row(&db, 12).await.hash);
});

both_engines!(the_database_refuses_to_change_or_remove_records, |db| async move {
    write(&db, 3).await;
    audit::checkpoint(&db, &key()).await.unwrap().unwrap();
    let mut refused = vec![
        "UPDATE audit_log SET reason = 'edited' WHERE seq = 2",
        "UPDATE audit_log SET seq = 9 WHERE seq = 3",
        "DELETE FROM audit_log WHERE seq = 2",
        "DELETE FROM audit_log",
        "UPDATE audit_head SET seq = 1",
        "DELETE FROM audit_head",
        "UPDATE audit_checkpoints SET root_hash = 'x'",
        "DELETE FROM audit_checkpoints",
    ];
    if db.engine() == Engine::Postgres {
        refused.extend(["TRUNCATE audit_log", "TRUNCATE audit_checkpoints", "TRUNCATE audit_head"]);
    }
    for sql in refused {
        let mut tx = db.begin().await.unwrap();
        let result = exec!(&mut tx, sql);
        assert!(result.is_err(), "{sql} was allowed");
        tx.rollback().await.unwrap();
    }
    // A record that does not extend the head is refused, however it is numbered or chained.
    let third = row(&db, 3).await;
    let gap = Row { seq: 5, id: Uuid::now_v7(), prev_hash: third.hash.clone(), ..third.clone() };
    let fork = Row { seq: 4, id: Uuid::now_v7(), prev_hash: third.prev_hash.clone(), ..third.clone() };
    for forged in [gap, fork] {
        let mut tx = db.begin().await.unwrap();
        let result = exec!(
            &mut tx,
            "INSERT INTO audit_log (seq, id, at, actor, action, target_type, target_id, details, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            forged.seq,
            forged.id,
            forged.at,
            &forged.actor,
            &forged.action,
            &forged.target_type,
            &forged.target_id,
            &forged.details,
            &forged.prev_hash,
            &forged.hash
        );
        assert!(result.is_err(), "{forged:?} was allowed");
        tx.rollback().await.unwrap();
    }
    let report = verify(&db).await;
    assert!(report.is_ok() && report.records_checked == 3, "{report:?}");
});

both_engines!(an_altered_field_is_named_at_the_first_altered_record, |db| async move {
    write(&db, 12).await;
    audit::checkpoint(&db, &key()).await.unwrap().unwrap();
    drop_guards(&db).await;
    run(&db, "UPDATE audit_log SET reason = 'nothing to see' WHERE seq = 9").await;
    run(&db, "UPDATE audit_log SET actor = 'operator:someone-else' WHERE seq = 4").await;
    let report = verify(&db).await;
    assert_eq!(first_bad(&report), (4, Some(row(&db, 4).await.id), Tamper::Altered), "{report:?}");
    // The stored hashes were left alone, so the signed roots still match them: the chain is
    // what caught it.
    assert!(report.bad_checkpoints.is_empty(), "{report:?}");
});

both_engines!(a_rewritten_chain_with_recomputed_hashes_is_caught_by_the_signed_checkpoint, |db| async move {
    write(&db, 8).await;
    audit::checkpoint(&db, &key()).await.unwrap().unwrap();
    write(&db, 2).await;
    drop_guards(&db).await;
    // Edit record 3 and recompute every hash from there on, head included: the chain is whole.
    run(&db, "UPDATE audit_log SET details = '{\"i\":\"rewritten\"}' WHERE seq = 3").await;
    let mut prev = row(&db, 2).await.hash;
    for seq in 3..=10 {
        let r = row(&db, seq).await;
        let hash = r.rehash(&prev);
        run(&db, &format!("UPDATE audit_log SET prev_hash = '{prev}', hash = '{hash}' WHERE seq = {seq}")).await;
        prev = hash;
    }
    run(&db, &format!("UPDATE audit_head SET hash = '{prev}'")).await;
    let report = verify(&db).await;
    assert!(report.first_bad_record.is_none(), "{report:?}");
    assert_eq!(report.bad_checkpoints.len(), 1, "{report:?}");
    assert_eq!(report.bad_checkpoints[0].tree_size, 8);
    assert_eq!(report.bad_checkpoints[0].problem, CheckpointProblem::RootMismatch);
    assert!(!report.is_ok());
    // And the signer refuses to vouch for records that do not chain from its last checkpoint's.
    write(&db, 1).await;
    let err = audit::checkpoint(&db, &key()).await.unwrap_err();
    assert!(matches!(err, AuditError::ChainBroken { seq: 8, .. }), "{err}");
});

both_engines!(a_recomputed_hash_of_one_record_names_that_record, |db| async move {
    write(&db, 6).await;
    drop_guards(&db).await;
    let r = row(&db, 3).await;
    run(&db, "UPDATE audit_log SET target_id = 'other' WHERE seq = 3").await;
    let edited = row(&db, 3).await;
    run(&db, &format!("UPDATE audit_log SET hash = '{}' WHERE seq = 3", edited.rehash(&r.prev_hash))).await;
    let report = verify(&db).await;
    assert_eq!(first_bad(&report), (3, Some(r.id), Tamper::Altered), "{report:?}");
});

both_engines!(a_deleted_record_is_named_by_its_seq, |db| async move {
    write(&db, 10).await;
    audit::checkpoint(&db, &key()).await.unwrap().unwrap();
    drop_guards(&db).await;
    run(&db, "DELETE FROM audit_log WHERE seq = 5").await;
    let report = verify(&db).await;
    assert_eq!(first_bad(&report), (5, None, Tamper::Deleted), "{report:?}");
    assert_eq!(report.bad_checkpoints.len(), 1, "the checkpoint now covers a record that is gone: {report:?}");
});

both_engines!(a_deletion_hidden_by_renumbering_is_still_a_deletion, |db| async move {
    write(&db, 10).await;
    drop_guards(&db).await;
    run(&db, "DELETE FROM audit_log WHERE seq IN (5, 6)").await;
    renumber(&db, 7, -2).await;
    run(&db, "UPDATE audit_head SET seq = 8").await;
    let report = verify(&db).await;
    assert_eq!(first_bad(&report), (5, None, Tamper::Deleted), "{report:?}");
    assert!(report.first_bad_record.unwrap().explanation.contains("2 record(s)"));
});

both_engines!(deleting_the_last_records_is_noticed, |db| async move {
    write(&db, 6).await;
    drop_guards(&db).await;
    run(&db, "DELETE FROM audit_log WHERE seq >= 5").await;
    let report = verify(&db).await;
    assert_eq!(first_bad(&report), (5, None, Tamper::Deleted), "{report:?}");
});

both_engines!(a_forged_record_slipped_into_the_middle_is_named, |db| async move {
    write(&db, 10).await;
    drop_guards(&db).await;
    // A careful forger: makes room at seq 6 and gives the forgery a hash that chains from 5.
    renumber(&db, 6, 1).await;
    let mut forged = row(&db, 5).await;
    forged.seq = 6;
    forged.id = Uuid::now_v7();
    forged.actor = "operator:ghost".into();
    forged.prev_hash = forged.hash.clone();
    forged.hash = forged.rehash(&forged.prev_hash);
    insert(&db, &forged).await;
    let report = verify(&db).await;
    assert_eq!(first_bad(&report), (6, Some(forged.id), Tamper::Inserted), "{report:?}");
});

both_engines!(a_forged_record_with_a_made_up_hash_is_named, |db| async move {
    write(&db, 8).await;
    drop_guards(&db).await;
    renumber(&db, 4, 1).await;
    let mut forged = row(&db, 3).await;
    forged.seq = 4;
    forged.id = Uuid::now_v7();
    forged.prev_hash = "ab".repeat(32);
    forged.hash = "cd".repeat(32);
    insert(&db, &forged).await;
    let report = verify(&db).await;
    assert_eq!(first_bad(&report), (4, Some(forged.id), Tamper::Inserted), "{report:?}");
});

both_engines!(a_forged_record_appended_behind_the_heads_back_is_named, |db| async move {
    write(&db, 5).await;
    drop_guards(&db).await;
    let mut forged = row(&db, 5).await;
    forged.seq = 6;
    forged.id = Uuid::now_v7();
    forged.prev_hash = forged.hash.clone();
    forged.hash = forged.rehash(&forged.prev_hash);
    insert(&db, &forged).await;
    let report = verify(&db).await;
    assert_eq!(first_bad(&report), (6, Some(forged.id), Tamper::Inserted), "{report:?}");
});

both_engines!(two_swapped_records_are_named_as_reordered, |db| async move {
    write(&db, 10).await;
    audit::checkpoint(&db, &key()).await.unwrap().unwrap();
    drop_guards(&db).await;
    let (seven, eight) = (row(&db, 7).await, row(&db, 8).await);
    run(&db, "UPDATE audit_log SET seq = -1 WHERE seq = 7").await;
    run(&db, "UPDATE audit_log SET seq = 7 WHERE seq = 8").await;
    run(&db, "UPDATE audit_log SET seq = 8 WHERE seq = -1").await;
    let report = verify(&db).await;
    assert_eq!(first_bad(&report), (7, Some(eight.id), Tamper::Reordered), "{report:?}");
    assert!(report.first_bad_record.as_ref().unwrap().explanation.contains(&seven.id.to_string()));
    assert_eq!(report.bad_checkpoints[0].problem, CheckpointProblem::RootMismatch);
});

both_engines!(a_forged_checkpoint_is_reported, |db| async move {
    write(&db, 4).await;
    let genuine = audit::checkpoint(&db, &key()).await.unwrap().unwrap();
    write(&db, 2).await;
    audit::checkpoint(&db, &key()).await.unwrap().unwrap();
    write(&db, 2).await;
    drop_guards(&db).await;
    // A changed root under the genuine signature and key.
    run(&db, &format!("UPDATE audit_checkpoints SET root_hash = '{}' WHERE tree_size = 4", "00".repeat(32))).await;
    // A checkpoint signed by the attacker's own key, naming that key.
    let theirs = SigningKey::from_bytes(&[9; 32]);
    let forged = audit::checkpoint(&db, &theirs).await.unwrap().unwrap();
    assert_eq!(forged.tree_size, 8);
    let report = verify(&db).await;
    assert!(report.first_bad_record.is_none(), "the records are intact: {report:?}");
    let problems: Vec<(i64, CheckpointProblem)> =
        report.bad_checkpoints.iter().map(|b| (b.tree_size, b.problem.clone())).collect();
    assert_eq!(
        problems,
        [
            (4, CheckpointProblem::BadSignature),
            (8, CheckpointProblem::SignedByOtherKey { public_key: forged.public_key.clone() })
        ],
        "{report:?}"
    );
    assert_ne!(genuine.public_key, forged.public_key);
});

both_engines!(a_checkpoint_beyond_the_log_means_records_were_deleted, |db| async move {
    write(&db, 5).await;
    audit::checkpoint(&db, &key()).await.unwrap().unwrap();
    drop_guards(&db).await;
    run(&db, "DELETE FROM audit_log WHERE seq = 5").await;
    run(&db, &format!("UPDATE audit_head SET seq = 4, hash = '{}'", row(&db, 4).await.hash)).await;
    let report = verify(&db).await;
    assert!(report.first_bad_record.is_none(), "{report:?}");
    assert_eq!(report.bad_checkpoints[0].problem, CheckpointProblem::BeyondLog { records: 4 });
});

both_engines!(concurrent_appends_leave_one_unbroken_chain, |db| async move {
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let db = db.clone();
            tokio::spawn(async move {
                for i in 0..10 {
                    let mut tx = db.begin().await.unwrap();
                    let entry = AuditEntry::new(format!("operator:t{t}"), "test.concurrent", "test", i);
                    audit::record(&mut tx, &entry).await.unwrap();
                    tokio::task::yield_now().await;
                    audit::record(&mut tx, &entry.clone().reason("second in the same transaction")).await.unwrap();
                    if i % 3 == 2 {
                        tx.rollback().await.unwrap();
                    } else {
                        tx.commit().await.unwrap();
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let report = verify(&db).await;
    // 8 tasks x 7 committed transactions x 2 records; rolled-back ones leave no gap.
    assert!(report.is_ok(), "{report:?}");
    assert_eq!((report.records_checked, report.last_seq), (112, 112));
    assert_eq!(audit::checkpoint(&db, &key()).await.unwrap().unwrap().tree_size, 112);
});

both_engines!(an_export_round_trips_with_its_proofs, |db| async move {
    write(&db, 5).await;
    let middle = row(&db, 5).await.at + 1;
    write(&db, 6).await;
    let first = audit::checkpoint(&db, &key()).await.unwrap().unwrap();
    assert_eq!(first.tree_size, 11);

    let mut out = Vec::new();
    let summary = audit::export(&db, 0, middle, ExportFormat::Jsonl, &mut out).await.unwrap();
    assert_eq!((summary.records, summary.first_seq, summary.last_seq), (5, Some(1), Some(5)));
    let check = audit::verify_export(&out[..], &key().verifying_key()).unwrap();
    assert_eq!((check.records, check.proven.clone()), (5, vec![1, 5]));
    assert_eq!(check.checkpoint.as_ref(), Some(&first));

    let mut later = Vec::new();
    audit::export(&db, middle, i64::MAX, ExportFormat::Jsonl, &mut later).await.unwrap();
    let check = audit::verify_export(&later[..], &key().verifying_key()).unwrap();
    assert_eq!((check.first_seq, check.last_seq, check.proven), (Some(6), Some(11), vec![6, 11]));

    // Two exports, two checkpoints: the later tree extends the earlier.
    write(&db, 3).await;
    let second = audit::checkpoint(&db, &key()).await.unwrap().unwrap();
    let proof = audit::consistency_proof(&db, first.tree_size, second.tree_size).await.unwrap();
    audit::verify_consistency_proof(&proof, &key().verifying_key()).unwrap();
    let mut bent = proof.clone();
    bent.path[0] = "11".repeat(32);
    assert!(audit::verify_consistency_proof(&bent, &key().verifying_key()).is_err());

    // Any edit to an exported line, a proof, or the wrong key: refused, with the line.
    let text = String::from_utf8(out.clone()).unwrap();
    let edited = text.replacen("operator:op1", "operator:op2", 1);
    let err = audit::verify_export(edited.as_bytes(), &key().verifying_key()).unwrap_err();
    assert!(matches!(err, AuditError::BadExport { line: 2, .. }), "{err}");
    let proof_line = text.lines().last().unwrap();
    let audit_path = &proof_line[proof_line.find("\"audit_path\":[\"").unwrap() + 15..][..64];
    let bent = text.replace(audit_path, &"0".repeat(64));
    let err = audit::verify_export(bent.as_bytes(), &key().verifying_key()).unwrap_err();
    assert!(err.to_string().contains("not in the signed tree"), "{err}");
    let dropped: String = text.lines().filter(|l| !l.contains("\"seq\":3,")).map(|l| format!("{l}\n")).collect();
    let err = audit::verify_export(dropped.as_bytes(), &key().verifying_key()).unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
    let other = SigningKey::from_bytes(&[1; 32]).verifying_key();
    assert!(audit::verify_export(&out[..], &other).is_err());
    let cut: String = text.lines().take(3).map(|l| format!("{l}\n")).collect();
    assert!(audit::verify_export(cut.as_bytes(), &key().verifying_key()).is_err());

    // CSV: a header and one row per record, quoted where needed.
    let mut csv = Vec::new();
    let summary = audit::export(&db, 0, i64::MAX, ExportFormat::Csv, &mut csv).await.unwrap();
    assert_eq!(summary.records, 14);
    let csv = String::from_utf8(csv).unwrap();
    assert!(csv.starts_with("seq,id,at,actor,action,target_type,target_id,ip,user_agent,"), "{csv}");
    assert_eq!(csv.matches("\r\n").count(), 15, "{csv}");
    assert!(csv.contains("\"{\"\"i\"\":0,\"\"note\"\":\"\"ünïcode, \\\"\"quotes\\\"\"\\nand lines\"\"}\""), "{csv}");
});

both_engines!(a_purge_inside_the_retention_period_is_refused, |db| async move {
    write(&db, 3).await;
    audit::checkpoint(&db, &key()).await.unwrap().unwrap();
    let now = row(&db, 3).await.at + 1;
    let year = 366 * 86_400 * 1_000_000_i64;
    let err = audit::purge(&db, now, Retention::default()).await.unwrap_err();
    assert!(matches!(err, AuditError::InsideRetention { years: 5, .. }), "{err}");
    assert!(err.to_string().contains("refusing to purge"), "{err}");
    let err = audit::purge(&db, now - 6 * year, Retention::years(7).unwrap()).await.unwrap_err();
    assert!(matches!(err, AuditError::InsideRetention { years: 7, .. }), "{err}");
    let err = Retention::years(4).unwrap_err();
    assert!(matches!(err, AuditError::RetentionTooShort { years: 4, min: 5 }), "{err}");
    // Outside the period, but every record is young: nothing goes.
    let report = audit::purge(&db, now - 6 * year, Retention::default()).await.unwrap();
    assert_eq!(report.purged, 0);
    assert!(verify(&db).await.is_ok());
});

both_engines!(listing_filters_and_pages_newest_first, |db| async move {
    write(&db, 9).await;
    let all = |filter: AuditFilter| {
        let db = db.clone();
        async move { audit::list_page(&db, &filter, Page::first(100)).await.unwrap() }
    };
    let seqs = |records: Vec<audit::AuditRecord>| records.iter().map(|r| r.seq).collect::<Vec<_>>();
    assert_eq!(seqs(all(AuditFilter::default()).await), (1..=9).rev().collect::<Vec<_>>());
    let by_actor = AuditFilter { actor: Some("operator:op1".into()), ..Default::default() };
    assert_eq!(seqs(all(by_actor).await), [8, 5, 2]);
    let blocks = AuditFilter { action: Some("player.block".into()), ..Default::default() };
    assert_eq!(seqs(all(blocks).await), [8, 6, 4, 2]);
    let players = AuditFilter { action: Some("player.*".into()), ..Default::default() };
    assert_eq!(all(players).await.len(), 9);
    let upd = AuditFilter { action: Some("player.up*".into()), target_id: Some("4".into()), ..Default::default() };
    assert_eq!(seqs(all(upd).await), [5]);
    let none = AuditFilter { action: Some("PLAYER.*".into()), ..Default::default() };
    assert!(all(none).await.is_empty(), "prefixes are case-sensitive on both engines");
    let (t3, t6) = (row(&db, 3).await.at, row(&db, 6).await.at);
    let window = AuditFilter { from: Some(t3), to: Some(t6), target_type: Some("player".into()), ..Default::default() };
    assert_eq!(seqs(all(window).await), [5, 4, 3]);

    // Keyset pages: each starts below the last seq of the one before.
    let mut page = Page::first(4);
    let mut seen = Vec::new();
    loop {
        let records = audit::list_page(&db, &AuditFilter::default(), page).await.unwrap();
        let Some(last) = records.last() else { break };
        page.before_seq = Some(last.seq);
        seen.extend(records.iter().map(|r| r.seq));
    }
    assert_eq!(seen, (1..=9).rev().collect::<Vec<_>>());
    // The old signature still answers.
    assert_eq!(audit::list(&db, Some("player"), Some("0"), 10).await.unwrap().len(), 1);
});

#[test]
fn the_signing_key_file_is_created_private_and_reused() {
    let dir = std::env::temp_dir().join(format!("pitboss-key-{}", Uuid::now_v7()));
    let path = dir.join("keys").join("audit-signing.key");
    let created = audit::load_or_create_signing_key(&path).unwrap();
    let again = audit::load_or_create_signing_key(&path).unwrap();
    assert_eq!(created.to_bytes(), again.to_bytes());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let public = audit::public_key_hex(&created.verifying_key());
    assert_eq!(audit::parse_public_key(&public).unwrap(), created.verifying_key());
    assert!(audit::parse_public_key("abc").is_err());
    std::fs::write(&path, "not a key").unwrap();
    let err = audit::load_or_create_signing_key(&path).unwrap_err();
    assert!(matches!(err, AuditError::KeyFileMalformed { .. }), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
