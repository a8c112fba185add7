//! The `agent_api` example's router: every route × every token case gives the RFC 6750
//! status and challenge.
#![cfg(feature = "testing")]

#[path = "../examples/agent_api/app.rs"]
mod app;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use a2a_guard::Validator;
use a2a_guard::testing::{TestIssuer, TokenBuilder};
use axum::body::Body;
use http::{Request, StatusCode};
use tower::ServiceExt;

async fn setup() -> (TestIssuer, axum::Router) {
    let issuer = TestIssuer::builder()
        .audience("agent-api")
        .start()
        .await
        .unwrap();
    let v = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience("agent-api")
        .max_token_lifetime(Duration::from_secs(3600))
        .business_hours("Mon-Fri 09:00-17:00 UTC".parse().unwrap())
        .build()
        .await
        .unwrap();
    (issuer, app::router(v))
}

async fn send(
    app: &axum::Router,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> http::Response<Body> {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    app.clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

fn www(res: &http::Response<Body>) -> String {
    res.headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A scope that covers `needed` through the hierarchy (a parent) or a wildcard.
fn parent(needed: &str) -> String {
    let segs: Vec<&str> = needed.split(':').collect();
    segs[..segs.len() - 1].join(":")
}

fn wildcard(needed: &str) -> String {
    let segs: Vec<&str> = needed.split(':').collect();
    format!("{}:*", segs[0]) + &":*".repeat(segs.len().saturating_sub(2))
}

#[tokio::test]
async fn every_route_and_every_case() {
    let (issuer, app) = setup().await;
    let tok = |scope: &str| -> TokenBuilder {
        // Delegated tokens everywhere: `/delegate` requires an allowed current actor.
        let b = issuer.token().actor_chain([app::DELEGATE_ACTORS[0]]);
        if scope.is_empty() { b } else { b.scope(scope) }
    };
    for (method, path, needed) in app::ROUTES {
        let ctx = format!("{method} {path}");
        // valid
        let res = send(&app, method, path, Some(&tok(needed).sign())).await;
        assert_eq!(res.status(), StatusCode::OK, "{ctx} valid");
        // missing
        let res = send(&app, method, path, None).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{ctx} missing");
        assert_eq!(www(&res), r#"Bearer realm="agent-api""#, "{ctx}");
        // expired
        let res = send(
            &app,
            method,
            path,
            Some(
                &tok(needed)
                    .issued_at(now() - 900)
                    .expires_at(now() - 60)
                    .sign(),
            ),
        )
        .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{ctx} expired");
        assert_eq!(
            www(&res),
            r#"Bearer realm="agent-api", error="invalid_token", error_description="the token has expired""#
        );
        // wrong audience
        let res = send(
            &app,
            method,
            path,
            Some(&tok(needed).audience("billing-api").sign()),
        )
        .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{ctx} wrong aud");
        assert!(
            www(&res).contains("not intended for this audience"),
            "{ctx}"
        );
        // temporal scope run out
        let scope = format!("{needed} temporal:5min");
        let res = send(
            &app,
            method,
            path,
            Some(
                &tok(&scope)
                    .issued_at(now() - 600)
                    .expires_at(now() + 600)
                    .sign(),
            ),
        )
        .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{ctx} temporal");
        assert!(
            www(&res).contains(r#"error="invalid_token""#) && www(&res).contains("temporal"),
            "{ctx}"
        );
        let res = send(
            &app,
            method,
            path,
            Some(&tok(&scope).issued_at(now() - 60).sign()),
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK, "{ctx} inside temporal window");
        if needed.is_empty() {
            continue;
        }
        // insufficient scope
        let res = send(
            &app,
            method,
            path,
            Some(&tok("read:other write:other").sign()),
        )
        .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{ctx} insufficient");
        assert_eq!(
            www(&res),
            format!(r#"Bearer realm="agent-api", error="insufficient_scope", scope="{needed}""#)
        );
        // hierarchical cover and wildcard
        let res = send(&app, method, path, Some(&tok(&parent(needed)).sign())).await;
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "{ctx} parent {}",
            parent(needed)
        );
        let res = send(&app, method, path, Some(&tok(&wildcard(needed)).sign())).await;
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "{ctx} wildcard {}",
            wildcard(needed)
        );
        // a sibling is not a cover
        let sibling = format!("{}x", needed);
        let res = send(&app, method, path, Some(&tok(&sibling).sign())).await;
        assert_eq!(
            res.status(),
            StatusCode::FORBIDDEN,
            "{ctx} sibling {sibling}"
        );
    }
}

#[tokio::test]
async fn path_parameters_fill_the_requirement() {
    let (issuer, app) = setup().await;
    let eu = issuer.token().scope("read:customers:eu").sign();
    assert_eq!(
        send(&app, "GET", "/customers/eu", Some(&eu)).await.status(),
        200
    );
    let res = send(&app, "GET", "/customers/us", Some(&eu)).await;
    assert_eq!(res.status(), 403);
    assert!(www(&res).contains(r#"scope="read:customers:us""#));
    // A parameter that is not one plain segment can satisfy nothing, even for a broad grant.
    let broad = issuer.token().scope("read:customers").sign();
    assert_eq!(
        send(&app, "GET", "/customers/eu", Some(&broad))
            .await
            .status(),
        200
    );
    for bad in ["/customers/eu:secret", "/customers/*", "/customers/%2A"] {
        assert_eq!(
            send(&app, "GET", bad, Some(&broad)).await.status(),
            403,
            "{bad}"
        );
    }
}

#[tokio::test]
async fn delegate_takes_only_allowed_current_actors() {
    let (issuer, app) = setup().await;
    let tok = |actors: &[&str]| {
        issuer
            .token()
            .scope("delegate:analysis")
            .actor_chain(actors.iter().copied())
            .sign()
    };
    assert_eq!(
        send(
            &app,
            "POST",
            "/delegate",
            Some(&tok(&["orchestrator-agent", "ui"]))
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        send(
            &app,
            "POST",
            "/delegate",
            Some(&tok(&["rogue", "orchestrator"]))
        )
        .await
        .status(),
        403
    );
    assert_eq!(
        send(&app, "POST", "/delegate", Some(&tok(&[])))
            .await
            .status(),
        403
    );
    let deep = tok(&["orchestrator", "b", "c", "d", "e"]);
    assert_eq!(
        send(&app, "POST", "/delegate", Some(&deep)).await.status(),
        401,
        "depth limit"
    );
}

#[tokio::test]
async fn whoami_lists_the_delegation_chain_and_health_is_open() {
    let (issuer, app) = setup().await;
    let t = issuer
        .token()
        .subject("user-42")
        .scope("read:data")
        .claim(
            "act",
            serde_json::json!({"sub": "specialist", "act": {"sub": "orchestrator"}}),
        )
        .sign();
    let res = send(&app, "GET", "/whoami", Some(&t)).await;
    assert_eq!(res.status(), 200);
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["sub"], "user-42");
    assert_eq!(v["client_id"], "agent-test");
    assert_eq!(v["scopes"], serde_json::json!(["read:data"]));
    assert_eq!(
        v["actors"],
        serde_json::json!(["specialist", "orchestrator"])
    );
    let res = send(&app, "GET", "/health", None).await;
    assert_eq!(res.status(), 200);
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["keys"][0]["ready"], true);
}
