//! Operator sessions: in Redis when `redis_url` is set (so that several server processes share
//! them), in process otherwise.
//!
//! The browser holds a random 256-bit token in a cookie; the store keys the session by the
//! token's SHA-256, so a copy of the store does not hand out working cookies. A session ends
//! after [`SessionPolicy::idle`] without a request or [`SessionPolicy::absolute`] after sign-in,
//! whichever comes first, and the store forgets it then (Redis by key expiry). Every session of
//! an operator can be ended at once (when an administrator disables them or asks for it): each
//! store keeps the operator's session keys in a set for that.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;
use uuid::Uuid;

use crate::now_micros;
use crate::secret::random_token;

/// How far a session has got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum Stage {
    /// Signing in through a single sign-on provider: what the callback must match.
    SingleSignOn { pending: serde_json::Value },
    /// The password was right; the second factor is still to come.
    SecondFactor,
    /// The password was right, but the operator's role requires two-factor authentication and
    /// none is enrolled: the session may only enrol.
    Enrolment,
    /// Fully signed in.
    SignedIn,
}

/// What the store keeps for a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// `None` only while signing in through single sign-on.
    pub operator_id: Option<Uuid>,
    pub stage: Stage,
    /// The token forms and htmx requests must echo (CSRF protection), different per session.
    pub csrf_token: String,
    /// Microseconds since the Unix epoch.
    pub created_at: i64,
    pub last_seen_at: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// Wrong second-factor codes given in this session; the web layer ends it after a few.
    #[serde(default)]
    pub failures: u32,
}

/// Time-outs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    pub idle: Duration,
    pub absolute: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy { idle: Duration::from_secs(30 * 60), absolute: Duration::from_secs(12 * 3600) }
    }
}

#[derive(Debug, Error)]
pub enum SessionError {
    #[error("the session store (Redis) is unavailable: {0}; try again in a moment")]
    Redis(#[from] redis::RedisError),
    #[error("a stored session could not be read: {0}")]
    Corrupt(#[from] serde_json::Error),
}

/// Where sessions live. Keys are token hashes; implementations expire entries after `ttl`.
#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn put(&self, key: &str, session: &Session, ttl: Duration) -> Result<(), SessionError>;
    async fn get(&self, key: &str) -> Result<Option<Session>, SessionError>;
    async fn remove(&self, key: &str) -> Result<(), SessionError>;
    /// Ends every session of the operator; returns how many there were.
    async fn remove_operator(&self, operator_id: Uuid) -> Result<usize, SessionError>;
}

/// Sessions with their time-outs, over a store.
#[derive(Clone)]
pub struct Sessions {
    store: Arc<dyn SessionStore>,
    pub policy: SessionPolicy,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions").field("policy", &self.policy).finish_non_exhaustive()
    }
}

fn key_of(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Sessions {
    pub fn new(store: Arc<dyn SessionStore>, policy: SessionPolicy) -> Sessions {
        Sessions { store, policy }
    }

    /// Sessions kept in this process.
    pub fn in_process(policy: SessionPolicy) -> Sessions {
        Sessions::new(Arc::new(InProcessStore::default()), policy)
    }

    /// Sessions kept in Redis at `url`; fails if Redis cannot be reached now.
    pub async fn redis(url: &str, policy: SessionPolicy) -> Result<Sessions, SessionError> {
        Ok(Sessions::new(Arc::new(RedisStore::connect(url).await?), policy))
    }

    /// Starts a session; returns the token for the cookie.
    pub async fn start(
        &self,
        operator_id: Option<Uuid>,
        stage: Stage,
        ip: Option<String>,
        user_agent: Option<String>,
    ) -> Result<(String, Session), SessionError> {
        let now = now_micros();
        let session = Session {
            operator_id,
            stage,
            csrf_token: random_token(),
            created_at: now,
            last_seen_at: now,
            ip,
            user_agent,
            failures: 0,
        };
        let token = random_token();
        self.store.put(&key_of(&token), &session, self.ttl(&session, now)).await?;
        Ok((token, session))
    }

    /// The session for a token, if it exists and has not timed out; a live session's idle
    /// clock restarts.
    pub async fn get(&self, token: &str) -> Result<Option<Session>, SessionError> {
        let key = key_of(token);
        let Some(mut session) = self.store.get(&key).await? else { return Ok(None) };
        let now = now_micros();
        if self.expired(&session, now) {
            self.store.remove(&key).await?;
            return Ok(None);
        }
        // Writing back on every request would double the store's load; a minute's precision
        // on an idle time-out of many minutes is enough.
        if now - session.last_seen_at > 60_000_000 {
            session.last_seen_at = now;
            self.store.put(&key, &session, self.ttl(&session, now)).await?;
        }
        Ok(Some(session))
    }

    /// Moves a session on to `stage` under a new token (so that a token seen before sign-in is
    /// worthless after it), keeping its creation time. Returns the new token.
    pub async fn advance(
        &self,
        old_token: &str,
        mut session: Session,
        operator_id: Option<Uuid>,
        stage: Stage,
    ) -> Result<(String, Session), SessionError> {
        self.store.remove(&key_of(old_token)).await?;
        let now = now_micros();
        session.operator_id = operator_id;
        session.stage = stage;
        session.last_seen_at = now;
        session.csrf_token = random_token();
        session.failures = 0;
        let token = random_token();
        self.store.put(&key_of(&token), &session, self.ttl(&session, now)).await?;
        Ok((token, session))
    }

    /// Stores a changed session under the same token (e.g. a failure count).
    pub async fn save(&self, token: &str, session: &Session) -> Result<(), SessionError> {
        self.store.put(&key_of(token), session, self.ttl(session, now_micros())).await
    }

    pub async fn end(&self, token: &str) -> Result<(), SessionError> {
        self.store.remove(&key_of(token)).await
    }

    /// Ends every session of an operator.
    pub async fn end_all(&self, operator_id: Uuid) -> Result<usize, SessionError> {
        self.store.remove_operator(operator_id).await
    }

    fn expired(&self, s: &Session, now: i64) -> bool {
        now - s.last_seen_at > micros(self.policy.idle) || now - s.created_at > micros(self.policy.absolute)
    }

    /// Until whichever time-out comes first.
    fn ttl(&self, s: &Session, now: i64) -> Duration {
        let idle_end = s.last_seen_at + micros(self.policy.idle);
        let absolute_end = s.created_at + micros(self.policy.absolute);
        Duration::from_micros(idle_end.min(absolute_end).saturating_sub(now).max(1_000_000) as u64)
    }
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// Sessions in a map, for a single process.
#[derive(Default)]
pub struct InProcessStore {
    inner: Mutex<InProcess>,
}

#[derive(Default)]
struct InProcess {
    sessions: HashMap<String, (Session, std::time::Instant)>,
    by_operator: HashMap<Uuid, HashSet<String>>,
}

#[async_trait]
impl SessionStore for InProcessStore {
    async fn put(&self, key: &str, session: &Session, ttl: Duration) -> Result<(), SessionError> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let now = std::time::Instant::now();
        // Drop expired entries now and then, so an idle server does not keep them forever.
        if inner.sessions.len().is_multiple_of(64) {
            inner.sessions.retain(|_, (_, until)| *until > now);
        }
        inner.sessions.insert(key.to_string(), (session.clone(), now + ttl));
        if let Some(id) = session.operator_id {
            inner.by_operator.entry(id).or_default().insert(key.to_string());
        }
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Session>, SessionError> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        Ok(inner.sessions.get(key).filter(|(_, until)| *until > std::time::Instant::now()).map(|(s, _)| s.clone()))
    }

    async fn remove(&self, key: &str) -> Result<(), SessionError> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((session, _)) = inner.sessions.remove(key)
            && let Some(id) = session.operator_id
            && let Some(keys) = inner.by_operator.get_mut(&id)
        {
            keys.remove(key);
        }
        Ok(())
    }

    async fn remove_operator(&self, operator_id: Uuid) -> Result<usize, SessionError> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let keys = inner.by_operator.remove(&operator_id).unwrap_or_default();
        Ok(keys.iter().filter(|k| inner.sessions.remove(*k).is_some()).count())
    }
}

/// Sessions in Redis: `pitboss:session:<key>` holds the JSON with an expiry, and
/// `pitboss:operator-sessions:<id>` the keys of an operator's sessions.
pub struct RedisStore {
    conn: redis::aio::ConnectionManager,
    prefix: String,
}

impl RedisStore {
    pub async fn connect(url: &str) -> Result<RedisStore, SessionError> {
        RedisStore::connect_with_prefix(url, "pitboss").await
    }

    /// With a key prefix of one's own (tests use one per test so that they do not meet).
    pub async fn connect_with_prefix(url: &str, prefix: &str) -> Result<RedisStore, SessionError> {
        let client = redis::Client::open(url)?;
        let conn = redis::aio::ConnectionManager::new(client).await?;
        Ok(RedisStore { conn, prefix: prefix.to_string() })
    }

    fn session_key(&self, key: &str) -> String {
        format!("{}:session:{key}", self.prefix)
    }

    fn operator_key(&self, id: Uuid) -> String {
        format!("{}:operator-sessions:{id}", self.prefix)
    }
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn put(&self, key: &str, session: &Session, ttl: Duration) -> Result<(), SessionError> {
        let mut conn = self.conn.clone();
        let text = serde_json::to_string(session)?;
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut pipe = redis::pipe();
        pipe.atomic().cmd("SET").arg(self.session_key(key)).arg(text).arg("PX").arg(millis).ignore();
        if let Some(id) = session.operator_id {
            // The set lives as long as the longest session could.
            pipe.sadd(self.operator_key(id), key).ignore();
            pipe.cmd("PEXPIRE").arg(self.operator_key(id)).arg(millis).arg("GT").ignore();
            pipe.cmd("PEXPIRE").arg(self.operator_key(id)).arg(millis).arg("NX").ignore();
        }
        pipe.query_async::<()>(&mut conn).await?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Session>, SessionError> {
        let mut conn = self.conn.clone();
        let text: Option<String> = conn.get(self.session_key(key)).await?;
        Ok(text.map(|t| serde_json::from_str(&t)).transpose()?)
    }

    async fn remove(&self, key: &str) -> Result<(), SessionError> {
        let mut conn = self.conn.clone();
        let text: Option<String> = conn.get(self.session_key(key)).await?;
        let _: () = conn.del(self.session_key(key)).await?;
        if let Some(Ok(session)) = text.map(|t| serde_json::from_str::<Session>(&t))
            && let Some(id) = session.operator_id
        {
            let _: () = conn.srem(self.operator_key(id), key).await?;
        }
        Ok(())
    }

    async fn remove_operator(&self, operator_id: Uuid) -> Result<usize, SessionError> {
        let mut conn = self.conn.clone();
        let keys: Vec<String> = conn.smembers(self.operator_key(operator_id)).await?;
        let mut ended = 0;
        for key in &keys {
            let removed: usize = conn.del(self.session_key(key)).await?;
            ended += removed;
        }
        let _: () = conn.del(self.operator_key(operator_id)).await?;
        Ok(ended)
    }
}
