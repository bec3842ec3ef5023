//! `pitboss demo`: a believable casino in one command, with no server to install.
//!
//! On the first run it opens (creates) the store, seeds a year of synthetic history through
//! the same ingest path the platform uses, creates the first admin operator and an API key,
//! and writes them to `initial-credentials.json` in the data directory (mode 0600). Later runs
//! reuse the store and the file. Then it serves, and streams live traffic into its own
//! `POST /api/v1/events` with that key, until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use pitboss_ingest::Ingestor;
use pitboss_players::PlayerQuery;
use pitboss_store::Db;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{mpsc, watch};

use crate::cli::StoreArgs;
use crate::config::Overrides;
use crate::simulate::{Client, DriveOptions};
use crate::synth::{self, KnownPlayer, Live};

/// The file the first run writes the admin's password and the API key to.
pub const CREDENTIALS_FILE: &str = "initial-credentials.json";

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Address to listen on (PITBOSS_LISTEN); port 0 picks a free one.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Players to seed on the first run.
    #[arg(long, default_value_t = 10_000)]
    pub players: usize,
    /// Live events per second streamed into the server (0 for none).
    #[arg(long, default_value_t = 20.0)]
    pub rate: f64,
    /// Seed of the synthetic history (the same seed gives the same casino).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Days of history to seed.
    #[arg(long, default_value_t = 365)]
    pub days: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Credentials {
    pub admin_user: String,
    pub admin_password: String,
    pub api_key: String,
    pub url: String,
    /// One operator of each other role, to see what the policies let each do.
    #[serde(default)]
    pub operators: Vec<DemoOperator>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoOperator {
    pub username: String,
    pub password: String,
    pub roles: Vec<String>,
    pub brands: Vec<String>,
}

/// The demo's operators besides the admin: (username, role, brands). The brands are the
/// synthetic casino's (see `synth`).
const DEMO_OPERATORS: &[(&str, &str, &[&str])] = &[
    ("support", "support_agent", &["main"]),
    ("vip", "vip_manager", &["main", "luckystar"]),
    ("payments", "payments_officer", &[]),
    ("payments2", "payments_officer", &[]),
    ("compliance", "compliance_officer", &[]),
    ("marketing", "marketer", &[]),
    ("analyst", "analyst", &[]),
];

/// The demo's reference rates: the euro value of one unit of each synthetic currency.
const DEMO_RATES: &[(&str, &str)] =
    &[("GBP", "1.17"), ("SEK", "0.087"), ("NOK", "0.085"), ("USD", "0.92"), ("CAD", "0.67")];

/// Segments every casino starts from: (name, description, condition).
pub const READY_MADE_SEGMENTS: &[(&str, &str, &str)] = &[
    ("New depositors", "Made their first deposit in the last 30 days.", "first_deposit > 30d ago"),
    (
        "VIP candidates",
        "Outside the VIP programme, but deposited 2,000 EUR or more in 90 days, or predicted to be worth 5,000 EUR.",
        r#"vip_tier == "none" and (deposits_sum(90d) >= 2000 EUR or predicted_value >= 5000 EUR)"#,
    ),
    (
        "At-risk players",
        "Depositors not yet dormant whom the churn model rates high risk, or who have not played for two weeks.",
        r#"has_deposited and days_since_last_session < 28d and (churn_risk == "high" or days_since_last_session >= 14d)"#,
    ),
    (
        "Dormant",
        "Depositors who have not played for four weeks or more.",
        "has_deposited and days_since_last_session >= 28d",
    ),
    (
        "Bonus hunters",
        "Took 50 EUR or more in bonuses in 90 days, and deposited less than they took.",
        "bonus_granted(90d) >= 50 EUR and bonus_granted(90d) > deposits_sum(90d)",
    ),
    ("High rollers", "Staked 10,000 EUR or more in the last 30 days.", "stakes(30d) >= 10000 EUR"),
];

/// Creates the ready-made segments on a store that has none, and computes their members.
async fn ready_made_segments(db: &Db, rates: &pitboss_rules::Rates) -> anyhow::Result<()> {
    if !pitboss_segments::list(db, true).await?.is_empty() {
        return Ok(());
    }
    let now = pitboss_core::time::to_micros(chrono::Utc::now());
    for (name, description, condition) in READY_MADE_SEGMENTS {
        let new = pitboss_segments::NewSegment {
            name: name.to_string(),
            description: description.to_string(),
            condition: Some(condition.to_string()),
            ..Default::default()
        };
        let mut tx = db.begin().await?;
        let segment = pitboss_segments::create(&mut tx, new, "system", now).await?;
        let report = pitboss_segments::refresh_in(&mut tx, segment.id, now, rates).await?;
        let entry = pitboss_auth::Caller::system()
            .audit("segment.create", "segment", segment.id)
            .after(serde_json::json!(segment));
        pitboss_auth::audit::record(&mut tx, &entry).await?;
        tx.commit().await?;
        eprintln!("  segment {name}: {} players", report.members);
    }
    // Each player's timer for the instant time alone moves them in or out of a segment.
    pitboss_segments::schedule_all(db, now, rates, 1_000).await?;
    Ok(())
}

pub async fn run(config: Option<&Path>, args: DemoArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.rate >= 0.0, "--rate must not be negative");
    let mut settings =
        crate::cli::settings(config, &args.store, Overrides { listen: args.listen, ..Default::default() })?;
    crate::telemetry::init(&settings);
    if settings.reference_rates.is_empty() {
        // Illustrative rates for the synthetic casino's currencies, so that the ready-made
        // segments' euro thresholds hold for every player; not market data.
        for (code, eur) in DEMO_RATES {
            settings.reference_rates.insert(code.to_string(), eur.to_string());
        }
    }
    let db = crate::cli::open(&settings).await?;
    let where_ = match &settings.database_url {
        Some(url) => format!("PostgreSQL at {}", crate::config::redact_url(url)),
        None => format!("{}", settings.data_dir.display()),
    };

    let empty =
        pitboss_players::search(&db, &PlayerQuery { limit: Some(1), ..Default::default() }).await?.items.is_empty();
    let mut live = if empty {
        eprintln!("seeding {} players over the past {} days into {where_}...", args.players, args.days);
        let (history, _) = seed(&db, args.players, args.days, args.seed).await?;
        Some(history.into_live(args.seed, 0))
    } else {
        eprintln!("the store in {where_} has players already; not seeding");
        None
    };

    std::fs::create_dir_all(&settings.data_dir).with_context(|| format!("creating {}", settings.data_dir.display()))?;
    let path = settings.data_dir.join(CREDENTIALS_FILE);
    let mut credentials = match read_credentials(&path)? {
        Some(c) => c,
        None => first_credentials(&db).await?,
    };

    ready_made_segments(&db, &settings.rates()?).await?;

    // Returning players for the live stream: from the seeding just done, or from the store.
    if live.is_none() && args.rate > 0.0 {
        let known = known_players(&db, 3_000).await?;
        let pool = (known.len() / 2).max(50);
        live = Some(Live::new(args.seed, pool).with_players(known));
    }

    let running = crate::serve::start(&settings, db.clone()).await?;
    let url = format!("http://{}", running.addr);
    if credentials.url != url {
        credentials.url = url.clone();
    }
    write_credentials(&path, &credentials)?;

    println!();
    println!("Pitboss demo is running at {url}");
    println!("  admin user:      {}", credentials.admin_user);
    println!("  admin password:  {}", credentials.admin_password);
    println!("  API key:         {}", credentials.api_key);
    for op in &credentials.operators {
        println!("  {:<16} {} ({})", format!("{}:", op.username), op.password, op.roles.join(", "));
    }
    println!("  (saved in {})", path.display());
    if args.rate > 0.0 {
        println!("  live traffic:    about {} events/s", args.rate);
    }
    println!("Press Ctrl-C to stop.");

    let (stop_tx, stop) = watch::channel(false);
    let simulator = match live {
        Some(mut live) if args.rate > 0.0 => {
            let client = Client::new(&url, &credentials.api_key)?;
            let options = DriveOptions {
                rate: args.rate,
                batch: ((args.rate / 4.0).round() as usize).clamp(1, 500),
                duration: None,
                report_every: Some(Duration::from_secs(60)),
                label: "live: ".into(),
            };
            Some(tokio::spawn(async move {
                match crate::simulate::drive(&client, &mut live, options, stop).await {
                    Ok(t) => eprintln!(
                        "live traffic stopped: {} events sent, {} accepted, {} rejected",
                        t.sent, t.accepted, t.rejected
                    ),
                    Err(e) => eprintln!("live traffic stopped: {e:#}"),
                }
            }))
        }
        _ => None,
    };

    crate::serve::shutdown_signal().await;
    eprintln!("stopping: finishing requests and flushing the outbox");
    let _ = stop_tx.send(true);
    if let Some(task) = simulator
        && tokio::time::timeout(Duration::from_secs(70), task).await.is_err()
    {
        eprintln!("the live traffic did not stop in time");
    }
    running.stop().await
}

/// Seeds the history through ingest in batches of 1,000, generating on another thread while
/// the database works. Players are split over two lanes, each ingested by its own task, so
/// that one batch is parsed while the other is written (each player's events keep their
/// order). Returns the generator, to carry on live, and the number of events.
async fn seed(db: &Db, players: usize, days: u32, seed: u64) -> anyhow::Result<(synth::History, u64)> {
    const BATCH: usize = 1_000;
    const LANES: usize = 2;
    let to = Utc::now() - chrono::Duration::seconds(1);
    let from = to - chrono::Duration::days(i64::from(days));
    let started = Instant::now();
    // A dry run counts the events, so that progress can be told in per cent.
    let total = tokio::task::spawn_blocking(move || synth::history(seed, players, from, to).count()).await? as u64;
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for _ in 0..LANES {
        let (tx, rx) = mpsc::channel::<Vec<Value>>(3);
        senders.push(tx);
        receivers.push(rx);
    }
    let producer = tokio::task::spawn_blocking(move || {
        let mut history = synth::history(seed, players, from, to);
        let mut buffers: Vec<Vec<Value>> = (0..LANES).map(|_| Vec::with_capacity(BATCH)).collect();
        for event in history.by_ref() {
            let lane = lane_of(event["player_id"].as_str().unwrap_or(""), LANES);
            buffers[lane].push(event);
            if buffers[lane].len() == BATCH {
                let full = std::mem::replace(&mut buffers[lane], Vec::with_capacity(BATCH));
                if senders[lane].blocking_send(full).is_err() {
                    return history;
                }
            }
        }
        for (lane, rest) in buffers.into_iter().enumerate() {
            if !rest.is_empty() {
                let _ = senders[lane].blocking_send(rest);
            }
        }
        history
    });
    pitboss_payments::accounts::open_house_accounts(db).await?;
    let progress =
        Arc::new(Progress { done: AtomicU64::new(0), rejected: AtomicU64::new(0), shown: AtomicU64::new(0) });
    let mut consumers = Vec::new();
    for mut rx in receivers {
        let (ingestor, progress) = (Ingestor::new(db.clone()), progress.clone());
        consumers.push(tokio::spawn(async move {
            while let Some(batch) = rx.recv().await {
                // A failed batch stored nothing (on PostgreSQL the two lanes can deadlock while
                // they first create the shared house accounts): send it again, as clients do.
                let mut tries = 0u32;
                let report = loop {
                    match ingestor.ingest(&batch, Utc::now()).await {
                        Ok(r) => break r,
                        Err(e) if tries < 5 => {
                            tries += 1;
                            eprintln!("  a batch failed ({e}); sending it again");
                            tokio::time::sleep(Duration::from_millis(100 * u64::from(tries))).await;
                        }
                        Err(e) => return Err(anyhow::Error::new(e).context("seeding: the store failed")),
                    }
                };
                progress.rejected.fetch_add(report.rejected as u64, Ordering::Relaxed);
                for item in report.items.iter().filter(|i| i.error.is_some()) {
                    if progress.shown.fetch_add(1, Ordering::Relaxed) < 5 {
                        let kind = batch[item.index]["type"].as_str().unwrap_or("?");
                        eprintln!(
                            "  rejected {kind}: {}",
                            item.error.as_ref().map(|e| e.to_string()).unwrap_or_default()
                        );
                    }
                }
                let n = batch.len() as u64;
                let done = progress.done.fetch_add(n, Ordering::Relaxed) + n;
                // A line at every tenth of the way.
                if (done * 10) / total.max(1) != ((done - n) * 10) / total.max(1) {
                    let secs = started.elapsed().as_secs_f64();
                    eprintln!(
                        "  {:>3}%  {done} of {total} events  {:.0} events/s  {secs:.0}s",
                        done * 100 / total.max(1),
                        done as f64 / secs
                    );
                }
            }
            anyhow::Ok(())
        }));
    }
    for c in consumers {
        c.await??;
    }
    let history = producer.await?;
    let (done, rejected) = (progress.done.load(Ordering::Relaxed), progress.rejected.load(Ordering::Relaxed));
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "seeded {players} players: {done} events in {secs:.1}s ({:.0} events/s){}",
        done as f64 / secs,
        if rejected > 0 { format!(", {rejected} rejected") } else { String::new() }
    );
    Ok((history, done))
}

struct Progress {
    done: AtomicU64,
    rejected: AtomicU64,
    shown: AtomicU64,
}

/// A stable lane for a player id (FNV-1a).
fn lane_of(player: &str, lanes: usize) -> usize {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in player.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100000001b3);
    }
    (h % lanes as u64) as usize
}

/// The first admin and the platform's API key, created once.
async fn first_credentials(db: &Db) -> anyhow::Result<Credentials> {
    let password = pitboss_auth::operator::generate_password();
    let mut admin_user = "admin".to_string();
    let admin = |username: &str| pitboss_auth::operator::NewOperator {
        username: username.to_string(),
        password: Some(password.clone()),
        display_name: "Demo administrator".into(),
        roles: vec!["admin".into()],
        ..Default::default()
    };
    let system = pitboss_auth::Caller::system();
    if let Err(e) = pitboss_auth::operator::create(db, admin(&admin_user), &system).await {
        // The store has an admin already (its credentials file was removed): add another.
        admin_user = format!("admin-{}", &uuid::Uuid::now_v7().simple().to_string()[24..]);
        pitboss_auth::operator::create(db, admin(&admin_user), &system)
            .await
            .with_context(|| format!("creating the demo's admin operator (after: {e})"))?;
    }
    let mut name = "demo-platform".to_string();
    let scopes = pitboss_auth::Scopes::admin();
    let key = match pitboss_auth::api_key::create(db, &name, scopes.clone(), "demo").await {
        Ok((_, key)) => key,
        Err(_) => {
            name = format!("demo-platform-{}", &uuid::Uuid::now_v7().simple().to_string()[24..]);
            pitboss_auth::api_key::create(db, &name, scopes, "demo").await.context("creating the demo's API key")?.1
        }
    };
    let mut operators = Vec::new();
    for (username, role, brands) in DEMO_OPERATORS {
        let password = pitboss_auth::operator::generate_password();
        let new = pitboss_auth::operator::NewOperator {
            username: username.to_string(),
            password: Some(password.clone()),
            display_name: format!("Demo {}", role.replace('_', " ")),
            roles: vec![role.to_string()],
            brands: brands.iter().map(|b| b.to_string()).collect(),
            ..Default::default()
        };
        // A store seeded before has them already; the admin alone is enough to go on.
        if pitboss_auth::operator::create(db, new, &system).await.is_ok() {
            operators.push(DemoOperator {
                username: username.to_string(),
                password,
                roles: vec![role.to_string()],
                brands: brands.iter().map(|b| b.to_string()).collect(),
            });
        }
    }
    Ok(Credentials { admin_user, admin_password: password, api_key: key, url: String::new(), operators })
}

fn read_credentials(path: &Path) -> anyhow::Result<Option<Credentials>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let c = serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
            Ok(Some(c))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Writes the file readable by its owner only, atomically (a reader never sees half of it).
fn write_credentials(path: &Path, c: &Credentials) -> anyhow::Result<()> {
    let tmp: PathBuf = path.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(c)? + "\n";
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    {
        use std::io::Write;
        let mut f = options.open(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

/// Up to `limit` of the newest players with their wallets, to keep playing live.
async fn known_players(db: &Db, limit: usize) -> anyhow::Result<Vec<KnownPlayer>> {
    let mut out = Vec::new();
    let mut after = None;
    let now = Utc::now();
    while out.len() < limit {
        let query = PlayerQuery { limit: Some(500), after, ..Default::default() };
        let page = pitboss_players::search(db, &query).await?;
        for p in &page.items {
            if p.status != pitboss_players::PlayerStatus::Active {
                continue;
            }
            let balances = pitboss_payments::queries::player_balances(db, p.id).await?;
            let available = balances.iter().filter(|b| b.account.contains(":cash:")).map(|b| b.available).sum();
            let stats = pitboss_players::stats::get(db, p.id, now).await?;
            out.push(KnownPlayer {
                external_id: p.external_id.clone(),
                country: p.country.clone(),
                currency: p.currency.to_string(),
                available,
                deposit_count: stats.deposit_count,
                deposit_sum: stats.deposit_sum,
            });
        }
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    out.truncate(limit);
    Ok(out)
}
