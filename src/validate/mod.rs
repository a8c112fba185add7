//! [`Validator`]: a bearer JWT access token in, a [`Principal<C>`] or an [`AuthError`] out.
//!
//! Usable without tower: `validator.validate(token).await`.
//!
//! ```
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use a2a_guard::{Algorithm, Validator, jwk::KeySet};
//! use std::time::Duration;
//!
//! let keys = KeySet::from_json(br#"{"keys":[]}"#)?; // usually fetched; see `issuer`
//! let validator = Validator::builder()
//!     .issuer_keys("https://auth.example.com", keys)
//!     .audience("agent-api")
//!     .algorithms([Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA])
//!     .leeway(Duration::from_secs(30))
//!     .max_token_lifetime(Duration::from_secs(15 * 60))
//!     .build()
//!     .await?;
//! let err = validator.validate("not.a.token").await.unwrap_err();
//! assert_eq!(err.status(), 401);
//! # Ok(()) }
//! ```

mod builder;
mod checks;
mod header;
#[cfg(feature = "client")]
mod introspect;
mod token_cache;

use std::any::Any;
use std::marker::PhantomData;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use builder::{
    DEFAULT_LEEWAY, DEFAULT_MAX_DELEGATION_DEPTH, DEFAULT_MAX_TOKEN_SIZE, DEFAULT_TYPES,
    MAX_LEEWAY, ValidatorBuilder,
};
#[cfg(feature = "client")]
pub use introspect::{
    DEFAULT_INTROSPECTION_CACHE_BYTES, DEFAULT_INTROSPECTION_TTL, DEFAULT_NEGATIVE_TTL,
    Introspection,
};
pub use token_cache::DEFAULT_TOKEN_CACHE_BYTES;

use crate::claims::{
    ExtraClaims, JsonStats, Principal, RegisteredClaims, UnverifiedIss, parse_strict_counted,
    read_unverified_iss,
};
use crate::keys::IssuerKeys;
use crate::scope::BusinessHours;
use crate::scope::ScopeSet;
use crate::{Algorithm, AuthError};
use token_cache::TokenCache;
pub(crate) use token_cache::Verified;

/// The source of "now" for claim checks. Inject one in tests; the default is the system clock.
///
/// ```
/// use a2a_guard::Clock;
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// let fixed = || UNIX_EPOCH + Duration::from_secs(1_800_000_000);
/// assert_eq!(fixed.now(), UNIX_EPOCH + Duration::from_secs(1_800_000_000));
/// ```
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;
}

impl<F: Fn() -> SystemTime + Send + Sync + 'static> Clock for F {
    fn now(&self) -> SystemTime {
        self()
    }
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

pub(crate) struct IssuerEntry {
    pub(crate) issuer: String,
    pub(crate) keys: IssuerKeys,
}

/// Where the scopes of a token are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ScopeClaim {
    /// `scope` (string) and, when absent, `scp` (array or string).
    Standard,
    /// A custom claim name, string or array.
    Named(String),
}

pub(crate) struct Config {
    pub(crate) issuers: Vec<IssuerEntry>,
    pub(crate) audiences: Vec<String>,
    /// Resource URIs (accepted as `aud`) and the scopes the guards advertise.
    pub(crate) resources: crate::metadata::Resources,
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) leeway: i64,
    pub(crate) max_lifetime: Option<i64>,
    pub(crate) types: Vec<String>,
    pub(crate) allow_missing_typ: bool,
    pub(crate) required_claims: Vec<String>,
    pub(crate) max_token_size: usize,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) scope_claim: ScopeClaim,
    pub(crate) business_hours: Option<BusinessHours>,
    pub(crate) max_delegation_depth: usize,
    pub(crate) delegated_scope_ceiling: Option<Vec<crate::scope::Scope>>,
    /// The deny-list consulted on every validation, cache hits included.
    pub(crate) revocations: Option<crate::revocation::Revocations>,
    /// RFC 7662 introspection of opaque tokens (and JWT re-checks).
    #[cfg(feature = "client")]
    pub(crate) introspection: Option<Arc<introspect::IntrospectionClient>>,
}

/// Validates bearer JWT access tokens. Cheap to clone (an `Arc` inside).
///
/// `C` is the type the token's claims are also read into (default: all claims as a JSON map).
/// Build one with [`Validator::builder`]; use it through [`layer`](Self::layer) or call
/// [`validate`](Self::validate) directly.
///
/// ```
/// # #[cfg(feature = "testing")]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use a2a_guard::{AuthError, Validator, testing::TestIssuer};
///
/// #[derive(Clone, Debug, serde::Deserialize)]
/// struct AgentClaims { tenant: String }
///
/// let issuer = TestIssuer::start().await?;
/// let validator = Validator::builder()
///     .issuer_jwks(issuer.issuer(), issuer.jwks_url())
///     .audience(issuer.audience())
///     .claims::<AgentClaims>()
///     .build()
///     .await?;
/// let token = issuer.token().claim("tenant", "acme").scope("read:data").sign();
/// let principal = validator.validate(&token).await?;
/// assert_eq!(principal.claims().tenant, "acme");
/// assert!(principal.scopes().contains("read:data"));
/// // A claim your type needs is named when it is missing.
/// let err = validator.validate(&issuer.token().sign()).await.unwrap_err();
/// assert_eq!(err, AuthError::MissingClaim("tenant".into()));
/// assert!(validator.is_ready());
/// # Ok(()) }
/// # #[cfg(not(feature = "testing"))]
/// # fn main() {}
/// ```
pub struct Validator<C = ExtraClaims> {
    pub(crate) config: Arc<Config>,
    cache: Option<TokenCache<C>>,
    #[cfg(feature = "client")]
    introspected: Option<introspect::AnswerCache<C>>,
    _claims: PhantomData<fn() -> C>,
}

impl<C> Clone for Validator<C> {
    fn clone(&self) -> Self {
        Validator {
            config: self.config.clone(),
            cache: self.cache.clone(),
            #[cfg(feature = "client")]
            introspected: self.introspected.clone(),
            _claims: PhantomData,
        }
    }
}

impl<C> std::fmt::Debug for Validator<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validator")
            .field(
                "issuers",
                &self
                    .config
                    .issuers
                    .iter()
                    .map(|i| &i.issuer)
                    .collect::<Vec<_>>(),
            )
            .field("audiences", &self.config.audiences)
            .field("algorithms", &self.config.algorithms)
            .finish_non_exhaustive()
    }
}

impl Validator {
    /// Start configuring a validator. See [`ValidatorBuilder`] for every option and default.
    pub fn builder() -> ValidatorBuilder<ExtraClaims> {
        ValidatorBuilder::new()
    }
}

fn signing_input_str(token: &str, len: usize) -> Box<str> {
    token.get(..len).unwrap_or_default().into()
}

fn b64(segment: &str, what: &'static str) -> Result<Vec<u8>, AuthError> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| AuthError::Malformed(what))
}

/// Say which structural limit a payload broke (the strict parser's own messages are fixed
/// strings), else that it is not JSON. Never the payload itself.
fn payload_error(e: &serde_json::Error) -> AuthError {
    let msg = e.to_string();
    AuthError::Malformed(if msg.starts_with("JSON nested too deeply") {
        "the payload is nested deeper than 32 levels"
    } else if msg.starts_with("too many JSON values") {
        "the payload has more than 10 000 JSON values"
    } else if msg.starts_with("duplicate member") {
        "the payload has a duplicate member name"
    } else {
        "the payload is not valid JSON"
    })
}

/// Name the custom claim that `C` could not read — `tenant`, `limits.max_amount` — without
/// its value. Runs only on failure: a second, path-tracking parse (serde_path_to_error)
/// finds where. A path is reported only when it is a plain name (it then names a field of
/// `C`, or a key the caller sent themselves); anything else stays "custom claims".
fn invalid_custom<C: DeserializeOwned>(payload: &[u8], first: &serde_json::Error) -> AuthError {
    fn plain(s: &str) -> bool {
        !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.[]".contains(&b))
    }
    let mut de = serde_json::Deserializer::from_slice(payload);
    let (path, msg) = match serde_path_to_error::deserialize::<_, C>(&mut de) {
        Err(e) => (e.path().to_string(), e.inner().to_string()),
        Ok(_) => (String::new(), first.to_string()),
    };
    let parent = if path == "." { "" } else { path.as_str() };
    // serde's "missing field `x`" names a field of `C` (from its definition).
    if let Some(field) = msg
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
    {
        let full = if parent.is_empty() {
            field.to_owned()
        } else {
            format!("{parent}.{field}")
        };
        if plain(&full) {
            return AuthError::MissingClaim(full.into());
        }
    }
    if plain(parent) {
        return AuthError::InvalidClaim(parent.to_owned().into());
    }
    AuthError::InvalidClaim("custom claims".into())
}

impl<C: DeserializeOwned + Send + Sync + 'static> Validator<C> {
    pub(crate) fn from_config(config: Config, cache_bytes: Option<u64>) -> Self {
        Validator {
            #[cfg(feature = "client")]
            introspected: config
                .introspection
                .as_ref()
                .map(|i| introspect::new_cache(i.settings.cache_bytes)),
            config: Arc::new(config),
            cache: cache_bytes.map(token_cache::new),
            _claims: PhantomData,
        }
    }

    /// How many JWT re-checks let a token through because introspection could not be made
    /// ([`Introspection::fail_open`]); 0 without it.
    #[cfg(feature = "client")]
    pub fn introspection_fail_opens(&self) -> u64 {
        self.config.introspection.as_ref().map_or(0, |i| {
            i.fail_opens.load(std::sync::atomic::Ordering::Relaxed)
        })
    }

    /// The introspection answer cache's entries and bytes (its weight, bounded by
    /// [`Introspection::cache_bytes`]), after pending evictions; `(0, 0)` without
    /// introspection. For health pages and metrics.
    ///
    /// ```
    /// # async fn demo(v: a2a_guard::Validator) {
    /// let (entries, bytes) = v.introspection_cache_usage().await;
    /// # let _ = (entries, bytes); }
    /// ```
    #[cfg(feature = "client")]
    pub async fn introspection_cache_usage(&self) -> (u64, u64) {
        match &self.introspected {
            Some(cache) => {
                cache.run_pending_tasks().await;
                (cache.entry_count(), cache.weighted_size())
            }
            None => (0, 0),
        }
    }

    /// Validate a compact JWS access token: structure, header, issuer, key, signature, then
    /// every claim rule. The token's unverified `iss` only selects among configured issuers.
    ///
    /// Before the signature verifies, only the header and the payload's `iss` are read, and
    /// while the key lookup waits (a kid-miss fetch) the token holds nothing but its own
    /// bytes and its `kid`. At most [`MAX_KEYS_TRIED`](crate::jwk::MAX_KEYS_TRIED) keys are
    /// tried per token (those whose `kid`, type and `alg` fit). After the signature verifies
    /// the payload is parsed strictly: duplicate member names refused at every depth, at most
    /// 32 levels and [`MAX_JSON_NODES`](crate::claims::MAX_JSON_NODES) values.
    ///
    /// A token verified before is served from the verified-token cache: its time-based
    /// checks (`exp`, `nbf`, `iat`, temporal scopes) run again and its signing key must
    /// still be held, so expiry, rotation and revocation apply on every request.
    ///
    /// Errors are 401-class token errors or 503 [`AuthError::KeysUnavailable`]; 400 comes
    /// from header parsing and 403 from route guards, never from here.
    ///
    /// ```
    /// # #[cfg(feature = "testing")]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use a2a_guard::{AuthError, Validator, testing::TestIssuer};
    /// let issuer = TestIssuer::start().await?;
    /// let validator = Validator::builder()
    ///     .issuer_jwks(issuer.issuer(), issuer.jwks_url())
    ///     .audience(issuer.audience())
    ///     .build()
    ///     .await?;
    /// let ok = validator.validate(&issuer.token().sign()).await?;
    /// assert_eq!(ok.subject(), Some("agent-test"));
    /// let other_audience = issuer.token().audience("someone-else").sign();
    /// assert_eq!(validator.validate(&other_audience).await.unwrap_err(), AuthError::WrongAudience);
    /// # Ok(()) }
    /// # #[cfg(not(feature = "testing"))]
    /// # fn main() {}
    /// ```
    pub async fn validate(&self, token: &str) -> Result<Principal<C>, AuthError> {
        self.verify(token).await.map(|v| v.principal.clone())
    }

    /// [`validate`](Self::validate), returning the shared verification record.
    pub(crate) async fn verify(&self, token: &str) -> Result<Arc<Verified<C>>, AuthError> {
        let mut missed = None;
        if let Some(answer) = self.verify_hit(token, &mut missed) {
            return answer;
        }
        self.verify_slow(token, missed).await
    }

    /// The synchronous part of [`verify`](Self::verify): the answer when the verified-token
    /// cache has the token (or the size check refuses it), `None` when the rest must run.
    /// `missed` is set to the cache key when the cache was searched and missed, so the rest
    /// does not search again. Not taken while the `a2a_guard.validate` span is enabled (the
    /// full path records it) or with introspection configured.
    pub(crate) fn verify_hit(
        &self,
        token: &str,
        missed: &mut Option<token_cache::Key>,
    ) -> Option<Result<Arc<Verified<C>>, AuthError>> {
        let cfg = &*self.config;
        if token.len() > cfg.max_token_size {
            return Some(Err(AuthError::TokenTooLarge {
                limit: cfg.max_token_size,
            }));
        }
        #[cfg(feature = "client")]
        if cfg.introspection.is_some() {
            return None;
        }
        if tracing::enabled!(target: "a2a_guard::validate", tracing::Level::DEBUG) {
            return None;
        }
        let timer = crate::metrics::Timer::start();
        let cache = self.cache.as_ref()?;
        let (signed, key) = cache.key(token)?;
        let Some(answer) = self.cached(cache, signed, key) else {
            *missed = Some(key);
            return None;
        };
        crate::metrics::validation(timer, true);
        Some(answer)
    }

    /// A cache hit with its checks, or `None`. An entry whose signing key is no longer held
    /// is dropped.
    fn cached(
        &self,
        cache: &TokenCache<C>,
        signed: &str,
        key: token_cache::Key,
    ) -> Option<Result<Arc<Verified<C>>, AuthError>> {
        let cfg = &*self.config;
        let hit = cache.map.get(&key).filter(|hit| *hit.signed == *signed)?;
        let issuer = &cfg.issuers[hit.issuer];
        let keys = match issuer.keys.current() {
            Ok(keys) => keys,
            Err(e) => return Some(Err(e)),
        };
        if !keys.contains_fingerprint(&hit.key) {
            // The signing key was rotated out or revoked: verify from scratch.
            cache.map.invalidate(&key);
            return None;
        }
        crate::metrics::token_cache_lookup(true);
        let p = &hit.principal;
        Some(
            checks::time_checks(cfg, p.registered(), p.scopes(), self.now())
                // A revocation reaches tokens already in the cache on the very next request;
                // while the deny-list is unchanged since this token was found clean, the
                // lookups are skipped.
                .and_then(|()| revoked_since(cfg, &hit))
                .map(|()| hit),
        )
    }

    /// [`verify`](Self::verify) past [`verify_hit`](Self::verify_hit): the span, the
    /// timing, introspection and the full verification.
    pub(crate) async fn verify_slow(
        &self,
        token: &str,
        missed: Option<token_cache::Key>,
    ) -> Result<Arc<Verified<C>>, AuthError> {
        let timer = crate::metrics::Timer::start();
        let mut hit = false;
        // Span `a2a_guard.validate` (crate docs, "Tracing spans"): DEBUG, so a default
        // `info` filter pays one level check per request and nothing else.
        let span = tracing::debug_span!(target: "a2a_guard::validate", "a2a_guard.validate",
            cache = tracing::field::Empty, outcome = tracing::field::Empty,
            iss = tracing::field::Empty);
        let result = if span.is_disabled() {
            self.verify_timed(token, &mut hit, missed).await
        } else {
            use tracing::Instrument;
            let result = self
                .verify_timed(token, &mut hit, missed)
                .instrument(span.clone())
                .await;
            span.record("cache", if hit { "hit" } else { "miss" });
            match &result {
                Ok(v) => {
                    span.record("outcome", "ok");
                    span.record("iss", v.principal.registered().iss.as_deref());
                }
                Err(e) => {
                    span.record("outcome", e.reason());
                }
            }
            result
        };
        crate::metrics::validation(timer, hit);
        result
    }

    /// [`verify`](Self::verify) without the timing; `hit` is set when a cache answered.
    async fn verify_timed(
        &self,
        token: &str,
        hit: &mut bool,
        missed: Option<token_cache::Key>,
    ) -> Result<Arc<Verified<C>>, AuthError> {
        let cfg = &*self.config;
        if token.len() > cfg.max_token_size {
            return Err(AuthError::TokenTooLarge {
                limit: cfg.max_token_size,
            });
        }
        #[cfg(feature = "client")]
        if let (Some(client), Some(cache)) = (&cfg.introspection, &self.introspected) {
            if !introspect::is_compact_jws(token) {
                let v = self.introspect(client, cache, token, hit).await?;
                revoked_since(cfg, &v)?;
                return Ok(v);
            }
            let v = self.verify_jwt(token, hit, missed).await?;
            let settings = &client.settings;
            if settings.recheck_jwts
                && cfg
                    .issuers
                    .get(v.issuer)
                    .is_some_and(|i| i.issuer == settings.issuer)
            {
                match self.introspect(client, cache, token, &mut false).await {
                    Ok(_) => {}
                    Err(AuthError::IntrospectionUnavailable { .. }) if settings.fail_open => {
                        client
                            .fail_opens
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        crate::metrics::introspection_fail_open();
                        tracing::warn!(target: "a2a_guard::introspection",
                            "introspection unavailable: verified JWT accepted (fail-open)");
                    }
                    Err(e) => return Err(e),
                }
            }
            return Ok(v);
        }
        self.verify_jwt(token, hit, missed).await
    }

    /// The JWT path of [`verify`](Self::verify): the verified-token cache (unless `missed`
    /// says it was just searched), then the checks.
    async fn verify_jwt(
        &self,
        token: &str,
        hit: &mut bool,
        missed: Option<token_cache::Key>,
    ) -> Result<Arc<Verified<C>>, AuthError> {
        let cfg = &*self.config;
        let uncached = async {
            let v = self.verify_uncached(token).await?;
            revoked(cfg, v.principal.registered())?;
            Ok(Arc::new(v))
        };
        let Some(cache) = &self.cache else {
            return uncached.await;
        };
        let key = match missed {
            Some(key) => key,
            None => {
                let Some((signed, key)) = cache.key(token) else {
                    return uncached.await;
                };
                if let Some(answer) = self.cached(cache, signed, key) {
                    *hit = true;
                    return answer;
                }
                key
            }
        };
        crate::metrics::token_cache_lookup(false);
        let verified = Arc::new(self.verify_uncached(token).await?);
        crate::metrics::token_cache_insert(verified.weight);
        cache.map.insert(key, verified.clone());
        revoked_since(cfg, &verified)?;
        Ok(verified)
    }

    /// The JWS checks shared by access tokens and other signed JWTs (Security Event Tokens):
    /// compact form, header (`alg` allowed, `typ` accepted), issuer picked by the borrowed
    /// `iss`, key lookup through the key cache, signature. Returns the verified payload.
    pub(crate) async fn verify_signature(&self, token: &str) -> Result<SignedPayload, AuthError> {
        let cfg = &*self.config;
        let mut parts = token.split('.');
        let (h, p, s) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(h), Some(p), Some(s), None) => (h, p, s),
            (Some(_), Some(_), Some(_), Some(_)) => {
                return Err(AuthError::Malformed(
                    "encrypted (JWE) or extra segments are not accepted",
                ));
            }
            _ => return Err(AuthError::Malformed("not a compact JWS of three segments")),
        };
        let header::Header { alg, kid, typ } =
            header::parse(&b64(h, "the header is not base64url")?, &cfg.algorithms)?;
        match &typ {
            Some(t) if cfg.types.iter().any(|a| a == t) => {}
            None if cfg.allow_missing_typ => {}
            _ => return Err(AuthError::WrongType),
        }
        drop(typ);
        // Before the signature is checked, the payload only selects the issuer: its `iss` is
        // read borrowed and everything else skipped (no tree of unverified input).
        let payload = b64(p, "the payload is not base64url")?;
        let issuer_index = match read_unverified_iss(&payload)
            .map_err(|_| AuthError::Malformed("the payload is not valid JSON"))?
        {
            UnverifiedIss::Found(iss) => cfg
                .issuers
                .iter()
                .position(|i| i.issuer == *iss)
                .ok_or(AuthError::WrongIssuer)?,
            UnverifiedIss::NotAString => return Err(AuthError::InvalidClaim("iss".into())),
            UnverifiedIss::Missing => return Err(AuthError::MissingClaim("iss".into())),
            UnverifiedIss::NotAnObject => {
                return Err(AuthError::Malformed("the payload is not a JSON object"));
            }
        };
        let signature = b64(s, "the signature is not base64url")?;
        let signing_input = &token.as_bytes()[..h.len() + 1 + p.len()];
        // The key lookup answers at once unless it has to fetch (kid miss, first keys). Poll
        // it once; if it must wait, drop the decoded segments first, so a forged token
        // waiting on a slow or hanging issuer holds its `&str` and its `kid`, nothing more
        // (issue 10 item 5), and decode them again once the keys are there.
        let mut lookup = pin!(cfg.issuers[issuer_index].keys.lookup(kid.as_deref(), alg));
        let (keys, payload, signature) =
            match std::future::poll_fn(|cx| Poll::Ready(lookup.as_mut().poll(cx))).await {
                Poll::Ready(keys) => (keys?, payload, signature),
                Poll::Pending => {
                    drop((payload, signature));
                    let keys = lookup.await?;
                    (
                        keys,
                        b64(p, "the payload is not base64url")?,
                        b64(s, "the signature is not base64url")?,
                    )
                }
            };
        let mut candidates = keys.find(kid.as_deref(), alg).peekable();
        if candidates.peek().is_none() {
            return Err(AuthError::UnknownKey);
        }
        let key = candidates
            .find(|k| k.verify(alg, signing_input, &signature))
            .ok_or(AuthError::InvalidSignature)?;
        drop(signature);
        Ok(SignedPayload {
            issuer: issuer_index,
            key: *key.fingerprint(),
            payload,
            signed_len: h.len() + 1 + p.len(),
        })
    }

    async fn verify_uncached(&self, token: &str) -> Result<Verified<C>, AuthError> {
        let cfg = &*self.config;
        let SignedPayload {
            issuer: issuer_index,
            key,
            payload,
            signed_len,
        } = self.verify_signature(token).await?;
        let (registered, custom, scopes, stats) = self.read_verified(&payload)?;
        let now = self.now();
        checks::time_checks(cfg, &registered, &scopes, now)?;
        let exp = registered.exp.map_or(now, |e| e.0);
        let principal = Principal::new(registered, custom, scopes);
        let ttl = std::time::Duration::from_secs(
            exp.saturating_add(cfg.leeway).saturating_sub(now).max(0) as u64,
        );
        Ok(Verified {
            principal,
            issuer: issuer_index,
            key,
            ttl,
            signed: signing_input_str(token, signed_len),
            weight: token_cache::entry_weight(signed_len, payload.len(), &stats),
            clean_at: std::sync::atomic::AtomicU64::new(u64::MAX),
        })
    }

    /// The payload of a token whose signature verified: one strict pass (duplicate members
    /// at every depth, depth, node count) that builds the claims tree, the registered claims
    /// read typed from it, every static claim rule, then the tree moved into `C`.
    ///
    /// One tree beats tree-less passes here: serde_json's scanning, not allocation, is most
    /// of the cost, so a check pass plus reading the registered claims and `C` from the bytes
    /// (three scans) costs more than one scan into a tree read twice (callgrind, see
    /// BENCHMARKS.md).
    fn read_verified(
        &self,
        payload: &[u8],
    ) -> Result<(RegisteredClaims, C, ScopeSet, JsonStats), AuthError> {
        let cfg = &*self.config;
        let not_object = AuthError::Malformed("the payload is not a JSON object");
        let (tree, stats) = parse_strict_counted(payload).map_err(|e| payload_error(&e))?;
        let registered: RegisteredClaims = match &tree {
            Value::Object(_) => {
                RegisteredClaims::deserialize(&tree).map_err(|e| checks::invalid_registered(&e))?
            }
            _ => return Err(not_object),
        };
        let Value::Object(map) = tree else {
            return Err(not_object);
        };
        let scopes = checks::static_checks(cfg, &registered, &map)?;
        // The default claims type is the tree itself: move it, no rebuild.
        let mut slot = Some(map);
        let custom = match (&mut slot as &mut dyn Any).downcast_mut::<Option<C>>() {
            Some(default) => default
                .take()
                .ok_or_else(|| AuthError::InvalidClaim("custom claims".into()))?,
            None => match slot {
                Some(map) => serde_json::from_value(Value::Object(map))
                    .map_err(|e| invalid_custom::<C>(payload, &e))?,
                None => return Err(AuthError::InvalidClaim("custom claims".into())),
            },
        };
        Ok((registered, custom, scopes, stats))
    }

    /// The tower layer that authenticates every request with this validator. The realm
    /// defaults to the first configured audience.
    ///
    /// ```no_run
    /// # async fn demo(validator: a2a_guard::Validator) {
    /// let app: axum::Router = axum::Router::new().layer(validator.layer());
    /// # }
    /// ```
    pub fn layer(&self) -> crate::AuthLayer<C> {
        let realm = self
            .config
            .audiences
            .first()
            .or(self.config.resources.uris.first().map(|r| &r.configured))
            .map_or(crate::layer::DEFAULT_REALM, String::as_str);
        crate::AuthLayer {
            validator: self.clone(),
            challenge: std::sync::Arc::new(crate::layer::ChallengeConfig::new(
                realm.into(),
                &self.config.resources.uris,
            )),
            optional: false,
            rules: Default::default(),
            dpop: Default::default(),
            observers: std::sync::Arc::new([]),
        }
    }

    /// The configured resource URIs ([`ValidatorBuilder::resource`]), as configured.
    ///
    /// ```
    /// # async fn demo(validator: a2a_guard::Validator) {
    /// for r in validator.resources() {
    ///     println!("serving {r}");
    /// }
    /// # }
    /// ```
    pub fn resources(&self) -> impl Iterator<Item = &str> {
        self.config
            .resources
            .uris
            .iter()
            .map(|r| r.configured.as_str())
    }

    /// Per-issuer key health, for readiness probes: keys held, age, last error, whether the
    /// last known good keys are being served.
    pub fn health(&self) -> Vec<crate::keys::KeyHealth> {
        self.config
            .issuers
            .iter()
            .map(|i| i.keys.health(&i.issuer))
            .collect()
    }

    /// Whether every issuer has usable keys.
    pub fn is_ready(&self) -> bool {
        self.config
            .issuers
            .iter()
            .all(|i| i.keys.health(&i.issuer).ready)
    }

    pub(crate) fn now(&self) -> i64 {
        match self.config.clock.now().duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_secs() as i64,
            Err(e) => -(e.duration().as_secs() as i64),
        }
    }
}

/// [`revoked`] for a cached record: skipped while the deny-list's generation is the one the
/// record was last found clean at. The generation moves (after the entry is visible) on every
/// addition, and removals cannot make a clean token revoked.
fn revoked_since<C>(cfg: &Config, v: &Verified<C>) -> Result<(), AuthError> {
    use std::sync::atomic::Ordering;
    let Some(r) = &cfg.revocations else {
        return Ok(());
    };
    if r.is_stale() {
        return Err(AuthError::RevocationsUnavailable);
    }
    let generation = r.generation();
    if v.clean_at.load(Ordering::Acquire) == generation {
        return Ok(());
    }
    revoked(cfg, v.principal.registered())?;
    v.clean_at.store(generation, Ordering::Release);
    Ok(())
}

/// The deny-list check: [`AuthError::Revoked`] when the token is on it.
fn revoked(cfg: &Config, claims: &RegisteredClaims) -> Result<(), AuthError> {
    if cfg.revocations.as_ref().is_some_and(|r| r.is_stale()) {
        return Err(AuthError::RevocationsUnavailable);
    }
    match cfg.revocations.as_ref().and_then(|r| r.check(claims)) {
        Some(by) => {
            tracing::debug!(target: "a2a_guard::revocation", by, "revoked token refused");
            Err(AuthError::Revoked)
        }
        None => Ok(()),
    }
}

/// A JWS whose signature verified: which issuer, with which key, and its payload.
pub(crate) struct SignedPayload {
    pub(crate) issuer: usize,
    pub(crate) key: crate::jwk::Fingerprint,
    pub(crate) payload: Vec<u8>,
    /// The length of `header.payload`.
    pub(crate) signed_len: usize,
}
