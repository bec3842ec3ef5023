//! Deposit limits and caps in the platform's checks, on both engines: the cooling-off before a
//! player's increase, decreases and operators' limits at once, the tightest limit binding, the
//! jurisdiction's cap, and limits across currencies.

use chrono::{DateTime, Duration, Utc};
use pitboss_core::money::Currency;
use pitboss_ops::limits::{self, LimitOrigin, LimitPeriod};
use pitboss_ops::{
    Activity, CheckAnswer, CheckRequest, Jurisdictions, LimitChange, LimitKind, NewLimit, OpsError, check,
};
use pitboss_payments::TxKind;
use pitboss_payments::operations::{self, Context};
use pitboss_players::NewPlayer;
use pitboss_rules::Rates;
use pitboss_store::{Db, both_engines};
use uuid::Uuid;

fn eur() -> Currency {
    "EUR".parse().unwrap()
}

async fn player(db: &Db, country: &str, currency: &str) -> Uuid {
    let new = NewPlayer::new(&format!("ext-{}", Uuid::now_v7()), country, currency.parse().unwrap());
    let mut tx = db.begin().await.unwrap();
    let id = pitboss_players::create(&mut tx, new, Utc::now()).await.unwrap().id;
    tx.commit().await.unwrap();
    id
}

async fn deposit(db: &Db, player: Uuid, currency: Currency, amount: i64) {
    let now = Utc::now();
    let ctx = Context { player, currency, method: None, occurred_at: now, now, actor: "test" };
    let mut tx = db.begin().await.unwrap();
    let reference = format!("dep-{}", Uuid::now_v7());
    operations::payment_completed(&mut tx, &ctx, TxKind::Deposit, &reference, amount).await.unwrap();
    tx.commit().await.unwrap();
}

async fn limit(
    db: &Db,
    player: Uuid,
    period: LimitPeriod,
    origin: LimitOrigin,
    amount: Option<i64>,
) -> Result<LimitChange, OpsError> {
    set_in(db, player, period, origin, amount, eur(), &Rates::new()).await
}

async fn set_in(
    db: &Db,
    player: Uuid,
    period: LimitPeriod,
    origin: LimitOrigin,
    amount: Option<i64>,
    currency: Currency,
    rates: &Rates,
) -> Result<LimitChange, OpsError> {
    let new = NewLimit {
        player,
        kind: LimitKind::Deposit,
        period,
        origin,
        amount,
        currency: Some(currency),
        reason: None,
        requested_by: "test",
    };
    let mut tx = db.begin().await.unwrap();
    let change = limits::set(&mut tx, Jurisdictions::shipped(), rates, &new, Utc::now()).await?;
    tx.commit().await.unwrap();
    Ok(change)
}

async fn ask(db: &Db, player: Uuid, amount: i64, currency: Currency, rates: &Rates, at: DateTime<Utc>) -> CheckAnswer {
    let q = CheckRequest { activity: Activity::Deposit, amount: Some(amount), currency: Some(currency) };
    let profile = pitboss_players::get(db, player).await.unwrap();
    check(db, Jurisdictions::shipped(), rates, &profile, &q, at).await.unwrap()
}

async fn may_deposit(db: &Db, player: Uuid, amount: i64, at: DateTime<Utc>) -> CheckAnswer {
    ask(db, player, amount, eur(), &Rates::new(), at).await
}

both_engines!(a_deposit_limit_counts_what_was_deposited_and_answers_the_headroom, |db| async move {
    let p = player(&db, "GB", "EUR").await;
    let now = Utc::now();
    let open = may_deposit(&db, p, 1_000_000, now).await;
    assert!(open.allowed && open.headroom.is_none(), "no limit, no headroom: {open:?}");
    limit(&db, p, LimitPeriod::Day, LimitOrigin::Player, Some(10_000)).await.unwrap();
    deposit(&db, p, eur(), 8_000).await;
    let now = Utc::now();
    let denied = may_deposit(&db, p, 3_000, now).await;
    assert_eq!((denied.allowed, denied.code.as_deref()), (false, Some("deposit_limit")), "{denied:?}");
    let headroom = denied.headroom.unwrap();
    assert_eq!((headroom.amount, headroom.limit.as_str()), (2_000, "deposit limit per day (player)"));
    assert!(denied.reason.unwrap().contains("8000 of 10000"));
    let fits = may_deposit(&db, p, 2_000, now).await;
    assert!(fits.allowed, "{fits:?}");
    // The day rolls: tomorrow the deposit is outside the window.
    assert!(may_deposit(&db, p, 10_000, now + Duration::hours(25)).await.allowed);
});

both_engines!(a_players_increase_waits_for_the_cooling_off_and_a_decrease_does_not, |db| async move {
    let p = player(&db, "GB", "EUR").await;
    limit(&db, p, LimitPeriod::Month, LimitOrigin::Player, Some(50_000)).await.unwrap();
    deposit(&db, p, eur(), 40_000).await;
    let raised = limit(&db, p, LimitPeriod::Month, LimitOrigin::Player, Some(100_000)).await.unwrap();
    let cooling = raised.effective_at - raised.requested_at;
    assert_eq!(cooling, Duration::hours(24), "UKGC: 24 hours");
    let now = Utc::now();
    assert!(!may_deposit(&db, p, 20_000, now + Duration::hours(23)).await.allowed, "still the old limit");
    assert!(may_deposit(&db, p, 20_000, now + Duration::hours(25)).await.allowed, "the increase applies");
    // While it waits, no other increase or removal is taken.
    for amount in [Some(200_000), None] {
        let refused = limit(&db, p, LimitPeriod::Month, LimitOrigin::Player, amount).await.unwrap_err();
        assert!(matches!(refused, OpsError::CoolingOff { .. }), "{refused}");
    }
    // A decrease applies at once and cancels the waiting increase.
    let lowered = limit(&db, p, LimitPeriod::Month, LimitOrigin::Player, Some(45_000)).await.unwrap();
    assert_eq!(lowered.effective_at, lowered.requested_at);
    assert!(!may_deposit(&db, p, 10_000, now + Duration::hours(25)).await.allowed, "the increase was cancelled");
    let history = limits::changes(&db, p).await.unwrap();
    assert_eq!(history.iter().filter(|c| c.cancelled_at.is_some()).count(), 1);
});

both_engines!(a_removal_waits_too_and_an_operators_limit_binds_at_once, |db| async move {
    let p = player(&db, "MT", "EUR").await;
    limit(&db, p, LimitPeriod::Week, LimitOrigin::Player, Some(20_000)).await.unwrap();
    let removed = limit(&db, p, LimitPeriod::Week, LimitOrigin::Player, None).await.unwrap();
    assert_eq!(removed.effective_at - removed.requested_at, Duration::hours(24));
    let now = Utc::now();
    assert!(!may_deposit(&db, p, 30_000, now).await.allowed);
    assert!(may_deposit(&db, p, 30_000, now + Duration::hours(25)).await.allowed);
    // The casino's own limit applies at once, even raised, and the tightest one binds.
    limit(&db, p, LimitPeriod::Week, LimitOrigin::Operator, Some(5_000)).await.unwrap();
    let tight = may_deposit(&db, p, 6_000, Utc::now()).await;
    assert_eq!(tight.headroom.unwrap().limit, "deposit limit per week (operator)");
    let raised = limit(&db, p, LimitPeriod::Week, LimitOrigin::Operator, Some(15_000)).await.unwrap();
    assert_eq!(raised.effective_at, raised.requested_at);
    assert!(may_deposit(&db, p, 15_000, Utc::now()).await.allowed);
    assert!(matches!(
        limit(&db, p, LimitPeriod::Week, LimitOrigin::Operator, Some(0)).await,
        Err(OpsError::Invalid { field: "amount", .. })
    ));
});

both_engines!(germanys_monthly_cap_holds_without_any_limit_and_across_currencies, |db| async move {
    let de = player(&db, "DE", "EUR").await;
    let now = Utc::now();
    assert!(may_deposit(&db, de, 100_000, now).await.allowed, "exactly the cap");
    let over = may_deposit(&db, de, 100_001, now).await;
    assert_eq!(over.headroom.unwrap().limit, "monthly deposit cap (ggl)");
    // A USD player in Germany: the EUR cap holds through the rate, never skipped.
    let usd: Currency = "USD".parse().unwrap();
    let american = player(&db, "DE", "USD").await;
    let no_rates = ask(&db, american, 100, usd, &Rates::new(), now).await;
    assert_eq!((no_rates.allowed, no_rates.code.as_deref()), (false, Some("no_rate")));
    let rates = Rates::new().with(usd, 800_000); // 1 USD = 0.80 EUR: the cap is 1,250 USD
    deposit(&db, american, usd, 100_000).await;
    let answer = ask(&db, american, 25_000, usd, &rates, Utc::now()).await;
    assert!(answer.allowed, "{answer:?}");
    assert_eq!(answer.headroom.as_ref().map(|h| (h.amount, h.currency)), Some((25_000, usd)));
    assert!(!ask(&db, american, 25_001, usd, &rates, Utc::now()).await.allowed);
    // A limit in euros on a dollar player, compared through the rate to decide it is tighter.
    let lowered =
        set_in(&db, american, LimitPeriod::Day, LimitOrigin::Player, Some(50_000), eur(), &rates).await.unwrap();
    assert_eq!(lowered.effective_at, lowered.requested_at, "a first limit applies at once");
});

/// A settled round of the player's.
async fn round(db: &Db, player: Uuid, stake: i64, win: i64) {
    let now = Utc::now();
    let ctx = Context { player, currency: eur(), method: None, occurred_at: now, now, actor: "test" };
    let mut tx = db.begin().await.unwrap();
    operations::game_round(&mut tx, &ctx, &format!("r-{}", Uuid::now_v7()), stake, win).await.unwrap();
    tx.commit().await.unwrap();
}

async fn set_kind(db: &Db, player: Uuid, kind: LimitKind, amount: i64) {
    let new = NewLimit {
        player,
        kind,
        period: LimitPeriod::Day,
        origin: LimitOrigin::Operator,
        amount: Some(amount),
        currency: (!kind.in_minutes()).then(eur),
        reason: None,
        requested_by: "test",
    };
    let mut tx = db.begin().await.unwrap();
    limits::set(&mut tx, Jurisdictions::shipped(), &Rates::new(), &new, Utc::now()).await.unwrap();
    tx.commit().await.unwrap();
}

async fn may_stake(db: &Db, player: Uuid, amount: i64, at: DateTime<Utc>) -> CheckAnswer {
    let q = CheckRequest { activity: Activity::Stake, amount: Some(amount), currency: Some(eur()) };
    let profile = pitboss_players::get(db, player).await.unwrap();
    check(db, Jurisdictions::shipped(), &Rates::new(), &profile, &q, at).await.unwrap()
}

both_engines!(a_wager_limit_counts_stakes_and_a_loss_limit_counts_stakes_less_wins, |db| async move {
    let p = player(&db, "GB", "EUR").await;
    deposit(&db, p, eur(), 100_000).await;
    set_kind(&db, p, LimitKind::Wager, 10_000).await;
    set_kind(&db, p, LimitKind::Loss, 5_000).await;
    // Deposits are not stakes, nor stakes deposits.
    assert!(may_stake(&db, p, 4_000, Utc::now()).await.allowed);
    assert!(may_deposit(&db, p, 1_000_000, Utc::now()).await.allowed, "no deposit limit");

    // 6,000 staked, 3,500 won back: 2,500 lost. The loss limit leaves 2,500, the wager limit 4,000.
    round(&db, p, 2_000, 0).await;
    round(&db, p, 4_000, 3_500).await;
    let now = Utc::now();
    let fits = may_stake(&db, p, 2_500, now).await;
    assert!(fits.allowed, "{fits:?}");
    assert_eq!(
        fits.headroom.as_ref().map(|h| (h.amount, h.limit.as_str())),
        Some((2_500, "loss limit per day (operator)"))
    );
    let over = may_stake(&db, p, 2_600, now).await;
    assert_eq!((over.allowed, over.code.as_deref()), (false, Some("loss_limit")), "{over:?}");
    assert!(over.reason.unwrap().contains("2500 of 5000"));

    // A big win: no loss left to count, but the stakes still count toward the wager limit.
    round(&db, p, 1_000, 9_000).await;
    let now = Utc::now();
    let wagered = may_stake(&db, p, 3_500, now).await;
    assert_eq!((wagered.allowed, wagered.code.as_deref()), (false, Some("wager_limit")), "{wagered:?}");
    assert_eq!(wagered.headroom.unwrap().amount, 3_000);
    assert!(may_stake(&db, p, 3_000, now).await.allowed);
    // The day rolls: both windows are empty again.
    assert!(may_stake(&db, p, 5_000, now + Duration::hours(25)).await.allowed);
});

async fn may_play(db: &Db, player: Uuid, at: DateTime<Utc>) -> CheckAnswer {
    let q = CheckRequest { activity: Activity::Session, amount: None, currency: None };
    let profile = pitboss_players::get(db, player).await.unwrap();
    check(db, Jurisdictions::shipped(), &Rates::new(), &profile, &q, at).await.unwrap()
}

async fn time_limit(
    db: &Db,
    player: Uuid,
    kind: LimitKind,
    origin: LimitOrigin,
    minutes: Option<i64>,
) -> Result<LimitChange, OpsError> {
    let new = NewLimit {
        player,
        kind,
        period: LimitPeriod::Day,
        origin,
        amount: minutes,
        currency: None,
        reason: None,
        requested_by: "test",
    };
    let mut tx = db.begin().await.unwrap();
    let change = limits::set(&mut tx, Jurisdictions::shipped(), &Rates::new(), &new, Utc::now()).await?;
    tx.commit().await.unwrap();
    Ok(change)
}

both_engines!(a_session_time_limit_counts_minutes_played_and_the_answer_carries_the_reality_check, |db| async move {
    use pitboss_ops::sessions;
    let p = player(&db, "GB", "EUR").await;
    // No limit: allowed, with the jurisdiction's reality-check interval.
    let free = may_play(&db, p, Utc::now()).await;
    assert!(free.allowed);
    assert_eq!((free.time_left_minutes, free.reality_check_minutes), (None, Some(60)));

    // 90 minutes a day; an hour played two hours ago, and a session open for twenty minutes.
    set_kind(&db, p, LimitKind::SessionTime, 90).await;
    let now = Utc::now();
    let mut tx = db.begin().await.unwrap();
    sessions::started(&mut tx, p, "s-1", now - Duration::minutes(180)).await.unwrap();
    sessions::ended(&mut tx, p, "s-1", now - Duration::minutes(120), Some(3_600)).await.unwrap();
    // An end seen twice, or a start seen after its end, changes nothing.
    sessions::ended(&mut tx, p, "s-1", now - Duration::minutes(100), Some(3_600)).await.unwrap();
    sessions::started(&mut tx, p, "s-1", now - Duration::minutes(180)).await.unwrap();
    sessions::started(&mut tx, p, "s-2", now - Duration::minutes(20)).await.unwrap();
    tx.commit().await.unwrap();
    let playing = may_play(&db, p, now).await;
    assert!(playing.allowed, "{playing:?}");
    assert_eq!(playing.time_left_minutes, Some(10));
    // Fifteen minutes on, the open session has used the rest.
    let later = may_play(&db, p, now + Duration::minutes(15)).await;
    assert_eq!((later.allowed, later.code.as_deref()), (false, Some("session_time_limit")), "{later:?}");
    assert_eq!(later.time_left_minutes, Some(0));
    assert!(later.reason.unwrap().contains("95 of 90 minutes"));
    // The session ends; the hour played before it leaves the window a day after it ended.
    let mut tx = db.begin().await.unwrap();
    sessions::ended(&mut tx, p, "s-2", now + Duration::minutes(15), None).await.unwrap();
    tx.commit().await.unwrap();
    let tomorrow = may_play(&db, p, now + Duration::hours(23)).await;
    assert_eq!((tomorrow.allowed, tomorrow.time_left_minutes), (true, Some(90 - 35)), "{tomorrow:?}");

    // The player's own reality check, shorter than the jurisdiction's, applies at once; a
    // longer one waits for the cooling-off.
    time_limit(&db, p, LimitKind::RealityCheck, LimitOrigin::Player, Some(30)).await.unwrap();
    assert_eq!(may_play(&db, p, Utc::now()).await.reality_check_minutes, Some(30));
    let longer = time_limit(&db, p, LimitKind::RealityCheck, LimitOrigin::Player, Some(90)).await.unwrap();
    assert!(longer.effective_at > Utc::now() + Duration::hours(23), "{longer:?}");
    assert_eq!(may_play(&db, p, Utc::now()).await.reality_check_minutes, Some(30));
    assert_eq!(longer.amount_text(), "90 minutes");

    // Time limits are minutes: no currency, no window for a reality check, a sane amount.
    let refused = |r: Result<LimitChange, OpsError>| match r {
        Err(OpsError::Invalid { field, .. }) => field,
        other => panic!("not refused: {other:?}"),
    };
    let mut with_currency = NewLimit {
        player: p,
        kind: LimitKind::SessionTime,
        period: LimitPeriod::Week,
        origin: LimitOrigin::Operator,
        amount: Some(600),
        currency: Some(eur()),
        reason: None,
        requested_by: "test",
    };
    let set = async |new: NewLimit<'static>| {
        let mut tx = db.begin().await.unwrap();
        limits::set(&mut tx, Jurisdictions::shipped(), &Rates::new(), &new, Utc::now()).await
    };
    assert_eq!(refused(set(with_currency.clone()).await), "currency");
    with_currency.currency = None;
    with_currency.amount = Some(0);
    assert_eq!(refused(set(with_currency.clone()).await), "amount");
    with_currency.kind = LimitKind::RealityCheck;
    with_currency.amount = Some(30);
    assert_eq!(refused(set(with_currency.clone()).await), "period");
    let deposit_without_currency = NewLimit { kind: LimitKind::Deposit, period: LimitPeriod::Day, ..with_currency };
    assert_eq!(refused(set(deposit_without_currency).await), "currency");
});
