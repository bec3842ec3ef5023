//! API keys: how machine clients (game servers, the payment gateway, the website) authenticate.
//!
//! A key reads `pbk_<prefix>_<secret>`: `pbk_` makes a leaked key easy to recognise (secret
//! scanners, logs), the 8-character prefix is public and tells keys apart in lists, and the
//! 40-character secret carries the entropy. Only a SHA-256 of the whole key is stored.
//!
//! This module must never store, log or return a key after [`create`] hands it out.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, PoisonError};

use pitboss_store::{Db, StoreError, db, exec, sqlx, tx};
use rand::Rng;
use rand::distr::Alphanumeric;
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::audit::{self, AuditEntry};
use crate::{AuthError, Caller, CallerKind, Scope, Scopes, now_micros};

const KEY_PREFIX: &str = "pbk_";
const PREFIX_LEN: usize = 8;
/// 40 base62 characters are about 238 bits.
const SECRET_LEN: usize = 40;
/// Keys with secrets of other lengths (a future format) are still looked up; anything
/// outside this range cannot be a key and is refused without a query.
const SECRET_LEN_RANGE: std::ops::RangeInclusive<usize> = 32..=128;
const NAME_MAX_CHARS: usize = 64;

/// A key as lists show it: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ApiKeyInfo {
    pub id: Uuid,
    pub name: String,
    /// The public part of the key, `pbk_<prefix>_…`.
    pub prefix: String,
    pub scopes: Scopes,
    /// Microseconds since the Unix epoch.
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    /// Accurate to about a minute: it is written at most once a minute per key.
    pub last_used_at: Option<i64>,
}

impl ApiKeyInfo {
    pub fn is_revoked(&self) -> bool {
        self.revoked_at.is_some()
    }
}

/// Creates a key with `scopes`, recording `actor` as its creator in the audit log (same
/// transaction). Returns the key's description and the key itself, which is shown this once
/// and cannot be recovered afterwards.
pub async fn create(db: &Db, name: &str, scopes: Scopes, actor: &str) -> Result<(ApiKeyInfo, String), AuthError> {
    let name = validate_name(name)?;
    if scopes.is_empty() {
        return Err(AuthError::Validation(format!("give the API key `{name}` at least one scope, e.g. events:write")));
    }
    let prefix = random_base62(PREFIX_LEN);
    let key = format!("{KEY_PREFIX}{prefix}_{}", random_base62(SECRET_LEN));
    let info = ApiKeyInfo {
        id: pitboss_core::new_id(),
        name,
        prefix,
        scopes,
        created_at: now_micros(),
        revoked_at: None,
        last_used_at: None,
    };
    let scopes_json = serde_json::to_string(&info.scopes).expect("scopes serialise");

    let mut tx = db.begin().await?;
    let inserted = exec!(
        &mut tx,
        "INSERT INTO api_keys (id, name, prefix, secret_hash, scopes, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        info.id,
        &info.name,
        &info.prefix,
        secret_hash(&key),
        scopes_json,
        info.created_at,
    );
    if let Err(e) = inserted {
        let e = StoreError::from(e);
        // The only unique constraint a fresh random key can break in practice is the name.
        return Err(if e.is_unique_violation() { AuthError::ApiKeyNameTaken { name: info.name } } else { e.into() });
    }
    let entry = AuditEntry::new(actor, "api_key.create", "api_key", info.id)
        .details(serde_json::json!({ "name": info.name, "prefix": info.prefix, "scopes": info.scopes }));
    audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok((info, key))
}

/// The caller a presented key stands for. Unknown, malformed and revoked keys all give
/// [`AuthError::InvalidApiKey`].
///
/// This runs on every request, so it is one SELECT on the unique `secret_hash` index and
/// nothing is cached: a revocation takes effect on the next request. Looking up by a hash
/// also keeps the comparison safe from timing attacks, as a caller cannot steer which bytes
/// of the stored hash their guess matches.
///
/// `last_used_at` is written at most once a minute per key and process, in the background:
/// a write per request would put every API call behind SQLite's single writer, and a
/// minute is precise enough to spot unused keys.
pub async fn authenticate(db: &Db, presented: &str) -> Result<Caller, AuthError> {
    if !looks_like_key(presented) {
        return Err(AuthError::InvalidApiKey);
    }
    let hash = secret_hash(presented);
    let now = now_micros();
    let cached = KNOWN.lock().unwrap_or_else(PoisonError::into_inner).get(&hash).cloned();
    let (id, name, scopes) = match cached {
        Some((key, at)) if now - at < KNOWN_FOR_MICROS => key,
        _ => {
            let row: Option<(Uuid, String, String)> = db!(db, |c| {
                sqlx::query_as("SELECT id, name, scopes FROM api_keys WHERE secret_hash = $1 AND revoked_at IS NULL")
                    .bind(&hash)
                    .fetch_optional(c)
                    .await
            })?;
            let key = row.ok_or(AuthError::InvalidApiKey)?;
            let mut known = KNOWN.lock().unwrap_or_else(PoisonError::into_inner);
            if known.len() >= 10_000 {
                known.retain(|_, (_, at)| now - *at < KNOWN_FOR_MICROS);
            }
            known.insert(hash, (key.clone(), now));
            key
        }
    };
    note_use(db, id);
    Ok(Caller { kind: CallerKind::ApiKey { id, name }, scopes: stored_scopes(&scopes), origin: Default::default() })
}

/// Every key, revoked ones included, oldest first.
pub async fn list(db: &Db) -> Result<Vec<ApiKeyInfo>, AuthError> {
    let rows: Vec<Row> =
        db!(db, |c| sqlx::query_as(&format!("{SELECT_INFO} ORDER BY created_at, id")).fetch_all(c).await)?;
    Ok(rows.into_iter().map(to_info).collect())
}

/// Revokes the key `id` at once, recording `actor` in the audit log. Revoking a revoked key
/// changes nothing and records nothing.
pub async fn revoke(db: &Db, id: Uuid, actor: &str) -> Result<ApiKeyInfo, AuthError> {
    let now = now_micros();
    let mut tx = db.begin().await?;
    let changed = exec!(&mut tx, "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL", now, id,)?;
    let row: Option<Row> =
        tx!(&mut tx, |c| sqlx::query_as(&format!("{SELECT_INFO} WHERE id = $1")).bind(id).fetch_optional(c).await)?;
    let info = to_info(row.ok_or(AuthError::ApiKeyNotFound { id })?);
    KNOWN.lock().unwrap_or_else(PoisonError::into_inner).retain(|_, ((key, ..), _)| *key != id);
    if changed == 1 {
        let entry = AuditEntry::new(actor, "api_key.revoke", "api_key", id)
            .details(serde_json::json!({ "name": info.name, "prefix": info.prefix }));
        audit::record(&mut tx, &entry).await?;
    }
    tx.commit().await?;
    Ok(info)
}

const SELECT_INFO: &str = "SELECT id, name, prefix, scopes, created_at, revoked_at, last_used_at FROM api_keys";

type Row = (Uuid, String, String, String, i64, Option<i64>, Option<i64>);

fn to_info((id, name, prefix, scopes, created_at, revoked_at, last_used_at): Row) -> ApiKeyInfo {
    ApiKeyInfo { id, name, prefix, scopes: stored_scopes(&scopes), created_at, revoked_at, last_used_at }
}

/// Reads the stored JSON array of scope names. A name this version does not know (a scope
/// removed since) is dropped: reading scopes may only ever grant less, never more.
fn stored_scopes(json: &str) -> Scopes {
    serde_json::from_str::<Vec<String>>(json)
        .unwrap_or_default()
        .iter()
        .filter_map(|name| name.parse::<Scope>().ok())
        .collect()
}

/// A key's secret is 238 random bits, so a plain SHA-256 is enough: the slow, salted hashes
/// that passwords need exist to make guessing low-entropy secrets expensive, and nobody can
/// enumerate 2^238 candidates. A fast hash keeps authentication cheap on every request.
fn secret_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

fn looks_like_key(presented: &str) -> bool {
    let Some(rest) = presented.strip_prefix(KEY_PREFIX) else {
        return false;
    };
    let Some((prefix, secret)) = rest.split_once('_') else {
        return false;
    };
    prefix.len() == PREFIX_LEN
        && SECRET_LEN_RANGE.contains(&secret.len())
        && prefix.bytes().chain(secret.bytes()).all(|b| b.is_ascii_alphanumeric())
}

/// `rand::rng()` is a CSPRNG seeded from the OS, fit for secrets.
fn random_base62(len: usize) -> String {
    rand::rng().sample_iter(Alphanumeric).take(len).map(char::from).collect()
}

fn validate_name(name: &str) -> Result<String, AuthError> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > NAME_MAX_CHARS {
        return Err(AuthError::Validation(format!(
            "an API key's name must be 1 to {NAME_MAX_CHARS} characters (it was {chars}), e.g. `game-server-eu`"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(AuthError::Validation(
            "an API key's name must not contain control characters (tabs, line breaks)".into(),
        ));
    }
    Ok(name.to_string())
}

/// How long a key found valid is taken on trust without asking the database again: the
/// platform's checks come hundreds a second on one key. Revoking a key forgets it at once in
/// the process that revokes it; other processes refuse it within this time.
const KNOWN_FOR_MICROS: i64 = 5_000_000;

/// Keys found valid lately, by the hash of their secret: id, name, scopes, when found.
type KnownKey = ((Uuid, String, String), i64);
static KNOWN: LazyLock<Mutex<HashMap<String, KnownKey>>> = LazyLock::new(Default::default);

const LAST_USED_EVERY_MICROS: i64 = 60_000_000;

/// When this process last wrote `last_used_at` for each key. Entries are 24 bytes per key
/// used, so it is pruned only in the unlikely case of very many keys.
static LAST_USED: LazyLock<Mutex<HashMap<Uuid, i64>>> = LazyLock::new(Default::default);

fn note_use(db: &Db, id: Uuid) {
    let now = now_micros();
    {
        // A panic elsewhere while holding this lock leaves only timestamps behind: still usable.
        let mut seen = LAST_USED.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.get(&id).is_some_and(|&at| now - at < LAST_USED_EVERY_MICROS) {
            return;
        }
        if seen.len() >= 10_000 {
            seen.retain(|_, at| now - *at < LAST_USED_EVERY_MICROS);
        }
        // Marked before the write, so concurrent requests do not all write; a failed write is
        // retried a minute later.
        seen.insert(id, now);
    }
    let db = db.clone();
    tokio::spawn(async move {
        if let Err(e) = touch(&db, id, now).await {
            tracing::warn!(api_key = %id, error = %e, "could not record when an API key was last used");
        }
    });
}

async fn touch(db: &Db, id: Uuid, now: i64) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    // The guard keeps the newest instant when several processes write.
    exec!(
        &mut tx,
        "UPDATE api_keys SET last_used_at = $1 \
         WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1)",
        now,
        id,
    )?;
    tx.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_documented_shape() {
        let key = format!("{KEY_PREFIX}{}_{}", random_base62(PREFIX_LEN), random_base62(SECRET_LEN));
        assert_eq!(key.len(), 4 + 8 + 1 + 40);
        assert!(looks_like_key(&key));
        assert!(!looks_like_key("pbk_short_abc"));
        assert!(!looks_like_key(&key.replacen("pbk_", "pbx_", 1)));
        assert!(!looks_like_key(&format!("{key}!")));
    }

    #[test]
    fn unknown_stored_scopes_grant_nothing() {
        let scopes = stored_scopes(r#"["players:read","players:delete"]"#);
        assert_eq!(scopes, [Scope::PlayersRead].into_iter().collect());
        assert!(stored_scopes("not json").is_empty());
    }
}
