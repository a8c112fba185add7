//! The verified-token cache never serves what a fresh validation would refuse.
#![cfg(feature = "testing")]

mod common;

use std::time::Duration;

use a2a_guard::testing::TestIssuer;
use a2a_guard::{Algorithm, AuthError, Validator, ValidatorBuilder};
use common::ManualClock;

fn builder(issuer: &TestIssuer, clock: &ManualClock) -> ValidatorBuilder {
    Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
        .clock(clock.as_clock())
        .leeway(Duration::ZERO)
        .kid_miss_cooldown(Duration::from_millis(50))
}

#[tokio::test]
async fn hits_rerun_expiry_and_temporal_scopes() {
    let issuer = TestIssuer::start().await.unwrap();
    let clock = ManualClock::now_real();
    let v = builder(&issuer, &clock).build().await.unwrap();
    let t0 = clock.get();
    let token = issuer
        .token()
        .issued_at(t0)
        .expires_at(t0 + 120)
        .scope("read:data temporal:60s")
        .sign();
    assert!(v.validate(&token).await.is_ok());
    assert!(v.validate(&token).await.is_ok(), "a hit");
    clock.advance(Duration::from_secs(60));
    assert!(matches!(
        v.validate(&token).await.unwrap_err(),
        AuthError::TemporalScope(_)
    ));
    let plain = issuer.token().issued_at(t0).expires_at(t0 + 120).sign();
    assert!(v.validate(&plain).await.is_ok());
    clock.advance(Duration::from_secs(60));
    assert_eq!(v.validate(&plain).await.unwrap_err(), AuthError::Expired);
}

#[tokio::test]
async fn hits_are_not_served_after_the_key_is_removed() {
    let issuer = TestIssuer::start().await.unwrap();
    let clock = ManualClock::now_real();
    let v = builder(&issuer, &clock).build().await.unwrap();
    let t0 = clock.get();
    let old = issuer.token().issued_at(t0).expires_at(t0 + 300).sign();
    let old_kid = issuer.signing_key(Algorithm::RS256).kid().to_owned();
    assert!(v.validate(&old).await.is_ok());
    issuer.rotate(Algorithm::RS256);
    issuer.retire(&old_kid);
    // A token with the new kid makes the cache refetch; the old key is gone.
    let new = issuer.token().issued_at(t0).expires_at(t0 + 300).sign();
    assert!(v.validate(&new).await.is_ok());
    assert_eq!(
        v.validate(&old).await.unwrap_err(),
        AuthError::UnknownKey,
        "not served from the cache"
    );
}

#[tokio::test]
async fn hits_respect_the_last_known_good_window() {
    let issuer = TestIssuer::start().await.unwrap();
    let clock = ManualClock::now_real();
    let v = builder(&issuer, &clock)
        .last_known_good(Duration::from_secs(600))
        .build()
        .await
        .unwrap();
    let t0 = clock.get();
    let token = issuer.token().issued_at(t0).expires_at(t0 + 3000).sign();
    assert!(v.validate(&token).await.is_ok());
    issuer.stop().await;
    clock.advance(Duration::from_secs(601));
    assert!(matches!(
        v.validate(&token).await.unwrap_err(),
        AuthError::KeysUnavailable { .. }
    ));
}

#[tokio::test]
async fn cache_off_gives_the_same_answers() {
    let issuer = TestIssuer::start().await.unwrap();
    let clock = ManualClock::now_real();
    let v = builder(&issuer, &clock)
        .no_token_cache()
        .build()
        .await
        .unwrap();
    let t0 = clock.get();
    let token = issuer.token().issued_at(t0).expires_at(t0 + 60).sign();
    assert!(v.validate(&token).await.is_ok());
    assert!(v.validate(&token).await.is_ok());
    clock.advance(Duration::from_secs(60));
    assert_eq!(v.validate(&token).await.unwrap_err(), AuthError::Expired);
}

#[tokio::test]
async fn a_cached_signature_on_another_payload_is_not_a_hit() {
    let issuer = TestIssuer::start().await.unwrap();
    let clock = ManualClock::now_real();
    let v = builder(&issuer, &clock).build().await.unwrap();
    let t0 = clock.get();
    let real = issuer
        .token()
        .issued_at(t0)
        .expires_at(t0 + 300)
        .scope("read:data")
        .sign();
    assert!(v.validate(&real).await.is_ok());
    // Same signature (so same cache key), payload escalated to admin.
    let forged_payload = issuer
        .token()
        .issued_at(t0)
        .expires_at(t0 + 300)
        .scope("admin")
        .sign();
    let (real_signed, sig) = real.rsplit_once('.').unwrap();
    let (forged_signed, _) = forged_payload.rsplit_once('.').unwrap();
    assert_ne!(real_signed, forged_signed);
    let forged = format!("{forged_signed}.{sig}");
    assert_eq!(
        v.validate(&forged).await.unwrap_err(),
        AuthError::InvalidSignature
    );
    // The real signed part under another signature: the signature's keyed tag differs, so
    // not a hit either, and the full check refuses it.
    let (_, other_sig) = forged_payload.rsplit_once('.').unwrap();
    let resigned = format!("{real_signed}.{other_sig}");
    assert_eq!(
        v.validate(&resigned).await.unwrap_err(),
        AuthError::InvalidSignature
    );
    assert!(
        v.validate(&real)
            .await
            .unwrap()
            .scopes()
            .contains("read:data")
    );
}
