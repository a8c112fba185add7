//! [`RedisRevocations`]: one deny-list for a fleet (feature `redis`). Revocations written by
//! any instance reach every instance's in-memory [`Revocations`] through Redis pub/sub, with
//! a periodic full resync so a missed message heals; the request path never goes to Redis.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt as _;
use tokio::sync::mpsc;

use super::{Revocations, Target};
use crate::ConfigError;

/// How often the whole shared list is read again (heals missed pub/sub messages).
pub const DEFAULT_RESYNC: Duration = Duration::from_secs(30);
/// Revocations waiting to be written to Redis at most (beyond: `RevocationError::Unavailable`).
const QUEUE: usize = 10_000;
/// One Redis command's bound.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// Pause before reconnecting after Redis was lost.
const RECONNECT_AFTER: Duration = Duration::from_millis(500);

/// One revocation, as written to Redis and published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// `"jti"`, `"sub"`, `"client_id"` or `"sid"`.
    pub(crate) kind: &'static str,
    /// `jti`: keep until; epochs: tokens issued before (Unix seconds).
    pub(crate) at: i64,
    pub(crate) value: String,
}

impl Entry {
    fn encode(&self) -> String {
        format!("{}\t{}\t{}", self.kind, self.at, self.value)
    }

    fn decode(s: &str) -> Option<Entry> {
        let mut parts = s.splitn(3, '\t');
        let kind = kind(parts.next()?)?;
        let at = parts.next()?.parse().ok()?;
        let value = parts.next()?.to_owned();
        Some(Entry { kind, at, value })
    }

    fn apply(&self, to: &Revocations, now: i64) {
        let _ = match target(self.kind) {
            None => to.insert_jti(&self.value, self.at, now),
            Some(t) => to.insert_epoch(t, &self.value, self.at),
        };
    }
}

fn kind(s: &str) -> Option<&'static str> {
    ["jti", "sub", "client_id", "sid"]
        .into_iter()
        .find(|k| *k == s)
}

fn target(kind: &str) -> Option<Target> {
    match kind {
        "sub" => Some(Target::Subject),
        "client_id" => Some(Target::Client),
        "sid" => Some(Target::Session),
        _ => None,
    }
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// What the shared deny-list's link to Redis looks like now.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SyncHealth {
    /// Subscribed and the last resync succeeded.
    pub connected: bool,
    /// When the whole list was last read from Redis.
    pub last_sync: Option<SystemTime>,
}

/// Shares a [`Revocations`] deny-list with every instance that attaches to the same Redis.
///
/// - **Writes.** After [`attach`](Self::attach), every revocation made through the
///   `Revocations` handle (or its clones, e.g. the admin service) applies locally at once
///   and is queued for Redis: `ZADD … GT` (never moves an entry back) and `PUBLISH`.
/// - **Reads** stay in memory: the validator never waits on Redis.
/// - **Propagation.** Each instance subscribes to the channel and applies what arrives; every
///   [`DEFAULT_RESYNC`] it reads the whole list again, so a message missed during a
///   disconnection heals.
/// - **Redis down.** Each instance keeps its last view (revocations made before still hold),
///   reconnects by itself, and reports it in [`health`](Self::health); revocations made
///   meanwhile hold locally and are written when Redis is back.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use a2a_guard::revocation::{RedisRevocations, Revocations};
/// let revocations = Revocations::new();
/// let shared = RedisRevocations::attach("redis://127.0.0.1:6379/", &revocations).await?;
/// // give `revocations` to the validator; revoke through it anywhere in the fleet
/// # let _ = shared; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisRevocations {
    health: Arc<Mutex<SyncHealth>>,
    /// Fail closed after this long out of sync (milliseconds; 0: never).
    fail_closed_ms: Arc<std::sync::atomic::AtomicU64>,
    _task: Arc<TaskGuard>,
}

struct TaskGuard(tokio::task::JoinHandle<()>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl std::fmt::Debug for RedisRevocations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisRevocations")
            .field("health", &self.health())
            .finish()
    }
}

impl RedisRevocations {
    /// Attach `revocations` to the Redis at `url`, keys prefixed `a2a-guard:revocations:`.
    /// Returns once the first sync succeeded, or with an error when Redis cannot be reached
    /// now — the caller decides whether to start without it
    /// ([`attach_in_background`](Self::attach_in_background) never waits).
    pub async fn attach(url: &str, revocations: &Revocations) -> Result<Self, ConfigError> {
        let shared = Self::attach_in_background(url, revocations)?;
        let deadline = tokio::time::Instant::now() + COMMAND_TIMEOUT * 2;
        while tokio::time::Instant::now() < deadline {
            if shared.health().connected {
                return Ok(shared);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Err(ConfigError::ReplayStore(
            "the shared deny-list cannot reach Redis".into(),
        ))
    }

    /// [`attach`](Self::attach) without waiting: syncing starts in the background (the
    /// instance starts with an empty or local view).
    pub fn attach_in_background(url: &str, revocations: &Revocations) -> Result<Self, ConfigError> {
        // The URL may carry a password: never echo it.
        let client = redis::Client::open(url)
            .map_err(|_| ConfigError::ReplayStore("the Redis URL is invalid".into()))?;
        let (tx, rx) = mpsc::channel(QUEUE);
        revocations.set_publisher(tx);
        let health = Arc::new(Mutex::new(SyncHealth {
            connected: false,
            last_sync: None,
        }));
        let fail_closed_ms = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let task = tokio::spawn(run(
            client,
            "a2a-guard:revocations:".to_owned(),
            revocations.clone(),
            rx,
            health.clone(),
            fail_closed_ms.clone(),
        ));
        Ok(RedisRevocations {
            health,
            fail_closed_ms,
            _task: Arc::new(TaskGuard(task)),
        })
    }

    /// Fail closed once Redis has been unreachable this long: every validation with this
    /// deny-list then answers 503 ([`AuthError::RevocationsUnavailable`](crate::AuthError::RevocationsUnavailable))
    /// until the next successful sync. Off by default (keep the last view, keep serving):
    /// choose it where accepting a revoked token is worse than refusing every token.
    ///
    /// ```no_run
    /// # async fn demo(r: a2a_guard::revocation::Revocations) -> Result<(), a2a_guard::ConfigError> {
    /// use a2a_guard::revocation::RedisRevocations;
    /// use std::time::Duration;
    /// let link = RedisRevocations::attach("redis://127.0.0.1:6379/", &r).await?;
    /// link.fail_closed_after(Duration::from_secs(60));
    /// # Ok(()) }
    /// ```
    pub fn fail_closed_after(&self, bound: Duration) {
        self.fail_closed_ms.store(
            u64::try_from(bound.as_millis()).unwrap_or(u64::MAX).max(1),
            std::sync::atomic::Ordering::Release,
        );
    }

    /// The link's state now.
    pub fn health(&self) -> SyncHealth {
        self.health
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

async fn run(
    client: redis::Client,
    prefix: String,
    local: Revocations,
    mut outbox: mpsc::Receiver<Entry>,
    health: Arc<Mutex<SyncHealth>>,
    fail_closed_ms: Arc<std::sync::atomic::AtomicU64>,
) {
    let channel = format!("{prefix}events");
    let mut pending: Vec<Entry> = Vec::new();
    // The last moment the link was known good (a sync, a message, a write, a tick).
    let mut last_ok = tokio::time::Instant::now();
    loop {
        let set = |connected: bool, synced: bool| {
            let mut h = health
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            h.connected = connected;
            if synced {
                h.last_sync = Some(SystemTime::now());
            }
        };
        let session = async {
            let mut conn =
                tokio::time::timeout(COMMAND_TIMEOUT, client.get_multiplexed_async_connection())
                    .await
                    .ok()?
                    .ok()?;
            let mut pubsub = tokio::time::timeout(COMMAND_TIMEOUT, client.get_async_pubsub())
                .await
                .ok()?
                .ok()?;
            pubsub.subscribe(&channel).await.ok()?;
            let mut messages = pubsub.into_on_message();
            // Subscribed first, then read everything: nothing published in between is lost.
            for e in pending.drain(..) {
                write(&mut conn, &prefix, &channel, &e).await?;
            }
            resync(&mut conn, &prefix, &local).await?;
            set(true, true);
            crate::metrics::revocation_sync(true);
            local.set_stale(false);
            last_ok = tokio::time::Instant::now();
            let mut tick = tokio::time::interval(DEFAULT_RESYNC);
            tick.tick().await;
            loop {
                tokio::select! {
                    msg = messages.next() => {
                        let msg = msg?;
                        if let Ok(text) = msg.get_payload::<String>()
                            && let Some(e) = Entry::decode(&text)
                        {
                            e.apply(&local, now_unix());
                        }
                    }
                    entry = outbox.recv() => {
                        let Some(entry) = entry else { return Some(()) };
                        if write(&mut conn, &prefix, &channel, &entry).await.is_none() {
                            pending.push(entry);
                            return None;
                        }
                    }
                    _ = tick.tick() => {
                        resync(&mut conn, &prefix, &local).await?;
                        set(true, true);
                    }
                }
                last_ok = tokio::time::Instant::now();
            }
        };
        if session.await.is_some() {
            return; // every Revocations handle is gone
        }
        // A link that was up until this moment was good until now.
        if health
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .connected
        {
            last_ok = tokio::time::Instant::now();
        }
        set(false, false);
        crate::metrics::revocation_sync(false);
        let bound = fail_closed_ms.load(std::sync::atomic::Ordering::Acquire);
        if bound > 0 && last_ok.elapsed() >= Duration::from_millis(bound) {
            local.set_stale(true);
        }
        tracing::warn!(
            target: "a2a_guard::revocation",
            "shared deny-list: Redis unreachable; keeping the last view and reconnecting"
        );
        // Keep what is revoked meanwhile for the next connection (bounded by the queue).
        while let Ok(e) = outbox.try_recv() {
            if pending.len() < QUEUE {
                pending.push(e);
            }
        }
        tokio::time::sleep(RECONNECT_AFTER).await;
    }
}

async fn write(
    conn: &mut redis::aio::MultiplexedConnection,
    prefix: &str,
    channel: &str,
    e: &Entry,
) -> Option<()> {
    let mut pipe = redis::pipe();
    pipe.cmd("ZADD")
        .arg(format!("{prefix}{}", e.kind))
        .arg("GT")
        .arg(e.at)
        .arg(&e.value)
        .ignore()
        .cmd("PUBLISH")
        .arg(channel)
        .arg(e.encode())
        .ignore();
    if e.kind == "jti" {
        // Drop what is over while writing.
        pipe.cmd("ZREMRANGEBYSCORE")
            .arg(format!("{prefix}jti"))
            .arg("-inf")
            .arg(format!("({}", now_unix()))
            .ignore();
    }
    tokio::time::timeout(COMMAND_TIMEOUT, pipe.query_async::<()>(conn))
        .await
        .ok()?
        .ok()
}

/// Read every shared entry and merge it into the local view (never un-revokes).
async fn resync(
    conn: &mut redis::aio::MultiplexedConnection,
    prefix: &str,
    local: &Revocations,
) -> Option<()> {
    let now = now_unix();
    for kind in ["jti", "sub", "client_id", "sid"] {
        let entries: HashMap<String, i64> = tokio::time::timeout(
            COMMAND_TIMEOUT,
            redis::cmd("ZRANGE")
                .arg(format!("{prefix}{kind}"))
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES")
                .query_async::<Vec<(String, f64)>>(conn),
        )
        .await
        .ok()?
        .ok()?
        .into_iter()
        .map(|(v, s)| (v, s as i64))
        .collect();
        for (value, at) in entries {
            Entry { kind, at, value }.apply(local, now);
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_garbage_is_ignored() {
        let e = Entry {
            kind: "client_id",
            at: 42,
            value: "a\tb".into(),
        };
        assert_eq!(Entry::decode(&e.encode()), Some(e));
        for bad in ["", "jti", "jti\tx\ty", "root\t1\tx"] {
            assert_eq!(Entry::decode(bad), None, "{bad}");
        }
    }
}
