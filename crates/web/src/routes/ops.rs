//! The operations API: account locks, time-outs and self-exclusions under the jurisdiction
//! profiles, and the casino platform's "may this player act now?".

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use pitboss_auth::audit;
use pitboss_auth::policy::{Action, RequestFacts};
use pitboss_auth::{Caller, CallerKind};
use pitboss_core::money::Currency;
use pitboss_ops::locks::{self, OPERATOR_ORIGIN};
use pitboss_ops::{
    CheckAnswer, CheckRequest, Exclusion, ExclusionKind, Jurisdictions, LimitChange, LimitKind, LimitOrigin,
    LimitPeriod, Lock, LockScope, NewExclusion, NewLimit, NewLock, Profile,
};
use pitboss_ops::{exclusions, limits};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::extract::{Json, Path};
use crate::guard::{Authenticated, authorize};
use crate::routes::players::resource;
use crate::{AppState, Problem};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/players/{id}/locks", get(locks).post(set_lock))
        .route("/locks/{id}/lift", post(lift_lock))
        .route("/players/{id}/checks", post(check))
        .route("/players/{id}/exclusions", get(player_exclusions).post(exclude))
        .route("/jurisdictions", get(jurisdictions))
        .route("/players/{id}/limits", get(player_limits).post(set_limit))
        .route("/players/{id}/breaches", get(player_breaches))
}

/// A lock as shown: the record and whether it is in force now.
#[derive(Debug, Serialize, ToSchema)]
pub struct LockView {
    #[serde(flatten)]
    pub lock: Lock,
    pub in_force: bool,
}

fn view(lock: Lock, now: DateTime<Utc>) -> LockView {
    let in_force = lock.in_force(now);
    LockView { lock, in_force }
}

/// Checks that the caller may `action` this player (their brand, their VIP tier), and returns
/// the player.
pub(crate) async fn authorize_player(
    s: &AppState,
    caller: &Caller,
    action: Action,
    player: Uuid,
) -> Result<pitboss_players::Player, Problem> {
    let p = pitboss_players::get(&s.db, player).await?;
    authorize(s, caller, action, &resource(&p), RequestFacts::default()).await?;
    Ok(p)
}

/// Every lock of a player, newest first, in force or not.
#[utoipa::path(get, path = "/api/v1/players/{id}/locks", tag = "ops", params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<LockView>), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn locks(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(player): Path<Uuid>,
) -> Result<axum::Json<Vec<LockView>>, Problem> {
    authorize_player(&s, &auth.caller, Action::LockRead, player).await?;
    let now = Utc::now();
    Ok(axum::Json(locks::for_player(&s.db, player).await?.into_iter().map(|l| view(l, now)).collect()))
}

/// A lock to set.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LockRequest {
    /// What it closes: `all`, `deposits`, `withdrawals`, `gameplay` or `bonuses`.
    pub scope: LockScope,
    /// Why; kept with the lock and in the audit log.
    pub reason: String,
    /// When it ends by itself (RFC 3339); never if left out.
    pub expires_at: Option<DateTime<Utc>>,
    /// The module or system an API key speaks for (e.g. `kyc`); `platform` if left out. An
    /// operator's locks are always `operator`.
    pub origin: Option<String>,
}

/// Lock a player's account wholly or in part.
#[utoipa::path(post, path = "/api/v1/players/{id}/locks", tag = "ops", params(("id" = Uuid, Path)), request_body = LockRequest,
    responses((status = 201, body = LockView), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn set_lock(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(player): Path<Uuid>,
    Json(req): Json<LockRequest>,
) -> Result<(StatusCode, axum::Json<LockView>), Problem> {
    Ok((StatusCode::CREATED, axum::Json(set_lock_for(&s, &auth.caller, player, &req).await?)))
}

/// Sets a lock for the caller, if they may manage this player's locks; audited.
pub(crate) async fn set_lock_for(
    s: &AppState,
    caller: &Caller,
    player: Uuid,
    req: &LockRequest,
) -> Result<LockView, Problem> {
    authorize_player(s, caller, Action::LockManage, player).await?;
    let origin = match (&caller.kind, req.origin.as_deref()) {
        (CallerKind::Operator { .. }, Some(o)) if o != OPERATOR_ORIGIN => {
            return Err(Problem::validation("origin", "origin: an operator's lock is the operator's; leave it out"));
        }
        (CallerKind::Operator { .. }, _) => OPERATOR_ORIGIN,
        (_, Some(o)) => o,
        (_, None) => "platform",
    };
    let now = Utc::now();
    let actor = caller.actor();
    let new =
        NewLock { player, scope: req.scope, reason: &req.reason, origin, expires_at: req.expires_at, set_by: &actor };
    let mut tx = s.db.begin().await?;
    let lock = locks::set(&mut tx, &new, now).await?;
    audit::record(
        &mut tx,
        &caller.audit("ops.lock_set", "player", player).reason(lock.reason.clone()).after(json!(lock)),
    )
    .await?;
    tx.commit().await?;
    Ok(view(lock, now))
}

/// Why a lock is lifted.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LiftRequest {
    pub reason: String,
}

/// Lift a lock in force, with a reason. A lock already lifted or expired is a conflict.
#[utoipa::path(post, path = "/api/v1/locks/{id}/lift", tag = "ops", params(("id" = Uuid, Path)), request_body = LiftRequest,
    responses((status = 200, body = LockView), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn lift_lock(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
    Json(req): Json<LiftRequest>,
) -> Result<axum::Json<LockView>, Problem> {
    Ok(axum::Json(lift_lock_for(&s, &auth.caller, id, &req.reason).await?))
}

/// Lifts a lock for the caller, if they may manage its player's locks; audited.
pub(crate) async fn lift_lock_for(s: &AppState, caller: &Caller, id: Uuid, reason: &str) -> Result<LockView, Problem> {
    let lock = locks::get(&s.db, id).await?;
    authorize_player(s, caller, Action::LockManage, lock.player_id).await?;
    let now = Utc::now();
    let mut tx = s.db.begin().await?;
    let (before, after) = locks::lift(&mut tx, id, &caller.actor(), reason, now).await?;
    audit::record(
        &mut tx,
        &caller
            .audit("ops.lock_lifted", "lock", id)
            .reason(reason.trim().to_string())
            .before(json!(before))
            .after(json!(after)),
    )
    .await?;
    tx.commit().await?;
    Ok(view(after, now))
}

/// May this player do this now? Allow or deny, with the reason: the account's status and every
/// lock in force are honoured.
#[utoipa::path(post, path = "/api/v1/players/{id}/checks", tag = "ops", params(("id" = Uuid, Path)), request_body = CheckRequest,
    responses((status = 200, body = CheckAnswer), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn check(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(player): Path<Uuid>,
    Json(req): Json<CheckRequest>,
) -> Result<axum::Json<CheckAnswer>, Problem> {
    let now = Utc::now();
    // The player's standing is read while the profile is: what is read for a caller the
    // policies refuse is dropped unseen.
    let (p, standing) = tokio::join!(
        authorize_player(&s, &auth.caller, Action::PlayerCheck, player),
        pitboss_ops::checks::standing(&s.db, player, now)
    );
    let (p, standing) = (p?, standing?);
    let answer =
        pitboss_ops::checks::check_with(&s.db, Jurisdictions::shipped(), &s.rates, &p, standing, &req, now).await?;
    Ok(axum::Json(answer))
}

/// The jurisdiction profiles: each regulator's cooling-off, time-outs, self-exclusions and caps.
#[utoipa::path(get, path = "/api/v1/jurisdictions", tag = "ops",
    responses((status = 200, body = Vec<Profile>)), security(("api_key" = [])))]
pub async fn jurisdictions(_auth: Authenticated) -> axum::Json<Vec<Profile>> {
    axum::Json(Jurisdictions::shipped().all().cloned().collect())
}

/// Every time-out and self-exclusion of a player, newest first.
#[utoipa::path(get, path = "/api/v1/players/{id}/exclusions", tag = "ops", params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<Exclusion>), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn player_exclusions(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(player): Path<Uuid>,
) -> Result<axum::Json<Vec<Exclusion>>, Problem> {
    authorize_player(&s, &auth.caller, Action::LockRead, player).await?;
    Ok(axum::Json(exclusions::for_player(&s.db, player).await?))
}

/// A break the player asked for.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExclusionRequest {
    /// `timeout` or `self_exclusion`.
    pub kind: ExclusionKind,
    /// Its length in days, as the player's jurisdiction allows; leave it out for a
    /// self-exclusion without end.
    pub days: Option<u32>,
    pub reason: Option<String>,
}

/// Start a time-out or a self-exclusion now. It cannot be lifted: it ends at its end, and a new
/// one may only reach further (a conflict otherwise). Withdrawals stay open.
#[utoipa::path(post, path = "/api/v1/players/{id}/exclusions", tag = "ops", params(("id" = Uuid, Path)), request_body = ExclusionRequest,
    responses((status = 201, body = Exclusion), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn exclude(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(player): Path<Uuid>,
    Json(req): Json<ExclusionRequest>,
) -> Result<(StatusCode, axum::Json<Exclusion>), Problem> {
    authorize_player(&s, &auth.caller, Action::LockManage, player).await?;
    let caller = &auth.caller;
    let actor = caller.actor();
    let new =
        NewExclusion { player, kind: req.kind, days: req.days, reason: req.reason.as_deref(), requested_by: &actor };
    let mut tx = s.db.begin().await?;
    let started = exclusions::start(&mut tx, Jurisdictions::shipped(), &new, Utc::now()).await?;
    audit::record(&mut tx, &caller.audit("ops.exclusion_started", "player", player).after(json!(started))).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(started)))
}

/// A player's limits: those in force now, and every change (waiting ones included), newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct LimitsView {
    pub in_force: Vec<LimitChange>,
    pub changes: Vec<LimitChange>,
}

/// A player's responsible-gambling limits.
#[utoipa::path(get, path = "/api/v1/players/{id}/limits", tag = "ops", params(("id" = Uuid, Path)),
    responses((status = 200, body = LimitsView), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn player_limits(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(player): Path<Uuid>,
) -> Result<axum::Json<LimitsView>, Problem> {
    authorize_player(&s, &auth.caller, Action::LockRead, player).await?;
    let in_force = limits::in_force(&s.db, player, Utc::now()).await?;
    Ok(axum::Json(LimitsView { in_force, changes: limits::changes(&s.db, player).await? }))
}

/// A limit to set, raise, lower or remove.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitRequest {
    /// `deposit`, `wager` (stakes), `loss` (stakes less wins), `session_time` (minutes played)
    /// or `reality_check` (minutes between reality checks).
    pub kind: LimitKind,
    /// `day`, `week` or `month`: the last 24 hours, 7 days or 30 days; a reality check has none
    /// (`day` if given).
    pub period: Option<LimitPeriod>,
    /// `player` (asked by the player: an increase or removal waits for the cooling-off) or
    /// `operator` (the casino's own, at once). Operators may set only `operator` limits.
    pub origin: LimitOrigin,
    /// Minor units of `currency`, or minutes for a time limit; leave it out to remove the limit.
    pub amount: Option<i64>,
    /// ISO 4217, for a money limit; none for a time limit.
    pub currency: Option<Currency>,
    pub reason: Option<String>,
}

/// Set, raise, lower or remove a limit. The answer says when it applies.
#[utoipa::path(post, path = "/api/v1/players/{id}/limits", tag = "ops", params(("id" = Uuid, Path)), request_body = LimitRequest,
    responses((status = 201, body = LimitChange), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn set_limit(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(player): Path<Uuid>,
    Json(req): Json<LimitRequest>,
) -> Result<(StatusCode, axum::Json<LimitChange>), Problem> {
    Ok((StatusCode::CREATED, axum::Json(set_limit_for(&s, &auth.caller, player, &req).await?)))
}

/// Changes a limit for the caller, if they may manage this player's limits; audited.
pub(crate) async fn set_limit_for(
    s: &AppState,
    caller: &Caller,
    player: Uuid,
    req: &LimitRequest,
) -> Result<LimitChange, Problem> {
    authorize_player(s, caller, Action::LockManage, player).await?;
    if matches!(caller.kind, CallerKind::Operator { .. }) && req.origin != LimitOrigin::Operator {
        return Err(Problem::validation("origin", "origin: an operator sets the casino's own limits (operator)"));
    }
    let actor = caller.actor();
    let period = match (req.period, req.kind) {
        (Some(p), _) => p,
        (None, LimitKind::RealityCheck) => LimitPeriod::Day,
        (None, _) => return Err(Problem::validation("period", "period: day, week or month")),
    };
    let new = NewLimit {
        player,
        kind: req.kind,
        period,
        origin: req.origin,
        amount: req.amount,
        currency: req.currency,
        reason: req.reason.as_deref(),
        requested_by: &actor,
    };
    let mut tx = s.db.begin().await?;
    let change = limits::set(&mut tx, Jurisdictions::shipped(), &s.rates, &new, Utc::now()).await?;
    audit::record(&mut tx, &caller.audit("ops.limit_changed", "player", player).after(json!(change))).await?;
    tx.commit().await?;
    Ok(change)
}

/// A player's flagged events: deposits and rounds that went through although a limit, a lock,
/// a break or the account's status should have stopped them; newest first.
#[utoipa::path(get, path = "/api/v1/players/{id}/breaches", tag = "ops", params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<pitboss_ops::breaches::Breach>), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn player_breaches(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(player): Path<Uuid>,
) -> Result<axum::Json<Vec<pitboss_ops::breaches::Breach>>, Problem> {
    authorize_player(&s, &auth.caller, Action::LockRead, player).await?;
    Ok(axum::Json(pitboss_ops::breaches::for_player(&s.db, player).await?))
}
