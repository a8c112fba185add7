//! `a2a-guard-gate`: a local token validation service built on a2a-guard, for agents that
//! are not written in Rust: forward-auth decisions for nginx `auth_request` and Traefik
//! `forwardAuth`, the Envoy gRPC ext_authz v3 service ([`ext_authz`]), a reverse proxy in
//! front of one agent ([`Proxy`]), an admin listener, and configuration reloaded without a
//! restart (issue 17); see `gate/README.md`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = a2a_guard_gate::Config::load("gate.toml".as_ref())?;
//! let gate = a2a_guard_gate::Gate::new(config.clone()).await?;
//! let addr = config.listen.forward_auth.expect("[listen] forward_auth");
//! let listener = tokio::net::TcpListener::bind(addr).await?;
//! gate.serve(listener).await?;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod admin;
pub mod config;
mod dpop;
pub mod ext_authz;
pub mod proxy;
pub mod revocation;
pub mod routes;
mod secrets;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use a2a_guard::bearer::{self, Credentials};
use a2a_guard::metadata::ResourceMetadata;
use a2a_guard::pop::ClientCertificate;
use a2a_guard::scope::ScopeRules;
use a2a_guard::{AuthError, Challenge, Principal, Validator};
use axum::extract::{ConnectInfo, State};
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};

use config::IssuerConfig;
pub use config::{Config, ConfigError};
pub use proxy::Proxy;
use routes::{Route, Routes};

/// The decision service: a validator, the routes, the claim headers and the trusted proxies,
/// replaced as one by [`reload`](Gate::reload). Clones share everything.
#[derive(Clone)]
pub struct Gate {
    inner: Arc<ArcSwap<Inner>>,
    /// One reload at a time (`SIGHUP` and the file watch may fire together).
    reloading: Arc<tokio::sync::Mutex<()>>,
}

struct Inner {
    validator: Validator,
    /// What `validator` was built from: a reload with the same issuers and audiences keeps
    /// it, and with it the key caches, the verified-token cache and their state.
    built_from: (
        Vec<IssuerConfig>,
        (Vec<String>, Option<String>),
        config::Keys,
    ),
    /// RFC 9728 metadata and its URL, when a `resource` is configured.
    metadata: Option<Metadata>,
    routes: Routes,
    rules: ScopeRules,
    realm: String,
    trusted: Vec<IpAddr>,
    claim_headers: Vec<(HeaderName, Vec<String>)>,
    /// `[dpop]`: proof checks, kept across reloads when unchanged.
    dpop: dpop::DpopBinding,
    /// The deny-list (the same one for the gate's whole life, consulted by `validator`), its
    /// Redis link, the SET receiver and whether the admin API is on.
    revocation: revocation::State,
}

/// Why the gate could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The validator could not be built (an issuer's keys, a setting).
    #[error("validator: {0}")]
    Validator(#[from] a2a_guard::ConfigError),
    /// On a reload that changes the issuers: these have no usable keys yet, so the new
    /// configuration would refuse their tokens (at start the gate serves anyway and keeps
    /// fetching; a reload keeps the running configuration instead).
    #[error("no usable keys for {}", .0.join(", "))]
    KeysUnavailable(Vec<String>),
}

/// What a successful [`Gate::reload`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reloaded {
    /// Issuers, audiences and `[keys]` were unchanged: the validator, its keys and its
    /// caches were kept; routes, claim headers, trusted proxies and realm were replaced.
    KeysKept,
    /// Issuers, audiences or `[keys]` changed: a new validator fetched its keys before the
    /// swap.
    KeysFetched,
}

/// Why a reload was refused (the running configuration stays).
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The file could not be read or is not a valid configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The new validator could not be built (an issuer's keys could not be had).
    #[error(transparent)]
    Start(#[from] StartError),
}

impl Gate {
    /// Build the validator (fetching every issuer's keys) and the routes.
    pub async fn new(config: Config) -> Result<Gate, StartError> {
        let inner = Inner::build(&config, None).await?;
        Ok(Gate {
            inner: Arc::new(ArcSwap::from_pointee(inner)),
            reloading: Arc::default(),
        })
    }

    /// Replace the configuration: everything is built and checked first, then swapped in
    /// at once; a request already being decided finishes on the configuration it started
    /// with. On an error nothing changes. Listener addresses and `[reload]` are read at
    /// start only.
    ///
    /// ```no_run
    /// # async fn demo(gate: a2a_guard_gate::Gate) -> Result<(), Box<dyn std::error::Error>> {
    /// let new = a2a_guard_gate::Config::load("gate.toml".as_ref())?;
    /// match gate.reload(new).await {
    ///     Ok(done) => println!("reloaded: {done:?}"),
    ///     Err(e) => eprintln!("kept the running configuration: {e}"),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn reload(&self, config: Config) -> Result<Reloaded, StartError> {
        let _one = self.reloading.lock().await;
        let old = self.inner.load_full();
        let result = Inner::build(&config, Some(&old)).await;
        metrics::counter!(
            "a2a_guard_gate_reloads_total",
            "result" => if result.is_ok() { "ok" } else { "error" },
        )
        .increment(1);
        let inner = result?;
        let done = if inner.built_from == old.built_from {
            Reloaded::KeysKept
        } else {
            Reloaded::KeysFetched
        };
        self.inner.store(Arc::new(inner));
        Ok(done)
    }

    /// Read `path` and [`reload`](Gate::reload) from it.
    pub async fn reload_file(&self, path: &Path) -> Result<Reloaded, ReloadError> {
        let config = Config::load(path).inspect_err(|_| {
            metrics::counter!("a2a_guard_gate_reloads_total", "result" => "error").increment(1);
        })?;
        Ok(self.reload(config).await?)
    }

    /// Each issuer's key state (for `/readyz` and dashboards).
    pub fn health(&self) -> Vec<a2a_guard::keys::KeyHealth> {
        self.inner.load().validator.health()
    }

    /// Whether every issuer has usable keys.
    pub fn is_ready(&self) -> bool {
        self.inner.load().validator.is_ready()
    }

    /// Serve forward-auth decisions on `listener` until the task is dropped.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        self.serve_until(listener, std::future::pending()).await
    }

    /// Serve forward-auth decisions on `listener` until `shutdown` completes, then stop
    /// accepting and return once the requests in flight are answered.
    pub async fn serve_until(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let app = axum::Router::new().fallback(decide).with_state(self);
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
    }

    /// The decision for one forward-auth request from `peer`: the request described by a
    /// trusted proxy's `X-Forwarded-*` / `X-Original-*` headers, else this request itself.
    pub async fn decide(&self, peer: IpAddr, req: &Parts) -> Response<axum::body::Body> {
        let trusted = self.inner.load().trusted.contains(&peer);
        let (method, uri) = target(trusted, req);
        if !trusted {
            return self
                .check(&method, &uri, &req.headers)
                .await
                .into_response();
        }
        // The proxy's subrequest names the gate in `Host`, not the agent: a DPoP proof's
        // origin comes from `X-Forwarded-Host` (in `uri`) or the only configured origin.
        let mut headers = req.headers.clone();
        headers.remove(http::header::HOST);
        self.check(&method, &uri, &headers).await.into_response()
    }

    /// The decision for a request with this method, path and query (`uri`, as on the request
    /// line) and headers: the one entry point of every way into the gate (forward-auth,
    /// ext_authz through [`Gate::check_with_certificate`], and the reverse proxy as it lands).
    ///
    /// ```no_run
    /// # async fn demo(gate: a2a_guard_gate::Gate, headers: http::HeaderMap) {
    /// use a2a_guard_gate::Decision;
    /// match gate.check(&http::Method::GET, "/customers/42", &headers).await {
    ///     Decision::Allow(claims) => println!("allowed; {} claim headers", claims.len()),
    ///     Decision::Deny(response) => println!("denied: {}", response.status()),
    /// }
    /// # }
    /// ```
    ///
    /// A token bound to a client certificate (`cnf.x5t#S256`) is refused here: use
    /// [`Gate::check_with_certificate`] where the proxy passes the client's certificate.
    pub async fn check(&self, method: &Method, uri: &str, headers: &HeaderMap) -> Decision {
        self.check_with_certificate(method, uri, headers, None)
            .await
    }

    /// [`Gate::check`] for a request whose client presented `cert` over mutual TLS (as Envoy
    /// reports it in ext_authz): a token bound to a certificate (RFC 8705 `cnf.x5t#S256`) is
    /// accepted only when `cert` is that certificate; with another one or none it is refused
    /// (401 `invalid_token`). A DPoP-bound token (`cnf.jkt`) is refused either way.
    ///
    /// ```no_run
    /// # async fn demo(gate: a2a_guard_gate::Gate, headers: http::HeaderMap, der: Vec<u8>) {
    /// use a2a_guard::pop::ClientCertificate;
    /// use a2a_guard_gate::Decision;
    /// let cert = ClientCertificate::from_der(der);
    /// let decision = gate
    ///     .check_with_certificate(&http::Method::GET, "/customers/42", &headers, Some(&cert))
    ///     .await;
    /// assert!(matches!(decision, Decision::Allow(_) | Decision::Deny(_)));
    /// # }
    /// ```
    pub async fn check_with_certificate(
        &self,
        method: &Method,
        uri: &str,
        headers: &HeaderMap,
        cert: Option<&ClientCertificate>,
    ) -> Decision {
        // One configuration for the whole decision, whatever a reload does meanwhile.
        let g = &*self.inner.load_full();
        // `uri` may be absolute-form (`https://agent.example/p?q`): the origin then names
        // the URL a DPoP proof signs; routes see the path.
        let target = origin_form(uri);
        // RFC 9449 §7.1: a request made with DPoP is answered with a DPoP challenge.
        let dpop_request = matches!(bearer::extract(headers, None), Ok(Credentials::Dpop(_)));
        let deny = |e: AuthError, scope: Option<&str>, dpop: bool| {
            let mut c = Challenge::bearer(&g.realm);
            if let Some(s) = scope {
                c = c.scope(s);
            }
            if dpop {
                c = c.dpop(g.dpop.check.algs());
            }
            if let Some(m) = &g.metadata {
                c = c.resource_metadata(&m.url);
            }
            // Never the query: it may carry a token (refused, but not to be logged).
            let path = target.split(['?', '#']).next().unwrap_or("");
            audit(method, path, None, e.reason(), e.status());
            Decision::Deny(e.to_response_with::<axum::body::Body>(&c))
        };
        let path = match routes::normalized(target) {
            Ok(p) => p,
            Err(why) => return deny(AuthError::InvalidRequest(why), None, false),
        };
        let Some(route) = g.routes.find(method, path) else {
            audit(method, path, None, "no_route", StatusCode::FORBIDDEN);
            return Decision::Deny(plain(
                StatusCode::FORBIDDEN,
                "no route matches this request",
            ));
        };
        if route.public {
            audit(method, path, Some(route), "public", StatusCode::OK);
            return Decision::Allow(HeaderMap::new());
        }
        // A route that requires DPoP says so in every challenge it sends.
        let dpop = dpop_request || route.rules.binding == Some(routes::Binding::Dpop);
        // A route's scopes may be templates filled from the path (`read:customers:{id}`).
        let requirement = match route.requirement_for(path) {
            Ok(r) => r,
            Err(e) => return deny(e, None, dpop),
        };
        let required = requirement.as_ref().map(|r| {
            let v: Vec<&str> = r.scopes().iter().map(|s| s.as_str()).collect();
            v.join(" ")
        });
        let query = target.split_once('?').map(|(_, q)| q);
        let token = match bearer::extract(headers, query) {
            Ok(Credentials::Bearer(t) | Credentials::Dpop(t)) => t,
            Ok(Credentials::None) => {
                return deny(AuthError::MissingToken, required.as_deref(), dpop);
            }
            Err(e) => return deny(e, None, dpop),
        };
        let principal = match g.validator.validate(token).await {
            Ok(p) => p,
            Err(e) => return deny(e, None, dpop),
        };
        if (principal.registered().cnf.is_some() || dpop_request)
            && let Err(e) = binding(g, &principal, method, uri, headers, cert).await
        {
            return deny(e, None, dpop);
        }
        if let Err(e) = route.rules.admits(&principal) {
            return deny(e, None, dpop);
        }
        if let Some(req_scopes) = &requirement
            && !principal.scopes().satisfies(req_scopes, &g.rules)
        {
            let e = AuthError::InsufficientScope {
                required: required.clone().unwrap_or_default(),
            };
            return deny(e, required.as_deref(), dpop);
        }
        audit(method, path, Some(route), "ok", StatusCode::OK);
        let mut claims = HeaderMap::new();
        claim_headers(&g.claim_headers, &principal, &mut claims);
        Decision::Allow(claims)
    }

    /// The RFC 9728 Protected Resource Metadata response when `path` is where it is served
    /// (`/.well-known/oauth-protected-resource` + the `resource`'s path) and a `resource` is
    /// configured: 200 JSON for `GET`/`HEAD`, 405 otherwise; `None` for any other path. The
    /// proxy and the forward-auth listener answer it themselves, without a token.
    ///
    /// ```no_run
    /// # fn demo(gate: a2a_guard_gate::Gate) {
    /// let res = gate.resource_metadata(&http::Method::GET, "/.well-known/oauth-protected-resource");
    /// assert!(res.is_none_or(|r| r.status() == 200));
    /// # }
    /// ```
    pub fn resource_metadata(
        &self,
        method: &Method,
        path: &str,
    ) -> Option<Response<axum::body::Body>> {
        self.inner.load().metadata.as_ref()?.answer(method, path)
    }

    /// The names of the configured claim headers: what a proxy in front of the agent must
    /// remove from every client request, so that only the gate's copies reach the agent.
    pub fn claim_header_names(&self) -> Vec<HeaderName> {
        let g = self.inner.load();
        g.claim_headers
            .iter()
            .map(|(name, _)| name.clone())
            .collect()
    }
}

/// The proof a sender-constrained token needs, checked by a2a-guard's
/// [`PossessionCheck`](a2a_guard::pop::PossessionCheck) — the auth layer's own checks — on
/// the original request: its method, its URL (`uri`, absolute-form when the way in knows the
/// origin; otherwise the `Host` header selects a configured one), its headers (`DPoP`,
/// `Authorization`) and the client certificate. RFC 8705 §3: a certificate-bound token only
/// with that certificate. RFC 9449 §4.3, §7: a DPoP-bound token only as `DPoP` with one valid,
/// unreplayed proof for this request (and the current nonce when nonces are required);
/// without `[dpop]` every DPoP-bound token is refused.
async fn binding(
    g: &Inner,
    principal: &Principal,
    method: &Method,
    uri: &str,
    headers: &HeaderMap,
    cert: Option<&ClientCertificate>,
) -> Result<(), AuthError> {
    let uri: http::Uri = uri
        .parse()
        .map_err(|_| AuthError::InvalidRequest("the request URL is not valid"))?;
    let mut original = Request::new(());
    *original.method_mut() = method.clone();
    *original.uri_mut() = uri;
    *original.headers_mut() = headers.clone();
    if let Some(cert) = cert {
        original.extensions_mut().insert(cert.clone());
    }
    g.dpop.check.check(&g.validator, principal, &original).await
}

/// The path and query of a request target, absolute-form (`https://host/p?q`) or
/// origin-form (`/p?q`). An absolute-form target whose authority is not valid is returned
/// whole, so that the path check refuses it.
fn origin_form(uri: &str) -> &str {
    if uri.starts_with('/') {
        return uri;
    }
    let Some(("http" | "https", rest)) = uri.split_once("://") else {
        return uri;
    };
    let end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.contains('@') || authority.parse::<http::uri::Authority>().is_err() {
        return uri;
    }
    &rest[end..]
}

#[cfg(test)]
mod tests {
    use super::origin_form;

    #[test]
    fn origin_form_strips_a_valid_origin_only() {
        assert_eq!(origin_form("/a/b?x=http://c/d"), "/a/b?x=http://c/d");
        assert_eq!(origin_form("https://agent.example/a?q"), "/a?q");
        assert_eq!(origin_form("http://agent.example:8443/a"), "/a");
        assert_eq!(origin_form("https://agent.example"), "");
        assert_eq!(
            origin_form("https://u@agent.example/a"),
            "https://u@agent.example/a"
        );
        assert_eq!(
            origin_form("ftp://agent.example/a"),
            "ftp://agent.example/a"
        );
    }
}

/// What the gate decided about one request.
#[derive(Debug)]
pub enum Decision {
    /// Let the request through; these are the claim headers for the agent (none on a public
    /// route).
    Allow(HeaderMap),
    /// Answer the client with this response (400, 401 or 403, with the RFC 6750
    /// `WWW-Authenticate` challenge where one applies).
    Deny(Response<axum::body::Body>),
}

impl Decision {
    /// The forward-auth answer: 200 with the claim headers, or the denial.
    pub fn into_response(self) -> Response<axum::body::Body> {
        match self {
            Decision::Allow(claims) => {
                let mut res = plain(StatusCode::OK, "");
                *res.headers_mut() = claims;
                res
            }
            Decision::Deny(res) => res,
        }
    }
}

impl Inner {
    /// Everything a configuration needs; the validator of `old` is kept when its issuers
    /// and audiences are the same.
    async fn build(config: &Config, old: Option<&Inner>) -> Result<Inner, StartError> {
        let built_from = (
            config.issuers.clone(),
            (config.audiences.clone(), config.resource.clone()),
            config.keys.clone(),
        );
        let revocations = revocation::State::revocations(old.map(|o| &o.revocation));
        let validator = match old {
            Some(old) if old.built_from == built_from => old.validator.clone(),
            Some(_) => {
                let v = validator(config, &revocations).await?;
                let missing: Vec<String> = (v.health().into_iter())
                    .filter(|h| !h.ready)
                    .map(|h| h.issuer)
                    .collect();
                if !missing.is_empty() {
                    return Err(StartError::KeysUnavailable(missing));
                }
                v
            }
            None => validator(config, &revocations).await?,
        };
        let routes = Routes::new(&config.routes).map_err(|problem| ConfigError::Invalid {
            at: "route".into(),
            problem,
        })?;
        let claim_headers = (config.claim_headers.iter())
            .filter_map(|(h, c)| {
                let name = HeaderName::from_bytes(h.as_bytes()).ok()?;
                Some((name, c.split('.').map(str::to_owned).collect()))
            })
            .collect();
        let fleet_redis = revocation::redis_url(&config.revocation)?;
        let dpop = dpop::DpopBinding::build(
            config.dpop.as_ref(),
            fleet_redis.as_ref(),
            old.map(|o| &o.dpop),
        )
        .await?;
        let metadata = Metadata::build(config, &validator)?;
        // Last: a new Redis link takes over the deny-list's writes (see `revocation`).
        let revocation =
            revocation::State::build(config, revocations, old.map(|o| &o.revocation)).await?;
        Ok(Inner {
            revocation,
            validator,
            built_from,
            metadata,
            routes,
            rules: ScopeRules::new(),
            realm: config.realm.clone(),
            trusted: config.trusted_proxies.clone(),
            claim_headers,
            dpop,
        })
    }
}

/// RFC 9728 Protected Resource Metadata for the configured `resource`: the library's
/// document (issuers, `bearer_methods_supported`) with every scope a route requires.
struct Metadata {
    served: ResourceMetadata,
    resource: String,
    /// Where it is served on this host: `/.well-known/oauth-protected-resource` + the
    /// resource's path (RFC 9728 §3.1).
    path: String,
    /// The absolute URL, for the `resource_metadata` of challenges.
    url: String,
}

impl Metadata {
    fn build(config: &Config, validator: &Validator) -> Result<Option<Metadata>, StartError> {
        let Some(resource) = &config.resource else {
            return Ok(None);
        };
        let mut scopes: Vec<&str> = (config.routes.iter())
            .flat_map(|r| {
                let nested = r.require.as_ref().map(|q| q.scopes()).unwrap_or_default();
                (r.all.iter().chain(&r.any).map(String::as_str)).chain(nested)
            })
            // A template (`read:customers:{id}`) is not a scope a client can ask for.
            .filter(|s| !s.contains('{'))
            .collect();
        scopes.sort_unstable();
        scopes.dedup();
        let mut b = ResourceMetadata::builder(&validator.layer()).scopes(scopes);
        if let Some(name) = &config.resource_name {
            b = b.resource_name(name.clone());
        }
        if (config.routes.iter()).any(|r| r.binding.as_deref() == Some("mtls")) {
            b = b.certificate_bound_tokens();
        }
        let served = b.build()?;
        let path = served.paths().into_iter().next().unwrap_or_default();
        // `resource` was checked to be an absolute URI: its origin is everything before the
        // path that `paths()` appended to the well-known string.
        let uri: http::Uri = resource.parse().map_err(|_| ConfigError::Invalid {
            at: "resource".into(),
            problem: "not an absolute URI".into(),
        })?;
        let origin = format!(
            "{}://{}",
            uri.scheme_str().unwrap_or("https"),
            uri.authority().map_or("", |a| a.as_str())
        );
        Ok(Some(Metadata {
            served,
            resource: resource.clone(),
            url: format!("{origin}{path}"),
            path,
        }))
    }

    /// The answer for a request for `path`, when it is the metadata's.
    fn answer(&self, method: &Method, path: &str) -> Option<Response<axum::body::Body>> {
        if path != self.path {
            return None;
        }
        if method != Method::GET && method != Method::HEAD {
            let mut res = plain(StatusCode::METHOD_NOT_ALLOWED, "");
            res.headers_mut()
                .insert(http::header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return Some(res);
        }
        let doc = self.served.document(&self.resource)?;
        let body = serde_json::to_vec(&doc).ok()?;
        let mut res = Response::new(axum::body::Body::from(body));
        res.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Some(res)
    }
}

async fn validator(
    config: &Config,
    revocations: &a2a_guard::revocation::Revocations,
) -> Result<Validator, StartError> {
    let mut b = Validator::builder().revocations(revocations.clone());
    for (i, iss) in config.issuers.iter().enumerate() {
        if let Some(x) = &iss.introspection {
            b = b.introspection(revocation::introspection(i, &iss.issuer, x)?);
        }
        b = match (&iss.jwks_url, &iss.keys_file) {
            (Some(url), _) => b.issuer_jwks(iss.issuer.clone(), url.clone()),
            (None, Some(file)) => b.issuer_file(iss.issuer.clone(), file.clone()),
            (None, None) => b.issuer(iss.issuer.clone()),
        };
        if iss.allow_http {
            b = b.allow_http();
        }
    }
    for aud in &config.audiences {
        b = b.audience(aud.clone());
    }
    if let Some(r) = &config.resource {
        b = b.resource(r.clone());
    }
    let k = &config.keys;
    let refresh = Duration::from_secs(k.refresh_secs);
    b = b
        .refresh_interval(
            refresh,
            refresh.min(Duration::from_secs(60)),
            Duration::from_secs(24 * 3600),
        )
        .last_known_good(Duration::from_secs(k.last_known_good_secs))
        .fetch_backoff(
            Duration::from_secs(1),
            Duration::from_secs(k.retry_max_secs),
        );
    if let Some(file) = &k.snapshot_file {
        b = b.snapshot_file(file.clone());
    }
    Ok(b.build().await?)
}

/// The request to decide on: the proxy's description of it when the peer is trusted,
/// otherwise this request itself.
fn target(trusted: bool, req: &Parts) -> (Method, String) {
    let own = || {
        (
            req.method.clone(),
            req.uri
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_owned(),
        )
    };
    if !trusted {
        return own();
    }
    let h = &req.headers;
    let text = |names: [&str; 2]| {
        names
            .iter()
            .find_map(|n| h.get(*n).and_then(|v| v.to_str().ok()))
            .map(str::to_owned)
    };
    // Traefik sends X-Forwarded-Method/-Uri, nginx (by convention) X-Original-Method/-URI.
    let uri = text(["x-forwarded-uri", "x-original-uri"]);
    let method = text(["x-forwarded-method", "x-original-method"])
        .and_then(|m| Method::from_bytes(m.as_bytes()).ok());
    // Traefik also says where the client sent the request (`X-Forwarded-Proto`, `-Host`):
    // the origin of the absolute URL a DPoP proof signs (RFC 9449 §4.3). nginx sends neither
    // unless told to; then the configured origin is used.
    let uri = uri.map(|u| match absolute(h, &u) {
        Some(abs) => abs,
        None => u,
    });
    match (method, uri) {
        (Some(m), Some(u)) => (m, u),
        (None, Some(u)) => (req.method.clone(), u),
        // A trusted proxy that does not say what it asks about: decide on nothing.
        _ => (req.method.clone(), String::new()),
    }
}

/// `proto://host` + `path` from a trusted proxy's `X-Forwarded-Proto` / `-Host`, when the
/// host is a valid authority (no userinfo) and the path is origin-form; else `None`.
fn absolute(h: &HeaderMap, path: &str) -> Option<String> {
    let host = h.get("x-forwarded-host")?.to_str().ok()?;
    let authority: http::uri::Authority = host.parse().ok()?;
    if authority.as_str().contains('@') || !path.starts_with('/') {
        return None;
    }
    let proto = match h.get("x-forwarded-proto").map(|v| v.as_bytes()) {
        Some(b"http") => "http",
        _ => "https",
    };
    Some(format!("{proto}://{authority}{path}"))
}

fn plain(status: StatusCode, body: &'static str) -> Response<axum::body::Body> {
    let mut res = Response::new(axum::body::Body::from(body));
    *res.status_mut() = status;
    res
}

/// Copy the configured claims into response headers. A claim that is missing, not a string
/// (or an array of strings, joined by spaces), or not a valid header value is left out.
fn claim_headers(map: &[(HeaderName, Vec<String>)], p: &Principal, out: &mut HeaderMap) {
    for (name, path) in map {
        let mut v = p.claims().get(&path[0]);
        for key in &path[1..] {
            v = v.and_then(|v| v.get(key));
        }
        let text = match v {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Array(a)) if a.iter().all(serde_json::Value::is_string) => {
                let parts: Vec<&str> = a.iter().filter_map(serde_json::Value::as_str).collect();
                parts.join(" ")
            }
            _ => continue,
        };
        if let Ok(value) = HeaderValue::from_str(&text) {
            out.insert(name.clone(), value);
        } else {
            tracing::warn!(target: "a2a_guard_gate", header = %name, "claim value is not a valid header value: left out");
        }
    }
}

/// One audit event per decision (JSON lines on stdout with the binary's default logging).
fn audit(
    method: &Method,
    path: &str,
    route: Option<&Route>,
    reason: &'static str,
    status: StatusCode,
) {
    let decision = if status.is_success() { "allow" } else { "deny" };
    // Labels from closed sets and the configuration only: the route's pattern, never the
    // path (the same series as the library's auth layer).
    metrics::counter!(
        "a2a_guard_decisions_total",
        "decision" => decision,
        "reason" => reason,
        "route" => route.map_or_else(String::new, |r| r.template.clone()),
    )
    .increment(1);
    tracing::info!(
        target: "a2a_guard_gate::decision",
        decision,
        reason,
        status = status.as_u16(),
        method = %method,
        path,
        route = route.map(|r| r.template.as_str()),
    );
}

async fn decide(
    State(gate): State<Gate>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request<axum::body::Body>,
) -> Response<axum::body::Body> {
    let (parts, _) = req.into_parts();
    // Asked directly (nginx `location = /.well-known/oauth-protected-resource { proxy_pass
    // http://gate; }`), not about another request: the metadata itself.
    let h = &parts.headers;
    if !["x-forwarded-uri", "x-original-uri"]
        .iter()
        .any(|n| h.contains_key(*n))
        && let Some(res) = gate.resource_metadata(&parts.method, parts.uri.path())
    {
        return res;
    }
    gate.decide(peer.ip(), &parts).await
}
