//! Reading and writing profiles. Writes take the caller's transaction, so that the change,
//! its audit record and the events it causes commit together.

use chrono::{DateTime, Utc};
use pitboss_core::event::Consents;
use pitboss_core::time::{from_micros, to_micros};
use pitboss_core::{Currency, new_id};
use pitboss_store::{Db, StoreError, Tx, db, exec, sqlx, tx};
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
    let id = new_id();
    let now_us = to_micros(now);
    let registered_at = new.registered_at.unwrap_or(now);
    let inserted = exec!(
        tx,
        "INSERT INTO players (id, external_id, email, phone, first_name, last_name, search_name, birth_date, \
         gender, country, language, currency, registered_at, traffic_source, affiliate_id, campaign, \
         consent_email, consent_sms, consent_push, consent_messenger, status, kyc_status, vip_tier, \
         created_at, updated_at, version, brand) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, \
         'active', 'none', 'none', $21, $21, 1, $22)",
        id,
        &new.external_id,
        &new.email,
        &new.phone,
        &new.first_name,
        &new.last_name,
        search_name(new.first_name.as_deref(), new.last_name.as_deref()),
        new.birth_date.map(|d| d.to_string()),
        new.gender.map(|g| g.as_str()),
        &new.country,
        &new.language,
        new.currency.as_str(),
        to_micros(registered_at),
        &new.traffic_source,
        &new.affiliate_id,
        &new.campaign,
        new.consents.email,
        new.consents.sms,
        new.consents.push,
        new.consents.messenger,
        now_us,
        new.brand.as_deref().unwrap_or(crate::DEFAULT_BRAND),
    );
    match inserted.map_err(StoreError::from) {
        Err(e) if e.is_unique_violation() => return Err(PlayerError::DuplicateExternalId(new.external_id)),
        other => other?,
    };
    exec!(tx, "INSERT INTO player_stats (player_id, updated_at) VALUES ($1, $2)", id, now_us)?;
    write_tags(tx, id, &new.tags).await?;
    get_in(tx, id).await
}

/// Applies a patch. With `expected_version`, refuses if someone changed the profile meanwhile.
pub async fn update(tx: &mut Tx, id: Uuid, patch: &PlayerPatch, now: DateTime<Utc>) -> Result<Player, PlayerError> {
    let current = get_in(tx, id).await?;
    if let Some(expected) = patch.expected_version
        && expected != current.version
    {
        return Err(PlayerError::VersionConflict { expected, current: current.version });
    }
    let n = patch.apply_to(&current, now.date_naive())?;
    if n == current {
        return Ok(current);
    }
    let changed = exec!(
        tx,
        "UPDATE players SET email = $1, phone = $2, first_name = $3, last_name = $4, search_name = $5, \
         birth_date = $6, gender = $7, country = $8, language = $9, traffic_source = $10, affiliate_id = $11, \
         campaign = $12, consent_email = $13, consent_sms = $14, consent_push = $15, consent_messenger = $16, \
         status = $17, kyc_status = $18, vip_tier = $19, brand = $20, updated_at = $21, version = version + 1 \
         WHERE id = $22 AND version = $23",
        &n.email,
        &n.phone,
        &n.first_name,
        &n.last_name,
        search_name(n.first_name.as_deref(), n.last_name.as_deref()),
        n.birth_date.map(|d| d.to_string()),
        n.gender.map(|g| g.as_str()),
        &n.country,
        &n.language,
        &n.traffic_source,
        &n.affiliate_id,
        &n.campaign,
        n.consents.email,
        n.consents.sms,
        n.consents.push,
        n.consents.messenger,
        n.status.as_str(),
        n.kyc_status.as_str(),
        &n.vip_tier,
        &n.brand,
        to_micros(now),
        id,
        current.version,
    )?;
    if changed == 0 {
        let latest = get_in(tx, id).await?;
        return Err(PlayerError::VersionConflict { expected: current.version, current: latest.version });
    }
    if n.tags != current.tags {
        exec!(tx, "DELETE FROM player_tags WHERE player_id = $1", id)?;
        write_tags(tx, id, &n.tags).await?;
    }
    get_in(tx, id).await
}

async fn write_tags(tx: &mut Tx, id: Uuid, tags: &[String]) -> Result<(), PlayerError> {
    for t in tags {
        exec!(tx, "INSERT INTO player_tags (player_id, tag) VALUES ($1, $2)", id, t)?;
    }
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
/// transaction: one statement per few hundred ids.
pub async fn ids_by_external(tx: &mut Tx, external_ids: &[&str]) -> Result<Vec<(String, Uuid, Currency)>, PlayerError> {
    let mut found = Vec::new();
    for chunk in external_ids.chunks(pitboss_store::in_list_len(tx.engine())) {
        let sql = format!(
            "SELECT external_id, id, currency FROM players WHERE external_id IN ({})",
            pitboss_store::placeholders(1, chunk.len())
        );
        let rows: Vec<(String, Uuid, String)> = tx!(tx, |c| {
            let mut q = sqlx::query_as(&sql);
            for r in chunk {
                q = q.bind(*r);
            }
            q.fetch_all(c).await
        })?;
        found.extend(rows.into_iter().map(|(e, id, cur)| (e, id, cur.parse().unwrap_or(Currency::EUR))));
    }
    Ok(found)
}

async fn id_by_external_in(tx: &mut Tx, external_id: &str) -> Result<Option<Uuid>, PlayerError> {
    Ok(id_by_external(tx, external_id).await?.map(|(id, _)| id))
}
