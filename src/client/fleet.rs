//! [`RedisTokenCache`]: tokens shared by a fleet of instances (features `client` + `redis`),
//! so a cold fleet makes one token request per key, not one per instance.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::digest;
use secrecy::SecretString;

use super::credentials::expose;
use crate::ConfigError;

/// How long one Redis command may take before the instance goes on alone.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(500);
/// After a failed connection, no new attempt for this long (requests meanwhile go on alone).
const RECONNECT_AFTER: Duration = Duration::from_secs(5);
/// How long the instance that takes the lock may take to fetch and publish a token.
pub(crate) const LOCK_TTL: Duration = Duration::from_secs(10);
/// How long an instance waits for another instance's token before asking itself.
pub(crate) const LOCK_WAIT: Duration = Duration::from_secs(6);
/// Poll interval while waiting.
const POLL: Duration = Duration::from_millis(25);

/// A token cache shared by every instance that uses the same Redis and the same
/// configuration (token endpoint, client, scopes, resources, audience).
///
/// - **One request per fleet.** The instance that needs a token and finds none in Redis takes
///   a short lock (`SET … NX PX 10000`); the others wait (up to 6 s) for the token it
///   publishes instead of asking themselves.
/// - **Renewal once per fleet.** An instance due to renew first takes a newer token another
///   instance published.
/// - **Redis down never fails a call.** Each command is bounded (500 ms); when Redis cannot
///   be reached the instance uses its own cache and asks the authorization server itself,
///   and tries Redis again 5 s later.
///
/// The tokens are stored in Redis as they are (only until their usable end, `PX`), under a
/// key derived with SHA-256 from the configuration: Redis becomes part of the trust
/// boundary of these tokens. Protect it as you protect the client secret (ACLs, `rediss://`,
/// a network only the fleet reaches).
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use a2a_guard::client::{ClientCredentials, RedisTokenCache, Secret};
/// let shared = RedisTokenCache::new("redis://127.0.0.1:6379/")?;
/// let tokens = ClientCredentials::new("https://auth.example.com/token", "orchestrator")
///     .secret(Secret::file("/run/secrets/orchestrator"))
///     .shared_cache(shared)
///     .build()?;
/// # let _ = tokens; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisTokenCache {
    inner: Arc<CacheInner>,
}

struct CacheInner {
    client: redis::Client,
    prefix: String,
    conn: tokio::sync::Mutex<Conn>,
}

enum Conn {
    None,
    Up(redis::aio::MultiplexedConnection),
    Down(Instant),
}

impl std::fmt::Debug for RedisTokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTokenCache")
            .field("prefix", &self.inner.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisTokenCache {
    /// A cache on the Redis at `url` (`redis://` or `rediss://`), keys prefixed
    /// `a2a-guard:client:`. Nothing is contacted yet: Redis being down at start-up is not an
    /// error, the instance simply goes on alone until it is back.
    pub fn new(url: &str) -> Result<Self, ConfigError> {
        // The URL may carry a password: never echo it.
        let client = redis::Client::open(url)
            .map_err(|_| ConfigError::ReplayStore("the Redis URL is invalid".into()))?;
        Ok(RedisTokenCache {
            inner: Arc::new(CacheInner {
                client,
                prefix: "a2a-guard:client:".into(),
                conn: tokio::sync::Mutex::new(Conn::None),
            }),
        })
    }

    /// Another key prefix (to share one Redis between unrelated fleets).
    ///
    /// ```
    /// # fn demo() -> Result<(), a2a_guard::ConfigError> {
    /// let shared = a2a_guard::client::RedisTokenCache::new("redis://127.0.0.1:6379/")?
    ///     .prefix("billing:");
    /// # let _ = shared; Ok(()) }
    /// ```
    pub fn prefix(self, prefix: impl Into<String>) -> Self {
        RedisTokenCache {
            inner: Arc::new(CacheInner {
                client: self.inner.client.clone(),
                prefix: prefix.into(),
                conn: tokio::sync::Mutex::new(Conn::None),
            }),
        }
    }

    /// A connection, or `None` while Redis is (recently found) unreachable.
    async fn conn(&self) -> Option<redis::aio::MultiplexedConnection> {
        let mut conn = self.inner.conn.lock().await;
        match &*conn {
            Conn::Up(c) => return Some(c.clone()),
            Conn::Down(since) if since.elapsed() < RECONNECT_AFTER => return None,
            _ => {}
        }
        match tokio::time::timeout(
            COMMAND_TIMEOUT,
            self.inner.client.get_multiplexed_async_connection(),
        )
        .await
        {
            Ok(Ok(c)) => {
                *conn = Conn::Up(c.clone());
                Some(c)
            }
            _ => {
                tracing::warn!(
                    target: "a2a_guard::client",
                    "shared token cache: Redis unreachable; this instance goes on alone"
                );
                *conn = Conn::Down(Instant::now());
                None
            }
        }
    }

    async fn run<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Option<T> {
        let mut conn = self.conn().await?;
        match tokio::time::timeout(COMMAND_TIMEOUT, cmd.query_async::<T>(&mut conn)).await {
            Ok(Ok(v)) => Some(v),
            _ => {
                // Drop the connection: the next command reconnects (after the pause).
                *self.inner.conn.lock().await = Conn::Down(Instant::now());
                None
            }
        }
    }

    /// The key of one token source's configuration.
    pub(crate) fn key_for(&self, parts: &[&str]) -> FleetKey {
        let mut ctx = digest::Context::new(&digest::SHA256);
        for p in parts {
            ctx.update(&(p.len() as u64).to_le_bytes());
            ctx.update(p.as_bytes());
        }
        let hex: String = ctx
            .finish()
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        FleetKey {
            token: format!("{}token:{hex}", self.inner.prefix),
            lock: format!("{}lock:{hex}", self.inner.prefix),
        }
    }

    /// The shared token, if any: `(value, issued_ms, expires_ms)`.
    pub(crate) async fn get(&self, key: &FleetKey) -> Option<Shared> {
        let raw: Option<String> = self.run(redis::cmd("GET").arg(&key.token)).await?;
        let raw = SecretString::from(raw?);
        Shared::decode(expose(&raw))
    }

    /// Publish a token until `ttl` from now (its usable end).
    pub(crate) async fn put(&self, key: &FleetKey, shared: &Shared, ttl: Duration) {
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        if ms == 0 {
            return;
        }
        let value = SecretString::from(shared.encode());
        let _: Option<()> = self
            .run(
                redis::cmd("SET")
                    .arg(&key.token)
                    .arg(expose(&value))
                    .arg("PX")
                    .arg(ms),
            )
            .await;
    }

    /// Try to take the fetch lock: `Some(Some(id))` taken, `Some(None)` held by another
    /// instance, `None` Redis unreachable.
    pub(crate) async fn lock(&self, key: &FleetKey) -> Option<Option<String>> {
        let id = random_id();
        let set: Option<String> = self
            .run(
                redis::cmd("SET")
                    .arg(&key.lock)
                    .arg(&id)
                    .arg("NX")
                    .arg("PX")
                    .arg(LOCK_TTL.as_millis() as u64),
            )
            .await?;
        Some(set.map(|_| id))
    }

    /// Release the lock if it is still ours.
    pub(crate) async fn unlock(&self, key: &FleetKey, id: &str) {
        let _: Option<i64> = self
            .run(
                redis::cmd("EVAL")
                    .arg(
                        "if redis.call('GET', KEYS[1]) == ARGV[1] then \
                         return redis.call('DEL', KEYS[1]) else return 0 end",
                    )
                    .arg(1)
                    .arg(&key.lock)
                    .arg(id),
            )
            .await;
    }

    /// Wait (up to [`LOCK_WAIT`]) for another instance to publish a token that `accept`s.
    pub(crate) async fn wait_for(
        &self,
        key: &FleetKey,
        accept: impl Fn(&Shared) -> bool,
    ) -> Option<Shared> {
        let until = tokio::time::Instant::now() + LOCK_WAIT;
        while tokio::time::Instant::now() < until {
            tokio::time::sleep(POLL).await;
            match self.get(key).await {
                Some(s) if accept(&s) => return Some(s),
                _ => {}
            }
            // The holder gave up (its lock expired or was released without a token): stop
            // waiting and ask.
            let held: Option<i64> = self.run(redis::cmd("EXISTS").arg(&key.lock)).await;
            if held != Some(1) {
                return self.get(key).await.filter(|s| accept(s));
            }
        }
        None
    }
}

/// The Redis keys of one token source.
pub(crate) struct FleetKey {
    token: String,
    lock: String,
}

/// A token as stored in Redis.
pub(crate) struct Shared {
    pub(crate) value: SecretString,
    /// DPoP-bound (`d`) or Bearer (`b`).
    pub(crate) dpop: bool,
    pub(crate) issued_ms: u64,
    pub(crate) expires_ms: u64,
}

impl Shared {
    fn encode(&self) -> String {
        format!(
            "v1:{}:{}:{}:{}",
            self.issued_ms,
            self.expires_ms,
            if self.dpop { 'd' } else { 'b' },
            expose(&self.value)
        )
    }

    fn decode(raw: &str) -> Option<Shared> {
        let mut parts = raw.splitn(5, ':');
        if parts.next()? != "v1" {
            return None;
        }
        let issued_ms = parts.next()?.parse().ok()?;
        let expires_ms: u64 = parts.next()?.parse().ok()?;
        let dpop = match parts.next()? {
            "d" => true,
            "b" => false,
            _ => return None,
        };
        let value = parts.next()?;
        if value.is_empty() || expires_ms <= issued_ms {
            return None;
        }
        Some(Shared {
            value: SecretString::from(value.to_owned()),
            dpop,
            issued_ms,
            expires_ms,
        })
    }
}

fn random_id() -> String {
    let mut b = [0u8; 16];
    let _ = aws_lc_rs::rand::fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_tokens_round_trip_and_garbage_is_ignored() {
        let s = Shared {
            value: SecretString::from("abc.def:ghi".to_owned()),
            dpop: true,
            issued_ms: 10,
            expires_ms: 20,
        };
        let d = Shared::decode(&s.encode()).unwrap();
        assert_eq!(expose(&d.value), "abc.def:ghi");
        assert_eq!((d.issued_ms, d.expires_ms, d.dpop), (10, 20, true));
        for bad in [
            "",
            "v2:1:2:b:x",
            "v1:1:2:b:",
            "v1:5:2:b:x",
            "v1:a:2:b:x",
            "v1:1:2:b",
            "v1:1:2:x:y",
        ] {
            assert!(Shared::decode(bad).is_none(), "{bad}");
        }
    }
}
