//! The gate's configuration file (TOML), read strictly: an unknown key, a wrong type or a
//! rule that cannot be applied is an error naming where it is, and nothing starts.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use a2a_guard::scope::Scope;
use serde::Deserialize;

/// The whole file. See `gate/README.md` for every key with its default.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the gate listens.
    pub listen: Listen,
    /// The `realm` of `WWW-Authenticate` challenges.
    #[serde(default = "default_realm")]
    pub realm: String,
    /// Accepted `aud` values (at least one).
    pub audiences: Vec<String>,
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
}

/// `[listen]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listen {
    /// The forward-auth listener (nginx `auth_request`, Traefik `forwardAuth`).
    pub forward_auth: SocketAddr,
    /// The Envoy ext_authz v3 gRPC listener (plaintext HTTP/2, as Envoy's `grpc_service`
    /// speaks to a loopback peer); none by default.
    #[serde(default)]
    pub ext_authz: Option<SocketAddr>,
}

/// One `[[issuer]]`.
#[derive(Debug, Clone, Deserialize)]
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
    /// No token needed (health checks, the agent card).
    #[serde(default)]
    pub public: bool,
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
        if self.audiences.is_empty() || self.audiences.iter().any(String::is_empty) {
            return Err(invalid("audiences", "at least one non-empty audience"));
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
            if !r.all.is_empty() && !r.any.is_empty() {
                return Err(invalid(at("any"), "`all` and `any` are exclusive"));
            }
            if r.public && !(r.all.is_empty() && r.any.is_empty()) {
                return Err(invalid(at("public"), "a public route requires no scopes"));
            }
            for s in r.all.iter().chain(&r.any) {
                Scope::parse(s).map_err(|e| invalid(at("all"), format!("{s:?}: {e}")))?;
            }
            if !seen.insert((r.method.to_ascii_uppercase(), r.path.clone())) {
                return Err(invalid(at("path"), "the same method and path twice"));
            }
        }
        Ok(())
    }
}
