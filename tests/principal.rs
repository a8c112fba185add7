//! `Principal` is a shared handle: the extractor, the request extensions and the
//! verified-token cache hand out one allocation per verified token, never a deep copy of
//! the claims (issue 11). The claims type need not be `Clone` at all.
#![cfg(feature = "testing")]

use a2a_guard::testing::TestIssuer;
use a2a_guard::{Principal, Validator};
use axum::Extension;
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode};
use tower::ServiceExt;

/// Deliberately not `Clone`: if any path deep-cloned the principal this would not compile.
#[derive(Debug, serde::Deserialize)]
struct NotClone {
    sub: String,
}

async fn validator(issuer: &TestIssuer) -> Validator<NotClone> {
    Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
        .claims::<NotClone>()
        .build()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_extractor_shares_the_allocation_in_the_request_extensions() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = validator(&issuer).await;
    let app = Router::new()
        .route(
            "/",
            get(
                |p: Principal<NotClone>, Extension(e): Extension<Principal<NotClone>>| async move {
                    assert!(
                        std::ptr::eq(p.claims(), e.claims()),
                        "extractor copied the claims"
                    );
                    p.claims().sub.clone()
                },
            ),
        )
        .layer(v.layer());
    let res = app
        .oneshot(
            Request::get("/")
                .header("authorization", format!("Bearer {}", issuer.token().sign()))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_cache_hit_returns_the_same_principal() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = validator(&issuer).await;
    let token = issuer.token().sign();
    let a = v.validate(&token).await.unwrap();
    let b = v.validate(&token).await.unwrap();
    assert!(std::ptr::eq(a.claims(), b.claims()));
    assert!(std::ptr::eq(a.registered(), b.registered()));
    // Splitting a shared principal clones; the other handle is untouched.
    drop(b);
    assert_eq!(a.subject(), Some(a.claims().sub.as_str()));
}
