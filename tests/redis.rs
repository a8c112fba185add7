//! The shared DPoP replay store against a real `redis-server` on loopback. The test starts
//! its own server (the binary must be installed: `scripts/test.sh` does that).
#![cfg(all(feature = "testing", feature = "redis"))]

mod common;

use std::time::Duration;

use a2a_guard::pop::{DpopConfig, EvictionPolicyCheck, RedisReplayStore, ReplayStore};
use a2a_guard::testing::{DpopKey, TestIssuer};
use a2a_guard::{Algorithm, ConfigError, Validator};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use common::redis::{redis, redis_with};
use http::Request;
use tower::ServiceExt;

#[tokio::test]
async fn set_if_absent_is_atomic_and_expires() {
    let r = redis().await;
    let store = RedisReplayStore::connect(&r.url).await.unwrap();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let s = store.clone();
        set.spawn(async move {
            s.first_use("jkt:jti-1", Duration::from_secs(60), 0)
                .await
                .unwrap()
        });
    }
    let mut firsts = 0;
    while let Some(r) = set.join_next().await {
        firsts += r.unwrap() as usize;
    }
    assert_eq!(firsts, 1, "exactly one of 50 concurrent uses is first");
    assert!(
        store
            .first_use("jkt:short", Duration::from_millis(300), 0)
            .await
            .unwrap()
    );
    assert!(
        !store
            .first_use("jkt:short", Duration::from_millis(300), 0)
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        store
            .first_use("jkt:short", Duration::from_millis(300), 0)
            .await
            .unwrap(),
        "expired"
    );
}

async fn instance(issuer: &TestIssuer, store: Option<RedisReplayStore>) -> Router {
    let v = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
        .build()
        .await
        .unwrap();
    let mut cfg = DpopConfig::new().origin("https://agents.example.com");
    if let Some(s) = store {
        cfg = cfg.replay_store(s);
    }
    Router::new()
        .route("/data", get(|| async { "ok" }))
        .layer(v.layer().dpop(cfg).unwrap())
}

async fn send(app: &Router, token: &str, proof: &str) -> u16 {
    let req = Request::get("/data")
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", proof);
    app.clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_proof_replayed_to_another_instance_is_refused() {
    let r = redis().await;
    let issuer = TestIssuer::start().await.unwrap();
    let a = instance(
        &issuer,
        Some(RedisReplayStore::connect(&r.url).await.unwrap()),
    )
    .await;
    let b = instance(
        &issuer,
        Some(RedisReplayStore::connect(&r.url).await.unwrap()),
    )
    .await;
    let key = DpopKey::generate(Algorithm::ES256);
    let token = issuer.token().dpop_bound(&key).sign();
    let proof = key
        .proof("GET", "https://agents.example.com/data")
        .access_token(&token)
        .sign();
    assert_eq!(send(&a, &token, &proof).await, 200);
    assert_eq!(
        send(&b, &token, &proof).await,
        401,
        "replayed on the other instance"
    );
    // With per-process stores the same replay would pass: that is what the shared store fixes.
    let (c, d) = (instance(&issuer, None).await, instance(&issuer, None).await);
    let proof = key
        .proof("GET", "https://agents.example.com/data")
        .access_token(&token)
        .sign();
    assert_eq!(
        (
            send(&c, &token, &proof).await,
            send(&d, &token, &proof).await
        ),
        (200, 200)
    );
}

#[tokio::test]
async fn redis_down_fails_closed() {
    let r = redis().await;
    let issuer = TestIssuer::start().await.unwrap();
    let app = instance(
        &issuer,
        Some(RedisReplayStore::connect(&r.url).await.unwrap()),
    )
    .await;
    drop(r);
    let key = DpopKey::generate(Algorithm::ES256);
    let token = issuer.token().dpop_bound(&key).sign();
    let proof = key
        .proof("GET", "https://agents.example.com/data")
        .access_token(&token)
        .sign();
    let status = tokio::time::timeout(Duration::from_secs(10), send(&app, &token, &proof))
        .await
        .expect("no hang");
    assert_eq!(status, 503);
}

async fn config_set(url: &str, name: &str, value: &str) {
    let client = redis::Client::open(url).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg(name)
        .arg(value)
        .query_async(&mut c)
        .await
        .unwrap();
}

#[tokio::test]
async fn an_evicting_maxmemory_policy_is_refused() {
    let r = redis().await;
    // redis-server's default, noeviction, is accepted.
    assert!(RedisReplayStore::connect(&r.url).await.is_ok());
    for policy in [
        "allkeys-lru",
        "volatile-lru",
        "volatile-ttl",
        "allkeys-random",
    ] {
        config_set(&r.url, "maxmemory-policy", policy).await;
        match RedisReplayStore::connect(&r.url).await {
            Err(ConfigError::EvictingReplayStore { policy: p }) => assert_eq!(p, policy),
            other => panic!("{policy}: {other:?}"),
        }
        // The explicit opt-out connects (and warns).
        assert!(
            RedisReplayStore::connect_with(&r.url, EvictionPolicyCheck::Warn)
                .await
                .is_ok()
        );
    }
}

#[tokio::test]
async fn without_config_access_the_store_connects() {
    // Managed Redis often disables CONFIG: the check cannot run, connect warns and goes on.
    let r = redis_with(&["--rename-command", "CONFIG", ""]).await;
    let store = RedisReplayStore::connect(&r.url).await.unwrap();
    assert!(
        store
            .first_use("jkt:jti", Duration::from_secs(60), 0)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn a_full_redis_fails_closed() {
    let r = redis().await;
    let issuer = TestIssuer::start().await.unwrap();
    let app = instance(
        &issuer,
        Some(RedisReplayStore::connect(&r.url).await.unwrap()),
    )
    .await;
    let key = DpopKey::generate(Algorithm::ES256);
    let token = issuer.token().dpop_bound(&key).sign();
    let proof = || {
        key.proof("GET", "https://agents.example.com/data")
            .access_token(&token)
            .sign()
    };
    assert_eq!(send(&app, &token, &proof()).await, 200);
    // noeviction with no memory left: Redis refuses the write, the request gets 503.
    config_set(&r.url, "maxmemory", "1").await;
    assert_eq!(send(&app, &token, &proof()).await, 503);
}
