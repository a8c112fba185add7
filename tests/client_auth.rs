//! Client authentication on the calling side (issue 13): `private_key_jwt` (RFC 7523 §2.2)
//! against a real token endpoint (`TestIssuer`, loopback HTTP) that checks the assertion's
//! signature, claims and `jti` — a fresh assertion per request, a rotated key file used
//! without a restart, typed errors, no key material in any output.
#![cfg(all(feature = "testing", feature = "client"))]

mod common;

use std::time::Duration;

use a2a_guard::client::{ClientCredentials, ClientError, ClientKey, TokenSource};
use a2a_guard::testing::{SigningKey, TestIssuer};
use a2a_guard::{Algorithm, Validator};
use common::ManualClock;

fn pem(alg: Algorithm) -> String {
    SigningKey::generate(alg).to_pem().unwrap()
}

fn source(issuer: &TestIssuer, key: ClientKey, clock: &ManualClock) -> TokenSource {
    ClientCredentials::new(format!("{}/token", issuer.issuer()), "orchestrator")
        .private_key_jwt(key)
        .issuer(issuer.issuer())
        .scope(["read:data"])
        .clock(clock.as_clock())
        .build()
        .unwrap()
}

#[tokio::test]
async fn private_key_jwt_gets_tokens_for_every_key_type() {
    for alg in [
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ] {
        let key = ClientKey::pem(pem(alg)).alg(alg).kid("orchestrator-1");
        let issuer = TestIssuer::builder()
            .client_key("orchestrator", key.public_jwk().unwrap())
            .start()
            .await
            .unwrap();
        let tokens = source(&issuer, key, &ManualClock::now_real());
        let t = tokens
            .token()
            .await
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        let v = Validator::builder()
            .issuer_jwks(issuer.issuer(), issuer.jwks_url())
            .audience(issuer.audience())
            .build()
            .await
            .unwrap();
        assert_eq!(
            v.validate(t.secret()).await.unwrap().client_id(),
            Some("orchestrator")
        );
    }
}

#[tokio::test]
async fn every_request_carries_a_fresh_assertion() {
    // The endpoint refuses a `jti` it has seen: two requests succeed only if each assertion
    // is new.
    let key = ClientKey::pem(pem(Algorithm::ES256));
    let issuer = TestIssuer::builder()
        .client_key("orchestrator", key.public_jwk().unwrap())
        .start()
        .await
        .unwrap();
    let clock = ManualClock::now_real();
    let tokens = source(&issuer, key, &clock);
    let first = tokens.token().await.unwrap();
    // Past the token's life (one hour): a second token request.
    clock.advance(Duration::from_secs(3600));
    let second = tokens.token().await.unwrap();
    assert_ne!(first.secret(), second.secret());
    assert_eq!(issuer.token_requests(), 2);
}

#[tokio::test]
async fn the_assertion_is_addressed_to_the_issuer_and_refusals_are_typed() {
    let key = ClientKey::pem(pem(Algorithm::ES256));
    let issuer = TestIssuer::builder()
        .client_key("orchestrator", key.public_jwk().unwrap())
        .start()
        .await
        .unwrap();
    // Another authorization server's identifier as the audience: refused.
    let wrong_aud = ClientCredentials::new(format!("{}/token", issuer.issuer()), "orchestrator")
        .private_key_jwt(key.clone())
        .issuer("https://other-as.example")
        .build()
        .unwrap();
    assert!(matches!(
        wrong_aud.token().await.unwrap_err(),
        ClientError::Refused { status: 401, ref error, .. } if error == "invalid_client"
    ));
    // A key the server does not know for this client: refused.
    let stranger = source(
        &issuer,
        ClientKey::pem(pem(Algorithm::ES256)),
        &ManualClock::now_real(),
    );
    assert!(matches!(
        stranger.token().await.unwrap_err(),
        ClientError::Refused { status: 401, .. }
    ));
    // The right audience: granted.
    source(&issuer, key, &ManualClock::now_real())
        .token()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_rotated_key_file_is_used_without_a_restart() {
    let old = pem(Algorithm::ES256);
    let new = pem(Algorithm::EdDSA);
    let issuer = TestIssuer::builder()
        .client_key(
            "orchestrator",
            ClientKey::pem(old.clone()).public_jwk().unwrap(),
        )
        .start()
        .await
        .unwrap();
    let dir = common::tempdir();
    let file = dir.join("orchestrator.pem");
    std::fs::write(&file, &old).unwrap();
    let clock = ManualClock::now_real();
    let tokens = source(&issuer, ClientKey::pem_file(&file), &clock);
    tokens.token().await.unwrap();

    // The new key replaces the file before the server knows it: the next request signs with
    // the new key and is refused — proof that the file was read again.
    std::fs::write(&file, &new).unwrap();
    clock.advance(Duration::from_secs(3600));
    assert!(matches!(
        tokens.token().await.unwrap_err(),
        ClientError::Refused { status: 401, .. }
    ));
    // Registered: the same source gets a token with the new key.
    issuer.add_client_key("orchestrator", ClientKey::pem(new).public_jwk().unwrap());
    clock.advance(Duration::from_secs(2)); // past the failure's backoff
    tokens.token().await.unwrap();
    assert_eq!(issuer.token_requests(), 3);
}

#[tokio::test]
async fn bad_keys_are_typed_errors_and_nothing_prints_key_material() {
    let issuer = TestIssuer::start().await.unwrap();
    let dir = common::tempdir();
    let file = dir.join("key.pem");
    std::fs::write(
        &file,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let tokens = source(
        &issuer,
        ClientKey::pem_file(&file),
        &ManualClock::now_real(),
    );
    let err = tokens.token().await.unwrap_err();
    assert!(matches!(err, ClientError::Key(_)), "{err:?}");
    // Nothing was sent without client authentication.
    assert_eq!(issuer.token_requests(), 0);

    let secret_pem = pem(Algorithm::ES256);
    let key = ClientKey::pem(secret_pem.clone());
    let body: String = secret_pem.lines().nth(1).unwrap().to_owned();
    let printed = format!(
        "{key:?} {:?}",
        ClientCredentials::new(format!("{}/token", issuer.issuer()), "orchestrator")
            .private_key_jwt(key.clone())
            .issuer(issuer.issuer())
            .build()
            .unwrap()
    );
    assert!(!printed.contains(&body), "{printed}");
    // private_key_jwt without the issuer (the assertion's audience) does not build.
    assert!(
        ClientCredentials::new(format!("{}/token", issuer.issuer()), "orchestrator")
            .private_key_jwt(ClientKey::pem(pem(Algorithm::ES256)))
            .build()
            .is_err()
    );
}
