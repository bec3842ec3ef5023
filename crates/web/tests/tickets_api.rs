//! The help desk's API on both engines: opening tickets (validated, routed, assigned), the
//! thread and the SLA clock, a reply pausing the clock, a stale change refused, bulk changes,
//! a player's tickets, saved views, scopes, and an audit record for every change.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use pitboss_auth::api_key;
use pitboss_bus::in_process::InProcess;
use pitboss_ingest::Ingestor;
use pitboss_store::{Db, both_engines, db, sqlx};
use pitboss_web::{AppState, Target};
use serde_json::{Value, json};
use tower::ServiceExt;

const MAIL_SECRET: &str = "mail-gateway-secret";
const PHONE_SECRET: &str = "telephony-secret";

async fn app(db: &Db) -> (Router, String) {
    let mut state = AppState::new(
        db.clone(),
        Ingestor::new(db.clone()),
        Arc::new(InProcess::new()),
        Target::parse_list("all").unwrap(),
    );
    state.webhooks = Arc::new(pitboss_web::WebhookSecrets {
        telephony: Some(PHONE_SECRET.into()),
        mail: Some(MAIL_SECRET.into()),
        chat_widget: None,
    });
    pitboss_helpdesk::queues::install_default(db, &state.helpdesk, chrono::Utc::now()).await.unwrap();
    let (_, key) = api_key::create(db, "desk", "admin".parse().unwrap(), "system").await.unwrap();
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

/// Posts a webhook's body, signed with `secret` (none: unsigned).
async fn signed(app: &Router, path: &str, secret: Option<&str>, body: Vec<u8>) -> (StatusCode, Value) {
    let mut req = Request::builder().method(Method::POST).uri(path);
    if let Some(secret) = secret {
        let signature = pitboss_core::signature::sign(secret, chrono::Utc::now().timestamp(), &body);
        req = req.header("pitboss-signature", signature);
    }
    let res = app.clone().oneshot(req.body(Body::from(body)).unwrap()).await.unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

async fn audited(db: &Db, action: &str) -> i64 {
    db!(db, |c| sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = $1").bind(action).fetch_one(c).await)
        .unwrap()
}

both_engines!(tickets_are_opened_answered_changed_and_audited, |db| async move {
    let (app, key) = app(&db).await;
    let body =
        json!({"external_id": "p-1", "country": "MT", "currency": "EUR", "email": "ann@example.com", "language": "de"});
    let (status, player) = call(&app, &key, Method::POST, "/api/v1/players", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{player}");
    let player_id = player["id"].as_str().unwrap().to_string();

    // Validation at the edge.
    let (status, bad) = call(
        &app,
        &key,
        Method::POST,
        "/api/v1/tickets",
        Some(json!({"subject": "", "channel": "email", "body": "x", "player_id": player_id})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    assert_eq!(bad["field"], "subject");
    let (status, bad) = call(
        &app,
        &key,
        Method::POST,
        "/api/v1/tickets",
        Some(json!({"subject": "Hi", "channel": "pigeon", "body": "x"})),
    )
    .await;
    assert!(status.is_client_error(), "{bad}");
    let unknown = uuid::Uuid::now_v7();
    let (status, _) = call(
        &app,
        &key,
        Method::POST,
        "/api/v1/tickets",
        Some(json!({"subject": "Hi", "channel": "email", "body": "x", "player_id": unknown})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A team that takes phone calls in turn.
    let queue = json!({"key": "phone", "name": "Phone team", "members": [{"agent": "operator:olga"}, {"agent": "operator:piet"}], "assignment": "round_robin"});
    let (status, saved) = call(&app, &key, Method::POST, "/api/v1/helpdesk/queues", Some(queue)).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let rule = json!({"position": 1, "field": "channel", "value": "phone", "queue": "phone"});
    let (status, _) = call(&app, &key, Method::POST, "/api/v1/helpdesk/routing", Some(rule)).await;
    assert_eq!(status, StatusCode::CREATED);

    let new = json!({"subject": "Withdrawal pending", "channel": "email", "body": "Where is my money?", "player_id": player_id, "tags": ["Payments"]});
    let (status, mail) = call(&app, &key, Method::POST, "/api/v1/tickets", Some(new)).await;
    assert_eq!(status, StatusCode::CREATED, "{mail}");
    assert_eq!(
        (mail["status"].as_str(), mail["queue"].as_str(), mail["requester"].as_str()),
        (Some("new"), Some("support"), Some("ann@example.com"))
    );
    assert_eq!(mail["language"], "de");
    let mut calls = Vec::new();
    for subject in ["Call about bonus", "Call about login"] {
        let new = json!({"subject": subject, "channel": "phone", "body": "Player called.", "kind": "call", "player_id": player_id});
        let (status, t) = call(&app, &key, Method::POST, "/api/v1/tickets", Some(new)).await;
        assert_eq!(status, StatusCode::CREATED, "{t}");
        calls.push(t);
    }
    assert_eq!(
        calls.iter().map(|t| t["assignee"].as_str().unwrap()).collect::<Vec<_>>(),
        vec!["operator:olga", "operator:piet"]
    );

    // The thread, the history and the SLA clock.
    let id = mail["id"].as_str().unwrap();
    let (_, detail) = call(&app, &key, Method::GET, &format!("/api/v1/tickets/{id}"), None).await;
    assert_eq!(detail["messages"].as_array().unwrap().len(), 1, "{detail}");
    assert_eq!(detail["history"][0]["what"], "created");
    assert!(detail["sla"]["first_response"]["due"].is_string(), "{detail}");
    assert_eq!(detail["sla"]["paused"], false);

    // A reply: the first response, and the ticket waits on the player with its clock stopped.
    let reply = json!({"kind": "reply", "body": "It is on its way."});
    let (status, written) =
        call(&app, &key, Method::POST, &format!("/api/v1/tickets/{id}/messages"), Some(reply)).await;
    assert_eq!(status, StatusCode::CREATED, "{written}");
    let (_, detail) = call(&app, &key, Method::GET, &format!("/api/v1/tickets/{id}"), None).await;
    assert_eq!(detail["status"], "pending");
    assert!(detail["first_response_at"].is_string());
    assert_eq!(detail["sla"]["first_response"]["met"], true);
    assert_eq!(detail["sla"]["paused"], true);
    assert_eq!(detail["resolution_due"], Value::Null, "the clock stands still");
    let (status, bad) = call(
        &app,
        &key,
        Method::POST,
        &format!("/api/v1/tickets/{id}/messages"),
        Some(json!({"kind": "player", "body": "x"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");

    // A change against a version read before the reply is refused.
    let stale = json!({"priority": "high", "expected_version": mail["version"]});
    let (status, problem) = call(&app, &key, Method::PATCH, &format!("/api/v1/tickets/{id}"), Some(stale)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("changed since you read it"));
    let fresh = json!({"priority": "high", "expected_version": detail["version"], "tags": ["payments", "vip"]});
    let (status, changed) = call(&app, &key, Method::PATCH, &format!("/api/v1/tickets/{id}"), Some(fresh)).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["priority"], "high");

    // Bulk: both calls to one agent; then the player's tickets and the filters.
    let ids: Vec<Value> = calls.iter().map(|t| t["id"].clone()).collect();
    let bulk = json!({"ids": ids, "change": {"assignee": "operator:quinn", "status": "on_hold"}});
    let (status, done) = call(&app, &key, Method::POST, "/api/v1/tickets/bulk", Some(bulk)).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert!(
        done["items"].as_array().unwrap().iter().all(|t| t["assignee"] == "operator:quinn" && t["status"] == "on_hold")
    );
    let (_, mine) = call(&app, &key, Method::GET, &format!("/api/v1/players/{player_id}/tickets"), None).await;
    assert_eq!(mine.as_array().unwrap().len(), 3);
    let (_, held) = call(&app, &key, Method::GET, "/api/v1/tickets?status=on_hold&assignee=operator:quinn", None).await;
    assert_eq!(held["items"].as_array().unwrap().len(), 2);
    let (status, bad) = call(&app, &key, Method::GET, "/api/v1/tickets?status=lost", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");

    // Saved views must read as the list's filters.
    let (status, bad) = call(
        &app,
        &key,
        Method::POST,
        "/api/v1/helpdesk/views",
        Some(json!({"name": "x", "query": "priority=extreme"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    let (status, _) = call(
        &app,
        &key,
        Method::POST,
        "/api/v1/helpdesk/views",
        Some(json!({"name": "Held", "query": "status=on_hold"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, views) = call(&app, &key, Method::GET, "/api/v1/helpdesk/views", None).await;
    assert_eq!(views[0]["query"], "status=on_hold");

    // A reader may read, not write.
    let (_, reader) = api_key::create(&db, "reader", "helpdesk:read".parse().unwrap(), "system").await.unwrap();
    let (status, _) = call(&app, &reader, Method::GET, "/api/v1/tickets", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, refused) =
        call(&app, &reader, Method::PATCH, &format!("/api/v1/tickets/{id}"), Some(json!({"priority": "low"}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");

    for (action, n) in [
        ("ticket.create", 3),
        ("ticket.reply", 1),
        ("ticket.update", 1),
        ("ticket.bulk_update", 2),
        ("helpdesk.queue_save", 1),
        ("helpdesk.route_add", 1),
        ("helpdesk.view_save", 1),
    ] {
        assert_eq!(audited(&db, action).await, n, "{action}");
    }
});

both_engines!(inbound_mail_arrives_through_the_webhook_and_bad_mail_is_quarantined, |db| async move {
    let (app, key) = app(&db).await;
    let post = |raw: String| {
        let app = app.clone();
        async move { signed(&app, "/api/v1/helpdesk/inbound-mail", Some(MAIL_SECRET), raw.into_bytes()).await }
    };
    let login = "From: zoe@example.com\r\nSubject: Login\r\nMessage-ID: <z1@example.com>\r\n\r\nI cannot log in.\r\n";
    let (status, receipt) = post(login.into()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{receipt}");
    assert_eq!(receipt["outcome"], "opened");
    let (_, again) = post(login.into()).await;
    assert_eq!(again["outcome"], "duplicate");
    let (status, away) =
        post("From: zoe@example.com\r\nAuto-Submitted: auto-replied\r\nSubject: Away\r\n\r\nAway.\r\n".into()).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(away["outcome"], "quarantined");
    assert!(away["reason"].as_str().unwrap().contains("automatic"), "{away}");
    // Over the mail size limit but under the request limit: kept in quarantine, not refused.
    let huge = format!("From: zoe@example.com\r\nSubject: Huge\r\n\r\n{}\r\n", "x".repeat(11 << 20));
    let (status, big) = post(huge).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{big}");
    assert_eq!(big["outcome"], "quarantined");
    let (_, kept) = call(&app, &key, Method::GET, "/api/v1/helpdesk/quarantine", None).await;
    assert_eq!(kept[1]["subject"], "Away");
    assert_eq!(audited(&db, "ticket.mail_in").await, 4);

    // Unsigned, signed with another secret, or an old signature: refused, audited, nothing taken.
    let mail = b"From: eve@example.com\r\nSubject: Hi\r\n\r\nx".to_vec();
    let (status, p) = signed(&app, "/api/v1/helpdesk/inbound-mail", None, mail.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("not signed"), "{p}");
    let (status, p) = signed(&app, "/api/v1/helpdesk/inbound-mail", Some("guess"), mail.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("does not match"), "{p}");
    let stale = pitboss_core::signature::sign(MAIL_SECRET, chrono::Utc::now().timestamp() - 3_600, &mail);
    let req = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/helpdesk/inbound-mail")
        .header("pitboss-signature", stale)
        .body(Body::from(mail))
        .unwrap();
    assert_eq!(app.clone().oneshot(req).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(audited(&db, "webhook.rejected").await, 3);
    assert_eq!(audited(&db, "ticket.mail_in").await, 4);
});

both_engines!(call_events_are_logged_on_a_phone_ticket_for_the_caller, |db| async move {
    let (app, key) = app(&db).await;
    let body = json!({"external_id": "p-ph", "country": "MT", "currency": "EUR", "phone": "+356 9912 3456"});
    let (_, player) = call(&app, &key, Method::POST, "/api/v1/players", Some(body)).await;
    let event = |v: Value| {
        let app = app.clone();
        async move { signed(&app, "/api/v1/helpdesk/calls", Some(PHONE_SECRET), v.to_string().into_bytes()).await }
    };
    let (status, started) = event(json!({"call_id": "c-1", "event": "started", "caller_number": "+35699123456"})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    assert_eq!(started["outcome"], "opened");
    assert_eq!(started["call"]["player_id"], player["id"]);
    let ticket_id = started["call"]["ticket_id"].as_str().unwrap().to_string();
    let (_, answered) = event(json!({"call_id": "c-1", "event": "answered", "caller_number": "+35699123456",
        "agent": "lena"}))
    .await;
    assert_eq!(answered["outcome"], "logged");
    let ended = json!({"call_id": "c-1", "event": "ended", "caller_number": "+35699123456",
        "duration_seconds": 200, "recording_url": "https://pbx.example/rec/c-1.mp3"});
    let (_, done) = event(ended.clone()).await;
    assert_eq!((done["call"]["state"].as_str(), done["call"]["duration_seconds"].as_i64()), (Some("ended"), Some(200)));
    // The provider sends the last event again: logged once.
    let (_, again) = event(ended).await;
    assert_eq!(again["outcome"], "duplicate");

    let (_, ticket) = call(&app, &key, Method::GET, &format!("/api/v1/tickets/{ticket_id}"), None).await;
    assert_eq!(ticket["channel"], "phone");
    assert_eq!(ticket["player_id"], player["id"]);
    let log: Vec<&str> = ticket["messages"].as_array().unwrap().iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert!(log.iter().any(|l| l.contains("answered by lena")), "{log:?}");
    assert!(log.iter().any(|l| l.contains("after 3 min 20 s") && l.contains("c-1.mp3")), "{log:?}");
    assert_eq!(log.iter().filter(|l| l.contains("ended")).count(), 1, "{log:?}");
    let (_, calls) = call(&app, &key, Method::GET, &format!("/api/v1/tickets/{ticket_id}/calls"), None).await;
    assert_eq!(calls[0]["recording_url"], "https://pbx.example/rec/c-1.mp3");

    // An unknown number still gets its ticket; a call nobody answered is missed.
    let (_, stranger) = event(json!({"call_id": "c-2", "event": "ended", "caller_number": "+441632960001"})).await;
    assert_eq!(stranger["outcome"], "opened");
    assert_eq!(stranger["call"]["state"], "missed");
    assert!(stranger["call"]["player_id"].is_null());

    // Bad input is refused with the field; an unsigned event is refused.
    let (status, p) = event(json!({"call_id": "c-3", "event": "started", "caller_number": "0800 CASINO"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["field"], "caller_number");
    let (status, _) = event(json!({"call_id": "c-3", "event": "hung_up", "caller_number": "+35699123456"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let unsigned = json!({"call_id": "c-4", "event": "started", "caller_number": "+35699123456"});
    let (status, _) = signed(&app, "/api/v1/helpdesk/calls", None, unsigned.to_string().into_bytes()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(audited(&db, "ticket.call_event").await, 5);
});

both_engines!(templates_are_checked_saved_and_rendered_for_a_ticket, |db| async move {
    use pitboss_core::Currency;
    use pitboss_payments::TxKind;
    use pitboss_payments::operations::{self, Context};
    let (app, key) = app(&db).await;
    let body = json!({"external_id": "p-t", "country": "DE", "currency": "EUR", "email": "tea@example.com",
        "first_name": "Tea", "last_name": "Berg", "language": "de"});
    let (_, player) = call(&app, &key, Method::POST, "/api/v1/players", Some(body)).await;
    let player_id: uuid::Uuid = player["id"].as_str().unwrap().parse().unwrap();
    let at = chrono::Utc::now();
    let mut tx = db.begin().await.unwrap();
    let ctx =
        Context { player: player_id, currency: Currency::EUR, method: None, occurred_at: at, now: at, actor: "test" };
    operations::payment_completed(&mut tx, &ctx, TxKind::Deposit, "d-1", 2_000).await.unwrap();
    operations::payment_completed(&mut tx, &ctx, TxKind::Deposit, "d-2", 5_050).await.unwrap();
    tx.commit().await.unwrap();
    let (_, ticket) = call(
        &app,
        &key,
        Method::POST,
        "/api/v1/tickets",
        Some(json!({"subject": "Where is my money", "channel": "email", "body": "?", "player_id": player_id})),
    )
    .await;
    let ticket_id = ticket["id"].as_str().unwrap();

    // A misspelt variable is refused with its line, and nothing is saved.
    let bad = json!({"name": "balance", "language": "en", "body": "Hi\n{{ player.frist_name }}"});
    let (status, problem) = call(&app, &key, Method::POST, "/api/v1/helpdesk/templates", Some(bad)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("line 2"), "{problem}");
    let english = "Hello {{ player.first_name }}, your balance is {{ player.balance }}; last deposit {{ player.last_deposit }}. Ticket #{{ ticket.number }}.";
    let german = "Hallo {{ player.first_name }}, Ihr Guthaben: {{ player.balance }} (#{{ ticket.number }}).";
    for (language, text) in [("en", english), ("de", german)] {
        let t = json!({"name": "balance", "language": language, "body": text});
        let (status, saved) = call(&app, &key, Method::POST, "/api/v1/helpdesk/templates", Some(t)).await;
        assert_eq!(status, StatusCode::CREATED, "{saved}");
    }
    let (_, only_en) = call(
        &app,
        &key,
        Method::POST,
        "/api/v1/helpdesk/templates",
        Some(json!({"name": "thanks", "language": "en", "body": "Thanks, {{ player.name }}."})),
    )
    .await;

    // Rendered in the ticket's language (the player's), else English.
    let preview = format!("/api/v1/tickets/{ticket_id}/template-preview");
    let (status, p) = call(&app, &key, Method::POST, &preview, Some(json!({"name": "balance"}))).await;
    assert_eq!(status, StatusCode::OK, "{p}");
    let number = ticket["number"].as_i64().unwrap();
    assert_eq!(p["language"], "de");
    assert_eq!(p["body"], format!("Hallo Tea, Ihr Guthaben: 70.50 EUR (#{number})."));
    let (_, p) = call(&app, &key, Method::POST, &preview, Some(json!({"name": "thanks"}))).await;
    assert_eq!((p["language"].as_str(), p["body"].as_str()), (Some("en"), Some("Thanks, Tea Berg.")));
    assert_eq!(p["variables"]["player"]["last_deposit"].as_str().unwrap().split(" on ").next(), Some("50.50 EUR"));
    let (status, _) = call(&app, &key, Method::POST, &preview, Some(json!({"name": "nope"}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let (_, all) = call(&app, &key, Method::GET, "/api/v1/helpdesk/templates", None).await;
    assert_eq!(all.as_array().unwrap().len(), 3);
    let gone = format!("/api/v1/helpdesk/templates/{}", only_en["id"].as_str().unwrap());
    assert_eq!(call(&app, &key, Method::DELETE, &gone, None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(call(&app, &key, Method::DELETE, &gone, None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(audited(&db, "helpdesk.template_save").await, 3);
    assert_eq!(audited(&db, "helpdesk.template_delete").await, 1);

    // Reading the help desk does not let a key write templates.
    let (_, reader) = api_key::create(&db, "reader", "helpdesk:read".parse().unwrap(), "system").await.unwrap();
    let t = json!({"name": "x", "language": "en", "body": "x"});
    assert_eq!(call(&app, &reader, Method::POST, "/api/v1/helpdesk/templates", Some(t)).await.0, StatusCode::FORBIDDEN);
});

both_engines!(a_players_communication_history_lists_mail_replies_and_calls_newest_first, |db| async move {
    let (app, key) = app(&db).await;
    let body = json!({"external_id": "p-h", "country": "MT", "currency": "EUR", "email": "hal@example.com",
        "phone": "+35699000111"});
    let (_, player) = call(&app, &key, Method::POST, "/api/v1/players", Some(body)).await;
    let player_id = player["id"].as_str().unwrap();
    let mail = "From: hal@example.com\r\nSubject: Bonus\r\nMessage-ID: <h1@example.com>\r\n\r\nWhere is my bonus?\r\n";
    let (_, receipt) = signed(&app, "/api/v1/helpdesk/inbound-mail", Some(MAIL_SECRET), mail.into()).await;
    let ticket = receipt["ticket_id"].as_str().unwrap().to_string();
    let write = |kind: &str, text: &str| json!({"kind": kind, "body": text});
    let path = format!("/api/v1/tickets/{ticket}/messages");
    let (status, r) = call(&app, &key, Method::POST, &path, Some(write("note", "Checked: bonus expired."))).await;
    assert!(status.is_success(), "{r}");
    call(&app, &key, Method::POST, &path, Some(write("reply", "Your bonus expired on Monday."))).await;
    let event = json!({"call_id": "h-1", "event": "ended", "caller_number": "+35699000111", "duration_seconds": 65,
        "agent": "lena"});
    signed(&app, "/api/v1/helpdesk/calls", Some(PHONE_SECRET), event.to_string().into_bytes()).await;

    let (status, contacts) =
        call(&app, &key, Method::GET, &format!("/api/v1/players/{player_id}/contacts"), None).await;
    assert_eq!(status, StatusCode::OK, "{contacts}");
    let kinds: Vec<&str> = contacts.as_array().unwrap().iter().map(|c| c["kind"].as_str().unwrap()).collect();
    // Newest first; the internal note is not a contact; the call is listed once.
    assert_eq!(kinds, ["call", "ticket", "email_out", "email_in", "ticket"], "{contacts}");
    assert!(contacts[0]["summary"].as_str().unwrap().contains("1 min 5 s"), "{contacts}");
    assert_eq!(contacts[2]["summary"], "Your bonus expired on Monday.");
    assert_eq!(contacts[3]["who"], "hal@example.com");
    let (status, _) =
        call(&app, &key, Method::GET, &format!("/api/v1/players/{player_id}/contacts?limit=0"), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
});

both_engines!(files_come_with_mail_and_from_agents_and_download_as_files, |db| async move {
    let (app, key) = app(&db).await;
    let mail = "From: ivy@example.com\r\nSubject: My ID\r\nMessage-ID: <i1@example.com>\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nHere is my ID.\r\n\
        --b\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename=\"id.png\"\r\n\
        Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n\
        --b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"setup.exe\"\r\n\r\nMZ\r\n\
        --b--\r\n";
    let (status, receipt) = signed(&app, "/api/v1/helpdesk/inbound-mail", Some(MAIL_SECRET), mail.into()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{receipt}");
    let ticket = receipt["ticket_id"].as_str().unwrap().to_string();
    let (_, detail) = call(&app, &key, Method::GET, &format!("/api/v1/tickets/{ticket}"), None).await;
    let files = detail["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{detail}");
    assert_eq!((files[0]["name"].as_str(), files[0]["size"].as_i64()), (Some("id.png"), Some(8)));
    let body = detail["messages"][0]["body"].as_str().unwrap();
    assert!(body.contains("setup.exe") && body.contains("forbidden type"), "{body}");

    // The file downloads as a file, never as a page.
    let url = format!("/api/v1/tickets/{ticket}/attachments/{}", files[0]["id"].as_str().unwrap());
    let req = Request::builder().uri(&url).header(header::AUTHORIZATION, format!("Bearer {key}")).body(Body::empty());
    let res = app.clone().oneshot(req.unwrap()).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let disposition = res.headers()[header::CONTENT_DISPOSITION].to_str().unwrap().to_string();
    assert!(disposition.starts_with("attachment; filename=\"id.png\""), "{disposition}");
    assert_eq!(res.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
    assert_eq!(&bytes[..], b"\x89PNG\r\n\x1a\n");

    // An agent adds a statement; a script is refused with the reason.
    let upload = |name: &str, content: &'static [u8]| {
        Request::builder()
            .method(Method::POST)
            .uri(format!("/api/v1/tickets/{ticket}/attachments?name={name}"))
            .header(header::AUTHORIZATION, format!("Bearer {key}"))
            .header(header::CONTENT_TYPE, "application/pdf")
            .body(Body::from(content))
            .unwrap()
    };
    let res = app.clone().oneshot(upload("statement.pdf", b"%PDF-1.4")).await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = app.clone().oneshot(upload("run.js", b"alert(1)")).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let (_, detail) = call(&app, &key, Method::GET, &format!("/api/v1/tickets/{ticket}"), None).await;
    assert_eq!(detail["files"].as_array().unwrap().len(), 2);
    assert_eq!(audited(&db, "ticket.attach").await, 1);
    let missing = format!("/api/v1/tickets/{ticket}/attachments/{}", uuid::Uuid::now_v7());
    assert_eq!(call(&app, &key, Method::GET, &missing, None).await.0, StatusCode::NOT_FOUND);
});
