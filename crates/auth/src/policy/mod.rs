//! Authorisation: every request asks a Cedar policy decision before it acts.
//!
//! The schema and the policies are files (`policies/` in the repository, compiled into the
//! binary as the defaults, or a directory named by the `policy_dir` setting). [`Policies::load`]
//! parses them, validates them strictly against the schema and refuses to start on any error,
//! naming the file, line and column. [`Policies::decide`] builds the request's entities (the
//! principal with its roles or scopes, the resource with its attributes) and asks Cedar.
//!
//! This module must never grant anything on its own: a question the policies do not answer is
//! a refusal, and so is an evaluation error.

mod action;
mod load;

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use cedar_policy::{
    Authorizer, Context, Decision as CedarDecision, Entities, Entity, EntityId, EntityTypeName, EntityUid, PolicySet,
    Request, RestrictedExpression, Schema,
};
use uuid::Uuid;

pub use action::{Action, Module};
pub use load::{PolicyError, PolicyFile, PolicySource};

/// Who is asking, with the attributes the policies may look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Operator {
        id: Uuid,
        username: String,
        roles: Vec<String>,
        brands: Vec<String>,
        jurisdictions: Vec<String>,
        team: String,
    },
    ApiKey {
        id: Uuid,
        name: String,
        scopes: Vec<String>,
    },
}

/// What the request is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    /// A part of the back office as a whole: may the caller use it at all?
    Module(Module),
    Player {
        id: Uuid,
        brand: String,
        vip_tier: String,
    },
    Adjustment {
        currency: String,
        amount_minor: i64,
        amount_eur_minor: i64,
    },
}

/// Facts about the request itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestFacts {
    /// Another operator has approved this request (four eyes).
    pub approved_by_second_officer: bool,
}

/// The answer, with the policies that decided it (their `@id`), for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// The policies that determined the answer: the permits that allowed it or the forbids that
    /// refused it; empty when nothing permitted the request.
    pub policies: Vec<String>,
    /// Evaluation errors; a policy that errs is skipped, so these never grant anything.
    pub errors: Vec<String>,
}

/// The validated policies and schema.
pub struct Policies {
    set: PolicySet,
    schema: Schema,
    authorizer: Authorizer,
    /// Where they came from, for logs and `pitboss policy check`.
    pub source: String,
    /// How many policies there are.
    pub count: usize,
}

impl std::fmt::Debug for Policies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policies").field("source", &self.source).field("count", &self.count).finish()
    }
}

const NAMESPACE: &str = "Pitboss";

impl Policies {
    /// Loads and validates the schema and policies; see [`PolicySource`].
    pub fn load(source: &PolicySource) -> Result<Policies, PolicyError> {
        let loaded = load::load(source)?;
        Ok(Policies {
            count: loaded.set.policies().count(),
            set: loaded.set,
            schema: loaded.schema,
            authorizer: Authorizer::new(),
            source: loaded.origin,
        })
    }

    /// The policies compiled into the binary.
    pub fn defaults() -> Policies {
        Policies::load(&PolicySource::Defaults).expect("the built-in policies are validated by this crate's tests")
    }

    /// May `principal` do `action` to `resource`?
    pub fn decide(&self, principal: &Principal, action: Action, resource: &Resource, facts: RequestFacts) -> Decision {
        match self.ask(principal, action, resource, facts) {
            Ok(decision) => decision,
            // Entities that do not fit the schema are a bug here, never a reason to allow.
            Err(message) => Decision { allowed: false, policies: vec![], errors: vec![message] },
        }
    }

    fn ask(
        &self,
        principal: &Principal,
        action: Action,
        resource: &Resource,
        facts: RequestFacts,
    ) -> Result<Decision, String> {
        let (principal_entity, mut entities) = principal_entities(principal)?;
        let (resource_uid, resource_entities) = resource_entities(resource)?;
        entities.extend(resource_entities);
        let store = Entities::from_entities(entities, Some(&self.schema))
            .map_err(|e| format!("request entities do not fit the schema: {e}"))?;
        let context = Context::from_pairs([(
            "approved_by_second_officer".to_string(),
            RestrictedExpression::new_bool(facts.approved_by_second_officer),
        )])
        .map_err(|e| e.to_string())?;
        let request = Request::new(principal_entity, action_uid(action)?, resource_uid, context, Some(&self.schema))
            .map_err(|e| format!("the request does not fit the schema: {e}"))?;
        let response = self.authorizer.is_authorized(&request, &self.set, &store);
        let policies = response.diagnostics().reason().map(|id| id.to_string()).collect();
        let errors = response.diagnostics().errors().map(|e| e.to_string()).collect();
        Ok(Decision { allowed: response.decision() == CedarDecision::Allow, policies, errors })
    }
}

fn uid(kind: &str, id: &str) -> Result<EntityUid, String> {
    let name = EntityTypeName::from_str(&format!("{NAMESPACE}::{kind}")).map_err(|e| e.to_string())?;
    Ok(EntityUid::from_type_name_and_id(name, EntityId::new(id)))
}

fn action_uid(action: Action) -> Result<EntityUid, String> {
    uid("Action", action.as_str())
}

fn strings(values: &[String]) -> RestrictedExpression {
    RestrictedExpression::new_set(values.iter().map(|v| RestrictedExpression::new_string(v.clone())))
}

fn entity(
    uid: EntityUid,
    attrs: Vec<(&str, RestrictedExpression)>,
    parents: HashSet<EntityUid>,
) -> Result<Entity, String> {
    let attrs: HashMap<String, RestrictedExpression> = attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    Entity::new(uid, attrs, parents).map_err(|e| e.to_string())
}

fn principal_entities(principal: &Principal) -> Result<(EntityUid, Vec<Entity>), String> {
    match principal {
        Principal::Operator { id, username, roles, brands, jurisdictions, team } => {
            let me = uid("Operator", &id.to_string())?;
            let groups = roles.iter().map(|r| uid("Role", r)).collect::<Result<HashSet<_>, _>>()?;
            let operator = entity(
                me.clone(),
                vec![
                    ("username", RestrictedExpression::new_string(username.clone())),
                    ("brands", strings(brands)),
                    ("jurisdictions", strings(jurisdictions)),
                    ("team", RestrictedExpression::new_string(team.clone())),
                ],
                groups.clone(),
            )?;
            let mut all = vec![operator];
            all.extend(groups.into_iter().map(|g| Entity::new_no_attrs(g, HashSet::new())));
            Ok((me, all))
        }
        Principal::ApiKey { id, name, scopes } => {
            let me = uid("ApiKey", &id.to_string())?;
            let groups = scopes.iter().map(|s| uid("Scope", s)).collect::<Result<HashSet<_>, _>>()?;
            let key =
                entity(me.clone(), vec![("name", RestrictedExpression::new_string(name.clone()))], groups.clone())?;
            let mut all = vec![key];
            all.extend(groups.into_iter().map(|g| Entity::new_no_attrs(g, HashSet::new())));
            Ok((me, all))
        }
    }
}

fn resource_entities(resource: &Resource) -> Result<(EntityUid, Vec<Entity>), String> {
    let module_of = |m: Module| -> Result<(EntityUid, Entity), String> {
        let uid = uid("Module", m.as_str())?;
        Ok((uid.clone(), Entity::new_no_attrs(uid, HashSet::new())))
    };
    match resource {
        Resource::Module(m) => {
            let (uid, e) = module_of(*m)?;
            Ok((uid, vec![e]))
        }
        Resource::Player { id, brand, vip_tier } => {
            let (module, module_entity) = module_of(Module::Players)?;
            let me = uid("Player", &id.to_string())?;
            let player = entity(
                me.clone(),
                vec![
                    ("brand", RestrictedExpression::new_string(brand.clone())),
                    ("vip_tier", RestrictedExpression::new_string(vip_tier.clone())),
                ],
                HashSet::from([module]),
            )?;
            Ok((me, vec![player, module_entity]))
        }
        Resource::Adjustment { currency, amount_minor, amount_eur_minor } => {
            let (module, module_entity) = module_of(Module::Payments)?;
            let me = uid("Adjustment", "requested")?;
            let adjustment = entity(
                me.clone(),
                vec![
                    ("currency", RestrictedExpression::new_string(currency.clone())),
                    ("amount_minor", RestrictedExpression::new_long(*amount_minor)),
                    ("amount_eur_minor", RestrictedExpression::new_long(*amount_eur_minor)),
                ],
                HashSet::from([module]),
            )?;
            Ok((me, vec![adjustment, module_entity]))
        }
    }
}

#[cfg(test)]
mod tests;
