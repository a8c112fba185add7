//! `DecisionObserver`: called exactly once per request, with the decision the client actually
//! received, over real HTTP on loopback; the same decision as the audit event.
#![cfg(feature = "testing")]

use std::sync::{Arc, Mutex};

use a2a_guard::audit::Decision;
use a2a_guard::testing::TestIssuer;
use a2a_guard::{RequireScopes, Validator};
use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;

/// An owned copy of what an observer saw.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    outcome: &'static str,
    reason: &'static str,
    status: u16,
    route: Option<String>,
    path: String,
    sub: Option<String>,
    actors: Vec<String>,
    required: Option<String>,
}

impl Seen {
    fn of(d: &Decision<'_>) -> Self {
        Seen {
            outcome: d.outcome(),
            reason: d.reason(),
            status: d.status().as_u16(),
            route: d.route().map(str::to_owned),
            path: d.path().to_owned(),
            sub: d.subject().map(str::to_owned),
            actors: d.actors().map(str::to_owned).collect(),
            required: d.required().map(str::to_owned),
        }
    }
}

type Log = Arc<Mutex<Vec<Seen>>>;

async fn serve(v: &Validator, log: Log) -> String {
    let app = Router::new()
        .route(
            "/data",
            get(|| async { "ok" }).route_layer(RequireScopes::all(["read:data"])),
        )
        .route(
            "/customers/{region}",
            get(|| async { "ok" }).route_layer(RequireScopes::template("read:customers:{region}")),
        )
        .route("/open", get(|| async { "ok" }))
        .route("/refuse", get(|| async { StatusCode::FORBIDDEN }))
        .route("/boom", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
        .layer(
            v.layer()
                .on_decision(move |d: &Decision<'_>| log.lock().unwrap().push(Seen::of(d))),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

async fn validator(issuer: &TestIssuer) -> Validator {
    Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
        .build()
        .await
        .unwrap()
}

#[tokio::test]
async fn called_once_per_request_with_what_the_client_received() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = validator(&issuer).await;
    let log: Log = Default::default();
    let base = serve(&v, log.clone()).await;
    let http = reqwest::Client::new();

    let good = issuer
        .token()
        .subject("user-7")
        .scope("read:data read:customers:eu")
        .actor_chain(["specialist", "orchestrator"])
        .sign();
    let narrow = issuer.token().scope("read:other").sign();
    let expired = issuer
        .token()
        .scope("read:data")
        .issued_at(1_000)
        .expires_at(2_000)
        .sign();
    let forged = {
        let mut t = good.clone();
        t.push('A');
        t
    };

    // (path, token, status, outcome, reason, route)
    type Case<'a> = (
        &'a str,
        Option<&'a str>,
        u16,
        &'a str,
        &'a str,
        Option<&'a str>,
    );
    let cases: Vec<Case<'_>> = vec![
        ("/data", Some(&good), 200, "allow", "ok", Some("/data")),
        (
            "/customers/eu",
            Some(&good),
            200,
            "allow",
            "ok",
            Some("/customers/{region}"),
        ),
        (
            "/customers/us",
            Some(&good),
            403,
            "deny",
            "insufficient_scope",
            Some("/customers/{region}"),
        ),
        (
            "/data",
            Some(&narrow),
            403,
            "deny",
            "insufficient_scope",
            Some("/data"),
        ),
        ("/data", None, 401, "deny", "missing_token", None),
        ("/open", Some(&expired), 401, "deny", "expired", None),
        (
            "/open",
            Some(&forged),
            401,
            "deny",
            "invalid_signature",
            None,
        ),
        (
            "/refuse",
            Some(&good),
            403,
            "deny",
            "refused_downstream",
            None,
        ),
        ("/boom", Some(&good), 500, "allow", "ok", None),
        ("/nowhere/at/all", Some(&good), 404, "allow", "ok", None),
    ];
    for (path, token, status, outcome, reason, route) in cases {
        let mut req = http.get(format!("{base}{path}?secret=q"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status().as_u16(), status, "{path}");
        let seen = std::mem::take(&mut *log.lock().unwrap());
        assert_eq!(seen.len(), 1, "exactly one decision for {path}: {seen:?}");
        let d = &seen[0];
        assert_eq!(
            (d.status, d.outcome, d.reason),
            (res.status().as_u16(), outcome, reason),
            "{path}: the decision is what the client received"
        );
        assert_eq!(d.route.as_deref(), route, "{path}");
        assert_eq!(d.path, path, "the path, never the query");
    }

    // A verified token's identity rides along, the delegation chain included.
    let res = http
        .get(format!("{base}/data"))
        .bearer_auth(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let seen = std::mem::take(&mut *log.lock().unwrap());
    assert_eq!(seen[0].sub.as_deref(), Some("user-7"));
    assert_eq!(seen[0].actors, ["specialist", "orchestrator"]);
    assert_eq!(seen[0].required.as_deref(), Some("read:data"));
}
