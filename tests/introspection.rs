//! RFC 7662 introspection (issue 14) against `TestIssuer`'s introspection endpoint over
//! loopback HTTP: opaque tokens accepted with their claims checked like a JWT's, `active:
//! false` → 401, answers cached (TTL on a manual clock), JWT re-checks, fail closed by default
//! and fail-open only when chosen (and counted).
#![cfg(all(feature = "testing", feature = "client"))]

mod common;

use std::time::Duration;

use a2a_guard::client::{ClientCredentials, Secret};
use a2a_guard::testing::{Behavior, TestIssuer};
use a2a_guard::{AuthError, Introspection, Validator};
use common::ManualClock;

async fn issuer() -> TestIssuer {
    TestIssuer::builder()
        .client("payments-api", "s3cret")
        .start()
        .await
        .unwrap()
}

fn introspection(issuer: &TestIssuer) -> Introspection {
    Introspection::new(
        issuer.issuer(),
        ClientCredentials::new(issuer.introspection_url(), "payments-api")
            .secret(Secret::new("s3cret")),
    )
}

async fn validator(issuer: &TestIssuer, i: Introspection, clock: &ManualClock) -> Validator {
    Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
        .introspection(i)
        .clock(clock.as_clock())
        .build()
        .await
        .unwrap()
}

#[tokio::test]
async fn opaque_tokens_are_introspected_and_their_claims_checked() {
    let issuer = issuer().await;
    let clock = ManualClock::now_real();
    let v = validator(&issuer, introspection(&issuer), &clock).await;
    let opaque = issuer.opaque_token(issuer.token().subject("billing-agent").scope("read:data"));
    let p = v.validate(&opaque).await.unwrap();
    assert_eq!(p.subject(), Some("billing-agent"));
    assert!(p.scopes().to_string().contains("read:data"));
    // The same claim rules as a JWT: another audience is refused.
    let elsewhere = issuer.opaque_token(issuer.token().audience("someone-else"));
    assert_eq!(
        v.validate(&elsewhere).await.unwrap_err(),
        AuthError::WrongAudience
    );
    // Unknown to the server: inactive.
    assert_eq!(
        v.validate("opaque-never-issued").await.unwrap_err(),
        AuthError::Inactive
    );
}

#[tokio::test]
async fn answers_are_cached_until_the_ttl_then_asked_again() {
    let issuer = issuer().await;
    let clock = ManualClock::now_real();
    let v = validator(
        &issuer,
        introspection(&issuer).cache_ttl(Duration::from_secs(30)),
        &clock,
    )
    .await;
    let opaque = issuer.opaque_token(issuer.token());
    for _ in 0..5 {
        v.validate(&opaque).await.unwrap();
    }
    assert_eq!(issuer.introspection_requests(), 1);
    // Revoked at the server: still accepted from the cache within the TTL — the documented
    // window — and refused once it is over.
    issuer.deactivate(&opaque);
    v.validate(&opaque).await.unwrap();
    assert_eq!(issuer.introspection_requests(), 1);
    // The cache's expiry runs on real time: a short TTL shows the answer asked again.
    let short = validator(
        &issuer,
        introspection(&issuer).cache_ttl(Duration::from_millis(200)),
        &clock,
    )
    .await;
    let again = issuer.opaque_token(issuer.token());
    short.validate(&again).await.unwrap();
    issuer.deactivate(&again);
    common::within(Duration::from_secs(5), async {
        while short.validate(&again).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert_eq!(
        short.validate(&again).await.unwrap_err(),
        AuthError::Inactive
    );
}

#[tokio::test]
async fn jwts_are_rechecked_when_asked_and_the_endpoint_down_fails_closed() {
    let issuer = issuer().await;
    let clock = ManualClock::now_real();
    let v = validator(&issuer, introspection(&issuer).recheck_jwts(), &clock).await;
    let jwt = issuer.token().claim("jti", "pay-1").sign();
    v.validate(&jwt).await.unwrap();
    assert_eq!(issuer.introspection_requests(), 1);

    issuer.set_introspection_behavior(Behavior::Status(500));
    let other = issuer.token().claim("jti", "pay-2").sign();
    let err = v.validate(&other).await.unwrap_err();
    assert!(
        matches!(err, AuthError::IntrospectionUnavailable { .. }),
        "{err:?}"
    );
    assert_eq!(err.status(), 503);

    // Fail-open only when chosen, and counted.
    let open = validator(
        &issuer,
        introspection(&issuer).recheck_jwts().fail_open(),
        &clock,
    )
    .await;
    open.validate(&other).await.unwrap();
    assert_eq!(open.introspection_fail_opens(), 1);
    // An opaque token never passes without an answer, fail-open or not.
    let opaque = "opaque-unknown";
    assert!(matches!(
        open.validate(opaque).await.unwrap_err(),
        AuthError::IntrospectionUnavailable { .. }
    ));
}

#[tokio::test]
async fn a_deactivated_jwt_is_refused_on_recheck() {
    let issuer = issuer().await;
    let clock = ManualClock::now_real();
    let v = validator(
        &issuer,
        introspection(&issuer)
            .recheck_jwts()
            .cache_ttl(Duration::from_millis(100)),
        &clock,
    )
    .await;
    let jwt = issuer.token().claim("jti", "task-9").sign();
    v.validate(&jwt).await.unwrap();
    issuer.deactivate("task-9");
    common::within(Duration::from_secs(5), async {
        while v.validate(&jwt).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    })
    .await;
    assert_eq!(v.validate(&jwt).await.unwrap_err(), AuthError::Inactive);
    // Without the re-check the same validator setup accepts it (signature and exp are fine).
    let plain = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
        .build()
        .await
        .unwrap();
    plain.validate(&jwt).await.unwrap();
}

#[tokio::test]
async fn a_token_the_client_revokes_is_inactive_at_introspection_and_cannot_be_exchanged() {
    let issuer = issuer().await;
    let clock = ManualClock::now_real();
    // The calling agent: its own client-credentials token, revoked when its task ends.
    let tokens = ClientCredentials::new(format!("{}/token", issuer.issuer()), "payments-api")
        .revocation_endpoint(issuer.revocation_url())
        .secret(Secret::new("s3cret"))
        .build()
        .unwrap();
    let token = tokens.token().await.unwrap();
    // The resource re-checks JWTs; its cache is as long as the default.
    let v = validator(&issuer, introspection(&issuer).recheck_jwts(), &clock).await;
    v.validate(token.secret()).await.unwrap();
    tokens.revoke(&token).await.unwrap();
    // A fresh validator (no cached answer) asks again: RFC 7009 made the token inactive.
    let fresh = validator(&issuer, introspection(&issuer).recheck_jwts(), &clock).await;
    assert_eq!(
        fresh.validate(token.secret()).await.unwrap_err(),
        AuthError::Inactive
    );
    // And the authorization server refuses to exchange it.
    let res = reqwest::Client::new()
        .post(format!("{}/token", issuer.issuer()))
        .basic_auth("payments-api", Some("s3cret"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange\
             &subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token\
             &subject_token={}",
            token.secret()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("invalid_grant"));

    // An opaque token handed to this client is revoked the same way.
    let opaque = issuer.opaque_token(issuer.token().claim("client_id", "payments-api"));
    fresh.validate(&opaque).await.unwrap();
    let res = reqwest::Client::new()
        .post(issuer.revocation_url())
        .basic_auth("payments-api", Some("s3cret"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={opaque}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let later = validator(&issuer, introspection(&issuer), &clock).await;
    assert_eq!(
        later.validate(&opaque).await.unwrap_err(),
        AuthError::Inactive
    );
}

/// RFC 9701: with `jwt_responses`, only answers signed by the issuer count; a plain JSON
/// answer (a server without RFC 9701, or a downgrade on the path) fails closed.
#[tokio::test]
async fn signed_answers_are_required_when_configured() {
    let issuer = issuer().await;
    let clock = ManualClock::now_real();
    let signed = || introspection(&issuer).jwt_responses_with_jwks(issuer.jwks_url());
    let v = validator(&issuer, signed(), &clock).await;
    let opaque = issuer.opaque_token(issuer.token().subject("billing-agent"));
    assert_eq!(
        v.validate(&opaque).await.unwrap().subject(),
        Some("billing-agent")
    );
    let inactive = "opaque-never-issued";
    assert_eq!(v.validate(inactive).await.unwrap_err(), AuthError::Inactive);

    issuer.set_introspection_unsigned(true);
    let downgraded = validator(&issuer, signed(), &clock).await;
    let other = issuer.opaque_token(issuer.token());
    assert!(
        matches!(
            downgraded.validate(&other).await.unwrap_err(),
            AuthError::IntrospectionUnavailable { .. }
        ),
        "a plain JSON answer must not be accepted"
    );
    // The same answer is fine for a validator that did not ask for signatures.
    let plain = validator(&issuer, introspection(&issuer), &clock).await;
    plain.validate(&other).await.unwrap();
}

/// An answer signed with a key other than the issuer's is refused.
#[tokio::test]
async fn a_signed_answer_under_another_key_is_refused() {
    let issuer = issuer().await;
    let stranger = TestIssuer::start().await.unwrap();
    let clock = ManualClock::now_real();
    let opaque = issuer.opaque_token(issuer.token());
    // Keys of another server: the signature does not verify.
    let wrong_keys = validator(
        &issuer,
        introspection(&issuer).jwt_responses_with_jwks(stranger.jwks_url()),
        &clock,
    )
    .await;
    assert!(matches!(
        wrong_keys.validate(&opaque).await.unwrap_err(),
        AuthError::IntrospectionUnavailable { .. }
    ));
    // Right keys, this client: accepted.
    let right = validator(
        &issuer,
        introspection(&issuer).jwt_responses_with_jwks(issuer.jwks_url()),
        &clock,
    )
    .await;
    right.validate(&opaque).await.unwrap();
}

/// Inactive answers are cached within the byte budget: a flood of random tokens cannot grow
/// the cache past it.
#[tokio::test]
async fn the_negative_cache_is_bounded_in_bytes() {
    let issuer = issuer().await;
    let clock = ManualClock::now_real();
    let budget = 2 * 1024;
    let v = validator(
        &issuer,
        introspection(&issuer)
            .cache_bytes(budget)
            .negative_cache_ttl(Duration::from_secs(600)),
        &clock,
    )
    .await;
    for i in 0..150 {
        let _ = v.validate(&format!("opaque-flood-{i}")).await;
    }
    let (entries, bytes) = v.introspection_cache_usage().await;
    assert!(bytes <= budget, "{bytes} bytes cached, budget {budget}");
    assert!(entries < 150, "{entries} entries: nothing was evicted");
    assert!(entries > 0, "inactive answers are cached");
}
