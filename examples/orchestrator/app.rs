//! The `orchestrator` router, shared by the example binary and its integration tests.
//!
//! Two ways to call the downstream agent, and neither forwards the inbound token:
//! - `POST /tasks` (scope `delegate:analysis`) acts **for the caller**: the caller's token is
//!   exchanged (RFC 8693) for one addressed to the downstream agent, carrying only the
//!   downstream scopes, with the orchestrator named as actor (`act`).
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

use std::sync::Arc;
use std::time::Duration;

use a2a_guard::client::{
    AccessToken, ClientCredentials, ClientError, DelegateTo, InboundToken, Secret, TokenExchange,
    TokenSource,
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

/// What the handlers share: the orchestrator's own token source, the exchange built on it,
/// and the downstream agent.
#[derive(Clone)]
pub struct Orchestrator {
    own: TokenSource,
    exchange: TokenExchange,
    downstream: Arc<Downstream>,
    http: reqwest::Client,
}

/// The orchestrator's own client-credentials token source, for the downstream agent:
/// `scopes` asked for, the downstream audience as `resource` or `audience` (see
/// [`Downstream::audience`]). It is also the `actor_token` of every exchange.
pub fn own_tokens(
    token_endpoint: &str,
    client_id: &str,
    secret: Secret,
    downstream_audience: &str,
    scopes: &[String],
) -> Result<TokenSource, ConfigError> {
    let b = ClientCredentials::new(token_endpoint, client_id)
        .secret(secret)
        .scope(scopes.iter().cloned());
    let b = if is_uri(downstream_audience) {
        b.resource(downstream_audience)
    } else {
        b.audience(downstream_audience)
    };
    b.build()
}

impl Orchestrator {
    /// Checks the downstream URL: absolute http(s), plain http only to loopback (tokens are
    /// sent there).
    pub fn new(own: TokenSource, downstream: Downstream) -> Result<Orchestrator, String> {
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
            downstream: Arc::new(downstream),
            http,
        })
    }
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

/// `POST /tasks`: exchange the caller's token, call the downstream agent with the result.
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
    let token = match o.exchange.delegate(&p, &inbound, to).await {
        Ok(t) => t,
        Err(e @ ClientError::NotDelegable(_)) => {
            tracing::warn!(error = %e, "task refused: not delegable; downstream not called");
            // Which scopes a caller needs is no secret: the route's and the downstream's.
            return (
                StatusCode::FORBIDDEN,
                Json(json!({
                    "error": "delegation_refused",
                    "error_description": e.to_string(),
                    "required_scopes": std::iter::once(TASK_SCOPE)
                        .chain(o.downstream.scopes.iter().map(String::as_str))
                        .collect::<Vec<_>>(),
                })),
            )
                .into_response();
        }
        Err(e) => return no_token(&e, "task"),
    };
    tracing::info!(
        sub = p.subject().unwrap_or(""),
        "task delegated to the downstream agent"
    );
    o.call_downstream(&token).await
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

/// The issuer's token endpoint from its metadata: OpenID Connect discovery
/// (`/.well-known/openid-configuration`), then RFC 8414 (`/.well-known/oauth-authorization-server`,
/// inserted before the issuer's path, §3.1). The document must name this issuer (RFC 8414
/// §3.3).
pub async fn discover_token_endpoint(issuer: &str) -> Result<String, String> {
    let base = check_url("--issuer", issuer)?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let oidc = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let mut rfc8414 = base.clone();
    let path = base.path().trim_end_matches('/');
    rfc8414.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
    let mut last = String::new();
    for url in [oidc, rfc8414.to_string()] {
        match metadata_token_endpoint(&http, &url, issuer).await {
            Ok(endpoint) => return Ok(endpoint),
            Err(e) => last = format!("{url}: {e}"),
        }
    }
    Err(format!(
        "no token_endpoint in the issuer's metadata ({last}); give it with --token-endpoint"
    ))
}

async fn metadata_token_endpoint(
    http: &reqwest::Client,
    url: &str,
    issuer: &str,
) -> Result<String, String> {
    let res = http
        .get(url)
        .header(header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|_| "unreachable".to_owned())?;
    if !res.status().is_success() {
        return Err(format!("HTTP {}", res.status().as_u16()));
    }
    let bytes = read_capped(res)
        .await
        .ok_or("cut off or larger than 64 KiB")?;
    let doc: Value = serde_json::from_slice(&bytes).map_err(|_| "not JSON".to_owned())?;
    if doc.get("issuer").and_then(Value::as_str) != Some(issuer) {
        return Err("the document names another issuer".into());
    }
    doc.get("token_endpoint")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| "no token_endpoint member".into())
}
