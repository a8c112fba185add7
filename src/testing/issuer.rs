//! [`TestIssuer`]: the handle tests hold — keys, settings, lifecycle, counters.

use super::server::{
    self, Behavior, DISCOVERY_PATH, JWKS_PATH, METADATA_PATH, REVOCATION_PATH, Running,
    ServerState, lock,
};
use super::{SigningKey, TokenBuilder, keys_file};
use crate::Algorithm;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

/// Default `aud` of minted tokens.
const DEFAULT_AUDIENCE: &str = "a2a-guard-test";
/// Algorithms with a key generated at start: RS256 and every algorithm whose key costs
/// microseconds, so a validator's first fetch already sees them. The other RSA algorithms
/// (RS384/512, PS256/384/512) get a key on first use: an RSA key takes tens to hundreds of
/// milliseconds, too much for every test's issuer.
const DEFAULT_ALGORITHMS: [Algorithm; 4] = [
    Algorithm::RS256,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// A real authorization server on `127.0.0.1` for tests: it serves a JWK Set at
/// [`jwks_url`](Self::jwks_url), OpenID Connect discovery at
/// [`discovery_url`](Self::discovery_url) and RFC 8414 metadata at
/// [`metadata_url`](Self::metadata_url), and mints tokens with [`token`](Self::token).
///
/// Cloning is cheap and shares the server; dropping the last clone stops it. Needs a tokio
/// runtime. Key generation runs on the calling thread (an RSA key takes tens of milliseconds).
///
/// ```
/// use a2a_guard::Algorithm;
/// use a2a_guard::testing::TestIssuer;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let issuer = TestIssuer::builder()
///     .audience("agent-api")
///     .algorithms([Algorithm::RS256, Algorithm::ES256])
///     .start()
///     .await?;
/// assert!(issuer.issuer().starts_with("http://127.0.0.1:"));
/// assert_eq!(issuer.jwks()["keys"].as_array().map(Vec::len), Some(2));
/// // The default issuer publishes RS256, ES256, ES384 and EdDSA keys from the start.
/// let default = TestIssuer::start().await?;
/// assert_eq!(default.jwks()["keys"].as_array().map(Vec::len), Some(4));
///
/// let old = issuer.signing_key(Algorithm::RS256).kid().to_owned();
/// let new = issuer.rotate(Algorithm::RS256); // both published, new one signs
/// assert!(issuer.retire(&old)); // old one gone from the set
/// # let _ = new;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct TestIssuer {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) state: Arc<ServerState>,
    addr: SocketAddr,
    audience: String,
    server: Mutex<Option<Running>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(running) = lock(&self.server).take() {
            running.abort();
        }
    }
}

/// Configures a [`TestIssuer`]; from [`TestIssuer::builder`].
#[derive(Clone)]
#[must_use = "call .start().await to run the issuer"]
pub struct TestIssuerBuilder {
    audience: String,
    algorithms: Vec<Algorithm>,
    keys_file: Option<PathBuf>,
    clients: HashMap<String, String>,
    client_keys: HashMap<String, Vec<Value>>,
}

impl fmt::Debug for TestIssuerBuilder {
    /// Client ids, never their secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut clients: Vec<&String> = self.clients.keys().collect();
        clients.sort();
        f.debug_struct("TestIssuerBuilder")
            .field("audience", &self.audience)
            .field("algorithms", &self.algorithms)
            .field("keys_file", &self.keys_file)
            .field("clients", &clients)
            .finish()
    }
}

impl TestIssuerBuilder {
    /// The `aud` of minted tokens (default `"a2a-guard-test"`).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = audience.into();
        self
    }

    /// Algorithms whose keys are generated and published at start (default RS256, ES256,
    /// ES384, EdDSA). Others are still generated on first use; an empty list starts with an
    /// empty JWK Set. List every RSA algorithm a test signs with here: a key generated on
    /// first use is unknown to a validator that already fetched, and inside its kid-miss
    /// cooldown (30 s) that validator answers "no matching signing key".
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// Register a client for the token endpoint (`{issuer}/token`, the discovery document's
    /// `token_endpoint`): the OAuth 2.0 client-credentials grant (RFC 6749 §4.4), client
    /// authentication by HTTP Basic or `client_id`/`client_secret` form parameters. A token
    /// has `sub` and `client_id` = the client, the scopes asked for (all granted: a
    /// development server), `aud` = the RFC 8707 `resource` asked for or else
    /// [`audience`](Self::audience), and a one-hour lifetime. Without a registered client the
    /// endpoint answers every request 401 `invalid_client`. The same clients may revoke
    /// their tokens at [`TestIssuer::revocation_url`] (RFC 7009).
    ///
    /// ```
    /// # use a2a_guard::testing::TestIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let issuer = TestIssuer::builder().client("agent-a", "s3cret").start().await?;
    /// let res = reqwest::Client::new()
    ///     .post(format!("{}/token", issuer.issuer()))
    ///     .basic_auth("agent-a", Some("s3cret"))
    ///     .header("content-type", "application/x-www-form-urlencoded")
    ///     .body("grant_type=client_credentials&scope=read%3Adata")
    ///     .send()
    ///     .await?;
    /// let body: serde_json::Value = serde_json::from_str(&res.text().await?)?;
    /// assert_eq!(body["token_type"], "Bearer");
    /// assert_eq!(body["scope"], "read:data");
    /// # Ok(())
    /// # }
    /// ```
    pub fn client(mut self, id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.clients.insert(id.into(), secret.into());
        self
    }

    /// Registers a client that authenticates with `private_key_jwt` (RFC 7523 §2.2) under
    /// this public JWK (e.g. `client::ClientKey::public_jwk`). The endpoint checks the
    /// assertion's signature, `iss` = `sub` = the client ID, `aud` (the issuer or the token
    /// endpoint URL), `exp` (in the future, at most 5 minutes ahead) and refuses a `jti` seen
    /// before (`invalid_client`). Call again to add another key for the same client.
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// use a2a_guard::{Algorithm, testing::{SigningKey, TestIssuer}};
    /// let agent_key = SigningKey::generate(Algorithm::ES256);
    /// let issuer = TestIssuer::builder()
    ///     .client_key("orchestrator", agent_key.public_jwk())
    ///     .start()
    ///     .await?;
    /// # let _ = issuer; Ok(()) }
    /// ```
    pub fn client_key(mut self, id: impl Into<String>, jwk: Value) -> Self {
        self.client_keys.entry(id.into()).or_default().push(jwk);
        self
    }

    /// Keep the issuer's identity — its address, so its `iss` — and its signing keys in this
    /// file, so tokens it minted stay valid when the process restarts (a demo's printed
    /// `curl` lines, a local development loop). The first start binds an ephemeral port,
    /// generates the keys and writes the file atomically with mode 0600; later starts bind
    /// the same address and sign with the same keys (an algorithm of
    /// [`algorithms`](Self::algorithms) missing from the file gets a key, and the file is
    /// rewritten). Keys generated later on first use are not saved.
    ///
    /// The file holds private keys: [`start`](Self::start) refuses one that is a symlink, not
    /// owned by this user, or readable or writable by group or others, and fails when the
    /// saved address is taken. Nothing from it is logged. For development only.
    ///
    /// ```
    /// # use a2a_guard::testing::TestIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("dev-issuer.json");
    /// let first = TestIssuer::builder().keys_file(&path).start().await?;
    /// let token = first.token().scope("read:data").sign();
    /// let (iss, jwks) = (first.issuer(), first.jwks());
    /// first.stop().await; // the process ends…
    /// let again = TestIssuer::builder().keys_file(&path).start().await?; // …and starts again
    /// assert_eq!((again.issuer(), again.jwks()), (iss, jwks));
    /// # let _ = token;
    /// # Ok(())
    /// # }
    /// ```
    pub fn keys_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.keys_file = Some(path.into());
        self
    }

    /// Generates the keys (or reads them from the [`keys_file`](Self::keys_file)), binds an
    /// ephemeral port on `127.0.0.1` (or the saved address) and starts serving.
    pub async fn start(self) -> io::Result<TestIssuer> {
        let saved = match &self.keys_file {
            Some(path) => keys_file::load(path)?,
            None => None,
        };
        let bind_to = saved
            .as_ref()
            .map_or(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), |s| s.addr);
        let listener = server::bind(bind_to).map_err(|e| match &self.keys_file {
            Some(path) if saved.is_some() => io::Error::new(
                e.kind(),
                format!(
                    "cannot bind {bind_to}, the issuer address saved in {}: {e}",
                    path.display()
                ),
            ),
            _ => e,
        })?;
        let addr = listener.local_addr()?;
        let state = Arc::new(ServerState::new(
            format!("http://{addr}"),
            self.audience.clone(),
        ));
        {
            let mut config = lock(&state.config);
            config.clients = self.clients;
            config.client_keys = self.client_keys;
        }
        let loaded = saved.is_some();
        let mut added = false;
        {
            let mut keys = lock(&state.keys);
            for key in saved.map(|s| s.keys).unwrap_or_default() {
                keys.published.push(key.public_jwk());
                keys.signing.insert(key.alg(), key);
            }
            for alg in self.algorithms {
                if !keys.signing.contains_key(&alg) {
                    let key = SigningKey::try_generate(alg).map_err(io::Error::other)?;
                    keys.published.push(key.public_jwk());
                    keys.signing.insert(alg, key);
                    added = true;
                }
            }
            if let Some(path) = &self.keys_file
                && (added || !loaded)
            {
                let mut all: Vec<SigningKey> = keys.signing.values().cloned().collect();
                all.sort_by_key(SigningKey::alg);
                keys_file::save(path, addr, &all)?;
            }
        }
        let running = Running::spawn(listener, Arc::clone(&state));
        Ok(TestIssuer {
            inner: Arc::new(Inner {
                state,
                addr,
                audience: self.audience,
                server: Mutex::new(Some(running)),
            }),
        })
    }
}

impl TestIssuer {
    /// Starts an issuer with the defaults: audience `"a2a-guard-test"`, RS256, ES256, ES384
    /// and EdDSA keys.
    pub async fn start() -> io::Result<TestIssuer> {
        Self::builder().start().await
    }

    /// A builder for an issuer with another audience or pre-generated algorithms.
    pub fn builder() -> TestIssuerBuilder {
        TestIssuerBuilder {
            audience: DEFAULT_AUDIENCE.to_owned(),
            algorithms: DEFAULT_ALGORITHMS.to_vec(),
            keys_file: None,
            clients: HashMap::new(),
            client_keys: HashMap::new(),
        }
    }

    /// The issuer identifier, `http://127.0.0.1:{port}` (no trailing slash): the `iss` of
    /// minted tokens and of discovery.
    pub fn issuer(&self) -> String {
        self.inner.state.issuer.clone()
    }

    /// The bound address; the same across [`stop`](Self::stop) and [`restart`](Self::restart).
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// The `aud` of minted tokens.
    pub fn audience(&self) -> &str {
        &self.inner.audience
    }

    /// `{issuer}/jwks.json`.
    pub fn jwks_url(&self) -> String {
        format!("{}{JWKS_PATH}", self.inner.state.issuer)
    }

    /// `{issuer}/.well-known/openid-configuration`.
    pub fn discovery_url(&self) -> String {
        format!("{}{DISCOVERY_PATH}", self.inner.state.issuer)
    }

    /// `{issuer}/.well-known/oauth-authorization-server` (RFC 8414 §3).
    pub fn metadata_url(&self) -> String {
        format!("{}{METADATA_PATH}", self.inner.state.issuer)
    }

    /// `{issuer}/revoke`: the RFC 7009 revocation endpoint, advertised as
    /// `revocation_endpoint` in discovery and metadata. A registered client authenticates as
    /// at the token endpoint (else 401 `invalid_client`) and must send `token` (else 400
    /// `invalid_request`); the answer is then always 200. A token this issuer minted for
    /// that client is recorded by its `jti` ([`is_revoked`](Self::is_revoked)); other tokens
    /// are ignored (RFC 7009 §2.2).
    ///
    /// A revoked token is then inactive at the [introspection
    /// endpoint](Self::introspection_url) and refused (`invalid_grant`) as the subject or
    /// actor of a token exchange; an opaque token from [`opaque_token`](Self::opaque_token)
    /// whose `client_id` (or `sub`) is that client is revoked too. Validators checking JWTs
    /// locally learn of it only through introspection or a deny-list
    /// ([`revocation`](crate::revocation)).
    ///
    /// ```
    /// # use a2a_guard::testing::TestIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let issuer = TestIssuer::builder().client("agent-a", "s3cret").start().await?;
    /// let res = reqwest::Client::new()
    ///     .post(issuer.revocation_url())
    ///     .basic_auth("agent-a", Some("s3cret"))
    ///     .header("content-type", "application/x-www-form-urlencoded")
    ///     .body("token=not-one-of-ours&token_type_hint=access_token")
    ///     .send()
    ///     .await?;
    /// assert_eq!(res.status(), 200); // RFC 7009 §2.2: unknown tokens too
    /// assert_eq!(issuer.revocation_requests(), 1);
    /// assert!(issuer.revoked_jtis().is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub fn revocation_url(&self) -> String {
        format!("{}{REVOCATION_PATH}", self.inner.state.issuer)
    }

    /// Whether a token with this `jti` was revoked at the [revocation
    /// endpoint](Self::revocation_url).
    ///
    /// ```
    /// # use a2a_guard::testing::TestIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let issuer = TestIssuer::start().await?;
    /// assert!(!issuer.is_revoked("4f1c…"));
    /// # Ok(()) }
    /// ```
    pub fn is_revoked(&self, jti: &str) -> bool {
        lock(&self.inner.state.revoked).contains(jti)
    }

    /// The `jti`s revoked at the [revocation endpoint](Self::revocation_url), sorted.
    ///
    /// ```
    /// # use a2a_guard::testing::TestIssuer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let issuer = TestIssuer::start().await?;
    /// assert_eq!(issuer.revoked_jtis(), Vec::<String>::new());
    /// # Ok(()) }
    /// ```
    pub fn revoked_jtis(&self) -> Vec<String> {
        let mut jtis: Vec<String> = lock(&self.inner.state.revoked).iter().cloned().collect();
        jtis.sort();
        jtis
    }

    /// The JWK Set currently served: `{"keys": [...]}`.
    pub fn jwks(&self) -> Value {
        self.inner.state.jwks()
    }

    /// The current signing key for `alg`, generated and published on first use.
    ///
    /// # Panics
    /// Only if the system random number generator fails while generating a key.
    pub fn signing_key(&self, alg: Algorithm) -> SigningKey {
        if let Some(key) = lock(&self.inner.state.keys).signing.get(&alg) {
            return key.clone();
        }
        // Generated outside the lock so the server keeps answering meanwhile; if another
        // caller won the race, its key is kept and this one discarded.
        let fresh = SigningKey::generate(alg);
        let mut keys = lock(&self.inner.state.keys);
        if let Some(key) = keys.signing.get(&alg) {
            return key.clone();
        }
        keys.published.push(fresh.public_jwk());
        keys.signing.insert(alg, fresh.clone());
        fresh
    }

    /// Generates a new key for `alg`, publishes it beside the old ones and makes it the signing
    /// key for `alg`. Returns its kid. Old keys stay published until [`retire`](Self::retire)d.
    ///
    /// # Panics
    /// Only if the system random number generator fails.
    pub fn rotate(&self, alg: Algorithm) -> String {
        let key = SigningKey::generate(alg);
        let kid = key.kid().to_owned();
        self.install_key(key);
        kid
    }

    /// Publishes `key` and makes it the signing key for its algorithm, e.g. a 1024-bit key
    /// from [`SigningKey::generate_rsa`] or a key with a chosen kid.
    pub fn install_key(&self, key: SigningKey) {
        let mut keys = lock(&self.inner.state.keys);
        keys.published.push(key.public_jwk());
        keys.signing.insert(key.alg(), key);
    }

    /// Stops publishing every JWK whose `kid` is `kid`; `true` if one was removed. A retired
    /// key that is still the signing key for its algorithm keeps signing (tokens signed by a
    /// revoked key); [`rotate`](Self::rotate) first to move on.
    pub fn retire(&self, kid: &str) -> bool {
        let mut keys = lock(&self.inner.state.keys);
        let before = keys.published.len();
        keys.published
            .retain(|jwk| jwk.get("kid").and_then(Value::as_str) != Some(kid));
        keys.published.len() != before
    }

    /// Adds an arbitrary JWK to the served set, as given: a hostile key, an `enc` key, a
    /// symmetric `oct` key, a duplicate kid, or not a JWK at all.
    pub fn publish(&self, jwk: Value) {
        lock(&self.inner.state.keys).published.push(jwk);
    }

    /// A [`TokenBuilder`] whose defaults this issuer's validator accepts.
    pub fn token(&self) -> TokenBuilder {
        TokenBuilder::new(self.clone())
    }

    /// Sets how the JWKS and both discovery endpoints answer.
    pub fn set_behavior(&self, behavior: Behavior) {
        let mut config = lock(&self.inner.state.config);
        config.jwks_behavior = behavior;
        config.discovery_behavior = behavior;
    }

    /// Sets how the token endpoint answers (an outage, a hang, a slow server). The
    /// JWKS and discovery endpoints are not affected.
    ///
    /// ```
    /// # use a2a_guard::testing::{Behavior, TestIssuer};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let issuer = TestIssuer::builder().client("agent", "s3cret").start().await?;
    /// issuer.set_token_behavior(Behavior::Status(503));
    /// # Ok(()) }
    /// ```
    pub fn set_token_behavior(&self, behavior: Behavior) {
        lock(&self.inner.state.config).token_behavior = behavior;
    }

    /// The `expires_in` (and `exp - iat`) of tokens the token endpoint issues from now on
    /// (default one hour).
    pub fn set_token_lifetime(&self, lifetime: std::time::Duration) {
        lock(&self.inner.state.config).token_lifetime =
            Some(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX).max(1));
    }

    /// Adds a public key for a `private_key_jwt` client at run time (key rotation: register
    /// the new key, then switch the agent to it). See [`TestIssuerBuilder::client_key`].
    pub fn add_client_key(&self, id: impl Into<String>, jwk: Value) {
        lock(&self.inner.state.config)
            .client_keys
            .entry(id.into())
            .or_default()
            .push(jwk);
    }

    /// Make the token endpoint require this DPoP nonce in proofs (RFC 9449 §8): a proof
    /// without it gets 400 `use_dpop_nonce` with a `DPoP-Nonce` header. `None` stops
    /// requiring one. Call again to rotate it.
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let issuer = a2a_guard::testing::TestIssuer::start().await?;
    /// issuer.require_dpop_nonce(Some("nonce-1"));
    /// # Ok(()) }
    /// ```
    pub fn require_dpop_nonce(&self, nonce: Option<&str>) {
        lock(&self.inner.state.config).dpop_nonce = nonce.map(str::to_owned);
    }

    /// Requests that reached the token endpoint, whatever the behavior.
    pub fn token_requests(&self) -> usize {
        self.inner.state.token_requests.load(Ordering::SeqCst)
    }

    /// Sets how the [revocation endpoint](Self::revocation_url) answers, e.g.
    /// `Behavior::Status(503)` (RFC 7009 §2.2.1: the client must try again later). The
    /// token, JWKS and discovery endpoints are not affected.
    ///
    /// ```
    /// # use a2a_guard::testing::{Behavior, TestIssuer};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let issuer = TestIssuer::builder().client("agent", "s3cret").start().await?;
    /// issuer.set_revocation_behavior(Behavior::Status(503));
    /// # Ok(()) }
    /// ```
    pub fn set_revocation_behavior(&self, behavior: Behavior) {
        lock(&self.inner.state.config).revocation_behavior = behavior;
    }

    /// Requests that reached the [revocation endpoint](Self::revocation_url), whatever the
    /// behavior or outcome.
    pub fn revocation_requests(&self) -> usize {
        self.inner.state.revocation_requests.load(Ordering::SeqCst)
    }

    /// Sets how the JWKS endpoint alone answers.
    pub fn set_jwks_behavior(&self, behavior: Behavior) {
        lock(&self.inner.state.config).jwks_behavior = behavior;
    }

    /// Sets how the discovery and RFC 8414 metadata endpoints alone answer.
    pub fn set_discovery_behavior(&self, behavior: Behavior) {
        lock(&self.inner.state.config).discovery_behavior = behavior;
    }

    /// The `Cache-Control` header of JWKS responses, e.g. `Some("max-age=60".into())`;
    /// `None` (the default) sends none. A value that is not a valid header is not sent.
    pub fn set_cache_control(&self, value: Option<String>) {
        lock(&self.inner.state.config).cache_control = value;
    }

    /// Makes discovery and metadata claim another `issuer` (a mix-up / impersonation test,
    /// RFC 8414 §3.3); `None` restores the truth.
    pub fn set_discovery_issuer(&self, issuer: Option<String>) {
        lock(&self.inner.state.config).discovery_issuer = issuer;
    }

    /// Requests that reached the JWKS endpoint, whatever the behavior.
    pub fn jwks_fetches(&self) -> usize {
        self.inner.state.jwks_fetches.load(Ordering::SeqCst)
    }

    /// Requests that reached the discovery or RFC 8414 metadata endpoint, whatever the
    /// behavior.
    pub fn discovery_fetches(&self) -> usize {
        self.inner.state.discovery_fetches.load(Ordering::SeqCst)
    }

    /// Sets every request counter to zero (JWKS, discovery, token, revocation). The revoked
    /// `jti`s are kept.
    pub fn reset_counters(&self) {
        self.inner.state.jwks_fetches.store(0, Ordering::SeqCst);
        self.inner.state.token_requests.store(0, Ordering::SeqCst);
        self.inner
            .state
            .revocation_requests
            .store(0, Ordering::SeqCst);
        self.inner
            .state
            .discovery_fetches
            .store(0, Ordering::SeqCst);
    }

    /// Takes the server down: the listener is closed and every open connection (including
    /// [`Behavior::Hang`] ones) is aborted, so new connections are refused. Keys and settings
    /// are kept. Returns once both are gone; a no-op if already stopped.
    pub async fn stop(&self) {
        let running = lock(&self.inner.server).take();
        if let Some(running) = running {
            running.stop().await;
        }
    }

    /// Serves again on the same address with the same keys; a no-op if running. Fails if the
    /// port was taken in the meantime.
    pub async fn restart(&self) -> io::Result<()> {
        if self.is_running() {
            return Ok(());
        }
        let listener = server::bind(self.inner.addr)?;
        let mut slot = lock(&self.inner.server);
        if slot.is_none() {
            *slot = Some(Running::spawn(listener, Arc::clone(&self.inner.state)));
        }
        Ok(())
    }

    /// Whether the server is accepting connections (not [`stop`](Self::stop)ped).
    pub fn is_running(&self) -> bool {
        lock(&self.inner.server).is_some()
    }
}

impl fmt::Debug for TestIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestIssuer")
            .field("issuer", &self.inner.state.issuer)
            .field("audience", &self.inner.audience)
            .field("running", &self.is_running())
            .finish_non_exhaustive()
    }
}
