//! TLS client authentication on the calling side (RFC 8705 §2, issue 13): a token endpoint
//! over real TLS on loopback that authenticates the client by its certificate, the
//! `mtls_endpoint_aliases` of discovery, and a rotated certificate file used without a
//! restart.
#![cfg(all(feature = "testing", feature = "client"))]

mod common;
#[path = "../examples/mtls_server/tls.rs"]
#[allow(dead_code)]
mod tls;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use a2a_guard::client::{AuthorizationServer, ClientCredentials, ClientError, TlsIdentity};
use a2a_guard::pop::ClientCertificate;
use axum::body::Bytes;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use common::ManualClock;
use serde_json::json;

/// A token endpoint that knows its client only by the certificate: the token names the
/// certificate's thumbprint. The form must carry `client_id` and no secret.
async fn token_endpoint(pki: &tls::Pki, hits: Arc<AtomicUsize>) -> String {
    let app = Router::new().route(
        "/token",
        post(
            move |cert: Option<Extension<ClientCertificate>>, body: Bytes| {
                hits.fetch_add(1, Ordering::SeqCst);
                async move {
                    let form: Vec<(String, String)> =
                        url::form_urlencoded::parse(&body).into_owned().collect();
                    let ok_form = form
                        .iter()
                        .any(|(k, v)| k == "client_id" && v == "orchestrator")
                        && !form.iter().any(|(k, _)| k.starts_with("client_secret"));
                    match cert {
                        Some(Extension(c)) if ok_form => (
                            http::StatusCode::OK,
                            Json(json!({
                                "access_token": format!("cert-{}", c.thumbprint()),
                                "token_type": "Bearer",
                                "expires_in": 3600,
                            })),
                        ),
                        _ => (
                            http::StatusCode::UNAUTHORIZED,
                            Json(json!({"error": "invalid_client"})),
                        ),
                    }
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(tls::serve(
        listener,
        tls::server_config(pki, false).unwrap(),
        app,
    ));
    format!("https://localhost:{port}/token")
}

fn ca(pki: &tls::Pki) -> reqwest::Certificate {
    reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap()
}

fn thumbprint(leaf: &tls::Leaf) -> String {
    ClientCertificate::from_der(leaf.cert_der.clone()).thumbprint()
}

fn pem(leaf: &tls::Leaf) -> String {
    format!("{}{}", leaf.cert_pem, leaf.key_pem)
}

#[tokio::test]
async fn the_certificate_authenticates_and_a_rotated_file_is_used() {
    let pki = tls::generate_pki(&["orchestrator", "orchestrator-next"]).unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let url = token_endpoint(&pki, hits.clone()).await;
    let dir = common::tempdir();
    let file = dir.join("orchestrator.pem");
    std::fs::write(&file, pem(&pki.clients[0])).unwrap();
    let clock = ManualClock::now_real();
    let tokens = ClientCredentials::new(&url, "orchestrator")
        .tls_client_auth(TlsIdentity::pem_file(&file))
        .root_certificate(ca(&pki))
        .clock(clock.as_clock())
        .build()
        .unwrap();
    let t = tokens.token().await.unwrap();
    assert_eq!(t.secret(), format!("cert-{}", thumbprint(&pki.clients[0])));

    // Rotated in place: the next token request presents the new certificate.
    std::fs::write(&file, pem(&pki.clients[1])).unwrap();
    clock.advance(Duration::from_secs(3600));
    let t = tokens.token().await.unwrap();
    assert_eq!(t.secret(), format!("cert-{}", thumbprint(&pki.clients[1])));
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_bad_identity_is_a_typed_error_and_nothing_is_sent() {
    let pki = tls::generate_pki(&["orchestrator"]).unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let url = token_endpoint(&pki, hits.clone()).await;
    let tokens = ClientCredentials::new(&url, "orchestrator")
        .tls_client_auth(TlsIdentity::pem(pki.clients[0].cert_pem.clone())) // no key
        .root_certificate(ca(&pki))
        .build()
        .unwrap();
    assert!(matches!(
        tokens.token().await.unwrap_err(),
        ClientError::Key(_)
    ));
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    // Its own HTTP client cannot present the certificate: refused at build.
    assert!(
        ClientCredentials::new(&url, "orchestrator")
            .tls_client_auth(TlsIdentity::pem(pem(&pki.clients[0])))
            .http_client(reqwest::Client::new())
            .build()
            .is_err()
    );
}

#[tokio::test]
async fn discovery_sends_certificate_clients_to_the_mtls_alias() {
    let pki = tls::generate_pki(&["orchestrator"]).unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let mtls_url = token_endpoint(&pki, hits.clone()).await;
    // The authorization server's metadata, over plain http on loopback: its ordinary token
    // endpoint refuses everything; the alias is the TLS one.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let doc = json!({
        "issuer": issuer,
        "token_endpoint": format!("{issuer}/token"),
        "mtls_endpoint_aliases": {"token_endpoint": mtls_url},
        "token_endpoint_auth_methods_supported": ["tls_client_auth"],
    });
    let app = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(move || async move { Json(doc) }),
        )
        .route(
            "/token",
            post(|| async {
                (
                    http::StatusCode::BAD_REQUEST,
                    Json(json!({"error": "invalid_request"})),
                )
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let server = AuthorizationServer::discover(&issuer).await.unwrap();
    assert_eq!(
        server.mtls_token_endpoint.as_deref(),
        Some(mtls_url.as_str())
    );
    let tokens = server
        .client_credentials("orchestrator")
        .tls_client_auth(TlsIdentity::pem(pem(&pki.clients[0])))
        .root_certificate(ca(&pki))
        .build()
        .unwrap();
    let t = tokens.token().await.unwrap();
    assert!(t.secret().starts_with("cert-"));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}
