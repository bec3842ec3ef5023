//! The segments API on both engines: create with the live count, a bad condition answered
//! with where it goes wrong, members and a player's segments, versions and refreshes.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use pitboss_auth::{api_key, audit};
use pitboss_bus::in_process::InProcess;
use pitboss_ingest::Ingestor;
use pitboss_store::{Db, both_engines};
use pitboss_web::{AppState, Target};
use serde_json::{Value, json};
use tower::ServiceExt;

async fn app(db: &Db) -> (Router, String) {
    let state = AppState::new(
        db.clone(),
        Ingestor::new(db.clone()),
        Arc::new(InProcess::new()),
        Target::parse_list("all").unwrap(),
    );
    let (_, key) = api_key::create(db, "crm", "admin".parse().unwrap(), "system").await.unwrap();
    (pitboss_web::app(state), key)
}

async fn call(app: &Router, key: &str, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let req = Request::builder().method(method).uri(path).header(header::AUTHORIZATION, format!("Bearer {key}"));
    let req = match body {
        Some(b) => req.header(header::CONTENT_TYPE, "application/json").body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    }
    .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

both_engines!(segments_are_created_previewed_and_listed_with_their_members, |db| async move {
    let (app, key) = app(&db).await;
    let mut ids = Vec::new();
    for (external, country) in [("p-1", "DE"), ("p-2", "AT"), ("p-3", "SE")] {
        let body = json!({"external_id": external, "country": country, "currency": "EUR"});
        let (status, player) = call(&app, &key, Method::POST, "/api/v1/players", Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{player}");
        ids.push(player["id"].as_str().unwrap().to_string());
    }
    let condition = r#"country in ["DE", "AT"]"#;
    let (status, preview) =
        call(&app, &key, Method::POST, "/api/v1/segments/preview", Some(json!({"condition": condition}))).await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(preview["count"], 2);
    assert_eq!(preview["condition_json"]["in"]["left"], json!({"field": "country"}));

    let (status, bad) =
        call(&app, &key, Method::POST, "/api/v1/segments/preview", Some(json!({"condition": "contry == \"DE\""})))
            .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad["detail"].as_str().unwrap().contains("did you mean `country`"), "{bad}");
    assert_eq!(bad["field"], "condition");
    let json_form = json!({"any": [{"is": {"field": "has_deposited"}}, {"compare": {"left": {"field": "age"}, "op": ">=", "right": {"text": "18"}}}]});
    let (status, bad) =
        call(&app, &key, Method::POST, "/api/v1/segments/preview", Some(json!({"condition_json": json_form}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    assert_eq!(bad["field"], "/any/1", "{bad}");

    let (status, segment) =
        call(&app, &key, Method::POST, "/api/v1/segments", Some(json!({"name": "DACH", "condition": condition}))).await;
    assert_eq!(status, StatusCode::CREATED, "{segment}");
    assert_eq!(segment["member_count"], 2);
    let id = segment["id"].as_str().unwrap().to_string();
    let (_, page) = call(&app, &key, Method::GET, &format!("/api/v1/segments/{id}/members"), None).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let (_, of_player) = call(&app, &key, Method::GET, &format!("/api/v1/players/{}/segments", ids[0]), None).await;
    assert_eq!(of_player[0]["segment"], "DACH");
    let (_, of_other) = call(&app, &key, Method::GET, &format!("/api/v1/players/{}/segments", ids[2]), None).await;
    assert_eq!(of_other, json!([]));
    // Why one player is in and another not: the condition node by node.
    let (status, why) = call(&app, &key, Method::GET, &format!("/api/v1/segments/{id}/players/{}", ids[0]), None).await;
    assert_eq!(status, StatusCode::OK, "{why}");
    assert_eq!((why["member"].as_bool(), why["holds"].as_bool()), (Some(true), Some(true)));
    assert_eq!(why["trace"]["detail"], "country = \"DE\"");
    let (_, why_not) = call(&app, &key, Method::GET, &format!("/api/v1/segments/{id}/players/{}", ids[2]), None).await;
    assert_eq!((why_not["member"].as_bool(), why_not["holds"].as_bool()), (Some(false), Some(false)));
    assert_eq!(why_not["trace"]["detail"], "country = \"SE\"");
    let unknown = uuid::Uuid::now_v7();
    let (status, _) = call(&app, &key, Method::GET, &format!("/api/v1/segments/{id}/players/{unknown}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let patch = json!({"condition": "country == \"SE\"", "expected_version": 1});
    let (status, changed) =
        call(&app, &key, Method::PATCH, &format!("/api/v1/segments/{id}"), Some(patch.clone())).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!((changed["version"].as_i64(), changed["member_count"].as_i64()), (Some(2), Some(1)));
    let (status, _) = call(&app, &key, Method::PATCH, &format!("/api/v1/segments/{id}"), Some(patch)).await;
    assert_eq!(status, StatusCode::CONFLICT, "a stale version is refused");
    let (_, versions) = call(&app, &key, Method::GET, &format!("/api/v1/segments/{id}/versions"), None).await;
    assert_eq!(versions.as_array().unwrap().len(), 2);
    let (status, report) = call(&app, &key, Method::POST, &format!("/api/v1/segments/{id}/refresh"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((report["entered"].as_i64(), report["exited"].as_i64()), (Some(0), Some(0)));
    let (_, sizes) = call(&app, &key, Method::GET, &format!("/api/v1/segments/{id}/sizes"), None).await;
    assert!(sizes.as_array().unwrap().len() >= 2, "{sizes}");
    let (status, _) =
        call(&app, &key, Method::POST, "/api/v1/segments", Some(json!({"name": "DACH", "condition": condition}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "names are unique");

    let actions: Vec<String> =
        audit::list(&db, Some("segment"), Some(&id), 10).await.unwrap().into_iter().map(|r| r.action).collect();
    assert_eq!(actions, ["segment.refresh", "segment.update", "segment.create"]);
});

both_engines!(members_are_searched_by_external_id_email_or_name_page_by_page, |db| async move {
    let (app, key) = app(&db).await;
    let mut ids = std::collections::HashMap::new();
    for (external, email, first, last) in [
        ("ext-1", "anna.schmidt@example.com", "Anna", "Schmidt"),
        ("ext-10", "bert@example.com", "Bert", "Anders"),
        ("ext-2", "carla@example.com", "Carla", "Ruiz"),
        ("anna-9", "zed@example.com", "Zed", "Zorn"),
    ] {
        let body = json!({"external_id": external, "country": "DE", "currency": "EUR", "email": email,
            "first_name": first, "last_name": last});
        let (status, player) = call(&app, &key, Method::POST, "/api/v1/players", Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{player}");
        ids.insert(player["id"].as_str().unwrap().to_string(), external);
    }
    let (_, segment) = call(
        &app,
        &key,
        Method::POST,
        "/api/v1/segments",
        Some(json!({"name": "All", "condition": "country == \"DE\""})),
    )
    .await;
    let id = segment["id"].as_str().unwrap().to_string();
    let found = async |query: &str| {
        let (status, page) =
            call(&app, &key, Method::GET, &format!("/api/v1/segments/{id}/members?{query}"), None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let mut externals: Vec<&str> =
            page["items"].as_array().unwrap().iter().map(|m| ids[m["player_id"].as_str().unwrap()]).collect();
        externals.sort();
        (externals, page["next"].as_str().map(str::to_string))
    };
    assert_eq!(found("q=ext-1").await.0, ["ext-1", "ext-10"]);
    assert_eq!(found("q=ANNA.S").await.0, ["ext-1"], "the start of an email, in any case");
    assert_eq!(found("q=bert%40example.com").await.0, ["ext-10"], "a whole email");
    assert_eq!(found("q=ruiz").await.0, ["ext-2"], "the start of a word of the name");
    assert_eq!(found("q=anna").await.0, ["anna-9", "ext-1"]);
    assert_eq!(found("q=uiz").await.0, Vec::<&str>::new());
    assert_eq!(found("q=").await.0.len(), 4, "an empty search finds every member");
    // Keyset pages: one at a time, every match once.
    let (mut seen, mut after) = (Vec::new(), String::new());
    loop {
        let (page, next) = found(&format!("q=an&limit=1{after}")).await;
        seen.extend(page);
        match next {
            Some(next) => after = format!("&after={next}"),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(seen, ["anna-9", "ext-1", "ext-10"]);
});
