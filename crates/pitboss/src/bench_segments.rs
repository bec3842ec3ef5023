//! `pitboss bench segments`: how fast segments are over a large player base.
//!
//! Loads a synthetic casino of `--players` players (a million by default) straight into
//! PostgreSQL with set-based SQL, defines a handful of typical segments in the rule language,
//! and times, for each: the compiled condition alone (`SELECT COUNT(*)`, no writing), the first
//! full refresh (which writes every member and its `segment.entered` message), a steady-state
//! refresh (nothing changes), and the same segment written by hand as plain SQL. Then it
//! changes the facts of sampled players one at a time, as events would, and times the
//! membership update of every active segment for that player. The figures are printed beside
//! the goals; the counts of the hand-written SQL, the compiled condition and the members must
//! agree (the command fails when they do not, after printing everything).

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::quantile;
use anyhow::Context;
use chrono::{DateTime, Months, Utc};
use pitboss_core::Currency;
use pitboss_core::time::{from_micros, to_micros};
use pitboss_players::stats::Activity;
use pitboss_rules::Rates;
use pitboss_rules::sql::FROM;
use pitboss_store::sqlx::PgPool;
use pitboss_store::sqlx::postgres::{PgArguments, Postgres};
use pitboss_store::sqlx::query::QueryScalar;
use pitboss_store::{Db, sqlx};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::config::{Overrides, Settings};
use crate::synth;

const DAY: i64 = 86_400_000_000;
/// The goal for a full evaluation of one segment.
const FULL_GOAL_SECS: f64 = 1.0;
/// The goal for membership to follow the event that changes it.
const EVENT_GOAL_MS: f64 = 10.0;

#[derive(clap::Args, Debug)]
pub struct SegmentsArgs {
    /// Synthetic players to load and evaluate the segments over.
    #[arg(long, default_value_t = 1_000_000)]
    pub players: usize,
    /// Keep the players an earlier run loaded (same --players and --seed) instead of reloading.
    #[arg(long)]
    pub reuse: bool,
    /// Events on the event path: one player's facts changed and membership updated, one by one.
    #[arg(long, default_value_t = 2_000)]
    pub events: usize,
    /// PostgreSQL database made for the benchmark (PITBOSS_DATABASE_URL); its players are replaced.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Print EXPLAIN (ANALYZE, BUFFERS) of each compiled and hand-written count.
    #[arg(long)]
    pub explain: bool,
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

// ---------------------------------------------------------------------------------------------
// The typical segments, and the same written by hand
// ---------------------------------------------------------------------------------------------

/// What a hand-written query binds.
enum Hand {
    /// `$1` = first day excluded, `$2` = today, `$3`/`$4` = currencies and the threshold of
    /// `eur_cents` in each (converted as the reference rates say; no rate, no match).
    Window { days: i64, eur_cents: i64 },
    /// `$1` = the instant `days` days before now.
    Before { days: i64 },
    /// `$1` = the tag.
    Tag(&'static str),
    /// `$1` = first day excluded, `$2` = today, `$3` = the latest birth date (ISO) of someone
    /// `years` old today.
    WindowAndAge { days: i64, years: u32 },
}

struct Typical {
    name: &'static str,
    condition: &'static str,
    /// The same players, as one would write it by hand for PostgreSQL.
    sql: &'static str,
    hand: Hand,
}

const TYPICAL: &[Typical] = &[
    Typical {
        name: "DACH depositors",
        condition: r#"country in ["DE", "AT"] and deposits_sum(30d) >= 100 EUR"#,
        sql: "SELECT COUNT(*) FROM ( \
                SELECT p.id FROM players p \
                JOIN unnest($3::text[], $4::bigint[]) AS fx (currency, threshold) ON fx.currency = p.currency \
                JOIN player_daily d ON d.player_id = p.id AND d.day > $1 AND d.day <= $2 \
                WHERE p.country IN ('DE', 'AT') \
                GROUP BY p.id, fx.threshold HAVING SUM(d.deposit_sum) >= fx.threshold \
              ) AS members",
        hand: Hand::Window { days: 30, eur_cents: 10_000 },
    },
    Typical {
        name: "Lapsed depositors",
        condition: "last_session < 14d ago and has_deposited",
        sql: "SELECT COUNT(*) FROM player_stats s WHERE s.last_session_at < $1 AND s.deposit_count > 0",
        hand: Hand::Before { days: 14 },
    },
    Typical {
        name: "VIPs with high GGR",
        condition: r#"vip_tier != "none" and ggr(90d) > 1000 EUR"#,
        sql: "SELECT COUNT(*) FROM ( \
                SELECT p.id FROM players p \
                JOIN unnest($3::text[], $4::bigint[]) AS fx (currency, threshold) ON fx.currency = p.currency \
                JOIN player_daily d ON d.player_id = p.id AND d.day > $1 AND d.day <= $2 \
                WHERE p.vip_tier <> 'none' \
                GROUP BY p.id, fx.threshold HAVING SUM(d.stake_sum - d.win_sum) > fx.threshold \
              ) AS members",
        hand: Hand::Window { days: 90, eur_cents: 100_000 },
    },
    Typical {
        name: "Bonus hunters",
        condition: r#"tags contains "bonus_hunter""#,
        sql: "SELECT COUNT(*) FROM player_tags WHERE tag = $1",
        hand: Hand::Tag("bonus_hunter"),
    },
    Typical {
        name: "Engaged e-mail audience",
        condition: "age >= 25 and consent.email and sessions(7d) >= 3",
        sql: "SELECT COUNT(*) FROM ( \
                SELECT p.id FROM players p \
                JOIN player_daily d ON d.player_id = p.id AND d.day > $1 AND d.day <= $2 \
                WHERE p.consent_email AND p.birth_date <= $3 \
                GROUP BY p.id HAVING SUM(d.sessions_count) >= 3 \
              ) AS members",
        hand: Hand::WindowAndAge { days: 7, years: 25 },
    },
];

/// The instant every figure is computed at, and the rates money thresholds convert with.
struct Ctx {
    now: i64,
    rates: Rates,
}

impl Ctx {
    fn today(&self) -> i64 {
        self.now.div_euclid(DAY)
    }

    /// Each currency with a rate, and `eur_cents` in it.
    fn thresholds(&self, eur_cents: i64) -> (Vec<String>, Vec<i64>) {
        let eur: Currency = "EUR".parse().expect("EUR is a currency");
        self.rates
            .currencies()
            .into_iter()
            .filter_map(|c| self.rates.convert(eur_cents, eur, c).map(|t| (c.as_str().to_string(), t)))
            .unzip()
    }
}

fn bind_hand<'q, O>(
    q: QueryScalar<'q, Postgres, O, PgArguments>,
    hand: &Hand,
    ctx: &Ctx,
) -> QueryScalar<'q, Postgres, O, PgArguments> {
    let today = ctx.today();
    match hand {
        Hand::Window { days, eur_cents } => {
            let (currencies, thresholds) = ctx.thresholds(*eur_cents);
            q.bind(today - days).bind(today).bind(currencies).bind(thresholds)
        }
        Hand::Before { days } => q.bind(ctx.now - days * DAY),
        Hand::Tag(tag) => q.bind(tag.to_string()),
        Hand::WindowAndAge { days, years } => {
            let born_by = from_micros(ctx.now)
                .date_naive()
                .checked_sub_months(Months::new(years * 12))
                .map(|d| d.format("%Y-%m-%d").to_string())
                .unwrap_or_default();
            q.bind(today - days).bind(today).bind(born_by)
        }
    }
}

async fn hand_count(pool: &PgPool, t: &Typical, ctx: &Ctx) -> anyhow::Result<i64> {
    Ok(bind_hand(sqlx::query_scalar::<_, i64>(t.sql), &t.hand, ctx).fetch_one(pool).await?)
}

async fn compiled_count(db: &Db, rule: &pitboss_rules::Rule, ctx: &Ctx) -> anyhow::Result<i64> {
    Ok(pitboss_segments::member_count_preview(db, rule, ctx.now, &ctx.rates).await?)
}

async fn member_count(pool: &PgPool, id: Uuid) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM segment_members WHERE segment_id = $1")
        .bind(id)
        .fetch_one(pool)
        .await?)
}

async fn explain(pool: &PgPool, t: &Typical, rule: &pitboss_rules::Rule, ctx: &Ctx) -> anyhow::Result<()> {
    let compiled = rule.to_sql(ctx.now, &ctx.rates, 1);
    let sql = format!("EXPLAIN (ANALYZE, BUFFERS) SELECT COUNT(*) FROM {FROM} WHERE {}", compiled.sql);
    let plan: Vec<String> =
        pitboss_segments::bind_params!(sqlx::query_scalar::<_, String>(&sql), &compiled.params).fetch_all(pool).await?;
    println!("\n--- {}: compiled condition\n{}", t.name, plan.join("\n"));
    let sql = format!("EXPLAIN (ANALYZE, BUFFERS) {}", t.sql);
    let plan: Vec<String> = bind_hand(sqlx::query_scalar::<_, String>(&sql), &t.hand, ctx).fetch_all(pool).await?;
    println!("\n--- {}: hand-written SQL\n{}", t.name, plan.join("\n"));
    Ok(())
}

/// Runs `f` `runs` times; the last answer and the median seconds.
async fn median_of<T, F, Fut>(runs: usize, mut f: F) -> anyhow::Result<(T, f64)>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        last = Some(f().await?);
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok((last.expect("ran at least once"), times[times.len() / 2]))
}

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

/// One segment's figures.
struct Figures {
    name: &'static str,
    condition: &'static str,
    members: i64,
    compiled: i64,
    hand: i64,
    compiled_secs: f64,
    hand_secs: f64,
    first_refresh_secs: f64,
    steady_refresh_secs: f64,
    /// After the events: the members the event path left, the compiled and hand-written counts,
    /// and what a full refresh then still found to change (entered, exited).
    after: Option<(i64, i64, i64, usize, usize)>,
}

impl Figures {
    fn agree(&self) -> bool {
        self.members == self.compiled
            && self.compiled == self.hand
            && self.after.is_none_or(|(m, c, h, entered, exited)| m == c && c == h && entered == 0 && exited == 0)
    }
}

pub async fn run(config: Option<&Path>, args: SegmentsArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.players >= 100, "--players must be at least 100");
    let settings =
        Settings::load(config, &Overrides { database_url: args.database_url.clone(), ..Default::default() })?;
    let Some(url) = settings.database_url.clone() else {
        anyhow::bail!(
            "bench segments runs on PostgreSQL only (its loader and the hand-written comparison are PostgreSQL SQL): \
             set PITBOSS_DATABASE_URL or --database-url to a database made for it, e.g. \
             `createdb pitboss_bench` and postgres://postgres@127.0.0.1:5432/pitboss_bench; its players are replaced"
        );
    };
    let db = Db::open(&settings.store())
        .await
        .with_context(|| format!("opening PostgreSQL at {}", crate::config::redact_url(&url)))?;
    let Db::Postgres(pool) = &db else { anyhow::bail!("bench segments needs PostgreSQL") };

    let machine = machine_facts(pool).await?;
    eprintln!("{}", machine.line);
    let load_secs = prepare(pool, &args).await?;

    // A clean slate of segments (the database is the benchmark's: `prepare` checked).
    sqlx::query("TRUNCATE segment_members, segment_sizes, segment_versions, segments, outbox CASCADE")
        .execute(pool)
        .await
        .context("clearing earlier runs' segments")?;
    let ctx = Ctx { now: to_micros(Utc::now()), rates: bench_rates() };
    let players: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM players").fetch_one(pool).await?;

    let mut ids = Vec::new();
    let mut tx = db.begin().await?;
    for t in TYPICAL {
        let new = pitboss_segments::NewSegment {
            name: t.name.to_string(),
            description: "bench segments".to_string(),
            condition: Some(t.condition.to_string()),
            ..Default::default()
        };
        ids.push(pitboss_segments::create(&mut tx, new, "bench", ctx.now).await?.id);
    }
    tx.commit().await?;

    let mut figures = Vec::new();
    for (t, id) in TYPICAL.iter().zip(&ids) {
        let rule = pitboss_rules::from_text(t.condition).map_err(|e| anyhow::anyhow!("{}", e.render(t.condition)))?;
        eprintln!("{}: {}", t.name, t.condition);
        let (compiled, compiled_secs) = median_of(3, || compiled_count(&db, &rule, &ctx)).await?;
        let (hand, hand_secs) = median_of(3, || hand_count(pool, t, &ctx)).await?;
        let started = Instant::now();
        let first = pitboss_segments::refresh(&db, *id, ctx.now, &ctx.rates).await?;
        let first_refresh_secs = started.elapsed().as_secs_f64();
        // Steady state: the statistics of the members as autovacuum would have them by the
        // next scheduled refresh (right after a large first fill they still say "empty").
        sqlx::query("ANALYZE segment_members").execute(pool).await?;
        let (_, steady_refresh_secs) =
            median_of(3, || async { Ok(pitboss_segments::refresh(&db, *id, ctx.now, &ctx.rates).await?) }).await?;
        eprintln!(
            "  {} members; count {}, hand-written {}, first refresh {}, steady refresh {}",
            thousands(first.members),
            secs(compiled_secs),
            secs(hand_secs),
            secs(first_refresh_secs),
            secs(steady_refresh_secs)
        );
        if args.explain {
            explain(pool, t, &rule, &ctx).await?;
        }
        figures.push(Figures {
            name: t.name,
            condition: t.condition,
            members: first.members,
            compiled,
            hand,
            compiled_secs,
            hand_secs,
            first_refresh_secs,
            steady_refresh_secs,
            after: None,
        });
    }

    // What creating or changing a segment sets off in the background: every player's timer.
    eprintln!("setting every player's segment timer (schedule_all)...");
    let started = Instant::now();
    let walked = pitboss_segments::schedule_all(&db, ctx.now, &ctx.rates, 1_000).await?;
    let timers_secs = started.elapsed().as_secs_f64();
    let (timers_set, _) = pitboss_bus::timers::counts(&db, pitboss_segments::live::TIMER_KIND).await?;

    let events = event_path(&db, pool, &args, &ctx, players).await?;

    // What the event path left, against a fresh evaluation.
    eprintln!("checking the members the event path left against a full evaluation...");
    for ((t, id), f) in TYPICAL.iter().zip(&ids).zip(figures.iter_mut()) {
        let rule = pitboss_rules::from_text(t.condition).map_err(|e| anyhow::anyhow!("{}", e.render(t.condition)))?;
        let members = member_count(pool, *id).await?;
        let compiled = compiled_count(&db, &rule, &ctx).await?;
        let hand = hand_count(pool, t, &ctx).await?;
        let report = pitboss_segments::refresh(&db, *id, ctx.now, &ctx.rates).await?;
        f.after = Some((members, compiled, hand, report.entered, report.exited));
    }

    print_report(&machine, players, load_secs, &figures, &events);
    println!(
        "segment timers (after a segment is created or changed, in the background): {} players walked in {}, \
         {} with a change ahead by time alone",
        thousands(i64::try_from(walked).unwrap_or(i64::MAX)),
        secs(timers_secs),
        thousands(timers_set)
    );
    if let Some(path) = &args.json {
        let doc = to_json(&machine, players, load_secs, &figures, &events);
        std::fs::write(path, serde_json::to_string_pretty(&doc)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    db.close().await;
    let wrong: Vec<&str> = figures.iter().filter(|f| !f.agree()).map(|f| f.name).collect();
    anyhow::ensure!(
        wrong.is_empty(),
        "the members, the compiled condition and the hand-written SQL disagree for: {}",
        wrong.join(", ")
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Machine facts
// ---------------------------------------------------------------------------------------------

struct Machine {
    cores: usize,
    /// The 1-minute load average when the run started (other work on the machine skews figures).
    load: String,
    server: String,
    settings: Vec<(String, String)>,
    release: bool,
    line: String,
}

async fn machine_facts(pool: &PgPool) -> anyhow::Result<Machine> {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let server: String = sqlx::query_scalar("SHOW server_version").fetch_one(pool).await?;
    let mut settings = Vec::new();
    for name in ["shared_buffers", "work_mem", "max_parallel_workers_per_gather", "jit"] {
        let value: String = sqlx::query_scalar(&format!("SHOW {name}")).fetch_one(pool).await?;
        settings.push((name.to_string(), value));
    }
    let release = !cfg!(debug_assertions);
    let load = load_average();
    let line = format!(
        "machine: {cores} cores, load average {load} at the start; PostgreSQL {server} ({}); {} build",
        settings.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", "),
        if release { "release" } else { "debug (figures are not representative)" }
    );
    Ok(Machine { cores, load, server, settings, release, line })
}

/// The 1-, 5- and 15-minute load averages (Linux), or "unknown".
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".to_string())
}

// ---------------------------------------------------------------------------------------------
// Loading the players
// ---------------------------------------------------------------------------------------------

/// The synthetic casino's reference rates: each market's currency at its euro value.
fn bench_rates() -> Rates {
    let mut rates = Rates::new();
    for m in synth::market_mix() {
        if let Ok(c) = m.currency.parse::<Currency>() {
            rates = rates.with(c, (1_000_000.0 / m.per_eur).round() as i64);
        }
    }
    rates
}

/// Loads the players unless `--reuse` finds them there already; the seconds loading took.
async fn prepare(pool: &PgPool, args: &SegmentsArgs) -> anyhow::Result<Option<f64>> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS bench_segments_meta (players BIGINT NOT NULL, seed BIGINT NOT NULL, \
         loaded_at BIGINT NOT NULL, load_seconds DOUBLE PRECISION NOT NULL)",
    )
    .execute(pool)
    .await?;
    let meta: Option<(i64, i64, i64)> =
        sqlx::query_as("SELECT players, seed, loaded_at FROM bench_segments_meta LIMIT 1").fetch_optional(pool).await?;
    let any_players: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM players)").fetch_one(pool).await?;
    if meta.is_none() && any_players {
        anyhow::bail!(
            "this database has players the benchmark did not load; it replaces every player, so point \
             PITBOSS_DATABASE_URL at a database made for it (e.g. `createdb pitboss_bench`)"
        );
    }
    if args.reuse {
        if let Some((players, seed, loaded_at)) = meta {
            let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM players").fetch_one(pool).await?;
            if players == args.players as i64 && seed == args.seed as i64 && count == players {
                eprintln!(
                    "reusing {} players loaded at {}",
                    thousands(players),
                    from_micros(loaded_at).format("%Y-%m-%d %H:%M UTC")
                );
                return Ok(None);
            }
        }
        eprintln!("nothing to reuse for --players {} --seed {}: loading", args.players, args.seed);
    }
    Ok(Some(load(pool, args.players, args.seed).await?))
}

/// Writes `n` players with profiles, tags, lifetime aggregates and daily buckets for the last
/// 90 days, all with set-based SQL on one connection.
async fn load(pool: &PgPool, n: usize, seed: u64) -> anyhow::Result<f64> {
    let started = Instant::now();
    let now = to_micros(Utc::now());
    let today = now.div_euclid(DAY);
    let mut conn = pool.acquire().await?;
    let conn = &mut *conn;
    for s in [
        "SET synchronous_commit = off",
        "SET work_mem = '256MB'",
        "SET maintenance_work_mem = '1GB'",
        "SET jit = off",
        "TRUNCATE players, player_tags, player_stats, player_daily, bench_segments_meta CASCADE",
        "DROP TABLE IF EXISTS pg_temp.bench_markets, pg_temp.bench_gen",
    ] {
        sqlx::query(s).execute(&mut *conn).await.with_context(|| s.to_string())?;
    }
    sqlx::query("SELECT setseed($1)").bind(((seed % 2000) as f64 / 1000.0) - 1.0).execute(&mut *conn).await?;

    // The markets, each with its share of [0, 1) and minor units per euro cent.
    let markets = synth::market_mix();
    let total: f64 = markets.iter().map(|m| m.weight).sum();
    let (mut countries, mut currencies, mut languages, mut lo, mut hi, mut mpc) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut acc = 0.0;
    for (i, m) in markets.iter().enumerate() {
        let exponent = m.currency.parse::<Currency>().map(|c| c.exponent()).unwrap_or(2);
        countries.push(m.country.to_string());
        currencies.push(m.currency.to_string());
        languages.push(m.language.to_string());
        lo.push(acc);
        acc += m.weight / total;
        hi.push(if i + 1 == markets.len() { 2.0 } else { acc });
        mpc.push(m.per_eur * 10f64.powi(exponent as i32) / 100.0);
    }
    sqlx::query(
        "CREATE TEMP TABLE bench_markets (country TEXT, currency TEXT, language TEXT, lo FLOAT8, hi FLOAT8, mpc FLOAT8)",
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO bench_markets SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[], \
         $5::float8[], $6::float8[])",
    )
    .bind(countries)
    .bind(currencies)
    .bind(languages)
    .bind(lo)
    .bind(hi)
    .bind(mpc)
    .execute(&mut *conn)
    .await?;

    let steps = [
        ("generating players", gen_sql(n, now)),
        ("players", players_sql(now)),
        ("player_daily", daily_sql(today)),
        ("player_stats", stats_sql(now, today)),
        ("player_tags", TAGS_SQL.to_string()),
    ];
    for (what, sql) in steps {
        let t = Instant::now();
        let rows = sqlx::query(&sql).execute(&mut *conn).await.with_context(|| format!("loading {what}"))?;
        eprintln!("  {what}: {} rows in {:.1} s", thousands(rows.rows_affected() as i64), t.elapsed().as_secs_f64());
    }
    sqlx::query("DROP TABLE bench_gen, bench_markets").execute(&mut *conn).await?;
    let t = Instant::now();
    sqlx::query("VACUUM (ANALYZE) players, player_tags, player_stats, player_daily").execute(&mut *conn).await?;
    eprintln!("  VACUUM (ANALYZE): {:.1} s", t.elapsed().as_secs_f64());
    let secs = started.elapsed().as_secs_f64();
    sqlx::query("INSERT INTO bench_segments_meta (players, seed, loaded_at, load_seconds) VALUES ($1, $2, $3, $4)")
        .bind(n as i64)
        .bind(seed as i64)
        .bind(now)
        .bind(secs)
        .execute(&mut *conn)
        .await?;
    for s in ["RESET synchronous_commit", "RESET work_mem", "RESET maintenance_work_mem", "RESET jit"] {
        sqlx::query(s).execute(&mut *conn).await?;
    }
    eprintln!("loaded {} players in {secs:.1} s", thousands(n as i64));
    Ok(secs)
}

/// One row per player with what the other tables are derived from: market, when they
/// registered and last played (8% never played; the rest spread over 120 days, more of them
/// recently), whether they deposit (about 40%), their usual deposit, lifetime deposits (which
/// set the VIP tier), stake per round and how often they play.
fn gen_sql(n: usize, now: i64) -> String {
    format!(
        "CREATE TEMP TABLE bench_gen AS \
         SELECT b.*, \
             (lpad(to_hex(b.registered_at / 1000), 12, '0') || '7' || substr(md5(b.i::text), 1, 3) || '8' \
                 || substr(md5(b.i::text), 4, 15))::uuid AS id, \
             b.ls_at / {DAY} AS last_day, \
             b.registered_at / {DAY} AS reg_day, \
             CASE WHEN NOT b.depositor THEN 'none' \
                  WHEN b.life_cents >= 10000000 THEN 'diamond' \
                  WHEN b.life_cents >= 2500000 THEN 'platinum' \
                  WHEN b.life_cents >= 500000 THEN 'gold' \
                  WHEN b.life_cents >= 100000 THEN 'silver' \
                  WHEN b.life_cents >= 25000 THEN 'bronze' \
                  ELSE 'none' END AS vip_tier, \
             CASE WHEN b.depositor THEN greatest(20, b.life_cents / 200) ELSE 20 END AS bet_cents, \
             b.base_rate + CASE WHEN b.depositor AND b.life_cents >= 100000 THEN 0.15 ELSE 0 END AS rate \
         FROM ( \
             SELECT r.i, m.country, m.currency, m.language, m.mpc, \
                 {now} - r.ls_ago AS ls_at, \
                 {now} - greatest(coalesce(r.ls_ago, 0) + floor(r.u_gap * 20 * {DAY})::bigint, \
                                  floor(1095 * {DAY} * power(r.u_reg, 1.5))::bigint) AS registered_at, \
                 (r.u_dep < 0.43 AND r.ls_ago IS NOT NULL) AS depositor, \
                 greatest(500, round(4000 * exp(0.8 * r.n1)))::bigint AS dep_cents, \
                 greatest(500, round(9000 * exp(1.7 * r.n2)))::bigint AS life_cents, \
                 0.015 + 0.4 * power(r.u_rate, 3) AS base_rate \
             FROM ( \
                 SELECT i, \
                     CASE WHEN random() < 0.08 THEN NULL \
                          ELSE floor(120 * {DAY} * power(random(), 1.5))::bigint END AS ls_ago, \
                     random() AS u_market, random() AS u_reg, random() AS u_gap, random() AS u_dep, \
                     random() AS u_rate, \
                     sqrt(-2 * ln(greatest(random(), 1e-12))) * cos(2 * pi() * random()) AS n1, \
                     sqrt(-2 * ln(greatest(random(), 1e-12))) * cos(2 * pi() * random()) AS n2 \
                 FROM generate_series(1, {n}::bigint) AS i \
             ) r \
             JOIN bench_markets m ON r.u_market >= m.lo AND r.u_market < m.hi \
         ) b"
    )
}

/// The profiles, in registration order as a live table would hold them.
fn players_sql(now: i64) -> String {
    format!(
        "INSERT INTO players (id, external_id, email, phone, first_name, last_name, search_name, birth_date, gender, \
             country, language, currency, registered_at, traffic_source, affiliate_id, campaign, consent_email, \
             consent_sms, consent_push, consent_messenger, status, kyc_status, vip_tier, brand, created_at, updated_at) \
         SELECT g.id, 'bench-' || g.i, 'player' || g.i || '@bench.example', '+4915' || lpad(g.i::text, 9, '0'), \
             g.first_name, g.last_name, lower(g.first_name || ' ' || g.last_name), \
             CASE WHEN random() < 0.03 THEN NULL ELSE to_char(DATE '1970-01-01' \
                 + ({now} / {DAY} - floor(365.25 * (18 + 57 * power(random(), 1.6))))::int, 'YYYY-MM-DD') END, \
             CASE WHEN g.u_gender < 0.56 THEN 'male' WHEN g.u_gender < 0.97 THEN 'female' \
                  WHEN g.u_gender < 0.99 THEN 'other' ELSE 'undisclosed' END, \
             g.country, g.language, g.currency, g.registered_at, g.source, \
             CASE WHEN g.source = 'affiliate' THEN 'aff-' || (1 + floor(random() * 40))::int END, \
             CASE g.source WHEN 'affiliate' THEN 'welcome100' WHEN 'paid_search' THEN 'gads-slots-' || lower(g.country) \
                  WHEN 'social' THEN 'meta-lookalike-' || lower(g.country) WHEN 'email' THEN 'refer-a-friend' END, \
             random() < 0.55, random() < 0.30, random() < 0.40, random() < 0.10, \
             CASE WHEN g.u_status < 0.97 THEN 'active' WHEN g.u_status < 0.985 THEN 'self_excluded' \
                  WHEN g.u_status < 0.995 THEN 'blocked' ELSE 'closed' END, \
             CASE WHEN g.depositor AND g.u_kyc < 0.7 THEN 'verified' WHEN g.depositor AND g.u_kyc < 0.8 THEN 'pending' \
                  WHEN NOT g.depositor AND g.u_kyc < 0.05 THEN 'pending' ELSE 'none' END, \
             g.vip_tier, CASE WHEN g.u_brand < 0.85 THEN 'main' ELSE 'luckyreels' END, g.registered_at, {now} \
         FROM ( \
             SELECT s.*, CASE WHEN s.u_src < 0.34 THEN 'organic' WHEN s.u_src < 0.64 THEN 'affiliate' \
                 WHEN s.u_src < 0.80 THEN 'paid_search' WHEN s.u_src < 0.93 THEN 'social' ELSE 'email' END AS source \
             FROM ( \
                 SELECT bench_gen.*, \
                     (ARRAY['Anna', 'Lukas', 'Emma', 'Oliver', 'Sofia', 'Elias', 'Mia', 'Noah', 'Ella', 'Leon', \
                            'Hanna', 'Finn', 'Ida', 'Liam', 'Maja', 'Jonas'])[(1 + i % 16)::int] AS first_name, \
                     (ARRAY['Müller', 'Smith', 'Andersson', 'Virtanen', 'Hansen', 'Silva', 'Gruber', 'de Jong', \
                            'Murphy', 'Kowalski', 'García', 'Tanaka', 'Brown', 'Schmidt', 'Nilsson', 'Johansen', \
                            'Santos', 'Wagner', 'Byrne', 'Nowak'])[(1 + (i / 16) % 20)::int] AS last_name, \
                     random() AS u_gender, random() AS u_status, random() AS u_kyc, random() AS u_src, \
                     random() AS u_brand \
                 FROM bench_gen \
             ) s \
         ) g \
         ORDER BY g.registered_at"
    )
}

/// Daily buckets for players who played in the last 90 days: their last session's day, and
/// more active days between the window's start (or registration) and it, as often as the
/// player plays. Written in day order, as days would have appended them.
fn daily_sql(today: i64) -> String {
    format!(
        "INSERT INTO player_daily (player_id, day, sessions_count, deposit_count, deposit_sum, withdrawal_count, \
             withdrawal_sum, rounds_count, stake_sum, win_sum) \
         SELECT player_id, day, SUM(sessions), SUM(dc), SUM(ds), SUM(wc), SUM(ws), SUM(rounds), SUM(stake), SUM(win) \
         FROM ( \
             SELECT w.*, round(w.stake * (0.4 + 1.05 * random()))::bigint AS win \
             FROM ( \
                 SELECT z.*, z.rounds * round(z.bet_cents * z.mpc * (0.5 + random()))::bigint AS stake, \
                     z.dc * round(z.dep_cents * z.mpc * (0.5 + random()))::bigint AS ds, \
                     z.wc * round(z.dep_cents * z.mpc * (1 + 3 * random()))::bigint AS ws \
                 FROM ( \
                     SELECT y.*, y.sessions * (5 + floor(random() * 60))::bigint AS rounds \
                     FROM ( \
                         SELECT g.id AS player_id, g.mpc, g.bet_cents, g.dep_cents, \
                             CASE WHEN j = 0 THEN g.last_day \
                                  ELSE g.last_day - floor(random() * (g.last_day - g.first_day + 1))::bigint END AS day, \
                             1 + floor(random() * 3)::bigint AS sessions, \
                             CASE WHEN g.depositor AND random() < 0.35 THEN 1 ELSE 0 END AS dc, \
                             CASE WHEN g.depositor AND random() < 0.04 THEN 1 ELSE 0 END AS wc \
                         FROM (SELECT bench_gen.*, greatest({today} - 89, reg_day) AS first_day FROM bench_gen \
                               WHERE last_day > {today} - 90) g \
                         CROSS JOIN LATERAL generate_series(0, floor((g.last_day - g.first_day) * g.rate)::int) AS j \
                     ) y \
                 ) z \
             ) w \
         ) v \
         GROUP BY player_id, day \
         ORDER BY day, player_id"
    )
}

/// Lifetime aggregates for everyone who ever played: the daily buckets' sums plus a history
/// before the window (older sessions, rounds and deposits; at least one deposit for a
/// depositor); first and last times to match.
fn stats_sql(now: i64, today: i64) -> String {
    format!(
        "INSERT INTO player_stats (player_id, sessions_count, last_session_at, deposit_count, deposit_sum, \
             first_deposit_at, last_deposit_at, withdrawal_count, withdrawal_sum, last_withdrawal_at, rounds_count, \
             stake_sum, win_sum, bonus_granted_sum, bonus_converted_sum, last_activity_at, updated_at) \
         SELECT f.id, f.sessions_count, f.ls_at, f.deposit_count, f.deposit_sum, f.first_deposit_at, \
             f.last_deposit_at, f.withdrawal_count, f.withdrawal_sum, f.last_withdrawal_at, f.rounds_count, \
             f.stake_sum, f.win_sum, f.bonus_granted_sum, f.bonus_converted_sum, \
             greatest(f.ls_at, f.last_deposit_at, f.last_withdrawal_at), {now} \
         FROM ( \
             SELECT o.id, o.ls_at, \
                 o.sessions + o.old_sessions AS sessions_count, \
                 o.dc + o.old_dc AS deposit_count, \
                 o.ds + o.old_dc * round(o.dep_cents * o.mpc * (0.5 + o.u3))::bigint AS deposit_sum, \
                 CASE WHEN o.old_dc > 0 THEN o.registered_at + floor(0.2 * o.u1 * o.old_span)::bigint \
                      WHEN o.first_dep_day IS NOT NULL THEN least({now}, o.first_dep_day * {DAY} + floor(o.u2 * {DAY})::bigint) \
                 END AS first_deposit_at, \
                 CASE WHEN o.last_dep_day IS NOT NULL THEN least({now}, o.last_dep_day * {DAY} + floor(o.u2 * {DAY})::bigint) \
                      WHEN o.old_dc > 0 THEN o.registered_at + floor(o.u1 * o.old_span)::bigint \
                 END AS last_deposit_at, \
                 o.wc + o.old_dc / 4 AS withdrawal_count, \
                 o.ws + (o.old_dc / 4) * round(o.dep_cents * o.mpc * 2)::bigint AS withdrawal_sum, \
                 CASE WHEN o.last_wd_day IS NOT NULL THEN least({now}, o.last_wd_day * {DAY} + floor(o.u3 * {DAY})::bigint) \
                      WHEN o.old_dc / 4 > 0 THEN o.registered_at + floor(o.u1 * o.old_span)::bigint \
                 END AS last_withdrawal_at, \
                 o.rounds + o.old_sessions * 35 AS rounds_count, \
                 o.stake + o.old_sessions * 35 * round(o.bet_cents * o.mpc)::bigint AS stake_sum, \
                 o.win + round(o.old_sessions * 35 * o.bet_cents * o.mpc * 0.95)::bigint AS win_sum, \
                 CASE WHEN o.u4 < 0.35 THEN round((500 + o.u5 * 5000) * o.mpc)::bigint ELSE 0 END AS bonus_granted_sum, \
                 CASE WHEN o.u4 < 0.08 THEN round((100 + o.u5 * 1000) * o.mpc)::bigint ELSE 0 END AS bonus_converted_sum \
             FROM ( \
                 SELECT h.*, \
                     CASE WHEN h.has_days THEN 0 ELSE 1 END + floor(h.hist_days * h.rate * (0.5 + random()))::bigint \
                         AS old_sessions, \
                     CASE WHEN NOT h.depositor THEN 0 \
                          WHEN h.dc > 0 THEN floor(random() * least(h.hist_days, 365) / 30.0)::bigint \
                          ELSE 1 + floor(random() * 5)::bigint END AS old_dc, \
                     random() AS u1, random() AS u2, random() AS u3, random() AS u4, random() AS u5 \
                 FROM ( \
                     SELECT g.id, g.ls_at, g.registered_at, g.depositor, g.dep_cents, g.bet_cents, g.mpc, g.rate, \
                         a.player_id IS NOT NULL AS has_days, \
                         greatest(0, ({today} - 90) - g.reg_day) AS hist_days, \
                         greatest(0, least(g.ls_at, {now} - 90 * {DAY}) - g.registered_at) AS old_span, \
                         coalesce(a.sessions, 0) AS sessions, coalesce(a.dc, 0) AS dc, coalesce(a.ds, 0) AS ds, \
                         coalesce(a.wc, 0) AS wc, coalesce(a.ws, 0) AS ws, coalesce(a.rounds, 0) AS rounds, \
                         coalesce(a.stake, 0) AS stake, coalesce(a.win, 0) AS win, \
                         a.first_dep_day, a.last_dep_day, a.last_wd_day \
                     FROM bench_gen g \
                     LEFT JOIN ( \
                         SELECT player_id, SUM(sessions_count) AS sessions, SUM(deposit_count) AS dc, \
                             SUM(deposit_sum) AS ds, SUM(withdrawal_count) AS wc, SUM(withdrawal_sum) AS ws, \
                             SUM(rounds_count) AS rounds, SUM(stake_sum) AS stake, SUM(win_sum) AS win, \
                             MIN(day) FILTER (WHERE deposit_count > 0) AS first_dep_day, \
                             MAX(day) FILTER (WHERE deposit_count > 0) AS last_dep_day, \
                             MAX(day) FILTER (WHERE withdrawal_count > 0) AS last_wd_day \
                         FROM player_daily GROUP BY player_id \
                     ) a ON a.player_id = g.id \
                     WHERE g.ls_at IS NOT NULL \
                 ) h \
             ) o \
         ) f \
         ORDER BY f.id"
    )
}

/// A few tags in realistic shares, and `high_roller` for lifetime deposits of 5,000 EUR or more.
/// (One SELECT per tag: a filter on `random()` alone would be evaluated once, not per player.)
const TAGS_SQL: &str = "INSERT INTO player_tags (player_id, tag) \
     SELECT id, 'bonus_hunter' FROM bench_gen WHERE random() < 0.05 \
     UNION ALL SELECT id, 'crash_fan' FROM bench_gen WHERE random() < 0.08 \
     UNION ALL SELECT id, 'live_casino' FROM bench_gen WHERE random() < 0.12 \
     UNION ALL SELECT id, 'newsletter_bounce' FROM bench_gen WHERE random() < 0.02 \
     UNION ALL SELECT id, 'high_roller' FROM bench_gen WHERE depositor AND life_cents >= 500000";

// ---------------------------------------------------------------------------------------------
// The event path
// ---------------------------------------------------------------------------------------------

struct Events {
    n: usize,
    deposits: usize,
    sessions: usize,
    segments: usize,
    entered: usize,
    exited: usize,
    /// Milliseconds per event: the fact update (`stats::record`), the membership update of
    /// every active segment (`refresh_players`), the commit, and all of it.
    fact_ms: Vec<f64>,
    membership_ms: Vec<f64>,
    commit_ms: Vec<f64>,
    end_to_end_ms: Vec<f64>,
}

/// Changes sampled players' facts one at a time (a deposit or a session, now) and brings every
/// active segment up to date for that player in the same transaction.
async fn event_path(db: &Db, pool: &PgPool, args: &SegmentsArgs, ctx: &Ctx, players: i64) -> anyhow::Result<Events> {
    const WARM_UP: usize = 20;
    let mut rng = StdRng::seed_from_u64(args.seed ^ 0x5e9);
    let total = args.events + WARM_UP;
    let ext: Vec<String> =
        (0..total).map(|_| format!("bench-{}", rng.random_range(1..=players.max(1)))).collect::<Vec<_>>();
    let rows: Vec<(String, Uuid, String)> =
        sqlx::query_as("SELECT external_id, id, currency FROM players WHERE external_id = ANY($1)")
            .bind(&ext)
            .fetch_all(pool)
            .await?;
    let found: HashMap<String, (Uuid, String)> = rows.into_iter().map(|(e, id, c)| (e, (id, c))).collect();
    let sample: Vec<(Uuid, String)> = ext.iter().filter_map(|e| found.get(e).cloned()).collect();
    anyhow::ensure!(sample.len() > WARM_UP, "too few players to sample: load them again without --reuse");

    let eur: Currency = "EUR".parse().expect("EUR is a currency");
    let at: DateTime<Utc> = from_micros(ctx.now);
    let mut ev = Events {
        n: 0,
        deposits: 0,
        sessions: 0,
        segments: TYPICAL.len(),
        entered: 0,
        exited: 0,
        fact_ms: Vec::new(),
        membership_ms: Vec::new(),
        commit_ms: Vec::new(),
        end_to_end_ms: Vec::new(),
    };
    eprintln!("event path: {} events, one player at a time...", sample.len() - WARM_UP);
    for (i, (player, currency)) in sample.iter().enumerate() {
        let deposit = rng.random_bool(0.6);
        let activity = if deposit {
            let eur_cents = rng.random_range(20..=300) * 100;
            let amount = currency
                .parse::<Currency>()
                .ok()
                .and_then(|c| ctx.rates.convert(eur_cents, eur, c))
                .unwrap_or(eur_cents)
                .max(1);
            Activity::DepositCompleted { amount }
        } else {
            Activity::SessionStarted
        };
        let t0 = Instant::now();
        let mut tx = db.begin().await?;
        pitboss_players::stats::record(&mut tx, *player, activity, at, at).await?;
        let t1 = Instant::now();
        let (entered, exited, broken) =
            pitboss_segments::refresh_players(&mut tx, std::slice::from_ref(player), ctx.now, &ctx.rates).await?;
        let t2 = Instant::now();
        tx.commit().await?;
        let t3 = Instant::now();
        anyhow::ensure!(broken.is_empty(), "segments were skipped as broken: {broken:?}");
        if i < WARM_UP {
            continue;
        }
        ev.n += 1;
        if deposit {
            ev.deposits += 1;
        } else {
            ev.sessions += 1;
        }
        ev.entered += entered;
        ev.exited += exited;
        let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1000.0;
        ev.fact_ms.push(ms(t0, t1));
        ev.membership_ms.push(ms(t1, t2));
        ev.commit_ms.push(ms(t2, t3));
        ev.end_to_end_ms.push(ms(t0, t3));
    }
    for v in [&mut ev.fact_ms, &mut ev.membership_ms, &mut ev.commit_ms, &mut ev.end_to_end_ms] {
        v.sort_by(f64::total_cmp);
    }
    Ok(ev)
}

// ---------------------------------------------------------------------------------------------
// Printing
// ---------------------------------------------------------------------------------------------

fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

fn secs(s: f64) -> String {
    if s < 1.0 { format!("{:.0} ms", s * 1000.0) } else { format!("{s:.2} s") }
}

fn verdict(value: f64, goal: f64) -> String {
    if value <= goal { "met".to_string() } else { format!("missed, {:.1}x", value / goal) }
}

fn print_report(machine: &Machine, players: i64, load_secs: Option<f64>, figures: &[Figures], ev: &Events) {
    println!();
    println!("{}", machine.line);
    match load_secs {
        Some(s) => println!("players: {} (loaded in {s:.1} s)", thousands(players)),
        None => println!("players: {} (reused)", thousands(players)),
    }
    println!();
    println!(
        "{:<24} {:>9} {:>10} {:>10} {:>10} {:>10}  {:<16} {:<6}",
        "segment", "members", "evaluate", "by hand", "1st refr.", "refresh", "goal refresh<1s", "counts"
    );
    for f in figures {
        println!(
            "{:<24} {:>9} {:>10} {:>10} {:>10} {:>10}  {:<16} {:<6}",
            f.name,
            thousands(f.members),
            secs(f.compiled_secs),
            secs(f.hand_secs),
            secs(f.first_refresh_secs),
            secs(f.steady_refresh_secs),
            verdict(f.steady_refresh_secs, FULL_GOAL_SECS),
            if f.agree() { "agree" } else { "DIFFER" }
        );
    }
    println!();
    println!("evaluate: SELECT COUNT(*) of the compiled condition (no writing), median of 3");
    println!("by hand: the same segment as hand-written PostgreSQL SQL, median of 3");
    println!("1st refr.: the first full refresh, writing every member and its segment.entered message");
    println!("refresh: a full refresh with nothing to change (median of 3, member statistics analysed)");
    println!("counts: members = compiled count = hand-written count, before and after the events,");
    println!("        and a full refresh after the events finds nothing the event path missed");
    for f in figures {
        let after = match f.after {
            Some((m, c, h, e, x)) => format!("; after the events {m}/{c}/{h}, a full refresh then: +{e} -{x}"),
            None => String::new(),
        };
        println!("  {:<24} {}  [{}/{}/{}{after}]", f.name, f.condition, f.members, f.compiled, f.hand);
    }
    println!();
    println!(
        "event path: {} events ({} deposits, {} sessions) on {} active segments; {} entries, {} exits",
        ev.n, ev.deposits, ev.sessions, ev.segments, ev.entered, ev.exited
    );
    println!("{:<44} {:>8} {:>8} {:>8} {:>8}  {:<10}", "ms per event", "p50", "p95", "p99", "max", "goal p99<10ms");
    let line = |what: &str, v: &[f64], goal: bool| {
        println!(
            "{:<44} {:>8.2} {:>8.2} {:>8.2} {:>8.2}  {}",
            what,
            quantile(v, 0.50),
            quantile(v, 0.95),
            quantile(v, 0.99),
            quantile(v, 1.0),
            if goal { verdict(quantile(v, 0.99), EVENT_GOAL_MS) } else { String::new() }
        );
    };
    line("fact update (stats::record)", &ev.fact_ms, false);
    line("membership update (refresh_players)", &ev.membership_ms, true);
    line("commit", &ev.commit_ms, false);
    line("end to end (begin, facts, membership, commit)", &ev.end_to_end_ms, true);
    println!();
    println!("load average at the end: {}", load_average());
}

fn to_json(machine: &Machine, players: i64, load_secs: Option<f64>, figures: &[Figures], ev: &Events) -> Value {
    let dist = |v: &[f64]| json!({"p50": quantile(v, 0.5), "p95": quantile(v, 0.95), "p99": quantile(v, 0.99), "max": quantile(v, 1.0)});
    json!({
        "machine": {
            "cores": machine.cores,
            "load_average_at_start": machine.load,
            "load_average_at_end": load_average(),
            "postgres": machine.server,
            "settings": machine.settings.iter().cloned().collect::<HashMap<String, String>>(),
            "release_build": machine.release,
        },
        "players": players,
        "load_seconds": load_secs,
        "segments": figures.iter().map(|f| json!({
            "name": f.name,
            "condition": f.condition,
            "members": f.members,
            "compiled_count": f.compiled,
            "handwritten_count": f.hand,
            "compiled_count_seconds": f.compiled_secs,
            "handwritten_seconds": f.hand_secs,
            "first_refresh_seconds": f.first_refresh_secs,
            "steady_refresh_seconds": f.steady_refresh_secs,
            "after_events": f.after.map(|(m, c, h, e, x)| json!({
                "members": m, "compiled_count": c, "handwritten_count": h,
                "full_refresh_entered": e, "full_refresh_exited": x,
            })),
            "agree": f.agree(),
        })).collect::<Vec<_>>(),
        "events": {
            "n": ev.n,
            "deposits": ev.deposits,
            "sessions": ev.sessions,
            "segments": ev.segments,
            "entered": ev.entered,
            "exited": ev.exited,
            "fact_ms": dist(&ev.fact_ms),
            "membership_ms": dist(&ev.membership_ms),
            "commit_ms": dist(&ev.commit_ms),
            "end_to_end_ms": dist(&ev.end_to_end_ms),
        },
        "goals": {"full_refresh_seconds": FULL_GOAL_SECS, "event_p99_ms": EVENT_GOAL_MS},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_typical_segment_checks() {
        for t in TYPICAL {
            pitboss_rules::from_text(t.condition).unwrap_or_else(|e| panic!("{}", e.render(t.condition)));
        }
    }

    #[test]
    fn formats() {
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.5), 2.0);
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 1.0), 4.0);
        let rates = bench_rates();
        let ctx = Ctx { now: 0, rates };
        let (currencies, thresholds) = ctx.thresholds(10_000);
        let eur = currencies.iter().position(|c| c == "EUR").unwrap();
        assert_eq!(thresholds[eur], 10_000);
        assert!(currencies.len() > 5);
    }
}
