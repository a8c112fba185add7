//! The calling side (issue 13): what the outgoing layer costs per request with a cached
//! token, and how many token requests a 10-minute run makes against a naive client.
//!
//! ```text
//! cargo bench --bench client --features client -- --noplot
//! ```
//! - `client/oneshot_bare` and `client/oneshot_layer`: one request through a `service_fn`
//!   without and with `AccessTokenLayer` (token cached). Compare within one run.
//! - Printed before the timings: a simulated 10-minute run on a manual clock, 10 000 calls in
//!   1 000 bursts of 10 concurrent callers (one burst every 600 ms), tokens living 60 s,
//!   against `TestIssuer` over loopback whose token endpoint takes 50 ms: token requests,
//!   and calls that took 50 ms or more (they waited on a token request), for `TokenSource`
//!   and for a naive client that fetches when its token has expired (no single flight, no
//!   renewal ahead).

use std::hint::black_box;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use a2a_guard::client::{AccessTokenLayer, ClientCredentials, Secret, TokenSource};
use a2a_guard::testing::{Behavior, TestIssuer};
use criterion::{Criterion, criterion_group, criterion_main};
use tower::ServiceExt;

const LIFETIME: Duration = Duration::from_secs(60);
const BURSTS: usize = 1000;
const CALLERS: usize = 10;
const BURST_EVERY: Duration = Duration::from_millis(600);
/// Every token request takes this long (real time), so a caller that waited on one is seen.
const ENDPOINT_DELAY: Duration = Duration::from_millis(50);

#[derive(Clone)]
struct Clock(Arc<AtomicI64>);

impl Clock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.0.load(Ordering::SeqCst) as u64)
    }
}

/// The naive client: a token and its expiry behind a lock, fetched by whoever finds it
/// expired — concurrent callers all fetch.
struct Naive {
    url: String,
    http: reqwest::Client,
    clock: Clock,
    held: Mutex<Option<(String, SystemTime)>>,
}

impl Naive {
    async fn token(&self) -> String {
        if let Some((t, exp)) = self.held.lock().unwrap().clone()
            && self.clock.now() < exp
        {
            return t;
        }
        let body: serde_json::Value = self
            .http
            .post(&self.url)
            .basic_auth("orchestrator", Some("s3cret"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .map(|b| serde_json::from_slice(&b).unwrap())
            .unwrap();
        let t = body["access_token"].as_str().unwrap().to_owned();
        let exp = self.clock.now() + Duration::from_secs(body["expires_in"].as_u64().unwrap());
        *self.held.lock().unwrap() = Some((t.clone(), exp));
        t
    }
}

async fn simulate(issuer: &TestIssuer) {
    let start = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    // a2a-guard's TokenSource.
    let clock = Clock(Arc::new(AtomicI64::new(start)));
    let c = clock.clone();
    let tokens = ClientCredentials::new(format!("{}/token", issuer.issuer()), "orchestrator")
        .secret(Secret::new("s3cret"))
        .clock(move || c.now())
        .build()
        .unwrap();
    issuer.reset_counters();
    let before = issuer.token_requests();
    let mut waited = 0;
    for _ in 0..BURSTS {
        let mut calls = tokio::task::JoinSet::new();
        for _ in 0..CALLERS {
            let t = tokens.clone();
            calls.spawn(async move {
                let started = std::time::Instant::now();
                let _ = t.token().await.unwrap();
                started.elapsed() >= ENDPOINT_DELAY
            });
        }
        waited += calls.join_all().await.into_iter().filter(|w| *w).count();
        clock
            .0
            .fetch_add(BURST_EVERY.as_millis() as i64, Ordering::SeqCst);
        // Real time for a background renewal to finish before its token runs out.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let ours = issuer.token_requests() - before;

    // The naive client.
    let clock = Clock(Arc::new(AtomicI64::new(start)));
    let naive = Arc::new(Naive {
        url: format!("{}/token", issuer.issuer()),
        http: reqwest::Client::new(),
        clock: clock.clone(),
        held: Mutex::new(None),
    });
    let before = issuer.token_requests();
    let mut naive_waited = 0;
    for _ in 0..BURSTS {
        let mut calls = tokio::task::JoinSet::new();
        for _ in 0..CALLERS {
            let n = naive.clone();
            calls.spawn(async move {
                let started = std::time::Instant::now();
                let _ = n.token().await;
                started.elapsed() >= ENDPOINT_DELAY
            });
        }
        naive_waited += calls.join_all().await.into_iter().filter(|w| *w).count();
        clock
            .0
            .fetch_add(BURST_EVERY.as_millis() as i64, Ordering::SeqCst);
    }
    let naive_requests = issuer.token_requests() - before;
    println!(
        "simulated 10 min, {} calls ({BURSTS} bursts x {CALLERS}), tokens live {} s:",
        BURSTS * CALLERS,
        LIFETIME.as_secs()
    );
    println!("  TokenSource: {ours} token requests, callers that waited on a request: {waited}");
    println!(
        "  naive fetch-on-expiry: {naive_requests} token requests, callers that waited: {naive_waited}"
    );
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let issuer = rt.block_on(async {
        let issuer = TestIssuer::builder()
            .client("orchestrator", "s3cret")
            .start()
            .await
            .unwrap();
        issuer.set_token_lifetime(LIFETIME);
        issuer.set_token_behavior(Behavior::Delay(ENDPOINT_DELAY));
        issuer
    });
    rt.block_on(simulate(&issuer));
    issuer.set_token_behavior(Behavior::Normal);

    // Long-lived token: every iteration is a cache hit.
    issuer.set_token_lifetime(Duration::from_secs(24 * 3600));
    let tokens: TokenSource =
        ClientCredentials::new(format!("{}/token", issuer.issuer()), "orchestrator")
            .secret(Secret::new("s3cret"))
            .build()
            .unwrap();
    rt.block_on(tokens.token()).unwrap();
    let inner = tower::service_fn(|req: http::Request<String>| async move {
        Ok::<_, std::convert::Infallible>(http::Response::new(req.into_body()))
    });
    let with_layer = tower::ServiceBuilder::new()
        .layer(AccessTokenLayer::new(tokens))
        .service(inner);
    let mut g = c.benchmark_group("client");
    g.bench_function("oneshot_bare", |b| {
        b.to_async(&rt).iter(|| async {
            let req = http::Request::get("https://api.example.com/data")
                .body(String::new())
                .unwrap();
            black_box(inner.oneshot(req).await.unwrap())
        })
    });
    g.bench_function("oneshot_layer", |b| {
        b.to_async(&rt).iter(|| async {
            let req = http::Request::get("https://api.example.com/data")
                .body(String::new())
                .unwrap();
            black_box(with_layer.clone().oneshot(req).await.unwrap())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
