//! The caller of a request, as authentication established it.
//!
//! A `Caller` is only ever built by this crate's authentication functions, from a session the
//! web layer verified, or for the system itself; it must never be built from what a client
//! merely claims.

use uuid::Uuid;

use crate::audit::AuditEntry;
use crate::policy::Principal;
use crate::{OperatorInfo, Scopes};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallerKind {
    ApiKey {
        id: Uuid,
        name: String,
    },
    Operator {
        id: Uuid,
        username: String,
        roles: Vec<String>,
        brands: Vec<String>,
        jurisdictions: Vec<String>,
        team: String,
    },
    /// Pitboss itself: timers, consumers, the demo loader. Audited like anyone else, and not
    /// subject to the policies (it is not a person or a client).
    System,
}

/// Where a request came from, for the audit log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub kind: CallerKind,
    /// An API key's scopes; empty for operators, whose rights come from their roles.
    pub scopes: Scopes,
    pub origin: Origin,
}

impl Caller {
    pub fn system() -> Caller {
        Caller { kind: CallerKind::System, scopes: Scopes::admin(), origin: Origin::default() }
    }

    /// An operator, signed in from `origin`.
    pub fn operator(operator: &OperatorInfo, origin: Origin) -> Caller {
        Caller {
            kind: CallerKind::Operator {
                id: operator.id,
                username: operator.username.clone(),
                roles: operator.roles.clone(),
                brands: operator.brands.clone(),
                jurisdictions: operator.jurisdictions.clone(),
                team: operator.team.clone(),
            },
            scopes: Scopes::new(),
            origin,
        }
    }

    /// The same caller, seen coming from `origin`.
    pub fn from_origin(mut self, origin: Origin) -> Caller {
        self.origin = origin;
        self
    }

    /// Who this is in the audit log: `api-key:<name>`, `operator:<username>` or `system`.
    pub fn actor(&self) -> String {
        match &self.kind {
            CallerKind::ApiKey { name, .. } => format!("api-key:{name}"),
            CallerKind::Operator { username, .. } => format!("operator:{username}"),
            CallerKind::System => "system".to_string(),
        }
    }

    pub fn operator_id(&self) -> Option<Uuid> {
        match &self.kind {
            CallerKind::Operator { id, .. } => Some(*id),
            _ => None,
        }
    }

    /// An audit entry for something this caller did, with where they did it from.
    pub fn audit(&self, action: &str, target_type: &str, target_id: impl ToString) -> AuditEntry {
        AuditEntry::new(self.actor(), action, target_type, target_id)
            .client(self.origin.ip.clone(), self.origin.user_agent.clone())
    }

    /// The caller as the policies see it; `None` for the system, which they do not govern.
    pub fn principal(&self) -> Option<Principal> {
        match &self.kind {
            CallerKind::ApiKey { id, name } => Some(Principal::ApiKey {
                id: *id,
                name: name.clone(),
                scopes: self.scopes.iter().map(|s| s.as_str().to_string()).collect(),
            }),
            CallerKind::Operator { id, username, roles, brands, jurisdictions, team } => Some(Principal::Operator {
                id: *id,
                username: username.clone(),
                roles: roles.clone(),
                brands: brands.clone(),
                jurisdictions: jurisdictions.clone(),
                team: team.clone(),
            }),
            CallerKind::System => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Scope;

    #[test]
    fn an_api_key_is_a_principal_with_its_scopes_as_groups() {
        let caller = Caller {
            kind: CallerKind::ApiKey { id: Uuid::nil(), name: "crm".into() },
            scopes: [Scope::PlayersRead].into_iter().collect(),
            origin: Origin::default(),
        };
        assert_eq!(caller.actor(), "api-key:crm");
        assert_eq!(
            caller.principal(),
            Some(Principal::ApiKey { id: Uuid::nil(), name: "crm".into(), scopes: vec!["players:read".into()] })
        );
    }

    #[test]
    fn the_system_is_audited_but_not_governed_by_policies() {
        let system = Caller::system();
        assert_eq!(system.actor(), "system");
        assert_eq!(system.principal(), None);
        assert_eq!(system.audit("x.y", "t", 1).actor, "system");
    }
}
