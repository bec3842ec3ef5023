//! `pitboss model ...`: churn and lifetime value models for analysts. `fit` works on a CSV
//! transaction log without a database (the models live in `pitboss_clv`; this only reads the
//! file and prints); `refit` refits them on the database's deposits and replaces every player's
//! predictions, as the schedule and the `/models` page do (`pitboss_models`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use chrono::{Days, NaiveDate};
use clap::{Args, Subcommand};
use pitboss_clv::{BgNbdFit, CalibrationReport, FitOptions, GammaGammaFit, calibration_report, fit_model};
use serde::Serialize;

use crate::cli::{StoreArgs, open, settings};
use crate::config::Overrides;

#[derive(Subcommand, Debug)]
pub enum ModelCommand {
    /// Fit BG/NBD (repeat deposits and churn) and Gamma-Gamma (deposit values) to a transaction
    /// log and print the parameters, log-likelihoods and diagnostics as JSON.
    Fit(FitArgs),
    /// Refit both models on every player's completed deposits in the database now, replace every
    /// player's predictions (churn risk, expected deposits, lifetime value), and print the
    /// recorded fit as JSON. Exits non-zero when the fit failed (the previous predictions stay).
    Refit {
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Args, Debug)]
pub struct FitArgs {
    /// CSV of deposits: customer id, date (YYYY-MM-DD), amount in integer minor units of one
    /// currency (1250 for 12.50); a header row is allowed.
    #[arg(long)]
    pub input: PathBuf,
    /// Also hold out the last N days: fit on the days before, and compare predicted with
    /// actual repeat deposits in those N days (a multiple of --period-days).
    #[arg(long)]
    pub holdout_days: Option<u32>,
    /// Length of the models' time unit in days (1: parameters per day; 7: per week).
    #[arg(long, default_value_t = 1)]
    pub period_days: u32,
}

/// What `model fit` prints.
#[derive(Serialize)]
struct FitOutput {
    input: InputInfo,
    bgnbd: BgNbdFit,
    gamma_gamma: GammaGammaFit,
    #[serde(skip_serializing_if = "Option::is_none")]
    calibration: Option<CalibrationReport>,
}

#[derive(Serialize)]
struct InputInfo {
    file: String,
    transactions: usize,
    customers: usize,
    first_date: NaiveDate,
    observation_end: NaiveDate,
    period_days: u32,
    note: &'static str,
}

pub async fn run(config: Option<&Path>, command: ModelCommand) -> anyhow::Result<()> {
    match command {
        ModelCommand::Fit(args) => print_json(&fit(&args)?),
        ModelCommand::Refit { store } => {
            let settings = settings(config, &store, Overrides::default())?;
            let rates = Arc::new(settings.rates()?);
            let db = open(&settings).await?;
            // Audited as the person at the terminal, as the operating system knows them.
            let who = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
            let fitted = pitboss_models::refit_detached(
                db.clone(),
                rates,
                pitboss_models::RefitSettings::default(),
                pitboss_models::Requester::cli(&who),
            )
            .await
            .context("refitting the churn and lifetime value models")?;
            db.close().await;
            print_json(&fitted)?;
            match fitted.error {
                Some(why) => bail!("the refit failed and the previous predictions stay: {why}"),
                None => Ok(()),
            }
        }
    }
}

fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    // Not println!: a closed pipe (`| head`) is an error to report, not a panic.
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, value)
        .map_err(std::io::Error::from)
        .and_then(|()| writeln!(stdout))
        .context("writing the report to standard output")
}

fn fit(args: &FitArgs) -> anyhow::Result<FitOutput> {
    let log = read_log(&args.input)?;
    let (Some(first_date), Some(observation_end)) =
        (log.iter().map(|t| t.date).min(), log.iter().map(|t| t.date).max())
    else {
        bail!("{} has no transactions", args.input.display());
    };
    // Check the holdout before spending time on a fit.
    let calibration_end = match args.holdout_days {
        None => None,
        Some(0) => bail!("--holdout-days must be at least 1"),
        Some(days) => Some(
            observation_end
                .checked_sub_days(Days::new(u64::from(days)))
                .filter(|end| *end >= first_date)
                .with_context(|| {
                    format!("--holdout-days {days} reaches before the first transaction ({first_date}); use fewer days")
                })?,
        ),
    };
    let options = FitOptions::default();
    let summaries = pitboss_clv::summarize(&log, observation_end, args.period_days)?;
    let fitted = fit_model(&summaries, &options).context("fitting the whole log")?;
    let calibration = match calibration_end {
        None => None,
        Some(end) => Some(
            calibration_report(&log, end, observation_end, args.period_days, &options)
                .with_context(|| format!("calibrating on the transactions up to {end}"))?,
        ),
    };
    Ok(FitOutput {
        input: InputInfo {
            file: args.input.display().to_string(),
            transactions: log.len(),
            customers: summaries.len(),
            first_date,
            observation_end,
            period_days: args.period_days,
            note: "amounts are minor units of one currency; money figures are model estimates in that unit, \
                   never ledger amounts",
        },
        bgnbd: fitted.bgnbd,
        gamma_gamma: fitted.gamma_gamma,
        calibration,
    })
}

fn read_log(path: &Path) -> anyhow::Result<Vec<pitboss_clv::Transaction>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    pitboss_clv::parse_transactions(&text).with_context(|| format!("parsing {}", path.display()))
}
