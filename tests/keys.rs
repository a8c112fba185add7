//! The key cache against a real loopback issuer: discovery, rotation, kid-miss storms,
//! freshness headers, bad bodies, file sources, URL rules.
#![cfg(feature = "testing")]

mod common;

use std::sync::Arc;
use std::time::Duration;

use a2a_guard::testing::{Behavior, SigningKey, TestIssuer};
use a2a_guard::{Algorithm, AuthError, ConfigError, Validator, ValidatorBuilder};
use common::within;

fn jwks(issuer: &TestIssuer) -> ValidatorBuilder {
    Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
}

#[tokio::test]
async fn discovery_finds_the_keys_and_requires_the_exact_issuer() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = Validator::builder()
        .issuer(issuer.issuer())
        .audience(issuer.audience())
        .build()
        .await
        .unwrap();
    assert!(v.validate(&issuer.token().sign()).await.is_ok());
    assert_eq!(issuer.discovery_fetches(), 1);

    let liar = TestIssuer::start().await.unwrap();
    liar.set_discovery_issuer(Some(format!("{}/", liar.issuer())));
    let v = Validator::builder()
        .issuer(liar.issuer())
        .audience(liar.audience())
        .build()
        .await
        .unwrap();
    assert!(matches!(
        v.validate(&liar.token().sign()).await.unwrap_err(),
        AuthError::KeysUnavailable { .. }
    ));
    assert_eq!(
        v.health()[0].last_error.as_deref(),
        Some("discovery document names another issuer")
    );
    assert_eq!(
        liar.jwks_fetches(),
        0,
        "keys of a mismatched issuer are never fetched"
    );
}

#[tokio::test]
async fn rotation_new_kid_after_one_fetch_removed_kid_stops() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = jwks(&issuer)
        .kid_miss_cooldown(Duration::from_millis(100))
        .build()
        .await
        .unwrap();
    let old_token = issuer.token().sign();
    let old_kid = issuer.signing_key(Algorithm::RS256).kid().to_owned();
    assert!(v.validate(&old_token).await.is_ok());
    issuer.reset_counters();
    issuer.rotate(Algorithm::RS256);
    assert!(issuer.retire(&old_kid));
    let new_token = issuer.token().sign();
    assert!(v.validate(&new_token).await.is_ok());
    assert_eq!(issuer.jwks_fetches(), 1, "one fetch for the new kid");
    // The successful fetch dropped the retired key at once.
    assert_eq!(
        v.validate(&old_token).await.unwrap_err(),
        AuthError::UnknownKey
    );
}

#[tokio::test]
async fn a_storm_of_unknown_kids_fetches_once_per_cooldown() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = jwks(&issuer)
        .kid_miss_cooldown(Duration::from_millis(1500))
        .build()
        .await
        .unwrap();
    issuer.reset_counters();
    let attacker = SigningKey::generate(Algorithm::ES256);
    let tokens: Vec<String> = (0..1000)
        .map(|i| {
            issuer
                .token()
                .signing_key(&attacker)
                .kid(format!("forged-{i}"))
                .sign()
        })
        .collect();
    let tokens = Arc::new(tokens);
    let mut set = tokio::task::JoinSet::new();
    for i in 0..1000 {
        let (v, tokens) = (v.clone(), tokens.clone());
        set.spawn(async move { v.validate(&tokens[i]).await });
    }
    while let Some(r) = set.join_next().await {
        assert_eq!(r.unwrap().unwrap_err(), AuthError::UnknownKey);
    }
    assert_eq!(
        issuer.jwks_fetches(),
        1,
        "1000 concurrent misses, one fetch"
    );
    // Still inside the cooldown: answered at once, no fetch.
    assert_eq!(
        v.validate(&tokens[0]).await.unwrap_err(),
        AuthError::UnknownKey
    );
    assert_eq!(issuer.jwks_fetches(), 1);
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(
        v.validate(&tokens[1]).await.unwrap_err(),
        AuthError::UnknownKey
    );
    assert_eq!(issuer.jwks_fetches(), 2, "the next window allows one more");
    // Valid tokens were never affected.
    assert!(v.validate(&issuer.token().sign()).await.is_ok());
}

#[tokio::test]
async fn cache_control_max_age_is_honoured_and_clamped() {
    let issuer = TestIssuer::start().await.unwrap();
    let next = |v: &Validator| v.health()[0].next_refresh_in.unwrap().as_secs_f64();
    for (header, lo, hi) in [
        (Some("public, max-age=600"), 540.0, 660.0),
        (Some("max-age=5"), 54.0, 66.0), // clamped up to the 1 min floor
        (Some("max-age=9999999"), 3240.0, 3960.0), // clamped down to max (1 h here)
        (None, 270.0, 330.0),            // the configured default (5 min here)
    ] {
        issuer.set_cache_control(header.map(str::to_owned));
        let v = jwks(&issuer)
            .refresh_interval(
                Duration::from_secs(300),
                Duration::from_secs(60),
                Duration::from_secs(3600),
            )
            .build()
            .await
            .unwrap();
        let n = next(&v);
        assert!((lo..=hi).contains(&n), "{header:?}: next refresh in {n}");
    }
}

#[tokio::test]
async fn refresh_ahead_runs_in_the_background() {
    let issuer = TestIssuer::start().await.unwrap();
    issuer.set_cache_control(Some("max-age=1".into()));
    let v = jwks(&issuer)
        .refresh_interval(
            Duration::from_secs(1),
            Duration::from_secs(1),
            Duration::from_secs(1),
        )
        .build()
        .await
        .unwrap();
    issuer.reset_counters();
    let new_kid = issuer.rotate(Algorithm::RS256);
    within(Duration::from_secs(10), async {
        while issuer.jwks_fetches() == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The new key arrived without any request asking for it: a request finds it without a fetch.
    let before = issuer.jwks_fetches();
    assert!(
        v.validate(&issuer.token().sign()).await.is_ok(),
        "{new_kid}"
    );
    assert_eq!(issuer.jwks_fetches(), before);
}

#[tokio::test]
async fn bad_bodies_are_bounded_and_old_keys_are_kept() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = jwks(&issuer)
        .max_jwks_size(64 * 1024)
        .kid_miss_cooldown(Duration::from_millis(50))
        .fetch_timeouts(Duration::from_millis(200), Duration::from_millis(400))
        .build()
        .await
        .unwrap();
    let good = issuer.token().sign();
    for (behavior, error) in [
        (Behavior::Garbage, "unparseable document: not JSON"),
        (
            Behavior::Oversized(10 * 1024 * 1024),
            "body larger than 65536 bytes",
        ),
        (Behavior::Status(500), "HTTP status 500"),
        (Behavior::Status(404), "HTTP status 404"),
        (Behavior::Delay(Duration::from_secs(3)), "timed out"),
    ] {
        issuer.set_behavior(behavior);
        tokio::time::sleep(Duration::from_millis(60)).await; // past the cooldown
        let miss = issuer.token().kid("unknown").sign();
        assert_eq!(
            within(Duration::from_secs(5), v.validate(&miss))
                .await
                .unwrap_err(),
            AuthError::UnknownKey
        );
        let h = &v.health()[0];
        assert_eq!(h.last_error.as_deref(), Some(error), "{behavior:?}");
        assert!(h.ready && h.serving_last_known_good);
        assert!(
            v.validate(&good).await.is_ok(),
            "old keys kept after {behavior:?}"
        );
    }
}

#[tokio::test]
async fn a_file_source_is_read_and_reread() {
    let issuer = TestIssuer::start().await.unwrap();
    let dir = common::tempdir();
    let path = dir.join("jwks.json");
    std::fs::write(&path, serde_json::to_vec(&issuer.jwks()).unwrap()).unwrap();
    let v = Validator::builder()
        .issuer_file(issuer.issuer(), &path)
        .audience(issuer.audience())
        .kid_miss_cooldown(Duration::from_millis(50))
        .build()
        .await
        .unwrap();
    assert!(v.validate(&issuer.token().sign()).await.is_ok());
    issuer.rotate(Algorithm::RS256);
    std::fs::write(&path, serde_json::to_vec(&issuer.jwks()).unwrap()).unwrap();
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert!(v.validate(&issuer.token().sign()).await.is_ok());
}

#[tokio::test]
async fn urls_must_be_https_unless_loopback() {
    let err = Validator::builder()
        .issuer_jwks("https://auth.example.com", "http://auth.example.com/jwks")
        .audience("a")
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, ConfigError::InvalidUrl { .. }), "{err}");
    let err = Validator::builder()
        .issuer("http://auth.example.com")
        .audience("a")
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, ConfigError::InvalidUrl { .. }), "{err}");
    let err = Validator::builder()
        .issuer_jwks("x", "ftp://127.0.0.1/jwks")
        .audience("a")
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, ConfigError::InvalidUrl { .. }), "{err}");
}

#[tokio::test]
async fn several_issuers_each_with_their_own_cache() {
    let a = TestIssuer::start().await.unwrap();
    let b = TestIssuer::builder()
        .audience(a.audience())
        .algorithms([Algorithm::EdDSA])
        .start()
        .await
        .unwrap();
    let v = Validator::builder()
        .issuer_jwks(a.issuer(), a.jwks_url())
        .issuer(b.issuer())
        .audience(a.audience())
        .build()
        .await
        .unwrap();
    assert!(v.validate(&a.token().sign()).await.is_ok());
    assert!(
        v.validate(&b.token().alg(Algorithm::EdDSA).sign())
            .await
            .is_ok()
    );
    b.stop().await;
    assert!(
        v.validate(&a.token().sign()).await.is_ok(),
        "one issuer down does not affect another"
    );
    let health = v.health();
    assert_eq!(health.len(), 2);
    assert!(health.iter().all(|h| h.ready));
}
