//! Why a player is in a segment or not: the condition node by node on the player's facts now.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use pitboss_rules::Trace;
use uuid::Uuid;

use super::{Shell, message, render, when};
use crate::AppState;
use crate::guard::Authenticated;
use crate::routes::segments::explain_membership;

pub fn router() -> Router<AppState> {
    Router::new().route("/segments/{id}/players/{player}", get(show))
}

/// One node of the trace, flattened for the page with its depth.
struct Line {
    /// The left indent in em, deeper for nested parts.
    indent: String,
    text: String,
    held: bool,
    detail: String,
}

fn flatten(trace: &Trace, depth: usize, out: &mut Vec<Line>) {
    out.push(Line {
        indent: format!("{:.1}", depth as f64 * 1.5 + 0.5),
        text: trace.text.clone(),
        held: trace.result,
        detail: trace.detail.clone().unwrap_or_default(),
    });
    for child in &trace.children {
        flatten(child, depth + 1, out);
    }
}

#[derive(Template)]
#[template(path = "segment_explain.html")]
struct Show {
    shell: Shell,
    segment_id: Uuid,
    segment: String,
    version: i64,
    player_id: Uuid,
    member: bool,
    since: String,
    holds: bool,
    at: String,
    next_change: String,
    lines: Vec<Line>,
}

async fn show(State(s): State<AppState>, auth: Authenticated, Path((id, player)): Path<(Uuid, Uuid)>) -> Response {
    let e = match explain_membership(&s, &auth.caller, id, player).await {
        Ok(e) => e,
        Err(p) => {
            let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return message(status, "Why this player", p.detail, &format!("/segments/{id}"), "Back to the segment");
        }
    };
    let mut lines = Vec::new();
    flatten(&e.trace, 0, &mut lines);
    render(&Show {
        shell: Shell::new(&s, &auth, "/segments"),
        segment_id: e.segment_id,
        segment: e.segment,
        version: e.version,
        player_id: e.player_id,
        member: e.member,
        since: e.since.map(when).unwrap_or_default(),
        holds: e.holds,
        at: when(e.at),
        next_change: e.next_change.map(when).unwrap_or_else(|| "not without an event".into()),
        lines,
    })
}
