//! The reverse-proxy mode over real HTTP on loopback: a `TestIssuer` signs real tokens, the
//! gate decides, and an upstream (axum, or a hand-written HTTP/1.1 peer where framing and
//! ordering matter) records what reaches it. Streaming is proven by ordering, never by time:
//! the upstream sends the second event only after the client has read the first.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use a2a_guard::testing::TestIssuer;
use a2a_guard_gate::{Config, ConfigError, Gate, Proxy};
use http::HeaderMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// A deadline that turns a hang (a buffered stream) into a failure; never asserted on.
const HANG: Duration = Duration::from_secs(20);

const ROUTES: &str = r#"
[[route]]
path = "/customers/**"
all = ["read:customers"]

[[route]]
path = "/stream/**"
all = ["read:stream"]

[[route]]
path = "/.well-known/agent-card.json"
public = true
"#;

fn config(issuer: &TestIssuer, upstream: &str, proxy_extra: &str) -> Config {
    Config::parse(&format!(
        r#"
audiences = ["{aud}"]
[proxy]
listen = "127.0.0.1:0"
upstream = "{upstream}"
{proxy_extra}
[[issuer]]
issuer = "{iss}"
jwks_url = "{jwks}"
allow_http = true
{ROUTES}"#,
        aud = issuer.audience(),
        iss = issuer.issuer(),
        jwks = issuer.jwks_url(),
    ))
    .expect("config")
}

/// Start the proxy on loopback; returns its address.
async fn start(config: Config) -> SocketAddr {
    let proxy_config = config.proxy.clone().expect("[proxy]");
    let gate = Gate::new(config).await.expect("gate");
    let proxy = Proxy::new(gate, &proxy_config).expect("proxy");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(proxy.serve(listener));
    addr
}

/// What the recording upstream saw.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<(String, HeaderMap)>>>);

impl Seen {
    fn hits(&self) -> usize {
        self.0.lock().unwrap().len()
    }
    fn last(&self) -> (String, HeaderMap) {
        self.0
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("the upstream was reached")
    }
}

/// An axum upstream that records every request and answers 200 with hop-by-hop fields of
/// its own (which must not reach the client).
async fn recording_upstream() -> (String, Seen) {
    let seen = Seen::default();
    let record = seen.clone();
    let app = axum::Router::new().fallback(move |req: http::Request<axum::body::Body>| {
        let record = record.clone();
        async move {
            let uri = req.uri().to_string();
            record.0.lock().unwrap().push((uri, req.headers().clone()));
            http::Response::builder()
                .header("connection", "x-upstream-private")
                .header("x-upstream-private", "1")
                .header("keep-alive", "timeout=5")
                .header("x-upstream", "yes")
                .body(axum::body::Body::from("from upstream"))
                .unwrap()
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), seen)
}

fn values<'a>(h: &'a HeaderMap, name: &str) -> Vec<&'a str> {
    h.get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect()
}

fn bearer(issuer: &TestIssuer, scope: &str) -> String {
    let token = issuer.token().subject("agent:analyst").scope(scope).sign();
    format!("Bearer {token}")
}

/// Read an HTTP/1.1 head (up to the blank line) from `s`; returns it lowercased and any bytes
/// read past it.
async fn read_head(s: &mut TcpStream) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            return (head, buf[end + 4..].to_vec());
        }
        let n = s.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed before the end of the head");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Read from `s` into `buf` until it contains `needle`.
async fn read_until(s: &mut TcpStream, buf: &mut Vec<u8>, needle: &[u8]) {
    let mut chunk = [0u8; 1024];
    while !buf.windows(needle.len()).any(|w| w == needle) {
        let n = s.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed before {:?}", String::from_utf8_lossy(needle));
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test]
async fn allowed_requests_reach_the_upstream_with_the_claim_headers() {
    let issuer = TestIssuer::start().await.unwrap();
    let (upstream, seen) = recording_upstream().await;
    let proxy = start(config(&issuer, &upstream, "")).await;
    let token = issuer
        .token()
        .subject("agent:analyst")
        .claim("client_id", "orchestrator")
        .claim("act", serde_json::json!({"sub": "agent:orchestrator"}))
        .scope("read:customers")
        .sign();
    let res = reqwest::Client::new()
        .get(format!("http://{proxy}/customers/42?page=2"))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-upstream"], "yes");
    assert_eq!(res.text().await.unwrap(), "from upstream");
    let (uri, h) = seen.last();
    assert_eq!(uri, "/customers/42?page=2");
    assert_eq!(values(&h, "x-auth-sub"), ["agent:analyst"]);
    assert_eq!(values(&h, "x-auth-client"), ["orchestrator"]);
    assert_eq!(values(&h, "x-auth-scopes"), ["read:customers"]);
    assert_eq!(values(&h, "x-auth-actor"), ["agent:orchestrator"]);
}

#[tokio::test]
async fn spoofed_claim_headers_never_reach_the_upstream() {
    let issuer = TestIssuer::start().await.unwrap();
    let (upstream, seen) = recording_upstream().await;
    let proxy = start(config(&issuer, &upstream, "")).await;
    let client = reqwest::Client::new();
    let spoof = |r: reqwest::RequestBuilder| {
        r.header("x-auth-sub", "agent:admin")
            .header("X-Auth-Scopes", "admin")
            .header("x-auth-actor", "agent:root")
            .header("x-auth-client", "root")
    };
    // With a valid token: the gate's values only, and none for claims the token lacks.
    let res = spoof(client.get(format!("http://{proxy}/customers/42")))
        .header("authorization", bearer(&issuer, "read:customers"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (_, h) = seen.last();
    assert_eq!(values(&h, "x-auth-sub"), ["agent:analyst"]);
    assert_eq!(values(&h, "x-auth-scopes"), ["read:customers"]);
    assert!(values(&h, "x-auth-actor").is_empty(), "{h:?}");
    // The test issuer's own `client_id`, not the client's.
    assert_eq!(values(&h, "x-auth-client"), ["agent-test"]);
    // On a public route: no claim header at all.
    let res = spoof(client.get(format!("http://{proxy}/.well-known/agent-card.json")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (_, h) = seen.last();
    for name in [
        "x-auth-sub",
        "x-auth-scopes",
        "x-auth-actor",
        "x-auth-client",
    ] {
        assert!(values(&h, name).is_empty(), "{name} reached the upstream");
    }
    assert_eq!(seen.hits(), 2);
}

#[tokio::test]
async fn refusals_are_answered_by_the_gate_and_never_reach_the_upstream() {
    let issuer = TestIssuer::start().await.unwrap();
    let (upstream, seen) = recording_upstream().await;
    let proxy = start(config(&issuer, &upstream, "")).await;
    let client = reqwest::Client::new();
    // No token: 401 with the challenge naming the route's scope.
    let res = client
        .get(format!("http://{proxy}/customers/42"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let challenge = res.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains(r#"scope="read:customers""#),
        "{challenge}"
    );
    // A valid token without the scope: 403 insufficient_scope.
    let res = client
        .post(format!("http://{proxy}/customers/42"))
        .header("authorization", bearer(&issuer, "read:orders"))
        .body("must not be sent")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let challenge = res.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("insufficient_scope"), "{challenge}");
    // No route: 403; a path the agent could read differently: 400.
    let res = client
        .get(format!("http://{proxy}/admin"))
        .header("authorization", bearer(&issuer, "read:customers"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = client
        .get(format!("http://{proxy}/customers/a%2fb"))
        .header("authorization", bearer(&issuer, "read:customers"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(seen.hits(), 0, "a refused request reached the upstream");
    // The count is live: an allowed request is counted.
    let res = client
        .get(format!("http://{proxy}/customers/42"))
        .header("authorization", bearer(&issuer, "read:customers"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(seen.hits(), 1);
}

#[tokio::test]
async fn authorization_is_stripped_unless_forwarding_is_configured() {
    let issuer = TestIssuer::start().await.unwrap();
    let (upstream, seen) = recording_upstream().await;
    let auth = bearer(&issuer, "read:customers");
    let send = |proxy: SocketAddr| {
        reqwest::Client::new()
            .get(format!("http://{proxy}/customers/42"))
            .header("authorization", &auth)
            .header("proxy-authorization", "Basic cHJveHk6c2VjcmV0")
            .send()
    };
    let proxy = start(config(&issuer, &upstream, "")).await;
    assert_eq!(send(proxy).await.unwrap().status(), 200);
    let (_, h) = seen.last();
    assert!(h.get("authorization").is_none(), "{h:?}");
    assert!(h.get("proxy-authorization").is_none(), "{h:?}");
    assert_eq!(values(&h, "x-auth-sub"), ["agent:analyst"]);

    let forwarding = start(config(&issuer, &upstream, "forward_authorization = true")).await;
    assert_eq!(send(forwarding).await.unwrap().status(), 200);
    let (_, h) = seen.last();
    assert_eq!(values(&h, "authorization"), [auth.as_str()]);
    assert!(h.get("proxy-authorization").is_none(), "{h:?}");
}

#[tokio::test]
async fn hop_by_hop_headers_are_removed_both_ways() {
    let issuer = TestIssuer::start().await.unwrap();
    let (upstream, seen) = recording_upstream().await;
    let proxy = start(config(&issuer, &upstream, "")).await;
    // By hand: an HTTP client library would manage some of these fields itself.
    let mut s = TcpStream::connect(proxy).await.unwrap();
    let req = format!(
        "GET /customers/42 HTTP/1.1\r\nhost: agent.example\r\nauthorization: {}\r\n\
         connection: keep-alive, X-Private\r\nx-private: secret\r\nkeep-alive: timeout=5\r\n\
         proxy-connection: keep-alive\r\nte: trailers\r\ntrailer: x-sum\r\nupgrade: h2c\r\n\
         x-kept: 1\r\n\r\n",
        bearer(&issuer, "read:customers")
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let (head, _) = read_head(&mut s).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    // Upstream → client: the upstream's own hop-by-hop fields stop at the proxy.
    assert!(head.contains("x-upstream: yes"), "{head}");
    assert!(!head.contains("x-upstream-private"), "{head}");
    assert!(!head.contains("keep-alive"), "{head}");
    // Client → upstream.
    let (_, h) = seen.last();
    assert_eq!(values(&h, "x-kept"), ["1"]);
    for name in [
        "x-private",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
    ] {
        assert!(h.get(name).is_none(), "{name} reached the upstream: {h:?}");
    }
    for v in values(&h, "connection") {
        assert!(!v.to_ascii_lowercase().contains("x-private"), "{v}");
    }
}

#[tokio::test]
async fn forwarded_headers_are_set_by_the_proxy() {
    let issuer = TestIssuer::start().await.unwrap();
    let (upstream, seen) = recording_upstream().await;
    let proxy = start(config(&issuer, &upstream, "")).await;
    let res = reqwest::Client::new()
        .get(format!("http://{proxy}/customers/42"))
        .header("authorization", bearer(&issuer, "read:customers"))
        .header("x-forwarded-for", "203.0.113.7")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "bank.example")
        .header("forwarded", "for=203.0.113.7;proto=https")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (_, h) = seen.last();
    assert_eq!(values(&h, "x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(values(&h, "x-forwarded-proto"), ["http"]);
    assert_eq!(values(&h, "x-forwarded-host"), [proxy.to_string().as_str()]);
    assert!(h.get("forwarded").is_none(), "{h:?}");
    // The upstream is addressed by its own name.
    assert_eq!(values(&h, "host"), [upstream.trim_start_matches("http://")]);
}

/// A hand-written upstream for one exchange: `serve` gets the accepted connection.
async fn raw_upstream<F, Fut>(serve: F) -> String
where
    F: FnOnce(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (s, _) = listener.accept().await.unwrap();
        serve(s).await;
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn server_sent_events_stream_through_unbuffered() {
    let issuer = TestIssuer::start().await.unwrap();
    let (send_second, second) = oneshot::channel::<()>();
    let upstream = raw_upstream(|mut s| async move {
        let (head, _) = read_head(&mut s).await;
        assert!(head.starts_with("get /stream/events"), "{head}");
        s.write_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
              transfer-encoding: chunked\r\n\r\n\
              d\r\ndata: first\n\n\r\n",
        )
        .await
        .unwrap();
        // The second event only once the client has read the first.
        second.await.unwrap();
        s.write_all(b"e\r\ndata: second\n\n\r\n0\r\n\r\n")
            .await
            .unwrap();
    })
    .await;
    let proxy = start(config(&issuer, &upstream, "")).await;
    tokio::time::timeout(HANG, async {
        let mut res = reqwest::Client::new()
            .get(format!("http://{proxy}/stream/events"))
            .header("authorization", bearer(&issuer, "read:stream"))
            .header("accept", "text/event-stream")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "text/event-stream");
        let mut got = Vec::new();
        while !got.ends_with(b"data: first\n\n") {
            got.extend_from_slice(&res.chunk().await.unwrap().expect("the first event"));
        }
        send_second.send(()).unwrap();
        while let Some(chunk) = res.chunk().await.unwrap() {
            got.extend_from_slice(&chunk);
        }
        assert_eq!(got, b"data: first\n\ndata: second\n\n");
    })
    .await
    .expect("the first event arrived before the stream ended");
}

#[tokio::test]
async fn request_bodies_stream_to_the_upstream() {
    let issuer = TestIssuer::start().await.unwrap();
    let (saw_first, first_seen) = oneshot::channel::<()>();
    let upstream = raw_upstream(|mut s| async move {
        let (head, mut body) = read_head(&mut s).await;
        assert!(head.starts_with("post /stream/upload"), "{head}");
        read_until(&mut s, &mut body, b"chunk-one").await;
        saw_first.send(()).unwrap();
        read_until(&mut s, &mut body, b"chunk-two").await;
        // The end of the chunked body.
        read_until(&mut s, &mut body, b"0\r\n\r\n").await;
        // HTTP/1.0: the upstream's version is not the client's.
        s.write_all(b"HTTP/1.0 200 OK\r\ncontent-length: 8\r\n\r\nreceived")
            .await
            .unwrap();
    })
    .await;
    let proxy = start(config(&issuer, &upstream, "")).await;
    tokio::time::timeout(HANG, async {
        let mut s = TcpStream::connect(proxy).await.unwrap();
        let head = format!(
            "POST /stream/upload HTTP/1.1\r\nhost: agent.example\r\nauthorization: {}\r\n\
             transfer-encoding: chunked\r\n\r\n9\r\nchunk-one\r\n",
            bearer(&issuer, "read:stream")
        );
        s.write_all(head.as_bytes()).await.unwrap();
        // The upstream has the first chunk while the client still holds the second.
        first_seen.await.unwrap();
        s.write_all(b"9\r\nchunk-two\r\n0\r\n\r\n").await.unwrap();
        let (head, mut rest) = read_head(&mut s).await;
        assert!(head.starts_with("http/1.1 200"), "{head}");
        read_until(&mut s, &mut rest, b"received").await;
    })
    .await
    .expect("the upstream saw the first chunk before the client sent the second");
}

#[tokio::test]
async fn upgrades_pass_through_after_the_decision() {
    let issuer = TestIssuer::start().await.unwrap();
    let upstream = raw_upstream(|mut s| async move {
        let (head, _) = read_head(&mut s).await;
        assert!(head.contains("upgrade: websocket"), "{head}");
        assert!(head.contains("connection: upgrade"), "{head}");
        assert!(head.contains("x-auth-sub: agent:analyst"), "{head}");
        s.write_all(
            b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n",
        )
        .await
        .unwrap();
        // Echo, as raw bytes: the proxy no longer speaks HTTP on this connection.
        let mut buf = [0u8; 1024];
        loop {
            let n = s.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            s.write_all(&buf[..n]).await.unwrap();
        }
    })
    .await;
    let proxy = start(config(&issuer, &upstream, "")).await;
    let handshake = |auth: Option<String>| {
        let auth = auth.map_or(String::new(), |a| format!("authorization: {a}\r\n"));
        format!(
            "GET /stream/ws HTTP/1.1\r\nhost: agent.example\r\nconnection: Upgrade\r\n\
             upgrade: websocket\r\nsec-websocket-version: 13\r\n\
             sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n{auth}\r\n"
        )
    };
    tokio::time::timeout(HANG, async {
        // Without a token: the gate's 401, and no upgrade.
        let mut s = TcpStream::connect(proxy).await.unwrap();
        s.write_all(handshake(None).as_bytes()).await.unwrap();
        let (head, _) = read_head(&mut s).await;
        assert!(head.starts_with("http/1.1 401"), "{head}");
        // With one: 101, then bytes both ways.
        let mut s = TcpStream::connect(proxy).await.unwrap();
        s.write_all(handshake(Some(bearer(&issuer, "read:stream"))).as_bytes())
            .await
            .unwrap();
        let (head, mut rest) = read_head(&mut s).await;
        assert!(head.starts_with("http/1.1 101"), "{head}");
        assert!(head.contains("upgrade: websocket"), "{head}");
        s.write_all(b"ping over the tunnel").await.unwrap();
        read_until(&mut s, &mut rest, b"ping over the tunnel").await;
    })
    .await
    .expect("the tunnel echoed");
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_bad_gateway() {
    let issuer = TestIssuer::start().await.unwrap();
    // A port that was just free, with nothing listening on it.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let proxy = start(config(&issuer, &upstream, "")).await;
    let res = reqwest::Client::new()
        .get(format!("http://{proxy}/customers/42"))
        .header("authorization", bearer(&issuer, "read:customers"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 502);
    let body = res.text().await.unwrap();
    assert_eq!(body, "bad gateway\n");
}

#[tokio::test]
async fn an_upstream_that_never_accepts_is_a_gateway_timeout() {
    let issuer = TestIssuer::start().await.unwrap();
    // A listener that never accepts, its queue filled: the kernel drops further SYNs, so a
    // connection attempt neither succeeds nor is refused (Linux; a full accept queue).
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut held = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_millis(500), TcpStream::connect(addr)).await {
            Ok(Ok(s)) => held.push(s),
            Ok(Err(e)) => panic!("connect: {e}"),
            Err(_) => break,
        }
        assert!(held.len() < 64, "the accept queue never filled");
    }
    let proxy = start(config(
        &issuer,
        &format!("http://{addr}"),
        "connect_timeout_ms = 200",
    ))
    .await;
    let res = tokio::time::timeout(HANG, async {
        reqwest::Client::new()
            .get(format!("http://{proxy}/customers/42"))
            .header("authorization", bearer(&issuer, "read:customers"))
            .send()
            .await
            .unwrap()
    })
    .await
    .expect("the proxy gave up connecting");
    assert_eq!(res.status(), 504);
    assert_eq!(res.text().await.unwrap(), "upstream timed out\n");
    drop((listener, held));
}

fn parse_with(listen: &str, proxy: &str) -> Result<Config, ConfigError> {
    Config::parse(&format!(
        r#"
audiences = ["https://agent.example"]
{listen}
{proxy}
[[issuer]]
issuer = "https://issuer.example"
"#
    ))
}

fn invalid_at(r: Result<Config, ConfigError>) -> String {
    match r {
        Err(ConfigError::Invalid { at, .. }) => at,
        Err(e) => panic!("not Invalid: {e}"),
        Ok(_) => panic!("accepted"),
    }
}

#[test]
fn bad_proxy_configurations_are_refused_with_where() {
    let proxy =
        |upstream: &str| format!("[proxy]\nlisten = \"127.0.0.1:9200\"\nupstream = \"{upstream}\"");
    for bad in [
        "https://127.0.0.1:9000",
        "127.0.0.1:9000",
        "http://127.0.0.1",
        "http://127.0.0.1:9000/api",
        "http://127.0.0.1:9000/?debug=1",
        "http://127.0.0.1:9000/#x",
        "http://user:secret@127.0.0.1:9000",
        "http://:9000",
    ] {
        assert_eq!(
            invalid_at(parse_with("", &proxy(bad))),
            "proxy.upstream",
            "{bad}"
        );
    }
    for good in [
        "http://127.0.0.1:9000",
        "http://127.0.0.1:9000/",
        "http://agent.internal:80",
    ] {
        let c = parse_with("", &proxy(good)).unwrap_or_else(|e| panic!("{good}: {e}"));
        assert!(c.listen.forward_auth.is_none());
    }
    // Neither listener.
    assert_eq!(invalid_at(parse_with("", "")), "listen.forward_auth");
    assert_eq!(
        invalid_at(parse_with("[listen]", "")),
        "listen.forward_auth"
    );
    // Forward-auth alone still works; both together too.
    let fa = "[listen]\nforward_auth = \"127.0.0.1:9100\"";
    assert!(parse_with(fa, "").unwrap().proxy.is_none());
    assert!(parse_with(fa, &proxy("http://127.0.0.1:9000")).is_ok());
    let same = "[listen]\nforward_auth = \"127.0.0.1:9200\"";
    assert_eq!(
        invalid_at(parse_with(same, &proxy("http://127.0.0.1:9000"))),
        "proxy.listen"
    );
    let zero = format!("{}\nconnect_timeout_ms = 0", proxy("http://127.0.0.1:9000"));
    assert_eq!(
        invalid_at(parse_with("", &zero)),
        "proxy.connect_timeout_ms"
    );
    // Unknown keys are errors, in [proxy] as everywhere.
    let typo = format!(
        "{}\nforward_authorisation = true",
        proxy("http://127.0.0.1:9000")
    );
    match parse_with("", &typo) {
        Err(ConfigError::Syntax(m)) => assert!(m.contains("forward_authorisation"), "{m}"),
        other => panic!("{other:?}"),
    }
}
