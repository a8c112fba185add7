//! A real loopback authorization server for tests: [`TestIssuer`].
//!
//! `TestIssuer` generates signing keys, serves a JWK Set plus OpenID Connect discovery and
//! RFC 8414 metadata on `127.0.0.1` (with a token endpoint and an RFC 7009 revocation
//! endpoint for registered clients), mints access tokens with any header and claims
//! ([`TokenBuilder`]), rotates and retires keys, and can misbehave ([`Behavior`]) or be taken
//! down and brought back, so outage, rotation and attack paths are tested against real
//! signatures over real HTTP. Available with the `testing` feature.
//!
//! ```
//! use a2a_guard::Algorithm;
//! use a2a_guard::testing::{Behavior, TestIssuer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let issuer = TestIssuer::start().await?;
//! // Point the guard under test at `issuer.issuer()` (discovery) or `issuer.jwks_url()`,
//! // with audience `issuer.audience()`.
//!
//! // A token a correctly configured validator accepts…
//! let good = issuer.token().scope("read:data").sign();
//! // …and ones it must not.
//! let expired = issuer.token().expires_at(1_000).sign();
//! let foreign = issuer.token().issuer("https://evil.example").sign();
//! let es256 = issuer.token().alg(Algorithm::ES256).sign(); // key generated and published
//! assert_eq!(good.split('.').count(), 3);
//! # let _ = (expired, foreign, es256);
//!
//! // Key rotation, and an outage.
//! let new_kid = issuer.rotate(Algorithm::RS256);
//! issuer.set_behavior(Behavior::Status(503));
//! issuer.stop().await; // connections are now refused
//! issuer.restart().await?; // same port, same keys
//! # let _ = new_kid;
//! # Ok(())
//! # }
//! ```

mod dpop;
mod events;
mod introspect;
mod issuer;
mod key;
mod keys_file;
mod revocation;
mod server;
mod token;
mod token_endpoint;
mod weak_rsa;

pub use dpop::{DpopKey, ProofBuilder};
pub use issuer::{TestIssuer, TestIssuerBuilder};
pub use key::{KeyError, SigningKey};
pub use server::Behavior;
pub use token::TokenBuilder;

use base64::Engine as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// base64url without padding (RFC 7515 §2).
fn b64url(bytes: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Seconds since the Unix epoch by the system clock (0 if the clock is before 1970).
fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// `len` random hex characters; a process-wide counter keeps them unique even if the
/// system RNG were to fail.
fn random_hex(len: usize) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut bytes = vec![0u8; len.div_ceil(2)];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed).to_be_bytes();
        for (b, c) in bytes.iter_mut().rev().zip(n.iter().rev()) {
            *b = *c;
        }
    }
    let mut hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    hex.truncate(len);
    hex
}

#[cfg(test)]
mod tests;
