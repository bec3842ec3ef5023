//! Operator accounts: create, read, edit, disable, reset a password.

use pitboss_store::{Db, StoreError, Tx, db, exec, sqlx};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    blocking, hash_password, validate_label, validate_labels, validate_password, validate_roles, validate_username,
};
use crate::audit;
use crate::{AuthError, Caller, now_micros};

/// An operator as others may see it: never the password hash or the TOTP secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct OperatorInfo {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub email: String,
    pub roles: Vec<String>,
    pub brands: Vec<String>,
    pub jurisdictions: Vec<String>,
    pub team: String,
    /// Microseconds since the Unix epoch.
    pub created_at: i64,
    pub updated_at: Option<i64>,
    pub disabled_at: Option<i64>,
    /// Whether a TOTP authenticator is enrolled and confirmed.
    pub two_factor: bool,
    /// Whether the account is linked to a single sign-on provider.
    pub single_sign_on: bool,
}

/// An operator to create.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, ToSchema)]
pub struct NewOperator {
    pub username: String,
    /// At least 12 characters. Leave it out only for accounts that sign in through single
    /// sign-on.
    pub password: Option<String>,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub brands: Vec<String>,
    #[serde(default)]
    pub jurisdictions: Vec<String>,
    #[serde(default)]
    pub team: String,
}

/// Changes to an operator; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, ToSchema)]
pub struct OperatorPatch {
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub roles: Option<Vec<String>>,
    pub brands: Option<Vec<String>>,
    pub jurisdictions: Option<Vec<String>>,
    pub team: Option<String>,
}

const TEXT_MAX_CHARS: usize = 200;

fn validate_text(field: &str, value: &str) -> Result<(), AuthError> {
    if value.chars().count() > TEXT_MAX_CHARS || value.chars().any(char::is_control) {
        return Err(AuthError::Validation(format!(
            "the {field} must be at most {TEXT_MAX_CHARS} characters, without line breaks or control characters"
        )));
    }
    Ok(())
}

fn validate_email(email: &str) -> Result<(), AuthError> {
    validate_text("email", email)?;
    if !email.is_empty() && !email.split_once('@').is_some_and(|(user, host)| !user.is_empty() && host.contains('.')) {
        return Err(AuthError::Validation(format!("`{email}` is not an email address (name@example.com)")));
    }
    Ok(())
}

fn validate_team(team: &str) -> Result<(), AuthError> {
    if team.is_empty() { Ok(()) } else { validate_label("team", team) }
}

/// Creates an operator, audited as done by `by` in the same transaction.
pub async fn create(db: &Db, new: NewOperator, by: &Caller) -> Result<OperatorInfo, AuthError> {
    validate_username(&new.username)?;
    if let Some(password) = &new.password {
        validate_password(&new.username, password)?;
    }
    validate_text("display name", &new.display_name)?;
    validate_email(&new.email)?;
    validate_team(&new.team)?;
    let roles = validate_roles(&new.roles)?;
    let brands = validate_labels("brand", &new.brands)?;
    let jurisdictions = validate_labels("jurisdiction", &new.jurisdictions)?;
    // Hashed before the transaction opens, so SQLite's single writer is not held meanwhile.
    let password_hash = match new.password {
        Some(password) => blocking(move || hash_password(&password)).await,
        None => String::new(),
    };
    let info = OperatorInfo {
        id: pitboss_core::new_id(),
        username: new.username,
        display_name: new.display_name,
        email: new.email,
        roles,
        brands,
        jurisdictions,
        team: new.team,
        created_at: now_micros(),
        updated_at: None,
        disabled_at: None,
        two_factor: false,
        single_sign_on: false,
    };
    let mut tx = db.begin().await?;
    insert(&mut tx, &info, &password_hash, None).await?;
    audit::record(
        &mut tx,
        &by.audit("operator.create", "operator", info.id)
            .after(json!(info))
            .details(json!({ "username": info.username })),
    )
    .await?;
    tx.commit().await?;
    Ok(info)
}

/// Inserts a row; `sso` links it to a provider's (issuer, subject).
pub(super) async fn insert(
    tx: &mut Tx,
    info: &OperatorInfo,
    password_hash: &str,
    sso: Option<(&str, &str)>,
) -> Result<(), AuthError> {
    let inserted = exec!(
        tx,
        "INSERT INTO operators (id, username, password_hash, roles, created_at, display_name, email, brands, \
         jurisdictions, team, oidc_issuer, oidc_subject) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        info.id,
        &info.username,
        password_hash,
        json_list(&info.roles),
        info.created_at,
        &info.display_name,
        &info.email,
        json_list(&info.brands),
        json_list(&info.jurisdictions),
        &info.team,
        sso.map(|s| s.0),
        sso.map(|s| s.1),
    );
    match inserted {
        Ok(_) => Ok(()),
        Err(e) => {
            let e = StoreError::from(e);
            Err(if e.is_unique_violation() {
                AuthError::UsernameTaken { username: info.username.clone() }
            } else {
                e.into()
            })
        }
    }
}

/// Applies `patch`, audited with the record before and after.
pub async fn update(db: &Db, id: Uuid, patch: OperatorPatch, by: &Caller) -> Result<OperatorInfo, AuthError> {
    let before = get(db, id).await?.ok_or(AuthError::OperatorNotFound { id })?;
    let mut after = before.clone();
    if let Some(v) = patch.display_name {
        validate_text("display name", &v)?;
        after.display_name = v;
    }
    if let Some(v) = patch.email {
        validate_email(&v)?;
        after.email = v;
    }
    if let Some(v) = patch.roles {
        after.roles = validate_roles(&v)?;
    }
    if let Some(v) = patch.brands {
        after.brands = validate_labels("brand", &v)?;
    }
    if let Some(v) = patch.jurisdictions {
        after.jurisdictions = validate_labels("jurisdiction", &v)?;
    }
    if let Some(v) = patch.team {
        validate_team(&v)?;
        after.team = v;
    }
    if after == before {
        return Ok(before);
    }
    after.updated_at = Some(now_micros());
    let mut tx = db.begin().await?;
    exec!(
        &mut tx,
        "UPDATE operators SET display_name = $2, email = $3, roles = $4, brands = $5, jurisdictions = $6, team = $7, \
         updated_at = $8 WHERE id = $1",
        id,
        &after.display_name,
        &after.email,
        json_list(&after.roles),
        json_list(&after.brands),
        json_list(&after.jurisdictions),
        &after.team,
        after.updated_at,
    )?;
    audit::record(&mut tx, &by.audit("operator.update", "operator", id).before(json!(before)).after(json!(after)))
        .await?;
    tx.commit().await?;
    Ok(after)
}

/// Disables (or enables again) an operator. The caller must also end the operator's sessions
/// (the session store is not in the database, so it cannot share this transaction); sessions
/// re-read the operator on every request and refuse a disabled one meanwhile.
pub async fn set_disabled(
    db: &Db,
    id: Uuid,
    disabled: bool,
    reason: &str,
    by: &Caller,
) -> Result<OperatorInfo, AuthError> {
    let before = get(db, id).await?.ok_or(AuthError::OperatorNotFound { id })?;
    if before.disabled_at.is_some() == disabled {
        return Ok(before);
    }
    if disabled && by.operator_id() == Some(id) {
        return Err(AuthError::Validation("you cannot disable your own account; ask another administrator".into()));
    }
    let mut after = before.clone();
    let now = now_micros();
    after.disabled_at = disabled.then_some(now);
    after.updated_at = Some(now);
    let mut tx = db.begin().await?;
    exec!(&mut tx, "UPDATE operators SET disabled_at = $2, updated_at = $3 WHERE id = $1", id, after.disabled_at, now)?;
    let action = if disabled { "operator.disable" } else { "operator.enable" };
    audit::record(
        &mut tx,
        &by.audit(action, "operator", id).before(json!(before)).after(json!(after)).reason(reason.to_string()),
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// Sets a new password (an administrator's reset, or the operator's own change).
pub async fn set_password(db: &Db, id: Uuid, password: &str, by: &Caller) -> Result<(), AuthError> {
    let info = get(db, id).await?.ok_or(AuthError::OperatorNotFound { id })?;
    validate_password(&info.username, password)?;
    let password = password.to_owned();
    let hash = blocking(move || hash_password(&password)).await;
    let mut tx = db.begin().await?;
    exec!(&mut tx, "UPDATE operators SET password_hash = $2, updated_at = $3 WHERE id = $1", id, hash, now_micros())?;
    audit::record(&mut tx, &by.audit("operator.set_password", "operator", id)).await?;
    tx.commit().await?;
    Ok(())
}

/// An operator's own change of password: the current one must be given.
pub async fn change_own_password(db: &Db, id: Uuid, current: &str, new: &str, by: &Caller) -> Result<(), AuthError> {
    let info = get(db, id).await?.ok_or(AuthError::OperatorNotFound { id })?;
    let (_, stored) = get_with_hash(db, &info.username).await?.ok_or(AuthError::OperatorNotFound { id })?;
    let current = current.to_owned();
    let matches = blocking(move || !stored.is_empty() && super::verify(&current, &stored)).await;
    if !matches {
        let mut tx = db.begin().await?;
        audit::record(&mut tx, &by.audit("operator.password_change_refused", "operator", id)).await?;
        tx.commit().await?;
        return Err(AuthError::Validation("the current password is not right".into()));
    }
    set_password(db, id, new, by).await
}

pub(super) const SELECT_OPERATOR: &str = "SELECT id, username, password_hash, roles, created_at, disabled_at, \
    display_name, email, brands, jurisdictions, team, updated_at, totp_confirmed_at, oidc_subject FROM operators";

pub(super) type Row = (
    Uuid,
    String,
    String,
    String,
    i64,
    Option<i64>,
    String,
    String,
    String,
    String,
    String,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

/// The operator with this id.
pub async fn get(db: &Db, id: Uuid) -> Result<Option<OperatorInfo>, AuthError> {
    let row: Option<Row> =
        db!(db, |c| sqlx::query_as(&format!("{SELECT_OPERATOR} WHERE id = $1")).bind(id).fetch_optional(c).await)?;
    Ok(row.map(|r| to_info(r).0))
}

/// The operator with this username, and the stored password hash (empty for single sign-on
/// accounts).
pub(crate) async fn get_with_hash(db: &Db, username: &str) -> Result<Option<(OperatorInfo, String)>, AuthError> {
    let row: Option<Row> = db!(db, |c| {
        sqlx::query_as(&format!("{SELECT_OPERATOR} WHERE username = $1")).bind(username).fetch_optional(c).await
    })?;
    Ok(row.map(to_info))
}

/// The operator with this username.
pub async fn get_by_username(db: &Db, username: &str) -> Result<Option<OperatorInfo>, AuthError> {
    Ok(get_with_hash(db, username).await?.map(|(info, _)| info))
}

/// Every operator, by username. Back offices have tens to hundreds of operators, not millions.
pub async fn list(db: &Db) -> Result<Vec<OperatorInfo>, AuthError> {
    let rows: Vec<Row> =
        db!(db, |c| sqlx::query_as(&format!("{SELECT_OPERATOR} ORDER BY username")).fetch_all(c).await)?;
    Ok(rows.into_iter().map(|r| to_info(r).0).collect())
}

pub(super) fn to_info(row: Row) -> (OperatorInfo, String) {
    let (
        id,
        username,
        password_hash,
        roles,
        created_at,
        disabled_at,
        display_name,
        email,
        brands,
        jurisdictions,
        team,
        updated_at,
        totp_confirmed_at,
        oidc_subject,
    ) = row;
    // Lists are written only by this module as JSON arrays; should a row not parse, the list is
    // empty, which grants less rather than more.
    let list = |text: &str| serde_json::from_str(text).unwrap_or_default();
    let info = OperatorInfo {
        id,
        username,
        display_name,
        email,
        roles: list(&roles),
        brands: list(&brands),
        jurisdictions: list(&jurisdictions),
        team,
        created_at,
        updated_at,
        disabled_at,
        two_factor: totp_confirmed_at.is_some(),
        single_sign_on: oidc_subject.is_some(),
    };
    (info, password_hash)
}

fn json_list(values: &[String]) -> String {
    serde_json::to_string(values).unwrap_or_else(|_| "[]".into())
}
