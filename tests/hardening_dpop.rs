//! DPoP hardening (issue 10): replay retention, origins, a full replay store, dot-segments,
//! `crit`, cheap checks before the signature, fleet nonces. Each test fails without its fix.
#![cfg(feature = "testing")]

mod common;

use std::time::Duration;

use a2a_guard::pop::{
    DpopConfig, FirstUse, MAX_JTI_LEN, MemoryReplayStore, REPLAY_ENTRY_BYTES, ReplayStore,
};
use a2a_guard::testing::{DpopKey, TestIssuer};
use a2a_guard::{Algorithm, ConfigError, Validator};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::ManualClock;
use http::{Request, Response};
use serde_json::json;
use tower::ServiceExt;

const ORIGIN: &str = "https://agents.example.com";
const URL: &str = "https://agents.example.com/data";

async fn validator(issuer: &TestIssuer, clock: Option<&ManualClock>) -> Validator {
    let mut b = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience());
    if let Some(c) = clock {
        b = b.clock(c.as_clock());
    }
    b.build().await.unwrap()
}

fn routes() -> Router {
    Router::new()
        .route("/data", get(|| async { "data" }))
        .route("/files/{*rest}", get(|| async { "files" }))
}

async fn app(issuer: &TestIssuer, cfg: DpopConfig) -> Router {
    let v = validator(issuer, None).await;
    routes().layer(v.layer().dpop(cfg).unwrap())
}

async fn send(
    app: &Router,
    path: &str,
    host: Option<&str>,
    token: &str,
    proof: &str,
) -> Response<Body> {
    let mut r = Request::get(path)
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", proof);
    if let Some(h) = host {
        r = r.header("host", h);
    }
    app.clone()
        .oneshot(r.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

fn www(res: &Response<Body>) -> String {
    res.headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

fn assert_proof_error(res: &Response<Body>, needle: &str) {
    let w = www(res);
    assert_eq!(res.status(), 401, "{needle}: {w}");
    assert!(
        w.contains(r#"error="invalid_dpop_proof""#) && w.contains(needle),
        "{needle}: {w}"
    );
}

// Finding 1: the proof window and the replay store's retention.

#[tokio::test]
async fn a_wide_window_keeps_proofs_for_the_whole_window() {
    let issuer = TestIssuer::start().await.unwrap();
    let clock = ManualClock::now_real();
    let t = clock.get();
    let v = validator(&issuer, Some(&clock)).await;
    let cfg = DpopConfig::new()
        .origin(ORIGIN)
        .iat_window(Duration::from_secs(300), Duration::from_secs(5));
    let app = routes().layer(v.layer().dpop(cfg).unwrap());
    let key = DpopKey::generate(Algorithm::ES256);
    let token = issuer
        .token()
        .issued_at(t)
        .expires_at(t + 900)
        .dpop_bound(&key)
        .sign();
    let proof = key
        .proof("GET", URL)
        .access_token(&token)
        .claim("iat", t)
        .sign();
    assert_eq!(
        send(&app, "/data", None, &token, &proof).await.status(),
        200
    );
    // 67 s on the validator's clock: the old 65 s store had forgotten the jti here.
    for later in [67, 200, 300] {
        clock.advance(Duration::from_secs(later - (clock.get() - t) as u64));
        assert_proof_error(
            &send(&app, "/data", None, &token, &proof).await,
            "already used",
        );
    }
    // Past the window the proof fails on its iat, whatever the store holds.
    clock.advance(Duration::from_secs(1));
    assert_proof_error(&send(&app, "/data", None, &token, &proof).await, "iat");
}

#[tokio::test]
async fn a_proof_ahead_of_the_clock_is_remembered_until_its_window_ends() {
    let issuer = TestIssuer::start().await.unwrap();
    let clock = ManualClock::now_real();
    let t = clock.get();
    let v = validator(&issuer, Some(&clock)).await;
    let cfg = DpopConfig::new()
        .origin(ORIGIN)
        .iat_window(Duration::from_secs(60), Duration::from_secs(5));
    let app = routes().layer(v.layer().dpop(cfg).unwrap());
    let key = DpopKey::generate(Algorithm::ES256);
    let token = issuer
        .token()
        .issued_at(t)
        .expires_at(t + 900)
        .dpop_bound(&key)
        .sign();
    // iat 5 s ahead: acceptable until t + 65, so it must be remembered that long.
    let proof = key
        .proof("GET", URL)
        .access_token(&token)
        .claim("iat", t + 5)
        .sign();
    assert_eq!(
        send(&app, "/data", None, &token, &proof).await.status(),
        200
    );
    clock.advance(Duration::from_secs(65));
    assert_proof_error(
        &send(&app, "/data", None, &token, &proof).await,
        "already used",
    );
}

/// A store that keeps keys for a fixed time, whatever it is asked.
struct FixedRetention(Duration);
impl ReplayStore for FixedRetention {
    fn first_use<'a>(&'a self, _key: &'a str, _ttl: Duration, _now: u64) -> FirstUse<'a> {
        Box::pin(async { Ok(true) })
    }
    fn max_ttl(&self) -> Option<Duration> {
        Some(self.0)
    }
}

#[tokio::test]
async fn a_store_that_forgets_before_the_window_ends_is_a_config_error() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = validator(&issuer, None).await;
    let store = || FixedRetention(Duration::from_secs(66));
    let wide = DpopConfig::new()
        .origin(ORIGIN)
        .iat_window(Duration::from_secs(300), Duration::from_secs(5))
        .replay_store(store());
    assert!(matches!(
        v.layer().dpop(wide),
        Err(ConfigError::InvalidSetting {
            name: "DpopConfig::replay_store",
            ..
        })
    ));
    // The default window (60 s + 5 s + 1 s) fits in 66 s.
    assert!(
        v.layer()
            .dpop(DpopConfig::new().origin(ORIGIN).replay_store(store()))
            .is_ok()
    );
}

// Finding 2: the expected htu comes from configured origins only.

#[tokio::test]
async fn a_proof_for_another_service_is_refused() {
    let issuer = TestIssuer::start().await.unwrap();
    let key = DpopKey::generate(Algorithm::ES256);
    let token = issuer.token().dpop_bound(&key).sign();
    let for_a = || {
        key.proof("GET", "https://service-a.example/data")
            .access_token(&token)
            .sign()
    };
    // Service B, DPoP configured for its own origin; the client sends A's Host.
    let b = app(
        &issuer,
        DpopConfig::new().origin("https://service-b.example"),
    )
    .await;
    assert_proof_error(
        &send(&b, "/data", Some("service-a.example"), &token, &for_a()).await,
        "not a configured DPoP origin",
    );
    assert_proof_error(
        &send(&b, "/data", None, &token, &for_a()).await,
        "htu does not match",
    );
    // Service B with DPoP never configured (the plain layer): DPoP-bound tokens fail closed.
    let v = validator(&issuer, None).await;
    let plain = routes().layer(v.layer());
    assert_proof_error(
        &send(&plain, "/data", Some("service-a.example"), &token, &for_a()).await,
        "not configured",
    );
}

#[tokio::test]
async fn origins_are_checked_when_the_layer_is_built() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = validator(&issuer, None).await;
    assert!(matches!(
        v.layer().dpop(DpopConfig::new()),
        Err(ConfigError::InvalidSetting {
            name: "DpopConfig::origin",
            ..
        })
    ));
    for bad in [
        "agents.example.com",
        "not a url",
        "ftp://agents.example.com",
        "https://user:pw@agents.example.com",
        "https://agents.example.com/?q=1",
        "https://agents.example.com/a/../b",
    ] {
        let res = v.layer().dpop(DpopConfig::new().origin(bad));
        assert!(
            matches!(res, Err(ConfigError::InvalidUrl { .. })),
            "{bad}: {res:?}"
        );
    }
    // One bad origin among good ones still fails: no silent fallback.
    let res = v.layer().dpop(DpopConfig::new().origins([ORIGIN, "::bad"]));
    assert!(matches!(res, Err(ConfigError::InvalidUrl { .. })));
    #[allow(deprecated)]
    let res = v.layer().dpop(DpopConfig::new().external_url("::bad"));
    assert!(matches!(res, Err(ConfigError::InvalidUrl { .. })));
    let res = v
        .layer()
        .dpop(DpopConfig::new().origin(ORIGIN).algorithms([]));
    assert!(matches!(res, Err(ConfigError::NoAlgorithms)));
}

#[tokio::test]
async fn the_request_authority_must_be_a_configured_origin() {
    let issuer = TestIssuer::start().await.unwrap();
    let app = app(
        &issuer,
        DpopConfig::new().origin("https://gw.example.com/agents"),
    )
    .await;
    let key = DpopKey::generate(Algorithm::ES256);
    let token = issuer.token().dpop_bound(&key).sign();
    let proof = || {
        key.proof("GET", "https://gw.example.com/agents/data")
            .access_token(&token)
            .sign()
    };
    for host in ["gw.example.com", "GW.example.com:443"] {
        assert_eq!(
            send(&app, "/data", Some(host), &token, &proof())
                .await
                .status(),
            200,
            "{host}"
        );
    }
    for host in ["gw.example.com:8443", "evil.example", "x@gw.example.com"] {
        let res = send(&app, "/data", Some(host), &token, &proof()).await;
        assert_eq!(res.status(), 401, "{host}");
    }
    // An absolute-form target names its authority too.
    let res = send(
        &app,
        "https://evil.example/data",
        Some("gw.example.com"),
        &token,
        &proof(),
    )
    .await;
    assert_proof_error(&res, "not a configured DPoP origin");
}

// Finding 3: a full replay store fails closed and never forgets a live proof.

#[tokio::test]
async fn a_full_replay_store_fails_closed_and_forgets_nothing() {
    let issuer = TestIssuer::start().await.unwrap();
    let store = MemoryReplayStore::with_max_bytes(20 * REPLAY_ENTRY_BYTES);
    let app = app(
        &issuer,
        DpopConfig::new().origin(ORIGIN).replay_store(store),
    )
    .await;
    let key = DpopKey::generate(Algorithm::ES256);
    let token = issuer.token().dpop_bound(&key).sign();
    let victim = key.proof("GET", URL).access_token(&token).sign();
    assert_eq!(
        send(&app, "/data", None, &token, &victim).await.status(),
        200
    );
    // The attacker floods with fresh proofs of a token they hold.
    let mut refused = 0;
    for _ in 0..300 {
        let p = key.proof("GET", URL).access_token(&token).sign();
        let res = send(&app, "/data", None, &token, &p).await;
        if res.status() == 503 {
            refused += 1;
        } else {
            assert_eq!(res.status(), 200);
        }
    }
    assert_eq!(refused, 300 - 19, "past the budget new proofs get 503");
    assert_proof_error(
        &send(&app, "/data", None, &token, &victim).await,
        "already used",
    );
}

#[tokio::test]
async fn an_overlong_jti_is_refused() {
    let issuer = TestIssuer::start().await.unwrap();
    let app = app(&issuer, DpopConfig::new().origin(ORIGIN)).await;
    let key = DpopKey::generate(Algorithm::ES256);
    let token = issuer.token().dpop_bound(&key).sign();
    let long = key
        .proof("GET", URL)
        .access_token(&token)
        .claim("jti", "j".repeat(MAX_JTI_LEN + 1))
        .sign();
    assert_proof_error(&send(&app, "/data", None, &token, &long).await, "jti");
    let max = key
        .proof("GET", URL)
        .access_token(&token)
        .claim("jti", "j".repeat(MAX_JTI_LEN))
        .sign();
    assert_eq!(send(&app, "/data", None, &token, &max).await.status(), 200);
}

// Finding 12: dot-segments.

#[tokio::test]
async fn dot_segments_in_the_request_path_are_refused() {
    let issuer = TestIssuer::start().await.unwrap();
    let app = app(&issuer, DpopConfig::new().origin(ORIGIN)).await;
    let key = DpopKey::generate(Algorithm::ES256);
    let token = issuer.token().dpop_bound(&key).sign();
    for path in [
        "/files/%2e%2e/data",
        "/files/%2E%2E/data",
        "/files/.%2e/data",
        "/files/../data",
        "/files/./../data",
        "/files%5c..%5cdata/../data",
    ] {
        let proof = key.proof("GET", URL).access_token(&token).sign();
        assert_proof_error(
            &send(&app, path, None, &token, &proof).await,
            "dot-segments",
        );
    }
    let proof = key.proof("GET", URL).access_token(&token).sign();
    assert_eq!(
        send(&app, "/data", None, &token, &proof).await.status(),
        200
    );
}

// Finding 14: crit.

#[tokio::test]
async fn crit_in_a_proof_is_refused() {
    let issuer = TestIssuer::start().await.unwrap();
    let app = app(&issuer, DpopConfig::new().origin(ORIGIN)).await;
    let key = DpopKey::generate(Algorithm::ES256);
    let token = issuer.token().dpop_bound(&key).sign();
    for crit in [json!(["urn:example:ext"]), json!([]), json!("exp")] {
        let proof = key
            .proof("GET", URL)
            .access_token(&token)
            .header("crit", crit.clone())
            .header("urn:example:ext", true)
            .sign();
        assert_proof_error(&send(&app, "/data", None, &token, &proof).await, "crit");
    }
}

// Finding 15: the thumbprint before the signature; proof key sizes capped.

#[tokio::test]
async fn the_thumbprint_is_compared_before_the_signature() {
    let issuer = TestIssuer::start().await.unwrap();
    let app = app(&issuer, DpopConfig::new().origin(ORIGIN)).await;
    let key = DpopKey::generate(Algorithm::ES256);
    let thief = DpopKey::generate(Algorithm::RS256);
    let token = issuer.token().dpop_bound(&key).sign();
    // The thief's own key, with a signature that would not even verify: refused on the
    // thumbprint, so no RSA work is done.
    let mut proof = thief.proof("GET", URL).access_token(&token).sign();
    proof.truncate(proof.rfind('.').unwrap() + 1);
    proof.push_str("AAAA");
    assert_proof_error(
        &send(&app, "/data", None, &token, &proof).await,
        "does not match the token's cnf.jkt",
    );
}

#[tokio::test]
async fn oversized_rsa_proof_keys_are_refused() {
    let issuer = TestIssuer::start().await.unwrap();
    let app = app(&issuer, DpopConfig::new().origin(ORIGIN)).await;
    let signer = DpopKey::generate(Algorithm::RS256);
    // An 8192-bit modulus, and a token bound to that very key.
    let jwk = json!({"kty": "RSA", "e": "AQAB", "n": URL_SAFE_NO_PAD.encode([0xc5u8; 1024])});
    let jkt = a2a_guard::pop::jwk_thumbprint(&jwk).unwrap();
    let token = issuer.token().claim("cnf", json!({ "jkt": jkt })).sign();
    let proof = signer
        .proof("GET", URL)
        .access_token(&token)
        .header("jwk", jwk)
        .sign();
    assert_proof_error(
        &send(&app, "/data", None, &token, &proof).await,
        "too large",
    );
}

// Finding 22: nonces for a fleet.

#[tokio::test]
async fn a_fleet_shares_nonces_through_a_configured_secret() {
    let issuer = TestIssuer::start().await.unwrap();
    let secret = [0x5au8; 32];
    let cfg = || {
        DpopConfig::new()
            .origin(ORIGIN)
            .require_nonce_with_secret(secret)
    };
    let (a, b) = (app(&issuer, cfg()).await, app(&issuer, cfg()).await);
    let key = DpopKey::generate(Algorithm::ES256);
    let token = issuer.token().dpop_bound(&key).sign();
    let first = key.proof("GET", URL).access_token(&token).sign();
    let res = send(&a, "/data", None, &token, &first).await;
    assert!(
        www(&res).contains(r#"error="use_dpop_nonce""#),
        "{}",
        www(&res)
    );
    let nonce = res.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    let with_nonce = key
        .proof("GET", URL)
        .access_token(&token)
        .claim("nonce", nonce.clone())
        .sign();
    assert_eq!(
        send(&b, "/data", None, &token, &with_nonce).await.status(),
        200,
        "instance B accepts A's nonce"
    );
    // A different secret does not.
    let c = app(
        &issuer,
        DpopConfig::new()
            .origin(ORIGIN)
            .require_nonce_with_secret([0x11u8; 32]),
    )
    .await;
    let p = key
        .proof("GET", URL)
        .access_token(&token)
        .claim("nonce", nonce)
        .sign();
    let res = send(&c, "/data", None, &token, &p).await;
    assert!(
        www(&res).contains(r#"error="use_dpop_nonce""#),
        "{}",
        www(&res)
    );
}

#[tokio::test]
async fn a_short_nonce_secret_is_a_config_error() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = validator(&issuer, None).await;
    let res = v.layer().dpop(
        DpopConfig::new()
            .origin(ORIGIN)
            .require_nonce_with_secret([1u8; 31]),
    );
    assert!(matches!(
        res,
        Err(ConfigError::InvalidSetting {
            name: "DpopConfig::require_nonce_with_secret",
            ..
        })
    ));
    // The secret never shows in Debug output.
    let dbg = format!(
        "{:?}",
        DpopConfig::new().require_nonce_with_secret([0xabu8; 32])
    );
    assert!(
        !dbg.contains("171") && !dbg.to_lowercase().contains("ab, "),
        "{dbg}"
    );
}
