//! Segments as stored: create, change (a new version each time), read, list; members and size.

use pitboss_rules::Rates;
use pitboss_rules::sql::FROM;
use pitboss_store::{Db, StoreError, Tx, db, exec, sqlx, tx};
use uuid::Uuid;

use crate::model::{NewSegment, Segment, SegmentPatch, SegmentStatus, SegmentVersion, SizePoint};
use crate::{SegmentError, parse_condition};

const NAME_MAX: usize = 100;
const DESCRIPTION_MAX: usize = 2_000;

fn validate_name(name: &str) -> Result<String, SegmentError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > NAME_MAX || name.chars().any(char::is_control) {
        return Err(SegmentError::Invalid(format!(
            "name: give the segment a name of 1 to {NAME_MAX} characters, on one line"
        )));
    }
    Ok(name.to_string())
}

fn validate_description(d: &str) -> Result<(), SegmentError> {
    if d.chars().count() > DESCRIPTION_MAX {
        return Err(SegmentError::Invalid(format!("description: at most {DESCRIPTION_MAX} characters")));
    }
    Ok(())
}

/// Creates a segment at version 1, inside `tx` (the caller audits it there).
pub async fn create(tx: &mut Tx, new: NewSegment, actor: &str, now: i64) -> Result<Segment, SegmentError> {
    let name = validate_name(&new.name)?;
    validate_description(&new.description)?;
    let rule = parse_condition(new.condition.as_deref(), new.condition_json.as_ref())?;
    crate::references::check(tx, &name, None, &rule).await?;
    let json = pitboss_rules::text_to_json(&rule.text).map_err(|e| SegmentError::Invalid(e.to_string()))?;
    if let Some(split) = &new.split {
        split.validate()?;
    }
    let segment = Segment {
        id: pitboss_core::new_id(),
        name,
        description: new.description,
        version: 1,
        condition: rule.text,
        condition_json: json,
        status: SegmentStatus::Active,
        split: new.split,
        member_count: 0,
        evaluated_at: None,
        created_at: now,
        created_by: actor.to_string(),
        updated_at: now,
        updated_by: actor.to_string(),
    };
    let inserted = exec!(
        tx,
        "INSERT INTO segments (id, name, description, version, condition_text, condition_json, status, member_count, \
         created_at, created_by, updated_at, updated_by, split_json) VALUES ($1, $2, $3, 1, $4, $5, $6, 0, $7, $8, $7, $8, $9)",
        segment.id,
        &segment.name,
        &segment.description,
        &segment.condition,
        segment.condition_json.to_string(),
        segment.status.as_str(),
        now,
        actor,
        split_text(&segment.split),
    );
    if let Err(e) = inserted {
        let e = StoreError::from(e);
        return Err(if e.is_unique_violation() { SegmentError::NameTaken { name: segment.name } } else { e.into() });
    }
    add_version(tx, &segment).await?;
    Ok(segment)
}

async fn add_version(tx: &mut Tx, s: &Segment) -> Result<(), SegmentError> {
    exec!(
        tx,
        "INSERT INTO segment_versions (segment_id, version, condition_text, condition_json, created_at, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        s.id,
        s.version,
        &s.condition,
        s.condition_json.to_string(),
        s.updated_at,
        &s.updated_by,
    )?;
    Ok(())
}

/// Applies a change inside `tx`; returns the segment before and after. A new condition makes a
/// new version; archiving empties the members (the next refresh of an active segment fills
/// them again).
pub async fn update(
    tx: &mut Tx,
    id: Uuid,
    patch: SegmentPatch,
    actor: &str,
    now: i64,
) -> Result<(Segment, Segment), SegmentError> {
    let before = get_in(tx, id).await?;
    if let Some(expected) = patch.expected_version
        && expected != before.version
    {
        return Err(SegmentError::StaleVersion { expected, current: before.version });
    }
    let mut after = before.clone();
    if let Some(d) = patch.description {
        validate_description(&d)?;
        after.description = d;
    }
    if patch.condition.is_some() || patch.condition_json.is_some() {
        let rule = parse_condition(patch.condition.as_deref(), patch.condition_json.as_ref())?;
        crate::references::check(tx, &before.name, Some(id), &rule).await?;
        after.condition_json =
            pitboss_rules::text_to_json(&rule.text).map_err(|e| SegmentError::Invalid(e.to_string()))?;
        after.condition = rule.text;
    }
    if let Some(status) = patch.status {
        after.status = status;
    }
    if after.status == SegmentStatus::Archived && before.status != SegmentStatus::Archived {
        let users = crate::references::used_by(tx, &before.name, id).await?;
        if !users.is_empty() {
            return Err(SegmentError::Invalid(format!(
                "status: `{}` cannot be archived while segments are built on it: {}; change them first",
                before.name,
                users.into_iter().map(|(_, name)| name).collect::<Vec<_>>().join(", ")
            )));
        }
    }
    if let Some(split) = patch.split {
        split.validate()?;
        after.split = Some(split);
    }
    if patch.remove_split {
        after.split = None;
    }
    if after == before {
        return Ok((before, after));
    }
    after.version += 1;
    after.updated_at = now;
    after.updated_by = actor.to_string();
    if after.status == SegmentStatus::Archived {
        exec!(tx, "DELETE FROM segment_members WHERE segment_id = $1", id)?;
        after.member_count = 0;
    }
    exec!(
        tx,
        "UPDATE segments SET description = $2, version = $3, condition_text = $4, condition_json = $5, status = $6, \
         member_count = $7, updated_at = $8, updated_by = $9, split_json = $10 WHERE id = $1",
        id,
        &after.description,
        after.version,
        &after.condition,
        after.condition_json.to_string(),
        after.status.as_str(),
        after.member_count,
        now,
        actor,
        split_text(&after.split),
    )?;
    add_version(tx, &after).await?;
    Ok((before, after))
}

const COLUMNS: &str = "id, name, description, version, condition_text, condition_json, status, member_count, \
    evaluated_at, created_at, created_by, updated_at, updated_by, split_json";

type Row =
    (Uuid, String, String, i64, String, String, String, i64, Option<i64>, i64, String, i64, String, Option<String>);

fn split_text(split: &Option<crate::split::Split>) -> Option<String> {
    split.as_ref().and_then(|s| serde_json::to_string(s).ok())
}

fn to_segment(r: Row) -> Segment {
    Segment {
        id: r.0,
        name: r.1,
        description: r.2,
        version: r.3,
        condition: r.4,
        // Written only by this module from a JSON value; kept as text if a hand edit broke it.
        condition_json: serde_json::from_str(&r.5).unwrap_or(serde_json::Value::String(r.5)),
        status: SegmentStatus::from_name(&r.6).unwrap_or(SegmentStatus::Archived),
        split: r.13.as_deref().and_then(|t| serde_json::from_str(t).ok()),
        member_count: r.7,
        evaluated_at: r.8,
        created_at: r.9,
        created_by: r.10,
        updated_at: r.11,
        updated_by: r.12,
    }
}

pub async fn get(db: &Db, id: Uuid) -> Result<Segment, SegmentError> {
    let sql = format!("SELECT {COLUMNS} FROM segments WHERE id = $1");
    let row: Option<Row> = db!(db, |c| sqlx::query_as(&sql).bind(id).fetch_optional(c).await)?;
    row.map(to_segment).ok_or(SegmentError::NotFound { id })
}

pub(crate) async fn get_in(tx: &mut Tx, id: Uuid) -> Result<Segment, SegmentError> {
    let sql = format!("SELECT {COLUMNS} FROM segments WHERE id = $1");
    let row: Option<Row> = tx!(tx, |c| sqlx::query_as(&sql).bind(id).fetch_optional(c).await)?;
    row.map(to_segment).ok_or(SegmentError::NotFound { id })
}

/// Every segment, by name; archived ones only when asked.
pub async fn list(db: &Db, include_archived: bool) -> Result<Vec<Segment>, SegmentError> {
    let filter = if include_archived { "" } else { "WHERE status = 'active'" };
    let sql = format!("SELECT {COLUMNS} FROM segments {filter} ORDER BY name");
    let rows: Vec<Row> = db!(db, |c| sqlx::query_as(&sql).fetch_all(c).await)?;
    Ok(rows.into_iter().map(to_segment).collect())
}

pub async fn versions(db: &Db, id: Uuid) -> Result<Vec<SegmentVersion>, SegmentError> {
    let rows: Vec<(i64, String, i64, String)> = db!(db, |c| {
        sqlx::query_as(
            "SELECT version, condition_text, created_at, created_by FROM segment_versions WHERE segment_id = $1 \
             ORDER BY version DESC",
        )
        .bind(id)
        .fetch_all(c)
        .await
    })?;
    Ok(rows
        .into_iter()
        .map(|(version, condition, created_at, created_by)| SegmentVersion {
            version,
            condition,
            created_at,
            created_by,
        })
        .collect())
}

/// Members, newest entry first, `limit` after the player `after` (keyset by player id within
/// the same `since`); returns (player id, since).
pub async fn members(db: &Db, id: Uuid, after: Option<Uuid>, limit: i64) -> Result<Vec<(Uuid, i64)>, SegmentError> {
    let limit = limit.clamp(1, 10_000);
    let rows: Vec<(Uuid, i64)> = match after {
        None => db!(db, |c| {
            sqlx::query_as(
                "SELECT player_id, since FROM segment_members WHERE segment_id = $1 ORDER BY player_id LIMIT $2",
            )
            .bind(id)
            .bind(limit)
            .fetch_all(c)
            .await
        })?,
        Some(after) => db!(db, |c| {
            sqlx::query_as(
                "SELECT player_id, since FROM segment_members WHERE segment_id = $1 AND player_id > $2 \
                 ORDER BY player_id LIMIT $3",
            )
            .bind(id)
            .bind(after)
            .bind(limit)
            .fetch_all(c)
            .await
        })?,
    };
    Ok(rows)
}

/// A member as the member list shows it. Email and name are personal data: callers show them
/// masked to whom the policies say so, and decide that by the player's brand and VIP tier.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct MemberRow {
    pub player_id: Uuid,
    pub external_id: String,
    pub country: String,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub brand: String,
    pub vip_tier: String,
    /// When the player entered (microseconds since the Unix epoch).
    pub since: i64,
}

type MemberTuple = (Uuid, String, String, Option<String>, Option<String>, Option<String>, String, String, i64);

/// Members by player id, after `after`; with `search`, only those whose external id starts
/// with it and, when `by_personal_data`, also those whose email starts with it (in any case) or
/// a word of whose name does. Names match as the player search matches them
/// (`pitboss_players::search::word_start_patterns`, on the lower-cased `search_name` the profile
/// keeps beside the name, as it keeps emails lower-cased). Callers who may not see personal data
/// search without it, so that what they find cannot reveal what the mask hides.
pub async fn member_rows(
    db: &Db,
    id: Uuid,
    search: Option<&str>,
    by_personal_data: bool,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<MemberRow>, SegmentError> {
    let limit = limit.clamp(1, 10_000);
    let text = search.map(str::trim).filter(|t| !t.is_empty());
    let mut binds: Vec<String> = Vec::new();
    let filter = match text {
        None => String::new(),
        Some(text) => {
            binds.push(text.to_string());
            // A prefix compared as text: LIKE would read `_` and `%` in external ids as wildcards.
            let mut any = vec!["substr(p.external_id, 1, length($4)) = $4".to_string()];
            if by_personal_data {
                binds.extend(pitboss_players::search::word_start_patterns(text));
                any.push("p.email LIKE $5 ESCAPE '\\'".into());
                any.push("p.search_name LIKE $5 ESCAPE '\\'".into());
                any.push("p.search_name LIKE $6 ESCAPE '\\'".into());
            }
            format!(" AND ({})", any.join(" OR "))
        }
    };
    // The profile is read through the same FROM the rule compiler documents; nothing else.
    let sql = format!(
        "SELECT m.player_id, p.external_id, p.country, p.email, p.first_name, p.last_name, p.brand, p.vip_tier, \
         m.since FROM segment_members m JOIN players p ON p.id = m.player_id \
         WHERE m.segment_id = $1 AND m.player_id > $2{filter} ORDER BY m.player_id LIMIT $3"
    );
    let rows: Vec<MemberTuple> = db!(db, |c| {
        let mut q = sqlx::query_as(&sql).bind(id).bind(after.unwrap_or(Uuid::nil())).bind(limit);
        for b in &binds {
            q = q.bind(b.as_str());
        }
        q.fetch_all(c).await
    })?;
    Ok(rows
        .into_iter()
        .map(|(player_id, external_id, country, email, first_name, last_name, brand, vip_tier, since)| MemberRow {
            player_id,
            external_id,
            country,
            email,
            first_name,
            last_name,
            brand,
            vip_tier,
            since,
        })
        .collect())
}

/// `s` with LIKE's wildcards and escape character taken literally (escape `\`).
/// The segments a player is in, with when they entered: (segment id, name, since).
pub async fn segments_of(db: &Db, player: Uuid) -> Result<Vec<(Uuid, String, i64)>, SegmentError> {
    let rows: Vec<(Uuid, String, i64)> = db!(db, |c| {
        sqlx::query_as(
            "SELECT s.id, s.name, m.since FROM segment_members m JOIN segments s ON s.id = m.segment_id \
             WHERE m.player_id = $1 ORDER BY s.name",
        )
        .bind(player)
        .fetch_all(c)
        .await
    })?;
    Ok(rows)
}

/// The size over time, oldest first.
pub async fn sizes(db: &Db, id: Uuid, limit: i64) -> Result<Vec<SizePoint>, SegmentError> {
    let rows: Vec<(i64, i64)> = db!(db, |c| {
        sqlx::query_as("SELECT at, members FROM segment_sizes WHERE segment_id = $1 ORDER BY at DESC LIMIT $2")
            .bind(id)
            .bind(limit.clamp(1, 10_000))
            .fetch_all(c)
            .await
    })?;
    Ok(rows.into_iter().rev().map(|(at, members)| SizePoint { at, members }).collect())
}

/// How many players a condition holds for now, without storing anything: the live count of
/// the segment editor.
pub async fn member_count_preview(
    db: &Db,
    rule: &pitboss_rules::Rule,
    now: i64,
    rates: &Rates,
) -> Result<i64, SegmentError> {
    let compiled = rule.to_sql(now, rates, 1);
    let sql = format!("SELECT COUNT(*) FROM {FROM} WHERE {}", compiled.sql);
    let n: i64 = db!(db, |c| crate::bind_params!(sqlx::query_scalar(&sql), &compiled.params).fetch_one(c).await)?;
    Ok(n)
}
