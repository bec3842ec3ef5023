//! Storage tests that need the clock moved: purges of records older than five years. The rest
//! of the chain's behaviour is tested through the public API in tests/audit_chain.rs.

use pitboss_store::{Db, both_engines, db, sqlx};

use super::retention::purge_at;
use super::*;

const DAY: i64 = 86_400 * 1_000_000;

fn key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

async fn append_at(db: &Db, n: usize, at: i64) {
    for i in 0..n {
        let mut tx = db.begin().await.unwrap();
        let entry = AuditEntry::new("system", "test.change", "test", i).details(serde_json::json!({ "i": i }));
        chain::append(&mut tx, &entry, Some(at + i as i64)).await.unwrap();
        tx.commit().await.unwrap();
    }
}

both_engines!(a_purge_keeps_the_rest_of_the_chain_verifiable, |db| async move {
    let now = crate::now_micros();
    let six_years_ago = now - 6 * 366 * DAY;
    append_at(&db, 5, six_years_ago).await;
    let old = checkpoint::checkpoint_at(&db, &key(), six_years_ago + DAY).await.unwrap().unwrap();
    assert_eq!(old.tree_size, 5);
    append_at(&db, 3, now).await;
    let new = checkpoint(&db, &key()).await.unwrap().unwrap();
    assert_eq!(new.tree_size, 8);

    let cutoff = now - 5 * 366 * DAY - DAY;
    let report = purge_at(&db, cutoff, Retention::default(), now).await.unwrap();
    assert_eq!(report, PurgeReport { purged: 5, through_seq: 5 });
    let left: i64 = db!(&db, |c| sqlx::query_scalar("SELECT COUNT(*) FROM audit_log").fetch_one(c).await).unwrap();
    assert_eq!(left, 3);

    let verified = verify(&db, &key().verifying_key()).await.unwrap();
    assert!(verified.is_ok(), "{verified:?}");
    assert_eq!((verified.purged_through, verified.records_checked, verified.checkpoints_checked), (5, 3, 2));

    // Proofs about the records kept still work: the purged leaves come from the anchor's frontier.
    let proof = consistency_proof(&db, 5, 8).await.unwrap();
    verify_consistency_proof(&proof, &key().verifying_key()).unwrap();
    let mut out = Vec::new();
    export(&db, 0, i64::MAX, ExportFormat::Jsonl, &mut out).await.unwrap();
    let check = verify_export(&out[..], &key().verifying_key()).unwrap();
    assert_eq!((check.first_seq, check.last_seq, check.proven), (Some(6), Some(8), vec![6, 8]));

    // Nothing more is old enough; appending and checkpointing go on from the anchor.
    assert_eq!(purge_at(&db, cutoff, Retention::default(), now).await.unwrap().purged, 0);
    append_at(&db, 1, now).await;
    assert_eq!(checkpoint(&db, &key()).await.unwrap().unwrap().tree_size, 9);
    assert!(verify(&db, &key().verifying_key()).await.unwrap().is_ok());
});

both_engines!(a_purge_stops_at_the_last_checkpoint_before_the_cutoff, |db| async move {
    let now = crate::now_micros();
    let long_ago = now - 7 * 366 * DAY;
    append_at(&db, 4, long_ago).await;
    checkpoint::checkpoint_at(&db, &key(), long_ago + DAY).await.unwrap().unwrap();
    // Old records after the last old checkpoint stay until a checkpoint covers them.
    append_at(&db, 2, long_ago + 2 * DAY).await;
    let report = purge_at(&db, now - 6 * 366 * DAY, Retention::default(), now).await.unwrap();
    assert_eq!(report, PurgeReport { purged: 4, through_seq: 4 });
    // The next checkpoint goes on from the anchor, the last signed record being gone.
    append_at(&db, 2, now).await;
    assert_eq!(checkpoint(&db, &key()).await.unwrap().unwrap().tree_size, 8);
    let verified = verify(&db, &key().verifying_key()).await.unwrap();
    assert!(verified.is_ok(), "{verified:?}");
    assert_eq!((verified.purged_through, verified.records_checked), (4, 4));
});

both_engines!(the_database_refuses_to_delete_young_records_even_below_an_anchor, |db| async move {
    let now = crate::now_micros();
    let long_ago = now - 7 * 366 * DAY;
    append_at(&db, 2, long_ago).await;
    append_at(&db, 2, now - DAY).await;
    checkpoint(&db, &key()).await.unwrap().unwrap();
    // An anchor above young records (the purge itself never writes one) does not make them
    // deletable: the trigger also looks at each record's age.
    let hash: String =
        db!(&db, |c| sqlx::query_scalar("SELECT hash FROM audit_log WHERE seq = 4").fetch_one(c).await).unwrap();
    let mut tx = db.begin().await.unwrap();
    pitboss_store::exec!(&mut tx, "INSERT INTO audit_anchor (seq, hash, at) VALUES (4, $1, $2)", hash, now).unwrap();
    assert_eq!(pitboss_store::exec!(&mut tx, "DELETE FROM audit_log WHERE seq <= 2").unwrap(), 2);
    assert!(pitboss_store::exec!(&mut tx, "DELETE FROM audit_log WHERE seq = 3").is_err());
    tx.rollback().await.unwrap();
    // And an anchor must rest on a checkpoint.
    let mut tx = db.begin().await.unwrap();
    let err = pitboss_store::exec!(&mut tx, "INSERT INTO audit_anchor (seq, hash, at) VALUES (2, 'x', 0)");
    assert!(err.is_err());
});
