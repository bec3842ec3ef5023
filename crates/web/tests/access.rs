//! Access control over the whole route table: every route refuses a caller without
//! credentials and a caller whose role (or API key scope) the policies do not allow; browser
//! requests that change something need the session's CSRF token; a disabled operator is out at
//! once; support agents see only the players of their brands and analysts see personal data
//! masked.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use pitboss_auth::operator::{self, NewOperator, ROLES};
use pitboss_auth::policy::{Action, Policies, RequestFacts, Resource};
use pitboss_auth::session::{SessionPolicy, Sessions, Stage};
use pitboss_auth::{Caller, api_key, audit};
use pitboss_bus::in_process::InProcess;
use pitboss_ingest::Ingestor;
use pitboss_store::{Db, both_engines};
use pitboss_web::guard::{Access, ROUTES, SESSION_COOKIE};
use pitboss_web::{AppState, Security, Target};
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;

struct Env {
    app: Router,
    db: Db,
    sessions: Sessions,
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

/// A signed-in browser: the session cookie and its CSRF token.
struct Browser {
    cookie: String,
    csrf: String,
}

struct Reply {
    status: StatusCode,
    location: Option<String>,
    text: String,
}

impl Env {
    async fn operator(&self, roles: &[&str], brands: &[&str]) -> (Uuid, Browser) {
        let username = format!("op-{}", &Uuid::now_v7().simple().to_string()[20..]);
        let new = NewOperator {
            username,
            password: Some("a long enough password".into()),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            brands: brands.iter().map(|b| b.to_string()).collect(),
            ..Default::default()
        };
        let op = operator::create(&self.db, new, &Caller::system()).await.expect("operator");
        let (token, session) = self.sessions.start(Some(op.id), Stage::SignedIn, None, None).await.expect("session");
        (op.id, Browser { cookie: format!("{SESSION_COOKIE}={token}"), csrf: session.csrf_token })
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        browser: Option<&Browser>,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(b) = browser {
            req = req.header(header::COOKIE, &b.cookie).header("x-csrf-token", &b.csrf);
        }
        if let Some(key) = key {
            req = req.header(header::AUTHORIZATION, format!("Bearer {key}"));
        }
        let req = match body {
            Some(v) => req.header(header::CONTENT_TYPE, "application/json").body(Body::from(v.to_string())),
            None => req.body(Body::empty()),
        }
        .unwrap();
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let location = res.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).map(str::to_string);
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
        Reply { status, location, text: String::from_utf8_lossy(&bytes).into_owned() }
    }
}

/// A concrete path for a route pattern.
fn concrete(path: &str) -> String {
    path.replace("{id}", &Uuid::now_v7().to_string()).replace("{file}", "app.css")
}

fn is_page(path: &str) -> bool {
    !path.starts_with("/api/")
}

both_engines!(every_rule_names_a_route_the_router_serves, |db| async move {
    let env = env(&db).await;
    for rule in ROUTES {
        let reply = env.send(rule.method.clone(), &concrete(rule.path), None, None, None).await;
        assert!(
            !reply.text.contains("/problems/not-found") && !reply.text.contains("/problems/method-not-allowed"),
            "{} {} is in the route table but not served: {}",
            rule.method,
            rule.path,
            reply.text
        );
    }
});

both_engines!(every_route_refuses_an_unauthenticated_request, |db| async move {
    let env = env(&db).await;
    let mut checked = 0;
    for rule in ROUTES {
        let path = concrete(rule.path);
        let reply = env.send(rule.method.clone(), &path, None, None, None).await;
        match rule.access {
            Access::Public => continue,
            // Without its secret set, a webhook is refused outright.
            Access::Signed => {
                assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{} {}", rule.method, rule.path);
                assert!(reply.text.contains("webhook-not-configured"), "{}", reply.text);
                checked += 1;
                continue;
            }
            Access::SigningIn => {
                assert_eq!(reply.location.as_deref(), Some("/login"), "{} {}", rule.method, rule.path);
            }
            Access::Policy(_) if is_page(rule.path) => {
                assert_eq!(reply.status, StatusCode::SEE_OTHER, "{} {}: {}", rule.method, rule.path, reply.text);
                assert!(
                    reply.location.as_deref().is_some_and(|l| l.starts_with("/login?next=")),
                    "{} {}",
                    rule.method,
                    rule.path
                );
            }
            Access::Policy(_) => {
                assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{} {}: {}", rule.method, rule.path, reply.text);
                assert!(reply.text.contains("/problems/unauthenticated"), "{}", reply.text);
            }
        }
        checked += 1;
        // A forged session cookie is no better than none.
        let forged = Browser { cookie: format!("{SESSION_COOKIE}=forged-{}", Uuid::now_v7()), csrf: "x".into() };
        let reply = env.send(rule.method.clone(), &path, Some(&forged), None, None).await;
        assert!(
            matches!(reply.status, StatusCode::SEE_OTHER | StatusCode::UNAUTHORIZED),
            "{} {}",
            rule.method,
            rule.path
        );
    }
    assert!(checked >= 30, "only {checked} routes are protected");
    let rejected = audit::list(&db, Some("session"), None, 1000).await.unwrap();
    assert!(rejected.iter().all(|r| r.action == "session.rejected") && !rejected.is_empty());
});

/// Roles the policies refuse `action` on its module (an operator without any role counts as
/// the role ""). For actions every operator may take (opening the shell), none.
fn refused_role(policies: &Policies, action: Action) -> Option<&'static str> {
    ROLES.iter().map(|(role, _)| *role).chain([""]).find(|role| {
        let principal = pitboss_auth::policy::Principal::Operator {
            id: Uuid::nil(),
            username: "x".into(),
            roles: if role.is_empty() { vec![] } else { vec![role.to_string()] },
            brands: vec![],
            jurisdictions: vec![],
            team: String::new(),
        };
        !policies.decide(&principal, action, &Resource::Module(action.module()), RequestFacts::default()).allowed
    })
}

both_engines!(every_route_refuses_a_role_the_policy_does_not_allow, |db| async move {
    let env = env(&db).await;
    let policies = Policies::defaults();
    let (_, platform_key) = api_key::create(&db, "platform", "events:write".parse().unwrap(), "system").await.unwrap();
    let mut by_role = 0;
    let mut by_key = 0;
    for rule in ROUTES {
        let Access::Policy(action) = rule.access else { continue };
        let path = concrete(rule.path);
        let body = (rule.method != Method::GET).then(|| json!({}));
        match refused_role(&policies, action) {
            Some(role) => {
                let roles: &[&str] = if role.is_empty() { &[] } else { &[role] };
                let (_, browser) = env.operator(roles, &["brand-a"]).await;
                let reply = env.send(rule.method.clone(), &path, Some(&browser), None, body).await;
                assert_eq!(
                    reply.status,
                    StatusCode::FORBIDDEN,
                    "{} {} as {role}: {}",
                    rule.method,
                    rule.path,
                    reply.text
                );
                assert!(reply.text.contains(action.as_str()), "{} {}: {}", rule.method, rule.path, reply.text);
                by_role += 1;
            }
            None => {
                // Every operator may do this (the shell); a machine client may not.
                assert_eq!(action, Action::ShellOpen, "{} {} is open to every role", rule.method, rule.path);
                let reply = env.send(rule.method.clone(), &path, None, Some(&platform_key), body).await;
                assert_eq!(
                    reply.status,
                    StatusCode::FORBIDDEN,
                    "{} {} with an API key: {}",
                    rule.method,
                    rule.path,
                    reply.text
                );
                by_key += 1;
            }
        }
    }
    assert!(by_role >= 25 && by_key >= 3, "{by_role} routes refused by role, {by_key} by key");
    let denials = audit::list(&db, Some("route"), None, 1000).await.unwrap();
    assert_eq!(denials.len(), by_role + by_key, "every refusal is audited");
});

both_engines!(a_browser_post_without_the_csrf_token_is_refused, |db| async move {
    let env = env(&db).await;
    let (_, admin) = env.operator(&["admin"], &[]).await;
    let no_token = Browser { cookie: admin.cookie.clone(), csrf: String::new() };
    let body = json!({"external_id": "p-1", "country": "DE", "currency": "EUR"});
    let reply = env.send(Method::POST, "/api/v1/players", Some(&no_token), None, Some(body.clone())).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    assert!(reply.text.contains("CSRF"), "{}", reply.text);
    let reply = env.send(Method::POST, "/api/v1/players", Some(&admin), None, Some(body)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let rejected = audit::list(&db, Some("route"), Some("/api/v1/players"), 10).await.unwrap();
    assert_eq!(rejected.iter().filter(|r| r.action == "csrf.rejected").count(), 1);
});

both_engines!(a_disabled_operators_sessions_end_at_once, |db| async move {
    let env = env(&db).await;
    let (admin_id, admin) = env.operator(&["admin"], &[]).await;
    let (agent_id, agent) = env.operator(&["support_agent"], &["brand-a"]).await;
    assert_eq!(env.send(Method::GET, "/", Some(&agent), None, None).await.status, StatusCode::OK);
    let admin_caller = Caller::operator(&operator::get(&db, admin_id).await.unwrap().unwrap(), Default::default());
    // Disabling through the page ends the sessions; even without that, the next request
    // re-reads the operator and refuses a disabled one.
    operator::set_disabled(&db, agent_id, true, "left", &admin_caller).await.unwrap();
    let reply = env.send(Method::GET, "/", Some(&agent), None, None).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert!(reply.location.unwrap().starts_with("/login"));
    let _ = admin;
});

both_engines!(support_agents_see_only_players_of_their_brands_and_analysts_see_them_masked, |db| async move {
    let env = env(&db).await;
    let (_, admin) = env.operator(&["admin"], &[]).await;
    let mut ids = Vec::new();
    for (external, brand) in [("p-a", "brand-a"), ("p-b", "brand-b")] {
        let body = json!({"external_id": external, "country": "DE", "currency": "EUR", "brand": brand,
            "email": format!("{external}@example.com"), "first_name": "Ann"});
        let reply = env.send(Method::POST, "/api/v1/players", Some(&admin), None, Some(body)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        ids.push(serde_json::from_str::<Value>(&reply.text).unwrap()["id"].as_str().unwrap().to_string());
    }
    let (_, agent) = env.operator(&["support_agent"], &["brand-a"]).await;
    let own = env.send(Method::GET, &format!("/api/v1/players/{}", ids[0]), Some(&agent), None, None).await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.text);
    assert!(own.text.contains("p-a@example.com"), "{}", own.text);
    let other = env.send(Method::GET, &format!("/api/v1/players/{}", ids[1]), Some(&agent), None, None).await;
    assert_eq!(other.status, StatusCode::FORBIDDEN, "{}", other.text);
    let listed = env.send(Method::GET, "/api/v1/players", Some(&agent), None, None).await;
    let listed: Value = serde_json::from_str(&listed.text).unwrap();
    let externals: Vec<&str> =
        listed["items"].as_array().unwrap().iter().map(|p| p["external_id"].as_str().unwrap()).collect();
    assert_eq!(externals, ["p-a"]);

    let (_, analyst) = env.operator(&["analyst"], &[]).await;
    let seen = env.send(Method::GET, &format!("/api/v1/players/{}", ids[1]), Some(&analyst), None, None).await;
    let seen: Value = serde_json::from_str(&seen.text).unwrap();
    assert_eq!(seen["email"], "***");
    assert_eq!(seen["first_name"], "***");
    assert_eq!(seen["external_id"], "p-b");
});

both_engines!(locks_are_set_by_officers_in_their_own_name_and_read_only_for_players_of_ones_brands, |db| async move {
    let env = env(&db).await;
    let (_, admin) = env.operator(&["admin"], &[]).await;
    let mut ids = Vec::new();
    for (external, brand) in [("p-a", "brand-a"), ("p-b", "brand-b")] {
        let body = json!({"external_id": external, "country": "GB", "currency": "GBP", "brand": brand});
        let reply = env.send(Method::POST, "/api/v1/players", Some(&admin), None, Some(body)).await;
        ids.push(serde_json::from_str::<Value>(&reply.text).unwrap()["id"].as_str().unwrap().to_string());
    }
    let (_, officer) = env.operator(&["compliance_officer"], &[]).await;
    let locks = |id: &str| format!("/api/v1/players/{id}/locks");
    let body = json!({"scope": "all", "reason": "source of funds review", "origin": "kyc"});
    let pretending = env.send(Method::POST, &locks(&ids[0]), Some(&officer), None, Some(body)).await;
    assert_eq!(
        pretending.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "an operator cannot lock as a module: {}",
        pretending.text
    );
    let body = json!({"scope": "all", "reason": "source of funds review"});
    let set = env.send(Method::POST, &locks(&ids[0]), Some(&officer), None, Some(body.clone())).await;
    assert_eq!(set.status, StatusCode::CREATED, "{}", set.text);
    assert_eq!(serde_json::from_str::<Value>(&set.text).unwrap()["origin"], "operator");

    let (_, agent) = env.operator(&["support_agent"], &["brand-a"]).await;
    let own = env.send(Method::GET, &locks(&ids[0]), Some(&agent), None, None).await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.text);
    assert!(own.text.contains("source of funds review"), "{}", own.text);
    let other = env.send(Method::GET, &locks(&ids[1]), Some(&agent), None, None).await;
    assert_eq!(other.status, StatusCode::FORBIDDEN, "{}", other.text);
    let by_agent = env.send(Method::POST, &locks(&ids[0]), Some(&agent), None, Some(body)).await;
    assert_eq!(by_agent.status, StatusCode::FORBIDDEN, "{}", by_agent.text);
});

both_engines!(adjustments_above_the_threshold_wait_for_a_second_officer, |db| async move {
    let env = env(&db).await;
    let (_, admin) = env.operator(&["admin"], &[]).await;
    let body = json!({"external_id": "p-1", "country": "DE", "currency": "EUR"});
    let reply = env.send(Method::POST, "/api/v1/players", Some(&admin), None, Some(body)).await;
    let id = serde_json::from_str::<Value>(&reply.text).unwrap()["id"].as_str().unwrap().to_string();
    let balance = async |who: &Browser| {
        let reply = env.send(Method::GET, &format!("/api/v1/players/{id}/balances"), Some(who), None, None).await;
        let balances: Value = serde_json::from_str(&reply.text).unwrap();
        balances
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["account"].as_str().unwrap().contains(":cash:"))
            .map(|b| b["posted"].as_i64().unwrap())
            .unwrap_or(0)
    };
    let (_, officer) = env.operator(&["payments_officer"], &[]).await;
    let (_, second) = env.operator(&["payments_officer"], &[]).await;
    let (_, agent) = env.operator(&["support_agent"], &[]).await;
    let path = format!("/api/v1/players/{id}/adjustments");

    // Up to 1,000.00 EUR one officer may adjust alone.
    let small = json!({"reference": "adj-1", "amount": 100_000, "reason": "goodwill"});
    let reply = env.send(Method::POST, &path, Some(&officer), None, Some(small)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(balance(&officer).await, 100_000);

    // Above it, the request waits; the balance does not move.
    let large = json!({"reference": "adj-2", "amount": 250_000, "reason": "lost jackpot"});
    let reply = env.send(Method::POST, &path, Some(&officer), None, Some(large)).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    let request: Value = serde_json::from_str(&reply.text).unwrap();
    assert_eq!(request["status"], "pending");
    assert_eq!(balance(&officer).await, 100_000);
    let approve = format!("/api/v1/adjustment-requests/{}/approve", request["id"].as_str().unwrap());

    // Not by the same officer, nor by someone who may not adjust.
    let reply = env.send(Method::POST, &approve, Some(&officer), None, Some(json!({}))).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    assert!(reply.text.contains("four eyes"), "{}", reply.text);
    let reply = env.send(Method::POST, &approve, Some(&agent), None, Some(json!({}))).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);

    // A second officer approves: the adjustment posts, once.
    let reply = env.send(Method::POST, &approve, Some(&second), None, Some(json!({}))).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(balance(&officer).await, 350_000);
    let reply = env.send(Method::POST, &approve, Some(&second), None, Some(json!({}))).await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.text);
    let actions: Vec<String> =
        audit::list(&db, Some("adjustment_request"), None, 10).await.unwrap().into_iter().map(|r| r.action).collect();
    assert!(
        actions.contains(&"ledger.adjustment_requested".to_string())
            && actions.contains(&"ledger.adjustment_approved".to_string()),
        "{actions:?}"
    );

    // A support agent may not even ask.
    let reply = env
        .send(Method::POST, &path, Some(&agent), None, Some(json!({"reference": "adj-3", "amount": 1, "reason": "x"})))
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
});

both_engines!(marketers_see_payments_without_their_full_details, |db| async move {
    let env = env(&db).await;
    let (_, admin) = env.operator(&["admin"], &[]).await;
    let body = json!({"external_id": "p-1", "country": "DE", "currency": "EUR", "brand": "brand-a"});
    let reply = env.send(Method::POST, "/api/v1/players", Some(&admin), None, Some(body)).await;
    let id = serde_json::from_str::<Value>(&reply.text).unwrap()["id"].as_str().unwrap().to_string();
    let adjust = json!({"reference": "adj-1", "amount": 500, "reason": "welcome back"});
    let reply =
        env.send(Method::POST, &format!("/api/v1/players/{id}/adjustments"), Some(&admin), None, Some(adjust)).await;
    let tx = serde_json::from_str::<Value>(&reply.text).unwrap()["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/transactions/{tx}");

    let full: Value = serde_json::from_str(&env.send(Method::GET, &path, Some(&admin), None, None).await.text).unwrap();
    assert_eq!(full["description"], "welcome back");
    assert_eq!(full["postings"].as_array().unwrap().len(), 2);

    let (_, marketer) = env.operator(&["marketer"], &[]).await;
    let reply = env.send(Method::GET, &path, Some(&marketer), None, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let seen: Value = serde_json::from_str(&reply.text).unwrap();
    assert_eq!(seen["amount"], 500);
    assert!(seen["description"].is_null(), "{seen}");
    assert!(seen["postings"].as_array().unwrap().is_empty(), "{seen}");
    let listed: Value =
        serde_json::from_str(&env.send(Method::GET, "/api/v1/transactions", Some(&marketer), None, None).await.text)
            .unwrap();
    assert!(listed["items"].as_array().unwrap().iter().all(|t| t["description"].is_null()), "{listed}");

    // A support agent of another brand does not see this player's payments at all.
    let (_, agent) = env.operator(&["support_agent"], &["brand-b"]).await;
    assert_eq!(env.send(Method::GET, &path, Some(&agent), None, None).await.status, StatusCode::FORBIDDEN);
    let listed: Value =
        serde_json::from_str(&env.send(Method::GET, "/api/v1/transactions", Some(&agent), None, None).await.text)
            .unwrap();
    assert!(listed["items"].as_array().unwrap().is_empty(), "{listed}");
});
