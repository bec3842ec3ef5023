//! `pitboss simulate`: drives a running server with live synthetic casino traffic over HTTP.
//!
//! It registers its players first, then sends about `--rate` events a second in batches of
//! `--batch`, and reports every few seconds what the server made of them. A batch the server
//! could not store (a 5xx or a broken connection) is sent again, as the API asks: accepted
//! events come back as duplicates, and no player's wallet loses a step.

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use serde_json::Value;
use tokio::sync::watch;

use crate::synth::Live;

#[derive(clap::Args, Debug)]
pub struct SimulateArgs {
    /// The server's base URL, e.g. http://127.0.0.1:8080 (PITBOSS_URL).
    #[arg(long, env = "PITBOSS_URL")]
    pub url: String,
    /// An API key with the events:write scope (PITBOSS_API_KEY).
    #[arg(long, env = "PITBOSS_API_KEY", hide_env_values = true)]
    pub api_key: String,
    /// Players to register first; the pool is kept about this size as players come and go.
    #[arg(long, default_value_t = 1000)]
    pub players: usize,
    /// Events per second to send.
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,
    /// Stop after this many seconds; runs until Ctrl-C if left out.
    #[arg(long)]
    pub duration: Option<u64>,
    /// Events per request.
    #[arg(long, default_value_t = 25)]
    pub batch: usize,
    /// Seed of the generator (live runs also mix in the start time, so reruns never collide).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

pub async fn run(args: SimulateArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.rate > 0.0, "--rate must be greater than zero");
    anyhow::ensure!(
        (1..=pitboss_ingest::MAX_BATCH).contains(&args.batch),
        "--batch must be 1 to {}",
        pitboss_ingest::MAX_BATCH
    );
    let client = Client::new(&args.url, &args.api_key)?;
    let mut live = Live::new(args.seed, args.players);
    let (stop_tx, stop) = watch::channel(false);
    let started = Instant::now();
    println!("registering {} players at {}", args.players, client.endpoint);
    let mut totals = Totals::default();
    let registrations = live.register(args.players, Utc::now());
    for chunk in registrations.chunks(500) {
        client.send_with_retry(chunk, &mut totals, &stop).await?;
    }
    println!(
        "registered: {} accepted, {} duplicates, {} rejected in {:.1}s; sending about {}/s in batches of {}",
        totals.accepted,
        totals.duplicates,
        totals.rejected,
        started.elapsed().as_secs_f64(),
        args.rate,
        args.batch
    );
    let options = DriveOptions {
        rate: args.rate,
        batch: args.batch,
        duration: args.duration.map(Duration::from_secs),
        report_every: Some(Duration::from_secs(5)),
        label: String::new(),
    };
    let drive = drive(&client, &mut live, options, stop);
    tokio::pin!(drive);
    let result = tokio::select! {
        r = &mut drive => r,
        _ = crate::serve::shutdown_signal() => {
            let _ = stop_tx.send(true);
            drive.await
        }
    };
    let t = result?;
    println!(
        "done: sent {} events, {} accepted, {} duplicates, {} rejected, {} failed requests",
        t.sent, t.accepted, t.duplicates, t.rejected, t.errors
    );
    Ok(())
}

/// The server's answers, counted.
#[derive(Debug, Default, Clone)]
pub struct Totals {
    pub sent: u64,
    pub accepted: u64,
    pub duplicates: u64,
    pub rejected: u64,
    /// Requests that failed (after retries); their events were not stored.
    pub errors: u64,
    /// Rejections shown so far (the first few are printed with their reasons).
    shown: u32,
}

/// An HTTP client for `POST /api/v1/events`.
pub struct Client {
    http: reqwest::Client,
    pub endpoint: String,
    auth: String,
}

/// Why a request failed.
pub enum SendError {
    /// The server answered with a problem; retrying the same batch may help (5xx).
    Status {
        status: u16,
        detail: String,
        retry: bool,
    },
    Transport(String),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Status { status, detail, .. } => write!(f, "HTTP {status}: {detail}"),
            SendError::Transport(e) => write!(f, "{e}"),
        }
    }
}

impl Client {
    pub fn new(base_url: &str, api_key: &str) -> anyhow::Result<Client> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(4)
            .build()
            .context("building the HTTP client")?;
        let endpoint = format!("{}/api/v1/events", base_url.trim_end_matches('/'));
        Ok(Client { http, endpoint, auth: format!("Bearer {api_key}") })
    }

    /// Sends one batch and returns the server's report.
    pub async fn send(&self, events: &[Value]) -> Result<Value, SendError> {
        let response = self
            .http
            .post(&self.endpoint)
            .header(reqwest::header::AUTHORIZATION, &self.auth)
            .json(events)
            .send()
            .await
            .map_err(|e| SendError::Transport(format!("{e}")))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        let detail = match (body.get("title").and_then(Value::as_str), body.get("detail").and_then(Value::as_str)) {
            (Some(t), Some(d)) => format!("{t}: {d}"),
            (None, Some(d)) => d.to_string(),
            (Some(t), None) => t.to_string(),
            _ => status.canonical_reason().unwrap_or("no detail").to_string(),
        };
        Err(SendError::Status { status: status.as_u16(), detail, retry: status.is_server_error() })
    }

    /// Sends a batch, sending it again after a server or network failure (at most 5 tries,
    /// backing off), and adds the outcome to `totals`. Stops retrying when `stop` is set.
    pub async fn send_with_retry(
        &self,
        events: &[Value],
        totals: &mut Totals,
        stop: &watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        totals.sent += events.len() as u64;
        let mut delay = Duration::from_millis(200);
        for attempt in 1..=5 {
            match self.send(events).await {
                Ok(report) => {
                    totals.add(&report, events);
                    return Ok(());
                }
                Err(e) => {
                    let retry = matches!(e, SendError::Transport(_) | SendError::Status { retry: true, .. });
                    eprintln!("request of {} events failed (try {attempt}): {e}", events.len());
                    if matches!(e, SendError::Status { status: 401 | 403, .. }) {
                        anyhow::bail!("the server refused the API key: {e}");
                    }
                    if !retry || *stop.borrow() {
                        break;
                    }
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
            }
        }
        totals.errors += 1;
        Ok(())
    }
}

impl Totals {
    fn add(&mut self, report: &Value, events: &[Value]) {
        let n = |k: &str| report.get(k).and_then(Value::as_u64).unwrap_or(0);
        self.accepted += n("accepted");
        self.duplicates += n("duplicates");
        self.rejected += n("rejected");
        if n("rejected") == 0 {
            return;
        }
        for item in report.get("items").and_then(Value::as_array).into_iter().flatten() {
            if item.get("status").and_then(Value::as_str) != Some("rejected") || self.shown >= 5 {
                continue;
            }
            self.shown += 1;
            let index = item.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
            let kind = events.get(index).and_then(|e| e.get("type")).and_then(Value::as_str).unwrap_or("?");
            let error = item.get("error").cloned().unwrap_or(Value::Null);
            let field = error.get("field").and_then(Value::as_str).unwrap_or("");
            let message = error.get("message").and_then(Value::as_str).unwrap_or("");
            eprintln!("rejected {kind}: {field}: {message}");
            if self.shown == 5 {
                eprintln!("(further rejections are counted, not shown)");
            }
        }
    }
}

/// How [`drive`] paces itself.
pub struct DriveOptions {
    pub rate: f64,
    pub batch: usize,
    pub duration: Option<Duration>,
    /// Print a progress line this often; `None` for silence.
    pub report_every: Option<Duration>,
    /// Put in front of each progress line.
    pub label: String,
}

/// Sends live events at about `rate` per second until `duration` passes or `stop` is set.
pub async fn drive(
    client: &Client,
    live: &mut Live,
    options: DriveOptions,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<Totals> {
    let batch = options.batch.max(1);
    let period = Duration::from_secs_f64(batch as f64 / options.rate);
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let started = Instant::now();
    let mut totals = Totals::default();
    let (mut last_report, mut last_sent) = (Instant::now(), 0u64);
    loop {
        if *stop.borrow() || options.duration.is_some_and(|d| started.elapsed() >= d) {
            break;
        }
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => continue,
        }
        let events = live.take(batch, Utc::now());
        client.send_with_retry(&events, &mut totals, &stop).await?;
        if let Some(every) = options.report_every
            && last_report.elapsed() >= every
        {
            let rate = (totals.sent - last_sent) as f64 / last_report.elapsed().as_secs_f64();
            println!(
                "{}{:>5}s  sent {:>8}  accepted {:>8}  duplicates {:>5}  rejected {:>5}  errors {:>3}  {:>7.1} events/s  players {}",
                options.label,
                started.elapsed().as_secs(),
                totals.sent,
                totals.accepted,
                totals.duplicates,
                totals.rejected,
                totals.errors,
                rate,
                live.active()
            );
            (last_report, last_sent) = (Instant::now(), totals.sent);
        }
    }
    Ok(totals)
}
