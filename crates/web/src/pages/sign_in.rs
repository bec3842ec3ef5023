//! Signing in and out: password, then the second factor (or enrolment, where the operator's role
//! requires two-factor authentication and none is set up), or single sign-on.
//!
//! Each step moves the session on under a new token. The sign-in form carries a token that
//! must match a cookie set with the form (double submit), so that no other site can sign a
//! browser in to an account of its choosing.

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use pitboss_auth::operator::{OperatorInfo, totp};
use pitboss_auth::session::{Session, Stage};
use pitboss_auth::{AuthError, Caller, audit};
use serde::Deserialize;
use serde_json::json;

use super::{message, render, render_status};
use crate::AppState;
use crate::guard::{
    CSRF_FIELD, ClientOrigin, SESSION_COOKIE, cookie_value, origin_of, record_alone, same, session_token,
};
use crate::pages::form::FormData;

/// The double-submit cookie of the sign-in form.
const LOGIN_COOKIE: &str = "pitboss_login";
/// Wrong second-factor codes a session may give before it must start again with the password
/// (which the lockout throttles).
const MAX_CODE_FAILURES: u32 = 5;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_form).post(login))
        .route("/login/two-factor", get(two_factor_form).post(two_factor))
        .route("/login/enrol", get(enrol_form).post(enrol))
        .route("/logout", post(logout))
        .route("/auth/oidc/login", get(sso_start))
        .route("/auth/oidc/callback", get(sso_callback))
}

#[derive(Template)]
#[template(path = "login.html")]
struct Login {
    csrf_token: String,
    next: String,
    username: String,
    error: Option<String>,
    sso: bool,
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

/// Only a path on this site, never `//other.site` or a full URL: no open redirect.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\") => n.to_string(),
        _ => "/".to_string(),
    }
}

fn cookie(state: &AppState, name: &str, value: &str, path: &str, same_site: cookie::SameSite) -> HeaderValue {
    let cookie = cookie::Cookie::build((name, value))
        .http_only(true)
        .secure(state.security.secure_cookies)
        .same_site(same_site)
        .path(path.to_string())
        .build();
    HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn clear_cookie(state: &AppState, name: &str, path: &str) -> HeaderValue {
    let cookie = cookie::Cookie::build((name, ""))
        .http_only(true)
        .secure(state.security.secure_cookies)
        .path(path.to_string())
        .max_age(cookie::time::Duration::ZERO)
        .build();
    HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A response that sets the session cookie and goes to `to`.
fn with_session(state: &AppState, token: &str, to: &str) -> Response {
    let mut response = Redirect::to(to).into_response();
    let value = cookie(state, SESSION_COOKIE, token, "/", cookie::SameSite::Lax);
    response.headers_mut().append(header::SET_COOKIE, value);
    response
}

fn login_page(state: &AppState, next: String, username: String, error: Option<String>, status: StatusCode) -> Response {
    let token = pitboss_auth::secret::random_token();
    let mut response = render_status(
        status,
        &Login { csrf_token: token.clone(), next, username, error, sso: state.security.oidc.is_some() },
    );
    response
        .headers_mut()
        .append(header::SET_COOKIE, cookie(state, LOGIN_COOKIE, &token, "/login", cookie::SameSite::Strict));
    response
}

async fn login_form(State(s): State<AppState>, Query(q): Query<NextQuery>) -> Response {
    login_page(&s, safe_next(q.next.as_deref()), String::new(), None, StatusCode::OK)
}

async fn login(
    State(s): State<AppState>,
    ClientOrigin(origin): ClientOrigin,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = FormData::parse(&body);
    let next = safe_next(form.get("next"));
    let username = form.get("username").unwrap_or_default().trim().to_string();
    let sent = form.get(CSRF_FIELD).unwrap_or_default();
    if !cookie_value(&headers, LOGIN_COOKIE).is_some_and(|c| !c.is_empty() && same(&c, sent)) {
        let entry = audit::AuditEntry::new("anonymous", "csrf.rejected", "route", "POST /login")
            .client(origin.ip.clone(), origin.user_agent.clone());
        let _ = record_alone(&s, &entry).await;
        let why = "the sign-in form expired or did not come from Pitboss; please try again".to_string();
        return login_page(&s, next, username, Some(why), StatusCode::FORBIDDEN);
    }
    let password = form.get("password").unwrap_or_default();
    let operator = match pitboss_auth::operator::sign_in::sign_in(&s.db, &username, password, &origin).await {
        Ok(op) => op,
        Err(e @ (AuthError::InvalidCredentials | AuthError::AccountDisabled { .. })) => {
            return login_page(&s, next, username, Some(e.to_string()), StatusCode::UNAUTHORIZED);
        }
        Err(e @ AuthError::TooManyAttempts { .. }) => {
            return login_page(&s, next, username, Some(e.to_string()), StatusCode::TOO_MANY_REQUESTS);
        }
        Err(e) => {
            tracing::error!(error = %e, "sign-in failed");
            return login_page(
                &s,
                next,
                username,
                Some("signing in failed; try again".into()),
                StatusCode::SERVICE_UNAVAILABLE,
            );
        }
    };
    let stage = next_stage(&s, &operator);
    let to = match stage {
        Stage::SecondFactor => "/login/two-factor".to_string(),
        Stage::Enrolment => "/login/enrol".to_string(),
        _ => next,
    };
    match s.security.sessions.start(Some(operator.id), stage, origin.ip, origin.user_agent).await {
        Ok((token, _)) => {
            let mut response = with_session(&s, &token, &to);
            response.headers_mut().append(header::SET_COOKIE, clear_cookie(&s, LOGIN_COOKIE, "/login"));
            response
        }
        Err(e) => message(StatusCode::SERVICE_UNAVAILABLE, "Sign-in failed", e.to_string(), "/login", "Try again"),
    }
}

/// What comes after the password.
fn next_stage(s: &AppState, operator: &OperatorInfo) -> Stage {
    if operator.two_factor {
        Stage::SecondFactor
    } else if operator.roles.iter().any(|r| s.security.two_factor_roles.contains(r)) {
        Stage::Enrolment
    } else {
        Stage::SignedIn
    }
}

/// The session of a request part-way through signing in, if it is at `stage`.
async fn signing_in(s: &AppState, headers: &HeaderMap, stage: &Stage) -> Option<(String, Session, OperatorInfo)> {
    let token = session_token(headers)?;
    let session = s.security.sessions.get(&token).await.ok()??;
    if &session.stage != stage {
        return None;
    }
    let operator = pitboss_auth::operator::get(&s.db, session.operator_id?).await.ok()??;
    if operator.disabled_at.is_some() {
        return None;
    }
    Some((token, session, operator))
}

fn start_again() -> Response {
    Redirect::to("/login").into_response()
}

#[derive(Template)]
#[template(path = "two_factor.html")]
struct TwoFactor {
    csrf_token: String,
    error: Option<String>,
}

async fn two_factor_form(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let Some((_, session, _)) = signing_in(&s, &headers, &Stage::SecondFactor).await else { return start_again() };
    render(&TwoFactor { csrf_token: session.csrf_token, error: None })
}

async fn two_factor(
    State(s): State<AppState>,
    ClientOrigin(origin): ClientOrigin,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((token, mut session, operator)) = signing_in(&s, &headers, &Stage::SecondFactor).await else {
        return start_again();
    };
    let form = FormData::parse(&body);
    if !same(form.get(CSRF_FIELD).unwrap_or_default(), &session.csrf_token) {
        return start_again();
    }
    let caller = Caller::operator(&operator, origin.clone());
    match totp::verify(&s.db, operator.id, form.get("code").unwrap_or_default(), &caller).await {
        Ok(_) => match s.security.sessions.advance(&token, session, Some(operator.id), Stage::SignedIn).await {
            Ok((token, _)) => with_session(&s, &token, "/"),
            Err(e) => message(StatusCode::SERVICE_UNAVAILABLE, "Sign-in failed", e.to_string(), "/login", "Try again"),
        },
        Err(e) => {
            session.failures += 1;
            if session.failures >= MAX_CODE_FAILURES {
                let _ = s.security.sessions.end(&token).await;
                return message(
                    StatusCode::UNAUTHORIZED,
                    "Too many wrong codes",
                    "Sign in again with your password.",
                    "/login",
                    "Sign in",
                );
            }
            let _ = s.security.sessions.save(&token, &session).await;
            render_status(
                StatusCode::UNAUTHORIZED,
                &TwoFactor { csrf_token: session.csrf_token, error: Some(e.to_string()) },
            )
        }
    }
}

#[derive(Template)]
#[template(path = "enrol.html")]
pub(super) struct Enrol {
    pub csrf_token: String,
    pub why: String,
    pub qr_svg: String,
    pub secret: String,
    pub action: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "recovery_codes.html")]
pub(super) struct RecoveryCodes {
    pub codes: Vec<String>,
    pub next: String,
}

const ENROL_WHY: &str = "Your role requires two-factor authentication. Set it up now to finish signing in.";

async fn enrol_form(State(s): State<AppState>, ClientOrigin(origin): ClientOrigin, headers: HeaderMap) -> Response {
    let Some((_, session, operator)) = signing_in(&s, &headers, &Stage::Enrolment).await else { return start_again() };
    let caller = Caller::operator(&operator, origin.clone());
    match totp::begin_enrolment(&s.db, operator.id, &caller).await {
        Ok(e) => render(&Enrol {
            csrf_token: session.csrf_token,
            why: ENROL_WHY.into(),
            qr_svg: e.qr_svg,
            secret: e.secret,
            action: "/login/enrol".into(),
            error: None,
        }),
        Err(e) => message(StatusCode::SERVICE_UNAVAILABLE, "Enrolment failed", e.to_string(), "/login", "Start again"),
    }
}

async fn enrol(
    State(s): State<AppState>,
    ClientOrigin(origin): ClientOrigin,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((token, session, operator)) = signing_in(&s, &headers, &Stage::Enrolment).await else {
        return start_again();
    };
    let form = FormData::parse(&body);
    if !same(form.get(CSRF_FIELD).unwrap_or_default(), &session.csrf_token) {
        return start_again();
    }
    let caller = Caller::operator(&operator, origin.clone());
    match totp::confirm_enrolment(&s.db, operator.id, form.get("code").unwrap_or_default(), &caller).await {
        Ok(codes) => match s.security.sessions.advance(&token, session, Some(operator.id), Stage::SignedIn).await {
            Ok((token, _)) => {
                let mut response = render(&RecoveryCodes { codes, next: "/".into() });
                let value = cookie(&s, SESSION_COOKIE, &token, "/", cookie::SameSite::Lax);
                response.headers_mut().append(header::SET_COOKIE, value);
                response
            }
            Err(e) => message(StatusCode::SERVICE_UNAVAILABLE, "Sign-in failed", e.to_string(), "/login", "Try again"),
        },
        // The page is drawn again with a fresh secret; the one that failed stays pending.
        Err(e) => {
            message(StatusCode::UNAUTHORIZED, "That code did not work", e.to_string(), "/login/enrol", "Try again")
        }
    }
}

async fn logout(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = session_token(&headers) {
        if let Ok(Some(session)) = s.security.sessions.get(&token).await
            && let Some(id) = session.operator_id
            && let Ok(Some(op)) = pitboss_auth::operator::get(&s.db, id).await
        {
            let caller = Caller::operator(&op, origin_of(&headers, None));
            let _ = record_alone(&s, &caller.audit("operator.sign_out", "operator", id)).await;
        }
        let _ = s.security.sessions.end(&token).await;
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().append(header::SET_COOKIE, clear_cookie(&s, SESSION_COOKIE, "/"));
    response
}

async fn sso_start(State(s): State<AppState>, ClientOrigin(origin): ClientOrigin) -> Response {
    let Some(oidc) = s.security.oidc.clone() else {
        return message(
            StatusCode::NOT_FOUND,
            "Single sign-on is off",
            "Sign in with your username and password.",
            "/login",
            "Sign in",
        );
    };
    let (url, pending) = oidc.begin();
    let pending = serde_json::to_value(&pending).unwrap_or_default();
    match s.security.sessions.start(None, Stage::SingleSignOn { pending }, origin.ip, origin.user_agent).await {
        Ok((token, _)) => with_session(&s, &token, url.as_str()),
        Err(e) => message(StatusCode::SERVICE_UNAVAILABLE, "Sign-in failed", e.to_string(), "/login", "Try again"),
    }
}

#[derive(Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn sso_callback(
    State(s): State<AppState>,
    ClientOrigin(origin): ClientOrigin,
    headers: HeaderMap,
    Query(q): Query<Callback>,
) -> Response {
    let refuse = |detail: String| async {
        let entry = audit::AuditEntry::new("anonymous", "operator.sign_in_sso_failed", "operator", "sso")
            .client(origin.ip.clone(), origin.user_agent.clone())
            .details(json!({ "reason": detail }));
        let _ = record_alone(&s, &entry).await;
        message(StatusCode::UNAUTHORIZED, "Single sign-on failed", detail, "/login", "Back to sign-in")
    };
    let (Some(oidc), Some(token)) = (s.security.oidc.clone(), session_token(&headers)) else {
        return refuse("this sign-in did not start here, or took too long; start again".into()).await;
    };
    let session = match s.security.sessions.get(&token).await {
        Ok(Some(session)) => session,
        _ => return refuse("this sign-in did not start here, or took too long; start again".into()).await,
    };
    let Stage::SingleSignOn { pending } = &session.stage else {
        return refuse("this sign-in did not start here; start again".into()).await;
    };
    let Ok(pending) = serde_json::from_value::<pitboss_auth::oidc::PendingLogin>(pending.clone()) else {
        return refuse("this sign-in did not start here; start again".into()).await;
    };
    if let Some(error) = &q.error {
        let _ = s.security.sessions.end(&token).await;
        let e = pitboss_auth::oidc::OidcError::from_callback(error, q.error_description.as_deref());
        return refuse(e.to_string()).await;
    }
    let identity = match oidc
        .complete(pending, q.state.as_deref().unwrap_or_default(), q.code.as_deref().unwrap_or_default())
        .await
    {
        Ok(identity) => identity,
        Err(e) => {
            let _ = s.security.sessions.end(&token).await;
            return refuse(e.to_string()).await;
        }
    };
    let operator = match pitboss_auth::operator::sso::provision(&s.db, &identity, &origin).await {
        Ok(op) => op,
        Err(e) => {
            let _ = s.security.sessions.end(&token).await;
            return refuse(e.to_string()).await;
        }
    };
    match s.security.sessions.advance(&token, session, Some(operator.id), Stage::SignedIn).await {
        Ok((token, _)) => with_session(&s, &token, "/"),
        Err(e) => message(StatusCode::SERVICE_UNAVAILABLE, "Sign-in failed", e.to_string(), "/login", "Try again"),
    }
}
