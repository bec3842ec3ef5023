//! `pitboss bench checks`: the casino platform's "may this player act now?"
//! (`POST /api/v1/players/{id}/checks`) under load, over HTTP, on PostgreSQL.
//!
//! The requests go out at a fixed rate whatever the pace of the answers (an open loop), so a
//! slow answer cannot slow the load down and hide itself. The players have a history (ingested
//! first), and some have deposit limits and locks, so deposits are measured against real
//! windows. Figures only: nothing here passes or fails on a number.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use pitboss_ops::locks::{self, OPERATOR_ORIGIN};
use pitboss_ops::{Jurisdictions, LimitKind, LimitOrigin, LimitPeriod, LockScope, NewLimit, NewLock};
use pitboss_store::{Db, db, sqlx};
use serde_json::json;
use tokio::sync::mpsc;

use super::{Scratch, Target, ingest_lanes, quantile, scratch, serve_scratch, sorted_ms, synthetic_events};
use crate::config::{Overrides, Settings};

#[derive(clap::Args, Debug)]
pub struct ChecksArgs {
    /// Checks sent per second.
    #[arg(long, default_value_t = 1000)]
    pub rate: u32,
    /// For how long.
    #[arg(long, default_value_t = 10)]
    pub seconds: u32,
    /// Synthetic casino history ingested first (its players are the ones checked).
    #[arg(long, default_value_t = 40_000)]
    pub events: usize,
    /// PostgreSQL server to create a scratch database on (PITBOSS_DATABASE_URL).
    #[arg(long)]
    pub database_url: Option<String>,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

pub async fn run(config: Option<&std::path::Path>, args: ChecksArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.rate >= 1 && args.seconds >= 1, "--rate and --seconds must be at least 1");
    let settings = Settings::load(config, &Overrides::default())?;
    let url = args
        .database_url
        .clone()
        .or(settings.database_url.clone())
        .context("the checks bench runs on PostgreSQL: give --database-url or PITBOSS_DATABASE_URL")?;
    let s = scratch(&Target::Postgres(url), "checks").await?;
    let outcome = measure(settings, &args, &s).await;
    s.remove().await;
    outcome
}

async fn measure(settings: Settings, args: &ChecksArgs, s: &Scratch) -> anyhow::Result<()> {
    let events = synthetic_events(args.seed, args.events);
    eprintln!("ingesting {} events of synthetic history...", events.len());
    ingest_lanes(&s.db, vec![events.iter().collect()], 1000).await?;
    let players = players(&s.db).await?;
    anyhow::ensure!(!players.is_empty(), "the history registered no players");
    restrict(&s.db, &players).await?;

    let (running, base, key) = serve_scratch(settings, s, "ops:read").await?;
    let load = match settled(&s.db).await {
        Ok(()) => send_load(&base, &key, &players, args).await,
        Err(e) => Err(e),
    };
    running.stop().await?;
    let (times, allowed, failed, elapsed) = load?;
    let ms = sorted_ms(&times);
    let q = |p: f64| quantile(&ms, p);
    println!();
    println!(
        "{:>8} {:>10} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "checks", "checks/s", "allowed", "failed", "p50 ms", "p90 ms", "p99 ms", "max ms"
    );
    println!(
        "{:>8} {:>10.0} {:>8} {:>8} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
        times.len(),
        times.len() as f64 / elapsed.as_secs_f64(),
        allowed,
        failed,
        q(0.50),
        q(0.90),
        q(0.99),
        q(1.0)
    );
    Ok(())
}

/// Waits until the server's consumers have judged the ingested history (the outbox is empty),
/// so the figures are those of checks in a casino's steady state, not of checks sharing the two
/// cores with a 40,000-event backlog.
async fn settled(db: &Db) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let (waiting, _) = pitboss_bus::relay::lag(db).await?;
        if waiting == 0 {
            eprintln!("the consumers caught up with the history in {:.1} s", started.elapsed().as_secs_f64());
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "the consumers still had {waiting} events to judge after 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Every player's id and currency.
async fn players(db: &Db) -> anyhow::Result<Vec<(uuid::Uuid, String)>> {
    Ok(db!(db, |c| sqlx::query_as("SELECT id, currency FROM players ORDER BY id").fetch_all(c).await)?)
}

/// A daily deposit limit on every other player and a gameplay lock on one in twenty, so the
/// checks walk the paths a real casino's do.
async fn restrict(db: &Db, players: &[(uuid::Uuid, String)]) -> anyhow::Result<()> {
    let now = Utc::now();
    let rates = pitboss_rules::Rates::new();
    let mut tx = db.begin().await?;
    for (i, (player, currency)) in players.iter().enumerate() {
        let currency: pitboss_core::money::Currency =
            currency.parse().map_err(|e| anyhow::anyhow!("player {player}: {e}"))?;
        if i % 2 == 0 {
            let new = NewLimit {
                player: *player,
                kind: LimitKind::Deposit,
                period: LimitPeriod::Day,
                origin: LimitOrigin::Player,
                amount: Some(50_000),
                currency: Some(currency),
                reason: None,
                requested_by: "bench",
            };
            pitboss_ops::limits::set(&mut tx, Jurisdictions::shipped(), &rates, &new, now).await?;
        }
        if i % 20 == 0 {
            let lock = NewLock {
                player: *player,
                scope: LockScope::Gameplay,
                reason: "bench",
                origin: OPERATOR_ORIGIN,
                expires_at: None,
                set_by: "bench",
            };
            locks::set(&mut tx, &lock, now).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Sends `rate` checks a second for `seconds`, each on its own task: (each answer's time,
/// allowed, failed requests, how long sending and answering took).
async fn send_load(
    base: &str,
    key: &str,
    players: &[(uuid::Uuid, String)],
    args: &ChecksArgs,
) -> anyhow::Result<(Vec<Duration>, usize, usize, Duration)> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
    let auth = Arc::new(format!("Bearer {key}"));
    let total = (args.rate as usize) * (args.seconds as usize);
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(Duration, Option<bool>)>();
    // Warm the connection pool and the server's statements before the clock starts.
    for (player, _) in players.iter().take(50) {
        let url = format!("{base}/api/v1/players/{player}/checks");
        let _ = http
            .post(&url)
            .header(reqwest::header::AUTHORIZATION, auth.as_str())
            .json(&json!({"activity": "session"}))
            .send()
            .await;
    }
    eprintln!("sending {} checks/s for {} s...", args.rate, args.seconds);
    let mut tick = tokio::time::interval(Duration::from_secs(1) / args.rate);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    for i in 0..total {
        tick.tick().await;
        let (player, currency) = &players[(i * 7919) % players.len()];
        let body = match i % 10 {
            0..=4 => json!({"activity": "deposit", "amount": 2_000 + (i % 7) as i64 * 1_000, "currency": currency}),
            5..=7 => json!({"activity": "stake", "amount": 100, "currency": currency}),
            8 => json!({"activity": "session"}),
            _ => json!({"activity": "withdrawal"}),
        };
        let (http, auth, done) = (http.clone(), auth.clone(), done_tx.clone());
        let url = format!("{base}/api/v1/players/{player}/checks");
        tokio::spawn(async move {
            let t = Instant::now();
            let answer = async {
                let r = http
                    .post(&url)
                    .header(reqwest::header::AUTHORIZATION, auth.as_str())
                    .json(&body)
                    .send()
                    .await
                    .ok()?;
                let v: serde_json::Value = r.error_for_status().ok()?.json().await.ok()?;
                v["allowed"].as_bool()
            }
            .await;
            let _ = done.send((t.elapsed(), answer));
        });
    }
    drop(done_tx);
    let (mut times, mut allowed, mut failed) = (Vec::with_capacity(total), 0, 0);
    while let Some((time, answer)) = done_rx.recv().await {
        times.push(time);
        match answer {
            Some(true) => allowed += 1,
            Some(false) => {}
            None => failed += 1,
        }
    }
    Ok((times, allowed, failed, started.elapsed()))
}
