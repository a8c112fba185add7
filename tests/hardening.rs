//! Findings of the independent security review (issue 10) that are not about DPoP, the key
//! cache or token parsing: each test sends the demonstrated attack through the real layer and
//! failed before its fix.
#![cfg(feature = "testing")]

mod common;

use common::Fields;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use a2a_guard::scope::{ScopeRules, ScopeSet};
use a2a_guard::testing::TestIssuer;
use a2a_guard::{Algorithm, RequireScopes, Validator};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{Request, Response};
use serde_json::json;
use tower::ServiceExt;
use tracing_subscriber::layer::{Context, SubscriberExt};

async fn validator(issuer: &TestIssuer) -> Validator {
    Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
        .build()
        .await
        .unwrap()
}

async fn send(app: &Router, req: Request<Body>) -> Response<Body> {
    app.clone().oneshot(req).await.unwrap()
}

fn bearer(path: &str, token: &str) -> Request<Body> {
    Request::get(path)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

/// A token for `kid` whose signature is `sig`, whatever key the issuer holds.
fn with_signature(issuer: &TestIssuer, alg: Algorithm, kid: &str, sig: &[u8]) -> String {
    let unsigned = issuer.token().alg(alg).kid(kid).unsigned();
    format!("{unsigned}{}", URL_SAFE_NO_PAD.encode(sig))
}

// Finding 17: degenerate keys must not load. The Ed25519 identity point (y = 1) accepts the
// "signature" R = identity, S = 0 over any message: a JWKS that carries it (a compromised or
// careless issuer, a mix-up in key generation) would let anyone mint tokens.
#[tokio::test]
async fn the_ed25519_identity_key_and_its_universal_signature_are_refused() {
    let issuer = TestIssuer::start().await.unwrap();
    let mut identity = [0u8; 32];
    identity[0] = 1;
    issuer.publish(
        json!({"kty": "OKP", "crv": "Ed25519", "kid": "identity", "alg": "EdDSA",
        "x": URL_SAFE_NO_PAD.encode(identity)}),
    );
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(validator(&issuer).await.layer());
    let control = issuer.token().alg(Algorithm::EdDSA).sign();
    assert_eq!(send(&app, bearer("/", &control)).await.status(), 200);

    let mut universal = [0u8; 64];
    universal[..32].copy_from_slice(&identity);
    let forged = with_signature(&issuer, Algorithm::EdDSA, "identity", &universal);
    assert_eq!(send(&app, bearer("/", &forged)).await.status(), 401);
}

// Finding 17: an RSA key with e = 1 makes the "signature" equal to the padded digest itself,
// which anyone can compute.
#[tokio::test]
async fn an_rsa_key_with_exponent_one_and_its_forgery_are_refused() {
    let issuer = TestIssuer::start().await.unwrap();
    let n = [0xffu8; 256]; // odd, 2048 bits
    issuer.publish(json!({"kty": "RSA", "kid": "e1", "alg": "RS256",
        "n": URL_SAFE_NO_PAD.encode(n), "e": URL_SAFE_NO_PAD.encode([1u8])}));
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(validator(&issuer).await.layer());
    let unsigned = issuer.token().alg(Algorithm::RS256).kid("e1").unsigned();
    let signing_input = unsigned.trim_end_matches('.');
    // EMSA-PKCS1-v1_5 (RFC 8017 §9.2) of SHA-256(signing input), 256 bytes: with e = 1 it is
    // its own signature.
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, signing_input.as_bytes());
    let prefix = [
        0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
        0x05, 0x00, 0x04, 0x20,
    ];
    let mut em = vec![0x00, 0x01];
    em.resize(256 - prefix.len() - 32 - 1, 0xff);
    em.push(0x00);
    em.extend_from_slice(&prefix);
    em.extend_from_slice(digest.as_ref());
    assert_eq!(em.len(), 256);
    let forged = format!("{unsigned}{}", URL_SAFE_NO_PAD.encode(&em));
    assert_eq!(send(&app, bearer("/", &forged)).await.status(), 401);
}

#[test]
fn degenerate_public_keys_do_not_load() {
    use a2a_guard::jwk::KeySet;
    let n = URL_SAFE_NO_PAD.encode([0xffu8; 256]);
    let e = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    let rsa = |e: String| json!({"kty": "RSA", "kid": "r", "n": n, "e": e});
    // Control: 65537 loads.
    let ok = KeySet::from_value(&json!({"keys": [rsa(e(&[1, 0, 1]))]})).unwrap();
    assert_eq!(ok.len(), 1);
    for (name, exp) in [
        ("e = 1", e(&[1])),
        ("e = 0", e(&[0])),
        ("even e", e(&[1, 0, 0])),
        ("e = 2^33 + 1", e(&[2, 0, 0, 0, 1])),
        ("e = 2^64 + 1", e(&[1, 0, 0, 0, 0, 0, 0, 0, 1])),
        ("empty e", String::new()),
    ] {
        let set = KeySet::from_value(&json!({"keys": [rsa(exp)]})).unwrap();
        assert!(set.is_empty(), "{name} loaded");
    }
    // Every small-order Ed25519 encoding (libsodium's list, both sign bits, non-canonical
    // forms of 0 and 1 included).
    let mut small: Vec<[u8; 32]> = Vec::new();
    let mut p = [0u8; 32];
    small.push(p); // y = 0, order 4
    p[0] = 1;
    small.push(p); // identity
    let hex = |s: &str| -> [u8; 32] {
        let v: Vec<u8> = (0..32)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        v.try_into().unwrap()
    };
    small.push(hex(
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    ));
    small.push(hex(
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    ));
    for low in [0xec, 0xed, 0xee] {
        let mut q = [0xffu8; 32];
        q[0] = low;
        q[31] = 0x7f;
        small.push(q); // p - 1, p, p + 1
    }
    for base in small.clone() {
        let mut signed = base;
        signed[31] |= 0x80;
        small.push(signed);
    }
    for x in &small {
        let jwk =
            json!({"kty": "OKP", "crv": "Ed25519", "kid": "o", "x": URL_SAFE_NO_PAD.encode(x)});
        let set = KeySet::from_value(&json!({"keys": [jwk]})).unwrap();
        assert!(set.is_empty(), "small-order point {x:02x?} loaded");
    }
    // Control: a real key (RFC 8037 A.2) loads.
    let good = json!({"kty": "OKP", "crv": "Ed25519", "kid": "g",
        "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
    assert_eq!(
        KeySet::from_value(&json!({"keys": [good]})).unwrap().len(),
        1
    );
}

// Finding 21: a bare `*` (or `*:*`) granted by an authorization server that allows free-form
// scopes must not cover `admin` or `delete:everything:now`.
#[tokio::test]
async fn a_scope_of_only_wildcards_grants_nothing_unless_allowed() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = validator(&issuer).await;
    let routes = || {
        Router::new()
            .route(
                "/admin",
                get(|| async { "ok" }).route_layer(RequireScopes::all(["admin"])),
            )
            .route(
                "/delete",
                get(|| async { "ok" }).route_layer(RequireScopes::all(["delete:everything:now"])),
            )
            .route(
                "/read",
                get(|| async { "ok" }).route_layer(RequireScopes::all(["read:orders"])),
            )
    };
    let app = routes().layer(v.layer());
    for granted in ["*", "*:*", "*:*:*"] {
        let t = issuer.token().scope(granted).sign();
        for path in ["/admin", "/delete", "/read"] {
            assert_eq!(
                send(&app, bearer(path, &t)).await.status(),
                403,
                "{granted} on {path}"
            );
        }
    }
    // Control: a wildcard under a fixed prefix still works.
    let t = issuer.token().scope("read:*").sign();
    assert_eq!(send(&app, bearer("/read", &t)).await.status(), 200);
    assert_eq!(send(&app, bearer("/admin", &t)).await.status(), 403);
    // The explicit opt-in restores the old meaning.
    let permissive = routes().layer(
        v.layer()
            .scope_rules(ScopeRules::new().allow_wildcard_only_scopes()),
    );
    let t = issuer.token().scope("*").sign();
    assert_eq!(send(&permissive, bearer("/admin", &t)).await.status(), 200);
    let set = ScopeSet::parse("*").unwrap();
    assert!(!set.covers(&"admin".into(), &ScopeRules::new()));
}

// Finding 16: only `application/grpc` itself, `application/grpc+<codec>` and
// `application/grpc;<params>` get the gRPC rejection shape (status 200 + grpc-status).
#[tokio::test]
async fn only_real_grpc_content_types_get_grpc_rejections() {
    let issuer = TestIssuer::start().await.unwrap();
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(validator(&issuer).await.layer());
    let req = |ct: &str| {
        Request::get("/")
            .header("content-type", ct)
            .body(Body::empty())
            .unwrap()
    };
    for ct in [
        "application/grpc",
        "application/grpc+proto",
        "application/grpc;charset=utf-8",
        "application/GRPC",
    ] {
        let res = send(&app, req(ct)).await;
        assert_eq!(res.status(), 200, "{ct}");
        assert_eq!(res.headers()["grpc-status"], "16", "{ct}");
    }
    for ct in [
        "application/grpcXYZ",
        "application/grpc-web-evil",
        "application/grpcweb",
    ] {
        let res = send(&app, req(ct)).await;
        assert_eq!(res.status(), 401, "{ct}");
        assert!(res.headers().get("grpc-status").is_none(), "{ct}");
    }
}

type Events = Arc<Mutex<Vec<BTreeMap<String, String>>>>;

struct Capture(Events);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() == a2a_guard::audit::TARGET {
            let mut f = Fields(BTreeMap::new());
            event.record(&mut f);
            self.0.lock().unwrap().push(f.0);
        }
    }
}

// Finding 13: every attacker-chosen audit field is truncated, the method included (HTTP
// allows extension methods of any length).
#[tokio::test]
async fn a_huge_method_is_truncated_in_the_audit_event() {
    // A global subscriber: a thread-local one races with the other tests of this binary over
    // tracing's callsite interest cache. Events are told apart by their method.
    let events: Events = Default::default();
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(Capture(events.clone())),
    )
    .expect("the only global subscriber of this test binary");
    let issuer = TestIssuer::start().await.unwrap();
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(validator(&issuer).await.layer());
    let method = "X".repeat(60_000);
    let long_path = format!("/{}", "p".repeat(10_000));
    let req = Request::builder()
        .method(method.as_str())
        .uri(long_path.as_str())
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, req).await.status(), 401);
    let e: Vec<_> = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.get("method").is_some_and(|m| m.starts_with("XX")))
        .cloned()
        .collect();
    assert_eq!(e.len(), 1);
    for (name, value) in e[0].iter() {
        assert!(
            value.len() <= 4 * a2a_guard::audit::MAX_FIELD,
            "{name}: {} bytes",
            value.len()
        );
    }
    assert!(e[0]["method"].starts_with("XXX"));
}
