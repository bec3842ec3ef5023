//! The player profile API.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use chrono::Utc;
use pitboss_auth::policy::{Action, RequestFacts, Resource};
use pitboss_auth::{Caller, audit};
use pitboss_core::event::EventType;
use pitboss_core::new_id;
use pitboss_payments::Balance;
use pitboss_players::{NewPlayer, Player, PlayerPatch, PlayerQuery, PlayerStats, stats};
use pitboss_store::Tx;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::extract::{Json, Path, Query};
use crate::guard::{Authenticated, authorize, decide};
use crate::{AppState, Problem};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/players", get(search).post(create))
        .route("/players/{id}", get(fetch).patch(update))
        .route("/players/{id}/stats", get(player_stats))
        .route("/players/{id}/balances", get(balances))
}

/// One page of players.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct PlayerPage {
    pub items: Vec<Player>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next: Option<Uuid>,
}

/// Search players by id, external id, email, phone or name, with filters; newest first.
#[utoipa::path(get, path = "/api/v1/players", tag = "players", params(PlayerQuery),
    responses((status = 200, body = PlayerPage), (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn search(
    State(s): State<AppState>,
    auth: Authenticated,
    Query(q): Query<PlayerQuery>,
) -> Result<axum::Json<PlayerPage>, Problem> {
    let page = pitboss_players::search(&s.db, &q).await?;
    // Each player is shown only if the policies let the caller read that player (a support
    // agent sees the players of their brands), with personal data masked where they may not
    // see it; so a page can hold fewer items than asked for, and `next` still goes on.
    Ok(axum::Json(PlayerPage { items: visible_players(&s, &auth.caller, page.items), next: page.next }))
}

/// The players the caller may read, with personal data masked where they may not see it.
pub(crate) fn visible_players(s: &AppState, caller: &Caller, found: Vec<Player>) -> Vec<Player> {
    found
        .into_iter()
        .filter(|p| decide(s, caller, Action::PlayerRead, &resource(p), RequestFacts::default()).allowed)
        .map(|p| masked(s, caller, p))
        .collect()
}

/// Create a player profile. The external id must be new.
#[utoipa::path(post, path = "/api/v1/players", tag = "players", request_body = NewPlayer,
    responses((status = 201, body = Player), (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn create(
    State(s): State<AppState>,
    auth: Authenticated,
    Json(new): Json<NewPlayer>,
) -> Result<(StatusCode, axum::Json<Player>), Problem> {
    let caller = &auth.caller;
    let now = Utc::now();
    let mut tx = s.db.begin().await?;
    let player = pitboss_players::create(&mut tx, new, now).await?;
    audit::record(
        &mut tx,
        &caller.audit("player.create", "player", player.id).details(json!({
            "external_id": player.external_id,
        })),
    )
    .await?;
    let payload = serde_json::to_value(player.as_registered()).unwrap_or_default();
    announce(&mut tx, EventType::PlayerRegistered, &player, payload).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(player)))
}

/// A player's profile.
#[utoipa::path(get, path = "/api/v1/players/{id}", tag = "players", params(("id" = Uuid, Path)),
    responses((status = 200, body = Player), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn fetch(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Player>, Problem> {
    let player = pitboss_players::get(&s.db, id).await?;
    authorize(&s, &auth.caller, Action::PlayerRead, &resource(&player), RequestFacts::default()).await?;
    Ok(axum::Json(masked(&s, &auth.caller, player)))
}

/// Change a player's profile. Send `expected_version` to refuse the change if someone else
/// changed the profile since you read it.
#[utoipa::path(patch, path = "/api/v1/players/{id}", tag = "players", params(("id" = Uuid, Path)), request_body = PlayerPatch,
    responses((status = 200, body = Player), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn update(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
    Json(patch): Json<PlayerPatch>,
) -> Result<axum::Json<Player>, Problem> {
    let caller = &auth.caller;
    authorize(
        &s,
        caller,
        Action::PlayerUpdate,
        &resource(&pitboss_players::get(&s.db, id).await?),
        RequestFacts::default(),
    )
    .await?;
    let now = Utc::now();
    let mut tx = s.db.begin().await?;
    let before = pitboss_players::get_in(&mut tx, id).await?;
    let after = pitboss_players::update(&mut tx, id, &patch, now).await?;
    if after.version != before.version {
        let changes = changed_fields(&before, &after);
        audit::record(&mut tx, &caller.audit("player.update", "player", id).details(changes)).await?;
        let payload = serde_json::to_value(after.as_update()).unwrap_or_default();
        announce(&mut tx, EventType::PlayerUpdated, &after, payload).await?;
    }
    tx.commit().await?;
    Ok(axum::Json(masked(&s, caller, after)))
}

/// Activity aggregates: lifetime, and the trailing 7, 30 and 90 days.
#[utoipa::path(get, path = "/api/v1/players/{id}/stats", tag = "players", params(("id" = Uuid, Path)),
    responses((status = 200, body = PlayerStats), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn player_stats(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<PlayerStats>, Problem> {
    let player = pitboss_players::get(&s.db, id).await?;
    authorize(&s, &auth.caller, Action::PlayerRead, &resource(&player), RequestFacts::default()).await?;
    Ok(axum::Json(stats::get(&s.db, id, Utc::now()).await?))
}

/// The player's ledger balances (cash and bonus).
#[utoipa::path(get, path = "/api/v1/players/{id}/balances", tag = "payments", params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<Balance>)),
    security(("api_key" = [])))]
pub async fn balances(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Vec<Balance>>, Problem> {
    let player = pitboss_players::get(&s.db, id).await?;
    authorize(&s, &auth.caller, Action::LedgerRead, &resource(&player), RequestFacts::default()).await?;
    Ok(axum::Json(pitboss_payments::queries::player_balances(&s.db, id).await?))
}

/// A player as the policies see it.
pub fn resource(player: &Player) -> Resource {
    Resource::Player { id: player.id, brand: player.brand.clone(), vip_tier: player.vip_tier.clone() }
}

/// The player with name, email, phone and birth date masked, unless the caller may read the
/// player's personal data.
pub(crate) fn masked(s: &AppState, caller: &Caller, mut player: Player) -> Player {
    if decide(s, caller, Action::PlayerReadPersonalData, &resource(&player), RequestFacts::default()).allowed {
        return player;
    }
    let mask = |v: &mut Option<String>| {
        if v.is_some() {
            *v = Some(MASK.into());
        }
    };
    mask(&mut player.email);
    mask(&mut player.phone);
    mask(&mut player.first_name);
    mask(&mut player.last_name);
    player.birth_date = None;
    player
}

/// What masked personal data reads as.
pub const MASK: &str = "***";

/// `{field: {"from": .., "to": ..}}` for every field that changed.
fn changed_fields(before: &Player, after: &Player) -> Value {
    let (b, a) = (serde_json::to_value(before).unwrap_or_default(), serde_json::to_value(after).unwrap_or_default());
    let mut out = serde_json::Map::new();
    if let (Some(b), Some(a)) = (b.as_object(), a.as_object()) {
        for (k, v) in a {
            if matches!(k.as_str(), "updated_at" | "version") {
                continue;
            }
            if b.get(k) != Some(v) {
                out.insert(k.clone(), json!({"from": b.get(k), "to": v}));
            }
        }
    }
    Value::Object(out)
}

/// Puts the change on the bus (through the outbox), so other modules hear of API changes as
/// they hear of platform events.
async fn announce(tx: &mut Tx, kind: EventType, player: &Player, payload: Value) -> Result<(), Problem> {
    let now = Utc::now();
    let envelope = json!({
        "id": new_id(), "type": kind, "version": 1, "player_id": player.external_id,
        "occurred_at": now, "received_at": now, "source": "pitboss-api", "payload": payload,
        "pitboss_player_id": player.id,
    });
    let message = pitboss_bus::Message {
        id: new_id(),
        topic: kind.as_str().to_string(),
        key: player.id.to_string(),
        payload: envelope.to_string(),
    };
    pitboss_bus::outbox::enqueue(tx, &message, pitboss_core::time::to_micros(now)).await?;
    Ok(())
}

/// What the policies are asked about each player of a list, read once per player.
pub(crate) struct PlayerResources<'a> {
    state: &'a AppState,
    known: std::collections::HashMap<Uuid, Option<Resource>>,
}

impl<'a> PlayerResources<'a> {
    pub(crate) fn new(state: &'a AppState) -> PlayerResources<'a> {
        PlayerResources { state, known: Default::default() }
    }

    /// The player as a policy resource; `None` for a player that is not there.
    pub(crate) async fn get(&mut self, id: Uuid) -> Option<Resource> {
        if let Some(known) = self.known.get(&id) {
            return known.clone();
        }
        let found = pitboss_players::get(&self.state.db, id).await.ok().map(|p| resource(&p));
        self.known.insert(id, found.clone());
        found
    }
}

/// The records, in order, whose player (`player_of`) the caller may `action`: a list shows
/// only what its reader may see of each player.
pub(crate) async fn only_allowed<T>(
    s: &AppState,
    caller: &Caller,
    action: Action,
    found: Vec<T>,
    player_of: impl Fn(&T) -> Uuid,
) -> Vec<T> {
    let mut players = PlayerResources::new(s);
    let mut items = Vec::with_capacity(found.len());
    for item in found {
        let Some(player) = players.get(player_of(&item)).await else { continue };
        if decide(s, caller, action, &player, RequestFacts::default()).allowed {
            items.push(item);
        }
    }
    items
}
