//! Error descriptions name what failed (issue 11), still without echoing token content.
#![cfg(feature = "testing")]

use a2a_guard::testing::TestIssuer;
use a2a_guard::{AuthError, Validator};
use serde_json::json;

#[derive(Clone, Debug, serde::Deserialize)]
#[allow(dead_code)]
struct TenantClaims {
    tenant: String,
    #[serde(default)]
    limits: Limits,
}

#[derive(Clone, Debug, Default, serde::Deserialize)]
#[allow(dead_code)]
struct Limits {
    #[serde(default)]
    max_amount: u64,
}

#[tokio::test]
async fn a_missing_or_mistyped_custom_claim_is_named() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
        .claims::<TenantClaims>()
        .build()
        .await
        .unwrap();
    let ok = issuer.token().claim("tenant", "acme").sign();
    assert!(v.validate(&ok).await.is_ok());

    let missing = issuer.token().sign();
    assert_eq!(
        v.validate(&missing).await.unwrap_err(),
        AuthError::MissingClaim("tenant".into())
    );
    let secret = "s3cr3t-value-never-echoed";
    let mistyped = issuer
        .token()
        .claim("tenant", json!({ "x": secret }))
        .sign();
    let err = v.validate(&mistyped).await.unwrap_err();
    assert_eq!(err, AuthError::InvalidClaim("tenant".into()));
    let deep = issuer
        .token()
        .claim("tenant", "acme")
        .claim("limits", json!({ "max_amount": secret }))
        .sign();
    let err = v.validate(&deep).await.unwrap_err();
    assert_eq!(err, AuthError::InvalidClaim("limits.max_amount".into()));
    let www = err.www_authenticate("r").unwrap();
    assert!(!www.to_str().unwrap().contains(secret));
}

#[tokio::test]
async fn structural_json_limits_say_which_limit() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
        .build()
        .await
        .unwrap();
    let mut deep = json!(1);
    for _ in 0..40 {
        deep = json!([deep]);
    }
    let t = issuer.token().claim("deep", deep).sign();
    let err = v.validate(&t).await.unwrap_err();
    assert!(err.to_string().contains("nested deeper than"), "{err}");

    let dup = issuer.token().sign_payload_bytes(
        format!(
            r#"{{"iss":"{}","aud":"{}","exp":{},"sub":"a","sub":"b"}}"#,
            issuer.issuer(),
            issuer.audience(),
            i64::MAX / 2
        )
        .as_bytes(),
    );
    let err = v.validate(&dup).await.unwrap_err();
    assert!(err.to_string().contains("duplicate member"), "{err}");
}
