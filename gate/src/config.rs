//! The gate's configuration file (TOML), read strictly: an unknown key, a wrong type or a
//! rule that cannot be applied is an error naming where it is, and nothing starts.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use a2a_guard::scope::{Scope, ScopeRequirement};
use serde::Deserialize;

/// The whole file. See `gate/README.md` for every key with its default.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the forward-auth listener is (optional when `[proxy]` is configured).
    #[serde(default)]
    pub listen: Listen,
    /// The reverse proxy in front of one upstream agent, if configured.
    pub proxy: Option<ProxyConfig>,
    /// The `realm` of `WWW-Authenticate` challenges.
    #[serde(default = "default_realm")]
    pub realm: String,
    /// Accepted `aud` values (at least one, or a `resource`).
    #[serde(default)]
    pub audiences: Vec<String>,
    /// This agent's resource identifier (RFC 8707, RFC 9728 §1.2), e.g.
    /// `https://agent.example/`: accepted as `aud`, served as RFC 9728 Protected Resource
    /// Metadata (`/.well-known/oauth-protected-resource…`), and named in every challenge's
    /// `resource_metadata`, which is how MCP and A2A clients find the authorization server.
    pub resource: Option<String>,
    /// The metadata's human-readable `resource_name`.
    pub resource_name: Option<String>,
    /// The authorization servers whose tokens are accepted (at least one).
    #[serde(rename = "issuer")]
    pub issuers: Vec<IssuerConfig>,
    /// Peers whose `X-Forwarded-*` / `X-Original-*` headers describe the request to decide
    /// on. A request from anyone else is decided on its own method and path.
    #[serde(default)]
    pub trusted_proxies: Vec<IpAddr>,
    /// Response header → claim (`sub`, `client_id`, `scope`, `act.sub`, …) on an allowed
    /// request. Default: `X-Auth-Sub` ← `sub`, `X-Auth-Client` ← `client_id`,
    /// `X-Auth-Scopes` ← `scope`, `X-Auth-Actor` ← `act.sub`.
    #[serde(default = "default_claim_headers")]
    pub claim_headers: BTreeMap<String, String>,
    /// The routes; a request no route matches is refused (403).
    #[serde(rename = "route", default)]
    pub routes: Vec<RouteConfig>,
    /// When the file is read again (`[reload]`).
    #[serde(default)]
    pub reload: Reload,
    /// How issuers' keys are kept (`[keys]`).
    #[serde(default)]
    pub keys: Keys,
    /// DPoP (RFC 9449) proof checks (`[dpop]`); without it every DPoP-bound token is
    /// refused.
    pub dpop: Option<DpopSection>,
    /// The deny-list: shared through Redis, revocation over the admin listener
    /// (`[revocation]`).
    #[serde(default)]
    pub revocation: RevocationConfig,
    /// Pushed Security Event Tokens (`[events]`, served on `[listen] events`).
    pub events: Option<EventsConfig>,
}

/// `[revocation]`: the deny-list every check consults (it always exists, in memory), how it
/// is shared with other gates, and whether the admin listener may revoke.
///
/// ```
/// let c = a2a_guard_gate::Config::parse(r#"
///     audiences = ["https://agent.example"]
///     [listen]
///     forward_auth = "127.0.0.1:9100"
///     admin = "127.0.0.1:9102"
///     [revocation]
///     redis_url_env = "GATE_REDIS_URL"
///     fail_closed_after_secs = 60
///     admin_api = true
///     [[issuer]]
///     issuer = "https://issuer.example"
/// "#).unwrap();
/// assert!(c.revocation.admin_api);
/// // A Redis URL may hold a password: never inline.
/// assert!(a2a_guard_gate::Config::parse(r#"
///     audiences = ["a"]
///     [listen]
///     forward_auth = "127.0.0.1:9100"
///     [revocation]
///     redis_url = "redis://:pw@127.0.0.1/"
///     [[issuer]]
///     issuer = "https://issuer.example"
/// "#).is_err());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevocationConfig {
    /// The name of an environment variable holding the Redis URL (`redis://…`) of the
    /// fleet's shared deny-list. Exclusive with `redis_url_file`; neither: not shared.
    pub redis_url_env: Option<String>,
    /// A file holding the Redis URL (surrounding whitespace trimmed).
    pub redis_url_file: Option<PathBuf>,
    /// Refuse every token (503) once Redis has been unreachable this long; unset: keep the
    /// last view and keep serving.
    pub fail_closed_after_secs: Option<u64>,
    /// Serve `POST /revocations` on the admin listener (revoke by `jti`, `sub`,
    /// `client_id`, `sid`). Off by default; it asks for no token, so it is refused unless
    /// `[listen] admin` is a loopback address.
    #[serde(default)]
    pub admin_api: bool,
}

impl RevocationConfig {
    /// Whether the deny-list is shared through Redis.
    pub fn shared(&self) -> bool {
        self.redis_url_env.is_some() || self.redis_url_file.is_some()
    }
}

/// `[events]`: the RFC 8935 push receiver of Security Event Tokens (CAEP session-revoked and
/// credential-change, RISC account-disabled, OpenID back-channel logout), served on
/// `[listen] events`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsConfig {
    /// This gate's identifier as the SETs' `aud` names it.
    pub audience: String,
    /// The transmitters whose SETs are accepted (at least one).
    #[serde(rename = "transmitter")]
    pub transmitters: Vec<Transmitter>,
}

/// One `[[events.transmitter]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transmitter {
    /// The SETs' `iss`.
    pub issuer: String,
    /// Its JWK Set; without it, found by OpenID Connect / RFC 8414 discovery from `issuer`.
    pub jwks_url: Option<String>,
}

/// `[[issuer]] introspection = { … }`: RFC 7662 introspection of this issuer's opaque tokens
/// (and, with `recheck_jwts`, of its JWTs too), authenticated with `client_secret_basic`.
/// The secret is named, never given: `client_secret_env` or `client_secret_file`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntrospectionConfig {
    /// The introspection endpoint (`https://`, or `http://` on loopback).
    pub endpoint: String,
    /// This gate's client ID at the authorization server.
    pub client_id: String,
    /// The name of an environment variable holding the client secret.
    pub client_secret_env: Option<String>,
    /// A file holding the client secret (re-read when it changes: rotate by replacing it).
    pub client_secret_file: Option<PathBuf>,
    /// Introspect this issuer's JWTs too, after their own checks pass (revocation at the
    /// server reaches the gate within `cache_ttl_secs`).
    #[serde(default)]
    pub recheck_jwts: bool,
    /// How long an active answer is cached, in seconds (never past `exp`); default 30.
    pub cache_ttl_secs: Option<u64>,
    /// When a JWT re-check cannot be made, accept the verified JWT (logged, counted). An
    /// opaque token never passes without an answer. Default `false` (503).
    #[serde(default)]
    pub fail_open: bool,
}

/// `[keys]`: refresh, last-known-good and the snapshot, for every issuer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keys {
    /// Seconds between scheduled JWKS fetches when the issuer sends no `Cache-Control`
    /// (default 600; an issuer's `max-age` is clamped to at least this or 60, whichever is
    /// smaller, and at most a day).
    #[serde(default = "default_refresh_secs")]
    pub refresh_secs: u64,
    /// Seconds keys stay usable after the issuer last confirmed them, while fetches fail
    /// (default 86 400: a day).
    #[serde(default = "default_lkg_secs")]
    pub last_known_good_secs: u64,
    /// Keep fetched keys in this file (mode 0600) and read it at start when an issuer is
    /// unreachable, so a restart during an outage still has keys. Off unless set.
    pub snapshot_file: Option<PathBuf>,
    /// While fetches fail, retries back off from 1 s, doubling up to this many seconds
    /// (default 300); after the issuer returns, keys are confirmed within this bound.
    #[serde(default = "default_retry_max_secs")]
    pub retry_max_secs: u64,
}

fn default_retry_max_secs() -> u64 {
    300
}

impl Default for Keys {
    fn default() -> Self {
        Keys {
            refresh_secs: default_refresh_secs(),
            last_known_good_secs: default_lkg_secs(),
            snapshot_file: None,
            retry_max_secs: default_retry_max_secs(),
        }
    }
}

fn default_refresh_secs() -> u64 {
    600
}

fn default_lkg_secs() -> u64 {
    24 * 3600
}

/// `[reload]`: the binary reads its file again on `SIGHUP`, and when the file changes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reload {
    /// How often the file is compared with what was last loaded, in seconds; `0` turns the
    /// watch off (`SIGHUP` still reloads). Default 2.
    #[serde(default = "default_watch_secs")]
    pub watch_secs: u64,
}

impl Default for Reload {
    fn default() -> Self {
        Reload {
            watch_secs: default_watch_secs(),
        }
    }
}

fn default_watch_secs() -> u64 {
    2
}

/// `[listen]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listen {
    /// The forward-auth listener (nginx `auth_request`, Traefik `forwardAuth`); at least one
    /// of this and `[proxy]` is required.
    pub forward_auth: Option<SocketAddr>,
    /// The admin listener: `/healthz`, `/readyz`, `/metrics`, never behind the proxy and
    /// without a token. Off unless set; keep it on loopback.
    pub admin: Option<SocketAddr>,
    /// The Envoy ext_authz v3 gRPC listener (plaintext HTTP/2, as Envoy's `grpc_service`
    /// speaks to a loopback peer); none by default.
    pub ext_authz: Option<SocketAddr>,
    /// The RFC 8935 push listener for Security Event Tokens (`[events]`); none by default.
    pub events: Option<SocketAddr>,
}

/// The upstream connect timeout when `[proxy] connect_timeout_ms` is not set: 5 s.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// `[proxy]`: the gate as a reverse proxy in front of one upstream agent.
///
/// ```
/// let c = a2a_guard_gate::Config::parse(r#"
///     audiences = ["https://agent.example"]
///     [proxy]
///     listen = "127.0.0.1:9200"
///     upstream = "http://127.0.0.1:9000"
///     [[issuer]]
///     issuer = "https://issuer.example"
/// "#).unwrap();
/// let proxy = c.proxy.unwrap();
/// assert!(!proxy.forward_authorization);
/// assert_eq!(proxy.connect_timeout(), a2a_guard_gate::config::DEFAULT_CONNECT_TIMEOUT);
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyConfig {
    /// Where clients connect.
    pub listen: SocketAddr,
    /// The agent: `http://host:port`, nothing more (no path, query or userinfo).
    pub upstream: String,
    /// Pass the client's `Authorization` (and `DPoP`) to the agent. Off by default: the agent
    /// receives the claims, not the token. Turn it on only for an agent that needs the raw
    /// token itself (RFC 8693 token exchange, calling on behalf of the client).
    #[serde(default)]
    pub forward_authorization: bool,
    /// How long to wait for the TCP connection to the upstream, in milliseconds (default
    /// [`DEFAULT_CONNECT_TIMEOUT`]); past it the client gets 504.
    pub connect_timeout_ms: Option<u64>,
}

impl ProxyConfig {
    /// The upstream connect timeout: `connect_timeout_ms`, or [`DEFAULT_CONNECT_TIMEOUT`].
    ///
    /// ```
    /// # let mut p = a2a_guard_gate::Config::parse(r#"
    /// #     audiences = ["a"]
    /// #     [proxy]
    /// #     listen = "127.0.0.1:0"
    /// #     upstream = "http://127.0.0.1:9000"
    /// #     connect_timeout_ms = 250
    /// #     [[issuer]]
    /// #     issuer = "https://issuer.example"
    /// # "#).unwrap().proxy.unwrap();
    /// assert_eq!(p.connect_timeout(), std::time::Duration::from_millis(250));
    /// ```
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout_ms
            .map_or(DEFAULT_CONNECT_TIMEOUT, Duration::from_millis)
    }

    /// The upstream's scheme and authority, checked: `http`, a host and a port, and no path,
    /// query, fragment or userinfo. The error says what is wrong.
    ///
    /// ```
    /// # let p = a2a_guard_gate::Config::parse(r#"
    /// #     audiences = ["a"]
    /// #     [proxy]
    /// #     listen = "127.0.0.1:0"
    /// #     upstream = "http://127.0.0.1:9000"
    /// #     [[issuer]]
    /// #     issuer = "https://issuer.example"
    /// # "#).unwrap().proxy.unwrap();
    /// assert_eq!(p.upstream_authority().unwrap().as_str(), "127.0.0.1:9000");
    /// ```
    pub fn upstream_authority(&self) -> Result<http::uri::Authority, String> {
        let text = self.upstream.as_str();
        // `http::Uri` drops a fragment silently; refuse it before parsing.
        if text.contains('#') {
            return Err("no fragment".into());
        }
        let uri: http::Uri = text
            .parse()
            .map_err(|_| "not a URL like http://127.0.0.1:9000".to_owned())?;
        if uri.scheme_str() != Some("http") {
            return Err("the scheme must be http (the upstream is a local agent)".into());
        }
        let Some(authority) = uri.authority().cloned() else {
            return Err("no host".into());
        };
        if authority.as_str().contains('@') {
            return Err("no userinfo".into());
        }
        if authority.host().is_empty() {
            return Err("no host".into());
        }
        if authority.port_u16().is_none() {
            return Err("a port is required (http://host:port)".into());
        }
        if uri.query().is_some() {
            return Err("no query".into());
        }
        if uri.path() != "/" && !uri.path().is_empty() {
            return Err("no path: requests keep their own path".into());
        }
        Ok(authority)
    }
}

/// One `[[issuer]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// The issuer identifier, compared byte for byte with `iss`.
    pub issuer: String,
    /// Where its JWK Set is; without it (and without `keys_file`) the keys are found by
    /// OpenID Connect / RFC 8414 discovery from `issuer`.
    pub jwks_url: Option<String>,
    /// A JWK Set file instead of a URL (re-read when it changes).
    pub keys_file: Option<PathBuf>,
    /// Accept `http://` URLs for this issuer (loopback test issuers only).
    #[serde(default)]
    pub allow_http: bool,
    /// Introspect this issuer's tokens (RFC 7662); at most one issuer.
    pub introspection: Option<IntrospectionConfig>,
}

impl RouteConfig {
    /// The route's scope requirement as written: `require`, or `all` / `any` as a
    /// requirement; `None` when the route names no scope.
    pub fn requirement(&self) -> Option<Requirement> {
        let scopes = |v: &[String]| v.iter().cloned().map(Requirement::Scope).collect();
        if let Some(r) = &self.require {
            Some(r.clone())
        } else if !self.all.is_empty() {
            Some(Requirement::All(AllOf {
                all: scopes(&self.all),
            }))
        } else if !self.any.is_empty() {
            Some(Requirement::Any(AnyOf {
                any: scopes(&self.any),
            }))
        } else {
            None
        }
    }
}

/// A nested scope requirement (`[[route]] require`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Requirement {
    /// This scope must be covered (hierarchically).
    Scope(String),
    /// `{ all = [...] }`: every member must hold.
    All(AllOf),
    /// `{ any = [...] }`: at least one member must hold.
    Any(AnyOf),
}

/// `{ all = [...] }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllOf {
    /// The members.
    pub all: Vec<Requirement>,
}

/// `{ any = [...] }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnyOf {
    /// The members.
    pub any: Vec<Requirement>,
}

/// How deep a `require` may nest (a scope directly under the route is depth 1).
pub const MAX_REQUIREMENT_DEPTH: usize = 8;

impl Requirement {
    /// The library's requirement.
    ///
    /// ```
    /// use a2a_guard_gate::config::{AnyOf, Requirement};
    /// let r = Requirement::Any(AnyOf { any: vec![Requirement::Scope("admin".into())] });
    /// assert_eq!(r.to_requirement().to_string(), "admin");
    /// ```
    pub fn to_requirement(&self) -> ScopeRequirement {
        match self {
            Requirement::Scope(s) => ScopeRequirement::Scope(Scope::new(s.as_str())),
            Requirement::All(a) => ScopeRequirement::all(a.all.iter().map(Self::to_requirement)),
            Requirement::Any(a) => ScopeRequirement::any(a.any.iter().map(Self::to_requirement)),
        }
    }

    /// The same requirement with every scope passed through `f`.
    pub fn map_scopes(&self, f: &dyn Fn(&str) -> String) -> Requirement {
        match self {
            Requirement::Scope(s) => Requirement::Scope(f(s)),
            Requirement::All(a) => Requirement::All(AllOf {
                all: a.all.iter().map(|m| m.map_scopes(f)).collect(),
            }),
            Requirement::Any(a) => Requirement::Any(AnyOf {
                any: a.any.iter().map(|m| m.map_scopes(f)).collect(),
            }),
        }
    }

    /// Every scope named, in order (with repeats).
    pub fn scopes(&self) -> Vec<&str> {
        match self {
            Requirement::Scope(s) => vec![s.as_str()],
            Requirement::All(a) => a.all.iter().flat_map(Self::scopes).collect(),
            Requirement::Any(a) => a.any.iter().flat_map(Self::scopes).collect(),
        }
    }

    /// What is wrong with it: a bad scope, an empty list, or nesting past
    /// [`MAX_REQUIREMENT_DEPTH`].
    fn problem(&self, depth: usize) -> Option<String> {
        if depth > MAX_REQUIREMENT_DEPTH {
            return Some(format!("nested deeper than {MAX_REQUIREMENT_DEPTH}"));
        }
        let members = match self {
            Requirement::Scope(s) => {
                return Scope::parse(s).err().map(|e| format!("{s:?}: {e}"));
            }
            Requirement::All(a) => &a.all,
            Requirement::Any(a) => &a.any,
        };
        if members.is_empty() {
            return Some("an empty `all` or `any` (say what is required)".into());
        }
        members.iter().find_map(|m| m.problem(depth + 1))
    }
}

/// One `[[route]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// An HTTP method, or `*` (default) for any.
    #[serde(default = "any_method")]
    pub method: String,
    /// A path pattern: `/`-separated literal segments, `*` for exactly one segment, and a
    /// final `**` for any remainder (none included).
    pub path: String,
    /// Every one of these scopes is required (hierarchical: `read` covers `read:customers`).
    #[serde(default)]
    pub all: Vec<String>,
    /// At least one of these scopes is required.
    #[serde(default)]
    pub any: Vec<String>,
    /// A nested requirement instead of `all` / `any`: a scope, `{ all = [...] }` or
    /// `{ any = [...] }`, whose members are requirements again, e.g.
    /// `require = { any = [{ all = ["read:customers", "read:payments"] }, "admin"] }`.
    pub require: Option<Requirement>,
    /// No token needed (health checks, the agent card).
    #[serde(default)]
    pub public: bool,
    /// The token must be sender-constrained: `"dpop"` (RFC 9449 `cnf.jkt` with a valid
    /// proof), `"mtls"` (RFC 8705 `cnf.x5t#S256` with its certificate) or `"any"` of the two.
    /// A bearer token is refused (401). Default: any token, bound ones checked all the same.
    pub binding: Option<String>,
    /// The longest RFC 8693 `act` chain accepted on this route (`0`: no delegated token).
    /// Default: the validator's limit only.
    pub max_delegation_depth: Option<usize>,
    /// The current actor (`act.sub`) must be one of these; a token without `act` is refused
    /// (403). Default: any actor, or none.
    #[serde(default)]
    pub actors: Vec<String>,
}

/// `[dpop]`: DPoP proofs (RFC 9449), checked by the a2a-guard library's verifier against the
/// original request. Secrets never appear here: the nonce secret is named by an environment
/// variable or a file.
///
/// ```
/// let c = a2a_guard_gate::Config::parse(r#"
///     audiences = ["https://agent.example"]
///     [listen]
///     forward_auth = "127.0.0.1:9100"
///     [[issuer]]
///     issuer = "https://issuer.example"
///     [dpop]
///     origins = ["https://agent.example"]
///     algorithms = ["ES256", "EdDSA"]
///     iat_window = { behind_secs = 30, ahead_secs = 5 }
/// "#).unwrap();
/// assert_eq!(c.dpop.unwrap().origins, ["https://agent.example"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DpopSection {
    /// The URLs clients reach the agent at and sign as `htu` (scheme, host, port, optional
    /// path prefix); at least one. The original request's host selects one.
    pub origins: Vec<String>,
    /// Accepted proof algorithms (default: every asymmetric algorithm a2a-guard knows).
    #[serde(default)]
    pub algorithms: Vec<String>,
    /// How far a proof's `iat` may lie in the past and the future.
    #[serde(default)]
    pub iat_window: IatWindow,
    /// Require server nonces (RFC 9449 §8): a proof without the current nonce gets 401
    /// `use_dpop_nonce` and a `DPoP-Nonce` header.
    #[serde(default)]
    pub require_nonce: bool,
    /// The environment variable holding the nonce key (at least 32 bytes), shared by every
    /// gate of a fleet. Without it (and without `nonce_secret_file`) each process makes its
    /// own key.
    pub nonce_secret_env: Option<String>,
    /// A file holding the nonce key (a final newline is ignored).
    pub nonce_secret_file: Option<PathBuf>,
    /// Remember proofs in the fleet's Redis (`[revocation] redis_url_env` / `_file`), so a
    /// proof used at one gate is refused at every other. Default `false`: per process.
    #[serde(default)]
    pub shared_replay: bool,
}

/// `[dpop] iat_window`, in seconds.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IatWindow {
    /// How old a proof may be (default 60).
    #[serde(default = "default_iat_behind")]
    pub behind_secs: u64,
    /// How far in the future (clock skew) a proof's `iat` may be (default 5).
    #[serde(default = "default_iat_ahead")]
    pub ahead_secs: u64,
}

impl Default for IatWindow {
    fn default() -> Self {
        IatWindow {
            behind_secs: default_iat_behind(),
            ahead_secs: default_iat_ahead(),
        }
    }
}

fn default_iat_behind() -> u64 {
    a2a_guard::pop::DEFAULT_DPOP_IAT_BEHIND.as_secs()
}

fn default_iat_ahead() -> u64 {
    a2a_guard::pop::DEFAULT_DPOP_IAT_AHEAD.as_secs()
}

fn default_realm() -> String {
    "a2a-guard-gate".into()
}

fn any_method() -> String {
    "*".into()
}

fn default_claim_headers() -> BTreeMap<String, String> {
    [
        ("X-Auth-Sub", "sub"),
        ("X-Auth-Client", "client_id"),
        ("X-Auth-Scopes", "scope"),
        ("X-Auth-Actor", "act.sub"),
    ]
    .into_iter()
    .map(|(h, c)| (h.to_owned(), c.to_owned()))
    .collect()
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not TOML, an unknown key, or a wrong type (the message says where).
    #[error("{0}")]
    Syntax(String),
    /// A value that parses but cannot be used.
    #[error("{at}: {problem}")]
    Invalid {
        /// Where: `issuer[0].jwks_url`, `route[2].path`, …
        at: String,
        /// What is wrong.
        problem: String,
    },
}

/// What is wrong with a resource identifier: it must be an absolute `https` (or `http`) URI
/// with a host, and no query, fragment or userinfo (RFC 8707 §2).
fn resource_problem(r: &str) -> Result<(), &'static str> {
    if r.contains(['?', '#']) {
        return Err("no query or fragment");
    }
    let uri: http::Uri = r.parse().map_err(|_| "not an absolute URI")?;
    if !matches!(uri.scheme_str(), Some("https" | "http")) {
        return Err("the scheme must be https (or http)");
    }
    match uri.authority() {
        Some(a) if a.as_str().contains('@') => Err("no userinfo"),
        Some(a) if !a.host().is_empty() => Ok(()),
        _ => Err("no host"),
    }
}

fn invalid(at: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        at: at.into(),
        problem: problem.into(),
    }
}

impl Config {
    /// Read and check a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text)
    }

    /// Parse and check a configuration.
    ///
    /// ```
    /// let c = a2a_guard_gate::Config::parse(r#"
    ///     audiences = ["https://agent.example"]
    ///     [listen]
    ///     forward_auth = "127.0.0.1:9100"
    ///     [[issuer]]
    ///     issuer = "https://issuer.example"
    ///     [[route]]
    ///     path = "/customers/**"
    ///     all = ["read:customers"]
    /// "#).unwrap();
    /// assert_eq!(c.routes.len(), 1);
    /// assert!(a2a_guard_gate::Config::parse("audiences = []").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let config: Config =
            toml::from_str(text).map_err(|e| ConfigError::Syntax(e.to_string()))?;
        config.check()?;
        Ok(config)
    }

    /// Every rule the types cannot express.
    fn check(&self) -> Result<(), ConfigError> {
        if self.listen.forward_auth.is_none()
            && self.listen.ext_authz.is_none()
            && self.proxy.is_none()
        {
            return Err(invalid(
                "listen.forward_auth",
                "nothing to serve: set [listen] forward_auth, [listen] ext_authz or [proxy]",
            ));
        }
        // Two listeners on one fixed address: the second bind would fail at start.
        let fixed: Vec<(&str, SocketAddr)> = [
            ("listen.forward_auth", self.listen.forward_auth),
            ("listen.ext_authz", self.listen.ext_authz),
            ("listen.admin", self.listen.admin),
            ("listen.events", self.listen.events),
            ("proxy.listen", self.proxy.as_ref().map(|p| p.listen)),
        ]
        .into_iter()
        .filter_map(|(at, a)| a.filter(|a| a.port() != 0).map(|a| (at, a)))
        .collect();
        for (i, (at, addr)) in fixed.iter().enumerate() {
            if let Some((first, _)) = fixed[..i].iter().find(|(_, a)| a == addr) {
                return Err(invalid(*at, format!("the same address as {first}")));
            }
        }
        if let Some(p) = &self.proxy {
            p.upstream_authority()
                .map_err(|e| invalid("proxy.upstream", format!("{:?}: {e}", p.upstream)))?;
            if p.connect_timeout_ms == Some(0) {
                return Err(invalid("proxy.connect_timeout_ms", "must be above 0"));
            }
        }
        if (self.audiences.is_empty() && self.resource.is_none())
            || self.audiences.iter().any(String::is_empty)
        {
            return Err(invalid(
                "audiences",
                "at least one non-empty audience (or a resource)",
            ));
        }
        if let Some(r) = &self.resource {
            resource_problem(r).map_err(|p| invalid("resource", format!("{r:?}: {p}")))?;
        }
        if self.issuers.is_empty() {
            return Err(invalid("issuer", "at least one [[issuer]]"));
        }
        for (i, iss) in self.issuers.iter().enumerate() {
            if iss.issuer.is_empty() {
                return Err(invalid(format!("issuer[{i}].issuer"), "empty"));
            }
            if iss.jwks_url.is_some() && iss.keys_file.is_some() {
                return Err(invalid(
                    format!("issuer[{i}]"),
                    "jwks_url and keys_file are exclusive",
                ));
            }
        }
        self.check_revocation()?;
        if self.keys.refresh_secs == 0 || self.keys.refresh_secs > 24 * 3600 {
            return Err(invalid("keys.refresh_secs", "1 to 86400 seconds"));
        }
        if self.keys.retry_max_secs == 0 || self.keys.retry_max_secs > 24 * 3600 {
            return Err(invalid("keys.retry_max_secs", "1 to 86400 seconds"));
        }
        if self.keys.last_known_good_secs == 0 {
            return Err(invalid("keys.last_known_good_secs", "at least 1 second"));
        }
        if let Some(d) = &self.dpop {
            crate::dpop::check_section(d).map_err(|(key, problem)| invalid(key, problem))?;
        }
        for (name, claim) in &self.claim_headers {
            http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| invalid(format!("claim_headers.{name}"), "not a header name"))?;
            if claim.is_empty() || claim.split('.').any(str::is_empty) {
                return Err(invalid(
                    format!("claim_headers.{name}"),
                    "a claim name, or names joined by `.`",
                ));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for (i, r) in self.routes.iter().enumerate() {
            let at = |k: &str| format!("route[{i}].{k}");
            if r.method != "*" && http::Method::from_bytes(r.method.as_bytes()).is_err() {
                return Err(invalid(at("method"), "an HTTP method or `*`"));
            }
            crate::routes::Pattern::parse(&r.path).map_err(|p| invalid(at("path"), p))?;
            if let Some(req) = &r.require {
                if !r.all.is_empty() || !r.any.is_empty() {
                    return Err(invalid(at("require"), "`require` replaces `all` and `any`"));
                }
                if r.public {
                    return Err(invalid(at("public"), "a public route requires no scopes"));
                }
                if let Some(p) = req.problem(1) {
                    return Err(invalid(at("require"), p));
                }
            }
            if !r.all.is_empty() && !r.any.is_empty() {
                return Err(invalid(at("any"), "`all` and `any` are exclusive"));
            }
            if r.public && !(r.all.is_empty() && r.any.is_empty()) {
                return Err(invalid(at("public"), "a public route requires no scopes"));
            }
            for s in r.all.iter().chain(&r.any) {
                Scope::parse(s).map_err(|e| invalid(at("all"), format!("{s:?}: {e}")))?;
            }
            // Scope templates: `{name}` only as a whole scope segment, naming a `{name}` of
            // the path (so a value can never extend another segment: `read:cust{id}`).
            let pattern =
                crate::routes::Pattern::parse(&r.path).map_err(|p| invalid(at("path"), p))?;
            let params: Vec<&str> = pattern.params().collect();
            let key = if r.require.is_some() {
                "require"
            } else {
                "all"
            };
            for scope in r
                .requirement()
                .iter()
                .flat_map(|q| q.scopes())
                .map(str::to_owned)
            {
                for seg in scope.split(':') {
                    if !seg.contains(['{', '}']) {
                        continue;
                    }
                    let name = seg.strip_prefix('{').and_then(|n| n.strip_suffix('}'));
                    match name {
                        Some(n) if params.contains(&n) => {}
                        Some(n) => {
                            return Err(invalid(
                                at(key),
                                format!("{scope:?}: the path has no {{{n}}} segment"),
                            ));
                        }
                        None => {
                            return Err(invalid(
                                at(key),
                                format!(
                                    "{scope:?}: a template is a whole scope segment, `{{name}}`"
                                ),
                            ));
                        }
                    }
                }
            }
            crate::routes::RouteRules::check(r, self.dpop.is_some())
                .map_err(|(key, problem)| invalid(at(key), problem))?;
            if !seen.insert((r.method.to_ascii_uppercase(), r.path.clone())) {
                return Err(invalid(at("path"), "the same method and path twice"));
            }
        }
        Ok(())
    }

    /// `[revocation]`, `[events]`, `[listen] events` and `[[issuer]] introspection`.
    fn check_revocation(&self) -> Result<(), ConfigError> {
        let r = &self.revocation;
        if r.redis_url_env.is_some() && r.redis_url_file.is_some() {
            return Err(invalid(
                "revocation",
                "redis_url_env and redis_url_file are exclusive",
            ));
        }
        if r.redis_url_env.as_deref() == Some("") {
            return Err(invalid("revocation.redis_url_env", "empty"));
        }
        match r.fail_closed_after_secs {
            Some(0) => return Err(invalid("revocation.fail_closed_after_secs", "at least 1")),
            Some(_) if !r.shared() => {
                return Err(invalid(
                    "revocation.fail_closed_after_secs",
                    "only with a shared deny-list (redis_url_env or redis_url_file)",
                ));
            }
            _ => {}
        }
        if r.admin_api {
            // The admin listener asks for no token: revoking from it must stay on this host.
            match self.listen.admin {
                None => {
                    return Err(invalid(
                        "revocation.admin_api",
                        "needs [listen] admin (on a loopback address)",
                    ));
                }
                Some(a) if !a.ip().is_loopback() => {
                    return Err(invalid(
                        "revocation.admin_api",
                        format!(
                            "[listen] admin is {a}: the revocation API asks for no token, so \
                             the admin listener must be on a loopback address"
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        match (&self.events, self.listen.events) {
            (Some(_), None) => {
                return Err(invalid("events", "set [listen] events to receive them"));
            }
            (None, Some(_)) => {
                return Err(invalid("listen.events", "needs an [events] section"));
            }
            (Some(e), Some(_)) => {
                if e.audience.is_empty() {
                    return Err(invalid("events.audience", "empty"));
                }
                if e.transmitters.is_empty() {
                    return Err(invalid("events.transmitter", "at least one"));
                }
                for (i, t) in e.transmitters.iter().enumerate() {
                    if t.issuer.is_empty() {
                        return Err(invalid(format!("events.transmitter[{i}].issuer"), "empty"));
                    }
                }
            }
            (None, None) => {}
        }
        let mut introspected = None;
        for (i, iss) in self.issuers.iter().enumerate() {
            let Some(x) = &iss.introspection else {
                continue;
            };
            let at = |k: &str| format!("issuer[{i}].introspection.{k}");
            if let Some(first) = introspected {
                return Err(invalid(
                    format!("issuer[{i}].introspection"),
                    format!("only one issuer can be introspected (issuer[{first}] is)"),
                ));
            }
            introspected = Some(i);
            if x.endpoint.is_empty() {
                return Err(invalid(at("endpoint"), "empty"));
            }
            if x.client_id.is_empty() {
                return Err(invalid(at("client_id"), "empty"));
            }
            match (&x.client_secret_env, &x.client_secret_file) {
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        format!("issuer[{i}].introspection"),
                        "client_secret_env and client_secret_file are exclusive",
                    ));
                }
                (None, None) => {
                    return Err(invalid(
                        format!("issuer[{i}].introspection"),
                        "client_secret_env or client_secret_file is required (secrets are \
                         never written in this file)",
                    ));
                }
                (Some(e), None) if e.is_empty() => {
                    return Err(invalid(at("client_secret_env"), "empty"));
                }
                _ => {}
            }
            if x.cache_ttl_secs == Some(0) {
                return Err(invalid(at("cache_ttl_secs"), "at least 1"));
            }
        }
        Ok(())
    }
}
