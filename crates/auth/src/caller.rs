//! The caller of a request, as authentication established it, and the scope check on it.
//!
//! A `Caller` is only ever built by this crate's authentication functions or for the system
//! itself; it must never be built from what a client merely claims.

use uuid::Uuid;

use crate::{AuthError, OperatorInfo, Scope, Scopes};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallerKind {
    ApiKey {
        id: Uuid,
        name: String,
    },
    Operator {
        id: Uuid,
        username: String,
    },
    /// Pitboss itself: timers, consumers, the demo loader. Audited like anyone else.
    System,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub kind: CallerKind,
    pub scopes: Scopes,
}

impl Caller {
    pub fn system() -> Caller {
        Caller { kind: CallerKind::System, scopes: Scopes::admin() }
    }

    /// An operator as a caller. Until the Cedar policies arrive, the `admin` role grants every
    /// scope and other roles grant none; Cedar then decides operator access and this mapping
    /// goes away.
    pub fn operator(operator: &OperatorInfo) -> Caller {
        let scopes = if operator.roles.iter().any(|r| r == "admin") { Scopes::admin() } else { Scopes::new() };
        Caller { kind: CallerKind::Operator { id: operator.id, username: operator.username.clone() }, scopes }
    }

    /// Who this is in the audit log: `api-key:<name>`, `operator:<username>` or `system`.
    pub fn actor(&self) -> String {
        match &self.kind {
            CallerKind::ApiKey { name, .. } => format!("api-key:{name}"),
            CallerKind::Operator { username, .. } => format!("operator:{username}"),
            CallerKind::System => "system".to_string(),
        }
    }

    /// Ok when the caller holds `scope` (or `admin`); otherwise an error naming the scope.
    pub fn require(&self, scope: Scope) -> Result<(), AuthError> {
        if self.scopes.allows(scope) { Ok(()) } else { Err(AuthError::MissingScope { scope }) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_scope_is_named() {
        let caller = Caller {
            kind: CallerKind::ApiKey { id: Uuid::nil(), name: "crm".into() },
            scopes: [Scope::PlayersRead].into_iter().collect(),
        };
        assert_eq!(caller.actor(), "api-key:crm");
        assert!(caller.require(Scope::PlayersRead).is_ok());
        let err = caller.require(Scope::LedgerWrite).unwrap_err();
        assert!(err.to_string().contains("`ledger:write`"), "{err}");
    }

    #[test]
    fn system_may_do_anything() {
        let system = Caller::system();
        assert_eq!(system.actor(), "system");
        assert!(Scope::ALL.into_iter().all(|s| system.require(s).is_ok()));
    }
}
