//! DPoP proof replay detection: a proof's `jti` may be used once inside its window.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::digest;

/// The replay store could not answer (unreachable, or full); requests fail closed with 503.
///
/// ```
/// use a2a_guard::pop::ReplayStoreError;
/// let e = ReplayStoreError("connection refused".into());
/// assert_eq!(e.to_string(), "replay store unavailable: connection refused");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("replay store unavailable: {0}")]
pub struct ReplayStoreError(pub String);

/// The future [`ReplayStore::first_use`] returns.
pub type FirstUse<'a> = Pin<Box<dyn Future<Output = Result<bool, ReplayStoreError>> + Send + 'a>>;

/// Records proof identifiers. Shared across instances behind a load balancer, or a
/// replayed proof sent to another instance is accepted there.
///
/// A store must never forget a key before its `ttl` has run, and must never make room by
/// dropping live keys: when it cannot record a key it answers `Err`, and the request is
/// refused with 503 (fail closed). A replay accepted because a store forgot is exactly the
/// attack the store exists to stop.
///
/// ```
/// use std::time::Duration;
/// use a2a_guard::pop::{FirstUse, ReplayStore};
///
/// /// Refuses everything: a store that is never available.
/// struct Closed;
/// impl ReplayStore for Closed {
///     fn first_use<'a>(&'a self, _key: &'a str, _ttl: Duration, _now: u64) -> FirstUse<'a> {
///         Box::pin(async { Err(a2a_guard::pop::ReplayStoreError("closed".into())) })
///     }
/// }
/// ```
pub trait ReplayStore: Send + Sync + 'static {
    /// Record `key` for at least `ttl`; `Ok(true)` if it was not seen before (atomically).
    ///
    /// `now` is the validator's clock in Unix seconds, the clock the proof's `iat` window is
    /// checked against. A store that keeps time itself (Redis) may ignore it; the in-memory
    /// store expires entries by it, so retention and the `iat` window can never disagree.
    fn first_use<'a>(&'a self, key: &'a str, ttl: Duration, now: u64) -> FirstUse<'a>;

    /// The longest `ttl` this store honours, if it has a fixed retention (`None`: any `ttl`,
    /// the default). [`AuthLayer::dpop`](crate::AuthLayer::dpop) refuses a store whose
    /// retention is shorter than the configured proof window.
    fn max_ttl(&self) -> Option<Duration> {
        None
    }
}

/// Default byte budget of [`MemoryReplayStore`].
pub const DEFAULT_REPLAY_MAX_BYTES: usize = 64 * 1024 * 1024;

/// Bytes one remembered proof is charged, an upper bound: the 32-byte key digest and 8-byte
/// deadline in the hash map (≤ 94 bytes a slot, counting its 7/8 load factor and a table
/// just doubled) and again in the expiry heap (≤ 80 bytes, a vector just doubled).
/// Entries are fixed-size because keys are stored as SHA-256 digests, whatever the `jti`.
pub const REPLAY_ENTRY_BYTES: usize = 176;

/// In-process replay store (the default for one instance).
///
/// Each proof is kept until its own deadline by the validator's clock (`now + ttl`), never
/// evicted early: when the byte budget is spent on live entries, new proofs are refused
/// with [`ReplayStoreError`] (503 `ReplayStoreUnavailable`) rather than forgetting a used
/// one. Memory is bounded by the budget; keys are stored as fixed-size SHA-256 digests.
///
/// ```
/// use a2a_guard::pop::MemoryReplayStore;
/// // Room for about 60 000 proofs at once.
/// let store = MemoryReplayStore::with_max_bytes(10 * 1024 * 1024);
/// assert_eq!(store.capacity(), 10 * 1024 * 1024 / a2a_guard::pop::REPLAY_ENTRY_BYTES);
/// ```
#[derive(Debug, Clone)]
pub struct MemoryReplayStore {
    inner: Arc<Mutex<Seen>>,
    capacity: usize,
}

#[derive(Debug, Default)]
struct Seen {
    /// Key digest → deadline (validator Unix seconds, exclusive).
    live: HashMap<[u8; 32], u64>,
    /// The same entries ordered by deadline, to drop the expired ones in O(log n) each.
    expiry: BinaryHeap<Reverse<(u64, [u8; 32])>>,
}

impl Default for MemoryReplayStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryReplayStore {
    /// A store with the default budget, [`DEFAULT_REPLAY_MAX_BYTES`]: about 380 000 live
    /// proofs, so with the default 66 s retention some 5 700 DPoP requests a second.
    ///
    /// ```
    /// let store = a2a_guard::pop::MemoryReplayStore::new();
    /// assert!(store.capacity() > 380_000);
    /// ```
    pub fn new() -> Self {
        Self::with_max_bytes(DEFAULT_REPLAY_MAX_BYTES)
    }

    /// A store using at most `max_bytes` (charged [`REPLAY_ENTRY_BYTES`] per live proof).
    /// Past that, new proofs are refused with 503 until old ones expire.
    ///
    /// ```
    /// use a2a_guard::pop::{MemoryReplayStore, REPLAY_ENTRY_BYTES};
    /// assert_eq!(MemoryReplayStore::with_max_bytes(10 * REPLAY_ENTRY_BYTES).capacity(), 10);
    /// ```
    pub fn with_max_bytes(max_bytes: usize) -> Self {
        MemoryReplayStore {
            inner: Arc::default(),
            capacity: max_bytes / REPLAY_ENTRY_BYTES,
        }
    }

    /// How many live proofs fit in the budget.
    ///
    /// ```
    /// assert_eq!(a2a_guard::pop::MemoryReplayStore::with_max_bytes(0).capacity(), 0);
    /// ```
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn record(&self, key: &str, ttl: Duration, now: u64) -> Result<bool, ReplayStoreError> {
        let digest = digest::digest(&digest::SHA256, key.as_bytes());
        let mut id = [0u8; 32];
        id.copy_from_slice(digest.as_ref());
        // Round the ttl up: a proof accepted at `now` must stay refused for the whole window.
        let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
        let deadline = now.saturating_add(secs);
        // A poisoned lock only means another request panicked mid-update; the map is still
        // consistent (every update is a single insert or remove), so keep serving.
        let mut seen = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        // Expire by the validator's clock, the same clock the `iat` window uses.
        while let Some(Reverse((d, k))) = seen.expiry.peek().copied() {
            if d > now {
                break;
            }
            seen.expiry.pop();
            if seen.live.get(&k) == Some(&d) {
                seen.live.remove(&k);
            }
        }
        if seen.live.contains_key(&id) {
            return Ok(false);
        }
        if seen.live.len() >= self.capacity {
            return Err(ReplayStoreError(
                "the in-memory replay store is full".into(),
            ));
        }
        seen.live.insert(id, deadline);
        seen.expiry.push(Reverse((deadline, id)));
        Ok(true)
    }
}

impl ReplayStore for MemoryReplayStore {
    fn first_use<'a>(&'a self, key: &'a str, ttl: Duration, now: u64) -> FirstUse<'a> {
        Box::pin(std::future::ready(self.record(key, ttl, now)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u64 = 1_700_000_000;

    #[tokio::test]
    async fn second_use_is_detected() {
        let s = MemoryReplayStore::new();
        let ttl = Duration::from_secs(60);
        assert!(s.first_use("a", ttl, T).await.unwrap());
        assert!(!s.first_use("a", ttl, T).await.unwrap());
        assert!(s.first_use("b", ttl, T).await.unwrap());
    }

    #[tokio::test]
    async fn kept_for_the_callers_ttl_by_the_callers_clock() {
        let s = MemoryReplayStore::new();
        let ttl = Duration::from_secs(306);
        assert!(s.first_use("a", ttl, T).await.unwrap());
        // 67 s later by the validator's clock: the 65 s store of old forgot here.
        assert!(!s.first_use("a", ttl, T + 67).await.unwrap());
        assert!(!s.first_use("a", ttl, T + 305).await.unwrap());
        assert!(s.first_use("a", ttl, T + 306).await.unwrap(), "expired");
        // A clock that steps back keeps entries longer, never shorter.
        assert!(!s.first_use("a", ttl, T).await.unwrap());
    }

    #[tokio::test]
    async fn sub_second_ttls_round_up() {
        let s = MemoryReplayStore::new();
        assert!(s.first_use("a", Duration::from_millis(1), T).await.unwrap());
        assert!(!s.first_use("a", Duration::from_millis(1), T).await.unwrap());
    }

    #[tokio::test]
    async fn full_store_refuses_instead_of_evicting() {
        let s = MemoryReplayStore::with_max_bytes(3 * REPLAY_ENTRY_BYTES);
        let ttl = Duration::from_secs(60);
        for k in ["a", "b", "c"] {
            assert!(s.first_use(k, ttl, T).await.unwrap());
        }
        assert!(s.first_use("d", ttl, T).await.is_err(), "full: fail closed");
        assert!(!s.first_use("a", ttl, T).await.unwrap(), "still remembered");
        // Room again once entries expire by the caller's clock.
        assert!(s.first_use("d", ttl, T + 60).await.unwrap());
    }
}
