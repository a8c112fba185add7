//! The validator against real signatures from `TestIssuer`: one test per rule, each of which
//! fails if the rule is removed.
#![cfg(feature = "testing")]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use a2a_guard::jwk::KeySet;
use a2a_guard::testing::{SigningKey, TestIssuer};
use a2a_guard::{Algorithm, AuthError, Validator, ValidatorBuilder};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::json;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn at(t: i64) -> impl Fn() -> SystemTime + Send + Sync + 'static {
    move || UNIX_EPOCH + Duration::from_secs(t as u64)
}

fn keys(issuer: &TestIssuer) -> KeySet {
    KeySet::from_value(&issuer.jwks()).unwrap()
}

fn builder(issuer: &TestIssuer) -> ValidatorBuilder {
    Validator::builder()
        .issuer_keys(issuer.issuer(), keys(issuer))
        .audience(issuer.audience())
}

async fn validator(issuer: &TestIssuer) -> Validator {
    builder(issuer).build().await.unwrap()
}

async fn all_algs() -> TestIssuer {
    TestIssuer::builder()
        .algorithms(Algorithm::ALL)
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn every_algorithm_verifies_with_real_signatures() {
    let issuer = all_algs().await;
    let v = validator(&issuer).await;
    for alg in Algorithm::ALL {
        let token = issuer.token().alg(alg).scope("read:data").sign();
        let p = v
            .validate(&token)
            .await
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(p.subject(), Some("agent-test"));
        assert!(p.scopes().contains("read:data"));
        // And a flipped signature bit fails for each algorithm.
        let mut sig = B64.decode(token.rsplit('.').next().unwrap()).unwrap();
        sig[0] ^= 1;
        let (hp, _) = token.rsplit_once('.').unwrap();
        let bad = format!("{hp}.{}", B64.encode(sig));
        assert_eq!(
            v.validate(&bad).await.unwrap_err(),
            AuthError::InvalidSignature,
            "{alg}"
        );
    }
}

/// jsonwebtoken 12 (with its `aws_lc_rs` backend, named in Cargo.toml) is an independent
/// oracle: it decodes the same tokens, so TestIssuer mints standard JWTs and the backend
/// choice is sound (with none or both backends it would panic here).
#[tokio::test]
async fn jsonwebtoken_agrees_on_every_algorithm() {
    let issuer = all_algs().await;
    for alg in Algorithm::ALL {
        let token = issuer.token().alg(alg).sign();
        let jwk: jsonwebtoken::jwk::Jwk =
            serde_json::from_value(issuer.signing_key(alg).public_jwk()).unwrap();
        let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
        let jalg: jsonwebtoken::Algorithm = alg.as_str().parse().unwrap();
        let mut val = jsonwebtoken::Validation::new(jalg);
        val.set_audience(&[issuer.audience()]);
        val.set_issuer(&[issuer.issuer()]);
        let data = jsonwebtoken::decode::<serde_json::Value>(&token, &key, &val).unwrap();
        assert_eq!(data.claims["sub"], "agent-test");
    }
}

#[tokio::test]
async fn tampered_payload_and_pasted_signature_fail() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = validator(&issuer).await;
    let a = issuer.token().scope("read:data").sign();
    let b = issuer.token().scope("admin").sign();
    let pa: Vec<&str> = a.split('.').collect();
    let pb: Vec<&str> = b.split('.').collect();
    let pasted = format!("{}.{}.{}", pa[0], pb[1], pa[2]);
    assert_eq!(
        v.validate(&pasted).await.unwrap_err(),
        AuthError::InvalidSignature
    );
    let stripped = format!("{}.{}.", pa[0], pa[1]);
    assert_eq!(
        v.validate(&stripped).await.unwrap_err(),
        AuthError::InvalidSignature
    );
    let truncated = format!("{}.{}.{}", pa[0], pa[1], &pa[2][..pa[2].len() - 4]);
    let e = v.validate(&truncated).await.unwrap_err();
    assert!(
        matches!(e, AuthError::InvalidSignature | AuthError::Malformed(_)),
        "{e:?}"
    );
}

#[tokio::test]
async fn none_and_symmetric_algorithms_are_refused() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = validator(&issuer).await;
    for alg in ["none", "None", "NONE", "nOnE"] {
        let t = issuer.token().header("alg", alg).unsigned();
        assert_eq!(
            v.validate(&t).await.unwrap_err(),
            AuthError::DisallowedAlgorithm,
            "{alg}"
        );
    }
    // Algorithm confusion: HS256 keyed with the RSA public key's bytes.
    let jwk = issuer.signing_key(Algorithm::RS256).public_jwk();
    let secret = jwk["n"].as_str().unwrap().as_bytes().to_vec();
    let t = issuer.token().header("alg", "HS256").unsigned();
    let input = t.trim_end_matches('.');
    let tag = aws_lc_rs::hmac::sign(
        &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret),
        input.as_bytes(),
    );
    let forged = format!("{input}.{}", B64.encode(tag.as_ref()));
    assert_eq!(
        v.validate(&forged).await.unwrap_err(),
        AuthError::DisallowedAlgorithm
    );
}

#[tokio::test]
async fn allow_list_is_enforced_across_families() {
    let issuer = all_algs().await;
    let v = builder(&issuer)
        .algorithms([Algorithm::ES256, Algorithm::EdDSA])
        .build()
        .await
        .unwrap();
    assert!(
        v.validate(&issuer.token().alg(Algorithm::ES256).sign())
            .await
            .is_ok()
    );
    assert!(
        v.validate(&issuer.token().alg(Algorithm::EdDSA).sign())
            .await
            .is_ok()
    );
    assert_eq!(
        v.validate(&issuer.token().alg(Algorithm::RS256).sign())
            .await
            .unwrap_err(),
        AuthError::DisallowedAlgorithm
    );
}

#[tokio::test]
async fn a_key_is_bound_to_its_jwk_alg_and_type() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = validator(&issuer).await;
    let rsa = issuer.signing_key(Algorithm::RS256);
    // Same RSA key, PS256 signature, while its JWK says RS256: never used.
    let t = issuer.token().header("alg", "PS256").unsigned();
    let input = t.trim_end_matches('.');
    let sig = rsa.sign_as(Algorithm::PS256, input.as_bytes()).unwrap();
    let t = format!("{input}.{}", B64.encode(sig));
    assert_eq!(v.validate(&t).await.unwrap_err(), AuthError::UnknownKey);
    // An ES256 header naming the RSA key's kid: the key type cannot do ES256.
    let t = issuer.token().alg(Algorithm::ES256).kid(rsa.kid()).sign();
    assert_eq!(v.validate(&t).await.unwrap_err(), AuthError::UnknownKey);
}

#[tokio::test]
async fn embedded_keys_and_key_urls_are_never_trusted() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = validator(&issuer).await;
    let attacker = SigningKey::generate(Algorithm::RS256);
    let real_kid = issuer.signing_key(Algorithm::RS256).kid().to_owned();
    for (name, value) in [
        ("jwk", attacker.public_jwk()),
        ("jku", json!("https://127.0.0.1:1/jwks.json")),
        ("x5u", json!("https://127.0.0.1:1/cert.pem")),
        (
            "x5c",
            json!(["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]),
        ),
    ] {
        let own_kid = issuer
            .token()
            .signing_key(&attacker)
            .header(name, value.clone())
            .sign();
        assert_eq!(
            v.validate(&own_kid).await.unwrap_err(),
            AuthError::UnknownKey,
            "{name}"
        );
        let real = issuer
            .token()
            .signing_key(&attacker)
            .kid(&real_kid)
            .header(name, value)
            .sign();
        assert_eq!(
            v.validate(&real).await.unwrap_err(),
            AuthError::InvalidSignature,
            "{name}"
        );
    }
}

#[tokio::test]
async fn crit_and_nested_tokens_are_refused() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = validator(&issuer).await;
    let t = issuer
        .token()
        .header("crit", json!(["exp"]))
        .header("exp", 1)
        .sign();
    assert!(matches!(
        v.validate(&t).await.unwrap_err(),
        AuthError::UnsupportedHeader(_)
    ));
    let t = issuer.token().header("cty", "JWT").sign();
    assert!(matches!(
        v.validate(&t).await.unwrap_err(),
        AuthError::UnsupportedHeader(_)
    ));
}

#[tokio::test]
async fn typ_is_explicit() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = validator(&issuer).await;
    assert!(
        v.validate(&issuer.token().typ("application/at+jwt").sign())
            .await
            .is_ok()
    );
    assert!(
        v.validate(&issuer.token().typ("AT+JWT").sign())
            .await
            .is_ok()
    );
    for typ in ["JWT", "id_token+jwt", "refresh+jwt", "dpop+jwt"] {
        assert_eq!(
            v.validate(&issuer.token().typ(typ).sign())
                .await
                .unwrap_err(),
            AuthError::WrongType,
            "{typ}"
        );
    }
    assert_eq!(
        v.validate(&issuer.token().no_typ().sign())
            .await
            .unwrap_err(),
        AuthError::WrongType
    );
    let lenient = builder(&issuer)
        .accept_typ("JWT")
        .allow_missing_typ()
        .build()
        .await
        .unwrap();
    assert!(
        lenient
            .validate(&issuer.token().typ("JWT").sign())
            .await
            .is_ok()
    );
    assert!(
        lenient
            .validate(&issuer.token().no_typ().sign())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn issuer_must_match_byte_for_byte() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = validator(&issuer).await;
    let base = issuer.issuer();
    for lookalike in [
        format!("{base}/"),
        base.to_uppercase(),
        base.replace("127.0.0.1", "127.0.0.l"),
        base.replace('1', "\u{0661}"),
    ] {
        let t = issuer.token().issuer(lookalike.clone()).sign();
        assert_eq!(
            v.validate(&t).await.unwrap_err(),
            AuthError::WrongIssuer,
            "{lookalike}"
        );
    }
    let t = issuer.token().remove_claim("iss").sign();
    assert_eq!(
        v.validate(&t).await.unwrap_err(),
        AuthError::MissingClaim("iss".into())
    );
    let t = issuer.token().claim("iss", 5).sign();
    assert_eq!(
        v.validate(&t).await.unwrap_err(),
        AuthError::InvalidClaim("iss".into())
    );
}

#[tokio::test]
async fn each_issuer_has_its_own_keys() {
    let a = TestIssuer::start().await.unwrap();
    let b = TestIssuer::builder()
        .audience(a.audience())
        .start()
        .await
        .unwrap();
    let v = Validator::builder()
        .issuer_keys(a.issuer(), keys(&a))
        .issuer_keys(b.issuer(), keys(&b))
        .audience(a.audience())
        .build()
        .await
        .unwrap();
    assert!(v.validate(&a.token().sign()).await.is_ok());
    assert!(v.validate(&b.token().sign()).await.is_ok());
    // B's key signing a token that claims to be from A: A's keys do not know B's kid.
    let forged = b.token().issuer(a.issuer()).sign();
    assert_eq!(
        v.validate(&forged).await.unwrap_err(),
        AuthError::UnknownKey
    );
    let forged = b
        .token()
        .issuer(a.issuer())
        .kid(a.signing_key(Algorithm::RS256).kid())
        .sign();
    assert_eq!(
        v.validate(&forged).await.unwrap_err(),
        AuthError::InvalidSignature
    );
}

#[tokio::test]
async fn audience_checks() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = validator(&issuer).await;
    let aud = issuer.audience().to_owned();
    assert!(
        v.validate(&issuer.token().audience(json!(["other", aud])).sign())
            .await
            .is_ok()
    );
    assert_eq!(
        v.validate(&issuer.token().audience("other").sign())
            .await
            .unwrap_err(),
        AuthError::WrongAudience
    );
    assert_eq!(
        v.validate(&issuer.token().audience(json!(["x", "y"])).sign())
            .await
            .unwrap_err(),
        AuthError::WrongAudience
    );
    assert_eq!(
        v.validate(&issuer.token().audience(json!([])).sign())
            .await
            .unwrap_err(),
        AuthError::WrongAudience
    );
    assert_eq!(
        v.validate(&issuer.token().remove_claim("aud").sign())
            .await
            .unwrap_err(),
        AuthError::MissingClaim("aud".into())
    );
    assert!(
        Validator::builder()
            .issuer_keys(issuer.issuer(), keys(&issuer))
            .build()
            .await
            .is_err(),
        "audience is mandatory"
    );
}

#[tokio::test]
async fn time_claims_at_the_leeway_edges() {
    let issuer = TestIssuer::start().await.unwrap();
    let t0 = now();
    let v = builder(&issuer)
        .clock(at(t0))
        .leeway(Duration::from_secs(30))
        .build()
        .await
        .unwrap();
    let tok = |iat: i64, exp: i64| issuer.token().issued_at(iat).expires_at(exp);
    // exp: usable strictly before exp + leeway.
    assert!(v.validate(&tok(t0 - 600, t0 - 29).sign()).await.is_ok());
    assert_eq!(
        v.validate(&tok(t0 - 600, t0 - 30).sign())
            .await
            .unwrap_err(),
        AuthError::Expired
    );
    assert_eq!(
        v.validate(&tok(t0 - 600, t0 - 31).sign())
            .await
            .unwrap_err(),
        AuthError::Expired
    );
    assert_eq!(
        v.validate(&issuer.token().remove_claim("exp").sign())
            .await
            .unwrap_err(),
        AuthError::MissingClaim("exp".into())
    );
    // nbf: accepted up to leeway early.
    assert!(
        v.validate(&tok(t0, t0 + 300).not_before(t0 + 30).sign())
            .await
            .is_ok()
    );
    assert_eq!(
        v.validate(&tok(t0, t0 + 300).not_before(t0 + 31).sign())
            .await
            .unwrap_err(),
        AuthError::NotYetValid
    );
    // iat in the future beyond leeway.
    assert!(v.validate(&tok(t0 + 30, t0 + 300).sign()).await.is_ok());
    assert_eq!(
        v.validate(&tok(t0 + 31, t0 + 300).sign())
            .await
            .unwrap_err(),
        AuthError::IssuedInFuture
    );
    // Wrong types.
    let t = issuer.token().claim("exp", "tomorrow").sign();
    assert!(matches!(
        v.validate(&t).await.unwrap_err(),
        AuthError::InvalidClaim(_)
    ));
    // Leeway is capped.
    assert!(
        builder(&issuer)
            .leeway(Duration::from_secs(301))
            .build()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn lifetime_cap() {
    let issuer = TestIssuer::start().await.unwrap();
    let t0 = now();
    let v = builder(&issuer)
        .clock(at(t0))
        .max_token_lifetime(Duration::from_secs(900))
        .build()
        .await
        .unwrap();
    assert!(
        v.validate(&issuer.token().issued_at(t0).expires_at(t0 + 900).sign())
            .await
            .is_ok()
    );
    assert_eq!(
        v.validate(&issuer.token().issued_at(t0).expires_at(t0 + 901).sign())
            .await
            .unwrap_err(),
        AuthError::LifetimeTooLong
    );
    assert_eq!(
        v.validate(&issuer.token().remove_claim("iat").sign())
            .await
            .unwrap_err(),
        AuthError::MissingClaim("iat".into())
    );
}

#[tokio::test]
async fn required_claims() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = builder(&issuer)
        .require_claim("jti")
        .require_claim("client_id")
        .build()
        .await
        .unwrap();
    assert!(v.validate(&issuer.token().sign()).await.is_ok());
    assert_eq!(
        v.validate(&issuer.token().remove_claim("jti").sign())
            .await
            .unwrap_err(),
        AuthError::MissingClaim("jti".into())
    );
    assert_eq!(
        v.validate(
            &issuer
                .token()
                .claim("client_id", serde_json::Value::Null)
                .sign()
        )
        .await
        .unwrap_err(),
        AuthError::MissingClaim("client_id".into())
    );
}

#[tokio::test]
async fn size_cap_and_malformed_tokens() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = builder(&issuer).max_token_size(2048).build().await.unwrap();
    let big = issuer.token().claim("pad", "x".repeat(4096)).sign();
    assert_eq!(
        v.validate(&big).await.unwrap_err(),
        AuthError::TokenTooLarge { limit: 2048 }
    );
    let good = issuer.token().sign();
    let parts: Vec<&str> = good.split('.').collect();
    let cases = [
        String::new(),
        "abc".into(),
        "a.b".into(),
        format!("{}.{}.{}.x.y", parts[0], parts[1], parts[2]),
        format!("{}.{}.{}.", parts[0], parts[1], parts[2]),
        format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
        format!("!!.{}.{}", parts[1], parts[2]),
        format!("{}.{}.{}", B64.encode("not json"), parts[1], parts[2]),
        format!("{}.{}.{}", parts[0], B64.encode("[1,2]"), parts[2]),
        format!(
            "{}.{}.{}",
            parts[0],
            B64.encode([0xff, 0xfe, 0x00]),
            parts[2]
        ),
    ];
    for c in cases {
        assert!(
            matches!(v.validate(&c).await.unwrap_err(), AuthError::Malformed(_)),
            "{c}"
        );
    }
}

#[tokio::test]
async fn duplicate_claims_and_non_utf8_payloads_are_malformed() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = validator(&issuer).await;
    let exp = now() + 300;
    let dup = format!(
        r#"{{"iss":"{}","aud":"{}","exp":{exp},"sub":"a","sub":"admin"}}"#,
        issuer.issuer(),
        issuer.audience()
    );
    let t = issuer.token().sign_payload_bytes(dup.as_bytes());
    assert!(matches!(
        v.validate(&t).await.unwrap_err(),
        AuthError::Malformed(_)
    ));
    let mut bytes = dup.replace(r#","sub":"admin""#, "").into_bytes();
    let ok = issuer.token().sign_payload_bytes(&bytes);
    assert!(
        v.validate(&ok).await.is_ok(),
        "the same payload without the duplicate passes"
    );
    bytes.insert(bytes.len() - 1, b' ');
    let n = bytes.len();
    bytes[n - 2] = 0xff;
    let t = issuer.token().sign_payload_bytes(&bytes);
    assert!(matches!(
        v.validate(&t).await.unwrap_err(),
        AuthError::Malformed(_)
    ));
}

#[tokio::test]
async fn small_rsa_keys_are_never_used() {
    let issuer = TestIssuer::start().await.unwrap();
    let Ok(weak) = SigningKey::generate_rsa(Algorithm::RS256, 1024) else {
        return;
    };
    issuer.install_key(weak.clone());
    let v = validator(&issuer).await;
    let t = issuer.token().signing_key(&weak).sign();
    assert_eq!(v.validate(&t).await.unwrap_err(), AuthError::UnknownKey);
}

#[tokio::test]
async fn ecdsa_zero_signature_is_refused() {
    // CVE-2022-21449 ("psychic signatures"): r = s = 0 must never verify.
    let issuer = TestIssuer::builder()
        .algorithms([Algorithm::ES256])
        .start()
        .await
        .unwrap();
    let v = validator(&issuer).await;
    let t = issuer.token().alg(Algorithm::ES256).unsigned();
    let forged = format!("{}{}", t, B64.encode([0u8; 64]));
    assert_eq!(
        v.validate(&forged).await.unwrap_err(),
        AuthError::InvalidSignature
    );
}

#[tokio::test]
async fn custom_claims_and_scope_forms() {
    #[derive(Debug, Clone, serde::Deserialize)]
    struct Tenant {
        tenant: String,
    }
    let issuer = TestIssuer::start().await.unwrap();
    let v = builder(&issuer).claims::<Tenant>().build().await.unwrap();
    let p = v
        .validate(
            &issuer
                .token()
                .claim("tenant", "acme")
                .claim("scp", ["a:b", "c"])
                .sign(),
        )
        .await
        .unwrap();
    assert_eq!(p.claims().tenant, "acme");
    assert!(p.scopes().contains("a:b") && p.scopes().contains("c"));
    // The error names the custom claim that is missing (issue 11).
    assert_eq!(
        v.validate(&issuer.token().sign()).await.unwrap_err(),
        AuthError::MissingClaim("tenant".into())
    );
    let v = builder(&issuer)
        .scope_claim("permissions")
        .build()
        .await
        .unwrap();
    let p = v
        .validate(
            &issuer
                .token()
                .claim("permissions", ["x:y"])
                .scope("ignored")
                .sign(),
        )
        .await
        .unwrap();
    assert!(p.scopes().contains("x:y") && !p.scopes().contains("ignored"));
    let bad = issuer.token().scope("ok bad\"scope").sign();
    assert!(matches!(
        validator(&issuer).await.validate(&bad).await.unwrap_err(),
        AuthError::InvalidClaim(_)
    ));
}

#[tokio::test]
async fn temporal_scopes_restrict_the_token() {
    let issuer = TestIssuer::start().await.unwrap();
    let t0 = now();
    let v = builder(&issuer)
        .clock(at(t0))
        .leeway(Duration::ZERO)
        .build()
        .await
        .unwrap();
    let tok = |iat: i64, scope: &str| {
        issuer
            .token()
            .issued_at(iat)
            .expires_at(t0 + 600)
            .scope(scope)
            .sign()
    };
    assert!(
        v.validate(&tok(t0 - 1799, "read:data temporal:30min"))
            .await
            .is_ok()
    );
    assert!(matches!(
        v.validate(&tok(t0 - 1800, "read:data temporal:30min"))
            .await
            .unwrap_err(),
        AuthError::TemporalScope(_)
    ));
    assert!(matches!(
        v.validate(&tok(t0, "temporal:30m")).await.unwrap_err(),
        AuthError::TemporalScope(_)
    ));
    assert!(matches!(
        v.validate(&tok(t0, "temporal:business-hours"))
            .await
            .unwrap_err(),
        AuthError::TemporalScope(_)
    ));
    // Business hours in a zone: Mon-Sun all day except the current hour's window is checked.
    let always: a2a_guard::scope::BusinessHours = "Mon-Sun 00:00-23:59 UTC".parse().unwrap();
    let v = builder(&issuer)
        .clock(at(1_764_320_400))
        .business_hours(always)
        .build()
        .await
        .unwrap(); // 2025-11-28 09:00Z
    assert!(
        v.validate(
            &issuer
                .token()
                .issued_at(1_764_320_000)
                .expires_at(1_764_320_700)
                .scope("temporal:business-hours")
                .sign()
        )
        .await
        .is_ok()
    );
    let weekdays: a2a_guard::scope::BusinessHours = "Mon-Thu 09:00-17:00 UTC".parse().unwrap(); // a Friday
    let v = builder(&issuer)
        .clock(at(1_764_320_400))
        .business_hours(weekdays)
        .build()
        .await
        .unwrap();
    assert!(matches!(
        v.validate(
            &issuer
                .token()
                .issued_at(1_764_320_000)
                .expires_at(1_764_320_700)
                .scope("temporal:business-hours")
                .sign()
        )
        .await
        .unwrap_err(),
        AuthError::TemporalScope(_)
    ));
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn arbitrary_tokens_give_typed_errors(h in "[A-Za-z0-9_=+/-]{0,60}", p in "[A-Za-z0-9_-]{0,200}", s in "[A-Za-z0-9_-]{0,90}", dots in 0usize..5) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let keys = KeySet::from_json(br#"{"keys":[]}"#).unwrap();
                let v = Validator::builder().issuer_keys("https://i", keys).audience("a").build().await.unwrap();
                let token = [h.as_str(), p.as_str(), s.as_str(), "x", "y"][..dots.min(4) + 1].join(".");
                prop_assert!(v.validate(&token).await.is_err());
                Ok(())
            })?;
        }

        #[test]
        fn arbitrary_json_payloads_give_typed_errors(json in "\\{(\"[a-z]{1,4}\":(\"[a-z]*\"|[0-9]{1,20}|null|true|\\[\\]|\\{\\}),?){0,6}\\}") {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let keys = KeySet::from_json(br#"{"keys":[]}"#).unwrap();
                let v = Validator::builder().issuer_keys("https://i", keys).audience("a").build().await.unwrap();
                let token = format!("{}.{}.AAAA", B64.encode(r#"{"alg":"RS256","typ":"at+jwt"}"#), B64.encode(&json));
                prop_assert!(v.validate(&token).await.is_err());
                Ok(())
            })?;
        }
    }
}
