//! Reading and writing profiles. Writes take the caller's transaction, so that the change,
//! its audit record and the events it causes commit together.

use chrono::{DateTime, Utc};
use pitboss_core::event::Consents;
use pitboss_core::time::{from_micros, to_micros};
use pitboss_core::{Currency, new_id};
use pitboss_store::{Arg, Db, Tx, db, exec_values, fetch_values, sqlx, tx};
use uuid::Uuid;

use crate::PlayerError;
use crate::profile::{NewPlayer, Player, PlayerPatch};

pub(crate) const COLUMNS: &str = "id, external_id, brand, email, phone, first_name, last_name, birth_date, gender, \
    country, language, currency, registered_at, traffic_source, affiliate_id, campaign, consent_email, \
    consent_sms, consent_push, consent_messenger, status, kyc_status, vip_tier, created_at, updated_at, version";

#[derive(sqlx::FromRow)]
pub(crate) struct PlayerRow {
    id: Uuid,
    external_id: String,
    brand: String,
    email: Option<String>,
    phone: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    birth_date: Option<String>,
    gender: Option<String>,
    country: String,
    language: Option<String>,
    currency: String,
    registered_at: i64,
    traffic_source: Option<String>,
    affiliate_id: Option<String>,
    campaign: Option<String>,
    consent_email: bool,
    consent_sms: bool,
    consent_push: bool,
    consent_messenger: bool,
    status: String,
    kyc_status: String,
    vip_tier: String,
    created_at: i64,
    updated_at: i64,
    version: i64,
}

impl PlayerRow {
    pub(crate) fn id(&self) -> Uuid {
        self.id
    }

    /// The profile, with its tags. Stored values were validated on the way in; a value that
    /// no longer parses (a hand-edited row) degrades to the field's default rather than failing reads.
    pub(crate) fn into_player(self, tags: Vec<String>) -> Player {
        Player {
            id: self.id,
            external_id: self.external_id,
            brand: self.brand,
            email: self.email,
            phone: self.phone,
            first_name: self.first_name,
            last_name: self.last_name,
            birth_date: self.birth_date.and_then(|d| d.parse().ok()),
            gender: self.gender.and_then(|g| g.parse().ok()),
            country: self.country,
            language: self.language,
            currency: self.currency.parse().unwrap_or(Currency::EUR),
            registered_at: from_micros(self.registered_at),
            traffic_source: self.traffic_source,
            affiliate_id: self.affiliate_id,
            campaign: self.campaign,
            consents: Consents {
                email: self.consent_email,
                sms: self.consent_sms,
                push: self.consent_push,
                messenger: self.consent_messenger,
            },
            status: self.status.parse().unwrap_or(crate::PlayerStatus::Active),
            kyc_status: self.kyc_status.parse().unwrap_or(crate::KycStatus::None),
            vip_tier: self.vip_tier,
            tags,
            created_at: from_micros(self.created_at),
            updated_at: from_micros(self.updated_at),
            version: self.version,
        }
    }
}

fn search_name(first: Option<&str>, last: Option<&str>) -> Option<String> {
    let joined = [first, last].into_iter().flatten().collect::<Vec<_>>().join(" ");
    (!joined.is_empty()).then(|| joined.to_lowercase())
}

/// Creates a profile (and its empty aggregates). The external id must be new.
pub async fn create(tx: &mut Tx, new: NewPlayer, now: DateTime<Utc>) -> Result<Player, PlayerError> {
    let new = new.normalized(now.date_naive())?;
    if id_by_external_in(tx, &new.external_id).await?.is_some() {
        return Err(PlayerError::DuplicateExternalId(new.external_id));
    }
    let player = new_profile(new, now);
    match insert(tx, &[&player], now).await {
        Err(PlayerError::Store(e)) if e.is_unique_violation() => {
            Err(PlayerError::DuplicateExternalId(player.external_id))
        }
        other => other.map(|()| player),
    }
}

/// Applies a patch. With `expected_version`, refuses if someone changed the profile meanwhile.
pub async fn update(tx: &mut Tx, id: Uuid, patch: &PlayerPatch, now: DateTime<Utc>) -> Result<Player, PlayerError> {
    let current = get_in(tx, id).await?;
    let Some(n) = patched(&current, patch, now)? else { return Ok(current) };
    if let Err(e) = write_changes(tx, &[(&n, current.version, &current.tags)]).await {
        if matches!(e, PlayerError::VersionConflict { .. }) {
            let latest = get_in(tx, id).await?;
            return Err(PlayerError::VersionConflict { expected: current.version, current: latest.version });
        }
        return Err(e);
    }
    Ok(n)
}

/// The profile `create` stores for a validated new player: active, no KYC, no VIP tier, version 1.
pub(crate) fn new_profile(new: NewPlayer, now: DateTime<Utc>) -> Player {
    // Stored in microseconds: the profile as it will read back.
    let now = from_micros(to_micros(now));
    Player {
        id: new_id(),
        external_id: new.external_id,
        brand: new.brand.unwrap_or_else(|| crate::DEFAULT_BRAND.to_string()),
        email: new.email,
        phone: new.phone,
        first_name: new.first_name,
        last_name: new.last_name,
        birth_date: new.birth_date,
        gender: new.gender,
        country: new.country,
        language: new.language,
        currency: new.currency,
        registered_at: from_micros(to_micros(new.registered_at.unwrap_or(now))),
        traffic_source: new.traffic_source,
        affiliate_id: new.affiliate_id,
        campaign: new.campaign,
        consents: new.consents,
        status: crate::PlayerStatus::Active,
        kyc_status: crate::KycStatus::None,
        vip_tier: "none".into(),
        tags: new.tags,
        created_at: now,
        updated_at: now,
        version: 1,
    }
}

/// The profile after `patch`, or `None` if it changes nothing. Checks `expected_version`.
pub(crate) fn patched(
    current: &Player,
    patch: &PlayerPatch,
    now: DateTime<Utc>,
) -> Result<Option<Player>, PlayerError> {
    if let Some(expected) = patch.expected_version
        && expected != current.version
    {
        return Err(PlayerError::VersionConflict { expected, current: current.version });
    }
    let mut n = patch.apply_to(current, now.date_naive())?;
    if n == *current {
        return Ok(None);
    }
    n.updated_at = from_micros(to_micros(now));
    n.version = current.version + 1;
    Ok(Some(n))
}

/// Inserts new profiles with their tags and empty aggregates: one statement per table.
pub(crate) async fn insert(tx: &mut Tx, players: &[&Player], now: DateTime<Utc>) -> Result<(), PlayerError> {
    let rows: Vec<Vec<Arg>> = players.iter().map(|p| [vec![Arg::Id(p.id)], profile_args(p)].concat()).collect();
    exec_values(tx, &format!("INSERT INTO players (id, {PROFILE_COLUMNS}) VALUES {{values}}"), &rows).await?;
    let stats: Vec<Vec<Arg>> = players.iter().map(|p| vec![Arg::Id(p.id), Arg::Int(to_micros(now))]).collect();
    exec_values(tx, "INSERT INTO player_stats (player_id, updated_at) VALUES {values}", &stats).await?;
    insert_tags(tx, players.iter().copied()).await
}

/// Writes changed profiles `(profile, version it was read at, tags it was read with)`: one
/// statement per table. A profile changed by someone else since it was read is a conflict.
pub(crate) async fn write_changes(tx: &mut Tx, changes: &[(&Player, i64, &Vec<String>)]) -> Result<(), PlayerError> {
    let rows: Vec<Vec<Arg>> =
        changes.iter().map(|(p, was, _)| [vec![Arg::Id(p.id), Arg::Int(*was)], profile_args(p)].concat()).collect();
    let assignments: Vec<String> = PROFILE_COLUMNS
        .split(", ")
        .filter(|c| !IMMUTABLE_COLUMNS.contains(c))
        .map(|c| format!("{c} = v.{c}"))
        .collect();
    let changed = exec_values(
        tx,
        &format!(
            "WITH v (id, version_was, {PROFILE_COLUMNS}) AS (VALUES {{values}}) UPDATE players SET {} \
             FROM v WHERE players.id = v.id AND players.version = v.version_was",
            assignments.join(", ")
        ),
        &rows,
    )
    .await?;
    if changed != rows.len() as u64 {
        let (expected, current) = changes.first().map_or((0, 0), |(p, was, _)| (*was, p.version));
        return Err(PlayerError::VersionConflict { expected, current });
    }
    let retagged: Vec<&Player> = changes.iter().filter(|(p, _, tags)| p.tags != **tags).map(|(p, _, _)| *p).collect();
    let ids: Vec<Uuid> = retagged.iter().map(|p| p.id).collect();
    for chunk in ids.chunks(pitboss_store::in_list_len(tx.engine())) {
        let sql =
            format!("DELETE FROM player_tags WHERE player_id IN ({})", pitboss_store::placeholders(1, chunk.len()));
        tx!(tx, |c| {
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(*id);
            }
            q.execute(c).await.map(|r| r.rows_affected())
        })?;
    }
    insert_tags(tx, retagged.into_iter()).await
}

/// The profile columns written on insert and update, in the order of [`profile_args`].
const PROFILE_COLUMNS: &str = "external_id, email, phone, first_name, last_name, search_name, birth_date, gender, \
    country, language, currency, registered_at, traffic_source, affiliate_id, campaign, consent_email, consent_sms, \
    consent_push, consent_messenger, status, kyc_status, vip_tier, created_at, updated_at, version, brand";

/// Columns an update never changes.
const IMMUTABLE_COLUMNS: [&str; 4] = ["external_id", "currency", "registered_at", "created_at"];

fn profile_args(p: &Player) -> Vec<Arg> {
    vec![
        Arg::Text(p.external_id.clone()),
        Arg::OptText(p.email.clone()),
        Arg::OptText(p.phone.clone()),
        Arg::OptText(p.first_name.clone()),
        Arg::OptText(p.last_name.clone()),
        Arg::OptText(search_name(p.first_name.as_deref(), p.last_name.as_deref())),
        Arg::OptText(p.birth_date.map(|d| d.to_string())),
        Arg::OptText(p.gender.map(|g| g.as_str().to_string())),
        Arg::Text(p.country.clone()),
        Arg::OptText(p.language.clone()),
        Arg::Text(p.currency.as_str().to_string()),
        Arg::Int(to_micros(p.registered_at)),
        Arg::OptText(p.traffic_source.clone()),
        Arg::OptText(p.affiliate_id.clone()),
        Arg::OptText(p.campaign.clone()),
        Arg::Bool(p.consents.email),
        Arg::Bool(p.consents.sms),
        Arg::Bool(p.consents.push),
        Arg::Bool(p.consents.messenger),
        Arg::Text(p.status.as_str().to_string()),
        Arg::Text(p.kyc_status.as_str().to_string()),
        Arg::Text(p.vip_tier.clone()),
        Arg::Int(to_micros(p.created_at)),
        Arg::Int(to_micros(p.updated_at)),
        Arg::Int(p.version),
        Arg::Text(p.brand.clone()),
    ]
}

async fn insert_tags(tx: &mut Tx, players: impl Iterator<Item = &Player>) -> Result<(), PlayerError> {
    let rows: Vec<Vec<Arg>> =
        players.flat_map(|p| p.tags.iter().map(|t| vec![Arg::Id(p.id), Arg::Text(t.clone())])).collect();
    exec_values(tx, "INSERT INTO player_tags (player_id, tag) VALUES {values}", &rows).await?;
    Ok(())
}

/// A profile by id.
pub async fn get(db: &Db, id: Uuid) -> Result<Player, PlayerError> {
    let sql = format!("SELECT {COLUMNS} FROM players WHERE id = $1");
    let row: Option<PlayerRow> = db!(db, |c| sqlx::query_as(&sql).bind(id).fetch_optional(c).await)?;
    let row = row.ok_or(PlayerError::NotFound(id))?;
    let tags: Vec<String> = db!(db, |c| {
        sqlx::query_scalar("SELECT tag FROM player_tags WHERE player_id = $1 ORDER BY tag").bind(id).fetch_all(c).await
    })?;
    Ok(row.into_player(tags))
}

/// A profile by id, read inside a transaction (sees the transaction's own writes).
pub async fn get_in(tx: &mut Tx, id: Uuid) -> Result<Player, PlayerError> {
    let sql = format!("SELECT {COLUMNS} FROM players WHERE id = $1");
    let row: Option<PlayerRow> = tx!(tx, |c| sqlx::query_as(&sql).bind(id).fetch_optional(c).await)?;
    let row = row.ok_or(PlayerError::NotFound(id))?;
    let tags: Vec<String> = tx!(tx, |c| {
        sqlx::query_scalar("SELECT tag FROM player_tags WHERE player_id = $1 ORDER BY tag").bind(id).fetch_all(c).await
    })?;
    Ok(row.into_player(tags))
}

/// The id and wallet currency of the player with this external id, inside a transaction.
pub async fn id_by_external(tx: &mut Tx, external_id: &str) -> Result<Option<(Uuid, Currency)>, PlayerError> {
    let row: Option<(Uuid, String)> = tx!(tx, |c| {
        sqlx::query_as("SELECT id, currency FROM players WHERE external_id = $1")
            .bind(external_id)
            .fetch_optional(c)
            .await
    })?;
    Ok(row.map(|(id, cur)| (id, cur.parse().unwrap_or(Currency::EUR))))
}

/// `(external id, id, wallet currency)` of each of these players that exists, inside a
/// transaction, in one statement (on SQLite, one per few hundred ids).
pub async fn ids_by_external(tx: &mut Tx, external_ids: &[&str]) -> Result<Vec<(String, Uuid, Currency)>, PlayerError> {
    let ids: Vec<Vec<Arg>> = external_ids.iter().map(|e| vec![Arg::Text(e.to_string())]).collect();
    let rows: Vec<(String, Uuid, String)> =
        fetch_values(tx, "SELECT external_id, id, currency FROM players WHERE external_id IN (VALUES {values})", &ids)
            .await?;
    Ok(rows.into_iter().map(|(e, id, cur)| (e, id, cur.parse().unwrap_or(Currency::EUR))).collect())
}

async fn id_by_external_in(tx: &mut Tx, external_id: &str) -> Result<Option<Uuid>, PlayerError> {
    Ok(id_by_external(tx, external_id).await?.map(|(id, _)| id))
}
