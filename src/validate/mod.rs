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
mod token_cache;

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use builder::{
    DEFAULT_LEEWAY, DEFAULT_MAX_DELEGATION_DEPTH, DEFAULT_MAX_TOKEN_SIZE, DEFAULT_TYPES,
    MAX_LEEWAY, ValidatorBuilder,
};
pub use token_cache::DEFAULT_TOKEN_CACHE_CAPACITY;

use crate::claims::{ExtraClaims, Principal, parse_strict};
use crate::keys::IssuerKeys;
use crate::scope::BusinessHours;
use crate::{Algorithm, AuthError};
use token_cache::{TokenCache, Verified};

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
}

/// Validates bearer JWT access tokens. Cheap to clone (an `Arc` inside).
///
/// `C` is the type the token's claims are also read into (default: all claims as a JSON map).
pub struct Validator<C = ExtraClaims> {
    pub(crate) config: Arc<Config>,
    cache: Option<TokenCache<C>>,
    _claims: PhantomData<fn() -> C>,
}

impl<C> Clone for Validator<C> {
    fn clone(&self) -> Self {
        Validator {
            config: self.config.clone(),
            cache: self.cache.clone(),
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

impl<C: DeserializeOwned + Clone + Send + Sync + 'static> Validator<C> {
    pub(crate) fn from_config(config: Config, cache_capacity: Option<u64>) -> Self {
        Validator {
            config: Arc::new(config),
            cache: cache_capacity.map(token_cache::new),
            _claims: PhantomData,
        }
    }

    /// Validate a compact JWS access token: structure, header, issuer, key, signature, then
    /// every claim rule. The token's unverified `iss` only selects among configured issuers.
    ///
    /// A token verified before is served from the verified-token cache: its time-based
    /// checks (`exp`, `nbf`, `iat`, temporal scopes) run again and its signing key must
    /// still be held, so expiry, rotation and revocation apply on every request.
    pub async fn validate(&self, token: &str) -> Result<Arc<Principal<C>>, AuthError> {
        self.verify(token).await.map(|v| v.principal.clone())
    }

    /// [`validate`](Self::validate), returning the shared verification record.
    pub(crate) async fn verify(&self, token: &str) -> Result<Arc<Verified<C>>, AuthError> {
        let cfg = &*self.config;
        if token.len() > cfg.max_token_size {
            return Err(AuthError::TokenTooLarge {
                limit: cfg.max_token_size,
            });
        }
        let Some(cache) = &self.cache else {
            return self.verify_uncached(token).await.map(Arc::new);
        };
        let Some((signed, key)) = token_cache::key(token) else {
            return self.verify_uncached(token).await.map(Arc::new);
        };
        if let Some(hit) = cache.get(&key)
            && *hit.signed == *signed
        {
            let issuer = &cfg.issuers[hit.issuer];
            let keys = issuer.keys.current()?;
            if keys.contains_fingerprint(&hit.key) {
                let p = &hit.principal;
                checks::time_checks(cfg, &p.registered, &p.scopes, self.now())?;
                return Ok(hit);
            }
            // The signing key was rotated out or revoked: verify from scratch.
            cache.invalidate(&key);
        }
        let verified = Arc::new(self.verify_uncached(token).await?);
        cache.insert(key, verified.clone());
        Ok(verified)
    }

    async fn verify_uncached(&self, token: &str) -> Result<Verified<C>, AuthError> {
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
        let header = header::parse(&b64(h, "the header is not base64url")?, &cfg.algorithms)?;
        match &header.typ {
            Some(t) if cfg.types.iter().any(|a| a == t) => {}
            None if cfg.allow_missing_typ => {}
            _ => return Err(AuthError::WrongType),
        }
        let payload = parse_strict(&b64(p, "the payload is not base64url")?)
            .map_err(|_| AuthError::Malformed("the payload is not valid JSON"))?;
        if !payload.is_object() {
            return Err(AuthError::Malformed("the payload is not a JSON object"));
        }
        let issuer_index = match payload.get("iss") {
            Some(Value::String(iss)) => cfg
                .issuers
                .iter()
                .position(|i| i.issuer == *iss)
                .ok_or(AuthError::WrongIssuer)?,
            Some(_) => return Err(AuthError::InvalidClaim("iss".into())),
            None => return Err(AuthError::MissingClaim("iss".into())),
        };
        let signature = b64(s, "the signature is not base64url")?;
        let signing_input = &token.as_bytes()[..h.len() + 1 + p.len()];
        let keys = cfg.issuers[issuer_index]
            .keys
            .lookup(header.kid.as_deref(), header.alg)
            .await?;
        let mut candidates = keys.find(header.kid.as_deref(), header.alg).peekable();
        if candidates.peek().is_none() {
            return Err(AuthError::UnknownKey);
        }
        let key = candidates
            .find(|k| k.verify(header.alg, signing_input, &signature))
            .ok_or(AuthError::InvalidSignature)?;
        let (registered, scopes) = checks::static_checks(cfg, &payload)?;
        let now = self.now();
        checks::time_checks(cfg, &registered, &scopes, now)?;
        // Last use of the tree: move it into `C` (a map or owned strings move, not copy).
        let custom: C = serde_json::from_value(payload)
            .map_err(|_| AuthError::InvalidClaim("custom claims".into()))?;
        let principal = Principal {
            registered,
            custom,
            scopes,
        };
        let exp = principal.registered.exp.map_or(now, |e| e.0);
        let ttl = std::time::Duration::from_secs(
            exp.saturating_add(cfg.leeway).saturating_sub(now).max(0) as u64,
        );
        Ok(Verified {
            principal: Arc::new(principal),
            issuer: issuer_index,
            key: *key.fingerprint(),
            ttl,
            signed: signing_input_str(token, h.len() + 1 + p.len()),
        })
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
            realm: realm.into(),
            optional: false,
            rules: Default::default(),
            dpop: Default::default(),
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
