//! The guard in front of every route: who is calling, and may they?
//!
//! [`ROUTES`] names every route's access rule: public (probes, the API description, sign-in
//! pages, static assets, the FAQ's published articles), part of signing in (the second-factor pages, which check their own
//! session stage), or a Cedar action. The guard looks the matched route up, authenticates the
//! caller (an API key header, or the session cookie with its CSRF token on every state-changing
//! request), asks the policies about the action on the route's module, and only then lets the
//! handler run, with the [`Authenticated`] caller in the request. A route missing from the
//! table is refused: forgetting a rule can never open a route. Handlers ask again about the
//! concrete record where the answer depends on it ([`authorize`]).
//!
//! Refusals of a known caller and rejected credentials (unknown or revoked keys, forged or
//! expired cookies) are audited.

use axum::body::Body;
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use pitboss_auth::policy::{Action, Decision, RequestFacts, Resource};
use pitboss_auth::session::{Session, Stage};
use pitboss_auth::{AuthError, Caller, Origin, audit};
use serde_json::json;

use crate::{AppState, Problem};

/// How a route may be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// By anyone: probes, the API description, sign-in pages, static assets and the FAQ.
    Public,
    /// By a session part-way through signing in; the handler checks the stage.
    SigningIn,
    /// By a caller the policies allow this action on its module.
    Policy(Action),
    /// By another system calling a webhook, whose body it signs with a shared secret
    /// (`Pitboss-Signature`); the handler verifies the signature before it reads the body.
    Signed,
}

/// One route's rule.
#[derive(Debug, Clone)]
pub struct RouteRule {
    pub method: Method,
    /// As the router spells it, e.g. `/api/v1/players/{id}`.
    pub path: &'static str,
    pub access: Access,
}

const fn rule(method: Method, path: &'static str, access: Access) -> RouteRule {
    RouteRule { method, path, access }
}

use Access::{Policy, Public, Signed, SigningIn};
use Action as A;

/// Every route of the application. A test checks that this and the router agree exactly.
pub static ROUTES: &[RouteRule] = &[
    // probes and descriptions: no player data
    rule(Method::GET, "/healthz", Public),
    rule(Method::GET, "/readyz", Public),
    rule(Method::GET, "/metrics", Public),
    rule(Method::GET, "/api/openapi.json", Public),
    rule(Method::GET, "/static/{file}", Public),
    // The player's chat widget: a new chat, or the one its token (checked by the handler) resumes.
    rule(Method::GET, "/chat/widget", Public),
    rule(Method::GET, "/chat/demo", Public),
    // signing in
    rule(Method::GET, "/login", Public),
    rule(Method::POST, "/login", Public),
    rule(Method::GET, "/login/two-factor", SigningIn),
    rule(Method::POST, "/login/two-factor", SigningIn),
    rule(Method::GET, "/login/enrol", SigningIn),
    rule(Method::POST, "/login/enrol", SigningIn),
    rule(Method::GET, "/auth/oidc/login", Public),
    rule(Method::GET, "/auth/oidc/callback", Public),
    // the shell
    rule(Method::GET, "/", Policy(A::ShellOpen)),
    rule(Method::POST, "/logout", Policy(A::ShellOpen)),
    rule(Method::GET, "/account", Policy(A::ShellOpen)),
    rule(Method::POST, "/account/two-factor", Policy(A::ShellOpen)),
    rule(Method::POST, "/account/two-factor/confirm", Policy(A::ShellOpen)),
    rule(Method::POST, "/account/password", Policy(A::ShellOpen)),
    // operators and API keys
    rule(Method::GET, "/operators", Policy(A::AccessRead)),
    rule(Method::POST, "/operators", Policy(A::AccessManage)),
    rule(Method::GET, "/operators/{id}", Policy(A::AccessRead)),
    rule(Method::POST, "/operators/{id}", Policy(A::AccessManage)),
    rule(Method::POST, "/operators/{id}/disable", Policy(A::AccessManage)),
    rule(Method::POST, "/operators/{id}/enable", Policy(A::AccessManage)),
    rule(Method::POST, "/operators/{id}/sessions/end", Policy(A::AccessManage)),
    rule(Method::POST, "/operators/{id}/two-factor/reset", Policy(A::AccessManage)),
    rule(Method::POST, "/operators/{id}/password", Policy(A::AccessManage)),
    rule(Method::GET, "/api-keys", Policy(A::AccessRead)),
    rule(Method::POST, "/api-keys", Policy(A::AccessManage)),
    rule(Method::POST, "/api-keys/{id}/revoke", Policy(A::AccessManage)),
    rule(Method::GET, "/audit", Policy(A::AuditRead)),
    rule(Method::GET, "/players", Policy(A::PlayerSearch)),
    rule(Method::GET, "/players/{id}", Policy(A::PlayerRead)),
    rule(Method::POST, "/players/{id}/locks", Policy(A::LockManage)),
    rule(Method::POST, "/players/{id}/locks/{lock}/lift", Policy(A::LockManage)),
    rule(Method::POST, "/players/{id}/limits", Policy(A::LockManage)),
    rule(Method::GET, "/payments", Policy(A::PaymentRead)),
    rule(Method::GET, "/payments/{id}", Policy(A::PaymentRead)),
    rule(Method::GET, "/disputes", Policy(A::PaymentRead)),
    rule(Method::GET, "/disputes/{id}", Policy(A::PaymentRead)),
    rule(Method::POST, "/disputes/{id}/notes", Policy(A::PaymentChangeStatus)),
    rule(Method::POST, "/disputes/{id}/resolve", Policy(A::PaymentChangeStatus)),
    rule(Method::POST, "/payments/{id}/disputes", Policy(A::PaymentChangeStatus)),
    rule(Method::GET, "/adjustments", Policy(A::LedgerApproveAdjustment)),
    rule(Method::POST, "/adjustments/{id}/approve", Policy(A::LedgerApproveAdjustment)),
    rule(Method::POST, "/adjustments/{id}/reject", Policy(A::LedgerApproveAdjustment)),
    rule(Method::GET, "/withdrawals", Policy(A::WithdrawalReview)),
    rule(Method::POST, "/withdrawals/{id}/approve", Policy(A::WithdrawalApprove)),
    rule(Method::POST, "/withdrawals/{id}/reject", Policy(A::WithdrawalApprove)),
    rule(Method::GET, "/alerts", Policy(A::AlertRead)),
    rule(Method::GET, "/alerts/rows", Policy(A::AlertRead)),
    rule(Method::GET, "/alerts/{id}", Policy(A::AlertRead)),
    rule(Method::POST, "/alerts/{id}/acknowledge", Policy(A::AlertHandle)),
    rule(Method::POST, "/alerts/{id}/assign", Policy(A::AlertHandle)),
    rule(Method::POST, "/alerts/{id}/resolve", Policy(A::AlertHandle)),
    rule(Method::GET, "/anomaly-rules", Policy(A::AlertRead)),
    rule(Method::POST, "/anomaly-rules", Policy(A::AnomalyRuleManage)),
    rule(Method::POST, "/anomaly-rules/{id}", Policy(A::AnomalyRuleManage)),
    rule(Method::POST, "/alert-subscriptions", Policy(A::AlertSubscribe)),
    rule(Method::POST, "/alert-subscriptions/{id}/end", Policy(A::AlertSubscribe)),
    rule(Method::GET, "/tickets", Policy(A::TicketRead)),
    rule(Method::POST, "/tickets", Policy(A::TicketHandle)),
    rule(Method::GET, "/tickets/new", Policy(A::TicketHandle)),
    rule(Method::POST, "/tickets/bulk", Policy(A::TicketHandle)),
    rule(Method::POST, "/tickets/views", Policy(A::TicketRead)),
    rule(Method::GET, "/tickets/{id}", Policy(A::TicketRead)),
    rule(Method::POST, "/tickets/{id}", Policy(A::TicketHandle)),
    rule(Method::POST, "/tickets/{id}/messages", Policy(A::TicketHandle)),
    rule(Method::POST, "/tickets/{id}/merge", Policy(A::TicketHandle)),
    rule(Method::GET, "/helpdesk", Policy(A::TicketRead)),
    rule(Method::POST, "/helpdesk/queues", Policy(A::HelpdeskManage)),
    rule(Method::POST, "/helpdesk/routing", Policy(A::HelpdeskManage)),
    rule(Method::POST, "/helpdesk/routing/{id}/remove", Policy(A::HelpdeskManage)),
    rule(Method::GET, "/helpdesk/templates", Policy(A::TicketRead)),
    rule(Method::GET, "/chat/console", Policy(A::TicketHandle)),
    rule(Method::GET, "/chat/console/rows", Policy(A::TicketHandle)),
    rule(Method::GET, "/chat/console/{id}/ws", Policy(A::TicketHandle)),
    rule(Method::POST, "/helpdesk/templates", Policy(A::HelpdeskManage)),
    rule(Method::POST, "/helpdesk/templates/{id}/remove", Policy(A::HelpdeskManage)),
    rule(Method::POST, "/tickets/{id}/template-preview", Policy(A::TicketHandle)),
    rule(Method::GET, "/tickets/{id}/attachments/{file}", Policy(A::TicketRead)),
    rule(Method::GET, "/kb", Policy(A::TicketRead)),
    rule(Method::POST, "/kb", Policy(A::HelpdeskManage)),
    rule(Method::GET, "/kb/new", Policy(A::HelpdeskManage)),
    rule(Method::GET, "/kb/{id}", Policy(A::TicketRead)),
    rule(Method::POST, "/kb/{id}", Policy(A::HelpdeskManage)),
    rule(Method::POST, "/kb/{id}/publish", Policy(A::HelpdeskManage)),
    rule(Method::POST, "/kb/{id}/archive", Policy(A::HelpdeskManage)),
    rule(Method::GET, "/tickets/{id}/suggestions", Policy(A::TicketRead)),
    rule(Method::GET, "/segments", Policy(A::SegmentRead)),
    rule(Method::POST, "/segments", Policy(A::SegmentManage)),
    rule(Method::GET, "/segments/new", Policy(A::SegmentManage)),
    rule(Method::POST, "/segments/preview", Policy(A::SegmentRead)),
    rule(Method::GET, "/segments/{id}", Policy(A::SegmentRead)),
    rule(Method::POST, "/segments/{id}", Policy(A::SegmentManage)),
    rule(Method::POST, "/segments/{id}/refresh", Policy(A::SegmentManage)),
    rule(Method::GET, "/segments/{id}/members.csv", Policy(A::SegmentRead)),
    rule(Method::GET, "/models", Policy(A::ModelRead)),
    rule(Method::POST, "/models/refit", Policy(A::ModelRefit)),
    rule(Method::GET, "/segments/{id}/players/{player}", Policy(A::SegmentRead)),
    // the REST API
    rule(Method::POST, "/api/v1/events", Policy(A::EventIngest)),
    rule(Method::GET, "/api/v1/events/schemas", Policy(A::EventReadSchemas)),
    rule(Method::GET, "/api/v1/players", Policy(A::PlayerSearch)),
    rule(Method::POST, "/api/v1/players", Policy(A::PlayerCreate)),
    rule(Method::GET, "/api/v1/players/{id}", Policy(A::PlayerRead)),
    rule(Method::PATCH, "/api/v1/players/{id}", Policy(A::PlayerUpdate)),
    rule(Method::GET, "/api/v1/players/{id}/stats", Policy(A::PlayerRead)),
    rule(Method::GET, "/api/v1/players/{id}/balances", Policy(A::LedgerRead)),
    rule(Method::POST, "/api/v1/players/{id}/adjustments", Policy(A::LedgerAdjust)),
    rule(Method::GET, "/api/v1/adjustment-requests", Policy(A::PaymentRead)),
    rule(Method::POST, "/api/v1/adjustment-requests/{id}/approve", Policy(A::LedgerApproveAdjustment)),
    rule(Method::POST, "/api/v1/adjustment-requests/{id}/reject", Policy(A::LedgerApproveAdjustment)),
    rule(Method::GET, "/api/v1/transactions", Policy(A::PaymentRead)),
    rule(Method::GET, "/api/v1/transactions/{id}", Policy(A::PaymentRead)),
    rule(Method::POST, "/api/v1/transactions/{id}/status", Policy(A::PaymentChangeStatus)),
    rule(Method::POST, "/api/v1/transactions/{id}/disputes", Policy(A::PaymentChangeStatus)),
    rule(Method::GET, "/api/v1/disputes", Policy(A::PaymentRead)),
    rule(Method::GET, "/api/v1/disputes/{id}", Policy(A::PaymentRead)),
    rule(Method::POST, "/api/v1/disputes/{id}/notes", Policy(A::PaymentChangeStatus)),
    rule(Method::POST, "/api/v1/disputes/{id}/resolve", Policy(A::PaymentChangeStatus)),
    rule(Method::GET, "/api/v1/payments", Policy(A::PaymentRead)),
    rule(Method::GET, "/api/v1/payments/totals", Policy(A::PaymentRead)),
    rule(Method::GET, "/api/v1/payments/stream", Policy(A::PaymentRead)),
    rule(Method::GET, "/api/v1/audit", Policy(A::AuditRead)),
    rule(Method::GET, "/api/v1/segments", Policy(A::SegmentRead)),
    rule(Method::POST, "/api/v1/segments", Policy(A::SegmentManage)),
    rule(Method::POST, "/api/v1/segments/preview", Policy(A::SegmentRead)),
    rule(Method::GET, "/api/v1/segments/{id}", Policy(A::SegmentRead)),
    rule(Method::PATCH, "/api/v1/segments/{id}", Policy(A::SegmentManage)),
    rule(Method::POST, "/api/v1/segments/{id}/refresh", Policy(A::SegmentManage)),
    rule(Method::GET, "/api/v1/segments/{id}/members", Policy(A::SegmentRead)),
    rule(Method::GET, "/api/v1/segments/{id}/versions", Policy(A::SegmentRead)),
    rule(Method::GET, "/api/v1/segments/{id}/sizes", Policy(A::SegmentRead)),
    rule(Method::GET, "/api/v1/segments/{id}/groups", Policy(A::SegmentRead)),
    rule(Method::GET, "/api/v1/players/{id}/segments", Policy(A::PlayerRead)),
    rule(Method::GET, "/api/v1/models/clv", Policy(A::ModelRead)),
    rule(Method::GET, "/api/v1/models/clv/{id}", Policy(A::ModelRead)),
    rule(Method::POST, "/api/v1/models/clv/refit", Policy(A::ModelRefit)),
    rule(Method::GET, "/api/v1/players/{id}/predictions", Policy(A::PlayerRead)),
    rule(Method::GET, "/api/v1/segments/{id}/players/{player}", Policy(A::SegmentRead)),
    rule(Method::GET, "/api/v1/players/{id}/locks", Policy(A::LockRead)),
    rule(Method::POST, "/api/v1/players/{id}/locks", Policy(A::LockManage)),
    rule(Method::POST, "/api/v1/locks/{id}/lift", Policy(A::LockManage)),
    rule(Method::POST, "/api/v1/players/{id}/checks", Policy(A::PlayerCheck)),
    rule(Method::GET, "/api/v1/players/{id}/exclusions", Policy(A::LockRead)),
    rule(Method::POST, "/api/v1/players/{id}/exclusions", Policy(A::LockManage)),
    rule(Method::GET, "/api/v1/jurisdictions", Policy(A::LockRead)),
    rule(Method::GET, "/api/v1/players/{id}/limits", Policy(A::LockRead)),
    rule(Method::POST, "/api/v1/players/{id}/limits", Policy(A::LockManage)),
    rule(Method::GET, "/api/v1/players/{id}/breaches", Policy(A::LockRead)),
    rule(Method::GET, "/api/v1/withdrawals", Policy(A::WithdrawalReview)),
    rule(Method::GET, "/api/v1/withdrawals/{id}", Policy(A::WithdrawalReview)),
    rule(Method::POST, "/api/v1/withdrawals/{id}/approve", Policy(A::WithdrawalApprove)),
    rule(Method::POST, "/api/v1/withdrawals/{id}/reject", Policy(A::WithdrawalApprove)),
    rule(Method::GET, "/api/v1/alerts", Policy(A::AlertRead)),
    rule(Method::GET, "/api/v1/alerts/{id}", Policy(A::AlertRead)),
    rule(Method::POST, "/api/v1/alerts/{id}/acknowledge", Policy(A::AlertHandle)),
    rule(Method::POST, "/api/v1/alerts/{id}/assign", Policy(A::AlertHandle)),
    rule(Method::POST, "/api/v1/alerts/{id}/resolve", Policy(A::AlertHandle)),
    rule(Method::GET, "/api/v1/players/{id}/alerts", Policy(A::AlertRead)),
    rule(Method::GET, "/api/v1/anomaly-rules", Policy(A::AlertRead)),
    rule(Method::POST, "/api/v1/anomaly-rules", Policy(A::AnomalyRuleManage)),
    rule(Method::GET, "/api/v1/anomaly-rules/{id}", Policy(A::AlertRead)),
    rule(Method::PATCH, "/api/v1/anomaly-rules/{id}", Policy(A::AnomalyRuleManage)),
    rule(Method::GET, "/api/v1/alert-subscriptions", Policy(A::AlertRead)),
    rule(Method::POST, "/api/v1/alert-subscriptions", Policy(A::AlertSubscribe)),
    rule(Method::DELETE, "/api/v1/alert-subscriptions/{id}", Policy(A::AlertSubscribe)),
    rule(Method::GET, "/api/v1/tickets", Policy(A::TicketRead)),
    rule(Method::POST, "/api/v1/tickets", Policy(A::TicketHandle)),
    rule(Method::POST, "/api/v1/tickets/bulk", Policy(A::TicketHandle)),
    rule(Method::GET, "/api/v1/tickets/{id}", Policy(A::TicketRead)),
    rule(Method::PATCH, "/api/v1/tickets/{id}", Policy(A::TicketHandle)),
    rule(Method::POST, "/api/v1/tickets/{id}/messages", Policy(A::TicketHandle)),
    rule(Method::POST, "/api/v1/tickets/{id}/merge", Policy(A::TicketHandle)),
    rule(Method::GET, "/api/v1/players/{id}/tickets", Policy(A::TicketRead)),
    rule(Method::GET, "/api/v1/helpdesk/queues", Policy(A::TicketRead)),
    rule(Method::POST, "/api/v1/helpdesk/queues", Policy(A::HelpdeskManage)),
    rule(Method::GET, "/api/v1/helpdesk/routing", Policy(A::TicketRead)),
    rule(Method::POST, "/api/v1/helpdesk/routing", Policy(A::HelpdeskManage)),
    rule(Method::DELETE, "/api/v1/helpdesk/routing/{id}", Policy(A::HelpdeskManage)),
    rule(Method::GET, "/api/v1/helpdesk/views", Policy(A::TicketRead)),
    rule(Method::POST, "/api/v1/helpdesk/views", Policy(A::TicketRead)),
    rule(Method::DELETE, "/api/v1/helpdesk/views/{id}", Policy(A::TicketRead)),
    rule(Method::POST, "/api/v1/helpdesk/inbound-mail", Signed),
    rule(Method::POST, "/api/v1/helpdesk/calls", Signed),
    rule(Method::GET, "/api/v1/tickets/{id}/calls", Policy(A::TicketRead)),
    rule(Method::POST, "/api/v1/tickets/{id}/attachments", Policy(A::TicketHandle)),
    rule(Method::GET, "/api/v1/tickets/{id}/attachments/{file}", Policy(A::TicketRead)),
    rule(Method::GET, "/api/v1/players/{id}/contacts", Policy(A::TicketRead)),
    rule(Method::GET, "/api/v1/helpdesk/quarantine", Policy(A::TicketRead)),
    rule(Method::GET, "/api/v1/helpdesk/templates", Policy(A::TicketRead)),
    rule(Method::POST, "/api/v1/helpdesk/templates", Policy(A::HelpdeskManage)),
    rule(Method::DELETE, "/api/v1/helpdesk/templates/{id}", Policy(A::HelpdeskManage)),
    rule(Method::POST, "/api/v1/tickets/{id}/template-preview", Policy(A::TicketHandle)),
    rule(Method::GET, "/api/v1/kb/articles", Policy(A::TicketRead)),
    rule(Method::POST, "/api/v1/kb/articles", Policy(A::HelpdeskManage)),
    rule(Method::GET, "/api/v1/kb/articles/{id}", Policy(A::TicketRead)),
    rule(Method::PUT, "/api/v1/kb/articles/{id}", Policy(A::HelpdeskManage)),
    rule(Method::POST, "/api/v1/kb/articles/{id}/publish", Policy(A::HelpdeskManage)),
    rule(Method::POST, "/api/v1/kb/articles/{id}/archive", Policy(A::HelpdeskManage)),
    rule(Method::GET, "/api/v1/tickets/{id}/suggestions", Policy(A::TicketRead)),
    // the casino website's FAQ: published articles only, which are public by being published
    rule(Method::GET, "/api/v1/faq", Public),
    rule(Method::GET, "/api/v1/faq/{slug}", Public),
];

/// The rule for a matched route, if there is one.
pub fn rule_for(method: &Method, path: &str) -> Option<&'static RouteRule> {
    // HEAD is answered by GET routes.
    let method = if method == Method::HEAD { &Method::GET } else { method };
    ROUTES.iter().find(|r| r.method == method && r.path == path)
}

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "pitboss_session";
/// The header htmx and scripts send the CSRF token in; forms send the field `csrf_token`.
pub const CSRF_HEADER: &str = "x-csrf-token";
pub const CSRF_FIELD: &str = "csrf_token";
/// Form bodies read to find the CSRF token; operator forms are small.
const FORM_LIMIT: usize = 1024 * 1024;

/// The caller, as the guard authenticated them; put in the request by [`guard`].
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub caller: Caller,
    /// The session, when the caller signed in through the browser.
    pub session: Option<SessionRef>,
}

/// The session behind a browser request.
#[derive(Debug, Clone)]
pub struct SessionRef {
    pub token: String,
    pub session: Session,
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Problem> {
        // Only the guard puts it there; its absence means a route without a rule.
        parts.extensions.get::<Authenticated>().cloned().ok_or_else(|| {
            tracing::error!(path = %parts.uri.path(), "a handler asked for the caller on a route the guard does not cover");
            Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "this route is not configured for access control")
        })
    }
}

/// The client's address and user agent.
pub fn origin_of(headers: &HeaderMap, peer: Option<std::net::SocketAddr>) -> Origin {
    let user_agent =
        headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(|v| v.chars().take(300).collect());
    Origin { ip: peer.map(|p| p.ip().to_string()), user_agent }
}

/// The client's origin, as an extractor.
pub struct ClientOrigin(pub Origin);

impl<S: Send + Sync> FromRequestParts<S> for ClientOrigin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0);
        Ok(ClientOrigin(origin_of(&parts.headers, peer)))
    }
}

fn peer(req: &Request) -> Option<std::net::SocketAddr> {
    req.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0)
}

/// Whether a path is a page (a browser is sent to sign in) rather than the API (which answers
/// 401 problem details).
fn is_page(path: &str) -> bool {
    !path.starts_with("/api/")
}

/// The value of the cookie `name`, if the request has one.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| cookie::Cookie::split_parse(v.to_string()).filter_map(Result::ok))
        .find(|c| c.name() == name)
        .map(|c| c.value().to_string())
}

/// The session cookie's value, if the request has one.
pub fn session_token(headers: &HeaderMap) -> Option<String> {
    cookie_value(headers, SESSION_COOKIE)
}

/// The middleware.
pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    // The fallback (404/405) has no matched path and no data to protect.
    let Some(path) = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()) else {
        return next.run(req).await;
    };
    let Some(rule) = rule_for(req.method(), &path) else {
        tracing::error!(method = %req.method(), %path, "route without an access rule refused");
        return Problem::new(StatusCode::FORBIDDEN, "forbidden", "this route has no access rule, so it is refused")
            .into_response();
    };
    let action = match rule.access {
        Public | SigningIn | Signed => return next.run(req).await,
        Policy(action) => action,
    };
    let origin = origin_of(req.headers(), peer(&req));
    let (authenticated, req) = match authenticate(&state, req, &origin).await {
        Ok(found) => found,
        Err(refusal) => return refusal,
    };
    let Some(principal) = authenticated.caller.principal() else {
        return Problem::new(StatusCode::FORBIDDEN, "forbidden", "this caller cannot use the API").into_response();
    };
    let decision =
        state.security.policies.decide(&principal, action, &Resource::Module(action.module()), RequestFacts::default());
    if !decision.allowed {
        let target = format!("{} {}", req.method(), req.uri().path());
        return deny(&state, &authenticated.caller, action, "route", &target, &decision, is_page(&path)).await;
    }
    let mut req = req;
    req.extensions_mut().insert(authenticated);
    next.run(req).await
}

/// Asks the policies about `action` on a concrete `resource`; a refusal is audited and becomes
/// a 403 naming the action.
pub async fn authorize(
    state: &AppState,
    caller: &Caller,
    action: Action,
    resource: &Resource,
    facts: RequestFacts,
) -> Result<(), Problem> {
    let decision = decide(state, caller, action, resource, facts);
    if decision.allowed {
        return Ok(());
    }
    let (kind, id) = match resource {
        Resource::Module(m) => ("module", m.as_str().to_string()),
        Resource::Player { id, .. } => ("player", id.to_string()),
        Resource::Adjustment { currency, amount_minor, .. } => ("adjustment", format!("{amount_minor} {currency}")),
    };
    record_denial(state, caller, action, kind, &id, &decision).await;
    Err(forbidden(action))
}

/// The policies' answer, without auditing (for choices such as masking personal data).
pub fn decide(state: &AppState, caller: &Caller, action: Action, resource: &Resource, facts: RequestFacts) -> Decision {
    match caller.principal() {
        Some(principal) => state.security.policies.decide(&principal, action, resource, facts),
        // The system is not governed by policies; it never calls through HTTP anyway.
        None => Decision { allowed: true, policies: vec![], errors: vec![] },
    }
}

fn forbidden(action: Action) -> Problem {
    Problem::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!("you may not do this (`{action}`); ask an administrator if your work needs it"),
    )
}

async fn deny(
    state: &AppState,
    caller: &Caller,
    action: Action,
    kind: &str,
    target: &str,
    decision: &Decision,
    page: bool,
) -> Response {
    record_denial(state, caller, action, kind, target, decision).await;
    if page { crate::pages::forbidden_page(action).into_response() } else { forbidden(action).into_response() }
}

async fn record_denial(
    state: &AppState,
    caller: &Caller,
    action: Action,
    kind: &str,
    target: &str,
    decision: &Decision,
) {
    let entry = caller.audit("access.denied", kind, target).details(json!({
        "action": action.as_str(),
        "policies": decision.policies,
        "errors": decision.errors,
    }));
    if let Err(e) = record_alone(state, &entry).await {
        tracing::error!(error = %e, "could not audit an access denial");
    }
}

/// Writes one audit record in a transaction of its own (for events that change nothing else).
pub async fn record_alone(state: &AppState, entry: &audit::AuditEntry) -> Result<(), pitboss_store::StoreError> {
    let mut tx = state.db.begin().await?;
    audit::record(&mut tx, entry).await?;
    tx.commit().await
}

/// Finds the caller: an API key header, else the session cookie. Browser requests that change
/// something must carry the session's CSRF token.
async fn authenticate(state: &AppState, req: Request, origin: &Origin) -> Result<(Authenticated, Request), Response> {
    let path = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_default();
    let page = is_page(&path);
    let headers = req.headers();
    let bearer =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let key = bearer.or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok())).map(|k| k.trim().to_string());
    if let Some(key) = key {
        return match pitboss_auth::api_key::authenticate(&state.db, &key).await {
            Ok(caller) => Ok((Authenticated { caller: caller.from_origin(origin.clone()), session: None }, req)),
            Err(e @ AuthError::InvalidApiKey) => {
                let prefix: String = key.chars().take(16).collect();
                let entry = audit::AuditEntry::new("anonymous", "api_key.rejected", "api_key", prefix)
                    .client(origin.ip.clone(), origin.user_agent.clone());
                let _ = record_alone(state, &entry).await;
                Err(Problem::from(e).into_response())
            }
            Err(e) => Err(Problem::from(e).into_response()),
        };
    }
    let Some(token) = session_token(req.headers()) else {
        return Err(unauthenticated(page, req.uri()));
    };
    let session = match state.security.sessions.get(&token).await {
        Ok(Some(s)) if s.stage == Stage::SignedIn => s,
        Ok(_) => {
            let entry = audit::AuditEntry::new("anonymous", "session.rejected", "session", "cookie")
                .client(origin.ip.clone(), origin.user_agent.clone())
                .details(json!({ "reason": "unknown, expired or unfinished session" }));
            let _ = record_alone(state, &entry).await;
            return Err(unauthenticated(page, req.uri()));
        }
        Err(e) => return Err(Problem::unavailable(e.to_string()).into_response()),
    };
    let Some(operator_id) = session.operator_id else { return Err(unauthenticated(page, req.uri())) };
    // Read on every request, so that a disabled operator or a changed role takes effect at once.
    let operator = match pitboss_auth::operator::get(&state.db, operator_id).await {
        Ok(Some(op)) if op.disabled_at.is_none() => op,
        Ok(_) => {
            let _ = state.security.sessions.end_all(operator_id).await;
            return Err(unauthenticated(page, req.uri()));
        }
        Err(e) => return Err(Problem::from(e).into_response()),
    };
    let caller = Caller::operator(&operator, origin.clone());
    let req = if is_safe(req.method()) {
        req
    } else {
        match check_csrf(req, &session.csrf_token).await {
            Ok(req) => req,
            Err(why) => {
                let _ = record_alone(
                    state,
                    &caller.audit("csrf.rejected", "route", &path).details(json!({ "reason": why })),
                )
                .await;
                return Err(Problem::new(
                    StatusCode::FORBIDDEN,
                    "csrf",
                    "this form is out of date or did not come from Pitboss (its CSRF token is missing or wrong); reload the page and try again",
                )
                .into_response());
            }
        }
    };
    Ok((Authenticated { caller, session: Some(SessionRef { token, session }) }, req))
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn unauthenticated(page: bool, uri: &axum::http::Uri) -> Response {
    if page {
        let next = url::form_urlencoded::byte_serialize(uri.path().as_bytes()).collect::<String>();
        Redirect::to(&format!("/login?next={next}")).into_response()
    } else {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "send an API key as 'Authorization: Bearer <key>' (create one with 'pitboss api-key create'), or sign in",
        )
        .into_response()
    }
}

/// Accepts the CSRF token from the header, or from the `csrf_token` field of a form body (which
/// is read and put back for the handler).
async fn check_csrf(req: Request, expected: &str) -> Result<Request, &'static str> {
    if let Some(sent) = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()) {
        return if same(sent, expected) { Ok(req) } else { Err("wrong token in the header") };
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err("no token");
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, FORM_LIMIT).await.map_err(|_| "the form is too large")?;
    let sent = url::form_urlencoded::parse(&bytes).find(|(k, _)| k == CSRF_FIELD).map(|(_, v)| v.into_owned());
    match sent {
        Some(sent) if same(&sent, expected) => Ok(Request::from_parts(parts, Body::from(bytes))),
        Some(_) => Err("wrong token in the form"),
        None => Err("no token"),
    }
}

/// Whether a token sent matches the expected one, compared in constant time.
pub(crate) fn same(sent: &str, expected: &str) -> bool {
    pitboss_auth::secret::same(sent.as_bytes(), expected.as_bytes())
}
