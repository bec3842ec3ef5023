//! The operator UI in a real headless Chromium, driven over WebDriver (chromedriver): an
//! administrator signs in with a password and two-factor authentication, creates an operator,
//! and reads the audit log with the chain verified; an analyst is refused operator management
//! and does not see it in the navigation.
//!
//! Ignored by `cargo test`; `.ci/run` installs Debian's chromium and chromium-driver and runs it
//! with `--ignored`.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use pitboss_auth::operator::{self, NewOperator, totp};
use pitboss_auth::{Caller, audit};
use pitboss_bus::in_process::InProcess;
use pitboss_ingest::Ingestor;
use pitboss_store::Db;
use pitboss_web::{AppState, Security, Target};

/// chromedriver, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn chromedriver() -> Driver {
    let port = free_port();
    let binary = std::env::var("PITBOSS_TEST_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
    let child = Command::new(&binary)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {binary} ({e}); install chromium-driver"));
    // Made at once, so that the process is stopped even if it never answers.
    let driver = Driver { child, url: format!("http://127.0.0.1:{port}") };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return driver;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start on port {port}");
}

async fn browser(driver: &Driver) -> Client {
    let profile = std::env::temp_dir().join(format!("pitboss-chromium-{}", uuid::Uuid::now_v7()));
    let chromium = std::env::var("PITBOSS_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    // The flags keep Chromium off the network (this machine has none) and out of its sandbox
    // (tests run as root).
    let caps = serde_json::json!({
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1366,900", format!("--user-data-dir={}", profile.display()),
            ],
        }
    });
    let serde_json::Value::Object(caps) = caps else { unreachable!() };
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a browser session")
}

/// Serves the app on a free port.
async fn serve(db: &Db, security: Security) -> SocketAddr {
    serve_on(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(), db, security).await
}

async fn serve_on(listener: tokio::net::TcpListener, db: &Db, security: Security) -> SocketAddr {
    serve_with(listener, db, security, |_| {}).await
}

/// Serves with the state as `configure` leaves it.
async fn serve_with(
    listener: tokio::net::TcpListener,
    db: &Db,
    security: Security,
    configure: impl FnOnce(&mut AppState),
) -> SocketAddr {
    let mut state = AppState::new(
        db.clone(),
        Ingestor::new(db.clone()),
        Arc::new(InProcess::new()),
        Target::parse_list("all").unwrap(),
    )
    .with_security(security);
    configure(&mut state);
    let addr = listener.local_addr().unwrap();
    let app = pitboss_web::app(state).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

async fn fill(c: &Client, id: &str, text: &str) {
    let field = c.find(Locator::Id(id)).await.unwrap_or_else(|e| panic!("no #{id}: {e}"));
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

/// Clicks something that loads a new page, and waits until the old page is gone (so that what
/// is read next comes from the new one).
async fn click(c: &Client, css: &str) {
    let old = c.find(Locator::Css("html")).await.unwrap();
    c.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css}: {e}")).click().await.unwrap();
    for _ in 0..100 {
        if old.tag_name().await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("clicking {css} loaded no new page");
}

/// Clicks something that changes the page in place (a checkbox).
async fn tick(c: &Client, css: &str) {
    c.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css}: {e}")).click().await.unwrap();
}

/// The text of an element, waiting for it to appear (a click's page load may still be running).
async fn text(c: &Client, css: &str) -> String {
    match c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css(css)).await {
        Ok(element) => element.text().await.unwrap(),
        Err(e) => panic!("no {css} on {}: {e}\n{}", path(c).await, c.source().await.unwrap_or_default()),
    }
}

/// Waits until an element's text contains `needle` (a part of the page htmx replaces).
async fn wait_text(c: &Client, css: &str, needle: &str) -> String {
    let mut last = String::new();
    for _ in 0..100 {
        if let Ok(element) = c.find(Locator::Css(css)).await
            && let Ok(text) = element.text().await
        {
            if text.contains(needle) {
                return text;
            }
            last = text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{css} never said {needle:?}; it says {last:?}");
}

async fn path(c: &Client) -> String {
    c.current_url().await.unwrap().path().to_string()
}

/// Waits until the browser is on `expected` (after a click that navigates).
async fn arrive(c: &Client, expected: &str) {
    for _ in 0..100 {
        if path(c).await == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "expected to reach {expected}, but the browser is on {}: {}",
        path(c).await,
        c.source().await.unwrap_or_default()
    );
}

async fn sign_in(c: &Client, base: &str, username: &str, password: &str) {
    c.goto(&format!("{base}/")).await.unwrap();
    arrive(c, "/login").await;
    fill(c, "username", username).await;
    fill(c, "password", password).await;
    click(c, "form[action='/login'] button[type=submit]").await;
}

/// An operator who signs in with the password `<name> has a long password`.
async fn operator_with_password(db: &Db, name: &str, roles: &[&str], brands: &[&str]) {
    let new = NewOperator {
        username: name.into(),
        password: Some(format!("{name} has a long password")),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        brands: brands.iter().map(|b| b.to_string()).collect(),
        ..Default::default()
    };
    operator::create(db, new, &Caller::system()).await.unwrap();
}

/// Signs in as an operator made by [`operator_with_password`] and waits for the home page.
async fn signed_in(c: &Client, base: &str, name: &str) {
    sign_in(c, base, name, &format!("{name} has a long password")).await;
    arrive(c, "/").await;
}

/// Security for tests about other things than signing in: every role signs in with a
/// password alone.
fn without_two_factor() -> Security {
    Security { secure_cookies: false, two_factor_roles: Arc::new(Default::default()), ..Security::default() }
}

async fn sign_out(c: &Client) {
    click(c, "header form[action='/logout'] button").await;
    arrive(c, "/login").await;
}

#[tokio::test]
#[ignore = "needs chromium and chromedriver; run by .ci/run"]
async fn an_admin_signs_in_with_two_factor_manages_operators_and_reads_the_audit_log() {
    let db = pitboss_store::testing::sqlite().await.unwrap();
    let signing_key = ed25519_key();
    let security =
        Security { secure_cookies: false, audit_key: Some(signing_key.verifying_key()), ..Security::default() };
    let base = format!("http://{}", serve(&db, security).await);
    let system = Caller::system();
    let new = |username: &str, roles: &[&str]| NewOperator {
        username: username.into(),
        password: Some(format!("{username} has a long password")),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        ..Default::default()
    };
    operator::create(&db, new("root", &["admin"]), &system).await.unwrap();
    operator::create(&db, new("ana", &["analyst"]), &system).await.unwrap();

    let driver = chromedriver().await;
    let c = browser(&driver).await;

    // A wrong password is refused with a message that does not say whether the user exists.
    sign_in(&c, &base, "root", "not the password at all").await;
    assert!(text(&c, "#login-error").await.contains("wrong username or password"));

    // Admins must use two-factor authentication: the first sign-in enrols.
    fill(&c, "username", "root").await;
    fill(&c, "password", "root has a long password").await;
    click(&c, "form[action='/login'] button[type=submit]").await;
    arrive(&c, "/login/enrol").await;
    let secret = text(&c, "#totp-secret").await;
    fill(&c, "code", &totp::current_code(&secret, "root").unwrap()).await;
    click(&c, "form[action='/login/enrol'] button[type=submit]").await;
    let codes = text(&c, "#recovery-codes").await;
    assert_eq!(codes.lines().count(), totp::RECOVERY_CODES, "{codes}");
    click(&c, "#continue").await;
    arrive(&c, "/").await;
    sign_out(&c).await;

    // The next sign-in asks for a code; one of the recovery codes does it too, once.
    sign_in(&c, &base, "root", "root has a long password").await;
    arrive(&c, "/login/two-factor").await;
    fill(&c, "code", "000000").await;
    click(&c, "form[action='/login/two-factor'] button[type=submit]").await;
    assert!(text(&c, "#code-error").await.contains("not valid"));
    fill(&c, "code", codes.lines().next().unwrap().trim()).await;
    click(&c, "form[action='/login/two-factor'] button[type=submit]").await;
    arrive(&c, "/").await;
    assert!(text(&c, "nav").await.contains("Operators"));

    // An authorised action: create a support agent for one brand.
    click(&c, "nav a[href='/operators']").await;
    arrive(&c, "/operators").await;
    fill(&c, "username", "sam").await;
    fill(&c, "password", "sam has a long password").await;
    fill(&c, "display_name", "Sam Support").await;
    tick(&c, "input[name=roles][value=support_agent]").await;
    fill(&c, "brands", "brand-a").await;
    click(&c, "form[action='/operators'] button[type=submit]").await;
    assert_eq!(text(&c, "h1").await, "sam");
    assert!(path(&c).await.starts_with("/operators/"), "{}", path(&c).await);

    // The audit viewer, filtered, with the chain verified against the signed checkpoint.
    audit::checkpoint(&db, &signing_key).await.unwrap();
    c.goto(&format!("{base}/audit")).await.unwrap();
    fill(&c, "action", "operator.create").await;
    click(&c, "form.filters button[type=submit]:not([name])").await;
    assert!(text(&c, "#sealed").await.contains("sealed by a checkpoint"));
    let table = text(&c, "#audit-records").await;
    assert!(table.contains("operator:root") && table.contains("operator.create"), "{table}");
    assert!(!table.contains("sign_in"), "the filter holds: {table}");
    click(&c, "#verify").await;
    assert!(text(&c, "#chain-status").await.contains("The chain holds"));
    sign_out(&c).await;

    // A refused action: an analyst may not manage operators, and is not shown the module.
    sign_in(&c, &base, "ana", "ana has a long password").await;
    arrive(&c, "/").await;
    assert!(!text(&c, "nav").await.contains("Operators"));
    c.goto(&format!("{base}/operators")).await.unwrap();
    assert!(text(&c, "#forbidden").await.contains("access.read"));
    let denials = audit::list(&db, Some("route"), Some("GET /operators"), 10).await.unwrap();
    assert_eq!(denials.len(), 1);
    assert_eq!(denials[0].actor, "operator:ana");

    c.close().await.unwrap();
}

fn ed25519_key() -> audit::SigningKey {
    let mut bytes = [0u8; 32];
    rand::Rng::fill(&mut rand::rng(), &mut bytes);
    audit::SigningKey::from_bytes(&bytes)
}

/// panva's oidc-provider from tools/oidc-provider, stopped when dropped.
struct Provider {
    child: Child,
    issuer: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const CLIENT_ID: &str = "pitboss-browser-test";
const CLIENT_SECRET: &str = "a-browser-test-secret";

fn provider(redirect_url: &str) -> Provider {
    use std::io::BufRead;
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tools/oidc-provider");
    assert!(dir.join("node_modules/oidc-provider").is_dir(), "run `npm ci` in {} first (.ci/run does)", dir.display());
    let mut child = Command::new("node")
        .args(["provider.mjs", "--port", "0", "--host", "127.0.0.1"])
        .current_dir(&dir)
        .env("OIDC_CLIENT_ID", CLIENT_ID)
        .env("OIDC_CLIENT_SECRET", CLIENT_SECRET)
        .env("OIDC_REDIRECT_URIS", redirect_url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start `node`");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(issuer) = line.strip_prefix("listening on ") {
                let _ = tx.send(issuer.trim().to_string());
            }
        }
    });
    let issuer = rx.recv_timeout(Duration::from_secs(30)).expect("the OpenID provider starts");
    Provider { child, issuer }
}

#[tokio::test]
#[ignore = "needs chromium, chromedriver and node with tools/oidc-provider; run by .ci/run"]
async fn an_operator_signs_in_through_single_sign_on_and_is_created_with_mapped_roles() {
    use pitboss_auth::oidc::{OidcClient, OidcSettings};
    let db = pitboss_store::testing::sqlite().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let redirect = format!("{base}/auth/oidc/callback");
    let idp = provider(&redirect);
    let mut settings = OidcSettings::new(&idp.issuer, CLIENT_ID, &redirect);
    settings.client_secret = Some(CLIENT_SECRET.into());
    settings.groups_scope = Some("groups".into());
    settings.role_map.insert("pitboss-support".into(), vec!["support_agent".into()]);
    let oidc = OidcClient::discover(settings).await.expect("discovery");
    let security = Security { secure_cookies: false, oidc: Some(Arc::new(oidc)), ..Security::default() };
    serve_on(listener, &db, security).await;

    let driver = chromedriver().await;
    let c = browser(&driver).await;
    c.goto(&format!("{base}/login")).await.unwrap();
    click(&c, "a[href='/auth/oidc/login']").await;
    // The provider's own pages: its login form, then consent.
    c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("input[name=login]")).await.unwrap();
    fill_css(&c, "input[name=login]", "bob").await;
    fill_css(&c, "input[name=password]", "bob-password").await;
    click(&c, "button[type=submit]").await;
    c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("input[name=decision]")).await.unwrap();
    click(&c, "button[type=submit]").await;
    arrive(&c, "/").await;
    assert!(text(&c, "main h1").await.contains("bob"));

    let bob = operator::get_by_username(&db, "bob").await.unwrap().expect("created on first sign-in");
    assert_eq!(bob.roles, ["support_agent"]);
    assert!(bob.single_sign_on);
    let records = audit::list(&db, Some("operator"), Some(&bob.id.to_string()), 10).await.unwrap();
    assert!(records.iter().any(|r| r.action == "operator.create_from_sso"), "{records:?}");
    assert!(records.iter().any(|r| r.action == "operator.sign_in_sso"), "{records:?}");

    // A tampered state is refused, audited, and signs no one in.
    sign_out(&c).await;
    c.goto(&format!("{base}/auth/oidc/callback?code=forged&state=forged")).await.unwrap();
    assert!(text(&c, "[role=alert]").await.contains("start again"));
    c.goto(&format!("{base}/")).await.unwrap();
    arrive(&c, "/login").await;
    c.close().await.unwrap();
}

async fn fill_css(c: &Client, css: &str, text: &str) {
    let field = c.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css}: {e}"));
    field.send_keys(text).await.unwrap();
}

#[tokio::test]
#[ignore = "needs chromium and chromedriver; run by .ci/run"]
async fn a_marketer_builds_a_segment_with_a_live_count_and_sees_its_members() {
    let db = pitboss_store::testing::sqlite().await.unwrap();
    let base = format!("http://{}", serve(&db, Security { secure_cookies: false, ..Security::default() }).await);
    let now = chrono::Utc::now();
    for (external, country) in [("p-de-1", "DE"), ("p-at-1", "AT"), ("p-se-1", "SE")] {
        let mut tx = db.begin().await.unwrap();
        let new =
            serde_json::from_value(serde_json::json!({"external_id": external, "country": country, "currency": "EUR"}))
                .unwrap();
        pitboss_players::create(&mut tx, new, now).await.unwrap();
        tx.commit().await.unwrap();
    }
    operator_with_password(&db, "mia", &["marketer"], &[]).await;

    let driver = chromedriver().await;
    let c = browser(&driver).await;
    signed_in(&c, &base, "mia").await;
    click(&c, "nav a[href='/segments']").await;
    click(&c, "#new-segment").await;
    fill(&c, "name", "DACH").await;
    // The count follows the typing; a mistake is pointed at before saving.
    fill(&c, "condition", "contry == \"DE\"").await;
    wait_text(&c, "#preview", "did you mean `country`").await;
    fill(&c, "condition", r#"country in ["DE", "AT"]"#).await;
    wait_text(&c, "#preview", "2 players match now").await;
    click(&c, "form[action='/segments'] button[type=submit]").await;
    assert_eq!(text(&c, "#member-count").await, "2");
    let members = text(&c, "#members").await;
    assert!(members.contains("p-de-1") && members.contains("p-at-1") && !members.contains("p-se-1"), "{members}");
    // Why is this player in? The condition, part by part, on the player's facts.
    click(&c, "#members a").await;
    wait_text(&c, "#explain-member", "yes, since").await;
    assert!(path(&c).await.contains("/players/"), "on the explanation page");
    let why = text(&c, "#trace").await;
    assert!(why.contains(r#"country in ["DE", "AT"]"#) && why.contains("yes"), "{why}");
    c.close().await.unwrap();
}

/// A platform event, as the casino sends it.
fn platform_event(kind: &str, player: &str, payload: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "id": uuid::Uuid::now_v7(), "type": kind, "player_id": player,
        "occurred_at": chrono::Utc::now().to_rfc3339(), "source": "test", "payload": payload,
    })
}

fn deposit_event(player: &str, reference: &str, amount: i64, method: &str) -> serde_json::Value {
    let payload =
        serde_json::json!({"transaction_id": reference, "amount": amount, "currency": "EUR", "method": method});
    platform_event("payment.deposit.completed", player, payload)
}

#[tokio::test]
#[ignore = "needs chromium and chromedriver; run by .ci/run"]
async fn a_support_agent_watches_their_brands_payments_arrive_live_and_opens_one() {
    let db = pitboss_store::testing::sqlite().await.unwrap();
    let security = Security { secure_cookies: false, ..Security::default() };
    let base = format!("http://{}", serve(&db, security).await);
    let ingest = Ingestor::new(db.clone());
    let now = chrono::Utc::now();
    let players = [("p-main", "main"), ("p-lucky", "luckystar")];
    let mut events: Vec<serde_json::Value> = players
        .iter()
        .map(|(p, brand)| {
            platform_event(
                "player.registered",
                p,
                serde_json::json!({"country": "DE", "currency": "EUR", "brand": brand}),
            )
        })
        .collect();
    events.push(deposit_event("p-main", "main-1", 2_000, "card"));
    events.push(deposit_event("p-lucky", "lucky-1", 9_900, "card"));
    assert_eq!(ingest.ingest(&events, now).await.unwrap().accepted, 4);
    operator_with_password(&db, "sam", &["support_agent"], &["main"]).await;

    let driver = chromedriver().await;
    let c = browser(&driver).await;
    signed_in(&c, &base, "sam").await;
    click(&c, "nav a[href='/payments']").await;
    // Only the agent's brand: its payment, and its totals.
    let rows = text(&c, "#payments tbody").await;
    assert!(rows.contains("main-1") && !rows.contains("lucky-1"), "{rows}");
    assert!(text(&c, "#payment-totals tbody").await.contains("20.00 EUR"));
    wait_text(&c, "#live", "Live").await;

    // New payments appear without a reload, and the totals follow; another brand's do not.
    let more =
        [deposit_event("p-lucky", "lucky-2", 5_000, "card"), deposit_event("p-main", "main-2", 4_550, "bank_transfer")];
    ingest.ingest(&more, chrono::Utc::now()).await.unwrap();
    let rows = wait_text(&c, "#payments tbody", "main-2").await;
    assert!(rows.contains("45.50 EUR") && !rows.contains("bank_transfer"), "the method is a payment detail: {rows}");
    assert!(!rows.contains("lucky-2"), "{rows}");
    let first = text(&c, "#payments tbody tr:first-child").await;
    assert!(first.contains("main-2"), "the newest is on top: {first}");
    wait_text(&c, "#payment-totals tbody", "65.50 EUR").await;

    // Filters: the amount range in euros.
    fill(&c, "currency", "EUR").await;
    fill(&c, "min", "30").await;
    click(&c, "form.filters button[type=submit]").await;
    let rows = text(&c, "#payments tbody").await;
    assert!(rows.contains("main-2") && !rows.contains("main-1"), "{rows}");
    fill(&c, "min", "1.234").await;
    click(&c, "form.filters button[type=submit]").await;
    assert!(text(&c, "[role=alert]").await.contains("more decimals"));

    // A payment's own page: what happened to it, in order.
    c.goto(&format!("{base}/payments")).await.unwrap();
    click(&c, "#payments tbody tr:first-child a").await;
    assert!(path(&c).await.starts_with("/payments/"));
    assert!(text(&c, "#payment-facts").await.contains("main-2"));
    let history = text(&c, "#status-history").await;
    assert!(history.contains("completed"), "{history}");
    // A support agent does not see full payment details: no postings.
    assert!(text(&c, "#postings").await.contains("No postings you may see"));
    c.close().await.unwrap();
}

#[tokio::test]
#[ignore = "needs chromium and chromedriver; run by .ci/run"]
async fn payments_officers_approve_withdrawals_in_the_queue_with_four_eyes_on_big_ones() {
    use pitboss_ops::withdrawals::{self, ReviewPolicy};
    let db = pitboss_store::testing::sqlite().await.unwrap();
    let security = without_two_factor();
    let base = format!("http://{}", serve(&db, security).await);
    let ingest = Ingestor::new(db.clone());
    let mut events = vec![
        platform_event("player.registered", "p-plain", serde_json::json!({"country": "DE", "currency": "EUR"})),
        platform_event("player.registered", "p-vip", serde_json::json!({"country": "DE", "currency": "EUR"})),
        deposit_event("p-plain", "d-plain", 5_000_000, "card"),
        deposit_event("p-vip", "d-vip", 5_000_000, "card"),
    ];
    let requested = |player: &str, reference: &str, amount: i64| {
        let payload = serde_json::json!({"transaction_id": reference, "amount": amount, "currency": "EUR"});
        platform_event("payment.withdrawal.requested", player, payload)
    };
    events.push(requested("p-plain", "w-plain", 300_000));
    events.push(requested("p-plain", "w-huge", 1_500_000));
    events.push(requested("p-vip", "w-vip", 250_000));
    assert_eq!(ingest.ingest(&events, chrono::Utc::now()).await.unwrap().accepted, 7);
    let mut tx = db.begin().await.unwrap();
    let vip_id = pitboss_players::id_by_external(&mut tx, "p-vip").await.unwrap().unwrap().0;
    let patch = pitboss_players::PlayerPatch { vip_tier: Some("gold".into()), ..Default::default() };
    pitboss_players::update(&mut tx, vip_id, &patch, chrono::Utc::now()).await.unwrap();
    for reference in ["w-plain", "w-huge", "w-vip"] {
        // No identity check in this test: the amounts alone make them wait.
        let policy = ReviewPolicy::new(200_000, 1_000_000, &Default::default()).unwrap();
        let rates = pitboss_rules::Rates::new();
        withdrawals::assess(&mut tx, &policy, &rates, reference, chrono::Utc::now()).await.unwrap().unwrap();
    }
    tx.commit().await.unwrap();
    for name in ["pat", "quinn"] {
        operator_with_password(&db, name, &["payments_officer"], &[]).await;
    }

    let driver = chromedriver().await;
    let c = browser(&driver).await;
    signed_in(&c, &base, "pat").await;
    click(&c, "nav a[href='/withdrawals']").await;
    let queue = text(&c, "#withdrawal-queue tbody").await;
    let order: Vec<usize> =
        ["2500.00 EUR", "3000.00 EUR", "15000.00 EUR"].iter().map(|a| queue.find(a).unwrap()).collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "the VIP payout first, then the longest waiting: {queue}");
    assert!(queue.contains("VIP") && queue.contains("two officers must approve"), "{queue}");

    // The VIP payout, approved with a note.
    fill_css(&c, "#withdrawal-queue tbody tr:first-child input[name=reason]", "regular customer").await;
    click(&c, "#withdrawal-queue tbody tr:first-child button.approve").await;
    assert!(text(&c, ".notice").await.contains("approved"));
    assert!(text(&c, "#withdrawal-decisions").await.contains("regular customer"));
    // A rejection needs a reason.
    click(&c, "#withdrawal-queue tbody tr:first-child button.reject").await;
    assert!(text(&c, "[role=alert]").await.contains("say why"));
    // The big one: pat's approval is the first; pat cannot give the second.
    let huge = "#withdrawal-queue tbody tr:nth-child(2)";
    click(&c, &format!("{huge} button.approve")).await;
    assert!(text(&c, ".notice").await.contains("second approval"));
    assert!(text(&c, huge).await.contains("approved by operator:pat"));
    click(&c, &format!("{huge} button.approve")).await;
    assert!(text(&c, "[role=alert]").await.contains("a second officer must give the other"));
    sign_out(&c).await;

    signed_in(&c, &base, "quinn").await;
    c.goto(&format!("{base}/withdrawals")).await.unwrap();
    let huge = "#withdrawal-queue tbody tr:nth-child(2)";
    click(&c, &format!("{huge} button.approve")).await;
    assert!(text(&c, ".notice").await.contains("approved"));
    let decisions = text(&c, "#withdrawal-decisions").await;
    assert!(decisions.contains("15000.00 EUR") && decisions.contains("operator:quinn"), "{decisions}");
    // What is left: the plain one, which quinn rejects with a reason.
    fill_css(&c, "#withdrawal-queue tbody tr:first-child input[name=reason][placeholder^=reason]", "closed loop").await;
    click(&c, "#withdrawal-queue tbody tr:first-child button.reject").await;
    assert!(text(&c, ".notice").await.contains("rejected"));
    assert!(text(&c, "#withdrawal-queue tbody").await.contains("No withdrawal is waiting"));
    c.close().await.unwrap();
}

#[tokio::test]
#[ignore = "needs chromium and chromedriver; run by .ci/run"]
async fn a_payments_officer_resolves_a_chargeback_dispute_with_an_adjustment() {
    let db = pitboss_store::testing::sqlite().await.unwrap();
    let security = without_two_factor();
    let base = format!("http://{}", serve(&db, security).await);
    let events = [
        platform_event("player.registered", "p-1", serde_json::json!({"country": "DE", "currency": "EUR"})),
        deposit_event("p-1", "dep-1", 5_000, "card"),
    ];
    assert_eq!(Ingestor::new(db.clone()).ingest(&events, chrono::Utc::now()).await.unwrap().accepted, 2);
    operator_with_password(&db, "pat", &["payments_officer"], &[]).await;

    let driver = chromedriver().await;
    let c = browser(&driver).await;
    signed_in(&c, &base, "pat").await;
    click(&c, "nav a[href='/payments']").await;
    click(&c, "#payments tbody tr:first-child a").await;
    fill(&c, "dispute-reason", "chargeback notice 4711").await;
    click(&c, "#open-dispute").await;
    assert!(path(&c).await.starts_with("/disputes/"));
    assert!(text(&c, "#dispute-facts").await.contains("chargeback notice 4711"));
    fill(&c, "note", "the player spent half of it").await;
    click(&c, "#add-note").await;
    assert!(text(&c, "#dispute-notes").await.contains("the player spent half of it"));

    // An over-precise amount is refused with the reason; the form keeps working.
    c.find(Locator::Css("#resolution-choice option[value=adjust]")).await.unwrap().click().await.unwrap();
    fill(&c, "amount", "-25.005").await;
    fill(&c, "reason", "partial chargeback").await;
    click(&c, "#resolve").await;
    assert!(text(&c, "[role=alert]").await.contains("more decimals"));
    c.find(Locator::Css("#resolution-choice option[value=adjust]")).await.unwrap().click().await.unwrap();
    fill(&c, "amount", "-25.00").await;
    fill(&c, "reason", "partial chargeback").await;
    click(&c, "#resolve").await;
    assert!(text(&c, ".notice").await.contains("resolved"));
    let resolution = text(&c, "#resolution").await;
    assert!(resolution.contains("adjust: partial chargeback") && resolution.contains("operator:pat"), "{resolution}");
    // The adjustment is a payment of its own, in the player's history.
    click(&c, "#adjustment-link").await;
    assert_eq!(text(&c, "h1").await, "adjustment of -25.00 EUR");
    c.goto(&format!("{base}/disputes")).await.unwrap();
    assert!(text(&c, "#resolved-disputes").await.contains("adjust"));
    let player = pitboss_players::id_by_external(&mut db.begin().await.unwrap(), "p-1").await.unwrap().unwrap().0;
    let balances = pitboss_payments::queries::player_balances(&db, player).await.unwrap();
    assert_eq!(balances.iter().find(|b| b.account.contains(":cash:")).unwrap().posted, 2_500);
    c.close().await.unwrap();
}

#[tokio::test]
#[ignore = "needs chromium and chromedriver; run by .ci/run"]
async fn a_compliance_officer_sets_deposit_and_play_time_limits_and_locks_and_unlocks_withdrawals_on_the_player_page() {
    let db = pitboss_store::testing::sqlite().await.unwrap();
    let base = format!("http://{}", serve(&db, without_two_factor()).await);
    let registered = serde_json::json!({"country": "DE", "currency": "EUR", "first_name": "Lena", "last_name": "Berg"});
    let events =
        [platform_event("player.registered", "p-1", registered), deposit_event("p-1", "dep-1", 12_000, "card")];
    assert_eq!(Ingestor::new(db.clone()).ingest(&events, chrono::Utc::now()).await.unwrap().accepted, 2);
    operator_with_password(&db, "cora", &["compliance_officer"], &[]).await;

    let driver = chromedriver().await;
    let c = browser(&driver).await;
    signed_in(&c, &base, "cora").await;
    click(&c, "nav a[href='/players']").await;
    fill(&c, "q", "Lena").await;
    click(&c, "form[role=search] button").await;
    click(&c, "#players tbody a").await;
    assert_eq!(text(&c, "h1").await, "Lena Berg");
    assert!(text(&c, "#balances").await.contains("120.00 EUR"));
    assert!(text(&c, "#player-transactions").await.contains("dep-1"));

    // The casino's own deposit limit: applies at once; an over-precise amount is refused.
    fill(&c, "limit-amount", "50.001").await;
    click(&c, "#set-limit").await;
    assert!(text(&c, "[role=alert]").await.contains("more decimals"));
    c.find(Locator::Css("#limit-period option[value=week]")).await.unwrap().click().await.unwrap();
    fill(&c, "limit-amount", "250.00").await;
    fill(&c, "limit-reason", "affordability check").await;
    click(&c, "#set-limit").await;
    assert!(text(&c, ".notice").await.contains("The deposit limit per week is set to 250.00 EUR"));
    let limits = text(&c, "#limits").await;
    assert!(limits.contains("week") && limits.contains("250.00 EUR") && !limits.contains("cooling off"), "{limits}");
    // Two hours of play a day: a time limit, in minutes.
    c.find(Locator::Css("#limit-kind option[value=session_time]")).await.unwrap().click().await.unwrap();
    c.find(Locator::Css("#limit-period option[value=day]")).await.unwrap().click().await.unwrap();
    fill(&c, "limit-amount", "120").await;
    click(&c, "#set-limit").await;
    assert!(text(&c, ".notice").await.contains("The session time limit per day is set to 120 minutes"));
    assert!(text(&c, "#limits").await.contains("120 minutes"));

    // A lock on withdrawals, then lifted with a reason.
    c.find(Locator::Css("#lock-scope option[value=withdrawals]")).await.unwrap().click().await.unwrap();
    fill(&c, "lock-reason", "source of funds requested").await;
    click(&c, "#set-lock").await;
    assert!(text(&c, ".notice").await.contains("Locked: withdrawals"));
    assert!(text(&c, "#locks").await.contains("in force"));
    click(&c, "#locks button.lift").await;
    assert!(text(&c, "[role=alert]").await.contains("reason"), "a lift needs a reason");
    fill_css(&c, "#locks input[name=reason]", "documents received").await;
    click(&c, "#locks button.lift").await;
    assert!(text(&c, ".notice").await.contains("Lifted the withdrawals lock"));
    assert!(!text(&c, "#locks").await.contains("in force"));
    c.close().await.unwrap();
}

#[tokio::test]
#[ignore = "needs chromium and chromedriver; run by .ci/run"]
async fn a_large_adjustment_resolving_a_dispute_waits_for_a_second_officer() {
    let db = pitboss_store::testing::sqlite().await.unwrap();
    let base = format!("http://{}", serve(&db, without_two_factor()).await);
    let events = [
        platform_event("player.registered", "p-1", serde_json::json!({"country": "DE", "currency": "EUR"})),
        deposit_event("p-1", "dep-1", 500_000, "card"),
    ];
    assert_eq!(Ingestor::new(db.clone()).ingest(&events, chrono::Utc::now()).await.unwrap().accepted, 2);
    for name in ["pat", "quinn"] {
        operator_with_password(&db, name, &["payments_officer"], &[]).await;
    }
    let driver = chromedriver().await;
    let c = browser(&driver).await;
    signed_in(&c, &base, "pat").await;
    click(&c, "nav a[href='/payments']").await;
    click(&c, "#payments tbody tr:first-child a").await;
    c.find(Locator::Css("#dispute-kind option[value=wrong_balance]")).await.unwrap().click().await.unwrap();
    fill(&c, "dispute-reason", "a provider credited the player twice").await;
    click(&c, "#open-dispute").await;
    let dispute = path(&c).await;
    // 2,000.00 EUR is more than one officer may post alone.
    c.find(Locator::Css("#resolution-choice option[value=adjust]")).await.unwrap().click().await.unwrap();
    fill(&c, "amount", "-2000.00").await;
    fill(&c, "reason", "take back the double credit").await;
    click(&c, "#resolve").await;
    assert!(text(&c, ".notice").await.contains("awaiting approval"));
    assert!(text(&c, "#dispute-facts").await.contains("a second officer's approval"));
    // pat may not approve pat's own request.
    c.goto(&format!("{base}/adjustments")).await.unwrap();
    click(&c, "#pending-adjustments button.approve").await;
    assert!(text(&c, "[role=alert]").await.contains("four eyes"));
    sign_out(&c).await;

    signed_in(&c, &base, "quinn").await;
    click(&c, "nav a[href='/adjustments']").await;
    assert!(text(&c, "#pending-adjustments").await.contains("-2000.00 EUR"));
    click(&c, "#pending-adjustments button.approve").await;
    assert!(text(&c, ".notice").await.contains("Approved and posted: -2000.00 EUR"));
    c.goto(&format!("{base}{dispute}")).await.unwrap();
    let resolution = text(&c, "#resolution").await;
    assert!(
        resolution.contains("adjust: take back the double credit") && resolution.contains("operator:quinn"),
        "{resolution}"
    );
    c.close().await.unwrap();
}

#[tokio::test]
#[ignore = "needs chromium and chromedriver; run by .ci/run"]
async fn a_compliance_officer_acknowledges_a_live_alert_and_resolves_it() {
    use pitboss_bus::Transport;
    use pitboss_ops::consumer::{ANOMALIES, AnomaliesConsumer};
    let db = pitboss_store::testing::sqlite().await.unwrap();
    let base = format!("http://{}", serve(&db, without_two_factor()).await);
    pitboss_ops::anomaly_rules::install_shipped(&db, chrono::Utc::now()).await.unwrap();
    // The anomaly rules behind ingestion, as `serve` runs them.
    let transport = Arc::new(InProcess::new());
    let rates = Arc::new(pitboss_rules::Rates::new());
    transport.subscribe(ANOMALIES, AnomaliesConsumer::new(db.clone(), rates)).await.unwrap();
    let relay = pitboss_bus::relay::Relay::new(db.clone(), transport);
    let ingest = Ingestor::new(db.clone());
    let registered =
        platform_event("player.registered", "p-card", serde_json::json!({"country": "DE", "currency": "EUR"}));
    ingest.ingest(&[registered], chrono::Utc::now()).await.unwrap();
    operator_with_password(&db, "cora", &["compliance_officer"], &[]).await;

    let driver = chromedriver().await;
    let c = browser(&driver).await;
    signed_in(&c, &base, "cora").await;
    click(&c, "nav a[href='/alerts']").await;
    assert!(text(&c, "#alerts tbody").await.contains("No alert"));
    // Told of every alert by email.
    fill(&c, "target", "cora@casino.test").await;
    click(&c, "form[action='/alert-subscriptions'] button[type=submit]").await;
    assert!(text(&c, ".notice").await.contains("Subscribed"));
    assert!(text(&c, "#subscriptions").await.contains("cora@casino.test"));

    // Five refused deposits within the hour: the alert appears without a reload.
    let failed: Vec<serde_json::Value> = (0..5)
        .map(|i| {
            let payload = serde_json::json!({"transaction_id": format!("f-{i}"), "amount": 5_000, "currency": "EUR", "reason": "declined"});
            platform_event("payment.deposit.failed", "p-card", payload)
        })
        .collect();
    assert_eq!(ingest.ingest(&failed, chrono::Utc::now()).await.unwrap().accepted, 5);
    relay.flush().await.unwrap();
    let row = wait_text(&c, "#alerts tbody", "Many failed deposits").await;
    assert!(row.contains("open") && row.contains("medium"), "{row}");

    click(&c, "#alerts tbody tr:first-child button.acknowledge").await;
    assert!(text(&c, ".notice").await.contains("acknowledged"));
    let row = text(&c, "#alerts tbody tr:first-child").await;
    assert!(row.contains("acknowledged") && row.contains("operator:cora"), "{row}");

    // The alert's page: why the rule fired, and its resolution.
    click(&c, "#alerts tbody tr:first-child a[href^='/alerts/']").await;
    let trace = text(&c, "#alert-trace").await;
    assert!(trace.contains("recent.failed_deposits = 5 >= 5"), "{trace}");
    click(&c, "#resolve").await;
    assert!(text(&c, "[role=alert]").await.contains("Choose the outcome"));
    c.find(Locator::Css("#outcome option[value=false_positive]")).await.unwrap().click().await.unwrap();
    fill(&c, "note", "the card issuer was down; the player paid by bank transfer").await;
    click(&c, "#resolve").await;
    assert!(text(&c, ".notice").await.contains("resolved"));
    let resolution = text(&c, "#alert-resolution").await;
    assert!(resolution.contains("false_positive") && resolution.contains("issuer was down"), "{resolution}");
    c.close().await.unwrap();
}

#[tokio::test]
#[ignore = "needs chromium and chromedriver; run by .ci/run"]
async fn an_sla_breach_escalates_a_ticket_at_its_due_time() {
    use pitboss_helpdesk::escalation::{SlaTimers, TIMER};
    use pitboss_helpdesk::queues::{self, Assignment, Member, Queue};
    use pitboss_helpdesk::tickets::{self, NewTicket};
    use pitboss_helpdesk::{Channel, DeskConfig, MessageKind, Priority};
    let db = pitboss_store::testing::sqlite().await.unwrap();
    // Support round the clock in UTC; a breach raises the priority and goes to the leads.
    let week: String = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
        .iter()
        .map(|d| format!("{d} = [\"00:00-24:00\"]\n"))
        .collect();
    let desk = DeskConfig::from_toml(&format!(
        "default_queue = \"support\"\n[calendar]\ntime_zone = \"UTC\"\n{week}\n[sla]\nwarn_before_percent = 75\n\
         [sla.targets]\nlow = {{ first_response_minutes = 1440, resolution_minutes = 4320 }}\n\
         normal = {{ first_response_minutes = 240, resolution_minutes = 1440 }}\n\
         high = {{ first_response_minutes = 60, resolution_minutes = 480 }}\n\
         urgent = {{ first_response_minutes = 30, resolution_minutes = 240 }}\n\
         [escalation]\nraise_priority = true\nreassign_to = \"leads\"\n"
    ))
    .unwrap();
    let desk = Arc::new(desk);
    let now = chrono::Utc::now();
    queues::install_default(&db, &desk, now).await.unwrap();
    let mut tx = db.begin().await.unwrap();
    let leads = Queue {
        key: "leads".into(),
        name: "Team leads".into(),
        description: String::new(),
        members: vec![Member { agent: "operator:lena".into(), languages: vec![] }],
        assignment: Assignment::RoundRobin,
    };
    queues::save(&mut tx, &leads, now).await.unwrap();
    let new = pitboss_players::NewPlayer::new("p-late", "MT", "EUR".parse().unwrap());
    let player = pitboss_players::create(&mut tx, new, now).await.unwrap();
    tx.commit().await.unwrap();
    // The SLA timers, as `serve` runs them.
    let scheduler = pitboss_bus::timers::Scheduler::new(db.clone(), TIMER, SlaTimers::new(desk.clone()));
    let wake = scheduler.waker();
    let stop = Arc::new(tokio::sync::Notify::new());
    tokio::spawn(scheduler.run(stop.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!(
        "http://{}",
        serve_with(listener, &db, without_two_factor(), |s| {
            s.helpdesk = desk.clone();
            s.sla_wake = wake.clone();
        })
        .await
    );
    operator_with_password(&db, "sven", &["support_agent"], &["main"]).await;

    // A mail read late: its first response (240 minutes) falls due in 25 seconds, time enough
    // for the browser to start and sign in on a slow machine.
    let mut tx = db.begin().await.unwrap();
    let asked = NewTicket {
        subject: "My withdrawal is late".into(),
        player: Some(player.clone()),
        requester: "late@example.com".into(),
        channel: Channel::Email,
        priority: Priority::Normal,
        tags: vec![],
        body: "It has been days.".into(),
        first_kind: MessageKind::Player,
        author: String::new(),
        received_at: Some(now - chrono::Duration::minutes(240) + chrono::Duration::seconds(25)),
        email_message_id: None,
        language: None,
    };
    let ticket = tickets::create(&mut tx, &desk, &asked, "system", now).await.unwrap();
    tx.commit().await.unwrap();
    wake.notify_one();

    let driver = chromedriver().await;
    let c = browser(&driver).await;
    signed_in(&c, &base, "sven").await;
    click(&c, "nav a[href='/tickets']").await;
    let row = text(&c, &format!("#ticket-{}", ticket.number)).await;
    assert!(row.contains("normal") && !row.contains("breached"), "{row}");
    click(&c, &format!("#ticket-{} a", ticket.number)).await;
    assert!(text(&c, "#sla-first-response").await.contains("due"));

    // At its due time the timer fires: breached, priority up, moved to the leads.
    let page = format!("{base}/tickets/{}", ticket.id);
    let mut breached = String::new();
    for _ in 0..120 {
        c.goto(&page).await.unwrap();
        breached = text(&c, "#sla-first-response").await;
        if breached.contains("breached") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(breached.contains("breached"), "{breached}");
    assert_eq!(text(&c, "#ticket-priority").await, "high");
    assert_eq!(text(&c, "#ticket-queue").await, "leads");
    assert_eq!(text(&c, "#ticket-assignee").await, "operator:lena");
    assert!(
        text(&c, "#thread")
            .await
            .contains("SLA breached: first response overdue. Priority raised from normal to high.")
    );
    assert!(text(&c, "#ticket-history").await.contains("escalated"));

    // The agent answers late: the ticket waits on the player, its first response marked breached.
    fill(&c, "reply-body", "Sorry for the wait: your withdrawal was paid this morning.").await;
    click(&c, "#send").await;
    assert!(text(&c, ".notice").await.contains("answered"));
    assert_eq!(text(&c, "#ticket-status").await, "pending");
    assert!(text(&c, "#sla-first-response").await.contains("breached"));
    assert!(text(&c, "#sla-resolution").await.contains("paused"));
    stop.notify_one();
    c.close().await.unwrap();
}

#[tokio::test]
#[ignore = "needs chromium, chromedriver and an SMTP server (PITBOSS_TEST_SMTP_URL, PITBOSS_TEST_MAILDIR); run by .ci/run"]
async fn an_agent_answers_an_email_ticket_with_a_template_and_the_reply_goes_out_by_smtp() {
    use pitboss_bus::Transport;
    use pitboss_bus::relay::Relay;
    use pitboss_helpdesk::email::{self, CONSUMER, MailConsumer, MailSender, Received};
    use pitboss_helpdesk::{DeskConfig, queues, templates};
    use pitboss_payments::operations::{self, Context};
    let smtp = std::env::var("PITBOSS_TEST_SMTP_URL").unwrap_or_else(|_| "smtp://127.0.0.1:2525".into());
    let maildir = std::env::var("PITBOSS_TEST_MAILDIR").unwrap_or_else(|_| "/tmp/pitboss-maildir".into());
    let db = pitboss_store::testing::sqlite().await.unwrap();
    let desk = Arc::new(DeskConfig::shipped());
    let now = chrono::Utc::now();
    queues::install_default(&db, &desk, now).await.unwrap();
    let address = format!("mia{}@example.com", uuid::Uuid::now_v7().simple());
    let mut tx = db.begin().await.unwrap();
    let mut new = pitboss_players::NewPlayer::new("p-mia", "MT", "EUR".parse().unwrap());
    new.email = Some(address.clone());
    new.first_name = Some("Mia".into());
    let player = pitboss_players::create(&mut tx, new, now).await.unwrap();
    let ctx =
        Context { player: player.id, currency: player.currency, method: None, occurred_at: now, now, actor: "test" };
    operations::payment_completed(&mut tx, &ctx, pitboss_payments::TxKind::Deposit, "d-mia", 12_345).await.unwrap();
    templates::save(
        &mut tx,
        "balance",
        "en",
        "Hello {{ player.first_name }},\n\nyour balance is {{ player.balance }}.\n\nTicket #{{ ticket.number }}",
        "operator:lead",
        now,
    )
    .await
    .unwrap();
    // The player writes in.
    let mail = format!(
        "From: Mia <{address}>\r\nSubject: My balance\r\nMessage-ID: <b1-{address}>\r\n\r\nWhat is my balance?\r\n"
    );
    let Received::Opened(ticket) = email::receive(&mut tx, &desk, mail.as_bytes(), now).await.unwrap() else {
        panic!("the mail opened no ticket")
    };
    tx.commit().await.unwrap();
    // The replies go out as `serve` sends them: outbox, bus, mail consumer, SMTP.
    let transport = Arc::new(InProcess::new());
    let sender = MailSender::new(Some(&smtp), desk.mail_from.clone()).unwrap();
    transport.subscribe(CONSUMER, MailConsumer::new(db.clone(), Arc::new(sender))).await.unwrap();
    let base = format!("http://{}", serve(&db, without_two_factor()).await);
    operator_with_password(&db, "ada", &["support_agent"], &["main"]).await;

    let driver = chromedriver().await;
    let c = browser(&driver).await;
    signed_in(&c, &base, "ada").await;
    c.goto(&format!("{base}/tickets/{}", ticket.id)).await.unwrap();
    assert!(text(&c, "#thread").await.contains("What is my balance?"));
    c.find(Locator::Css("#template option[value=balance]")).await.unwrap().click().await.unwrap();
    tick(&c, "#use-template").await;
    wait_text(&c, "#template-note", "balance (en)").await;
    let filled = c.find(Locator::Id("reply-body")).await.unwrap().prop("value").await.unwrap().unwrap_or_default();
    assert_eq!(filled, format!("Hello Mia,\n\nyour balance is 123.45 EUR.\n\nTicket #{}", ticket.number));
    // The agent adds a line of their own before sending.
    c.find(Locator::Id("reply-body")).await.unwrap().send_keys("\n\nKind regards, Ada").await.unwrap();
    click(&c, "#send").await;
    assert!(text(&c, ".notice").await.contains("answered"));
    assert!(text(&c, "#thread").await.contains("your balance is 123.45 EUR."));

    Relay::new(db.clone(), transport).flush().await.unwrap();
    c.goto(&format!("{base}/tickets/{}", ticket.id)).await.unwrap();
    let mail_row = text(&c, "#ticket-mail").await;
    assert!(mail_row.contains("sent") && mail_row.contains(&format!("[#{}]", ticket.number)), "{mail_row}");
    let mut delivered = None;
    for _ in 0..50 {
        delivered = std::fs::read_dir(std::path::Path::new(&maildir).join("new"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .find(|m| m.contains(&address) && m.contains("Kind regards, Ada"));
        if delivered.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let delivered = delivered.expect("the SMTP server kept the reply");
    assert!(delivered.contains("In-Reply-To:") && delivered.contains(&format!("b1-{address}")), "{delivered}");
    assert!(delivered.contains("your balance is 123.45 EUR."), "{delivered}");
    c.close().await.unwrap();
}

#[tokio::test]
#[ignore = "needs chromium and chromedriver; run by .ci/run"]
async fn a_visitor_chats_from_the_widget_with_an_agent_in_the_console() {
    use pitboss_helpdesk::{DeskConfig, queues, templates};
    let db = pitboss_store::testing::sqlite().await.unwrap();
    let desk = Arc::new(DeskConfig::shipped());
    let now = chrono::Utc::now();
    queues::install_default(&db, &desk, now).await.unwrap();
    let mut tx = db.begin().await.unwrap();
    templates::save(
        &mut tx,
        "greeting",
        "en",
        "Hello {{ player.name }}, this is {{ agent }} from support.",
        "lead",
        now,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let base = format!("http://{}", serve(&db, without_two_factor()).await);
    operator_with_password(&db, "ada", &["support_agent"], &["main"]).await;

    let driver = chromedriver().await;
    let agent = browser(&driver).await;
    signed_in(&agent, &base, "ada").await;
    agent.goto(&format!("{base}/chat/console")).await.unwrap();
    assert!(text(&agent, "#chats").await.contains("No chat is waiting"));

    // A visitor on the casino's website writes in.
    let player = browser(&driver).await;
    player.goto(&format!("{base}/chat/demo")).await.unwrap();
    fill(&player, "pbc-name", "Zoe").await;
    fill(&player, "pbc-text", "My deposit has not arrived").await;
    tick(&player, "#pbc-send").await;
    wait_text(&player, "#pbc-log", "My deposit has not arrived").await;

    // It shows up in the console; the agent opens it.
    let row = wait_text(&agent, "#chats", "Zoe").await;
    assert!(row.contains("waiting"), "{row}");
    tick(&agent, "#chats button[data-open-chat]").await;
    wait_text(&agent, ".chat-log", "My deposit has not arrived").await;
    assert!(text(&agent, ".chat-state").await.contains("Waiting"));

    // Typing crosses; a canned answer fills the agent's box, rendered for this chat.
    player.find(Locator::Id("pbc-text")).await.unwrap().send_keys("It was 50 EUR").await.unwrap();
    wait_text(&agent, ".chat-typing", "typing").await;
    agent.find(Locator::Css(".chat-canned option[value=greeting]")).await.unwrap().click().await.unwrap();
    let mut filled = String::new();
    for _ in 0..50 {
        filled =
            agent.find(Locator::Css(".chat-input")).await.unwrap().prop("value").await.unwrap().unwrap_or_default();
        if !filled.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(filled, "Hello Zoe, this is ada from support.");
    tick(&agent, ".chat-send").await;
    wait_text(&player, "#pbc-log", "this is ada from support").await;
    wait_text(&agent, ".chat-state", "Held by operator:ada").await;
    wait_text(&agent, ".chat-seen", "Seen by the player").await;
    tick(&player, "#pbc-send").await;
    wait_text(&agent, ".chat-log", "It was 50 EUR").await;
    wait_text(&player, "#pbc-seen", "Seen by support").await;

    // The agent ends it: the visitor is told, and the ticket keeps the transcript.
    tick(&agent, ".chat-end").await;
    wait_text(&player, "#pbc-seen", "The chat has ended").await;
    wait_text(&agent, ".chat-state", "Ended").await;
    click(&agent, ".chat-panel h3 a").await;
    let thread = text(&agent, "#thread").await;
    assert!(thread.contains("My deposit has not arrived") && thread.contains("It was 50 EUR"), "{thread}");
    assert!(thread.contains("Chat ended by operator:ada"), "{thread}");
    assert_eq!(text(&agent, "#ticket-status").await, "solved");
    player.close().await.unwrap();
    agent.close().await.unwrap();
}
