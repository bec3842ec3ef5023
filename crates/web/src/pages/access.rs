//! Operator and API-key management pages, for administrators.

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use pitboss_auth::operator::{self, NewOperator, OperatorInfo, OperatorPatch, ROLES};
use pitboss_auth::policy::{Action, RequestFacts, Resource};
use pitboss_auth::{Scope, Scopes, api_key};
use serde_json::json;
use uuid::Uuid;

use super::form::FormData;
use super::{Shell, form_status, message, render_status, split_list, when};
use crate::AppState;
use crate::guard::{Authenticated, decide, record_alone};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/operators", get(operators).post(create_operator))
        .route("/operators/{id}", get(operator_page).post(edit_operator))
        .route("/operators/{id}/disable", post(disable))
        .route("/operators/{id}/enable", post(enable))
        .route("/operators/{id}/sessions/end", post(end_sessions))
        .route("/operators/{id}/two-factor/reset", post(reset_two_factor))
        .route("/operators/{id}/password", post(set_password))
        .route("/api-keys", get(api_keys).post(create_api_key))
        .route("/api-keys/{id}/revoke", post(revoke_api_key))
}

fn can_manage(s: &AppState, auth: &Authenticated) -> bool {
    decide(
        s,
        &auth.caller,
        Action::AccessManage,
        &Resource::Module(Action::AccessManage.module()),
        RequestFacts::default(),
    )
    .allowed
}

/// A role checkbox.
pub struct RoleChoice {
    pub name: &'static str,
    pub blurb: &'static str,
    pub checked: bool,
}

fn role_choices(held: &[String]) -> Vec<RoleChoice> {
    ROLES.iter().map(|(name, blurb)| RoleChoice { name, blurb, checked: held.iter().any(|r| r == name) }).collect()
}

#[derive(Template)]
#[template(path = "operators.html")]
struct Operators {
    shell: Shell,
    operators: Vec<OperatorInfo>,
    can_manage: bool,
    error: Option<String>,
    roles: Vec<RoleChoice>,
    brands: String,
    jurisdictions: String,
    team: String,
}

async fn operators_page(s: &AppState, auth: &Authenticated, error: Option<String>, notice: Option<String>) -> Response {
    let operators = match operator::list(&s.db).await {
        Ok(list) => list,
        Err(e) => return message(StatusCode::SERVICE_UNAVAILABLE, "Operators", e.to_string(), "/", "Home"),
    };
    render_status(
        form_status(&error),
        &Operators {
            shell: Shell::new(s, auth, "/operators").notice(notice),
            operators,
            can_manage: can_manage(s, auth),
            error,
            roles: role_choices(&[]),
            brands: String::new(),
            jurisdictions: String::new(),
            team: String::new(),
        },
    )
}

async fn operators(State(s): State<AppState>, auth: Authenticated) -> Response {
    operators_page(&s, &auth, None, None).await
}

async fn create_operator(State(s): State<AppState>, auth: Authenticated, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let new = NewOperator {
        username: form.get("username").unwrap_or_default().trim().to_string(),
        password: Some(form.get("password").unwrap_or_default().to_string()),
        display_name: form.get("display_name").unwrap_or_default().trim().to_string(),
        email: form.get("email").unwrap_or_default().trim().to_string(),
        roles: form.all("roles"),
        brands: split_list(form.get("brands").unwrap_or_default()),
        jurisdictions: split_list(form.get("jurisdictions").unwrap_or_default()),
        team: form.get("team").unwrap_or_default().trim().to_string(),
    };
    match operator::create(&s.db, new, &auth.caller).await {
        Ok(op) => Redirect::to(&format!("/operators/{}", op.id)).into_response(),
        Err(e) => operators_page(&s, &auth, Some(e.to_string()), None).await,
    }
}

#[derive(Template)]
#[template(path = "operator.html")]
struct OperatorPage {
    shell: Shell,
    op: OperatorInfo,
    can_manage: bool,
    error: Option<String>,
    roles: Vec<RoleChoice>,
    brands: String,
    jurisdictions: String,
    team: String,
}

async fn show_operator(
    s: &AppState,
    auth: &Authenticated,
    id: Uuid,
    error: Option<String>,
    notice: Option<String>,
) -> Response {
    let op = match operator::get(&s.db, id).await {
        Ok(Some(op)) => op,
        Ok(None) => {
            return message(
                StatusCode::NOT_FOUND,
                "No such operator",
                format!("there is no operator {id}"),
                "/operators",
                "Operators",
            );
        }
        Err(e) => {
            return message(StatusCode::SERVICE_UNAVAILABLE, "Operators", e.to_string(), "/operators", "Operators");
        }
    };
    render_status(
        form_status(&error),
        &OperatorPage {
            shell: Shell::new(s, auth, "/operators").notice(notice),
            can_manage: can_manage(s, auth),
            error,
            roles: role_choices(&op.roles),
            brands: op.brands.join(", "),
            jurisdictions: op.jurisdictions.join(", "),
            team: op.team.clone(),
            op,
        },
    )
}

async fn operator_page(State(s): State<AppState>, auth: Authenticated, Path(id): Path<Uuid>) -> Response {
    show_operator(&s, &auth, id, None, None).await
}

async fn edit_operator(State(s): State<AppState>, auth: Authenticated, Path(id): Path<Uuid>, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let patch = OperatorPatch {
        display_name: form.get("display_name").map(|v| v.trim().to_string()),
        email: form.get("email").map(|v| v.trim().to_string()),
        roles: Some(form.all("roles")),
        brands: Some(split_list(form.get("brands").unwrap_or_default())),
        jurisdictions: Some(split_list(form.get("jurisdictions").unwrap_or_default())),
        team: form.get("team").map(|v| v.trim().to_string()),
    };
    match operator::update(&s.db, id, patch, &auth.caller).await {
        Ok(_) => show_operator(&s, &auth, id, None, Some("Saved.".into())).await,
        Err(e) => show_operator(&s, &auth, id, Some(e.to_string()), None).await,
    }
}

async fn set_disabled(s: AppState, auth: Authenticated, id: Uuid, body: Bytes, disabled: bool) -> Response {
    let form = FormData::parse(&body);
    let reason = form.get("reason").unwrap_or_default().trim().to_string();
    if reason.is_empty() {
        return show_operator(&s, &auth, id, Some("say why (the reason goes to the audit log)".into()), None).await;
    }
    match operator::set_disabled(&s.db, id, disabled, &reason, &auth.caller).await {
        Ok(_) => {
            // A disabled operator's sessions end at once.
            let ended = if disabled { s.security.sessions.end_all(id).await.unwrap_or(0) } else { 0 };
            let notice = if disabled { format!("Disabled; {ended} sessions ended.") } else { "Enabled.".to_string() };
            show_operator(&s, &auth, id, None, Some(notice)).await
        }
        Err(e) => show_operator(&s, &auth, id, Some(e.to_string()), None).await,
    }
}

async fn disable(State(s): State<AppState>, auth: Authenticated, Path(id): Path<Uuid>, body: Bytes) -> Response {
    set_disabled(s, auth, id, body, true).await
}

async fn enable(State(s): State<AppState>, auth: Authenticated, Path(id): Path<Uuid>, body: Bytes) -> Response {
    set_disabled(s, auth, id, body, false).await
}

async fn end_sessions(State(s): State<AppState>, auth: Authenticated, Path(id): Path<Uuid>) -> Response {
    match s.security.sessions.end_all(id).await {
        Ok(ended) => {
            let entry =
                auth.caller.audit("operator.sessions_ended", "operator", id).details(json!({ "sessions": ended }));
            if let Err(e) = record_alone(&s, &entry).await {
                return show_operator(&s, &auth, id, Some(e.to_string()), None).await;
            }
            show_operator(&s, &auth, id, None, Some(format!("{ended} sessions ended."))).await
        }
        Err(e) => show_operator(&s, &auth, id, Some(e.to_string()), None).await,
    }
}

async fn reset_two_factor(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> Response {
    let form = FormData::parse(&body);
    let reason = form.get("reason").unwrap_or_default().trim().to_string();
    if reason.is_empty() {
        return show_operator(&s, &auth, id, Some("say why (the reason goes to the audit log)".into()), None).await;
    }
    match operator::totp::reset(&s.db, id, &reason, &auth.caller).await {
        Ok(()) => {
            let _ = s.security.sessions.end_all(id).await;
            show_operator(
                &s,
                &auth,
                id,
                None,
                Some("Two-factor authentication reset; the operator sets it up again at the next sign-in.".into()),
            )
            .await
        }
        Err(e) => show_operator(&s, &auth, id, Some(e.to_string()), None).await,
    }
}

/// An administrator sets a new password (a forgotten one); the operator's sessions end.
async fn set_password(State(s): State<AppState>, auth: Authenticated, Path(id): Path<Uuid>, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    match operator::set_password(&s.db, id, form.get("password").unwrap_or_default(), &auth.caller).await {
        Ok(()) => {
            let _ = s.security.sessions.end_all(id).await;
            show_operator(&s, &auth, id, None, Some("Password set; the operator's sessions ended.".into())).await
        }
        Err(e) => show_operator(&s, &auth, id, Some(e.to_string()), None).await,
    }
}

/// An API key row as shown.
struct KeyRow {
    id: Uuid,
    name: String,
    prefix: String,
    scopes: String,
    created: String,
    last_used: String,
    revoked: bool,
}

#[derive(Template)]
#[template(path = "api_keys.html")]
struct ApiKeys {
    shell: Shell,
    keys: Vec<KeyRow>,
    can_manage: bool,
    error: Option<String>,
    created: Option<(String, String)>,
    scopes: Vec<&'static str>,
}

async fn api_keys_page(
    s: &AppState,
    auth: &Authenticated,
    error: Option<String>,
    created: Option<(String, String)>,
) -> Response {
    let keys = match api_key::list(&s.db).await {
        Ok(keys) => keys,
        Err(e) => return message(StatusCode::SERVICE_UNAVAILABLE, "API keys", e.to_string(), "/", "Home"),
    };
    let keys = keys
        .into_iter()
        .map(|k| KeyRow {
            id: k.id,
            revoked: k.is_revoked(),
            name: k.name,
            prefix: k.prefix,
            scopes: k.scopes.to_string(),
            created: when(k.created_at),
            last_used: k.last_used_at.map(when).unwrap_or_else(|| "never".into()),
        })
        .collect();
    render_status(
        form_status(&error),
        &ApiKeys {
            shell: Shell::new(s, auth, "/api-keys"),
            keys,
            can_manage: can_manage(s, auth),
            error,
            created,
            scopes: Scope::ALL.iter().map(|s| s.as_str()).collect(),
        },
    )
}

async fn api_keys(State(s): State<AppState>, auth: Authenticated) -> Response {
    api_keys_page(&s, &auth, None, None).await
}

async fn create_api_key(State(s): State<AppState>, auth: Authenticated, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let name = form.get("name").unwrap_or_default().trim().to_string();
    let scopes: Result<Scopes, String> =
        form.all("scopes").join(",").parse().map_err(|e: pitboss_auth::ScopeError| e.to_string());
    let scopes = match scopes {
        Ok(scopes) => scopes,
        Err(e) => return api_keys_page(&s, &auth, Some(e), None).await,
    };
    match api_key::create(&s.db, &name, scopes, &auth.caller.actor()).await {
        Ok((info, key)) => api_keys_page(&s, &auth, None, Some((info.name, key))).await,
        Err(e) => api_keys_page(&s, &auth, Some(e.to_string()), None).await,
    }
}

async fn revoke_api_key(State(s): State<AppState>, auth: Authenticated, Path(id): Path<Uuid>) -> Response {
    match api_key::revoke(&s.db, id, &auth.caller.actor()).await {
        Ok(_) => Redirect::to("/api-keys").into_response(),
        Err(e) => api_keys_page(&s, &auth, Some(e.to_string()), None).await,
    }
}
