//! DPoP proof replay detection: a proof's `jti` may be used once inside its window.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// The replay store could not answer; requests fail closed with 503.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("replay store unavailable: {0}")]
pub struct ReplayStoreError(pub String);

/// Records proof identifiers. Shared across instances behind a load balancer, or a
/// replayed proof sent to another instance is accepted there.
pub trait ReplayStore: Send + Sync + 'static {
    /// Record `key` for `ttl`; `Ok(true)` if it was not seen before (atomically).
    fn first_use<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> Pin<Box<dyn Future<Output = Result<bool, ReplayStoreError>> + Send + 'a>>;
}

/// In-process replay store on moka (the default). Bounded; entries expire after the
/// proof window.
#[derive(Debug, Clone)]
pub struct MemoryReplayStore {
    seen: moka::sync::Cache<String, ()>,
}

/// Default capacity of [`MemoryReplayStore`]: proofs remembered at once.
pub const DEFAULT_REPLAY_CAPACITY: u64 = 1_000_000;

impl MemoryReplayStore {
    /// A store remembering up to `capacity` proofs for `window` each.
    pub fn new(capacity: u64, window: Duration) -> Self {
        MemoryReplayStore {
            seen: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .time_to_live(window)
                .build(),
        }
    }
}

impl ReplayStore for MemoryReplayStore {
    fn first_use<'a>(
        &'a self,
        key: &'a str,
        _ttl: Duration,
    ) -> Pin<Box<dyn Future<Output = Result<bool, ReplayStoreError>> + Send + 'a>> {
        let fresh = self.seen.entry(key.to_owned()).or_insert(()).is_fresh();
        Box::pin(std::future::ready(Ok(fresh)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn second_use_is_detected() {
        let s = MemoryReplayStore::new(100, Duration::from_secs(60));
        assert!(s.first_use("a", Duration::from_secs(60)).await.unwrap());
        assert!(!s.first_use("a", Duration::from_secs(60)).await.unwrap());
        assert!(s.first_use("b", Duration::from_secs(60)).await.unwrap());
    }
}
