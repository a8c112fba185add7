//! [`ValidatorBuilder`]: every option, its default, and the checks made at build time.

use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::{
    Clock, Config, IssuerEntry, ScopeClaim, SystemClock, Validator, header::normalize_typ,
};
use crate::error::ConfigError;
use crate::jwk::KeySet;
use crate::keys::{
    self, Fetcher, HttpSettings, IssuerKeys, KeyCacheSettings, RemoteKeys, Snapshot,
};
use crate::scope::BusinessHours;
use crate::{Algorithm, claims::ExtraClaims};

/// Default clock-skew allowance for `exp`, `nbf` and `iat`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
/// The largest leeway the builder accepts.
pub const MAX_LEEWAY: Duration = Duration::from_secs(300);
/// Default cap on the token's length in bytes.
pub const DEFAULT_MAX_TOKEN_SIZE: usize = 16 * 1024;
/// Default accepted `typ` values (RFC 9068 §2.1), compared case-insensitively, with the
/// `application/` prefix optional.
pub const DEFAULT_TYPES: &[&str] = &["at+jwt"];
/// Default maximum number of actors in a token's delegation chain (RFC 8693 `act`).
pub const DEFAULT_MAX_DELEGATION_DEPTH: usize = 4;

enum IssuerSpec {
    Static(KeySet),
    Discovery,
    Jwks(String),
    File(PathBuf),
}

struct Settings {
    issuers: Vec<(String, IssuerSpec)>,
    audiences: Vec<String>,
    resources: Vec<String>,
    skip_audience: bool,
    algorithms: Vec<Algorithm>,
    leeway: Duration,
    max_lifetime: Option<Duration>,
    types: Vec<String>,
    allow_missing_typ: bool,
    required_claims: Vec<String>,
    max_token_size: usize,
    clock: Arc<dyn Clock>,
    scope_claim: ScopeClaim,
    business_hours: Option<BusinessHours>,
    cache: KeyCacheSettings,
    http_client: Option<reqwest::Client>,
    roots: Vec<reqwest::Certificate>,
    allow_http: bool,
    connect_timeout: Duration,
    fetch_timeout: Duration,
    max_jwks_bytes: usize,
    snapshot_file: Option<PathBuf>,
    token_cache: Option<u64>,
    max_delegation_depth: usize,
    delegated_scope_ceiling: Option<Vec<crate::scope::Scope>>,
    revocations: Option<crate::revocation::Revocations>,
    #[cfg(feature = "client")]
    introspection: Option<crate::Introspection>,
    // --- key start-up (issue 11) ---
    background_key_fetch: bool,
}

/// Configures a [`Validator`]. Start with [`Validator::builder`].
///
/// Safe defaults: every asymmetric algorithm (never HS* or `none`), leeway
/// [`DEFAULT_LEEWAY`], `typ` must be `at+jwt`, tokens up to [`DEFAULT_MAX_TOKEN_SIZE`] bytes,
/// `exp` required, no lifetime cap, scopes from `scope` / `scp`, `https` key URLs only (or
/// loopback), key-cache timings from [`crate::keys`]. At least one issuer and one audience
/// are required.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use a2a_guard::{Algorithm, ConfigError, Validator, jwk::KeySet};
/// use std::time::Duration;
///
/// let keys = KeySet::from_json(br#"{"keys":[]}"#)?; // usually: .issuer(url) and discovery
/// let validator = Validator::builder()
///     .issuer_keys("https://auth.example.com", keys)
///     .audience("agent-api")
///     .algorithms([Algorithm::ES256, Algorithm::EdDSA])
///     .leeway(Duration::from_secs(10))
///     .max_token_lifetime(Duration::from_secs(15 * 60))
///     .require_claim("sub")
///     .build()
///     .await?;
/// # let _ = validator;
/// // Mistakes are caught when building, not per request:
/// let no_audience = Validator::builder().issuer("https://auth.example.com").build().await;
/// assert!(matches!(no_audience, Err(ConfigError::NoAudience)));
/// let too_lenient = Validator::builder()
///     .issuer("https://auth.example.com")
///     .audience("agent-api")
///     .leeway(Duration::from_secs(3600))
///     .build()
///     .await;
/// assert!(matches!(too_lenient, Err(ConfigError::InvalidSetting { name: "leeway", .. })));
/// # Ok(()) }
/// ```
#[must_use]
pub struct ValidatorBuilder<C = ExtraClaims> {
    s: Settings,
    _claims: PhantomData<fn() -> C>,
}

impl Default for ValidatorBuilder<ExtraClaims> {
    fn default() -> Self {
        Self::new()
    }
}

impl ValidatorBuilder<ExtraClaims> {
    /// A builder with the defaults above.
    pub fn new() -> Self {
        ValidatorBuilder {
            s: Settings {
                issuers: Vec::new(),
                audiences: Vec::new(),
                resources: Vec::new(),
                skip_audience: false,
                algorithms: Algorithm::ALL.to_vec(),
                leeway: DEFAULT_LEEWAY,
                max_lifetime: None,
                types: DEFAULT_TYPES.iter().map(|t| (*t).to_owned()).collect(),
                allow_missing_typ: false,
                required_claims: Vec::new(),
                max_token_size: DEFAULT_MAX_TOKEN_SIZE,
                clock: Arc::new(SystemClock),
                scope_claim: ScopeClaim::Standard,
                business_hours: None,
                cache: KeyCacheSettings::default(),
                http_client: None,
                roots: Vec::new(),
                allow_http: false,
                connect_timeout: keys::DEFAULT_CONNECT_TIMEOUT,
                fetch_timeout: keys::DEFAULT_FETCH_TIMEOUT,
                max_jwks_bytes: keys::DEFAULT_MAX_JWKS_BYTES,
                snapshot_file: None,
                token_cache: Some(crate::DEFAULT_TOKEN_CACHE_BYTES),
                max_delegation_depth: DEFAULT_MAX_DELEGATION_DEPTH,
                delegated_scope_ceiling: None,
                revocations: None,
                #[cfg(feature = "client")]
                introspection: None,
                background_key_fetch: false,
            },
            _claims: PhantomData,
        }
    }
}

impl<C: DeserializeOwned + Send + Sync + 'static> ValidatorBuilder<C> {
    /// Read the token's claims also into your own type `D` (decoded once, with the rest).
    ///
    /// ```
    /// #[derive(Clone, serde::Deserialize)]
    /// struct MyClaims { tenant: String }
    /// let b = a2a_guard::Validator::builder().claims::<MyClaims>();
    /// ```
    pub fn claims<D: DeserializeOwned + Send + Sync + 'static>(self) -> ValidatorBuilder<D> {
        ValidatorBuilder {
            s: self.s,
            _claims: PhantomData,
        }
    }

    /// Trust `issuer` and find its keys by OpenID Connect discovery
    /// (`{issuer}/.well-known/openid-configuration`), falling back to RFC 8414 metadata. The
    /// document's `issuer` must equal this string byte for byte.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.s.issuers.push((issuer.into(), IssuerSpec::Discovery));
        self
    }

    /// Trust `issuer` with keys from this JWKS URL.
    pub fn issuer_jwks(mut self, issuer: impl Into<String>, jwks_url: impl Into<String>) -> Self {
        self.s
            .issuers
            .push((issuer.into(), IssuerSpec::Jwks(jwks_url.into())));
        self
    }

    /// Trust `issuer` with keys from a JWK Set file, re-read at the refresh interval.
    pub fn issuer_file(mut self, issuer: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        self.s
            .issuers
            .push((issuer.into(), IssuerSpec::File(path.into())));
        self
    }

    /// Trust `issuer` with a fixed key set.
    pub fn issuer_keys(mut self, issuer: impl Into<String>, keys: KeySet) -> Self {
        self.s
            .issuers
            .push((issuer.into(), IssuerSpec::Static(keys)));
        self
    }

    /// Accept tokens whose `aud` names this audience. Call again to accept several.
    pub fn audience(mut self, aud: impl Into<String>) -> Self {
        self.s.audiences.push(aud.into());
        self
    }

    /// This resource server's canonical resource URI (RFC 8707 §2, RFC 9728 §1.2), e.g.
    /// `https://api.example.com/mcp`. Call again for several. Each is accepted as `aud`
    /// (so no [`audience`](Self::audience) is needed), is the `resource` of the
    /// [Protected Resource Metadata](crate::metadata), and makes every 401/403 challenge carry
    /// `resource_metadata` (RFC 9728 §5.1).
    ///
    /// A token's `aud` matches after normalising **only** the scheme's and host's case and a
    /// default port (RFC 3986 §6.2.2.1, §6.2.3): `HTTPS://API.Example:443/mcp` is
    /// `https://api.example/mcp`. Path case, percent-encoding, dot segments, a trailing
    /// slash, an empty path versus `/`, query and userinfo are never widened. A URI that is
    /// not absolute `http`/`https` with a host, or has userinfo, a fragment or a query, makes
    /// [`build`](Self::build) fail with [`ConfigError::InvalidUrl`].
    ///
    /// ```
    /// # async fn demo() -> Result<(), a2a_guard::ConfigError> {
    /// let v = a2a_guard::Validator::builder()
    ///     .issuer("https://auth.example.com")
    ///     .resource("https://api.example.com/mcp")
    ///     .build()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn resource(mut self, uri: impl Into<String>) -> Self {
        self.s.resources.push(uri.into());
        self
    }

    /// Do not check `aud`. Only for resource servers that truly serve every audience of the
    /// issuer; RFC 9068 §4 requires the check.
    pub fn dangerous_skip_audience_check(mut self) -> Self {
        self.s.skip_audience = true;
        self
    }

    /// The algorithm allow-list (default: all of [`Algorithm::ALL`]). Mixed families are fine.
    pub fn algorithms(mut self, algs: impl IntoIterator<Item = Algorithm>) -> Self {
        self.s.algorithms = algs.into_iter().collect();
        self.s.algorithms.sort();
        self.s.algorithms.dedup();
        self
    }

    /// Clock-skew allowance for `exp`, `nbf`, `iat` and relative temporal scopes
    /// (default [`DEFAULT_LEEWAY`], at most [`MAX_LEEWAY`]).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.s.leeway = leeway;
        self
    }

    /// Reject tokens whose `exp - iat` exceeds this (and tokens without `iat`). Default: no cap.
    pub fn max_token_lifetime(mut self, max: Duration) -> Self {
        self.s.max_lifetime = Some(max);
        self
    }

    /// Also accept this `typ` (e.g. `"JWT"` for issuers that do not follow RFC 9068).
    pub fn accept_typ(mut self, typ: &str) -> Self {
        let t = normalize_typ(typ);
        if !self.s.types.contains(&t) {
            self.s.types.push(t);
        }
        self
    }

    /// Replace the accepted `typ` values.
    pub fn accepted_types<'a>(mut self, types: impl IntoIterator<Item = &'a str>) -> Self {
        self.s.types = types.into_iter().map(normalize_typ).collect();
        self
    }

    /// Accept tokens without a `typ` header (off by default: RFC 8725 §3.11 explicit typing
    /// keeps ID tokens and other JWTs from passing as access tokens).
    pub fn allow_missing_typ(mut self) -> Self {
        self.s.allow_missing_typ = true;
        self
    }

    /// Require a claim to be present and not null (e.g. `"sub"`, `"jti"`, `"client_id"`).
    pub fn require_claim(mut self, name: impl Into<String>) -> Self {
        self.s.required_claims.push(name.into());
        self
    }

    /// Cap the token length in bytes (default [`DEFAULT_MAX_TOKEN_SIZE`]).
    pub fn max_token_size(mut self, bytes: usize) -> Self {
        self.s.max_token_size = bytes;
        self
    }

    /// The clock for time-based checks and the last-known-good window (default: system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.s.clock = Arc::new(clock);
        self
    }

    /// Read scopes from this claim (string or array) instead of `scope` / `scp`.
    pub fn scope_claim(mut self, name: impl Into<String>) -> Self {
        self.s.scope_claim = ScopeClaim::Named(name.into());
        self
    }

    /// The window for `temporal:business-hours` scopes. Without it such tokens are rejected.
    pub fn business_hours(mut self, hours: BusinessHours) -> Self {
        self.s.business_hours = Some(hours);
        self
    }

    /// How long keys stay usable after the issuer last confirmed them, while fetches fail
    /// (default [`keys::DEFAULT_LAST_KNOWN_GOOD`], capped at [`keys::MAX_KEY_CACHE_DURATION`]).
    pub fn last_known_good(mut self, window: Duration) -> Self {
        self.s.cache.last_known_good = window;
        self
    }

    /// Persist fetched keys to this file (atomically) and read it at start-up when an issuer
    /// is unreachable. Off by default.
    ///
    /// The file is written with mode 0600 through a fresh temporary file in the same
    /// directory; at start-up it is ignored when it is a symlink, not a regular file, not
    /// owned by the process's effective user, writable by group or others, or dated more
    /// than the [`leeway`](Self::leeway) in the future. Keep it in a directory only this
    /// user can write.
    pub fn snapshot_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.s.snapshot_file = Some(path.into());
        self
    }

    /// Refresh interval without a freshness header, and the bounds any `Cache-Control:
    /// max-age` is clamped to (defaults [`keys::DEFAULT_REFRESH`],
    /// [`keys::DEFAULT_REFRESH_MIN`], [`keys::DEFAULT_REFRESH_MAX`]; each capped at
    /// [`keys::MAX_KEY_CACHE_DURATION`]). Every scheduled refresh of a discovery issuer
    /// re-reads its discovery document first, so the issuer may move its `jwks_uri`.
    pub fn refresh_interval(mut self, default: Duration, min: Duration, max: Duration) -> Self {
        self.s.cache.refresh_default = default;
        self.s.cache.refresh_min = min;
        self.s.cache.refresh_max = max;
        self
    }

    /// At most one kid-miss fetch per window (default [`keys::DEFAULT_KID_MISS_COOLDOWN`],
    /// capped at [`keys::MAX_KEY_CACHE_DURATION`]). The fetch runs on its own task: requests
    /// that give up while it runs do not cancel it, and its end starts the window (after a
    /// failure, only the current backoff delay).
    pub fn kid_miss_cooldown(mut self, window: Duration) -> Self {
        self.s.cache.kid_miss_cooldown = window;
        self
    }

    /// Retry delays after failed fetches: first delay, doubling up to `max` (defaults
    /// [`keys::DEFAULT_BACKOFF_BASE`], [`keys::DEFAULT_BACKOFF_MAX`]; each capped at
    /// [`keys::MAX_KEY_CACHE_DURATION`]).
    pub fn fetch_backoff(mut self, base: Duration, max: Duration) -> Self {
        self.s.cache.backoff_base = base;
        self.s.cache.backoff_max = max;
        self
    }

    /// Connect and total timeouts of key fetches (defaults
    /// [`keys::DEFAULT_CONNECT_TIMEOUT`], [`keys::DEFAULT_FETCH_TIMEOUT`]). Discovery's two
    /// attempts (OIDC, then the RFC 8414 fallback) share one `total`, so one whole fetch of
    /// a discovery issuer takes at most two times `total` (discovery, then the JWKS GET),
    /// and one of a JWKS URL one `total`. With your own client its own timeouts apply per
    /// request, but discovery is still bounded by `total` and the whole fetch by two times
    /// `total`.
    pub fn fetch_timeouts(mut self, connect: Duration, total: Duration) -> Self {
        self.s.connect_timeout = connect;
        self.s.fetch_timeout = total;
        self
    }

    /// Cap on JWKS and discovery bodies (default [`keys::DEFAULT_MAX_JWKS_BYTES`]).
    pub fn max_jwks_size(mut self, bytes: usize) -> Self {
        self.s.max_jwks_bytes = bytes;
        self
    }

    /// Trust this root certificate too (a private CA), in addition to the platform's roots.
    pub fn root_certificate(mut self, cert: reqwest::Certificate) -> Self {
        self.s.roots.push(cert);
        self
    }

    /// Bound the verified-token cache by memory: at most `max_bytes` of estimated heap
    /// (default [`DEFAULT_TOKEN_CACHE_BYTES`](crate::DEFAULT_TOKEN_CACHE_BYTES), 64 MiB).
    /// Each entry is weighed by its signed part and the claims read from it, so the bound
    /// holds however large the tokens are. A token seen again skips parsing and the signature
    /// check; its time-based checks still run and its key must still be held. Entries never
    /// outlive the token's `exp`. Replaces the entry-count `token_cache(n)`: for `n` tokens of
    /// about 1 KB, pass `n * 4096`.
    ///
    /// ```
    /// let b = a2a_guard::Validator::builder().token_cache_bytes(16 * 1024 * 1024);
    /// ```
    pub fn token_cache_bytes(mut self, max_bytes: u64) -> Self {
        self.s.token_cache = Some(max_bytes);
        self
    }

    /// Verify every token from scratch (no verified-token cache).
    pub fn no_token_cache(mut self) -> Self {
        self.s.token_cache = None;
        self
    }

    /// Reject tokens whose RFC 8693 delegation chain (`act`, nested) has more actors than
    /// this (default [`DEFAULT_MAX_DELEGATION_DEPTH`]).
    pub fn max_delegation_depth(mut self, depth: usize) -> Self {
        self.s.max_delegation_depth = depth;
        self
    }

    /// Delegated tokens (with `act`) may only carry scopes covered by these (prefix and `*`
    /// rules), so a token-exchange token is always narrower than the ceiling.
    ///
    /// ```
    /// let b = a2a_guard::Validator::builder().delegated_scope_ceiling(["read:*", "delegate:analysis"]);
    /// ```
    pub fn delegated_scope_ceiling<'a>(
        mut self,
        ceiling: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        self.s.delegated_scope_ceiling =
            Some(ceiling.into_iter().map(crate::scope::Scope::new).collect());
        self
    }

    /// Consult this deny-list on every validation, verified-token cache hits included: a
    /// revoked token is refused ([`AuthError::Revoked`](crate::AuthError::Revoked), 401
    /// `invalid_token`) on the next request. See [`revocation`](crate::revocation).
    ///
    /// ```
    /// use a2a_guard::revocation::Revocations;
    /// let revocations = Revocations::new();
    /// let b = a2a_guard::Validator::builder().revocations(revocations.clone());
    /// ```
    pub fn revocations(mut self, revocations: crate::revocation::Revocations) -> Self {
        self.s.revocations = Some(revocations);
        self
    }

    /// Introspect opaque tokens (and, if asked, re-check JWTs) at an authorization server's
    /// RFC 7662 endpoint (feature `client`). See [`Introspection`](crate::Introspection).
    #[cfg(feature = "client")]
    pub fn introspection(mut self, introspection: crate::Introspection) -> Self {
        self.s.introspection = Some(introspection);
        self
    }

    /// Use your own HTTP client (proxies, mTLS, custom roots). Set its timeouts yourself.
    ///
    /// Its redirect policy is its own, so the final URL of every response is checked against
    /// the built-in rules (`https`, or `http` with [`allow_http`](Self::allow_http); loopback
    /// only for a loopback issuer) and refused otherwise. The hops before it were already
    /// requested: give it `reqwest::redirect::Policy::none()` or a policy of your own to
    /// keep it from following them at all.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.s.http_client = Some(client);
        self
    }

    /// Allow `http` key URLs for non-loopback hosts. Off by default: keys fetched over plain
    /// HTTP can be replaced in transit.
    ///
    /// Loopback hosts (`127.0.0.0/8`, `[::1]`, `localhost`) are a separate rule: they may be
    /// fetched, over `http` too, only when the configured issuer (for discovery) or JWKS URL
    /// is itself loopback. A public issuer's discovery document or redirects never send
    /// the key cache to a local service.
    pub fn allow_http(mut self) -> Self {
        self.s.allow_http = true;
        self
    }

    // --- key start-up (issue 11) ---

    /// Return from [`build`](Self::build) at once and load every remote issuer's keys in
    /// the background (Envoy's `async_fetch` with `fast_listener`). Off by default:
    /// `build()` then waits for the first fetch, at most two times the total fetch timeout
    /// (see [`fetch_timeouts`](Self::fetch_timeouts)).
    ///
    /// Until an issuer's keys arrive, its tokens get [`AuthError::KeysUnavailable`]
    /// (503 with `Retry-After`) without waiting and without starting a fetch of their own,
    /// and [`Validator::is_ready`] is false; [`KeyHealth::starting`] is true while the
    /// start-up fetch runs. If it fails, the snapshot file (if any) is read, and retries
    /// follow the backoff as usual. Gate traffic on `is_ready()` (a readiness probe) so a
    /// fresh instance gets no requests before its keys.
    ///
    /// [`AuthError::KeysUnavailable`]: crate::AuthError::KeysUnavailable
    /// [`KeyHealth::starting`]: crate::keys::KeyHealth::starting
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use a2a_guard::Validator;
    /// use a2a_guard::testing::{Behavior, TestIssuer};
    ///
    /// let issuer = TestIssuer::start().await?;
    /// issuer.set_behavior(Behavior::Hang); // an issuer that never answers
    /// let validator = Validator::builder()
    ///     .issuer(issuer.issuer())
    ///     .audience(issuer.audience())
    ///     .background_key_fetch()
    ///     .build()
    ///     .await?; // returns at once
    /// assert!(!validator.is_ready());
    /// let err = validator.validate(&issuer.token().sign()).await.unwrap_err();
    /// assert_eq!(err.status(), 503);
    /// # Ok(()) }
    /// ```
    pub fn background_key_fetch(mut self) -> Self {
        self.s.background_key_fetch = true;
        self
    }

    fn check(s: &Settings) -> Result<(), ConfigError> {
        let invalid = |name, reason| Err(ConfigError::InvalidSetting { name, reason });
        if s.issuers.is_empty() {
            return Err(ConfigError::NoIssuer);
        }
        if s.audiences.is_empty() && s.resources.is_empty() && !s.skip_audience {
            return Err(ConfigError::NoAudience);
        }
        if s.skip_audience && !s.resources.is_empty() {
            // A resource URI is an audience (RFC 8707 §2): skipping the check would accept
            // tokens for any resource while the metadata claims this one.
            return invalid(
                "dangerous_skip_audience_check",
                "contradicts resource(): a resource is checked as the audience",
            );
        }
        if s.algorithms.is_empty() {
            return Err(ConfigError::NoAlgorithms);
        }
        if s.leeway > MAX_LEEWAY {
            return invalid("leeway", "at most 5 minutes");
        }
        if s.max_token_size == 0 {
            return invalid("max_token_size", "must be positive");
        }
        if s.types.is_empty() && !s.allow_missing_typ {
            return invalid("accepted_types", "no token could pass");
        }
        let c = &s.cache;
        if c.refresh_min.is_zero() || c.refresh_min > c.refresh_max {
            return invalid("refresh_interval", "need 0 < min <= max");
        }
        if c.backoff_base.is_zero() || c.backoff_base > c.backoff_max {
            return invalid("fetch_backoff", "need 0 < base <= max");
        }
        for (i, (issuer, spec)) in s.issuers.iter().enumerate() {
            if s.issuers[..i].iter().any(|(other, _)| other == issuer) {
                return Err(ConfigError::DuplicateIssuer(issuer.clone()));
            }
            let url = match spec {
                IssuerSpec::Discovery => Some(issuer),
                IssuerSpec::Jwks(u) => Some(u),
                _ => None,
            };
            if let Some(url) = url {
                keys::check_url(url, s.allow_http, keys::is_loopback_url(url)).map_err(
                    |reason| ConfigError::InvalidUrl {
                        url: url.clone(),
                        reason,
                    },
                )?;
            }
        }
        Ok(())
    }

    /// Check the configuration, pre-warm every issuer's keys (concurrently), and start the
    /// background refresh. An unreachable issuer does not fail the build: its tokens get 503
    /// until keys arrive (see [`Validator::health`]). Must run inside a tokio runtime.
    ///
    /// Worst case against a hanging issuer: one total fetch timeout for a JWKS URL; for
    /// discovery one for both discovery attempts together plus one for the JWKS GET, so two
    /// (10 s with the defaults), plus reading the snapshot file. The first requests after
    /// a failed start are answered at once (503) until the first retry. With
    /// [`background_key_fetch`](Self::background_key_fetch) it returns at once.
    ///
    /// ```
    /// # #[cfg(feature = "testing")]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use a2a_guard::{Validator, testing::TestIssuer};
    /// let issuer = TestIssuer::start().await?;
    /// let validator = Validator::builder()
    ///     .issuer_jwks(issuer.issuer(), issuer.jwks_url())
    ///     .audience(issuer.audience())
    ///     .build()
    ///     .await?;
    /// assert!(validator.is_ready()); // keys were fetched during build
    /// # Ok(()) }
    /// # #[cfg(not(feature = "testing"))]
    /// # fn main() {}
    /// ```
    pub async fn build(self) -> Result<Validator<C>, ConfigError> {
        let mut s = self.s;
        s.cache.snapshot_leeway = s.leeway;
        s.cache.fetch_deadline = s.fetch_timeout.saturating_mul(keys::FETCH_DEADLINE_FACTOR);
        s.cache = s.cache.capped();
        Self::check(&s)?;
        let resources = s
            .resources
            .iter()
            .map(|r| crate::metadata::ResourceUri::parse(r))
            .collect::<Result<Vec<_>, _>>()?;
        let client = match s.http_client {
            Some(c) => c,
            None => keys::build_client(s.connect_timeout, s.fetch_timeout, s.roots, s.allow_http)?,
        };
        let http = HttpSettings {
            client,
            allow_http: s.allow_http,
            allow_loopback: false,
            max_body: s.max_jwks_bytes,
            discovery_deadline: s.fetch_timeout.min(keys::MAX_KEY_CACHE_DURATION),
        };
        let snapshot = s.snapshot_file.map(|p| Arc::new(Snapshot::new(p)));
        let mut tasks = tokio::task::JoinSet::new();
        let mut issuers: Vec<Option<IssuerEntry>> = Vec::with_capacity(s.issuers.len());
        for (i, (issuer, spec)) in s.issuers.into_iter().enumerate() {
            let fetcher = match spec {
                IssuerSpec::Static(keys) => {
                    issuers.push(Some(IssuerEntry {
                        issuer,
                        keys: IssuerKeys::Static(Arc::new(keys)),
                    }));
                    continue;
                }
                IssuerSpec::Discovery => Fetcher::Discovery {
                    issuer: issuer.clone(),
                    jwks_uri: std::sync::Mutex::new(None),
                },
                IssuerSpec::Jwks(url) => Fetcher::Jwks { url },
                IssuerSpec::File(path) => Fetcher::File { path },
            };
            issuers.push(None);
            // Loopback keys only for a loopback issuer (discovery) or JWKS URL.
            let allow_loopback = match &fetcher {
                Fetcher::Jwks { url } => keys::is_loopback_url(url),
                Fetcher::Discovery { issuer, .. } => keys::is_loopback_url(issuer),
                Fetcher::File { .. } => false,
            };
            let (http, cache, clock, snapshot) = (
                HttpSettings {
                    allow_loopback,
                    ..http.clone()
                },
                s.cache.clone(),
                s.clock.clone(),
                snapshot.clone(),
            );
            if s.background_key_fetch {
                let keys = RemoteKeys::start_in_background(
                    issuer.clone(),
                    fetcher,
                    http,
                    cache,
                    clock,
                    snapshot,
                );
                issuers[i] = Some(IssuerEntry {
                    issuer,
                    keys: IssuerKeys::Remote(keys),
                });
                continue;
            }
            tasks.spawn(async move {
                let keys =
                    RemoteKeys::start(issuer.clone(), fetcher, http, cache, clock, snapshot).await;
                (
                    i,
                    IssuerEntry {
                        issuer,
                        keys: IssuerKeys::Remote(keys),
                    },
                )
            });
        }
        while let Some(done) = tasks.join_next().await {
            let (i, entry) = done
                .map_err(|e| ConfigError::HttpClient(format!("key pre-warm task failed: {e}")))?;
            issuers[i] = Some(entry);
        }
        Ok(Validator::from_config(
            Config {
                issuers: issuers.into_iter().flatten().collect(),
                audiences: if s.skip_audience {
                    Vec::new()
                } else {
                    s.audiences
                },
                resources: crate::metadata::Resources::new(resources),
                algorithms: s.algorithms,
                leeway: s.leeway.as_secs() as i64,
                max_lifetime: s
                    .max_lifetime
                    .map(|d| d.as_secs().min(i64::MAX as u64) as i64),
                types: s.types,
                allow_missing_typ: s.allow_missing_typ,
                required_claims: s.required_claims,
                max_token_size: s.max_token_size,
                clock: s.clock,
                scope_claim: s.scope_claim,
                business_hours: s.business_hours,
                max_delegation_depth: s.max_delegation_depth,
                delegated_scope_ceiling: s.delegated_scope_ceiling,
                revocations: s.revocations,
                #[cfg(feature = "client")]
                introspection: match s.introspection {
                    Some(i) => Some(Arc::new(i.into_client().await?)),
                    None => None,
                },
            },
            s.token_cache.filter(|c| *c > 0),
        ))
    }
}
