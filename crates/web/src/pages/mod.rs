//! The operator UI: server-rendered pages (askama templates compiled into the binary, htmx and
//! the stylesheet vendored and served from the binary).
//!
//! Every page is behind the guard (see `guard::ROUTES`); the navigation shows an operator only
//! the modules the policies let them open. Forms post back with the session's CSRF token.

mod access;
mod account;
mod adjustments;
mod alerts;
mod audit;
mod chat;
mod disputes;
mod explain;
pub mod form;
mod kb;
mod models;
mod payments;
mod players;
mod segments;
mod sign_in;
mod templates;
mod tickets;
mod withdrawals;

use askama::Template;
use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use pitboss_auth::policy::{Action, RequestFacts, Resource};

use crate::AppState;
use crate::guard::{Authenticated, decide};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/static/{file}", get(asset))
        .merge(sign_in::router())
        .merge(account::router())
        .merge(access::router())
        .merge(audit::router())
        .merge(segments::router())
        .merge(models::router())
        .merge(payments::router())
        .merge(adjustments::router())
        .merge(players::router())
        .merge(disputes::router())
        .merge(withdrawals::router())
        .merge(alerts::router())
        .merge(tickets::router())
        .merge(templates::router())
        .merge(chat::router())
        .merge(kb::router())
        .merge(explain::router())
}

/// One entry of the navigation.
pub struct NavItem {
    pub label: &'static str,
    pub href: &'static str,
    pub blurb: &'static str,
    pub current: bool,
}

/// The modules of the back office as the navigation lists them, with the action that opens each.
const MODULES: &[(&str, &str, &str, Action)] = &[
    ("Home", "/", "", Action::ShellOpen),
    ("Players", "/players", "Find a player; their profile, money, limits and locks on one page.", Action::PlayerSearch),
    ("Payments", "/payments", "Deposits and withdrawals as they happen, with totals per status.", Action::PaymentRead),
    (
        "Disputes",
        "/disputes",
        "Chargebacks, stuck payments and wrong balances, with notes and resolutions.",
        Action::PaymentRead,
    ),
    (
        "Adjustments",
        "/adjustments",
        "Manual credits and debits waiting for a second officer.",
        Action::LedgerApproveAdjustment,
    ),
    ("Withdrawals", "/withdrawals", "Withdrawals waiting for approval, VIP payouts first.", Action::WithdrawalReview),
    ("Alerts", "/alerts", "What the anomaly rules found, live; acknowledge, assign, resolve.", Action::AlertRead),
    ("Tickets", "/tickets", "The help desk: tickets by urgency, with their SLA clocks.", Action::TicketRead),
    ("Segments", "/segments", "Groups of players, always current, for campaigns and reports.", Action::SegmentRead),
    ("Models", "/models", "Churn risk and lifetime value: fits, diagnostics and refits.", Action::ModelRead),
    ("Operators", "/operators", "Operator accounts, roles and their brands.", Action::AccessRead),
    ("API keys", "/api-keys", "Keys of the casino platform and integrations.", Action::AccessRead),
    ("Audit log", "/audit", "Who did what, with the chain's verification.", Action::AuditRead),
];

/// What the frame of every page needs.
pub struct Shell {
    pub operator: String,
    pub csrf_token: String,
    pub nav: Vec<NavItem>,
    pub notice: Option<String>,
}

impl Shell {
    pub fn new(state: &AppState, auth: &Authenticated, current: &str) -> Shell {
        let nav = MODULES
            .iter()
            .filter(|(_, _, _, action)| {
                decide(state, &auth.caller, *action, &Resource::Module(action.module()), RequestFacts::default())
                    .allowed
            })
            .map(|(label, href, blurb, _)| NavItem { label, href, blurb, current: *href == current })
            .collect();
        Shell {
            operator: auth.caller.actor().trim_start_matches("operator:").to_string(),
            csrf_token: auth.session.as_ref().map(|s| s.session.csrf_token.clone()).unwrap_or_default(),
            nav,
            notice: None,
        }
    }

    pub fn notice(mut self, notice: Option<String>) -> Shell {
        self.notice = notice;
        self
    }
}

/// Renders a template; a template error is our bug, logged and shown as a plain 500.
pub fn render(template: &impl Template) -> Response {
    render_status(StatusCode::OK, template)
}

/// Renders a template answered with `status` (a 500 still, if the template fails).
pub fn render_status(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "the page could not be drawn; the error is in the server log")
                .into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "home.html")]
struct Home {
    shell: Shell,
    roles: Vec<String>,
    brands: Vec<String>,
}

async fn home(axum::extract::State(s): axum::extract::State<AppState>, auth: Authenticated) -> Response {
    let (roles, brands) = match &auth.caller.kind {
        pitboss_auth::CallerKind::Operator { roles, brands, .. } => (roles.clone(), brands.clone()),
        _ => (vec![], vec![]),
    };
    render(&Home { shell: Shell::new(&s, &auth, "/"), roles, brands })
}

#[derive(Template)]
#[template(path = "forbidden.html")]
struct Forbidden {
    action: String,
}

/// The page for a refused request.
pub fn forbidden_page(action: Action) -> Response {
    render_status(StatusCode::FORBIDDEN, &Forbidden { action: action.as_str().to_string() })
}

/// The status of a form page: 422 when it shows why the form was refused.
pub fn form_status(error: &Option<String>) -> StatusCode {
    if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK }
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct Message {
    pub title: String,
    pub detail: String,
    pub link: String,
    pub link_text: String,
}

/// A page saying what went wrong and where to go next.
pub fn message(status: StatusCode, title: &str, detail: impl Into<String>, link: &str, link_text: &str) -> Response {
    render_status(
        status,
        &Message { title: title.into(), detail: detail.into(), link: link.into(), link_text: link_text.into() },
    )
}

/// The vendored assets, compiled into the binary.
const ASSETS: &[(&str, &str, &str)] = &[
    ("htmx.min.js", "text/javascript; charset=utf-8", include_str!("../../static/htmx.min.js")),
    ("app.css", "text/css; charset=utf-8", include_str!("../../static/app.css")),
    ("monitor.js", "text/javascript; charset=utf-8", include_str!("../../static/monitor.js")),
    ("chat-widget.js", "text/javascript; charset=utf-8", include_str!("../../static/chat-widget.js")),
    ("chat-console.js", "text/javascript; charset=utf-8", include_str!("../../static/chat-console.js")),
    ("attach.js", "text/javascript; charset=utf-8", include_str!("../../static/attach.js")),
];

async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, kind, body)) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(kind)),
                (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
            ],
            *body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}

/// Splits a comma- or space-separated form field into trimmed, non-empty values.
/// A select's choices, `chosen` marked.
pub fn choices(all: impl IntoIterator<Item = &'static str>, chosen: &str) -> Vec<(&'static str, bool)> {
    all.into_iter().map(|v| (v, v == chosen)).collect()
}

pub fn split_list(text: &str) -> Vec<String> {
    text.split([',', ' ', '\n']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// A moment as `2026-11-23 15:04:05 UTC`.
pub fn at(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// The status a refused request's page is answered with.
pub fn status_of(problem: &crate::Problem) -> StatusCode {
    StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// What a form just did, carried to the page it redirects to (`?done=...`).
#[derive(Debug, Default, serde::Deserialize)]
pub struct Done {
    pub done: Option<String>,
}

/// Microseconds since the epoch as `2026-11-23 15:04:05 UTC`.
pub fn when(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}
