//! Response templates in the API: list, save and delete them (the help desk's managers), and
//! render one for a ticket (its agents), with the variables taken from the ticket's player: name,
//! balance, last deposit. Saving and deleting are audited; rendering changes nothing.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use chrono::Utc;
use pitboss_auth::policy::Action;
use pitboss_auth::{Caller, CallerKind, audit};
use pitboss_core::Money;
use pitboss_helpdesk::Ticket;
use pitboss_helpdesk::templates::{self, PlayerVariables, ResponseTemplate, TicketVariables, Variables};
use pitboss_payments::queries::{Scope, TransactionQuery, player_balances, transactions};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::extract::{Json, Path};
use crate::guard::Authenticated;
use crate::routes::tickets::authorized_ticket;
use crate::{AppState, Problem};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/helpdesk/templates", get(list).post(save))
        .route("/helpdesk/templates/{id}", delete(remove))
        .route("/tickets/{id}/template-preview", post(preview))
}

/// Every response template, by name then language.
#[utoipa::path(get, path = "/api/v1/helpdesk/templates", tag = "helpdesk",
    responses((status = 200, body = Vec<ResponseTemplate>)), security(("api_key" = [])))]
pub async fn list(
    State(s): State<AppState>,
    _auth: Authenticated,
) -> Result<axum::Json<Vec<ResponseTemplate>>, Problem> {
    Ok(axum::Json(templates::list(&s.db).await?))
}

/// A template to save: the one with this name and language is replaced.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TemplateRequest {
    #[schema(example = "withdrawal-delay")]
    pub name: String,
    #[schema(example = "en")]
    pub language: String,
    /// MiniJinja text with the variables of [`Variables`], e.g. `Hello {{ player.first_name }}`.
    pub body: String,
}

/// Save a response template. It is rendered against sample variables first: a misspelt
/// variable or broken syntax is refused with its line.
#[utoipa::path(post, path = "/api/v1/helpdesk/templates", tag = "helpdesk", request_body = TemplateRequest,
    responses((status = 201, body = ResponseTemplate), (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn save(
    State(s): State<AppState>,
    auth: Authenticated,
    Json(r): Json<TemplateRequest>,
) -> Result<(StatusCode, axum::Json<ResponseTemplate>), Problem> {
    Ok((StatusCode::CREATED, axum::Json(store_template(&s, &auth.caller, &r).await?)))
}

pub(crate) async fn store_template(
    s: &AppState,
    caller: &Caller,
    r: &TemplateRequest,
) -> Result<ResponseTemplate, Problem> {
    let mut tx = s.db.begin().await?;
    let saved = templates::save(&mut tx, &r.name, &r.language, &r.body, &caller.actor(), Utc::now()).await?;
    let record = caller
        .audit("helpdesk.template_save", "template", saved.id)
        .details(json!({ "name": saved.name, "language": saved.language }));
    audit::record(&mut tx, &record).await?;
    tx.commit().await?;
    Ok(saved)
}

/// Delete a response template.
#[utoipa::path(delete, path = "/api/v1/helpdesk/templates/{id}", tag = "helpdesk", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn remove(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, Problem> {
    drop_template(&s, &auth.caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn drop_template(s: &AppState, caller: &Caller, id: Uuid) -> Result<ResponseTemplate, Problem> {
    let mut tx = s.db.begin().await?;
    let Some(gone) = templates::delete(&mut tx, id).await? else {
        return Err(Problem::not_found(format!("there is no template with id {id}")));
    };
    let record = caller
        .audit("helpdesk.template_delete", "template", id)
        .details(json!({ "name": gone.name, "language": gone.language }));
    audit::record(&mut tx, &record).await?;
    tx.commit().await?;
    Ok(gone)
}

/// Which template to render.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PreviewRequest {
    /// The template's name; the variant in the ticket's language is used, else English.
    pub name: String,
}

/// A template rendered for one ticket, ready to be edited and sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct Preview {
    pub name: String,
    pub language: String,
    pub body: String,
    pub variables: Variables,
}

/// Render a template for a ticket, with its player's name, balance and last deposit: what the
/// agent would send. Nothing is sent.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/template-preview", tag = "helpdesk", params(("id" = Uuid, Path)),
    request_body = PreviewRequest,
    responses((status = 200, body = Preview), (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn preview(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
    Json(r): Json<PreviewRequest>,
) -> Result<axum::Json<Preview>, Problem> {
    Ok(axum::Json(render_for(&s, &auth.caller, id, &r.name).await?))
}

pub(crate) async fn render_for(s: &AppState, caller: &Caller, ticket: Uuid, name: &str) -> Result<Preview, Problem> {
    let ticket = authorized_ticket(s, caller, Action::TicketHandle, ticket).await?;
    let template = templates::pick(&s.db, name, &ticket.language).await?;
    let variables = variables(s, caller, &ticket).await?;
    let body = templates::render(&template.body, &variables)?;
    Ok(Preview { name: template.name, language: template.language, body, variables })
}

/// The variables for a ticket: its player's profile, cash balance and last deposit.
async fn variables(s: &AppState, caller: &Caller, t: &Ticket) -> Result<Variables, Problem> {
    let agent = match &caller.kind {
        CallerKind::Operator { username, .. } => username.clone(),
        _ => "Support".to_string(),
    };
    let ticket = TicketVariables { number: t.number, subject: t.subject.clone(), status: t.status.as_str().into() };
    let Some(id) = t.player_id else {
        let player = PlayerVariables { name: t.requester.clone(), email: t.requester.clone(), ..Default::default() };
        return Ok(Variables { player, ticket, agent });
    };
    let p = pitboss_players::get(&s.db, id).await?;
    let cash = pitboss_payments::accounts::player_cash(id, p.currency);
    let balances = player_balances(&s.db, id).await?;
    let available = balances.iter().find(|b| b.account == cash).map_or(0, |b| b.available);
    let deposits = TransactionQuery {
        player_id: Some(id),
        kind: Some("deposit".into()),
        status: Some("completed".into()),
        limit: Some(1),
        ..Default::default()
    };
    let last_deposit = transactions(&s.db, &deposits, Scope::Payments).await?.items.into_iter().next().map_or_else(
        || "none".to_string(),
        |d| format!("{} on {}", Money::new(d.amount, d.currency), d.occurred_at.format("%Y-%m-%d")),
    );
    let (first, last) = (p.first_name.clone().unwrap_or_default(), p.last_name.clone().unwrap_or_default());
    let name = match format!("{first} {last}").trim() {
        "" => t.requester.clone(),
        full => full.to_string(),
    };
    let player = PlayerVariables {
        first_name: first,
        last_name: last,
        name,
        email: p.email.clone().unwrap_or_default(),
        vip_tier: p.vip_tier.clone(),
        balance: Money::new(available, p.currency).to_string(),
        last_deposit,
    };
    Ok(Variables { player, ticket, agent })
}
