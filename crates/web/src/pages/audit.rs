//! The audit log viewer: filters (actor, action, target, time), pages, and on request the
//! verification of the whole chain and its signed checkpoints.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use chrono::NaiveDate;
use pitboss_auth::audit::{self, AuditFilter, AuditRecord, Page};
use serde::Deserialize;

use super::{Shell, message, render, when};
use crate::AppState;
use crate::guard::Authenticated;

pub fn router() -> Router<AppState> {
    Router::new().route("/audit", get(page))
}

/// Records per page.
const PAGE_SIZE: i64 = 50;

#[derive(Debug, Default, Deserialize)]
struct Filters {
    actor: Option<String>,
    action: Option<String>,
    target_type: Option<String>,
    target_id: Option<String>,
    /// `YYYY-MM-DD`, from the start of that day (UTC).
    from: Option<String>,
    /// `YYYY-MM-DD`, to the end of that day (UTC).
    to: Option<String>,
    before: Option<i64>,
    /// Set to verify the whole chain now.
    verify: Option<String>,
}

/// A record as the table shows it.
struct Row {
    seq: i64,
    at: String,
    actor: String,
    action: String,
    target: String,
    ip: String,
    reason: String,
    changes: String,
}

/// The verification result as shown.
struct ChainStatus {
    ok: bool,
    text: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    shell: Shell,
    rows: Vec<Row>,
    actor: String,
    action: String,
    target_type: String,
    target_id: String,
    from: String,
    to: String,
    next: Option<String>,
    chain: Option<ChainStatus>,
    /// The latest signed checkpoint, in words.
    sealed: String,
    error: Option<String>,
}

fn clean(v: &Option<String>) -> Option<String> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_string)
}

fn day(text: &Option<String>, end_of_day: bool) -> Result<Option<i64>, String> {
    let Some(text) = clean(text) else { return Ok(None) };
    let date =
        NaiveDate::parse_from_str(&text, "%Y-%m-%d").map_err(|_| format!("`{text}` is not a date (YYYY-MM-DD)"))?;
    let date = if end_of_day { date.succ_opt().unwrap_or(date) } else { date };
    Ok(date.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp_micros()))
}

fn row(r: AuditRecord) -> Row {
    let mut changes = Vec::new();
    if let Some(before) = &r.before {
        changes.push(format!("before: {before}"));
    }
    if let Some(after) = &r.after {
        changes.push(format!("after: {after}"));
    }
    if r.details.as_object().is_some_and(|m| !m.is_empty()) {
        changes.push(r.details.to_string());
    }
    Row {
        seq: r.seq,
        at: when(r.at),
        actor: r.actor,
        action: r.action,
        target: format!("{} {}", r.target_type, r.target_id),
        ip: r.ip.unwrap_or_default(),
        reason: r.reason.unwrap_or_default(),
        changes: changes.join("; "),
    }
}

async fn page(State(s): State<AppState>, auth: Authenticated, Query(q): Query<Filters>) -> Response {
    let (from, to) = match (day(&q.from, false), day(&q.to, true)) {
        (Ok(from), Ok(to)) => (from, to),
        (Err(e), _) | (_, Err(e)) => {
            return message(StatusCode::UNPROCESSABLE_ENTITY, "Audit log", e, "/audit", "Clear the filters");
        }
    };
    let filter = AuditFilter {
        actor: clean(&q.actor),
        action: clean(&q.action),
        target_type: clean(&q.target_type),
        target_id: clean(&q.target_id),
        from,
        to,
    };
    let records = match audit::list_page(&s.db, &filter, Page { before_seq: q.before, limit: PAGE_SIZE }).await {
        Ok(records) => records,
        Err(e) => return message(StatusCode::SERVICE_UNAVAILABLE, "Audit log", e.to_string(), "/", "Home"),
    };
    let next = (records.len() as i64 == PAGE_SIZE).then(|| {
        let last = records.last().map(|r| r.seq).unwrap_or_default();
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("actor", &q.actor),
            ("action", &q.action),
            ("target_type", &q.target_type),
            ("target_id", &q.target_id),
            ("from", &q.from),
            ("to", &q.to),
        ] {
            if let Some(v) = clean(v) {
                query.append_pair(k, &v);
            }
        }
        query.append_pair("before", &last.to_string());
        format!("/audit?{}", query.finish())
    });
    let chain = match (&q.verify, &s.security.audit_key) {
        (Some(_), Some(key)) => Some(match audit::verify(&s.db, key).await {
            Ok(report) if report.is_ok() => ChainStatus {
                ok: true,
                text: format!(
                    "The chain holds: {} records and {} signed checkpoints verified.",
                    report.records_checked, report.checkpoints_checked
                ),
            },
            Ok(report) => ChainStatus {
                ok: false,
                text: match (&report.first_bad_record, report.bad_checkpoints.first(), &report.anchor_problem) {
                    (Some(bad), _, _) => format!("The chain is broken: {bad}"),
                    (None, Some(cp), _) => format!("A checkpoint does not hold: {cp}"),
                    (None, None, Some(anchor)) => format!("The purge anchor does not hold: {anchor}"),
                    _ => "The chain does not verify.".into(),
                },
            },
            Err(e) => ChainStatus { ok: false, text: format!("The chain could not be verified: {e}") },
        }),
        (Some(_), None) => Some(ChainStatus {
            ok: false,
            text: "No checkpoint signing key is configured, so signatures cannot be checked.".into(),
        }),
        _ => None,
    };
    let sealed = match audit::latest_checkpoint(&s.db).await {
        Ok(Some(c)) => format!("The first {} records are sealed by a checkpoint signed {}.", c.tree_size, when(c.at)),
        Ok(None) => "No checkpoint has been signed yet.".to_string(),
        Err(e) => format!("The checkpoints could not be read: {e}"),
    };
    render(&AuditPage {
        shell: Shell::new(&s, &auth, "/audit"),
        rows: records.into_iter().map(row).collect(),
        actor: q.actor.clone().unwrap_or_default(),
        action: q.action.clone().unwrap_or_default(),
        target_type: q.target_type.clone().unwrap_or_default(),
        target_id: q.target_id.clone().unwrap_or_default(),
        from: q.from.clone().unwrap_or_default(),
        to: q.to.clone().unwrap_or_default(),
        next,
        chain,
        sealed,
        error: None,
    })
}
