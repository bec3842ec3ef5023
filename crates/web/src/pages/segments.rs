//! Segment pages: the list, the editor with its live count, a segment with its members, size
//! over time and versions, and the members as CSV.

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use pitboss_auth::policy::{Action, RequestFacts, Resource};
use pitboss_rules::catalog::{FIELDS, MEASURES, Windows};
use pitboss_segments::{MemberRow, NewSegment, Segment, SegmentPatch, SizePoint};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::form::FormData;
use super::{Shell, form_status, message, render, render_status, when};
use crate::AppState;
use crate::guard::{Authenticated, decide, record_alone};
use crate::routes::players::MASK;
use crate::routes::segments::{
    create_segment, found_by_what_they_see, refresh_segment, searches_personal_data, sees_personal_data, update_segment,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/segments", get(list).post(create))
        .route("/segments/new", get(new_form))
        .route("/segments/preview", post(preview))
        .route("/segments/{id}", get(show).post(edit))
        .route("/segments/{id}/refresh", post(refresh))
        .route("/segments/{id}/members.csv", get(export))
}

fn now() -> i64 {
    pitboss_core::time::to_micros(chrono::Utc::now())
}

fn can_manage(s: &AppState, auth: &Authenticated) -> bool {
    let action = Action::SegmentManage;
    decide(s, &auth.caller, action, &Resource::Module(action.module()), RequestFacts::default()).allowed
}

/// The catalog, for the editor's help: (name, type, meaning).
fn catalog() -> Vec<(String, &'static str, &'static str)> {
    let fields = FIELDS.iter().map(|(_, name, ty, meaning)| (name.to_string(), ty.describe(), *meaning));
    let measures = MEASURES.iter().map(|(_, name, ty, windows, meaning)| {
        let written = match windows {
            Windows::Any => format!("{name}(30d) / {name}()"),
            Windows::Required => format!("{name}(30d)"),
            Windows::Lifetime => format!("{name}()"),
        };
        (written, ty.describe(), *meaning)
    });
    fields.chain(measures).collect()
}

struct Row {
    id: Uuid,
    name: String,
    member_count: i64,
    condition: String,
    version: i64,
    evaluated: String,
}

#[derive(Template)]
#[template(path = "segments.html")]
struct List {
    shell: Shell,
    segments: Vec<Row>,
    can_manage: bool,
}

async fn list(State(s): State<AppState>, auth: Authenticated) -> Response {
    let segments = match pitboss_segments::list(&s.db, false).await {
        Ok(list) => list,
        Err(e) => return message(StatusCode::SERVICE_UNAVAILABLE, "Segments", e.to_string(), "/", "Home"),
    };
    let segments = segments
        .into_iter()
        .map(|x| Row {
            id: x.id,
            name: x.name,
            member_count: x.member_count,
            condition: x.condition,
            version: x.version,
            evaluated: x.evaluated_at.map(when).unwrap_or_else(|| "never".into()),
        })
        .collect();
    render(&List { shell: Shell::new(&s, &auth, "/segments"), segments, can_manage: can_manage(&s, &auth) })
}

#[derive(Template)]
#[template(path = "segment_new.html")]
struct New {
    shell: Shell,
    name: String,
    description: String,
    condition: String,
    error: Option<String>,
    catalog: Vec<(String, &'static str, &'static str)>,
}

async fn new_form(State(s): State<AppState>, auth: Authenticated) -> Response {
    render(&New {
        shell: Shell::new(&s, &auth, "/segments"),
        name: String::new(),
        description: String::new(),
        condition: String::new(),
        error: None,
        catalog: catalog(),
    })
}

async fn create(State(s): State<AppState>, auth: Authenticated, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let field = |k: &str| form.get(k).unwrap_or_default().to_string();
    let new = NewSegment {
        name: field("name"),
        description: field("description"),
        condition: Some(field("condition")),
        condition_json: None,
        split: None,
    };
    match create_segment(&s, &auth.caller, new).await {
        Ok(segment) => Redirect::to(&format!("/segments/{}", segment.id)).into_response(),
        Err(e) => render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &New {
                shell: Shell::new(&s, &auth, "/segments"),
                name: field("name"),
                description: field("description"),
                condition: field("condition"),
                error: Some(e.detail),
                catalog: catalog(),
            },
        ),
    }
}

#[derive(Template)]
#[template(path = "segment_preview.html")]
struct Preview {
    result: Result<i64, String>,
}

/// The live count under the editor (an htmx fragment).
async fn preview(State(s): State<AppState>, _auth: Authenticated, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let text = form.get("condition").unwrap_or_default();
    let result = if text.trim().is_empty() {
        Err("Write a condition, e.g. country == \"DE\" and deposits_sum(30d) >= 100 EUR".to_string())
    } else {
        match pitboss_segments::parse_condition(Some(text), None) {
            Ok(rule) => {
                pitboss_segments::member_count_preview(&s.db, &rule, now(), &s.rates).await.map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        }
    };
    render(&Preview { result })
}

struct MemberLine {
    player_id: Uuid,
    external_id: String,
    /// Personal data, masked for whom the policies say so.
    name: String,
    email: String,
    country: String,
    since: String,
}

impl MemberLine {
    fn new(r: MemberRow, visible: bool) -> MemberLine {
        let shown = |v: Option<String>| match v {
            Some(_) if !visible => MASK.to_string(),
            v => v.unwrap_or_default(),
        };
        let name =
            [r.first_name.as_deref(), r.last_name.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" ");
        MemberLine {
            player_id: r.player_id,
            external_id: r.external_id,
            name: shown((!name.is_empty()).then_some(name)),
            email: shown(r.email),
            country: r.country,
            since: when(r.since),
        }
    }
}

struct VersionLine {
    version: i64,
    condition: String,
    by: String,
    at: String,
}

#[derive(Template)]
#[template(path = "segment.html")]
struct Show {
    shell: Shell,
    segment: Segment,
    evaluated: String,
    chart: String,
    members: Vec<MemberLine>,
    next: Option<String>,
    q: String,
    versions: Vec<VersionLine>,
    can_manage: bool,
    condition: String,
    error: Option<String>,
    catalog: Vec<(String, &'static str, &'static str)>,
}

#[derive(Debug, Default, Deserialize)]
struct MemberQuery {
    q: Option<String>,
    after: Option<Uuid>,
}

const PAGE: i64 = 50;

async fn show_page(
    s: &AppState,
    auth: &Authenticated,
    id: Uuid,
    q: MemberQuery,
    error: Option<String>,
    edited: Option<String>,
) -> Response {
    let segment = match pitboss_segments::get(&s.db, id).await {
        Ok(segment) => segment,
        Err(e) => return message(StatusCode::NOT_FOUND, "Segments", e.to_string(), "/segments", "Segments"),
    };
    let text = q.q.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let caller = &auth.caller;
    let by_personal_data = searches_personal_data(s, caller);
    let rows =
        pitboss_segments::member_rows(&s.db, id, text, by_personal_data, q.after, PAGE).await.unwrap_or_default();
    // The next page goes on from the last row read, whether or not it is shown.
    let next = (rows.len() as i64 == PAGE).then(|| {
        let last = rows.last().map(|r| r.player_id).unwrap_or_default();
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("after", &last.to_string());
        if let Some(text) = text {
            query.append_pair("q", text);
        }
        format!("/segments/{id}?{}", query.finish())
    });
    let members = rows
        .into_iter()
        .filter(|r| text.is_none_or(|t| found_by_what_they_see(s, caller, t, r)))
        .map(|r| {
            let visible = sees_personal_data(s, caller, &r);
            MemberLine::new(r, visible)
        })
        .collect();
    let versions = pitboss_segments::versions(&s.db, id)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|v| VersionLine { version: v.version, condition: v.condition, by: v.created_by, at: when(v.created_at) })
        .collect();
    let sizes = pitboss_segments::sizes(&s.db, id, 200).await.unwrap_or_default();
    render_status(
        form_status(&error),
        &Show {
            shell: Shell::new(s, auth, "/segments"),
            evaluated: segment.evaluated_at.map(when).unwrap_or_else(|| "never".into()),
            chart: chart(&sizes),
            members,
            next,
            q: text.unwrap_or_default().to_string(),
            versions,
            can_manage: can_manage(s, auth),
            condition: edited.unwrap_or_else(|| segment.condition.clone()),
            segment,
            error,
            catalog: catalog(),
        },
    )
}

async fn show(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
    Query(q): Query<MemberQuery>,
) -> Response {
    show_page(&s, &auth, id, q, None, None).await
}

async fn edit(State(s): State<AppState>, auth: Authenticated, Path(id): Path<Uuid>, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let condition = form.get("condition").unwrap_or_default().to_string();
    let patch = SegmentPatch {
        description: form.get("description").map(str::to_string),
        condition: Some(condition.clone()),
        condition_json: None,
        status: None,
        split: None,
        remove_split: false,
        expected_version: form.get("expected_version").and_then(|v| v.parse().ok()),
    };
    match update_segment(&s, &auth.caller, id, patch).await {
        Ok(_) => Redirect::to(&format!("/segments/{id}")).into_response(),
        Err(e) => show_page(&s, &auth, id, MemberQuery::default(), Some(e.detail), Some(condition)).await,
    }
}

async fn refresh(State(s): State<AppState>, auth: Authenticated, Path(id): Path<Uuid>) -> Response {
    match refresh_segment(&s, &auth.caller, id).await {
        Ok(_) => Redirect::to(&format!("/segments/{id}")).into_response(),
        Err(e) => show_page(&s, &auth, id, MemberQuery::default(), Some(e.detail), None).await,
    }
}

/// Every member as CSV (player id, the platform's id, country, since). An export is audited.
async fn export(State(s): State<AppState>, auth: Authenticated, Path(id): Path<Uuid>) -> Response {
    let segment = match pitboss_segments::get(&s.db, id).await {
        Ok(segment) => segment,
        Err(e) => return message(StatusCode::NOT_FOUND, "Segments", e.to_string(), "/segments", "Segments"),
    };
    let mut out = String::from("player_id,external_id,country,member_since\n");
    let mut after = None;
    let mut count = 0;
    loop {
        let rows = match pitboss_segments::member_rows(&s.db, id, None, false, after, 5_000).await {
            Ok(rows) => rows,
            Err(e) => {
                return message(StatusCode::SERVICE_UNAVAILABLE, "Export", e.to_string(), "/segments", "Segments");
            }
        };
        for r in &rows {
            out.push_str(&format!("{},{},{},{}\n", r.player_id, csv(&r.external_id), csv(&r.country), when(r.since)));
        }
        count += rows.len();
        match rows.last() {
            Some(last) if rows.len() == 5_000 => after = Some(last.player_id),
            _ => break,
        }
    }
    let entry = auth.caller.audit("segment.export", "segment", id).details(json!({ "members": count }));
    if let Err(e) = record_alone(&s, &entry).await {
        return message(StatusCode::SERVICE_UNAVAILABLE, "Export", e.to_string(), "/segments", "Segments");
    }
    let name: String = segment.name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    let disposition = format!("attachment; filename=\"segment-{name}.csv\"");
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8")),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition).unwrap_or(HeaderValue::from_static("attachment")),
            ),
        ],
        out,
    )
        .into_response()
}

/// A CSV field, quoted when it must be (RFC 4180).
fn csv(v: &str) -> String {
    if v.contains([',', '"', '\n', '\r']) { format!("\"{}\"", v.replace('"', "\"\"")) } else { v.to_string() }
}

/// The size over time as an SVG line, drawn here (no script needed).
fn chart(points: &[SizePoint]) -> String {
    if points.len() < 2 {
        return String::new();
    }
    let (w, h, pad) = (600.0, 160.0, 24.0);
    let (t0, t1) = (points[0].at as f64, points[points.len() - 1].at as f64);
    let max = points.iter().map(|p| p.members).max().unwrap_or(1).max(1) as f64;
    let x = |t: f64| pad + (t - t0) / (t1 - t0).max(1.0) * (w - 2.0 * pad);
    let y = |m: f64| h - pad - m / max * (h - 2.0 * pad);
    let line: Vec<String> =
        points.iter().map(|p| format!("{:.1},{:.1}", x(p.at as f64), y(p.members as f64))).collect();
    format!(
        r##"<svg viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="Members over time, from {} to {}"><polyline fill="none" stroke="#1f5fbf" stroke-width="2" points="{}"/><text x="4" y="14" font-size="12">{}</text><text x="4" y="{}" font-size="12">0</text></svg>"##,
        points[0].members,
        points[points.len() - 1].members,
        line.join(" "),
        max as i64,
        h - 6.0
    )
}
