//! Segments on both engines: versions, full refresh with entry and exit events, updates for a
//! few players only, the live count, and a broken segment that stops no other.

use chrono::{DateTime, Duration, Utc};
use pitboss_players::stats::{self, Activity};
use pitboss_rules::Rates;
use pitboss_segments::{NewSegment, SegmentError, SegmentPatch};
use pitboss_store::{Db, both_engines, db, exec, sqlx};
use serde_json::json;
use uuid::Uuid;

fn now() -> DateTime<Utc> {
    "2026-11-23T12:00:00Z".parse().unwrap()
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

async fn player(db: &Db, external: &str, country: &str, deposit: i64) -> Uuid {
    let mut tx = db.begin().await.unwrap();
    let new = serde_json::from_value(json!({"external_id": external, "country": country, "currency": "EUR"})).unwrap();
    let p = pitboss_players::create(&mut tx, new, now() - Duration::days(100)).await.unwrap();
    if deposit > 0 {
        stats::record(&mut tx, p.id, Activity::DepositCompleted { amount: deposit }, now() - Duration::days(3), now())
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    p.id
}

async fn messages(db: &Db, topic: &str) -> Vec<serde_json::Value> {
    let rows: Vec<String> = db!(db, |c| {
        sqlx::query_scalar("SELECT payload FROM outbox WHERE topic = $1 ORDER BY created_at, id")
            .bind(topic)
            .fetch_all(c)
            .await
    })
    .unwrap();
    rows.iter().map(|r| serde_json::from_str(r).unwrap()).collect()
}

async fn create(db: &Db, name: &str, condition: &str) -> pitboss_segments::Segment {
    let mut tx = db.begin().await.unwrap();
    let new = NewSegment { name: name.into(), condition: Some(condition.into()), ..Default::default() };
    let s = pitboss_segments::create(&mut tx, new, "operator:mia", micros(now())).await.unwrap();
    tx.commit().await.unwrap();
    s
}

both_engines!(a_segment_is_versioned_and_its_refresh_records_entries_and_exits, |db| async move {
    let de = player(&db, "p-de", "DE", 15_000).await;
    let at = player(&db, "p-at", "AT", 20_000).await;
    let _se = player(&db, "p-se", "SE", 50_000).await;
    let _poor = player(&db, "p-de-2", "DE", 5_000).await;
    let s = create(&db, "DACH depositors", r#"country in ["DE", "AT"] and deposits_sum(30d) >= 100 EUR"#).await;
    assert_eq!(s.version, 1);
    assert_eq!(s.condition_json["all"][0]["in"]["left"], json!({"field": "country"}));

    let rates = Rates::new();
    let report = pitboss_segments::refresh(&db, s.id, micros(now()), &rates).await.unwrap();
    assert_eq!((report.entered, report.exited, report.members), (2, 0, 2));
    let entered = messages(&db, "segment.entered").await;
    let mut who: Vec<String> = entered.iter().map(|m| m["player_id"].as_str().unwrap().to_string()).collect();
    who.sort();
    let mut expected = vec![de.to_string(), at.to_string()];
    expected.sort();
    assert_eq!(who, expected);
    assert_eq!(entered[0]["segment"], "DACH depositors");

    // A second refresh changes nothing and says so.
    let again = pitboss_segments::refresh(&db, s.id, micros(now()) + 1, &rates).await.unwrap();
    assert_eq!((again.entered, again.exited, again.members), (0, 0, 2));

    let mut tx = db.begin().await.unwrap();
    let patch = SegmentPatch {
        condition: Some("country == \"DE\" and deposits_sum(30d) >= 100 EUR".into()),
        expected_version: Some(1),
        ..Default::default()
    };
    let (_, after) = pitboss_segments::update(&mut tx, s.id, patch, "operator:mia", micros(now()) + 2).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(after.version, 2);
    let report = pitboss_segments::refresh(&db, s.id, micros(now()) + 3, &rates).await.unwrap();
    assert_eq!((report.entered, report.exited, report.members), (0, 1, 1));
    let exited = messages(&db, "segment.exited").await;
    assert_eq!(exited.len(), 1);
    assert_eq!(exited[0]["player_id"], at.to_string());
    assert_eq!(exited[0]["version"], 2);

    let versions = pitboss_segments::versions(&db, s.id).await.unwrap();
    assert_eq!(versions.iter().map(|v| v.version).collect::<Vec<_>>(), [2, 1]);
    let sizes = pitboss_segments::sizes(&db, s.id, 10).await.unwrap();
    assert_eq!(sizes.iter().map(|p| p.members).collect::<Vec<_>>(), [2, 2, 1]);
    let of_de = pitboss_segments::segments_of(&db, de).await.unwrap();
    assert_eq!(of_de.len(), 1);
    assert_eq!(of_de[0].1, "DACH depositors");

    // Editing an old version is refused.
    let mut tx = db.begin().await.unwrap();
    let stale = SegmentPatch { description: Some("x".into()), expected_version: Some(1), ..Default::default() };
    let err = pitboss_segments::update(&mut tx, s.id, stale, "operator:mia", micros(now())).await.unwrap_err();
    assert!(matches!(err, SegmentError::StaleVersion { expected: 1, current: 2 }), "{err}");
});

both_engines!(a_bad_condition_is_refused_with_the_place_it_goes_wrong, |db| async move {
    let mut tx = db.begin().await.unwrap();
    let new =
        NewSegment { name: "broken".into(), condition: Some("deposits_sum(30d) >= 100".into()), ..Default::default() };
    let err = pitboss_segments::create(&mut tx, new, "operator:mia", micros(now())).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("cannot compare money with a number") && text.contains('^'), "{text}");
    let json_form = json!({"all": [{"is": {"field": "has_deposited"}}, {"compare": {"left": {"field": "contry"}, "op": "==", "right": {"text": "DE"}}}]});
    let new = NewSegment { name: "broken".into(), condition_json: Some(json_form), ..Default::default() };
    let err = pitboss_segments::create(&mut tx, new, "operator:mia", micros(now())).await.unwrap_err();
    assert!(err.to_string().contains("/all/1/compare/left"), "{err}");
    let new = NewSegment { name: " ".into(), condition: Some("has_deposited".into()), ..Default::default() };
    assert!(
        pitboss_segments::create(&mut tx, new, "operator:mia", micros(now()))
            .await
            .unwrap_err()
            .to_string()
            .contains("name")
    );
});

both_engines!(an_event_updates_only_its_players_and_a_broken_segment_stops_no_other, |db| async move {
    let a = player(&db, "p-a", "DE", 0).await;
    let b = player(&db, "p-b", "DE", 0).await;
    let depositors = create(&db, "depositors", "has_deposited").await;
    let broken = create(&db, "soon broken", "country == \"DE\"").await;
    // A condition edited by hand in the database (or checked by an older release) that no
    // longer checks.
    {
        let mut tx = db.begin().await.unwrap();
        exec!(&mut tx, "UPDATE segments SET condition_text = 'contry == 1' WHERE id = $1", broken.id).unwrap();
        tx.commit().await.unwrap();
    }
    // Both players deposit, but only `a`'s event is processed.
    for p in [a, b] {
        let mut tx = db.begin().await.unwrap();
        stats::record(&mut tx, p, Activity::DepositCompleted { amount: 1_000 }, now(), now()).await.unwrap();
        tx.commit().await.unwrap();
    }
    let mut tx = db.begin().await.unwrap();
    let (entered, exited, skipped) =
        pitboss_segments::refresh_players(&mut tx, &[a], micros(now()), &Rates::new()).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!((entered, exited), (1, 0));
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].0, broken.id);
    let members = pitboss_segments::members(&db, depositors.id, None, 10).await.unwrap();
    assert_eq!(members.iter().map(|m| m.0).collect::<Vec<_>>(), [a]);

    // The editor's live count sees both, without storing anything.
    let rule = pitboss_rules::from_text("has_deposited").unwrap();
    assert_eq!(pitboss_segments::member_count_preview(&db, &rule, micros(now()), &Rates::new()).await.unwrap(), 2);
    assert_eq!(pitboss_segments::get(&db, depositors.id).await.unwrap().member_count, 1);
});

both_engines!(the_event_path_updates_membership_once_per_message, |db| async move {
    use pitboss_bus::Handler;
    let p = player(&db, "p-1", "DE", 0).await;
    let s = create(&db, "depositors", "has_deposited").await;
    {
        let mut tx = db.begin().await.unwrap();
        stats::record(&mut tx, p, Activity::DepositCompleted { amount: 1_000 }, now(), now()).await.unwrap();
        tx.commit().await.unwrap();
    }
    let consumer = pitboss_segments::consumer::SegmentsConsumer::new(db.clone(), std::sync::Arc::new(Rates::new()));
    let message = pitboss_bus::Message {
        id: Uuid::now_v7(),
        topic: "payment.deposit.completed".into(),
        key: p.to_string(),
        payload: "{}".into(),
    };
    consumer.handle(&message).await.unwrap();
    // Delivered again (at least once): nothing more happens.
    consumer.handle(&message).await.unwrap();
    assert_eq!(pitboss_segments::members(&db, s.id, None, 10).await.unwrap().len(), 1);
    assert_eq!(messages(&db, "segment.entered").await.len(), 1);
    // Segments' own messages are not events about players.
    let own = pitboss_bus::Message {
        id: Uuid::now_v7(),
        topic: "segment.entered".into(),
        key: p.to_string(),
        payload: "{}".into(),
    };
    consumer.handle(&own).await.unwrap();
    assert_eq!(messages(&db, "segment.entered").await.len(), 1);
});

both_engines!(a_player_who_stops_playing_enters_inactive_on_day_fourteen_without_any_event, |db| async move {
    use pitboss_bus::timers;
    use pitboss_segments::live::{SegmentTimers, TIMER_KIND};
    let p = player(&db, "p-quiet", "DE", 0).await;
    let busy = player(&db, "p-busy", "DE", 0).await;
    let last_played = now() - Duration::days(3);
    for who in [p, busy] {
        let mut tx = db.begin().await.unwrap();
        stats::record(&mut tx, who, Activity::SessionStarted, last_played, last_played).await.unwrap();
        tx.commit().await.unwrap();
    }
    let inactive = create(&db, "inactive 14 days", "last_session < 14d ago").await;
    pitboss_segments::refresh(&db, inactive.id, micros(now()), &Rates::new()).await.unwrap();
    // Timers left from before: a wrong one, and one of a player who is gone.
    let gone = Uuid::from_u128(u128::MAX).to_string();
    let mut tx = db.begin().await.unwrap();
    timers::set(&mut tx, TIMER_KIND, &p.to_string(), 1, 1).await.unwrap();
    timers::set(&mut tx, TIMER_KIND, &gone, 1, 1).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(pitboss_segments::schedule_all(&db, micros(now()), &Rates::new(), 1).await.unwrap(), 2);
    assert_eq!(timers::due_at(&db, TIMER_KIND, &gone).await.unwrap(), None);
    let due = last_played + Duration::days(14);
    assert_eq!(timers::due_at(&db, TIMER_KIND, &p.to_string()).await.unwrap(), Some(micros(due) + 1));

    // `busy` plays again on day 10: its timer moves with the event.
    let day_10 = last_played + Duration::days(10);
    let mut tx = db.begin().await.unwrap();
    stats::record(&mut tx, busy, Activity::SessionStarted, day_10, day_10).await.unwrap();
    pitboss_segments::refresh_players(&mut tx, &[busy], micros(day_10), &Rates::new()).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        timers::due_at(&db, TIMER_KIND, &busy.to_string()).await.unwrap(),
        Some(micros(day_10 + Duration::days(14)) + 1)
    );

    let handler = SegmentTimers::new(std::sync::Arc::new(Rates::new()));
    let fire =
        async |at: DateTime<Utc>| timers::fire_due(&db, TIMER_KIND, handler.as_ref(), micros(at), 100).await.unwrap();
    assert_eq!(fire(due - Duration::minutes(1)).await, 0, "not a moment early");
    assert!(pitboss_segments::members(&db, inactive.id, None, 10).await.unwrap().is_empty());
    assert_eq!(fire(due + Duration::minutes(1)).await, 1);
    let members = pitboss_segments::members(&db, inactive.id, None, 10).await.unwrap();
    assert_eq!(members.iter().map(|m| m.0).collect::<Vec<_>>(), [p]);
    let entered = messages(&db, "segment.entered").await;
    assert_eq!(entered.len(), 1);
    assert_eq!(entered[0]["player_id"], json!(p));
    assert_eq!(pitboss_segments::get(&db, inactive.id).await.unwrap().member_count, 1);
    // The size history has the entry, at the hour it happened.
    let sizes = pitboss_segments::sizes(&db, inactive.id, 10).await.unwrap();
    let last = sizes.last().unwrap();
    assert_eq!(last.members, 1);
    assert!(last.at <= micros(due + Duration::minutes(1)) && last.at > micros(due - Duration::hours(1)));
    // Nothing more can change for `p` without an event: no timer is left.
    assert_eq!(timers::due_at(&db, TIMER_KIND, &p.to_string()).await.unwrap(), None);
});

both_engines!(segments_built_on_segments_follow_them_and_bad_references_are_refused, |db| async move {
    let p = player(&db, "p-whale", "DE", 0).await;
    let whales = create(&db, "whales", "deposits_sum() >= 100 EUR").await;
    let candidates = create(&db, "vip candidates", r#"segments contains "whales" and country == "DE""#).await;

    // One deposit: the player enters both, the one built on the other in the same update.
    let mut tx = db.begin().await.unwrap();
    stats::record(&mut tx, p, Activity::DepositCompleted { amount: 20_000 }, now(), now()).await.unwrap();
    let (entered, _, broken) =
        pitboss_segments::refresh_players(&mut tx, &[p], micros(now()), &Rates::new()).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!((entered, broken.len()), (2, 0));
    assert_eq!(pitboss_segments::members(&db, candidates.id, None, 10).await.unwrap().len(), 1);

    // A full refresh of the base segment carries on to the one built on it.
    let mut tx = db.begin().await.unwrap();
    exec!(&mut tx, "UPDATE player_stats SET deposit_sum = 0 WHERE player_id = $1", p).unwrap();
    tx.commit().await.unwrap();
    pitboss_segments::refresh(&db, whales.id, micros(now()), &Rates::new()).await.unwrap();
    assert!(pitboss_segments::members(&db, candidates.id, None, 10).await.unwrap().is_empty());

    let refused = |e: SegmentError| e.to_string();
    let mut tx = db.begin().await.unwrap();
    let new = NewSegment {
        name: "ghosts".into(),
        condition: Some(r#"country == "DE" and segments contains "nobody""#.into()),
        ..Default::default()
    };
    let e = refused(pitboss_segments::create(&mut tx, new, "t", micros(now())).await.unwrap_err());
    assert!(e.contains("there is no active segment named `nobody`"), "{e}");
    assert!(e.contains("^^^"), "points at the reference: {e}");
    drop(tx);

    let mut tx = db.begin().await.unwrap();
    let circle = SegmentPatch { condition: Some(r#"segments contains "vip candidates""#.into()), ..Default::default() };
    let e = refused(pitboss_segments::update(&mut tx, whales.id, circle, "t", micros(now())).await.unwrap_err());
    assert!(e.contains("circle"), "{e}");
    drop(tx);

    let mut tx = db.begin().await.unwrap();
    let own = SegmentPatch { condition: Some(r#"segments contains "whales""#.into()), ..Default::default() };
    let e = refused(pitboss_segments::update(&mut tx, whales.id, own, "t", micros(now())).await.unwrap_err());
    assert!(e.contains("built on itself"), "{e}");
    drop(tx);

    let mut tx = db.begin().await.unwrap();
    let archive = SegmentPatch { status: Some(pitboss_segments::SegmentStatus::Archived), ..Default::default() };
    let e = refused(pitboss_segments::update(&mut tx, whales.id, archive, "t", micros(now())).await.unwrap_err());
    assert!(e.contains("vip candidates"), "names the segment built on it: {e}");
});

both_engines!(a_refit_of_the_models_moves_the_segments_that_read_them, |db| async move {
    use pitboss_bus::Handler;
    let p = player(&db, "p-risky", "DE", 0).await;
    let other = player(&db, "p-safe", "DE", 0).await;
    let risky = create(&db, "churn risk high", r#"churn_risk == "high""#).await;
    let germans = create(&db, "germans", r#"country == "DE""#).await;
    // What a successful refit writes (crates/models), then its message.
    let fit = Uuid::now_v7();
    let mut tx = db.begin().await.unwrap();
    exec!(
        &mut tx,
        "INSERT INTO clv_fits (id, fitted_at, trigger, requested_by, status, currency, players, report_json) \
         VALUES ($1, $2, 'operator', 't', 'succeeded', 'EUR', 2, '{}')",
        fit,
        micros(now()),
    )
    .unwrap();
    for (who, band) in [(p, "high"), (other, "low")] {
        exec!(
            &mut tx,
            "INSERT INTO player_predictions (player_id, fit_id, p_active, active_percent, expected_30d, expected_90d, \
             predicted_value, churn_risk, scored_at) VALUES ($1, $2, 0.2, 20, 0.1, 0.3, 1500, $3, $4)",
            who,
            fit,
            band,
            micros(now()),
        )
        .unwrap();
    }
    tx.commit().await.unwrap();
    let consumer = pitboss_segments::consumer::SegmentsConsumer::new(db.clone(), std::sync::Arc::new(Rates::new()));
    let message = pitboss_bus::Message {
        id: Uuid::now_v7(),
        topic: pitboss_segments::consumer::MODEL_REFITTED.into(),
        key: fit.to_string(),
        payload: "{}".into(),
    };
    consumer.handle(&message).await.unwrap();
    let members = pitboss_segments::members(&db, risky.id, None, 10).await.unwrap();
    assert_eq!(members.iter().map(|m| m.0).collect::<Vec<_>>(), [p]);
    assert!(pitboss_segments::get(&db, risky.id).await.unwrap().evaluated_at.is_some());
    // A segment that does not read the models is not evaluated again.
    assert_eq!(pitboss_segments::get(&db, germans.id).await.unwrap().evaluated_at, None);
});
