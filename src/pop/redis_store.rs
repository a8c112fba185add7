//! A replay store shared by a fleet of instances: Redis `SET key 1 NX PX ttl`, atomic.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::replay::{ReplayStore, ReplayStoreError};

/// DPoP replay protection shared across instances through Redis (feature `redis`).
///
/// Each proof is recorded with `SET <prefix><jkt>:<jti> 1 NX PX <window>`: atomic
/// set-if-absent with expiry, so two instances receiving the same proof cannot both accept
/// it. The connection reconnects by itself; while Redis is unreachable DPoP requests fail
/// closed with 503.
///
/// ```no_run
/// # async fn demo(validator: a2a_guard::Validator) -> Result<(), Box<dyn std::error::Error>> {
/// use a2a_guard::pop::{DpopConfig, RedisReplayStore};
/// let store = RedisReplayStore::connect("redis://127.0.0.1:6379/").await?;
/// let layer = validator.layer().dpop(DpopConfig::new().replay_store(store));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisReplayStore {
    conn: redis::aio::ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for RedisReplayStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisReplayStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisReplayStore {
    /// Connect to `url` (e.g. `redis://127.0.0.1:6379/`), keys prefixed `a2a-guard:`.
    pub async fn connect(url: &str) -> Result<Self, ReplayStoreError> {
        let client = redis::Client::open(url).map_err(|e| ReplayStoreError(e.to_string()))?;
        let conn = client
            .get_connection_manager()
            .await
            .map_err(|e| ReplayStoreError(e.to_string()))?;
        Ok(RedisReplayStore {
            conn,
            prefix: "a2a-guard:".into(),
        })
    }

    /// Use another key prefix (to share one Redis between services).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }
}

impl ReplayStore for RedisReplayStore {
    fn first_use<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> Pin<Box<dyn Future<Output = Result<bool, ReplayStoreError>> + Send + 'a>> {
        let mut conn = self.conn.clone();
        Box::pin(async move {
            let set: Option<String> = redis::cmd("SET")
                .arg(format!("{}{key}", self.prefix))
                .arg(1)
                .arg("NX")
                .arg("PX")
                .arg(ttl.as_millis().max(1) as u64)
                .query_async(&mut conn)
                .await
                .map_err(|e| ReplayStoreError(e.to_string()))?;
            Ok(set.is_some())
        })
    }
}
