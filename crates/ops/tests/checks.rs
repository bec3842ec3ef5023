//! What the platform's checks honour, on both engines: locks, time-outs and self-exclusions
//! under the jurisdiction profiles, and the account's status.

use chrono::{Duration, Utc};
use pitboss_core::money::Currency;
use pitboss_ops::exclusions;
use pitboss_ops::locks::{self, OPERATOR_ORIGIN};
use pitboss_ops::{
    Activity, CheckRequest, ExclusionKind, Jurisdictions, LockScope, NewExclusion, NewLock, OpsError, check,
};
use pitboss_players::{NewPlayer, PlayerPatch, PlayerStatus};
use pitboss_rules::Rates;
use pitboss_store::{Db, both_engines};
use uuid::Uuid;

async fn player(db: &Db) -> Uuid {
    player_of(db, "GB").await
}

async fn player_of(db: &Db, country: &str) -> Uuid {
    let new = NewPlayer::new(&format!("ext-{}", Uuid::now_v7()), country, Currency::EUR);
    let mut tx = db.begin().await.unwrap();
    let id = pitboss_players::create(&mut tx, new, Utc::now()).await.unwrap().id;
    tx.commit().await.unwrap();
    id
}

async fn set_status(db: &Db, player: Uuid, status: PlayerStatus) {
    let patch = PlayerPatch { status: Some(status), ..PlayerPatch::default() };
    let mut tx = db.begin().await.unwrap();
    pitboss_players::update(&mut tx, player, &patch, Utc::now()).await.unwrap();
    tx.commit().await.unwrap();
}

fn lock<'a>(player: Uuid, scope: LockScope, reason: &'a str) -> NewLock<'a> {
    NewLock { player, scope, reason, origin: OPERATOR_ORIGIN, expires_at: None, set_by: "operator:olga" }
}

async fn set(db: &Db, new: &NewLock<'_>) -> Result<pitboss_ops::Lock, OpsError> {
    let mut tx = db.begin().await.unwrap();
    let lock = locks::set(&mut tx, new, Utc::now()).await?;
    tx.commit().await.unwrap();
    Ok(lock)
}

async fn may(db: &Db, player: Uuid, activity: Activity) -> (bool, Option<String>) {
    may_at(db, player, activity, Utc::now()).await
}

async fn may_at(db: &Db, player: Uuid, activity: Activity, at: chrono::DateTime<Utc>) -> (bool, Option<String>) {
    let q = CheckRequest { activity, amount: None, currency: None };
    let profile = pitboss_players::get(db, player).await.unwrap();
    let a = check(db, Jurisdictions::shipped(), &Rates::new(), &profile, &q, at).await.unwrap();
    (a.allowed, a.code)
}

async fn take(
    db: &Db,
    player: Uuid,
    kind: ExclusionKind,
    days: Option<u32>,
) -> Result<pitboss_ops::Exclusion, OpsError> {
    let new = NewExclusion { player, kind, days, reason: None, requested_by: "api-key:platform" };
    let mut tx = db.begin().await.unwrap();
    let started = exclusions::start(&mut tx, Jurisdictions::shipped(), &new, Utc::now()).await;
    if started.is_ok() {
        tx.commit().await.unwrap();
    }
    started
}

fn refused_field(result: Result<pitboss_ops::Exclusion, OpsError>) -> String {
    match result {
        Err(OpsError::Invalid { field, message }) => format!("{field}: {message}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

both_engines!(a_partial_lock_stops_only_what_it_covers, |db| async move {
    let p = player(&db).await;
    for activity in Activity::ALL {
        assert_eq!(may(&db, p, *activity).await, (true, None), "{activity} before any lock");
    }
    let gameplay = set(&db, &lock(p, LockScope::Gameplay, "chasing losses, call first")).await.unwrap();
    let q = CheckRequest { activity: Activity::Stake, amount: Some(500), currency: Some(Currency::EUR) };
    let profile = pitboss_players::get(&db, p).await.unwrap();
    let answer = check(&db, Jurisdictions::shipped(), &Rates::new(), &profile, &q, Utc::now()).await.unwrap();
    assert!(!answer.allowed);
    assert_eq!(answer.lock_id, Some(gameplay.id));
    assert!(answer.reason.as_deref().unwrap().contains("chasing losses"), "{answer:?}");
    assert!(!may(&db, p, Activity::Session).await.0);
    for activity in [Activity::Deposit, Activity::Withdrawal, Activity::Bonus] {
        assert!(may(&db, p, activity).await.0, "{activity} is not gameplay");
    }
    set(&db, &lock(p, LockScope::All, "fraud review")).await.unwrap();
    for activity in Activity::ALL {
        assert_eq!(may(&db, p, *activity).await, (false, Some("locked".into())), "{activity} under a full lock");
    }
});

both_engines!(a_lifted_or_expired_lock_no_longer_stops_anything_and_stays_in_the_history, |db| async move {
    let p = player(&db).await;
    let deposits = set(&db, &lock(p, LockScope::Deposits, "card disputed")).await.unwrap();
    let mut tx = db.begin().await.unwrap();
    let (before, after) =
        locks::lift(&mut tx, deposits.id, "operator:ivan", "card confirmed", Utc::now()).await.unwrap();
    tx.commit().await.unwrap();
    assert!(before.lifted_at.is_none());
    assert_eq!(
        (after.lifted_by.as_deref(), after.lift_reason.as_deref()),
        (Some("operator:ivan"), Some("card confirmed"))
    );
    assert!(may(&db, p, Activity::Deposit).await.0);

    // An expiry ends a lock by itself.
    let soon = NewLock {
        expires_at: Some(Utc::now() + Duration::milliseconds(300)),
        ..lock(p, LockScope::Bonuses, "bonus abuse")
    };
    set(&db, &soon).await.unwrap();
    assert!(!may(&db, p, Activity::Bonus).await.0);
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert!(may(&db, p, Activity::Bonus).await.0);

    let history = locks::for_player(&db, p).await.unwrap();
    assert_eq!(history.iter().map(|l| l.scope).collect::<Vec<_>>(), [LockScope::Bonuses, LockScope::Deposits]);
    assert!(locks::in_force(&db, p, Utc::now()).await.unwrap().is_empty());
});

both_engines!(a_lock_is_lifted_once_and_never_after_it_ended, |db| async move {
    let p = player(&db).await;
    let l = set(&db, &lock(p, LockScope::Withdrawals, "payout details unverified")).await.unwrap();
    let lift = |id| {
        let db = db.clone();
        async move {
            let mut tx = db.begin().await.unwrap();
            let r = locks::lift(&mut tx, id, "operator:ivan", "verified", Utc::now()).await;
            tx.commit().await.unwrap();
            r
        }
    };
    lift(l.id).await.unwrap();
    let again = lift(l.id).await.unwrap_err();
    assert!(matches!(again, OpsError::NotInForce { .. }), "{again}");
    assert!(again.to_string().contains("operator:ivan"), "{again}");
    assert!(matches!(lift(Uuid::now_v7()).await.unwrap_err(), OpsError::LockNotFound(_)));
    // The lift did not touch the lock's own record.
    let stored = locks::get(&db, l.id).await.unwrap();
    assert_eq!(
        (stored.reason.as_str(), stored.lift_reason.as_deref()),
        ("payout details unverified", Some("verified"))
    );
});

both_engines!(bad_locks_and_questions_are_refused_with_the_field_at_fault, |db| async move {
    let p = player(&db).await;
    let cases = [
        (lock(p, LockScope::All, "  "), "reason"),
        (NewLock { origin: "KYC!", ..lock(p, LockScope::All, "x") }, "origin"),
        (NewLock { expires_at: Some(Utc::now() - Duration::minutes(1)), ..lock(p, LockScope::All, "x") }, "expires_at"),
    ];
    for (new, field) in cases {
        match set(&db, &new).await {
            Err(OpsError::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    assert!(matches!(set(&db, &lock(Uuid::now_v7(), LockScope::All, "x")).await, Err(OpsError::PlayerNotFound(_))));
    assert!(locks::for_player(&db, p).await.unwrap().is_empty(), "nothing was stored");

    let profile = pitboss_players::get(&db, p).await.unwrap();
    for (amount, currency, field) in [
        (Some(-1), Some(Currency::EUR), "amount"),
        (Some(100), None, "currency"),
        (None, Some(Currency::EUR), "amount"),
    ] {
        let q = CheckRequest { activity: Activity::Deposit, amount, currency };
        match check(&db, Jurisdictions::shipped(), &Rates::new(), &profile, &q, Utc::now()).await {
            Err(OpsError::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
});

both_engines!(the_account_status_comes_first_and_a_closed_account_may_still_withdraw, |db| async move {
    let p = player(&db).await;
    for (status, code) in [(PlayerStatus::SelfExcluded, "self_excluded"), (PlayerStatus::Closed, "account_closed")] {
        set_status(&db, p, status).await;
        assert_eq!(may(&db, p, Activity::Deposit).await, (false, Some(code.into())));
        assert!(may(&db, p, Activity::Withdrawal).await.0, "{status} still withdraws");
    }
    set_status(&db, p, PlayerStatus::Blocked).await;
    assert_eq!(may(&db, p, Activity::Withdrawal).await, (false, Some("account_blocked".into())));
});

both_engines!(a_time_out_stops_gambling_but_not_withdrawals_until_it_ends, |db| async move {
    let p = player(&db).await;
    let week = take(&db, p, ExclusionKind::Timeout, Some(7)).await.unwrap();
    assert_eq!(week.jurisdiction, "ukgc");
    for activity in [Activity::Deposit, Activity::Session, Activity::Stake, Activity::Bonus] {
        assert_eq!(may(&db, p, activity).await, (false, Some("timed_out".into())), "{activity}");
    }
    assert!(may(&db, p, Activity::Withdrawal).await.0, "a time-out leaves withdrawals open");
    // It ends by itself, and nothing can end it sooner: a shorter one is refused.
    let after = week.ends_at.unwrap() + Duration::seconds(1);
    assert!(may_at(&db, p, Activity::Deposit, after).await.0);
    assert!(matches!(take(&db, p, ExclusionKind::Timeout, Some(1)).await, Err(OpsError::AlreadyExcluded { .. })));
    // A longer break is taken at once.
    take(&db, p, ExclusionKind::Timeout, Some(30)).await.unwrap();
    assert!(!may_at(&db, p, Activity::Deposit, after).await.0);
});

both_engines!(breaks_are_held_to_the_players_jurisdiction, |db| async move {
    let uk = player_of(&db, "GB").await;
    assert!(refused_field(take(&db, uk, ExclusionKind::Timeout, Some(43)).await).starts_with("days:"));
    assert!(refused_field(take(&db, uk, ExclusionKind::Timeout, None).await).starts_with("days:"));
    let short = refused_field(take(&db, uk, ExclusionKind::SelfExclusion, Some(100)).await);
    assert!(short.contains("at least 183 days"), "{short}");
    assert!(exclusions::for_player(&db, uk).await.unwrap().is_empty(), "a refused break leaves nothing");
    // Germany's self-exclusion may be as short as three months.
    let de = player_of(&db, "DE").await;
    let taken = take(&db, de, ExclusionKind::SelfExclusion, Some(100)).await.unwrap();
    assert_eq!(taken.jurisdiction, "ggl");
    assert_eq!(may(&db, de, Activity::Stake).await, (false, Some("self_excluded".into())));
});

both_engines!(a_permanent_self_exclusion_never_ends_and_nothing_shortens_it, |db| async move {
    let p = player(&db).await;
    let forever = take(&db, p, ExclusionKind::SelfExclusion, None).await.unwrap();
    assert_eq!(forever.ends_at, None);
    let in_ten_years = Utc::now() + Duration::days(3650);
    assert_eq!(may_at(&db, p, Activity::Deposit, in_ten_years).await, (false, Some("self_excluded".into())));
    assert!(may_at(&db, p, Activity::Withdrawal, in_ten_years).await.0);
    for days in [Some(183), Some(1826), None] {
        let again = take(&db, p, ExclusionKind::SelfExclusion, days).await.unwrap_err();
        assert!(again.to_string().contains("without end"), "{again}");
    }
    assert!(matches!(take(&db, p, ExclusionKind::Timeout, Some(7)).await, Err(OpsError::AlreadyExcluded { .. })));
    assert_eq!(exclusions::for_player(&db, p).await.unwrap().len(), 1);
});
