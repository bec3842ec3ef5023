//! The signed-in operator's own account: two-factor authentication.

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use pitboss_auth::operator::{self, OperatorInfo, totp};

use super::form::FormData;
use super::sign_in::{Enrol, RecoveryCodes};
use super::{Shell, form_status, message, render, render_status};
use crate::AppState;
use crate::guard::Authenticated;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account", get(account))
        .route("/account/two-factor", post(start_enrolment))
        .route("/account/two-factor/confirm", post(confirm_enrolment))
        .route("/account/password", post(change_password))
}

#[derive(Template)]
#[template(path = "account.html")]
struct Account {
    shell: Shell,
    me: OperatorInfo,
    recovery_left: i64,
    error: Option<String>,
}

async fn me(s: &AppState, auth: &Authenticated) -> Result<OperatorInfo, Response> {
    let id = auth
        .caller
        .operator_id()
        .ok_or_else(|| message(StatusCode::FORBIDDEN, "Account", "only operators have accounts", "/", "Home"))?;
    match operator::get(&s.db, id).await {
        Ok(Some(op)) => Ok(op),
        Ok(None) => {
            Err(message(StatusCode::NOT_FOUND, "Account", "your account no longer exists", "/login", "Sign in"))
        }
        Err(e) => Err(message(StatusCode::SERVICE_UNAVAILABLE, "Account", e.to_string(), "/", "Home")),
    }
}

async fn account_page(s: &AppState, auth: &Authenticated, error: Option<String>, notice: Option<String>) -> Response {
    let me = match me(s, auth).await {
        Ok(me) => me,
        Err(page) => return page,
    };
    let recovery_left = totp::recovery_codes_left(&s.db, me.id).await.unwrap_or(0);
    render_status(
        form_status(&error),
        &Account { shell: Shell::new(s, auth, "/account").notice(notice), me, recovery_left, error },
    )
}

async fn account(State(s): State<AppState>, auth: Authenticated) -> Response {
    account_page(&s, &auth, None, None).await
}

async fn change_password(State(s): State<AppState>, auth: Authenticated, body: Bytes) -> Response {
    let Some(id) = auth.caller.operator_id() else { return account_page(&s, &auth, None, None).await };
    let form = FormData::parse(&body);
    let (current, new) = (form.get("current").unwrap_or_default(), form.get("new").unwrap_or_default());
    match operator::change_own_password(&s.db, id, current, new, &auth.caller).await {
        Ok(()) => account_page(&s, &auth, None, Some("Your password is changed.".into())).await,
        Err(e) => account_page(&s, &auth, Some(e.to_string()), None).await,
    }
}

async fn start_enrolment(State(s): State<AppState>, auth: Authenticated) -> Response {
    let me = match me(&s, &auth).await {
        Ok(me) => me,
        Err(page) => return page,
    };
    match totp::begin_enrolment(&s.db, me.id, &auth.caller).await {
        Ok(e) => render(&Enrol {
            csrf_token: auth.session.as_ref().map(|s| s.session.csrf_token.clone()).unwrap_or_default(),
            why: "Add Pitboss to your authenticator app. Your current authenticator keeps working until this one is confirmed.".into(),
            qr_svg: e.qr_svg,
            secret: e.secret,
            action: "/account/two-factor/confirm".into(),
            error: None,
        }),
        Err(e) => message(StatusCode::SERVICE_UNAVAILABLE, "Two-factor authentication", e.to_string(), "/account", "Back"),
    }
}

async fn confirm_enrolment(State(s): State<AppState>, auth: Authenticated, body: Bytes) -> Response {
    let me = match me(&s, &auth).await {
        Ok(me) => me,
        Err(page) => return page,
    };
    let form = FormData::parse(&body);
    match totp::confirm_enrolment(&s.db, me.id, form.get("code").unwrap_or_default(), &auth.caller).await {
        Ok(codes) => render(&RecoveryCodes { codes, next: "/account".into() }),
        Err(e) => message(
            StatusCode::UNPROCESSABLE_ENTITY,
            "That code did not work",
            e.to_string(),
            "/account",
            "Back to your account",
        ),
    }
}
