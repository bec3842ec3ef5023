//! The knowledge base through HTTP on both engines: articles written, edited as drafts,
//! published and archived through the API, each change audited; the public FAQ, without a key,
//! showing only published versions (as Markdown and as safe HTML) and searching them; a
//! read-only key refused writing; suggestions for a ticket; and the same work done in the UI by
//! a manager, with an agent who may read and not write.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use pitboss_auth::operator::{self, NewOperator};
use pitboss_auth::session::{SessionPolicy, Sessions, Stage};
use pitboss_auth::{Caller, api_key};
use pitboss_bus::in_process::InProcess;
use pitboss_ingest::Ingestor;
use pitboss_store::{Db, both_engines, db, sqlx};
use pitboss_web::guard::SESSION_COOKIE;
use pitboss_web::{AppState, Security, Target};
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;

struct Env {
    app: Router,
    db: Db,
    sessions: Sessions,
    /// An admin key.
    key: String,
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    json: Value,
    text: String,
}

/// A signed-in browser: its session cookie and CSRF token.
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
        Target::parse_list("all").unwrap(),
    )
    .with_security(security);
    pitboss_helpdesk::queues::install_default(db, &state.helpdesk, chrono::Utc::now()).await.unwrap();
    let (_, key) = api_key::create(db, "desk", "admin".parse().unwrap(), "system").await.unwrap();
    Env { app: pitboss_web::app(state), db: db.clone(), sessions, key }
}

impl Env {
    /// A JSON request with an API key, or with none.
    async fn call(&self, method: Method, path: &str, key: Option<&str>, body: Option<Value>) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(key) = key {
            req = req.header(header::AUTHORIZATION, format!("Bearer {key}"));
        }
        let req = match body {
            Some(b) => req.header(header::CONTENT_TYPE, "application/json").body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .unwrap();
        self.send(req).await
    }

    async fn api(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.call(method, path, Some(&self.key), body).await
    }

    /// A page, or a form posted from one with its CSRF token, as the browser sends them.
    async fn browse(&self, b: &Browser, method: Method, path: &str, form: &[(&str, &str)]) -> Reply {
        let req = Request::builder().method(method.clone()).uri(path).header(header::COOKIE, &b.cookie);
        let req = if method == Method::GET {
            req.body(Body::empty())
        } else {
            let mut fields = url::form_urlencoded::Serializer::new(String::new());
            fields.append_pair("csrf_token", &b.csrf);
            for (k, v) in form {
                fields.append_pair(k, v);
            }
            req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded").body(Body::from(fields.finish()))
        }
        .unwrap();
        self.send(req).await
    }

    async fn send(&self, req: Request<Body>) -> Reply {
        let res = self.app.clone().oneshot(req).await.unwrap();
        let (status, headers) = (res.status(), res.headers().clone());
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        Reply { status, headers, json: serde_json::from_slice(&bytes).unwrap_or(Value::Null), text }
    }

    async fn operator(&self, roles: &[&str]) -> Browser {
        let new = NewOperator {
            username: format!("op-{}", &Uuid::now_v7().simple().to_string()[20..]),
            password: Some("a long enough password".into()),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            brands: vec!["main".into()],
            ..Default::default()
        };
        let op = operator::create(&self.db, new, &Caller::system()).await.unwrap();
        let (token, session) = self.sessions.start(Some(op.id), Stage::SignedIn, None, None).await.unwrap();
        Browser { cookie: format!("{SESSION_COOKIE}={token}"), csrf: session.csrf_token }
    }

    async fn ticket(&self, subject: &str, body: &str) -> String {
        let new = json!({"subject": subject, "channel": "email", "body": body, "requester": "ann@example.com", "language": "en"});
        let r = self.api(Method::POST, "/api/v1/tickets", Some(new)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.json["id"].as_str().unwrap().to_string()
    }
}

async fn audited(db: &Db, action: &str) -> i64 {
    db!(db, |c| sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = $1").bind(action).fetch_one(c).await)
        .unwrap()
}

fn slugs(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|a| a["slug"].as_str().unwrap().to_string()).collect()
}

both_engines!(articles_are_drafted_published_archived_and_the_faq_shows_only_published, |db| async move {
    let env = env(&db).await;
    let new = |slug: &str, title: &str, body: &str| json!({"slug": slug, "language": "en", "category": "Payments", "title": title, "body": body});

    // Checked at the edge, with the field at fault.
    let bad = env.api(Method::POST, "/api/v1/kb/articles", Some(new("Not A Slug", "T", "B"))).await;
    assert_eq!(
        (bad.status, bad.json["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("slug")),
        "{}",
        bad.text
    );
    let bad = env
        .api(
            Method::POST,
            "/api/v1/kb/articles",
            Some(json!({"slug": "x", "language": "xx", "category": "C", "title": "T", "body": "B"})),
        )
        .await;
    assert_eq!(bad.json["field"], "language", "{}", bad.text);
    let bad = env.api(Method::POST, "/api/v1/kb/articles", Some(new("big", "T", &"x".repeat(100 * 1024 + 1)))).await;
    assert_eq!(
        (bad.status, bad.json["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("body")),
        "{}",
        bad.text
    );

    let body = "Withdrawals are paid within **two days**.<script>alert('x')</script>\n\n[Cashier](javascript:steal())";
    let created = env
        .api(
            Method::POST,
            "/api/v1/kb/articles",
            Some(new("withdrawal-times", "How long does a withdrawal take?", body)),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let a = &created.json;
    assert_eq!((a["state"].as_str(), a["latest_version"].as_i64()), (Some("draft"), Some(1)));
    assert!(a["published"].is_null() && a["draft"]["version"] == 1, "{a}");
    let id = a["id"].as_str().unwrap().to_string();
    let taken = env.api(Method::POST, "/api/v1/kb/articles", Some(new("withdrawal-times", "Again", "Again"))).await;
    assert_eq!(taken.status, StatusCode::CONFLICT, "{}", taken.text);
    let secret = env
        .api(
            Method::POST,
            "/api/v1/kb/articles",
            Some(new("secret-plans", "Secret plans", "Withdrawal fees next year.")),
        )
        .await;
    assert_eq!(secret.status, StatusCode::CREATED);

    // Drafts are the agents': the FAQ, without a key, has nothing yet.
    let agents = env.api(Method::GET, "/api/v1/kb/articles", None).await;
    assert_eq!(agents.json["items"].as_array().unwrap().len(), 2, "{}", agents.text);
    let faq = env.call(Method::GET, "/api/v1/faq", None, None).await;
    assert_eq!(faq.status, StatusCode::OK, "{}", faq.text);
    assert!(slugs(&faq.json).is_empty(), "{}", faq.text);
    let missing = env.call(Method::GET, "/api/v1/faq/withdrawal-times", None, None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.text);
    assert_eq!(missing.headers[header::CONTENT_TYPE], "application/problem+json");

    let published =
        env.api(Method::POST, &format!("/api/v1/kb/articles/{id}/publish?version=1"), Some(json!({}))).await;
    assert_eq!(published.status, StatusCode::OK, "{}", published.text);
    assert_eq!(published.json["state"], "published");

    // The FAQ shows it, as Markdown and as HTML with no script in it, and names no staff.
    let faq = env.call(Method::GET, "/api/v1/faq?language=en", None, None).await;
    assert_eq!(slugs(&faq.json), ["withdrawal-times"]);
    assert_eq!(faq.headers[header::CACHE_CONTROL], "public, max-age=60");
    let shown = env.call(Method::GET, "/api/v1/faq/withdrawal-times?language=de", None, None).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.text);
    assert_eq!((shown.json["language"].as_str(), shown.json["version"].as_i64()), (Some("en"), Some(1)));
    let html = shown.json["body_html"].as_str().unwrap();
    assert!(html.contains("<strong>two days</strong>"), "{html}");
    assert!(!html.contains("<script") && !html.contains("javascript:"), "{html}");
    assert!(shown.json["body"].as_str().unwrap().contains("<script>"), "the Markdown as written");
    assert!(!shown.text.contains("api-key:desk"), "{}", shown.text);
    let bad = env.call(Method::GET, "/api/v1/faq/Bad%20Slug", None, None).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);

    // A new draft: the FAQ keeps the published version until it is published.
    let draft = json!({"category": "Payments", "title": "How long do withdrawals take?", "body": "Withdrawals are paid instantly.", "base_version": 1});
    let saved = env.api(Method::PUT, &format!("/api/v1/kb/articles/{id}"), Some(draft.clone())).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.text);
    assert_eq!(
        (saved.json["published"]["version"].as_i64(), saved.json["draft"]["version"].as_i64()),
        (Some(1), Some(2))
    );
    assert_eq!(saved.json["versions"].as_array().unwrap().len(), 2);
    let stale = env.api(Method::PUT, &format!("/api/v1/kb/articles/{id}"), Some(draft)).await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.text);
    let shown = env.call(Method::GET, "/api/v1/faq/withdrawal-times", None, None).await;
    assert_eq!(shown.json["title"], "How long does a withdrawal take?");
    let search = env.call(Method::GET, "/api/v1/faq?q=instantly", None, None).await;
    assert!(slugs(&search.json).is_empty(), "the draft's words are not public: {}", search.text);
    let search = env.api(Method::GET, "/api/v1/kb/articles?q=instantly", None).await;
    assert_eq!(slugs(&search.json), ["withdrawal-times"], "agents search drafts");

    // Search on the FAQ: ranked, quoted, never a draft.
    let search = env.call(Method::GET, "/api/v1/faq?q=withdrawal&language=en", None, None).await;
    assert_eq!(slugs(&search.json), ["withdrawal-times"], "{}", search.text);
    let snippet = search.json["items"][0]["snippet"].as_str().unwrap();
    assert!(snippet.contains("<mark>"), "{snippet}");
    let bad = env.call(Method::GET, "/api/v1/faq?limit=0", None, None).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Publishing a version that is not the latest is refused; the latest goes up.
    let stale = env.api(Method::POST, &format!("/api/v1/kb/articles/{id}/publish?version=1"), Some(json!({}))).await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.text);
    let up = env.api(Method::POST, &format!("/api/v1/kb/articles/{id}/publish"), Some(json!({}))).await;
    assert_eq!((up.status, up.json["published"]["version"].as_i64()), (StatusCode::OK, Some(2)), "{}", up.text);
    let again = env.api(Method::POST, &format!("/api/v1/kb/articles/{id}/publish"), Some(json!({}))).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);
    let search = env.call(Method::GET, "/api/v1/faq?q=instantly", None, None).await;
    assert_eq!(slugs(&search.json), ["withdrawal-times"]);

    // Archived, it leaves the FAQ.
    let down = env.api(Method::POST, &format!("/api/v1/kb/articles/{id}/archive"), Some(json!({}))).await;
    assert_eq!((down.status, down.json["state"].as_str()), (StatusCode::OK, Some("archived")), "{}", down.text);
    assert!(slugs(&env.call(Method::GET, "/api/v1/faq", None, None).await.json).is_empty());
    assert_eq!(env.call(Method::GET, "/api/v1/faq/withdrawal-times", None, None).await.status, StatusCode::NOT_FOUND);
    let again = env.api(Method::POST, &format!("/api/v1/kb/articles/{id}/archive"), Some(json!({}))).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let archived = env.api(Method::GET, "/api/v1/kb/articles?state=archived", None).await;
    assert_eq!(slugs(&archived.json), ["withdrawal-times"]);
    let bad = env.api(Method::GET, "/api/v1/kb/articles?state=lost", None).await;
    assert_eq!((bad.status, bad.json["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("state")));
    let unknown = env.api(Method::GET, &format!("/api/v1/kb/articles/{}", Uuid::now_v7()), None).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    // A read-only key reads, and is refused every change.
    let (_, reader) = api_key::create(&db, "reader", "helpdesk:read".parse().unwrap(), "system").await.unwrap();
    assert_eq!(env.call(Method::GET, "/api/v1/kb/articles", Some(&reader), None).await.status, StatusCode::OK);
    assert_eq!(
        env.call(Method::GET, &format!("/api/v1/kb/articles/{id}"), Some(&reader), None).await.status,
        StatusCode::OK
    );
    for (method, path, body) in [
        (Method::POST, "/api/v1/kb/articles".to_string(), new("from-reader", "T", "B")),
        (Method::PUT, format!("/api/v1/kb/articles/{id}"), json!({"category": "C", "title": "T", "body": "B"})),
        (Method::POST, format!("/api/v1/kb/articles/{id}/publish"), json!({})),
        (Method::POST, format!("/api/v1/kb/articles/{id}/archive"), json!({})),
    ] {
        let refused = env.call(method.clone(), &path, Some(&reader), Some(body)).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{method} {path}: {}", refused.text);
    }
    // A key of another trade may not read the knowledge base at all; the FAQ is anyone's.
    let (_, platform) = api_key::create(&db, "platform", "events:write".parse().unwrap(), "system").await.unwrap();
    assert_eq!(env.call(Method::GET, "/api/v1/kb/articles", Some(&platform), None).await.status, StatusCode::FORBIDDEN);

    // Every change is audited, the refused ones not.
    assert_eq!(audited(&db, "kb.article_save").await, 3);
    assert_eq!(audited(&db, "kb.article_publish").await, 2);
    assert_eq!(audited(&db, "kb.article_archive").await, 1);
    let record: (String, String) =
        db!(&db, |c| sqlx::query_as("SELECT actor, details FROM audit_log WHERE action = 'kb.article_archive'")
            .fetch_one(c)
            .await)
        .unwrap();
    assert_eq!(record.0, "api-key:desk");
    assert!(record.1.contains("withdrawal-times"), "{}", record.1);
});

both_engines!(a_ticket_gets_published_articles_suggested_from_its_words, |db| async move {
    let env = env(&db).await;
    for (slug, title, body, publish) in [
        ("withdrawal-times", "How long does a withdrawal take?", "Withdrawals are paid within two days.", true),
        ("verify-account", "Verifying your account", "Upload your ID card.", true),
        ("withdrawal-draft", "Withdrawal pending withdrawal", "Pending withdrawal.", false),
    ] {
        let article = json!({"slug": slug, "language": "en", "category": "Help", "title": title, "body": body});
        let r = env.api(Method::POST, "/api/v1/kb/articles", Some(article)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        if publish {
            let id = r.json["id"].as_str().unwrap();
            let r = env.api(Method::POST, &format!("/api/v1/kb/articles/{id}/publish"), Some(json!({}))).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        }
    }
    let ticket = env.ticket("Withdrawal still pending", "Hello, my withdrawal has been pending for three days.").await;
    let found = env.api(Method::GET, &format!("/api/v1/tickets/{ticket}/suggestions"), None).await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.text);
    let found: Vec<&str> = found.json.as_array().unwrap().iter().map(|a| a["slug"].as_str().unwrap()).collect();
    assert_eq!(found, ["withdrawal-times"], "published articles only");
    let quiet = env.ticket("Hi", "Thanks!").await;
    let none = env.api(Method::GET, &format!("/api/v1/tickets/{quiet}/suggestions"), None).await;
    assert_eq!(none.json, json!([]));
    let unknown = env.api(Method::GET, &format!("/api/v1/tickets/{}/suggestions", Uuid::now_v7()), None).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let (_, reader) = api_key::create(&db, "reader", "helpdesk:read".parse().unwrap(), "system").await.unwrap();
    let r = env.call(Method::GET, &format!("/api/v1/tickets/{ticket}/suggestions?limit=1"), Some(&reader), None).await;
    assert_eq!(r.json.as_array().map(Vec::len), Some(1), "{}", r.text);
});

both_engines!(managers_write_in_the_ui_and_agents_read_with_suggestions_on_the_ticket, |db| async move {
    let env = env(&db).await;
    let manager = env.operator(&["admin"]).await;
    let agent = env.operator(&["support_agent"]).await;

    let list = env.browse(&manager, Method::GET, "/kb", &[]).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    assert!(list.text.contains("No articles yet.") && list.text.contains(r#"href="/kb/new""#), "{}", list.text);
    assert_eq!(env.browse(&manager, Method::GET, "/kb/new", &[]).await.status, StatusCode::OK);

    // A refused form comes back with the reason and what was typed.
    let form = [
        ("slug", "Bad Slug"),
        ("language", "en"),
        ("category", "Payments"),
        ("title", "How long does a withdrawal take?"),
        ("body", "Withdrawals are paid within **two days**."),
    ];
    let refused = env.browse(&manager, Method::POST, "/kb", &form).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.text);
    assert!(
        refused.text.contains("slug: ") && refused.text.contains("How long does a withdrawal take?"),
        "{}",
        refused.text
    );

    let mut form = form;
    form[0].1 = "withdrawal-times";
    let created = env.browse(&manager, Method::POST, "/kb", &form).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.text);
    let to = created.headers[header::LOCATION].to_str().unwrap().to_string();
    let id = to.trim_start_matches("/kb/").split('?').next().unwrap().to_string();
    let page = env.browse(&manager, Method::GET, &to, &[]).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(page.text.contains("a draft: not on the FAQ yet"), "{}", page.text);
    assert!(page.text.contains("<strong>two days</strong>"), "the draft rendered: {}", page.text);
    assert!(page.text.contains(r#"id="publish""#) && page.text.contains(r#"id="save-draft""#), "{}", page.text);

    let published = env.browse(&manager, Method::POST, &format!("/kb/{id}/publish"), &[("version", "1")]).await;
    assert_eq!(published.status, StatusCode::SEE_OTHER, "{}", published.text);
    let saved = env
        .browse(
            &manager,
            Method::POST,
            &format!("/kb/{id}"),
            &[
                ("base_version", "1"),
                ("category", "Payments"),
                ("title", "Withdrawal times"),
                ("body", "Paid *instantly*."),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text);
    let page = env.browse(&manager, Method::GET, &format!("/kb/{id}"), &[]).await;
    assert!(page.text.contains("Version 1, on the FAQ") && page.text.contains("Version 2, a draft"), "{}", page.text);
    assert!(page.text.contains("<em>instantly</em>"), "{}", page.text);
    // A save from a stale page is refused and keeps what was typed.
    let stale = env
        .browse(
            &manager,
            Method::POST,
            &format!("/kb/{id}"),
            &[("base_version", "1"), ("category", "Payments"), ("title", "Mine"), ("body", "My words")],
        )
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.text);
    assert!(stale.text.contains("My words"), "{}", stale.text);

    // The agent searches and reads, with no editor, and may not write.
    let found = env.browse(&agent, Method::GET, "/kb?q=instantly", &[]).await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.text);
    assert!(found.text.contains("<mark>instantly</mark>"), "a snippet with the words marked: {}", found.text);
    assert!(!found.text.contains(r#"href="/kb/new""#));
    let read = env.browse(&agent, Method::GET, &format!("/kb/{id}"), &[]).await;
    assert_eq!(read.status, StatusCode::OK);
    assert!(!read.text.contains(r#"id="save-draft""#) && !read.text.contains(r#"id="publish""#), "{}", read.text);
    let refused = env.browse(&agent, Method::POST, &format!("/kb/{id}/archive"), &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let paged = env.browse(&agent, Method::GET, "/kb?state=lost", &[]).await;
    assert_eq!(paged.status, StatusCode::UNPROCESSABLE_ENTITY);

    // On a ticket's page, the suggestions load from its words and link to the article.
    let ticket = env.ticket("Withdrawal pending", "When will my withdrawal arrive?").await;
    let page = env.browse(&agent, Method::GET, &format!("/tickets/{ticket}"), &[]).await;
    assert!(page.text.contains(&format!(r#"hx-get="/tickets/{ticket}/suggestions""#)), "{}", page.text);
    let fragment = env.browse(&agent, Method::GET, &format!("/tickets/{ticket}/suggestions"), &[]).await;
    assert_eq!(fragment.status, StatusCode::OK);
    assert!(
        fragment.text.contains(&format!(r#"<a href="/kb/{id}">How long does a withdrawal take?</a>"#)),
        "{}",
        fragment.text
    );

    let archived = env.browse(&manager, Method::POST, &format!("/kb/{id}/archive"), &[]).await;
    assert_eq!(archived.status, StatusCode::SEE_OTHER);
    let fragment = env.browse(&agent, Method::GET, &format!("/tickets/{ticket}/suggestions"), &[]).await;
    assert!(fragment.text.contains("No published article matches"), "{}", fragment.text);
    let setup = env.browse(&agent, Method::GET, "/helpdesk", &[]).await;
    assert!(setup.text.contains(r#"<a href="/kb">Knowledge base</a>"#), "{}", setup.text);
});
