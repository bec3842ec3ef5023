//! What an installation configures to let operators sign in through its identity provider.
//!
//! It lives in the TOML configuration (`[oidc]`), so every field but the provider's address,
//! the client's identity and the redirect URL has a default that suits most providers.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::OidcError;

/// Pitboss role names, as `operator::create_operator` accepts them (Cedar policies refer to
/// them): 1 to 64 lowercase letters, digits, `_` or `-`. Checked here too, so that a typo in the
/// role map is reported when the server starts rather than at someone's first sign-in.
const ROLE_MAX_CHARS: usize = 64;

#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OidcSettings {
    /// The provider's issuer identifier, e.g. `https://login.example.com/realms/casino`; its
    /// `/.well-known/openid-configuration` must be reachable from the server.
    pub issuer_url: String,
    pub client_id: String,
    /// None for a public client (PKCE alone then protects the code exchange).
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Where the provider sends the browser back: Pitboss's `/auth/oidc/callback`, exactly as
    /// registered at the provider.
    pub redirect_url: String,
    /// Scopes to request; `openid` is always requested, listed or not.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The scope some providers need before they release group memberships (often `groups`);
    /// added to `scopes`. None by default, because several providers refuse unknown scopes.
    #[serde(default)]
    pub groups_scope: Option<String>,
    /// The claim holding the user's groups (or roles) at the provider.
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// Provider group (or other value of the groups claim) → Pitboss roles. Matched exactly,
    /// case included: loosening the match could hand a role to a group nobody meant.
    #[serde(default)]
    pub role_map: BTreeMap<String, Vec<String>>,
    /// The claim that becomes the Pitboss username; when absent, the email (unless the provider
    /// says it is unverified), then the subject.
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
}

fn default_scopes() -> Vec<String> {
    ["openid", "email", "profile"].map(String::from).to_vec()
}

fn default_groups_claim() -> String {
    "groups".to_string()
}

fn default_username_claim() -> String {
    "preferred_username".to_string()
}

impl OidcSettings {
    /// Settings with every default, for the three values that have none.
    pub fn new(issuer_url: impl Into<String>, client_id: impl Into<String>, redirect_url: impl Into<String>) -> Self {
        OidcSettings {
            issuer_url: issuer_url.into(),
            client_id: client_id.into(),
            client_secret: None,
            redirect_url: redirect_url.into(),
            scopes: default_scopes(),
            groups_scope: None,
            groups_claim: default_groups_claim(),
            role_map: BTreeMap::new(),
            username_claim: default_username_claim(),
        }
    }

    /// The scopes to ask for besides `openid` (which the client library always adds), without
    /// duplicates, in the order configured.
    pub fn requested_scopes(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for scope in self.scopes.iter().chain(self.groups_scope.iter()) {
            let scope = scope.trim();
            if !scope.is_empty() && scope != "openid" && !out.iter().any(|s| s == scope) {
                out.push(scope.to_string());
            }
        }
        out
    }

    /// The Pitboss roles of someone in `groups`: the union of the role map's entries for those
    /// groups, sorted and without duplicates. Empty when no group maps, and the caller must then
    /// refuse the sign-in: membership of the provider alone grants nothing here.
    pub fn roles_for(&self, groups: &[String]) -> Vec<String> {
        let roles: BTreeSet<&String> = groups.iter().filter_map(|g| self.role_map.get(g)).flatten().collect();
        roles.into_iter().cloned().collect()
    }

    /// Checks what can be checked without the provider, so that a mistake shows at start-up.
    pub(crate) fn validate(&self) -> Result<(), OidcError> {
        let config = |msg: String| Err(OidcError::Config(msg));
        if self.client_id.trim().is_empty() {
            return config("`client_id` is empty; use the client id registered at the provider".into());
        }
        if self.client_secret.as_deref().is_some_and(|s| s.is_empty()) {
            return config("`client_secret` is empty; remove it for a public client, or set the secret".into());
        }
        if self.groups_claim.trim().is_empty() {
            return config("`groups_claim` is empty; name the claim that carries groups, e.g. `groups`".into());
        }
        if self.username_claim.trim().is_empty() {
            return config("`username_claim` is empty; e.g. `preferred_username`".into());
        }
        for (group, roles) in &self.role_map {
            for role in roles {
                let valid = !role.is_empty()
                    && role.len() <= ROLE_MAX_CHARS
                    && role.chars().all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_' | '-'));
                if !valid {
                    return config(format!(
                        "`role_map` maps `{group}` to `{role}`, which is not a valid role name: use 1 to \
                         {ROLE_MAX_CHARS} lowercase letters, digits, `_` or `-`, e.g. `admin`"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// By hand, so that the client secret never reaches a log.
impl fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer_url", &self.issuer_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "<redacted>"))
            .field("redirect_url", &self.redirect_url)
            .field("scopes", &self.scopes)
            .field("groups_scope", &self.groups_scope)
            .field("groups_claim", &self.groups_claim)
            .field("role_map", &self.role_map)
            .field("username_claim", &self.username_claim)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> OidcSettings {
        let mut s = OidcSettings::new("https://idp.example", "pitboss", "https://pitboss.example/auth/oidc/callback");
        s.role_map.insert("pitboss-admins".into(), vec!["admin".into()]);
        s.role_map.insert("pitboss-support".into(), vec!["support".into(), "viewer".into()]);
        s.role_map.insert("auditors".into(), vec!["viewer".into()]);
        s
    }

    fn groups(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn roles_are_the_sorted_union_of_the_mapped_groups() {
        let s = settings();
        assert_eq!(s.roles_for(&groups(&["pitboss-admins"])), ["admin"]);
        assert_eq!(
            s.roles_for(&groups(&["auditors", "pitboss-support", "pitboss-admins"])),
            ["admin", "support", "viewer"]
        );
    }

    #[test]
    fn unmapped_groups_give_no_roles() {
        let s = settings();
        assert!(s.roles_for(&groups(&[])).is_empty());
        assert!(s.roles_for(&groups(&["marketing", "everyone"])).is_empty());
        assert_eq!(s.roles_for(&groups(&["marketing", "auditors"])), ["viewer"]);
    }

    #[test]
    fn group_names_match_exactly() {
        let s = settings();
        for near_miss in ["Pitboss-Admins", "pitboss-admins ", "pitboss", "pitboss-admins/sub"] {
            assert!(s.roles_for(&groups(&[near_miss])).is_empty(), "{near_miss}");
        }
    }

    #[test]
    fn defaults_come_from_a_minimal_config() {
        let s: OidcSettings = serde_json::from_value(serde_json::json!({
            "issuer_url": "https://idp.example",
            "client_id": "pitboss",
            "redirect_url": "https://pitboss.example/auth/oidc/callback",
        }))
        .unwrap();
        assert_eq!(
            s,
            OidcSettings::new("https://idp.example", "pitboss", "https://pitboss.example/auth/oidc/callback")
        );
        assert_eq!(s.requested_scopes(), ["email", "profile"]);
        assert_eq!(s.groups_claim, "groups");
        assert_eq!(s.username_claim, "preferred_username");
        assert!(s.validate().is_ok());
    }

    #[test]
    fn the_groups_scope_is_added_once() {
        let mut s = settings();
        s.groups_scope = Some("groups".into());
        assert_eq!(s.requested_scopes(), ["email", "profile", "groups"]);
        s.scopes.push("groups".into());
        assert_eq!(s.requested_scopes(), ["email", "profile", "groups"]);
    }

    #[test]
    fn an_invalid_role_name_is_reported_with_its_group() {
        let mut s = settings();
        s.role_map.insert("ops".into(), vec!["Admin".into()]);
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("`ops`") && err.contains("`Admin`"), "{err}");
    }

    #[test]
    fn debug_hides_the_client_secret() {
        let mut s = settings();
        s.client_secret = Some("s3cr3t-value".into());
        let shown = format!("{s:?}");
        assert!(!shown.contains("s3cr3t-value") && shown.contains("<redacted>"), "{shown}");
    }
}
