//! Searching a segment's members as operators whose roles see personal data masked, on both
//! engines: a search finds by email or name only the members whose personal data the caller may
//! see, and the segment page masks the rest as the player pages do.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use pitboss_auth::Caller;
use pitboss_auth::operator::{self, NewOperator};
use pitboss_auth::session::{SessionPolicy, Sessions, Stage};
use pitboss_bus::in_process::InProcess;
use pitboss_ingest::Ingestor;
use pitboss_store::{Db, both_engines};
use pitboss_web::guard::SESSION_COOKIE;
use pitboss_web::{AppState, Security, Target};
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;

struct Env {
    app: Router,
    db: Db,
    sessions: Sessions,
}

/// A signed-in browser: the session cookie and its CSRF token.
struct Browser {
    cookie: String,
    csrf: String,
}

async fn env(db: &Db) -> Env {
    let sessions = Sessions::in_process(SessionPolicy::default());
    let security = Security { sessions: sessions.clone(), secure_cookies: false, ..Security::default() };
    let state = AppState::new(
        db.clone(),
        Ingestor::new(db.clone()),
        Arc::new(InProcess::new()),
        Target::parse_list("all").expect("targets"),
    )
    .with_security(security);
    Env { app: pitboss_web::app(state), db: db.clone(), sessions }
}

impl Env {
    async fn operator(&self, roles: &[&str], brands: &[&str]) -> Browser {
        let new = NewOperator {
            username: format!("op-{}", &Uuid::now_v7().simple().to_string()[20..]),
            password: Some("a long enough password".into()),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            brands: brands.iter().map(|b| b.to_string()).collect(),
            ..Default::default()
        };
        let op = operator::create(&self.db, new, &Caller::system()).await.expect("operator");
        let (token, session) = self.sessions.start(Some(op.id), Stage::SignedIn, None, None).await.expect("session");
        Browser { cookie: format!("{SESSION_COOKIE}={token}"), csrf: session.csrf_token }
    }

    async fn send(&self, method: Method, path: &str, who: &Browser, body: Option<Value>) -> (StatusCode, String) {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::COOKIE, &who.cookie)
            .header("x-csrf-token", &who.csrf);
        let req = match body {
            Some(v) => req.header(header::CONTENT_TYPE, "application/json").body(Body::from(v.to_string())),
            None => req.body(Body::empty()),
        }
        .unwrap();
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The player ids the members API finds for `q`.
    async fn found(&self, segment: &str, q: &str, who: &Browser) -> Vec<String> {
        let (status, text) =
            self.send(Method::GET, &format!("/api/v1/segments/{segment}/members?q={q}"), who, None).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        let page: Value = serde_json::from_str(&text).unwrap();
        page["items"].as_array().unwrap().iter().map(|m| m["player_id"].as_str().unwrap().to_string()).collect()
    }
}

both_engines!(masked_callers_find_members_only_by_what_they_may_see, |db| async move {
    let env = env(&db).await;
    let admin = env.operator(&["admin"], &[]).await;
    let mut ids = Vec::new();
    for (external, email, first, last, vip) in [
        ("ext-1", "anna.schmidt@example.com", "Anna", "Schmidt", "none"),
        ("ext-2", "vera.vogel@example.com", "Vera", "Vogel", "gold"),
    ] {
        let body = json!({"external_id": external, "country": "DE", "currency": "EUR", "email": email,
            "first_name": first, "last_name": last});
        let (status, text) = env.send(Method::POST, "/api/v1/players", &admin, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{text}");
        let id = serde_json::from_str::<Value>(&text).unwrap()["id"].as_str().unwrap().to_string();
        let (status, text) =
            env.send(Method::PATCH, &format!("/api/v1/players/{id}"), &admin, Some(json!({"vip_tier": vip}))).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        ids.push(id);
    }
    let (anna, vera) = (&ids[0], &ids[1]);
    let body = json!({"name": "Germans", "condition": "country == \"DE\""});
    let (status, text) = env.send(Method::POST, "/api/v1/segments", &admin, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    let segment = serde_json::from_str::<Value>(&text).unwrap()["id"].as_str().unwrap().to_string();

    // A marketer sees personal data: found by email and name, shown in full.
    let marketer = env.operator(&["marketer"], &[]).await;
    assert_eq!(env.found(&segment, "anna.s", &marketer).await, [anna.as_str()]);
    assert_eq!(env.found(&segment, "vogel", &marketer).await, [vera.as_str()]);
    let (_, page) = env.send(Method::GET, &format!("/segments/{segment}?q=schmidt"), &marketer, None).await;
    assert!(page.contains("ext-1") && page.contains("anna.schmidt@example.com") && page.contains("Anna Schmidt"));
    assert!(!page.contains("ext-2"), "only the match is listed");

    // An analyst sees none: a search by email or name finds nobody, by external id it finds, masked.
    let analyst = env.operator(&["analyst"], &[]).await;
    assert!(env.found(&segment, "anna", &analyst).await.is_empty());
    assert!(env.found(&segment, "vera.vogel%40example.com", &analyst).await.is_empty());
    assert_eq!(env.found(&segment, "ext-1", &analyst).await, [anna.as_str()]);
    let (status, page) = env.send(Method::GET, &format!("/segments/{segment}?q=ext"), &analyst, None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("ext-1") && page.contains("ext-2") && page.contains("***"), "{page}");
    for secret in ["anna.schmidt@example.com", "Schmidt", "vera.vogel", "Vogel"] {
        assert!(!page.contains(secret), "the analyst's page shows {secret}");
    }
    let (_, page) = env.send(Method::GET, &format!("/segments/{segment}?q=schmidt"), &analyst, None).await;
    assert!(!page.contains("ext-1"), "a name search tells the analyst nothing");

    // A VIP manager sees the personal data of VIP players of their brands only.
    let vip_manager = env.operator(&["vip_manager"], &["main"]).await;
    assert_eq!(env.found(&segment, "vera", &vip_manager).await, [vera.as_str()]);
    assert!(env.found(&segment, "anna", &vip_manager).await.is_empty());
    assert_eq!(env.found(&segment, "ext-1", &vip_manager).await, [anna.as_str()]);
    let (_, page) = env.send(Method::GET, &format!("/segments/{segment}"), &vip_manager, None).await;
    assert!(page.contains("vera.vogel@example.com") && page.contains("***"), "{page}");
    assert!(!page.contains("anna.schmidt@example.com"));
});
