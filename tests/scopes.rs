//! Scope semantics through the layers: hierarchy, wildcard, opt-in implication, nesting,
//! computed requirements.
#![cfg(feature = "testing")]

use a2a_guard::scope::{ScopeRequirement, ScopeRules};
use a2a_guard::testing::TestIssuer;
use a2a_guard::{RequireScopes, Validator};
use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use http::Request;
use tower::ServiceExt;

async fn app(issuer: &TestIssuer, rules: Option<ScopeRules>) -> Router {
    let v = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
        .build()
        .await
        .unwrap();
    let mut layer = v.layer();
    if let Some(r) = rules {
        layer = layer.scope_rules(r);
    }
    Router::new()
        .route(
            "/orders",
            get(|| async { "r" }).route_layer(RequireScopes::all(["read:orders"])),
        )
        .route(
            "/nested",
            get(|| async { "n" }).route_layer(RequireScopes::new(ScopeRequirement::all([
                ScopeRequirement::from("read:data"),
                ScopeRequirement::any(["write:reports", "admin"]),
            ]))),
        )
        .route(
            "/by-method",
            get(|| async { "g" })
                .post(|| async { "p" })
                .route_layer(RequireScopes::from_fn(|parts| {
                    if parts.method == http::Method::GET {
                        "read:orders".into()
                    } else {
                        "write:orders".into()
                    }
                })),
        )
        .route(
            "/payments",
            post(|| async { "p" })
                .route_layer(RequireScopes::any(["execute:payment", "admin:payments"])),
        )
        .layer(layer)
}

async fn status(app: &Router, method: &str, path: &str, scope: &str, issuer: &TestIssuer) -> u16 {
    let t = issuer.token().scope(scope).sign();
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {t}"));
    app.clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn implication_rules_are_opt_in() {
    let issuer = TestIssuer::start().await.unwrap();
    let plain = app(&issuer, None).await;
    let implied = app(&issuer, Some(ScopeRules::new().imply("write", "read"))).await;
    assert_eq!(
        status(&plain, "GET", "/orders", "write:orders", &issuer).await,
        403
    );
    assert_eq!(
        status(&implied, "GET", "/orders", "write:orders", &issuer).await,
        200
    );
    assert_eq!(
        status(&implied, "GET", "/orders", "write:customers", &issuer).await,
        403
    );
    assert_eq!(
        status(&implied, "GET", "/orders", "write", &issuer).await,
        200
    );
}

#[tokio::test]
async fn nested_requirements() {
    let issuer = TestIssuer::start().await.unwrap();
    let app = app(&issuer, None).await;
    assert_eq!(
        status(&app, "GET", "/nested", "read:data write:reports", &issuer).await,
        200
    );
    assert_eq!(
        status(&app, "GET", "/nested", "read:data admin", &issuer).await,
        200
    );
    assert_eq!(
        status(&app, "GET", "/nested", "read:data", &issuer).await,
        403
    );
    assert_eq!(
        status(&app, "GET", "/nested", "admin write:reports", &issuer).await,
        403
    );
    assert_eq!(
        status(&app, "POST", "/payments", "admin:payments", &issuer).await,
        200
    );
    assert_eq!(
        status(&app, "POST", "/payments", "admin", &issuer).await,
        200,
        "`admin` covers `admin:payments`"
    );
    assert_eq!(
        status(&app, "POST", "/payments", "execute:pay", &issuer).await,
        403
    );
}

#[tokio::test]
async fn requirements_computed_from_the_request() {
    let issuer = TestIssuer::start().await.unwrap();
    let app = app(&issuer, None).await;
    assert_eq!(
        status(&app, "GET", "/by-method", "read:orders", &issuer).await,
        200
    );
    assert_eq!(
        status(&app, "POST", "/by-method", "read:orders", &issuer).await,
        403
    );
    assert_eq!(
        status(&app, "POST", "/by-method", "write:*", &issuer).await,
        200
    );
}
