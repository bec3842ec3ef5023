//! Anomaly alerts in the UI: the live list (its rows poll for changes every few seconds, so a
//! new alert appears without a reload), an alert's page with its evidence and the acknowledge,
//! assign and resolve forms, and the rules page where thresholds, windows, severities and modes
//! are changed and new rules written.

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use pitboss_auth::policy::{Action, Module, RequestFacts, Resource};
use pitboss_ops::alerts::{Alert, AlertState, Outcome, TraceLine};
use pitboss_ops::anomaly_rules::{self, AnomalyRule, RuleInput, RuleMode, Severity};
use pitboss_ops::notifications::{self, Channel, NewSubscription};
use uuid::Uuid;

use super::form::FormData;
use super::{Done, Shell, at as when, choices, message, render, render_status, split_list, status_of};
use crate::guard::{Authenticated, decide};
use crate::routes::alerts::{
    AlertQuery, Step, alert_detail, handle, save_rule, subscribe_caller, unsubscribe_caller, visible_alerts,
};
use crate::{AppState, Problem};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/alerts", get(list))
        .route("/alerts/rows", get(rows))
        .route("/alerts/{id}", get(page))
        .route("/alerts/{id}/acknowledge", post(acknowledge))
        .route("/alerts/{id}/assign", post(assign))
        .route("/alerts/{id}/resolve", post(resolve))
        .route("/anomaly-rules", get(rules).post(create_rule))
        .route("/anomaly-rules/{id}", post(change_rule))
        .route("/alert-subscriptions", post(subscribe))
        .route("/alert-subscriptions/{id}/end", post(unsubscribe))
}

/// An alert as a row shows it.
pub(crate) struct Row {
    pub(crate) id: Uuid,
    pub(crate) raised: String,
    pub(crate) severity: &'static str,
    pub(crate) rule: String,
    pub(crate) player: Uuid,
    pub(crate) hits: i64,
    pub(crate) state: &'static str,
    pub(crate) assignee: String,
    pub(crate) open: bool,
}

pub(crate) fn row(a: &Alert) -> Row {
    Row {
        id: a.id,
        raised: when(a.raised_at),
        severity: a.severity.as_str(),
        rule: a.rule_name.clone(),
        player: a.player_id,
        hits: a.hits,
        state: a.state.as_str(),
        assignee: a.assignee.clone().unwrap_or_default(),
        open: a.state == AlertState::Open,
    }
}

/// The list's filters, carried into the rows' poll.
#[derive(Debug, Default, serde::Deserialize)]
struct Filters {
    state: Option<String>,
    min_severity: Option<String>,
    done: Option<String>,
}

impl Filters {
    fn query(&self) -> AlertQuery {
        AlertQuery {
            state: self.state.clone(),
            min_severity: self.min_severity.clone(),
            limit: Some(200),
            ..Default::default()
        }
    }

    /// The query string the rows poll with.
    fn poll(&self) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [("state", &self.state), ("min_severity", &self.min_severity)] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                query.append_pair(k, v);
            }
        }
        query.finish()
    }
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct ListPage {
    shell: Shell,
    rows: Vec<Row>,
    can_handle: bool,
    poll: String,
    state: String,
    /// Each choice, and whether it is the one shown.
    states: Vec<(&'static str, bool)>,
    severities: Vec<(&'static str, bool)>,
    /// The operator's own subscriptions: id, how, where, from which severity, which rules.
    subscriptions: Vec<(Uuid, &'static str, String, &'static str, String)>,
    can_subscribe: bool,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "alert_rows.html")]
struct RowsFragment {
    shell: Shell,
    rows: Vec<Row>,
    can_handle: bool,
    poll: String,
}

fn can_handle(s: &AppState, auth: &Authenticated) -> bool {
    decide(s, &auth.caller, Action::AlertHandle, &Resource::Module(Module::Ops), RequestFacts::default()).allowed
}

async fn list(State(s): State<AppState>, auth: Authenticated, Query(f): Query<Filters>) -> Response {
    let notice = f.done.as_ref().map(|d| format!("The alert is {d}."));
    list_page(&s, &auth, f, notice, None).await
}

async fn list_page(
    s: &AppState,
    auth: &Authenticated,
    f: Filters,
    notice: Option<String>,
    error: Option<(StatusCode, String)>,
) -> Response {
    let (rows, error) = match (visible_alerts(s, &auth.caller, &f.query()).await, error) {
        (Ok(found), error) => (found.iter().map(row).collect(), error),
        (Err(p), _) => (Vec::new(), Some((status_of(&p), p.detail))),
    };
    let subscriptions = notifications::list(&s.db, &auth.caller.actor()).await.unwrap_or_default();
    let module = Resource::Module(Module::Ops);
    let status = error.as_ref().map_or(StatusCode::OK, |(s, _)| *s);
    let page = ListPage {
        can_handle: can_handle(s, auth),
        can_subscribe: decide(s, &auth.caller, Action::AlertSubscribe, &module, RequestFacts::default()).allowed,
        subscriptions: subscriptions
            .into_iter()
            .map(|x| (x.id, x.channel.as_str(), x.target, x.min_severity.as_str(), x.rules.join(", ")))
            .collect(),
        shell: Shell::new(s, auth, "/alerts").notice(notice),
        rows,
        poll: f.poll(),
        states: choices(AlertState::ALL.iter().map(|s| s.as_str()), f.state.as_deref().unwrap_or_default()),
        severities: choices(Severity::ALL.iter().map(|s| s.as_str()), f.min_severity.as_deref().unwrap_or_default()),
        state: f.state.unwrap_or_default(),
        error: error.map(|(_, e)| e),
    };
    render_status(status, &page)
}

/// The list's rows alone, for the poll.
async fn rows(State(s): State<AppState>, auth: Authenticated, Query(f): Query<Filters>) -> Response {
    match visible_alerts(&s, &auth.caller, &f.query()).await {
        Ok(found) => render(&RowsFragment {
            can_handle: can_handle(&s, &auth),
            shell: Shell::new(&s, &auth, "/alerts"),
            rows: found.iter().map(row).collect(),
            poll: f.poll(),
        }),
        Err(p) => (status_of(&p), p.detail).into_response(),
    }
}

#[derive(Template)]
#[template(path = "alert.html")]
struct AlertPage {
    shell: Shell,
    a: Row,
    alert: Alert,
    event_type: String,
    event_at: String,
    payload: String,
    condition: String,
    window: String,
    trace: Vec<TraceLine>,
    hit_events: Vec<(Uuid, String)>,
    acknowledged: String,
    resolved: String,
    unresolved: bool,
    can_handle: bool,
    /// Each outcome and its label.
    outcomes: Vec<(&'static str, String)>,
    error: Option<String>,
}

async fn page(State(s): State<AppState>, auth: Authenticated, Path(id): Path<Uuid>, Query(d): Query<Done>) -> Response {
    alert_page(&s, &auth, id, d.done.map(|d| format!("The alert is {d}.")), None).await
}

async fn alert_page(
    s: &AppState,
    auth: &Authenticated,
    id: Uuid,
    notice: Option<String>,
    error: Option<(StatusCode, String)>,
) -> Response {
    let detail = match alert_detail(s, &auth.caller, id).await {
        Ok(d) => d,
        Err(p) => return message(status_of(&p), "Alerts", p.detail, "/alerts", "Back to the alerts"),
    };
    let alert = detail.alert;
    let evidence = &alert.evidence;
    let trace = alert.trace_lines();
    let by = |who: &Option<String>, at: Option<chrono::DateTime<chrono::Utc>>| match (who, at) {
        (Some(who), Some(at)) => format!("{who}, {}", when(at)),
        _ => String::new(),
    };
    let status = error.as_ref().map_or(StatusCode::OK, |(s, _)| *s);
    let page = AlertPage {
        shell: Shell::new(s, auth, "/alerts").notice(notice),
        a: row(&alert),
        event_type: evidence["event"]["type"].as_str().unwrap_or_default().to_string(),
        event_at: evidence["event"]["occurred_at"].as_str().unwrap_or_default().to_string(),
        payload: serde_json::to_string_pretty(&evidence["event"]["payload"]).unwrap_or_default(),
        condition: evidence["condition"].as_str().unwrap_or_default().to_string(),
        window: evidence["window_minutes"].as_i64().map(|m| format!("{m} minutes")).unwrap_or_default(),
        trace,
        hit_events: detail.hit_events.into_iter().map(|h| (h.event_id, when(h.occurred_at))).collect(),
        acknowledged: by(&alert.acknowledged_by, alert.acknowledged_at),
        resolved: by(&alert.resolved_by, alert.resolved_at),
        unresolved: matches!(alert.state, AlertState::Open | AlertState::Acknowledged),
        can_handle: can_handle(s, auth),
        outcomes: Outcome::ALL.iter().map(|o| (o.as_str(), o.as_str().replace('_', " "))).collect(),
        alert,
        error: error.map(|(_, e)| e),
    };
    render_status(status, &page)
}

/// After a step: back where it was taken (the list, or the alert's page), or the alert's page
/// with why it was refused.
async fn stepped(s: &AppState, auth: &Authenticated, id: Uuid, step: Step<'_>, back: Option<&str>) -> Response {
    match handle(s, &auth.caller, id, step).await {
        Ok(alert) if back == Some("list") => Redirect::to(&format!("/alerts?done={}", alert.state)).into_response(),
        Ok(alert) => Redirect::to(&format!("/alerts/{id}?done={}", alert.state)).into_response(),
        Err(p) => alert_page(s, auth, id, None, Some((status_of(&p), p.detail))).await,
    }
}

async fn acknowledge(State(s): State<AppState>, auth: Authenticated, Path(id): Path<Uuid>, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    stepped(&s, &auth, id, Step::Acknowledge, form.get("back")).await
}

async fn assign(State(s): State<AppState>, auth: Authenticated, Path(id): Path<Uuid>, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    stepped(&s, &auth, id, Step::Assign(form.get("assignee").unwrap_or_default()), None).await
}

async fn resolve(State(s): State<AppState>, auth: Authenticated, Path(id): Path<Uuid>, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let Some(outcome) = form.get("outcome").and_then(Outcome::from_name) else {
        let why = "Choose the outcome: confirmed, false positive or no action.".to_string();
        return alert_page(&s, &auth, id, None, Some((StatusCode::UNPROCESSABLE_ENTITY, why))).await;
    };
    stepped(&s, &auth, id, Step::Resolve(outcome, form.get("note").unwrap_or_default()), None).await
}

/// A rule as its form shows it.
struct RuleForm {
    id: Uuid,
    name: String,
    description: String,
    events: String,
    condition: String,
    window_minutes: i64,
    dedup_minutes: i64,
    severity: &'static str,
    mode: &'static str,
    severities: Vec<(&'static str, bool)>,
    modes: Vec<(&'static str, bool)>,
    version: i64,
    updated: String,
}

fn rule_form(r: AnomalyRule) -> RuleForm {
    RuleForm {
        id: r.id,
        name: r.name,
        description: r.description,
        events: r.events.join(", "),
        condition: r.condition,
        window_minutes: r.window_minutes,
        dedup_minutes: r.dedup_minutes,
        severity: r.severity.as_str(),
        mode: r.mode.as_str(),
        severities: choices(Severity::ALL.iter().map(|s| s.as_str()), r.severity.as_str()),
        modes: choices(RuleMode::ALL.iter().map(|m| m.as_str()), r.mode.as_str()),
        version: r.version,
        updated: format!("{} by {}", when(r.updated_at), r.updated_by),
    }
}

#[derive(Template)]
#[template(path = "anomaly_rules.html")]
struct RulesPage {
    shell: Shell,
    rules: Vec<RuleForm>,
    can_manage: bool,
    /// The new rule form's choices, with its defaults chosen.
    severities: Vec<(&'static str, bool)>,
    modes: Vec<(&'static str, bool)>,
    error: Option<String>,
}

async fn rules(State(s): State<AppState>, auth: Authenticated, Query(d): Query<Done>) -> Response {
    rules_page(&s, &auth, d.done.map(|name| format!("Rule \"{name}\" saved.")), None).await
}

async fn rules_page(
    s: &AppState,
    auth: &Authenticated,
    notice: Option<String>,
    error: Option<(StatusCode, String)>,
) -> Response {
    let (rules, error) = match anomaly_rules::list(&s.db).await {
        Ok(rules) => (rules, error),
        Err(e) => (Vec::new(), Some((StatusCode::SERVICE_UNAVAILABLE, Problem::from(e).detail))),
    };
    let module = Resource::Module(Module::Ops);
    let status = error.as_ref().map_or(StatusCode::OK, |(s, _)| *s);
    let page = RulesPage {
        shell: Shell::new(s, auth, "/alerts").notice(notice),
        rules: rules.into_iter().map(rule_form).collect(),
        can_manage: decide(s, &auth.caller, Action::AnomalyRuleManage, &module, RequestFacts::default()).allowed,
        severities: choices(Severity::ALL.iter().map(|s| s.as_str()), Severity::Medium.as_str()),
        modes: choices(RuleMode::ALL.iter().map(|m| m.as_str()), RuleMode::Shadow.as_str()),
        error: error.map(|(_, e)| e),
    };
    render_status(status, &page)
}

/// A rule form's fields; an empty number is left out (a change keeps it, a new rule defaults).
fn rule_input(form: &FormData) -> Result<RuleInput, Problem> {
    let number = |field: &'static str| -> Result<Option<i64>, Problem> {
        match form.get(field).map(str::trim).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| Problem::validation(field, format!("{field}: a whole number"))),
        }
    };
    let text = |field: &str| form.get(field).map(str::to_string);
    Ok(RuleInput {
        name: text("name"),
        description: text("description"),
        events: form.get("events").map(split_list),
        condition: text("condition"),
        window_minutes: number("window_minutes")?,
        dedup_minutes: number("dedup_minutes")?,
        severity: form.get("severity").and_then(Severity::from_name),
        mode: form.get("mode").and_then(RuleMode::from_name),
    })
}

async fn saved(s: &AppState, auth: &Authenticated, id: Option<Uuid>, body: &[u8]) -> Response {
    let form = FormData::parse(body);
    let result = match rule_input(&form) {
        Ok(input) => save_rule(s, &auth.caller, id, input).await,
        Err(p) => Err(p),
    };
    match result {
        Ok(rule) => {
            let done: String = url::form_urlencoded::byte_serialize(rule.name.as_bytes()).collect();
            Redirect::to(&format!("/anomaly-rules?done={done}")).into_response()
        }
        Err(p) => rules_page(s, auth, None, Some((status_of(&p), p.detail))).await,
    }
}

async fn create_rule(State(s): State<AppState>, auth: Authenticated, body: Bytes) -> Response {
    saved(&s, &auth, None, &body).await
}

async fn change_rule(State(s): State<AppState>, auth: Authenticated, Path(id): Path<Uuid>, body: Bytes) -> Response {
    saved(&s, &auth, Some(id), &body).await
}

async fn subscribe(State(s): State<AppState>, auth: Authenticated, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let Some(channel) = form.get("channel").and_then(Channel::from_name) else {
        let why = "Choose how to be told: email or webhook.".to_string();
        return list_page(&s, &auth, Filters::default(), None, Some((StatusCode::UNPROCESSABLE_ENTITY, why))).await;
    };
    let new = NewSubscription {
        channel,
        target: form.get("target").unwrap_or_default().to_string(),
        min_severity: form.get("min_severity").and_then(Severity::from_name),
        rules: form.get("rules").map(split_list).unwrap_or_default(),
    };
    match subscribe_caller(&s, &auth.caller, new).await {
        Ok(made) => {
            let notice = match made.secret {
                Some(secret) => format!("Subscribed. The webhook's signing secret, shown only this once: {secret}"),
                None => "Subscribed.".to_string(),
            };
            list_page(&s, &auth, Filters::default(), Some(notice), None).await
        }
        Err(p) => list_page(&s, &auth, Filters::default(), None, Some((status_of(&p), p.detail))).await,
    }
}

async fn unsubscribe(State(s): State<AppState>, auth: Authenticated, Path(id): Path<Uuid>) -> Response {
    match unsubscribe_caller(&s, &auth.caller, id).await {
        Ok(()) => Redirect::to("/alerts?done=unsubscribed").into_response(),
        Err(p) => list_page(&s, &auth, Filters::default(), None, Some((status_of(&p), p.detail))).await,
    }
}
