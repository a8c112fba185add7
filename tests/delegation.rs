//! RFC 8693 delegation: typed actor chains, depth limit, allowed current actors, scope
//! ceiling, and the chain in audit-visible context.
#![cfg(feature = "testing")]

use a2a_guard::testing::TestIssuer;
use a2a_guard::{ActorMatch, AuthError, RequireActor, RequireScopes, Validator, ValidatorBuilder};
use axum::Router;
use axum::body::Body;
use axum::routing::post;
use http::Request;
use tower::ServiceExt;

fn builder(issuer: &TestIssuer) -> ValidatorBuilder {
    Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
}

#[tokio::test]
async fn the_chain_is_typed_current_actor_first() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = builder(&issuer).build().await.unwrap();
    let t = issuer
        .token()
        .subject("user-42")
        .actor_chain(["orchestrator", "planner", "ui"])
        .sign();
    let p = v.validate(&t).await.unwrap();
    assert_eq!(p.subject(), Some("user-42"));
    assert_eq!(
        p.actor().and_then(|a| a.sub.as_deref()),
        Some("orchestrator")
    );
    let chain: Vec<_> = p
        .delegation_chain()
        .filter_map(|a| a.sub.as_deref())
        .collect();
    assert_eq!(chain, ["orchestrator", "planner", "ui"]);
    let plain = v.validate(&issuer.token().sign()).await.unwrap();
    assert!(plain.actor().is_none() && plain.delegation_chain().next().is_none());
}

#[tokio::test]
async fn depth_is_limited() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = builder(&issuer).build().await.unwrap();
    let four = issuer.token().actor_chain(["a", "b", "c", "d"]).sign();
    let five = issuer.token().actor_chain(["a", "b", "c", "d", "e"]).sign();
    assert!(v.validate(&four).await.is_ok(), "default depth 4");
    assert!(matches!(
        v.validate(&five).await.unwrap_err(),
        AuthError::Delegation(_)
    ));
    let strict = builder(&issuer)
        .max_delegation_depth(1)
        .build()
        .await
        .unwrap();
    assert!(
        strict
            .validate(&issuer.token().actor_chain(["a"]).sign())
            .await
            .is_ok()
    );
    assert!(matches!(
        strict
            .validate(&issuer.token().actor_chain(["a", "b"]).sign())
            .await
            .unwrap_err(),
        AuthError::Delegation(_)
    ));
}

#[tokio::test]
async fn delegated_tokens_stay_under_the_scope_ceiling() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = builder(&issuer)
        .delegated_scope_ceiling(["read:*", "delegate:analysis"])
        .build()
        .await
        .unwrap();
    let narrow = issuer
        .token()
        .actor_chain(["orchestrator"])
        .scope("read:data delegate:analysis temporal:5min")
        .sign();
    assert!(v.validate(&narrow).await.is_ok());
    let broad = issuer
        .token()
        .actor_chain(["orchestrator"])
        .scope("read:data execute:payment")
        .sign();
    assert!(matches!(
        v.validate(&broad).await.unwrap_err(),
        AuthError::Delegation(_)
    ));
    // The ceiling binds delegated tokens only.
    assert!(
        v.validate(&issuer.token().scope("execute:payment").sign())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn only_allowed_current_actors_reach_the_route() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = builder(&issuer).build().await.unwrap();
    let app = Router::new()
        .route(
            "/delegate",
            post(|| async { "ok" })
                .route_layer(RequireActor::any([
                    ActorMatch::new("orchestrator").issuer("https://auth.example.com"),
                    "planner".into(),
                ]))
                .route_layer(RequireScopes::all(["delegate:analysis"])),
        )
        .layer(v.layer());
    let status = |t: String| {
        let app = app.clone();
        async move {
            let req = Request::post("/delegate")
                .header("authorization", format!("Bearer {t}"))
                .body(Body::empty())
                .unwrap();
            let res = app.oneshot(req).await.unwrap();
            (
                res.status().as_u16(),
                res.headers()
                    .get("www-authenticate")
                    .map(|v| v.to_str().unwrap().to_owned()),
            )
        }
    };
    let act = |sub: &str, iss: Option<&str>| {
        let mut a = serde_json::json!({"sub": sub, "act": {"sub": "orchestrator"}});
        if let Some(i) = iss {
            a["iss"] = i.into();
        }
        issuer
            .token()
            .scope("delegate:analysis")
            .claim("act", a)
            .sign()
    };
    assert_eq!(status(act("planner", None)).await.0, 200);
    assert_eq!(
        status(act("orchestrator", Some("https://auth.example.com")))
            .await
            .0,
        200
    );
    // Same sub, wrong or missing actor issuer.
    assert_eq!(
        status(act("orchestrator", Some("https://evil.example.com")))
            .await
            .0,
        403
    );
    assert_eq!(status(act("orchestrator", None)).await.0, 403);
    // Only the current actor counts: an allowed actor further back does not.
    let (code, www) = status(act("intruder", None)).await;
    assert_eq!(code, 403);
    assert!(www.unwrap().contains(r#"error="insufficient_scope""#));
    // Not delegated at all.
    assert_eq!(
        status(issuer.token().scope("delegate:analysis").sign())
            .await
            .0,
        403
    );
}
