use super::load::{PolicyFile, compile};
use super::*;

fn operator(roles: &[&str], brands: &[&str]) -> Principal {
    Principal::Operator {
        id: Uuid::nil(),
        username: "someone".into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        brands: brands.iter().map(|b| b.to_string()).collect(),
        jurisdictions: vec!["mga".into()],
        team: "team".into(),
    }
}

fn api_key(scopes: &[&str]) -> Principal {
    Principal::ApiKey {
        id: Uuid::nil(),
        name: "platform".into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
    }
}

fn player(brand: &str, vip_tier: &str) -> Resource {
    Resource::Player { id: Uuid::nil(), brand: brand.into(), vip_tier: vip_tier.into() }
}

fn adjustment(amount_eur_minor: i64) -> Resource {
    Resource::Adjustment { currency: "EUR".into(), amount_minor: amount_eur_minor, amount_eur_minor }
}

fn allowed(p: &Principal, action: Action, resource: &Resource) -> bool {
    Policies::defaults().decide(p, action, resource, RequestFacts::default()).allowed
}

fn module_allowed(p: &Principal, action: Action) -> bool {
    allowed(p, action, &Resource::Module(action.module()))
}

#[test]
fn the_built_in_policies_validate() {
    let policies = Policies::load(&PolicySource::Defaults).expect("valid");
    assert!(policies.count >= 15, "{}", policies.count);
}

#[test]
fn the_action_list_matches_the_schema() {
    let (_, schema) = compile(include_str!("../../../../policies/pitboss.cedarschema"), &[]).unwrap_or_else(|e| {
        // No policy files: compile still parses the schema first; a schema error is a bug.
        panic!("{e}")
    });
    let mut in_schema: Vec<String> = schema.actions().map(|a| a.id().unescaped().to_string()).collect();
    in_schema.sort();
    let mut in_code: Vec<String> = Action::ALL.iter().map(|a| a.as_str().to_string()).collect();
    in_code.sort();
    assert_eq!(in_schema, in_code);
}

/// The role matrix for the module-level question every route asks first.
#[test]
fn each_role_opens_exactly_its_modules() {
    use Action::*;
    let expect: &[(&str, &[Action])] = &[
        (
            "support_agent",
            &[
                ShellOpen,
                PlayerSearch,
                PlayerRead,
                PlayerReadPersonalData,
                PlayerUpdate,
                LedgerRead,
                PaymentRead,
                LockRead,
                PlayerCheck,
                TicketRead,
                TicketHandle,
            ],
        ),
        (
            "vip_manager",
            &[
                ShellOpen,
                PlayerSearch,
                PlayerRead,
                PlayerReadPersonalData,
                PlayerUpdate,
                LedgerRead,
                PaymentRead,
                SegmentRead,
                LockRead,
                PlayerCheck,
                TicketRead,
                TicketHandle,
            ],
        ),
        (
            "payments_officer",
            &[
                ShellOpen,
                PlayerSearch,
                PlayerRead,
                PlayerReadPersonalData,
                LedgerRead,
                PaymentRead,
                PaymentReadDetails,
                PaymentChangeStatus,
                LedgerAdjust,
                LedgerApproveAdjustment,
                LockRead,
                LockManage,
                PlayerCheck,
                WithdrawalReview,
                WithdrawalApprove,
                AlertRead,
                AlertHandle,
                AlertSubscribe,
            ],
        ),
        (
            "compliance_officer",
            &[
                ShellOpen,
                PlayerSearch,
                PlayerRead,
                PlayerReadPersonalData,
                PlayerReadKycDocuments,
                LedgerRead,
                PaymentRead,
                PaymentReadDetails,
                AuditRead,
                AuditExport,
                SegmentRead,
                LockRead,
                LockManage,
                PlayerCheck,
                WithdrawalReview,
                AlertRead,
                AlertHandle,
                AlertSubscribe,
                AnomalyRuleManage,
                TicketRead,
            ],
        ),
        (
            "marketer",
            &[
                ShellOpen,
                PlayerSearch,
                PlayerRead,
                PlayerReadPersonalData,
                PaymentRead,
                SegmentRead,
                SegmentManage,
                ModelRead,
            ],
        ),
        (
            "analyst",
            &[
                ShellOpen,
                PlayerSearch,
                PlayerRead,
                LedgerRead,
                PaymentRead,
                SegmentRead,
                ModelRead,
                ModelRefit,
                LockRead,
            ],
        ),
        ("admin", Action::ALL),
    ];
    for (role, permitted) in expect {
        let who = operator(&[role], &["brand-a"]);
        for action in Action::ALL {
            assert_eq!(
                module_allowed(&who, *action),
                permitted.contains(action),
                "role {role}, action {action}: expected {}",
                if permitted.contains(action) { "allowed" } else { "refused" }
            );
        }
    }
}

#[test]
fn an_operator_without_roles_may_only_open_the_shell() {
    let nobody = operator(&[], &["brand-a"]);
    for action in Action::ALL {
        assert_eq!(module_allowed(&nobody, *action), *action == Action::ShellOpen, "{action}");
    }
}

#[test]
fn support_agents_see_only_players_of_their_brands() {
    let agent = operator(&["support_agent"], &["brand-a", "brand-b"]);
    assert!(allowed(&agent, Action::PlayerRead, &player("brand-a", "")));
    assert!(allowed(&agent, Action::PlayerUpdate, &player("brand-b", "")));
    assert!(!allowed(&agent, Action::PlayerRead, &player("brand-c", "")));
    assert!(!allowed(&agent, Action::PlayerReadPersonalData, &player("brand-c", "")));
    // An agent who serves no brand sees no player at all.
    assert!(!allowed(&operator(&["support_agent"], &[]), Action::PlayerRead, &player("brand-a", "")));
}

#[test]
fn vip_managers_see_only_vip_players_of_their_brands() {
    let manager = operator(&["vip_manager"], &["brand-a"]);
    assert!(allowed(&manager, Action::PlayerRead, &player("brand-a", "gold")));
    assert!(!allowed(&manager, Action::PlayerRead, &player("brand-a", "none")));
    assert!(!allowed(&manager, Action::PlayerRead, &player("brand-a", "")));
    assert!(!allowed(&manager, Action::PlayerRead, &player("brand-b", "gold")));
}

#[test]
fn marketers_never_see_kyc_documents_or_full_payment_details_even_as_admins() {
    let marketer = operator(&["marketer"], &["brand-a"]);
    assert!(allowed(&marketer, Action::PlayerRead, &player("brand-z", "")));
    assert!(!allowed(&marketer, Action::PlayerReadKycDocuments, &player("brand-a", "")));
    assert!(!allowed(&marketer, Action::PaymentReadDetails, &player("brand-a", "")));
    // A forbid wins over the admin role's permit.
    let both = operator(&["admin", "marketer"], &[]);
    assert!(!allowed(&both, Action::PaymentReadDetails, &player("brand-a", "")));
    assert!(allowed(&both, Action::AccessManage, &Resource::Module(Module::Access)));
}

#[test]
fn analysts_read_with_personal_data_masked_and_change_nothing() {
    let analyst = operator(&["analyst"], &[]);
    assert!(allowed(&analyst, Action::PlayerRead, &player("any", "")));
    assert!(!allowed(&analyst, Action::PlayerReadPersonalData, &player("any", "")));
    // Refitting the models is the one exception: it recomputes estimates from the data and
    // changes no record an analyst could not otherwise read.
    for action in Action::ALL.iter().filter(|a| a.mutates() && **a != Action::ModelRefit) {
        assert!(!module_allowed(&analyst, *action), "{action}");
    }
    assert!(module_allowed(&analyst, Action::ModelRefit));
}

#[test]
fn adjustments_above_the_threshold_need_a_second_officer() {
    let policies = Policies::defaults();
    let officer = operator(&["payments_officer"], &[]);
    let admin = operator(&["admin"], &[]);
    let alone = RequestFacts::default();
    let approved = RequestFacts { approved_by_second_officer: true };
    for who in [&officer, &admin] {
        assert!(policies.decide(who, Action::LedgerAdjust, &adjustment(100_000), alone).allowed);
        let refused = policies.decide(who, Action::LedgerAdjust, &adjustment(100_001), alone);
        assert!(!refused.allowed);
        assert_eq!(refused.policies, vec!["adjustments-above-the-threshold-need-a-second-officer".to_string()]);
        assert!(policies.decide(who, Action::LedgerAdjust, &adjustment(100_001), approved).allowed);
        // An amount whose value is unknown counts as above any threshold.
        assert!(!policies.decide(who, Action::LedgerAdjust, &adjustment(i64::MAX), alone).allowed);
    }
    let agent = operator(&["support_agent"], &[]);
    assert!(!policies.decide(&agent, Action::LedgerAdjust, &adjustment(1), approved).allowed);
}

#[test]
fn api_keys_may_do_what_their_scopes_say() {
    let platform = api_key(&["events:write", "players:read"]);
    assert!(module_allowed(&platform, Action::EventIngest));
    assert!(module_allowed(&platform, Action::PlayerSearch));
    assert!(allowed(&platform, Action::PlayerRead, &player("any", "")));
    assert!(!module_allowed(&platform, Action::PlayerUpdate));
    assert!(!module_allowed(&platform, Action::LedgerAdjust));
    assert!(!module_allowed(&platform, Action::AuditRead));
    assert!(!module_allowed(&platform, Action::ShellOpen));
    let admin = api_key(&["admin"]);
    assert!(Action::ALL.iter().filter(|a| **a != Action::ShellOpen).all(|a| module_allowed(&admin, *a)));
}

#[test]
fn a_decision_names_the_policy_that_allowed_it() {
    let d = Policies::defaults().decide(
        &operator(&["support_agent"], &["b"]),
        Action::PlayerRead,
        &player("b", ""),
        RequestFacts::default(),
    );
    assert!(d.allowed);
    assert_eq!(d.policies, vec!["support-agents-see-only-players-of-their-brands".to_string()]);
}

const SCHEMA: &str = include_str!("../../../../policies/pitboss.cedarschema");

fn file(name: &str, text: &str) -> PolicyFile {
    PolicyFile { name: name.into(), text: text.into() }
}

#[test]
fn a_syntax_error_names_the_file_line_and_column() {
    let bad =
        "@id(\"ok\")\npermit (principal, action, resource);\n\n@id(\"broken\")\npermit (principal, action resource);\n";
    let err = compile(SCHEMA, &[file("broken.cedar", bad)]).unwrap_err().to_string();
    assert!(err.starts_with("broken.cedar:5:"), "{err}");
}

#[test]
fn a_policy_that_does_not_fit_the_schema_is_named() {
    let bad = "@id(\"agents-see-by-colour\")\n\npermit (principal in Pitboss::Role::\"support_agent\", action == Pitboss::Action::\"player.read\", resource is Pitboss::Player)\nwhen { resource.colour == \"red\" };\n";
    let err = compile(SCHEMA, &[file("colour.cedar", bad)]).unwrap_err().to_string();
    assert!(err.contains("colour.cedar:"), "{err}");
    assert!(err.contains("`agents-see-by-colour`"), "{err}");
    assert!(err.contains("colour"), "{err}");

    let unknown_action = "@id(\"x\")\npermit (principal, action == Pitboss::Action::\"player.delete\", resource);\n";
    let err = compile(SCHEMA, &[file("x.cedar", unknown_action)]).unwrap_err().to_string();
    assert!(err.contains("player.delete"), "{err}");
}

#[test]
fn every_policy_needs_a_unique_id() {
    let err = compile(SCHEMA, &[file("a.cedar", "permit (principal, action, resource);")]).unwrap_err();
    assert!(matches!(err, PolicyError::MissingId { .. }), "{err}");
    let one = "@id(\"same\")\npermit (principal, action, resource);";
    let err = compile(SCHEMA, &[file("a.cedar", one), file("b.cedar", one)]).unwrap_err();
    assert!(err.to_string().contains("`same` is used twice"), "{err}");
}

#[test]
fn a_broken_schema_is_refused() {
    let err = compile("namespace Pitboss { entity }", &[]).unwrap_err();
    assert!(matches!(err, PolicyError::Schema { .. }), "{err}");
}

#[test]
fn a_policy_directory_loads_and_must_hold_policies() {
    let dir = std::env::temp_dir().join(format!("pitboss-policy-test-{}", pitboss_core::new_id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("pitboss.cedarschema"), SCHEMA).unwrap();
    let err = Policies::load(&PolicySource::Dir(dir.clone())).unwrap_err();
    assert!(matches!(err, PolicyError::NoPolicies { .. }), "{err}");
    std::fs::write(dir.join("all.cedar"), "@id(\"everyone\")\npermit (principal, action, resource);").unwrap();
    let policies = Policies::load(&PolicySource::Dir(dir.clone())).unwrap();
    assert_eq!(policies.count, 1);
    std::fs::remove_dir_all(&dir).unwrap();
}
