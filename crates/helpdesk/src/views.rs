//! An agent's saved views of the ticket list: a name and the list's filter, kept as the query
//! string the list page reads, so a view is a link.

use chrono::{DateTime, Utc};
use pitboss_core::new_id;
use pitboss_core::time::to_micros;
use pitboss_store::{Db, Tx, db, exec, sqlx};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::HelpdeskError;

/// A saved view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SavedView {
    pub id: Uuid,
    pub name: String,
    /// The ticket list's query string: `status=open&queue=vip`.
    pub query: String,
}

/// Saves (or replaces) `owner`'s view called `name`.
pub async fn save(
    tx: &mut Tx,
    owner: &str,
    name: &str,
    query: &str,
    now: DateTime<Utc>,
) -> Result<SavedView, HelpdeskError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(HelpdeskError::invalid("name", "1 to 100 characters"));
    }
    let query = query.trim().trim_start_matches('?');
    if query.len() > 2_000 || query.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(HelpdeskError::invalid("query", "a query string of at most 2,000 characters, without spaces"));
    }
    let id = new_id();
    exec!(
        tx,
        "INSERT INTO helpdesk_views (id, owner, name, query, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (owner, name) DO UPDATE SET query = excluded.query",
        id,
        owner,
        name,
        query,
        to_micros(now),
    )?;
    Ok(SavedView { id, name: name.to_string(), query: query.to_string() })
}

/// `owner`'s views, by name.
pub async fn list(db: &Db, owner: &str) -> Result<Vec<SavedView>, HelpdeskError> {
    let rows: Vec<(Uuid, String, String)> =
        db!(db, |c| sqlx::query_as("SELECT id, name, query FROM helpdesk_views WHERE owner = $1 ORDER BY name")
            .bind(owner)
            .fetch_all(c)
            .await)?;
    Ok(rows.into_iter().map(|(id, name, query)| SavedView { id, name, query }).collect())
}

/// Deletes one of `owner`'s views; whether there was one.
pub async fn delete(tx: &mut Tx, owner: &str, id: Uuid) -> Result<bool, HelpdeskError> {
    Ok(exec!(tx, "DELETE FROM helpdesk_views WHERE id = $1 AND owner = $2", id, owner)? == 1)
}
