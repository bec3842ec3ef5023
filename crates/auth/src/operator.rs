//! Operators: the people who sign in to the back office with a username and password.
//!
//! Passwords are hashed with argon2id at the `argon2` crate's defaults (19 MiB, 2 passes,
//! 1 lane: the OWASP baseline); the parameters are stored in each PHC hash string, so stronger
//! ones can be adopted later without breaking stored hashes. Hashing runs on tokio's blocking
//! pool, as it takes tens of milliseconds of CPU that would otherwise stall other requests.
//!
//! This module must never store, log or return a password, nor tell a caller whether a
//! username exists before the right password for it has been given.

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use pitboss_store::{Db, StoreError, db, exec, sqlx};
use rand::Rng;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::audit::{self, AuditEntry};
use crate::{AuthError, now_micros};

pub const USERNAME_MIN_CHARS: usize = 3;
pub const USERNAME_MAX_CHARS: usize = 64;
pub const PASSWORD_MIN_CHARS: usize = 12;
/// Longer "passwords" are a pasted file or an attempt to make hashing expensive.
pub const PASSWORD_MAX_CHARS: usize = 1024;
const ROLE_MAX_CHARS: usize = 64;

/// An operator as others may see it: never the password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct OperatorInfo {
    pub id: Uuid,
    pub username: String,
    pub roles: Vec<String>,
    /// Microseconds since the Unix epoch.
    pub created_at: i64,
    pub disabled_at: Option<i64>,
}

/// Creates an operator, recording `actor` in the audit log in the same transaction.
pub async fn create_operator(
    db: &Db,
    username: &str,
    password: &str,
    roles: &[&str],
    actor: &str,
) -> Result<OperatorInfo, AuthError> {
    validate_username(username)?;
    validate_password(username, password)?;
    let roles = validate_roles(roles)?;
    // Hashed before the transaction opens, so SQLite's single writer is not held meanwhile.
    let password = password.to_owned();
    let password_hash = blocking(move || hash_password(&password)).await;
    let info = OperatorInfo {
        id: pitboss_core::new_id(),
        username: username.to_string(),
        roles,
        created_at: now_micros(),
        disabled_at: None,
    };
    let roles_json = serde_json::to_string(&info.roles).expect("roles serialise");

    let mut tx = db.begin().await?;
    let inserted = exec!(
        &mut tx,
        "INSERT INTO operators (id, username, password_hash, roles, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
        info.id,
        &info.username,
        password_hash,
        roles_json,
        info.created_at,
    );
    if let Err(e) = inserted {
        let e = StoreError::from(e);
        return Err(if e.is_unique_violation() {
            AuthError::UsernameTaken { username: info.username }
        } else {
            e.into()
        });
    }
    let entry = AuditEntry::new(actor, "operator.create", "operator", info.id)
        .details(serde_json::json!({ "username": info.username, "roles": info.roles }));
    audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok(info)
}

/// The operator whose username and password these are.
///
/// An unknown username and a wrong password both give [`AuthError::InvalidCredentials`] after
/// the same amount of hashing work, so that neither the answer nor its timing tells which
/// usernames exist. A disabled account is reported only to someone who knew its password.
pub async fn verify_password(db: &Db, username: &str, password: &str) -> Result<OperatorInfo, AuthError> {
    // A username that fails validation cannot exist: no need to ask the database.
    let row: Option<Row> = if validate_username(username).is_ok() {
        db!(db, |c| {
            sqlx::query_as(&format!("{SELECT_OPERATOR} WHERE username = $1")).bind(username).fetch_optional(c).await
        })?
    } else {
        None
    };
    if password.chars().count() > PASSWORD_MAX_CHARS {
        return Err(AuthError::InvalidCredentials);
    }
    let stored = row.as_ref().map(|r| r.2.clone());
    let password = password.to_owned();
    let matches = blocking(move || {
        let hash = stored.as_deref().unwrap_or(&DUMMY_HASH);
        verify(&password, hash)
    })
    .await;
    match row {
        Some(row) if matches => {
            let (info, _) = to_info(row);
            if info.disabled_at.is_some() {
                return Err(AuthError::AccountDisabled { username: info.username });
            }
            Ok(info)
        }
        _ => Err(AuthError::InvalidCredentials),
    }
}

/// The operator with this id, e.g. for a session that stores only the id.
pub async fn get(db: &Db, id: Uuid) -> Result<Option<OperatorInfo>, AuthError> {
    let row: Option<Row> =
        db!(db, |c| sqlx::query_as(&format!("{SELECT_OPERATOR} WHERE id = $1")).bind(id).fetch_optional(c).await)?;
    Ok(row.map(|r| to_info(r).0))
}

/// A random 20-character password for handing out (the demo's first admin), drawn from
/// letters and digits without the look-alikes 0/O/o, 1/l/I/i: about 116 bits, and safe to
/// read aloud or copy by hand.
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..20).map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())])).collect()
}

/// 3 to 64 characters of lowercase letters, digits, `.`, `_` and `-`.
pub fn validate_username(username: &str) -> Result<(), AuthError> {
    let chars = username.chars().count();
    if !(USERNAME_MIN_CHARS..=USERNAME_MAX_CHARS).contains(&chars) {
        return Err(AuthError::Validation(format!(
            "a username must be {USERNAME_MIN_CHARS} to {USERNAME_MAX_CHARS} characters long (`{username}` has {chars})"
        )));
    }
    if let Some(bad) = username.chars().find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '.' | '_' | '-')) {
        return Err(AuthError::Validation(format!(
            "a username may contain only lowercase letters a-z, digits, `.`, `_` and `-`; `{bad}` is not allowed"
        )));
    }
    Ok(())
}

/// At least 12 characters (length is what makes a password strong), at most 1024, and not the
/// username itself.
pub fn validate_password(username: &str, password: &str) -> Result<(), AuthError> {
    let chars = password.chars().count();
    if chars < PASSWORD_MIN_CHARS {
        return Err(AuthError::Validation(format!(
            "the password must be at least {PASSWORD_MIN_CHARS} characters long (it has {chars}); a few unrelated words make a good one"
        )));
    }
    if chars > PASSWORD_MAX_CHARS {
        return Err(AuthError::Validation(format!(
            "the password must be at most {PASSWORD_MAX_CHARS} characters long (it has {chars})"
        )));
    }
    if password.eq_ignore_ascii_case(username) {
        return Err(AuthError::Validation("the password must not be the username".into()));
    }
    Ok(())
}

/// Role names as Cedar policies will refer to them: lowercase letters, digits, `_` and `-`.
/// Duplicates are dropped; the order given is kept.
fn validate_roles(roles: &[&str]) -> Result<Vec<String>, AuthError> {
    let mut out: Vec<String> = Vec::with_capacity(roles.len());
    for role in roles {
        let valid = !role.is_empty()
            && role.len() <= ROLE_MAX_CHARS
            && role.chars().all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_' | '-'));
        if !valid {
            return Err(AuthError::Validation(format!(
                "the role `{role}` is not a valid role name: use 1 to {ROLE_MAX_CHARS} lowercase letters, digits, `_` or `-`, e.g. `admin`"
            )));
        }
        if !out.iter().any(|r| r == role) {
            out.push(role.to_string());
        }
    }
    Ok(out)
}

const SELECT_OPERATOR: &str = "SELECT id, username, password_hash, roles, created_at, disabled_at FROM operators";

type Row = (Uuid, String, String, String, i64, Option<i64>);

fn to_info((id, username, password_hash, roles, created_at, disabled_at): Row) -> (OperatorInfo, String) {
    // Roles are written only by `create_operator` as a JSON array; should a row not parse, the
    // operator holds no roles, which grants less rather than more.
    let roles = serde_json::from_str(&roles).unwrap_or_default();
    (OperatorInfo { id, username, roles, created_at, disabled_at }, password_hash)
}

fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    rand::rng().fill(&mut salt);
    let salt = SaltString::encode_b64(&salt).expect("16 bytes make a valid salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters hashes any password up to 4 GiB")
        .to_string()
}

/// False for a wrong password and for a stored hash that does not parse: such an operator
/// cannot sign in until an administrator sets a new password, rather than anyone signing in.
fn verify(password: &str, stored_hash: &str) -> bool {
    PasswordHash::new(stored_hash)
        .is_ok_and(|hash| Argon2::default().verify_password(password.as_bytes(), &hash).is_ok())
}

/// Hashed with the same parameters as real passwords, and verified against when the username
/// is unknown, so that both cases cost the same.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| hash_password("no operator has this password"));

/// Runs CPU-heavy work off the async worker threads.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("password hashing was cancelled: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_validated_with_a_reason() {
        assert!(validate_username("anna.k-2_x").is_ok());
        let short = validate_username("ab").unwrap_err().to_string();
        assert!(short.contains("3 to 64"), "{short}");
        let upper = validate_username("Anna").unwrap_err().to_string();
        assert!(upper.contains("`A`"), "{upper}");
        assert!(validate_username(&"a".repeat(65)).is_err());
    }

    #[test]
    fn passwords_need_twelve_characters() {
        let err = validate_password("anna", "short-pass1").unwrap_err().to_string();
        assert!(err.contains("at least 12") && err.contains("has 11"), "{err}");
        assert!(validate_password("anna", "correct horse battery").is_ok());
        assert!(validate_password("anna.karenina", "Anna.Karenina").is_err());
    }

    #[test]
    fn generated_passwords_are_valid_and_unambiguous() {
        let a = generate_password();
        assert_eq!(a.chars().count(), 20);
        assert!(validate_password("admin", &a).is_ok());
        assert!(!a.chars().any(|c| "0Oo1lIi".contains(c)), "{a}");
        assert_ne!(a, generate_password());
    }

    #[test]
    fn roles_are_checked_and_deduplicated() {
        assert_eq!(validate_roles(&["admin", "support", "admin"]).unwrap(), ["admin", "support"]);
        assert!(validate_roles(&["Admin"]).is_err());
        assert!(validate_roles(&[""]).is_err());
    }
}
