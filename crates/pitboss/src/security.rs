//! Sign-in, sessions and authorisation as configured: the policies (validated, or the start
//! stops with the file and line at fault), the session store, single sign-on.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use pitboss_auth::oidc::OidcClient;
use pitboss_auth::policy::{Policies, PolicySource};
use pitboss_auth::session::{SessionPolicy, Sessions};
use pitboss_web::Security;

use crate::config::Settings;

/// Where the policies come from under these settings.
pub fn policy_source(settings: &Settings) -> PolicySource {
    match &settings.policy_dir {
        Some(dir) => PolicySource::Dir(dir.clone()),
        None => PolicySource::Defaults,
    }
}

/// Loads and validates the policies.
pub fn policies(settings: &Settings) -> anyhow::Result<Policies> {
    let source = policy_source(settings);
    Policies::load(&source).with_context(|| match &source {
        PolicySource::Dir(dir) => format!("the access policies in {} are not valid", dir.display()),
        PolicySource::Defaults => "the built-in access policies are not valid".to_string(),
    })
}

pub async fn build(settings: &Settings) -> anyhow::Result<Security> {
    let policies = policies(settings)?;
    tracing::info!(source = %policies.source, policies = policies.count, "access policies loaded");
    let policy = SessionPolicy {
        idle: Duration::from_secs(settings.session_idle_minutes * 60),
        absolute: Duration::from_secs(settings.session_absolute_hours * 3600),
    };
    let sessions = match &settings.redis_url {
        Some(url) => Sessions::redis(url, policy)
            .await
            .with_context(|| format!("connecting to Redis for sessions at {}", crate::config::redact_url(url)))?,
        None => Sessions::in_process(policy),
    };
    let oidc = match &settings.oidc {
        Some(oidc) => Some(Arc::new(
            OidcClient::discover(oidc.clone()).await.context("setting up single sign-on (the [oidc] settings)")?,
        )),
        None => None,
    };
    Ok(Security {
        policies: Arc::new(policies),
        sessions,
        secure_cookies: settings.secure_cookies(),
        two_factor_roles: Arc::new(settings.two_factor_role_list()),
        oidc,
        audit_key: None,
    })
}
