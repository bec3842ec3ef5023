//! A refit: read every player and their completed deposits, fit and score (on a blocking
//! thread: it is seconds of arithmetic), then record the fit, replace the predictions and audit
//! it, in one transaction.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use pitboss_auth::audit::{self, AuditEntry};
use pitboss_auth::{Caller, Origin};
use pitboss_core::time::to_micros;
use pitboss_payments::deposits::{CompletedDeposit, completed_deposits};
use pitboss_players::PlayerQuery;
use pitboss_rules::Rates;
use pitboss_store::Db;
use serde_json::json;

use crate::compute::{PlayerInput, RefitSettings, compute};
use crate::model::{ClvFit, FitStatus, FitTrigger};
use crate::{ModelError, repo};

/// The topic of the message a successful refit sends: the predictions changed for everyone.
pub const REFITTED: &str = "model.clv.refitted";

/// One refit at a time per process: a fit keeps a core busy for seconds, and two at once would
/// only compute the same thing twice (across processes, the upsert keeps them correct).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Rows read per query.
const PAGE: u32 = 20_000;

/// Who asked for a refit, for `clv_fits` and the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requester {
    pub trigger: FitTrigger,
    /// The audit log's actor: `system`, `operator:<name>`, `api-key:<name>`, `cli:<user>`.
    pub actor: String,
    pub origin: Origin,
}

impl Requester {
    /// The schedule (`clv_refit_hours`).
    pub fn schedule() -> Requester {
        Requester { trigger: FitTrigger::Schedule, actor: Caller::system().actor(), origin: Origin::default() }
    }

    /// Someone through the API or the page.
    pub fn caller(caller: &Caller) -> Requester {
        Requester { trigger: FitTrigger::Operator, actor: caller.actor(), origin: caller.origin.clone() }
    }

    /// `pitboss model refit`, run by `user` as the operating system knows them.
    pub fn cli(user: &str) -> Requester {
        Requester { trigger: FitTrigger::Cli, actor: format!("cli:{user}"), origin: Origin::default() }
    }
}

async fn read_deposits(db: &Db, until: DateTime<Utc>) -> Result<Vec<CompletedDeposit>, ModelError> {
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = completed_deposits(db, until, after, PAGE).await?;
        all.extend(page.items);
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(all),
        }
    }
}

async fn read_players(db: &Db) -> Result<Vec<PlayerInput>, ModelError> {
    let mut all = Vec::new();
    let mut query = PlayerQuery { limit: Some(pitboss_players::search::MAX_LIMIT), ..Default::default() };
    loop {
        let page = pitboss_players::search(db, &query).await?;
        all.extend(page.items.iter().map(|p| PlayerInput { id: p.id, currency: p.currency }));
        match page.next {
            Some(next) => query.after = Some(next),
            None => return Ok(all),
        }
    }
}

/// Refits now (`now` is the refit's time: the observation ends on its day) and records the
/// fit, succeeded or failed. A fit that cannot be made (too few depositors, say) is recorded as
/// failed with the reason and leaves the previous predictions in place; only a database failure
/// is an `Err`, and then nothing was recorded.
pub async fn refit(
    db: &Db,
    rates: &Rates,
    settings: &RefitSettings,
    who: &Requester,
    now: DateTime<Utc>,
) -> Result<ClvFit, ModelError> {
    let _turn = ONE_AT_A_TIME.lock().await;
    let started = Instant::now();
    let id = pitboss_core::new_id();
    // Deposits first: every depositor then has a profile in the list read after.
    let deposits = read_deposits(db, now).await?;
    let players = read_players(db).await?;
    let (rates_owned, settings_owned) = (rates.clone(), *settings);
    let today = now.date_naive();
    let mut outcome =
        tokio::task::spawn_blocking(move || compute(&players, &deposits, &rates_owned, &settings_owned, today))
            .await
            .map_err(|e| ModelError::Interrupted(e.to_string()))?;
    outcome.report.seconds = started.elapsed().as_secs_f64();
    let (status, error) = match &outcome.predictions {
        Ok(_) => (FitStatus::Succeeded, None),
        Err(why) => (FitStatus::Failed, Some(why.clone())),
    };
    let fit = ClvFit {
        id,
        fitted_at: to_micros(now),
        trigger: who.trigger,
        requested_by: who.actor.clone(),
        status,
        error,
        currency: settings.currency.as_str().to_string(),
        players: i64::try_from(outcome.depositors()).unwrap_or(i64::MAX),
        report: serde_json::to_value(&outcome.report).unwrap_or(serde_json::Value::Null),
    };
    let entry = AuditEntry::new(who.actor.clone(), "model.refit", "clv_fit", fit.id)
        .client(who.origin.ip.clone(), who.origin.user_agent.clone())
        .details(json!({
            "model": "clv",
            "trigger": fit.trigger,
            "status": fit.status,
            "error": fit.error,
            "currency": fit.currency,
            "players": fit.players,
            "scored": outcome.predictions.as_ref().map_or(0, Vec::len),
        }));
    let mut tx = db.begin().await?;
    repo::insert_fit(&mut tx, &fit).await?;
    if let Ok(scored) = &outcome.predictions {
        repo::replace_predictions(&mut tx, fit.id, fit.fitted_at, scored).await?;
        // Segments that read the predictions are evaluated again when this reaches them.
        let payload = json!({"fit_id": fit.id, "fitted_at": fit.fitted_at, "players": fit.players});
        let message = pitboss_bus::Message {
            id: pitboss_core::new_id(),
            topic: REFITTED.to_string(),
            key: fit.id.to_string(),
            payload: payload.to_string(),
        };
        pitboss_bus::outbox::enqueue(&mut tx, &message, fit.fitted_at).await?;
    }
    audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    match &fit.error {
        None => {
            tracing::info!(fit = %fit.id, trigger = %fit.trigger, players = fit.players, "churn and lifetime value models refitted")
        }
        Some(why) => {
            tracing::warn!(fit = %fit.id, trigger = %fit.trigger, error = %why, "a refit of the churn and lifetime value models failed")
        }
    }
    Ok(fit)
}

/// [`refit`] on a task of its own, awaited: a caller who stops waiting (a request that timed
/// out, a closed browser) does not cancel it half-way, and the fit is recorded all the same.
pub async fn refit_detached(
    db: Db,
    rates: Arc<Rates>,
    settings: RefitSettings,
    who: Requester,
) -> Result<ClvFit, ModelError> {
    tokio::spawn(async move { refit(&db, &rates, &settings, &who, Utc::now()).await })
        .await
        .map_err(|e| ModelError::Interrupted(e.to_string()))?
}
