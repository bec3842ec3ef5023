//! Finding players: by id, external id, email, phone or name, with filters and keyset pagination.

use chrono::{DateTime, Utc};
use pitboss_core::time::to_micros;
use pitboss_store::{Arg, Conditions, Db, bind_args, db, sqlx};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::PlayerError;
use crate::profile::{KycStatus, Player, PlayerStatus};
use crate::repo::{COLUMNS, PlayerRow};

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 500;
/// Most brands one `brand` filter may name.
pub const MAX_BRANDS: usize = 50;
/// Up to this many brands, each brand is read as its own walk down the `(brand, id)` index and
/// the walks are merged; beyond it, one `brand IN (...)` lets the database choose.
const MAX_BRAND_WALKS: usize = 32;

/// A search. Every filter given must hold; results come newest first.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PlayerQuery {
    /// Matches a player id, an external id, an email, a phone number, or the start of any word of the name.
    pub q: Option<String>,
    /// One brand, or several separated by commas (`main,luckystar`): players of any of them.
    pub brand: Option<String>,
    /// Only players of these brands, whatever else the query asks: for the server to confine a
    /// caller (a support agent) to the brands they serve. Combined with `brand`, only brands in
    /// both count. `None` restricts nothing; `Some` of an empty list finds nobody. Never taken
    /// from the query string.
    #[serde(skip)]
    pub brands: Option<Vec<String>>,
    pub country: Option<String>,
    pub status: Option<PlayerStatus>,
    pub kyc_status: Option<KycStatus>,
    pub vip_tier: Option<String>,
    pub traffic_source: Option<String>,
    pub affiliate_id: Option<String>,
    pub tag: Option<String>,
    pub currency: Option<String>,
    pub registered_from: Option<DateTime<Utc>>,
    pub registered_to: Option<DateTime<Utc>>,
    /// Page size, 1 to 500 (default 50).
    pub limit: Option<u32>,
    /// The `next` cursor of the previous page.
    pub after: Option<Uuid>,
}

/// One page of results.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `after` to get the next page; absent on the last page.
    pub next: Option<Uuid>,
}

/// Runs the search.
pub async fn search(db: &Db, query: &PlayerQuery) -> Result<Page<Player>, PlayerError> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(PlayerError::invalid("limit", format!("must be between 1 and {MAX_LIMIT}")));
    }
    let brands = brand_filter(query)?;
    if brands.as_ref().is_some_and(Vec::is_empty) {
        return Ok(Page { items: Vec::new(), next: None });
    }
    let mut c = Conditions::new();
    if let Some(q) = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        if let Ok(id) = Uuid::parse_str(q) {
            // Platforms often key players by UUID too: match either id.
            let (i, e) = (c.arg(Arg::Id(id)), c.arg(Arg::Text(q.to_string())));
            c.and(format!("(id = {i} OR external_id = {e})"));
        } else if q.contains('@') {
            c.compare("email", "=", Arg::Text(q.to_lowercase()));
        } else if let Ok(phone) = crate::profile::phone(q) {
            // The same text may also be a numeric external id.
            let (p, e) = (c.arg(Arg::Text(phone)), c.arg(Arg::Text(q.to_string())));
            c.and(format!("(phone = {p} OR external_id = {e})"));
        } else {
            // The start of any word of the name: first name, last name, or "first last".
            let [start, inner] = word_start_patterns(q);
            let e = c.arg(Arg::Text(q.to_string()));
            let start = c.arg(Arg::Text(start));
            let inner = c.arg(Arg::Text(inner));
            c.and(format!(
                "(external_id = {e} OR search_name LIKE {start} ESCAPE '\\' OR search_name LIKE {inner} ESCAPE '\\')"
            ));
        }
    }
    let text_filters = [
        ("country", query.country.as_ref().map(|c| c.trim().to_ascii_uppercase())),
        ("status", query.status.map(|s| s.as_str().to_string())),
        ("kyc_status", query.kyc_status.map(|k| k.as_str().to_string())),
        ("vip_tier", query.vip_tier.as_ref().map(|v| v.to_lowercase())),
        ("traffic_source", query.traffic_source.clone()),
        ("affiliate_id", query.affiliate_id.clone()),
        ("currency", query.currency.as_ref().map(|c| c.to_ascii_uppercase())),
    ];
    for (column, value) in text_filters {
        if let Some(v) = value {
            c.compare(column, "=", Arg::Text(v));
        }
    }
    if let Some(t) = &query.tag {
        let tag = c.arg(Arg::Text(t.to_lowercase()));
        c.and(format!("id IN (SELECT player_id FROM player_tags WHERE tag = {tag})"));
    }
    if let Some(t) = query.registered_from {
        c.compare("registered_at", ">=", Arg::Int(to_micros(t)));
    }
    if let Some(t) = query.registered_to {
        c.compare("registered_at", "<", Arg::Int(to_micros(t)));
    }
    if let Some(after) = query.after {
        c.compare("id", "<", Arg::Id(after));
    }
    // One extra row tells whether there is a next page.
    let fetch = limit + 1;
    let sql = match brands.as_deref().unwrap_or_default() {
        [] => format!("SELECT {COLUMNS} FROM players {} ORDER BY id DESC LIMIT {fetch}", c.where_sql()),
        // The `(brand, id)` index gives one brand's players newest first, from the cursor on.
        [one] => {
            c.compare("brand", "=", Arg::Text(one.clone()));
            format!("SELECT {COLUMNS} FROM players {} ORDER BY id DESC LIMIT {fetch}", c.where_sql())
        }
        // The same walk for each brand, at most a page each, merged newest first: the work is
        // bounded by the page size, however rare or common each brand is.
        few if few.len() <= MAX_BRAND_WALKS => {
            few.iter()
                .enumerate()
                .map(|(i, b)| {
                    let brand = c.arg(Arg::Text(b.clone()));
                    format!(
                        "SELECT * FROM (SELECT {COLUMNS} FROM players {} ORDER BY id DESC LIMIT {fetch}) AS brand_{i}",
                        c.where_sql_and(&format!("brand = {brand}"))
                    )
                })
                .collect::<Vec<_>>()
                .join(" UNION ALL ")
                + &format!(" ORDER BY id DESC LIMIT {fetch}")
        }
        many => {
            let marks: Vec<String> = many.iter().map(|b| c.arg(Arg::Text(b.clone()))).collect();
            c.and(format!("brand IN ({})", marks.join(", ")));
            format!("SELECT {COLUMNS} FROM players {} ORDER BY id DESC LIMIT {fetch}", c.where_sql())
        }
    };

    let mut rows: Vec<PlayerRow> = db!(db, |conn| {
        let mut q = sqlx::query_as(&sql);
        bind_args!(q, &c.args);
        q.fetch_all(conn).await
    })?;
    let has_more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let players = with_tags(db, rows).await?;
    let next = if has_more { players.last().map(|p| p.id) } else { None };
    Ok(Page { items: players, next })
}

async fn with_tags(db: &Db, rows: Vec<PlayerRow>) -> Result<Vec<Player>, PlayerError> {
    let ids: Vec<Uuid> = rows.iter().map(PlayerRow::id).collect();
    let mut tags: std::collections::HashMap<Uuid, Vec<String>> = Default::default();
    if !ids.is_empty() {
        let marks: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
        let sql =
            format!("SELECT player_id, tag FROM player_tags WHERE player_id IN ({}) ORDER BY tag", marks.join(", "));
        let pairs: Vec<(Uuid, String)> = db!(db, |c| {
            let mut q = sqlx::query_as(&sql);
            for id in &ids {
                q = q.bind(*id);
            }
            q.fetch_all(c).await
        })?;
        for (id, tag) in pairs {
            tags.entry(id).or_default().push(tag);
        }
    }
    Ok(rows
        .into_iter()
        .map(|r| {
            let t = tags.remove(&r.id()).unwrap_or_default();
            r.into_player(t)
        })
        .collect())
}

/// The brands a search is confined to, sorted and distinct: those `brand` names, within
/// `brands` when that is set. `None`: any brand. An empty list: no brand, so nobody.
fn brand_filter(query: &PlayerQuery) -> Result<Option<Vec<String>>, PlayerError> {
    let asked = match query.brand.as_deref() {
        None => None,
        Some(list) => {
            let mut asked = list
                .split(',')
                .filter(|b| !b.trim().is_empty())
                .map(crate::profile::brand)
                .collect::<Result<Vec<_>, _>>()?;
            asked.sort();
            asked.dedup();
            if asked.len() > MAX_BRANDS {
                return Err(PlayerError::invalid("brand", format!("at most {MAX_BRANDS} brands in one search")));
            }
            // `brand=` (nothing named) filters nothing, like an empty `q`.
            (!asked.is_empty()).then_some(asked)
        }
    };
    let allowed = query.brands.as_ref().map(|list| {
        let mut allowed: Vec<String> = list.iter().map(|b| b.trim().to_ascii_lowercase()).collect();
        allowed.sort();
        allowed.dedup();
        allowed
    });
    Ok(match (asked, allowed) {
        (Some(asked), Some(allowed)) => Some(asked.into_iter().filter(|b| allowed.contains(b)).collect()),
        (asked, allowed) => asked.or(allowed),
    })
}

/// The `LIKE` patterns (escaped for `ESCAPE '\'`) that find `text` at the start of any word of the
/// lower-cased `search_name` (the first also finds it at the start of a lower-cased email).
pub fn word_start_patterns(text: &str) -> [String; 2] {
    let word = escape_like(&text.to_lowercase());
    [format!("{word}%"), format!("% {word}%")]
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}
