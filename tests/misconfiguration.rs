//! Misconfigurations fail loudly (issue 11): an extractor whose claims type is not the
//! validator's answers 500 and logs both type names; a route guard without an auth layer
//! fails closed and says so once; the audit decision never contradicts the status sent.
#![cfg(feature = "testing")]

mod common;

use common::Fields;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use a2a_guard::testing::TestIssuer;
use a2a_guard::{Claims, OptionalClaims, Principal, RequireScopes, Validator};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode};
use tower::ServiceExt;
use tracing_subscriber::layer::{Context, SubscriberExt};

type Events = Arc<Mutex<Vec<BTreeMap<String, String>>>>;

struct Capture(Events);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut f = Fields(BTreeMap::new());
        event.record(&mut f);
        f.0.insert("target".into(), event.metadata().target().to_owned());
        f.0.insert("level".into(), event.metadata().level().to_string());
        self.0.lock().unwrap().push(f.0);
    }
}

/// One global subscriber for this binary (thread-local ones race over tracing's callsite
/// cache); tests tell their events apart by route.
fn events() -> &'static Events {
    static EVENTS: OnceLock<Events> = OnceLock::new();
    EVENTS.get_or_init(|| {
        let events: Events = Default::default();
        tracing::subscriber::set_global_default(
            tracing_subscriber::registry().with(Capture(events.clone())),
        )
        .unwrap();
        events
    })
}

fn audit_for(route: &str) -> Vec<BTreeMap<String, String>> {
    events()
        .lock()
        .unwrap()
        .iter()
        .filter(|e| {
            e["target"] == "a2a_guard::audit" && e.get("route").map(String::as_str) == Some(route)
        })
        .cloned()
        .collect()
}

fn errors_containing(needle: &str) -> Vec<BTreeMap<String, String>> {
    events()
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e["level"] == "ERROR" && e.values().any(|v| v.contains(needle)))
        .cloned()
        .collect()
}

#[derive(Clone, Debug, serde::Deserialize)]
struct TenantClaims {
    #[allow(dead_code)]
    sub: String,
}

async fn call(app: &Router, path: &str, token: Option<&str>) -> StatusCode {
    let mut r = Request::get(path);
    if let Some(t) = token {
        r = r.header("authorization", format!("Bearer {t}"));
    }
    app.clone()
        .oneshot(r.body(Body::empty()).unwrap())
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn an_extractor_of_another_claims_type_is_a_loud_500() {
    events();
    let issuer = TestIssuer::start().await.unwrap();
    let v = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
        .claims::<TenantClaims>()
        .build()
        .await
        .unwrap();
    let app = Router::new()
        // The default claims type, but the validator reads `TenantClaims`.
        .route(
            "/mismatch-principal",
            get(|p: Principal| async move { format!("{:?}", p.subject()) }),
        )
        .route(
            "/mismatch-claims",
            get(|Claims(c): Claims| async move { format!("{c:?}") }),
        )
        .route(
            "/mismatch-optional",
            get(|OptionalClaims(c): OptionalClaims| async move { format!("{c:?}") }),
        )
        .route(
            "/mismatch-guarded",
            get(|p: Principal| async move { format!("{:?}", p.subject()) })
                .route_layer(RequireScopes::all(["read:data"])),
        )
        .route(
            "/matching",
            get(|p: Principal<TenantClaims>| async move { p.claims().sub.clone() }),
        )
        .layer(v.layer());
    let token = issuer.token().scope("read:data").sign();
    assert_eq!(call(&app, "/matching", Some(&token)).await, 200);
    for route in [
        "/mismatch-principal",
        "/mismatch-claims",
        "/mismatch-optional",
        "/mismatch-guarded",
    ] {
        assert_eq!(
            call(&app, route, Some(&token)).await,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{route}"
        );
        let audit = audit_for(route);
        assert_eq!(audit.len(), 1, "{route}: {audit:?}");
        assert_eq!(
            (
                audit[0]["decision"].as_str(),
                audit[0]["reason"].as_str(),
                audit[0]["status"].as_str()
            ),
            ("deny", "misconfigured", "500"),
            "{route}"
        );
    }
    let logged = errors_containing("TenantClaims");
    assert!(
        !logged.is_empty(),
        "the error names the validator's claims type"
    );
    assert!(
        logged
            .iter()
            .any(|e| e.values().any(|v| v.contains("serde_json::map::Map"))),
        "the error names the extractor's claims type: {logged:?}"
    );
}

#[tokio::test]
async fn a_guard_without_an_auth_layer_fails_closed_and_says_so_once() {
    events();
    let app = Router::new().route(
        "/unguarded-layer",
        get(|| async { "ok" }).route_layer(RequireScopes::all(["read:data"])),
    );
    for _ in 0..3 {
        assert_eq!(call(&app, "/unguarded-layer", None).await, 401);
    }
    let logged = errors_containing("no AuthLayer");
    assert_eq!(logged.len(), 1, "{logged:?}");
}

#[tokio::test]
async fn a_handler_that_refuses_is_audited_as_a_denial() {
    events();
    let issuer = TestIssuer::start().await.unwrap();
    let v = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
        .build()
        .await
        .unwrap();
    let app = Router::new()
        .route("/handler-refuses", get(|| async { StatusCode::FORBIDDEN }))
        .route("/handler-ok", get(|| async { "ok" }))
        .layer(v.layer());
    let token = issuer.token().sign();
    assert_eq!(call(&app, "/handler-refuses", Some(&token)).await, 403);
    assert_eq!(call(&app, "/handler-ok", Some(&token)).await, 200);
    let refused = audit_for("/handler-refuses");
    assert_eq!(
        (
            refused[0]["decision"].as_str(),
            refused[0]["reason"].as_str(),
            refused[0]["status"].as_str()
        ),
        ("deny", "refused_downstream", "403")
    );
    let ok = audit_for("/handler-ok");
    assert_eq!(
        (ok[0]["decision"].as_str(), ok[0]["reason"].as_str()),
        ("allow", "ok")
    );
}
