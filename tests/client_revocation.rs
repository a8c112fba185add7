//! RFC 7009 revocation on the calling side (issue 13): `TokenSource::revoke` / `revoke_all`,
//! `TokenExchange::revoke_all`, the task-scoped `TaskTokens` (revoked on `finish()`, best
//! effort on drop), typed errors, audit events without secrets — all against `TestIssuer`'s
//! revocation endpoint over loopback HTTP.
#![cfg(all(feature = "testing", feature = "client"))]

mod common;

use common::Fields;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use a2a_guard::client::{
    AccessToken, ClientCredentials, ClientError, DelegateTo, InboundToken, Secret, TokenExchange,
    TokenSource,
};
use a2a_guard::testing::{Behavior, TestIssuer};
use a2a_guard::{Principal, Validator};
use base64::Engine as _;
use common::{ManualClock, within};
use tower::ServiceExt;

const SECRET: &str = "s3cret-value";
const ANALYSIS: &str = "https://analysis.example/";
const REPORTS: &str = "https://reports.example/";

async fn issuer() -> TestIssuer {
    TestIssuer::builder()
        .client("orchestrator", SECRET)
        .client("other-agent", "other-secret")
        .start()
        .await
        .unwrap()
}

fn credentials(issuer: &TestIssuer, secret: &str) -> ClientCredentials {
    ClientCredentials::new(format!("{}/token", issuer.issuer()), "orchestrator")
        .secret(Secret::new(secret))
        .revocation_endpoint(issuer.revocation_url())
}

fn source(issuer: &TestIssuer) -> TokenSource {
    credentials(issuer, SECRET).build().unwrap()
}

/// The `jti` of a JWT, read independently of the crate.
fn jti(token: &str) -> String {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    let claims: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    claims["jti"].as_str().unwrap().to_owned()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
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

/// The verified principal and inbound token of one request through the real auth layer,
/// as a handler receives them.
async fn inbound(issuer: &TestIssuer, token: &str) -> (Principal, InboundToken) {
    let v = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
        .build()
        .await
        .unwrap();
    let seen = Arc::new(Mutex::new(None));
    let s = seen.clone();
    let app = axum::Router::new()
        .route(
            "/tasks",
            axum::routing::post(
                move |p: Principal, axum::Extension(i): axum::Extension<InboundToken>| {
                    *s.lock().unwrap() = Some((p, i));
                    async { "ok" }
                },
            ),
        )
        .layer(v.layer());
    let res = app
        .oneshot(
            http::Request::post("/tasks")
                .header("authorization", format!("Bearer {token}"))
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    seen.lock().unwrap().take().unwrap()
}

struct Setup {
    issuer: TestIssuer,
    me: TokenSource,
    exchange: TokenExchange,
    principal: Principal,
    inbound: InboundToken,
    inbound_token: String,
}

async fn setup() -> Setup {
    let issuer = issuer().await;
    let me = source(&issuer);
    let exchange = TokenExchange::builder(me.clone()).build().unwrap();
    let inbound_token = issuer
        .token()
        .subject("user-agent")
        .scope("read:data delegate:analysis")
        .sign();
    let (principal, inbound) = inbound(&issuer, &inbound_token).await;
    Setup {
        issuer,
        me,
        exchange,
        principal,
        inbound,
        inbound_token,
    }
}

fn to(resource: &str) -> DelegateTo {
    DelegateTo::resource(resource).scope(["read:data"])
}

#[tokio::test]
async fn a_revoked_token_is_recorded_by_the_server_and_the_next_call_fetches_a_new_one() {
    let issuer = issuer().await;
    let tokens = source(&issuer);
    let first = tokens.token().await.unwrap();
    assert_eq!(first.jti(), Some(jti(first.secret()).as_str()));
    tokens.revoke(&first).await.unwrap();
    assert_eq!(issuer.revoked_jtis(), vec![jti(first.secret())]);
    assert_eq!(issuer.revocation_requests(), 1);
    let next = tokens.token().await.unwrap();
    assert_ne!(next.secret(), first.secret());
    assert_eq!(issuer.token_requests(), 2);
    assert!(!issuer.is_revoked(&jti(next.secret())));
}

#[tokio::test]
async fn revoke_all_revokes_the_cached_token_and_the_one_its_renewal_replaced() {
    let issuer = issuer().await;
    issuer.set_token_lifetime(Duration::from_secs(20));
    let clock = ManualClock::now_real();
    let tokens = credentials(&issuer, SECRET)
        .clock(clock.as_clock())
        .build()
        .unwrap();
    let old = tokens.token().await.unwrap();
    // Past the refresh point: a renewal replaces it in the background; `old` is still valid
    // and may be in use.
    clock.advance(Duration::from_secs(16));
    tokens.token().await.unwrap();
    eventually(|| issuer.token_requests() == 2).await;
    let t = tokens.clone();
    let old_secret = old.secret().to_owned();
    let new = within(Duration::from_secs(10), async move {
        loop {
            let t = t.token().await.unwrap();
            if t.secret() != old_secret {
                break t;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let report = tokens.revoke_all().await;
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.revoked, 2);
    assert_eq!(
        issuer.revoked_jtis(),
        sorted(vec![jti(old.secret()), jti(new.secret())])
    );
    // The cache is empty: the next call asks for a new token.
    let after = tokens.token().await.unwrap();
    assert_ne!(after.secret(), new.secret());
    assert_eq!(issuer.token_requests(), 3);
}

#[tokio::test]
async fn exchange_revoke_all_revokes_every_cached_exchanged_token_and_only_those() {
    let s = setup().await;
    let a = s
        .exchange
        .delegate(&s.principal, &s.inbound, to(ANALYSIS))
        .await
        .unwrap();
    let b = s
        .exchange
        .delegate(&s.principal, &s.inbound, to(REPORTS))
        .await
        .unwrap();
    let actor = s.me.token().await.unwrap();
    let report = s.exchange.revoke_all().await;
    assert_eq!(report.into_result(), Ok(2));
    assert_eq!(
        s.issuer.revoked_jtis(),
        sorted(vec![jti(a.secret()), jti(b.secret())])
    );
    assert!(!s.issuer.is_revoked(&jti(actor.secret())));
    // The shared cache is empty: the same delegation exchanges anew.
    let requests = s.issuer.token_requests();
    let again = s
        .exchange
        .delegate(&s.principal, &s.inbound, to(ANALYSIS))
        .await
        .unwrap();
    assert_ne!(again.secret(), a.secret());
    assert_eq!(s.issuer.token_requests(), requests + 1);
    // Nothing left to revoke twice.
    let report = s.exchange.revoke_all().await;
    assert_eq!(report.into_result(), Ok(1));
}

#[tokio::test]
async fn finish_revokes_exactly_the_tasks_tokens() {
    let s = setup().await;
    // Process-wide tokens: the actor's own and one shared exchanged token.
    let shared = s
        .exchange
        .delegate(&s.principal, &s.inbound, to(ANALYSIS))
        .await
        .unwrap();
    let actor = s.me.token().await.unwrap();
    let task = s.exchange.task();
    let a = task
        .delegate(&s.principal, &s.inbound, to(ANALYSIS))
        .await
        .unwrap();
    // The task's token is its own, not the shared one…
    assert_ne!(a.secret(), shared.secret());
    // …reused within the task…
    let a_again = task
        .delegate(&s.principal, &s.inbound, to(ANALYSIS))
        .await
        .unwrap();
    assert_eq!(a_again.secret(), a.secret());
    let b = task
        .delegate(&s.principal, &s.inbound, to(REPORTS))
        .await
        .unwrap();
    assert_eq!(task.obtained(), 2);
    // …and never put into the shared cache.
    let requests = s.issuer.token_requests();
    let shared_b = s
        .exchange
        .delegate(&s.principal, &s.inbound, to(REPORTS))
        .await
        .unwrap();
    assert_ne!(shared_b.secret(), b.secret());
    assert_eq!(s.issuer.token_requests(), requests + 1);

    let report = task.finish().await;
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.revoked, 2);
    assert_eq!(
        s.issuer.revoked_jtis(),
        sorted(vec![jti(a.secret()), jti(b.secret())])
    );
    assert_eq!(s.issuer.revocation_requests(), 2);
    for kept in [&shared, &shared_b, &actor] {
        assert!(!s.issuer.is_revoked(&jti(kept.secret())));
    }
    // The shared cache still serves its token.
    let cached = s
        .exchange
        .delegate(&s.principal, &s.inbound, to(ANALYSIS))
        .await
        .unwrap();
    assert_eq!(cached.secret(), shared.secret());
    // A refused delegation obtains nothing and leaves nothing to revoke.
    let task = s.exchange.task();
    let wide = DelegateTo::resource(ANALYSIS).scope(["write:data"]);
    assert!(matches!(
        task.delegate(&s.principal, &s.inbound, wide).await,
        Err(ClientError::NotDelegable(_))
    ));
    assert_eq!(task.finish().await.into_result(), Ok(0));
    assert_eq!(s.issuer.revocation_requests(), 2);
}

#[tokio::test]
async fn a_task_dropped_without_finish_revokes_its_tokens_in_the_background() {
    let s = setup().await;
    let (a, b) = {
        let task = s.exchange.task();
        let a = task
            .delegate(&s.principal, &s.inbound, to(ANALYSIS))
            .await
            .unwrap();
        let b = task
            .delegate(&s.principal, &s.inbound, to(REPORTS))
            .await
            .unwrap();
        (a, b)
        // dropped here: an early return, an error, a cancelled handler
    };
    let want = sorted(vec![jti(a.secret()), jti(b.secret())]);
    eventually(|| s.issuer.revoked_jtis() == want).await;
    // A task that obtained nothing sends nothing.
    drop(s.exchange.task());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(s.issuer.revocation_requests(), 2);
}

/// Dropped after its runtime is gone: no panic, nothing sent, a warning logged.
#[test]
fn a_task_dropped_outside_a_runtime_does_not_panic() {
    let events = Events::default();
    let _capturing = capture(&events);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (s, task) = rt.block_on(async {
        let s = setup().await;
        let task = s.exchange.task();
        task.delegate(&s.principal, &s.inbound, to(ANALYSIS))
            .await
            .unwrap();
        (s, task)
    });
    drop(rt);
    drop(task);
    assert_eq!(s.issuer.revocation_requests(), 0);
    let events = events.lock().unwrap();
    assert!(
        events.iter().any(
            |e| e.get("event").map(String::as_str) == Some("task_dropped")
                && e["message"].contains("outside a tokio runtime")
        ),
        "{events:?}"
    );
}

#[tokio::test]
async fn revocation_with_a_wrong_client_secret_is_a_typed_error() {
    let issuer = issuer().await;
    let token = source(&issuer).token().await.unwrap();
    let wrong = credentials(&issuer, "not-the-secret").build().unwrap();
    let err = wrong.revoke(&token).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Refused { status: 401, error, .. } if error == "invalid_client"),
        "{err:?}"
    );
    assert!(!format!("{err} {err:?}").contains("not-the-secret"));
    assert_eq!(issuer.revocation_requests(), 1);
    assert!(issuer.revoked_jtis().is_empty());
}

#[tokio::test]
async fn an_unavailable_revocation_endpoint_is_a_typed_error_and_the_token_can_be_retried() {
    let s = setup().await;
    s.issuer.set_revocation_behavior(Behavior::Status(503));
    let own = s.me.token().await.unwrap();
    assert_eq!(
        s.me.revoke(&own).await,
        Err(ClientError::RevocationUnavailable { retry_after: None })
    );
    // Dropped from the cache all the same: it is not handed out again.
    assert_ne!(s.me.token().await.unwrap().secret(), own.secret());

    let task = s.exchange.task();
    let a = task
        .delegate(&s.principal, &s.inbound, to(ANALYSIS))
        .await
        .unwrap();
    let report = task.finish().await;
    assert_eq!(report.revoked, 0);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].0.secret(), a.secret());
    assert!(matches!(
        report.failed[0].1,
        ClientError::RevocationUnavailable { .. }
    ));
    assert!(s.issuer.revoked_jtis().is_empty());

    // Other errors are RFC 6749 §5.2 refusals.
    s.issuer.set_revocation_behavior(Behavior::Status(500));
    assert!(matches!(
        s.exchange.revoke(&report.failed[0].0).await,
        Err(ClientError::Refused { status: 500, .. })
    ));
    // Back up: the failed one is revoked on retry.
    s.issuer.set_revocation_behavior(Behavior::Normal);
    s.exchange.revoke(&report.failed[0].0).await.unwrap();
    assert_eq!(s.issuer.revoked_jtis(), vec![jti(a.secret())]);
}

#[tokio::test]
async fn without_a_revocation_endpoint_revoking_is_a_typed_error() {
    let issuer = issuer().await;
    let tokens = ClientCredentials::new(format!("{}/token", issuer.issuer()), "orchestrator")
        .secret(Secret::new(SECRET))
        .build()
        .unwrap();
    let t = tokens.token().await.unwrap();
    assert_eq!(
        tokens.revoke(&t).await,
        Err(ClientError::NoRevocationEndpoint)
    );
    let exchange = TokenExchange::builder(tokens.clone()).build().unwrap();
    let subject = issuer.token().scope("read:data").sign();
    let exchanged = exchange
        .exchange(&subject, None, &to(ANALYSIS))
        .await
        .unwrap();
    let report = exchange.revoke_all().await;
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].0.secret(), exchanged.secret());
    assert_eq!(report.into_result(), Err(ClientError::NoRevocationEndpoint));
    assert_eq!(issuer.revocation_requests(), 0);
}

#[tokio::test]
async fn the_revocation_endpoint_url_is_checked_like_the_token_endpoint() {
    let issuer = issuer().await;
    for bad in [
        "http://auth.example/revoke",
        "https://user:pw@auth.example/revoke",
        "ftp://auth.example/revoke",
        "not a url",
    ] {
        let built = credentials(&issuer, SECRET)
            .revocation_endpoint(bad)
            .build();
        assert!(built.is_err(), "{bad}");
    }
    for good in ["https://auth.example/revoke", "http://127.0.0.1:9/revoke"] {
        credentials(&issuer, SECRET)
            .revocation_endpoint(good)
            .build()
            .unwrap();
    }
}

/// What reached a stand-in revocation endpoint: the `Authorization` header and the form.
type Seen = Arc<Mutex<Vec<(Option<String>, BTreeMap<String, String>)>>>;

async fn recording_endpoint() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let app = axum::Router::new().route(
        "/revoke",
        axum::routing::post(move |headers: http::HeaderMap, body: String| {
            let auth = headers
                .get("authorization")
                .map(|v| v.to_str().unwrap().to_owned());
            let form = url::form_urlencoded::parse(body.as_bytes())
                .into_owned()
                .collect();
            s.lock().unwrap().push((auth, form));
            async { "" }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/revoke", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

#[tokio::test]
async fn the_request_is_rfc_7009_and_authenticated_like_a_token_request() {
    let issuer = issuer().await;
    let (url, seen) = recording_endpoint().await;
    let basic = credentials(&issuer, SECRET)
        .revocation_endpoint(&url)
        .build()
        .unwrap();
    let t = basic.token().await.unwrap();
    basic.revoke(&t).await.unwrap();
    let post = credentials(&issuer, SECRET)
        .secret_post()
        .revocation_endpoint(&url)
        .build()
        .unwrap();
    let u = post.token().await.unwrap();
    post.revoke(&u).await.unwrap();
    let seen = seen.lock().unwrap().clone();
    let expected_basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("orchestrator:{SECRET}"))
    );
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].0.as_deref(), Some(expected_basic.as_str()));
    assert_eq!(
        seen[0].1,
        BTreeMap::from([
            ("token".to_owned(), t.secret().to_owned()),
            ("token_type_hint".to_owned(), "access_token".to_owned()),
        ])
    );
    assert_eq!(seen[1].0, None);
    assert_eq!(
        seen[1].1,
        BTreeMap::from([
            ("client_id".to_owned(), "orchestrator".to_owned()),
            ("client_secret".to_owned(), SECRET.to_owned()),
            ("token".to_owned(), u.secret().to_owned()),
            ("token_type_hint".to_owned(), "access_token".to_owned()),
        ])
    );
}

// ---- audit ----

type Events = Arc<Mutex<Vec<BTreeMap<String, String>>>>;

// One process-wide subscriber that hands each event to the buffer of the test running on
// that thread: a per-test `set_default` subscriber loses events when another test thread
// registers a callsite first (tracing caches callsite interest globally). The audit tests
// run on current-thread runtimes, so their spawned tasks record on the test's thread too.
thread_local! {
    static SINK: std::cell::RefCell<Option<Events>> = const { std::cell::RefCell::new(None) };
}

struct Capture;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != "a2a_guard::client" {
            return;
        }
        SINK.with(|sink| {
            if let Some(events) = &*sink.borrow() {
                let mut f = Fields(BTreeMap::new());
                event.record(&mut f);
                events.lock().unwrap().push(f.0);
            }
        });
    }
}

/// Records the `a2a_guard::client` events of this thread into `events` until dropped.
struct Capturing;

impl Drop for Capturing {
    fn drop(&mut self) {
        SINK.with(|sink| *sink.borrow_mut() = None);
    }
}

fn capture(events: &Events) -> Capturing {
    use tracing_subscriber::layer::SubscriberExt;
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Capture))
            .unwrap();
    });
    SINK.with(|sink| *sink.borrow_mut() = Some(events.clone()));
    Capturing
}

#[tokio::test(flavor = "current_thread")]
async fn each_revocation_is_one_audit_event_without_the_token_or_the_secret() {
    let events = Events::default();
    let _capturing = capture(&events);
    let s = setup().await;
    let own = s.me.token().await.unwrap();
    s.me.revoke(&own).await.unwrap();
    let task = s.exchange.task();
    let a = task
        .delegate(&s.principal, &s.inbound, to(ANALYSIS))
        .await
        .unwrap();
    assert!(task.finish().await.is_complete());
    s.issuer.set_revocation_behavior(Behavior::Status(503));
    let b = s
        .exchange
        .delegate(&s.principal, &s.inbound, to(REPORTS))
        .await
        .unwrap();
    assert!(!s.exchange.revoke_all().await.is_complete());

    let events = events.lock().unwrap().clone();
    let revocations: Vec<_> = events
        .iter()
        .filter(|e| e["event"].starts_with("revoke"))
        .collect();
    assert_eq!(revocations.len(), 3, "{events:#?}");
    let expect = [
        (
            "revoked",
            "client_credentials",
            "explicit",
            jti(own.secret()),
        ),
        (
            "revoked",
            "token_exchange",
            "task_finished",
            jti(a.secret()),
        ),
        (
            "revoke_failed",
            "token_exchange",
            "shutdown",
            jti(b.secret()),
        ),
    ];
    for (e, (event, grant, trigger, jti)) in revocations.iter().zip(expect) {
        assert_eq!(e["event"], event, "{e:?}");
        assert_eq!(e["grant"], grant, "{e:?}");
        assert_eq!(e["client_id"], "orchestrator", "{e:?}");
        assert_eq!(e["trigger"], trigger, "{e:?}");
        assert_eq!(e["jti"], jti, "{e:?}");
    }
    assert!(revocations[2]["error"].contains("unavailable"));
    // Issuance events exist for both grants, with their lifetime.
    for grant in ["client_credentials", "token_exchange"] {
        assert!(
            events.iter().any(|e| e["event"] == "issued"
                && e["grant"] == grant
                && e.contains_key("lifetime_s")),
            "{grant}: {events:#?}"
        );
    }
    // Never a token or the secret, in any client event.
    let secrets = [
        own.secret(),
        a.secret(),
        b.secret(),
        s.inbound_token.as_str(),
        SECRET,
    ];
    for e in &events {
        for v in e.values() {
            for secret in secrets {
                assert!(!v.contains(secret), "{e:?}");
            }
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_failed_exchange_is_one_audit_event() {
    let events = Events::default();
    let _capturing = capture(&events);
    let s = setup().await;
    s.me.token().await.unwrap(); // the actor token first, so only the exchange fails
    s.issuer.set_token_behavior(Behavior::Status(503));
    let task = s.exchange.task();
    assert!(
        task.delegate(&s.principal, &s.inbound, to(ANALYSIS))
            .await
            .is_err()
    );
    drop(task);
    let events = events.lock().unwrap();
    let failed: Vec<_> = events
        .iter()
        .filter(|e| e["event"] == "failed" && e["grant"] == "token_exchange")
        .collect();
    assert_eq!(failed.len(), 1, "{events:#?}");
    assert_eq!(failed[0]["client_id"], "orchestrator");
    assert!(failed[0]["error"].contains("503"), "{:?}", failed[0]);
}

// ---- TestIssuer's endpoint, raw ----

mod test_issuer {
    use super::*;

    async fn post(issuer: &TestIssuer, auth: Option<(&str, &str)>, body: &str) -> (u16, String) {
        let mut req = reqwest::Client::new()
            .post(issuer.revocation_url())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned());
        if let Some((id, secret)) = auth {
            req = req.basic_auth(id, Some(secret));
        }
        let res = req.send().await.unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    }

    #[tokio::test]
    async fn clients_must_authenticate_and_send_a_token() {
        let issuer = issuer().await;
        let token: AccessToken = source(&issuer).token().await.unwrap();
        let body = format!("token={}", token.secret());
        let (status, text) = post(&issuer, Some(("orchestrator", "wrong")), &body).await;
        assert_eq!((status, text.contains("invalid_client")), (401, true));
        let (status, _) = post(&issuer, None, &body).await;
        assert_eq!(status, 401);
        let (status, text) = post(&issuer, Some(("orchestrator", SECRET)), "").await;
        assert_eq!((status, text.contains("invalid_request")), (400, true));
        let twice = format!("{body}&token=x");
        let (status, _) = post(&issuer, Some(("orchestrator", SECRET)), &twice).await;
        assert_eq!(status, 400);
        assert!(issuer.revoked_jtis().is_empty());
        // Another client's token: 200 (RFC 7009 §2.2), not revoked.
        let (status, _) = post(&issuer, Some(("other-agent", "other-secret")), &body).await;
        assert_eq!(status, 200);
        assert!(issuer.revoked_jtis().is_empty());
        // Not a token of ours: 200, nothing recorded.
        let (status, _) = post(&issuer, Some(("orchestrator", SECRET)), "token=abc").await;
        assert_eq!(status, 200);
        assert!(issuer.revoked_jtis().is_empty());
        // Its own client, with client_secret_post: revoked.
        let form = format!("client_id=orchestrator&client_secret={SECRET}&{body}");
        let (status, _) = post(&issuer, None, &form).await;
        assert_eq!(status, 200);
        assert_eq!(issuer.revoked_jtis(), vec![jti(token.secret())]);
        assert_eq!(issuer.revocation_requests(), 7);
        issuer.reset_counters();
        assert_eq!(issuer.revocation_requests(), 0);
        assert!(issuer.is_revoked(&jti(token.secret())));
    }

    #[tokio::test]
    async fn discovery_and_metadata_advertise_the_revocation_endpoint() {
        let issuer = issuer().await;
        for url in [issuer.discovery_url(), issuer.metadata_url()] {
            let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
            let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(doc["revocation_endpoint"], issuer.revocation_url(), "{url}");
        }
    }
}
