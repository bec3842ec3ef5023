//! `pitboss bench`: throughput of ingest against what the database can take at all, and the
//! latency of single-event requests through the HTTP server. Figures only: nothing here
//! passes or fails on a number.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use pitboss_core::Envelope;
use pitboss_core::time::to_micros;
use pitboss_ingest::Ingestor;
use pitboss_store::{Db, sqlx};
use serde_json::Value;
use tokio::sync::watch;

use crate::config::{Overrides, Settings};
use crate::synth;

#[path = "bench_segments.rs"]
mod segments;

#[path = "bench_checks.rs"]
mod checks;

#[derive(clap::Subcommand, Debug)]
pub enum BenchCommand {
    /// Events per second through ingest, against a plain bulk insert of the same rows.
    Ingest(IngestArgs),
    /// Milliseconds per single-event POST /api/v1/events, sent one after another.
    Latency(LatencyArgs),
    /// Segments over many synthetic players (PostgreSQL): full evaluation, hand-written SQL, event path.
    Segments(segments::SegmentsArgs),
    /// The platform's checks (POST /api/v1/players/{id}/checks) at a fixed rate, on PostgreSQL.
    Checks(checks::ChecksArgs),
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineChoice {
    Sqlite,
    Postgres,
    Both,
}

#[derive(clap::Args, Debug)]
pub struct IngestArgs {
    /// Events to ingest (synthetic casino history; its players register first).
    #[arg(long, default_value_t = 200_000)]
    pub events: usize,
    /// Events per ingest batch, and rows per bulk INSERT.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// Default: both if a PostgreSQL URL is available, else sqlite.
    #[arg(long, value_enum)]
    pub engine: Option<EngineChoice>,
    /// PostgreSQL server to create a scratch database on (PITBOSS_DATABASE_URL).
    #[arg(long)]
    pub database_url: Option<String>,
    /// Concurrent ingest tasks over disjoint players for the extra PostgreSQL run (0 skips it).
    #[arg(long, default_value_t = 4)]
    pub tasks: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

#[derive(clap::Args, Debug)]
pub struct LatencyArgs {
    /// Single-event requests to time.
    #[arg(long, default_value_t = 2000)]
    pub requests: usize,
    /// Players registered before timing.
    #[arg(long, default_value_t = 500)]
    pub players: usize,
    /// Default: both if a PostgreSQL URL is available, else sqlite.
    #[arg(long, value_enum)]
    pub engine: Option<EngineChoice>,
    /// PostgreSQL server to create a scratch database on (PITBOSS_DATABASE_URL).
    #[arg(long)]
    pub database_url: Option<String>,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

pub async fn run(config: Option<&std::path::Path>, what: BenchCommand) -> anyhow::Result<()> {
    match what {
        BenchCommand::Ingest(args) => {
            let engines = engines(config, args.engine, args.database_url.as_deref())?;
            ingest(&args, &engines).await
        }
        BenchCommand::Latency(args) => {
            let engines = engines(config, args.engine, args.database_url.as_deref())?;
            latency(config, &args, &engines).await
        }
        BenchCommand::Segments(args) => segments::run(config, args).await,
        BenchCommand::Checks(args) => checks::run(config, args).await,
    }
}

/// The engines to measure: SQLite, and PostgreSQL with the server URL to make a database on.
#[derive(Debug, Clone)]
enum Target {
    Sqlite,
    Postgres(String),
}

impl Target {
    fn name(&self) -> &'static str {
        match self {
            Target::Sqlite => "sqlite",
            Target::Postgres(_) => "postgres",
        }
    }
}

fn engines(
    config: Option<&std::path::Path>,
    choice: Option<EngineChoice>,
    url: Option<&str>,
) -> anyhow::Result<Vec<Target>> {
    let url = match url {
        Some(u) => Some(u.to_string()),
        None => Settings::load(config, &Overrides::default())?.database_url,
    };
    let choice = choice.unwrap_or(if url.is_some() { EngineChoice::Both } else { EngineChoice::Sqlite });
    let pg =
        || url.clone().map(Target::Postgres).context("PostgreSQL needs a URL: --database-url or PITBOSS_DATABASE_URL");
    Ok(match choice {
        EngineChoice::Sqlite => vec![Target::Sqlite],
        EngineChoice::Postgres => vec![pg()?],
        EngineChoice::Both => vec![Target::Sqlite, pg()?],
    })
}

/// A fresh, migrated database, a data directory of its own (the SQLite file, or on PostgreSQL
/// what a server keeps beside its database, such as the audit signing key), and what to remove
/// afterwards.
struct Scratch {
    db: Db,
    dir: PathBuf,
    database: Option<ScratchDatabase>,
}

struct ScratchDatabase {
    admin_url: String,
    name: String,
}

async fn scratch(target: &Target, label: &str) -> anyhow::Result<Scratch> {
    let stamp = format!("{}_{}", Utc::now().format("%Y%m%d%H%M%S"), uuid::Uuid::now_v7().simple());
    let dir = std::env::temp_dir().join(format!("pitboss-bench-{label}-{stamp}"));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    match target {
        Target::Sqlite => {
            let settings =
                pitboss_store::StoreSettings { data_dir: dir.clone(), database_url: None, max_connections: 4 };
            let db = Db::open(&settings).await?;
            Ok(Scratch { db, dir, database: None })
        }
        Target::Postgres(url) => {
            let name = format!("pitboss_bench_{label}_{stamp}");
            let admin = Db::open_postgres(url, 1).await.context("connecting to PostgreSQL")?;
            if let Db::Postgres(pool) = &admin {
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(pool)
                    .await
                    .context("creating the scratch database")?;
            }
            admin.close().await;
            let db = Db::open_postgres(&pitboss_store::testing::replace_database(url, &name), 16).await?;
            db.migrate().await?;
            Ok(Scratch { db, dir, database: Some(ScratchDatabase { admin_url: url.clone(), name }) })
        }
    }
}

impl Scratch {
    async fn remove(self) {
        self.db.close().await;
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some(ScratchDatabase { admin_url, name }) = self.database
            && let Ok(admin) = Db::open_postgres(&admin_url, 1).await
        {
            if let Db::Postgres(pool) = &admin {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(pool).await;
            }
            admin.close().await;
        }
    }
}

/// Serves the scratch store on a free port, every module in one process: the server, its base
/// URL, and a new API key with `scopes` to call it with.
async fn serve_scratch(
    mut settings: Settings,
    s: &Scratch,
    scopes: &str,
) -> anyhow::Result<(crate::serve::Running, String, String)> {
    settings.listen = "127.0.0.1:0".parse()?;
    settings.targets = "all".into();
    settings.bus_transport = "in-process".into();
    settings.data_dir = s.dir.clone();
    let scopes: pitboss_auth::Scopes = scopes.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    let (_, key) = pitboss_auth::api_key::create(&s.db, "bench", scopes, "bench").await?;
    let running = crate::serve::start(&settings, s.db.clone()).await?;
    let url = format!("http://{}", running.addr);
    Ok((running, url, key))
}

/// The `p` quantile of sorted values (nearest rank).
fn quantile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).saturating_sub(1).min(sorted.len() - 1)]
}

/// Durations as sorted milliseconds, for [`quantile`].
fn sorted_ms(times: &[Duration]) -> Vec<f64> {
    let mut ms: Vec<f64> = times.iter().map(|t| t.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    ms
}

/// At least `n` events of a synthetic casino's past, in time order.
pub fn synthetic_events(seed: u64, n: usize) -> Vec<Value> {
    let to = Utc::now() - chrono::Duration::minutes(10);
    let from = to - chrono::Duration::days(365);
    let mut players = (n / 25).max(20);
    loop {
        let events: Vec<Value> = synth::history(seed, players, from, to).take(n).collect();
        if events.len() >= n {
            return events;
        }
        players *= 2;
    }
}

struct Row {
    line: String,
}

// ---------------------------------------------------------------------------------------------
// bench ingest
// ---------------------------------------------------------------------------------------------

async fn ingest(args: &IngestArgs, targets: &[Target]) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.batch >= 1 && args.batch <= pitboss_ingest::MAX_BATCH,
        "--batch must be 1 to {}",
        pitboss_ingest::MAX_BATCH
    );
    let t = Instant::now();
    let events = synthetic_events(args.seed, args.events);
    let events = &events[..args.events];
    let players = events.iter().filter(|e| e["type"] == "player.registered").count();
    eprintln!("generated {} events of {players} players in {:.1}s", events.len(), t.elapsed().as_secs_f64());
    let mut results: Vec<(String, String, usize, f64)> = Vec::new();
    for target in targets {
        let name = target.name();
        // End to end, one task; then the ceiling: the same rows, plainly inserted.
        let s = scratch(target, "ingest").await?;
        let outcome = async {
            eprintln!("{name}: ingesting {} events in batches of {}...", events.len(), args.batch);
            let secs = ingest_lanes(&s.db, vec![events.iter().collect()], args.batch).await?;
            results.push((name.into(), "ingest, 1 task".into(), events.len(), secs));
            let rows = rows(events)?;
            create_scratch_table(&s.db).await?;
            let secs = bulk_insert(&s.db, &rows, args.batch).await?;
            let what = format!("INSERT of {} rows per statement", args.batch.min(MAX_ROWS_PER_INSERT));
            results.push((name.into(), what, rows.len(), secs));
            if matches!(target, Target::Postgres(_)) {
                truncate_scratch_table(&s.db).await?;
                let secs = copy_in(&s.db, &rows, args.batch).await?;
                results.push((name.into(), "COPY".into(), rows.len(), secs));
            }
            anyhow::Ok(())
        }
        .await;
        s.remove().await;
        outcome?;

        // Several tasks over disjoint players (SQLite still has one writer; the tasks overlap
        // parsing with writing).
        if args.tasks > 1 {
            let s = scratch(target, "ingestpar").await?;
            eprintln!("{name}: ingesting with {} tasks...", args.tasks);
            let outcome = ingest_lanes(&s.db, lanes(events, args.tasks), args.batch).await;
            s.remove().await;
            results.push((name.into(), format!("ingest, {} tasks", args.tasks), events.len(), outcome?));
        }
    }
    print_table(&results);
    Ok(())
}

/// Splits events into `n` lanes by player, keeping each player's order.
fn lanes(events: &[Value], n: usize) -> Vec<Vec<&Value>> {
    let mut lanes: Vec<Vec<&Value>> = vec![Vec::new(); n];
    let mut assigned: HashMap<&str, usize> = HashMap::new();
    let mut next = 0;
    for e in events {
        let player = e["player_id"].as_str().unwrap_or("");
        let lane = *assigned.entry(player).or_insert_with(|| {
            next += 1;
            next % n
        });
        lanes[lane].push(e);
    }
    lanes
}

/// Ingests each lane on its own task, in batches; returns the seconds the slowest took.
async fn ingest_lanes(db: &Db, lanes: Vec<Vec<&Value>>, batch: usize) -> anyhow::Result<f64> {
    pitboss_payments::accounts::open_house_accounts(db).await?;
    let ingestor = Ingestor::new(db.clone());
    let total: usize = lanes.iter().map(Vec::len).sum();
    // Each task owns its events, copied before the clock starts.
    let lanes: Vec<Vec<Value>> = lanes.into_iter().map(|lane| lane.into_iter().cloned().collect()).collect();
    let progress = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for lane in lanes {
        let ingestor = ingestor.clone();
        let progress = progress.clone();
        tasks.push(tokio::spawn(async move {
            let (mut rejected, mut first) = (0usize, None);
            for chunk in lane.chunks(batch) {
                // A failed batch stored nothing: send it again, as a client would.
                let mut tries = 0;
                let report = loop {
                    match ingestor.ingest(chunk, Utc::now()).await {
                        Ok(r) => break r,
                        Err(e) if tries < 10 => {
                            tries += 1;
                            eprintln!("  a batch failed ({e}); sending it again");
                            tokio::time::sleep(Duration::from_millis(50 * tries)).await;
                        }
                        Err(e) => return Err(e.into()),
                    }
                };
                rejected += report.rejected;
                if first.is_none() {
                    first = report.items.iter().find_map(|i| i.error.as_ref().map(|e| e.to_string()));
                }
                let done = progress.fetch_add(chunk.len(), std::sync::atomic::Ordering::Relaxed) + chunk.len();
                let step = (total / 10).max(1);
                if done / step != (done - chunk.len()) / step {
                    eprintln!("  {done} events, {:.0}/s", done as f64 / started.elapsed().as_secs_f64());
                }
            }
            anyhow::Ok((rejected, first))
        }));
    }
    for t in tasks {
        let (rejected, first) = t.await.context("an ingest task failed")??;
        if rejected > 0 {
            eprintln!("  {rejected} events were rejected; the first: {}", first.unwrap_or_default());
        }
    }
    Ok(started.elapsed().as_secs_f64())
}

const COLUMNS: &str = "id, type, player_ref, occurred_at, received_at, source, content_hash, body, outcome";
/// Bind parameters per statement stay below SQLite's and PostgreSQL's limits.
const MAX_ROWS_PER_INSERT: usize = 3_000;

/// The `events` rows ingest writes for these events, in COPY text form (tab-separated).
fn rows(events: &[Value]) -> anyhow::Result<Vec<Row>> {
    let received = Utc::now();
    events
        .iter()
        .map(|v| {
            let e = Envelope::parse(v, received).map_err(|e| anyhow::anyhow!("a synthetic event is invalid: {e}"))?;
            let line = [
                e.id.to_string(),
                e.event_type.as_str().to_string(),
                e.player_ref.clone(),
                to_micros(e.occurred_at).to_string(),
                to_micros(e.received_at).to_string(),
                e.source.clone(),
                e.content_hash(),
                e.to_json().to_string(),
                "accepted".to_string(),
            ]
            .map(|f| copy_escape(&f))
            .join("\t");
            Ok(Row { line })
        })
        .collect()
}

fn copy_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

fn copy_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

async fn create_scratch_table(db: &Db) -> anyhow::Result<()> {
    let sql = "CREATE TABLE bench_events (id UUID PRIMARY KEY, type TEXT NOT NULL, player_ref TEXT NOT NULL, \
               player_id UUID, occurred_at BIGINT NOT NULL, received_at BIGINT NOT NULL, source TEXT NOT NULL, \
               content_hash TEXT NOT NULL, body TEXT NOT NULL, outcome TEXT NOT NULL)";
    match db {
        Db::Sqlite { write, .. } => {
            sqlx::query(sql).execute(write).await?;
        }
        Db::Postgres(pool) => {
            sqlx::query(sql).execute(pool).await?;
        }
    }
    Ok(())
}

async fn truncate_scratch_table(db: &Db) -> anyhow::Result<()> {
    if let Db::Postgres(pool) = db {
        sqlx::query("TRUNCATE bench_events").execute(pool).await?;
    }
    Ok(())
}

/// Multi-row INSERTs of `batch` rows, one transaction per statement, as ingest commits once
/// per batch.
async fn bulk_insert(db: &Db, rows: &[Row], batch: usize) -> anyhow::Result<f64> {
    let batch = batch.clamp(1, MAX_ROWS_PER_INSERT);
    // Parsed back to typed values outside the timing.
    let typed: Vec<Vec<String>> = rows.iter().map(|r| r.line.split('\t').map(copy_unescape).collect()).collect();
    let started = Instant::now();
    for chunk in typed.chunks(batch) {
        macro_rules! insert {
            ($pool:expr, $db:ty) => {{
                let mut tx = $pool.begin().await?;
                let mut q = sqlx::QueryBuilder::<$db>::new(format!("INSERT INTO bench_events ({COLUMNS}) "));
                q.push_values(chunk, |mut b, f| {
                    let id = uuid::Uuid::parse_str(&f[0]).unwrap_or_default();
                    b.push_bind(id)
                        .push_bind(f[1].clone())
                        .push_bind(f[2].clone())
                        .push_bind(f[3].parse::<i64>().unwrap_or_default())
                        .push_bind(f[4].parse::<i64>().unwrap_or_default())
                        .push_bind(f[5].clone())
                        .push_bind(f[6].clone())
                        .push_bind(f[7].clone())
                        .push_bind(f[8].clone());
                });
                q.build().execute(&mut *tx).await?;
                tx.commit().await?;
            }};
        }
        match db {
            Db::Sqlite { write, .. } => insert!(write, sqlx::Sqlite),
            Db::Postgres(pool) => insert!(pool, sqlx::Postgres),
        }
    }
    Ok(started.elapsed().as_secs_f64())
}

/// PostgreSQL's COPY, `batch` rows per COPY statement and transaction.
async fn copy_in(db: &Db, rows: &[Row], batch: usize) -> anyhow::Result<f64> {
    let Db::Postgres(pool) = db else { anyhow::bail!("COPY is PostgreSQL's") };
    let started = Instant::now();
    let mut conn = pool.acquire().await?;
    for chunk in rows.chunks(batch.max(1)) {
        let mut data = String::with_capacity(chunk.len() * 800);
        for r in chunk {
            data.push_str(&r.line);
            data.push('\n');
        }
        let mut copy =
            conn.copy_in_raw(&format!("COPY bench_events ({COLUMNS}) FROM STDIN WITH (FORMAT text)")).await?;
        copy.send(data.into_bytes()).await?;
        copy.finish().await?;
    }
    Ok(started.elapsed().as_secs_f64())
}

fn print_table(results: &[(String, String, usize, f64)]) {
    println!();
    println!("{:<9} {:<34} {:>9} {:>9} {:>11}", "engine", "what", "rows", "seconds", "rows/s");
    let mut by_engine: HashMap<&str, (f64, f64)> = HashMap::new();
    for (engine, what, n, secs) in results {
        let rate = *n as f64 / secs.max(1e-9);
        println!("{engine:<9} {what:<34} {n:>9} {secs:>9.2} {rate:>11.0}");
        let best = by_engine.entry(engine).or_default();
        if what.starts_with("ingest") {
            best.0 = best.0.max(rate);
        } else {
            best.1 = best.1.max(rate);
        }
    }
    println!();
    let mut engines: Vec<_> = by_engine.into_iter().collect();
    engines.sort_by(|a, b| a.0.cmp(b.0));
    for (engine, (ingest, ceiling)) in engines {
        println!(
            "{engine}: best ingest {ingest:.0} events/s = {:.1}% of the bulk-insert ceiling of {ceiling:.0} rows/s ({:.0}x slower)",
            100.0 * ingest / ceiling.max(1e-9),
            ceiling / ingest.max(1e-9)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// bench latency
// ---------------------------------------------------------------------------------------------

async fn latency(config: Option<&std::path::Path>, args: &LatencyArgs, targets: &[Target]) -> anyhow::Result<()> {
    anyhow::ensure!(args.requests >= 1, "--requests must be at least 1");
    let mut lines = Vec::new();
    for target in targets {
        let s = scratch(target, "latency").await?;
        let outcome = time_requests(config, args, target, &s).await;
        s.remove().await;
        let (times, failed) = outcome?;
        let ms = sorted_ms(&times);
        let q = |p: f64| quantile(&ms, p);
        lines.push(format!(
            "{:<9} {:>8} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8}",
            target.name(),
            times.len(),
            q(0.50),
            q(0.90),
            q(0.99),
            q(1.0),
            failed
        ));
    }
    println!();
    println!(
        "{:<9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "engine", "requests", "p50 ms", "p90 ms", "p99 ms", "max ms", "refused"
    );
    for l in lines {
        println!("{l}");
    }
    Ok(())
}

/// Serves the scratch store, registers players, and times single-event requests sent one
/// after another: (each request's time, requests not answered `accepted`).
async fn time_requests(
    config: Option<&std::path::Path>,
    args: &LatencyArgs,
    target: &Target,
    s: &Scratch,
) -> anyhow::Result<(Vec<Duration>, usize)> {
    let settings = Settings::load(config, &Overrides::default())?;
    let (running, url, key) = serve_scratch(settings, s, "events:write").await?;
    let timed = async {
        let client = crate::simulate::Client::new(&url, &key)?;
        let (_stop_tx, stop) = watch::channel(false);
        let mut live = synth::Live::new(args.seed, args.players);
        let mut totals = crate::simulate::Totals::default();
        for chunk in live.register(args.players, Utc::now()).chunks(500) {
            client.send_with_retry(chunk, &mut totals, &stop).await?;
        }
        // Warm up, then time.
        for e in live.take(50, Utc::now()) {
            let _ = client.send(std::slice::from_ref(&e)).await;
        }
        let mut times: Vec<Duration> = Vec::with_capacity(args.requests);
        let mut failed = 0;
        eprintln!("{}: {} single-event requests...", target.name(), args.requests);
        for _ in 0..args.requests {
            let e = live.next_event(Utc::now());
            let t = Instant::now();
            match client.send(std::slice::from_ref(&e)).await {
                Ok(report) if report["accepted"].as_u64() == Some(1) => {}
                _ => failed += 1,
            }
            times.push(t.elapsed());
        }
        anyhow::Ok((times, failed))
    }
    .await;
    running.stop().await?;
    timed
}
