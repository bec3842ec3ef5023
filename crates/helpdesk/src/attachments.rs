//! Files on tickets: what came attached to a player's email, and what agents add. Each is
//! checked at the edge (size, forbidden types), kept in the database with its SHA-256, and
//! served back only as a download (never rendered by the browser), so a file cannot run as
//! part of the back office's pages.

use chrono::{DateTime, Utc};
use pitboss_core::new_id;
use pitboss_core::time::{from_micros, to_micros};
use pitboss_store::{Db, Tx, db, exec, sqlx};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::HelpdeskError;

/// The largest file kept.
pub const MAX_BYTES: usize = 5 * 1024 * 1024;
/// Files never kept, by extension: programs and scripts.
pub const FORBIDDEN_EXTENSIONS: &[&str] =
    &["exe", "bat", "cmd", "com", "js", "vbs", "scr", "msi", "jar", "ps1", "sh", "dll", "lnk", "hta", "iso"];

/// A kept file, without its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FileInfo {
    pub id: Uuid,
    pub ticket_id: Uuid,
    /// The message it came with, if any.
    pub message_id: Option<Uuid>,
    pub name: String,
    pub content_type: String,
    pub size: i64,
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
    /// Who added it: the sender's address, or the agent.
    pub added_by: String,
    pub created_at: DateTime<Utc>,
}

/// Why a file is not kept, if it is not: too large, or of a forbidden type.
pub fn refusal(name: &str, size: usize) -> Option<String> {
    let extension = name.rsplit_once('.').map(|(_, e)| e.to_lowercase()).unwrap_or_default();
    if size > MAX_BYTES {
        Some(format!("over the size limit ({size} bytes, at most {MAX_BYTES})"))
    } else if FORBIDDEN_EXTENSIONS.contains(&extension.as_str()) {
        Some(format!("a forbidden type (.{extension})"))
    } else {
        None
    }
}

/// A file name safe to store and to offer back: no path, no control characters.
fn clean_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base.chars().filter(|c| !c.is_control() && *c != '"').take(200).collect();
    if cleaned.trim().is_empty() { "unnamed".to_string() } else { cleaned.trim().to_string() }
}

/// A file to keep.
pub struct NewFile<'a> {
    pub name: &'a str,
    pub content_type: &'a str,
    pub content: &'a [u8],
}

/// Keeps a file on a ticket (refused with the reason when too large or of a forbidden type).
pub async fn add(
    tx: &mut Tx,
    ticket: Uuid,
    message: Option<Uuid>,
    file: &NewFile<'_>,
    added_by: &str,
    now: DateTime<Utc>,
) -> Result<FileInfo, HelpdeskError> {
    let NewFile { name, content_type, content } = *file;
    let name = clean_name(name);
    if content.is_empty() {
        return Err(HelpdeskError::invalid("file", "the file is empty"));
    }
    if let Some(reason) = refusal(&name, content.len()) {
        return Err(HelpdeskError::invalid("file", format!("{name}: {reason}")));
    }
    let content_type = match content_type.trim() {
        t if t.is_empty() || t.len() > 200 || !t.contains('/') => "application/octet-stream".to_string(),
        t => t.to_string(),
    };
    let id = new_id();
    let sha256 = hex::encode(Sha256::digest(content));
    exec!(
        tx,
        "INSERT INTO ticket_attachments (id, ticket_id, message_id, name, content_type, size, sha256, content, \
         added_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        id,
        ticket,
        message,
        &name,
        &content_type,
        content.len() as i64,
        &sha256,
        content,
        added_by,
        to_micros(now),
    )?;
    Ok(FileInfo {
        id,
        ticket_id: ticket,
        message_id: message,
        name,
        content_type,
        size: content.len() as i64,
        sha256,
        added_by: added_by.to_string(),
        created_at: now,
    })
}

type Row = (Uuid, Uuid, Option<Uuid>, String, String, i64, String, String, i64);

fn from_row((id, ticket_id, message_id, name, content_type, size, sha256, added_by, at): Row) -> FileInfo {
    FileInfo { id, ticket_id, message_id, name, content_type, size, sha256, added_by, created_at: from_micros(at) }
}

const COLUMNS: &str = "id, ticket_id, message_id, name, content_type, size, sha256, added_by, created_at";

/// A ticket's files, oldest first.
pub async fn of_ticket(db: &Db, ticket: Uuid) -> Result<Vec<FileInfo>, HelpdeskError> {
    let sql = format!("SELECT {COLUMNS} FROM ticket_attachments WHERE ticket_id = $1 ORDER BY created_at, id");
    let rows: Vec<Row> = db!(db, |c| sqlx::query_as(&sql).bind(ticket).fetch_all(c).await)?;
    Ok(rows.into_iter().map(from_row).collect())
}

/// The files that go out with one of a ticket's messages, with their bytes.
pub async fn of_message(db: &Db, ticket: Uuid, message: Uuid) -> Result<Vec<(FileInfo, Vec<u8>)>, HelpdeskError> {
    let sql = format!(
        "SELECT {COLUMNS}, content FROM ticket_attachments WHERE ticket_id = $1 AND message_id = $2 ORDER BY created_at, id"
    );
    type WithContent = (Uuid, Uuid, Option<Uuid>, String, String, i64, String, String, i64, Vec<u8>);
    let rows: Vec<WithContent> = db!(db, |c| sqlx::query_as(&sql).bind(ticket).bind(message).fetch_all(c).await)?;
    Ok(rows
        .into_iter()
        .map(|(id, t, m, name, kind, size, sha, by, at, bytes)| {
            (from_row((id, t, m, name, kind, size, sha, by, at)), bytes)
        })
        .collect())
}

/// One of a ticket's files with its bytes; none when the ticket has no such file.
pub async fn content(db: &Db, ticket: Uuid, id: Uuid) -> Result<Option<(FileInfo, Vec<u8>)>, HelpdeskError> {
    let sql = format!("SELECT {COLUMNS} FROM ticket_attachments WHERE ticket_id = $1 AND id = $2");
    let row: Option<Row> = db!(db, |c| sqlx::query_as(&sql).bind(ticket).bind(id).fetch_optional(c).await)?;
    let Some(info) = row.map(from_row) else { return Ok(None) };
    let bytes: Vec<u8> = db!(db, |c| sqlx::query_scalar("SELECT content FROM ticket_attachments WHERE id = $1")
        .bind(id)
        .fetch_one(c)
        .await)?;
    Ok(Some((info, bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_their_path_and_control_characters() {
        assert_eq!(clean_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_name("C:\\Users\\me\\scan.pdf"), "scan.pdf");
        assert_eq!(clean_name("a\r\nb\".png"), "ab.png");
        assert_eq!(clean_name("  "), "unnamed");
    }

    #[test]
    fn programs_and_oversized_files_are_refused() {
        assert!(refusal("invoice.PDF.exe", 10).unwrap().contains(".exe"));
        assert!(refusal("scan.pdf", MAX_BYTES + 1).unwrap().contains("size limit"));
        assert_eq!(refusal("scan.pdf", MAX_BYTES), None);
    }
}
