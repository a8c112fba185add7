//! Proof of possession: certificate-bound tokens (RFC 8705) and DPoP (RFC 9449).
//!
//! A token bound with `cnf.x5t#S256` is accepted only with the matching client certificate
//! in the request's extensions ([`ClientCertificate`], put there by your TLS acceptor). A
//! token bound with `cnf.jkt` is accepted only as `Authorization: DPoP <token>` with a valid
//! `DPoP` proof signed by that key; sent as `Bearer` it is refused (RFC 9449 §7.2). These
//! checks run in [`AuthService`](crate::AuthService) on every request, verified-token cache
//! hit or not.
//!
//! DPoP needs the origin clients sign (`htu`): without one, as in the plain
//! [`Validator::layer`](crate::Validator::layer), every DPoP-bound token is refused.
//!
//! ```no_run
//! use a2a_guard::pop::DpopConfig;
//! # async fn demo(validator: a2a_guard::Validator) -> Result<(), a2a_guard::ConfigError> {
//! let layer = validator
//!     .layer()
//!     .dpop(DpopConfig::new().origin("https://agents.example.com"))?;
//! # Ok(()) }
//! ```

mod dpop;
mod mtls;
mod origin;
mod possession;
#[cfg(feature = "redis")]
mod redis_store;
mod replay;

use std::sync::Arc;

pub use dpop::{
    DEFAULT_DPOP_IAT_AHEAD, DEFAULT_DPOP_IAT_BEHIND, DpopConfig, MAX_JTI_LEN, MAX_PROOF_RSA_BITS,
    MAX_PROOF_SIZE, MIN_NONCE_SECRET_LEN, jwk_thumbprint,
};
pub use mtls::ClientCertificate;
pub use possession::PossessionCheck;
#[cfg(feature = "redis")]
pub use redis_store::{EvictionPolicyCheck, RedisReplayStore};
pub use replay::{
    DEFAULT_REPLAY_MAX_BYTES, FirstUse, MemoryReplayStore, REPLAY_ENTRY_BYTES, ReplayStore,
    ReplayStoreError,
};

use crate::AuthError;

/// The parts of a request the binding checks read.
pub(crate) struct RequestRef<'a> {
    pub(crate) method: &'a http::Method,
    pub(crate) uri: &'a http::Uri,
    pub(crate) headers: &'a http::HeaderMap,
    pub(crate) extensions: &'a http::Extensions,
    /// Unix seconds by the validator's clock.
    pub(crate) now: u64,
}
use crate::claims::Confirmation;

/// How the token arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    Bearer,
    Dpop,
}

/// Check every binding the token carries against the request.
pub(crate) async fn check(
    dpop: &Arc<DpopConfig>,
    cnf: Option<&Confirmation>,
    scheme: Scheme,
    token: &str,
    parts: &RequestRef<'_>,
) -> Result<(), AuthError> {
    let jkt = match check_certificate(cnf, parts)? {
        Some(jkt) => jkt,
        None => return bearer_binding(scheme),
    };
    match scheme {
        Scheme::Bearer => Err(AuthError::ProofOfPossession(
            "a DPoP-bound token must be sent with the DPoP scheme",
        )),
        Scheme::Dpop => dpop.verify(jkt, token, parts).await,
    }
}

/// [`check`] for a request sent with the `Bearer` scheme, which never waits (no DPoP proof
/// to look up in a replay store): the layer's synchronous path.
pub(crate) fn check_bearer(
    cnf: Option<&Confirmation>,
    parts: &RequestRef<'_>,
) -> Result<(), AuthError> {
    match check_certificate(cnf, parts)? {
        Some(_) => Err(AuthError::ProofOfPossession(
            "a DPoP-bound token must be sent with the DPoP scheme",
        )),
        None => Ok(()),
    }
}

/// The RFC 8705 certificate binding, if the token has one; returns the DPoP key thumbprint
/// the token is bound to, if any.
fn check_certificate<'c>(
    cnf: Option<&'c Confirmation>,
    parts: &RequestRef<'_>,
) -> Result<Option<&'c str>, AuthError> {
    let Some(cnf) = cnf else { return Ok(None) };
    if let Some(x5t) = &cnf.x5t_s256 {
        mtls::check(x5t, parts)?;
    }
    Ok(cnf.jkt.as_deref())
}

/// A token bound to no DPoP key, sent with `scheme`.
fn bearer_binding(scheme: Scheme) -> Result<(), AuthError> {
    match scheme {
        Scheme::Bearer => Ok(()),
        Scheme::Dpop => Err(AuthError::ProofOfPossession("the token is not DPoP-bound")),
    }
}
