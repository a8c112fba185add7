//! Key fetches over real TLS from an issuer whose certificate chains to a private CA: the CA
//! must be handed in (`root_certificate`), or the fetch fails and the issuer's tokens get 503.
#![cfg(feature = "testing")]

#[path = "../examples/mtls_server/tls.rs"]
#[allow(dead_code)]
mod tls;

use a2a_guard::testing::TestIssuer;
use a2a_guard::{AuthError, Validator};
use axum::Router;
use axum::routing::get;

#[tokio::test]
async fn a_private_ca_is_trusted_only_when_given() {
    let issuer = TestIssuer::start().await.unwrap();
    let pki = tls::generate_pki(&[]).unwrap();
    // Serve the issuer's JWKS over HTTPS (server certificate from the private CA).
    let jwks = issuer.jwks();
    let app = Router::new().route(
        "/jwks.json",
        get(move || std::future::ready(axum::Json(jwks.clone()))),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(tls::serve(
        listener,
        tls::server_config(&pki, false).unwrap(),
        app,
    ));
    let url = format!("https://localhost:{port}/jwks.json");
    let token = issuer.token().sign();

    let trusting = Validator::builder()
        .issuer_jwks(issuer.issuer(), &url)
        .audience(issuer.audience())
        .root_certificate(reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap())
        .build()
        .await
        .unwrap();
    assert!(trusting.validate(&token).await.is_ok());

    let default_roots = Validator::builder()
        .issuer_jwks(issuer.issuer(), &url)
        .audience(issuer.audience())
        .build()
        .await
        .unwrap();
    assert!(matches!(
        default_roots.validate(&token).await.unwrap_err(),
        AuthError::KeysUnavailable { .. }
    ));
    assert_eq!(
        default_roots.health()[0].last_error.as_deref(),
        Some("connection failed")
    );
}
