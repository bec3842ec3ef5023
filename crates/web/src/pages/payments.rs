//! The payments monitor: deposits and withdrawals with filters and totals per status, new ones
//! arriving live (server-sent events from `/api/v1/payments/stream`, drawn by `monitor.js`),
//! and a page per transaction with its status history and ledger postings.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use chrono::{DateTime, NaiveDate, Utc};
use pitboss_core::Currency;
use pitboss_core::money::Money;
use pitboss_payments::LedgerTransaction;
use pitboss_payments::queries::{self, Scope, TransactionDetail, TransactionQuery};
use serde::Deserialize;
use uuid::Uuid;

use super::{Shell, at as when, message, render, render_status, status_of};
use crate::AppState;
use crate::guard::Authenticated;
use crate::routes::monitor::{StatusTotal, sum_visible};
use crate::routes::payments::{transaction_for, visible_page};

pub fn router() -> Router<AppState> {
    Router::new().route("/payments", get(monitor)).route("/payments/{id}", get(transaction))
}

/// Rows per page.
const PAGE_SIZE: u32 = 50;

/// The monitor's filters as the form sends them: amounts in major units, days as dates.
#[derive(Debug, Default, Deserialize)]
struct Filters {
    status: Option<String>,
    kind: Option<String>,
    method: Option<String>,
    currency: Option<String>,
    min: Option<String>,
    max: Option<String>,
    player: Option<String>,
    /// `YYYY-MM-DD`, from the start of that day (UTC).
    from: Option<String>,
    /// `YYYY-MM-DD`, to the end of that day (UTC).
    to: Option<String>,
    after: Option<Uuid>,
}

fn clean(v: &Option<String>) -> Option<String> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_string)
}

impl Filters {
    /// The same filters as the API takes them, or what is wrong with them.
    fn query(&self) -> Result<TransactionQuery, String> {
        let currency = clean(&self.currency)
            .map(|c| c.to_ascii_uppercase().parse::<Currency>().map_err(|e| format!("Currency: {e}")))
            .transpose()?;
        let amount = |text: &Option<String>| -> Result<Option<i64>, String> {
            let Some(text) = clean(text) else { return Ok(None) };
            let currency = currency.ok_or("Choose a currency to filter by amount: amounts are in its units.")?;
            match currency.minor_units(&text) {
                Ok(minor) if minor >= 0 => Ok(Some(minor)),
                Ok(_) => Err(format!("`{text}`: amounts are zero or more")),
                Err(e) => Err(e),
            }
        };
        let player = clean(&self.player)
            .map(|p| Uuid::parse_str(&p).map_err(|_| format!("Player: `{p}` is not a player id")))
            .transpose()?;
        Ok(TransactionQuery {
            player_id: player,
            kind: clean(&self.kind),
            status: clean(&self.status),
            reference: None,
            method: clean(&self.method),
            currency: currency.map(|c| c.to_string()),
            min_amount: amount(&self.min)?,
            max_amount: amount(&self.max)?,
            from: day(&self.from, false)?,
            to: day(&self.to, true)?,
            limit: Some(PAGE_SIZE),
            after: self.after,
        })
    }

    /// The filters as a query string (without the page), for the next page and the live feed.
    fn query_string(&self) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.fields() {
            if !v.is_empty() {
                query.append_pair(k, &v);
            }
        }
        query.finish()
    }

    fn fields(&self) -> [(&'static str, String); 9] {
        let v = |f: &Option<String>| clean(f).unwrap_or_default();
        [
            ("status", v(&self.status)),
            ("kind", v(&self.kind)),
            ("method", v(&self.method)),
            ("currency", v(&self.currency)),
            ("min", v(&self.min)),
            ("max", v(&self.max)),
            ("player", v(&self.player)),
            ("from", v(&self.from)),
            ("to", v(&self.to)),
        ]
    }
}

/// The query as the API's query string (amounts in minor units, times in RFC 3339).
fn api_query(q: &TransactionQuery) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    let pairs = [
        ("player_id", q.player_id.map(|p| p.to_string())),
        ("kind", q.kind.clone()),
        ("status", q.status.clone()),
        ("method", q.method.clone()),
        ("currency", q.currency.clone()),
        ("min_amount", q.min_amount.map(|a| a.to_string())),
        ("max_amount", q.max_amount.map(|a| a.to_string())),
        ("from", q.from.map(|t| t.to_rfc3339())),
        ("to", q.to.map(|t| t.to_rfc3339())),
    ];
    for (k, v) in pairs {
        if let Some(v) = v {
            out.append_pair(k, &v);
        }
    }
    out.finish()
}

fn day(text: &Option<String>, end_of_day: bool) -> Result<Option<DateTime<Utc>>, String> {
    let Some(text) = clean(text) else { return Ok(None) };
    let date =
        NaiveDate::parse_from_str(&text, "%Y-%m-%d").map_err(|_| format!("`{text}` is not a date (YYYY-MM-DD)"))?;
    let date = if end_of_day { date.succ_opt().unwrap_or(date) } else { date };
    Ok(date.and_hms_opt(0, 0, 0).map(|t| t.and_utc()))
}

/// A transaction as a table row shows it (`monitor.js` draws live rows the same way).
struct Row {
    id: Uuid,
    at: String,
    kind: String,
    player: String,
    amount: String,
    method: String,
    status: String,
    reference: String,
}

fn row(t: LedgerTransaction) -> Row {
    Row {
        id: t.id,
        at: when(t.occurred_at),
        kind: t.kind.as_str().into(),
        player: t.player_id.map(|p| p.to_string()).unwrap_or_default(),
        amount: Money::new(t.amount, t.currency).to_string(),
        method: t.method.unwrap_or_default(),
        status: t.status.as_str().into(),
        reference: t.reference,
    }
}

struct Total {
    status: String,
    count: i64,
    amount: String,
}

fn total(t: StatusTotal) -> Total {
    Total { status: t.status.as_str().into(), count: t.count, amount: Money::new(t.amount, t.currency).to_string() }
}

#[derive(Template)]
#[template(path = "payments.html")]
struct MonitorPage {
    shell: Shell,
    fields: Vec<(&'static str, String)>,
    statuses: Vec<&'static str>,
    rows: Vec<Row>,
    totals: Vec<Total>,
    /// The filters as a query string, for the next page.
    filter_query: String,
    /// On the first page: the filters as the API takes them, for the live feed and the totals.
    feed: Option<String>,
    next: Option<String>,
    error: Option<String>,
}

impl MonitorPage {
    fn field(&self, name: &str) -> &str {
        self.fields.iter().find(|(k, _)| *k == name).map_or("", |(_, v)| v.as_str())
    }
}

async fn monitor(State(s): State<AppState>, auth: Authenticated, Query(f): Query<Filters>) -> Response {
    let mut page = MonitorPage {
        shell: Shell::new(&s, &auth, "/payments"),
        fields: f.fields().into(),
        statuses: pitboss_payments::TxStatus::ALL.iter().map(|s| s.as_str()).collect(),
        rows: Vec::new(),
        totals: Vec::new(),
        filter_query: f.query_string(),
        feed: None,
        next: None,
        error: None,
    };
    let query = match f.query() {
        Ok(query) => query,
        Err(e) => {
            page.error = Some(e);
            return render_status(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };
    // The totals' query checks the filters first, so that a bad one is shown on the form.
    let groups = match queries::payment_groups(&s.db, &query).await {
        Ok(groups) => groups,
        Err(pitboss_payments::LedgerError::Invalid(e)) => {
            page.error = Some(e);
            return render_status(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
        Err(e) => return message(StatusCode::SERVICE_UNAVAILABLE, "Payments", e.to_string(), "/", "Home"),
    };
    let found = match visible_page(&s, &auth.caller, &query, Scope::Payments).await {
        Ok(found) => found,
        Err(p) => return message(StatusCode::SERVICE_UNAVAILABLE, "Payments", p.detail, "/", "Home"),
    };
    page.feed = query.after.is_none().then(|| api_query(&query));
    page.next = found.next.map(|after| match page.filter_query.as_str() {
        "" => format!("/payments?after={after}"),
        filters => format!("/payments?{filters}&after={after}"),
    });
    page.rows = found.items.into_iter().map(row).collect();
    page.totals = sum_visible(&s, &auth.caller, groups).into_iter().map(total).collect();
    render(&page)
}

struct HistoryRow {
    at: String,
    from: String,
    to: String,
    actor: String,
    reason: String,
}

struct PostingRow {
    at: String,
    account: String,
    phase: String,
    debit: String,
    credit: String,
}

#[derive(Template)]
#[template(path = "payment.html")]
struct TransactionPage {
    shell: Shell,
    tx: Row,
    description: String,
    held: bool,
    created: String,
    updated: String,
    history: Vec<HistoryRow>,
    postings: Vec<PostingRow>,
    /// May the operator open a dispute on it?
    can_dispute: bool,
    /// Its disputes: id, state, reason.
    disputes: Vec<(Uuid, String, String)>,
}

async fn transaction(State(s): State<AppState>, auth: Authenticated, Path(id): Path<Uuid>) -> Response {
    let (detail, resource): (TransactionDetail, _) = match transaction_for(&s, &auth.caller, id).await {
        Ok(found) => found,
        Err(problem) => {
            return message(status_of(&problem), "Payments", problem.detail, "/payments", "Back to the payments");
        }
    };
    let action = pitboss_auth::policy::Action::PaymentChangeStatus;
    let can_dispute = detail.transaction.player_id.is_some()
        && crate::guard::decide(&s, &auth.caller, action, &resource, Default::default()).allowed;
    let query = crate::routes::disputes::DisputeQuery { transaction_id: Some(id), ..Default::default() };
    let disputes = crate::routes::disputes::visible_disputes(&s, &auth.caller, &query)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|d| (d.id, d.state.as_str().replace('_', " "), d.reason))
        .collect();
    let currency = detail.transaction.currency;
    let money = |minor: i64| if minor == 0 { String::new() } else { Money::new(minor, currency).to_string() };
    let t = detail.transaction;
    render(&TransactionPage {
        shell: Shell::new(&s, &auth, "/payments"),
        description: t.description.clone().unwrap_or_default(),
        held: t.held,
        created: when(t.created_at),
        updated: when(t.updated_at),
        tx: row(t),
        history: detail
            .history
            .into_iter()
            .map(|h| HistoryRow {
                at: when(h.at),
                from: h.from.map(|f| f.as_str().to_string()).unwrap_or_default(),
                to: h.to.as_str().into(),
                actor: h.actor,
                reason: h.reason.unwrap_or_default(),
            })
            .collect(),
        postings: detail
            .postings
            .into_iter()
            .map(|p| PostingRow {
                at: when(p.at),
                account: p.account,
                phase: p.phase,
                debit: money(p.debit),
                credit: money(p.credit),
            })
            .collect(),
        can_dispute,
        disputes,
    })
}
