//! DPoP (RFC 9449) through every way into the gate, over real HTTP and gRPC on loopback: a
//! `TestIssuer` signs DPoP-bound tokens, `DpopKey` signs real proofs, and the gate checks
//! them with a2a-guard's verifier against the original request's method and URL.

use std::collections::HashMap;
use std::net::SocketAddr;

use a2a_guard::Algorithm;
use a2a_guard::testing::{DpopKey, TestIssuer};
use a2a_guard_gate::{Config, Gate, Proxy};
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Request};
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
use envoy_types::pb::envoy::service::auth::v3::{AttributeContext, CheckRequest, CheckResponse};

const ROUTES: &str = r#"
[[route]]
path = "/customers/**"
all = ["read:customers"]

[[route]]
path = "/payments/**"
binding = "dpop"
"#;

/// The gate's three ways in, from one configuration.
struct Ways {
    forward_auth: String,
    proxy: SocketAddr,
    ext_authz: AuthorizationClient<tonic::transport::Channel>,
}

fn config(issuer: &TestIssuer, upstream: &str, dpop: &str) -> Config {
    Config::parse(&format!(
        r#"
audiences = ["{aud}"]
trusted_proxies = ["127.0.0.1"]
[listen]
forward_auth = "127.0.0.1:0"
ext_authz = "127.0.0.1:0"
[proxy]
listen = "127.0.0.1:0"
upstream = "{upstream}"
[[issuer]]
issuer = "{iss}"
jwks_url = "{jwks}"
allow_http = true
{dpop}
{ROUTES}"#,
        aud = issuer.audience(),
        iss = issuer.issuer(),
        jwks = issuer.jwks_url(),
    ))
    .expect("config")
}

const ONE_ORIGIN: &str = r#"
[dpop]
origins = ["https://agent.example"]
algorithms = ["ES256", "EdDSA"]
"#;

async fn start(issuer: &TestIssuer, dpop: &str) -> Ways {
    let app = axum::Router::new().fallback(|| async { "from upstream" });
    let up = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = format!("http://{}", up.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(up, app).await });
    let config = config(issuer, &upstream, dpop);
    let gate = Gate::new(config.clone()).await.expect("gate");
    let bind = || tokio::net::TcpListener::bind("127.0.0.1:0");
    let (fa, ea, px) = (
        bind().await.unwrap(),
        bind().await.unwrap(),
        bind().await.unwrap(),
    );
    let (fa_addr, ea_addr, px_addr) = (
        fa.local_addr().unwrap(),
        ea.local_addr().unwrap(),
        px.local_addr().unwrap(),
    );
    tokio::spawn(gate.clone().serve(fa));
    tokio::spawn(gate.clone().serve_ext_authz(ea));
    let proxy = Proxy::new(gate, config.proxy.as_ref().unwrap()).expect("proxy");
    tokio::spawn(proxy.serve(px));
    let ext_authz = AuthorizationClient::connect(format!("http://{ea_addr}"))
        .await
        .expect("connect");
    Ways {
        forward_auth: format!("http://{fa_addr}"),
        proxy: px_addr,
        ext_authz,
    }
}

/// A forward-auth check as Traefik sends it: the original method, proto, host and URI.
async fn traefik(
    w: &Ways,
    method: &str,
    host: &str,
    uri: &str,
    auth: &str,
    proof: Option<&str>,
) -> reqwest::Response {
    let mut r = reqwest::Client::new()
        .get(format!("{}/", w.forward_auth))
        .header("x-forwarded-method", method)
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", host)
        .header("x-forwarded-uri", uri)
        .header("authorization", auth);
    if let Some(p) = proof {
        r = r.header("dpop", p);
    }
    r.send().await.expect("gate answers")
}

/// A forward-auth check as nginx sends it: `X-Original-URI`, no host (the configured origin).
async fn nginx(
    w: &Ways,
    method: &str,
    uri: &str,
    auth: &str,
    proof: Option<&str>,
) -> reqwest::Response {
    let mut r = reqwest::Client::new()
        .get(format!("{}/auth", w.forward_auth))
        .header("x-original-method", method)
        .header("x-original-uri", uri)
        .header("authorization", auth);
    if let Some(p) = proof {
        r = r.header("dpop", p);
    }
    r.send().await.expect("gate answers")
}

fn www(res: &reqwest::Response) -> String {
    res.headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// A DPoP-bound token for `key`, and a proof for `method` `url` carrying its `ath`.
fn bound(issuer: &TestIssuer, key: &DpopKey, scope: &str) -> String {
    issuer
        .token()
        .subject("agent:analyst")
        .scope(scope)
        .dpop_bound(key)
        .sign()
}

fn proof(key: &DpopKey, method: &str, url: &str, token: &str) -> String {
    key.proof(method, url).access_token(token).sign()
}

#[tokio::test]
async fn forward_auth_behind_nginx_checks_the_proof_against_the_configured_origin() {
    let issuer = TestIssuer::start().await.unwrap();
    let w = start(&issuer, ONE_ORIGIN).await;
    let key = DpopKey::generate(Algorithm::ES256);
    let token = bound(&issuer, &key, "read:customers");
    let auth = format!("DPoP {token}");
    let url = "https://agent.example/customers/42";
    // A proof for this method and URL (the query is not part of htu): allowed.
    let p = proof(&key, "GET", url, &token);
    let res = nginx(&w, "GET", "/customers/42?page=2", &auth, Some(&p)).await;
    assert_eq!(res.status(), 200, "{}", www(&res));
    assert_eq!(res.headers()["x-auth-sub"], "agent:analyst");
    // The same proof again: replayed, 401 with a DPoP challenge.
    let res = nginx(&w, "GET", "/customers/42?page=2", &auth, Some(&p)).await;
    assert_eq!(res.status(), 401);
    let c = www(&res);
    assert!(c.starts_with("DPoP "), "{c}");
    assert!(c.contains(r#"algs="ES256 EdDSA""#), "{c}");
    assert!(c.contains("already used"), "{c}");
    // A proof for another URL, or another method: 401 invalid_dpop_proof.
    let other = proof(&key, "GET", "https://agent.example/customers/43", &token);
    let res = nginx(&w, "GET", "/customers/42", &auth, Some(&other)).await;
    assert_eq!(res.status(), 401);
    assert!(www(&res).contains("htu does not match"), "{}", www(&res));
    let post = proof(&key, "POST", url, &token);
    let res = nginx(&w, "GET", "/customers/42", &auth, Some(&post)).await;
    assert_eq!(res.status(), 401);
    assert!(www(&res).contains("htm does not match"), "{}", www(&res));
    // A proof for another origin than the configured one.
    let elsewhere = proof(&key, "GET", "https://evil.example/customers/42", &token);
    let res = nginx(&w, "GET", "/customers/42", &auth, Some(&elsewhere)).await;
    assert_eq!(res.status(), 401);
    // No proof at all.
    let res = nginx(&w, "GET", "/customers/42", &auth, None).await;
    assert_eq!(res.status(), 401);
    assert!(
        www(&res).contains(r#"error="invalid_dpop_proof""#),
        "{}",
        www(&res)
    );
    // A proof signed by another key (the token's thief): 401.
    let thief = DpopKey::generate(Algorithm::ES256);
    let stolen = proof(&thief, "GET", url, &token);
    let res = nginx(&w, "GET", "/customers/42", &auth, Some(&stolen)).await;
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn forward_auth_behind_traefik_selects_the_origin_from_the_forwarded_host() {
    let issuer = TestIssuer::start().await.unwrap();
    let two = r#"
[dpop]
origins = ["https://agent.example", "https://agent.example.net"]
"#;
    let w = start(&issuer, two).await;
    let key = DpopKey::generate(Algorithm::EdDSA);
    let token = bound(&issuer, &key, "read:customers");
    let auth = format!("DPoP {token}");
    let url = "https://agent.example.net/customers/42";
    let p = proof(&key, "GET", url, &token);
    let res = traefik(
        &w,
        "GET",
        "agent.example.net",
        "/customers/42",
        &auth,
        Some(&p),
    )
    .await;
    assert_eq!(res.status(), 200, "{}", www(&res));
    // Signed for the other configured origin than the one the client reached: 401.
    let p = proof(&key, "GET", "https://agent.example/customers/42", &token);
    let res = traefik(
        &w,
        "GET",
        "agent.example.net",
        "/customers/42",
        &auth,
        Some(&p),
    )
    .await;
    assert_eq!(res.status(), 401);
    // A host that is not a configured origin: 401, whatever the proof says.
    let p = proof(&key, "GET", "https://evil.example/customers/42", &token);
    let res = traefik(&w, "GET", "evil.example", "/customers/42", &auth, Some(&p)).await;
    assert_eq!(res.status(), 401);
    // Replay of a proof accepted once.
    let p = proof(&key, "DELETE", url, &token);
    let res = traefik(
        &w,
        "DELETE",
        "agent.example.net",
        "/customers/42",
        &auth,
        Some(&p),
    )
    .await;
    assert_eq!(res.status(), 200, "{}", www(&res));
    let res = traefik(
        &w,
        "DELETE",
        "agent.example.net",
        "/customers/42",
        &auth,
        Some(&p),
    )
    .await;
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn a_dpop_bound_token_sent_as_bearer_is_refused() {
    let issuer = TestIssuer::start().await.unwrap();
    let w = start(&issuer, ONE_ORIGIN).await;
    let key = DpopKey::generate(Algorithm::ES256);
    let token = bound(&issuer, &key, "read:customers");
    // RFC 9449 §7.2: even with a valid proof alongside.
    let p = proof(&key, "GET", "https://agent.example/customers/42", &token);
    let res = nginx(
        &w,
        "GET",
        "/customers/42",
        &format!("Bearer {token}"),
        Some(&p),
    )
    .await;
    assert_eq!(res.status(), 401);
    assert!(www(&res).contains("DPoP scheme"), "{}", www(&res));
}

#[tokio::test]
async fn a_dpop_route_refuses_an_unbound_token_even_with_a_proof() {
    let issuer = TestIssuer::start().await.unwrap();
    let w = start(&issuer, ONE_ORIGIN).await;
    let key = DpopKey::generate(Algorithm::ES256);
    let unbound = issuer.token().subject("agent:analyst").sign();
    let p = proof(&key, "GET", "https://agent.example/payments/7", &unbound);
    // As Bearer with a proof beside it: the library lets a bearer token through; the route
    // requires a binding.
    let res = nginx(
        &w,
        "GET",
        "/payments/7",
        &format!("Bearer {unbound}"),
        Some(&p),
    )
    .await;
    assert_eq!(res.status(), 401);
    let c = www(&res);
    assert!(
        c.starts_with("DPoP "),
        "a DPoP route challenges with DPoP: {c}"
    );
    assert!(c.contains("requires a DPoP-bound token"), "{c}");
    // As DPoP: the token is not DPoP-bound.
    let p = proof(&key, "GET", "https://agent.example/payments/7", &unbound);
    let res = nginx(
        &w,
        "GET",
        "/payments/7",
        &format!("DPoP {unbound}"),
        Some(&p),
    )
    .await;
    assert_eq!(res.status(), 401);
    // Control: a DPoP-bound token with its proof passes the same route.
    let token = bound(&issuer, &key, "read:payments");
    let p = proof(&key, "GET", "https://agent.example/payments/7", &token);
    let res = nginx(&w, "GET", "/payments/7", &format!("DPoP {token}"), Some(&p)).await;
    assert_eq!(res.status(), 200, "{}", www(&res));
    // And an unbound bearer token passes a route without a binding rule.
    let res = nginx(
        &w,
        "GET",
        "/customers/1",
        &format!("Bearer {}", issuer.token().scope("read:customers").sign()),
        None,
    )
    .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn without_a_dpop_section_dpop_bound_tokens_are_refused() {
    let issuer = TestIssuer::start().await.unwrap();
    let cfg = Config::parse(&format!(
        r#"
audiences = ["{aud}"]
trusted_proxies = ["127.0.0.1"]
[listen]
forward_auth = "127.0.0.1:0"
[[issuer]]
issuer = "{iss}"
jwks_url = "{jwks}"
allow_http = true
[[route]]
path = "/customers/**"
"#,
        aud = issuer.audience(),
        iss = issuer.issuer(),
        jwks = issuer.jwks_url(),
    ))
    .unwrap();
    let gate = Gate::new(cfg).await.unwrap();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(gate.serve(l));
    let key = DpopKey::generate(Algorithm::ES256);
    let token = bound(&issuer, &key, "read:customers");
    let p = proof(&key, "GET", "http://127.0.0.1/customers/1", &token);
    let res = reqwest::Client::new()
        .get(format!("{base}/auth"))
        .header("x-original-uri", "/customers/1")
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", p)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn server_nonces_are_required_when_configured() {
    let issuer = TestIssuer::start().await.unwrap();
    let nonces = r#"
[dpop]
origins = ["https://agent.example"]
require_nonce = true
"#;
    let w = start(&issuer, nonces).await;
    let key = DpopKey::generate(Algorithm::ES256);
    let token = bound(&issuer, &key, "read:customers");
    let auth = format!("DPoP {token}");
    let url = "https://agent.example/customers/42";
    let res = nginx(
        &w,
        "GET",
        "/customers/42",
        &auth,
        Some(&proof(&key, "GET", url, &token)),
    )
    .await;
    assert_eq!(res.status(), 401);
    assert!(
        www(&res).contains(r#"error="use_dpop_nonce""#),
        "{}",
        www(&res)
    );
    let nonce = res.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    let p = key
        .proof("GET", url)
        .access_token(&token)
        .claim("nonce", nonce)
        .sign();
    let res = nginx(&w, "GET", "/customers/42", &auth, Some(&p)).await;
    assert_eq!(res.status(), 200, "{}", www(&res));
}

/// A CheckRequest as Envoy builds it for a request to `https://agent.example{path}`.
fn envoy(method: &str, path: &str, auth: &str, proof: &str) -> CheckRequest {
    let headers = HashMap::from([
        (":method".to_owned(), method.to_owned()),
        (":path".to_owned(), path.to_owned()),
        (":authority".to_owned(), "agent.example".to_owned()),
        ("authorization".to_owned(), auth.to_owned()),
        ("dpop".to_owned(), proof.to_owned()),
    ]);
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(Request {
                http: Some(HttpRequest {
                    method: method.into(),
                    path: path.into(),
                    host: "agent.example".into(),
                    scheme: "https".into(),
                    headers,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

async fn envoy_check(w: &mut Ways, req: CheckRequest) -> CheckResponse {
    w.ext_authz
        .check(req)
        .await
        .expect("a CheckResponse")
        .into_inner()
}

fn envoy_status(res: &CheckResponse) -> u16 {
    match &res.http_response {
        Some(HttpResponse::OkResponse(_)) => 200,
        Some(HttpResponse::DeniedResponse(d)) => d.status.unwrap().code as u16,
        _ => 0,
    }
}

#[tokio::test]
async fn ext_authz_checks_the_proof_against_envoys_scheme_host_and_path() {
    let issuer = TestIssuer::start().await.unwrap();
    let mut w = start(&issuer, ONE_ORIGIN).await;
    let key = DpopKey::generate(Algorithm::ES256);
    let token = bound(&issuer, &key, "read:customers");
    let auth = format!("DPoP {token}");
    let p = proof(&key, "GET", "https://agent.example/customers/42", &token);
    let res = envoy_check(&mut w, envoy("GET", "/customers/42?x=1", &auth, &p)).await;
    assert_eq!(envoy_status(&res), 200, "{res:?}");
    // Replayed.
    let res = envoy_check(&mut w, envoy("GET", "/customers/42?x=1", &auth, &p)).await;
    assert_eq!(envoy_status(&res), 401, "{res:?}");
    // For another path.
    let p = proof(&key, "GET", "https://agent.example/customers/43", &token);
    let res = envoy_check(&mut w, envoy("GET", "/customers/42", &auth, &p)).await;
    assert_eq!(envoy_status(&res), 401, "{res:?}");
    // Bearer scheme.
    let p = proof(&key, "GET", "https://agent.example/customers/42", &token);
    let res = envoy_check(
        &mut w,
        envoy("GET", "/customers/42", &format!("Bearer {token}"), &p),
    )
    .await;
    assert_eq!(envoy_status(&res), 401, "{res:?}");
}

#[tokio::test]
async fn the_proxy_checks_the_proof_against_its_own_request_and_the_origin() {
    let issuer = TestIssuer::start().await.unwrap();
    let w = start(&issuer, ONE_ORIGIN).await;
    let key = DpopKey::generate(Algorithm::ES256);
    let token = bound(&issuer, &key, "read:customers");
    let send = |p: String| {
        reqwest::Client::new()
            .post(format!("http://{}/customers/42", w.proxy))
            // The client reached the agent as agent.example (a load balancer in front).
            .header("host", "agent.example")
            .header("authorization", format!("DPoP {token}"))
            .header("dpop", p)
            .send()
    };
    let url = "https://agent.example/customers/42";
    let p = proof(&key, "POST", url, &token);
    let res = send(p.clone()).await.unwrap();
    assert_eq!(res.status(), 200, "{}", www(&res));
    assert_eq!(res.text().await.unwrap(), "from upstream");
    let res = send(p).await.unwrap();
    assert_eq!(res.status(), 401, "replayed");
    let res = send(proof(&key, "GET", url, &token)).await.unwrap();
    assert_eq!(res.status(), 401, "another method");
}
