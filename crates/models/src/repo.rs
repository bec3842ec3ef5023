//! Fits and predictions as stored (`clv_fits`, `player_predictions`).

use pitboss_store::{Db, Tx, db, exec, sqlx, tx};
use uuid::Uuid;

use crate::ModelError;
use crate::compute::Scored;
use crate::model::{ChurnBand, ClvFit, FitPage, FitStatus, FitTrigger, PlayerPrediction};

/// Most fits one page may hold.
pub const MAX_FIT_PAGE: u32 = 100;

const FIT_COLUMNS: &str = "id, fitted_at, trigger, requested_by, status, error, currency, players, report_json";

#[derive(sqlx::FromRow)]
struct FitRow {
    id: Uuid,
    fitted_at: i64,
    trigger: String,
    requested_by: String,
    status: String,
    error: Option<String>,
    currency: String,
    players: i64,
    report_json: String,
}

impl FitRow {
    fn into_fit(self) -> ClvFit {
        ClvFit {
            id: self.id,
            fitted_at: self.fitted_at,
            // Only this crate writes the table; an unknown word would be a hand edit, shown as
            // the least privileged reading rather than failing the whole page.
            trigger: self.trigger.parse().unwrap_or(FitTrigger::Operator),
            requested_by: self.requested_by,
            status: self.status.parse().unwrap_or(FitStatus::Failed),
            error: self.error,
            currency: self.currency,
            players: self.players,
            report: serde_json::from_str(&self.report_json).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// The newest fit, whatever its status.
pub async fn latest_fit(db: &Db) -> Result<Option<ClvFit>, ModelError> {
    Ok(fits(db, None, 1).await?.items.into_iter().next())
}

/// When the newest fit ran (microseconds), if any did: the scheduler's clock.
pub async fn last_fitted_at(db: &Db) -> Result<Option<i64>, ModelError> {
    let at: Option<i64> = db!(db, |c| sqlx::query_scalar("SELECT MAX(fitted_at) FROM clv_fits").fetch_one(c).await)?;
    Ok(at)
}

/// Fits, newest first, after the fit `after` (the `next` of the previous page).
pub async fn fits(db: &Db, after: Option<Uuid>, limit: u32) -> Result<FitPage, ModelError> {
    if !(1..=MAX_FIT_PAGE).contains(&limit) {
        return Err(ModelError::Invalid(format!("limit: must be between 1 and {MAX_FIT_PAGE}")));
    }
    // Ids are UUIDv7 made when the refit starts, so id order is the order of `fitted_at`.
    let filter = if after.is_some() { "WHERE id < $1" } else { "" };
    let sql = format!("SELECT {FIT_COLUMNS} FROM clv_fits {filter} ORDER BY id DESC LIMIT {}", limit + 1);
    let mut rows: Vec<FitRow> = db!(db, |c| {
        let mut q = sqlx::query_as(&sql);
        if let Some(a) = after {
            q = q.bind(a);
        }
        q.fetch_all(c).await
    })?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let items: Vec<ClvFit> = rows.into_iter().map(FitRow::into_fit).collect();
    let next = if more { items.last().map(|f| f.id) } else { None };
    Ok(FitPage { items, next })
}

/// One fit.
pub async fn fit(db: &Db, id: Uuid) -> Result<ClvFit, ModelError> {
    let sql = format!("SELECT {FIT_COLUMNS} FROM clv_fits WHERE id = $1");
    let row: Option<FitRow> = db!(db, |c| sqlx::query_as(&sql).bind(id).fetch_optional(c).await)?;
    row.map(FitRow::into_fit).ok_or(ModelError::FitNotFound(id))
}

#[derive(sqlx::FromRow)]
struct PredictionRow {
    player_id: Uuid,
    fit_id: Uuid,
    p_active: f64,
    active_percent: i64,
    expected_30d: f64,
    expected_90d: f64,
    predicted_value: i64,
    churn_risk: String,
    scored_at: i64,
    deposit_days: i64,
}

/// The player's current predictions, if a fit has scored them.
pub async fn prediction(db: &Db, player: Uuid) -> Result<Option<PlayerPrediction>, ModelError> {
    let row: Option<PredictionRow> = db!(db, |c| {
        sqlx::query_as(
            "SELECT player_id, fit_id, p_active, active_percent, expected_30d, expected_90d, predicted_value, \
             churn_risk, scored_at, deposit_days FROM player_predictions WHERE player_id = $1",
        )
        .bind(player)
        .fetch_optional(c)
        .await
    })?;
    Ok(row.map(|r| PlayerPrediction {
        player_id: r.player_id,
        fit_id: r.fit_id,
        p_active: r.p_active,
        active_percent: r.active_percent,
        expected_30d: r.expected_30d,
        expected_90d: r.expected_90d,
        predicted_value: r.predicted_value,
        churn_risk: r.churn_risk.parse().unwrap_or(ChurnBand::High),
        scored_at: r.scored_at,
        deposit_days: r.deposit_days,
    }))
}

pub(crate) async fn insert_fit(tx: &mut Tx, fit: &ClvFit) -> Result<(), ModelError> {
    exec!(
        tx,
        "INSERT INTO clv_fits (id, fitted_at, trigger, requested_by, status, error, currency, players, report_json) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        fit.id,
        fit.fitted_at,
        fit.trigger.as_str(),
        &fit.requested_by,
        fit.status.as_str(),
        fit.error.as_deref(),
        &fit.currency,
        fit.players,
        fit.report.to_string(),
    )?;
    Ok(())
}

/// Columns of one prediction row, in the order of [`UPSERT`].
const WIDTH: usize = 10;

/// Upserted rather than deleted and inserted: two processes refitting at once then both
/// succeed (the later commit wins) instead of one failing on the primary key.
const UPSERT: &str = "INSERT INTO player_predictions (player_id, fit_id, p_active, active_percent, expected_30d, \
     expected_90d, predicted_value, churn_risk, scored_at, deposit_days) VALUES {values} \
     ON CONFLICT (player_id) DO UPDATE SET fit_id = excluded.fit_id, p_active = excluded.p_active, \
     active_percent = excluded.active_percent, expected_30d = excluded.expected_30d, \
     expected_90d = excluded.expected_90d, predicted_value = excluded.predicted_value, \
     churn_risk = excluded.churn_risk, scored_at = excluded.scored_at, deposit_days = excluded.deposit_days";

/// Rows per statement: PostgreSQL takes 65,535 parameters; SQLite's statements stay short, as
/// `pitboss_store::exec_values` measured.
fn rows_per_statement(tx: &Tx) -> usize {
    match tx.engine() {
        pitboss_store::Engine::Postgres => 30_000 / WIDTH,
        pitboss_store::Engine::Sqlite => 500 / WIDTH,
    }
}

/// Makes `scored` the current predictions, inside `tx`: every row now names `fit_id`, and rows
/// of players this fit did not score are removed.
pub(crate) async fn replace_predictions(
    tx: &mut Tx,
    fit_id: Uuid,
    scored_at: i64,
    scored: &[Scored],
) -> Result<(), ModelError> {
    for chunk in scored.chunks(rows_per_statement(tx)) {
        let values: Vec<String> = (0..chunk.len())
            .map(|r| {
                let marks: Vec<String> = (1..=WIDTH).map(|c| format!("${}", r * WIDTH + c)).collect();
                format!("({})", marks.join(", "))
            })
            .collect();
        let sql = UPSERT.replace("{values}", &values.join(", "));
        tx!(tx, |c| {
            let mut q = sqlx::query(&sql);
            for s in chunk {
                q = q
                    .bind(s.player_id)
                    .bind(fit_id)
                    .bind(s.p_active)
                    .bind(s.active_percent)
                    .bind(s.expected_30d)
                    .bind(s.expected_90d)
                    .bind(s.predicted_value)
                    .bind(s.churn_risk.as_str())
                    .bind(scored_at)
                    .bind(s.deposit_days);
            }
            q.execute(c).await.map(|r| r.rows_affected())
        })?;
    }
    exec!(tx, "DELETE FROM player_predictions WHERE fit_id <> $1", fit_id)?;
    Ok(())
}
