//! The anomaly alerts' API: the alerts the caller may see (their players'), one alert with the
//! events that hit it, and acknowledging, assigning and resolving one; the anomaly rules, read
//! and changed without a code change. Every step audited in the transaction of the change.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use pitboss_auth::policy::{Action, Module, RequestFacts, Resource};
use pitboss_auth::{Caller, audit};
use pitboss_ops::alerts::{self, Alert, AlertFilter, AlertState, MAX_PAGE, Outcome};
use pitboss_ops::anomaly_rules::{self, AnomalyRule, RuleInput, Severity};
use pitboss_ops::notifications::{self, NewSubscription, Subscription};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::extract::{Json, Path, Query};
use crate::guard::{Authenticated, authorize};
use crate::routes::ops::authorize_player;
use crate::routes::players::only_allowed;
use crate::{AppState, Problem};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/alerts", get(list))
        .route("/alerts/{id}", get(fetch))
        .route("/alerts/{id}/acknowledge", post(acknowledge))
        .route("/alerts/{id}/assign", post(assign))
        .route("/alerts/{id}/resolve", post(resolve))
        .route("/players/{id}/alerts", get(player_alerts))
        .route("/anomaly-rules", get(rules).post(create_rule))
        .route("/anomaly-rules/{id}", get(rule).patch(change_rule))
        .route("/alert-subscriptions", get(subscriptions).post(subscribe))
        .route("/alert-subscriptions/{id}", axum::routing::delete(unsubscribe))
}

/// Which alerts to list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertQuery {
    /// States, comma-separated: `open`, `acknowledged`, `resolved`, `shadow`; default
    /// `open,acknowledged`.
    pub state: Option<String>,
    /// This severity and above: `low`, `medium`, `high`, `critical`.
    pub min_severity: Option<String>,
    pub rule: Option<Uuid>,
    pub player: Option<Uuid>,
    pub assignee: Option<String>,
    /// Only alerts changed after this instant (RFC 3339): what a live panel polls for.
    pub changed_after: Option<DateTime<Utc>>,
    /// 1 to 500, default 50.
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

impl AlertQuery {
    pub(crate) fn filter(&self) -> Result<AlertFilter, Problem> {
        let states = match self.state.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(|s| {
                    s.trim().parse::<AlertState>().map_err(|e| Problem::validation("state", format!("state: {e}")))
                })
                .collect::<Result<_, _>>()?,
        };
        let min_severity = match self.min_severity.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => Some(
                s.parse::<Severity>().map_err(|e| Problem::validation("min_severity", format!("min_severity: {e}")))?,
            ),
        };
        Ok(AlertFilter {
            states,
            min_severity,
            rule: self.rule,
            player: self.player,
            assignee: self.assignee.clone().filter(|a| !a.trim().is_empty()),
            changed_after: self.changed_after,
        })
    }
}

/// Alerts, as the caller may see them.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertPage {
    pub items: Vec<Alert>,
}

/// Alerts matching the filters, newest change first, only about players the caller may see.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "ops", params(AlertQuery),
    responses((status = 200, body = AlertPage), (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn list(
    State(s): State<AppState>,
    auth: Authenticated,
    Query(q): Query<AlertQuery>,
) -> Result<axum::Json<AlertPage>, Problem> {
    Ok(axum::Json(AlertPage { items: visible_alerts(&s, &auth.caller, &q).await? }))
}

/// The alerts the query asks for that the caller may see.
pub(crate) async fn visible_alerts(s: &AppState, caller: &Caller, q: &AlertQuery) -> Result<Vec<Alert>, Problem> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(Problem::validation("limit", format!("limit: must be between 1 and {MAX_PAGE}")));
    }
    let found = alerts::list(&s.db, &q.filter()?, limit, q.offset.unwrap_or(0)).await?;
    Ok(only_allowed(s, caller, Action::AlertRead, found, |a| a.player_id).await)
}

/// An alert, with every event that hit its rule.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertDetail {
    #[serde(flatten)]
    pub alert: Alert,
    pub hit_events: Vec<HitEvent>,
}

/// One event that hit the alert's rule.
#[derive(Debug, Serialize, ToSchema)]
pub struct HitEvent {
    pub event_id: Uuid,
    pub occurred_at: DateTime<Utc>,
}

/// An alert with its evidence and the events that hit it.
#[utoipa::path(get, path = "/api/v1/alerts/{id}", tag = "ops", params(("id" = Uuid, Path)),
    responses((status = 200, body = AlertDetail), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn fetch(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<AlertDetail>, Problem> {
    Ok(axum::Json(alert_detail(&s, &auth.caller, id).await?))
}

pub(crate) async fn alert_detail(s: &AppState, caller: &Caller, id: Uuid) -> Result<AlertDetail, Problem> {
    let alert = alerts::get(&s.db, id).await?;
    authorize_player(s, caller, Action::AlertRead, alert.player_id).await?;
    let hit_events = alerts::hit_events(&s.db, id)
        .await?
        .into_iter()
        .map(|(event_id, occurred_at)| HitEvent { event_id, occurred_at })
        .collect();
    Ok(AlertDetail { alert, hit_events })
}

/// Take an open alert: it is the caller's to look at, and assigned to them unless it was
/// assigned already. Refused (409) when someone acknowledged it first.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/acknowledge", tag = "ops", params(("id" = Uuid, Path)),
    responses((status = 200, body = Alert), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn acknowledge(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Alert>, Problem> {
    Ok(axum::Json(handle(&s, &auth.caller, id, Step::Acknowledge).await?))
}

/// Whom to give an alert to.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AssignRequest {
    /// The operator's name, e.g. `operator:olga`.
    pub assignee: String,
}

/// Give an unresolved alert to an operator.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/assign", tag = "ops", params(("id" = Uuid, Path)), request_body = AssignRequest,
    responses((status = 200, body = Alert), (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn assign(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
    Json(req): Json<AssignRequest>,
) -> Result<axum::Json<Alert>, Problem> {
    Ok(axum::Json(handle(&s, &auth.caller, id, Step::Assign(&req.assignee)).await?))
}

/// How an alert ends.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ResolveRequest {
    pub outcome: Outcome,
    /// What was found or done; required.
    pub note: String,
}

/// Resolve an unresolved alert with its outcome and a note.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/resolve", tag = "ops", params(("id" = Uuid, Path)), request_body = ResolveRequest,
    responses((status = 200, body = Alert), (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn resolve(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
    Json(req): Json<ResolveRequest>,
) -> Result<axum::Json<Alert>, Problem> {
    Ok(axum::Json(handle(&s, &auth.caller, id, Step::Resolve(req.outcome, &req.note)).await?))
}

/// An operator's step on an alert.
pub(crate) enum Step<'a> {
    Acknowledge,
    Assign(&'a str),
    Resolve(Outcome, &'a str),
}

/// Takes the step for the caller, if the policies let them for the alert's player, and audits
/// it in the same transaction.
pub(crate) async fn handle(s: &AppState, caller: &Caller, id: Uuid, step: Step<'_>) -> Result<Alert, Problem> {
    let alert = alerts::get(&s.db, id).await?;
    authorize_player(s, caller, Action::AlertHandle, alert.player_id).await?;
    let (now, actor) = (Utc::now(), caller.actor());
    let mut tx = s.db.begin().await?;
    let (action, alert) = match step {
        Step::Acknowledge => ("alert.acknowledge", alerts::acknowledge(&mut tx, id, &actor, now).await?),
        Step::Assign(to) => ("alert.assign", alerts::assign(&mut tx, id, to, now).await?),
        Step::Resolve(outcome, note) => {
            ("alert.resolve", alerts::resolve(&mut tx, id, outcome, note, &actor, now).await?)
        }
    };
    let mut record = caller.audit(action, "alert", id).details(json!({
        "player_id": alert.player_id, "rule": alert.rule_name, "state": alert.state,
        "assignee": alert.assignee, "outcome": alert.outcome,
    }));
    if let Some(note) = &alert.resolution {
        record = record.reason(note.clone());
    }
    audit::record(&mut tx, &record).await?;
    tx.commit().await?;
    Ok(alert)
}

/// A player's alerts of every state but shadow, newest change first.
#[utoipa::path(get, path = "/api/v1/players/{id}/alerts", tag = "ops", params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<Alert>), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn player_alerts(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(player): Path<Uuid>,
) -> Result<axum::Json<Vec<Alert>>, Problem> {
    Ok(axum::Json(alerts_of(&s, &auth.caller, player).await?))
}

pub(crate) async fn alerts_of(s: &AppState, caller: &Caller, player: Uuid) -> Result<Vec<Alert>, Problem> {
    authorize_player(s, caller, Action::AlertRead, player).await?;
    let filter = AlertFilter {
        states: vec![AlertState::Open, AlertState::Acknowledged, AlertState::Resolved],
        player: Some(player),
        ..Default::default()
    };
    Ok(alerts::list(&s.db, &filter, 100, 0).await?)
}

/// Every anomaly rule, by name.
#[utoipa::path(get, path = "/api/v1/anomaly-rules", tag = "ops",
    responses((status = 200, body = Vec<AnomalyRule>)), security(("api_key" = [])))]
pub async fn rules(State(s): State<AppState>, _auth: Authenticated) -> Result<axum::Json<Vec<AnomalyRule>>, Problem> {
    Ok(axum::Json(anomaly_rules::list(&s.db).await?))
}

/// An anomaly rule.
#[utoipa::path(get, path = "/api/v1/anomaly-rules/{id}", tag = "ops", params(("id" = Uuid, Path)),
    responses((status = 200, body = AnomalyRule), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn rule(
    State(s): State<AppState>,
    _auth: Authenticated,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<AnomalyRule>, Problem> {
    Ok(axum::Json(anomaly_rules::get(&s.db, id).await?))
}

/// A new anomaly rule: events, a condition in the rule language, window, dedup, severity and
/// mode (`shadow` unless said otherwise, so that it records hits before it alerts anyone).
#[utoipa::path(post, path = "/api/v1/anomaly-rules", tag = "ops", request_body = RuleInput,
    responses((status = 201, body = AnomalyRule), (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn create_rule(
    State(s): State<AppState>,
    auth: Authenticated,
    Json(input): Json<RuleInput>,
) -> Result<(StatusCode, axum::Json<AnomalyRule>), Problem> {
    Ok((StatusCode::CREATED, axum::Json(save_rule(&s, &auth.caller, None, input).await?)))
}

/// Change an anomaly rule (what is left out stays): a new version, in force for the next event.
#[utoipa::path(patch, path = "/api/v1/anomaly-rules/{id}", tag = "ops", params(("id" = Uuid, Path)), request_body = RuleInput,
    responses((status = 200, body = AnomalyRule), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn change_rule(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
    Json(input): Json<RuleInput>,
) -> Result<axum::Json<AnomalyRule>, Problem> {
    Ok(axum::Json(save_rule(&s, &auth.caller, Some(id), input).await?))
}

/// Creates a rule, or changes rule `id`, audited with what it became.
pub(crate) async fn save_rule(
    s: &AppState,
    caller: &Caller,
    id: Option<Uuid>,
    input: RuleInput,
) -> Result<AnomalyRule, Problem> {
    let module = Resource::Module(Module::Ops);
    authorize(s, caller, Action::AnomalyRuleManage, &module, RequestFacts::default()).await?;
    let (now, actor) = (Utc::now(), caller.actor());
    let mut tx = s.db.begin().await?;
    let (action, rule) = match id {
        None => ("anomaly_rule.create", anomaly_rules::create(&mut tx, input, &actor, now).await?),
        Some(id) => ("anomaly_rule.update", anomaly_rules::update(&mut tx, id, input, &actor, now).await?),
    };
    let record = caller.audit(action, "anomaly_rule", rule.id).details(json!({
        "name": rule.name, "version": rule.version, "events": rule.events, "condition": rule.condition,
        "window_minutes": rule.window_minutes, "dedup_minutes": rule.dedup_minutes,
        "severity": rule.severity, "mode": rule.mode,
    }));
    audit::record(&mut tx, &record).await?;
    tx.commit().await?;
    Ok(rule)
}

/// The caller's alert subscriptions.
#[utoipa::path(get, path = "/api/v1/alert-subscriptions", tag = "ops",
    responses((status = 200, body = Vec<Subscription>)), security(("api_key" = [])))]
pub async fn subscriptions(
    State(s): State<AppState>,
    auth: Authenticated,
) -> Result<axum::Json<Vec<Subscription>>, Problem> {
    Ok(axum::Json(notifications::list(&s.db, &auth.caller.actor()).await?))
}

/// A subscription as created: with a webhook's signing secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct Subscribed {
    #[serde(flatten)]
    pub subscription: Subscription,
    /// Signs each delivery (`Pitboss-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
    /// "<t>.<body>">`); keep it, it is not shown again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// Subscribe the caller to alerts, by email or webhook, from a severity up, for some rules or all.
#[utoipa::path(post, path = "/api/v1/alert-subscriptions", tag = "ops", request_body = NewSubscription,
    responses((status = 201, body = Subscribed), (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn subscribe(
    State(s): State<AppState>,
    auth: Authenticated,
    Json(new): Json<NewSubscription>,
) -> Result<(StatusCode, axum::Json<Subscribed>), Problem> {
    Ok((StatusCode::CREATED, axum::Json(subscribe_caller(&s, &auth.caller, new).await?)))
}

pub(crate) async fn subscribe_caller(
    s: &AppState,
    caller: &Caller,
    new: NewSubscription,
) -> Result<Subscribed, Problem> {
    let mut tx = s.db.begin().await?;
    let (subscription, secret) = notifications::subscribe(&mut tx, &s.db, &caller.actor(), new, Utc::now()).await?;
    let record = caller.audit("alert.subscribe", "alert_subscription", subscription.id).details(json!({
        "channel": subscription.channel, "target": subscription.target,
        "min_severity": subscription.min_severity, "rules": subscription.rules,
    }));
    audit::record(&mut tx, &record).await?;
    tx.commit().await?;
    Ok(Subscribed { subscription, secret })
}

/// End one of the caller's subscriptions.
#[utoipa::path(delete, path = "/api/v1/alert-subscriptions/{id}", tag = "ops", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn unsubscribe(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, Problem> {
    unsubscribe_caller(&s, &auth.caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn unsubscribe_caller(s: &AppState, caller: &Caller, id: Uuid) -> Result<(), Problem> {
    let mut tx = s.db.begin().await?;
    notifications::unsubscribe(&mut tx, id, &caller.actor(), Utc::now()).await?;
    audit::record(&mut tx, &caller.audit("alert.unsubscribe", "alert_subscription", id)).await?;
    tx.commit().await?;
    Ok(())
}
