//! What is stored and answered: fits with their diagnostics, and each player's predictions.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pitboss_core::string_enum!(
    /// Who asked for a refit: the schedule (`clv_refit_hours`), someone through the API or the
    /// page, or `pitboss model refit`.
    FitTrigger {
        Schedule => "schedule",
        Operator => "operator",
        Cli => "cli",
    }
);

pitboss_core::string_enum!(
    /// How a refit ended. A failed fit keeps the previous predictions in place.
    FitStatus {
        Succeeded => "succeeded",
        Failed => "failed",
    }
);

pitboss_core::string_enum!(
    /// How worried to be that a player has stopped depositing, from `p_active`: `low` at 0.7 and
    /// above, `medium` from 0.3, `high` below.
    ChurnBand {
        Low => "low",
        Medium => "medium",
        High => "high",
    }
);

impl From<pitboss_clv::ChurnRisk> for ChurnBand {
    fn from(r: pitboss_clv::ChurnRisk) -> Self {
        match r {
            pitboss_clv::ChurnRisk::Low => ChurnBand::Low,
            pitboss_clv::ChurnRisk::Medium => ChurnBand::Medium,
            pitboss_clv::ChurnRisk::High => ChurnBand::High,
        }
    }
}

/// One refit: when, why, by whom, how it ended, and its diagnostics.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ClvFit {
    pub id: Uuid,
    /// Microseconds since the Unix epoch.
    pub fitted_at: i64,
    pub trigger: FitTrigger,
    /// `system` for the schedule, `operator:<name>` or `api-key:<name>`, `cli:<user>`.
    pub requested_by: String,
    pub status: FitStatus,
    /// Why a failed fit failed.
    pub error: Option<String>,
    /// The currency the models were fitted in (ISO 4217); deposits of other currencies were
    /// converted with the reference rates.
    pub currency: String,
    /// Players with deposits the models were fitted to.
    pub players: i64,
    /// Parameters, log-likelihoods, convergence, the holdout calibration, band counts and the
    /// data used (see `FitReport` in `pitboss-models`).
    #[schema(value_type = Object)]
    pub report: serde_json::Value,
}

/// One page of fits, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FitPage {
    pub items: Vec<ClvFit>,
    /// Pass as `after` for the next page; absent on the last.
    pub next: Option<Uuid>,
}

/// What the models say about one player now. Estimates for targeting, never ledger amounts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PlayerPrediction {
    pub player_id: Uuid,
    /// The fit these come from.
    pub fit_id: Uuid,
    /// Probability that the player is still an active depositor (0 to 1).
    pub p_active: f64,
    /// `floor(p_active × 100)`, as the rule language compares it.
    pub active_percent: i64,
    /// Expected deposit days in the next 30 and 90 days.
    pub expected_30d: f64,
    pub expected_90d: f64,
    /// Predicted lifetime value (12 months, discounted), integer minor units of the player's
    /// currency.
    pub predicted_value: i64,
    pub churn_risk: ChurnBand,
    /// Microseconds since the Unix epoch.
    pub scored_at: i64,
    /// Days with a completed deposit up to the fit; 0 means never deposited, and the figures
    /// are the defaults for that case (not active, nothing expected, high risk).
    pub deposit_days: i64,
}
