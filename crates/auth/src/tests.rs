//! Storage tests of the whole crate, each run on SQLite and (with `--ignored`) PostgreSQL.

use pitboss_store::both_engines;

use crate::operator::sign_in::sign_in;
use crate::{AuthError, Caller, CallerKind, Origin, Scope, Scopes, api_key, audit, operator};

fn scopes(s: &str) -> Scopes {
    s.parse().expect("valid scopes")
}

both_engines!(a_created_key_authenticates_with_its_scopes, |db| async move {
    let (info, key) = api_key::create(&db, "game-server", scopes("events:write,players:read"), "system").await.unwrap();
    assert!(key.starts_with(&format!("pbk_{}_", info.prefix)), "{key}");

    let caller = api_key::authenticate(&db, &key).await.unwrap();
    assert_eq!(caller.kind, CallerKind::ApiKey { id: info.id, name: "game-server".into() });
    assert_eq!(caller.actor(), "api-key:game-server");
    assert_eq!(caller.scopes, scopes("events:write,players:read"));
    assert!(!caller.scopes.allows(Scope::LedgerWrite));

    let listed = api_key::list(&db).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].scopes, info.scopes);
    assert!(!listed[0].is_revoked());
});

both_engines!(a_wrong_or_revoked_key_is_refused, |db| async move {
    let (info, key) = api_key::create(&db, "crm", scopes("players:read"), "system").await.unwrap();

    // Same shape, one character different: looked up, and not found.
    let last = key.chars().last().unwrap();
    let wrong = format!("{}{}", &key[..key.len() - 1], if last == 'a' { 'b' } else { 'a' });
    for presented in [wrong.as_str(), "", "Bearer nonsense", &key[..key.len() - 1]] {
        let err = api_key::authenticate(&db, presented).await.unwrap_err();
        assert!(matches!(err, AuthError::InvalidApiKey), "{presented}: {err}");
    }

    // Found valid (and so taken on trust for a few seconds), then revoked: refused at once.
    assert!(api_key::authenticate(&db, &key).await.is_ok());
    let revoked = api_key::revoke(&db, info.id, "operator:anna").await.unwrap();
    assert!(revoked.is_revoked());
    let err = api_key::authenticate(&db, &key).await.unwrap_err();
    assert!(matches!(err, AuthError::InvalidApiKey), "{err}");

    // Revoking again changes nothing; an unknown id is named in the error.
    let again = api_key::revoke(&db, info.id, "operator:anna").await.unwrap();
    assert_eq!(again.revoked_at, revoked.revoked_at);
    let unknown = pitboss_core::new_id();
    let err = api_key::revoke(&db, unknown, "operator:anna").await.unwrap_err();
    assert!(matches!(err, AuthError::ApiKeyNotFound { id } if id == unknown), "{err}");
});

both_engines!(creating_and_revoking_a_key_is_audited, |db| async move {
    let (info, key) = api_key::create(&db, "wallet", scopes("ledger:write"), "operator:anna").await.unwrap();
    let id = info.id.to_string();

    let records = audit::list(&db, Some("api_key"), Some(&id), 10).await.unwrap();
    assert_eq!(records.len(), 1);
    let created = &records[0];
    assert_eq!(created.actor, "operator:anna");
    assert_eq!(created.action, "api_key.create");
    assert_eq!(created.details["name"], "wallet");
    assert_eq!(created.details["scopes"], serde_json::json!(["ledger:write"]));
    let details = created.details.to_string();
    assert!(!details.contains(&key[key.len() - 40..]), "the secret leaked into the audit log");

    api_key::revoke(&db, info.id, "operator:bob").await.unwrap();
    api_key::revoke(&db, info.id, "operator:bob").await.unwrap();
    let records = audit::list(&db, Some("api_key"), Some(&id), 10).await.unwrap();
    let actions: Vec<&str> = records.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(actions, ["api_key.revoke", "api_key.create"], "newest first, one revoke");
    assert_eq!(audit::list(&db, None, None, 10).await.unwrap().len(), 2);
    assert!(audit::list(&db, Some("operator"), None, 10).await.unwrap().is_empty());
});

both_engines!(a_refused_key_leaves_no_audit_record, |db| async move {
    let err = api_key::create(&db, "empty", Scopes::new(), "system").await.unwrap_err();
    assert!(matches!(err, AuthError::Validation(ref m) if m.contains("at least one scope")), "{err}");
    api_key::create(&db, "crm", scopes("players:read"), "system").await.unwrap();
    let err = api_key::create(&db, "crm", scopes("players:read"), "system").await.unwrap_err();
    assert!(matches!(err, AuthError::ApiKeyNameTaken { ref name } if name == "crm"), "{err}");
    assert_eq!(audit::list(&db, None, None, 10).await.unwrap().len(), 1);
});

both_engines!(a_revoked_keys_name_can_be_reused, |db| async move {
    let (old, _) = api_key::create(&db, "crm", scopes("players:read"), "system").await.unwrap();
    api_key::revoke(&db, old.id, "system").await.unwrap();
    let (new, key) = api_key::create(&db, "crm", scopes("players:read"), "system").await.unwrap();
    assert_ne!(old.id, new.id);
    assert!(api_key::authenticate(&db, &key).await.is_ok());
});

both_engines!(an_audit_record_rolls_back_with_its_transaction, |db| async move {
    let mut tx = db.begin().await.unwrap();
    let entry = audit::AuditEntry::new("system", "test.change", "test", "1");
    audit::record(&mut tx, &entry).await.unwrap();
    tx.rollback().await.unwrap();
    assert!(audit::list(&db, None, None, 10).await.unwrap().is_empty());

    let mut tx = db.begin().await.unwrap();
    audit::record(&mut tx, &entry.clone().details(serde_json::json!({"n": 1}))).await.unwrap();
    tx.commit().await.unwrap();
    let records = audit::list(&db, Some("test"), Some("1"), 10).await.unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].details, serde_json::json!({"n": 1}));
});

both_engines!(using_a_key_records_when_it_was_last_used, |db| async move {
    let (info, key) = api_key::create(&db, "site", scopes("players:read"), "system").await.unwrap();
    api_key::authenticate(&db, &key).await.unwrap();
    // The write happens in the background; give it a moment.
    let mut last_used = None;
    for _ in 0..100 {
        let keys = api_key::list(&db).await.unwrap();
        last_used = keys.iter().find(|k| k.id == info.id).and_then(|k| k.last_used_at);
        if last_used.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(last_used.is_some_and(|at| at >= info.created_at), "last_used_at was not written");
});

fn new_operator(username: &str, password: &str, roles: &[&str]) -> operator::NewOperator {
    operator::NewOperator {
        username: username.into(),
        password: Some(password.into()),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        ..Default::default()
    }
}

fn origin() -> Origin {
    Origin { ip: Some("192.0.2.7".into()), user_agent: Some("test-browser".into()) }
}

both_engines!(an_operator_signs_in_only_with_the_right_password, |db| async move {
    let password = operator::generate_password();
    let system = Caller::system();
    let anna = operator::create(&db, new_operator("anna", &password, &["admin"]), &system).await.unwrap();
    assert_eq!(anna.roles, ["admin"]);

    let signed_in = sign_in(&db, "anna", &password, &origin()).await.unwrap();
    assert_eq!(signed_in, anna);
    assert_eq!(operator::get(&db, anna.id).await.unwrap(), Some(anna.clone()));
    let caller = Caller::operator(&signed_in, origin());
    assert_eq!(caller.actor(), "operator:anna");

    for (user, pass) in [("anna", "not the right password"), ("nobody", password.as_str()), ("A!", "x")] {
        let err = sign_in(&db, user, pass, &origin()).await.unwrap_err();
        assert!(matches!(err, AuthError::InvalidCredentials), "{user}: {err}");
    }

    let records = audit::list(&db, Some("operator"), Some(&anna.id.to_string()), 10).await.unwrap();
    let actions: Vec<&str> = records.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(actions, ["operator.sign_in_password", "operator.create"]);
    assert!(!records.iter().any(|r| r.details.to_string().contains(&password)));
    let failed = audit::list(&db, Some("operator"), Some("nobody"), 10).await.unwrap();
    assert_eq!(failed[0].action, "operator.sign_in_failed");
    assert_eq!(failed[0].ip.as_deref(), Some("192.0.2.7"));
    assert_eq!(failed[0].user_agent.as_deref(), Some("test-browser"));
});

both_engines!(a_duplicate_username_is_refused, |db| async move {
    let system = Caller::system();
    operator::create(&db, new_operator("bob", "first password here", &["analyst"]), &system).await.unwrap();
    let err = operator::create(&db, new_operator("bob", "second password here", &[]), &system).await.unwrap_err();
    assert!(matches!(err, AuthError::UsernameTaken { ref username } if username == "bob"), "{err}");
    assert!(err.to_string().contains("`bob` is already taken"), "{err}");
    // The first password still works: the refused create changed nothing.
    assert!(sign_in(&db, "bob", "first password here", &origin()).await.is_ok());

    let err = operator::create(&db, new_operator("carol", "too short", &[]), &system).await.unwrap_err();
    assert!(matches!(err, AuthError::Validation(ref m) if m.contains("at least 12")), "{err}");
    let err =
        operator::create(&db, new_operator("carol", "long enough password", &["wizard"]), &system).await.unwrap_err();
    assert!(err.to_string().contains("`wizard` is not a role"), "{err}");
});

both_engines!(admins_edit_and_disable_operators_with_before_and_after_audited, |db| async move {
    let system = Caller::system();
    let admin = operator::create(&db, new_operator("root", "root password here", &["admin"]), &system).await.unwrap();
    let by = Caller::operator(&admin, origin());
    let mut new = new_operator("sam", "sam password here", &["support_agent"]);
    new.brands = vec!["brand-a".into()];
    let sam = operator::create(&db, new, &by).await.unwrap();

    let patch = operator::OperatorPatch {
        brands: Some(vec!["brand-a".into(), "brand-b".into()]),
        team: Some("vip-desk".into()),
        ..Default::default()
    };
    let edited = operator::update(&db, sam.id, patch, &by).await.unwrap();
    assert_eq!(edited.brands, ["brand-a", "brand-b"]);
    assert_eq!(edited.team, "vip-desk");
    let bad = operator::OperatorPatch { brands: Some(vec!["Brand B".into()]), ..Default::default() };
    assert!(operator::update(&db, sam.id, bad, &by).await.unwrap_err().to_string().contains("not a valid brand"));

    let disabled = operator::set_disabled(&db, sam.id, true, "left the company", &by).await.unwrap();
    assert!(disabled.disabled_at.is_some());
    let err = sign_in(&db, "sam", "sam password here", &origin()).await.unwrap_err();
    assert!(matches!(err, AuthError::AccountDisabled { .. }), "{err}");
    let err = operator::set_disabled(&db, admin.id, true, "oops", &by).await.unwrap_err();
    assert!(err.to_string().contains("your own account"), "{err}");

    let records = audit::list(&db, Some("operator"), Some(&sam.id.to_string()), 10).await.unwrap();
    let update = records.iter().find(|r| r.action == "operator.update").expect("update audited");
    assert_eq!(update.actor, "operator:root");
    assert_eq!(update.ip.as_deref(), Some("192.0.2.7"));
    assert_eq!(update.before.as_ref().unwrap()["brands"], serde_json::json!(["brand-a"]));
    assert_eq!(update.after.as_ref().unwrap()["brands"], serde_json::json!(["brand-a", "brand-b"]));
    assert_eq!(update.after.as_ref().unwrap()["team"], "vip-desk");
    let disable = records.iter().find(|r| r.action == "operator.disable").expect("disable audited");
    assert_eq!(disable.reason.as_deref(), Some("left the company"));
});

both_engines!(repeated_failures_lock_a_username_whether_or_not_it_exists, |db| async move {
    let system = Caller::system();
    operator::create(&db, new_operator("dora", "dora password here", &["analyst"]), &system).await.unwrap();
    for user in ["dora", "ghost"] {
        for _ in 0..operator::sign_in::FREE_FAILURES {
            let err = sign_in(&db, user, "wrong password!", &origin()).await.unwrap_err();
            assert!(matches!(err, AuthError::InvalidCredentials), "{err}");
        }
        // Now locked: even the right password is refused, and the message is the same for a
        // real and an unknown name.
        let err = sign_in(&db, user, "dora password here", &origin()).await.unwrap_err();
        match err {
            AuthError::TooManyAttempts { retry_after_seconds } => assert!((1..=30).contains(&retry_after_seconds)),
            other => panic!("{user}: {other}"),
        }
    }
    let locked = audit::list(&db, Some("operator"), Some("dora"), 10).await.unwrap();
    assert_eq!(locked[0].action, "operator.sign_in_locked");
});

both_engines!(two_factor_enrolment_verification_and_recovery_codes, |db| async move {
    use operator::totp;
    let system = Caller::system();
    let eve =
        operator::create(&db, new_operator("eve", "eve password here", &["payments_officer"]), &system).await.unwrap();
    let me = Caller::operator(&eve, origin());
    let enrolment = totp::begin_enrolment(&db, eve.id, &me).await.unwrap();
    assert!(enrolment.otpauth_url.starts_with("otpauth://totp/Pitboss:eve?"), "{}", enrolment.otpauth_url);
    assert!(enrolment.qr_svg.contains("<svg"));

    let err = totp::confirm_enrolment(&db, eve.id, "000000", &me).await;
    let current = totp::current_code(&enrolment.secret, "eve").unwrap();
    if current != "000000" {
        assert!(matches!(err, Err(AuthError::InvalidSecondFactor)));
    }
    let codes = totp::confirm_enrolment(&db, eve.id, &current, &me).await.unwrap();
    assert_eq!(codes.len(), totp::RECOVERY_CODES);
    assert!(operator::get(&db, eve.id).await.unwrap().unwrap().two_factor);

    // The code that confirmed enrolment cannot be used again.
    let replay = totp::verify(&db, eve.id, &current, &me).await.unwrap_err();
    assert!(matches!(replay, AuthError::InvalidSecondFactor), "{replay}");

    // A recovery code works once, typed in any case.
    assert_eq!(
        totp::verify(&db, eve.id, &codes[0].to_uppercase(), &me).await.unwrap(),
        totp::SecondFactor::RecoveryCode
    );
    assert!(totp::verify(&db, eve.id, &codes[0], &me).await.is_err());
    assert_eq!(totp::recovery_codes_left(&db, eve.id).await.unwrap(), (totp::RECOVERY_CODES - 1) as i64);

    totp::reset(&db, eve.id, "lost phone", &system).await.unwrap();
    assert!(!operator::get(&db, eve.id).await.unwrap().unwrap().two_factor);
    let actions: Vec<String> = audit::list(&db, Some("operator"), Some(&eve.id.to_string()), 20)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.action)
        .collect();
    for expected in [
        "operator.two_factor_enrolled",
        "operator.two_factor_failed",
        "operator.recovery_code_used",
        "operator.two_factor_reset",
    ] {
        assert!(actions.iter().any(|a| a == expected), "{expected} missing from {actions:?}");
    }
});

both_engines!(passwords_change_with_the_current_one_or_by_an_administrator, |db| async move {
    let system = Caller::system();
    let fay = operator::create(&db, new_operator("fay", "fay first password", &["analyst"]), &system).await.unwrap();
    let me = Caller::operator(&fay, origin());
    let err =
        operator::change_own_password(&db, fay.id, "not my password", "fay second password", &me).await.unwrap_err();
    assert!(err.to_string().contains("current password is not right"), "{err}");
    operator::change_own_password(&db, fay.id, "fay first password", "fay second password", &me).await.unwrap();
    assert!(sign_in(&db, "fay", "fay first password", &origin()).await.is_err());
    assert!(sign_in(&db, "fay", "fay second password", &origin()).await.is_ok());
    operator::set_password(&db, fay.id, "reset by an admin", &system).await.unwrap();
    assert!(sign_in(&db, "fay", "reset by an admin", &origin()).await.is_ok());
    let actions: Vec<String> = audit::list(&db, Some("operator"), Some(&fay.id.to_string()), 20)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.action)
        .collect();
    assert_eq!(actions.iter().filter(|a| *a == "operator.set_password").count(), 2, "{actions:?}");
    assert!(actions.contains(&"operator.password_change_refused".to_string()), "{actions:?}");
});
