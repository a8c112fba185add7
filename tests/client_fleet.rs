//! A fleet sharing tokens through a real `redis-server` on loopback (issue 13): a cold fleet
//! makes one token request, a renewal is shared, and Redis down never fails a call.
#![cfg(all(feature = "testing", feature = "client", feature = "redis"))]

mod common;

use std::time::Duration;

use a2a_guard::client::{ClientCredentials, RedisTokenCache, Secret, TokenSource};
use a2a_guard::testing::{Behavior, TestIssuer};
use common::ManualClock;
use common::redis::redis;

async fn issuer() -> TestIssuer {
    TestIssuer::builder()
        .client("orchestrator", "s3cret")
        .start()
        .await
        .unwrap()
}

/// One instance of the fleet: its own `TokenSource` (its own in-process cache).
fn instance(issuer: &TestIssuer, redis_url: &str, clock: &ManualClock) -> TokenSource {
    ClientCredentials::new(format!("{}/token", issuer.issuer()), "orchestrator")
        .secret(Secret::new("s3cret"))
        .scope(["read:data"])
        .shared_cache(
            RedisTokenCache::new(redis_url)
                .unwrap()
                .prefix("fleet-test:"),
        )
        .clock(clock.as_clock())
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_cold_fleet_makes_one_token_request() {
    let r = redis().await;
    let issuer = issuer().await;
    // Slow enough that every instance is waiting at once.
    issuer.set_token_behavior(Behavior::Delay(Duration::from_millis(300)));
    let clock = ManualClock::now_real();
    let fleet: Vec<TokenSource> = (0..4).map(|_| instance(&issuer, &r.url, &clock)).collect();
    let mut calls = tokio::task::JoinSet::new();
    for source in &fleet {
        for _ in 0..25 {
            let s = source.clone();
            calls.spawn(async move { s.token().await.map(|t| t.secret().to_owned()) });
        }
    }
    let tokens: Vec<String> = calls
        .join_all()
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        issuer.token_requests(),
        1,
        "one request for the whole fleet"
    );
    assert!(tokens.iter().all(|t| *t == tokens[0]));
    // Another instance starting later takes the shared token too.
    instance(&issuer, &r.url, &clock).token().await.unwrap();
    assert_eq!(issuer.token_requests(), 1);
}

#[tokio::test]
async fn a_renewal_is_shared_by_the_fleet() {
    let r = redis().await;
    let issuer = issuer().await;
    issuer.set_token_lifetime(Duration::from_secs(100));
    let clock = ManualClock::now_real();
    let a = instance(&issuer, &r.url, &clock);
    let b = instance(&issuer, &r.url, &clock);
    let first = a.token().await.unwrap();
    assert_eq!(b.token().await.unwrap().secret(), first.secret());
    assert_eq!(issuer.token_requests(), 1);
    // Past the refresh point (75 %) and inside the last tenth's skew window: both need a new
    // token, one of them asks, the other takes it from Redis.
    clock.advance(Duration::from_secs(95));
    let ta = a.token().await.unwrap();
    let tb = b.token().await.unwrap();
    assert_ne!(ta.secret(), first.secret());
    assert_eq!(ta.secret(), tb.secret());
    assert_eq!(issuer.token_requests(), 2);
}

#[tokio::test]
async fn redis_down_never_fails_a_call() {
    let issuer = issuer().await;
    let clock = ManualClock::now_real();
    // Nothing listens there: each instance goes on alone.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nowhere = format!("redis://127.0.0.1:{port}/");
    let a = instance(&issuer, &nowhere, &clock);
    let b = instance(&issuer, &nowhere, &clock);
    a.token().await.unwrap();
    b.token().await.unwrap();
    assert_eq!(issuer.token_requests(), 2);

    // Redis stops while the fleet runs: the next renewal still succeeds.
    let r = redis().await;
    let c = instance(&issuer, &r.url, &clock);
    c.token().await.unwrap();
    drop(r);
    clock.advance(Duration::from_secs(3600));
    c.token().await.unwrap();
    assert_eq!(issuer.token_requests(), 4);
}
