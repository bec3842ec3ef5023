//! RFC 9457 problem details: every error leaves the server as `application/problem+json`
//! with a message a person can act on.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pitboss_auth::AuthError;
use pitboss_payments::LedgerError;
use pitboss_players::PlayerError;
use pitboss_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// A problem detail object (RFC 9457).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem, e.g. `/problems/validation`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// What went wrong with this request, and what to do about it.
    pub detail: String,
    /// For validation problems, the field at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl Problem {
    pub fn new(status: StatusCode, slug: &str, detail: impl Into<String>) -> Problem {
        Problem {
            kind: format!("/problems/{slug}"),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            field: None,
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, "bad-request", detail)
    }

    pub fn validation(field: impl Into<String>, detail: impl Into<String>) -> Problem {
        let mut p = Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", detail);
        p.field = Some(field.into());
        p
    }

    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    pub fn unavailable(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail)
    }

    /// A failure of ours: the cause goes to the log, the caller gets no internals.
    fn internal() -> Problem {
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed to handle this request; it has been logged",
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut res = (status, axum::Json(self)).into_response();
        res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        res
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Problem {
        tracing::error!(error = %e, "database failure");
        Problem::unavailable("the database is not answering; nothing was changed, try again shortly")
    }
}

impl From<PlayerError> for Problem {
    fn from(e: PlayerError) -> Problem {
        match e {
            PlayerError::NotFound(_) | PlayerError::UnknownExternalId(_) => Problem::not_found(e.to_string()),
            PlayerError::Invalid { field, message } => Problem::validation(field, format!("{field}: {message}")),
            PlayerError::DuplicateExternalId(_) | PlayerError::VersionConflict { .. } => {
                Problem::new(StatusCode::CONFLICT, "conflict", e.to_string())
            }
            PlayerError::Store(s) => s.into(),
        }
    }
}

impl From<pitboss_segments::SegmentError> for Problem {
    fn from(e: pitboss_segments::SegmentError) -> Problem {
        use pitboss_segments::SegmentError as E;
        match e {
            // The field is where the condition goes wrong: its JSON path, or `condition`.
            E::Condition { ref error, .. } => {
                Problem::validation(error.path.clone().unwrap_or_else(|| "condition".into()), e.to_string())
            }
            E::Invalid(m) => Problem::validation("", m),
            E::NotFound { .. } | E::PlayerNotFound { .. } => Problem::not_found(e.to_string()),
            E::NameTaken { .. } | E::StaleVersion { .. } => {
                Problem::new(StatusCode::CONFLICT, "conflict", e.to_string())
            }
            E::Store(s) => s.into(),
        }
    }
}

impl From<LedgerError> for Problem {
    fn from(e: LedgerError) -> Problem {
        match e {
            LedgerError::NotFound { .. } => Problem::not_found(e.to_string()),
            LedgerError::FourEyes => Problem::new(StatusCode::FORBIDDEN, "four-eyes", e.to_string()),
            LedgerError::ReferenceReused { .. } | LedgerError::InvalidTransition { .. } | LedgerError::Conflict(_) => {
                Problem::new(StatusCode::CONFLICT, "conflict", e.to_string())
            }
            LedgerError::InsufficientFunds { .. } => {
                Problem::new(StatusCode::CONFLICT, "insufficient-funds", e.to_string())
            }
            LedgerError::Invalid(m) => Problem::validation("", m),
            LedgerError::Store(s) => s.into(),
        }
    }
}

impl From<pitboss_ops::OpsError> for Problem {
    fn from(e: pitboss_ops::OpsError) -> Problem {
        use pitboss_ops::OpsError as E;
        match e {
            E::PlayerNotFound(_)
            | E::LockNotFound(_)
            | E::ReviewNotFound(_)
            | E::RuleNotFound(_)
            | E::AlertNotFound(_) => Problem::not_found(e.to_string()),
            E::Invalid { field, .. } => Problem::validation(field, e.to_string()),
            E::NotInForce { .. } | E::AlreadyExcluded { .. } | E::CoolingOff { .. } | E::Decided(_) | E::Taken(_) => {
                Problem::new(StatusCode::CONFLICT, "conflict", e.to_string())
            }
            E::SameOfficer(_) => Problem::new(StatusCode::FORBIDDEN, "four-eyes", e.to_string()),
            E::Ledger(l) => l.into(),
            E::Store(s) => s.into(),
        }
    }
}

impl From<pitboss_helpdesk::HelpdeskError> for Problem {
    fn from(e: pitboss_helpdesk::HelpdeskError) -> Problem {
        use pitboss_helpdesk::HelpdeskError as E;
        match e {
            E::TicketNotFound(_) | E::QueueNotFound(_) | E::PlayerNotFound(_) | E::ArticleNotFound(_) => {
                Problem::not_found(e.to_string())
            }
            E::Invalid { field, .. } => Problem::validation(field, e.to_string()),
            E::Refused(_) | E::Conflict(_) => Problem::new(StatusCode::CONFLICT, "conflict", e.to_string()),
            E::RateLimited(_) => Problem::new(StatusCode::TOO_MANY_REQUESTS, "rate-limited", e.to_string()),
            E::Store(s) => s.into(),
        }
    }
}

impl From<AuthError> for Problem {
    fn from(e: AuthError) -> Problem {
        match e {
            AuthError::InvalidApiKey | AuthError::InvalidCredentials | AuthError::InvalidSecondFactor => {
                Problem::new(StatusCode::UNAUTHORIZED, "unauthenticated", e.to_string())
            }
            AuthError::TooManyAttempts { .. } => {
                Problem::new(StatusCode::TOO_MANY_REQUESTS, "too-many-attempts", e.to_string())
            }
            AuthError::AccountDisabled { .. } => Problem::new(StatusCode::FORBIDDEN, "forbidden", e.to_string()),
            AuthError::Validation(m) => Problem::validation("", m),
            AuthError::UsernameTaken { .. } | AuthError::ApiKeyNameTaken { .. } => {
                Problem::new(StatusCode::CONFLICT, "conflict", e.to_string())
            }
            AuthError::ApiKeyNotFound { .. } | AuthError::OperatorNotFound { .. } => Problem::not_found(e.to_string()),
            AuthError::Store(s) => s.into(),
        }
    }
}

impl From<JsonRejection> for Problem {
    fn from(r: JsonRejection) -> Problem {
        match r {
            JsonRejection::JsonDataError(e) => {
                Problem::validation("", format!("the request body does not fit: {}", e.body_text()))
            }
            JsonRejection::JsonSyntaxError(e) => {
                Problem::bad_request(format!("the request body is not valid JSON: {}", e.body_text()))
            }
            JsonRejection::MissingJsonContentType(_) => Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "media-type",
                "send the body as JSON with Content-Type: application/json",
            ),
            JsonRejection::BytesRejection(_) => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                format!("the request body is too large or unreadable (at most {} bytes)", crate::MAX_BODY_BYTES),
            ),
            other => Problem::bad_request(other.body_text()),
        }
    }
}

impl From<QueryRejection> for Problem {
    fn from(r: QueryRejection) -> Problem {
        Problem::validation("query", format!("the query string does not fit: {}", r.body_text()))
    }
}

impl From<PathRejection> for Problem {
    fn from(r: PathRejection) -> Problem {
        Problem::bad_request(format!("the path is not valid: {}", r.body_text()))
    }
}

pub(crate) fn panic_to_problem(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    Problem::internal().into_response()
}
