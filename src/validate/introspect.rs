//! Token introspection (RFC 7662, feature `client`): opaque tokens, and optionally a re-check
//! of an issuer's JWTs, asked of the authorization server with this service's own client
//! authentication, cached by a hash of the token.

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::digest;
use serde_json::Value;

use super::token_cache::Verified;
use super::{Validator, checks};
use crate::client::{ClientCredentials, ClientError};
use crate::{AuthError, ConfigError, Principal};

/// How long an active answer is cached at most (and never past the token's `exp`).
pub const DEFAULT_INTROSPECTION_TTL: Duration = Duration::from_secs(30);
/// How long an `active: false` answer is cached.
pub const DEFAULT_NEGATIVE_TTL: Duration = Duration::from_secs(5);
/// The introspection cache's budget in bytes.
pub const DEFAULT_INTROSPECTION_CACHE_BYTES: u64 = 8 * 1024 * 1024;
/// RFC 9701 §5: the `typ` and media type of a signed introspection answer.
const INTROSPECTION_JWT_TYP: &str = "token-introspection+jwt";
const INTROSPECTION_JWT_MEDIA: &str = "application/token-introspection+jwt";
/// How long a client is told to wait after introspection failed.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// Where and how to introspect one issuer's tokens (RFC 7662).
///
/// The authorization server's introspection endpoint is called with this service's own
/// client authentication — any method of [`ClientCredentials`] (`client_secret_basic`,
/// `client_secret_post`, `private_key_jwt`, `tls_client_auth`); its "token endpoint" is the
/// introspection endpoint here.
///
/// - A token that is not a compact JWS (not three dot-separated segments) is introspected.
/// - With [`recheck_jwts`](Self::recheck_jwts), this issuer's JWTs are introspected too after
///   their signature and claims check out — revocation within the cache TTL for high-value
///   services.
/// - `active: false` → 401 `invalid_token` (reason `inactive`). An active answer's members go
///   through the same claim checks as a JWT's (`iss` — this issuer when absent —, `aud`,
///   `exp`, scopes, `cnf`, `act`).
/// - Answers are cached by SHA-256 of the token: active ones for [`DEFAULT_INTROSPECTION_TTL`]
///   (never past `exp`), inactive ones for [`DEFAULT_NEGATIVE_TTL`], within a byte budget;
///   one request per token however many callers wait.
/// - The endpoint unreachable or failing: 503 with `Retry-After` (fail closed). With
///   [`fail_open`](Self::fail_open), a JWT re-check that cannot be made lets the verified JWT
///   through, logged and counted ([`Validator::introspection_fail_opens`]); an opaque token
///   never passes without an answer.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use a2a_guard::Validator;
/// use a2a_guard::client::{ClientCredentials, Secret};
/// use a2a_guard::Introspection;
/// let validator = Validator::builder()
///     .issuer("https://auth.example.com")
///     .audience("https://payments.example.com")
///     .introspection(
///         Introspection::new(
///             "https://auth.example.com",
///             ClientCredentials::new("https://auth.example.com/introspect", "payments-api")
///                 .secret(Secret::file("/run/secrets/payments-api")),
///         )
///         .recheck_jwts(),
///     )
///     .build()
///     .await?;
/// # let _ = validator; Ok(()) }
/// ```
#[must_use]
pub struct Introspection {
    pub(crate) issuer: String,
    credentials: ClientCredentials,
    pub(crate) ttl: Duration,
    pub(crate) negative_ttl: Duration,
    pub(crate) cache_bytes: u64,
    pub(crate) recheck_jwts: bool,
    pub(crate) fail_open: bool,
    /// RFC 9701: answers must be JWTs signed by the issuer; `Some(None)` finds its keys by
    /// discovery, `Some(Some(url))` at that JWKS URL.
    jwt_responses: Option<Option<String>>,
}

impl std::fmt::Debug for Introspection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Introspection")
            .field("issuer", &self.issuer)
            .field("ttl", &self.ttl)
            .field("recheck_jwts", &self.recheck_jwts)
            .field("fail_open", &self.fail_open)
            .field("jwt_responses", &self.jwt_responses.is_some())
            .finish_non_exhaustive()
    }
}

impl Introspection {
    /// Introspect `issuer`'s tokens at the endpoint `credentials` names, authenticated as
    /// `credentials` say.
    pub fn new(issuer: impl Into<String>, credentials: ClientCredentials) -> Self {
        Introspection {
            issuer: issuer.into(),
            credentials,
            ttl: DEFAULT_INTROSPECTION_TTL,
            negative_ttl: DEFAULT_NEGATIVE_TTL,
            cache_bytes: DEFAULT_INTROSPECTION_CACHE_BYTES,
            recheck_jwts: false,
            fail_open: false,
            jwt_responses: None,
        }
    }

    /// How long an active answer is cached (default [`DEFAULT_INTROSPECTION_TTL`]; never past
    /// the token's `exp`). Shorter means revocation reaches this service sooner.
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How long an `active: false` answer is cached (default [`DEFAULT_NEGATIVE_TTL`]).
    pub fn negative_cache_ttl(mut self, ttl: Duration) -> Self {
        self.negative_ttl = ttl;
        self
    }

    /// The cache's budget in bytes (default [`DEFAULT_INTROSPECTION_CACHE_BYTES`]).
    pub fn cache_bytes(mut self, bytes: u64) -> Self {
        self.cache_bytes = bytes;
        self
    }

    /// Also introspect this issuer's JWTs (after their own checks pass).
    pub fn recheck_jwts(mut self) -> Self {
        self.recheck_jwts = true;
        self
    }

    /// When a JWT re-check cannot be made (endpoint down), accept the verified JWT, log it at
    /// `warn` and count it. Off by default (503).
    pub fn fail_open(mut self) -> Self {
        self.fail_open = true;
        self
    }

    /// Ask for signed answers (RFC 9701, `Accept: application/token-introspection+jwt`) and
    /// accept nothing else: each answer must be a JWT with `typ` `token-introspection+jwt`,
    /// signed by one of the issuer's keys (found by discovery of the issuer, in a key cache
    /// of its own), `iss` the issuer, `aud` this service's client ID, and the RFC 7662
    /// answer in its `token_introspection` member. A plain JSON answer, or one that fails
    /// these checks, is treated as the endpoint failing (503, or fail-open when chosen) —
    /// so nothing between this service and the server can forge or downgrade an answer.
    ///
    /// ```no_run
    /// # use a2a_guard::Introspection;
    /// # use a2a_guard::client::{ClientCredentials, Secret};
    /// let introspection = Introspection::new(
    ///     "https://auth.example.com",
    ///     ClientCredentials::new("https://auth.example.com/introspect", "payments-api")
    ///         .secret(Secret::file("/run/secrets/payments-api")),
    /// )
    /// .jwt_responses();
    /// # let _ = introspection;
    /// ```
    pub fn jwt_responses(mut self) -> Self {
        self.jwt_responses = Some(None);
        self
    }

    /// As [`jwt_responses`](Self::jwt_responses), with the issuer's keys at `jwks_url`.
    ///
    /// ```no_run
    /// # use a2a_guard::Introspection;
    /// # use a2a_guard::client::{ClientCredentials, Secret};
    /// let introspection = Introspection::new(
    ///     "https://auth.example.com",
    ///     ClientCredentials::new("https://auth.example.com/introspect", "payments-api")
    ///         .secret(Secret::file("/run/secrets/payments-api")),
    /// )
    /// .jwt_responses_with_jwks("https://auth.example.com/jwks");
    /// # let _ = introspection;
    /// ```
    pub fn jwt_responses_with_jwks(mut self, jwks_url: impl Into<String>) -> Self {
        self.jwt_responses = Some(Some(jwks_url.into()));
        self
    }

    pub(crate) async fn into_client(self) -> Result<IntrospectionClient, ConfigError> {
        let source = self.credentials.build()?;
        let signed = match &self.jwt_responses {
            None => None,
            Some(jwks) => {
                let b = Validator::builder()
                    .accepted_types([INTROSPECTION_JWT_TYP])
                    // `aud` is this client's ID, checked on the payload.
                    .dangerous_skip_audience_check();
                let b = match jwks {
                    Some(url) => b.issuer_jwks(self.issuer.clone(), url.clone()),
                    None => b.issuer(self.issuer.clone()),
                };
                // Boxed: `build` calls this function (an async recursion in type only).
                Some(Box::pin(b.build()).await?)
            }
        };
        Ok(IntrospectionClient {
            endpoint: source.endpoint(),
            signed,
            settings: Introspection {
                credentials: ClientCredentials::new("https://unused.invalid", "unused"),
                ..self
            },
            fail_opens: Arc::new(std::sync::atomic::AtomicU64::new(0)),
        })
    }
}

/// The built form, shared by a validator's clones.
pub(crate) struct IntrospectionClient {
    endpoint: Arc<crate::client::Endpoint>,
    /// RFC 9701: the verifier of signed answers, when they are required.
    signed: Option<Validator>,
    pub(crate) settings: Introspection,
    pub(crate) fail_opens: Arc<std::sync::atomic::AtomicU64>,
}

/// A cached answer.
pub(crate) enum Answer<C> {
    Active(Arc<Verified<C>>),
    Inactive,
}

/// The cache of answers, keyed by SHA-256 of the token.
pub(crate) type AnswerCache<C> = moka::future::Cache<[u8; 32], Arc<(Answer<C>, Duration)>>;

struct PerEntry;

impl<C> moka::Expiry<[u8; 32], Arc<(Answer<C>, Duration)>> for PerEntry {
    fn expire_after_create(
        &self,
        _: &[u8; 32],
        v: &Arc<(Answer<C>, Duration)>,
        _: std::time::Instant,
    ) -> Option<Duration> {
        Some(v.1)
    }
}

pub(crate) fn new_cache<C: Send + Sync + 'static>(bytes: u64) -> AnswerCache<C> {
    moka::future::Cache::builder()
        .max_capacity(bytes)
        .weigher(|_, v: &Arc<(Answer<C>, Duration)>| match &v.0 {
            Answer::Active(verified) => verified.weight,
            Answer::Inactive => 96,
        })
        .expire_after(PerEntry)
        .build()
}

/// Whether `token` is a compact JWS (three segments): others are introspected.
pub(crate) fn is_compact_jws(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}

impl<C: serde::de::DeserializeOwned + Send + Sync + 'static> Validator<C> {
    /// Introspect `token` (cached, one request per token). `Ok(Active)` carries the checked
    /// principal. `hit` is set when the answer came from the cache.
    pub(crate) async fn introspect(
        &self,
        client: &IntrospectionClient,
        cache: &AnswerCache<C>,
        token: &str,
        hit: &mut bool,
    ) -> Result<Arc<Verified<C>>, AuthError> {
        let d = digest::digest(&digest::SHA256, token.as_bytes());
        let mut key = [0u8; 32];
        key.copy_from_slice(d.as_ref());
        let asked = std::sync::atomic::AtomicBool::new(false);
        let answer = cache
            .try_get_with(key, async {
                asked.store(true, std::sync::atomic::Ordering::Relaxed);
                let answer = self.ask(client, token).await;
                crate::metrics::introspection(match &answer {
                    Ok((Answer::Active(_), _)) => "active",
                    Ok((Answer::Inactive, _)) => "inactive",
                    Err(_) => "error",
                });
                answer.map(Arc::new)
            })
            .await
            .map_err(|e: Arc<AuthError>| (*e).clone())?;
        if !asked.load(std::sync::atomic::Ordering::Relaxed) {
            // Another caller's request (single flight) or a cached answer.
            *hit = true;
            crate::metrics::introspection_cache_hit();
        }
        match &answer.0 {
            Answer::Active(v) => {
                // The answer may be older than this request: the time rules again.
                let p = &v.principal;
                checks::time_checks(&self.config, p.registered(), p.scopes(), self.now())?;
                Ok(v.clone())
            }
            Answer::Inactive => Err(AuthError::Inactive),
        }
    }

    async fn ask(
        &self,
        client: &IntrospectionClient,
        token: &str,
    ) -> Result<(Answer<C>, Duration), AuthError> {
        let unavailable = AuthError::IntrospectionUnavailable {
            retry_after: RETRY_AFTER,
        };
        let url = client.endpoint.url.clone();
        let (status, _, body) = client
            .endpoint
            .post_form(
                &url,
                &[("token", token), ("token_type_hint", "access_token")],
                false,
                if client.signed.is_some() {
                    INTROSPECTION_JWT_MEDIA
                } else {
                    crate::client::JSON
                },
            )
            .await
            .map_err(|e: ClientError| {
                tracing::warn!(target: "a2a_guard::introspection", error = %e,
                    "introspection request failed");
                unavailable.clone()
            })?;
        if !status.is_success() {
            tracing::warn!(target: "a2a_guard::introspection", status = status.as_u16(),
                "introspection endpoint refused");
            return Err(unavailable);
        }
        let answer = match &client.signed {
            None => serde_json::from_slice::<Value>(&body).ok(),
            Some(verifier) => {
                let answer = signed_answer(verifier, &client.endpoint.client_id, &body).await;
                if answer.is_none() {
                    tracing::warn!(target: "a2a_guard::introspection",
                        "introspection answer is not a valid signed JWT (RFC 9701)");
                }
                answer
            }
        };
        let Some(Value::Object(mut map)) = answer else {
            return Err(unavailable);
        };
        let settings = &client.settings;
        // RFC 7662 §2.2: `active` is a boolean; anything but `true` is inactive.
        if map.remove("active") != Some(Value::Bool(true)) {
            return Ok((Answer::Inactive, settings.negative_ttl));
        }
        match map.get("iss") {
            None => {
                map.insert("iss".into(), settings.issuer.clone().into());
            }
            Some(Value::String(i)) if *i == settings.issuer => {}
            Some(_) => return Err(AuthError::WrongIssuer),
        }
        let payload = serde_json::to_vec(&Value::Object(map))
            .map_err(|_| AuthError::Malformed("introspection answer"))?;
        let (registered, custom, scopes, stats) = self.read_verified(&payload)?;
        let now = self.now();
        checks::time_checks(&self.config, &registered, &scopes, now)?;
        let exp = registered.exp.map_or(now, |e| e.0);
        let until_exp = Duration::from_secs(exp.saturating_sub(now).max(0) as u64);
        let issuer = self
            .config
            .issuers
            .iter()
            .position(|i| i.issuer == settings.issuer)
            .unwrap_or(usize::MAX);
        let verified = Verified {
            principal: Principal::new(registered, custom, scopes),
            issuer,
            key: [0; 32],
            ttl: settings.ttl.min(until_exp),
            signed: Box::from(""),
            weight: super::token_cache::entry_weight(0, payload.len(), &stats),
            clean_at: std::sync::atomic::AtomicU64::new(u64::MAX),
        };
        let ttl = verified.ttl;
        Ok((Answer::Active(Arc::new(verified)), ttl))
    }
}

/// RFC 9701 §5: the `token_introspection` member of a signed answer — signature by the
/// issuer's key and `typ` (through `verifier`), `iss` the issuer, `aud` this client.
async fn signed_answer(verifier: &Validator, client_id: &str, body: &[u8]) -> Option<Value> {
    let jwt = std::str::from_utf8(body).ok()?.trim();
    let signed = verifier.verify_signature(jwt).await.ok()?;
    let Value::Object(mut claims) = serde_json::from_slice::<Value>(&signed.payload).ok()? else {
        return None;
    };
    let aud_ok = |a: &Value| a.as_str() == Some(client_id);
    match claims.get("aud")? {
        Value::Array(a) if a.iter().any(aud_ok) => {}
        a if aud_ok(a) => {}
        _ => return None,
    }
    // `iss` was matched against the issuer to pick the key.
    claims.remove("token_introspection")
}
