//! The `orchestrator` router, its own client at the authorization server and its shutdown,
//! shared by the example binary and its integration tests.
//!
//! Two ways to call the downstream agent, and neither forwards the inbound token:
//! - `POST /tasks` (scope `delegate:analysis`) acts **for the caller**: the caller's token is
//!   exchanged (RFC 8693) for one addressed to the downstream agent, carrying only the
//!   downstream scopes, with the orchestrator named as actor (`act`). When a revocation
//!   endpoint is known (discovered, or `--revocation-endpoint`), the delegated token is the
//!   task's own and is revoked (RFC 7009) as soon as the downstream agent has answered;
//!   otherwise it is cached for the caller's later tasks until it expires.
//! - `POST /maintenance` (scope `maintenance:run`) acts **as the orchestrator**: its own
//!   client-credentials token (RFC 6749 §4.4), no `act`. A separate scope, because it spends
//!   the orchestrator's authority rather than the caller's: a caller allowed to delegate
//!   analysis is not thereby allowed to run maintenance.
//!
//! Both answer `{"downstream_status": N, "downstream_body": <JSON or string>}`, whatever the
//! downstream status. The downstream agent is not called when a task's downstream scopes are
//! not covered by the caller's (403 `delegation_refused`, before any token request) or when no
//! token can be had (503 `token_unavailable`, with `Retry-After` while the token source backs
//! off); an unreachable downstream agent is 502. Error bodies are
//! `{"error": …, "error_description": …}` and never carry a token or a secret.
//!
//! The orchestrator authenticates with a client secret or `private_key_jwt` (RFC 7523,
//! [`ClientAuth`]) at a token endpoint found in the issuer's metadata or given
//! ([`TokenServer`]), optionally sharing its own token with other instances through Redis
//! (feature `redis`). [`serve`] stops on a signal after in-flight requests finish and, with
//! `--revoke-on-exit`, revokes the tokens still held ([`Orchestrator::revoke_all`]).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use a2a_guard::client::{
    AccessToken, AuthorizationServer, ClientCredentials, ClientError, ClientKey, DelegateTo,
    InboundToken, RevocationReport, Secret, TokenExchange, TokenSource,
};
use a2a_guard::{ConfigError, Principal, RequireScopes, Validator};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use serde_json::{Value, json};

/// The scope `POST /tasks` requires: the caller lets the orchestrator act on its behalf.
pub const TASK_SCOPE: &str = "delegate:analysis";
/// The scope `POST /maintenance` requires: the caller may make the orchestrator spend its own
/// authority at the downstream agent.
pub const MAINTENANCE_SCOPE: &str = "maintenance:run";
/// The largest downstream answer read.
pub const MAX_DOWNSTREAM_BODY: usize = 64 * 1024;
/// Timeout of one downstream call.
pub const DOWNSTREAM_TIMEOUT: Duration = Duration::from_secs(10);

/// The downstream agent and what it is asked for.
#[derive(Debug, Clone)]
pub struct Downstream {
    /// Called with `GET`.
    pub url: String,
    /// The `aud` of tokens for it: an absolute http(s) URI is asked for as the RFC 8707
    /// `resource`, anything else as the RFC 8693 `audience`.
    pub audience: String,
    /// The scopes delegated on `POST /tasks` (each must be covered by the caller's).
    pub scopes: Vec<String>,
}

impl Downstream {
    fn target(&self) -> DelegateTo {
        if is_uri(&self.audience) {
            DelegateTo::resource(&self.audience)
        } else {
            DelegateTo::audience(&self.audience)
        }
    }
}

/// How the orchestrator authenticates at the token endpoint (and the revocation endpoint,
/// which takes the same client authentication, RFC 7009 §2.1).
#[derive(Debug)]
pub enum ClientAuth {
    /// `client_secret_basic` (`--client-secret-file`; the file is re-read when it changes).
    Secret(Secret),
    /// `private_key_jwt` (RFC 7523 §2.2, `--private-key-file`): each request carries a fresh
    /// assertion signed with this key, its `aud` the issuer; no shared secret crosses the
    /// wire. The PEM file is re-read when it changes (key rotation).
    PrivateKey(ClientKey),
}

/// The authorization server the orchestrator gets its own tokens from.
#[derive(Debug, Clone)]
pub enum TokenServer {
    /// From the issuer's metadata (RFC 8414 / OpenID Connect Discovery): the token endpoint,
    /// the revocation endpoint when it publishes one, the mTLS alias.
    Discovered(AuthorizationServer),
    /// Given on the command line (`--token-endpoint`, `--revocation-endpoint`).
    Given {
        /// The issuer identifier: the `aud` of `private_key_jwt` assertions.
        issuer: String,
        /// Where token requests go.
        token_endpoint: String,
        /// Where revocation requests go (RFC 7009); none: tokens are never revoked.
        revocation_endpoint: Option<String>,
    },
}

impl TokenServer {
    /// `token_endpoint` given: it and `revocation_endpoint` as they are; otherwise the
    /// issuer's metadata (its `issuer` must be this one, RFC 8414 §3.3).
    pub async fn find(
        issuer: &str,
        token_endpoint: Option<&str>,
        revocation_endpoint: Option<&str>,
    ) -> Result<TokenServer, ClientError> {
        match token_endpoint {
            Some(url) => Ok(TokenServer::Given {
                issuer: issuer.to_owned(),
                token_endpoint: url.to_owned(),
                revocation_endpoint: revocation_endpoint.map(str::to_owned),
            }),
            None => AuthorizationServer::discover(issuer)
                .await
                .map(TokenServer::Discovered),
        }
    }

    /// The RFC 7009 revocation endpoint, when one is known.
    pub fn revocation_endpoint(&self) -> Option<&str> {
        match self {
            TokenServer::Discovered(server) => server.revocation_endpoint.as_deref(),
            TokenServer::Given {
                revocation_endpoint,
                ..
            } => revocation_endpoint.as_deref(),
        }
    }

    fn credentials(&self, client_id: &str) -> ClientCredentials {
        match self {
            TokenServer::Discovered(server) => server.client_credentials(client_id),
            TokenServer::Given {
                issuer,
                token_endpoint,
                revocation_endpoint,
            } => {
                let credentials = ClientCredentials::new(token_endpoint, client_id).issuer(issuer);
                match revocation_endpoint {
                    Some(url) => credentials.revocation_endpoint(url),
                    None => credentials,
                }
            }
        }
    }
}

/// The orchestrator's own client at the authorization server.
#[derive(Debug)]
pub struct OwnClient {
    /// Where its tokens come from.
    pub server: TokenServer,
    /// Its client ID (the `act.sub` the downstream agent sees on delegated tokens).
    pub client_id: String,
    /// How it authenticates.
    pub auth: ClientAuth,
    /// `--redis-url`: share its own token with the other instances through this Redis, so a
    /// cold fleet makes one token request (needs the `redis` feature).
    pub redis_url: Option<String>,
}

impl OwnClient {
    /// What becomes of a task's delegated token: revoked when the task ends if there is a
    /// revocation endpoint to revoke it at, cached otherwise.
    pub fn delegated_tokens(&self) -> DelegatedTokens {
        match self.server.revocation_endpoint() {
            Some(_) => DelegatedTokens::RevokedPerTask,
            None => DelegatedTokens::Cached,
        }
    }
}

/// What becomes of the token a task delegates to the downstream agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DelegatedTokens {
    /// The task's own (`TokenExchange::task`), revoked (RFC 7009) once the downstream agent
    /// answered: a leaked delegated token is dead at the authorization server (and at every
    /// resource server that introspects) as soon as the task is over. Each task exchanges
    /// anew.
    RevokedPerTask,
    /// Cached by the exchange and reused for the caller's later tasks until it (or the
    /// caller's token) expires: what is left without a revocation endpoint.
    Cached,
}

/// The orchestrator's own client-credentials token source, for the downstream agent:
/// `scopes` asked for, the downstream audience as `resource` or `audience` (see
/// [`Downstream::audience`]). It is also the `actor_token` of every exchange, and its
/// revocation endpoint (when known) is the exchange's too.
pub fn own_tokens(
    client: OwnClient,
    downstream_audience: &str,
    scopes: &[String],
) -> Result<TokenSource, ConfigError> {
    let b = client
        .server
        .credentials(&client.client_id)
        .scope(scopes.iter().cloned());
    let b = match client.auth {
        ClientAuth::Secret(secret) => b.secret(secret),
        ClientAuth::PrivateKey(key) => b.private_key_jwt(key),
    };
    let b = if is_uri(downstream_audience) {
        b.resource(downstream_audience)
    } else {
        b.audience(downstream_audience)
    };
    let b = match client.redis_url {
        Some(url) => shared_cache(b, &url)?,
        None => b,
    };
    b.build()
}

/// `--redis-url`: the token cache shared with the other instances. The URL may carry a
/// password, so the error never repeats it.
#[cfg(feature = "redis")]
fn shared_cache(b: ClientCredentials, url: &str) -> Result<ClientCredentials, ConfigError> {
    let cache =
        a2a_guard::client::RedisTokenCache::new(url).map_err(|_| ConfigError::InvalidSetting {
            name: "--redis-url",
            reason: "not a redis:// or rediss:// URL",
        })?;
    Ok(b.shared_cache(cache))
}

#[cfg(not(feature = "redis"))]
fn shared_cache(_: ClientCredentials, _: &str) -> Result<ClientCredentials, ConfigError> {
    Err(ConfigError::InvalidSetting {
        name: "--redis-url",
        reason: "this orchestrator was built without the `redis` feature \
                 (cargo run --features client,redis --example orchestrator)",
    })
}

/// What the handlers share: the orchestrator's own token source, the exchange built on it,
/// and the downstream agent.
#[derive(Clone)]
pub struct Orchestrator {
    own: TokenSource,
    exchange: TokenExchange,
    delegated: DelegatedTokens,
    downstream: Arc<Downstream>,
    http: reqwest::Client,
}

impl Orchestrator {
    /// Checks the downstream URL: absolute http(s), plain http only to loopback (tokens are
    /// sent there).
    pub fn new(
        own: TokenSource,
        downstream: Downstream,
        delegated: DelegatedTokens,
    ) -> Result<Orchestrator, String> {
        check_url("--downstream-url", &downstream.url)?;
        if downstream.scopes.is_empty() {
            return Err("--downstream-scope needs at least one scope".into());
        }
        let exchange = TokenExchange::builder(own.clone())
            .build()
            .map_err(|e| format!("token exchange: {e}"))?;
        let http = reqwest::Client::builder()
            // A redirect would carry the token elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(DOWNSTREAM_TIMEOUT)
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Orchestrator {
            own,
            exchange,
            delegated,
            downstream: Arc::new(downstream),
            http,
        })
    }

    /// What becomes of a task's delegated token.
    pub fn delegated_tokens(&self) -> DelegatedTokens {
        self.delegated
    }

    /// For `--revoke-on-exit`, once no request is in flight: revoke (RFC 7009) the
    /// orchestrator's own token (and the one its last renewal replaced) and the delegated
    /// tokens the exchange still caches, and log what was done — counts and reasons, never
    /// a token. Without a revocation endpoint nothing can be revoked, and the log says so.
    pub async fn revoke_all(&self) -> ShutdownRevocation {
        let revoked = ShutdownRevocation {
            delegated: self.exchange.revoke_all().await,
            own: self.own.revoke_all().await,
        };
        log_revocation("shutdown: delegated tokens", &revoked.delegated);
        log_revocation("shutdown: own tokens", &revoked.own);
        revoked
    }
}

/// What [`Orchestrator::revoke_all`] did.
#[derive(Debug)]
pub struct ShutdownRevocation {
    /// The orchestrator's own client-credentials tokens.
    pub own: RevocationReport,
    /// The delegated tokens the exchange cached ([`DelegatedTokens::Cached`]; a task's own
    /// tokens are revoked when the task ends).
    pub delegated: RevocationReport,
}

/// One log line for a batch of revocations: counts and reasons, never a token.
fn log_revocation(what: &str, report: &RevocationReport) {
    let failed = report.failed.len();
    if report.revoked + failed == 0 {
        return;
    }
    if failed == 0 {
        tracing::info!(revoked = report.revoked, "{what}: revoked");
    } else if report
        .failed
        .iter()
        .all(|(_, e)| matches!(e, ClientError::NoRevocationEndpoint))
    {
        tracing::warn!(
            not_revoked = failed,
            "{what}: not revoked, no revocation endpoint is known (the issuer's metadata \
             names none; give --revocation-endpoint with --token-endpoint); they stay valid \
             until they expire"
        );
    } else {
        // `ClientError` never carries a token or a secret.
        let reasons: Vec<String> = report.failed.iter().map(|(_, e)| e.to_string()).collect();
        tracing::warn!(
            revoked = report.revoked,
            not_revoked = failed,
            ?reasons,
            "{what}: some not revoked; they stay valid until they expire"
        );
    }
}

/// Serve the [`router`] on `listener` until `shutdown` resolves, let the requests in flight
/// finish (graceful shutdown), then, with `revoke_on_exit`, revoke the tokens still held
/// ([`Orchestrator::revoke_all`]; `None` without it).
pub async fn serve(
    listener: tokio::net::TcpListener,
    validator: Validator,
    orchestrator: Orchestrator,
    shutdown: impl Future<Output = ()> + Send + 'static,
    revoke_on_exit: bool,
) -> std::io::Result<Option<ShutdownRevocation>> {
    axum::serve(listener, router(validator, orchestrator.clone()))
        .with_graceful_shutdown(shutdown)
        .await?;
    if !revoke_on_exit {
        return Ok(None);
    }
    Ok(Some(orchestrator.revoke_all().await))
}

/// The API: both routes behind the validator's layer, each with its scope.
pub fn router(validator: Validator, orchestrator: Orchestrator) -> Router {
    let tasks = validator.advertise(RequireScopes::all([TASK_SCOPE]));
    let maintenance = validator.advertise(RequireScopes::all([MAINTENANCE_SCOPE]));
    Router::new()
        .route("/tasks", post(task).route_layer(tasks))
        .route("/maintenance", post(maintain).route_layer(maintenance))
        .layer(validator.layer())
        .with_state(orchestrator)
}

/// `POST /tasks`: exchange the caller's token, call the downstream agent with the result;
/// with a revocation endpoint, revoke the delegated token once the task is over.
async fn task(
    State(o): State<Orchestrator>,
    p: Principal,
    Extension(inbound): Extension<InboundToken>,
) -> Response {
    let to = o
        .downstream
        .target()
        .scope(o.downstream.scopes.iter().cloned());
    // The library refuses before any token request when a downstream scope is not covered
    // by the caller's scopes, or the delegation chain is at its limit.
    match o.delegated {
        DelegatedTokens::Cached => match o.exchange.delegate(&p, &inbound, to).await {
            Ok(token) => o.delegated_call(&p, &token).await,
            Err(e) => o.not_delegated(&e),
        },
        DelegatedTokens::RevokedPerTask => {
            // Should this request be cancelled (the caller hangs up), dropping `task`
            // still revokes, in the background.
            let task = o.exchange.task();
            let res = match task.delegate(&p, &inbound, to).await {
                Ok(token) => o.delegated_call(&p, &token).await,
                Err(e) => o.not_delegated(&e),
            };
            log_revocation("task finished: delegated token", &task.finish().await);
            res
        }
    }
}

impl Orchestrator {
    async fn delegated_call(&self, p: &Principal, token: &AccessToken) -> Response {
        tracing::info!(
            sub = p.subject().unwrap_or(""),
            "task delegated to the downstream agent"
        );
        self.call_downstream(token).await
    }

    /// No delegated token: refused before asking (403), or none to be had (503).
    fn not_delegated(&self, e: &ClientError) -> Response {
        if !matches!(e, ClientError::NotDelegable(_)) {
            return no_token(e, "task");
        }
        tracing::warn!(error = %e, "task refused: not delegable; downstream not called");
        // Which scopes a caller needs is no secret: the route's and the downstream's.
        (
            StatusCode::FORBIDDEN,
            Json(json!({
                "error": "delegation_refused",
                "error_description": e.to_string(),
                "required_scopes": std::iter::once(TASK_SCOPE)
                    .chain(self.downstream.scopes.iter().map(String::as_str))
                    .collect::<Vec<_>>(),
            })),
        )
            .into_response()
    }
}

/// `POST /maintenance`: the orchestrator's own token, never the caller's.
async fn maintain(State(o): State<Orchestrator>) -> Response {
    let token = match o.own.token().await {
        Ok(t) => t,
        Err(e) => return no_token(&e, "maintenance"),
    };
    o.call_downstream(&token).await
}

impl Orchestrator {
    async fn call_downstream(&self, token: &AccessToken) -> Response {
        let Ok(mut auth) = HeaderValue::try_from(format!("Bearer {}", token.secret())) else {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "token_unavailable",
                "the token is not usable in a header",
            );
        };
        auth.set_sensitive(true);
        let res = match self
            .http
            .get(&self.downstream.url)
            .header(header::AUTHORIZATION, auth)
            .header(header::ACCEPT, "application/json")
            .send()
            .await
        {
            Ok(res) => res,
            Err(e) => {
                let why = if e.is_timeout() {
                    "the downstream agent did not answer in time"
                } else {
                    "the downstream agent could not be reached"
                };
                tracing::warn!(error = why, "downstream call failed");
                return error(StatusCode::BAD_GATEWAY, "downstream_unreachable", why);
            }
        };
        let status = res.status().as_u16();
        let Some(bytes) = read_capped(res).await else {
            return error(
                StatusCode::BAD_GATEWAY,
                "downstream_invalid_response",
                "the downstream answer was cut off or larger than 64 KiB",
            );
        };
        let body = serde_json::from_slice::<Value>(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Json(json!({ "downstream_status": status, "downstream_body": body })).into_response()
    }
}

async fn read_capped(mut res: reqwest::Response) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    while let Some(chunk) = res.chunk().await.ok()? {
        if buf.len() + chunk.len() > MAX_DOWNSTREAM_BODY {
            return None;
        }
        buf.extend_from_slice(&chunk);
    }
    Some(buf)
}

/// No token for the downstream call (the token endpoint is down, refused, or backing off):
/// 503, with `Retry-After` when the token source is backing off. `ClientError` never carries
/// a token or a secret, so its text may be shown.
fn no_token(e: &ClientError, route: &str) -> Response {
    tracing::warn!(route, error = %e, "no token for the downstream agent; not called");
    let mut res = error(
        StatusCode::SERVICE_UNAVAILABLE,
        "token_unavailable",
        &format!("no token for the downstream agent: {e}"),
    );
    if let ClientError::Backoff { retry_after } = e {
        // RFC 9110 §10.2.3: whole seconds, rounded up so the retry is not early.
        let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    }
    res
}

fn error(status: StatusCode, code: &str, description: &str) -> Response {
    (
        status,
        Json(json!({ "error": code, "error_description": description })),
    )
        .into_response()
}

/// An absolute http(s) URI (asked for as an RFC 8707 resource).
fn is_uri(s: &str) -> bool {
    url::Url::parse(s).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
}

/// https, or plain http to a loopback address.
fn check_url(flag: &str, s: &str) -> Result<url::Url, String> {
    let u = url::Url::parse(s).map_err(|e| format!("{flag}: {s:?} is not a URL ({e})"))?;
    let loopback = match u.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match u.scheme() {
        "https" => Ok(u),
        "http" if loopback => Ok(u),
        "http" => Err(format!(
            "{flag}: plain http only to loopback; use https for {s}"
        )),
        _ => Err(format!("{flag}: {s:?} is not an http(s) URL")),
    }
}
