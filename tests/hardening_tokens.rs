//! Token parsing and validator hardening (issue 10, items 5, 11, 18): the node cap,
//! strictness, `cnf` members the verifier does not understand, and the cap on keys tried
//! without a `kid`. What a waiting forged token holds and the byte bound of the
//! verified-token cache (items 5 and 7) are measured in `tests/memory.rs`.
#![cfg(feature = "testing")]

mod common;

use a2a_guard::jwk::KeySet;
use a2a_guard::testing::{SigningKey, TestIssuer};
use a2a_guard::{Algorithm, AuthError, Validator};
use serde_json::{Value, json};

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
