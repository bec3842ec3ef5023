//! Sessions in process and in Redis behave alike: time-outs, stage changes under a new token,
//! and ending every session of an operator at once.
//!
//! The Redis twins are ignored by `cargo test` and run by `.ci/run` with `PITBOSS_TEST_REDIS_URL`.

use std::sync::Arc;
use std::time::Duration;

use pitboss_auth::session::{RedisStore, SessionPolicy, Sessions, Stage};
use uuid::Uuid;

fn policy() -> SessionPolicy {
    SessionPolicy { idle: Duration::from_secs(600), absolute: Duration::from_secs(3600) }
}

async fn redis_sessions(policy: SessionPolicy) -> Sessions {
    let url = std::env::var("PITBOSS_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("pitboss-test-{}", Uuid::now_v7());
    let store = RedisStore::connect_with_prefix(&url, &prefix).await.expect("Redis is reachable");
    Sessions::new(Arc::new(store), policy)
}

async fn a_session_moves_through_its_stages_under_new_tokens(sessions: Sessions) {
    let operator = Uuid::now_v7();
    let (first, session) =
        sessions.start(Some(operator), Stage::SecondFactor, Some("192.0.2.1".into()), None).await.unwrap();
    assert_eq!(sessions.get(&first).await.unwrap(), Some(session.clone()));
    let (second, signed_in) = sessions.advance(&first, session.clone(), Some(operator), Stage::SignedIn).await.unwrap();
    assert_ne!(first, second);
    assert_ne!(session.csrf_token, signed_in.csrf_token, "a new stage gets a new CSRF token");
    assert_eq!(sessions.get(&first).await.unwrap(), None, "the pre-sign-in token is worthless");
    assert_eq!(sessions.get(&second).await.unwrap().map(|s| s.stage), Some(Stage::SignedIn));
    assert_eq!(sessions.get("forged-token").await.unwrap(), None);
    sessions.end(&second).await.unwrap();
    assert_eq!(sessions.get(&second).await.unwrap(), None);
}

async fn ending_all_sessions_of_an_operator_leaves_others_alone(sessions: Sessions) {
    let (anna, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let (a1, _) = sessions.start(Some(anna), Stage::SignedIn, None, None).await.unwrap();
    let (a2, _) = sessions.start(Some(anna), Stage::SignedIn, None, None).await.unwrap();
    let (b1, _) = sessions.start(Some(bob), Stage::SignedIn, None, None).await.unwrap();
    assert_eq!(sessions.end_all(anna).await.unwrap(), 2);
    assert_eq!(sessions.get(&a1).await.unwrap(), None);
    assert_eq!(sessions.get(&a2).await.unwrap(), None);
    assert!(sessions.get(&b1).await.unwrap().is_some());
}

async fn an_idle_session_times_out(make: impl AsyncFn(SessionPolicy) -> Sessions) {
    let sessions = make(SessionPolicy { idle: Duration::from_millis(1200), absolute: Duration::from_secs(3600) }).await;
    let (token, _) = sessions.start(Some(Uuid::now_v7()), Stage::SignedIn, None, None).await.unwrap();
    assert!(sessions.get(&token).await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sessions.get(&token).await.unwrap(), None);

    let sessions = make(SessionPolicy { idle: Duration::from_secs(600), absolute: Duration::from_millis(1200) }).await;
    let (token, _) = sessions.start(Some(Uuid::now_v7()), Stage::SignedIn, None, None).await.unwrap();
    for _ in 0..3 {
        // Activity does not stretch the absolute time-out.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let _ = sessions.get(&token).await.unwrap();
    }
    assert_eq!(sessions.get(&token).await.unwrap(), None);
}

#[tokio::test]
async fn in_process_stages() {
    a_session_moves_through_its_stages_under_new_tokens(Sessions::in_process(policy())).await;
}

#[tokio::test]
async fn in_process_end_all() {
    ending_all_sessions_of_an_operator_leaves_others_alone(Sessions::in_process(policy())).await;
}

#[tokio::test]
async fn in_process_time_outs() {
    an_idle_session_times_out(async |p| Sessions::in_process(p)).await;
}

#[tokio::test]
#[ignore = "needs Redis (PITBOSS_TEST_REDIS_URL); run by .ci/run"]
async fn redis_stages() {
    a_session_moves_through_its_stages_under_new_tokens(redis_sessions(policy()).await).await;
}

#[tokio::test]
#[ignore = "needs Redis (PITBOSS_TEST_REDIS_URL); run by .ci/run"]
async fn redis_end_all() {
    ending_all_sessions_of_an_operator_leaves_others_alone(redis_sessions(policy()).await).await;
}

#[tokio::test]
#[ignore = "needs Redis (PITBOSS_TEST_REDIS_URL); run by .ci/run"]
async fn redis_time_outs() {
    an_idle_session_times_out(redis_sessions).await;
}
