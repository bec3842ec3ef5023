//! Players in the UI: the search, and one page per player with the profile (personal data
//! masked unless the policies let the operator see it), balances, latest transactions, limits,
//! locks and breaks, and the actions the policies allow (locking, lifting a lock, setting the
//! casino's own deposit limits).

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{Duration, Utc};
use pitboss_auth::policy::{Action, RequestFacts};
use pitboss_core::money::Money;
use pitboss_ops::{LimitKind, LimitOrigin, LimitPeriod, LockScope, exclusions, limits, locks};
use pitboss_payments::queries::{Scope, TransactionQuery};
use pitboss_players::{Player, PlayerQuery};
use serde::Deserialize;
use uuid::Uuid;

use super::form::FormData;
use super::{Done, Shell, at as when, message, render_status, status_of};
use crate::guard::{Authenticated, decide};
use crate::routes::ops::{LimitRequest, LockRequest, lift_lock_for, set_limit_for, set_lock_for};
use crate::routes::payments::visible_page;
use crate::routes::players::{masked, resource, visible_players};
use crate::{AppState, Problem};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/players", get(search))
        .route("/players/{id}", get(page))
        .route("/players/{id}/locks", post(lock))
        .route("/players/{id}/locks/{lock}/lift", post(lift))
        .route("/players/{id}/limits", post(limit))
}

fn name(p: &Player) -> String {
    let name = [p.first_name.as_deref(), p.last_name.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" ");
    if name.is_empty() { p.external_id.clone() } else { name }
}

struct Found {
    id: Uuid,
    external_id: String,
    name: String,
    email: String,
    country: String,
    brand: String,
    status: String,
}

/// A ticket as the player's page lists it: id, number, opened, subject, channel, status, assignee.
/// A contact as the player's page lists it: when, kind, who, summary, ticket id and number.
type PlayerContact = (String, String, String, String, Uuid, i64);
type PlayerTicket = (uuid::Uuid, i64, String, String, &'static str, &'static str, String);

#[derive(Template)]
#[template(path = "players.html")]
struct SearchPage {
    shell: Shell,
    q: String,
    found: Vec<Found>,
    next: Option<String>,
    error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Search {
    q: Option<String>,
    after: Option<Uuid>,
}

async fn search(State(s): State<AppState>, auth: Authenticated, Query(q): Query<Search>) -> Response {
    let text = q.q.clone().unwrap_or_default();
    let query = PlayerQuery { q: q.q.clone(), after: q.after, limit: Some(50), ..Default::default() };
    let (found, next, error) = match pitboss_players::search(&s.db, &query).await {
        Ok(page) => {
            let found = visible_players(&s, &auth.caller, page.items)
                .into_iter()
                .map(|p| Found {
                    id: p.id,
                    name: name(&p),
                    external_id: p.external_id,
                    email: p.email.unwrap_or_default(),
                    country: p.country,
                    brand: p.brand,
                    status: p.status.as_str().into(),
                })
                .collect();
            let next = page.next.map(|after| {
                let mut query = url::form_urlencoded::Serializer::new(String::new());
                query.append_pair("q", &text).append_pair("after", &after.to_string());
                format!("/players?{}", query.finish())
            });
            (found, next, None)
        }
        Err(e) => (Vec::new(), None, Some(e.to_string())),
    };
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    render_status(status, &SearchPage { shell: Shell::new(&s, &auth, "/players"), q: text, found, next, error })
}

struct Fact {
    label: &'static str,
    value: String,
}

struct BalanceLine {
    account: String,
    posted: String,
    held: String,
    available: String,
}

struct TxLine {
    id: Uuid,
    at: String,
    kind: String,
    amount: String,
    status: String,
    reference: String,
}

struct LockLine {
    id: Uuid,
    scope: String,
    reason: String,
    origin: String,
    set: String,
    until: String,
    in_force: bool,
    lifted: String,
}

struct LimitLine {
    kind: String,
    period: String,
    origin: String,
    amount: String,
    from: String,
    pending: bool,
}

struct BreakLine {
    kind: String,
    from: String,
    until: String,
    in_force: bool,
}

#[derive(Template)]
#[template(path = "player.html")]
struct PlayerPage {
    shell: Shell,
    id: Uuid,
    title: String,
    facts: Vec<Fact>,
    currency: String,
    balances: Option<Vec<BalanceLine>>,
    transactions: Option<Vec<TxLine>>,
    limits: Option<Vec<LimitLine>>,
    locks: Option<Vec<LockLine>>,
    breaks: Option<Vec<BreakLine>>,
    /// Events that went through although a limit should have stopped them: when, what, why.
    flags: Option<Vec<(String, String, String)>>,
    /// The segments the player is in: id, name, since when.
    segments: Option<Vec<(Uuid, String, String)>>,
    /// The anomaly alerts about the player, unresolved first.
    alerts: Option<Vec<super::alerts::Row>>,
    /// The player's tickets, newest first: id, number, opened, subject, channel, status, assignee.
    tickets: Option<Vec<PlayerTicket>>,
    /// The communication history, newest first: when, kind, who, summary, ticket id and number.
    contacts: Option<Vec<PlayerContact>>,
    can_manage: bool,
    scopes: Vec<&'static str>,
    kinds: Vec<&'static str>,
    periods: Vec<&'static str>,
    error: Option<String>,
}

async fn page(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
    Query(shown): Query<Done>,
) -> Response {
    player_page(&s, &auth, id, shown.done, None).await
}

async fn player_page(
    s: &AppState,
    auth: &Authenticated,
    id: Uuid,
    notice: Option<String>,
    error: Option<(StatusCode, String)>,
) -> Response {
    let caller = &auth.caller;
    let player = match crate::routes::ops::authorize_player(s, caller, Action::PlayerRead, id).await {
        Ok(p) => p,
        Err(p) => return message(status_of(&p), "Players", p.detail, "/players", "Find a player"),
    };
    let allowed = |action: Action| decide(s, caller, action, &resource(&player), RequestFacts::default()).allowed;
    let (ledger, payments, ops, can_manage) = (
        allowed(Action::LedgerRead),
        allowed(Action::PaymentRead),
        allowed(Action::LockRead),
        allowed(Action::LockManage),
    );
    let now = Utc::now();
    let currency = player.currency;

    let balances = match ledger {
        true => pitboss_payments::queries::player_balances(&s.db, id).await.ok().map(|b| {
            b.into_iter()
                .map(|b| BalanceLine {
                    account: b.account.rsplit(':').next().unwrap_or_default().to_string(),
                    posted: Money::new(b.posted, b.currency).to_string(),
                    held: Money::new(b.held, b.currency).to_string(),
                    available: Money::new(b.available, b.currency).to_string(),
                })
                .collect()
        }),
        false => None,
    };
    let transactions = match payments {
        true => {
            let q = TransactionQuery { player_id: Some(id), limit: Some(20), ..Default::default() };
            visible_page(s, caller, &q, Scope::Ledger).await.ok().map(|page| {
                page.items
                    .into_iter()
                    .map(|t| TxLine {
                        id: t.id,
                        at: when(t.occurred_at),
                        kind: t.kind.as_str().replace('_', " "),
                        amount: Money::new(t.amount, t.currency).to_string(),
                        status: t.status.as_str().into(),
                        reference: t.reference,
                    })
                    .collect()
            })
        }
        false => None,
    };
    let flags = match ops {
        true => pitboss_ops::breaches::for_player(&s.db, id).await.ok().map(|all| {
            all.into_iter().map(|b| (when(b.occurred_at), b.activity.as_str().to_string(), b.reason)).collect()
        }),
        false => None,
    };
    let (limits, locks, breaks) = if ops {
        let limits = limits::changes(&s.db, id).await.ok().map(|changes| {
            changes
                .into_iter()
                .filter(|c| c.cancelled_at.is_none())
                .map(|c| LimitLine {
                    kind: c.kind.as_str().into(),
                    period: c.period.as_str().into(),
                    origin: c.origin.as_str().into(),
                    amount: c.amount_text(),
                    from: when(c.effective_at),
                    pending: c.effective_at > now,
                })
                .collect()
        });
        let locks = locks::for_player(&s.db, id).await.ok().map(|all| {
            all.into_iter()
                .map(|l| LockLine {
                    id: l.id,
                    in_force: l.in_force(now),
                    scope: l.scope.as_str().into(),
                    reason: l.reason,
                    origin: l.origin,
                    set: format!("{} by {}", when(l.set_at), l.set_by),
                    until: l.expires_at.map(when).unwrap_or_else(|| "until lifted".into()),
                    lifted: l.lifted_at.map(when).unwrap_or_default(),
                })
                .collect()
        });
        let breaks = exclusions::for_player(&s.db, id).await.ok().map(|all| {
            all.into_iter()
                .map(|e| BreakLine {
                    in_force: e.in_force(now),
                    kind: e.kind.as_str().replace('_', " "),
                    from: when(e.starts_at),
                    until: e.ends_at.map(when).unwrap_or_else(|| "permanent".into()),
                })
                .collect()
        });
        (limits, locks, breaks)
    } else {
        (None, None, None)
    };

    let module = pitboss_auth::policy::Resource::Module(pitboss_auth::policy::Module::Segments);
    let segments = match decide(s, caller, Action::SegmentRead, &module, RequestFacts::default()).allowed {
        true => pitboss_segments::segments_of(&s.db, id)
            .await
            .ok()
            .map(|rows| rows.into_iter().map(|(segment, name, since)| (segment, name, super::when(since))).collect()),
        false => None,
    };
    let alerts = match allowed(Action::AlertRead) {
        true => crate::routes::alerts::alerts_of(s, caller, id).await.ok().map(|mut all| {
            all.sort_by_key(|a| a.state == pitboss_ops::alerts::AlertState::Resolved);
            all.iter().map(super::alerts::row).collect()
        }),
        false => None,
    };
    let tickets = match allowed(Action::TicketRead) && s.runs(crate::Target::Helpdesk) {
        true => crate::routes::tickets::tickets_of(s, caller, id).await.ok().map(|all| {
            all.into_iter()
                .map(|t| {
                    let assignee = t.assignee.unwrap_or_default();
                    (t.id, t.number, when(t.created_at), t.subject, t.channel.as_str(), t.status.as_str(), assignee)
                })
                .collect()
        }),
        false => None,
    };
    let contacts = match allowed(Action::TicketRead) && s.runs(crate::Target::Helpdesk) {
        true => crate::routes::contacts::contacts_of(s, caller, id, None, 50).await.ok().map(|all| {
            all.into_iter().map(|c| (when(c.at), c.kind, c.who, c.summary, c.ticket_id, c.ticket_number)).collect()
        }),
        false => None,
    };
    let p = masked(s, caller, player);
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let facts = vec![
        Fact { label: "External id", value: p.external_id.clone() },
        Fact { label: "Email", value: opt(&p.email) },
        Fact { label: "Phone", value: opt(&p.phone) },
        Fact { label: "Country", value: p.country.clone() },
        Fact { label: "Currency", value: p.currency.to_string() },
        Fact { label: "Brand", value: p.brand.clone() },
        Fact { label: "Status", value: p.status.as_str().into() },
        Fact { label: "KYC", value: p.kyc_status.as_str().into() },
        Fact { label: "VIP tier", value: p.vip_tier.clone() },
        Fact { label: "Tags", value: p.tags.join(", ") },
        Fact { label: "Registered", value: when(p.registered_at) },
    ];
    let status = error.as_ref().map_or(StatusCode::OK, |(s, _)| *s);
    render_status(
        status,
        &PlayerPage {
            shell: Shell::new(s, auth, "/players").notice(notice),
            id,
            title: name(&p),
            facts,
            currency: currency.to_string(),
            balances,
            transactions,
            limits,
            locks,
            breaks,
            flags,
            segments,
            alerts,
            tickets,
            contacts,
            can_manage,
            scopes: LockScope::ALL.iter().map(|s| s.as_str()).collect(),
            kinds: LimitKind::ALL.iter().map(|k| k.as_str()).collect(),
            periods: LimitPeriod::ALL.iter().map(|p| p.as_str()).collect(),
            error: error.map(|(_, e)| e),
        },
    )
}

/// After a form: back to the player's page with what happened, or the page with why not.
async fn done(s: &AppState, auth: &Authenticated, id: Uuid, outcome: Result<String, Problem>) -> Response {
    match outcome {
        Ok(notice) => {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            Redirect::to(&format!("/players/{id}?{}", query.append_pair("done", &notice).finish())).into_response()
        }
        Err(p) => player_page(s, auth, id, None, Some((status_of(&p), p.detail))).await,
    }
}

async fn lock(State(s): State<AppState>, auth: Authenticated, Path(id): Path<Uuid>, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let outcome = async {
        let scope: LockScope = form
            .get("scope")
            .unwrap_or_default()
            .parse()
            .map_err(|_| Problem::validation("scope", "Choose what the lock closes."))?;
        let expires_at = match form.get("days").map(str::trim).filter(|d| !d.is_empty()) {
            None => None,
            Some(days) => match days.parse::<i64>() {
                Ok(d) if (1..=3650).contains(&d) => Some(Utc::now() + Duration::days(d)),
                _ => {
                    return Err(Problem::validation(
                        "days",
                        "Days: a whole number from 1 to 3650, or empty for no end.",
                    ));
                }
            },
        };
        let req =
            LockRequest { scope, reason: form.get("reason").unwrap_or_default().to_string(), expires_at, origin: None };
        let lock = set_lock_for(&s, &auth.caller, id, &req).await?;
        Ok(format!("Locked: {}.", lock.lock.scope))
    };
    done(&s, &auth, id, outcome.await).await
}

async fn lift(
    State(s): State<AppState>,
    auth: Authenticated,
    Path((id, lock)): Path<(Uuid, Uuid)>,
    body: Bytes,
) -> Response {
    let form = FormData::parse(&body);
    let outcome = lift_lock_for(&s, &auth.caller, lock, form.get("reason").unwrap_or_default()).await;
    done(&s, &auth, id, outcome.map(|l| format!("Lifted the {} lock.", l.lock.scope))).await
}

async fn limit(State(s): State<AppState>, auth: Authenticated, Path(id): Path<Uuid>, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let outcome = async {
        let period: LimitPeriod = form
            .get("period")
            .unwrap_or_default()
            .parse()
            .map_err(|_| Problem::validation("period", "Choose the period."))?;
        let kind: LimitKind = form
            .get("kind")
            .unwrap_or("deposit")
            .parse()
            .map_err(|_| Problem::validation("kind", "Choose what the limit measures."))?;
        let player = pitboss_players::get(&s.db, id).await?;
        let amount = match form.get("amount").map(str::trim).filter(|a| !a.is_empty()) {
            None => None,
            Some(text) if kind.in_minutes() => Some(
                text.parse::<i64>()
                    .map_err(|_| Problem::validation("amount", "A time limit is a whole number of minutes."))?,
            ),
            Some(text) => Some(player.currency.minor_units(text).map_err(|e| Problem::validation("amount", e))?),
        };
        let req = LimitRequest {
            kind,
            period: Some(period),
            origin: LimitOrigin::Operator,
            amount,
            currency: (!kind.in_minutes()).then_some(player.currency),
            reason: form.get("reason").map(str::to_string).filter(|r| !r.trim().is_empty()),
        };
        let change = set_limit_for(&s, &auth.caller, id, &req).await?;
        let what = kind.as_str().replace('_', " ");
        Ok(match change.amount {
            Some(_) => format!("The {what} limit per {period} is set to {}.", change.amount_text()),
            None => format!("The {what} limit per {period} is removed."),
        })
    };
    done(&s, &auth, id, outcome.await).await
}
