//! Outages: last-known-good, hanging issuers, start-up without keys, snapshot files.
#![cfg(feature = "testing")]

mod common;

use std::time::Duration;

use a2a_guard::testing::{Behavior, TestIssuer};
use a2a_guard::{Algorithm, AuthError, Validator};
use common::{ManualClock, tempdir, within};

const HOUR: Duration = Duration::from_secs(3600);

fn token_at(issuer: &TestIssuer, clock: &ManualClock) -> String {
    issuer
        .token()
        .issued_at(clock.get())
        .expires_at(clock.get() + 300)
        .sign()
}

#[tokio::test]
async fn valid_tokens_pass_for_the_whole_last_known_good_window_then_503() {
    let issuer = TestIssuer::start().await.unwrap();
    let clock = ManualClock::now_real();
    let v = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
        .clock(clock.as_clock())
        .last_known_good(HOUR)
        .kid_miss_cooldown(Duration::from_millis(200))
        .fetch_timeouts(Duration::from_millis(300), Duration::from_millis(500))
        .build()
        .await
        .unwrap();
    assert!(v.validate(&token_at(&issuer, &clock)).await.is_ok());
    issuer.stop().await;
    // A background or kid-miss fetch fails now; known keys still validate.
    let unknown = issuer
        .token()
        .kid("rotated-away")
        .issued_at(clock.get())
        .expires_at(clock.get() + 300)
        .sign();
    assert_eq!(
        v.validate(&unknown).await.unwrap_err(),
        AuthError::UnknownKey
    );
    clock.advance(HOUR - Duration::from_secs(1));
    assert!(
        v.validate(&token_at(&issuer, &clock)).await.is_ok(),
        "inside the window"
    );
    let h = &v.health()[0];
    assert!(
        h.ready && h.serving_last_known_good && h.last_error.is_some(),
        "{h:?}"
    );
    clock.advance(Duration::from_secs(2));
    let err = v.validate(&token_at(&issuer, &clock)).await.unwrap_err();
    assert!(matches!(err, AuthError::KeysUnavailable { .. }), "{err:?}");
    assert_eq!(err.status(), 503);
    assert!(!v.is_ready());
    // The issuer comes back: the next request after the cooldown fetches and passes.
    issuer.restart().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(v.validate(&token_at(&issuer, &clock)).await.is_ok());
    assert!(v.is_ready());
}

#[tokio::test]
async fn a_hanging_issuer_never_stalls_requests() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
        .fetch_timeouts(Duration::from_millis(200), Duration::from_millis(400))
        .build()
        .await
        .unwrap();
    issuer.set_behavior(Behavior::Hang);
    let good = issuer.token().sign();
    let unknown = issuer.token().kid("new-kid").sign();
    // Known kid: no fetch at all. Unknown kid: waits at most for one bounded fetch.
    let (a, b) = within(Duration::from_secs(5), async {
        tokio::join!(v.validate(&good), v.validate(&unknown))
    })
    .await;
    assert!(a.is_ok());
    assert_eq!(b.unwrap_err(), AuthError::UnknownKey);
    assert_eq!(v.health()[0].last_error.as_deref(), Some("timed out"));
}

#[tokio::test]
async fn start_up_without_any_key_answers_503_then_recovers() {
    let issuer = TestIssuer::start().await.unwrap();
    issuer.set_behavior(Behavior::Hang);
    let v = within(
        Duration::from_secs(5),
        Validator::builder()
            .issuer_jwks(issuer.issuer(), issuer.jwks_url())
            .audience(issuer.audience())
            .fetch_timeouts(Duration::from_millis(200), Duration::from_millis(300))
            .kid_miss_cooldown(Duration::from_millis(200))
            .build(),
    )
    .await
    .unwrap();
    assert!(!v.is_ready());
    let token = issuer.token().sign();
    let err = within(Duration::from_secs(5), v.validate(&token))
        .await
        .unwrap_err();
    let AuthError::KeysUnavailable { retry_after } = err else {
        panic!("{err:?}")
    };
    assert!(retry_after >= Duration::from_secs(1));
    let res = err.to_response::<()>("api");
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));
    issuer.set_behavior(Behavior::Normal);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(v.validate(&token).await.is_ok());
}

#[tokio::test]
async fn restart_during_an_outage_serves_from_the_snapshot() {
    let dir = tempdir();
    let path = dir.join("jwks-snapshot.json");
    let issuer = TestIssuer::builder()
        .algorithms([Algorithm::RS256, Algorithm::EdDSA])
        .start()
        .await
        .unwrap();
    let build = |clock: ManualClock| {
        Validator::builder()
            .issuer_jwks(issuer.issuer(), issuer.jwks_url())
            .audience(issuer.audience())
            .snapshot_file(&path)
            .last_known_good(HOUR)
            .clock(clock.as_clock())
            .fetch_timeouts(Duration::from_millis(200), Duration::from_millis(300))
            .build()
    };
    let clock = ManualClock::now_real();
    let first = build(clock.clone()).await.unwrap();
    assert!(first.validate(&token_at(&issuer, &clock)).await.is_ok());
    wait_for_file(&path).await;
    drop(first);
    issuer.stop().await;

    // "Restart" while the issuer is down: the snapshot serves, EdDSA key included.
    let second = build(clock.clone()).await.unwrap();
    assert!(
        second.validate(&token_at(&issuer, &clock)).await.is_ok(),
        "first request passes"
    );
    let ed = issuer
        .token()
        .alg(Algorithm::EdDSA)
        .issued_at(clock.get())
        .expires_at(clock.get() + 60)
        .sign();
    assert!(second.validate(&ed).await.is_ok());
    let h = &second.health()[0];
    assert!(h.ready && h.keys == 2 && h.last_error.is_some(), "{h:?}");

    // The same snapshot is refused once it is older than the last-known-good window.
    clock.advance(HOUR + Duration::from_secs(1));
    let third = build(clock.clone()).await.unwrap();
    assert!(matches!(
        third
            .validate(&token_at(&issuer, &clock))
            .await
            .unwrap_err(),
        AuthError::KeysUnavailable { .. }
    ));
}

#[tokio::test]
async fn corrupt_or_foreign_snapshots_are_ignored() {
    let dir = tempdir();
    let issuer = TestIssuer::start().await.unwrap();
    let other = TestIssuer::start().await.unwrap();
    // A snapshot written for another issuer.
    let foreign = dir.join("foreign.json");
    let v = Validator::builder()
        .issuer_jwks(other.issuer(), other.jwks_url())
        .audience(other.audience())
        .snapshot_file(&foreign)
        .build()
        .await
        .unwrap();
    assert!(v.is_ready());
    wait_for_file(&foreign).await;
    let corrupt = dir.join("corrupt.json");
    std::fs::write(
        &corrupt,
        b"{\"format\":\"a2a-guard-jwks-snapshot/1\",\"issuers\":{\"x\":",
    )
    .unwrap();
    let partial = dir.join("partial.json");
    let snap: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&foreign).unwrap()).unwrap();
    let mut bad = snap.clone();
    bad["format"] = "something-else/9".into();
    std::fs::write(&partial, serde_json::to_vec(&bad).unwrap()).unwrap();
    issuer.stop().await;
    for path in [&foreign, &corrupt, &partial] {
        let v = Validator::builder()
            .issuer_jwks(issuer.issuer(), issuer.jwks_url())
            .audience(issuer.audience())
            .snapshot_file(path)
            .fetch_timeouts(Duration::from_millis(200), Duration::from_millis(300))
            .build()
            .await
            .unwrap();
        assert!(!v.is_ready(), "{}", path.display());
        assert!(matches!(
            v.validate(&issuer.token().sign()).await.unwrap_err(),
            AuthError::KeysUnavailable { .. }
        ));
    }
}

async fn wait_for_file(path: &std::path::Path) {
    within(Duration::from_secs(5), async {
        while !path.exists() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn a_failed_kid_miss_does_not_hold_off_new_keys_for_a_whole_cooldown() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
        .kid_miss_cooldown(Duration::from_secs(30))
        .fetch_backoff(Duration::from_millis(200), Duration::from_secs(5))
        .fetch_timeouts(Duration::from_millis(200), Duration::from_millis(300))
        .build()
        .await
        .unwrap();
    issuer.stop().await;
    let probe = issuer.token().kid("not-yet-published").sign();
    assert_eq!(v.validate(&probe).await.unwrap_err(), AuthError::UnknownKey);
    // The issuer comes back with a new key: tokens signed with it pass after the short
    // failure hold (≈ backoff), not after the 30 s cooldown.
    issuer.restart().await.unwrap();
    issuer.rotate(Algorithm::RS256);
    let new = issuer.token().sign();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(v.validate(&new).await.is_ok());
}
