#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]
//! # a2a-guard
//!
//! Tower layers that make any HTTP or gRPC service an OAuth2 **resource server** for
//! agent-to-agent traffic. Every bearer (or DPoP) JWT access token is checked against the
//! issuer's keys — signature, `exp`/`nbf`/`iat` with bounded leeway, `iss` byte for byte,
//! `aud`, `typ` (RFC 9068 `at+jwt`), lifetime, hierarchical and temporal scopes, delegation
//! (`act`) policy, DPoP / mTLS binding — and handlers get typed claims. Keys are fetched by
//! discovery, kept fresh in the background and kept through authorization-server outages.
//! Every failure is a typed [`AuthError`] with one RFC 6750 response; every decision is one
//! audit event.
//!
//! ## An axum service
//!
//! ```no_run
//! use a2a_guard::{Claims, Principal, RequireScopes, Validator};
//! use axum::{Router, routing::{get, post}};
//!
//! #[derive(Clone, serde::Deserialize)]
//! struct AgentClaims { sub: String, tenant: Option<String> }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let validator = Validator::builder()
//!     .issuer("https://auth.example.com") // OIDC discovery finds the JWKS
//!     .audience("agent-api")
//!     .claims::<AgentClaims>()            // your own claims type, read once per token
//!     .build()
//!     .await?;
//! let app = Router::new()
//!     .route("/customers", get(|Claims(c): Claims<AgentClaims>| async move { c.sub })
//!         .route_layer(RequireScopes::all(["read:customers"])))
//!     .route("/payments", post(|p: Principal<AgentClaims>| async move {
//!         format!("{:?} pays for tenant {:?}", p.subject(), p.claims().tenant)
//!     })
//!     .route_layer(RequireScopes::all(["execute:payment"])))
//!     .layer(validator.layer()); // 401/403/503 with RFC 6750 challenges
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! ## Testing it with [`testing::TestIssuer`]
//!
//! A real authorization server on 127.0.0.1 (feature `testing`, as a dev-dependency):
//!
//! ```
//! # #[cfg(feature = "testing")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use a2a_guard::{Validator, testing::TestIssuer};
//!
//! let issuer = TestIssuer::start().await?;
//! let validator = Validator::builder()
//!     .issuer_jwks(issuer.issuer(), issuer.jwks_url())
//!     .audience(issuer.audience())
//!     .build()
//!     .await?;
//! let token = issuer.token().scope("read:customers").sign();
//! let principal = validator.validate(&token).await?;
//! assert!(principal.scopes().contains("read:customers"));
//! let expired = issuer.token().expires_at(1).sign();
//! assert_eq!(validator.validate(&expired).await.unwrap_err().status(), 401);
//! # Ok(()) }
//! # #[cfg(not(feature = "testing"))]
//! # fn main() {}
//! ```
//!
//! ## Feature flags
//!
//! | feature | default | enables |
//! |---|---|---|
//! | `axum` | yes | the axum 0.8 extractors [`Claims`], [`OptionalClaims`], [`Principal`] |
//! | `testing` | no | [`testing::TestIssuer`]: keys, JWKS, discovery, minting, DPoP proofs, failure modes |
//! | `redis` | no | [`pop::RedisReplayStore`]: DPoP replay protection shared by a fleet; with `client`, `client::RedisTokenCache` |
//! | `client` | no | `client`: this agent's own tokens (client credentials, `private_key_jwt`, exchange, discovery) and the outgoing layer |
//! | `reqwest-middleware` | no | `client::AccessTokenMiddleware` for reqwest |
//! | `metrics` | no | `metrics`: counters, gauges and histograms through the `metrics` facade (you install the recorder) |
//! | `audit-file` | no | `audit_file`: a tamper-evident audit file (hash-chained JSON lines, HMAC key, rotation, `verify`) and its `tracing` layer |
//! | `audit-json` | no | `audit::JsonLines`: a fast JSON-lines formatter for `tracing-subscriber`'s `fmt` layer (audit events at production cost) |
//!
//! ## Modules
//!
//! | module | what it holds |
//! |---|---|
//! | [`Validator`], [`ValidatorBuilder`] | the validator and every option with its default |
//! | [`layer`] | [`AuthLayer`], [`RequireScopes`], [`RequireActor`], [`RequireClaims`], [`RequireAuthStrength`], [`AuthContext`] |
//! | [`mod@axum`] | extractors and their rejection |
//! | [`scope`] | hierarchical, wildcard and temporal scopes, implication rules |
//! | [`claims`] | [`RegisteredClaims`], [`Principal`], the delegation chain |
//! | [`keys`] | the key cache: discovery, refresh, kid-miss cooldown, last-known-good, snapshot |
//! | [`jwk`] | JWK Sets into pre-parsed verification keys |
//! | [`metadata`] | resource URIs, RFC 9728 Protected Resource Metadata, challenge parameters |
//! | [`pop`] | DPoP (RFC 9449) and mTLS (RFC 8705) binding, replay stores |
//! | [`bearer`] | `Authorization` parsing |
//! | [`audit`] | the one audit event per decision, and [`DecisionObserver`](audit::DecisionObserver) for code that wants the decision as a value |
//! | `metrics` | the table of every metric and `describe` (feature `metrics`) |
//! | `audit_file` | the tamper-evident audit file those events can go to (feature `audit-file`) |
//! | [`testing`] | `TestIssuer` (feature `testing`) |
//!
//! ## Tracing spans
//!
//! Stable names and fields, so `tracing-opentelemetry` users get useful traces with no code:
//!
//! | span | target, level | fields |
//! |---|---|---|
//! | `a2a_guard.validate` | `a2a_guard::validate`, DEBUG | `cache` (`hit`/`miss`), `outcome` (`ok` or an [`AuthError::reason`]), `iss` |
//! | `a2a_guard.keys.fetch` | `a2a_guard::keys`, INFO | `issuer`, `rediscover`, `result` (`ok` or the failure kind), `keys` (how many) |
//! | `a2a_guard.oauth.request` | `a2a_guard::client`, INFO | `url` (the configured endpoint), `grant_type`, `status` (feature `client`: token, exchange, revocation and introspection requests) |
//!
//! No span carries a token, a secret or a `jti`. The per-request span is DEBUG so that a
//! default `info` filter costs one level check; enable it for the tracing layer only:
//!
//! ```
//! use tracing_subscriber::{filter::Targets, prelude::*};
//! // In place of this fmt layer: `tracing_opentelemetry::layer().with_tracer(tracer)`.
//! let traces = tracing_subscriber::fmt::layer()
//!     .with_filter(Targets::new().with_target("a2a_guard", tracing::Level::DEBUG));
//! let _subscriber = tracing_subscriber::registry().with(traces);
//! ```
//!
//! Without tower, [`Validator::validate`] returns the principal or the [`AuthError`] whose
//! [`status`](AuthError::status) and [`www_authenticate`](AuthError::www_authenticate) you
//! send yourself.

mod algorithm;
pub mod audit;
#[cfg(feature = "audit-file")]
pub mod audit_file;
#[cfg(feature = "axum")]
pub mod axum;
pub mod bearer;
pub mod claims;
#[cfg(feature = "client")]
pub mod client;
mod error;
pub mod jwk;
pub mod keys;
pub mod layer;
pub mod metadata;
#[cfg(feature = "metrics")]
pub mod metrics;
// Without the feature: the same recording calls, compiled to nothing.
#[cfg(not(feature = "metrics"))]
mod metrics;
pub mod pop;
pub mod revocation;
pub mod scope;
#[cfg(feature = "testing")]
pub mod testing;
mod validate;

pub use algorithm::{Algorithm, KeyKind, UnsupportedAlgorithm};
#[cfg(feature = "axum")]
pub use axum::{AuthRejection, Claims, OptionalClaims};
pub use claims::{Principal, RegisteredClaims};
pub use error::{AuthError, Challenge, ConfigError, DEFAULT_DPOP_ALGS};
pub use layer::{
    ActorMatch, AuthContext, AuthLayer, AuthService, RequireActor, RequireAuthStrength,
    RequireClaims, RequireScopes,
};
pub use validate::{
    Clock, DEFAULT_LEEWAY, DEFAULT_MAX_DELEGATION_DEPTH, DEFAULT_MAX_TOKEN_SIZE,
    DEFAULT_TOKEN_CACHE_BYTES, DEFAULT_TYPES, MAX_LEEWAY, SystemClock, Validator, ValidatorBuilder,
};
#[cfg(feature = "client")]
pub use validate::{
    DEFAULT_INTROSPECTION_CACHE_BYTES, DEFAULT_INTROSPECTION_TTL, DEFAULT_NEGATIVE_TTL,
    Introspection,
};

/// The README's Rust examples compile as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
