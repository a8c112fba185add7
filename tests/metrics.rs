//! Feature `metrics`: every metric moves when its event happens (real tokens from
//! `TestIssuer`, keys over loopback HTTP), and the series stay a small fixed set whatever
//! paths, `kid`s and tokens callers send.
//!
//! Each test records into its own `DebuggingRecorder`, set as the thread's default local
//! recorder: tokio's test runtime is single-threaded, so the validator's spawned fetches and
//! the issuer's server tasks record into it too, and parallel tests do not mix.
#![cfg(all(feature = "metrics", feature = "testing"))]

#[cfg(feature = "client")]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use a2a_guard::revocation::{Revocations, SetReceiver};
use a2a_guard::testing::{Behavior, SigningKey, TestIssuer};
use a2a_guard::{Algorithm, RequireScopes, Validator, ValidatorBuilder};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode};
use metrics_util::MetricKind;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use tower::ServiceExt;

/// Labels of one series, sorted by name.
type Labels = Vec<(String, String)>;

/// What was recorded so far: the debugging recorder drains counters, gauges and histograms
/// at each snapshot, so counters are summed and histograms appended here, and gauges are put
/// back into the recorder (increments made later must apply to their value).
struct Recorded {
    snapshotter: Snapshotter,
    _guard: metrics::LocalRecorderGuard<'static>,
    counters: BTreeMap<(String, Labels), u64>,
    gauges: BTreeMap<(String, Labels), f64>,
    histograms: BTreeMap<(String, Labels), Vec<f64>>,
}

impl Recorded {
    fn start() -> Recorded {
        let recorder: &'static DebuggingRecorder = Box::leak(Box::new(DebuggingRecorder::new()));
        let snapshotter = recorder.snapshotter();
        let guard = metrics::set_default_local_recorder(recorder);
        a2a_guard::metrics::describe();
        Recorded {
            snapshotter,
            _guard: guard,
            counters: BTreeMap::new(),
            gauges: BTreeMap::new(),
            histograms: BTreeMap::new(),
        }
    }

    fn update(&mut self) {
        for (key, _, _, value) in self.snapshotter.snapshot().into_vec() {
            let (kind, key) = key.into_parts();
            if let DebugValue::Gauge(g) = &value {
                static META: metrics::Metadata<'static> =
                    metrics::Metadata::new(module_path!(), metrics::Level::INFO, None);
                metrics::with_recorder(|r| r.register_gauge(&key, &META).set(g.into_inner()));
            }
            let mut labels: Labels = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            labels.sort();
            let id = (key.name().to_owned(), labels);
            match (kind, value) {
                (MetricKind::Counter, DebugValue::Counter(n)) => {
                    *self.counters.entry(id).or_default() += n;
                }
                (MetricKind::Gauge, DebugValue::Gauge(g)) => {
                    self.gauges.insert(id, g.into_inner());
                }
                (MetricKind::Histogram, DebugValue::Histogram(v)) => self
                    .histograms
                    .entry(id)
                    .or_default()
                    .extend(v.into_iter().map(|f| f.into_inner())),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    fn counter(&mut self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.update();
        self.counters.get(&id(name, labels)).copied().unwrap_or(0)
    }

    fn gauge(&mut self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.update();
        self.gauges.get(&id(name, labels)).copied()
    }

    fn samples(&mut self, name: &str, labels: &[(&str, &str)]) -> usize {
        self.update();
        self.histograms.get(&id(name, labels)).map_or(0, Vec::len)
    }

    /// Every series recorded: name and labels.
    fn series(&mut self) -> BTreeSet<(String, Labels)> {
        self.update();
        self.counters
            .keys()
            .chain(self.gauges.keys())
            .chain(self.histograms.keys())
            .cloned()
            .collect()
    }
}

fn id(name: &str, labels: &[(&str, &str)]) -> (String, Labels) {
    let mut l: Labels = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    l.sort();
    (name.to_owned(), l)
}

fn jwks(issuer: &TestIssuer) -> ValidatorBuilder {
    Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
}

/// `/customers/{id}` behind a scope guard (which reports the route template), `/open`
/// without a guard, `/forbidden` answering 403 itself.
async fn app(v: &Validator) -> Router {
    Router::new()
        .route(
            "/customers/{id}",
            get(|| async { "ok" }).route_layer(RequireScopes::all(["read:customers"])),
        )
        .route("/open", get(|| async { "ok" }))
        .route(
            "/forbidden",
            get(|| async { StatusCode::FORBIDDEN }).route_layer(RequireScopes::all(["read"])),
        )
        .layer(v.layer())
}

async fn send(app: &Router, path: &str, token: Option<&str>) -> StatusCode {
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

const DECISIONS: &str = "a2a_guard_decisions_total";

fn decision<'a>(d: &'a str, reason: &'a str, route: &'a str) -> [(&'a str, &'a str); 3] {
    [("decision", d), ("reason", reason), ("route", route)]
}

#[tokio::test]
async fn decisions_are_counted_by_reason_and_route_template() {
    let mut m = Recorded::start();
    let issuer = TestIssuer::start().await.unwrap();
    let revocations = Revocations::new();
    let v = jwks(&issuer)
        .revocations(revocations.clone())
        .build()
        .await
        .unwrap();
    let app = app(&v).await;
    let reader = issuer.token().scope("read:customers read").sign();

    assert_eq!(send(&app, "/customers/42", Some(&reader)).await, 200);
    assert_eq!(send(&app, "/customers/43", Some(&reader)).await, 200);
    assert_eq!(
        m.counter(DECISIONS, &decision("allow", "ok", "/customers/{id}")),
        2,
        "one series for the template, whatever the id"
    );
    // No guard, no extractor: the template is unknown.
    assert_eq!(send(&app, "/open", Some(&reader)).await, 200);
    assert_eq!(m.counter(DECISIONS, &decision("allow", "ok", "")), 1);

    assert_eq!(send(&app, "/customers/42", None).await, 401);
    assert_eq!(
        m.counter(DECISIONS, &decision("deny", "missing_token", "")),
        1
    );
    let expired = issuer.token().expires_at(1).sign();
    assert_eq!(send(&app, "/customers/42", Some(&expired)).await, 401);
    assert_eq!(m.counter(DECISIONS, &decision("deny", "expired", "")), 1);
    // Refused by the route guard: the template is known.
    let writer = issuer.token().scope("write:customers").sign();
    assert_eq!(send(&app, "/customers/42", Some(&writer)).await, 403);
    assert_eq!(
        m.counter(
            DECISIONS,
            &decision("deny", "insufficient_scope", "/customers/{id}")
        ),
        1
    );
    assert_eq!(send(&app, "/forbidden", Some(&reader)).await, 403);
    assert_eq!(
        m.counter(
            DECISIONS,
            &decision("deny", "refused_downstream", "/forbidden")
        ),
        1
    );
    // Deny-list refusals are decisions with reason `revoked`.
    let revoked = issuer.token().claim("jti", "gone-1").sign();
    revocations
        .revoke_jti(
            "gone-1",
            std::time::SystemTime::now() + Duration::from_secs(600),
        )
        .unwrap();
    assert_eq!(send(&app, "/customers/42", Some(&revoked)).await, 401);
    assert_eq!(m.counter(DECISIONS, &decision("deny", "revoked", "")), 1);
    assert_eq!(
        m.counter("a2a_guard_revocations_added_total", &[("kind", "jti")]),
        1
    );
    // The same revocation again changes nothing and is not counted again.
    revocations
        .revoke_jti(
            "gone-1",
            std::time::SystemTime::now() + Duration::from_secs(1),
        )
        .unwrap();
    revocations
        .revoke_before(
            a2a_guard::revocation::Target::Client,
            "billing",
            std::time::SystemTime::now(),
        )
        .unwrap();
    assert_eq!(
        m.counter("a2a_guard_revocations_added_total", &[("kind", "jti")]),
        1
    );
    assert_eq!(
        m.counter("a2a_guard_revocations_added_total", &[("kind", "epoch")]),
        1
    );
}

#[tokio::test]
async fn validation_time_and_the_token_cache_split_hits_from_misses() {
    let mut m = Recorded::start();
    let issuer = TestIssuer::start().await.unwrap();
    let v = jwks(&issuer).build().await.unwrap();
    let token = issuer.token().sign();
    v.validate(&token).await.unwrap();
    let h = "a2a_guard_validation_duration_seconds";
    assert_eq!(m.samples(h, &[("cache", "miss")]), 1);
    assert_eq!(m.samples(h, &[("cache", "hit")]), 0);
    assert_eq!(m.counter("a2a_guard_token_cache_misses_total", &[]), 1);
    v.validate(&token).await.unwrap();
    v.validate(&token).await.unwrap();
    assert_eq!(m.samples(h, &[("cache", "miss")]), 1);
    assert_eq!(m.samples(h, &[("cache", "hit")]), 2);
    assert_eq!(m.counter("a2a_guard_token_cache_hits_total", &[]), 2);
    assert_eq!(m.gauge("a2a_guard_token_cache_entries", &[]), Some(1.0));
    let bytes = m.gauge("a2a_guard_token_cache_bytes", &[]).unwrap();
    assert!((1_000.0..20_000.0).contains(&bytes), "{bytes}");
    // A failure is timed too (a miss: nothing was cached).
    let _ = v.validate("not-a-token").await.unwrap_err();
    assert_eq!(m.samples(h, &[("cache", "miss")]), 2);
}

#[tokio::test]
async fn the_token_cache_counts_evictions_and_its_gauges_follow() {
    let mut m = Recorded::start();
    let issuer = TestIssuer::start().await.unwrap();
    // Room for a few entries only.
    let v = jwks(&issuer)
        .token_cache_bytes(20_000)
        .build()
        .await
        .unwrap();
    for i in 0..300 {
        let t = issuer.token().claim("jti", format!("t-{i}")).sign();
        v.validate(&t).await.unwrap();
    }
    // Housekeeping runs every few operations; a few more lookups settle it.
    let last = issuer.token().sign();
    for _ in 0..200 {
        v.validate(&last).await.unwrap();
    }
    let evicted = m.counter(
        "a2a_guard_token_cache_evictions_total",
        &[("cause", "size")],
    );
    assert!(evicted >= 250, "{evicted}");
    let bytes = m.gauge("a2a_guard_token_cache_bytes", &[]).unwrap();
    let entries = m.gauge("a2a_guard_token_cache_entries", &[]).unwrap();
    assert!((0.0..=40_000.0).contains(&bytes), "{bytes}");
    assert!((0.0..=12.0).contains(&entries), "{entries}");
}

#[tokio::test]
async fn key_fetches_kid_misses_cooldown_and_last_known_good() {
    let mut m = Recorded::start();
    let issuer = TestIssuer::start().await.unwrap();
    let iss = issuer.issuer();
    let cooldown = Duration::from_millis(300);
    let v = jwks(&issuer)
        .kid_miss_cooldown(cooldown)
        .fetch_backoff(Duration::from_millis(100), Duration::from_millis(200))
        .build()
        .await
        .unwrap();
    let fetches = |result| [("issuer", iss.as_str()), ("result", result)];
    let by_issuer = [("issuer", iss.as_str())];
    assert_eq!(m.counter("a2a_guard_key_fetches_total", &fetches("ok")), 1);
    let held = issuer.jwks()["keys"].as_array().unwrap().len() as f64;
    assert_eq!(m.gauge("a2a_guard_keys", &by_issuer), Some(held));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let at = m
        .gauge("a2a_guard_keys_last_refresh_timestamp_seconds", &by_issuer)
        .unwrap();
    assert!((now - at).abs() < 5.0, "{at} vs {now}");
    assert_eq!(m.gauge("a2a_guard_keys_stale", &by_issuer), Some(0.0));

    // The issuer fails: an unknown kid starts one fetch, which fails; the keys held are
    // served as last-known-good.
    issuer.set_jwks_behavior(Behavior::Status(500));
    let forged = SigningKey::generate(Algorithm::ES256);
    let unknown = |kid: &str| issuer.token().signing_key(&forged).kid(kid).sign();
    assert!(v.validate(&unknown("k-1")).await.is_err());
    assert_eq!(m.counter("a2a_guard_kid_miss_fetches_total", &by_issuer), 1);
    assert_eq!(
        m.counter("a2a_guard_key_fetches_total", &fetches("status")),
        1
    );
    assert_eq!(m.gauge("a2a_guard_keys_stale", &by_issuer), Some(1.0));
    // Inside the hold: refused a fetch.
    assert!(v.validate(&unknown("k-2")).await.is_err());
    assert!(v.validate(&unknown("k-3")).await.is_err());
    assert_eq!(m.counter("a2a_guard_kid_miss_refused_total", &by_issuer), 2);
    assert_eq!(m.counter("a2a_guard_kid_miss_fetches_total", &by_issuer), 1);
    assert!(v.validate(&issuer.token().sign()).await.is_ok());

    // Back: the next kid miss fetches, the keys are fresh again.
    issuer.set_jwks_behavior(Behavior::Normal);
    tokio::time::sleep(cooldown + Duration::from_millis(100)).await;
    let kid = issuer.rotate(Algorithm::ES256);
    let rotated = issuer
        .token()
        .signing_key(&issuer.signing_key(Algorithm::ES256))
        .kid(kid)
        .sign();
    v.validate(&rotated).await.unwrap();
    assert_eq!(m.counter("a2a_guard_kid_miss_fetches_total", &by_issuer), 2);
    assert_eq!(m.counter("a2a_guard_key_fetches_total", &fetches("ok")), 2);
    assert_eq!(m.gauge("a2a_guard_keys_stale", &by_issuer), Some(0.0));
    assert_eq!(m.gauge("a2a_guard_keys", &by_issuer), Some(held + 1.0));
}

#[tokio::test]
async fn dpop_replays_and_replay_store_errors_are_counted() {
    use a2a_guard::pop::{DpopConfig, FirstUse, ReplayStore, ReplayStoreError};
    use a2a_guard::testing::DpopKey;

    struct Broken;
    impl ReplayStore for Broken {
        fn first_use<'a>(&'a self, _: &'a str, _: Duration, _: u64) -> FirstUse<'a> {
            Box::pin(async { Err(ReplayStoreError("down".into())) })
        }
    }

    let mut m = Recorded::start();
    let issuer = TestIssuer::start().await.unwrap();
    let v = jwks(&issuer).build().await.unwrap();
    let origin = || DpopConfig::new().origin("https://agents.example.com");
    let app = |cfg: DpopConfig| {
        Router::new()
            .route("/data", get(|| async { "ok" }))
            .layer(v.layer().dpop(cfg).unwrap())
    };
    let key = DpopKey::generate(Algorithm::ES256);
    let token = issuer.token().dpop_bound(&key).sign();
    let send = |app: Router, proof: String| {
        let token = token.clone();
        async move {
            let r = Request::get("/data")
                .header("authorization", format!("DPoP {token}"))
                .header("dpop", proof)
                .body(Body::empty())
                .unwrap();
            app.oneshot(r).await.unwrap().status()
        }
    };
    let proof = key
        .proof("GET", "https://agents.example.com/data")
        .access_token(&token)
        .sign();
    let good = app(origin());
    assert_eq!(send(good.clone(), proof.clone()).await, 200);
    assert_eq!(m.counter("a2a_guard_dpop_replays_total", &[]), 0);
    assert_eq!(send(good, proof).await, 401);
    assert_eq!(m.counter("a2a_guard_dpop_replays_total", &[]), 1);
    assert_eq!(
        m.counter(DECISIONS, &decision("deny", "invalid_dpop_proof", "")),
        1
    );

    let broken = app(origin().replay_store(Broken));
    let fresh = key
        .proof("GET", "https://agents.example.com/data")
        .access_token(&token)
        .sign();
    assert_eq!(send(broken, fresh).await, 503);
    assert_eq!(
        m.counter("a2a_guard_dpop_replay_store_errors_total", &[]),
        1
    );
    assert_eq!(m.counter("a2a_guard_dpop_replays_total", &[]), 1);
}

#[tokio::test]
async fn set_deliveries_are_counted_by_result() {
    let mut m = Recorded::start();
    let issuer = TestIssuer::start().await.unwrap();
    let receiver = SetReceiver::builder(Revocations::new())
        .transmitter(issuer.issuer(), issuer.jwks_url())
        .audience("https://receiver.example.com")
        .build()
        .await
        .unwrap();
    assert!(receiver.receive(b"garbage").await.is_err());
    let elsewhere = issuer
        .token()
        .typ("secevent+jwt")
        .audience("someone-else")
        .sign();
    assert!(receiver.receive(elsewhere.as_bytes()).await.is_err());
    let sets = "a2a_guard_sets_received_total";
    assert_eq!(m.counter(sets, &[("result", "invalid_request")]), 1);
    assert_eq!(m.counter(sets, &[("result", "invalid_audience")]), 1);
}

/// 1 000 requests with garbage paths, garbage `kid`s and garbage tokens: the series are the
/// fixed set below, and no label holds anything a caller sent.
#[tokio::test]
async fn series_stay_bounded_whatever_callers_send() {
    let mut m = Recorded::start();
    let issuer = TestIssuer::start().await.unwrap();
    let iss = issuer.issuer();
    let v = jwks(&issuer).build().await.unwrap();
    let app = Router::new()
        .route(
            "/items/{id}",
            get(|| async { "ok" }).route_layer(RequireScopes::all(["read:items"])),
        )
        .layer(v.layer());
    let good = issuer.token().scope("read:items").sign();
    let forged = SigningKey::generate(Algorithm::ES256);
    for i in 0..1000 {
        let garbage_path = format!("/garbage-{i}/x%20{i}");
        let status = match i % 5 {
            0 => {
                let t = issuer
                    .token()
                    .signing_key(&forged)
                    .kid(format!("garbage-kid-{i}"))
                    .sign();
                send(&app, &garbage_path, Some(&t)).await
            }
            1 => send(&app, &garbage_path, Some(&format!("garbage.{i}.token"))).await,
            2 => send(&app, &garbage_path, None).await,
            3 => send(&app, &garbage_path, Some(&good)).await,
            _ => send(&app, &format!("/items/garbage-{i}"), Some(&good)).await,
        };
        assert!([200, 401, 404].contains(&status.as_u16()), "{i}: {status}");
    }
    let series = m.series();
    for (name, labels) in &series {
        for (k, val) in labels {
            assert!(
                !val.contains("garbage"),
                "{name}{{{k}={val:?}}} holds what a caller sent"
            );
        }
    }
    let s = |name: &str, labels: &[(&str, &str)]| id(name, labels);
    let by_issuer = [("issuer", iss.as_str())];
    let expected: BTreeSet<_> = [
        s(DECISIONS, &decision("deny", "unknown_key", "")),
        s(DECISIONS, &decision("deny", "malformed", "")),
        s(DECISIONS, &decision("deny", "missing_token", "")),
        s(DECISIONS, &decision("allow", "ok", "")), // the 404s: no route matched
        s(DECISIONS, &decision("allow", "ok", "/items/{id}")),
        s("a2a_guard_validation_duration_seconds", &[("cache", "hit")]),
        s(
            "a2a_guard_validation_duration_seconds",
            &[("cache", "miss")],
        ),
        s("a2a_guard_token_cache_hits_total", &[]),
        s("a2a_guard_token_cache_misses_total", &[]),
        s("a2a_guard_token_cache_entries", &[]),
        s("a2a_guard_token_cache_bytes", &[]),
        s(
            "a2a_guard_key_fetches_total",
            &[("issuer", iss.as_str()), ("result", "ok")],
        ),
        s("a2a_guard_keys", &by_issuer),
        s("a2a_guard_keys_last_refresh_timestamp_seconds", &by_issuer),
        s("a2a_guard_keys_stale", &by_issuer),
        s("a2a_guard_kid_miss_fetches_total", &by_issuer),
        s("a2a_guard_kid_miss_refused_total", &by_issuer),
    ]
    .into_iter()
    .collect();
    assert_eq!(series, expected);
    assert_eq!(
        m.counter(DECISIONS, &decision("allow", "ok", "/items/{id}")),
        200
    );
    assert_eq!(
        m.counter(DECISIONS, &decision("deny", "unknown_key", "")),
        200
    );
}

#[cfg(feature = "client")]
mod client {
    use super::*;
    use a2a_guard::Introspection;
    use a2a_guard::client::{ClientCredentials, Secret};

    async fn issuer() -> TestIssuer {
        TestIssuer::builder()
            .client("payments-api", "s3cret")
            .start()
            .await
            .unwrap()
    }

    fn credentials(url: String) -> ClientCredentials {
        ClientCredentials::new(url, "payments-api").secret(Secret::new("s3cret"))
    }

    #[tokio::test]
    async fn introspection_requests_cache_hits_and_fail_open() {
        let mut m = Recorded::start();
        let issuer = issuer().await;
        let introspection =
            || Introspection::new(issuer.issuer(), credentials(issuer.introspection_url()));
        let v = jwks(&issuer)
            .introspection(introspection().recheck_jwts().fail_open())
            .build()
            .await
            .unwrap();
        let requests = "a2a_guard_introspection_requests_total";
        let opaque = issuer.opaque_token(issuer.token());
        v.validate(&opaque).await.unwrap();
        assert_eq!(m.counter(requests, &[("result", "active")]), 1);
        v.validate(&opaque).await.unwrap();
        assert_eq!(m.counter(requests, &[("result", "active")]), 1);
        assert_eq!(
            m.counter("a2a_guard_introspection_cache_hits_total", &[]),
            1
        );
        assert_eq!(
            m.samples("a2a_guard_validation_duration_seconds", &[("cache", "hit")]),
            1
        );
        assert!(v.validate("opaque-never-issued").await.is_err());
        assert_eq!(m.counter(requests, &[("result", "inactive")]), 1);
        issuer.set_introspection_behavior(Behavior::Status(500));
        v.validate(&issuer.token().claim("jti", "j-1").sign())
            .await
            .unwrap();
        assert_eq!(m.counter(requests, &[("result", "error")]), 1);
        assert_eq!(m.counter("a2a_guard_introspection_fail_open_total", &[]), 1);
    }

    #[tokio::test]
    async fn client_token_requests_cache_hits_and_revocations() {
        let mut m = Recorded::start();
        let issuer = issuer().await;
        let tokens = credentials(format!("{}/token", issuer.issuer()))
            .revocation_endpoint(issuer.revocation_url())
            .build()
            .unwrap();
        let t = tokens.token().await.unwrap();
        tokens.token().await.unwrap();
        let requests = "a2a_guard_client_token_requests_total";
        let cc = ("grant", "client_credentials");
        assert_eq!(m.counter(requests, &[cc, ("result", "ok")]), 1);
        assert_eq!(
            m.counter("a2a_guard_client_token_cache_hits_total", &[cc]),
            1
        );
        tokens.revoke(&t).await.unwrap();
        assert_eq!(
            m.counter("a2a_guard_client_revocations_total", &[("result", "ok")]),
            1
        );
        // A fresh token is needed (the revoked one was dropped); the endpoint fails.
        issuer.set_token_behavior(Behavior::Status(500));
        assert!(tokens.token().await.is_err());
        assert_eq!(m.counter(requests, &[cc, ("result", "error")]), 1);
    }

    #[tokio::test]
    async fn a_cached_token_served_while_renewals_fail_is_counted() {
        let mut m = Recorded::start();
        let issuer = issuer().await;
        issuer.set_token_lifetime(Duration::from_secs(40));
        let clock = common::ManualClock::now_real();
        let tokens = credentials(format!("{}/token", issuer.issuer()))
            .clock(clock.as_clock())
            .build()
            .unwrap();
        let first = tokens.token().await.unwrap();
        let stale = "a2a_guard_client_stale_served_total";
        issuer.set_token_behavior(Behavior::Status(503));
        // Past the refresh point: the first call starts a renewal, which fails.
        clock.advance(Duration::from_secs(30));
        assert_eq!(tokens.token().await.unwrap().secret(), first.secret());
        common::within(Duration::from_secs(10), async {
            while issuer.token_requests() < 2 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(m.counter(stale, &[]), 0, "no renewal had failed yet");
        // Served again while the renewal failed.
        assert_eq!(tokens.token().await.unwrap().secret(), first.secret());
        assert_eq!(m.counter(stale, &[]), 1);
    }
}
