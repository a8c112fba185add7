//! A replay store shared by a fleet of instances: Redis `SET key 1 NX PX ttl`, atomic.

use std::time::Duration;

use super::replay::{FirstUse, ReplayStore, ReplayStoreError};
use crate::ConfigError;

/// DPoP replay protection shared across instances through Redis (feature `redis`).
///
/// Each proof is recorded with `SET <prefix><jkt>:<jti> 1 NX PX <window>`: atomic
/// set-if-absent with expiry, so two instances receiving the same proof cannot both accept
/// it. The connection reconnects by itself; while Redis is unreachable, or refuses writes
/// because it is full, DPoP requests fail closed with 503.
///
/// Redis must not evict these keys: with a `maxmemory-policy` other than `noeviction`
/// (`allkeys-*` and `volatile-*` both take keys with a TTL) a flood of proofs pushes used
/// ones out and they replay. [`connect`](Self::connect) reads the policy with
/// `CONFIG GET maxmemory-policy` and refuses an evicting one with
/// [`ConfigError::EvictingReplayStore`]; where `CONFIG` is disabled (many managed Redis
/// services) it logs a warning and connects: check the policy yourself. Expiry follows
/// Redis's clock, not the validator's: keep both on NTP.
///
/// ```no_run
/// # async fn demo(validator: a2a_guard::Validator) -> Result<(), Box<dyn std::error::Error>> {
/// use a2a_guard::pop::{DpopConfig, RedisReplayStore};
/// let store = RedisReplayStore::connect("redis://127.0.0.1:6379/").await?;
/// let layer = validator.layer().dpop(
///     DpopConfig::new().origin("https://agents.example.com").replay_store(store),
/// )?;
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

/// What [`RedisReplayStore::connect_with`] does about an evicting `maxmemory-policy`.
///
/// ```
/// use a2a_guard::pop::EvictionPolicyCheck;
/// assert_eq!(EvictionPolicyCheck::default(), EvictionPolicyCheck::Refuse);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum EvictionPolicyCheck {
    /// Refuse to connect (the default of [`RedisReplayStore::connect`]).
    #[default]
    Refuse,
    /// Connect and log a warning: for a Redis whose memory you are sure never runs out.
    Warn,
}

impl RedisReplayStore {
    /// Connect to `url` (e.g. `redis://127.0.0.1:6379/`), keys prefixed `a2a-guard:`,
    /// refusing a Redis whose `maxmemory-policy` evicts keys.
    pub async fn connect(url: &str) -> Result<Self, ConfigError> {
        Self::connect_with(url, EvictionPolicyCheck::Refuse).await
    }

    /// [`connect`](Self::connect), choosing what an evicting `maxmemory-policy` does.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), a2a_guard::ConfigError> {
    /// use a2a_guard::pop::{EvictionPolicyCheck, RedisReplayStore};
    /// let store =
    ///     RedisReplayStore::connect_with("redis://127.0.0.1:6379/", EvictionPolicyCheck::Warn)
    ///         .await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect_with(url: &str, check: EvictionPolicyCheck) -> Result<Self, ConfigError> {
        // The URL may carry a password: never echo it or the client's error text for it.
        let client = redis::Client::open(url)
            .map_err(|_| ConfigError::ReplayStore("the Redis URL is invalid".into()))?;
        let mut conn = client
            .get_connection_manager()
            .await
            .map_err(|e| ConfigError::ReplayStore(format!("cannot connect ({:?})", e.kind())))?;
        let policy: redis::RedisResult<Vec<String>> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("maxmemory-policy")
            .query_async(&mut conn)
            .await;
        match policy.as_deref() {
            Ok([_, policy]) if policy != "noeviction" => match check {
                EvictionPolicyCheck::Refuse => {
                    return Err(ConfigError::EvictingReplayStore {
                        policy: policy.clone(),
                    });
                }
                EvictionPolicyCheck::Warn => tracing::warn!(
                    target: "a2a_guard::dpop",
                    policy = %policy,
                    "Redis evicts keys under memory pressure: used DPoP proofs may replay"
                ),
            },
            Ok([_, _]) => {}
            _ => tracing::warn!(
                target: "a2a_guard::dpop",
                "cannot read Redis maxmemory-policy (CONFIG disabled?); make sure it is noeviction"
            ),
        }
        Ok(RedisReplayStore {
            conn,
            prefix: "a2a-guard:".into(),
        })
    }

    /// Use another key prefix (to share one Redis between services).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), a2a_guard::ConfigError> {
    /// let store = a2a_guard::pop::RedisReplayStore::connect("redis://127.0.0.1:6379/")
    ///     .await?
    ///     .prefix("billing:");
    /// # Ok(()) }
    /// ```
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }
}

impl ReplayStore for RedisReplayStore {
    fn first_use<'a>(&'a self, key: &'a str, ttl: Duration, _now: u64) -> FirstUse<'a> {
        let mut conn = self.conn.clone();
        Box::pin(async move {
            // Redis answers an error (OOM) rather than evicting under `noeviction`: fail closed.
            let set: Option<String> = redis::cmd("SET")
                .arg(format!("{}{key}", self.prefix))
                .arg(1)
                .arg("NX")
                .arg("PX")
                .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1))
                .query_async(&mut conn)
                .await
                .map_err(|e| ReplayStoreError(e.to_string()))?;
            Ok(set.is_some())
        })
    }
}
