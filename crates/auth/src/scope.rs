//! Scopes: what a machine client's API key lets it do.
//!
//! Coarse on purpose: one scope per module and direction. Fine-grained operator permissions are
//! Cedar's job (see DESIGN.md), not this list's; it must never grow per-endpoint scopes.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
pub enum Scope {
    /// Send platform events (`POST /api/v1/events`).
    #[serde(rename = "events:write")]
    EventsWrite,
    #[serde(rename = "players:read")]
    PlayersRead,
    #[serde(rename = "players:write")]
    PlayersWrite,
    #[serde(rename = "ledger:read")]
    LedgerRead,
    #[serde(rename = "ledger:write")]
    LedgerWrite,
    /// Ask whether a player may act now (`POST /api/v1/players/{id}/checks`), read locks and
    /// the withdrawal queue.
    #[serde(rename = "ops:read")]
    OpsRead,
    /// Set and lift account locks.
    #[serde(rename = "ops:write")]
    OpsWrite,
    /// Read help desk tickets.
    #[serde(rename = "helpdesk:read")]
    HelpdeskRead,
    /// Open tickets and write on them (a website's contact form, a telephony system).
    #[serde(rename = "helpdesk:write")]
    HelpdeskWrite,
    /// Everything, including scopes added later.
    #[serde(rename = "admin")]
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 10] = [
        Scope::EventsWrite,
        Scope::PlayersRead,
        Scope::PlayersWrite,
        Scope::LedgerRead,
        Scope::LedgerWrite,
        Scope::OpsRead,
        Scope::OpsWrite,
        Scope::HelpdeskRead,
        Scope::HelpdeskWrite,
        Scope::Admin,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Scope::EventsWrite => "events:write",
            Scope::PlayersRead => "players:read",
            Scope::PlayersWrite => "players:write",
            Scope::LedgerRead => "ledger:read",
            Scope::LedgerWrite => "ledger:write",
            Scope::OpsRead => "ops:read",
            Scope::OpsWrite => "ops:write",
            Scope::HelpdeskRead => "helpdesk:read",
            Scope::HelpdeskWrite => "helpdesk:write",
            Scope::Admin => "admin",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "unknown scope `{0}`; the scopes are events:write, players:read, players:write, ledger:read, ledger:write, ops:read, ops:write, helpdesk:read, helpdesk:write and admin"
)]
pub struct ScopeError(pub String);

impl FromStr for Scope {
    type Err = ScopeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s).ok_or_else(|| ScopeError(s.to_string()))
    }
}

/// A set of scopes; serialised as an array of scope names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct Scopes(BTreeSet<Scope>);

impl Scopes {
    pub fn new() -> Scopes {
        Scopes::default()
    }

    /// Every scope, as the system caller holds them.
    pub fn admin() -> Scopes {
        Scopes::from_iter([Scope::Admin])
    }

    /// True when the set grants `scope`, directly or through `admin`.
    pub fn allows(&self, scope: Scope) -> bool {
        self.0.contains(&scope) || self.0.contains(&Scope::Admin)
    }

    pub fn insert(&mut self, scope: Scope) {
        self.0.insert(scope);
    }

    pub fn contains(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        Scopes(iter.into_iter().collect())
    }
}

/// Names separated by commas and/or whitespace, e.g. `events:write,players:read`.
impl FromStr for Scopes {
    type Err = ScopeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split(|c: char| c == ',' || c.is_whitespace()).filter(|part| !part.is_empty()).map(str::parse).collect()
    }
}

/// Comma-separated, the form [`FromStr`] reads back.
impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, scope) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(scope.as_str())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for scope in Scope::ALL {
            assert_eq!(scope.as_str().parse::<Scope>(), Ok(scope));
            assert_eq!(serde_json::to_string(&scope).unwrap(), format!("\"{scope}\""));
        }
        assert!("players:delete".parse::<Scope>().unwrap_err().to_string().contains("players:delete"));
    }

    #[test]
    fn admin_implies_every_scope() {
        let admin = Scopes::admin();
        assert!(Scope::ALL.into_iter().all(|s| admin.allows(s)));
        let some: Scopes = "events:write, players:read".parse().unwrap();
        assert!(some.allows(Scope::EventsWrite));
        assert!(!some.allows(Scope::PlayersWrite));
        assert!(!some.allows(Scope::Admin));
    }

    #[test]
    fn set_serialises_as_an_array_of_names() {
        let scopes: Scopes = "players:read ledger:read".parse().unwrap();
        let json = serde_json::to_string(&scopes).unwrap();
        assert_eq!(json, r#"["players:read","ledger:read"]"#);
        assert_eq!(serde_json::from_str::<Scopes>(&json).unwrap(), scopes);
        assert_eq!(scopes.to_string().parse::<Scopes>().unwrap(), scopes);
        assert!(serde_json::from_str::<Scopes>(r#"["nope"]"#).is_err());
    }
}
