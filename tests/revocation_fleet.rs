//! A deny-list shared by a fleet through a real `redis-server` on loopback (issue 14): a
//! revocation made on one instance is refused by every instance; Redis killed, nothing
//! crashes and what was revoked before still holds.
//!
//! `fleet_propagation` also prints the propagation time (p50/p99 over 100 revocations, three
//! in-process instances) — a measurement, never asserted.
#![cfg(all(feature = "testing", feature = "redis"))]

mod common;

use std::time::{Duration, Instant, SystemTime};

use a2a_guard::revocation::{RedisRevocations, Revocations, Target};
use a2a_guard::testing::TestIssuer;
use a2a_guard::{AuthError, Validator};
use common::redis::redis;

struct Instance {
    revocations: Revocations,
    validator: Validator,
    link: RedisRevocations,
}

async fn instance(issuer: &TestIssuer, url: &str) -> Instance {
    let revocations = Revocations::new();
    let link = RedisRevocations::attach(url, &revocations).await.unwrap();
    let validator = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
        .revocations(revocations.clone())
        .build()
        .await
        .unwrap();
    Instance {
        revocations,
        validator,
        link,
    }
}

/// Poll (bounded) until `token` is refused by `v`: propagation is asynchronous.
async fn until_refused(v: &Validator, token: &str) -> Duration {
    let start = Instant::now();
    common::within(Duration::from_secs(10), async {
        while v.validate(token).await.err() != Some(AuthError::Revoked) {
            tokio::task::yield_now().await;
        }
    })
    .await;
    start.elapsed()
}

#[tokio::test]
async fn fleet_propagation() {
    let r = redis().await;
    let issuer = TestIssuer::start().await.unwrap();
    let fleet = [
        instance(&issuer, &r.url).await,
        instance(&issuer, &r.url).await,
        instance(&issuer, &r.url).await,
    ];
    let mut times = Vec::new();
    for i in 0..100 {
        let jti = format!("task-{i}");
        let token = issuer.token().claim("jti", jti.as_str()).sign();
        for inst in &fleet {
            inst.validator.validate(&token).await.unwrap();
        }
        let start = Instant::now();
        fleet[i % 3]
            .revocations
            .revoke_jti(&jti, SystemTime::now() + Duration::from_secs(600))
            .unwrap();
        for inst in &fleet {
            until_refused(&inst.validator, &token).await;
        }
        times.push(start.elapsed());
    }
    times.sort();
    println!(
        "revocation reached all 3 instances: p50 {:?}, p99 {:?}, max {:?} (100 revocations)",
        times[49], times[98], times[99]
    );
    // Epochs travel the same way.
    let old = issuer.token().subject("retired-agent").sign();
    fleet[1]
        .revocations
        .revoke_before(
            Target::Subject,
            "retired-agent",
            SystemTime::now() + Duration::from_secs(1),
        )
        .unwrap();
    for inst in &fleet {
        until_refused(&inst.validator, &old).await;
    }
    for inst in &fleet {
        assert!(inst.link.health().connected);
    }
}

#[tokio::test]
async fn redis_killed_keeps_what_was_revoked_and_nothing_crashes() {
    let r = redis().await;
    let issuer = TestIssuer::start().await.unwrap();
    let a = instance(&issuer, &r.url).await;
    let b = instance(&issuer, &r.url).await;
    let revoked = issuer.token().claim("jti", "before-kill").sign();
    a.revocations
        .revoke_jti("before-kill", SystemTime::now() + Duration::from_secs(600))
        .unwrap();
    until_refused(&b.validator, &revoked).await;

    drop(r); // redis-server killed
    common::within(Duration::from_secs(10), async {
        while b.link.health().connected {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    // Still refused on both; other tokens still accepted; a new revocation holds locally.
    assert_eq!(
        b.validator.validate(&revoked).await.unwrap_err(),
        AuthError::Revoked
    );
    assert_eq!(
        a.validator.validate(&revoked).await.unwrap_err(),
        AuthError::Revoked
    );
    let fine = issuer.token().claim("jti", "fine").sign();
    b.validator.validate(&fine).await.unwrap();
    let _ = b.revocations.revoke_jti(
        "during-outage",
        SystemTime::now() + Duration::from_secs(600),
    );
    let during = issuer.token().claim("jti", "during-outage").sign();
    assert_eq!(
        b.validator.validate(&during).await.unwrap_err(),
        AuthError::Revoked
    );
}

#[tokio::test]
async fn an_instance_that_joins_later_gets_the_list() {
    let r = redis().await;
    let issuer = TestIssuer::start().await.unwrap();
    let a = instance(&issuer, &r.url).await;
    a.revocations
        .revoke_before(
            Target::Client,
            "old-client",
            SystemTime::now() + Duration::from_secs(1),
        )
        .unwrap();
    let token = issuer.token().claim("client_id", "old-client").sign();
    until_refused(&a.validator, &token).await;
    // Written to Redis asynchronously: the newcomer's first sync may come before the
    // write, and the pub/sub message then brings it.
    let late = instance(&issuer, &r.url).await;
    until_refused(&late.validator, &token).await;
}

#[tokio::test]
async fn fail_closed_is_opt_in_and_bounded() {
    let r = redis().await;
    let issuer = TestIssuer::start().await.unwrap();
    let a = instance(&issuer, &r.url).await;
    let strict = instance(&issuer, &r.url).await;
    strict.link.fail_closed_after(Duration::from_millis(300));
    let token = issuer.token().sign();
    drop(r);
    // Past the bound the strict instance refuses every token with 503; the other keeps its
    // last view and serves.
    common::within(Duration::from_secs(10), async {
        while strict.validator.validate(&token).await.err()
            != Some(AuthError::RevocationsUnavailable)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    a.validator.validate(&token).await.unwrap();
}
