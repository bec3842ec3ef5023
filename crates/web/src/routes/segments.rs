//! The segments API: definitions and their versions, the live count while editing, refreshes,
//! members and size over time, and a player's segments.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use pitboss_auth::policy::{Action, RequestFacts, Resource};
use pitboss_auth::{Caller, audit};
use pitboss_segments::{MemberRow, NewSegment, RefreshReport, Segment, SegmentPatch, SegmentVersion, SizePoint};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::extract::{Json, Path, Query};
use crate::guard::{Authenticated, authorize, decide};
use crate::{AppState, Problem};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/segments", get(list).post(create))
        .route("/segments/preview", post(preview))
        .route("/segments/{id}", get(fetch).patch(update))
        .route("/segments/{id}/refresh", post(refresh))
        .route("/segments/{id}/members", get(members))
        .route("/segments/{id}/versions", get(versions))
        .route("/segments/{id}/sizes", get(sizes))
        .route("/segments/{id}/groups", get(groups))
        .route("/players/{id}/segments", get(player_segments))
        .route("/segments/{id}/players/{player}", get(explain))
}

fn now() -> i64 {
    pitboss_core::time::to_micros(chrono::Utc::now())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Include archived segments.
    #[serde(default)]
    pub archived: bool,
}

/// Segments, by name.
#[utoipa::path(get, path = "/api/v1/segments", tag = "segments", params(ListQuery),
    responses((status = 200, body = Vec<Segment>)), security(("api_key" = [])))]
pub async fn list(
    State(s): State<AppState>,
    _auth: Authenticated,
    Query(q): Query<ListQuery>,
) -> Result<axum::Json<Vec<Segment>>, Problem> {
    Ok(axum::Json(pitboss_segments::list(&s.db, q.archived).await?))
}

/// Create a segment; its members are computed at once.
#[utoipa::path(post, path = "/api/v1/segments", tag = "segments", request_body = NewSegment,
    responses((status = 201, body = Segment), (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn create(
    State(s): State<AppState>,
    auth: Authenticated,
    Json(new): Json<NewSegment>,
) -> Result<(StatusCode, axum::Json<Segment>), Problem> {
    Ok((StatusCode::CREATED, axum::Json(create_segment(&s, &auth.caller, new).await?)))
}

/// Creates a segment, computes its members and audits it, in one transaction (the API and the
/// pages both create through here).
pub(crate) async fn create_segment(s: &AppState, caller: &Caller, new: NewSegment) -> Result<Segment, Problem> {
    let at = now();
    let mut tx = s.db.begin().await?;
    let segment = pitboss_segments::create(&mut tx, new, &caller.actor(), at).await?;
    pitboss_segments::refresh_in(&mut tx, segment.id, at, &s.rates).await?;
    audit::record(&mut tx, &caller.audit("segment.create", "segment", segment.id).after(json!(segment))).await?;
    tx.commit().await?;
    schedule_timers(s);
    Ok(pitboss_segments::get(&s.db, segment.id).await?)
}

/// Sets every player's timer for the new set of conditions, in the background: on a large
/// player base it takes a while, and the segment is already current at this instant.
fn schedule_timers(s: &AppState) {
    let (db, rates) = (s.db.clone(), s.rates.clone());
    tokio::spawn(async move {
        let started = std::time::Instant::now();
        match pitboss_segments::schedule_all(&db, now(), &rates, 1_000).await {
            Ok(players) => tracing::info!(players, seconds = started.elapsed().as_secs_f64(), "segment timers set"),
            Err(e) => {
                tracing::error!(error = %e, "segment timers could not be set; each player gets theirs on their next event or segment change")
            }
        }
    });
}

/// A condition to try.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PreviewRequest {
    pub condition: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub condition_json: Option<serde_json::Value>,
}

/// What a condition would select now.
#[derive(Debug, Serialize, ToSchema)]
pub struct Preview {
    /// Players it holds for now.
    pub count: i64,
    /// The condition in canonical text and JSON forms.
    pub condition: String,
    #[schema(value_type = Object)]
    pub condition_json: serde_json::Value,
}

/// Check a condition and count the players it holds for, storing nothing (the segment
/// editor's live count).
#[utoipa::path(post, path = "/api/v1/segments/preview", tag = "segments", request_body = PreviewRequest,
    responses((status = 200, body = Preview), (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn preview(
    State(s): State<AppState>,
    _auth: Authenticated,
    Json(req): Json<PreviewRequest>,
) -> Result<axum::Json<Preview>, Problem> {
    let rule = pitboss_segments::parse_condition(req.condition.as_deref(), req.condition_json.as_ref())?;
    let count = pitboss_segments::member_count_preview(&s.db, &rule, now(), &s.rates).await?;
    let condition_json =
        pitboss_rules::text_to_json(&rule.text).map_err(|e| Problem::validation("condition", e.to_string()))?;
    Ok(axum::Json(Preview { count, condition: rule.text, condition_json }))
}

/// A segment.
#[utoipa::path(get, path = "/api/v1/segments/{id}", tag = "segments", params(("id" = Uuid, Path)),
    responses((status = 200, body = Segment), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn fetch(
    State(s): State<AppState>,
    _auth: Authenticated,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Segment>, Problem> {
    Ok(axum::Json(pitboss_segments::get(&s.db, id).await?))
}

/// Change a segment's description, condition (a new version) or status; members follow at once.
#[utoipa::path(patch, path = "/api/v1/segments/{id}", tag = "segments", params(("id" = Uuid, Path)), request_body = SegmentPatch,
    responses((status = 200, body = Segment), (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn update(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
    Json(patch): Json<SegmentPatch>,
) -> Result<axum::Json<Segment>, Problem> {
    Ok(axum::Json(update_segment(&s, &auth.caller, id, patch).await?))
}

/// Applies a change; when something changed, recomputes the members and audits before and
/// after, in one transaction.
pub(crate) async fn update_segment(
    s: &AppState,
    caller: &Caller,
    id: Uuid,
    patch: SegmentPatch,
) -> Result<Segment, Problem> {
    let at = now();
    let mut tx = s.db.begin().await?;
    let (before, after) = pitboss_segments::update(&mut tx, id, patch, &caller.actor(), at).await?;
    if before != after {
        pitboss_segments::refresh_in(&mut tx, id, at, &s.rates).await?;
        audit::record(
            &mut tx,
            &caller.audit("segment.update", "segment", id).before(json!(before)).after(json!(after)),
        )
        .await?;
    }
    tx.commit().await?;
    if before.condition != after.condition || before.status != after.status {
        schedule_timers(s);
    }
    Ok(pitboss_segments::get(&s.db, id).await?)
}

/// Evaluate the segment over every player now, recording who entered and who left.
#[utoipa::path(post, path = "/api/v1/segments/{id}/refresh", tag = "segments", params(("id" = Uuid, Path)),
    responses((status = 200, body = RefreshReport), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn refresh(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<RefreshReport>, Problem> {
    Ok(axum::Json(refresh_segment(&s, &auth.caller, id).await?))
}

/// Recomputes the members now and audits the refresh, in one transaction.
pub(crate) async fn refresh_segment(s: &AppState, caller: &Caller, id: Uuid) -> Result<RefreshReport, Problem> {
    let mut tx = s.db.begin().await?;
    let report = pitboss_segments::refresh_in(&mut tx, id, now(), &s.rates).await?;
    audit::record(&mut tx, &caller.audit("segment.refresh", "segment", id).details(json!(report))).await?;
    tx.commit().await?;
    Ok(report)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MembersQuery {
    /// The last player id of the previous page.
    pub after: Option<Uuid>,
    /// 1 to 10,000, default 100.
    pub limit: Option<i64>,
    /// Leave out the global holdout (players kept out of every campaign).
    #[serde(default)]
    pub exclude_holdout: bool,
    /// Only members whose external id starts with this, whose email starts with it (in any
    /// case), or a word of whose name starts with it. Email and name count only for members
    /// whose personal data the caller may see.
    pub q: Option<String>,
}

/// A member and when they entered.
#[derive(Debug, Serialize, ToSchema)]
pub struct Member {
    pub player_id: Uuid,
    /// Microseconds since the Unix epoch.
    pub since: i64,
    /// The member's A/B group, when the segment has a split.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// In the global holdout: never to be sent a campaign.
    pub holdout: bool,
}

/// One page of members.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberPage {
    pub items: Vec<Member>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next: Option<Uuid>,
}

/// The segment's members, by player id; with `q`, those found by external id, email or name.
#[utoipa::path(get, path = "/api/v1/segments/{id}/members", tag = "segments", params(("id" = Uuid, Path), MembersQuery),
    responses((status = 200, body = MemberPage)), security(("api_key" = [])))]
pub async fn members(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
    Query(q): Query<MembersQuery>,
) -> Result<axum::Json<MemberPage>, Problem> {
    let segment = pitboss_segments::get(&s.db, id).await?;
    let limit = q.limit.unwrap_or(100).clamp(1, 10_000);
    let full = |read: usize| read as i64 == limit;
    let (rows, next): (Vec<(Uuid, i64)>, Option<Uuid>) = match q.q.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        None => {
            let rows = pitboss_segments::members(&s.db, id, q.after, limit).await?;
            let next = full(rows.len()).then(|| rows.last().map(|r| r.0)).flatten();
            (rows, next)
        }
        Some(text) => {
            let by_personal_data = searches_personal_data(&s, &auth.caller);
            let rows = pitboss_segments::member_rows(&s.db, id, Some(text), by_personal_data, q.after, limit).await?;
            // `next` goes on from the last row read, kept or not, as in the player search.
            let next = full(rows.len()).then(|| rows.last().map(|r| r.player_id)).flatten();
            let kept = rows
                .into_iter()
                .filter(|r| found_by_what_they_see(&s, &auth.caller, text, r))
                .map(|r| (r.player_id, r.since))
                .collect();
            (kept, next)
        }
    };
    let group = |p: Uuid| segment.split.as_ref().map(|split| split.group_of(p).to_string());
    let items = rows
        .into_iter()
        .map(|(player_id, since)| Member {
            player_id,
            since,
            group: group(player_id),
            holdout: s.holdout.contains(player_id),
        })
        .filter(|m| !(q.exclude_holdout && m.holdout))
        .collect();
    Ok(axum::Json(MemberPage { items, next }))
}

/// Whether a member search may look at email and name: not for a caller who sees no player's
/// personal data (an analyst), so that what they find cannot reveal what the mask hides.
pub(crate) fn searches_personal_data(s: &AppState, caller: &Caller) -> bool {
    let action = Action::PlayerReadPersonalData;
    decide(s, caller, action, &Resource::Module(action.module()), RequestFacts::default()).allowed
}

/// Whether the caller sees this member's personal data (a VIP manager sees only that of VIP
/// players of their brands).
pub(crate) fn sees_personal_data(s: &AppState, caller: &Caller, m: &MemberRow) -> bool {
    let resource = Resource::Player { id: m.player_id, brand: m.brand.clone(), vip_tier: m.vip_tier.clone() };
    decide(s, caller, Action::PlayerReadPersonalData, &resource, RequestFacts::default()).allowed
}

/// Whether a member a search for `text` found may be shown: found by the external id, or by
/// personal data the caller may see.
pub(crate) fn found_by_what_they_see(s: &AppState, caller: &Caller, text: &str, m: &MemberRow) -> bool {
    m.external_id.starts_with(text) || sees_personal_data(s, caller, m)
}

/// Every version of the segment's condition, newest first.
#[utoipa::path(get, path = "/api/v1/segments/{id}/versions", tag = "segments", params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<SegmentVersion>)), security(("api_key" = [])))]
pub async fn versions(
    State(s): State<AppState>,
    _auth: Authenticated,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Vec<SegmentVersion>>, Problem> {
    pitboss_segments::get(&s.db, id).await?;
    Ok(axum::Json(pitboss_segments::versions(&s.db, id).await?))
}

/// The segment's size at each refresh, oldest first.
#[utoipa::path(get, path = "/api/v1/segments/{id}/sizes", tag = "segments", params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<SizePoint>)), security(("api_key" = [])))]
pub async fn sizes(
    State(s): State<AppState>,
    _auth: Authenticated,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Vec<SizePoint>>, Problem> {
    pitboss_segments::get(&s.db, id).await?;
    Ok(axum::Json(pitboss_segments::sizes(&s.db, id, 1000).await?))
}

/// How many members each A/B group has.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupCount {
    pub group: String,
    pub members: i64,
}

/// The members per A/B group (the segment must have a split).
#[utoipa::path(get, path = "/api/v1/segments/{id}/groups", tag = "segments", params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<GroupCount>), (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn groups(
    State(s): State<AppState>,
    _auth: Authenticated,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Vec<GroupCount>>, Problem> {
    let segment = pitboss_segments::get(&s.db, id).await?;
    let Some(split) = segment.split else {
        return Err(Problem::validation("split", "this segment has no A/B split; add one with PATCH {\"split\": ...}"));
    };
    let mut counts: Vec<GroupCount> =
        split.groups.iter().map(|g| GroupCount { group: g.name.clone(), members: 0 }).collect();
    let mut after = None;
    loop {
        let page = pitboss_segments::members(&s.db, id, after, 10_000).await?;
        for (player, _) in &page {
            let name = split.group_of(*player);
            if let Some(c) = counts.iter_mut().find(|c| c.group == name) {
                c.members += 1;
            }
        }
        match page.last() {
            Some((last, _)) if page.len() == 10_000 => after = Some(*last),
            _ => break,
        }
    }
    Ok(axum::Json(counts))
}

/// A segment a player is in.
#[derive(Debug, Serialize, ToSchema)]
pub struct Membership {
    pub segment_id: Uuid,
    pub segment: String,
    /// When the player entered (microseconds since the Unix epoch).
    pub since: i64,
}

/// The segments a player is in, and since when.
#[utoipa::path(get, path = "/api/v1/players/{id}/segments", tag = "segments", params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<Membership>)), security(("api_key" = [])))]
pub async fn player_segments(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Vec<Membership>>, Problem> {
    let player = pitboss_players::get(&s.db, id).await?;
    authorize(
        &s,
        &auth.caller,
        Action::PlayerRead,
        &crate::routes::players::resource(&player),
        RequestFacts::default(),
    )
    .await?;
    let rows = pitboss_segments::segments_of(&s.db, id).await?;
    Ok(axum::Json(
        rows.into_iter().map(|(segment_id, segment, since)| Membership { segment_id, segment, since }).collect(),
    ))
}

/// Why a player is in a segment or not: the condition evaluated on the player's facts now,
/// node by node, beside the stored membership.
#[utoipa::path(get, path = "/api/v1/segments/{id}/players/{player}", tag = "segments",
    params(("id" = Uuid, Path), ("player" = Uuid, Path)),
    responses((status = 200, body = pitboss_segments::Explanation), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn explain(
    State(s): State<AppState>,
    auth: Authenticated,
    Path((id, player)): Path<(Uuid, Uuid)>,
) -> Result<axum::Json<pitboss_segments::Explanation>, Problem> {
    Ok(axum::Json(explain_membership(&s, &auth.caller, id, player).await?))
}

/// The explanation, for a caller the policies let read this player (the API and the page).
pub(crate) async fn explain_membership(
    s: &AppState,
    caller: &Caller,
    id: Uuid,
    player: Uuid,
) -> Result<pitboss_segments::Explanation, Problem> {
    let profile = pitboss_players::get(&s.db, player).await?;
    authorize(s, caller, Action::PlayerRead, &crate::routes::players::resource(&profile), RequestFacts::default())
        .await?;
    Ok(pitboss_segments::explain(&s.db, id, player, now(), &s.rates).await?)
}
