//! Token parsing and validator hardening (issue 10, items 5, 7, 11, 18): what a forged token
//! may hold while it waits, the node cap, the byte-bounded verified-token cache, `cnf`
//! members the verifier does not understand, and the cap on keys tried without a `kid`.
//!
//! Memory is measured with a counting global allocator that counts per thread: the tests
//! that read it run on a current-thread runtime, so every task they start allocates on the
//! test's own thread, and other tests running in parallel do not disturb the figure.
#![cfg(feature = "testing")]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use a2a_guard::jwk::KeySet;
use a2a_guard::testing::{Behavior, SigningKey, TestIssuer};
use a2a_guard::{Algorithm, AuthError, Validator};
use common::within;
use serde_json::{Value, json};

thread_local! {
    /// Bytes allocated minus bytes freed on this thread.
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

struct Counting;

// SAFETY: delegates to the system allocator; only adds up sizes in a const-initialised
// thread-local `Cell` (no allocation, no destructor, so no re-entrancy).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let _ = LIVE.try_with(|c| c.set(c.get() + l.size() as isize));
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        let _ = LIVE.try_with(|c| c.set(c.get() - l.size() as isize));
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn live() -> isize {
    LIVE.with(Cell::get)
}

/// A claim that makes a tree far larger than its JSON: one small object per 8 bytes.
fn heavy_claim(objects: usize) -> Value {
    Value::Array((0..objects).map(|_| json!({"a": 0})).collect())
}

const HANG: Duration = Duration::from_secs(60);

// Item 5: before the signature is verified nothing derived from the payload is held across
// the key lookup. Today's code kept the whole payload tree (~35-60x the token) alive while
// a kid-miss fetch hangs.
#[tokio::test]
async fn forged_tokens_waiting_on_a_hanging_issuer_hold_no_payload() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
        .fetch_timeouts(HANG, HANG)
        .build()
        .await
        .unwrap();
    assert!(v.validate(&issuer.token().sign()).await.is_ok());
    issuer.set_jwks_behavior(Behavior::Hang);
    let fetches = issuer.jwks_fetches();
    // 100 forged ~14 KB tokens with unknown kids (real signatures from an unpublished key).
    let forger = SigningKey::generate(Algorithm::ES256);
    let tokens: Vec<String> = (0..100)
        .map(|i| {
            issuer
                .token()
                .signing_key(&forger)
                .kid(format!("forged-{i}"))
                .claim("pad", heavy_claim(1_200))
                .sign()
        })
        .collect();
    assert!(tokens.iter().all(|t| (13_000..16_000).contains(&t.len())));
    let token_bytes: usize = tokens.iter().map(String::len).sum();
    let before = live();
    let mut tasks = tokio::task::JoinSet::new();
    for t in tokens {
        let v = v.clone();
        tasks.spawn(async move { v.validate(&t).await.map(drop) });
    }
    // Every task runs up to the kid-miss fetch, which the issuer received and never answers.
    within(HANG, async {
        while issuer.jwks_fetches() == fetches {
            tokio::task::yield_now().await;
        }
    })
    .await;
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert_eq!(tasks.len(), 100, "all still waiting on the hanging issuer");
    let held = live() - before;
    eprintln!("100 waiting forged tokens ({token_bytes} bytes): {held} bytes held");
    assert!(
        held < 5 * token_bytes as isize,
        "{held} bytes held by 100 waiting forged tokens of {token_bytes} bytes in all"
    );
    tasks.abort_all();
}

// Item 5: the JSON node count is capped (trees are bounded whatever `max_token_size` is).
#[tokio::test]
async fn payload_node_count_is_capped() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = Validator::builder()
        .issuer_keys(issuer.issuer(), KeySet::from_value(&issuer.jwks()).unwrap())
        .audience(issuer.audience())
        .max_token_size(256 * 1024)
        .build()
        .await
        .unwrap();
    let many = issuer.token().claim("pad", vec![0u8; 20_000]).sign();
    assert!(matches!(
        v.validate(&many).await.unwrap_err(),
        AuthError::Malformed(_)
    ));
    let fine = issuer.token().claim("pad", vec![0u8; 9_000]).sign();
    assert!(v.validate(&fine).await.is_ok());
}

// Item 5: the single-pass parser keeps every strictness rule of the tree it replaced.
#[tokio::test]
async fn strictness_survives_the_single_pass_parser() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = Validator::builder()
        .issuer_keys(issuer.issuer(), KeySet::from_value(&issuer.jwks()).unwrap())
        .audience(issuer.audience())
        .build()
        .await
        .unwrap();
    let claims = issuer.token().claims().clone();
    let iss = claims["iss"].as_str().unwrap().to_owned();
    let aud = claims["aud"].as_str().unwrap().to_owned();
    let exp = claims["exp"].as_i64().unwrap();
    let body =
        |extra: &str| format!(r#"{{"iss":"{iss}","aud":"{aud}","exp":{exp}{extra}}}"#).into_bytes();
    let sign = |payload: Vec<u8>| issuer.token().sign_payload_bytes(&payload);
    assert!(v.validate(&sign(body(""))).await.is_ok());
    let deep = "[".repeat(40) + &"]".repeat(40);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("duplicate iss", body(&format!(r#","iss":"{iss}""#))),
        ("duplicate exp", body(&format!(r#","exp":{exp}"#))),
        ("duplicate unknown member", body(r#","x":1,"x":2"#)),
        ("duplicate at depth", body(r#","x":[{"y":{"z":1,"z":1}}]"#)),
        (
            "duplicate in act",
            body(r#","act":{"sub":"a","q":1,"q":2}"#),
        ),
        ("escaped duplicate", body(r#","x":1,"\u0078":2"#)),
        ("too deep", body(&format!(r#","x":{deep}"#))),
        ("trailing bytes", [body(""), b" x".to_vec()].concat()),
        ("not an object", b"[1]".to_vec()),
        ("not UTF-8", b"{\"iss\":\"\xff\"}".to_vec()),
    ];
    for (what, payload) in cases {
        assert!(
            matches!(
                v.validate(&sign(payload)).await.unwrap_err(),
                AuthError::Malformed(_)
            ),
            "{what}"
        );
    }
    let typed = [
        (r#""iss":5"#, AuthError::InvalidClaim("iss".into())),
        (r#""iss":null"#, AuthError::InvalidClaim("iss".into())),
    ];
    for (member, want) in typed {
        let payload = format!(r#"{{{member},"aud":"{aud}","exp":{exp}}}"#);
        assert_eq!(
            v.validate(&sign(payload.into_bytes())).await.unwrap_err(),
            want
        );
    }
    let missing = format!(r#"{{"aud":"{aud}","exp":{exp}}}"#);
    assert_eq!(
        v.validate(&sign(missing.into_bytes())).await.unwrap_err(),
        AuthError::MissingClaim("iss".into())
    );
    // Typed custom claims are read straight from the payload, still strictly.
    #[derive(Debug, Clone, serde::Deserialize)]
    struct Tenant {
        tenant: String,
    }
    let t = Validator::builder()
        .issuer_keys(issuer.issuer(), KeySet::from_value(&issuer.jwks()).unwrap())
        .audience(issuer.audience())
        .claims::<Tenant>()
        .require_claim("tenant")
        .scope_claim("perms")
        .build()
        .await
        .unwrap();
    let ok = t
        .validate(&sign(body(r#","tenant":"acme","perms":["read:x"]"#)))
        .await
        .unwrap();
    assert_eq!(ok.claims().tenant, "acme");
    assert!(ok.scopes().contains("read:x"));
    assert!(matches!(
        t.validate(&sign(body(r#","tenant":"acme","z":{"a":1,"a":1}"#)))
            .await
            .unwrap_err(),
        AuthError::Malformed(_)
    ));
    assert_eq!(
        t.validate(&sign(body(r#","tenant":null"#)))
            .await
            .unwrap_err(),
        AuthError::MissingClaim("tenant".into())
    );
    assert_eq!(
        t.validate(&sign(body(r#","tenant":"acme","perms":[1]"#)))
            .await
            .unwrap_err(),
        AuthError::InvalidClaim("perms".into())
    );
}

// Item 11: a `cnf` with no confirmation member this verifier understands fails closed.
#[tokio::test]
async fn cnf_without_an_understood_member_fails_closed() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = Validator::builder()
        .issuer_keys(issuer.issuer(), KeySet::from_value(&issuer.jwks()).unwrap())
        .audience(issuer.audience())
        .build()
        .await
        .unwrap();
    let unknown = [
        json!({"jwk": {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}}),
        json!({"kid": "dpop-key-1"}),
        json!({"jku": "https://client.example.com/jwks"}),
        json!({"X5T#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}),
        json!({"JKT": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}),
        json!({}),
    ];
    for cnf in unknown {
        let err = v
            .validate(&issuer.token().claim("cnf", &cnf).sign())
            .await
            .unwrap_err();
        assert_eq!(err, AuthError::InvalidClaim("cnf".into()), "{cnf}");
        assert_eq!(err.status(), 401);
        assert_eq!(err.error_code(), Some("invalid_token"));
    }
    for cnf in [json!("jkt"), json!(5), json!(["jkt"]), Value::Null] {
        let err = v
            .validate(&issuer.token().claim("cnf", &cnf).sign())
            .await
            .unwrap_err();
        assert_eq!(err, AuthError::InvalidClaim("cnf".into()), "{cnf}");
    }
    // An understood member binds the token, whatever else `cnf` carries.
    let bound = json!({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I", "jwk": {}});
    let p = v
        .validate(&issuer.token().claim("cnf", &bound).sign())
        .await
        .unwrap();
    assert!(p.registered().cnf.as_ref().unwrap().jkt.is_some());
}

/// A JWK without its `kid`.
fn anonymous(key: &SigningKey) -> Value {
    let mut jwk = key.public_jwk();
    jwk.as_object_mut().unwrap().remove("kid");
    jwk
}

// Item 18: without a `kid`, only keys that fit the algorithm are tried, and at most a few.
#[tokio::test]
async fn without_kid_only_a_few_fitting_keys_are_tried() {
    const CAP: usize = a2a_guard::jwk::MAX_KEYS_TRIED;
    assert_eq!(CAP, 4);
    let issuer = TestIssuer::start().await.unwrap();
    let ed: Vec<SigningKey> = (0..6)
        .map(|_| SigningKey::generate(Algorithm::EdDSA))
        .collect();
    let ec: Vec<SigningKey> = (0..CAP + 2)
        .map(|_| SigningKey::generate(Algorithm::ES256))
        .collect();
    // Keys of another type come first: they do not count against the cap.
    let jwks = json!({"keys": ed.iter().chain(&ec).map(anonymous).collect::<Vec<_>>()});
    let v = Validator::builder()
        .issuer_keys(issuer.issuer(), KeySet::from_value(&jwks).unwrap())
        .audience(issuer.audience())
        .build()
        .await
        .unwrap();
    let signed_by = |k: &SigningKey| issuer.token().signing_key(k).no_kid().sign();
    for k in &ec[..CAP] {
        assert!(v.validate(&signed_by(k)).await.is_ok());
    }
    // The cap applies per algorithm: the EdDSA keys have their own first four.
    assert!(v.validate(&signed_by(&ed[CAP - 1])).await.is_ok());
    assert_eq!(
        v.validate(&signed_by(&ed[CAP])).await.unwrap_err(),
        AuthError::InvalidSignature
    );
    for k in &ec[CAP..] {
        assert_eq!(
            v.validate(&signed_by(k)).await.unwrap_err(),
            AuthError::InvalidSignature
        );
    }
}

// Item 7: the verified-token cache is bounded by bytes, not by entries.
#[tokio::test]
async fn token_cache_is_bounded_by_bytes() {
    const BUDGET: u64 = 1024 * 1024;
    let issuer = TestIssuer::builder()
        .algorithms([Algorithm::ES256])
        .start()
        .await
        .unwrap();
    let v = Validator::builder()
        .issuer_keys(issuer.issuer(), KeySet::from_value(&issuer.jwks()).unwrap())
        .audience(issuer.audience())
        .token_cache_bytes(BUDGET)
        .build()
        .await
        .unwrap();
    let tokens: Vec<String> = (0..150)
        .map(|i| {
            issuer
                .token()
                .alg(Algorithm::ES256)
                .subject(format!("agent-{i}"))
                .claim("pad", heavy_claim(1_200))
                .sign()
        })
        .collect();
    let token_bytes: usize = tokens.iter().map(String::len).sum();
    let before = live();
    for t in &tokens {
        drop(v.validate(t).await.unwrap());
        assert!(v.validate(t).await.is_ok());
    }
    // Cache hits feed moka's housekeeping, which applies pending inserts and evictions
    // every 64 operations (or when its own timer says so, which a loaded machine can
    // delay); after enough of them the cache holds what its budget allows. Without the
    // byte bound it never gets there, whatever the number of rounds.
    let mut held = isize::MAX;
    for _ in 0..20 {
        for _ in 0..300 {
            assert!(v.validate(&tokens[0]).await.is_ok());
        }
        held = live() - before;
        if held < 3 * BUDGET as isize {
            break;
        }
        tokio::task::yield_now().await;
    }
    eprintln!("150 cached heavy tokens ({token_bytes} bytes): {held} bytes held");
    assert!(
        held < 3 * BUDGET as isize,
        "{held} bytes held for 150 cached tokens of {token_bytes} bytes in all"
    );
}
