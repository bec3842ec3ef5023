//! The withdrawal approval queue on both engines: which withdrawals wait and why, VIP payouts
//! first, maker-checker above the second threshold, rejections releasing the hold, and no
//! withdrawal decided twice.

use std::collections::BTreeMap;

use chrono::Utc;
use pitboss_core::money::Currency;
use pitboss_ops::OpsError;
use pitboss_ops::withdrawals::{self, Decision, RULES_ACTOR, ReviewPolicy, ReviewState};
use pitboss_payments::operations::{self, Context};
use pitboss_payments::{TxKind, TxStatus};
use pitboss_players::{KycStatus, NewPlayer, PlayerPatch};
use pitboss_rules::Rates;
use pitboss_store::{Db, both_engines};
use uuid::Uuid;

/// Reviews from 500.00 EUR, two officers from 5,000.00 EUR, and the shipped rules about the player.
fn policy() -> ReviewPolicy {
    let rules: BTreeMap<String, String> =
        withdrawals::DEFAULT_RULES.iter().map(|(n, r)| (n.to_string(), r.to_string())).collect();
    ReviewPolicy::new(50_000, 500_000, &rules).unwrap()
}

/// A verified player of this currency with 100,000.00 on their balance.
async fn player(db: &Db, currency: &str, patch: PlayerPatch) -> Uuid {
    let currency: Currency = currency.parse().unwrap();
    let new = NewPlayer::new(&format!("ext-{}", Uuid::now_v7()), "DE", currency);
    let now = Utc::now();
    let mut tx = db.begin().await.unwrap();
    let id = pitboss_players::create(&mut tx, new, now).await.unwrap().id;
    let patch = PlayerPatch { kyc_status: patch.kyc_status.or(Some(KycStatus::Verified)), ..patch };
    pitboss_players::update(&mut tx, id, &patch, now).await.unwrap();
    let ctx = Context { player: id, currency, method: None, occurred_at: now, now, actor: "test" };
    operations::payment_completed(&mut tx, &ctx, TxKind::Deposit, &format!("d-{id}"), 10_000_000).await.unwrap();
    tx.commit().await.unwrap();
    id
}

/// The player asks for a withdrawal and the policy is applied; returns the withdrawal's id.
async fn withdraw(db: &Db, player: Uuid, amount: i64) -> Uuid {
    let p = pitboss_players::get(db, player).await.unwrap();
    let now = Utc::now();
    let ctx = Context { player, currency: p.currency, method: None, occurred_at: now, now, actor: "test" };
    let reference = format!("w-{}", Uuid::now_v7());
    let mut tx = db.begin().await.unwrap();
    operations::payment_requested(&mut tx, &ctx, TxKind::Withdrawal, &reference, amount).await.unwrap();
    let rates = Rates::new().with("SEK".parse().unwrap(), 90_000);
    let review = withdrawals::assess(&mut tx, &policy(), &rates, &reference, now).await.unwrap().unwrap();
    // Applied once: a redelivered request changes nothing.
    assert!(withdrawals::assess(&mut tx, &policy(), &rates, &reference, now).await.unwrap().is_none());
    tx.commit().await.unwrap();
    review.transaction_id
}

async fn decide(db: &Db, id: Uuid, d: Decision, actor: &str, reason: Option<&str>) -> Result<ReviewState, OpsError> {
    let mut tx = db.begin().await.unwrap();
    let review = withdrawals::decide(&mut tx, id, d, actor, reason, Utc::now()).await?;
    tx.commit().await.unwrap();
    Ok(review.state)
}

async fn status(db: &Db, id: Uuid) -> TxStatus {
    pitboss_payments::queries::transaction(db, id).await.unwrap().transaction.status
}

async fn outbox(db: &Db, topic: &str) -> i64 {
    pitboss_store::db!(db, |c| pitboss_store::sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE topic = $1")
        .bind(topic)
        .fetch_one(c)
        .await)
    .unwrap()
}

both_engines!(withdrawals_wait_by_amount_in_euros_and_by_rules_about_the_player, |db| async move {
    let plain = player(&db, "EUR", PlayerPatch::default()).await;
    let small = withdraw(&db, plain, 49_999).await;
    let r = withdrawals::get(&db, small).await.unwrap();
    assert_eq!((r.state, r.decided_by.as_deref()), (ReviewState::Approved, Some(RULES_ACTOR)), "{r:?}");
    assert!(r.reasons.is_empty());
    assert_eq!(outbox(&db, "payment.withdrawal.approved").await, 1, "the platform is told to pay out");

    let large = withdrawals::get(&db, withdraw(&db, plain, 50_000).await).await.unwrap();
    assert_eq!(large.state, ReviewState::Waiting);
    assert_eq!(large.reasons, ["worth 500.00 EUR or more"]);
    assert!(!large.needs_second);

    // 6,000 SEK is 540.00 EUR at the reference rate: the euro threshold holds for it.
    let swede = player(&db, "SEK", PlayerPatch::default()).await;
    let sek = withdrawals::get(&db, withdraw(&db, swede, 600_000).await).await.unwrap();
    assert_eq!((sek.amount_eur, sek.state), (Some(54_000), ReviewState::Waiting));
    // Without a rate the value is unknown: it waits, for two officers.
    let yen = player(&db, "JPY", PlayerPatch::default()).await;
    let jpy = withdrawals::get(&db, withdraw(&db, yen, 100).await).await.unwrap();
    assert_eq!((jpy.amount_eur, jpy.state, jpy.needs_second), (None, ReviewState::Waiting, true));
    assert!(jpy.reasons[0].contains("no reference rate"), "{:?}", jpy.reasons);

    let unverified =
        player(&db, "EUR", PlayerPatch { kyc_status: Some(KycStatus::Pending), ..Default::default() }).await;
    let kyc = withdrawals::get(&db, withdraw(&db, unverified, 1_000).await).await.unwrap();
    assert_eq!(kyc.reasons, ["identity not verified"]);
    let risky = player(&db, "EUR", PlayerPatch { tags: Some(vec!["high_risk".into()]), ..Default::default() }).await;
    let risk = withdrawals::get(&db, withdraw(&db, risky, 1_000).await).await.unwrap();
    assert_eq!(risk.reasons, ["marked high risk"]);
});

both_engines!(the_queue_puts_vip_payouts_first_then_the_longest_waiting, |db| async move {
    let plain = player(&db, "EUR", PlayerPatch::default()).await;
    let vip = player(&db, "EUR", PlayerPatch { vip_tier: Some("gold".into()), ..Default::default() }).await;
    let first = withdraw(&db, plain, 60_000).await;
    let second = withdraw(&db, plain, 70_000).await;
    let vips = withdraw(&db, vip, 80_000).await;
    let queue: Vec<Uuid> = withdrawals::queue(&db, 50, 0).await.unwrap().iter().map(|r| r.transaction_id).collect();
    assert_eq!(queue, [vips, first, second]);
    let page: Vec<Uuid> = withdrawals::queue(&db, 1, 1).await.unwrap().iter().map(|r| r.transaction_id).collect();
    assert_eq!(page, [first]);
    // Decided, or settled by the platform meanwhile: out of the queue.
    decide(&db, first, Decision::Approve, "operator:ann", None).await.unwrap();
    let queue: Vec<Uuid> = withdrawals::queue(&db, 50, 0).await.unwrap().iter().map(|r| r.transaction_id).collect();
    assert_eq!(queue, [vips, second]);
    let reference = pitboss_payments::queries::transaction(&db, second).await.unwrap().transaction.reference;
    let now = Utc::now();
    let ctx = Context { player: plain, currency: Currency::EUR, method: None, occurred_at: now, now, actor: "test" };
    let mut tx = db.begin().await.unwrap();
    assert!(!withdrawals::close(&mut tx, &reference, now).await.unwrap(), "still pending: it stays");
    operations::payment_completed(&mut tx, &ctx, TxKind::Withdrawal, &reference, 70_000).await.unwrap();
    assert!(withdrawals::close(&mut tx, &reference, now).await.unwrap());
    assert!(!withdrawals::close(&mut tx, &reference, now).await.unwrap(), "closed once");
    tx.commit().await.unwrap();
    let queue: Vec<Uuid> = withdrawals::queue(&db, 50, 0).await.unwrap().iter().map(|r| r.transaction_id).collect();
    assert_eq!(queue, [vips]);
    let closed = withdrawals::get(&db, second).await.unwrap();
    assert_eq!((closed.state, closed.decided_by.as_deref()), (ReviewState::Closed, Some(withdrawals::PLATFORM_ACTOR)));
    assert_eq!(closed.decision_reason.as_deref(), Some("completed by the platform before a decision"));
});

both_engines!(above_the_second_threshold_two_different_officers_approve, |db| async move {
    let p = player(&db, "EUR", PlayerPatch::default()).await;
    let big = withdraw(&db, p, 500_000).await;
    assert_eq!(
        decide(&db, big, Decision::Approve, "operator:ann", Some("documents fine")).await.unwrap(),
        ReviewState::SecondApproval
    );
    assert_eq!(outbox(&db, "payment.withdrawal.approved").await, 0, "one approval is not enough");
    let same = decide(&db, big, Decision::Approve, "operator:ann", None).await.unwrap_err();
    assert!(matches!(same, OpsError::SameOfficer(_)), "{same}");
    assert_eq!(decide(&db, big, Decision::Approve, "operator:bob", None).await.unwrap(), ReviewState::Approved);
    let r = withdrawals::get(&db, big).await.unwrap();
    assert_eq!((r.first_by.as_deref(), r.decided_by.as_deref()), (Some("operator:ann"), Some("operator:bob")));
    assert_eq!(r.first_note.as_deref(), Some("documents fine"));
    assert_eq!(outbox(&db, "payment.withdrawal.approved").await, 1);
    assert_eq!(status(&db, big).await, TxStatus::Pending, "the platform pays out and then completes it");
    // Decided: nothing more to do, whoever asks.
    let again = decide(&db, big, Decision::Reject, "operator:cid", Some("late")).await.unwrap_err();
    assert!(matches!(again, OpsError::Decided(_)), "{again}");
});

both_engines!(a_rejection_needs_a_reason_and_releases_the_held_money, |db| async move {
    let p = player(&db, "EUR", PlayerPatch::default()).await;
    let balance = async || {
        let b = pitboss_payments::queries::player_balances(&db, p).await.unwrap();
        b.iter().find(|b| b.account.contains(":cash:")).map(|b| (b.posted, b.available)).unwrap()
    };
    let w = withdraw(&db, p, 60_000).await;
    assert_eq!(balance().await, (10_000_000, 9_940_000), "the request holds the money");
    let no_reason = decide(&db, w, Decision::Reject, "operator:ann", Some("  ")).await.unwrap_err();
    assert!(matches!(no_reason, OpsError::Invalid { field: "reason", .. }), "{no_reason}");
    let long = "x".repeat(withdrawals::MAX_REASON + 1);
    assert!(matches!(
        decide(&db, w, Decision::Reject, "operator:ann", Some(&long)).await,
        Err(OpsError::Invalid { .. })
    ));
    assert_eq!(
        decide(&db, w, Decision::Reject, "operator:ann", Some("bonus abuse")).await.unwrap(),
        ReviewState::Rejected
    );
    assert_eq!(status(&db, w).await, TxStatus::Failed);
    assert_eq!(balance().await, (10_000_000, 10_000_000), "the hold is released");
    assert_eq!(outbox(&db, "payment.withdrawal.rejected").await, 1);
    let late = decide(&db, w, Decision::Approve, "operator:bob", None).await.unwrap_err();
    assert!(matches!(late, OpsError::Decided(_)), "{late}");

    // A withdrawal the platform cancelled meanwhile cannot be decided.
    let cancelled = withdraw(&db, p, 70_000).await;
    let now = Utc::now();
    let ctx = Context { player: p, currency: Currency::EUR, method: None, occurred_at: now, now, actor: "test" };
    let reference = pitboss_payments::queries::transaction(&db, cancelled).await.unwrap().transaction.reference;
    let mut tx = db.begin().await.unwrap();
    operations::payment_failed(&mut tx, &ctx, TxKind::Withdrawal, &reference, 70_000, Some("cancelled")).await.unwrap();
    tx.commit().await.unwrap();
    let gone = decide(&db, cancelled, Decision::Approve, "operator:bob", None).await.unwrap_err();
    assert!(gone.to_string().contains("already failed"), "{gone}");
});

both_engines!(of_two_officers_deciding_at_once_only_one_succeeds, |db| async move {
    let p = player(&db, "EUR", PlayerPatch::default()).await;
    for _ in 0..5 {
        let w = withdraw(&db, p, 60_000).await;
        let (a, b) = tokio::join!(
            decide(&db, w, Decision::Reject, "operator:ann", Some("fraud")),
            decide(&db, w, Decision::Reject, "operator:bob", Some("fraud")),
        );
        let ok = [&a, &b].iter().filter(|r| r.is_ok()).count();
        assert_eq!(ok, 1, "{a:?} {b:?}");
        assert!([a, b].into_iter().any(|r| matches!(r, Err(OpsError::Decided(_)))));
        assert_eq!(status(&db, w).await, TxStatus::Failed);
    }
    let b = pitboss_payments::queries::player_balances(&db, p).await.unwrap();
    let cash = b.iter().find(|b| b.account.contains(":cash:")).unwrap();
    assert_eq!((cash.posted, cash.held), (10_000_000, 0), "no hold released twice");
    assert!(pitboss_payments::queries::verify(&db).await.unwrap().problems.is_empty());
});
