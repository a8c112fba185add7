//! The README's quick start, verbatim: the test a new user copies into their own project.
//! `the_readme_shows_this_test` fails when the README and this file drift apart.
#![cfg(feature = "testing")]

// quickstart:begin
use a2a_guard::testing::TestIssuer;
use a2a_guard::{RequireScopes, Validator};
use axum::{Router, body::Body, routing::get};
use http::{Request, StatusCode};
use tower::ServiceExt; // `oneshot`

#[tokio::test]
async fn data_needs_read_data() {
    // A real authorization server on 127.0.0.1: keys, JWKS, discovery, token minting.
    let issuer = TestIssuer::start().await.unwrap();
    let validator = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
        .build()
        .await
        .unwrap();
    let app = Router::new()
        .route(
            "/data",
            get(|| async { "data" }).route_layer(RequireScopes::all(["read:data"])),
        )
        .layer(validator.layer());

    let call = |token: String| {
        let req = Request::get("/data")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        app.clone().oneshot(req)
    };
    let ok = call(issuer.token().scope("read:data").sign())
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let narrow = call(issuer.token().scope("write:data").sign())
        .await
        .unwrap();
    assert_eq!(narrow.status(), StatusCode::FORBIDDEN);
    let expired = call(issuer.token().expires_at(1).sign()).await.unwrap();
    assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
}
// quickstart:end

#[test]
fn the_readme_shows_this_test() {
    let this = include_str!("readme_quickstart.rs");
    let begin = this.find("// quickstart:begin\n").unwrap() + "// quickstart:begin\n".len();
    let end = this.find("// quickstart:end").unwrap();
    let readme = include_str!("../README.md");
    assert!(
        readme.contains(&this[begin..end]),
        "README.md must show tests/readme_quickstart.rs's quick start verbatim"
    );
}
