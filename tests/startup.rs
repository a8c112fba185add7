//! Start-up against a hanging issuer (issue 11): the discovery attempts share one deadline,
//! the first request after a failed start does not wait again, and `background_key_fetch()`
//! returns from `build()` at once while the keys load in the background.
//!
//! Time is tokio's paused clock: timeouts fire in virtual time, so "took at most one fetch
//! timeout" is an exact statement about the timers involved, not a wall-clock measurement.
#![cfg(feature = "testing")]

mod common;

use std::time::Duration;

use a2a_guard::testing::{Behavior, TestIssuer};
use a2a_guard::{AuthError, Validator, ValidatorBuilder};
use common::within;
use tokio::time::Instant;

const CONNECT: Duration = Duration::from_secs(1);
const TOTAL: Duration = Duration::from_secs(5);
/// Hang detector for the waits below (virtual time under the paused clock).
const HANG: Duration = Duration::from_secs(600);

fn discovery(issuer: &TestIssuer) -> ValidatorBuilder {
    Validator::builder()
        .issuer(issuer.issuer())
        .audience(issuer.audience())
        .fetch_timeouts(CONNECT, TOTAL)
}

fn jwks(issuer: &TestIssuer) -> ValidatorBuilder {
    Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
        .fetch_timeouts(CONNECT, TOTAL)
}

/// A request answered 503 with `Retry-After`, without any (virtual) time passing: it did
/// not wait on a fetch.
async fn unavailable_at_once(v: &Validator, token: &str) {
    let before = Instant::now();
    let err = v.validate(token).await.unwrap_err();
    assert_eq!(before.elapsed(), Duration::ZERO, "the request waited");
    let AuthError::KeysUnavailable { retry_after } = err else {
        panic!("{err:?}")
    };
    assert!(retry_after >= Duration::from_secs(1), "{retry_after:?}");
    let res = err.to_response::<()>("api");
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));
}

async fn wait_ready(v: &Validator) {
    within(HANG, async {
        while !v.is_ready() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
}

// --- the two discovery attempts share one deadline -------------------------------------

#[tokio::test(start_paused = true)]
async fn a_hanging_discovery_delays_build_by_at_most_one_fetch_timeout() {
    let issuer = TestIssuer::start().await.unwrap();
    issuer.set_discovery_behavior(Behavior::Hang);
    let t0 = Instant::now();
    let v = discovery(&issuer).build().await.unwrap();
    let took = t0.elapsed();
    // Before: the OIDC attempt timed out (5 s), then the RFC 8414 fallback did (5 s more).
    assert!(
        took <= TOTAL,
        "build took {took:?} against a hanging issuer"
    );
    assert!(!v.is_ready());
    assert_eq!(v.health()[0].last_error.as_deref(), Some("timed out"));
    assert_eq!(issuer.jwks_fetches(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_fast_failing_oidc_document_still_falls_back_to_rfc8414_metadata() {
    // The shared deadline only takes away the time the first attempt used: after a quick
    // failure of the OIDC document the RFC 8414 fallback is still tried (both answer 404).
    let issuer = TestIssuer::start().await.unwrap();
    issuer.set_discovery_behavior(Behavior::Status(404));
    let t0 = Instant::now();
    let v = discovery(&issuer).build().await.unwrap();
    assert!(t0.elapsed() <= TOTAL);
    assert!(!v.is_ready());
    assert_eq!(
        issuer.discovery_fetches(),
        2,
        "OIDC, then RFC 8414 metadata"
    );
}

#[tokio::test(start_paused = true)]
async fn worst_case_build_is_discovery_plus_one_jwks_timeout() {
    // Discovery answers, the JWKS hangs: one deadline for discovery (used little here) and
    // one per-request timeout for the JWKS GET. This is the documented worst case,
    // 2 × the total fetch timeout.
    let issuer = TestIssuer::start().await.unwrap();
    issuer.set_jwks_behavior(Behavior::Hang);
    let t0 = Instant::now();
    let v = discovery(&issuer).build().await.unwrap();
    let took = t0.elapsed();
    assert!(took <= 2 * TOTAL, "build took {took:?}");
    assert!(!v.is_ready());
    assert_eq!(issuer.jwks_fetches(), 1);
}

// --- the first request after a failed start does not wait again ------------------------

#[tokio::test(start_paused = true)]
async fn the_first_request_after_a_failed_start_does_not_wait_again() {
    let issuer = TestIssuer::start().await.unwrap();
    issuer.set_behavior(Behavior::Hang);
    let v = jwks(&issuer).build().await.unwrap();
    assert!(!v.is_ready());
    let fetches = issuer.jwks_fetches();
    let token = issuer.token().sign();
    // Before: this request started a second fetch and waited for its timeout.
    unavailable_at_once(&v, &token).await;
    unavailable_at_once(&v, &token).await;
    assert_eq!(issuer.jwks_fetches(), fetches, "no fetch of its own");
    // The issuer recovers: the scheduled retry (backoff) brings the keys.
    issuer.set_behavior(Behavior::Normal);
    wait_ready(&v).await;
    assert!(v.validate(&token).await.is_ok());
}

// --- background_key_fetch(): build returns at once -------------------------------------

#[tokio::test(start_paused = true)]
async fn background_key_fetch_returns_before_the_keys_arrive() {
    let issuer = TestIssuer::start().await.unwrap();
    // A slow issuer (tokio time): every answer takes 3 s.
    issuer.set_behavior(Behavior::Delay(Duration::from_secs(3)));
    let t0 = Instant::now();
    let v = discovery(&issuer)
        .background_key_fetch()
        .build()
        .await
        .unwrap();
    assert_eq!(t0.elapsed(), Duration::ZERO, "build waited for the fetch");
    assert!(!v.is_ready());
    assert_eq!(issuer.jwks_fetches(), 0, "the JWKS is not fetched yet");
    let token = issuer.token().sign();
    // Requests meanwhile: 503 + Retry-After, without waiting and without a fetch of their
    // own (the start-up fetch is the only one).
    unavailable_at_once(&v, &token).await;
    let unknown = issuer.token().kid("not-published").sign();
    unavailable_at_once(&v, &unknown).await;
    wait_ready(&v).await;
    assert!(v.validate(&token).await.is_ok());
    assert_eq!(issuer.discovery_fetches(), 1);
    assert_eq!(
        issuer.jwks_fetches(),
        1,
        "requests during start-up fetched nothing"
    );
    let h = &v.health()[0];
    assert!(h.ready && h.last_error.is_none(), "{h:?}");
}

#[tokio::test(start_paused = true)]
async fn background_start_against_a_hanging_issuer_never_makes_requests_wait() {
    let issuer = TestIssuer::start().await.unwrap();
    issuer.set_behavior(Behavior::Hang);
    let t0 = Instant::now();
    let v = discovery(&issuer)
        .background_key_fetch()
        .build()
        .await
        .unwrap();
    assert_eq!(t0.elapsed(), Duration::ZERO, "build waited for the fetch");
    let token = issuer.token().sign();
    // While the start-up fetch hangs, and after it timed out.
    unavailable_at_once(&v, &token).await;
    tokio::time::sleep(TOTAL / 2).await;
    unavailable_at_once(&v, &token).await;
    within(HANG, async {
        while v.health()[0].last_error.is_none() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert_eq!(v.health()[0].last_error.as_deref(), Some("timed out"));
    assert!(!v.is_ready());
    unavailable_at_once(&v, &token).await;
    assert_eq!(issuer.discovery_fetches(), 1, "only the start-up fetch");
    assert_eq!(issuer.jwks_fetches(), 0);
    // The issuer comes back: the scheduled retry brings the keys.
    issuer.set_behavior(Behavior::Normal);
    wait_ready(&v).await;
    assert!(v.validate(&token).await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn background_key_fetch_serves_the_snapshot_when_the_issuer_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks-snapshot.json");
    let issuer = TestIssuer::start().await.unwrap();
    let first = jwks(&issuer).snapshot_file(&path).build().await.unwrap();
    assert!(first.is_ready());
    within(HANG, async {
        while !path.exists() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    drop(first);
    issuer.set_behavior(Behavior::Hang);
    let v = jwks(&issuer)
        .snapshot_file(&path)
        .background_key_fetch()
        .build()
        .await
        .unwrap();
    assert!(!v.is_ready(), "nothing loaded yet");
    // The start-up fetch times out, then the snapshot is read, all in the background.
    wait_ready(&v).await;
    assert!(v.validate(&issuer.token().sign()).await.is_ok());
    assert!(v.health()[0].serving_last_known_good);
}
