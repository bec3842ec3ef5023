//! Finding a segment's members by external id, email or name, on both engines, page by page.

use chrono::{DateTime, Duration, Utc};
use pitboss_rules::Rates;
use pitboss_segments::NewSegment;
use pitboss_store::{Db, both_engines};
use serde_json::{Value, json};
use uuid::Uuid;

fn now() -> DateTime<Utc> {
    "2026-11-23T12:00:00Z".parse().unwrap()
}

async fn player(db: &Db, profile: Value) {
    let mut tx = db.begin().await.unwrap();
    let mut fields = json!({"country": "DE", "currency": "EUR"});
    fields.as_object_mut().unwrap().extend(profile.as_object().unwrap().clone());
    let new = serde_json::from_value(fields).unwrap();
    pitboss_players::create(&mut tx, new, now() - Duration::days(10)).await.unwrap();
    tx.commit().await.unwrap();
}

/// Players in and out of a segment of the German ones, with its members computed.
async fn segment(db: &Db) -> Uuid {
    for p in [
        json!({"external_id": "ext-1", "email": "Anna.Schmidt@Example.com", "first_name": "Anna", "last_name": "Schmidt"}),
        json!({"external_id": "ext-10", "email": "bert@example.com", "first_name": "Bert", "last_name": "Anders"}),
        json!({"external_id": "ext-2", "email": "carla@schmidt.example", "first_name": "Carla Maria", "last_name": "Ruiz"}),
        json!({"external_id": "EXT_3", "first_name": "Dana"}),
        json!({"external_id": "anna-99", "email": "zed@example.com"}),
        // Not a member: found by nothing.
        json!({"external_id": "ext-11", "email": "anna.other@example.com", "first_name": "Anna", "country": "AT"}),
    ] {
        player(db, p).await;
    }
    let mut tx = db.begin().await.unwrap();
    let new = NewSegment { name: "Germans".into(), condition: Some(r#"country == "DE""#.into()), ..Default::default() };
    let s = pitboss_segments::create(&mut tx, new, "operator:mia", now().timestamp_micros()).await.unwrap();
    tx.commit().await.unwrap();
    let report = pitboss_segments::refresh(db, s.id, now().timestamp_micros(), &Rates::new()).await.unwrap();
    assert_eq!(report.members, 5);
    s.id
}

/// The external ids of the members found, in page order.
async fn found(db: &Db, segment: Uuid, text: &str, by_personal_data: bool) -> Vec<String> {
    let rows = pitboss_segments::member_rows(db, segment, Some(text), by_personal_data, None, 100).await.unwrap();
    let mut ids: Vec<String> = rows.into_iter().map(|r| r.external_id).collect();
    ids.sort();
    ids
}

both_engines!(members_are_found_by_external_id_email_or_the_start_of_a_word_of_the_name, |db| async move {
    let s = segment(&db).await;
    // The start of the external id, as sent (the case matters there).
    assert_eq!(found(&db, s, "ext-1", true).await, ["ext-1", "ext-10"]);
    assert_eq!(found(&db, s, " ext-10 ", true).await, ["ext-10"]);
    assert_eq!(found(&db, s, "EXT_", true).await, ["EXT_3"]);
    // The email, whole or its start, in any case.
    assert_eq!(found(&db, s, "anna.schmidt@example.com", true).await, ["ext-1"]);
    assert_eq!(found(&db, s, "ANNA.SCH", true).await, ["ext-1"]);
    assert_eq!(found(&db, s, "bert@", true).await, ["ext-10"]);
    // The start of any word of the name, or of several words.
    assert_eq!(found(&db, s, "Schm", true).await, ["ext-1"], "a last name, not the email's domain");
    assert_eq!(found(&db, s, "maria", true).await, ["ext-2"]);
    assert_eq!(found(&db, s, "anna sch", true).await, ["ext-1"]);
    assert_eq!(found(&db, s, "nna", true).await, Vec::<String>::new(), "inside a word is no start");
    // One text can match different members by different fields.
    assert_eq!(found(&db, s, "anna", true).await, ["anna-99", "ext-1"]);
    assert_eq!(found(&db, s, "an", true).await, ["anna-99", "ext-1", "ext-10"]);
    // Wildcards are taken literally.
    for text in ["%", "_", "ext%", "a_na", "\\"] {
        assert_eq!(found(&db, s, text, true).await, Vec::<String>::new(), "{text:?}");
    }
    // Without personal data, only the external id counts.
    assert_eq!(found(&db, s, "anna", false).await, ["anna-99"]);
    assert_eq!(found(&db, s, "bert@example.com", false).await, Vec::<String>::new());
    assert_eq!(found(&db, s, "ext-1", false).await, ["ext-1", "ext-10"]);
    // Nothing to search for finds every member.
    let all = pitboss_segments::member_rows(&db, s, Some("  "), true, None, 100).await.unwrap();
    assert_eq!(all.len(), 5);
    let anna = all.iter().find(|r| r.external_id == "ext-1").unwrap();
    assert_eq!(anna.email.as_deref(), Some("anna.schmidt@example.com"));
    assert_eq!((anna.first_name.as_deref(), anna.last_name.as_deref()), (Some("Anna"), Some("Schmidt")));
    assert_eq!((anna.brand.as_str(), anna.vip_tier.as_str(), anna.country.as_str()), ("main", "none", "DE"));
});

both_engines!(a_search_goes_page_by_page_in_player_id_order, |db| async move {
    let s = segment(&db).await;
    let everyone = pitboss_segments::member_rows(&db, s, None, false, None, 100).await.unwrap();
    let matching: Vec<Uuid> = everyone
        .iter()
        .filter(|r| ["ext-1", "ext-10", "anna-99"].contains(&r.external_id.as_str()))
        .map(|r| r.player_id)
        .collect();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = pitboss_segments::member_rows(&db, s, Some("an"), true, after, 2).await.unwrap();
        assert!(page.len() <= 2);
        seen.extend(page.iter().map(|r| r.player_id));
        match page.last() {
            Some(last) if page.len() == 2 => after = Some(last.player_id),
            _ => break,
        }
    }
    assert_eq!(seen, matching, "every match once, in player id order");
    assert!(seen.windows(2).all(|w| w[0] < w[1]));
});
