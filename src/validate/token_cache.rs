//! The verified-token cache: a token seen before skips parsing and the signature check;
//! every hit still re-runs the time-based checks and confirms that the signing key is still
//! held (rotation and revocation take effect at once).
//!
//! Keying: SHA-256 of the token's signature segment, and the entry keeps the
//! `header.payload` it was verified with; a hit needs both to match, i.e. the very same
//! token. Hashing the signature (86–683 characters) instead of the whole token halves the
//! hit cost, and the cache never holds a usable token: the signature exists in it only as a
//! hash. A forged token that reuses a cached signature over another payload misses and is
//! verified (and refused) in full.

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
    /// The signed part, `header.payload`, compared on every hit.
    pub(crate) signed: Box<str>,
}

/// SHA-256 of the signature segment.
pub(crate) type Key = [u8; 32];

/// Split a token into its signed part and the cache key of its signature.
pub(crate) fn key(token: &str) -> Option<(&str, Key)> {
    let (signed, signature) = token.rsplit_once('.')?;
    let d = digest::digest(&digest::SHA256, signature.as_bytes());
    let mut k = [0u8; 32];
    k.copy_from_slice(d.as_ref());
    Some((signed, k))
}

/// The keys are SHA-256 outputs, uniformly distributed whoever chose the input: their first
/// eight bytes are already a good hash (no SipHash pass needed).
#[derive(Clone, Default)]
pub(crate) struct DigestHasher(u64);

impl std::hash::Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8).take(1) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_le_bytes(b);
        }
    }
    fn write_usize(&mut self, _: usize) {
        // Array length prefix from `Hash for [u8; N]`: constant, adds nothing.
    }
}

type BuildDigestHasher = std::hash::BuildHasherDefault<DigestHasher>;

struct UntilExp;

impl<C> moka::Expiry<Key, Arc<Verified<C>>> for UntilExp {
    fn expire_after_create(&self, _: &Key, v: &Arc<Verified<C>>, _: Instant) -> Option<Duration> {
        Some(v.ttl)
    }
}

pub(crate) type TokenCache<C> = moka::sync::Cache<Key, Arc<Verified<C>>, BuildDigestHasher>;

pub(crate) fn new<C: Send + Sync + 'static>(capacity: u64) -> TokenCache<C> {
    moka::sync::Cache::builder()
        .max_capacity(capacity)
        .expire_after(UntilExp)
        .build_with_hasher(BuildDigestHasher::default())
}
