#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]
//! # a2a-guard
//!
//! Tower layers that make any HTTP or gRPC service an OAuth2 resource server for
//! agent-to-agent traffic: bearer JWT access tokens are checked against the issuer's keys
//! (signature, `exp`, `iss`, `aud`, `typ`, lifetime, hierarchical scopes), and handlers get
//! typed claims.
//!
//! The core is [`Validator`], usable on its own:
//!
//! ```no_run
//! # async fn demo(token: &str, keys: a2a_guard::jwk::KeySet) -> Result<(), Box<dyn std::error::Error>> {
//! let validator = a2a_guard::Validator::builder()
//!     .issuer_keys("https://auth.example.com", keys)
//!     .audience("agent-api")
//!     .build()
//!     .await?;
//! match validator.validate(token).await {
//!     Ok(principal) => println!("hello {:?}, scopes {}", principal.subject(), principal.scopes()),
//!     Err(e) => println!("{} -> {}", e, e.status()),
//! }
//! # Ok(()) }
//! ```

mod algorithm;
pub mod audit;
#[cfg(feature = "axum")]
pub mod axum;
pub mod bearer;
pub mod claims;
mod error;
pub mod jwk;
pub mod keys;
pub mod layer;
pub mod pop;
pub mod scope;
#[cfg(feature = "testing")]
pub mod testing;
mod validate;

pub use algorithm::{Algorithm, KeyKind, UnsupportedAlgorithm};
pub use claims::{Principal, RegisteredClaims};
pub use error::{AuthError, Challenge, ConfigError, DEFAULT_DPOP_ALGS};
pub use layer::{ActorMatch, AuthContext, AuthLayer, AuthService, RequireActor, RequireScopes};
pub use validate::{
    Clock, DEFAULT_LEEWAY, DEFAULT_MAX_DELEGATION_DEPTH, DEFAULT_MAX_TOKEN_SIZE,
    DEFAULT_TOKEN_CACHE_BYTES, DEFAULT_TYPES, MAX_LEEWAY, SystemClock, Validator, ValidatorBuilder,
};

/// The README's Rust examples compile as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
