//! Per-route rules beyond scopes — required binding (DPoP / mTLS), delegation depth, allowed
//! actors — over real HTTP and gRPC on loopback with real signatures, and their strict
//! configuration.

use std::collections::HashMap;

use a2a_guard::Algorithm;
use a2a_guard::testing::{DpopKey, TestIssuer};
use a2a_guard_gate::{Config, ConfigError, Gate};
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Peer, Request};
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
use envoy_types::pb::envoy::service::auth::v3::{AttributeContext, CheckRequest};

const FILE: &str = r#"
[dpop]
origins = ["https://agent.example"]

[[route]]
path = "/payments/**"
binding = "mtls"

[[route]]
path = "/files/**"
binding = "any"

[[route]]
path = "/reports/**"
actors = ["agent:orchestrator", "agent:planner"]

[[route]]
path = "/delegated/**"
max_delegation_depth = 1

[[route]]
path = "/**"
"#;

fn parse(issuer: &TestIssuer, rest: &str) -> Result<Config, ConfigError> {
    Config::parse(&format!(
        r#"
audiences = ["{aud}"]
trusted_proxies = ["127.0.0.1"]
[listen]
forward_auth = "127.0.0.1:0"
ext_authz = "127.0.0.1:0"
[[issuer]]
issuer = "{iss}"
jwks_url = "{jwks}"
allow_http = true
{rest}"#,
        aud = issuer.audience(),
        iss = issuer.issuer(),
        jwks = issuer.jwks_url(),
    ))
}

/// Start forward-auth and ext_authz; returns the forward-auth base URL and a gRPC client.
async fn start(issuer: &TestIssuer) -> (String, AuthorizationClient<tonic::transport::Channel>) {
    let gate = Gate::new(parse(issuer, FILE).expect("config"))
        .await
        .expect("gate");
    let fa = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ea = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", fa.local_addr().unwrap());
    let grpc = format!("http://{}", ea.local_addr().unwrap());
    tokio::spawn(gate.clone().serve(fa));
    tokio::spawn(gate.serve_ext_authz(ea));
    (base, AuthorizationClient::connect(grpc).await.unwrap())
}

async fn nginx(base: &str, uri: &str, auth: &str, proof: Option<&str>) -> reqwest::Response {
    let mut r = reqwest::Client::new()
        .get(format!("{base}/auth"))
        .header("x-original-method", "GET")
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

fn dpop(issuer: &TestIssuer, key: &DpopKey, path: &str) -> (String, String) {
    let token = issuer.token().subject("agent:a").dpop_bound(key).sign();
    let proof = key
        .proof("GET", &format!("https://agent.example{path}"))
        .access_token(&token)
        .sign();
    (format!("DPoP {token}"), proof)
}

#[tokio::test]
async fn an_mtls_route_refuses_a_dpop_token_and_admits_its_certificate() {
    let issuer = TestIssuer::start().await.unwrap();
    let (base, mut client) = start(&issuer).await;
    let key = DpopKey::generate(Algorithm::ES256);
    // A DPoP-bound token with a valid proof: bound, but not to a certificate.
    let (auth, proof) = dpop(&issuer, &key, "/payments/7");
    let res = nginx(&base, "/payments/7", &auth, Some(&proof)).await;
    assert_eq!(res.status(), 401);
    assert!(www(&res).contains("certificate-bound"), "{}", www(&res));
    // The same kind of token passes the route that takes either binding…
    let (auth, proof) = dpop(&issuer, &key, "/files/7");
    let res = nginx(&base, "/files/7", &auth, Some(&proof)).await;
    assert_eq!(res.status(), 200, "{}", www(&res));
    // …where a bearer token does not.
    let plain = format!("Bearer {}", issuer.token().sign());
    let res = nginx(&base, "/files/7", &plain, None).await;
    assert_eq!(res.status(), 401);
    // A certificate-bound token with its certificate, through ext_authz: allowed on the
    // mTLS route; a bearer token there: 401.
    let cert = rcgen::generate_simple_self_signed(vec!["agent-a".to_owned()]).unwrap();
    let bound = issuer.token().certificate_bound(cert.cert.der()).sign();
    let envoy = |auth: String| {
        let pem = percent_encoding::utf8_percent_encode(
            &cert.cert.pem(),
            percent_encoding::NON_ALPHANUMERIC,
        )
        .to_string();
        CheckRequest {
            attributes: Some(AttributeContext {
                source: Some(Peer {
                    certificate: pem,
                    ..Default::default()
                }),
                request: Some(Request {
                    http: Some(HttpRequest {
                        method: "GET".into(),
                        path: "/payments/7".into(),
                        host: "agent.example".into(),
                        scheme: "https".into(),
                        headers: HashMap::from([("authorization".to_owned(), auth)]),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        }
    };
    let status = |res: tonic::Response<
        envoy_types::pb::envoy::service::auth::v3::CheckResponse,
    >| {
        match res.into_inner().http_response {
            Some(HttpResponse::OkResponse(_)) => 200,
            Some(HttpResponse::DeniedResponse(d)) => d.status.unwrap().code,
            other => panic!("{other:?}"),
        }
    };
    let res = client
        .check(envoy(format!("Bearer {bound}")))
        .await
        .unwrap();
    assert_eq!(status(res), 200);
    let res = client.check(envoy(plain.clone())).await.unwrap();
    assert_eq!(status(res), 401);
}

#[tokio::test]
async fn only_the_listed_current_actors_are_admitted() {
    let issuer = TestIssuer::start().await.unwrap();
    let (base, _) = start(&issuer).await;
    let token = |chain: &[&str]| {
        let t = issuer
            .token()
            .subject("user-42")
            .actor_chain(chain.iter().copied());
        format!("Bearer {}", t.sign())
    };
    let res = nginx(&base, "/reports/q3", &token(&["agent:planner"]), None).await;
    assert_eq!(res.status(), 200);
    // Another current actor, even with an allowed one earlier in the chain: 403.
    let res = nginx(
        &base,
        "/reports/q3",
        &token(&["agent:rogue", "agent:orchestrator"]),
        None,
    )
    .await;
    assert_eq!(res.status(), 403);
    assert!(www(&res).contains("actor"), "{}", www(&res));
    // No `act` at all: 403.
    let res = nginx(&base, "/reports/q3", &token(&[]), None).await;
    assert_eq!(res.status(), 403);
    // A route without the rule takes any actor.
    let res = nginx(&base, "/other", &token(&["agent:rogue"]), None).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn the_delegation_depth_is_bounded_per_route() {
    let issuer = TestIssuer::start().await.unwrap();
    let (base, _) = start(&issuer).await;
    let token = |chain: &[&str]| {
        let t = issuer
            .token()
            .subject("user-42")
            .actor_chain(chain.iter().copied());
        format!("Bearer {}", t.sign())
    };
    assert_eq!(
        nginx(&base, "/delegated/x", &token(&[]), None)
            .await
            .status(),
        200
    );
    assert_eq!(
        nginx(&base, "/delegated/x", &token(&["a"]), None)
            .await
            .status(),
        200
    );
    let res = nginx(&base, "/delegated/x", &token(&["a", "b"]), None).await;
    assert_eq!(res.status(), 401);
    assert!(
        www(&res).contains("deeper than this route allows"),
        "{}",
        www(&res)
    );
    // The same chain elsewhere: the validator's own limit only.
    assert_eq!(
        nginx(&base, "/other", &token(&["a", "b"]), None)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn route_rules_are_checked_strictly() {
    let issuer = TestIssuer::start().await.unwrap();
    let at = |rest: &str| match parse(&issuer, rest) {
        Err(ConfigError::Invalid { at, problem }) => format!("{at}: {problem}"),
        other => panic!("not refused as invalid: {other:?}"),
    };
    let e = at("[[route]]\npath = \"/a\"\n[[route]]\npath = \"/b\"\nbinding = \"dpopp\"");
    assert!(e.starts_with("route[1].binding: \"dpopp\""), "{e}");
    let e = at("[[route]]\npath = \"/a\"\nbinding = \"dpop\"");
    assert!(
        e.starts_with("route[0].binding:") && e.contains("[dpop]"),
        "{e}"
    );
    let e = at("[[route]]\npath = \"/a\"\npublic = true\nactors = [\"x\"]");
    assert!(e.starts_with("route[0].public:"), "{e}");
    let e = at("[[route]]\npath = \"/a\"\nactors = [\"\"]");
    assert!(e.starts_with("route[0].actors:"), "{e}");
    let e = at("[dpop]\norigins = []");
    assert!(e.starts_with("dpop.origins:"), "{e}");
    let e = at("[dpop]\norigins = [\"ftp://agent.example\"]");
    assert!(e.starts_with("dpop.origins[0]:"), "{e}");
    let e = at("[dpop]\norigins = [\"https://a.example\"]\nalgorithms = [\"HS256\"]");
    assert!(e.starts_with("dpop.algorithms[0]:"), "{e}");
    let e = at("[dpop]\norigins = [\"https://a.example\"]\nnonce_secret_env = \"X\"");
    assert!(e.starts_with("dpop.require_nonce:"), "{e}");
    // Secrets are never inline; a negative depth is not a number of links.
    for rest in [
        "[dpop]\norigins = [\"https://a.example\"]\nnonce_secret = \"abc\"",
        "[[route]]\npath = \"/a\"\nmax_delegation_depth = -1",
    ] {
        assert!(
            matches!(parse(&issuer, rest), Err(ConfigError::Syntax(_))),
            "{rest}"
        );
    }
}

/// `require`: a nested requirement — here "both read scopes, or admin" — decided as written,
/// and checked strictly.
#[tokio::test]
async fn nested_requirements_decide_as_written() {
    let issuer = TestIssuer::start().await.unwrap();
    let nested = r#"
[[route]]
path = "/ledger/**"
require = { any = [{ all = ["read:customers", "read:payments"] }, "admin:ledger"] }
"#;
    let gate = Gate::new(parse(&issuer, nested).unwrap()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(gate.serve(listener));
    for (scopes, want) in [
        ("read:customers read:payments", 200),
        ("admin:ledger", 200),
        ("read", 200), // hierarchical: `read` covers both read scopes
        ("read:customers", 403),
        ("read:payments admin:other", 403),
        ("admin", 200), // and `admin` covers `admin:ledger`
    ] {
        let token = issuer.token().scope(scopes).sign();
        let res = nginx(&base, "/ledger/2026", &format!("Bearer {token}"), None).await;
        assert_eq!(res.status(), want, "scopes {scopes:?}");
        if want == 403 {
            assert!(www(&res).contains("insufficient_scope"), "{}", www(&res));
        }
    }
    for (bad, at) in [
        (r#"require = { all = [] }"#, "route[0].require"),
        (
            r#"require = { any = ["read:x", "bad scope"] }"#,
            "route[0].require",
        ),
        (r#"require = "read:x""#, ""), // a single scope is fine
        (
            "require = \"read:x\"\nall = [\"read:y\"]",
            "route[0].require",
        ),
        ("require = \"read:x\"\npublic = true", "route[0].public"),
        (r#"require = { all = ["a"], any = ["b"] }"#, "syntax"),
    ] {
        let text = format!("[[route]]\npath = \"/x\"\n{bad}\n");
        match (parse(&issuer, &text), at) {
            (Ok(_), "") => {}
            (Err(ConfigError::Invalid { at: got, .. }), want) => assert_eq!(got, want, "{bad}"),
            (Err(ConfigError::Syntax(_)), "syntax") => {}
            (other, want) => panic!("{bad}: {other:?}, wanted {want}"),
        }
    }
    let deep = (0..9).fold("\"read:x\"".to_owned(), |r, _| format!("{{ all = [{r}] }}"));
    let err = parse(
        &issuer,
        &format!("[[route]]\npath = \"/x\"\nrequire = {deep}\n"),
    );
    assert!(
        matches!(err, Err(ConfigError::Invalid { ref at, .. }) if at == "route[0].require"),
        "{err:?}"
    );
}

/// Scope templates: `{id}` in the path fills `{id}` in the route's scopes, so a token for one
/// customer opens only that customer; a bound segment that could add a scope level is refused.
#[tokio::test]
async fn scope_templates_bind_path_segments() {
    let issuer = TestIssuer::start().await.unwrap();
    let routes = r#"
[[route]]
path = "/customers/{id}/**"
all = ["read:customers:{id}"]
"#;
    let gate = Gate::new(parse(&issuer, routes).unwrap()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(gate.serve(listener));
    let one = issuer.token().scope("read:customers:42").sign();
    let all = issuer.token().scope("read:customers").sign();
    for (token, uri, want) in [
        (&one, "/customers/42/orders", 200),
        (&one, "/customers/42", 200),
        (&one, "/customers/43/orders", 403),
        (&one, "/customers/420", 403),
        (&all, "/customers/43/orders", 200), // the parent scope covers every customer
        (&one, "/customers/42:7/orders", 400), // `:` would name a child of customer 42
        (&all, "/customers/4*2", 400),
        (&all, "/customers/a%20b", 400),
    ] {
        let res = nginx(&base, uri, &format!("Bearer {token}"), None).await;
        assert_eq!(res.status(), want, "{uri}");
        if want == 403 {
            let id = uri.split('/').nth(2).unwrap();
            assert!(
                www(&res).contains(&format!(r#"scope="read:customers:{id}""#)),
                "{}",
                www(&res)
            );
        }
    }
    for (bad, at) in [
        ("path = \"/c/{id}\"\nall = [\"read:c{id}\"]", "route[0].all"),
        (
            "path = \"/c/{id}\"\nall = [\"read:c:{other}\"]",
            "route[0].all",
        ),
        (
            "path = \"/c/{id}\"\nrequire = { any = [\"read:c:{nope}\"] }",
            "route[0].require",
        ),
        ("path = \"/c/{Id}\"\nall = [\"read:c\"]", "route[0].path"),
        (
            "path = \"/c/{id}/{id}\"\nall = [\"read:c\"]",
            "route[0].path",
        ),
        ("path = \"/c/x{id}\"\nall = [\"read:c\"]", "route[0].path"),
    ] {
        match parse(&issuer, &format!("[[route]]\n{bad}\n")) {
            Err(ConfigError::Invalid { at: got, .. }) => assert_eq!(got, at, "{bad}"),
            other => panic!("{bad}: {other:?}"),
        }
    }
}
