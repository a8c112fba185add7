//! The Envoy ext_authz v3 contract over real gRPC on loopback: a `TestIssuer` signs real
//! tokens, the gate serves `envoy.service.auth.v3.Authorization/Check`, and the client is
//! the one generated from the same protos (envoy-types), sending what Envoy sends.

use std::collections::HashMap;

use a2a_guard::Algorithm;
use a2a_guard::testing::{DpopKey, TestIssuer};
use a2a_guard_gate::{Config, Gate};
use envoy_types::pb::envoy::config::core::v3::header_value_option::HeaderAppendAction;
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Peer, Request};
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
use envoy_types::pb::envoy::service::auth::v3::{
    AttributeContext, CheckRequest, CheckResponse, DeniedHttpResponse, OkHttpResponse,
};
use tonic::transport::Channel;

const ROUTES: &str = r#"
[[route]]
path = "/customers/**"
all = ["read:customers"]

[[route]]
path = "/.well-known/agent-card.json"
public = true
"#;

const CLAIM_HEADERS: [&str; 4] = [
    "x-auth-actor",
    "x-auth-client",
    "x-auth-scopes",
    "x-auth-sub",
];

fn config(issuer: &TestIssuer) -> Config {
    Config::parse(&format!(
        r#"
audiences = ["{aud}"]
[listen]
forward_auth = "127.0.0.1:0"
ext_authz = "127.0.0.1:0"
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

/// Start a gate's ext_authz listener on loopback; returns a connected client.
async fn start(issuer: &TestIssuer) -> AuthorizationClient<Channel> {
    let gate = Gate::new(config(issuer)).await.expect("gate");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(gate.serve_ext_authz(listener));
    AuthorizationClient::connect(format!("http://{addr}"))
        .await
        .expect("connect")
}

/// A CheckRequest as Envoy's HTTP filter builds it: lower-case headers with the
/// pseudo-headers, `path` with the query, and the client's certificate as URL-encoded PEM.
fn request(method: &str, path: &str, auth: Option<&str>, cert_pem: Option<&str>) -> CheckRequest {
    let mut headers = HashMap::from([
        (":method".to_owned(), method.to_owned()),
        (":path".to_owned(), path.to_owned()),
        (":authority".to_owned(), "agent.example".to_owned()),
        // A client's spoofed claim header: the answer must replace or remove it.
        ("x-auth-sub".to_owned(), "agent:admin".to_owned()),
    ]);
    if let Some(a) = auth {
        headers.insert("authorization".into(), a.into());
    }
    let certificate = cert_pem.map_or_else(String::new, |pem| {
        percent_encoding::utf8_percent_encode(pem, percent_encoding::NON_ALPHANUMERIC).to_string()
    });
    CheckRequest {
        attributes: Some(AttributeContext {
            source: Some(Peer {
                certificate,
                ..Default::default()
            }),
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

async fn check(client: &mut AuthorizationClient<Channel>, req: CheckRequest) -> CheckResponse {
    client
        .check(req)
        .await
        .expect("a CheckResponse, never a gRPC error")
        .into_inner()
}

fn allowed(res: &CheckResponse) -> &OkHttpResponse {
    assert_eq!(
        res.status.as_ref().unwrap().code,
        tonic::Code::Ok as i32,
        "{res:?}"
    );
    match &res.http_response {
        Some(HttpResponse::OkResponse(ok)) => ok,
        other => panic!("not an OK response: {other:?}"),
    }
}

/// The denial, after checking its HTTP status and `google.rpc` code agree.
fn denied(res: &CheckResponse, http: u16, code: tonic::Code) -> &DeniedHttpResponse {
    assert_eq!(res.status.as_ref().unwrap().code, code as i32, "{res:?}");
    match &res.http_response {
        Some(HttpResponse::DeniedResponse(d)) => {
            assert_eq!(d.status.unwrap().code, i32::from(http), "{d:?}");
            d
        }
        other => panic!("not a denial: {other:?}"),
    }
}

/// The value of `name` among the response's header options.
fn header<'a>(
    options: &'a [envoy_types::pb::envoy::config::core::v3::HeaderValueOption],
    name: &str,
) -> Option<&'a str> {
    options
        .iter()
        .filter_map(|o| o.header.as_ref())
        .find(|h| h.key.eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn allowed_requests_set_the_claim_headers_and_remove_the_others() {
    let issuer = TestIssuer::start().await.unwrap();
    let mut client = start(&issuer).await;
    let token = issuer
        .token()
        .subject("agent:analyst")
        .claim("client_id", "orchestrator")
        .scope("read:customers")
        .sign();
    let res = check(
        &mut client,
        request("GET", "/customers/42?page=2", Some(&bearer(&token)), None),
    )
    .await;
    let ok = allowed(&res);
    assert_eq!(header(&ok.headers, "x-auth-sub"), Some("agent:analyst"));
    assert_eq!(header(&ok.headers, "x-auth-client"), Some("orchestrator"));
    assert_eq!(header(&ok.headers, "x-auth-scopes"), Some("read:customers"));
    // Every header the gate sets replaces the client's copy (the spoofed `x-auth-sub`).
    #[allow(deprecated)]
    for o in &ok.headers {
        assert_eq!(o.append.map(|b| b.value), Some(false), "{o:?}");
        assert_eq!(
            o.append_action,
            HeaderAppendAction::OverwriteIfExistsOrAdd as i32,
            "{o:?}"
        );
    }
    // The configured claim header this token has no claim for (no `act`) is removed, so a
    // client's copy cannot pass for the gate's; the ones set are not (Envoy removes after it
    // sets: a name in both lists would never reach the agent).
    assert_eq!(ok.headers_to_remove, vec!["x-auth-actor".to_owned()]);
    // A public route sets nothing and removes every claim header.
    let res = check(
        &mut client,
        request("GET", "/.well-known/agent-card.json", None, None),
    )
    .await;
    let ok = allowed(&res);
    assert!(ok.headers.is_empty(), "{ok:?}");
    let mut removed = ok.headers_to_remove.clone();
    removed.sort();
    assert_eq!(removed, CLAIM_HEADERS);
}

#[tokio::test]
async fn refusals_carry_the_challenge_and_the_rpc_code() {
    let issuer = TestIssuer::start().await.unwrap();
    let mut client = start(&issuer).await;
    // No token: 401 UNAUTHENTICATED, the challenge naming the route's scope.
    let res = check(&mut client, request("GET", "/customers/42", None, None)).await;
    let d = denied(&res, 401, tonic::Code::Unauthenticated);
    let www = header(&d.headers, "www-authenticate").expect("challenge");
    assert!(www.starts_with("Bearer "), "{www}");
    assert!(www.contains(r#"scope="read:customers""#), "{www}");
    // A valid token without the scope: 403 PERMISSION_DENIED, insufficient_scope naming it.
    let other = issuer.token().scope("read:orders").sign();
    let res = check(
        &mut client,
        request("GET", "/customers/42", Some(&bearer(&other)), None),
    )
    .await;
    let d = denied(&res, 403, tonic::Code::PermissionDenied);
    let www = header(&d.headers, "www-authenticate").expect("challenge");
    assert!(www.contains("insufficient_scope"), "{www}");
    assert!(www.contains(r#"scope="read:customers""#), "{www}");
    // No route: 403 (fail closed), whatever the token.
    let token = issuer.token().scope("read:customers").sign();
    let res = check(
        &mut client,
        request("GET", "/orders/1", Some(&bearer(&token)), None),
    )
    .await;
    let d = denied(&res, 403, tonic::Code::PermissionDenied);
    assert!(d.body.contains("no route"), "{d:?}");
    // A dot segment, where Envoy and the agent could disagree on the path: 400.
    let res = check(
        &mut client,
        request("GET", "/customers/../admin", Some(&bearer(&token)), None),
    )
    .await;
    denied(&res, 400, tonic::Code::InvalidArgument);
}

#[tokio::test]
async fn a_certificate_bound_token_needs_its_certificate() {
    let issuer = TestIssuer::start().await.unwrap();
    let mut client = start(&issuer).await;
    let a = rcgen::generate_simple_self_signed(vec!["agent-a".to_owned()]).unwrap();
    let b = rcgen::generate_simple_self_signed(vec!["agent-b".to_owned()]).unwrap();
    let bound = issuer
        .token()
        .subject("agent-a")
        .scope("read:customers")
        .certificate_bound(a.cert.der())
        .sign();
    let auth = bearer(&bound);
    // Its own certificate: allowed.
    let res = check(
        &mut client,
        request("GET", "/customers/42", Some(&auth), Some(&a.cert.pem())),
    )
    .await;
    assert_eq!(
        header(&allowed(&res).headers, "x-auth-sub"),
        Some("agent-a")
    );
    // Another certificate: 401 invalid_token.
    let res = check(
        &mut client,
        request("GET", "/customers/42", Some(&auth), Some(&b.cert.pem())),
    )
    .await;
    let d = denied(&res, 401, tonic::Code::Unauthenticated);
    let www = header(&d.headers, "www-authenticate").unwrap();
    assert!(www.contains(r#"error="invalid_token""#), "{www}");
    assert!(www.contains("certificate does not match"), "{www}");
    // No certificate: 401.
    let res = check(
        &mut client,
        request("GET", "/customers/42", Some(&auth), None),
    )
    .await;
    let d = denied(&res, 401, tonic::Code::Unauthenticated);
    let www = header(&d.headers, "www-authenticate").unwrap();
    assert!(www.contains("no client certificate"), "{www}");
    // An unbound token is not affected by a certificate.
    let plain = issuer.token().scope("read:customers").sign();
    let res = check(
        &mut client,
        request(
            "GET",
            "/customers/42",
            Some(&bearer(&plain)),
            Some(&b.cert.pem()),
        ),
    )
    .await;
    allowed(&res);
}

#[tokio::test]
async fn a_dpop_bound_token_is_refused_even_with_a_certificate() {
    let issuer = TestIssuer::start().await.unwrap();
    let mut client = start(&issuer).await;
    let a = rcgen::generate_simple_self_signed(vec!["agent-a".to_owned()]).unwrap();
    let bound = issuer
        .token()
        .scope("read:customers")
        .dpop_bound(&DpopKey::generate(Algorithm::ES256))
        .sign();
    let res = check(
        &mut client,
        request(
            "GET",
            "/customers/42",
            Some(&bearer(&bound)),
            Some(&a.cert.pem()),
        ),
    )
    .await;
    let d = denied(&res, 401, tonic::Code::Unauthenticated);
    let www = header(&d.headers, "www-authenticate").unwrap();
    assert!(www.contains("DPoP"), "{www}");
}

#[tokio::test]
async fn malformed_check_requests_are_denied() {
    let issuer = TestIssuer::start().await.unwrap();
    let mut client = start(&issuer).await;
    let token = bearer(&issuer.token().scope("read:customers").sign());
    // No attributes at all, and attributes without the HTTP request (the network filter's
    // shape): denied, and the service still answers afterwards.
    let res = check(&mut client, CheckRequest::default()).await;
    denied(&res, 400, tonic::Code::InvalidArgument);
    let mut no_http = request("GET", "/customers/42", Some(&token), None);
    no_http
        .attributes
        .as_mut()
        .unwrap()
        .request
        .as_mut()
        .unwrap()
        .http = None;
    let res = check(&mut client, no_http).await;
    denied(&res, 400, tonic::Code::InvalidArgument);
    // A certificate that is not PEM: denied rather than decided as if there were none.
    let res = check(
        &mut client,
        request("GET", "/customers/42", Some(&token), Some("garbage")),
    )
    .await;
    denied(&res, 400, tonic::Code::InvalidArgument);
    let res = check(
        &mut client,
        request("GET", "/customers/42", Some(&token), None),
    )
    .await;
    allowed(&res);
}

#[test]
fn the_listener_is_optional_and_strict() {
    let base = r#"
audiences = ["https://agent.example"]
[[issuer]]
issuer = "https://issuer.example"
[listen]
forward_auth = "127.0.0.1:9100"
"#;
    let c = Config::parse(base).unwrap();
    assert_eq!(c.listen.ext_authz, None);
    let c = Config::parse(&format!("{base}ext_authz = \"127.0.0.1:9101\"\n")).unwrap();
    assert_eq!(c.listen.ext_authz, Some("127.0.0.1:9101".parse().unwrap()));
    // Not an address, or a misspelt key: refused, naming the key.
    let e = Config::parse(&format!("{base}ext_authz = \"loopback\"\n")).unwrap_err();
    assert!(e.to_string().contains("ext_authz"), "{e}");
    let e = Config::parse(&format!("{base}ext_auth = \"127.0.0.1:9101\"\n")).unwrap_err();
    assert!(e.to_string().contains("ext_auth"), "{e}");
}
