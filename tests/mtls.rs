//! RFC 8705 certificate-bound tokens over real TLS on loopback, with real certificates.
#![cfg(feature = "testing")]

#[path = "../examples/mtls_server/tls.rs"]
#[allow(dead_code)]
mod tls;

use a2a_guard::testing::TestIssuer;
use a2a_guard::{Principal, Validator};
use axum::Router;
use axum::routing::get;

async fn start(require_client_cert: bool) -> (TestIssuer, tls::Pki, std::net::SocketAddr) {
    let pki = tls::generate_pki(&["agent-a", "agent-b"]).unwrap();
    let issuer = TestIssuer::start().await.unwrap();
    let v = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
        .build()
        .await
        .unwrap();
    let app = Router::new()
        .route(
            "/whoami",
            get(|p: Principal| async move { p.subject().unwrap_or_default().to_owned() }),
        )
        .layer(v.layer());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(tls::serve(
        listener,
        tls::server_config(&pki, require_client_cert).unwrap(),
        app,
    ));
    (issuer, pki, addr)
}

fn client(pki: &tls::Pki, identity: Option<&tls::Leaf>) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap()]);
    if let Some(leaf) = identity {
        let pem = format!("{}{}", leaf.cert_pem, leaf.key_pem);
        b = b.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
    }
    b.build().unwrap()
}

async fn call(c: &reqwest::Client, addr: std::net::SocketAddr, token: &str) -> (u16, String) {
    let res = c
        .get(format!("https://localhost:{}/whoami", addr.port()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let www = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (res.status().as_u16(), www)
}

#[tokio::test]
async fn a_bound_token_needs_its_certificate() {
    let (issuer, pki, addr) = start(false).await;
    let bound = issuer
        .token()
        .subject("agent-a")
        .certificate_bound(&pki.clients[0].cert_der)
        .sign();
    let a = client(&pki, Some(&pki.clients[0]));
    let b = client(&pki, Some(&pki.clients[1]));
    let none = client(&pki, None);
    assert_eq!(call(&a, addr, &bound).await.0, 200);
    let (code, www) = call(&b, addr, &bound).await;
    assert_eq!(code, 401);
    assert!(
        www.contains(r#"error="invalid_token""#) && www.contains("certificate"),
        "{www}"
    );
    let (code, www) = call(&none, addr, &bound).await;
    assert_eq!(code, 401, "no client certificate");
    assert!(www.contains(r#"error="invalid_token""#));
    // Unbound tokens do not need a certificate; bound ones are re-checked on cache hits.
    assert_eq!(call(&none, addr, &issuer.token().sign()).await.0, 200);
    assert_eq!(call(&b, addr, &bound).await.0, 401, "after a cache hit too");
}

#[tokio::test]
async fn the_example_server_requires_client_certificates() {
    let (issuer, pki, addr) = start(true).await;
    let bound = issuer
        .token()
        .certificate_bound(&pki.clients[1].cert_der)
        .sign();
    assert!(
        client(&pki, None)
            .get(format!("https://localhost:{}/whoami", addr.port()))
            .send()
            .await
            .is_err(),
        "handshake refused"
    );
    assert_eq!(
        call(&client(&pki, Some(&pki.clients[1])), addr, &bound)
            .await
            .0,
        200
    );
}
