//! Storage tests of the whole crate, each run on SQLite and (with `--ignored`) PostgreSQL.

use pitboss_store::both_engines;

use crate::{AuthError, CallerKind, Scope, Scopes, api_key, audit, operator};

fn scopes(s: &str) -> Scopes {
    s.parse().expect("valid scopes")
}

both_engines!(a_created_key_authenticates_with_its_scopes, |db| async move {
    let (info, key) = api_key::create(&db, "game-server", scopes("events:write,players:read"), "system").await.unwrap();
    assert!(key.starts_with(&format!("pbk_{}_", info.prefix)), "{key}");

    let caller = api_key::authenticate(&db, &key).await.unwrap();
    assert_eq!(caller.kind, CallerKind::ApiKey { id: info.id, name: "game-server".into() });
    assert_eq!(caller.actor(), "api-key:game-server");
    assert!(caller.require(Scope::EventsWrite).is_ok());
    assert!(caller.require(Scope::PlayersRead).is_ok());
    let missing = caller.require(Scope::LedgerWrite).unwrap_err();
    assert!(matches!(missing, AuthError::MissingScope { scope: Scope::LedgerWrite }));

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

    let revoked = api_key::revoke(&db, info.id, "operator:anna").await.unwrap();
    assert!(revoked.is_revoked());
    let err = api_key::authenticate(&db, &key).await.unwrap_err();
    assert!(matches!(err, AuthError::InvalidApiKey), "{err}");

    // Revoking again changes nothing; an unknown id is named in the error.
    assert_eq!(api_key::revoke(&db, info.id, "operator:anna").await.unwrap(), revoked);
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

both_engines!(an_operator_signs_in_only_with_the_right_password, |db| async move {
    let password = operator::generate_password();
    let anna = operator::create_operator(&db, "anna", &password, &["admin"], "system").await.unwrap();
    assert_eq!(anna.roles, ["admin"]);

    let signed_in = operator::verify_password(&db, "anna", &password).await.unwrap();
    assert_eq!(signed_in, anna);
    assert_eq!(operator::get(&db, anna.id).await.unwrap(), Some(anna.clone()));
    let caller = crate::Caller::operator(&signed_in);
    assert_eq!(caller.actor(), "operator:anna");
    assert!(caller.require(Scope::LedgerWrite).is_ok());

    for (user, pass) in [("anna", "not the right password"), ("nobody", password.as_str()), ("A!", "x")] {
        let err = operator::verify_password(&db, user, pass).await.unwrap_err();
        assert!(matches!(err, AuthError::InvalidCredentials), "{user}: {err}");
    }

    let records = audit::list(&db, Some("operator"), Some(&anna.id.to_string()), 10).await.unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].action, "operator.create");
    assert!(!records[0].details.to_string().contains(&password));
});

both_engines!(a_duplicate_username_is_refused, |db| async move {
    operator::create_operator(&db, "bob", "first password here", &["support"], "system").await.unwrap();
    let err = operator::create_operator(&db, "bob", "second password here", &[], "system").await.unwrap_err();
    assert!(matches!(err, AuthError::UsernameTaken { ref username } if username == "bob"), "{err}");
    assert!(err.to_string().contains("`bob` is already taken"), "{err}");
    // The first password still works: the refused create changed nothing.
    assert!(operator::verify_password(&db, "bob", "first password here").await.is_ok());

    let err = operator::create_operator(&db, "carol", "too short", &[], "system").await.unwrap_err();
    assert!(matches!(err, AuthError::Validation(ref m) if m.contains("at least 12")), "{err}");
});
