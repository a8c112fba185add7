//! The reverse proxy: the gate in front of one upstream agent (`[proxy]` in the
//! configuration). Every request is decided by [`Gate::check`] on its own method, path and
//! headers; a denial is answered by the gate, an allowed request goes to the upstream with
//! the gate's claim headers, and both bodies stream (SSE, MCP's streamable HTTP, uploads),
//! and an HTTP upgrade (WebSocket) is passed through after the same decision.
//!
//! What the upstream receives, on every forwarded request:
//! - the configured claim headers from the gate only: the client's copies are removed first,
//!   on protected and public routes alike;
//! - no hop-by-hop headers (RFC 9110 §7.6.1), in either direction;
//! - no `Authorization` or `DPoP` unless `forward_authorization = true`;
//! - `X-Forwarded-For`, `-Proto` and `-Host` set by the gate, replacing the client's (and the
//!   client's `Forwarded` removed).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use a2a_guard_gate::{Config, Gate, Proxy};
//! let config = Config::load("gate.toml".as_ref())?;
//! let proxy_config = config.proxy.clone().expect("a [proxy] section");
//! let gate = Gate::new(config).await?;
//! let proxy = Proxy::new(gate, &proxy_config)?;
//! let listener = tokio::net::TcpListener::bind(proxy_config.listen).await?;
//! proxy.serve(listener).await?;
//! # Ok(()) }
//! ```

use std::error::Error as _;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::Authority;
use http::{Request, Response, StatusCode, Uri, Version};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::config::{ConfigError, ProxyConfig};
use crate::{Decision, Gate};

/// RFC 9110 §7.6.1: fields that describe this connection only, never forwarded (with the
/// fields `Connection` names). `Proxy-Connection` and `Keep-Alive` are the legacy ones.
const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The reverse proxy: a [`Gate`], the upstream and a pooled HTTP/1.1 client. Cheap to clone.
#[derive(Clone)]
pub struct Proxy {
    inner: Arc<Inner>,
}

struct Inner {
    gate: Gate,
    client: Client<HttpConnector, Body>,
    upstream: Authority,
    forward_authorization: bool,
}

impl Proxy {
    /// A proxy deciding with `gate` and forwarding to `config.upstream`. The error names the
    /// key when the upstream is not `http://host:port`.
    ///
    /// ```no_run
    /// # async fn demo(gate: a2a_guard_gate::Gate, config: a2a_guard_gate::Config)
    /// #     -> Result<(), a2a_guard_gate::ConfigError> {
    /// let proxy = a2a_guard_gate::Proxy::new(gate, config.proxy.as_ref().unwrap())?;
    /// # Ok(()) }
    /// ```
    pub fn new(gate: Gate, config: &ProxyConfig) -> Result<Proxy, ConfigError> {
        let upstream = config
            .upstream_authority()
            .map_err(|problem| ConfigError::Invalid {
                at: "proxy.upstream".into(),
                problem,
            })?;
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(config.connect_timeout()));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Proxy {
            inner: Arc::new(Inner {
                gate,
                client,
                upstream,
                forward_authorization: config.forward_authorization,
            }),
        })
    }

    /// Serve clients on `listener` until the task is dropped.
    ///
    /// ```no_run
    /// # async fn demo(proxy: a2a_guard_gate::Proxy) -> std::io::Result<()> {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:9200").await?;
    /// proxy.serve(listener).await
    /// # }
    /// ```
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        self.serve_until(listener, std::future::pending()).await
    }

    /// Serve on `listener` until `shutdown` completes, then stop accepting and return once
    /// the requests in flight are answered (an open stream or tunnel holds the return).
    pub async fn serve_until(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let app = axum::Router::new().fallback(handle).with_state(self);
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
    }

    /// Decide on `req` from `peer`, then answer the denial or forward it to the upstream.
    async fn forward(&self, peer: SocketAddr, mut req: Request<Body>) -> Response<Body> {
        let p = &*self.inner;
        let path_and_query = req
            .uri()
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .to_owned();
        // The one audit line per request comes from `check`.
        let claims = match p
            .gate
            .check(req.method(), &path_and_query, req.headers())
            .await
        {
            Decision::Allow(claims) => claims,
            Decision::Deny(res) => return res,
        };
        let upgrade = upgrade_protocol(req.headers());
        let client_upgrade = upgrade.is_some().then(|| hyper::upgrade::on(&mut req));
        let (parts, body) = req.into_parts();
        let host = (parts.headers.get(header::HOST).cloned())
            .or_else(|| parts.uri.authority().and_then(|a| a.as_str().parse().ok()));
        let mut headers = parts.headers;
        strip_hop_by_hop(&mut headers);
        // Header spoofing: only the gate's claim headers may reach the agent.
        for name in p.gate.claim_header_names() {
            headers.remove(name);
        }
        if !p.forward_authorization {
            headers.remove(header::AUTHORIZATION);
            headers.remove("dpop");
        }
        // Meant for this proxy, not the agent; the client's `Forwarded` would contradict the
        // `X-Forwarded-*` below. The client sets `Host` for the upstream.
        headers.remove(header::PROXY_AUTHORIZATION);
        headers.remove(header::FORWARDED);
        headers.remove(header::HOST);
        set_forwarded(&mut headers, peer, host);
        for (name, value) in &claims {
            headers.insert(name.clone(), value.clone());
        }
        if let Some(protocol) = &upgrade {
            headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            headers.insert(header::UPGRADE, protocol.clone());
        }
        let uri = Uri::builder()
            .scheme("http")
            .authority(p.upstream.clone())
            .path_and_query(path_and_query)
            .build();
        let Ok(uri) = uri else {
            return plain(StatusCode::BAD_REQUEST, "bad request\n");
        };
        let mut upstream_req = Request::new(body);
        *upstream_req.method_mut() = parts.method;
        *upstream_req.uri_mut() = uri;
        *upstream_req.version_mut() = Version::HTTP_11;
        *upstream_req.headers_mut() = headers;
        let mut res = match p.client.request(upstream_req).await {
            Ok(res) => res,
            Err(e) => return upstream_error(&e),
        };
        if res.status() == StatusCode::SWITCHING_PROTOCOLS {
            let Some(client_upgrade) = client_upgrade else {
                tracing::warn!(target: "a2a_guard_gate::proxy", "upstream switched protocols unasked");
                return plain(StatusCode::BAD_GATEWAY, "bad gateway\n");
            };
            let upstream_upgrade = hyper::upgrade::on(&mut res);
            tokio::spawn(async move {
                let (Ok(client), Ok(upstream)) = tokio::join!(client_upgrade, upstream_upgrade)
                else {
                    return;
                };
                let (mut client, mut upstream) = (TokioIo::new(client), TokioIo::new(upstream));
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
            let (mut parts, _) = res.into_parts();
            let protocol = parts.headers.get(header::UPGRADE).cloned();
            strip_hop_by_hop(&mut parts.headers);
            parts
                .headers
                .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            if let Some(protocol) = protocol {
                parts.headers.insert(header::UPGRADE, protocol);
            }
            return Response::from_parts(parts, Body::empty());
        }
        let (mut parts, body) = res.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        // The upstream's HTTP version describes that connection, not the client's (an
        // HTTP/1.0 upstream must not make the client's connection HTTP/1.0).
        parts.version = Version::HTTP_11;
        // Streamed: each frame goes to the client as it arrives (SSE is never buffered).
        Response::from_parts(parts, Body::new(body))
    }
}

async fn handle(
    State(proxy): State<Proxy>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request<Body>,
) -> Response<Body> {
    // RFC 9728 metadata is the gate's to serve, without a token.
    if let Some(res) = (proxy.inner.gate).resource_metadata(req.method(), req.uri().path()) {
        return res;
    }
    proxy.forward(peer, req).await
}

/// The protocol a request asks to switch to: `Upgrade`, when `Connection` names `upgrade`
/// (RFC 9110 §7.8).
fn upgrade_protocol(headers: &HeaderMap) -> Option<HeaderValue> {
    connection_tokens(headers)
        .any(|t| t.eq_ignore_ascii_case("upgrade"))
        .then(|| headers.get(header::UPGRADE).cloned())
        .flatten()
}

fn connection_tokens(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    (headers.get_all(header::CONNECTION).iter())
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Remove the hop-by-hop fields and the fields `Connection` names (RFC 9110 §7.6.1).
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = connection_tokens(headers)
        .filter_map(|t| HeaderName::from_bytes(t.as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// `X-Forwarded-For` / `-Proto` / `-Host` as this proxy saw the request, replacing whatever
/// the client sent: the agent must not believe a client's claim about its own address.
fn set_forwarded(headers: &mut HeaderMap, peer: SocketAddr, host: Option<HeaderValue>) {
    let ip = HeaderValue::from_str(&peer.ip().to_string()).expect("an IP address is a value");
    headers.insert("x-forwarded-for", ip);
    // The proxy listener speaks plain HTTP.
    headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    match host {
        Some(host) => headers.insert("x-forwarded-host", host),
        None => headers.remove("x-forwarded-host"),
    };
}

/// 504 when the connection to the upstream timed out, 502 for any other failure; the cause
/// goes to the log, never to the client.
fn upstream_error(e: &hyper_util::client::legacy::Error) -> Response<Body> {
    let mut cause = String::new();
    let mut timed_out = false;
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            timed_out |= io.kind() == std::io::ErrorKind::TimedOut;
        }
        cause.push_str(": ");
        cause.push_str(&s.to_string());
        source = s.source();
    }
    tracing::warn!(target: "a2a_guard_gate::proxy", error = %format!("{e}{cause}"), timed_out, "upstream request failed");
    if timed_out && e.is_connect() {
        plain(StatusCode::GATEWAY_TIMEOUT, "upstream timed out\n")
    } else {
        plain(StatusCode::BAD_GATEWAY, "bad gateway\n")
    }
}

fn plain(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut res = Response::new(Body::from(body));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn hop_by_hop_fields_and_the_ones_connection_names_are_removed() {
        let mut h = map(&[
            ("connection", "keep-alive, X-Secret"),
            ("connection", "close"),
            ("keep-alive", "timeout=5"),
            ("proxy-connection", "keep-alive"),
            ("te", "trailers"),
            ("trailer", "x-checksum"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("x-secret", "1"),
            ("accept", "text/event-stream"),
        ]);
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h.contains_key("accept"));
    }

    #[test]
    fn an_upgrade_needs_connection_upgrade() {
        let asked = map(&[("connection", "Upgrade"), ("upgrade", "websocket")]);
        assert_eq!(upgrade_protocol(&asked).unwrap(), "websocket");
        assert!(upgrade_protocol(&map(&[("upgrade", "websocket")])).is_none());
        assert!(upgrade_protocol(&map(&[("connection", "upgrade")])).is_none());
    }
}
