//! Disputes on both engines: what each kind may be opened on, notes, every resolution's effect
//! on the ledger, and that a resolved dispute takes nothing more.

use chrono::Utc;
use pitboss_core::Currency;
use pitboss_payments::approvals::{self, NewRequest};
use pitboss_payments::disputes::{self, DisputeKind, DisputeState, Resolution};
use pitboss_payments::operations::{self, Context};
use pitboss_payments::queries::{player_balances, transaction, verify};
use pitboss_payments::{LedgerError, TxKind, TxStatus};
use pitboss_store::{Db, both_engines};
use uuid::Uuid;

fn ctx(player: Uuid) -> Context<'static> {
    Context { player, currency: Currency::EUR, method: None, occurred_at: Utc::now(), now: Utc::now(), actor: "test" }
}

async fn cash(db: &Db, player: Uuid) -> i64 {
    let b = player_balances(db, player).await.unwrap();
    b.iter().find(|b| b.account.contains(":cash:")).map(|b| b.posted).unwrap_or_default()
}

/// A completed deposit (or, with `pending`, one still waiting); its id.
async fn deposit(db: &Db, player: Uuid, reference: &str, amount: i64, pending: bool) -> Uuid {
    let mut tx = db.begin().await.unwrap();
    let change = if pending {
        operations::payment_requested(&mut tx, &ctx(player), TxKind::Deposit, reference, amount).await.unwrap()
    } else {
        operations::payment_completed(&mut tx, &ctx(player), TxKind::Deposit, reference, amount).await.unwrap()
    };
    tx.commit().await.unwrap();
    change.transaction.id
}

async fn open(db: &Db, t: Uuid, kind: DisputeKind, reason: &str) -> Result<disputes::Dispute, LedgerError> {
    let mut tx = db.begin().await.unwrap();
    let d = disputes::open(&mut tx, t, kind, reason, "operator:ann", Utc::now()).await?;
    tx.commit().await.unwrap();
    Ok(d)
}

async fn resolve(db: &Db, id: Uuid, r: Resolution, reason: &str) -> Result<disputes::Dispute, LedgerError> {
    let mut tx = db.begin().await.unwrap();
    let d = disputes::resolve(&mut tx, id, r, reason, None, "operator:bob", Utc::now()).await?;
    tx.commit().await.unwrap();
    Ok(d)
}

async fn status(db: &Db, t: Uuid) -> TxStatus {
    transaction(db, t).await.unwrap().transaction.status
}

both_engines!(a_chargeback_disputes_the_deposit_until_it_is_reversed_and_then_takes_nothing_more, |db| async move {
    let p = Uuid::now_v7();
    let t = deposit(&db, p, "d-1", 5_000, false).await;
    let d = open(&db, t, DisputeKind::Chargeback, "chargeback notice from the acquirer").await.unwrap();
    assert_eq!((d.state, d.player_id), (DisputeState::Open, p));
    assert_eq!(status(&db, t).await, TxStatus::Disputed);
    let twice = open(&db, t, DisputeKind::WrongBalance, "again").await.unwrap_err();
    assert!(matches!(twice, LedgerError::Conflict(_)), "one unresolved dispute per transaction: {twice}");

    let mut tx = db.begin().await.unwrap();
    disputes::add_note(&mut tx, d.id, "operator:ann", "acquirer case 4711", Utc::now()).await.unwrap();
    let empty = disputes::add_note(&mut tx, d.id, "operator:ann", " ", Utc::now()).await.unwrap_err();
    assert!(matches!(empty, LedgerError::Invalid(_)));
    tx.commit().await.unwrap();

    let blank = resolve(&db, d.id, Resolution::Reverse, "").await.unwrap_err();
    assert!(matches!(blank, LedgerError::Invalid(_)), "a resolution needs a reason");
    let done = resolve(&db, d.id, Resolution::Reverse, "chargeback lost").await.unwrap();
    assert_eq!(
        (done.state, done.resolution, done.resolved_by.as_deref()),
        (DisputeState::Resolved, Some(Resolution::Reverse), Some("operator:bob"))
    );
    assert_eq!(done.notes.len(), 1);
    assert_eq!(status(&db, t).await, TxStatus::Reversed);
    assert_eq!(cash(&db, p).await, 0, "the money went back");

    // Closed: no more notes or resolutions, and no money moves twice.
    let mut tx = db.begin().await.unwrap();
    let late = disputes::add_note(&mut tx, d.id, "operator:ann", "one more", Utc::now()).await.unwrap_err();
    assert!(matches!(late, LedgerError::Conflict(_)), "{late}");
    drop(tx);
    assert!(matches!(resolve(&db, d.id, Resolution::Reverse, "again").await, Err(LedgerError::Conflict(_))));
    assert_eq!(cash(&db, p).await, 0);
    // A new dispute may be opened on it once the first is resolved.
    open(&db, t, DisputeKind::WrongBalance, "the player says the reversal was wrong").await.unwrap();
    assert!(verify(&db).await.unwrap().problems.is_empty());
});

both_engines!(each_kind_is_opened_only_where_it_makes_sense, |db| async move {
    let p = Uuid::now_v7();
    let done = deposit(&db, p, "d-1", 5_000, false).await;
    let waiting = deposit(&db, p, "d-2", 3_000, true).await;
    let stuck_on_done = open(&db, done, DisputeKind::StuckPayment, "never arrived").await.unwrap_err();
    assert!(stuck_on_done.to_string().contains("only a pending payment"), "{stuck_on_done}");
    let chargeback_on_pending = open(&db, waiting, DisputeKind::Chargeback, "chargeback").await.unwrap_err();
    assert!(chargeback_on_pending.to_string().contains("completed deposit"), "{chargeback_on_pending}");
    let unknown = open(&db, Uuid::now_v7(), DisputeKind::WrongBalance, "?").await.unwrap_err();
    assert!(matches!(unknown, LedgerError::NotFound { .. }));
    let long = "x".repeat(disputes::MAX_TEXT + 1);
    assert!(matches!(open(&db, done, DisputeKind::WrongBalance, &long).await, Err(LedgerError::Invalid(_))));

    // A stuck payment is settled either way; what the ledger refuses is refused.
    let d = open(&db, waiting, DisputeKind::StuckPayment, "the provider says it was paid").await.unwrap();
    let reverse = resolve(&db, d.id, Resolution::Reverse, "wrong button").await.unwrap_err();
    assert!(matches!(reverse, LedgerError::InvalidTransition { .. }), "{reverse}");
    resolve(&db, d.id, Resolution::Complete, "provider confirmed").await.unwrap();
    assert_eq!(status(&db, waiting).await, TxStatus::Completed);
    assert_eq!(cash(&db, p).await, 8_000);

    // A stuck deposit made good by hand: the pending one fails, and cannot complete later.
    let late = deposit(&db, p, "d-3", 1_000, true).await;
    let d = open(&db, late, DisputeKind::StuckPayment, "the player's bank says it was sent").await.unwrap();
    let mut tx = db.begin().await.unwrap();
    let credit =
        operations::adjustment(&mut tx, &ctx(p), "manual-d-3", 1_000, "credited by hand", false).await.unwrap();
    let now = Utc::now();
    disputes::resolve(
        &mut tx,
        d.id,
        Resolution::Adjust,
        "credited by hand",
        Some(credit.transaction.id),
        "operator:bob",
        now,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(status(&db, late).await, TxStatus::Failed);
    let mut tx = db.begin().await.unwrap();
    let arrives = operations::payment_completed(&mut tx, &ctx(p), TxKind::Deposit, "d-3", 1_000).await;
    drop(tx);
    assert!(matches!(arrives, Err(LedgerError::InvalidTransition { .. })), "never credited twice");
    assert_eq!(cash(&db, p).await, 9_000);

    // A chargeback won: the deposit stands again.
    let d = open(&db, done, DisputeKind::Chargeback, "chargeback notice").await.unwrap();
    resolve(&db, d.id, Resolution::Uphold, "evidence accepted by the acquirer").await.unwrap();
    assert_eq!(status(&db, done).await, TxStatus::Completed);
    assert_eq!(cash(&db, p).await, 9_000);
});

both_engines!(an_adjustment_resolves_a_dispute_at_once_or_after_a_second_officer, |db| async move {
    // Adjustment requests are about a player on file.
    let mut tx = db.begin().await.unwrap();
    let new = pitboss_players::NewPlayer::new("p-1", "DE", Currency::EUR);
    let p = pitboss_players::create(&mut tx, new, Utc::now()).await.unwrap().id;
    tx.commit().await.unwrap();
    let t = deposit(&db, p, "d-1", 5_000, false).await;
    let d = open(&db, t, DisputeKind::WrongBalance, "bonus credited twice").await.unwrap();
    let mut tx = db.begin().await.unwrap();
    let no_adjustment =
        disputes::resolve(&mut tx, d.id, Resolution::Adjust, "x", None, "operator:bob", Utc::now()).await;
    assert!(matches!(no_adjustment, Err(LedgerError::Invalid(_))));
    let adj =
        operations::adjustment(&mut tx, &ctx(p), &format!("dispute:{}", d.id), -1_000, "bonus credited twice", false)
            .await
            .unwrap();
    let resolved = disputes::resolve(
        &mut tx,
        d.id,
        Resolution::Adjust,
        "took back the double bonus",
        Some(adj.transaction.id),
        "operator:bob",
        Utc::now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!((resolved.resolution, resolved.adjustment_id), (Some(Resolution::Adjust), Some(adj.transaction.id)));
    assert_eq!(cash(&db, p).await, 4_000);

    // Waiting for a second officer: rejected, the dispute is open again with a note saying so;
    // approved, the dispute is resolved by the adjustment.
    let d = open(&db, t, DisputeKind::WrongBalance, "still wrong").await.unwrap();
    for approve in [false, true] {
        let mut tx = db.begin().await.unwrap();
        let new = NewRequest {
            player_id: p,
            currency: Currency::EUR,
            reference: &format!("dispute:{}:{approve}", d.id),
            amount: 2_000,
            reason: "goodwill",
            allow_overdraft: false,
            requested_by: "operator:bob",
            now: 0,
        };
        let request = approvals::request(&mut tx, &new).await.unwrap();
        let waiting = disputes::await_approval(&mut tx, d.id, request.id, Utc::now()).await.unwrap();
        assert_eq!(waiting.state, DisputeState::AwaitingApproval);
        let blocked =
            disputes::resolve(&mut tx, d.id, Resolution::Uphold, "meanwhile", None, "operator:bob", Utc::now()).await;
        assert!(matches!(blocked, Err(LedgerError::Conflict(_))), "it waits for the second officer");
        let posted = if approve {
            let change =
                operations::adjustment(&mut tx, &ctx(p), &request.reference, 2_000, "goodwill", false).await.unwrap();
            Some(change.transaction.id)
        } else {
            None
        };
        let decided =
            approvals::decide(&mut tx, &request, approve, "operator:cid", Some("too much"), posted, 1).await.unwrap();
        let after = disputes::request_decided(&mut tx, &decided, "operator:cid", Utc::now()).await.unwrap().unwrap();
        tx.commit().await.unwrap();
        if approve {
            assert_eq!((after.state, after.adjustment_id), (DisputeState::Resolved, posted));
        } else {
            assert_eq!(after.state, DisputeState::Open);
            assert_eq!(after.notes.last().unwrap().body, "The adjustment was rejected: too much");
        }
    }
    assert_eq!(cash(&db, p).await, 6_000);
    let listed = disputes::list(&db, Some(DisputeState::Resolved), Some(t), 10).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(verify(&db).await.unwrap().problems.is_empty());
});
