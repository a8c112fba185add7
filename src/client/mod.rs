//! The calling side (feature `client`): an agent acquires its own access tokens, caches them
//! until just before they expire, renews them in the background without stalling callers,
//! keeps using a still-valid token while the authorization server is briefly down, and never
//! sends a request without a token.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use a2a_guard::client::{AccessTokenLayer, ClientCredentials, Secret};
//! use tower::ServiceBuilder;
//!
//! let tokens = ClientCredentials::new("https://auth.example.com/token", "orchestrator")
//!     .secret(Secret::file("/run/secrets/orchestrator")) // re-read when the file changes
//!     .scope(["read:data"])
//!     .resource("https://api.example.com/mcp")
//!     .build()?;
//! // Acquire just before use (cached afterwards):
//! let token = tokens.token().await?;
//! // Or let a tower layer put `Authorization: Bearer …` on every outgoing request:
//! # let http_client = tower::service_fn(|_: http::Request<String>| async {
//! #     Ok::<_, std::convert::Infallible>(http::Response::new(String::new())) });
//! let client = ServiceBuilder::new()
//!     .layer(AccessTokenLayer::new(tokens.clone()))
//!     .service(http_client);
//! # let _ = (token, client);
//! # Ok(()) }
//! ```
//!
//! What the cache does, measured by `tests/client.rs`:
//! - **Single flight.** However many callers find no usable token, one token request goes
//!   out; the request runs on its own task, so a caller that gives up does not restart it.
//! - **Refresh ahead.** After [`DEFAULT_REFRESH_FRACTION`] of the lifetime (minus up to 10 %
//!   jitter) the next caller gets the cached token at once and a renewal starts in the
//!   background.
//! - **Stale while failing.** A failed renewal keeps the cached token in use until
//!   `exp` minus the skew ([`DEFAULT_EXPIRY_SKEW`], at most a tenth of the lifetime); the
//!   next attempt waits for an exponential backoff (1 s doubling to 60 s, with jitter).
//! - **Never without a token.** When no usable token can be had the caller gets a
//!   [`ClientError`]; [`AccessTokenLayer`] then fails the call instead of sending it, and
//!   it replaces any `Authorization` header already on the request, so an inbound token is
//!   never forwarded (MCP's token pass-through rule).
//!
//! **Revocation (RFC 7009).** With
//! [`revocation_endpoint`](ClientCredentials::revocation_endpoint) configured,
//! [`TokenSource::revoke`] revokes one token and drops it from the cache,
//! [`TokenSource::revoke_all`] and [`TokenExchange::revoke_all`] revoke what is cached for a
//! graceful shutdown, and a [`TaskTokens`] handle from [`TokenExchange::task`] holds the
//! delegated tokens of one task apart from the shared cache and revokes them when the task
//! ends ([`TaskTokens::finish`]; best effort when dropped). Revocation requests authenticate
//! exactly as token requests do; a 503 is [`ClientError::RevocationUnavailable`], no
//! endpoint is [`ClientError::NoRevocationEndpoint`] — never a silent success. Resource
//! servers that validate JWTs locally do not learn of a revocation until introspection or a
//! deny-list tells them ([`crate::revocation`], [`crate::Introspection`]): revoking stops this process's use of the token and lets
//! the authorization server refuse it, no more.
//!
//! ```no_run
//! # async fn demo(principal: a2a_guard::Principal, inbound: a2a_guard::client::InboundToken)
//! # -> Result<(), Box<dyn std::error::Error>> {
//! use a2a_guard::client::{ClientCredentials, DelegateTo, Secret, TokenExchange};
//! let me = ClientCredentials::new("https://auth.example.com/token", "orchestrator")
//!     .revocation_endpoint("https://auth.example.com/revoke")
//!     .secret(Secret::env("ORCHESTRATOR_SECRET"))
//!     .build()?;
//! let exchange = TokenExchange::builder(me.clone()).build()?;
//! // Per task: delegated tokens revoked when the task is done.
//! let task = exchange.task();
//! let token = task
//!     .delegate(&principal, &inbound, DelegateTo::resource("https://analysis.example.com/"))
//!     .await?;
//! # let _ = token;
//! let report = task.finish().await;
//! // At shutdown: whatever is still cached.
//! let (shared, own) = (exchange.revoke_all().await, me.revoke_all().await);
//! # let _ = (report, shared, own);
//! # Ok(()) }
//! ```
//!
//! Every issuance, renewal, failure and revocation is one `tracing` event at target
//! `a2a_guard::client` (grant, client_id, scope, resources, audience, lifetime, `jti` when
//! the token is a JWT; for revocations `event = "revoked"` or `"revoke_failed"` and the
//! `trigger`) — never the token or the secret.

mod credentials;
mod discovery;
mod dpop;
mod endpoint;
mod exchange;
#[cfg(feature = "redis")]
mod fleet;
mod key;
mod layer;
#[cfg(feature = "reqwest-middleware")]
mod middleware;
mod revocation;
mod source;
mod task;
mod tls;

pub use credentials::Secret;
pub use discovery::{AuthorizationServer, DiscoveredResource, ResourceDiscovery};
pub(crate) use endpoint::{Endpoint, JSON};
pub use exchange::{
    DEFAULT_EXCHANGE_CACHE_BYTES, DelegateTo, InboundToken, TokenExchange, TokenExchangeBuilder,
};
#[cfg(feature = "redis")]
pub use fleet::RedisTokenCache;
pub use key::{ASSERTION_LIFETIME, ClientKey};
pub use layer::{AccessTokenFuture, AccessTokenLayer, AccessTokenService};
#[cfg(feature = "reqwest-middleware")]
pub use middleware::AccessTokenMiddleware;
pub use revocation::RevocationReport;
pub use source::{
    AccessToken, ClientCredentials, DEFAULT_EXPIRY_SKEW, DEFAULT_LIFETIME,
    DEFAULT_REFRESH_FRACTION, MIN_AGE_TO_INVALIDATE, TokenSource,
};
pub use task::TaskTokens;
pub use tls::TlsIdentity;

use std::time::Duration;

/// Why no token could be had. Never carries a token or a secret: only static text, the
/// authorization server's RFC 6749 §5.2 error code and its (sanitised, truncated) description.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The token endpoint (or the revocation endpoint) answered with an OAuth error
    /// (RFC 6749 §5.2, RFC 7009 §2.2.1), e.g. `invalid_client`, `invalid_scope`,
    /// `unauthorized_client`.
    #[error("the authorization server refused: {error} (HTTP {status})")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The `error` code (only RFC 6749 §5.2 characters are kept).
        error: String,
        /// `error_description`, sanitised and cut at 200 characters.
        description: Option<String>,
    },
    /// The token endpoint could not be reached or did not answer in time.
    #[error("the token endpoint is unreachable: {0}")]
    Unreachable(&'static str),
    /// The token endpoint's answer is not a usable token response.
    #[error("invalid token response: {0}")]
    InvalidResponse(&'static str),
    /// Recent token requests failed; no new one is sent until the backoff ends.
    #[error("the token endpoint is failing; retry after {retry_after:?}")]
    Backoff {
        /// How long until the next attempt.
        retry_after: Duration,
    },
    /// The delegation was refused before asking: a wanted scope is not covered by the
    /// inbound token, or its delegation chain is at the limit.
    #[error("delegation refused: {0}")]
    NotDelegable(&'static str),
    /// The client secret could not be read (file missing, unreadable, empty; variable unset).
    #[error("client secret: {0}")]
    Secret(&'static str),
    /// The client's private key could not be read or used (file missing, not a PEM key, a
    /// key type or algorithm that cannot sign).
    #[error("client key: {0}")]
    Key(&'static str),
    /// Discovery failed: metadata unreachable or refused, a document that names another
    /// issuer or resource, or no authorization server this client trusts.
    #[error("discovery: {0}")]
    Discovery(String),
    /// A DPoP proof could not be made (no absolute request URL, key unusable) or the server
    /// kept asking for nonces.
    #[error("DPoP: {0}")]
    Dpop(&'static str),
    /// The revocation endpoint answered 503 (RFC 7009 §2.2.1): the token was **not** revoked
    /// and is still valid; try again later (after `Retry-After` when the server sent one).
    #[error("the revocation endpoint is unavailable; retry after {retry_after:?}")]
    RevocationUnavailable {
        /// The server's `Retry-After` in seconds, when it sent one.
        retry_after: Option<Duration>,
    },
    /// Revocation was asked for but no revocation endpoint is configured (see
    /// [`ClientCredentials::revocation_endpoint`]): the token was not revoked.
    #[error("no revocation endpoint is configured")]
    NoRevocationEndpoint,
}
