//! [`TokenSource`]: the client-credentials grant (RFC 6749 §4.4) with a cache that renews
//! ahead of expiry, coalesces concurrent requests, keeps a valid token through a failing
//! authorization server, and revokes its tokens on request (RFC 7009).

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use secrecy::SecretString;
use serde::Deserialize;

use super::ClientError;
use super::credentials::{Secret, expose};
use super::endpoint::{ClientAuth, Endpoint, Issued, REQUEST_TIMEOUT};
use super::key::ClientKey;
use super::revocation::{RevocationReport, Revoker, Trigger};
use crate::{Clock, ConfigError};

/// How much of a token's lifetime passes before a caller triggers a background renewal.
pub const DEFAULT_REFRESH_FRACTION: f64 = 0.75;
/// A token is not handed out within this margin of its `exp` (capped at a tenth of its
/// lifetime, so renewal ahead always comes first), so it does not expire on the way.
pub const DEFAULT_EXPIRY_SKEW: Duration = Duration::from_secs(10);
/// The lifetime assumed when the token response has no `expires_in` (RFC 6749 §5.1 makes it
/// optional): short, so a token of unknown life is not kept long.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(60);
/// A token younger than this is not dropped on a 401 (see [`TokenSource::invalidate`]).
pub const MIN_AGE_TO_INVALIDATE: Duration = Duration::from_secs(10);
/// The grant named in audit events.
const GRANT: &str = "client_credentials";
/// The longest lifetime believed (a year): keeps arithmetic bounded.
pub(crate) const MAX_LIFETIME: u64 = 365 * 24 * 3600;
const BACKOFF_START: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// An access token. `Debug` never shows it.
///
/// ```
/// # async fn demo(tokens: a2a_guard::client::TokenSource) -> Result<(), a2a_guard::client::ClientError> {
/// let t = tokens.token().await?;
/// let header = format!("Bearer {}", t.secret());
/// assert!(!format!("{t:?}").contains(t.secret()));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct AccessToken(Arc<Cached>);

struct Cached {
    value: SecretString,
    /// Milliseconds since the epoch on the source's clock.
    issued_ms: u64,
    refresh_ms: u64,
    usable_until_ms: u64,
    expires_ms: u64,
    jti: Option<String>,
    /// Bound to the source's DPoP key (`token_type` `DPoP`).
    dpop: bool,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("expires_in_ms", &(self.0.expires_ms - self.0.issued_ms))
            .finish_non_exhaustive()
    }
}

impl AccessToken {
    /// A token just issued at `now_ms` (on the source's clock).
    pub(crate) fn new(issued: Issued, now_ms: u64, skew: Duration, fraction: f64) -> Self {
        let life_ms = issued.lifetime.as_millis() as u64;
        Self::with_times(
            issued.value,
            issued.dpop,
            now_ms,
            now_ms + life_ms,
            skew,
            fraction,
        )
    }

    /// A token issued at `issued_ms` that expires at `expires_ms` (`issued_ms < expires_ms`).
    pub(crate) fn with_times(
        value: SecretString,
        dpop: bool,
        issued_ms: u64,
        expires_ms: u64,
        skew: Duration,
        fraction: f64,
    ) -> Self {
        let life_ms = expires_ms.saturating_sub(issued_ms);
        let skew_ms = (skew.as_millis() as u64).min(life_ms / 10);
        // Up to 10 % of the lifetime earlier, so a fleet does not renew in step.
        let jitter = random_u64() % (life_ms / 10 + 1);
        let refresh = ((life_ms as f64) * fraction) as u64;
        let jti = jwt_jti(expose(&value));
        AccessToken(Arc::new(Cached {
            value,
            issued_ms,
            refresh_ms: issued_ms + refresh.saturating_sub(jitter),
            usable_until_ms: expires_ms - skew_ms,
            expires_ms,
            jti,
            dpop,
        }))
    }

    /// The end of its use (`exp` minus the skew).
    pub(crate) fn usable_until(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.0.usable_until_ms)
    }

    /// The `jti` when the token is a JWT, for logs and for correlating with the
    /// authorization server's records (RFC 7009 revocation, audit). Read without verifying
    /// the token: never base a decision on it. `None` for an opaque token.
    ///
    /// ```
    /// # async fn demo(tokens: a2a_guard::client::TokenSource) -> Result<(), a2a_guard::client::ClientError> {
    /// let t = tokens.token().await?;
    /// tracing::info!(jti = t.jti().unwrap_or("opaque"), "calling the analysis agent");
    /// # Ok(()) }
    /// ```
    pub fn jti(&self) -> Option<&str> {
        self.0.jti.as_deref()
    }

    /// Whether both are the same token (the same issuance).
    pub(crate) fn same_as(&self, other: &AccessToken) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// The token itself, for an `Authorization` header.
    pub fn secret(&self) -> &str {
        expose(&self.0.value)
    }

    /// Whether the token is bound to the source's DPoP key (RFC 9449): it is then sent as
    /// `Authorization: DPoP …` with a proof, never as a Bearer token.
    pub fn is_dpop_bound(&self) -> bool {
        self.0.dpop
    }

    /// When it expires.
    pub fn expires_at(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.0.expires_ms)
    }
}

/// Configures a [`TokenSource`] for the client-credentials grant.
///
/// ```
/// use a2a_guard::client::{ClientCredentials, Secret};
/// let tokens = ClientCredentials::new("https://auth.example.com/token", "orchestrator")
///     .secret(Secret::env("ORCHESTRATOR_SECRET"))
///     .scope(["delegate:analysis", "read:data"])
///     .resource("https://analysis.example.com/")
///     .build()
///     .unwrap();
/// // Plain http only to loopback:
/// assert!(ClientCredentials::new("http://auth.example.com/token", "a").secret(Secret::new("s")).build().is_err());
/// ```
#[must_use]
pub struct ClientCredentials {
    endpoint: String,
    revocation: Option<String>,
    client_id: String,
    secret: Option<Secret>,
    post: bool,
    key: Option<ClientKey>,
    issuer: Option<String>,
    scopes: Vec<String>,
    resources: Vec<String>,
    audience: Option<String>,
    skew: Duration,
    refresh_fraction: f64,
    clock: Option<Arc<dyn Clock>>,
    http: Option<reqwest::Client>,
    #[cfg(feature = "redis")]
    shared: Option<super::RedisTokenCache>,
    dpop: Option<ClientKey>,
    tls: Option<super::TlsIdentity>,
    roots: Vec<reqwest::Certificate>,
    mtls_endpoint: Option<String>,
}

impl ClientCredentials {
    /// The token endpoint and this agent's client ID.
    pub fn new(token_endpoint: impl Into<String>, client_id: impl Into<String>) -> Self {
        ClientCredentials {
            endpoint: token_endpoint.into(),
            revocation: None,
            client_id: client_id.into(),
            secret: None,
            post: false,
            key: None,
            issuer: None,
            scopes: Vec::new(),
            resources: Vec::new(),
            audience: None,
            skew: DEFAULT_EXPIRY_SKEW,
            refresh_fraction: DEFAULT_REFRESH_FRACTION,
            clock: None,
            http: None,
            #[cfg(feature = "redis")]
            shared: None,
            dpop: None,
            tls: None,
            roots: Vec::new(),
            mtls_endpoint: None,
        }
    }

    /// The client secret, sent with HTTP Basic (`client_secret_basic`, the default).
    pub fn secret(mut self, secret: Secret) -> Self {
        self.secret = Some(secret);
        self
    }

    /// Send the secret as form parameters instead (`client_secret_post`).
    pub fn secret_post(mut self) -> Self {
        self.post = true;
        self
    }

    /// Authenticate with a signed assertion instead of a secret (`private_key_jwt`, RFC 7523
    /// §2.2): no shared secret crosses the wire, and each request carries a fresh assertion
    /// (new `jti`, [`ASSERTION_LIFETIME`](super::ASSERTION_LIFETIME)). Needs
    /// [`issuer`](Self::issuer): the assertion's `aud` is the authorization server's issuer
    /// identifier, as draft-ietf-oauth-rfc7523bis requires (an audience the server cannot
    /// confuse with another endpoint's).
    ///
    /// ```
    /// use a2a_guard::client::{ClientCredentials, ClientKey};
    /// let tokens = ClientCredentials::new("https://auth.example.com/token", "orchestrator")
    ///     .private_key_jwt(ClientKey::pem_file("/run/secrets/orchestrator.pem"))
    ///     .issuer("https://auth.example.com")
    ///     .build()
    ///     .unwrap();
    /// // Without the issuer there is no audience for the assertion:
    /// assert!(ClientCredentials::new("https://auth.example.com/token", "orchestrator")
    ///     .private_key_jwt(ClientKey::pem_file("/run/secrets/orchestrator.pem"))
    ///     .build()
    ///     .is_err());
    /// ```
    pub fn private_key_jwt(mut self, key: ClientKey) -> Self {
        self.key = Some(key);
        self
    }

    /// The authorization server's issuer identifier (RFC 8414 `issuer`): the `aud` of
    /// `private_key_jwt` assertions.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// The scopes to request (RFC 6749 §3.3).
    pub fn scope<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// A resource the token is for (RFC 8707 §2); may be called several times.
    pub fn resource(mut self, uri: impl Into<String>) -> Self {
        self.resources.push(uri.into());
        self
    }

    /// The `audience` parameter some authorization servers take instead of `resource`.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// The authorization server's RFC 7009 revocation endpoint (its metadata's
    /// `revocation_endpoint`), checked like the token endpoint: https, or plain http to a
    /// loopback host only; no userinfo. Revocation requests authenticate exactly as token
    /// requests do. Without one, [`TokenSource::revoke`] and the other revoking calls fail
    /// with [`ClientError::NoRevocationEndpoint`] (never silently: a token believed revoked
    /// would stay valid). A [`TokenExchange`](super::TokenExchange) built on this source
    /// revokes its exchanged tokens here too.
    ///
    /// ```
    /// use a2a_guard::client::{ClientCredentials, Secret};
    /// let tokens = ClientCredentials::new("https://auth.example.com/token", "orchestrator")
    ///     .revocation_endpoint("https://auth.example.com/revoke")
    ///     .secret(Secret::env("ORCHESTRATOR_SECRET"))
    ///     .build()
    ///     .unwrap();
    /// # let _ = tokens;
    /// assert!(ClientCredentials::new("https://auth.example.com/token", "a")
    ///     .revocation_endpoint("http://auth.example.com/revoke") // plain http, not loopback
    ///     .secret(Secret::new("s"))
    ///     .build()
    ///     .is_err());
    /// ```
    pub fn revocation_endpoint(mut self, url: impl Into<String>) -> Self {
        self.revocation = Some(url.into());
        self
    }

    /// The margin before `exp` within which a token is no longer handed out (default
    /// [`DEFAULT_EXPIRY_SKEW`]; never more than a tenth of a token's lifetime).
    pub fn expiry_skew(mut self, skew: Duration) -> Self {
        self.skew = skew;
        self
    }

    /// The clock the cache reads (default: the system clock). For tests.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Authenticate with this agent's TLS client certificate (`tls_client_auth` or
    /// `self_signed_tls_client_auth`, RFC 8705 §2) instead of a secret or key. The form
    /// carries `client_id` only; the certificate files are re-read when they change. When
    /// the builder came from [`AuthorizationServer::client_credentials`](super::AuthorizationServer::client_credentials)
    /// and the server publishes `mtls_endpoint_aliases`, token requests go to the alias.
    /// Not combinable with [`http_client`](Self::http_client) (the client presenting the
    /// certificate is built here); use [`root_certificate`](Self::root_certificate) for a
    /// private CA.
    ///
    /// ```
    /// use a2a_guard::client::{ClientCredentials, TlsIdentity};
    /// let tokens = ClientCredentials::new("https://mtls.auth.example.com/token", "orchestrator")
    ///     .tls_client_auth(TlsIdentity::pem_files("/run/secrets/agent.crt", "/run/secrets/agent.key"))
    ///     .build()
    ///     .unwrap();
    /// ```
    pub fn tls_client_auth(mut self, identity: super::TlsIdentity) -> Self {
        self.tls = Some(identity);
        self
    }

    /// Trust this CA certificate for the token endpoint, besides the system's (a private
    /// authorization server). May be called several times.
    pub fn root_certificate(mut self, cert: reqwest::Certificate) -> Self {
        self.roots.push(cert);
        self
    }

    /// The `mtls_endpoint_aliases.token_endpoint` of discovery, used with TLS client auth.
    pub(crate) fn mtls_endpoint(mut self, url: Option<String>) -> Self {
        self.mtls_endpoint = url;
        self
    }

    /// Ask for DPoP-bound tokens (RFC 9449): each token request carries a proof signed with
    /// `key`, the token comes back bound to it (`token_type` `DPoP`; a Bearer answer is
    /// refused), and [`AccessTokenLayer`](super::AccessTokenLayer) /
    /// `AccessTokenMiddleware` send it as `Authorization: DPoP …` with a fresh proof (`ath`,
    /// `htu` of the request, the origin's nonce) — a stolen token is useless without the
    /// key. Server nonces are remembered per origin; a token endpoint's `use_dpop_nonce` is
    /// retried once.
    ///
    /// ```
    /// use a2a_guard::{Algorithm, client::{ClientCredentials, ClientKey, Secret}};
    /// let tokens = ClientCredentials::new("https://auth.example.com/token", "orchestrator")
    ///     .secret(Secret::env("ORCHESTRATOR_SECRET"))
    ///     .dpop(ClientKey::generate(Algorithm::ES256)?)
    ///     .build()?;
    /// # let _ = tokens; Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dpop(mut self, key: ClientKey) -> Self {
        self.dpop = Some(key);
        self
    }

    /// Share tokens with the other instances of a fleet through Redis (feature `redis`): a
    /// cold fleet makes one token request, not one per instance; Redis down, each instance
    /// goes on alone. See [`RedisTokenCache`](super::RedisTokenCache).
    #[cfg(feature = "redis")]
    pub fn shared_cache(mut self, cache: super::RedisTokenCache) -> Self {
        self.shared = Some(cache);
        self
    }

    /// Your own HTTP client (private CA, proxy). Its redirects are not followed for token
    /// requests only if you configured it so; the built-in client follows none.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Check the configuration. https only, plain http to loopback (token and revocation
    /// endpoints); no userinfo; a secret or a private key (with the issuer) is required; scopes must be RFC 6749 §3.3 tokens.
    pub fn build(mut self) -> Result<TokenSource, ConfigError> {
        // RFC 8705 §5: a client authenticating with its certificate uses the mTLS alias.
        if self.tls.is_some()
            && let Some(alias) = self.mtls_endpoint.take()
        {
            self.endpoint = alias;
        }
        let url = endpoint_url(&self.endpoint)?;
        let revocation_url = self.revocation.as_deref().map(endpoint_url).transpose()?;
        if self.tls.is_some() && self.http.is_some() {
            return Err(ConfigError::InvalidSetting {
                name: "http_client",
                reason: "TLS client authentication builds its own HTTP client \
                         (use root_certificate for a private CA)",
            });
        }
        let auth = match (self.secret, self.key, self.tls) {
            (None, None, Some(identity)) => ClientAuth::Tls(std::sync::Arc::new(
                super::tls::TlsClient::new(identity, self.roots.clone()),
            )),
            (None, None, None) => {
                return Err(ConfigError::InvalidSetting {
                    name: "secret",
                    reason: "client credentials need a client secret, a private key or a \
                             TLS client certificate",
                });
            }
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => {
                return Err(ConfigError::InvalidSetting {
                    name: "secret",
                    reason: "give one of a client secret, a private key, a TLS client \
                             certificate",
                });
            }
            (Some(secret), None, None) if self.post => ClientAuth::Post(secret),
            (Some(secret), None, None) => ClientAuth::Basic(secret),
            (None, Some(key), None) => ClientAuth::PrivateKeyJwt {
                key,
                audience: self.issuer.filter(|i| !i.is_empty()).ok_or(
                    ConfigError::InvalidSetting {
                        name: "issuer",
                        reason: "private_key_jwt needs the authorization server's issuer \
                                 identifier: it is the assertion's aud",
                    },
                )?,
            },
        };
        if self.client_id.is_empty() {
            return Err(ConfigError::InvalidSetting {
                name: "client_id",
                reason: "empty",
            });
        }
        for s in &self.scopes {
            crate::scope::Scope::parse(s).map_err(|_| ConfigError::InvalidSetting {
                name: "scope",
                reason: "not a scope token (RFC 6749 §3.3)",
            })?;
        }
        let http = match self.http {
            Some(c) => c,
            None => reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(REQUEST_TIMEOUT)
                .tls_certs_merge(self.roots)
                .build()
                .map_err(|e| ConfigError::HttpClient(e.to_string()))?,
        };
        let scope = self.scopes.join(" ");
        // The key is read now: a DPoP key that cannot sign is a configuration error.
        let jkt = match &self.dpop {
            Some(key) => Some(key.thumbprint().map_err(|_| ConfigError::InvalidSetting {
                name: "dpop",
                reason: "the DPoP key cannot be read or used",
            })?),
            None => None,
        };
        // Everything that changes the token names its shared-cache entry.
        #[cfg(feature = "redis")]
        let fleet = self.shared.map(|cache| {
            let resources = self.resources.join("\n");
            let key = cache.key_for(&[
                url.as_str(),
                &self.client_id,
                &scope,
                &resources,
                self.audience.as_deref().unwrap_or(""),
                jkt.as_deref().unwrap_or(""),
            ]);
            (cache, key)
        });
        #[cfg(not(feature = "redis"))]
        let _ = jkt;
        let endpoint = Arc::new(Endpoint {
            url,
            client_id: self.client_id,
            auth,
            http,
            dpop: self.dpop.map(|k| Arc::new(super::dpop::Prover::new(k))),
        });
        Ok(TokenSource {
            inner: Arc::new(Inner {
                revoker: Revoker {
                    endpoint: endpoint.clone(),
                    url: revocation_url,
                    grant: GRANT,
                },
                endpoint,
                scope,
                resources: self.resources,
                audience: self.audience,
                skew: self.skew,
                refresh_fraction: self.refresh_fraction,
                clock: self.clock,
                state: Mutex::new(State::default()),
                flight: Arc::new(tokio::sync::Mutex::new(())),
                #[cfg(feature = "redis")]
                fleet,
            }),
        })
    }
}

/// An endpoint URL of the authorization server: https, or plain http to loopback only; no
/// userinfo.
fn endpoint_url(url: &str) -> Result<reqwest::Url, ConfigError> {
    let parsed = crate::keys::check_url(url, false, crate::keys::is_loopback_url(url)).map_err(
        |reason| ConfigError::InvalidUrl {
            url: url.to_owned(),
            reason,
        },
    )?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(ConfigError::InvalidUrl {
            url: url.to_owned(),
            reason: "an authorization server endpoint must not carry userinfo",
        });
    }
    Ok(parsed)
}

/// A cached source of access tokens for one client, scope set and audience. Cheap to clone
/// (clones share the cache). See the [module docs](super) for the cache's rules.
#[derive(Clone)]
pub struct TokenSource {
    pub(super) inner: Arc<Inner>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("endpoint", &self.inner.endpoint.url.as_str())
            .field("client_id", &self.inner.endpoint.client_id)
            .field("scope", &self.inner.scope)
            .finish_non_exhaustive()
    }
}

pub(super) struct Inner {
    pub(super) endpoint: Arc<Endpoint>,
    /// RFC 7009, at the same server as the same client.
    pub(super) revoker: Revoker,
    scope: String,
    resources: Vec<String>,
    audience: Option<String>,
    skew: Duration,
    refresh_fraction: f64,
    clock: Option<Arc<dyn Clock>>,
    state: Mutex<State>,
    /// Held for the whole of one token request: the single flight.
    flight: Arc<tokio::sync::Mutex<()>>,
    /// The fleet's shared cache and this source's keys in it.
    #[cfg(feature = "redis")]
    fleet: Option<(super::RedisTokenCache, super::fleet::FleetKey)>,
}

#[derive(Default)]
struct State {
    token: Option<AccessToken>,
    /// The token a renewal replaced, still valid for callers that took it before; revoked
    /// by [`TokenSource::revoke_all`] too.
    previous: Option<AccessToken>,
    failures: u32,
    /// No token request before this (ms since the epoch) after a failure.
    next_attempt_ms: u64,
    renewing: bool,
}

impl TokenSource {
    /// A usable token: the cached one, or a new one when none is usable. Starts a background
    /// renewal when the cached token is past its refresh point. Errors when no usable token
    /// can be had; never returns an expired token.
    pub async fn token(&self) -> Result<AccessToken, ClientError> {
        let now = self.inner.now_ms();
        if let Some(t) = self.inner.usable(now) {
            crate::metrics::client_token_cache_hit("client_credentials");
            self.maybe_renew(&t, now);
            return Ok(t);
        }
        // Single flight: one token request however many callers wait. The request runs on
        // its own task holding the flight lock, so a caller that gives up does not let the
        // next one start a second request.
        let guard = self.inner.flight.clone().lock_owned().await;
        if let Some(t) = self.inner.usable(self.inner.now_ms()) {
            return Ok(t);
        }
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let _flight = guard;
            inner.acquire(false).await
        })
        .await
        .unwrap_or(Err(ClientError::Unreachable(
            "the token request task failed",
        )))
    }

    /// The endpoint and its client authentication (shared with introspection).
    pub(crate) fn endpoint(&self) -> Arc<Endpoint> {
        self.inner.endpoint.clone()
    }

    /// The DPoP prover, when tokens are DPoP-bound.
    pub(crate) fn prover(&self) -> Option<&super::dpop::Prover> {
        self.inner.endpoint.dpop.as_deref()
    }

    /// Forget `token` (e.g. after the resource answered 401 `invalid_token`), so the next
    /// call fetches a new one. A newer cached token is kept, and so is a token younger than
    /// [`MIN_AGE_TO_INVALIDATE`]: a resource that refuses every token must not turn each
    /// call into a token request (throttle).
    pub fn invalidate(&self, token: &AccessToken) {
        let now = self.inner.now_ms();
        if now.saturating_sub(token.0.issued_ms) < MIN_AGE_TO_INVALIDATE.as_millis() as u64 {
            return;
        }
        let mut s = self.inner.lock();
        if s.token
            .as_ref()
            .is_some_and(|t| Arc::ptr_eq(&t.0, &token.0))
        {
            s.token = None;
        }
    }

    /// Revoke `token` at the revocation endpoint (RFC 7009 §2.1, `token_type_hint=access_token`)
    /// and drop it from the cache first, whatever the outcome, so no caller is handed it
    /// again and the next [`token`](Self::token) fetches a new one. `Ok` when the server
    /// answered 2xx (revoked, or unknown to it); errors are typed:
    /// [`ClientError::RevocationUnavailable`] (503: try later),
    /// [`ClientError::Refused`] (e.g. 401 `invalid_client`), [`ClientError::Unreachable`],
    /// [`ClientError::NoRevocationEndpoint`]. One audit event either way.
    ///
    /// Resource servers that validate JWTs locally do not learn of the revocation (they
    /// do through introspection or a deny-list): this stops the token's use by
    /// this process and lets the authorization server refuse it, no more.
    ///
    /// ```no_run
    /// # async fn demo(tokens: a2a_guard::client::TokenSource) -> Result<(), a2a_guard::client::ClientError> {
    /// let token = tokens.token().await?;
    /// // … the work it was for is done, or it may have leaked:
    /// tokens.revoke(&token).await?;
    /// assert_ne!(tokens.token().await?.secret(), token.secret());
    /// # Ok(()) }
    /// ```
    pub async fn revoke(&self, token: &AccessToken) -> Result<(), ClientError> {
        {
            let s = &mut *self.inner.lock();
            for slot in [&mut s.token, &mut s.previous] {
                if slot.as_ref().is_some_and(|t| t.same_as(token)) {
                    *slot = None;
                }
            }
        }
        self.inner.revoker.revoke(token, Trigger::Explicit).await
    }

    /// For a graceful shutdown: revoke the cached token and the one its last renewal
    /// replaced (callers may still hold it), and empty the cache. Call it after the last
    /// outgoing call: a later [`token`](Self::token) fetches a new token, which this call
    /// does not revoke. Tokens already handed out are not recalled. Each token is tried
    /// once; the report lists those that stay valid.
    ///
    /// ```no_run
    /// # async fn demo(tokens: a2a_guard::client::TokenSource) {
    /// // on SIGTERM, after the server stopped taking work:
    /// let report = tokens.revoke_all().await;
    /// if !report.is_complete() {
    ///     eprintln!("{} token(s) stay valid until they expire", report.failed.len());
    /// }
    /// # }
    /// ```
    pub async fn revoke_all(&self) -> RevocationReport {
        let tokens: Vec<AccessToken> = {
            let mut s = self.inner.lock();
            [s.token.take(), s.previous.take()]
                .into_iter()
                .flatten()
                .collect()
        };
        self.inner
            .revoker
            .revoke_each(tokens, Trigger::Shutdown)
            .await
    }

    fn maybe_renew(&self, t: &AccessToken, now: u64) {
        if now < t.0.refresh_ms {
            return;
        }
        {
            let mut s = self.inner.lock();
            if s.failures > 0 {
                // Past its refresh point and the last renewal failed: served while failing.
                crate::metrics::client_stale_served();
            }
            if s.renewing || now < s.next_attempt_ms {
                return;
            }
            s.renewing = true;
        }
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let _flight = inner.flight.clone().lock_owned().await;
            let stale = inner
                .lock()
                .token
                .as_ref()
                .is_none_or(|t| inner.now_ms() >= t.0.refresh_ms);
            if stale {
                let _ = inner.acquire(true).await;
            }
            inner.lock().renewing = false;
        });
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn now_ms(&self) -> u64 {
        let now = self
            .clock
            .as_ref()
            .map_or_else(SystemTime::now, |c| c.now());
        now.duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    fn usable(&self, now: u64) -> Option<AccessToken> {
        self.lock()
            .token
            .clone()
            .filter(|t| now < t.0.usable_until_ms)
    }

    /// One token request; stores the result. `renewal` only changes the audit event.
    async fn acquire(&self, renewal: bool) -> Result<AccessToken, ClientError> {
        let now = self.now_ms();
        {
            let s = self.lock();
            if s.failures > 0 && now < s.next_attempt_ms {
                return Err(ClientError::Backoff {
                    retry_after: Duration::from_millis(s.next_attempt_ms - now),
                });
            }
        }
        match self.obtain(renewal).await {
            Ok(token) => {
                let mut s = self.lock();
                let now = self.now_ms();
                if let Some(old) = s.token.replace(token.clone())
                    && now < old.0.expires_ms
                {
                    s.previous = Some(old);
                }
                s.failures = 0;
                s.next_attempt_ms = 0;
                Ok(token)
            }
            Err(e) => {
                let mut s = self.lock();
                s.failures = s.failures.saturating_add(1);
                let backoff = BACKOFF_START
                    .saturating_mul(1 << (s.failures - 1).min(6))
                    .min(BACKOFF_MAX);
                let ms = backoff.as_millis() as u64;
                // Full jitter on the upper half: between backoff/2 and backoff.
                let wait = ms / 2 + random_u64() % (ms / 2 + 1);
                s.next_attempt_ms = self.now_ms() + wait;
                tracing::warn!(
                    target: "a2a_guard::client",
                    event = "failed",
                    grant = "client_credentials",
                    client_id = %self.endpoint.client_id,
                    auth = self.endpoint.auth.name(),
                    failures = s.failures,
                    retry_in_ms = wait,
                    error = %e,
                    "token request failed"
                );
                Err(e)
            }
        }
    }

    /// A new token: from the fleet's shared cache when another instance already has a newer
    /// one, else from the token endpoint (one instance of the fleet asks; the others wait
    /// for its answer). Without a shared cache, or with Redis unreachable: the endpoint.
    async fn obtain(&self, renewal: bool) -> Result<AccessToken, ClientError> {
        #[cfg(feature = "redis")]
        if let Some((cache, key)) = &self.fleet {
            let held = self.lock().token.as_ref().map_or(0, |t| t.0.expires_ms);
            let skew = self.skew;
            let now = self.now_ms();
            // Newer than ours and usable for a while yet.
            let fresh = |s: &super::fleet::Shared| {
                s.expires_ms > held
                    && now + (skew.as_millis() as u64).min((s.expires_ms - s.issued_ms) / 10)
                        < s.expires_ms
            };
            if let Some(shared) = cache.get(key).await.filter(|s| fresh(s)) {
                return Ok(self.adopt(shared));
            }
            match cache.lock(key).await {
                Some(Some(id)) => {
                    let result = self.issue(renewal).await;
                    if let Ok(t) = &result {
                        let shared = super::fleet::Shared {
                            value: t.0.value.clone(),
                            dpop: t.0.dpop,
                            issued_ms: t.0.issued_ms,
                            expires_ms: t.0.expires_ms,
                        };
                        let ttl = Duration::from_millis(
                            t.0.usable_until_ms.saturating_sub(self.now_ms()),
                        );
                        cache.put(key, &shared, ttl).await;
                    }
                    cache.unlock(key, &id).await;
                    return result;
                }
                Some(None) => {
                    if let Some(shared) = cache.wait_for(key, fresh).await {
                        return Ok(self.adopt(shared));
                    }
                }
                None => {}
            }
        }
        self.issue(renewal).await
    }

    /// A token another instance of the fleet obtained.
    #[cfg(feature = "redis")]
    fn adopt(&self, shared: super::fleet::Shared) -> AccessToken {
        let token = AccessToken::with_times(
            shared.value,
            shared.dpop,
            shared.issued_ms,
            shared.expires_ms,
            self.skew,
            self.refresh_fraction,
        );
        tracing::debug!(
            target: "a2a_guard::client",
            event = "shared",
            grant = "client_credentials",
            client_id = %self.endpoint.client_id,
            jti = token.jti().unwrap_or(""),
            "access token taken from the fleet's shared cache"
        );
        token
    }

    /// One token request to the endpoint, audited.
    async fn issue(&self, renewal: bool) -> Result<AccessToken, ClientError> {
        let issued = self.request().await;
        crate::metrics::client_token_request("client_credentials", issued.is_ok());
        let issued = issued?;
        let lifetime = issued.lifetime;
        let scope = issued.scope.clone();
        let token = AccessToken::new(issued, self.now_ms(), self.skew, self.refresh_fraction);
        tracing::info!(
            target: "a2a_guard::client",
            event = if renewal { "renewed" } else { "issued" },
            grant = "client_credentials",
            client_id = %self.endpoint.client_id,
            auth = self.endpoint.auth.name(),
            scope = %scope.as_deref().unwrap_or(&self.scope),
            resource = ?self.resources,
            audience = self.audience.as_deref().unwrap_or(""),
            lifetime_s = lifetime.as_secs(),
            jti = token.jti().unwrap_or(""),
            "access token acquired"
        );
        Ok(token)
    }

    async fn request(&self) -> Result<Issued, ClientError> {
        let mut params: Vec<(&str, &str)> = vec![("grant_type", "client_credentials")];
        if !self.scope.is_empty() {
            params.push(("scope", &self.scope));
        }
        for r in &self.resources {
            params.push(("resource", r));
        }
        if let Some(a) = &self.audience {
            params.push(("audience", a));
        }
        self.endpoint.post(&params).await
    }
}

/// The `jti` of a JWT access token, for the audit event; `None` for opaque tokens. The
/// token came from our own authorization server over TLS; nothing here is trusted for a
/// decision.
fn jwt_jti(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    #[derive(Deserialize)]
    struct Jti {
        jti: Option<String>,
    }
    let jti = serde_json::from_slice::<Jti>(&bytes).ok()?.jti?;
    Some(jti.chars().take(64).collect())
}

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    let _ = aws_lc_rs::rand::fill(&mut b);
    u64::from_le_bytes(b)
}
