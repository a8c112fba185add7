//! The verified-token cache: a token seen before skips parsing and the signature check;
//! every hit still re-runs the time-based checks and confirms that the signing key is still
//! held (rotation and revocation take effect at once).

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::digest;

use crate::claims::Principal;
use crate::jwk::Fingerprint;

/// Default number of verified tokens kept.
pub const DEFAULT_TOKEN_CACHE_CAPACITY: u64 = 10_000;

/// A verified token: what handlers get, and what a cache hit needs to re-check.
pub(crate) struct Verified<C> {
    pub(crate) principal: Arc<Principal<C>>,
    /// Index of the issuer in the validator's configuration.
    pub(crate) issuer: usize,
    /// The key that verified the signature.
    pub(crate) key: Fingerprint,
    /// How long the entry may live: until `exp` plus leeway.
    pub(crate) ttl: Duration,
}

/// Keyed by SHA-256 of the whole token, so the cache holds no token and a collision
/// needs a second preimage.
pub(crate) type Key = [u8; 32];

pub(crate) fn key(token: &str) -> Key {
    let d = digest::digest(&digest::SHA256, token.as_bytes());
    let mut k = [0u8; 32];
    k.copy_from_slice(d.as_ref());
    k
}

struct UntilExp;

impl<C> moka::Expiry<Key, Arc<Verified<C>>> for UntilExp {
    fn expire_after_create(&self, _: &Key, v: &Arc<Verified<C>>, _: Instant) -> Option<Duration> {
        Some(v.ttl)
    }
}

pub(crate) type TokenCache<C> = moka::sync::Cache<Key, Arc<Verified<C>>>;

pub(crate) fn new<C: Send + Sync + 'static>(capacity: u64) -> TokenCache<C> {
    moka::sync::Cache::builder()
        .max_capacity(capacity)
        .expire_after(UntilExp)
        .build()
}
