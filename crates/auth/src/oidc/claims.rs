//! Reading who signed in from the claims of a verified ID token (and UserInfo).
//!
//! The claim names are settings (`groups_claim`, `username_claim`), and providers put groups
//! in claims no standard names (`groups`, `roles`, `cognito:groups`...), so the claims are read
//! as one JSON object rather than through typed accessors.

use openidconnect::AdditionalClaims;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{OidcIdentity, OidcSettings};

/// Every claim the OpenID standard does not name, kept as JSON so that any configured claim can
/// be read. The client library only hands these over verified.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub(crate) struct ExtraClaims {
    #[serde(flatten)]
    pub(crate) claims: Map<String, Value>,
}

impl AdditionalClaims for ExtraClaims {}

/// The claims of one sign-in: the ID token's, completed by UserInfo's where the token lacks one.
pub(crate) struct Claims(Map<String, Value>);

impl Claims {
    pub(crate) fn new(id_token_claims: Map<String, Value>) -> Claims {
        Claims(id_token_claims)
    }

    /// Adds UserInfo's claims that the ID token does not have; the ID token's win, being signed.
    pub(crate) fn complete_with(&mut self, userinfo: Map<String, Value>) {
        for (name, value) in userinfo {
            self.0.entry(name).or_insert(value);
        }
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.0.get(name).is_some_and(|v| !v.is_null())
    }

    pub(crate) fn subject(&self) -> Option<String> {
        self.string("sub")
    }

    /// A claim that is a non-empty string (surrounding blanks removed).
    fn string(&self, name: &str) -> Option<String> {
        self.0.get(name).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(String::from)
    }

    /// The groups: an array of strings, or one string for providers that send a single group
    /// bare. Anything else in the claim is ignored rather than guessed at. Sorted, without
    /// duplicates, so that the identity does not depend on the provider's order.
    pub(crate) fn groups(&self, name: &str) -> Vec<String> {
        let mut groups: Vec<String> = match self.0.get(name) {
            Some(Value::String(one)) => vec![one.clone()],
            Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).map(String::from).collect(),
            _ => Vec::new(),
        };
        groups.retain(|g| !g.is_empty());
        groups.sort();
        groups.dedup();
        groups
    }

    /// The email only if the provider does not say it is unverified: an unverified address is
    /// whatever the user typed, and must not become an identity.
    fn trusted_email(&self) -> Option<String> {
        match self.0.get("email_verified") {
            Some(Value::Bool(false)) => None,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => None,
            _ => self.string("email"),
        }
    }

    pub(crate) fn into_identity(self, issuer: &str, settings: &OidcSettings) -> Option<OidcIdentity> {
        let subject = self.string("sub")?;
        let email = self.string("email");
        let username =
            self.string(&settings.username_claim).or_else(|| self.trusted_email()).unwrap_or(subject.clone());
        let groups = self.groups(&settings.groups_claim);
        let roles = settings.roles_for(&groups);
        Some(OidcIdentity {
            issuer: issuer.to_string(),
            subject,
            username,
            email,
            name: self.string("name"),
            groups,
            roles,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(value: Value) -> Claims {
        match value {
            Value::Object(map) => Claims::new(map),
            _ => panic!("claims must be an object"),
        }
    }

    fn settings() -> OidcSettings {
        let mut s = OidcSettings::new("https://idp.example", "pitboss", "https://pitboss.example/cb");
        s.role_map.insert("pitboss-admins".into(), vec!["admin".into()]);
        s
    }

    #[test]
    fn identity_uses_the_configured_claims() {
        let c = claims(json!({
            "sub": "u-1", "preferred_username": "alice", "email": "alice@example.com",
            "name": "Alice", "groups": ["pitboss-admins", "everyone", "pitboss-admins"],
        }));
        let id = c.into_identity("https://idp.example", &settings()).unwrap();
        assert_eq!(id.subject, "u-1");
        assert_eq!(id.username, "alice");
        assert_eq!(id.email.as_deref(), Some("alice@example.com"));
        assert_eq!(id.name.as_deref(), Some("Alice"));
        assert_eq!(id.groups, ["everyone", "pitboss-admins"]);
        assert_eq!(id.roles, ["admin"]);
    }

    #[test]
    fn username_falls_back_to_a_trusted_email_then_the_subject() {
        let s = settings();
        let id = claims(json!({"sub": "u-1", "email": "a@example.com"})).into_identity("i", &s).unwrap();
        assert_eq!(id.username, "a@example.com");
        let id = claims(json!({"sub": "u-1", "email": "a@example.com", "email_verified": false}))
            .into_identity("i", &s)
            .unwrap();
        assert_eq!(id.username, "u-1");
        let id = claims(json!({"sub": "u-1", "preferred_username": "  "})).into_identity("i", &s).unwrap();
        assert_eq!(id.username, "u-1");
        assert!(claims(json!({"email": "a@example.com"})).into_identity("i", &s).is_none());
    }

    #[test]
    fn groups_may_be_one_string_and_odd_values_are_ignored() {
        let mut s = settings();
        s.groups_claim = "cognito:groups".into();
        let id = claims(json!({"sub": "u", "cognito:groups": "pitboss-admins"})).into_identity("i", &s).unwrap();
        assert_eq!(id.roles, ["admin"]);
        let id = claims(json!({"sub": "u", "cognito:groups": [1, null, {"x": 1}, ""]})).into_identity("i", &s).unwrap();
        assert!(id.groups.is_empty() && id.roles.is_empty());
    }

    #[test]
    fn the_id_token_wins_over_userinfo() {
        let mut c = claims(json!({"sub": "u", "email": "token@example.com"}));
        assert!(!c.has("groups"));
        let Value::Object(userinfo) = json!({"sub": "other", "email": "userinfo@example.com", "groups": ["g"]}) else {
            unreachable!()
        };
        c.complete_with(userinfo);
        assert!(c.has("groups"));
        let id = c.into_identity("i", &settings()).unwrap();
        assert_eq!((id.subject.as_str(), id.email.as_deref()), ("u", Some("token@example.com")));
        assert_eq!(id.groups, ["g"]);
    }

    #[test]
    fn extra_claims_keep_unknown_claims() {
        let extra: ExtraClaims = serde_json::from_value(json!({"groups": ["a"], "tenant": "t"})).unwrap();
        assert_eq!(extra.claims.get("tenant"), Some(&json!("t")));
    }
}
