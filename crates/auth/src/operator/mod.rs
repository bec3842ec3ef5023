//! Operators: the people who sign in to the back office.
//!
//! Passwords are hashed with argon2id at the `argon2` crate's defaults (19 MiB, 2 passes,
//! 1 lane: the OWASP baseline); the parameters are stored in each PHC hash string, so stronger
//! ones can be adopted later without breaking stored hashes. Hashing runs on tokio's blocking
//! pool, as it takes tens of milliseconds of CPU that would otherwise stall other requests.
//!
//! An operator has roles (which the Cedar policies name) and attributes the policies look at:
//! the brands and jurisdictions they serve and their team. Every change is audited in the same
//! transaction, with the record before and after.
//!
//! This module must never store, log or return a password, nor tell a caller whether a
//! username exists before the right password for it has been given.

mod record;
pub mod sign_in;
pub mod sso;
pub mod totp;

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::Rng;

pub use record::{
    NewOperator, OperatorInfo, OperatorPatch, change_own_password, create, get, get_by_username, list, set_disabled,
    set_password, update,
};

use crate::AuthError;

pub const USERNAME_MIN_CHARS: usize = 3;
pub const USERNAME_MAX_CHARS: usize = 64;
pub const PASSWORD_MIN_CHARS: usize = 12;
/// Longer "passwords" are a pasted file or an attempt to make hashing expensive.
pub const PASSWORD_MAX_CHARS: usize = 1024;

/// The roles the policies know, with what each is for (shown where roles are chosen).
pub const ROLES: &[(&str, &str)] = &[
    ("admin", "Runs the back office: every module, operators, API keys and policies."),
    ("support_agent", "Helps players of their own brands: profiles, balances, payments."),
    ("payments_officer", "Handles payments, withdrawals and adjustments (four eyes above the threshold)."),
    ("compliance_officer", "Investigates: every player record, KYC documents, payments and the audit log."),
    ("marketer", "Works with players for campaigns; never sees KYC documents or full payment details."),
    ("analyst", "Reads players and money, with personal data masked; changes nothing."),
    ("vip_manager", "Looks after the VIP players of their own brands."),
];

/// A random 20-character password for handing out (the demo's first admin), drawn from
/// letters and digits without the look-alikes 0/O/o, 1/l/I/i: about 116 bits, and safe to
/// read aloud or copy by hand.
pub fn generate_password() -> String {
    random_text(20)
}

/// `len` characters from the unambiguous alphabet.
pub(crate) fn random_text(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..len).map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())])).collect()
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

/// Roles must be ones the policies know ([`ROLES`]); duplicates are dropped, order kept.
pub fn validate_roles(roles: &[String]) -> Result<Vec<String>, AuthError> {
    let mut out: Vec<String> = Vec::with_capacity(roles.len());
    for role in roles {
        if !ROLES.iter().any(|(known, _)| known == role) {
            let known: Vec<&str> = ROLES.iter().map(|(r, _)| *r).collect();
            return Err(AuthError::Validation(format!("`{role}` is not a role; roles are: {}", known.join(", "))));
        }
        if !out.contains(role) {
            out.push(role.clone());
        }
    }
    Ok(out)
}

/// Brands, jurisdictions and team names: 1 to 64 lowercase letters, digits, `_` or `-`.
pub fn validate_labels(field: &str, values: &[String]) -> Result<Vec<String>, AuthError> {
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for value in values {
        validate_label(field, value)?;
        if !out.contains(value) {
            out.push(value.clone());
        }
    }
    Ok(out)
}

pub(crate) fn validate_label(field: &str, value: &str) -> Result<(), AuthError> {
    let ok =
        !value.is_empty() && value.len() <= 64 && value.chars().all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(AuthError::Validation(format!(
            "`{value}` is not a valid {field}: use 1 to 64 lowercase letters, digits, `_` or `-`"
        )))
    }
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
        let roles = |r: &[&str]| r.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(validate_roles(&roles(&["admin", "analyst", "admin"])).unwrap(), ["admin", "analyst"]);
        let err = validate_roles(&roles(&["Admin"])).unwrap_err().to_string();
        assert!(err.contains("roles are: admin, support_agent"), "{err}");
        assert!(validate_roles(&roles(&[""])).is_err());
    }

    #[test]
    fn labels_are_checked() {
        assert!(validate_labels("brand", &["brand-a".into(), "b_2".into()]).is_ok());
        let err = validate_labels("brand", &["Brand A".into()]).unwrap_err().to_string();
        assert!(err.contains("not a valid brand"), "{err}");
    }
}
