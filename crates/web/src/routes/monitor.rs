//! The payments monitor's API: deposits and withdrawals with the monitor's filters, their
//! totals per status, and a live feed of every change as server-sent events.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use futures::Stream;
use pitboss_auth::Caller;
use pitboss_auth::policy::{Action, Module, RequestFacts, Resource};
use pitboss_core::Currency;
use pitboss_core::time::to_micros;
use pitboss_payments::TxStatus;
use pitboss_payments::queries::{self, PaymentGroup, Scope, TransactionPage, TransactionQuery};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::extract::Query;
use crate::guard::{Authenticated, decide};
use crate::routes::payments::{visible, visible_page};
use crate::{AppState, Problem};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/payments", get(list))
        .route("/payments/totals", get(totals))
        .route("/payments/stream", get(stream))
}

/// Deposits and withdrawals, newest first, filtered: the monitor's table.
#[utoipa::path(get, path = "/api/v1/payments", tag = "payments", params(TransactionQuery),
    responses((status = 200, body = TransactionPage), (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn list(
    State(s): State<AppState>,
    auth: Authenticated,
    Query(q): Query<TransactionQuery>,
) -> Result<axum::Json<TransactionPage>, Problem> {
    Ok(axum::Json(visible_page(&s, &auth.caller, &q, Scope::Payments).await?))
}

/// The payments of one status in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct StatusTotal {
    pub status: TxStatus,
    pub currency: Currency,
    pub count: i64,
    /// Minor units of `currency`.
    pub amount: i64,
}

/// Totals of the payments a filter finds.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PaymentTotals {
    /// Per status and currency, in the order pending, completed, failed, reversed, disputed.
    pub totals: Vec<StatusTotal>,
}

/// Counts and sums of the deposits and withdrawals the filters find, per status and
/// currency; only of the payments the caller may see (a brand's officer, their brands').
#[utoipa::path(get, path = "/api/v1/payments/totals", tag = "payments", params(TransactionQuery),
    responses((status = 200, body = PaymentTotals), (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn totals(
    State(s): State<AppState>,
    auth: Authenticated,
    Query(q): Query<TransactionQuery>,
) -> Result<axum::Json<PaymentTotals>, Problem> {
    let groups = queries::payment_groups(&s.db, &q).await?;
    Ok(axum::Json(PaymentTotals { totals: sum_visible(&s, &auth.caller, groups) }))
}

/// Sums the groups whose players the caller may see. The policies decide on a player's brand
/// and VIP tier alone, so a group (all its players share both) is asked about as one player of
/// that brand and tier.
pub(crate) fn sum_visible(s: &AppState, caller: &Caller, groups: Vec<PaymentGroup>) -> Vec<StatusTotal> {
    let mut sums: HashMap<(TxStatus, Currency), (i64, i64)> = HashMap::new();
    for g in groups {
        let resource = match (g.brand, g.vip_tier) {
            (Some(brand), Some(vip_tier)) => Resource::Player { id: Uuid::nil(), brand, vip_tier },
            _ => Resource::Module(Module::Payments),
        };
        if decide(s, caller, Action::PaymentRead, &resource, RequestFacts::default()).allowed {
            let sum = sums.entry((g.status, g.currency)).or_default();
            sum.0 += g.count;
            sum.1 += g.amount;
        }
    }
    let mut totals: Vec<StatusTotal> = sums
        .into_iter()
        .map(|((status, currency), (count, amount))| StatusTotal { status, currency, count, amount })
        .collect();
    totals.sort_by_key(|t| (TxStatus::ALL.iter().position(|s| *s == t.status), t.currency.to_string()));
    totals
}

/// How often the feed looks for changes.
const POLL_EVERY: Duration = Duration::from_secs(1);
/// How far back each look reaches again: a payment's change is stamped before its commit, so a
/// slow commit can become visible with a time the previous look had already passed.
const LOOK_BACK_MICROS: i64 = 5_000_000;
/// Most changes read in one look; a full look is followed by the next at once.
const BATCH: u32 = 500;
/// A feed ends after this long and the browser reconnects (resuming where it was, by the
/// event id), so that each connection is authorised again and a revoked session stops seeing.
const FEED_LIFETIME: Duration = Duration::from_secs(60);

/// Every new or changed deposit and withdrawal the filters match, as it happens: server-sent
/// events named `payment`, each a transaction as JSON, with the time of its change as the id.
/// A client that reconnects with `Last-Event-ID` resumes after that change.
#[utoipa::path(get, path = "/api/v1/payments/stream", tag = "payments", params(TransactionQuery),
    responses((status = 200, description = "An event stream of `payment` events", content_type = "text/event-stream"),
        (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn stream(
    State(s): State<AppState>,
    auth: Authenticated,
    headers: HeaderMap,
    Query(q): Query<TransactionQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Problem> {
    q.check(Scope::Payments)?;
    let resume = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<i64>().ok());
    let now = to_micros(chrono::Utc::now());
    let feed = Feed {
        state: s,
        caller: auth.caller,
        query: q,
        since: resume.unwrap_or(now),
        // A new client has the page as of now; one that resumes may have missed a late commit.
        floor: if resume.is_some() { i64::MIN } else { now },
        backlog: None,
        sent: HashMap::new(),
        started: Instant::now(),
        first: true,
    };
    let events = futures::stream::unfold(feed, |mut feed| async move {
        let batch = feed.next_batch().await?;
        Some((futures::stream::iter(batch.into_iter().map(Ok)), feed))
    });
    use futures::StreamExt;
    Ok(Sse::new(events.flatten()).keep_alive(KeepAlive::default()))
}

/// One client's feed: where it is, and what it was sent lately.
struct Feed {
    state: AppState,
    caller: Caller,
    query: TransactionQuery,
    /// Changes after this time (microseconds) are looked for, less the look-back.
    since: i64,
    /// Changes before this time are never looked for.
    floor: i64,
    /// After a full look: the last change read, to go on from at once.
    backlog: Option<(i64, Uuid)>,
    /// The changes sent within the look-back, by transaction, so that none is sent twice.
    sent: HashMap<Uuid, i64>,
    started: Instant,
    first: bool,
}

impl Feed {
    /// The next changes to send (possibly none); `None` when the feed ends.
    async fn next_batch(&mut self) -> Option<Vec<Event>> {
        if self.started.elapsed() >= FEED_LIFETIME {
            return None;
        }
        let mut events = Vec::new();
        if self.first {
            self.first = false;
            // Tells the browser to reconnect soon after the feed ends.
            events.push(Event::default().retry(Duration::from_millis(500)).comment("connected"));
        } else if self.backlog.is_none() {
            tokio::time::sleep(POLL_EVERY).await;
        }
        let look_started = to_micros(chrono::Utc::now());
        let after = self.backlog.take().unwrap_or(((self.since - LOOK_BACK_MICROS).max(self.floor), Uuid::nil()));
        let found = match queries::payments_changed(&self.state.db, &self.query, after, BATCH).await {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %e, "the payments feed could not read the ledger; it tries again");
                return Some(events);
            }
        };
        if found.len() == BATCH as usize {
            self.backlog = found.last().map(|t| (to_micros(t.updated_at), t.id));
        } else {
            self.since = look_started;
        }
        let fresh: Vec<_> =
            found.into_iter().filter(|t| self.sent.get(&t.id) != Some(&to_micros(t.updated_at))).collect();
        for t in &fresh {
            self.sent.insert(t.id, to_micros(t.updated_at));
        }
        let horizon = self.since - LOOK_BACK_MICROS;
        self.sent.retain(|_, at| *at >= horizon);
        for t in visible(&self.state, &self.caller, fresh).await {
            match Event::default().event("payment").id(to_micros(t.updated_at).to_string()).json_data(&t) {
                Ok(event) => events.push(event),
                Err(e) => tracing::error!(error = %e, "a payment could not be written as an event"),
            }
        }
        Some(events)
    }
}
