//! Request extractors whose failures are problem details, and the authenticated caller.

use axum::extract::{FromRequest, FromRequestParts};

use axum::http::header;
use axum::http::request::Parts;
use pitboss_auth::{Caller, Scope};

use crate::{AppState, Problem};

/// `axum::Json` with problem-details rejections.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(Problem))]
pub struct Json<T>(pub T);

/// `axum::extract::Query` with problem-details rejections.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(Problem))]
pub struct Query<T>(pub T);

/// `axum::extract::Path` with problem-details rejections.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(Problem))]
pub struct Path<T>(pub T);

/// The caller, authenticated by an API key in `Authorization: Bearer <key>` or `X-Api-Key`.
pub struct Authenticated(pub Caller);

impl Authenticated {
    /// The caller, if it holds `scope`; otherwise a 403 naming the scope.
    pub fn require(&self, scope: Scope) -> Result<&Caller, Problem> {
        self.0.require(scope)?;
        Ok(&self.0)
    }
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let key = bearer.or_else(|| parts.headers.get("x-api-key").and_then(|v| v.to_str().ok()));
        let Some(key) = key else {
            return Err(Problem::new(
                axum::http::StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "send an API key as 'Authorization: Bearer <key>' (create one with 'pitboss api-key create')",
            ));
        };
        Ok(Authenticated(pitboss_auth::api_key::authenticate(&state.db, key.trim()).await?))
    }
}
