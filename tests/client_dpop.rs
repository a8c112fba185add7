//! DPoP on the calling side (RFC 9449, issue 13): DPoP-bound client-credentials tokens from a
//! real token endpoint that checks proofs and requires nonces, presented by the outgoing
//! layer and the reqwest middleware to a resource guarded by a2a-guard's own DPoP checks,
//! over loopback HTTP.
#![cfg(all(feature = "testing", feature = "client"))]

use a2a_guard::client::{AccessTokenLayer, ClientCredentials, ClientError, ClientKey, Secret};
use a2a_guard::pop::DpopConfig;
use a2a_guard::testing::TestIssuer;
use a2a_guard::{Algorithm, Validator};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use base64::Engine as _;
use tower::{Service, ServiceExt};

async fn issuer() -> TestIssuer {
    TestIssuer::builder()
        .client("orchestrator", "s3cret")
        .start()
        .await
        .unwrap()
}

fn claims(token: &str) -> serde_json::Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

fn source(issuer: &TestIssuer, key: ClientKey) -> a2a_guard::client::TokenSource {
    ClientCredentials::new(format!("{}/token", issuer.issuer()), "orchestrator")
        .secret(Secret::new("s3cret"))
        .scope(["read:data"])
        .dpop(key)
        .build()
        .unwrap()
}

/// A resource at `origin` that accepts only DPoP-bound tokens from `issuer`.
async fn resource(issuer: &TestIssuer, origin: &str, nonce: bool) -> Router {
    let v = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
        .build()
        .await
        .unwrap();
    let mut cfg = DpopConfig::new().origin(origin);
    if nonce {
        cfg = cfg.require_nonce();
    }
    Router::new()
        .route("/data", get(|| async { "data" }))
        .layer(v.layer().dpop(cfg).unwrap())
}

#[tokio::test]
async fn tokens_are_bound_to_the_key_and_the_layer_presents_them_with_proofs() {
    let issuer = issuer().await;
    let key = ClientKey::generate(Algorithm::ES256).unwrap();
    let tokens = source(&issuer, key.clone());
    let t = tokens.token().await.unwrap();
    assert!(t.is_dpop_bound());
    assert_eq!(claims(t.secret())["cnf"]["jkt"], key.thumbprint().unwrap());

    let origin = "http://127.0.0.1:8443";
    let app = resource(&issuer, origin, false).await;
    let mut client = tower::ServiceBuilder::new()
        .layer(AccessTokenLayer::new(tokens))
        .service(app.clone());
    for _ in 0..2 {
        // A fresh proof each time (a2a-guard's resource refuses a replayed proof).
        let res = ServiceExt::<http::Request<Body>>::ready(&mut client)
            .await
            .unwrap()
            .call(
                http::Request::get(format!("{origin}/data"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    // The same token without the key's proof is refused: a stolen token is useless.
    let res = app
        .oneshot(
            http::Request::get(format!("{origin}/data"))
                .header("authorization", format!("Bearer {}", t.secret()))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn the_token_endpoint_nonce_is_learned_and_retried_once() {
    let issuer = issuer().await;
    issuer.require_dpop_nonce(Some("as-nonce-1"));
    let tokens = source(&issuer, ClientKey::generate(Algorithm::EdDSA).unwrap());
    tokens.token().await.unwrap();
    // First refused with use_dpop_nonce, then granted with the nonce.
    assert_eq!(issuer.token_requests(), 2);
}

#[tokio::test]
async fn a_server_that_keeps_asking_for_nonces_gets_a_typed_error() {
    // A token endpoint that wants a new nonce at every request can never be satisfied: one
    // retry, then a typed error — not a loop.
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = hits.clone();
    let app = Router::new().route(
        "/token",
        axum::routing::post(move || {
            let n = counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move {
                http::Response::builder()
                    .status(400)
                    .header("dpop-nonce", format!("nonce-{n}"))
                    .header("content-type", "application/json")
                    .body(Body::from(r#"{"error":"use_dpop_nonce"}"#))
                    .unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let tokens = ClientCredentials::new(format!("http://{addr}/token"), "orchestrator")
        .secret(Secret::new("s3cret"))
        .dpop(ClientKey::generate(Algorithm::ES256).unwrap())
        .build()
        .unwrap();
    let err = tokens.token().await.unwrap_err();
    assert!(matches!(err, ClientError::Dpop(_)), "{err:?}");
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[cfg(feature = "reqwest-middleware")]
#[tokio::test]
async fn the_middleware_learns_a_resource_nonce_and_replays_once() {
    use a2a_guard::client::AccessTokenMiddleware;
    let issuer = issuer().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let app = resource(&issuer, &origin, true).await;
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let tokens = source(&issuer, ClientKey::generate(Algorithm::ES256).unwrap());
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(AccessTokenMiddleware::new(tokens))
        .build();
    // The first call meets 401 use_dpop_nonce and is replayed with the nonce; the second
    // carries it from the start.
    for _ in 0..2 {
        let res = client
            .get(format!("{origin}/data?x=1"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.text().await.unwrap(), "data");
    }
    assert_eq!(issuer.token_requests(), 1);
}
