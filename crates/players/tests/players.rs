//! The master player profile on both engines: creating, reading, changing and finding
//! players, and the activity aggregates beside the profile.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use pitboss_core::Currency;
use pitboss_players::{
    Activity, DEFAULT_BRAND, KycStatus, NewPlayer, Player, PlayerError, PlayerPatch, PlayerQuery, PlayerStatus, stats,
};
use pitboss_store::{Db, both_engines};
use uuid::Uuid;

/// A fixed instant at noon UTC, so that day windows never straddle midnight during a test.
fn noon() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-15T12:00:00Z").unwrap().with_timezone(&Utc)
}

fn new_player(external_id: &str) -> NewPlayer {
    NewPlayer::new(external_id, "DE", Currency::EUR)
}

fn anna() -> NewPlayer {
    NewPlayer {
        email: Some("Anna.Schmidt@Example.com".into()),
        phone: Some("+49 151 1234-5678".into()),
        first_name: Some("Anna".into()),
        last_name: Some("Schmidt".into()),
        birth_date: NaiveDate::from_ymd_opt(1990, 5, 17),
        language: Some("de".into()),
        traffic_source: Some("affiliate".into()),
        affiliate_id: Some("aff-7".into()),
        campaign: Some("spring".into()),
        tags: vec!["Newbie".into(), "slots".into()],
        ..new_player("ext-anna")
    }
}

/// Creates a player in its own transaction, committed only if it succeeds.
async fn create_at(db: &Db, new: NewPlayer, now: DateTime<Utc>) -> Result<Player, PlayerError> {
    let mut tx = db.begin().await.expect("begin");
    match pitboss_players::create(&mut tx, new, now).await {
        Ok(p) => {
            tx.commit().await.expect("commit");
            Ok(p)
        }
        Err(e) => {
            tx.rollback().await.expect("rollback");
            Err(e)
        }
    }
}

async fn create(db: &Db, new: NewPlayer) -> Result<Player, PlayerError> {
    create_at(db, new, noon()).await
}

async fn update(db: &Db, id: Uuid, patch: PlayerPatch) -> Result<Player, PlayerError> {
    let mut tx = db.begin().await.expect("begin");
    match pitboss_players::update(&mut tx, id, &patch, noon() + Duration::minutes(1)).await {
        Ok(p) => {
            tx.commit().await.expect("commit");
            Ok(p)
        }
        Err(e) => {
            tx.rollback().await.expect("rollback");
            Err(e)
        }
    }
}

/// The external ids a search finds, sorted.
async fn found(db: &Db, query: PlayerQuery) -> Vec<String> {
    let page = pitboss_players::search(db, &query).await.expect("search");
    let mut ids: Vec<String> = page.items.into_iter().map(|p| p.external_id).collect();
    ids.sort();
    ids
}

async fn found_by(db: &Db, q: &str) -> Vec<String> {
    found(db, PlayerQuery { q: Some(q.to_string()), ..Default::default() }).await
}

fn invalid_field(result: Result<Player, PlayerError>) -> &'static str {
    match result {
        Err(PlayerError::Invalid { field, .. }) => field,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

/// Every page of a search, `limit` at a time: the page sizes and the ids in the order found.
async fn all_pages(db: &Db, query: PlayerQuery, limit: u32) -> (Vec<usize>, Vec<Uuid>) {
    let (mut sizes, mut seen, mut after) = (Vec::new(), Vec::new(), None);
    loop {
        let page = pitboss_players::search(db, &PlayerQuery { limit: Some(limit), after, ..query.clone() })
            .await
            .expect("search");
        sizes.push(page.items.len());
        seen.extend(page.items.iter().map(|p| p.id));
        match page.next {
            Some(next) => {
                assert_eq!(Some(next), page.items.last().map(|p| p.id), "next is the last id of the page");
                after = Some(next);
            }
            None => break,
        }
        assert!(sizes.len() < 100, "pagination does not end");
    }
    (sizes, seen)
}

// ---- creating and reading ----

both_engines!(a_created_player_is_stored_normalised_and_read_back_by_id, |db| async move {
    let created = create(&db, anna()).await.unwrap();
    assert_eq!(created.external_id, "ext-anna");
    assert_eq!(created.email.as_deref(), Some("anna.schmidt@example.com"));
    assert_eq!(created.phone.as_deref(), Some("+4915112345678"));
    assert_eq!(created.country, "DE");
    assert_eq!(created.currency, Currency::EUR);
    assert_eq!(created.tags, vec!["newbie", "slots"]);
    assert_eq!(created.status, PlayerStatus::Active);
    assert_eq!(created.kyc_status, KycStatus::None);
    assert_eq!(created.vip_tier, "none");
    assert_eq!(created.version, 1);
    assert_eq!(created.registered_at, noon(), "registered_at defaults to now");

    let read = pitboss_players::get(&db, created.id).await.unwrap();
    assert_eq!(read, created);
});

both_engines!(an_unknown_player_id_is_not_found, |db| async move {
    let id = Uuid::now_v7();
    assert!(matches!(pitboss_players::get(&db, id).await, Err(PlayerError::NotFound(x)) if x == id));
    assert!(matches!(update(&db, id, PlayerPatch::default()).await, Err(PlayerError::NotFound(_))));
});

both_engines!(validation_errors_name_the_field_at_fault, |db| async move {
    let bad_email = NewPlayer { email: Some("anna@example".into()), ..new_player("p-1") };
    assert_eq!(invalid_field(create(&db, bad_email).await), "email");

    let not_e164 = NewPlayer { phone: Some("0151 12345678".into()), ..new_player("p-1") };
    assert_eq!(invalid_field(create(&db, not_e164).await), "phone");

    let not_alpha2 = NewPlayer { country: "DEU".into(), ..new_player("p-1") };
    assert_eq!(invalid_field(create(&db, not_alpha2).await), "country");

    let tomorrow = noon().date_naive().succ_opt().unwrap();
    let unborn = NewPlayer { birth_date: Some(tomorrow), ..new_player("p-1") };
    assert_eq!(invalid_field(create(&db, unborn).await), "birth_date");

    let blank_id = new_player("   ");
    assert_eq!(invalid_field(create(&db, blank_id).await), "external_id");

    // None of the refused profiles was stored.
    let all = pitboss_players::search(&db, &PlayerQuery::default()).await.unwrap();
    assert!(all.items.is_empty(), "{:?}", all.items);
});

both_engines!(a_second_player_with_the_same_external_id_is_refused, |db| async move {
    let first = create(&db, new_player("p-dup")).await.unwrap();
    let again = create(&db, NewPlayer { country: "GB".into(), ..new_player("p-dup") }).await;
    assert!(matches!(&again, Err(PlayerError::DuplicateExternalId(id)) if id == "p-dup"), "{again:?}");
    // Surrounding spaces do not make an external id new.
    let padded = create(&db, new_player("  p-dup ")).await;
    assert!(matches!(padded, Err(PlayerError::DuplicateExternalId(_))), "{padded:?}");
    // The first profile is untouched.
    assert_eq!(pitboss_players::get(&db, first.id).await.unwrap(), first);
});

both_engines!(a_player_has_the_brand_it_was_created_with_or_main, |db| async move {
    let plain = create(&db, new_player("p-plain")).await.unwrap();
    assert_eq!(plain.brand, DEFAULT_BRAND);
    assert_eq!(plain.brand, "main");
    let branded = create(&db, NewPlayer { brand: Some(" LuckyStar ".into()), ..new_player("p-lucky") }).await.unwrap();
    assert_eq!(branded.brand, "luckystar", "trimmed and lower-cased");
    assert_eq!(pitboss_players::get(&db, branded.id).await.unwrap(), branded);
    assert_eq!(pitboss_players::get(&db, plain.id).await.unwrap(), plain);

    // The brand travels in the events that announce the player, and back.
    assert_eq!(branded.as_registered().brand.as_deref(), Some("luckystar"));
    assert_eq!(branded.as_update().brand.as_deref(), Some("luckystar"));
    let again = NewPlayer::from_event("p-again", noon(), &branded.as_registered()).unwrap();
    assert_eq!(again.brand.as_deref(), Some("luckystar"));
});

both_engines!(an_invalid_brand_is_refused_naming_the_field, |db| async move {
    for bad in ["", "   ", "lucky star", "lucky:star", "main,luckystar", "glück", &"b".repeat(65)] {
        let refused = create(&db, NewPlayer { brand: Some(bad.to_string()), ..new_player("p-1") }).await;
        match refused {
            Err(PlayerError::Invalid { field: "brand", message }) => {
                assert!(message.contains("1-64 of a-z, 0-9, '_', '-'"), "{bad:?}: {message}")
            }
            other => panic!("{bad:?}: expected a brand error, got {other:?}"),
        }
    }
    assert!(pitboss_players::search(&db, &PlayerQuery::default()).await.unwrap().items.is_empty());

    let p = create(&db, new_player("p-2")).await.unwrap();
    let bad = PlayerPatch { brand: Some("no spaces".into()), first_name: Some("Eve".into()), ..Default::default() };
    let err = update(&db, p.id, bad).await.unwrap_err();
    assert_eq!(err.to_string(), "brand: 'no spaces' must be 1-64 of a-z, 0-9, '_', '-'");
    assert_eq!(pitboss_players::get(&db, p.id).await.unwrap(), p);
});

// ---- changing ----

both_engines!(a_brand_patch_moves_the_player_to_another_brand, |db| async move {
    let before = create(&db, anna()).await.unwrap();
    assert_eq!(before.brand, "main");
    let after =
        update(&db, before.id, PlayerPatch { brand: Some("NordLys".into()), ..Default::default() }).await.unwrap();
    assert_eq!(after.brand, "nordlys");
    assert_eq!(after.version, before.version + 1);
    assert_eq!(
        Player { brand: before.brand.clone(), version: before.version, updated_at: before.updated_at, ..after.clone() },
        before
    );
    assert_eq!(pitboss_players::get(&db, before.id).await.unwrap(), after);

    // The same brand, written differently, is no change.
    let same =
        update(&db, before.id, PlayerPatch { brand: Some(" NORDLYS".into()), ..Default::default() }).await.unwrap();
    assert_eq!(same, after);

    // So is a patch without a brand: the brand stays.
    let renamed =
        update(&db, before.id, PlayerPatch { first_name: Some("Anne".into()), ..Default::default() }).await.unwrap();
    assert_eq!(renamed.brand, "nordlys");
});

both_engines!(a_patch_changes_only_the_fields_it_names_and_bumps_the_version, |db| async move {
    let before = create(&db, anna()).await.unwrap();
    let patch = PlayerPatch {
        last_name: Some("Müller".into()),
        status: Some(PlayerStatus::Blocked),
        kyc_status: Some(KycStatus::Verified),
        vip_tier: Some("Gold".into()),
        ..Default::default()
    };
    let after = update(&db, before.id, patch).await.unwrap();
    assert_eq!(after.last_name.as_deref(), Some("Müller"));
    assert_eq!(after.status, PlayerStatus::Blocked);
    assert_eq!(after.kyc_status, KycStatus::Verified);
    assert_eq!(after.vip_tier, "gold");
    assert_eq!(after.version, before.version + 1);
    assert!(after.updated_at > before.updated_at);

    // Everything not named in the patch is as it was.
    let untouched = Player {
        last_name: before.last_name.clone(),
        status: before.status,
        kyc_status: before.kyc_status,
        vip_tier: before.vip_tier.clone(),
        updated_at: before.updated_at,
        version: before.version,
        ..after.clone()
    };
    assert_eq!(untouched, before);
    assert_eq!(pitboss_players::get(&db, before.id).await.unwrap(), after);
});

both_engines!(a_tag_patch_replaces_the_whole_tag_set, |db| async move {
    let p = create(&db, anna()).await.unwrap();
    assert_eq!(p.tags, vec!["newbie", "slots"]);
    let p = update(&db, p.id, PlayerPatch { tags: Some(vec!["VIP".into(), "live".into()]), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(p.tags, vec!["live", "vip"]);
    assert_eq!(p.version, 2);
    assert_eq!(pitboss_players::get(&db, p.id).await.unwrap().tags, vec!["live", "vip"]);

    let p = update(&db, p.id, PlayerPatch { tags: Some(vec![]), ..Default::default() }).await.unwrap();
    assert!(p.tags.is_empty());
    assert_eq!(p.version, 3);
    assert!(found(&db, PlayerQuery { tag: Some("vip".into()), ..Default::default() }).await.is_empty());
});

both_engines!(a_stale_expected_version_is_a_conflict_and_changes_nothing, |db| async move {
    let v1 = create(&db, anna()).await.unwrap();
    let v2 = update(
        &db,
        v1.id,
        PlayerPatch { first_name: Some("Anne".into()), expected_version: Some(1), ..Default::default() },
    )
    .await
    .unwrap();
    assert_eq!(v2.version, 2);

    let stale = PlayerPatch { first_name: Some("Annika".into()), expected_version: Some(1), ..Default::default() };
    match update(&db, v1.id, stale).await {
        Err(PlayerError::VersionConflict { expected: 1, current: 2 }) => {}
        other => panic!("expected a version conflict, got {other:?}"),
    }
    assert_eq!(pitboss_players::get(&db, v1.id).await.unwrap(), v2);
});

both_engines!(a_patch_that_changes_nothing_keeps_the_version, |db| async move {
    let p = create(&db, anna()).await.unwrap();
    let same = update(&db, p.id, PlayerPatch::default()).await.unwrap();
    assert_eq!(same, p);
    // Values equal to the stored ones once normalised are no change either.
    let restated = PlayerPatch {
        email: Some("ANNA.SCHMIDT@example.com".into()),
        phone: Some("+49 (151) 12345678".into()),
        country: Some("de".into()),
        tags: Some(vec!["slots".into(), "newbie".into()]),
        expected_version: Some(1),
        ..Default::default()
    };
    let same = update(&db, p.id, restated).await.unwrap();
    assert_eq!(same, p);
    assert_eq!(pitboss_players::get(&db, p.id).await.unwrap().version, 1);
});

both_engines!(an_invalid_patch_is_refused_by_field_and_changes_nothing, |db| async move {
    let p = create(&db, anna()).await.unwrap();
    let bad = PlayerPatch { first_name: Some("Eve".into()), email: Some("not-an-email".into()), ..Default::default() };
    assert_eq!(invalid_field(update(&db, p.id, bad).await), "email");
    let bad = PlayerPatch { country: Some("Germany".into()), ..Default::default() };
    assert_eq!(invalid_field(update(&db, p.id, bad).await), "country");
    assert_eq!(pitboss_players::get(&db, p.id).await.unwrap(), p);
});

// ---- finding ----

both_engines!(a_player_is_found_by_id_external_id_email_phone_or_name_prefix, |db| async move {
    let a = create(&db, anna()).await.unwrap();
    let _b = create(
        &db,
        NewPlayer {
            email: Some("bob@example.com".into()),
            phone: Some("+447700900123".into()),
            first_name: Some("Bob".into()),
            last_name: Some("Annandale".into()),
            ..new_player("ext-bob")
        },
    )
    .await
    .unwrap();
    let anna = vec!["ext-anna".to_string()];

    assert_eq!(found_by(&db, &a.id.to_string()).await, anna, "by id");
    assert_eq!(found_by(&db, "ext-anna").await, anna, "by external id");
    assert_eq!(found_by(&db, "anna.schmidt@example.com").await, anna, "by email");
    assert_eq!(found_by(&db, " ANNA.Schmidt@EXAMPLE.com ").await, anna, "by email, any case");
    for phone in ["+4915112345678", "+49 151 12345678", "+49 (151) 1234-5678", "+49.151.1234.5678"] {
        assert_eq!(found_by(&db, phone).await, anna, "by phone written as {phone}");
    }
    assert_eq!(found_by(&db, "Ann").await, vec!["ext-anna", "ext-bob"], "by the start of any word of the name");
    assert_eq!(found_by(&db, "annA S").await, anna, "by the start of the first name and more");
    assert_eq!(found_by(&db, "anna schm").await, anna, "by the start of the full name");
    assert_eq!(found_by(&db, "ANNA SCHMIDT").await, anna, "by the full name, any case");
    assert_eq!(found_by(&db, "bo").await, vec!["ext-bob".to_string()]);

    assert!(found_by(&db, "nobody@example.com").await.is_empty());
    assert!(found_by(&db, "+4915100000000").await.is_empty());
    assert!(found_by(&db, &Uuid::now_v7().to_string()).await.is_empty());
    assert!(found_by(&db, "schmidt anna").await.is_empty(), "only the start of the name matches");
});

both_engines!(a_numeric_external_id_is_found_although_it_could_be_a_phone_number, |db| async move {
    create(&db, new_player("12345678")).await.unwrap();
    create(&db, new_player("+4930123456")).await.unwrap();
    assert_eq!(found_by(&db, "12345678").await, vec!["12345678"]);
    assert_eq!(found_by(&db, "+4930123456").await, vec!["+4930123456"]);
});

both_engines!(wildcards_in_the_search_text_are_taken_literally, |db| async move {
    create(&db, NewPlayer { first_name: Some("Anna".into()), ..new_player("p-anna") }).await.unwrap();
    create(&db, NewPlayer { first_name: Some("An_dre".into()), ..new_player("p-andre") }).await.unwrap();
    assert_eq!(found_by(&db, "an_").await, vec!["p-andre"]);
    assert!(found_by(&db, "%").await.is_empty());
    assert!(found_by(&db, "a%a").await.is_empty());
});

both_engines!(a_player_is_found_by_the_start_of_the_last_name, |db| async move {
    create(&db, anna()).await.unwrap();
    assert_eq!(found_by(&db, "Schmi").await, vec!["ext-anna"]);
});

both_engines!(a_player_whose_external_id_is_a_uuid_is_found_by_it, |db| async move {
    // Many casino platforms key their players by UUID.
    let external = "0b6c2f9e-3f2a-4d6e-9a41-7c1d2e3f4a5b";
    create(&db, new_player(external)).await.unwrap();
    assert_eq!(found_by(&db, external).await, vec![external]);
});

both_engines!(every_filter_narrows_the_search, |db| async move {
    let now = noon();
    create(
        &db,
        NewPlayer {
            traffic_source: Some("affiliate".into()),
            affiliate_id: Some("aff-1".into()),
            tags: vec!["vip".into()],
            registered_at: Some(now - Duration::days(10)),
            ..new_player("a-de-eur")
        },
    )
    .await
    .unwrap();
    let b = create(
        &db,
        NewPlayer {
            country: "GB".into(),
            currency: "GBP".parse().unwrap(),
            traffic_source: Some("organic".into()),
            tags: vec!["newbie".into()],
            registered_at: Some(now - Duration::days(40)),
            ..new_player("b-gb-gbp")
        },
    )
    .await
    .unwrap();
    create(
        &db,
        NewPlayer {
            traffic_source: Some("paid_search".into()),
            affiliate_id: Some("aff-2".into()),
            tags: vec!["newbie".into(), "vip".into()],
            registered_at: Some(now - Duration::days(1)),
            ..new_player("c-de-eur")
        },
    )
    .await
    .unwrap();
    update(
        &db,
        b.id,
        PlayerPatch {
            status: Some(PlayerStatus::SelfExcluded),
            kyc_status: Some(KycStatus::Verified),
            vip_tier: Some("gold".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();

    let q = PlayerQuery::default;
    let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(found(&db, q()).await, ids(&["a-de-eur", "b-gb-gbp", "c-de-eur"]));
    assert_eq!(found(&db, PlayerQuery { country: Some("gb".into()), ..q() }).await, ids(&["b-gb-gbp"]));
    assert_eq!(found(&db, PlayerQuery { country: Some("DE".into()), ..q() }).await, ids(&["a-de-eur", "c-de-eur"]));
    assert_eq!(found(&db, PlayerQuery { status: Some(PlayerStatus::SelfExcluded), ..q() }).await, ids(&["b-gb-gbp"]));
    assert_eq!(
        found(&db, PlayerQuery { status: Some(PlayerStatus::Active), ..q() }).await,
        ids(&["a-de-eur", "c-de-eur"])
    );
    assert!(found(&db, PlayerQuery { status: Some(PlayerStatus::Closed), ..q() }).await.is_empty());
    assert_eq!(found(&db, PlayerQuery { kyc_status: Some(KycStatus::Verified), ..q() }).await, ids(&["b-gb-gbp"]));
    assert_eq!(
        found(&db, PlayerQuery { kyc_status: Some(KycStatus::None), ..q() }).await,
        ids(&["a-de-eur", "c-de-eur"])
    );
    assert_eq!(found(&db, PlayerQuery { vip_tier: Some("GOLD".into()), ..q() }).await, ids(&["b-gb-gbp"]));
    assert_eq!(found(&db, PlayerQuery { vip_tier: Some("none".into()), ..q() }).await, ids(&["a-de-eur", "c-de-eur"]));
    assert_eq!(found(&db, PlayerQuery { traffic_source: Some("organic".into()), ..q() }).await, ids(&["b-gb-gbp"]));
    assert_eq!(found(&db, PlayerQuery { traffic_source: Some("paid_search".into()), ..q() }).await, ids(&["c-de-eur"]));
    assert_eq!(found(&db, PlayerQuery { affiliate_id: Some("aff-1".into()), ..q() }).await, ids(&["a-de-eur"]));
    assert!(found(&db, PlayerQuery { affiliate_id: Some("aff-9".into()), ..q() }).await.is_empty());
    assert_eq!(found(&db, PlayerQuery { tag: Some("VIP".into()), ..q() }).await, ids(&["a-de-eur", "c-de-eur"]));
    assert_eq!(found(&db, PlayerQuery { tag: Some("newbie".into()), ..q() }).await, ids(&["b-gb-gbp", "c-de-eur"]));
    assert_eq!(found(&db, PlayerQuery { currency: Some("gbp".into()), ..q() }).await, ids(&["b-gb-gbp"]));
    assert_eq!(found(&db, PlayerQuery { currency: Some("EUR".into()), ..q() }).await, ids(&["a-de-eur", "c-de-eur"]));
    assert_eq!(
        found(&db, PlayerQuery { registered_from: Some(now - Duration::days(20)), ..q() }).await,
        ids(&["a-de-eur", "c-de-eur"])
    );
    assert_eq!(
        found(&db, PlayerQuery { registered_to: Some(now - Duration::days(5)), ..q() }).await,
        ids(&["a-de-eur", "b-gb-gbp"])
    );
    assert_eq!(
        found(
            &db,
            PlayerQuery {
                registered_from: Some(now - Duration::days(20)),
                registered_to: Some(now - Duration::days(5)),
                ..q()
            }
        )
        .await,
        ids(&["a-de-eur"])
    );
    // registered_from is inclusive, registered_to exclusive.
    let exact = now - Duration::days(10);
    assert_eq!(
        found(&db, PlayerQuery { registered_from: Some(exact), registered_to: Some(exact), ..q() }).await,
        ids(&[])
    );
    assert_eq!(
        found(
            &db,
            PlayerQuery { registered_from: Some(exact), registered_to: Some(exact + Duration::microseconds(1)), ..q() }
        )
        .await,
        ids(&["a-de-eur"])
    );
    // Filters combine: every one given must hold.
    assert_eq!(
        found(&db, PlayerQuery { country: Some("DE".into()), tag: Some("newbie".into()), ..q() }).await,
        ids(&["c-de-eur"])
    );
    assert_eq!(
        found(&db, PlayerQuery { q: Some("c-de-eur".into()), tag: Some("newbie".into()), ..q() }).await,
        ids(&["c-de-eur"])
    );
    assert!(found(&db, PlayerQuery { q: Some("a-de-eur".into()), tag: Some("newbie".into()), ..q() }).await.is_empty());
});

both_engines!(
    pages_of_ten_over_twenty_five_players_are_10_10_5_newest_first_without_gaps_or_overlap,
    |db| async move {
        let mut created = Vec::new();
        for i in 0..25 {
            created.push(create(&db, new_player(&format!("p-{i:02}"))).await.unwrap().id);
        }
        let mut sizes = Vec::new();
        let mut seen: Vec<Uuid> = Vec::new();
        let mut after = None;
        loop {
            let page = pitboss_players::search(&db, &PlayerQuery { limit: Some(10), after, ..Default::default() })
                .await
                .unwrap();
            sizes.push(page.items.len());
            seen.extend(page.items.iter().map(|p| p.id));
            match page.next {
                Some(next) => {
                    assert_eq!(Some(next), page.items.last().map(|p| p.id), "next is the last id of the page");
                    after = Some(next);
                }
                None => break,
            }
            assert!(sizes.len() < 10, "pagination does not end");
        }
        assert_eq!(sizes, vec![10, 10, 5]);
        let distinct: BTreeSet<Uuid> = seen.iter().copied().collect();
        assert_eq!(distinct.len(), 25, "no player appears twice");
        assert_eq!(distinct, created.iter().copied().collect::<BTreeSet<_>>(), "no player is left out");
        let newest_first: Vec<Uuid> = created.iter().rev().copied().collect();
        assert_eq!(seen, newest_first);

        // A page that ends exactly at the last player has no next cursor.
        let page = pitboss_players::search(&db, &PlayerQuery { limit: Some(25), ..Default::default() }).await.unwrap();
        assert_eq!((page.items.len(), page.next), (25, None));
    }
);

both_engines!(a_search_by_brand_or_by_a_set_of_brands_pages_newest_first, |db| async move {
    // 30 players over three brands of uneven size: main 18, luckystar 6, nordlys 6; every
    // third one British.
    let mut by_brand: std::collections::BTreeMap<&str, Vec<Uuid>> = Default::default();
    let mut british = BTreeSet::new();
    for i in 0..30 {
        let brand = match i % 5 {
            0..=2 => "main",
            3 => "luckystar",
            _ => "nordlys",
        };
        let country = if i % 3 == 0 { "GB" } else { "DE" };
        let new = NewPlayer {
            brand: (brand != "main" || i % 2 == 0).then(|| brand.to_string()),
            country: country.into(),
            ..new_player(&format!("p-{i:02}"))
        };
        let p = create(&db, new).await.unwrap();
        assert_eq!(p.brand, brand);
        if p.country == "GB" {
            british.insert(p.id);
        }
        by_brand.entry(brand).or_default().push(p.id);
    }
    let newest_first = |brands: &[&str]| {
        let mut ids: Vec<Uuid> = brands.iter().flat_map(|b| by_brand[b].clone()).collect();
        ids.sort_by(|a, b| b.cmp(a));
        ids
    };
    let q = PlayerQuery::default;
    let brand = |b: &str| PlayerQuery { brand: Some(b.to_string()), ..q() };
    let within = |bs: &[&str]| PlayerQuery { brands: Some(bs.iter().map(|b| b.to_string()).collect()), ..q() };

    // One brand.
    let (sizes, seen) = all_pages(&db, brand("luckystar"), 4).await;
    assert_eq!((sizes, seen), (vec![4, 2], newest_first(&["luckystar"])));
    let (sizes, seen) = all_pages(&db, brand("main"), 5).await;
    assert_eq!((sizes, seen), (vec![5, 5, 5, 3], newest_first(&["main"])));
    assert_eq!(all_pages(&db, brand(" LuckyStar "), 50).await.1, newest_first(&["luckystar"]));
    assert!(all_pages(&db, brand("elsewhere"), 50).await.1.is_empty());

    // Several brands, as a comma list: any of them, merged newest first, without gaps or overlap.
    let two = newest_first(&["luckystar", "nordlys"]);
    let (sizes, seen) = all_pages(&db, brand("luckystar,nordlys"), 5).await;
    assert_eq!((sizes, seen), (vec![5, 5, 2], two.clone()));
    assert_eq!(all_pages(&db, brand("NordLys, luckystar,,nordlys"), 3).await.1, two);
    let (sizes, seen) = all_pages(&db, brand("main,luckystar,nordlys"), 7).await;
    assert_eq!((sizes, seen), (vec![7, 7, 7, 7, 2], newest_first(&["main", "luckystar", "nordlys"])));
    // A page that ends exactly at the last player has no next cursor.
    assert_eq!(all_pages(&db, brand("luckystar,nordlys"), 12).await.0, vec![12]);

    // Confined to a set of brands (what the server does for a support agent).
    let (sizes, seen) = all_pages(&db, within(&["main", "nordlys"]), 10).await;
    assert_eq!((sizes, seen), (vec![10, 10, 4], newest_first(&["main", "nordlys"])));
    assert_eq!(all_pages(&db, within(&["nordlys"]), 4).await.1, newest_first(&["nordlys"]));
    // Asking for brands beyond the confinement finds only those inside it.
    assert_eq!(
        all_pages(&db, PlayerQuery { brand: Some("luckystar,nordlys".into()), ..within(&["nordlys", "main"]) }, 4)
            .await
            .1,
        newest_first(&["nordlys"])
    );
    assert!(all_pages(&db, PlayerQuery { brand: Some("luckystar".into()), ..within(&["main"]) }, 4).await.1.is_empty());
    // Confined to no brand: nobody.
    assert_eq!(all_pages(&db, within(&[]), 10).await, (vec![0], vec![]));
    // Many brands (more than are walked one by one) still page correctly.
    let mut many: Vec<String> = (0..40).map(|i| format!("brand-{i}")).collect();
    many.push("luckystar".into());
    many.push("main".into());
    let (sizes, seen) = all_pages(&db, PlayerQuery { brands: Some(many.clone()), ..q() }, 10).await;
    assert_eq!((sizes, seen), (vec![10, 10, 4], newest_first(&["main", "luckystar"])));
    let (_, seen) = all_pages(&db, brand(&many.join(",")), 10).await;
    assert_eq!(seen, newest_first(&["main", "luckystar"]));

    // The other filters hold for every brand.
    let mut expected: Vec<Uuid> = two.clone();
    expected.retain(|id| british.contains(id));
    assert_eq!(expected.len(), 4);
    let gb = PlayerQuery { country: Some("GB".into()), ..brand("luckystar,nordlys") };
    assert_eq!(all_pages(&db, gb.clone(), 3).await, (vec![3, 1], expected.clone()));
    assert_eq!(
        all_pages(&db, PlayerQuery { country: Some("GB".into()), ..within(&["luckystar", "nordlys"]) }, 3).await.1,
        expected
    );

    // An empty brand filter filters nothing; a malformed one is refused by name.
    assert_eq!(all_pages(&db, brand(""), 50).await.1.len(), 30);
    for bad in ["lucky star", "main,a:b"] {
        match pitboss_players::search(&db, &brand(bad)).await {
            Err(PlayerError::Invalid { field: "brand", .. }) => {}
            other => panic!("{bad:?}: expected a brand error, got {other:?}"),
        }
    }
    let too_many = (0..51).map(|i| format!("b{i}")).collect::<Vec<_>>().join(",");
    assert!(matches!(
        pitboss_players::search(&db, &brand(&too_many)).await,
        Err(PlayerError::Invalid { field: "brand", .. })
    ));
});

both_engines!(a_page_size_out_of_range_is_refused, |db| async move {
    create(&db, new_player("p-1")).await.unwrap();
    for limit in [0, 501, u32::MAX] {
        match pitboss_players::search(&db, &PlayerQuery { limit: Some(limit), ..Default::default() }).await {
            Err(PlayerError::Invalid { field: "limit", .. }) => {}
            other => panic!("limit {limit}: expected a validation error, got {other:?}"),
        }
    }
    for limit in [1, 500] {
        let page =
            pitboss_players::search(&db, &PlayerQuery { limit: Some(limit), ..Default::default() }).await.unwrap();
        assert_eq!(page.items.len(), 1);
    }
});

// ---- activity aggregates ----

async fn record(db: &Db, player: Uuid, activities: &[(Activity, DateTime<Utc>)]) {
    let mut tx = db.begin().await.unwrap();
    for (activity, at) in activities {
        stats::record(&mut tx, player, activity.clone(), *at, noon()).await.unwrap();
    }
    tx.commit().await.unwrap();
}

both_engines!(a_new_player_has_empty_aggregates_and_an_unknown_one_none, |db| async move {
    let p = create(&db, new_player("p-1")).await.unwrap();
    let s = stats::get(&db, p.id, noon()).await.unwrap();
    assert_eq!(s.player_id, p.id);
    assert_eq!((s.sessions_count, s.deposit_count, s.deposit_sum, s.rounds_count), (0, 0, 0, 0));
    assert_eq!((s.first_deposit_at, s.last_deposit_at, s.last_activity_at), (None, None, None));
    assert_eq!(s.last_90_days, Default::default());
    assert!(matches!(stats::get(&db, Uuid::now_v7(), noon()).await, Err(PlayerError::NotFound(_))));
});

both_engines!(trailing_windows_count_only_the_days_inside_them, |db| async move {
    let now = noon();
    let p = create(&db, new_player("p-1")).await.unwrap();
    let days = |n: i64| now - Duration::days(n);
    record(
        &db,
        p.id,
        &[
            (Activity::SessionStarted, days(0)),
            (Activity::DepositCompleted { amount: 1_000 }, days(2)),
            (Activity::Round { stake: 300, win: 100, category: "slots".into() }, days(1)),
            (Activity::WithdrawalCompleted { amount: 500 }, days(3)),
            // The 7-day window is today and the six days before it.
            (Activity::DepositCompleted { amount: 10 }, days(6)),
            (Activity::DepositCompleted { amount: 20 }, days(7)),
            (Activity::DepositCompleted { amount: 2_000 }, days(20)),
            (Activity::SessionStarted, days(29)),
            (Activity::SessionStarted, days(30)),
            // 40 days ago: only in the 90-day window.
            (Activity::DepositCompleted { amount: 4_000 }, days(40)),
            (Activity::Round { stake: 700, win: 0, category: "slots".into() }, days(40)),
            (Activity::WithdrawalCompleted { amount: 50 }, days(89)),
            // Older than 90 days: lifetime only.
            (Activity::DepositCompleted { amount: 8_000 }, days(90)),
            (Activity::BonusGranted { amount: 250 }, days(1)),
            (Activity::BonusConverted { amount: 100 }, days(1)),
        ],
    )
    .await;
    let s = stats::get(&db, p.id, now).await.unwrap();

    assert_eq!((s.last_7_days.deposit_count, s.last_7_days.deposit_sum), (2, 1_010));
    assert_eq!((s.last_7_days.withdrawal_count, s.last_7_days.withdrawal_sum), (1, 500));
    assert_eq!((s.last_7_days.stake_sum, s.last_7_days.win_sum, s.last_7_days.ggr), (300, 100, 200));
    assert_eq!(s.last_7_days.sessions_count, 1);

    assert_eq!((s.last_30_days.deposit_count, s.last_30_days.deposit_sum), (4, 3_030));
    assert_eq!(s.last_30_days.sessions_count, 2);
    assert_eq!(s.last_30_days.ggr, 200);

    assert_eq!((s.last_90_days.deposit_count, s.last_90_days.deposit_sum), (5, 7_030));
    assert_eq!((s.last_90_days.withdrawal_count, s.last_90_days.withdrawal_sum), (2, 550));
    assert_eq!((s.last_90_days.stake_sum, s.last_90_days.ggr), (1_000, 900));
    assert_eq!(s.last_90_days.sessions_count, 3);

    assert_eq!((s.deposit_count, s.deposit_sum), (6, 15_030));
    assert_eq!((s.withdrawal_count, s.withdrawal_sum), (2, 550));
    assert_eq!((s.rounds_count, s.stake_sum, s.win_sum, s.ggr), (2, 1_000, 100, 900));
    assert_eq!(s.sessions_count, 3);
    assert_eq!((s.bonus_granted_sum, s.bonus_converted_sum), (250, 100));

    // The same figures seen a week later: the windows move with "now".
    let later = stats::get(&db, p.id, now + Duration::days(7)).await.unwrap();
    assert_eq!(later.last_7_days, Default::default());
    assert_eq!(later.deposit_sum, s.deposit_sum);
});

both_engines!(first_and_last_times_are_right_whatever_order_activities_arrive_in, |db| async move {
    let now = noon();
    let p = create(&db, new_player("p-1")).await.unwrap();
    let (early, middle, late) = (now - Duration::days(40), now - Duration::days(20), now - Duration::hours(3));
    record(
        &db,
        p.id,
        &[
            (Activity::DepositCompleted { amount: 100 }, middle),
            (Activity::DepositCompleted { amount: 100 }, late),
            (Activity::DepositCompleted { amount: 100 }, early),
            (Activity::SessionStarted, late),
            (Activity::SessionStarted, early),
            (Activity::WithdrawalCompleted { amount: 50 }, middle),
            (Activity::WithdrawalCompleted { amount: 50 }, early),
        ],
    )
    .await;
    let s = stats::get(&db, p.id, now).await.unwrap();
    assert_eq!(s.first_deposit_at, Some(early));
    assert_eq!(s.last_deposit_at, Some(late));
    assert_eq!(s.last_session_at, Some(late));
    assert_eq!(s.last_withdrawal_at, Some(middle));
    assert_eq!(s.last_activity_at, Some(late));

    // Activity that is not a deposit leaves the deposit times alone.
    record(
        &db,
        p.id,
        &[(Activity::Round { stake: 10, win: 0, category: "slots".into() }, now), (Activity::SessionStarted, now)],
    )
    .await;
    let s = stats::get(&db, p.id, now).await.unwrap();
    assert_eq!((s.first_deposit_at, s.last_deposit_at), (Some(early), Some(late)));
    assert_eq!((s.last_session_at, s.last_activity_at), (Some(now), Some(now)));
});

both_engines!(aggregates_are_kept_per_player, |db| async move {
    let a = create(&db, new_player("p-a")).await.unwrap();
    let b = create(&db, new_player("p-b")).await.unwrap();
    record(&db, a.id, &[(Activity::DepositCompleted { amount: 700 }, noon())]).await;
    let sb = stats::get(&db, b.id, noon()).await.unwrap();
    assert_eq!((sb.deposit_count, sb.last_7_days.deposit_sum), (0, 0));
    let sa = stats::get(&db, a.id, noon()).await.unwrap();
    assert_eq!((sa.deposit_count, sa.last_7_days.deposit_sum), (1, 700));
});
