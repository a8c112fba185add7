//! The verified-token cache: a token seen before skips parsing and the signature check;
//! every hit still re-runs the time-based checks and confirms that the signing key is still
//! held (rotation and revocation take effect at once).
//!
//! Keying: a 128-bit SipHash-2-4 tag of the token's signature segment under a key drawn
//! from the system's random source when the cache is made, and the entry keeps the
//! `header.payload` it was verified with; a hit needs both to match. The tag costs about a
//! tenth of the SHA-256 it replaced over a 342-character RS256 signature (issue 16), and the
//! cache still never holds a usable token: the signature exists in it only as a keyed tag.
//! Why a keyed PRF is as safe here as a collision-resistant hash: a hit needs the exact
//! signed part of a verified token, so the only forgery left is a wrong signature on a real
//! `header.payload` whose tag equals the real signature's, under a key the attacker never
//! sees, for a signature they do not have (had they the signature, they would hold the
//! token itself): 2⁻¹²⁸ per attempt, and no answer ever shows them a tag (SECURITY.md). A
//! forged token that misses is verified, and refused, in full.

use std::sync::Arc;
use std::time::{Duration, Instant};

use siphasher::sip128::SipHasher24;

use crate::claims::{JsonStats, Principal};
use crate::jwk::Fingerprint;

/// Default memory budget of the verified-token cache, in bytes (estimated heap of the
/// entries: the signed part plus the claims read from it).
///
/// 64 MiB holds ≈ 12 000 typical agent tokens (≈ 5 KiB estimated, ≈ 3.5 KiB measured, per
/// ~700-byte token with the default claims map) and bounds the cache whatever the tokens
/// carry: a 14 KB token with a pathological payload is weighed at its real cost (up to
/// ~1 MiB) and displaces more entries. Change it with
/// [`token_cache_bytes`](crate::ValidatorBuilder::token_cache_bytes).
///
/// ```
/// assert_eq!(a2a_guard::DEFAULT_TOKEN_CACHE_BYTES, 64 << 20);
/// ```
pub const DEFAULT_TOKEN_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// Fixed heap of one entry beside its strings and claims: moka's entry and node, the
/// `Arc<Verified>`, the `Principal` and its scope set (measured with
/// `examples/cache_memory.rs`, rounded up).
const ENTRY_OVERHEAD: usize = 1024;
/// Estimated heap per JSON value of the claims (a 32-byte `Value`, doubled for `Vec` growth).
const PER_VALUE: usize = 64;
/// Estimated heap per object: a `BTreeMap` leaf node of `String`/`Value` pairs (632 bytes).
const PER_OBJECT: usize = 640;
/// Estimated heap per member: its share of further B-tree nodes and the name's `String`.
const PER_MEMBER: usize = 64;

/// A verified token: what handlers get, and what a cache hit needs to re-check.
pub(crate) struct Verified<C> {
    pub(crate) principal: Principal<C>,
    /// Index of the issuer in the validator's configuration.
    pub(crate) issuer: usize,
    /// The key that verified the signature.
    pub(crate) key: Fingerprint,
    /// How long the entry may live: until `exp` plus leeway.
    pub(crate) ttl: Duration,
    /// The signed part, `header.payload`, compared on every hit.
    pub(crate) signed: Box<str>,
    /// Estimated heap of this entry, in bytes: its weight against the cache's byte budget.
    pub(crate) weight: u32,
    /// The deny-list generation this token was last found clean at (`u64::MAX`: never):
    /// while the list has not changed, a hit skips the lookups.
    pub(crate) clean_at: std::sync::atomic::AtomicU64,
}

/// The estimated heap of a cache entry: fixed overhead, the signed part, the decoded
/// payload (registered claims and scopes copy parts of it) and the claims tree the strict
/// pass counted. Deliberately an upper estimate for the default `ExtraClaims` map, so
/// the byte budget holds however the payload is shaped; a typed claims struct costs less.
pub(crate) fn entry_weight(signed_len: usize, payload_len: usize, s: &JsonStats) -> u32 {
    let bytes = ENTRY_OVERHEAD
        .saturating_add(signed_len)
        .saturating_add(payload_len)
        .saturating_add(s.string_bytes)
        .saturating_add(s.nodes.saturating_mul(PER_VALUE))
        .saturating_add(s.objects.saturating_mul(PER_OBJECT))
        .saturating_add(s.members.saturating_mul(PER_MEMBER));
    u32::try_from(bytes).unwrap_or(u32::MAX)
}

/// The keyed 128-bit tag of a token's signature segment.
pub(crate) type Key = [u8; 16];

/// The keys are outputs of a keyed PRF, uniformly distributed whoever chose the input:
/// their first eight bytes are already a good hash (no second pass needed).
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

/// The verified-token cache: entries by [`Key`], and the secret key of the tag.
pub(crate) struct TokenCache<C> {
    pub(crate) map: moka::sync::Cache<Key, Arc<Verified<C>>, BuildDigestHasher>,
    tagger: SipHasher24,
}

impl<C> Clone for TokenCache<C> {
    fn clone(&self) -> Self {
        TokenCache {
            map: self.map.clone(),
            tagger: self.tagger,
        }
    }
}

impl<C: Send + Sync + 'static> TokenCache<C> {
    /// Split a token into its signed part and the cache key of its signature; `None` for a
    /// token without a `.` (it fails verification anyway).
    pub(crate) fn key<'t>(&self, token: &'t str) -> Option<(&'t str, Key)> {
        let dot = token.rfind('.')?;
        let (signed, signature) = (&token[..dot], &token[dot + 1..]);
        Some((signed, self.tagger.hash(signature.as_bytes()).as_bytes()))
    }
}

/// A cache holding at most `max_bytes` of estimated entry heap (moka applies the bound at
/// its housekeeping, every 64 operations or so), with a fresh secret tag key.
pub(crate) fn new<C: Send + Sync + 'static>(max_bytes: u64) -> TokenCache<C> {
    let mut k = [0u8; 16];
    aws_lc_rs::rand::fill(&mut k).expect("system random source");
    // Never printed: `TokenCache` has no `Debug`, and the tagger (whose `Debug` would show
    // the key) is reached only through it.
    let tagger = SipHasher24::new_with_key(&k);
    let builder = moka::sync::Cache::builder()
        .max_capacity(max_bytes)
        .weigher(|_: &Key, v: &Arc<Verified<C>>| v.weight)
        .expire_after(UntilExp);
    // Every removal (evicted, expired, invalidated, replaced) reaches the listener: the
    // entries and bytes gauges go down by what the insert added.
    #[cfg(feature = "metrics")]
    let builder = builder.eviction_listener(|_, v: Arc<Verified<C>>, cause| {
        use moka::notification::RemovalCause;
        let evicted = match cause {
            RemovalCause::Size => Some("size"),
            RemovalCause::Expired => Some("expired"),
            RemovalCause::Explicit | RemovalCause::Replaced => None,
        };
        crate::metrics::token_cache_remove(v.weight, evicted);
    });
    TokenCache {
        map: builder.build_with_hasher(BuildDigestHasher::default()),
        tagger,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::ScopeSet;

    fn entry(signed: usize, stats: &JsonStats) -> Arc<Verified<()>> {
        Arc::new(Verified {
            principal: Principal::new(Default::default(), (), ScopeSet::default()),
            issuer: 0,
            key: [0; 32],
            ttl: Duration::from_secs(300),
            signed: "x".repeat(signed).into(),
            weight: entry_weight(signed, signed * 3 / 4, stats),
            clean_at: std::sync::atomic::AtomicU64::new(u64::MAX),
        })
    }

    #[test]
    fn the_budget_is_in_bytes() {
        let budget = 1024 * 1024;
        let cache = new::<()>(budget).map;
        // A 14 KB token whose payload is 1 200 one-member objects.
        let heavy = JsonStats {
            nodes: 2_400,
            objects: 1_200,
            members: 1_200,
            string_bytes: 1_200,
            top_object: true,
        };
        for i in 0..200u32 {
            let mut k = [0u8; 16];
            k[..4].copy_from_slice(&i.to_le_bytes());
            cache.insert(k, entry(14_000, &heavy));
        }
        cache.run_pending_tasks();
        assert!(cache.weighted_size() <= budget);
        assert!(cache.entry_count() < 2, "{}", cache.entry_count());
        // Typical ~700-byte tokens: about 5 KiB each.
        let typical = JsonStats {
            nodes: 20,
            objects: 2,
            members: 16,
            string_bytes: 300,
            top_object: true,
        };
        let w = entry(1_000, &typical).weight;
        assert!((3_500..7_000).contains(&w), "{w}");
    }
}
