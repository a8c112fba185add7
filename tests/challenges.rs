//! What a client reads from a refusal: RFC 9728 §5.1 `resource_metadata` on every 401 and
//! 403, `scope` on 401s (MCP scope selection), `DPoP` challenges, and RFC 9470 step-up
//! (`insufficient_user_authentication` with `acr_values` / `max_age`). Real signatures from
//! `TestIssuer`; each assertion fails when its parameter is removed.
#![cfg(feature = "testing")]

mod common;

use std::time::Duration;

use a2a_guard::pop::DpopConfig;
use a2a_guard::testing::{DpopKey, TestIssuer};
use a2a_guard::{Algorithm, AuthLayer, RequireAuthStrength, RequireScopes, Validator};
use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use http::{Request, Response};
use tower::ServiceExt;

const RESOURCE: &str = "https://agents.example.com/mcp";
const METADATA: &str = "https://agents.example.com/.well-known/oauth-protected-resource/mcp";

async fn validator(issuer: &TestIssuer, resources: &[&str]) -> Validator {
    let mut b = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience());
    for r in resources {
        b = b.resource(*r);
    }
    b.build().await.unwrap()
}

fn routes() -> Router {
    Router::new()
        .route(
            "/mcp",
            post(|| async { "ok" }).route_layer(RequireScopes::all(["read:data"])),
        )
        .route(
            "/mcp/pay",
            post(|| async { "paid" }).route_layer(RequireScopes::all(["execute:payment"])),
        )
        .route(
            "/other",
            get(|| async { "ok" }).route_layer(RequireScopes::all(["read:other"])),
        )
}

async fn call(app: &Router, method: &str, path: &str, auth: Option<String>) -> Response<Body> {
    let mut r = Request::builder().method(method).uri(path);
    if let Some(a) = auth {
        r = r.header("authorization", a);
    }
    app.clone()
        .oneshot(r.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

fn www(res: &Response<Body>) -> String {
    res.headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

fn param(www: &str, name: &str) -> Option<String> {
    let key = format!("{name}=\"");
    // Parameters are `, name="value"` after the scheme and realm.
    let start = www
        .match_indices(&key)
        .find(|(i, _)| *i == 0 || www[..*i].ends_with(' '))?
        .0
        + key.len();
    let end = www[start..].find('"')? + start;
    Some(www[start..end].to_owned())
}

#[tokio::test]
async fn every_401_and_403_names_the_resource_metadata() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = validator(&issuer, &[RESOURCE]).await;
    let app = routes().layer(v.layer());
    let bearer = |t: String| Some(format!("Bearer {t}"));

    let none = call(&app, "POST", "/mcp", None).await;
    assert_eq!(none.status(), 401);
    assert_eq!(
        param(&www(&none), "resource_metadata").as_deref(),
        Some(METADATA)
    );
    assert_eq!(param(&www(&none), "error"), None);

    let expired = call(
        &app,
        "POST",
        "/mcp",
        bearer(issuer.token().audience(RESOURCE).expires_at(1).sign()),
    )
    .await;
    assert_eq!(expired.status(), 401);
    let w = www(&expired);
    assert_eq!(param(&w, "error").as_deref(), Some("invalid_token"));
    assert_eq!(param(&w, "resource_metadata").as_deref(), Some(METADATA));

    let narrow = call(
        &app,
        "POST",
        "/mcp/pay",
        bearer(issuer.token().audience(RESOURCE).scope("read:data").sign()),
    )
    .await;
    assert_eq!(narrow.status(), 403);
    let w = www(&narrow);
    assert_eq!(param(&w, "error").as_deref(), Some("insufficient_scope"));
    assert_eq!(param(&w, "scope").as_deref(), Some("execute:payment"));
    assert_eq!(param(&w, "resource_metadata").as_deref(), Some(METADATA));

    let ok = call(
        &app,
        "POST",
        "/mcp",
        bearer(issuer.token().audience(RESOURCE).scope("read:data").sign()),
    )
    .await;
    assert_eq!(ok.status(), 200);
    assert!(ok.headers().get("www-authenticate").is_none());
}

#[tokio::test]
async fn without_a_resource_there_is_no_resource_metadata() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = validator(&issuer, &[]).await;
    let app = routes().layer(v.layer());
    let w = www(&call(&app, "POST", "/mcp", None).await);
    assert!(w.starts_with("Bearer realm="), "{w}");
    assert!(!w.contains("resource_metadata"), "{w}");
}

#[tokio::test]
async fn the_request_path_picks_the_resource_whose_metadata_is_named() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = validator(
        &issuer,
        &[
            "https://agents.example.com/",
            RESOURCE,
            "https://agents.example.com/a2a",
        ],
    )
    .await;
    let app = routes().layer(v.layer());
    let meta = |path: &'static str| {
        let app = app.clone();
        async move {
            let res = call(&app, "POST", path, None).await;
            param(&www(&res), "resource_metadata").unwrap()
        }
    };
    assert_eq!(meta("/mcp").await, METADATA);
    assert_eq!(meta("/mcp/pay").await, METADATA);
    assert_eq!(
        meta("/a2a/x").await,
        "https://agents.example.com/.well-known/oauth-protected-resource/a2a"
    );
    // Not under a resource path: the root resource.
    assert_eq!(
        meta("/other").await,
        "https://agents.example.com/.well-known/oauth-protected-resource"
    );
    // The Host header never reaches the challenge: only configured URLs do.
    let res = app
        .clone()
        .oneshot(
            Request::post("/mcp")
                .header("host", "evil.example")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        param(&www(&res), "resource_metadata").as_deref(),
        Some(METADATA)
    );
}

#[tokio::test]
async fn challenge_scope_goes_on_401_not_on_403() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = validator(&issuer, &[RESOURCE]).await;
    let layer: AuthLayer = v
        .layer()
        .challenge_scope(["read:data", "execute:payment"])
        .unwrap();
    let app = routes().layer(layer);
    let none = call(&app, "POST", "/mcp", None).await;
    assert_eq!(
        param(&www(&none), "scope").as_deref(),
        Some("read:data execute:payment")
    );
    let bad = call(&app, "POST", "/mcp", Some("Bearer not.a.jwt".into())).await;
    assert_eq!(bad.status(), 401);
    assert_eq!(
        param(&www(&bad), "scope").as_deref(),
        Some("read:data execute:payment")
    );
    // A 403 names what the route needs, not the layer's hint.
    let t = issuer.token().audience(RESOURCE).scope("read:data").sign();
    let narrow = call(&app, "POST", "/mcp/pay", Some(format!("Bearer {t}"))).await;
    assert_eq!(
        param(&www(&narrow), "scope").as_deref(),
        Some("execute:payment")
    );
    // Nothing but scope tokens can be put there (no quote or parameter injection).
    for bad in ["read\"data", "a, error=\"x", "", "read data"] {
        assert!(v.layer().challenge_scope([bad]).is_err(), "{bad:?}");
    }
}

#[tokio::test]
async fn behind_an_optional_layer_a_guard_asks_for_its_own_scopes() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = validator(&issuer, &[RESOURCE]).await;
    let app = routes().layer(v.layer().optional());
    let pay = call(&app, "POST", "/mcp/pay", None).await;
    assert_eq!(pay.status(), 401);
    let w = www(&pay);
    assert_eq!(
        param(&w, "scope").as_deref(),
        Some("execute:payment"),
        "{w}"
    );
    assert_eq!(param(&w, "resource_metadata").as_deref(), Some(METADATA));
    assert_eq!(param(&w, "error"), None);
    let read = call(&app, "POST", "/mcp", None).await;
    assert_eq!(param(&www(&read), "scope").as_deref(), Some("read:data"));

    // Guards that are not about scopes put nothing in `scope`; an extractor's 401 carries
    // the metadata like the layer's.
    let app = Router::new()
        .route(
            "/step-up",
            post(|| async { "ok" }).route_layer(RequireAuthStrength::acr(["phr"]).unwrap()),
        )
        .route(
            "/whoami",
            get(|p: a2a_guard::Principal| async move { format!("{:?}", p.subject()) }),
        )
        .layer(v.layer().optional());
    let w = www(&call(&app, "POST", "/step-up", None).await);
    assert_eq!(param(&w, "scope"), None, "{w}");
    assert_eq!(param(&w, "resource_metadata").as_deref(), Some(METADATA));
    let res = call(&app, "GET", "/whoami", None).await;
    assert_eq!(res.status(), 401);
    assert_eq!(
        param(&www(&res), "resource_metadata").as_deref(),
        Some(METADATA)
    );
}

#[tokio::test]
async fn a_dpop_request_refused_by_a_guard_gets_a_dpop_challenge() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = validator(&issuer, &[RESOURCE]).await;
    let layer = v
        .layer()
        .dpop(DpopConfig::new().origin("https://agents.example.com"))
        .unwrap();
    let app = routes().layer(layer);
    let key = DpopKey::generate(Algorithm::ES256);
    let token = issuer
        .token()
        .audience(RESOURCE)
        .scope("read:data")
        .dpop_bound(&key)
        .sign();
    let proof = key
        .proof("POST", "https://agents.example.com/mcp/pay")
        .access_token(&token)
        .sign();
    let res = app
        .clone()
        .oneshot(
            Request::post("/mcp/pay")
                .header("host", "agents.example.com")
                .header("authorization", format!("DPoP {token}"))
                .header("dpop", proof)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let w = www(&res);
    assert!(w.starts_with("DPoP realm="), "{w}");
    assert_eq!(param(&w, "scope").as_deref(), Some("execute:payment"));
    assert!(param(&w, "algs").is_some(), "{w}");
    assert_eq!(param(&w, "resource_metadata").as_deref(), Some(METADATA));
    // The layer's own DPoP refusal carries the metadata too.
    let res = app
        .clone()
        .oneshot(
            Request::post("/mcp")
                .header("host", "agents.example.com")
                .header("authorization", format!("DPoP {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let w = www(&res);
    assert_eq!(res.status(), 401);
    assert!(w.starts_with("DPoP realm="), "{w}");
    assert_eq!(param(&w, "resource_metadata").as_deref(), Some(METADATA));
}

fn step_up_app(v: &Validator, guard: RequireAuthStrength) -> Router {
    Router::new()
        .route("/payments", post(|| async { "paid" }).route_layer(guard))
        .layer(v.layer())
}

#[tokio::test]
async fn step_up_acr_values() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = validator(&issuer, &[RESOURCE]).await;
    let app = step_up_app(
        &v,
        RequireAuthStrength::acr(["urn:example:mfa", "phr"]).unwrap(),
    );
    let send = |t: String| call(&app, "POST", "/payments", Some(format!("Bearer {t}")));
    let t = |acr: Option<&str>| {
        let b = issuer.token().audience(RESOURCE);
        match acr {
            Some(a) => b.claim("acr", a).sign(),
            None => b.sign(),
        }
    };
    assert_eq!(send(t(Some("phr"))).await.status(), 200);
    assert_eq!(send(t(Some("urn:example:mfa"))).await.status(), 200);
    for weak in [Some("urn:example:password"), Some("PHR"), None] {
        let res = send(t(weak)).await;
        assert_eq!(res.status(), 401, "{weak:?}");
        let w = www(&res);
        assert_eq!(
            param(&w, "error").as_deref(),
            Some("insufficient_user_authentication"),
            "{w}"
        );
        assert_eq!(
            param(&w, "acr_values").as_deref(),
            Some("urn:example:mfa phr")
        );
        assert_eq!(param(&w, "max_age"), None);
        assert_eq!(param(&w, "resource_metadata").as_deref(), Some(METADATA));
    }
    // `acr` must be a string: anything else is a malformed token, not a weak one.
    let res = send(issuer.token().audience(RESOURCE).claim("acr", 2).sign()).await;
    assert_eq!(param(&www(&res), "error").as_deref(), Some("invalid_token"));
}

#[tokio::test]
async fn step_up_max_age_follows_the_validators_clock() {
    let issuer = TestIssuer::start().await.unwrap();
    let clock = common::ManualClock::now_real();
    let v = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .resource(RESOURCE)
        .clock(clock.as_clock())
        .build()
        .await
        .unwrap();
    let guard = RequireAuthStrength::acr(["phr"])
        .unwrap()
        .with_max_age(Duration::from_secs(300));
    let app = step_up_app(&v, guard);
    let now = clock.get();
    let token = |auth_time: Option<i64>| {
        let b = issuer
            .token()
            .audience(RESOURCE)
            .claim("acr", "phr")
            .issued_at(now)
            .expires_at(now + 3600);
        match auth_time {
            Some(t) => b.claim("auth_time", t).sign(),
            None => b.sign(),
        }
    };
    let send = |t: String| call(&app, "POST", "/payments", Some(format!("Bearer {t}")));
    let fresh = token(Some(now - 200));
    assert_eq!(send(fresh.clone()).await.status(), 200);
    // The same token, 101 s later on the validator's clock: the authentication is too old.
    clock.advance(Duration::from_secs(101));
    let res = send(fresh).await;
    assert_eq!(res.status(), 401);
    let w = www(&res);
    assert_eq!(
        param(&w, "error").as_deref(),
        Some("insufficient_user_authentication")
    );
    assert_eq!(param(&w, "max_age").as_deref(), Some("300"));
    assert_eq!(param(&w, "acr_values").as_deref(), Some("phr"));
    // No auth_time: nothing says the authentication is recent.
    let res = send(token(None)).await;
    assert_eq!(res.status(), 401);
    assert_eq!(param(&www(&res), "max_age").as_deref(), Some("300"));

    // Recency alone: no acr_values in the challenge.
    let app = step_up_app(&v, RequireAuthStrength::max_age(Duration::from_secs(60)));
    let res = call(
        &app,
        "POST",
        "/payments",
        Some(format!("Bearer {}", token(Some(clock.get() - 61)))),
    )
    .await;
    let w = www(&res);
    assert_eq!(param(&w, "max_age").as_deref(), Some("60"), "{w}");
    assert_eq!(param(&w, "acr_values"), None);
    let res = call(
        &app,
        "POST",
        "/payments",
        Some(format!("Bearer {}", token(Some(clock.get() - 59)))),
    )
    .await;
    assert_eq!(res.status(), 200);
}

#[test]
fn step_up_values_are_checked_at_build() {
    for bad in ["", "two words", "quo\"te", "back\\slash", "caf\u{e9}"] {
        assert!(RequireAuthStrength::acr([bad]).is_err(), "{bad:?}");
    }
    assert!(RequireAuthStrength::acr(Vec::<String>::new()).is_err());
}
