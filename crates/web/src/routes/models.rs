//! The churn and lifetime value models' API: their fits with the diagnostics, a refit on
//! demand, and a player's predictions.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use pitboss_auth::Caller;
use pitboss_auth::policy::{Action, RequestFacts};
use pitboss_models::{ClvFit, FitPage, ModelError, PlayerPrediction, RefitSettings, Requester};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::extract::{Path, Query};
use crate::guard::{Authenticated, authorize};
use crate::routes::players::resource;
use crate::{AppState, Problem};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/models/clv", get(list))
        .route("/models/clv/refit", post(refit))
        .route("/models/clv/{id}", get(fetch))
        .route("/players/{id}/predictions", get(player_predictions))
}

impl From<ModelError> for Problem {
    fn from(e: ModelError) -> Problem {
        match e {
            ModelError::FitNotFound(_) => Problem::not_found(e.to_string()),
            // The messages start with the field at fault (`limit: ...`).
            ModelError::Invalid(m) => {
                let field = m.split(':').next().unwrap_or_default().trim().to_string();
                Problem::validation(field, m)
            }
            ModelError::Interrupted(_) => {
                tracing::error!(error = %e, "a refit did not finish");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the refit did not finish; the cause is in the server log, and nothing was recorded",
                )
            }
            ModelError::Store(s) => s.into(),
            ModelError::Players(p) => p.into(),
            ModelError::Ledger(l) => l.into(),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FitQuery {
    /// The `next` of the previous page.
    pub after: Option<Uuid>,
    /// 1 to 100, default 20.
    pub limit: Option<u32>,
}

/// Fits of the churn (BG/NBD) and deposit value (Gamma-Gamma) models, newest first, each with
/// its parameters, log-likelihoods, convergence, holdout calibration and churn-band counts.
#[utoipa::path(get, path = "/api/v1/models/clv", tag = "models", params(FitQuery),
    responses((status = 200, body = FitPage), (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn list(
    State(s): State<AppState>,
    _auth: Authenticated,
    Query(q): Query<FitQuery>,
) -> Result<axum::Json<FitPage>, Problem> {
    Ok(axum::Json(pitboss_models::fits(&s.db, q.after, q.limit.unwrap_or(20)).await?))
}

/// One fit.
#[utoipa::path(get, path = "/api/v1/models/clv/{id}", tag = "models", params(("id" = Uuid, Path)),
    responses((status = 200, body = ClvFit), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn fetch(
    State(s): State<AppState>,
    _auth: Authenticated,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<ClvFit>, Problem> {
    Ok(axum::Json(pitboss_models::fit(&s.db, id).await?))
}

/// Refit both models on every player's deposits now and replace every player's predictions.
/// Answers the recorded fit: `succeeded`, or `failed` with the reason (too few depositors, say),
/// in which case the previous predictions stay. Audited.
#[utoipa::path(post, path = "/api/v1/models/clv/refit", tag = "models",
    responses((status = 201, body = ClvFit), (status = 503, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn refit(State(s): State<AppState>, auth: Authenticated) -> Result<Response, Problem> {
    let fit = refit_clv(&s, &auth.caller).await?;
    let location = HeaderValue::from_str(&format!("/api/v1/models/clv/{}", fit.id))
        .unwrap_or(HeaderValue::from_static("/api/v1/models/clv"));
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], axum::Json(fit)).into_response())
}

/// Refits for `caller` and records it (the API and the page both refit through here).
pub(crate) async fn refit_clv(s: &AppState, caller: &Caller) -> Result<ClvFit, Problem> {
    let who = Requester::caller(caller);
    Ok(pitboss_models::refit_detached(s.db.clone(), s.rates.clone(), RefitSettings::default(), who).await?)
}

/// A player's predictions, with the currency their value is in.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlayerPredictionView {
    #[serde(flatten)]
    pub prediction: PlayerPrediction,
    /// The player's currency (ISO 4217): `predicted_value` is in its minor units.
    pub currency: String,
}

/// What the churn and lifetime value models say about the player: probability of being an
/// active depositor, expected deposits in the next 30 and 90 days, predicted lifetime value
/// and churn-risk band, from the latest successful fit.
#[utoipa::path(get, path = "/api/v1/players/{id}/predictions", tag = "models", params(("id" = Uuid, Path)),
    responses((status = 200, body = PlayerPredictionView), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn player_predictions(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<PlayerPredictionView>, Problem> {
    let player = pitboss_players::get(&s.db, id).await?;
    authorize(&s, &auth.caller, Action::PlayerRead, &resource(&player), RequestFacts::default()).await?;
    let prediction = pitboss_models::prediction(&s.db, id).await?.ok_or_else(|| {
        Problem::not_found(
            "the models have not scored this player yet: they are refitted every clv_refit_hours, \
             or on demand (POST /api/v1/models/clv/refit)",
        )
    })?;
    Ok(axum::Json(PlayerPredictionView { prediction, currency: player.currency.as_str().to_string() }))
}
