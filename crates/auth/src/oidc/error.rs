//! What can go wrong while signing in through the identity provider, worded for the person who
//! has to act on it: the operator at the browser, or the administrator reading the log.
//!
//! No message carries a code, token, secret or verifier: they are built from error codes, URLs
//! and JSON paths only, never from a response body.

use std::error::Error as StdError;

use thiserror::Error;

/// How long a sign-in may take between `begin` and `complete`, in minutes.
pub(crate) const PENDING_LOGIN_MAX_MINUTES: i64 = 10;

/// The longest provider-supplied text (`error`, `error_description`) we repeat.
const PROVIDER_TEXT_MAX_CHARS: usize = 200;

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum OidcError {
    /// The settings are wrong; the message names the setting.
    #[error("the single sign-on settings are not valid: {0}")]
    Config(String),
    #[error(
        "could not read the identity provider's configuration at {issuer}: {reason}; check `issuer_url` \
         and that the provider is reachable from this server"
    )]
    Discovery { issuer: String, reason: String },
    /// The callback's `state` is not the one this browser's sign-in started with: a forged or
    /// crossed response (login CSRF), or a second tab.
    #[error("the sign-in response does not belong to this browser session; start signing in again")]
    StateMismatch,
    #[error("the sign-in took longer than {PENDING_LOGIN_MAX_MINUTES} minutes; start signing in again")]
    Expired,
    /// The provider sent the browser back with `error` (and maybe `error_description`).
    #[error("the identity provider refused the sign-in ({}); start signing in again, or ask the provider's administrator", provider_text(.error, .description.as_deref()))]
    Provider { error: String, description: Option<String> },
    /// The code could not be exchanged: already used, expired, or the client is misconfigured.
    #[error("the identity provider did not accept the sign-in code ({0}); start signing in again")]
    TokenExchange(String),
    #[error("the identity provider returned no ID token; make sure the client may use the `openid` scope")]
    MissingIdToken,
    /// The ID token was not issued for this sign-in: replayed or injected.
    #[error(
        "the identity provider's ID token does not belong to this sign-in (nonce mismatch); start signing in again"
    )]
    NonceMismatch,
    #[error("the identity provider's ID token is not valid: {0}")]
    InvalidIdToken(String),
    #[error("could not read the user's details from the identity provider: {0}")]
    UserInfo(String),
}

impl OidcError {
    /// The error for a callback that carries `error` instead of `code`. The text comes from the
    /// browser's query string, so it is cut to what RFC 6749 allows in these fields (printable
    /// ASCII) and to a sane length before anyone sees it.
    pub fn from_callback(error: &str, description: Option<&str>) -> OidcError {
        let error = sanitize(error);
        let description = description.map(sanitize).filter(|d| !d.is_empty());
        OidcError::Provider { error: if error.is_empty() { "unknown_error".into() } else { error }, description }
    }

    /// True when signing in again may work (the user's session, timing or choice), false when an
    /// administrator must fix something (settings, provider, network). Lets the web layer pick
    /// between "try again" and a server error.
    pub fn is_retryable_by_user(&self) -> bool {
        matches!(
            self,
            OidcError::StateMismatch
                | OidcError::Expired
                | OidcError::NonceMismatch
                | OidcError::Provider { .. }
                | OidcError::TokenExchange(_)
        )
    }
}

fn provider_text(error: &str, description: Option<&str>) -> String {
    match description {
        Some(d) => format!("{error}: {d}"),
        None => error.to_string(),
    }
}

/// Provider-supplied text cut to printable ASCII and a sane length.
pub(crate) fn sanitize(text: &str) -> String {
    text.chars().filter(|c| c.is_ascii_graphic() || *c == ' ').take(PROVIDER_TEXT_MAX_CHARS).collect()
}

/// An error and its sources, `: `-separated: reqwest keeps the useful part ("connection
/// refused", "certificate expired") in the sources. Only for errors that hold no response body.
pub(crate) fn with_sources(err: &dyn StdError) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_errors_are_cleaned_before_display() {
        let err = OidcError::from_callback("access_denied", Some("User\ncancelled <script>\u{202e}"));
        let shown = err.to_string();
        assert!(shown.contains("access_denied: Usercancelled <script>"), "{shown}");
        assert!(!shown.contains('\n') && !shown.contains('\u{202e}'), "{shown}");

        let long = "x".repeat(5000);
        let OidcError::Provider { error, description } = OidcError::from_callback(&long, Some("")) else {
            panic!("not a provider error")
        };
        assert_eq!(error.len(), PROVIDER_TEXT_MAX_CHARS);
        assert_eq!(description, None);

        let OidcError::Provider { error, .. } = OidcError::from_callback("\u{7}", None) else { panic!() };
        assert_eq!(error, "unknown_error");
    }

    #[test]
    fn state_mismatch_tells_the_user_what_to_do() {
        assert_eq!(
            OidcError::StateMismatch.to_string(),
            "the sign-in response does not belong to this browser session; start signing in again"
        );
        assert!(OidcError::StateMismatch.is_retryable_by_user());
        assert!(!OidcError::Config("x".into()).is_retryable_by_user());
    }
}
