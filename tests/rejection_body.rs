//! `RejectionBodyLayer`: rejections get a body (RFC 9457 problem details or a custom shape)
//! without losing their RFC 6750 status and headers; other responses are untouched.
#![cfg(feature = "testing")]

use a2a_guard::layer::RejectionBodyLayer;
use a2a_guard::testing::{Behavior, TestIssuer};
use a2a_guard::{RequireScopes, Validator};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use std::time::Duration;
use tower::ServiceExt;

async fn send(app: &Router, path: &str, token: Option<&str>) -> (Response<()>, String) {
    let mut r = Request::get(path);
    if let Some(t) = token {
        r = r.header("authorization", format!("Bearer {t}"));
    }
    let res = app
        .clone()
        .oneshot(r.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = res.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (
        Response::from_parts(parts, ()),
        String::from_utf8(bytes.to_vec()).unwrap(),
    )
}

async fn app(issuer: &TestIssuer, shape: RejectionBodyLayer) -> Router {
    let v = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
        .build()
        .await
        .unwrap();
    Router::new()
        .route(
            "/data",
            get(|| async { "data" }).route_layer(RequireScopes::all(["read:data"])),
        )
        .route("/teapot", get(|| async { (StatusCode::FORBIDDEN, "mine") }))
        .layer(v.layer())
        .layer(shape)
}

#[tokio::test]
async fn rejections_become_problem_details_with_their_headers_kept() {
    let issuer = TestIssuer::start().await.unwrap();
    let app = app(&issuer, RejectionBodyLayer::problem_details()).await;

    let (res, body) = send(&app, "/data", None).await;
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    assert_eq!(
        res.headers()["www-authenticate"],
        r#"Bearer realm="a2a-guard-test""#
    );
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], 401);
    assert_eq!(v["reason"], "missing_token");
    assert!(
        v.get("error").is_none(),
        "no error code without a token (RFC 6750 §3.1)"
    );

    let narrow = issuer.token().scope("write:data").sign();
    let (res, body) = send(&app, "/data", Some(&narrow)).await;
    assert_eq!(res.status(), 403);
    assert!(
        res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (v["error"].as_str(), v["scope"].as_str()),
        (Some("insufficient_scope"), Some("read:data"))
    );
    assert_eq!(v["title"], "Forbidden");

    let expired = issuer.token().expires_at(1).sign();
    let (res, body) = send(&app, "/data", Some(&expired)).await;
    assert_eq!(res.status(), 401);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (v["error"].as_str(), v["reason"].as_str()),
        (Some("invalid_token"), Some("expired"))
    );
    assert!(!body.contains(&expired[..20]), "never the token");

    // The handler's own 403 and successes are not ours to shape.
    let ok = issuer.token().scope("read:data").sign();
    let (res, body) = send(&app, "/teapot", Some(&ok)).await;
    assert_eq!((res.status().as_u16(), body.as_str()), (403, "mine"));
    let (res, body) = send(&app, "/data", Some(&ok)).await;
    assert_eq!((res.status().as_u16(), body.as_str()), (200, "data"));
}

#[tokio::test]
async fn an_outage_503_keeps_retry_after_and_a_custom_shape_applies() {
    let issuer = TestIssuer::start().await.unwrap();
    issuer.set_behavior(Behavior::Status(503));
    let v = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
        .fetch_timeouts(Duration::from_millis(500), Duration::from_secs(1))
        .build()
        .await
        .unwrap();
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(v.layer())
        .layer(RejectionBodyLayer::from_fn(|err| {
            Some((
                HeaderValue::from_static("application/json"),
                format!(r#"{{"code":"{}"}}"#, err.reason()),
            ))
        }));
    let token = issuer.token().sign();
    let (res, body) = send(&app, "/", Some(&token)).await;
    assert_eq!(res.status(), 503);
    assert!(res.headers().get("retry-after").is_some());
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(body, r#"{"code":"keys_unavailable"}"#);
}
