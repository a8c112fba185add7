//! The calling side (issue 13, first slice): client-credentials tokens from a real token
//! endpoint (`TestIssuer`, loopback HTTP), cached, coalesced, renewed ahead, kept through an
//! outage until they expire, and attached by the outgoing layer — never a request without a
//! token, never the inbound token forwarded.
#![cfg(all(feature = "testing", feature = "client"))]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use a2a_guard::Validator;
use a2a_guard::client::{AccessTokenLayer, ClientCredentials, ClientError, Secret, TokenSource};
use a2a_guard::testing::{Behavior, TestIssuer};
use common::{ManualClock, within};
use tower::{Service, ServiceExt};

const RESOURCE: &str = "https://api.example/mcp";

async fn issuer() -> TestIssuer {
    TestIssuer::builder()
        .client("orchestrator", "s3cret-value")
        .start()
        .await
        .unwrap()
}

fn source(issuer: &TestIssuer, clock: &ManualClock) -> TokenSource {
    ClientCredentials::new(format!("{}/token", issuer.issuer()), "orchestrator")
        .secret(Secret::new("s3cret-value"))
        .scope(["read:data", "delegate:analysis"])
        .resource(RESOURCE)
        .clock(clock.as_clock())
        .build()
        .unwrap()
}

/// Wait (bounded) until `f` holds: for background work, not a speed claim.
async fn eventually(mut f: impl FnMut() -> bool) {
    within(Duration::from_secs(10), async {
        while !f() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn a_token_is_fetched_once_and_validates_at_the_resource() {
    let issuer = issuer().await;
    let clock = ManualClock::now_real();
    let tokens = source(&issuer, &clock);
    let a = tokens.token().await.unwrap();
    let b = tokens.token().await.unwrap();
    assert_eq!(a.secret(), b.secret());
    assert_eq!(issuer.token_requests(), 1);
    // A real token: signature, audience = the requested resource, scopes as asked.
    let v = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .resource(RESOURCE)
        .build()
        .await
        .unwrap();
    let p = v.validate(a.secret()).await.unwrap();
    assert_eq!(p.client_id(), Some("orchestrator"));
    let granted = p.scopes().to_string();
    assert!(
        granted.contains("read:data") && granted.contains("delegate:analysis"),
        "{granted}"
    );
}

#[tokio::test]
async fn a_thousand_cold_callers_make_one_request() {
    let issuer = issuer().await;
    // A slow endpoint keeps every caller waiting on the same request.
    issuer.set_token_behavior(Behavior::Delay(Duration::from_millis(300)));
    let tokens = source(&issuer, &ManualClock::now_real());
    let callers: Vec<_> = (0..1000)
        .map(|_| {
            let t = tokens.clone();
            tokio::spawn(async move { t.token().await.map(|t| t.secret().to_owned()) })
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    for c in callers {
        seen.insert(c.await.unwrap().unwrap());
    }
    assert_eq!(seen.len(), 1);
    assert_eq!(issuer.token_requests(), 1);
}

#[tokio::test]
async fn callers_that_give_up_do_not_restart_the_request() {
    let issuer = issuer().await;
    issuer.set_token_behavior(Behavior::Delay(Duration::from_millis(400)));
    let tokens = source(&issuer, &ManualClock::now_real());
    for _ in 0..5 {
        // Each caller is dropped mid-request.
        let _ = tokio::time::timeout(Duration::from_millis(30), tokens.token()).await;
    }
    tokens.token().await.unwrap();
    assert_eq!(issuer.token_requests(), 1);
}

#[tokio::test]
async fn renewal_runs_ahead_in_the_background_without_stalling_callers() {
    let issuer = issuer().await;
    issuer.set_token_lifetime(Duration::from_secs(20));
    let clock = ManualClock::now_real();
    let tokens = source(&issuer, &clock);
    let first = tokens.token().await.unwrap();
    // Before the refresh point (75 % of 20 s, minus up to 2 s jitter): nothing happens.
    clock.advance(Duration::from_secs(12));
    assert_eq!(tokens.token().await.unwrap().secret(), first.secret());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(issuer.token_requests(), 1);
    // Past it, with a slow endpoint: the caller gets the cached token at once...
    clock.advance(Duration::from_secs(4));
    issuer.set_token_behavior(Behavior::Delay(Duration::from_secs(1)));
    let got = within(Duration::from_millis(500), tokens.token())
        .await
        .unwrap();
    assert_eq!(got.secret(), first.secret());
    // ...and the renewal lands in the background.
    eventually(|| issuer.token_requests() == 2).await;
    let t = tokens.clone();
    let first_secret = first.secret().to_owned();
    within(Duration::from_secs(10), async move {
        loop {
            if t.token().await.unwrap().secret() != first_secret {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(issuer.token_requests(), 2);
}

#[tokio::test]
async fn an_outage_is_ridden_out_until_the_token_expires_then_calls_fail_typed() {
    let issuer = issuer().await;
    issuer.set_token_lifetime(Duration::from_secs(40));
    let clock = ManualClock::now_real();
    let tokens = source(&issuer, &clock);
    let first = tokens.token().await.unwrap();
    issuer.set_token_behavior(Behavior::Status(503));
    // Past the refresh point (26–30 s): renewals fail, the cached token keeps working.
    clock.advance(Duration::from_secs(30));
    for i in 0..3 {
        // Each call may start a renewal (one at a time); every call gets the cached token.
        within(Duration::from_secs(10), async {
            loop {
                assert_eq!(tokens.token().await.unwrap().secret(), first.secret());
                if issuer.token_requests() > 1 + i {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        clock.advance(Duration::from_secs(1)); // past the backoff (0.5–1 s, then 1–2 s)
        clock.advance(Duration::from_secs(i as u64));
    }
    // exp − skew (4 s of 40) reached: no token, a typed error.
    clock.advance(Duration::from_secs(10));
    let err = tokens.token().await.unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Refused { status: 503, .. } | ClientError::Backoff { .. }
        ),
        "{err:?}"
    );

    // Through the layer: the request is never sent without a token.
    let sent = Arc::new(Mutex::new(0));
    let s = sent.clone();
    let mut svc = tower::ServiceBuilder::new()
        .layer(AccessTokenLayer::new(tokens.clone()))
        .service(tower::service_fn(move |_: http::Request<String>| {
            *s.lock().unwrap() += 1;
            async { Ok::<_, std::convert::Infallible>(http::Response::new(String::new())) }
        }));
    clock.advance(Duration::from_secs(120));
    let res = svc
        .ready()
        .await
        .unwrap()
        .call(http::Request::new(String::new()))
        .await;
    let err = res.unwrap_err();
    assert!(err.downcast_ref::<ClientError>().is_some(), "{err}");
    assert_eq!(*sent.lock().unwrap(), 0);

    // Recovered: the next call gets a new token.
    issuer.set_token_behavior(Behavior::Normal);
    clock.advance(Duration::from_secs(120));
    assert_ne!(tokens.token().await.unwrap().secret(), first.secret());
}

#[tokio::test]
async fn the_layer_sends_its_own_token_never_the_inbound_one() {
    let issuer = issuer().await;
    let tokens = source(&issuer, &ManualClock::now_real());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let svc = tower::ServiceBuilder::new()
        .layer(AccessTokenLayer::new(tokens.clone()))
        .service(tower::service_fn(move |req: http::Request<String>| {
            let auth: Vec<String> = req
                .headers()
                .get_all("authorization")
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect();
            s.lock().unwrap().push(auth);
            async { Ok::<_, std::convert::Infallible>(http::Response::new(String::new())) }
        }));
    let inbound = http::Request::builder()
        .header("authorization", "Bearer the-callers-token")
        .header("authorization", "Basic eHh4")
        .body(String::new())
        .unwrap();
    svc.oneshot(inbound).await.unwrap();
    let own = tokens.token().await.unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![vec![format!("Bearer {}", own.secret())]]
    );
}

#[tokio::test]
async fn the_layer_drops_a_token_the_resource_calls_invalid() {
    let issuer = issuer().await;
    let clock = ManualClock::now_real();
    let tokens = source(&issuer, &clock);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    // A resource that refuses the first token it sees with 401 invalid_token.
    let svc = tower::ServiceBuilder::new()
        .layer(AccessTokenLayer::new(tokens.clone()))
        .service(tower::service_fn(move |req: http::Request<String>| {
            let auth = req.headers()["authorization"].to_str().unwrap().to_owned();
            let mut s = s.lock().unwrap();
            let refuse = s.is_empty() || s[0] == auth;
            s.push(auth);
            let mut res = http::Response::new(String::new());
            if refuse {
                *res.status_mut() = http::StatusCode::UNAUTHORIZED;
                res.headers_mut().insert(
                    "www-authenticate",
                    http::HeaderValue::from_static(r#"Bearer error="invalid_token""#),
                );
            }
            async move { Ok::<_, std::convert::Infallible>(res) }
        }));
    // Older than MIN_AGE_TO_INVALIDATE, so the refusal drops it.
    tokens.token().await.unwrap();
    clock.advance(Duration::from_secs(11));
    let first = svc
        .clone()
        .oneshot(http::Request::new(String::new()))
        .await
        .unwrap();
    assert_eq!(first.status(), 401);
    let second = svc
        .oneshot(http::Request::new(String::new()))
        .await
        .unwrap();
    assert_eq!(second.status(), 200);
    assert_eq!(issuer.token_requests(), 2);
    let seen = seen.lock().unwrap();
    assert_ne!(seen[0], seen[1]);
}

#[tokio::test]
async fn client_authentication_errors_are_typed_and_secrets_never_print() {
    let issuer = issuer().await;
    let endpoint = format!("{}/token", issuer.issuer());
    let wrong = ClientCredentials::new(&endpoint, "orchestrator")
        .secret(Secret::new("not-the-secret"))
        .build()
        .unwrap();
    let err = wrong.token().await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Refused { status: 401, error, .. } if error == "invalid_client"),
        "{err:?}"
    );
    let printed = format!("{err} {err:?} {wrong:?}");
    assert!(!printed.contains("not-the-secret"), "{printed}");
    // client_secret_post authenticates too.
    let post = ClientCredentials::new(&endpoint, "orchestrator")
        .secret(Secret::new("s3cret-value"))
        .secret_post()
        .build()
        .unwrap();
    let t = post.token().await.unwrap();
    assert!(!format!("{t:?}").contains(t.secret()));
    // Configuration mistakes are build errors.
    assert!(
        ClientCredentials::new("http://auth.example/token", "a")
            .secret(Secret::new("s"))
            .build()
            .is_err()
    );
    assert!(ClientCredentials::new(&endpoint, "a").build().is_err());
    assert!(
        ClientCredentials::new(&endpoint, "a")
            .secret(Secret::new("s"))
            .scope(["bad scope\""])
            .build()
            .is_err()
    );
}

#[tokio::test]
async fn a_rotated_secret_file_is_used_without_a_restart() {
    let issuer = issuer().await;
    let dir = common::tempdir();
    let file = dir.join("secret");
    std::fs::write(&file, "old-secret\n").unwrap();
    let clock = ManualClock::now_real();
    let tokens = ClientCredentials::new(format!("{}/token", issuer.issuer()), "orchestrator")
        .secret(Secret::file(&file))
        .clock(clock.as_clock())
        .build()
        .unwrap();
    assert!(matches!(
        tokens.token().await.unwrap_err(),
        ClientError::Refused { status: 401, .. }
    ));
    // Rotated in place (another length, so the change is seen whatever the mtime grain).
    std::fs::write(&file, "s3cret-value\n").unwrap();
    clock.advance(Duration::from_secs(2)); // past the backoff of the failure
    tokens.token().await.unwrap();
    assert_eq!(issuer.token_requests(), 2);
}

mod exchange {
    use super::*;
    use a2a_guard::client::{DelegateTo, InboundToken, TokenExchange};
    use a2a_guard::{Principal, RequireScopes};
    use axum::Router;
    use axum::body::Body;
    use axum::routing::post;

    const DOWNSTREAM: &str = "https://analysis.example/";

    async fn setup() -> (TestIssuer, TokenExchange, Validator) {
        let issuer = issuer().await;
        let me = ClientCredentials::new(format!("{}/token", issuer.issuer()), "orchestrator")
            .secret(Secret::new("s3cret-value"))
            .build()
            .unwrap();
        let exchange = TokenExchange::builder(me).build().unwrap();
        let inbound = Validator::builder()
            .issuer_jwks(issuer.issuer(), issuer.jwks_url())
            .audience(issuer.audience())
            .build()
            .await
            .unwrap();
        (issuer, exchange, inbound)
    }

    /// The orchestrator's route: exchange the caller's token for one to the downstream agent.
    fn app(v: &Validator, exchange: TokenExchange, scopes: &'static [&'static str]) -> Router {
        Router::new()
            .route(
                "/tasks",
                post(
                    move |p: Principal, axum::Extension(inbound): axum::Extension<InboundToken>| {
                        let exchange = exchange.clone();
                        async move {
                            let to = DelegateTo::resource(DOWNSTREAM).scope(scopes.iter().copied());
                            match exchange.delegate(&p, &inbound, to).await {
                                Ok(t) => (http::StatusCode::OK, t.secret().to_owned()),
                                Err(e) => (http::StatusCode::FORBIDDEN, format!("{e:?}")),
                            }
                        }
                    },
                )
                .route_layer(RequireScopes::all(["delegate:analysis"])),
            )
            .layer(v.layer())
    }

    async fn post_task(app: &Router, token: &str) -> (u16, String) {
        let res = app
            .clone()
            .oneshot(
                http::Request::post("/tasks")
                    .header("authorization", format!("Bearer {token}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = res.status().as_u16();
        let body = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn the_inbound_token_is_exchanged_for_a_narrower_delegated_one() {
        let (issuer, exchange, v) = setup().await;
        let app = app(&v, exchange, &["read:data"]);
        let inbound = issuer
            .token()
            .subject("user-agent")
            .scope("read:data write:data delegate:analysis")
            .sign();
        let (status, token) = post_task(&app, &inbound).await;
        assert_eq!(status, 200, "{token}");
        assert_ne!(token, inbound, "the inbound token must never be handed on");
        let downstream = Validator::builder()
            .issuer_jwks(issuer.issuer(), issuer.jwks_url())
            .resource(DOWNSTREAM)
            .build()
            .await
            .unwrap();
        let p = downstream.validate(&token).await.unwrap();
        assert_eq!(p.subject(), Some("user-agent"));
        assert_eq!(
            p.actor().and_then(|a| a.sub.as_deref()),
            Some("orchestrator")
        );
        assert_eq!(p.scopes().to_string(), "read:data");
        // One client-credentials request (the actor token) and one exchange.
        assert_eq!(issuer.token_requests(), 2);
        // Cached per subject and target: the same task again asks nothing.
        let (_, again) = post_task(&app, &inbound).await;
        assert_eq!(again, token);
        assert_eq!(issuer.token_requests(), 2);
    }

    #[tokio::test]
    async fn wider_scopes_and_deep_chains_are_refused_before_asking() {
        let (issuer, exchange, v) = setup().await;
        let wide = app(&v, exchange.clone(), &["write:data"]);
        let inbound = issuer.token().scope("read:data delegate:analysis").sign();
        let (status, body) = post_task(&wide, &inbound).await;
        assert_eq!(status, 403);
        assert!(body.contains("NotDelegable"), "{body}");
        // Hierarchy applies: `read:data` covers `read:data:eu`.
        let narrow = app(&v, exchange.clone(), &["read:data:eu"]);
        assert_eq!(post_task(&narrow, &inbound).await.0, 200);
        let requests = issuer.token_requests();
        // A chain already 4 deep (the default limit) is not extended.
        let deep = issuer
            .token()
            .scope("read:data delegate:analysis")
            .actor_chain(["a1", "a2", "a3", "a4"])
            .sign();
        let ok_app = app(&v, exchange, &["read:data"]);
        let (status, body) = post_task(&ok_app, &deep).await;
        assert_eq!(status, 403);
        assert!(body.contains("at the limit"), "{body}");
        assert_eq!(issuer.token_requests(), requests);
    }

    #[tokio::test]
    async fn an_exchanged_token_is_not_cached_past_its_subject() {
        let (issuer, exchange, _) = setup().await;
        let subject = issuer.token().scope("read:data").sign();
        let to = DelegateTo::resource(DOWNSTREAM).scope(["read:data"]);
        let now = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
        };
        // At least a second away whatever the fraction of the current second (`exp` has
        // one-second grain), so the first two calls share the cached token.
        let soon = now().as_secs() as i64 + 2;
        let a = exchange.exchange(&subject, Some(soon), &to).await.unwrap();
        let b = exchange.exchange(&subject, Some(soon), &to).await.unwrap();
        assert_eq!(a.secret(), b.secret());
        let before = issuer.token_requests();
        while now().as_secs_f64() < soon as f64 + 0.05 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let c = exchange
            .exchange(&subject, Some(soon + 3600), &to)
            .await
            .unwrap();
        assert_ne!(a.secret(), c.secret());
        assert_eq!(issuer.token_requests(), before + 1);
        // A refusal from the server is typed.
        let other = issuer.token().scope("read:data").sign();
        let err = exchange
            .exchange(
                &other,
                None,
                &DelegateTo::resource(DOWNSTREAM).scope(["admin"]),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ClientError::Refused { error, .. } if error == "invalid_scope"),
            "{err:?}"
        );
    }
}

#[cfg(feature = "reqwest-middleware")]
mod reqwest_middleware_replay {
    use super::*;
    use a2a_guard::client::AccessTokenMiddleware;
    use axum::Router;
    use axum::routing::post;

    /// A resource on loopback that refuses the tokens in `refused` with 401 `invalid_token`
    /// (all tokens when `refuse_all`) and records every `Authorization` it sees.
    async fn resource(refuse_all: bool) -> (String, Arc<Mutex<Vec<String>>>) {
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let s = seen.clone();
        let app = Router::new().route(
            "/work",
            post(move |headers: http::HeaderMap, body: String| {
                let s = s.clone();
                async move {
                    let auth = headers
                        .get("authorization")
                        .map(|v| v.to_str().unwrap().to_owned())
                        .unwrap_or_default();
                    let first = {
                        let mut seen = s.lock().unwrap();
                        seen.push(auth);
                        seen.len() == 1
                    };
                    if refuse_all || first {
                        (
                            http::StatusCode::UNAUTHORIZED,
                            [("www-authenticate", r#"Bearer error="invalid_token""#)],
                            String::new(),
                        )
                    } else {
                        (http::StatusCode::OK, [("x-ok", "1")], body)
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/work", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (url, seen)
    }

    #[tokio::test]
    async fn a_refused_token_is_replaced_and_the_request_replayed_once() {
        let issuer = issuer().await;
        let clock = ManualClock::now_real();
        let tokens = source(&issuer, &clock);
        let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
            .with(AccessTokenMiddleware::new(tokens.clone()))
            .build();
        let old = tokens.token().await.unwrap();
        clock.advance(Duration::from_secs(11)); // old enough to be dropped
        let (url, seen) = resource(false).await;
        let res = client
            .post(&url)
            .header("authorization", "Bearer inbound-token")
            .body("payload")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.text().await.unwrap(), "payload");
        let seen = seen.lock().unwrap().clone();
        let new = tokens.token().await.unwrap();
        assert_ne!(old.secret(), new.secret());
        assert_eq!(
            seen,
            vec![
                format!("Bearer {}", old.secret()),
                format!("Bearer {}", new.secret())
            ]
        );
        assert_eq!(issuer.token_requests(), 2);
    }

    #[tokio::test]
    async fn a_resource_that_refuses_everything_gets_one_replay_and_no_token_storm() {
        let issuer = issuer().await;
        let clock = ManualClock::now_real();
        let tokens = source(&issuer, &clock);
        let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
            .with(AccessTokenMiddleware::new(tokens.clone()))
            .build();
        tokens.token().await.unwrap();
        clock.advance(Duration::from_secs(11));
        let (url, seen) = resource(true).await;
        let res = client.post(&url).body("x").send().await.unwrap();
        assert_eq!(res.status(), 401);
        assert_eq!(seen.lock().unwrap().len(), 2, "one replay, never two");
        // The fresh token is not dropped again right away: further calls cost no token request.
        for _ in 0..5 {
            let res = client.post(&url).body("x").send().await.unwrap();
            assert_eq!(res.status(), 401);
        }
        assert_eq!(issuer.token_requests(), 2);
        assert_eq!(seen.lock().unwrap().len(), 7);
    }
}
