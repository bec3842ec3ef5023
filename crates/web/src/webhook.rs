//! The webhooks other systems call (the telephony system's call events, the mail gateway's
//! inbound mail): no API key or session, but a body signed with a shared secret
//! (`pitboss_core::signature`). A request whose signature is missing, stale or wrong is refused
//! before its body is read, and the refusal is audited; a webhook whose secret is not set is
//! refused altogether, so a forgotten setting never leaves it open.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use chrono::Utc;
use pitboss_auth::{Origin, audit};
use pitboss_core::signature;
use serde_json::json;

use crate::guard::{origin_of, record_alone};
use crate::{AppState, Problem};

/// Where a webhook request came from, for its audit records.
pub struct Caller {
    pub origin: Origin,
    pub headers: HeaderMap,
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0);
        Ok(Caller { origin: origin_of(&parts.headers, peer), headers: parts.headers.clone() })
    }
}

impl Caller {
    /// An audit record of this webhook (`webhook:<source>`).
    pub fn audit(&self, source: &str, action: &str, target_type: &str, target_id: impl ToString) -> audit::AuditEntry {
        audit::AuditEntry::new(format!("webhook:{source}"), action, target_type, target_id)
            .client(self.origin.ip.clone(), self.origin.user_agent.clone())
    }

    /// Passes when the body is signed with `secret` (the setting named `setting`).
    pub async fn verify(
        &self,
        s: &AppState,
        source: &str,
        secret: Option<&str>,
        setting: &str,
        body: &[u8],
    ) -> Result<(), Problem> {
        let Some(secret) = secret else {
            return Err(Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "webhook-not-configured",
                format!("the {source} webhook is not configured: set {setting} to the secret shared with the sender"),
            ));
        };
        let header = self.headers.get(signature::HEADER).and_then(|v| v.to_str().ok());
        if let Err(reason) = signature::verify(secret, header, body, Utc::now().timestamp()) {
            let entry = self.audit(source, "webhook.rejected", "webhook", source).details(json!({ "reason": reason }));
            let _ = record_alone(s, &entry).await;
            return Err(Problem::new(StatusCode::UNAUTHORIZED, "bad-signature", reason));
        }
        Ok(())
    }
}
