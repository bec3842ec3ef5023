//! Single sign-on for operators through an OpenID Connect provider: the authorization code
//! flow with PKCE (S256), a state tied to the browser's sign-in session and a nonce tied to the
//! ID token.
//!
//! The web layer drives it in two requests:
//! 1. `/auth/oidc/login`: [`OidcClient::begin`] gives the provider's authorize URL to redirect
//!    to and a [`PendingLogin`] to keep in the browser's sign-in session (server-side, or in a
//!    cookie that is encrypted and signed: it holds the PKCE verifier).
//! 2. `/auth/oidc/callback`: with that `PendingLogin` (taken out of the session, so it serves
//!    once) and the callback's `state` and `code`, [`OidcClient::complete`] checks, exchanges
//!    and verifies, and answers with the [`OidcIdentity`]. A callback with `error` instead of
//!    `code` becomes [`OidcError::from_callback`].
//!
//! An identity is keyed by `(issuer, subject)`: the username and email may change at the
//! provider, the subject does not. An identity with no roles must be refused: belonging to the
//! provider grants nothing in Pitboss, only the configured role map does.
//!
//! Like the rest of this crate, this module never keeps or shows a secret: codes, tokens and
//! the verifier stay out of errors, `Debug` output and logs.

mod claims;
mod error;
mod settings;

use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreClientAuthMethod, CoreErrorResponseType,
    CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata,
    CoreRevocableToken, CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AuthType, AuthorizationCode, ClaimsVerificationError, Client, ClientId, ClientSecret, CsrfToken, DiscoveryError,
    EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenFields, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    SignatureVerificationError, StandardErrorResponse, StandardTokenResponse, SubjectIdentifier, TokenResponse,
    UserInfoClaims, UserInfoError, reqwest,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use claims::{Claims, ExtraClaims};
use error::{PENDING_LOGIN_MAX_MINUTES, sanitize, with_sources};

pub use error::OidcError;
/// The URL type of [`OidcClient::begin`] (the `url` crate's, re-exported so callers need not
/// match its version).
pub use openidconnect::url::Url;
pub use settings::OidcSettings;

/// How long any one request to the provider may take: a hung provider must not hold a sign-in
/// (or the server's start-up) forever.
const HTTP_TIMEOUT: Duration = Duration::from_secs(15);

/// How far in the future a `PendingLogin` may claim to be from, for clocks of several servers
/// behind one load balancer.
const CLOCK_SKEW_MICROS: i64 = 60 * 1_000_000;

type IdFields = IdTokenFields<
    ExtraClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type Tokens = StandardTokenResponse<IdFields, CoreTokenType>;
type TokenErrorResponse = StandardErrorResponse<CoreErrorResponseType>;

/// The client library's client with our claims; `A`, `T`, `U`: whether the authorize, token and
/// UserInfo endpoints are known (typestate).
type GenericClient<A, T, U> = Client<
    ExtraClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    TokenErrorResponse,
    Tokens,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    A,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    T,
    U,
>;
/// As discovery leaves it: the authorize endpoint is mandatory, token and UserInfo may be absent.
type ProviderClient = GenericClient<EndpointSet, EndpointMaybeSet, EndpointMaybeSet>;

/// A sign-in under way, between [`OidcClient::begin`] and [`OidcClient::complete`]. The web
/// layer keeps it in the browser's sign-in session; it is worth nothing to anyone else, since
/// the code it redeems goes only to this browser.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingLogin {
    /// Sent as `state`; the callback must bring it back (login CSRF protection).
    pub state: String,
    /// Sent as `nonce`; the ID token must carry it (replay protection).
    pub nonce: String,
    /// The PKCE secret whose S256 hash went to the provider; proves the code exchange comes
    /// from whoever started the sign-in.
    pub pkce_verifier: String,
    /// When `begin` ran, in microseconds since the Unix epoch (see `pitboss_core::time`).
    pub created_at: i64,
}

/// By hand, so that the verifier and the nonce never reach a log.
impl fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingLogin")
            .field("state", &"<redacted>")
            .field("nonce", &"<redacted>")
            .field("pkce_verifier", &"<redacted>")
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// Who signed in, as the provider vouches for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcIdentity {
    /// The provider's issuer identifier; with `subject`, the stable key of this person.
    pub issuer: String,
    pub subject: String,
    /// From `username_claim`, else the email (unless marked unverified), else the subject. Not
    /// checked against Pitboss's username rules: that is the provisioning's job.
    pub username: String,
    pub email: Option<String>,
    pub name: Option<String>,
    /// The provider's groups (from `groups_claim`), sorted, without duplicates.
    pub groups: Vec<String>,
    /// The Pitboss roles the role map gives those groups, sorted, without duplicates; empty
    /// when none maps, and then the sign-in must be refused.
    pub roles: Vec<String>,
}

/// The OpenID Connect client: the provider's discovered configuration and keys, and the
/// settings. Cheap to clone (shared); build it once at start-up with [`OidcClient::discover`].
#[derive(Clone)]
pub struct OidcClient {
    inner: Arc<Inner>,
}

struct Inner {
    settings: OidcSettings,
    issuer: IssuerUrl,
    redirect: RedirectUrl,
    /// Never follows redirects: the client library's advice, so that no token request can be
    /// bounced to another host (SSRF).
    http: reqwest::Client,
    /// Replaced when the provider signs with a key we do not know yet (key rotation).
    provider: RwLock<Arc<ProviderClient>>,
}

impl fmt::Debug for OidcClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcClient").field("settings", &self.inner.settings).finish_non_exhaustive()
    }
}

impl OidcClient {
    /// Reads the provider's discovery document and signing keys (JWKS). Fails with a message
    /// naming the setting or the provider's answer, so that a wrong `issuer_url` shows at start-up.
    pub async fn discover(settings: OidcSettings) -> Result<OidcClient, OidcError> {
        settings.validate()?;
        let issuer = IssuerUrl::new(settings.issuer_url.trim().to_string())
            .map_err(|e| OidcError::Config(format!("`issuer_url` ({}) is not a URL: {e}", settings.issuer_url)))?;
        let redirect = RedirectUrl::new(settings.redirect_url.trim().to_string())
            .map_err(|e| OidcError::Config(format!("`redirect_url` ({}) is not a URL: {e}", settings.redirect_url)))?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(HTTP_TIMEOUT)
            .build()
            .map_err(|e| OidcError::Config(format!("could not set up the HTTP client: {}", with_sources(&e))))?;
        let provider = discover_client(&settings, &issuer, &redirect, &http).await?;
        let inner = Inner { settings, issuer, redirect, http, provider: RwLock::new(Arc::new(provider)) };
        Ok(OidcClient { inner: Arc::new(inner) })
    }

    pub fn settings(&self) -> &OidcSettings {
        &self.inner.settings
    }

    /// Starts a sign-in: the URL to send the browser to, and what to keep until it comes back.
    /// State, nonce and PKCE verifier are fresh random values each time.
    pub fn begin(&self) -> (Url, PendingLogin) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let provider = self.provider();
        let (url, state, nonce) = provider
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .add_scopes(self.inner.settings.requested_scopes().into_iter().map(Scope::new))
            .set_pkce_challenge(challenge)
            .url();
        let pending = PendingLogin {
            state: state.into_secret(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.into_secret(),
            created_at: crate::now_micros(),
        };
        (url, pending)
    }

    /// Finishes a sign-in from the callback's `state` and `code`: checks the state and the age
    /// of the sign-in, redeems the code with the PKCE verifier, verifies the ID token (signature
    /// by the provider's keys, issuer, audience, expiry, nonce), reads the groups from it or,
    /// when it has none, from UserInfo, and maps them to roles.
    pub async fn complete(
        &self,
        pending: PendingLogin,
        returned_state: &str,
        code: &str,
    ) -> Result<OidcIdentity, OidcError> {
        check_state(&pending, returned_state)?;
        check_age(&pending, crate::now_micros())?;
        let code = code.trim();
        if code.is_empty() {
            return Err(OidcError::TokenExchange("the sign-in response carries no code".into()));
        }

        let mut provider = self.provider();
        let tokens = self.exchange(&provider, code, pending.pkce_verifier).await?;
        if tokens.extra_fields().id_token().is_none() {
            return Err(OidcError::MissingIdToken);
        }
        let nonce = Nonce::new(pending.nonce);
        let verified = match verified_claims(&provider, &tokens, &nonce) {
            Err(ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)) => {
                // The provider may have rotated its keys since discovery: fetch them once more.
                provider = self.rediscover().await?;
                verified_claims(&provider, &tokens, &nonce)
            }
            other => other,
        };
        let mut claims = Claims::new(verified.map_err(id_token_error)?);

        let settings = &self.inner.settings;
        if !claims.has(&settings.groups_claim) || !claims.has(&settings.username_claim) {
            claims.complete_with(self.user_info(&provider, &tokens, &claims).await?);
        }
        claims
            .into_identity(self.inner.issuer.as_str(), settings)
            .ok_or_else(|| OidcError::InvalidIdToken("it names no subject (`sub`)".into()))
    }

    fn provider(&self) -> Arc<ProviderClient> {
        // A poisoned lock still holds a whole client: it is only ever replaced, never mutated.
        self.inner.provider.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    async fn rediscover(&self) -> Result<Arc<ProviderClient>, OidcError> {
        let Inner { settings, issuer, redirect, http, .. } = &*self.inner;
        let fresh = Arc::new(discover_client(settings, issuer, redirect, http).await?);
        *self.inner.provider.write().unwrap_or_else(|e| e.into_inner()) = fresh.clone();
        Ok(fresh)
    }

    async fn exchange(&self, provider: &ProviderClient, code: &str, verifier: String) -> Result<Tokens, OidcError> {
        provider
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|_| OidcError::Config("the identity provider's configuration names no token endpoint".into()))?
            .set_pkce_verifier(PkceCodeVerifier::new(verifier))
            .request_async(&self.inner.http)
            .await
            .map_err(token_error)
    }

    /// UserInfo's claims, for the subject of the ID token only (the library checks `sub`). No
    /// UserInfo endpoint means nothing to add.
    async fn user_info(
        &self,
        provider: &ProviderClient,
        tokens: &Tokens,
        claims: &Claims,
    ) -> Result<Map<String, Value>, OidcError> {
        let Some(subject) = claims.subject() else { return Ok(Map::new()) };
        let Ok(request) = provider.user_info(tokens.access_token().clone(), Some(SubjectIdentifier::new(subject)))
        else {
            return Ok(Map::new());
        };
        let info: UserInfoClaims<ExtraClaims, CoreGenderClaim> =
            request.request_async(&self.inner.http).await.map_err(user_info_error)?;
        match serde_json::to_value(&info) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(OidcError::UserInfo("its answer could not be read as claims".into())),
        }
    }
}

async fn discover_client(
    settings: &OidcSettings,
    issuer: &IssuerUrl,
    redirect: &RedirectUrl,
    http: &reqwest::Client,
) -> Result<ProviderClient, OidcError> {
    let metadata =
        CoreProviderMetadata::discover_async(issuer.clone(), http).await.map_err(|e| discovery_error(issuer, e))?;
    let auth_type = token_auth_type(metadata.token_endpoint_auth_methods_supported());
    let client = ProviderClient::from_provider_metadata(
        metadata,
        ClientId::new(settings.client_id.trim().to_string()),
        settings.client_secret.clone().map(ClientSecret::new),
    );
    Ok(client.set_redirect_uri(redirect.clone()).set_auth_type(auth_type))
}

/// HTTP Basic (the OAuth default) unless the provider says it takes the secret only in the
/// form body. A public client sends no secret either way.
fn token_auth_type(supported: Option<&Vec<CoreClientAuthMethod>>) -> AuthType {
    match supported {
        Some(methods)
            if !methods.contains(&CoreClientAuthMethod::ClientSecretBasic)
                && methods.contains(&CoreClientAuthMethod::ClientSecretPost) =>
        {
            AuthType::RequestBody
        }
        _ => AuthType::BasicAuth,
    }
}

/// The ID token's claims, verified, as JSON (see `claims` for why JSON).
fn verified_claims(
    provider: &ProviderClient,
    tokens: &Tokens,
    nonce: &Nonce,
) -> Result<Map<String, Value>, ClaimsVerificationError> {
    let id_token =
        tokens.id_token().ok_or_else(|| ClaimsVerificationError::Other("the token response has no ID token".into()))?;
    let claims = id_token.claims(&provider.id_token_verifier(), nonce)?;
    // `at_hash` is not checked: in the code flow the access token comes straight from the token
    // endpoint over TLS, where OpenID Connect Core (3.1.3.8) makes the check optional.
    match serde_json::to_value(claims) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(ClaimsVerificationError::Other("its claims could not be read".into())),
    }
}

/// Compares the states in constant time: hashing first makes the comparison's timing
/// independent of where the strings differ, and of their lengths.
fn check_state(pending: &PendingLogin, returned_state: &str) -> Result<(), OidcError> {
    let expected = Sha256::digest(pending.state.as_bytes());
    let given = Sha256::digest(returned_state.as_bytes());
    if crate::secret::same(&expected, &given) && !pending.state.is_empty() {
        Ok(())
    } else {
        Err(OidcError::StateMismatch)
    }
}

fn check_age(pending: &PendingLogin, now_micros: i64) -> Result<(), OidcError> {
    let max_age = PENDING_LOGIN_MAX_MINUTES * 60 * 1_000_000;
    let age = now_micros.saturating_sub(pending.created_at);
    if (-CLOCK_SKEW_MICROS..=max_age).contains(&age) { Ok(()) } else { Err(OidcError::Expired) }
}

fn discovery_error<RE: std::error::Error + 'static>(issuer: &IssuerUrl, err: DiscoveryError<RE>) -> OidcError {
    let reason = match err {
        DiscoveryError::Request(e) => format!("the request failed: {}", with_sources(&e)),
        DiscoveryError::Response(status, _body, what) => format!("it answered HTTP {status} ({what})"),
        DiscoveryError::Parse(e) => {
            format!("its answer is not valid OpenID provider metadata or keys (at `{}`: {})", e.path(), e.inner())
        }
        DiscoveryError::Validation(what) => what,
        DiscoveryError::UrlParse(e) => format!("the discovery URL is not valid: {e}"),
        other => other.to_string(),
    };
    OidcError::Discovery { issuer: issuer.as_str().to_string(), reason }
}

/// The provider's `error` code and description (not secret: a token endpoint error answer
/// carries no token), or what failed on the way. Never the response body.
fn token_error<RE: std::error::Error + 'static>(err: RequestTokenError<RE, TokenErrorResponse>) -> OidcError {
    match err {
        RequestTokenError::ServerResponse(answer) => {
            let code = sanitize(answer.error().as_ref());
            if matches!(code.as_str(), "invalid_client" | "unauthorized_client") {
                return OidcError::Config(format!(
                    "the identity provider refused Pitboss's client credentials ({code}); check `client_id` and \
                     `client_secret`"
                ));
            }
            let mut text = code.clone();
            if let Some(description) = answer.error_description().map(|d| sanitize(d)).filter(|d| !d.is_empty()) {
                text.push_str(": ");
                text.push_str(&description);
            }
            if code == "invalid_grant" {
                text.push_str("; the code was already used, has expired or is not for this sign-in");
            }
            OidcError::TokenExchange(text)
        }
        RequestTokenError::Request(e) => {
            OidcError::TokenExchange(format!("the token endpoint could not be reached: {}", with_sources(&e)))
        }
        RequestTokenError::Parse(e, _body) => {
            OidcError::TokenExchange(format!("its answer is not a valid token response (at `{}`)", e.path()))
        }
        RequestTokenError::Other(what) => OidcError::TokenExchange(what),
    }
}

fn id_token_error(err: ClaimsVerificationError) -> OidcError {
    let what = match err {
        ClaimsVerificationError::InvalidNonce(_) => return OidcError::NonceMismatch,
        ClaimsVerificationError::Expired(e) => {
            format!("it has expired ({e}); if this repeats, check this server's clock")
        }
        ClaimsVerificationError::InvalidAudience(e) => format!("it is for another client ({e}); check `client_id`"),
        ClaimsVerificationError::InvalidIssuer(e) => format!("it is from another issuer ({e}); check `issuer_url`"),
        ClaimsVerificationError::SignatureVerification(e) => format!("its signature does not verify ({e})"),
        other => other.to_string(),
    };
    OidcError::InvalidIdToken(what)
}

fn user_info_error<RE: std::error::Error + 'static>(err: UserInfoError<RE>) -> OidcError {
    OidcError::UserInfo(match err {
        UserInfoError::ClaimsVerification(ClaimsVerificationError::InvalidSubject(_)) => {
            "they are about another user than the ID token".into()
        }
        UserInfoError::ClaimsVerification(e) => e.to_string(),
        UserInfoError::Parse(e) => format!("its answer is not valid claims (at `{}`)", e.path()),
        UserInfoError::Request(e) => format!("the UserInfo endpoint could not be reached: {}", with_sources(&e)),
        UserInfoError::Response(status, _body, what) => {
            format!("the UserInfo endpoint answered HTTP {status} ({what})")
        }
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(state: &str, created_at: i64) -> PendingLogin {
        PendingLogin { state: state.into(), nonce: "n".into(), pkce_verifier: "v".into(), created_at }
    }

    #[test]
    fn the_state_must_be_the_one_sent() {
        let p = pending("xK3-abc_123", 0);
        assert!(check_state(&p, "xK3-abc_123").is_ok());
        for wrong in ["", "xK3-abc_124", "xK3-abc_12", "xK3-abc_1234", "XK3-ABC_123", " xK3-abc_123"] {
            assert!(matches!(check_state(&p, wrong), Err(OidcError::StateMismatch)), "{wrong:?}");
        }
        // A session that somehow holds no state accepts nothing, not even an empty state.
        assert!(matches!(check_state(&pending("", 0), ""), Err(OidcError::StateMismatch)));
    }

    #[test]
    fn a_sign_in_expires_after_ten_minutes() {
        let minute = 60 * 1_000_000;
        let start = 1_700_000_000_000_000;
        let p = pending("s", start);
        assert!(check_age(&p, start).is_ok());
        assert!(check_age(&p, start + 10 * minute).is_ok());
        assert!(matches!(check_age(&p, start + 10 * minute + 1), Err(OidcError::Expired)));
        assert!(check_age(&p, start - minute).is_ok(), "another server's clock a little behind");
        assert!(matches!(check_age(&p, start - 2 * minute), Err(OidcError::Expired)));
        assert!(matches!(check_age(&pending("s", i64::MIN), start), Err(OidcError::Expired)));
    }

    #[test]
    fn pending_login_round_trips_and_hides_its_secrets() {
        let p = PendingLogin {
            state: "state-value".into(),
            nonce: "nonce-value".into(),
            pkce_verifier: "verifier-value".into(),
            created_at: 42,
        };
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<PendingLogin>(&json).unwrap(), p);
        let shown = format!("{p:?}");
        for secret in ["state-value", "nonce-value", "verifier-value"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }

    #[test]
    fn the_secret_goes_in_the_body_only_when_basic_is_not_offered() {
        use CoreClientAuthMethod::{ClientSecretBasic, ClientSecretPost, PrivateKeyJwt};
        assert!(matches!(token_auth_type(None), AuthType::BasicAuth));
        assert!(matches!(token_auth_type(Some(&vec![ClientSecretBasic, ClientSecretPost])), AuthType::BasicAuth));
        assert!(matches!(token_auth_type(Some(&vec![ClientSecretPost])), AuthType::RequestBody));
        assert!(matches!(token_auth_type(Some(&vec![PrivateKeyJwt])), AuthType::BasicAuth));
    }

    #[test]
    fn id_token_errors_name_what_to_check() {
        assert!(matches!(id_token_error(ClaimsVerificationError::InvalidNonce("x".into())), OidcError::NonceMismatch));
        let aud = id_token_error(ClaimsVerificationError::InvalidAudience("`other` is not trusted".into()));
        assert!(aud.to_string().contains("check `client_id`"), "{aud}");
    }
}
