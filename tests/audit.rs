//! Exactly one audit event per decision, with the fields security teams read, never the token.
#![cfg(feature = "testing")]

mod common;

use common::Fields;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use a2a_guard::testing::TestIssuer;
use a2a_guard::{RequireScopes, Validator};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::Request;
use tower::ServiceExt;
use tracing_subscriber::layer::{Context, SubscriberExt};

type Events = Arc<Mutex<Vec<BTreeMap<String, String>>>>;

struct Capture(Events);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() == "a2a_guard::audit" {
            let mut f = Fields(BTreeMap::new());
            event.record(&mut f);
            f.0.insert("level".into(), event.metadata().level().to_string());
            self.0.lock().unwrap().push(f.0);
        }
    }
}

async fn call(app: &Router, path: &str, token: Option<&str>) -> u16 {
    let mut r = Request::builder().uri(path);
    if let Some(t) = token {
        r = r.header("authorization", format!("Bearer {t}"));
    }
    app.clone()
        .oneshot(r.body(Body::empty()).unwrap())
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "current_thread")]
async fn one_event_per_decision_with_its_fields() {
    let events: Events = Default::default();
    let _guard = tracing::subscriber::set_default(
        tracing_subscriber::registry().with(Capture(events.clone())),
    );
    let issuer = TestIssuer::start().await.unwrap();
    let v = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
        .build()
        .await
        .unwrap();
    let app = Router::new()
        .route(
            "/data",
            get(|| async { "ok" }).route_layer(RequireScopes::all(["read:data"])),
        )
        .route("/open", get(|| async { "ok" }))
        .layer(v.layer());
    let take = || std::mem::take(&mut *events.lock().unwrap());
    take();

    let allowed = issuer
        .token()
        .subject("user-7")
        .scope("read:data admin")
        .claim(
            "act",
            serde_json::json!({"sub": "specialist", "act": {"sub": "orchestrator"}}),
        )
        .sign();
    assert_eq!(call(&app, "/data?q=1", Some(&allowed)).await, 200);
    let e = take();
    assert_eq!(e.len(), 1, "{e:?}");
    let e = &e[0];
    assert_eq!(e["decision"], "allow");
    assert_eq!(e["reason"], "ok");
    assert_eq!(e["status"], "200");
    assert_eq!(e["route"], "/data", "the query string is never logged");
    assert_eq!(e["iss"], issuer.issuer());
    assert_eq!(e["sub"], "user-7");
    assert_eq!(e["client_id"], "agent-test");
    assert_eq!(e["jti"].len(), 32);
    assert_eq!(
        e["scopes"], "admin read:data",
        "over-broad grants are visible"
    );
    assert_eq!(e["required"], "read:data");
    assert_eq!(e["actors"], "specialist orchestrator");
    assert!(
        e.values()
            .all(|v| !v.contains(&allowed) && !v.contains(allowed.split('.').nth(2).unwrap()))
    );

    let narrow = issuer.token().scope("read:other").sign();
    assert_eq!(call(&app, "/data", Some(&narrow)).await, 403);
    let e = take();
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(
        (
            e[0]["decision"].as_str(),
            e[0]["reason"].as_str(),
            e[0]["status"].as_str()
        ),
        ("deny", "insufficient_scope", "403")
    );
    assert_eq!(e[0]["required"], "read:data");
    assert_eq!(e[0]["level"], "WARN");

    let (a, b) = (issuer.token().sign(), issuer.token().scope("admin").sign());
    let forged = format!(
        "{}.{}",
        b.rsplit_once('.').unwrap().0,
        a.rsplit_once('.').unwrap().1
    );
    assert_eq!(call(&app, "/data", Some(&forged)).await, 401);
    let e = take();
    assert_eq!(e.len(), 1);
    assert_eq!(
        (e[0]["decision"].as_str(), e[0]["reason"].as_str()),
        ("deny", "invalid_signature")
    );
    assert!(
        e.iter()
            .flat_map(|m| m.values())
            .all(|v| !v.contains(&forged[..40]))
    );

    assert_eq!(call(&app, "/open", None).await, 401);
    let e = take();
    assert_eq!((e.len(), e[0]["reason"].as_str()), (1, "missing_token"));

    assert_eq!(call(&app, "/open", Some(&issuer.token().sign())).await, 200);
    let e = take();
    assert_eq!(
        (
            e.len(),
            e[0]["decision"].as_str(),
            e[0]["required"].as_str()
        ),
        (1, "allow", "")
    );
}

// Issue 11: the audit `route` is the matched route template (what dashboards group by) when a
// route guard or extractor saw it; `path` keeps the raw path.
#[tokio::test(flavor = "current_thread")]
async fn the_route_field_is_the_matched_template() {
    let events: Events = Default::default();
    let _guard = tracing::subscriber::set_default(
        tracing_subscriber::registry().with(Capture(events.clone())),
    );
    let issuer = TestIssuer::start().await.unwrap();
    let v = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
        .build()
        .await
        .unwrap();
    let app = Router::new()
        .route(
            "/customers/{region}",
            get(|| async { "ok" }).route_layer(RequireScopes::template("read:customers:{region}")),
        )
        .route(
            "/orders/{id}",
            get(|p: a2a_guard::Principal| async move { format!("{:?}", p.subject()) }),
        )
        .route("/plain/{id}", get(|| async { "ok" }))
        .layer(v.layer());
    let take = || std::mem::take(&mut *events.lock().unwrap());
    take();
    let t = issuer.token().scope("read:customers").sign();
    for (path, template) in [
        ("/customers/eu", "/customers/{region}"),
        ("/orders/42", "/orders/{id}"),
        ("/plain/7", "/plain/7"),
    ] {
        assert_eq!(call(&app, path, Some(&t)).await, 200, "{path}");
        let e = take();
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(
            (e[0]["route"].as_str(), e[0]["path"].as_str()),
            (template, path)
        );
    }
    // A denial by the guard carries the template too.
    let narrow = issuer.token().scope("read:orders").sign();
    assert_eq!(call(&app, "/customers/us", Some(&narrow)).await, 403);
    let e = take();
    assert_eq!(e[0]["route"], "/customers/{region}");
}

#[tokio::test(flavor = "current_thread")]
async fn every_observer_is_called_and_agrees_with_the_audit_event() {
    use a2a_guard::audit::Decision;
    let events: Events = Default::default();
    let _guard = tracing::subscriber::set_default(
        tracing_subscriber::registry().with(Capture(events.clone())),
    );
    let issuer = TestIssuer::start().await.unwrap();
    let v = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
        .build()
        .await
        .unwrap();
    let first = Arc::new(Mutex::new(Vec::<(&'static str, u16)>::new()));
    let second = Arc::new(Mutex::new(Vec::<&'static str>::new()));
    let (f, s) = (first.clone(), second.clone());
    let app = Router::new()
        .route(
            "/data",
            get(|| async { "ok" }).route_layer(RequireScopes::all(["read:data"])),
        )
        .layer(
            v.layer()
                .on_decision(move |d: &Decision<'_>| {
                    f.lock().unwrap().push((d.reason(), d.status().as_u16()))
                })
                .on_decision(move |d: &Decision<'_>| s.lock().unwrap().push(d.reason())),
        );
    events.lock().unwrap().clear();
    let ok = issuer.token().scope("read:data").sign();
    let narrow = issuer.token().scope("nothing").sign();
    assert_eq!(call(&app, "/data", Some(&ok)).await, 200);
    assert_eq!(call(&app, "/data", Some(&narrow)).await, 403);
    assert_eq!(call(&app, "/data", None).await, 401);

    let first = first.lock().unwrap().clone();
    assert_eq!(
        first,
        [
            ("ok", 200),
            ("insufficient_scope", 403),
            ("missing_token", 401)
        ]
    );
    let second = second.lock().unwrap().clone();
    assert_eq!(
        second,
        first.iter().map(|f| f.0).collect::<Vec<_>>(),
        "both observers, in order"
    );
    let audit: Vec<(String, String)> = events
        .lock()
        .unwrap()
        .iter()
        .map(|e| (e["reason"].clone(), e["status"].clone()))
        .collect();
    let expected: Vec<(String, String)> = first
        .iter()
        .map(|(r, s)| (r.to_string(), s.to_string()))
        .collect();
    assert_eq!(audit, expected, "the audit event is the same decision");
}
