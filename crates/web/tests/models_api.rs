//! The churn and lifetime value models over HTTP, on both engines: a marketer may read the fits
//! but not refit; an analyst refits (audited) through the API and the page; the fits and a
//! player's predictions are answered; and the page shows the diagnostics.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use chrono::{DateTime, Duration, Utc};
use pitboss_auth::operator::{self, NewOperator};
use pitboss_auth::session::{SessionPolicy, Sessions, Stage};
use pitboss_auth::{Caller, audit};
use pitboss_bus::in_process::InProcess;
use pitboss_core::Currency;
use pitboss_ingest::Ingestor;
use pitboss_payments::TxKind;
use pitboss_payments::operations::{self, Context};
use pitboss_store::{Db, both_engines};
use pitboss_web::guard::SESSION_COOKIE;
use pitboss_web::{AppState, Security, Target};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;

struct Env {
    app: Router,
    db: Db,
    sessions: Sessions,
}

struct Browser {
    username: String,
    cookie: String,
    csrf: String,
}

struct Reply {
    status: StatusCode,
    location: Option<String>,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
}

async fn env(db: &Db) -> Env {
    let sessions = Sessions::in_process(SessionPolicy::default());
    let security = Security { sessions: sessions.clone(), secure_cookies: false, ..Security::default() };
    let state = AppState::new(
        db.clone(),
        Ingestor::new(db.clone()),
        Arc::new(InProcess::new()),
        Target::parse_list("all").unwrap(),
    )
    .with_security(security);
    Env { app: pitboss_web::app(state), db: db.clone(), sessions }
}

impl Env {
    async fn operator(&self, role: &str) -> Browser {
        let username = format!("{role}-{}", &Uuid::now_v7().simple().to_string()[24..]);
        let new = NewOperator {
            username: username.clone(),
            password: Some("a long enough password".into()),
            roles: vec![role.to_string()],
            ..Default::default()
        };
        let op = operator::create(&self.db, new, &Caller::system()).await.unwrap();
        let (token, session) = self.sessions.start(Some(op.id), Stage::SignedIn, None, None).await.unwrap();
        Browser { username, cookie: format!("{SESSION_COOKIE}={token}"), csrf: session.csrf_token }
    }

    async fn send(&self, method: Method, path: &str, who: &Browser, form: Option<&str>) -> Reply {
        let req = Request::builder().method(method).uri(path).header(header::COOKIE, &who.cookie);
        let req = match form {
            // A page form carries its CSRF token in a field, as the browser sends it.
            Some(body) => req
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(format!("csrf_token={}&{body}", who.csrf))),
            None => req.header("x-csrf-token", &who.csrf).body(Body::empty()),
        }
        .unwrap();
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let location = res.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).map(str::to_string);
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
        Reply { status, location, text: String::from_utf8_lossy(&bytes).into_owned() }
    }
}

/// Players who deposit as BG/NBD imagines: each at a rate of their own, dropping out after a
/// deposit now and then, over the past year.
async fn depositors(db: &Db, now: DateTime<Utc>, n: usize) -> Vec<Uuid> {
    let mut rng = StdRng::seed_from_u64(7);
    let mut ids = Vec::new();
    for i in 0..n {
        let mut tx = db.begin().await.unwrap();
        let new = serde_json::from_value(json!({"external_id": format!("p-{i}"), "country": "DE", "currency": "EUR"}))
            .unwrap();
        let player = pitboss_players::create(&mut tx, new, now - Duration::days(400)).await.unwrap();
        let rate: f64 = rng.random_range(0.01..0.25);
        let mut day: f64 = rng.random_range(30.0..360.0);
        let mut k = 0;
        while day >= 1.0 {
            let at = now - Duration::days(day as i64);
            let ctx = Context {
                player: player.id,
                currency: Currency::EUR,
                method: None,
                occurred_at: at,
                now: at,
                actor: "test",
            };
            let amount = rng.random_range(1_000..20_000);
            operations::payment_completed(&mut tx, &ctx, TxKind::Deposit, &format!("d-{i}-{k}"), amount).await.unwrap();
            k += 1;
            if rng.random::<f64>() < 0.08 {
                break;
            }
            day -= -rng.random::<f64>().ln() / rate;
        }
        tx.commit().await.unwrap();
        ids.push(player.id);
    }
    ids
}

both_engines!(analysts_refit_marketers_only_read_and_every_refit_is_audited, |db| async move {
    let env = env(&db).await;
    let players = depositors(&db, Utc::now(), 80).await;
    let marketer = env.operator("marketer").await;
    let analyst = env.operator("analyst").await;

    // Nothing fitted yet: an empty list, and a player without predictions.
    let empty = env.send(Method::GET, "/api/v1/models/clv", &marketer, None).await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.text);
    assert_eq!(empty.json()["items"], json!([]));
    let none = env.send(Method::GET, &format!("/api/v1/players/{}/predictions", players[0]), &analyst, None).await;
    assert_eq!(none.status, StatusCode::NOT_FOUND, "{}", none.text);

    // A marketer may not refit, through the API or the page; the refusal is audited.
    let refused = env.send(Method::POST, "/api/v1/models/clv/refit", &marketer, None).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    assert!(refused.text.contains("model.refit"), "{}", refused.text);
    let refused_page = env.send(Method::POST, "/models/refit", &marketer, Some("")).await;
    assert_eq!(refused_page.status, StatusCode::FORBIDDEN);
    let denials = audit::list(&db, Some("route"), None, 10).await.unwrap();
    assert_eq!(
        denials.iter().filter(|d| d.action == "access.denied" && d.details["action"] == "model.refit").count(),
        2,
        "{denials:?}"
    );
    assert!(audit::list(&db, Some("clv_fit"), None, 10).await.unwrap().is_empty());

    // An analyst may.
    let made = env.send(Method::POST, "/api/v1/models/clv/refit", &analyst, None).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let fit = made.json();
    assert_eq!(fit["status"], "succeeded", "{fit}");
    assert_eq!(fit["trigger"], "operator");
    assert_eq!(fit["requested_by"], format!("operator:{}", analyst.username));
    assert_eq!(fit["players"], 80);
    assert!(fit["report"]["bgnbd"]["params"]["r"].as_f64().is_some(), "{fit}");
    let id = fit["id"].as_str().unwrap().to_string();
    assert_eq!(made.location.as_deref(), Some(format!("/api/v1/models/clv/{id}").as_str()));
    let audited = audit::list(&db, Some("clv_fit"), Some(&id), 10).await.unwrap();
    assert_eq!(audited.len(), 1);
    assert_eq!(
        (audited[0].action.as_str(), audited[0].actor.clone()),
        ("model.refit", format!("operator:{}", analyst.username))
    );
    assert_eq!(audited[0].details["status"], "succeeded");

    // Everyone who may read sees it; the player's predictions are in their currency.
    let listed = env.send(Method::GET, "/api/v1/models/clv?limit=5", &marketer, None).await.json();
    assert_eq!(listed["items"][0]["id"], id.as_str());
    let one = env.send(Method::GET, &format!("/api/v1/models/clv/{id}"), &marketer, None).await;
    assert_eq!(one.status, StatusCode::OK);
    let bad = env.send(Method::GET, "/api/v1/models/clv?limit=1000", &marketer, None).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);
    assert_eq!(bad.json()["field"], "limit");
    let missing = env.send(Method::GET, &format!("/api/v1/models/clv/{}", Uuid::now_v7()), &marketer, None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let prediction =
        env.send(Method::GET, &format!("/api/v1/players/{}/predictions", players[0]), &analyst, None).await.json();
    assert_eq!(prediction["currency"], "EUR");
    assert_eq!(prediction["fit_id"], id.as_str());
    assert!(["low", "medium", "high"].contains(&prediction["churn_risk"].as_str().unwrap()), "{prediction}");
    assert!(prediction["predicted_value"].as_i64().is_some_and(|v| v >= 0), "{prediction}");

    // The page: diagnostics for both, the button for the analyst only.
    let page = env.send(Method::GET, "/models", &marketer, None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    for shown in ["BG/NBD", "Gamma-Gamma", "Log-likelihood", "Calibration on a holdout", "alpha", "gamma"] {
        assert!(page.text.contains(shown), "{shown} is not on the page");
    }
    assert!(!page.text.contains("id=\"refit\""));
    assert!(env.send(Method::GET, "/models", &analyst, None).await.text.contains("id=\"refit\""));
    let again = env.send(Method::POST, "/models/refit", &analyst, Some("")).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.text);
    let to = again.location.unwrap();
    assert!(to.starts_with("/models?fit="), "{to}");
    let shown = env.send(Method::GET, &to, &analyst, None).await;
    assert!(shown.text.contains("succeeded"), "{}", shown.text);
    assert_eq!(audit::list(&db, Some("clv_fit"), None, 10).await.unwrap().len(), 2);
});
