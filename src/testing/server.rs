//! The loopback HTTP side of [`TestIssuer`](super::TestIssuer): routes, failure modes and an
//! accept loop that can be torn down completely.

use super::SigningKey;
use crate::Algorithm;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use bytes::Bytes;
use http::StatusCode;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use http_body::{Frame, SizeHint};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

/// Paths served, relative to the issuer URL.
pub(super) const JWKS_PATH: &str = "/jwks.json";
pub(super) const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
pub(super) const METADATA_PATH: &str = "/.well-known/oauth-authorization-server";
/// The client-credentials token endpoint (`token_endpoint.rs`).
pub(super) const TOKEN_PATH: &str = "/token";
/// The RFC 7009 revocation endpoint (`revocation.rs`).
pub(super) const REVOCATION_PATH: &str = "/revoke";
/// Body of [`Behavior::Garbage`].
const GARBAGE_BODY: &str = "<html>this is not JSON {\"keys\": [";
/// Chunk size of [`Behavior::Oversized`] bodies, which are streamed, never held in memory.
const OVERSIZED_CHUNK: usize = 64 * 1024;

/// How the JWKS and discovery endpoints answer; see
/// [`TestIssuer::set_behavior`](super::TestIssuer::set_behavior).
///
/// ```
/// # use a2a_guard::testing::{Behavior, TestIssuer};
/// # use std::time::Duration;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let issuer = TestIssuer::start().await?;
/// issuer.set_behavior(Behavior::Status(503)); // an outage
/// issuer.set_jwks_behavior(Behavior::Delay(Duration::from_secs(5))); // a slow JWKS only
/// issuer.set_behavior(Behavior::Normal);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Behavior {
    /// Serve correct documents.
    #[default]
    Normal,
    /// Answer with this status and a short plain-text body (an invalid code becomes 500).
    Status(u16),
    /// Accept the request and never answer, keeping the connection open.
    Hang,
    /// Answer 200, `Content-Type: application/json`, with a body that is not JSON.
    Garbage,
    /// Answer 200 with a JSON-looking body of exactly this many bytes (`{"keys":[` + spaces
    /// + `]}`), streamed in chunks.
    Oversized(usize),
    /// Wait this long, then serve normally (tokio time: honours a paused clock).
    Delay(Duration),
}

/// Everything the handlers read; shared by the issuer handle and the server task.
pub(super) struct ServerState {
    pub(super) issuer: String,
    /// The `aud` of tokens the token endpoint issues without a `resource`.
    pub(super) audience: String,
    pub(super) keys: Mutex<KeyState>,
    pub(super) config: Mutex<Config>,
    pub(super) jwks_fetches: AtomicUsize,
    /// Requests that reached the token endpoint.
    pub(super) token_requests: AtomicUsize,
    /// Requests that reached the introspection endpoint.
    pub(super) introspection_requests: AtomicUsize,
    /// Requests that reached the revocation endpoint.
    pub(super) revocation_requests: AtomicUsize,
    /// `jti`s of tokens revoked at the revocation endpoint.
    pub(super) revoked: Mutex<HashSet<String>>,
    pub(super) discovery_fetches: AtomicUsize,
}

/// Published JWKs and the current signing key per algorithm.
#[derive(Default)]
pub(super) struct KeyState {
    pub(super) published: Vec<Value>,
    pub(super) signing: HashMap<Algorithm, SigningKey>,
}

/// Switches set by tests.
#[derive(Default)]
pub(super) struct Config {
    pub(super) jwks_behavior: Behavior,
    pub(super) discovery_behavior: Behavior,
    pub(super) cache_control: Option<String>,
    pub(super) discovery_issuer: Option<String>,
    /// Client id → secret, for the token endpoint.
    pub(super) clients: HashMap<String, String>,
    /// Client id → its public JWKs, for `private_key_jwt`.
    pub(super) client_keys: HashMap<String, Vec<Value>>,
    /// `jti`s of client assertions (and `dpop:`-prefixed DPoP proofs) already used, with
    /// their `exp` (pruned when past).
    pub(super) used_assertions: HashMap<String, i64>,
    /// The DPoP nonce the token endpoint requires, when it requires one.
    pub(super) dpop_nonce: Option<String>,
    /// Opaque token → its claims (introspection).
    pub(super) opaque: HashMap<String, Value>,
    /// Tokens and `jti`s the introspection endpoint reports inactive.
    pub(super) inactive: std::collections::HashSet<String>,
    pub(super) introspection_behavior: Behavior,
    /// Answer plain JSON even when a signed answer (RFC 9701) is asked for.
    pub(super) introspection_unsigned: bool,
    pub(super) token_behavior: Behavior,
    pub(super) revocation_behavior: Behavior,
    /// `expires_in` of issued tokens, when not the default.
    pub(super) token_lifetime: Option<i64>,
}

/// Locks, ignoring poisoning: the guarded data stays consistent after any panic elsewhere.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ServerState {
    pub(super) fn new(issuer: String, audience: String) -> ServerState {
        ServerState {
            issuer,
            audience,
            keys: Mutex::default(),
            config: Mutex::default(),
            jwks_fetches: AtomicUsize::new(0),
            token_requests: AtomicUsize::new(0),
            revocation_requests: AtomicUsize::new(0),
            revoked: Mutex::default(),
            discovery_fetches: AtomicUsize::new(0),
            introspection_requests: AtomicUsize::new(0),
        }
    }

    pub(super) fn jwks(&self) -> Value {
        json!({ "keys": lock(&self.keys).published.clone() })
    }

    fn discovery(&self) -> Value {
        let issuer = lock(&self.config).discovery_issuer.clone();
        json!({
            "issuer": issuer.unwrap_or_else(|| self.issuer.clone()),
            "jwks_uri": format!("{}{JWKS_PATH}", self.issuer),
            "token_endpoint": format!("{}{TOKEN_PATH}", self.issuer),
            "introspection_endpoint": format!("{}{}", self.issuer, super::introspect::INTROSPECT_PATH),
            "grant_types_supported": ["client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": Algorithm::ALL,
            "dpop_signing_alg_values_supported": Algorithm::ALL,
            "revocation_endpoint": format!("{}{REVOCATION_PATH}", self.issuer),
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": Algorithm::ALL,
        })
    }
}

async fn serve_jwks(State(state): State<Arc<ServerState>>) -> Response {
    state.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    let (behavior, cache_control) = {
        let config = lock(&state.config);
        (config.jwks_behavior, config.cache_control.clone())
    };
    if let Some(response) = misbehave(behavior).await {
        return response;
    }
    let mut response = json_response(&state.jwks());
    // A header value with control characters cannot be sent; it is left out.
    if let Some(value) = cache_control.and_then(|v| HeaderValue::from_str(&v).ok()) {
        response.headers_mut().insert(CACHE_CONTROL, value);
    }
    response
}

async fn serve_discovery(State(state): State<Arc<ServerState>>) -> Response {
    state.discovery_fetches.fetch_add(1, Ordering::SeqCst);
    let behavior = lock(&state.config).discovery_behavior;
    match misbehave(behavior).await {
        Some(response) => response,
        None => json_response(&state.discovery()),
    }
}

/// The response for a failure mode, or `None` to serve normally.
pub(super) async fn misbehave(behavior: Behavior) -> Option<Response> {
    match behavior {
        Behavior::Normal => None,
        Behavior::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = Response::new(Body::from(format!("test issuer: status {code}\n")));
            *response.status_mut() = status;
            Some(response)
        }
        Behavior::Hang => std::future::pending().await,
        Behavior::Garbage => Some(with_json_type(Response::new(Body::from(GARBAGE_BODY)))),
        Behavior::Oversized(len) => {
            let body = PaddedJson { len, sent: 0 };
            Some(with_json_type(Response::new(Body::new(body))))
        }
        Behavior::Delay(delay) => {
            tokio::time::sleep(delay).await;
            None
        }
    }
}

fn json_response(value: &Value) -> Response {
    with_json_type(Response::new(Body::from(value.to_string())))
}

fn with_json_type(mut response: Response) -> Response {
    let json = HeaderValue::from_static("application/json");
    response.headers_mut().insert(CONTENT_TYPE, json);
    response
}

/// A body of exactly `len` bytes: `{"keys":[`, spaces, `]}` (valid JSON when long enough).
struct PaddedJson {
    len: usize,
    sent: usize,
}

impl PaddedJson {
    const PREFIX: &'static [u8] = b"{\"keys\":[";
    const SUFFIX: &'static [u8] = b"]}";

    fn byte_at(&self, pos: usize) -> u8 {
        if self.len < Self::PREFIX.len() + Self::SUFFIX.len() {
            // Too short for the skeleton: `{  }`, or a lone space.
            return match pos {
                0 if self.len >= 2 => b'{',
                p if p + 1 == self.len && self.len >= 2 => b'}',
                _ => b' ',
            };
        }
        let suffix_start = self.len - Self::SUFFIX.len();
        if pos < Self::PREFIX.len() {
            Self::PREFIX[pos]
        } else if pos >= suffix_start {
            Self::SUFFIX[pos - suffix_start]
        } else {
            b' '
        }
    }
}

impl http_body::Body for PaddedJson {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        let n = (this.len - this.sent).min(OVERSIZED_CHUNK);
        if n == 0 {
            return Poll::Ready(None);
        }
        let chunk: Vec<u8> = (this.sent..this.sent + n)
            .map(|pos| this.byte_at(pos))
            .collect();
        this.sent += n;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(chunk)))))
    }

    fn is_end_stream(&self) -> bool {
        self.sent == self.len
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact((self.len - self.sent) as u64)
    }
}

fn router(state: Arc<ServerState>) -> Router {
    Router::new()
        .route(JWKS_PATH, get(serve_jwks))
        .route(DISCOVERY_PATH, get(serve_discovery))
        .route(METADATA_PATH, get(serve_discovery))
        .route(TOKEN_PATH, post(super::token_endpoint::serve_token))
        .route(
            super::introspect::INTROSPECT_PATH,
            post(super::introspect::serve_introspect),
        )
        .route(REVOCATION_PATH, post(super::revocation::serve_revoke))
        .with_state(state)
}

/// Binds `addr` with `SO_REUSEADDR`, so a restart can take the same port back while closed
/// connections sit in `TIME_WAIT`.
pub(super) fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// A serving accept loop. Every connection is a task in a `JoinSet` owned by the loop, so
/// ending the loop ends every connection too.
pub(super) struct Running {
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Running {
    pub(super) fn spawn(listener: TcpListener, state: Arc<ServerState>) -> Running {
        let (shutdown, stop) = oneshot::channel();
        let task = tokio::spawn(accept_loop(listener, router(state), stop));
        Running { shutdown, task }
    }

    /// Closes the listener and every open connection, and waits until both are gone.
    pub(super) async fn stop(self) {
        let _ = self.shutdown.send(());
        let _ = self.task.await;
    }

    /// Stops without waiting (for `Drop`); connections close as soon as the runtime runs.
    pub(super) fn abort(&self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, router: Router, mut stop: oneshot::Receiver<()>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            // A stop request, or the handle dropped without one.
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let service = TowerToHyperService::new(router.clone());
                    connections.spawn(async move {
                        let io = TokioIo::new(stream);
                        let served = hyper::server::conn::http1::Builder::new()
                            .serve_connection(io, service)
                            .await;
                        if let Err(error) = served {
                            tracing::debug!(%error, "test issuer connection ended with an error");
                        }
                    });
                }
                Err(error) => {
                    // E.g. out of file descriptors: back off instead of spinning.
                    tracing::debug!(%error, "test issuer accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    connections.shutdown().await;
}
