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
mod header;

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use builder::{
    DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_SIZE, DEFAULT_TYPES, MAX_LEEWAY, ValidatorBuilder,
};

use crate::claims::{ExtraClaims, Principal, RegisteredClaims, from_tree, parse_strict};
use crate::keys::IssuerKeys;
use crate::scope::{BusinessHours, ScopeSet, TemporalScope};
use crate::{Algorithm, AuthError};

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
}

/// Validates bearer JWT access tokens. Cheap to clone (an `Arc` inside).
///
/// `C` is the type the token's claims are also read into (default: all claims as a JSON map).
pub struct Validator<C = ExtraClaims> {
    pub(crate) config: Arc<Config>,
    _claims: PhantomData<fn() -> C>,
}

impl<C> Clone for Validator<C> {
    fn clone(&self) -> Self {
        Validator {
            config: self.config.clone(),
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

fn b64(segment: &str, what: &'static str) -> Result<Vec<u8>, AuthError> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| AuthError::Malformed(what))
}

impl<C: DeserializeOwned> Validator<C> {
    pub(crate) fn from_config(config: Config) -> Self {
        Validator {
            config: Arc::new(config),
            _claims: PhantomData,
        }
    }

    /// Validate a compact JWS access token: structure, header, issuer, key, signature, then
    /// every claim rule. The token's unverified `iss` only selects among configured issuers.
    pub async fn validate(&self, token: &str) -> Result<Principal<C>, AuthError> {
        let cfg = &*self.config;
        if token.len() > cfg.max_token_size {
            return Err(AuthError::TokenTooLarge {
                limit: cfg.max_token_size,
            });
        }
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
        let issuer = match payload.get("iss") {
            Some(Value::String(iss)) => cfg
                .issuers
                .iter()
                .find(|i| i.issuer == *iss)
                .ok_or(AuthError::WrongIssuer)?,
            Some(_) => return Err(AuthError::InvalidClaim("iss".into())),
            None => return Err(AuthError::MissingClaim("iss".into())),
        };
        let signature = b64(s, "the signature is not base64url")?;
        let signing_input = &token.as_bytes()[..h.len() + 1 + p.len()];
        let keys = issuer
            .keys
            .lookup(header.kid.as_deref(), header.alg)
            .await?;
        let mut candidates = keys.find(header.kid.as_deref(), header.alg).peekable();
        if candidates.peek().is_none() {
            return Err(AuthError::UnknownKey);
        }
        if !candidates.any(|k| k.verify(header.alg, signing_input, &signature)) {
            return Err(AuthError::InvalidSignature);
        }
        self.check_claims(&payload)
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
            .map_or(crate::layer::DEFAULT_REALM, String::as_str);
        crate::AuthLayer {
            validator: self.clone(),
            realm: realm.into(),
            optional: false,
            rules: Default::default(),
        }
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

    fn now(&self) -> i64 {
        match self.config.clock.now().duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_secs() as i64,
            Err(e) => -(e.duration().as_secs() as i64),
        }
    }

    fn check_claims(&self, payload: &Value) -> Result<Principal<C>, AuthError> {
        let cfg = &*self.config;
        let registered: RegisteredClaims =
            from_tree(payload).map_err(|e| invalid_registered(&e))?;
        let now = self.now();
        let leeway = cfg.leeway;
        // RFC 7519 §4.1.4: the current time must be before `exp`.
        let exp = registered
            .exp
            .ok_or(AuthError::MissingClaim("exp".into()))?
            .0;
        if now.saturating_sub(leeway) >= exp {
            return Err(AuthError::Expired);
        }
        if let Some(nbf) = registered.nbf
            && now.saturating_add(leeway) < nbf.0
        {
            return Err(AuthError::NotYetValid);
        }
        if let Some(iat) = registered.iat
            && iat.0 > now.saturating_add(leeway)
        {
            return Err(AuthError::IssuedInFuture);
        }
        if let Some(max) = cfg.max_lifetime {
            let iat = registered
                .iat
                .ok_or(AuthError::MissingClaim("iat".into()))?
                .0;
            if exp.saturating_sub(iat) > max {
                return Err(AuthError::LifetimeTooLong);
            }
        }
        if !cfg.audiences.is_empty() {
            if registered.aud == crate::claims::Audience::None {
                return Err(AuthError::MissingClaim("aud".into()));
            }
            if !cfg.audiences.iter().any(|a| registered.aud.contains(a)) {
                return Err(AuthError::WrongAudience);
            }
        }
        for name in &cfg.required_claims {
            if payload.get(name).is_none_or(Value::is_null) {
                return Err(AuthError::MissingClaim(name.clone().into()));
            }
        }
        let scopes = self.scopes(payload, &registered)?;
        self.check_temporal(&scopes, &registered, now)?;
        let custom: C =
            from_tree(payload).map_err(|_| AuthError::InvalidClaim("custom claims".into()))?;
        Ok(Principal {
            registered,
            custom,
            scopes,
        })
    }

    fn scopes(
        &self,
        payload: &Value,
        registered: &RegisteredClaims,
    ) -> Result<ScopeSet, AuthError> {
        use crate::claims::ScpClaim;
        let bad = |name: &str| AuthError::InvalidClaim(name.to_owned().into());
        match &self.config.scope_claim {
            ScopeClaim::Standard => match (&registered.scope, &registered.scp) {
                (Some(s), _) => ScopeSet::parse(s).map_err(|_| bad("scope")),
                (None, Some(ScpClaim::String(s))) => ScopeSet::parse(s).map_err(|_| bad("scp")),
                (None, Some(ScpClaim::Array(a))) => {
                    ScopeSet::from_tokens(a.iter().map(String::as_str)).map_err(|_| bad("scp"))
                }
                (None, None) => Ok(ScopeSet::default()),
            },
            ScopeClaim::Named(name) => match payload.get(name) {
                None | Some(Value::Null) => Ok(ScopeSet::default()),
                Some(Value::String(s)) => ScopeSet::parse(s).map_err(|_| bad(name)),
                Some(Value::Array(a)) => {
                    let tokens: Option<Vec<&str>> = a.iter().map(Value::as_str).collect();
                    ScopeSet::from_tokens(tokens.ok_or_else(|| bad(name))?).map_err(|_| bad(name))
                }
                Some(_) => Err(bad(name)),
            },
        }
    }

    /// Temporal scopes restrict the token that carries them, whatever the route.
    pub(crate) fn check_temporal(
        &self,
        scopes: &ScopeSet,
        registered: &RegisteredClaims,
        now: i64,
    ) -> Result<(), AuthError> {
        for t in scopes.temporal() {
            match t {
                Err(_) => return Err(AuthError::TemporalScope("unknown temporal scope".into())),
                Ok(TemporalScope::WithinSecs(n)) => {
                    let iat = registered
                        .iat
                        .ok_or(AuthError::TemporalScope(
                            "a relative temporal scope needs `iat`".into(),
                        ))?
                        .0;
                    if now.saturating_sub(self.config.leeway) >= iat.saturating_add(n as i64) {
                        return Err(AuthError::TemporalScope(
                            "the temporal scope's window has ended".into(),
                        ));
                    }
                }
                Ok(TemporalScope::BusinessHours) => {
                    let bh =
                        self.config
                            .business_hours
                            .as_ref()
                            .ok_or(AuthError::TemporalScope(
                                "business hours are not configured".into(),
                            ))?;
                    let at = jiff::Timestamp::from_second(now)
                        .map_err(|_| AuthError::TemporalScope("clock out of range".into()))?;
                    if !bh.contains(at) {
                        return Err(AuthError::TemporalScope("outside business hours".into()));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Name the registered claim whose type is wrong, without echoing its value.
fn invalid_registered(e: &serde_json::Error) -> AuthError {
    let msg = e.to_string();
    const NAMES: [&str; 13] = [
        "iss",
        "sub",
        "aud",
        "exp",
        "nbf",
        "iat",
        "jti",
        "client_id",
        "azp",
        "scope",
        "scp",
        "act",
        "cnf",
    ];
    let name = NAMES
        .iter()
        .find(|n| msg.contains(&format!("`{n}`")))
        .copied()
        .unwrap_or("registered claims");
    AuthError::InvalidClaim(name.into())
}
