//! The HTTP API, driven in-process on both engines: authentication and scopes, problem
//! details, event batches, the player and ledger endpoints with their audit records, the
//! system endpoints, the OpenAPI document, and targets.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use chrono::{Duration, Utc};
use pitboss_auth::{api_key, audit};
use pitboss_bus::in_process::InProcess;
use pitboss_ingest::Ingestor;
use pitboss_store::{Db, both_engines, db, sqlx};
use pitboss_web::guard::Access;
use pitboss_web::{AppState, Target};
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;

/// The app for one database, and an admin key to call it with.
struct Api {
    app: Router,
    db: Db,
    key: String,
    /// The admin key's name, as the audit log names its actor (`api-key:<name>`).
    key_name: String,
}

/// What came back.
struct Reply {
    status: StatusCode,
    content_type: Option<String>,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    /// Asserts an RFC 9457 problem with this status, and returns it.
    fn problem(&self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        assert_eq!(self.content_type.as_deref(), Some("application/problem+json"), "{}", self.text);
        let p = self.json();
        assert_eq!(p["status"], json!(status), "{p}");
        assert!(p["type"].as_str().is_some_and(|t| t.starts_with("/problems/")), "{p}");
        assert!(p["title"].as_str().is_some_and(|t| !t.is_empty()), "{p}");
        assert!(p["detail"].as_str().is_some_and(|t| !t.is_empty()), "{p}");
        p
    }

    fn ok(&self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        self.json()
    }
}

async fn api(db: &Db) -> Api {
    api_with_targets(db, "all").await
}

async fn api_with_targets(db: &Db, targets: &str) -> Api {
    let state = AppState::new(
        db.clone(),
        Ingestor::new(db.clone()),
        Arc::new(InProcess::new()),
        Target::parse_list(targets).expect("targets"),
    );
    let (key_name, key) = new_key(db, "admin").await;
    Api { app: pitboss_web::app(state), db: db.clone(), key, key_name }
}

/// A new API key with these scopes: its name and the key.
async fn new_key(db: &Db, scopes: &str) -> (String, String) {
    let name = format!("test-{}", Uuid::now_v7().simple());
    let (_, key) =
        api_key::create(db, &name, scopes.parse().expect("scopes"), "operator:tester").await.expect("create a key");
    (name, key)
}

impl Api {
    async fn raw(&self, method: Method, path: &str, key: Option<&str>, body: Option<Vec<u8>>) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(key) = key {
            req = req.header(header::AUTHORIZATION, format!("Bearer {key}"));
        }
        let req = match body {
            Some(bytes) => req.header(header::CONTENT_TYPE, "application/json").body(Body::from(bytes)),
            None => req.body(Body::empty()),
        }
        .expect("request");
        let res = self.app.clone().oneshot(req).await.expect("the router always answers");
        let status = res.status();
        let content_type = res.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await.expect("body");
        Reply { status, content_type, text: String::from_utf8_lossy(&bytes).into_owned() }
    }

    async fn call(&self, method: Method, path: &str, key: Option<&str>, body: Option<Value>) -> Reply {
        self.raw(method, path, key, body.map(|b| b.to_string().into_bytes())).await
    }

    async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, Some(&self.key), None).await
    }

    async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(&self.key), Some(body)).await
    }

    async fn patch(&self, path: &str, body: Value) -> Reply {
        self.call(Method::PATCH, path, Some(&self.key), Some(body)).await
    }

    async fn count(&self, table: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        db!(&self.db, |c| sqlx::query_scalar(&sql).fetch_one(c).await).expect("count")
    }

    /// Creates a player over the API and returns its profile.
    async fn player(&self, external_id: &str) -> Value {
        self.post("/api/v1/players", json!({"external_id": external_id, "country": "DE", "currency": "EUR"}))
            .await
            .ok(201)
    }

    /// The player's id, found over the API by external id.
    async fn player_id(&self, external_id: &str) -> String {
        let page = self.get(&format!("/api/v1/players?q={external_id}")).await.ok(200);
        assert_eq!(page["items"].as_array().map(Vec::len), Some(1), "{page}");
        page["items"][0]["id"].as_str().unwrap().to_string()
    }

    /// The posted balance of the player's cash account.
    async fn cash(&self, player: &str) -> i64 {
        let balances = self.get(&format!("/api/v1/players/{player}/balances")).await.ok(200);
        balances
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["account"].as_str().is_some_and(|a| a.contains(":cash:")))
            .map(|b| b["posted"].as_i64().unwrap())
            .unwrap_or(0)
    }
}

fn event(kind: &str, player: &str, payload: Value) -> Value {
    json!({
        "id": Uuid::now_v7(), "type": kind, "player_id": player,
        "occurred_at": (Utc::now() - Duration::seconds(5)).to_rfc3339(), "source": "test", "payload": payload,
    })
}

fn registered(player: &str) -> Value {
    event(
        "player.registered",
        player,
        json!({"email": format!("{player}@example.com"), "country": "DE", "currency": "EUR"}),
    )
}

fn deposit(player: &str, reference: &str, amount: i64) -> Value {
    event(
        "payment.deposit.completed",
        player,
        json!({"transaction_id": reference, "amount": amount, "currency": "EUR"}),
    )
}

// ---- authentication and scopes ----

both_engines!(a_request_without_a_valid_api_key_is_a_401_problem, |db| async move {
    let api = api(&db).await;
    for (method, path) in [(Method::GET, "/api/v1/players"), (Method::POST, "/api/v1/events")] {
        let no_key = api.call(method.clone(), path, None, Some(json!([]))).await;
        let p = no_key.problem(401);
        assert!(p["detail"].as_str().unwrap().contains("Authorization: Bearer"), "{p}");
        api.call(method.clone(), path, Some("pbk_notakey"), Some(json!([]))).await.problem(401);
        let forged = format!("pbk_abcdefgh_{}", "x".repeat(40));
        api.call(method, path, Some(&forged), Some(json!([]))).await.problem(401);
    }
    // The key is also accepted as X-Api-Key.
    let req = Request::get("/api/v1/players").header("x-api-key", &api.key).body(Body::empty()).unwrap();
    assert_eq!(api.app.clone().oneshot(req).await.unwrap().status(), StatusCode::OK);
    // A revoked key stops working at once.
    let (name, key) = new_key(&db, "players:read").await;
    assert_eq!(api.call(Method::GET, "/api/v1/players", Some(&key), None).await.status, StatusCode::OK);
    let id = api_key::list(&db).await.unwrap().into_iter().find(|k| k.name == name).unwrap().id;
    api_key::revoke(&db, id, "operator:tester").await.unwrap();
    api.call(Method::GET, "/api/v1/players", Some(&key), None).await.problem(401);
});

both_engines!(a_key_without_the_needed_scope_gets_a_403_naming_the_action_and_is_audited, |db| async move {
    let api = api(&db).await;
    let (reader_name, reader) = new_key(&db, "players:read").await;
    let batch = json!([registered("p-1")]);
    let p = api.call(Method::POST, "/api/v1/events", Some(&reader), Some(batch)).await.problem(403);
    assert!(p["detail"].as_str().unwrap().contains("event.ingest"), "{p}");
    assert_eq!(api.count("events").await, 0, "nothing was ingested");

    let p = api
        .call(
            Method::POST,
            "/api/v1/players",
            Some(&reader),
            Some(json!({"external_id": "p-1", "country": "DE", "currency": "EUR"})),
        )
        .await
        .problem(403);
    assert!(p["detail"].as_str().unwrap().contains("player.create"), "{p}");
    let p = api.call(Method::GET, "/api/v1/audit", Some(&reader), None).await.problem(403);
    assert!(p["detail"].as_str().unwrap().contains("audit.read"), "{p}");
    let denials = audit::list(&db, Some("route"), None, 10).await.unwrap();
    assert_eq!(denials.len(), 3, "{denials:?}");
    assert!(denials.iter().all(|d| d.action == "access.denied" && d.actor == format!("api-key:{reader_name}")));
    // What the scope does allow works.
    assert_eq!(api.call(Method::GET, "/api/v1/players", Some(&reader), None).await.status, StatusCode::OK);
});

// ---- events ----

both_engines!(a_body_that_is_not_json_or_not_a_batch_is_a_400_problem, |db| async move {
    let api = api(&db).await;
    let key = Some(api.key.as_str());
    let p = api.raw(Method::POST, "/api/v1/events", key, Some(b"[{\"id\": ".to_vec())).await.problem(400);
    assert!(p["detail"].as_str().unwrap().contains("not valid JSON"), "{p}");
    for not_a_batch in [json!(42), json!("events"), json!({"items": []}), json!({"events": {}})] {
        api.call(Method::POST, "/api/v1/events", key, Some(not_a_batch)).await.problem(400);
    }
});

both_engines!(an_empty_batch_is_a_400_problem, |db| async move {
    let api = api(&db).await;
    for empty in [json!([]), json!({"events": []})] {
        let p = api.post("/api/v1/events", empty).await.problem(400);
        assert!(p["detail"].as_str().unwrap().contains("empty"), "{p}");
    }
});

both_engines!(a_batch_of_more_than_5000_events_is_a_413_problem_and_stores_nothing, |db| async move {
    let api = api(&db).await;
    let mut batch = vec![registered("p-1")];
    batch.extend((0..5_000).map(|i| deposit("p-1", &format!("d-{i}"), 100)));
    assert_eq!(batch.len(), 5_001);
    let p = api.post("/api/v1/events", Value::Array(batch)).await.problem(413);
    assert!(p["detail"].as_str().unwrap().contains("5000"), "{p}");
    assert_eq!(api.count("events").await, 0);
    assert_eq!(api.count("players").await, 0);
});

both_engines!(a_batch_of_1000_valid_events_is_accepted_whole, |db| async move {
    let api = api(&db).await;
    let players: Vec<String> = (0..10).map(|i| format!("p-{i}")).collect();
    let report =
        api.post("/api/v1/events", json!(players.iter().map(|p| registered(p)).collect::<Vec<_>>())).await.ok(200);
    assert_eq!(report["accepted"], 10, "{report}");

    let batch: Vec<Value> = (0..1_000).map(|i| deposit(&players[i % 10], &format!("d-{i}"), 250)).collect();
    let report = api.post("/api/v1/events", json!({"events": batch})).await.ok(200);
    assert_eq!(
        (report["accepted"].as_i64(), report["duplicates"].as_i64(), report["rejected"].as_i64()),
        (Some(1000), Some(0), Some(0))
    );
    let items = report["items"].as_array().unwrap();
    assert_eq!(items.len(), 1_000);
    for (i, item) in items.iter().enumerate() {
        assert_eq!(item["index"], i, "{item}");
        assert_eq!(item["status"], "accepted", "{item}");
        assert_eq!(item["id"], batch[i]["id"], "{item}");
    }
    assert_eq!(api.count("events").await, 1_010);

    let id = api.player_id("p-3").await;
    let stats = api.get(&format!("/api/v1/players/{id}/stats")).await.ok(200);
    assert_eq!((stats["deposit_count"].as_i64(), stats["deposit_sum"].as_i64()), (Some(100), Some(25_000)));
    assert_eq!(api.cash(&id).await, 25_000);

    // Sent again, every event is a duplicate and nothing changes.
    let report = api.post("/api/v1/events", json!(batch)).await.ok(200);
    assert_eq!(report["duplicates"], 1_000, "{}", report["items"][0]);
    assert_eq!(api.cash(&id).await, 25_000);
});

both_engines!(each_bad_item_gets_its_own_answer_and_the_good_ones_go_through, |db| async move {
    let api = api(&db).await;
    let good = deposit("p-1", "d-1", 1_000);
    let mut missing_reference = deposit("p-1", "d-2", 1_000);
    missing_reference["payload"].as_object_mut().unwrap().remove("transaction_id");
    let mut v4_id = deposit("p-1", "d-3", 1_000);
    v4_id["id"] = json!("6f1c1f4e-8a8b-4c43-9a7e-1d5f0c0b7a11");
    let batch = json!([
        registered("p-1"),
        good.clone(),
        "not an object",
        event("payment.deposit.teleported", "p-1", json!({})),
        deposit("p-1", "d-4", -5),
        missing_reference,
        deposit("nobody", "d-5", 100),
        v4_id,
        good.clone(),
        deposit("p-1", "d-6", 500),
    ]);
    let report = api.post("/api/v1/events", batch).await.ok(200);
    let items = report["items"].as_array().unwrap();
    let statuses: Vec<&str> = items.iter().map(|i| i["status"].as_str().unwrap()).collect();
    assert_eq!(
        statuses,
        [
            "accepted",
            "accepted",
            "rejected",
            "rejected",
            "rejected",
            "rejected",
            "rejected",
            "rejected",
            "duplicate",
            "accepted"
        ]
    );
    let field = |i: usize| items[i]["error"]["field"].as_str().unwrap().to_string();
    let message = |i: usize| items[i]["error"]["message"].as_str().unwrap().to_string();
    assert_eq!(field(2), "");
    assert_eq!(field(3), "type");
    assert!(message(3).contains("unknown event type"), "{}", message(3));
    assert!(message(4).contains("zero or positive"), "{}", message(4));
    assert_eq!(field(5), "payload.transaction_id");
    assert_eq!(field(6), "player_id");
    assert!(message(6).contains("unknown player 'nobody'"), "{}", message(6));
    assert_eq!(field(7), "id");
    assert!(message(7).contains("UUIDv7"), "{}", message(7));
    assert!(items[1].get("error").is_none(), "an accepted item carries no error: {}", items[1]);
    assert_eq!(items[1]["id"], good["id"]);
    assert_eq!(items[8]["id"], good["id"]);
    assert_eq!(
        (report["accepted"].as_i64(), report["duplicates"].as_i64(), report["rejected"].as_i64()),
        (Some(3), Some(1), Some(6))
    );

    let id = api.player_id("p-1").await;
    assert_eq!(api.cash(&id).await, 1_500);
});

// ---- players ----

both_engines!(creating_a_player_answers_201_and_writes_an_audit_record_and_an_outbox_row, |db| async move {
    let api = api(&db).await;
    let outbox_before = api.count("outbox").await;
    let body = json!({
        "external_id": "p-42", "email": "Anna@Example.com", "phone": "+49 151 1234 5678", "first_name": "Anna",
        "country": "de", "currency": "EUR", "tags": ["VIP"], "consents": {"email": true},
    });
    let p = api.post("/api/v1/players", body).await.ok(201);
    assert_eq!(p["external_id"], "p-42");
    assert_eq!(p["email"], "anna@example.com");
    assert_eq!(p["phone"], "+4915112345678");
    assert_eq!(p["country"], "DE");
    assert_eq!(p["tags"], json!(["vip"]));
    assert_eq!(p["consents"]["email"], true);
    assert_eq!(p["version"], 1);
    let id = p["id"].as_str().unwrap();
    assert_eq!(api.get(&format!("/api/v1/players/{id}")).await.ok(200), p);

    let records = audit::list(&db, Some("player"), Some(id), 10).await.unwrap();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].action, "player.create");
    assert_eq!(records[0].actor, format!("api-key:{}", api.key_name));
    assert_eq!(records[0].details["external_id"], "p-42");
    // The audit log is readable over the API too.
    let listed = api.get(&format!("/api/v1/audit?target_type=player&target_id={id}")).await.ok(200);
    assert_eq!(listed[0]["action"], "player.create");

    assert_eq!(api.count("outbox").await, outbox_before + 1);
    let (topic, key, payload): (String, String, String) = db!(&db, |c| {
        sqlx::query_as("SELECT topic, partition_key, payload FROM outbox ORDER BY id DESC LIMIT 1").fetch_one(c).await
    })
    .unwrap();
    assert_eq!((topic.as_str(), key.as_str()), ("player.registered", id));
    let envelope: Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(envelope["type"], "player.registered");
    assert_eq!(envelope["player_id"], "p-42");
});

both_engines!(an_invalid_or_duplicate_player_is_refused_with_a_problem_and_leaves_no_trace, |db| async move {
    let api = api(&db).await;
    let p = api
        .post("/api/v1/players", json!({"external_id": "p-1", "email": "nope", "country": "DE", "currency": "EUR"}))
        .await
        .problem(422);
    assert_eq!(p["field"], "email", "{p}");
    let p = api
        .post("/api/v1/players", json!({"external_id": "p-1", "country": "DE", "currency": "EURO"}))
        .await
        .problem(422);
    assert!(p["detail"].as_str().unwrap().contains("ISO 4217"), "{p}");
    api.post("/api/v1/players", json!({"external_id": "p-1"})).await.problem(422);
    api.player("p-1").await;
    let p = api
        .post("/api/v1/players", json!({"external_id": "p-1", "country": "GB", "currency": "GBP"}))
        .await
        .problem(409);
    assert!(p["detail"].as_str().unwrap().contains("p-1"), "{p}");
    assert_eq!(api.count("players").await, 1);
    assert_eq!(audit::list(&db, Some("player"), None, 100).await.unwrap().len(), 1);
    assert_eq!(api.count("outbox").await, 1);
});

both_engines!(a_patch_with_a_stale_expected_version_is_a_409_problem_and_changes_nothing, |db| async move {
    let api = api(&db).await;
    let p = api.player("p-1").await;
    let id = p["id"].as_str().unwrap();
    let path = format!("/api/v1/players/{id}");
    let v2 = api.patch(&path, json!({"first_name": "Anna", "tags": ["vip"], "expected_version": 1})).await.ok(200);
    assert_eq!((v2["version"].as_i64(), v2["first_name"].as_str()), (Some(2), Some("Anna")));
    assert_eq!(v2["country"], "DE", "fields left out are unchanged");

    let outbox = api.count("outbox").await;
    let problem = api.patch(&path, json!({"first_name": "Eve", "expected_version": 1})).await.problem(409);
    assert!(problem["detail"].as_str().unwrap().contains("version 2"), "{problem}");
    assert_eq!(api.get(&path).await.ok(200), v2);
    assert_eq!(api.count("outbox").await, outbox, "a refused change announces nothing");

    let updates: Vec<_> = audit::list(&db, Some("player"), Some(id), 10)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.action == "player.update")
        .collect();
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert_eq!(updates[0].details["first_name"], json!({"from": null, "to": "Anna"}));
    assert_eq!(updates[0].details["tags"], json!({"from": [], "to": ["vip"]}));

    // A patch that changes nothing keeps the version and writes no audit record.
    let same = api.patch(&path, json!({"first_name": "Anna"})).await.ok(200);
    assert_eq!(same["version"], 2);
    assert_eq!(audit::list(&db, Some("player"), Some(id), 10).await.unwrap().len(), 2);
    let p = api.patch(&path, json!({"status": "banned"})).await.problem(422);
    assert!(p["detail"].as_str().unwrap().contains("self_excluded"), "{p}");
});

both_engines!(an_unknown_player_is_a_404_problem_and_a_malformed_id_a_400, |db| async move {
    let api = api(&db).await;
    let unknown = Uuid::now_v7();
    for path in [
        format!("/api/v1/players/{unknown}"),
        format!("/api/v1/players/{unknown}/stats"),
        format!("/api/v1/players/{unknown}/balances"),
    ] {
        let p = api.get(&path).await.problem(404);
        assert!(p["detail"].as_str().unwrap().contains(&unknown.to_string()), "{path}: {p}");
    }
    api.patch(&format!("/api/v1/players/{unknown}"), json!({"first_name": "X"})).await.problem(404);
    api.post(
        &format!("/api/v1/players/{unknown}/adjustments"),
        json!({"reference": "a-1", "amount": 100, "reason": "goodwill"}),
    )
    .await
    .problem(404);
    api.get(&format!("/api/v1/transactions/{unknown}")).await.problem(404);
    api.get("/api/v1/players/not-a-uuid").await.problem(400);
});

both_engines!(players_are_searched_with_filters_and_pages_over_the_api, |db| async move {
    let api = api(&db).await;
    for i in 0..5 {
        api.post("/api/v1/players", json!({"external_id": format!("p-{i}"), "country": if i % 2 == 0 { "DE" } else { "GB" }, "currency": "EUR"}))
            .await
            .ok(201);
    }
    let page = api.get("/api/v1/players?country=GB").await.ok(200);
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let first = api.get("/api/v1/players?limit=3").await.ok(200);
    assert_eq!(first["items"].as_array().unwrap().len(), 3);
    let next = first["next"].as_str().unwrap();
    let second = api.get(&format!("/api/v1/players?limit=3&after={next}")).await.ok(200);
    assert_eq!(second["items"].as_array().unwrap().len(), 2);
    assert!(second["next"].is_null());
    let status = api.get("/api/v1/players?status=active&kyc_status=none").await.ok(200);
    assert_eq!(status["items"].as_array().unwrap().len(), 5);
});

both_engines!(a_page_size_out_of_range_is_a_422_problem, |db| async move {
    let api = api(&db).await;
    let p = api.get("/api/v1/players?limit=0").await.problem(422);
    assert_eq!(p["field"], "limit", "{p}");
    api.get("/api/v1/players?limit=501").await.problem(422);
    api.get("/api/v1/players?limit=ten").await.problem(422);
    api.get("/api/v1/players?status=banned").await.problem(422);
    api.get("/api/v1/transactions?limit=0").await.problem(422);
});

// ---- ledger ----

both_engines!(an_adjustment_credits_the_balance_once_however_often_it_is_sent, |db| async move {
    let api = api(&db).await;
    let p = api.player("p-1").await;
    let id = p["id"].as_str().unwrap();
    let path = format!("/api/v1/players/{id}/adjustments");
    let body = json!({"reference": "adj-1", "amount": 2_500, "reason": "goodwill for a lost round"});

    let first = api.post(&path, body.clone()).await.ok(201);
    assert_eq!(
        (first["kind"].as_str(), first["amount"].as_i64(), first["status"].as_str()),
        (Some("adjustment"), Some(2_500), Some("completed"))
    );
    assert_eq!(api.cash(id).await, 2_500);

    let replay = api.post(&path, body.clone()).await.ok(200);
    assert_eq!(replay["id"], first["id"]);
    assert_eq!(api.cash(id).await, 2_500, "a replay does not credit twice");

    let mut changed = body.clone();
    changed["amount"] = json!(9_999);
    api.post(&path, changed).await.problem(409);
    assert_eq!(api.cash(id).await, 2_500);

    let adjustments: Vec<_> = audit::list(&db, Some("player"), Some(id), 10)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.action == "ledger.adjust")
        .collect();
    assert_eq!(adjustments.len(), 1, "{adjustments:?}");
    assert_eq!(adjustments[0].details["amount"], 2_500);

    // A debit beyond the balance needs allow_overdraft.
    let debit = json!({"reference": "adj-2", "amount": -3_000, "reason": "reclaim"});
    let p = api.post(&path, debit.clone()).await.problem(409);
    assert_eq!(p["type"], "/problems/insufficient-funds");
    let mut overdraft = debit;
    overdraft["allow_overdraft"] = json!(true);
    api.post(&path, overdraft).await.ok(201);
    assert_eq!(api.cash(id).await, -500);

    api.post(&path, json!({"reference": "", "amount": 1, "reason": "x"})).await.problem(422);
    api.post(&path, json!({"reference": "adj-3", "amount": 0, "reason": "x"})).await.problem(422);
});

both_engines!(a_deposit_is_disputed_then_reversed_and_each_step_is_audited, |db| async move {
    let api = api(&db).await;
    let report = api.post("/api/v1/events", json!([registered("p-1"), deposit("p-1", "d-1", 5_000)])).await.ok(200);
    assert_eq!(report["accepted"], 2, "{report}");
    let player = api.player_id("p-1").await;
    assert_eq!(api.cash(&player).await, 5_000);

    let list = api.get(&format!("/api/v1/transactions?player_id={player}&kind=deposit")).await.ok(200);
    let tx = list["items"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(list["items"][0]["reference"], "d-1");
    let status_path = format!("/api/v1/transactions/{tx}/status");

    let disputed = api.post(&status_path, json!({"status": "disputed", "reason": "chargeback notice"})).await.ok(200);
    assert_eq!(disputed["status"], "disputed");
    assert_eq!(api.cash(&player).await, 5_000, "a dispute alone moves no money");
    let reversed = api.post(&status_path, json!({"status": "reversed", "reason": "chargeback lost"})).await.ok(200);
    assert_eq!(reversed["status"], "reversed");
    assert_eq!(api.cash(&player).await, 0, "the reversal takes the deposit back");

    let detail = api.get(&format!("/api/v1/transactions/{tx}")).await.ok(200);
    let history: Vec<&str> = detail["history"].as_array().unwrap().iter().map(|h| h["to"].as_str().unwrap()).collect();
    assert!(history.ends_with(&["disputed", "reversed"]), "{history:?}");
    let last = detail["history"].as_array().unwrap().last().unwrap();
    assert_eq!(last["reason"], "chargeback lost");
    assert_eq!(last["actor"], format!("api-key:{}", api.key_name));

    let records = audit::list(&db, Some("transaction"), Some(&tx), 10).await.unwrap();
    let mut steps: Vec<(String, Value)> = records.iter().map(|r| (r.action.clone(), r.details["to"].clone())).collect();
    steps.reverse();
    assert_eq!(
        steps,
        vec![
            ("transaction.status".to_string(), json!("disputed")),
            ("transaction.status".to_string(), json!("reversed"))
        ]
    );
    assert!(records.iter().all(|r| r.actor == format!("api-key:{}", api.key_name)));

    // A reversed transaction goes nowhere else; a status change needs a reason.
    api.post(&status_path, json!({"status": "disputed", "reason": "again"})).await.problem(409);
    api.post(&status_path, json!({"status": "completed", "reason": " "})).await.problem(422);
    assert_eq!(audit::list(&db, Some("transaction"), Some(&tx), 10).await.unwrap().len(), 2);
    let (_, reader) = new_key(&db, "ledger:read").await;
    api.call(Method::POST, &status_path, Some(&reader), Some(json!({"status": "completed", "reason": "x"})))
        .await
        .problem(403);
});

fn payment(kind: &str, player: &str, reference: &str, amount: i64, currency: &str, method: &str) -> Value {
    event(kind, player, json!({"transaction_id": reference, "amount": amount, "currency": currency, "method": method}))
}

both_engines!(the_payments_monitor_filters_and_totals_deposits_and_withdrawals, |db| async move {
    let api = api(&db).await;
    let batch = json!([
        registered("p-1"),
        payment("payment.deposit.completed", "p-1", "d-1", 5_000, "EUR", "card"),
        payment("payment.deposit.completed", "p-1", "d-2", 12_000, "EUR", "bank_transfer"),
        payment("payment.deposit.failed", "p-1", "d-3", 7_000, "EUR", "card"),
        payment("payment.withdrawal.requested", "p-1", "w-1", 3_000, "EUR", "bank_transfer"),
        event(
            "game.round",
            "p-1",
            json!({"round_id": "r-1", "game": "g", "provider": "p", "category": "slots", "stake": 100, "win": 0, "currency": "EUR"})
        ),
    ]);
    let report = api.post("/api/v1/events", batch).await.ok(200);
    assert_eq!(report["accepted"], 6, "{report}");
    let refs = |page: &Value| -> Vec<String> {
        page["items"].as_array().unwrap().iter().map(|t| t["reference"].as_str().unwrap().to_string()).collect()
    };

    let all = api.get("/api/v1/payments").await.ok(200);
    assert_eq!(refs(&all), ["w-1", "d-3", "d-2", "d-1"], "payments only, newest first: {all}");
    assert_eq!(all["items"][0]["method"], "bank_transfer");
    let cards = api.get("/api/v1/payments?method=card").await.ok(200);
    assert_eq!(refs(&cards), ["d-3", "d-1"]);
    let middle = api.get("/api/v1/payments?currency=eur&min_amount=5000&max_amount=7000").await.ok(200);
    assert_eq!(refs(&middle), ["d-3", "d-1"], "the amount range is inclusive");
    let done = api.get("/api/v1/payments?kind=deposit&status=completed").await.ok(200);
    assert_eq!(refs(&done), ["d-2", "d-1"]);
    let later = (Utc::now() + Duration::hours(1)).to_rfc3339();
    let none = api.get(&format!("/api/v1/payments?from={}", later.replace('+', "%2B"))).await.ok(200);
    assert_eq!(refs(&none), Vec::<String>::new(), "nothing happened after now");

    let totals = api.get("/api/v1/payments/totals").await.ok(200);
    assert_eq!(
        totals["totals"],
        json!([
            {"status": "pending", "currency": "EUR", "count": 1, "amount": 3_000},
            {"status": "completed", "currency": "EUR", "count": 2, "amount": 17_000},
            {"status": "failed", "currency": "EUR", "count": 1, "amount": 7_000},
        ])
    );
    let card_totals = api.get("/api/v1/payments/totals?method=card&status=completed").await.ok(200);
    assert_eq!(card_totals["totals"], json!([{"status": "completed", "currency": "EUR", "count": 1, "amount": 5_000}]));

    // Bad filters are refused with what is wrong.
    for (query, field) in [
        ("kind=game_round", "kind"),
        ("status=lost", "status"),
        ("currency=EURO", "currency"),
        ("min_amount=-1", "min_amount"),
        ("min_amount=500&max_amount=100", "max_amount"),
        ("from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z", "to"),
    ] {
        for path in ["/api/v1/payments", "/api/v1/payments/totals", "/api/v1/payments/stream"] {
            let p = api.get(&format!("{path}?{query}")).await.problem(422);
            assert!(p["detail"].as_str().unwrap().starts_with(field), "{path}?{query}: {p}");
        }
    }
});

both_engines!(the_payments_feed_sends_each_new_or_changed_payment_as_it_happens, |db| async move {
    use futures::StreamExt;
    let api = api(&db).await;
    api.post("/api/v1/events", json!([registered("p-1"), deposit("p-1", "before", 1_000)])).await.ok(200);
    let req = Request::builder()
        .uri("/api/v1/payments/stream?kind=deposit")
        .header(header::AUTHORIZATION, format!("Bearer {}", api.key))
        .body(Body::empty())
        .unwrap();
    let res = api.app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::CONTENT_TYPE], "text/event-stream");
    let mut body = res.into_body().into_data_stream();
    let mut text = String::new();
    // Reads the feed until `want` has arrived (or fails after a while).
    let mut until = async |want: &str| {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
        while !text.contains(want) {
            let chunk = tokio::time::timeout_at(deadline, body.next()).await;
            let chunk = chunk.unwrap_or_else(|_| panic!("`{want}` did not arrive; the feed sent:\n{text}"));
            text.push_str(&String::from_utf8_lossy(&chunk.expect("the feed stays open").unwrap()));
        }
    };
    until(": connected").await;

    api.post(
        "/api/v1/events",
        json!([
            payment("payment.deposit.completed", "p-1", "live-1", 2_500, "EUR", "card"),
            payment("payment.withdrawal.requested", "p-1", "live-w", 500, "EUR", "card"),
        ]),
    )
    .await
    .ok(200);
    until("\"reference\":\"live-1\"").await;
    let player = api.player_id("p-1").await;
    let list = api.get(&format!("/api/v1/payments?player_id={player}&kind=deposit")).await.ok(200);
    let tx = list["items"][0]["id"].as_str().unwrap().to_string();
    api.post(&format!("/api/v1/transactions/{tx}/status"), json!({"status": "disputed", "reason": "chargeback"}))
        .await
        .ok(200);
    until("\"status\":\"disputed\"").await;

    let events: Vec<Value> =
        text.lines().filter_map(|l| l.strip_prefix("data: ")).map(|d| serde_json::from_str(d).unwrap()).collect();
    let seen: Vec<(&str, &str)> =
        events.iter().map(|e| (e["reference"].as_str().unwrap(), e["status"].as_str().unwrap())).collect();
    assert!(seen.contains(&("live-1", "completed")), "{seen:?}");
    assert_eq!(seen.last(), Some(&("live-1", "disputed")), "the change follows: {seen:?}");
    assert!(!seen.iter().any(|(r, _)| *r == "live-w"), "the feed's filter holds: {seen:?}");
    assert_eq!(seen.iter().filter(|(_, s)| *s == "completed").count(), 1, "each change is sent once: {seen:?}");
    assert!(text.lines().any(|l| l.starts_with("id: ")), "each event carries its change's time to resume from");
    assert!(text.contains("event: payment"));
});

both_engines!(withdrawals_wait_for_officers_by_the_rules_and_big_ones_for_two, |db| async move {
    use pitboss_bus::Transport;
    use pitboss_ops::consumer::{CONSUMER, WithdrawalsConsumer};
    // The queue is fed from the bus, as in `serve`: the relay delivers what ingestion wrote.
    let transport = Arc::new(InProcess::new());
    let rules = Arc::new(pitboss_ops::withdrawals::ReviewPolicy::default());
    let consumer = WithdrawalsConsumer::new(db.clone(), rules, Arc::new(pitboss_rules::Rates::new()));
    transport.subscribe(CONSUMER, consumer).await.unwrap();
    let mut api = api(&db).await;
    let state =
        AppState::new(db.clone(), Ingestor::new(db.clone()), transport.clone(), Target::parse_list("all").unwrap());
    api.app = pitboss_web::app(state);
    let relay = pitboss_bus::relay::Relay::new(db.clone(), transport);

    let verified = json!({"email": "p1@example.com", "country": "DE", "currency": "EUR"});
    let requested = |reference: &str, amount: i64| {
        payment("payment.withdrawal.requested", "p-1", reference, amount, "EUR", "bank_transfer")
    };
    let batch = json!([
        event("player.registered", "p-1", verified),
        deposit("p-1", "d-1", 5_000_000),
        requested("small", 5_000),
        requested("large", 300_000),
        requested("huge", 1_500_000),
    ]);
    assert_eq!(api.post("/api/v1/events", batch).await.ok(200)["accepted"], 5);
    let player = api.player_id("p-1").await;
    api.patch(&format!("/api/v1/players/{player}"), json!({"kyc_status": "verified"})).await.ok(200);
    relay.flush().await.unwrap();

    let refs = |page: &Value| -> Vec<i64> {
        page["items"].as_array().unwrap().iter().map(|r| r["amount"].as_i64().unwrap()).collect()
    };
    let queue = api.get("/api/v1/withdrawals").await.ok(200);
    assert_eq!(refs(&queue), [300_000, 1_500_000], "{queue}");
    assert_eq!(queue["items"][0]["reasons"], json!(["worth 2000.00 EUR or more"]));
    assert_eq!(queue["items"][1]["needs_second"], true);
    let decided = api.get("/api/v1/withdrawals?view=decided").await.ok(200);
    assert_eq!(refs(&decided), [5_000], "the small one was approved by the rules: {decided}");
    assert_eq!(decided["items"][0]["decided_by"], "system:withdrawal-rules");
    let large = queue["items"][0]["transaction_id"].as_str().unwrap().to_string();
    let huge = queue["items"][1]["transaction_id"].as_str().unwrap().to_string();

    let approved = api.post(&format!("/api/v1/withdrawals/{large}/approve"), json!({})).await.ok(200);
    assert_eq!(approved["state"], "approved");
    let records = audit::list(&db, Some("transaction"), Some(&large), 10).await.unwrap();
    assert_eq!(records[0].action, "withdrawal.approve");

    // Maker-checker: the first approver cannot give the second approval.
    let first =
        api.post(&format!("/api/v1/withdrawals/{huge}/approve"), json!({"reason": "source of funds seen"})).await;
    assert_eq!(first.ok(200)["state"], "second_approval");
    api.post(&format!("/api/v1/withdrawals/{huge}/approve"), json!({})).await.problem(403);
    let (_, second_key) = new_key(&db, "admin").await;
    let path = format!("/api/v1/withdrawals/{huge}/approve");
    let second = api.call(Method::POST, &path, Some(&second_key), Some(json!({}))).await.ok(200);
    assert_eq!(second["state"], "approved");
    assert_ne!(second["first_by"], second["decided_by"]);
    // Decided: refused with the reason, and nothing moves.
    let again = api.post(&format!("/api/v1/withdrawals/{huge}/reject"), json!({"reason": "late"})).await.problem(409);
    assert!(again["detail"].as_str().unwrap().contains("already approved"), "{again}");
    assert_eq!(api.get("/api/v1/withdrawals").await.ok(200)["items"], json!([]));

    // A reader sees the queue but may not decide; a rejection needs a reason.
    api.post("/api/v1/events", json!([requested("more", 400_000)])).await.ok(200);
    relay.flush().await.unwrap();
    let waiting =
        api.get("/api/v1/withdrawals").await.ok(200)["items"][0]["transaction_id"].as_str().unwrap().to_string();
    let (_, reader) = new_key(&db, "ops:read").await;
    api.call(Method::GET, "/api/v1/withdrawals", Some(&reader), None).await.ok(200);
    let reject = format!("/api/v1/withdrawals/{waiting}/reject");
    api.call(Method::POST, &reject, Some(&reader), Some(json!({"reason": "x"}))).await.problem(403);
    api.post(&reject, json!({"reason": ""})).await.problem(422);
    assert_eq!(api.post(&reject, json!({"reason": "closed loop"})).await.ok(200)["state"], "rejected");
    let tx = api.get(&format!("/api/v1/transactions/{waiting}")).await.ok(200);
    assert_eq!(tx["status"], "failed");
    api.get("/api/v1/withdrawals?view=all").await.problem(422);
    api.get("/api/v1/withdrawals?limit=0").await.problem(422);

    // One the platform cancels before anyone decides leaves the queue.
    api.post("/api/v1/events", json!([requested("cancel-me", 450_000)])).await.ok(200);
    relay.flush().await.unwrap();
    assert_eq!(refs(&api.get("/api/v1/withdrawals").await.ok(200)), [450_000]);
    let cancelled = payment("payment.withdrawal.cancelled", "p-1", "cancel-me", 450_000, "EUR", "bank_transfer");
    api.post("/api/v1/events", json!([cancelled])).await.ok(200);
    relay.flush().await.unwrap();
    assert_eq!(api.get("/api/v1/withdrawals").await.ok(200)["items"], json!([]));
    let decided = api.get("/api/v1/withdrawals?view=decided").await.ok(200);
    assert_eq!(decided["items"][0]["state"], "closed", "{decided}");
});

both_engines!(a_chargeback_dispute_gets_notes_and_is_resolved_by_an_adjustment, |db| async move {
    let api = api(&db).await;
    api.post("/api/v1/events", json!([registered("p-1"), deposit("p-1", "d-1", 5_000)])).await.ok(200);
    let player = api.player_id("p-1").await;
    let list = api.get(&format!("/api/v1/payments?player_id={player}")).await.ok(200);
    let tx = list["items"][0]["id"].as_str().unwrap().to_string();
    let open_path = format!("/api/v1/transactions/{tx}/disputes");

    let dispute = api.post(&open_path, json!({"kind": "chargeback", "reason": "acquirer notice 4711"})).await.ok(201);
    let id = dispute["id"].as_str().unwrap().to_string();
    assert_eq!(dispute["state"], "open");
    assert_eq!(api.get(&format!("/api/v1/transactions/{tx}")).await.ok(200)["status"], "disputed");
    api.post(&open_path, json!({"kind": "wrong_balance", "reason": "again"})).await.problem(409);
    api.post(&open_path, json!({"kind": "lost", "reason": "x"})).await.problem(422);
    let (_, reader) = new_key(&db, "ledger:read").await;
    let refused = json!({"kind": "wrong_balance", "reason": "x"});
    api.call(Method::POST, &open_path, Some(&reader), Some(refused)).await.problem(403);

    let notes = format!("/api/v1/disputes/{id}/notes");
    api.post(&notes, json!({"body": "the player used the money on slots"})).await.ok(201);
    api.post(&notes, json!({"body": "  "})).await.problem(422);

    let resolve = format!("/api/v1/disputes/{id}/resolve");
    let p = api.post(&resolve, json!({"resolution": "adjust", "reason": "partial chargeback"})).await.problem(422);
    assert_eq!(p["field"], "amount");
    api.post(&resolve, json!({"resolution": "uphold", "reason": "x", "amount": 5})).await.problem(422);
    api.post(&resolve, json!({"resolution": "adjust", "reason": " ", "amount": -1_500})).await.problem(422);
    let resolved = api
        .post(&resolve, json!({"resolution": "adjust", "reason": "partial chargeback", "amount": -1_500}))
        .await
        .ok(200);
    assert_eq!(resolved["state"], "resolved");
    assert_eq!(resolved["resolution"], "adjust");
    assert_eq!(api.cash(&player).await, 3_500, "the debit is posted");
    assert_eq!(api.get(&format!("/api/v1/transactions/{tx}")).await.ok(200)["status"], "completed");
    let adjustment = resolved["adjustment_id"].as_str().unwrap();
    let posted = api.get(&format!("/api/v1/transactions/{adjustment}")).await.ok(200);
    assert_eq!((posted["kind"].as_str(), posted["amount"].as_i64()), (Some("adjustment"), Some(-1_500)));

    // Resolved: nothing more, and the money does not move twice.
    api.post(&resolve, json!({"resolution": "adjust", "reason": "again", "amount": -1_500})).await.problem(409);
    api.post(&notes, json!({"body": "late"})).await.problem(409);
    assert_eq!(api.cash(&player).await, 3_500);
    let fetched = api.get(&format!("/api/v1/disputes/{id}")).await.ok(200);
    assert_eq!(fetched["notes"][0]["body"], "the player used the money on slots");
    let listed = api.get(&format!("/api/v1/disputes?state=resolved&transaction_id={tx}")).await.ok(200);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    let actions: Vec<String> =
        audit::list(&db, Some("dispute"), Some(&id), 10).await.unwrap().into_iter().map(|r| r.action).collect();
    assert_eq!(actions, ["dispute.resolve", "dispute.note", "dispute.open"]);
    let adjusted = audit::list(&db, Some("player"), Some(&player), 10).await.unwrap();
    assert!(adjusted.iter().any(|r| r.action == "ledger.adjust"), "the adjustment is audited on the player too");
});

both_engines!(deposits_and_rounds_that_break_a_limit_or_a_lock_are_flagged, |db| async move {
    use pitboss_bus::Transport;
    use pitboss_ops::consumer::{BREACHES, BreachesConsumer};
    let transport = Arc::new(InProcess::new());
    transport
        .subscribe(BREACHES, BreachesConsumer::new(db.clone(), Arc::new(pitboss_rules::Rates::new())))
        .await
        .unwrap();
    let mut api = api(&db).await;
    let state =
        AppState::new(db.clone(), Ingestor::new(db.clone()), transport.clone(), Target::parse_list("all").unwrap());
    api.app = pitboss_web::app(state);
    let relay = pitboss_bus::relay::Relay::new(db.clone(), transport);

    api.post("/api/v1/events", json!([registered("p-1")])).await.ok(200);
    let player = api.player_id("p-1").await;
    let limit = json!({"kind": "deposit", "period": "day", "origin": "operator", "amount": 10_000, "currency": "EUR"});
    api.post(&format!("/api/v1/players/{player}/limits"), limit).await.ok(201);
    // Events that happen now, after the limit and the lock were set.
    let now = |mut e: Value| {
        e["occurred_at"] = json!(Utc::now().to_rfc3339());
        e
    };
    // Up to the limit is within it; beyond it the deposit is accepted and flagged.
    let within = json!([now(deposit("p-1", "d-1", 6_000)), now(deposit("p-1", "d-2", 4_000))]);
    api.post("/api/v1/events", within).await.ok(200);
    relay.flush().await.unwrap();
    let breaches = format!("/api/v1/players/{player}/breaches");
    assert_eq!(api.get(&breaches).await.ok(200), json!([]));
    let over = api.post("/api/v1/events", json!([now(deposit("p-1", "d-3", 500))])).await.ok(200);
    assert_eq!(over["accepted"], 1, "the money moved: the event is accepted");
    relay.flush().await.unwrap();
    let flagged = api.get(&breaches).await.ok(200);
    assert_eq!(flagged.as_array().unwrap().len(), 1, "{flagged}");
    assert_eq!(
        (flagged[0]["activity"].as_str(), flagged[0]["code"].as_str()),
        (Some("deposit"), Some("deposit_limit"))
    );
    assert!(flagged[0]["reason"].as_str().unwrap().contains("10500 of 10000"), "{flagged}");

    // A round while gameplay is locked.
    let lock = json!({"scope": "gameplay", "reason": "affordability review"});
    api.post(&format!("/api/v1/players/{player}/locks"), lock).await.ok(201);
    let round = event(
        "game.round",
        "p-1",
        json!({"round_id": "r-1", "game": "g", "provider": "p", "category": "slots", "stake": 100, "win": 0, "currency": "EUR"}),
    );
    api.post("/api/v1/events", json!([now(round)])).await.ok(200);
    relay.flush().await.unwrap();
    let flagged = api.get(&breaches).await.ok(200);
    assert_eq!(flagged[0]["code"], "locked", "{flagged}");
    assert_eq!(
        db!(&db, |c| sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM outbox WHERE topic = 'ops.limit.breached'")
            .fetch_one(c)
            .await)
        .unwrap(),
        2
    );
});

both_engines!(a_lock_stops_what_it_covers_in_the_platforms_checks_until_it_is_lifted, |db| async move {
    let api = api(&db).await;
    api.post("/api/v1/events", json!([registered("p-1")])).await.ok(200);
    let player = api.player_id("p-1").await;
    let (_, platform) = new_key(&db, "ops:read").await;
    let (kyc_name, kyc) = new_key(&db, "ops:write").await;
    let checks = format!("/api/v1/players/{player}/checks");
    let ask = |activity: &'static str| {
        let body = json!({"activity": activity, "amount": 5_000, "currency": "EUR"});
        api.call(Method::POST, &checks, Some(&platform), Some(body))
    };
    assert_eq!(ask("deposit").await.ok(200)["allowed"], true);

    // A module's key locks deposits, naming itself; the platform's checks follow at once.
    let locks = format!("/api/v1/players/{player}/locks");
    let body = json!({"scope": "deposits", "reason": "proof of address overdue", "origin": "kyc"});
    let lock = api.call(Method::POST, &locks, Some(&kyc), Some(body)).await.ok(201);
    assert_eq!((lock["origin"].as_str(), lock["in_force"].as_bool()), (Some("kyc"), Some(true)));
    assert_eq!(lock["set_by"], format!("api-key:{kyc_name}"));
    let denied = ask("deposit").await.ok(200);
    assert_eq!((denied["allowed"].as_bool(), denied["code"].as_str()), (Some(false), Some("locked")), "{denied}");
    assert_eq!(denied["lock_id"], lock["id"]);
    assert!(denied["reason"].as_str().unwrap().contains("proof of address overdue"), "{denied}");
    assert_eq!(ask("stake").await.ok(200)["allowed"], true, "a deposit lock leaves play open");

    // Lifting needs a reason, happens once, and is audited with the lock before and after.
    let lift = format!("/api/v1/locks/{}/lift", lock["id"].as_str().unwrap());
    api.post(&lift, json!({"reason": " "})).await.problem(422);
    let lifted = api.post(&lift, json!({"reason": "document received"})).await.ok(200);
    assert_eq!(
        (lifted["in_force"].as_bool(), lifted["lift_reason"].as_str()),
        (Some(false), Some("document received"))
    );
    api.post(&lift, json!({"reason": "again"})).await.problem(409);
    assert_eq!(ask("deposit").await.ok(200)["allowed"], true);
    let history = api.get(&locks).await.ok(200);
    assert_eq!(history.as_array().unwrap().len(), 1, "a lifted lock stays in the history");
    let set = audit::list(&db, Some("player"), Some(&player), 10).await.unwrap();
    assert!(set.iter().any(|r| r.action == "ops.lock_set" && r.actor == format!("api-key:{kyc_name}")));
    let lifts = audit::list(&db, Some("lock"), lock["id"].as_str(), 10).await.unwrap();
    assert_eq!(lifts.len(), 1);
    assert_eq!((lifts[0].action.as_str(), lifts[0].reason.as_deref()), ("ops.lock_lifted", Some("document received")));
    assert_eq!(lifts[0].before.as_ref().unwrap()["lifted_at"], Value::Null);

    // Bad input is a problem naming the field; the read-only key may not lock.
    for (body, status) in [
        (json!({"scope": "everything", "reason": "x"}), 422),
        (json!({"scope": "all", "reason": "x", "expires_at": "2020-01-01T00:00:00Z"}), 422),
        (json!({"scope": "all", "reason": "x", "origin": "Not A Module"}), 422),
    ] {
        api.call(Method::POST, &locks, Some(&kyc), Some(body)).await.problem(status);
    }
    api.call(
        Method::POST,
        &checks,
        Some(&platform),
        Some(json!({"activity": "deposit", "amount": -1, "currency": "EUR"})),
    )
    .await
    .problem(422);
    api.call(Method::POST, &locks, Some(&platform), Some(json!({"scope": "all", "reason": "x"}))).await.problem(403);
    api.call(
        Method::POST,
        &format!("/api/v1/players/{}/checks", Uuid::now_v7()),
        Some(&platform),
        Some(json!({"activity": "session"})),
    )
    .await
    .problem(404);
});

both_engines!(a_player_takes_a_break_within_their_jurisdiction_and_cannot_cut_it_short, |db| async move {
    let api = api(&db).await;
    // `registered` players live in Germany: the GGL profile holds them.
    api.post("/api/v1/events", json!([registered("p-1")])).await.ok(200);
    let player = api.player_id("p-1").await;
    let (_, platform) = new_key(&db, "ops:read,ops:write").await;
    let profiles = api.call(Method::GET, "/api/v1/jurisdictions", Some(&platform), None).await.ok(200);
    let codes: BTreeSet<&str> = profiles.as_array().unwrap().iter().map(|p| p["code"].as_str().unwrap()).collect();
    assert!(["ukgc", "mga", "ggl"].iter().all(|c| codes.contains(c)), "{profiles}");

    let breaks = format!("/api/v1/players/{player}/exclusions");
    let take = |body: Value| api.call(Method::POST, &breaks, Some(&platform), Some(body));
    let too_long = take(json!({"kind": "timeout", "days": 60})).await.problem(422);
    assert!(too_long["detail"].as_str().unwrap().contains("Glücksspielbehörde"), "{too_long}");
    let timeout = take(json!({"kind": "timeout", "days": 7, "reason": "needs a break"})).await.ok(201);
    assert_eq!(timeout["jurisdiction"], "ggl");
    take(json!({"kind": "timeout", "days": 1})).await.problem(409);

    let checks = format!("/api/v1/players/{player}/checks");
    let ask =
        |activity: &'static str| api.call(Method::POST, &checks, Some(&platform), Some(json!({"activity": activity})));
    assert_eq!(ask("session").await.ok(200)["code"], "timed_out");
    assert_eq!(ask("withdrawal").await.ok(200)["allowed"], true);
    take(json!({"kind": "self_exclusion"})).await.ok(201);
    assert_eq!(ask("deposit").await.ok(200)["code"], "self_excluded");
    let listed = api.call(Method::GET, &breaks, Some(&platform), None).await.ok(200);
    assert_eq!(listed.as_array().unwrap().len(), 2);
    let records = audit::list(&db, Some("player"), Some(&player), 10).await.unwrap();
    assert_eq!(records.iter().filter(|r| r.action == "ops.exclusion_started").count(), 2);
});

both_engines!(
    a_players_deposit_limit_is_answered_with_its_headroom_and_rises_only_after_cooling_off,
    |db| async move {
        let api = api(&db).await;
        api.post("/api/v1/events", json!([registered("p-1"), deposit("p-1", "d-1", 30_000)])).await.ok(200);
        let player = api.player_id("p-1").await;
        let (_, platform) = new_key(&db, "ops:read,ops:write").await;
        let limits = format!("/api/v1/players/{player}/limits");
        let set = |body: Value| api.call(Method::POST, &limits, Some(&platform), Some(body));
        let first =
            set(json!({"kind": "deposit", "period": "day", "origin": "player", "amount": 50_000, "currency": "EUR"}))
                .await
                .ok(201);
        assert_eq!(first["effective_at"], first["requested_at"], "a first limit applies at once");
        let raised =
            set(json!({"kind": "deposit", "period": "day", "origin": "player", "amount": 90_000, "currency": "EUR"}))
                .await
                .ok(201);
        assert_ne!(raised["effective_at"], raised["requested_at"], "GGL: an increase waits seven days");
        set(json!({"kind": "deposit", "period": "day", "origin": "player", "currency": "EUR"})).await.problem(409);
        set(json!({"kind": "deposit", "period": "day", "origin": "player", "amount": -5, "currency": "EUR"}))
            .await
            .problem(422);

        let checks = format!("/api/v1/players/{player}/checks");
        let body = json!({"activity": "deposit", "amount": 25_000, "currency": "EUR"});
        let answer = api.call(Method::POST, &checks, Some(&platform), Some(body)).await.ok(200);
        assert_eq!(
            (answer["allowed"].as_bool(), answer["code"].as_str()),
            (Some(false), Some("deposit_limit")),
            "{answer}"
        );
        assert_eq!(answer["headroom"]["amount"], 20_000);
        let view = api.call(Method::GET, &limits, Some(&platform), None).await.ok(200);
        assert_eq!(view["in_force"].as_array().unwrap().len(), 1);
        assert_eq!(view["changes"].as_array().unwrap().len(), 2);
        let records = audit::list(&db, Some("player"), Some(&player), 10).await.unwrap();
        assert_eq!(records.iter().filter(|r| r.action == "ops.limit_changed").count(), 2);
    }
);

both_engines!(changes_made_over_the_api_are_announced_as_valid_events_of_their_type, |db| async move {
    let api = api(&db).await;
    let p = api.player("p-1").await;
    let id = p["id"].as_str().unwrap();
    api.patch(&format!("/api/v1/players/{id}"), json!({"first_name": "Anna", "tags": ["vip"]})).await.ok(200);
    let rows: Vec<(String, String)> =
        db!(&db, |c| sqlx::query_as("SELECT topic, payload FROM outbox ORDER BY id").fetch_all(c).await).unwrap();
    let topics: Vec<&str> = rows.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(topics, ["player.registered", "player.updated"]);
    for (topic, payload) in &rows {
        let envelope: Value = serde_json::from_str(payload).unwrap();
        let parsed = pitboss_core::Envelope::parse(&envelope, Utc::now());
        assert!(parsed.is_ok(), "{topic}: {parsed:?}\n{envelope}");
    }
    let updated: Value = serde_json::from_str(&rows[1].1).unwrap();
    assert_eq!(updated["payload"]["first_name"], "Anna");
});

// ---- system ----

both_engines!(liveness_answers_200, |db| async move {
    let api = api(&db).await;
    let health = api.call(Method::GET, "/healthz", None, None).await.ok(200);
    assert_eq!(health["status"], "ok");
});

/// `/readyz` answers 200 when the database and the bus answer.
async fn readiness_answers_200(db: Db) {
    let api = api(&db).await;
    let ready = api.call(Method::GET, "/readyz", None, None).await.ok(200);
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["database"], db.engine().name());
    assert_eq!(ready["bus"], "in-process");
}

both_engines!(readiness_answers_200_when_the_database_and_the_bus_answer, |db| async move {
    readiness_answers_200(db).await;
});

both_engines!(metrics_count_requests_by_route_template, |db| async move {
    pitboss_web::install_recorder();
    let api = api(&db).await;
    api.call(Method::GET, "/healthz", None, None).await.ok(200);
    let unknown = Uuid::now_v7();
    api.get(&format!("/api/v1/players/{unknown}")).await.problem(404);
    let metrics = api.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(metrics.content_type.as_deref().is_some_and(|c| c.starts_with("text/plain")), "{:?}", metrics.content_type);
    let text = metrics.text;
    assert!(text.contains("pitboss_http_requests_total"), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("pitboss_http_requests_total") && l.contains("route=\"/healthz\"")),
        "{text}"
    );
    assert!(text.contains("route=\"/api/v1/players/{id}\""), "requests are counted by route template: {text}");
    assert!(!text.contains(&unknown.to_string()), "never by raw path: {text}");
    assert!(text.contains("pitboss_http_request_duration_seconds"), "{text}");
});

/// Every (method, path) of the API and the probes, in the document's terms: the guard's route
/// table without the pages, static assets and the document itself.
fn api_routes() -> Vec<(String, String)> {
    pitboss_web::guard::ROUTES
        .iter()
        .filter(|r| r.path.starts_with("/api/v1/") || ["/healthz", "/readyz", "/metrics"].contains(&r.path))
        .map(|r| (r.method.as_str().to_lowercase(), r.path.to_string()))
        .collect()
}

both_engines!(the_openapi_document_is_3_1_and_lists_every_route_the_router_serves, |db| async move {
    let api = api(&db).await;
    let doc = api.call(Method::GET, "/api/openapi.json", None, None).await.ok(200);
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")), "{}", doc["openapi"]);
    assert!(doc["info"]["title"].is_string());

    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                documented.insert((method.to_string(), path.clone()));
            }
        }
    }
    let served: BTreeSet<(String, String)> = api_routes().into_iter().collect();
    assert_eq!(documented, served, "the document and the router disagree");

    // Every documented operation reaches a handler (no fallback 404, no 405).
    for (method, path) in &documented {
        let concrete = path.replace("{id}", &Uuid::now_v7().to_string());
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let body = (method != Method::GET).then(|| json!({}));
        let reply = api.call(method.clone(), &concrete, Some(&api.key), body).await;
        assert_ne!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert!(
            !reply.text.contains("no such endpoint"),
            "{method} {path} is documented but not served: {}",
            reply.text
        );
    }

    // Operations that need a key say so; webhooks document their signature header.
    for rule in pitboss_web::guard::ROUTES.iter().filter(|r| r.path.starts_with("/api/v1/")) {
        let (method, path) = (rule.method.as_str().to_lowercase(), rule.path);
        let op = &doc["paths"][path][method.as_str()];
        match rule.access {
            Access::Policy(_) => assert!(
                op["security"].as_array().is_some_and(|s| !s.is_empty()),
                "{method} {path} does not document its API key"
            ),
            Access::Signed => assert!(
                op["parameters"].as_array().is_some_and(|ps| ps.iter().any(|p| p["name"] == "Pitboss-Signature")),
                "{method} {path} does not document its signature"
            ),
            Access::Public | Access::SigningIn => {}
        }
    }
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());
});

both_engines!(documented_enum_values_are_the_values_the_api_accepts, |db| async move {
    let api = api(&db).await;
    let doc = api.call(Method::GET, "/api/openapi.json", None, None).await.ok(200);
    let values = |name: &str| -> Vec<String> {
        let schema = &doc["components"]["schemas"][name];
        schema["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: {schema}"))
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    let names = |all: Vec<&str>| all.into_iter().map(str::to_string).collect::<Vec<_>>();
    assert_eq!(values("EventType"), names(pitboss_core::EventType::ALL.iter().map(|t| t.as_str()).collect()));
    assert_eq!(values("PlayerStatus"), names(pitboss_players::PlayerStatus::ALL.iter().map(|s| s.as_str()).collect()));
    assert_eq!(values("KycStatus"), names(pitboss_players::KycStatus::ALL.iter().map(|s| s.as_str()).collect()));
    assert_eq!(values("Gender"), names(pitboss_players::Gender::ALL.iter().map(|s| s.as_str()).collect()));
    assert_eq!(values("TxStatus"), names(vec!["pending", "completed", "failed", "reversed", "disputed"]));
    assert_eq!(values("ItemStatus"), names(vec!["accepted", "duplicate", "rejected"]));
});

both_engines!(a_json_body_without_its_content_type_is_a_415_problem, |db| async move {
    let api = api(&db).await;
    let req = Request::post("/api/v1/players")
        .header(header::AUTHORIZATION, format!("Bearer {}", api.key))
        .body(Body::from(r#"{"external_id": "p-1", "country": "DE", "currency": "EUR"}"#))
        .unwrap();
    let res = api.app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(res.headers()[header::CONTENT_TYPE], "application/problem+json");
});

both_engines!(a_player_body_over_the_size_limit_is_a_413_problem, |db| async move {
    let api = api(&db).await;
    let big = vec![b' '; pitboss_web::MAX_BODY_BYTES + 1];
    api.raw(Method::POST, "/api/v1/players", Some(&api.key), Some(big)).await.problem(413);
});

both_engines!(an_event_body_over_the_size_limit_is_a_413_problem, |db| async move {
    let api = api(&db).await;
    let big = vec![b' '; pitboss_web::MAX_BODY_BYTES + 1];
    api.raw(Method::POST, "/api/v1/events", Some(&api.key), Some(big)).await.problem(413);
});

both_engines!(a_method_the_route_does_not_serve_is_a_405_problem, |db| async move {
    let api = api(&db).await;
    for (method, path) in
        [(Method::DELETE, "/api/v1/players".to_string()), (Method::PUT, format!("/api/v1/players/{}", Uuid::now_v7()))]
    {
        api.call(method, &path, Some(&api.key), None).await.problem(405);
    }
});

both_engines!(an_unknown_route_is_a_404_problem, |db| async move {
    let api = api(&db).await;
    for path in ["/nope", "/api/v1/nope", "/api/v2/players", "/api/v1/players/x/y/z"] {
        let p = api.get(path).await.problem(404);
        assert!(p["detail"].as_str().unwrap().contains("/api/openapi.json"), "{path}: {p}");
    }
    api.call(Method::GET, "/nope", None, None).await.problem(404);
});

both_engines!(a_process_running_only_players_serves_players_but_not_events_or_the_ledger, |db| async move {
    let api = api_with_targets(&db, "players").await;
    let p = api.post("/api/v1/events", json!([registered("p-1")])).await.problem(404);
    assert!(p["detail"].as_str().unwrap().contains("no such endpoint"), "{p}");
    api.get("/api/v1/transactions").await.problem(404);
    api.player("p-1").await;
    let page = api.get("/api/v1/players").await.ok(200);
    assert_eq!(page["items"][0]["external_id"], "p-1");
    // The system routes are served whatever the targets.
    api.call(Method::GET, "/healthz", None, None).await.ok(200);
    api.call(Method::GET, "/api/openapi.json", None, None).await.ok(200);
});

both_engines!(the_event_schemas_endpoint_serves_the_generated_bundle, |db| async move {
    let api = api(&db).await;
    let served = api.call(Method::GET, "/api/v1/events/schemas", Some(&api.key), None).await.ok(200);
    assert_eq!(served, pitboss_web::openapi::event_schemas());
});

both_engines!(anomaly_alerts_are_listed_handled_once_and_audited_and_rules_change_through_the_api, |db| async move {
    use pitboss_bus::Transport;
    use pitboss_ops::consumer::{ANOMALIES, AnomaliesConsumer};
    pitboss_ops::anomaly_rules::install_shipped(&db, Utc::now()).await.unwrap();
    let transport = Arc::new(InProcess::new());
    transport
        .subscribe(ANOMALIES, AnomaliesConsumer::new(db.clone(), Arc::new(pitboss_rules::Rates::new())))
        .await
        .unwrap();
    let relay = pitboss_bus::relay::Relay::new(db.clone(), transport);
    let api = api(&db).await;
    api.post("/api/v1/events", json!([registered("p-1")])).await.ok(200);
    let player = api.player_id("p-1").await;

    // The rules, and a threshold lowered without a code change; a bad condition is refused
    // with the field and what is wrong.
    let rules = api.get("/api/v1/anomaly-rules").await.ok(200);
    let velocity = rules.as_array().unwrap().iter().find(|r| r["key"] == "deposit_velocity").unwrap().clone();
    let path = format!("/api/v1/anomaly-rules/{}", velocity["id"].as_str().unwrap());
    let bad = api.patch(&path, json!({"condition": "recent.deposits >= 2 EUR"})).await.problem(422);
    assert_eq!(bad["field"], "condition", "{bad}");
    let changed = api.patch(&path, json!({"condition": "recent.deposits >= 2", "severity": "high"})).await.ok(200);
    assert_eq!((changed["version"].as_i64(), changed["severity"].as_str()), (Some(2), Some("high")));
    let created =
        json!({"name": "Big deposit", "events": ["payment.deposit.completed"], "condition": "event.amount >= 500 EUR"});
    let big = api.post("/api/v1/anomaly-rules", created.clone()).await.ok(201);
    assert_eq!(big["mode"], "shadow", "a new rule records before it alerts");
    assert_eq!(api.post("/api/v1/anomaly-rules", created).await.problem(409)["status"], 409);

    api.post("/api/v1/events", json!([deposit("p-1", "d-1", 1_000), deposit("p-1", "d-2", 60_000)])).await.ok(200);
    relay.flush().await.unwrap();
    let open = api.get("/api/v1/alerts").await.ok(200);
    let items = open["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "the shadow rule's hit is not listed: {open}");
    assert_eq!(
        (items[0]["rule_name"].as_str(), items[0]["severity"].as_str()),
        (Some("Deposit velocity"), Some("high"))
    );
    let shadow = api.get("/api/v1/alerts?state=shadow").await.ok(200);
    assert_eq!(shadow["items"][0]["rule_name"], "Big deposit");
    assert_eq!(api.get("/api/v1/alerts?state=gone").await.problem(422)["field"], "state");
    let id = items[0]["id"].as_str().unwrap();
    let detail = api.get(&format!("/api/v1/alerts/{id}")).await.ok(200);
    assert_eq!(detail["hit_events"].as_array().unwrap().len(), 1);

    let acked = api.post(&format!("/api/v1/alerts/{id}/acknowledge"), json!({})).await.ok(200);
    assert_eq!(acked["state"], "acknowledged");
    api.post(&format!("/api/v1/alerts/{id}/acknowledge"), json!({})).await.problem(409);
    api.post(&format!("/api/v1/alerts/{id}/assign"), json!({"assignee": "operator:olga"})).await.ok(200);
    let no_outcome = api.post(&format!("/api/v1/alerts/{id}/resolve"), json!({"outcome": "maybe", "note": "x"})).await;
    assert_eq!(no_outcome.status, StatusCode::UNPROCESSABLE_ENTITY);
    let resolved = api
        .post(
            &format!("/api/v1/alerts/{id}/resolve"),
            json!({"outcome": "confirmed", "note": "limit set with the player"}),
        )
        .await
        .ok(200);
    assert_eq!((resolved["state"].as_str(), resolved["outcome"].as_str()), (Some("resolved"), Some("confirmed")));
    let on_player = api.get(&format!("/api/v1/players/{player}/alerts")).await.ok(200);
    assert_eq!(on_player[0]["state"], "resolved");
    let actions: Vec<String> =
        audit::list(&db, Some("alert"), Some(id), 10).await.unwrap().into_iter().map(|r| r.action).collect();
    assert_eq!(actions, ["alert.resolve", "alert.assign", "alert.acknowledge"]);
    let rule_changes = audit::list(&db, Some("anomaly_rule"), None, 10).await.unwrap();
    assert_eq!(rule_changes.len(), 2, "the change and the new rule; the refused ones changed nothing");

    // Subscriptions are the caller's own; a webhook's secret is shown once.
    let hook = json!({"channel": "webhook", "target": "https://siem.casino.test/pitboss", "min_severity": "high"});
    let made = api.post("/api/v1/alert-subscriptions", hook).await.ok(201);
    assert_eq!(made["secret"].as_str().map(str::len), Some(64), "{made}");
    let mine = api.get("/api/v1/alert-subscriptions").await.ok(200);
    assert_eq!((mine.as_array().unwrap().len(), mine[0].get("secret")), (1, None), "{mine}");
    let bad = json!({"channel": "email", "target": "olga at casino"});
    assert_eq!(api.post("/api/v1/alert-subscriptions", bad).await.problem(422)["field"], "target");
    let sub = format!("/api/v1/alert-subscriptions/{}", made["id"].as_str().unwrap());
    let gone = api.call(Method::DELETE, &sub, Some(&api.key), None).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    api.call(Method::DELETE, &sub, Some(&api.key), None).await.problem(422);
    assert_eq!(api.get("/api/v1/alert-subscriptions").await.ok(200), json!([]));
});

both_engines!(session_time_limits_count_the_platforms_sessions_and_a_session_beyond_one_is_flagged, |db| async move {
    use pitboss_bus::Transport;
    use pitboss_ops::consumer::{BREACHES, BreachesConsumer, SESSIONS, SessionsConsumer};
    let transport = Arc::new(InProcess::new());
    transport.subscribe(SESSIONS, SessionsConsumer::new(db.clone())).await.unwrap();
    let rates = Arc::new(pitboss_rules::Rates::new());
    transport.subscribe(BREACHES, BreachesConsumer::new(db.clone(), rates)).await.unwrap();
    let relay = pitboss_bus::relay::Relay::new(db.clone(), transport);
    let api = api(&db).await;
    api.post("/api/v1/events", json!([registered("p-1")])).await.ok(200);
    let player = api.player_id("p-1").await;
    let limits = format!("/api/v1/players/{player}/limits");
    // A time limit is minutes, without a currency.
    let with_currency =
        json!({"kind": "session_time", "period": "day", "origin": "operator", "amount": 60, "currency": "EUR"});
    assert_eq!(api.post(&limits, with_currency).await.problem(422)["field"], "currency");
    let limit = json!({"kind": "session_time", "period": "day", "origin": "operator", "amount": 60});
    assert_eq!(api.post(&limits, limit).await.ok(201)["amount"], 60);
    let reality = json!({"kind": "reality_check", "origin": "operator", "amount": 20});
    assert_eq!(api.post(&limits, reality).await.ok(201)["period"], "day");

    // Fifty minutes played, by the platform's events.
    let at = |minutes: i64| (Utc::now() - Duration::minutes(minutes)).to_rfc3339();
    let mut started = event("session.started", "p-1", json!({"session_id": "s-1", "ip": null, "device": "ios"}));
    started["occurred_at"] = json!(at(100));
    let mut ended = event("session.ended", "p-1", json!({"session_id": "s-1", "duration_seconds": 3000}));
    ended["occurred_at"] = json!(at(50));
    api.post("/api/v1/events", json!([started, ended])).await.ok(200);
    relay.flush().await.unwrap();
    let checks = format!("/api/v1/players/{player}/checks");
    let answer = api.post(&checks, json!({"activity": "session"})).await.ok(200);
    assert_eq!((answer["allowed"].as_bool(), answer["time_left_minutes"].as_i64()), (Some(true), Some(10)), "{answer}");
    assert_eq!(answer["reality_check_minutes"], 20);

    // Another forty minutes: the limit is used up, and a session started anyway is flagged.
    let mut started = event("session.started", "p-1", json!({"session_id": "s-2", "ip": null, "device": "ios"}));
    started["occurred_at"] = json!(at(40));
    let mut ended = event("session.ended", "p-1", json!({"session_id": "s-2", "duration_seconds": 2400}));
    ended["occurred_at"] = json!(at(0));
    api.post("/api/v1/events", json!([started, ended])).await.ok(200);
    relay.flush().await.unwrap();
    let denied = api.post(&checks, json!({"activity": "session"})).await.ok(200);
    assert_eq!(denied["code"], "session_time_limit", "{denied}");
    let mut third = event("session.started", "p-1", json!({"session_id": "s-3", "ip": null, "device": "ios"}));
    third["occurred_at"] = json!(Utc::now().to_rfc3339());
    api.post("/api/v1/events", json!([third])).await.ok(200);
    relay.flush().await.unwrap();
    let flagged = api.get(&format!("/api/v1/players/{player}/breaches")).await.ok(200);
    let codes: Vec<&str> = flagged.as_array().unwrap().iter().filter_map(|b| b["code"].as_str()).collect();
    assert_eq!(codes, ["session_time_limit"], "{flagged}");
});
