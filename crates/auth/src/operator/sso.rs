//! Operators who sign in through single sign-on: created on their first sign-in, and their
//! roles kept in step with the provider's groups at every sign-in (the provider is the source of
//! truth for them).
//!
//! An account is found by the provider's (issuer, subject), never by username or email: a
//! provider account must not take over a password account that happens to share its name.

use pitboss_store::{Db, exec};
use serde_json::json;

use super::record::{get_with_hash, insert};
use super::{OperatorInfo, validate_username};
use crate::oidc::OidcIdentity;
use crate::{AuthError, Origin, audit, now_micros};

/// The operator for a verified identity, created or updated; refused when the provider gives
/// the person no Pitboss role or the account is disabled.
pub async fn provision(db: &Db, identity: &OidcIdentity, origin: &Origin) -> Result<OperatorInfo, AuthError> {
    if identity.roles.is_empty() {
        return Err(AuthError::Validation(format!(
            "your single sign-on account ({}) is in no group that has a Pitboss role; ask an administrator to add you to one",
            identity.username
        )));
    }
    let roles = super::validate_roles(&identity.roles)?;
    let existing = find(db, &identity.issuer, &identity.subject).await?;
    let actor = |username: &str| format!("operator:{username}");
    match existing {
        Some(before) => {
            if before.disabled_at.is_some() {
                return Err(AuthError::AccountDisabled { username: before.username });
            }
            let mut tx = db.begin().await?;
            let mut after = before.clone();
            if before.roles != roles {
                after.roles = roles;
                after.updated_at = Some(now_micros());
                let roles_json = serde_json::to_string(&after.roles).unwrap_or_else(|_| "[]".into());
                exec!(
                    &mut tx,
                    "UPDATE operators SET roles = $2, updated_at = $3 WHERE id = $1",
                    after.id,
                    roles_json,
                    after.updated_at
                )?;
                let entry =
                    audit::AuditEntry::new(actor(&after.username), "operator.roles_from_sso", "operator", after.id)
                        .client(origin.ip.clone(), origin.user_agent.clone())
                        .before(json!({ "roles": before.roles }))
                        .after(json!({ "roles": after.roles, "groups": identity.groups }));
                audit::record(&mut tx, &entry).await?;
            }
            let entry = audit::AuditEntry::new(actor(&after.username), "operator.sign_in_sso", "operator", after.id)
                .client(origin.ip.clone(), origin.user_agent.clone())
                .details(json!({ "issuer": identity.issuer }));
            audit::record(&mut tx, &entry).await?;
            tx.commit().await?;
            Ok(after)
        }
        None => {
            let username = free_username(db, &identity.username).await?;
            let info = OperatorInfo {
                id: pitboss_core::new_id(),
                username,
                display_name: identity.name.clone().unwrap_or_default().chars().take(200).collect(),
                email: identity.email.clone().unwrap_or_default().chars().take(200).collect(),
                roles,
                brands: vec![],
                jurisdictions: vec![],
                team: String::new(),
                created_at: now_micros(),
                updated_at: None,
                disabled_at: None,
                two_factor: false,
                single_sign_on: true,
            };
            let mut tx = db.begin().await?;
            insert(&mut tx, &info, "", Some((&identity.issuer, &identity.subject))).await?;
            let entry = audit::AuditEntry::new(actor(&info.username), "operator.create_from_sso", "operator", info.id)
                .client(origin.ip.clone(), origin.user_agent.clone())
                .after(json!(info))
                .details(json!({ "issuer": identity.issuer, "subject": identity.subject, "groups": identity.groups }));
            audit::record(&mut tx, &entry).await?;
            let entry = audit::AuditEntry::new(actor(&info.username), "operator.sign_in_sso", "operator", info.id)
                .client(origin.ip.clone(), origin.user_agent.clone())
                .details(json!({ "issuer": identity.issuer }));
            audit::record(&mut tx, &entry).await?;
            tx.commit().await?;
            Ok(info)
        }
    }
}

async fn find(db: &Db, issuer: &str, subject: &str) -> Result<Option<OperatorInfo>, AuthError> {
    use pitboss_store::{db, sqlx};
    let row: Option<super::record::Row> = db!(db, |c| {
        sqlx::query_as(&format!("{} WHERE oidc_issuer = $1 AND oidc_subject = $2", super::record::SELECT_OPERATOR))
            .bind(issuer)
            .bind(subject)
            .fetch_optional(c)
            .await
    })?;
    Ok(row.map(|r| super::record::to_info(r).0))
}

/// The provider's name for the person, made into a valid username that no one has yet.
async fn free_username(db: &Db, wanted: &str) -> Result<String, AuthError> {
    let base: String = wanted
        .split('@')
        .next()
        .unwrap_or_default()
        .to_lowercase()
        .chars()
        .map(|c| if matches!(c, 'a'..='z' | '0'..='9' | '.' | '_' | '-') { c } else { '-' })
        .take(48)
        .collect();
    let base = if validate_username(&base).is_ok() { base } else { format!("sso-{base}") };
    for n in 0..100 {
        let candidate = if n == 0 { base.clone() } else { format!("{base}-{n}") };
        if validate_username(&candidate).is_ok() && get_with_hash(db, &candidate).await?.is_none() {
            return Ok(candidate);
        }
    }
    Ok(format!("sso-{}", pitboss_core::new_id().simple()))
}
