//! Files on tickets in the API: add one (an agent's upload, the raw bytes as the body) and
//! download one. A download is always offered as a file to save (`Content-Disposition:
//! attachment`, no sniffing, sandboxed), never shown as part of a page.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use pitboss_auth::policy::Action;
use pitboss_auth::{Caller, audit};
use pitboss_helpdesk::attachments::{self, FileInfo};
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::extract::{Path, Query};
use crate::guard::Authenticated;
use crate::routes::tickets::authorized_ticket;
use crate::{AppState, Problem};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tickets/{id}/attachments", axum::routing::post(upload))
        .route("/tickets/{id}/attachments/{file}", get(download))
}

/// The file's name.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// As the player will see it, e.g. `statement.pdf`.
    pub name: String,
}

/// Add a file to a ticket: the raw bytes as the body, its type as `Content-Type`. At most 5 MiB;
/// programs and scripts (`.exe`, `.js`, ...) are refused.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/attachments", tag = "helpdesk",
    params(("id" = Uuid, Path), UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = FileInfo), (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn upload(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
    Query(q): Query<UploadQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, axum::Json<FileInfo>), Problem> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    Ok((StatusCode::CREATED, axum::Json(attach(&s, &auth.caller, id, &q.name, content_type, &body).await?)))
}

pub(crate) async fn attach(
    s: &AppState,
    caller: &Caller,
    ticket: Uuid,
    name: &str,
    content_type: &str,
    content: &[u8],
) -> Result<FileInfo, Problem> {
    authorized_ticket(s, caller, Action::TicketHandle, ticket).await?;
    let mut tx = s.db.begin().await?;
    let new = attachments::NewFile { name, content_type, content };
    let file = attachments::add(&mut tx, ticket, None, &new, &caller.actor(), Utc::now()).await?;
    let record = caller
        .audit("ticket.attach", "ticket", ticket)
        .details(json!({ "file": file.id, "name": file.name, "size": file.size, "sha256": file.sha256 }));
    audit::record(&mut tx, &record).await?;
    tx.commit().await?;
    Ok(file)
}

/// Download one of a ticket's files.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/attachments/{file}", tag = "helpdesk",
    params(("id" = Uuid, Path), ("file" = Uuid, Path)),
    responses((status = 200, content_type = "application/octet-stream"), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn download(
    State(s): State<AppState>,
    auth: Authenticated,
    Path((id, file)): Path<(Uuid, Uuid)>,
) -> Result<Response, Problem> {
    file_response(&s, &auth.caller, id, file).await
}

pub(crate) async fn file_response(
    s: &AppState,
    caller: &Caller,
    ticket: Uuid,
    file: Uuid,
) -> Result<Response, Problem> {
    authorized_ticket(s, caller, Action::TicketRead, ticket).await?;
    let Some((info, bytes)) = attachments::content(&s.db, ticket, file).await? else {
        return Err(Problem::not_found(format!("ticket {ticket} has no file {file}")));
    };
    let content_type =
        HeaderValue::from_str(&info.content_type).unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let disposition = HeaderValue::from_str(&disposition(&info.name))
        .unwrap_or(HeaderValue::from_static("attachment; filename=\"file\""));
    let headers = [
        (header::CONTENT_TYPE, content_type),
        (header::CONTENT_DISPOSITION, disposition),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox; default-src 'none'")),
        (header::CACHE_CONTROL, HeaderValue::from_static("private, no-store")),
    ];
    Ok((headers, bytes).into_response())
}

/// `attachment` with the name in plain ASCII and, for any other character, in RFC 5987 form.
fn disposition(name: &str) -> String {
    let ascii: String = name.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '_' }).collect();
    let encoded: String = name
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::disposition;

    #[test]
    fn names_are_offered_in_ascii_and_in_full() {
        assert_eq!(disposition("scan 1.pdf"), "attachment; filename=\"scan 1.pdf\"; filename*=UTF-8''scan%201.pdf");
        assert_eq!(disposition("é.png"), "attachment; filename=\"_.png\"; filename*=UTF-8''%C3%A9.png");
    }
}
