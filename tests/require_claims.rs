//! `RequireClaims`: a route guard for rules scopes cannot express (tenant match, `azp`
//! allow-list), with the same 403 shape as the scope guard.
#![cfg(feature = "testing")]

use a2a_guard::testing::TestIssuer;
use a2a_guard::{Principal, RequireClaims, RequireScopes, Validator};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, Response, StatusCode};
use tower::ServiceExt;

#[derive(Clone, Debug, serde::Deserialize)]
struct TenantClaims {
    tenant: Option<String>,
}

async fn send(app: &Router, path: &str, token: &str) -> Response<Body> {
    app.clone()
        .oneshot(
            Request::get(path)
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn a_claims_rule_admits_or_refuses_with_403() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
        .claims::<TenantClaims>()
        .build()
        .await
        .unwrap();
    let app = Router::new()
        .route(
            "/tenants/{tenant}/data",
            get(|p: Principal<TenantClaims>| async move { format!("{:?}", p.claims().tenant) })
                .route_layer(RequireClaims::from_request_fn(
                    "tenant matches the path",
                    |p: &Principal<TenantClaims>, parts: &http::request::Parts| {
                        let path = parts.uri.path();
                        p.claims()
                            .tenant
                            .as_deref()
                            .is_some_and(|t| path.starts_with(&format!("/tenants/{t}/")))
                    },
                ))
                .route_layer(RequireScopes::all(["read:data"])),
        )
        .route(
            "/azp",
            get(|| async { "ok" }).route_layer(RequireClaims::from_fn(
                "azp is an allowed client",
                |p: &Principal<TenantClaims>| {
                    matches!(p.client_id(), Some("orchestrator" | "agent-test"))
                },
            )),
        )
        .layer(v.layer());

    let acme = issuer
        .token()
        .scope("read:data")
        .claim("tenant", "acme")
        .sign();
    assert_eq!(send(&app, "/tenants/acme/data", &acme).await.status(), 200);
    let res = send(&app, "/tenants/globex/data", &acme).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let www = res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        www.starts_with(r#"Bearer realm="a2a-guard-test", error="insufficient_scope""#)
            && www.contains("tenant matches the path"),
        "{www}"
    );
    let none = issuer.token().scope("read:data").sign();
    assert_eq!(send(&app, "/tenants/acme/data", &none).await.status(), 403);
    // The scope guard outside still decides first.
    let unscoped = issuer.token().claim("tenant", "acme").sign();
    assert_eq!(
        send(&app, "/tenants/acme/data", &unscoped).await.status(),
        403
    );

    assert_eq!(send(&app, "/azp", &none).await.status(), 200);
    let stranger = issuer.token().claim("client_id", "stranger").sign();
    assert_eq!(send(&app, "/azp", &stranger).await.status(), 403);
}

#[tokio::test]
async fn a_claims_rule_of_another_claims_type_is_a_500() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
        .build()
        .await
        .unwrap();
    let app = Router::new()
        .route(
            "/",
            get(|| async { "ok" }).route_layer(RequireClaims::from_fn(
                "tenant set",
                |p: &Principal<TenantClaims>| p.claims().tenant.is_some(),
            )),
        )
        .layer(v.layer());
    let t = issuer.token().claim("tenant", "acme").sign();
    assert_eq!(send(&app, "/", &t).await.status(), 500);
}

#[tokio::test]
async fn without_a_token_a_claims_rule_is_a_401() {
    let app: Router = Router::new().route(
        "/",
        get(|| async { "ok" }).route_layer(RequireClaims::from_fn("any", |_: &Principal| true)),
    );
    let res = app
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}
