//! Pushed revocation events (issue 14): Security Event Tokens (RFC 8417) over RFC 8935 push
//! and Back-Channel Logout tokens become deny-list epochs; a bad signature, a wrong audience
//! or issuer, a replayed `jti` or an unknown event each get the RFC 8935 answer and change
//! nothing. Real signatures from `TestIssuer` (as transmitter), real HTTP on loopback.
#![cfg(feature = "testing")]

use std::time::{SystemTime, UNIX_EPOCH};

use a2a_guard::revocation::{
    BACKCHANNEL_LOGOUT, CAEP_SESSION_REVOKED, Delivery, Revocations, SetReceiver,
};
use a2a_guard::testing::{SigningKey, TestIssuer};
use a2a_guard::{Algorithm, AuthError, Validator};
use serde_json::json;

const ME: &str = "https://api.example.com";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

struct Setup {
    issuer: TestIssuer,
    revocations: Revocations,
    validator: Validator,
    url: String,
}

async fn setup() -> Setup {
    let issuer = TestIssuer::start().await.unwrap();
    let revocations = Revocations::new();
    let receiver = SetReceiver::builder(revocations.clone())
        .transmitter(issuer.issuer(), issuer.jwks_url())
        .audience(ME)
        .build()
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    let app = axum::Router::new().nest("/events", receiver.into_router());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let validator = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
        .revocations(revocations.clone())
        .build()
        .await
        .unwrap();
    Setup {
        issuer,
        revocations,
        validator,
        url,
    }
}

/// A CAEP session-revoked SET for `sub`, as `TestIssuer` signs it.
fn caep(issuer: &TestIssuer, sub: &str, jti: &str) -> a2a_guard::testing::TokenBuilder {
    issuer
        .token()
        .typ("secevent+jwt")
        .remove_claim("exp")
        .remove_claim("scope")
        .remove_claim("sub")
        .audience(ME)
        .claim("jti", jti)
        .claim(
            "sub_id",
            json!({"format": "iss_sub", "iss": issuer.issuer(), "sub": sub}),
        )
        .claim(
            "events",
            json!({ CAEP_SESSION_REVOKED: { "event_timestamp": now() } }),
        )
}

async fn push(url: &str, set: String) -> (u16, serde_json::Value) {
    let res = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/secevent+jwt")
        .body(set)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body = res.text().await.unwrap();
    (status, serde_json::from_str(&body).unwrap_or(json!(null)))
}

#[tokio::test]
async fn a_session_revoked_event_refuses_the_subjects_older_tokens() {
    let s = setup().await;
    let old = s
        .issuer
        .token()
        .subject("billing-agent")
        .issued_at(now() - 60)
        .sign();
    s.validator.validate(&old).await.unwrap();
    // TestIssuer as transmitter.
    let set = caep(&s.issuer, "billing-agent", "set-1").sign();
    assert_eq!(s.issuer.push_event(&s.url, set).await.unwrap(), 202);
    assert_eq!(
        s.validator.validate(&old).await.unwrap_err(),
        AuthError::Revoked
    );
    // Issued after the event: accepted.
    let fresh = s
        .issuer
        .token()
        .subject("billing-agent")
        .issued_at(now() + 2)
        .sign();
    s.validator.validate(&fresh).await.unwrap();
}

#[tokio::test]
async fn a_logout_token_revokes_its_session() {
    let s = setup().await;
    let in_session = s
        .issuer
        .token()
        .claim("sid", "s-9")
        .issued_at(now() - 5)
        .sign();
    s.validator.validate(&in_session).await.unwrap();
    let logout = s
        .issuer
        .token()
        .typ("logout+jwt")
        .remove_claim("sub")
        .remove_claim("scope")
        .audience(ME)
        .claim("jti", "logout-1")
        .claim("sid", "s-9")
        .claim("events", json!({ BACKCHANNEL_LOGOUT: {} }))
        .sign();
    assert_eq!(push(&s.url, logout).await.0, 202);
    assert_eq!(
        s.validator.validate(&in_session).await.unwrap_err(),
        AuthError::Revoked
    );
}

#[tokio::test]
async fn bad_sets_get_the_rfc_8935_answer_and_change_nothing() {
    let s = setup().await;
    let forger = SigningKey::generate(Algorithm::RS256)
        .with_kid(s.issuer.signing_key(Algorithm::RS256).kid().to_owned());
    let cases = [
        (
            caep(&s.issuer, "a", "j1").signing_key(&forger).sign(),
            "invalid_key",
        ),
        (
            caep(&s.issuer, "a", "j2")
                .audience("https://someone-else.example")
                .sign(),
            "invalid_audience",
        ),
        (
            caep(&s.issuer, "a", "j3")
                .issuer("https://not-a-transmitter.example")
                .sign(),
            "invalid_issuer",
        ),
        (
            caep(&s.issuer, "a", "j4").typ("at+jwt").sign(),
            "invalid_request",
        ),
        (
            caep(&s.issuer, "a", "j7").remove_claim("iat").sign(),
            "invalid_request",
        ),
        (
            caep(&s.issuer, "a", "j5").remove_claim("events").sign(),
            "invalid_request",
        ),
        (
            caep(&s.issuer, "a", "j6")
                .claim("sub_id", json!({"format": "iss_sub"}))
                .sign(),
            "invalid_request",
        ),
        ("not a jwt".to_owned(), "invalid_request"),
    ];
    for (set, code) in cases {
        let (status, body) = push(&s.url, set).await;
        assert_eq!((status, body["err"].as_str()), (400, Some(code)));
    }
    assert_eq!(s.revocations.epochs(), 0);
}

#[tokio::test]
async fn replays_and_unknown_events_are_acknowledged_and_change_nothing() {
    let s = setup().await;
    let set = caep(&s.issuer, "agent-1", "once").sign();
    assert_eq!(push(&s.url, set.clone()).await.0, 202);
    assert_eq!(s.revocations.epochs(), 1);
    // The same SET again (a transmitter's retry, or an attacker's replay): 202, nothing new.
    let t = s
        .issuer
        .token()
        .subject("agent-1")
        .issued_at(now() + 5)
        .sign();
    assert_eq!(push(&s.url, set).await.0, 202);
    assert_eq!(s.revocations.epochs(), 1);
    s.validator.validate(&t).await.unwrap();
    // Through the API: the replay is recognised as such.
    let receiver = SetReceiver::builder(s.revocations.clone())
        .transmitter(s.issuer.issuer(), s.issuer.jwks_url())
        .audience(ME)
        .build()
        .await
        .unwrap();
    let again = caep(&s.issuer, "agent-1", "twice").sign();
    assert!(matches!(
        receiver.receive(again.as_bytes()).await,
        Ok(Delivery::Revoked(_))
    ));
    assert_eq!(
        receiver.receive(again.as_bytes()).await,
        Ok(Delivery::Duplicate)
    );
    // An event type this receiver does not act on: 202, ignored.
    let unknown = caep(&s.issuer, "agent-2", "other")
        .claim("events", json!({"https://example.com/event/unknown": {}}))
        .sign();
    assert_eq!(push(&s.url, unknown).await.0, 202);
    assert_eq!(s.revocations.epochs(), 1);
}
