//! The forward-auth contract over real HTTP on loopback: a `TestIssuer` signs real tokens,
//! the gate fetches its keys, and requests arrive as nginx `auth_request` and Traefik
//! `forwardAuth` send them.

use a2a_guard::Algorithm;
use a2a_guard::testing::{DpopKey, TestIssuer};
use a2a_guard_gate::{Config, Gate};

const ROUTES: &str = r#"
[[route]]
path = "/customers/**"
all = ["read:customers"]

# Declared before the more specific POST route below: specificity, not order, decides.
[[route]]
path = "/payments/*"
any = ["read:payments", "execute:payment"]

[[route]]
method = "POST"
path = "/payments/*"
all = ["execute:payment"]

[[route]]
path = "/.well-known/agent-card.json"
public = true
"#;

fn config(issuer: &TestIssuer, trusted: &str) -> Config {
    Config::parse(&format!(
        r#"
audiences = ["{aud}"]
trusted_proxies = [{trusted}]
[listen]
forward_auth = "127.0.0.1:0"
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

/// Start a gate on loopback; returns its base URL.
async fn start(config: Config) -> String {
    let gate = Gate::new(config).await.expect("gate");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(gate.serve(listener));
    format!("http://{addr}")
}

/// One forward-auth check, as nginx sends it (`X-Original-Method`, `X-Original-URI`).
async fn nginx(base: &str, method: &str, uri: &str, auth: Option<&str>) -> reqwest::Response {
    let mut r = reqwest::Client::new()
        .get(format!("{base}/auth"))
        .header("x-original-method", method)
        .header("x-original-uri", uri);
    if let Some(a) = auth {
        r = r.header("authorization", a);
    }
    r.send().await.expect("gate answers")
}

fn header<'a>(res: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    res.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn allowed_requests_carry_the_claim_headers() {
    let issuer = TestIssuer::start().await.unwrap();
    let base = start(config(&issuer, r#""127.0.0.1""#)).await;
    let token = issuer
        .token()
        .subject("agent:analyst")
        .claim("client_id", "orchestrator")
        .claim("act", serde_json::json!({"sub": "agent:orchestrator"}))
        .scope("read:customers")
        .sign();
    let res = nginx(
        &base,
        "GET",
        "/customers/42?page=2",
        Some(&format!("Bearer {token}")),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "x-auth-sub"), Some("agent:analyst"));
    assert_eq!(header(&res, "x-auth-client"), Some("orchestrator"));
    assert_eq!(header(&res, "x-auth-scopes"), Some("read:customers"));
    assert_eq!(header(&res, "x-auth-actor"), Some("agent:orchestrator"));
    // A parent scope covers the child route (hierarchical scopes).
    let parent = issuer.token().scope("read").sign();
    let res = nginx(
        &base,
        "GET",
        "/customers/42",
        Some(&format!("Bearer {parent}")),
    )
    .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn refusals_follow_rfc_6750() {
    let issuer = TestIssuer::start().await.unwrap();
    let base = start(config(&issuer, r#""127.0.0.1""#)).await;
    // No token: 401 naming the route's scope, so the client knows what to ask for.
    let res = nginx(&base, "GET", "/customers/42", None).await;
    assert_eq!(res.status(), 401);
    let challenge = header(&res, "www-authenticate").unwrap();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(
        challenge.contains(r#"scope="read:customers""#),
        "{challenge}"
    );
    // A valid token without the scope: 403 insufficient_scope.
    let other = issuer.token().scope("read:orders").sign();
    let res = nginx(
        &base,
        "GET",
        "/customers/42",
        Some(&format!("Bearer {other}")),
    )
    .await;
    assert_eq!(res.status(), 403);
    assert!(
        header(&res, "www-authenticate")
            .unwrap()
            .contains("insufficient_scope")
    );
    assert!(header(&res, "x-auth-sub").is_none());
    // An expired token: 401 invalid_token.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let expired = (issuer.token().scope("read:customers"))
        .issued_at(now - 900)
        .expires_at(now - 600)
        .sign();
    let res = nginx(
        &base,
        "GET",
        "/customers/42",
        Some(&format!("Bearer {expired}")),
    )
    .await;
    assert_eq!(res.status(), 401);
    assert!(
        header(&res, "www-authenticate")
            .unwrap()
            .contains("invalid_token")
    );
    // A token in the forwarded URL's query string: 400 (it would reach access logs).
    let res = nginx(
        &base,
        "GET",
        &format!("/customers/42?access_token={other}"),
        None,
    )
    .await;
    assert_eq!(res.status(), 400);
    // A sender-constrained (DPoP-bound) token is not accepted as a bearer token.
    let bound = issuer
        .token()
        .scope("read:customers")
        .dpop_bound(&DpopKey::generate(Algorithm::ES256))
        .sign();
    let res = nginx(
        &base,
        "GET",
        "/customers/42",
        Some(&format!("Bearer {bound}")),
    )
    .await;
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn the_most_specific_route_wins_and_unmatched_requests_are_refused() {
    let issuer = TestIssuer::start().await.unwrap();
    let base = start(config(&issuer, r#""127.0.0.1""#)).await;
    let read = format!("Bearer {}", issuer.token().scope("read:payments").sign());
    let pay = format!("Bearer {}", issuer.token().scope("execute:payment").sign());
    // POST /payments/7 needs execute:payment (method-specific route over the `*` one).
    assert_eq!(
        nginx(&base, "POST", "/payments/7", Some(&read))
            .await
            .status(),
        403
    );
    assert_eq!(
        nginx(&base, "POST", "/payments/7", Some(&pay))
            .await
            .status(),
        200
    );
    // GET falls to the any-method route: either scope will do.
    assert_eq!(
        nginx(&base, "GET", "/payments/7", Some(&read))
            .await
            .status(),
        200
    );
    // No route: refused, whatever the token.
    assert_eq!(
        nginx(&base, "GET", "/admin", Some(&pay)).await.status(),
        403
    );
    // Public route: no token needed.
    let res = nginx(&base, "GET", "/.well-known/agent-card.json", None).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn paths_a_proxy_and_an_agent_could_read_differently_are_refused() {
    let issuer = TestIssuer::start().await.unwrap();
    let base = start(config(&issuer, r#""127.0.0.1""#)).await;
    let token = format!("Bearer {}", issuer.token().scope("read:customers").sign());
    for path in [
        "/customers/../admin",
        "/customers/%2e%2e/admin",
        "/customers%2Fx",
        "/customers//42",
        "/customers/42\\..\\admin",
    ] {
        let res = nginx(&base, "GET", path, Some(&token)).await;
        assert_eq!(res.status(), 400, "{path}");
    }
}

#[tokio::test]
async fn forwarded_headers_count_only_from_trusted_proxies() {
    let issuer = TestIssuer::start().await.unwrap();
    // Nobody trusted: the headers describe nothing; the gate decides on its own request
    // (`GET /auth`), which no route matches.
    let base = start(config(&issuer, "")).await;
    let res = nginx(&base, "GET", "/.well-known/agent-card.json", None).await;
    assert_eq!(res.status(), 403);
    // Trusted: Traefik's headers are read too.
    let base = start(config(&issuer, r#""127.0.0.1""#)).await;
    let res = reqwest::Client::new()
        .get(format!("{base}/"))
        .header("x-forwarded-method", "GET")
        .header("x-forwarded-uri", "/.well-known/agent-card.json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // A trusted proxy that does not say which request it asks about gets no decision.
    let res = reqwest::Client::new()
        .get(format!("{base}/customers/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

#[test]
fn bad_configurations_are_refused_with_where() {
    let base = r#"
audiences = ["a"]
[listen]
forward_auth = "127.0.0.1:0"
[[issuer]]
issuer = "https://i.example"
"#;
    assert!(Config::parse(base).is_ok());
    for (extra, want) in [
        ("[[route]]\npath = \"/a/**/b\"\n", "route[0].path"),
        ("[[route]]\npath = \"a\"\n", "route[0].path"),
        (
            "[[route]]\npath = \"/a\"\nall = [\"x\"]\nany = [\"y\"]\n",
            "route[0].any",
        ),
        (
            "[[route]]\npath = \"/a\"\npublic = true\nall = [\"x\"]\n",
            "route[0].public",
        ),
        (
            "[[route]]\npath = \"/a\"\n[[route]]\npath = \"/a\"\n",
            "route[1].path",
        ),
        (
            "[[route]]\npath = \"/a\"\nall = [\"bad scope\"]\n",
            "route[0].all",
        ),
        ("[[route]]\npath = \"/a\"\nsurprise = 1\n", "surprise"),
        (
            "[claim_headers]\n\"bad header\" = \"sub\"\n",
            "claim_headers",
        ),
    ] {
        let err = Config::parse(&format!("{base}{extra}"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{extra:?}: {err}");
    }
    assert!(
        Config::parse("audiences = [\"a\"]\n[listen]\nforward_auth = \"127.0.0.1:0\"\n").is_err()
    );
}
