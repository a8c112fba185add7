//! The validator without tower: start a loopback `TestIssuer`, mint tokens, validate them.
//!
//! ```text
//! cargo run --example quickstart --features testing
//! ```

use a2a_guard::jwk::KeySet;
use a2a_guard::testing::TestIssuer;
use a2a_guard::{Algorithm, Validator};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let issuer = TestIssuer::builder()
        .algorithms([Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA])
        .start()
        .await?;
    let validator = Validator::builder()
        .issuer_keys(issuer.issuer(), KeySet::from_value(&issuer.jwks())?)
        .audience(issuer.audience())
        .build()
        .await?;

    let cases = [
        ("RS256, read:data", issuer.token().scope("read:data").sign()),
        (
            "ES256, delegated",
            issuer
                .token()
                .alg(Algorithm::ES256)
                .claim("act", serde_json::json!({"sub": "orchestrator"}))
                .sign(),
        ),
        (
            "EdDSA, expired",
            issuer
                .token()
                .alg(Algorithm::EdDSA)
                .expires_at(1_000)
                .issued_at(900)
                .sign(),
        ),
        ("alg: none", issuer.token().header("alg", "none").unsigned()),
        (
            "wrong audience",
            issuer.token().audience("someone-else").sign(),
        ),
    ];
    for (name, token) in cases {
        match validator.validate(&token).await {
            Ok(p) => println!(
                "{name:<20} accepted: sub={:?} scopes=[{}] actor={:?}",
                p.subject(),
                p.scopes(),
                p.actor().and_then(|a| a.sub.as_deref())
            ),
            Err(e) => println!(
                "{name:<20} rejected: {} {}",
                e.status(),
                e.www_authenticate("quickstart")
                    .map(|v| v.to_str().unwrap_or_default().to_owned())
                    .unwrap_or_default()
            ),
        }
    }
    Ok(())
}
