//! RFC 9449 DPoP through the auth layer: every proof check, with a case that fails if the
//! check is removed.
#![cfg(feature = "testing")]

use std::time::Duration;

use a2a_guard::pop::DpopConfig;
use a2a_guard::testing::{DpopKey, TestIssuer};
use a2a_guard::{Algorithm, Validator};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, Response};
use serde_json::json;
use tower::ServiceExt;

const URL: &str = "https://agents.example.com/data";

async fn app(issuer: &TestIssuer, cfg: DpopConfig) -> Router {
    let v = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
        .build()
        .await
        .unwrap();
    Router::new()
        .route("/data", get(|| async { "ok" }))
        .layer(v.layer().dpop(cfg).unwrap())
}

fn cfg() -> DpopConfig {
    DpopConfig::new().origin("https://agents.example.com")
}

async fn send(app: &Router, scheme: &str, token: &str, proofs: &[&str]) -> Response<Body> {
    let mut r = Request::get("/data?x=1").header("authorization", format!("{scheme} {token}"));
    for p in proofs {
        r = r.header("dpop", *p);
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

fn assert_proof_error(res: &Response<Body>, what: &str) {
    assert_eq!(res.status(), 401, "{what}");
    let w = www(res);
    assert!(
        w.starts_with("DPoP ")
            && w.contains(r#"error="invalid_dpop_proof""#)
            && w.contains("algs=\""),
        "{what}: {w}"
    );
}

#[tokio::test]
async fn a_valid_proof_passes_once() {
    let issuer = TestIssuer::start().await.unwrap();
    let app = app(&issuer, cfg()).await;
    for alg in [
        Algorithm::ES256,
        Algorithm::EdDSA,
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::ES384,
    ] {
        let key = DpopKey::generate(alg);
        let token = issuer.token().dpop_bound(&key).sign();
        let proof = key.proof("GET", URL).access_token(&token).sign();
        assert_eq!(
            send(&app, "DPoP", &token, &[&proof]).await.status(),
            200,
            "{alg}"
        );
        // The same proof again: a replay.
        assert_proof_error(&send(&app, "DPoP", &token, &[&proof]).await, "replay");
        // A fresh proof passes again, also served from the verified-token cache.
        let again = key.proof("GET", URL).access_token(&token).sign();
        assert_eq!(
            send(&app, "DPoP", &token, &[&again]).await.status(),
            200,
            "{alg} fresh proof"
        );
    }
}

#[tokio::test]
async fn binding_and_scheme_rules() {
    let issuer = TestIssuer::start().await.unwrap();
    let app = app(&issuer, cfg()).await;
    let key = DpopKey::generate(Algorithm::ES256);
    let bound = issuer.token().dpop_bound(&key).sign();
    // RFC 9449 §7.2: a DPoP-bound token sent as Bearer is refused (also after a cache hit).
    let proof = key.proof("GET", URL).access_token(&bound).sign();
    assert_eq!(send(&app, "DPoP", &bound, &[&proof]).await.status(), 200);
    let res = send(&app, "Bearer", &bound, &[]).await;
    assert_eq!(res.status(), 401);
    assert!(www(&res).starts_with("Bearer ") && www(&res).contains(r#"error="invalid_token""#));
    // The DPoP scheme with an unbound token.
    let unbound = issuer.token().sign();
    let proof = key.proof("GET", URL).access_token(&unbound).sign();
    let res = send(&app, "DPoP", &unbound, &[&proof]).await;
    assert_eq!(res.status(), 401);
    assert!(
        www(&res).starts_with("DPoP ") && www(&res).contains(r#"error="invalid_token""#),
        "{}",
        www(&res)
    );
    // Unbound tokens as Bearer are fine.
    assert_eq!(send(&app, "Bearer", &unbound, &[]).await.status(), 200);
}

#[tokio::test]
async fn every_proof_check() {
    let issuer = TestIssuer::start().await.unwrap();
    let app = app(
        &issuer,
        cfg().algorithms([Algorithm::ES256, Algorithm::RS256]),
    )
    .await;
    let key = DpopKey::generate(Algorithm::ES256);
    let other = DpopKey::generate(Algorithm::ES256);
    let token = issuer.token().dpop_bound(&key).sign();
    let good = || key.proof("GET", URL).access_token(&token);
    let mut private_jwk = key.public_jwk();
    private_jwk["d"] = json!("AAAA");
    let ed = DpopKey::generate(Algorithm::EdDSA);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("no DPoP header", vec![]),
        ("two DPoP headers", vec![good().sign(), good().sign()]),
        ("typ", vec![good().header("typ", "jwt").sign()]),
        ("typ absent", vec![good().header("typ", json!(null)).sign()]),
        ("alg not accepted", vec![]),
        (
            "private key in jwk",
            vec![good().header("jwk", private_jwk.clone()).sign()],
        ),
        (
            "signed by another key",
            vec![good().header("jwk", other.public_jwk()).sign()],
        ),
        (
            "htm",
            vec![key.proof("POST", URL).access_token(&token).sign()],
        ),
        (
            "htu path",
            vec![
                key.proof("GET", "https://agents.example.com/other")
                    .access_token(&token)
                    .sign(),
            ],
        ),
        (
            "htu host",
            vec![
                key.proof("GET", "https://evil.example.com/data")
                    .access_token(&token)
                    .sign(),
            ],
        ),
        (
            "htu scheme",
            vec![
                key.proof("GET", "http://agents.example.com/data")
                    .access_token(&token)
                    .sign(),
            ],
        ),
        (
            "iat too old",
            vec![good().issued_ago(Duration::from_secs(61)).sign()],
        ),
        ("iat ahead", vec![good().claim("iat", now + 30).sign()]),
        ("iat absent", vec![good().remove_claim("iat").sign()]),
        ("ath absent", vec![key.proof("GET", URL).sign()]),
        (
            "ath of another token",
            vec![
                key.proof("GET", URL)
                    .access_token(&issuer.token().sign())
                    .sign(),
            ],
        ),
        (
            "jkt mismatch",
            vec![other.proof("GET", URL).access_token(&token).sign()],
        ),
        ("jti absent", vec![good().remove_claim("jti").sign()]),
        ("not a JWS", vec!["abc.def".into()]),
    ];
    // An EdDSA-bound token with an EdDSA proof, where only ES256 and RS256 are accepted.
    let ed_token = issuer.token().dpop_bound(&ed).sign();
    let ed_proof = ed.proof("GET", URL).access_token(&ed_token).sign();
    assert_proof_error(
        &send(&app, "DPoP", &ed_token, &[&ed_proof]).await,
        "alg not accepted",
    );
    for (what, proofs) in cases.into_iter().filter(|(w, _)| *w != "alg not accepted") {
        let refs: Vec<&str> = proofs.iter().map(String::as_str).collect();
        assert_proof_error(&send(&app, "DPoP", &token, &refs).await, what);
    }
    // Edges that pass: query and fragment are ignored, case and default port normalised, iat 59 s old.
    for url in [
        "https://agents.example.com/data?x=2#f",
        "HTTPS://AGENTS.EXAMPLE.COM:443/data",
    ] {
        let p = key.proof("GET", url).access_token(&token).sign();
        assert_eq!(
            send(&app, "DPoP", &token, &[&p]).await.status(),
            200,
            "{url}"
        );
    }
    let p = good().issued_ago(Duration::from_secs(59)).sign();
    assert_eq!(send(&app, "DPoP", &token, &[&p]).await.status(), 200);
}

#[tokio::test]
async fn the_host_header_selects_a_configured_origin() {
    let issuer = TestIssuer::start().await.unwrap();
    let app = app(
        &issuer,
        DpopConfig::new().origins(["https://api.internal:8443", "https://agents.example.com"]),
    )
    .await;
    let key = DpopKey::generate(Algorithm::ES256);
    let token = issuer.token().dpop_bound(&key).sign();
    let proof = || {
        key.proof("GET", "https://api.internal:8443/data")
            .access_token(&token)
            .sign()
    };
    let req = |host: &str, proof: &str| {
        Request::get("/data")
            .header("host", host)
            .header("authorization", format!("DPoP {token}"))
            .header("dpop", proof)
            .body(Body::empty())
            .unwrap()
    };
    let status = |host: &'static str, proof: String| {
        let app = app.clone();
        let r = req(host, &proof);
        async move { app.oneshot(r).await.unwrap().status() }
    };
    assert_eq!(status("api.internal:8443", proof()).await, 200);
    // Another configured origin: the proof names api.internal, so it does not match.
    assert_eq!(status("agents.example.com", proof()).await, 401);
    // A host that is no configured origin, even when the proof names it.
    let other = key
        .proof("GET", "https://other.internal/data")
        .access_token(&token)
        .sign();
    assert_eq!(status("other.internal", other).await, 401);
}

#[tokio::test]
async fn server_nonces() {
    let issuer = TestIssuer::start().await.unwrap();
    let app = app(&issuer, cfg().require_nonce()).await;
    let key = DpopKey::generate(Algorithm::ES256);
    let token = issuer.token().dpop_bound(&key).sign();
    let res = send(
        &app,
        "DPoP",
        &token,
        &[&key.proof("GET", URL).access_token(&token).sign()],
    )
    .await;
    assert_eq!(res.status(), 401);
    assert!(
        www(&res).contains(r#"error="use_dpop_nonce""#),
        "{}",
        www(&res)
    );
    let nonce = res.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    let bad = key
        .proof("GET", URL)
        .access_token(&token)
        .claim("nonce", "made-up")
        .sign();
    assert_eq!(send(&app, "DPoP", &token, &[&bad]).await.status(), 401);
    let ok = key
        .proof("GET", URL)
        .access_token(&token)
        .claim("nonce", nonce)
        .sign();
    assert_eq!(send(&app, "DPoP", &token, &[&ok]).await.status(), 200);
}

#[tokio::test]
async fn the_proof_window_follows_the_validator_clock() {
    let issuer = TestIssuer::start().await.unwrap();
    let later = std::time::SystemTime::now() + Duration::from_secs(3600);
    let t = later
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let v = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
        .clock(move || later)
        .build()
        .await
        .unwrap();
    let app = Router::new()
        .route("/data", get(|| async { "ok" }))
        .layer(v.layer().dpop(cfg()).unwrap());
    let key = DpopKey::generate(Algorithm::ES256);
    let token = issuer
        .token()
        .issued_at(t)
        .expires_at(t + 300)
        .dpop_bound(&key)
        .sign();
    let stale = key.proof("GET", URL).access_token(&token).sign(); // iat = the real now: an hour old
    assert_proof_error(
        &send(&app, "DPoP", &token, &[&stale]).await,
        "iat by the validator clock",
    );
    let fresh = key
        .proof("GET", URL)
        .access_token(&token)
        .claim("iat", t)
        .sign();
    assert_eq!(send(&app, "DPoP", &token, &[&fresh]).await.status(), 200);
}
