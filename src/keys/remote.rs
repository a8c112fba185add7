//! The cache of one remote issuer's keys: refresh-ahead, kid-miss single flight with
//! cooldown, last-known-good, snapshot.
//!
//! Reads are lock-free (`ArcSwap`) and never wait on I/O: every fetch runs on its own and
//! swaps the new set in afterwards.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use arc_swap::ArcSwapOption;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::fetch::{FetchError, Fetcher, HttpSettings};
use super::snapshot::{Entry, Snapshot};
use super::{KeyCacheSettings, KeyHealth};
use crate::jwk::KeySet;
use crate::{Algorithm, AuthError, Clock};

struct State {
    keys: Arc<KeySet>,
    /// When the issuer last confirmed these keys (unix seconds, by the validator's clock).
    confirmed_at: i64,
    /// Fetch sequence number, so a slow older fetch never overwrites a newer one.
    seq: u64,
}

#[derive(Default)]
struct Status {
    last_error: Option<FetchError>,
    consecutive_failures: u32,
    next_attempt: Option<tokio::time::Instant>,
}

pub(crate) struct RemoteKeys {
    issuer: String,
    fetcher: Fetcher,
    http: HttpSettings,
    settings: KeyCacheSettings,
    clock: Arc<dyn Clock>,
    state: ArcSwapOption<State>,
    /// Serialises the compare-and-swap of fetch results (never held across I/O).
    swap: Mutex<()>,
    status: Mutex<Status>,
    /// Single flight for kid misses: concurrent misses share one fetch, and later misses
    /// reuse its outcome for the cooldown (after a success) or the current backoff delay
    /// (after a failure, so a recovered issuer's new keys are not refused for a whole
    /// cooldown).
    miss: moka::future::Cache<(), Arc<MissOutcome>>,
    seq: AtomicU64,
    snapshot: Option<Arc<Snapshot>>,
}

/// The outcome of a kid-miss fetch and how long it stands for later misses.
struct MissOutcome {
    result: Result<(), FetchError>,
    hold: Duration,
}

struct MissExpiry;

impl moka::Expiry<(), Arc<MissOutcome>> for MissExpiry {
    fn expire_after_create(
        &self,
        _: &(),
        v: &Arc<MissOutcome>,
        _: std::time::Instant,
    ) -> Option<Duration> {
        Some(v.hold)
    }
}

fn unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A random factor in [1 - spread, 1 + spread], so a fleet does not fetch in lock-step.
fn jitter(d: Duration, spread: f64) -> Duration {
    let mut b = [0u8; 4];
    let _ = aws_lc_rs::rand::fill(&mut b);
    let r = u32::from_le_bytes(b) as f64 / u32::MAX as f64; // [0, 1]
    d.mul_f64(1.0 - spread + 2.0 * spread * r)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl RemoteKeys {
    /// Create the cache, pre-warm it (fetch, else snapshot), and start the refresh task.
    pub(crate) async fn start(
        issuer: String,
        fetcher: Fetcher,
        http: HttpSettings,
        settings: KeyCacheSettings,
        clock: Arc<dyn Clock>,
        snapshot: Option<Arc<Snapshot>>,
    ) -> Arc<RemoteKeys> {
        let snapshot = snapshot.filter(|_| !matches!(fetcher, Fetcher::File { .. }));
        let this = Arc::new(RemoteKeys {
            miss: moka::future::Cache::builder()
                .max_capacity(1)
                .expire_after(MissExpiry)
                .build(),
            issuer,
            fetcher,
            http,
            settings,
            clock,
            state: ArcSwapOption::empty(),
            swap: Mutex::new(()),
            status: Mutex::new(Status::default()),
            seq: AtomicU64::new(0),
            snapshot,
        });
        let first = match this.refresh().await {
            Ok(ttl) => ttl,
            Err(_) => {
                this.load_snapshot().await;
                this.backoff(1)
            }
        };
        lock(&this.status).next_attempt = Some(tokio::time::Instant::now() + first);
        tokio::spawn(refresh_ahead(Arc::downgrade(&this), first));
        this
    }

    fn now(&self) -> i64 {
        unix(self.clock.now())
    }

    fn snapshot_state(&self) -> Option<Arc<State>> {
        self.state.load_full()
    }

    fn usable(&self, s: &State) -> bool {
        self.now().saturating_sub(s.confirmed_at) <= self.settings.last_known_good.as_secs() as i64
    }

    /// The key set to verify a token with this `kid` and `alg`. A miss (no candidate key, or
    /// no usable keys) triggers at most one fetch per cooldown window, shared by all callers.
    pub(crate) async fn lookup(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Arc<KeySet>, AuthError> {
        if let Some(s) = self.snapshot_state()
            && self.usable(&s)
            && s.keys.find(kid, alg).next().is_some()
        {
            return Ok(s.keys.clone());
        }
        let outcome = self
            .miss
            .get_with((), async {
                let result = self.refresh().await.map(|_| ());
                let hold = match &result {
                    Ok(()) => self.settings.kid_miss_cooldown,
                    Err(_) => self
                        .backoff(lock(&self.status).consecutive_failures)
                        .min(self.settings.kid_miss_cooldown),
                };
                Arc::new(MissOutcome { result, hold })
            })
            .await;
        if let Err(e) = &outcome.result {
            tracing::debug!(target: "a2a_guard::keys", issuer = %self.issuer, error = %e, "kid-miss fetch failed");
        }
        match self.snapshot_state() {
            Some(s) if self.usable(&s) => Ok(s.keys.clone()),
            _ => Err(AuthError::KeysUnavailable {
                retry_after: self.retry_after(),
            }),
        }
    }

    /// The keys held now, if still inside the last-known-good window; never fetches.
    pub(crate) fn current(&self) -> Result<Arc<KeySet>, AuthError> {
        match self.snapshot_state() {
            Some(s) if self.usable(&s) => Ok(s.keys.clone()),
            _ => Err(AuthError::KeysUnavailable {
                retry_after: self.retry_after(),
            }),
        }
    }

    fn retry_after(&self) -> Duration {
        let next = lock(&self.status).next_attempt;
        let until = next.map_or(Duration::ZERO, |t| {
            t.saturating_duration_since(tokio::time::Instant::now())
        });
        until
            .max(Duration::from_secs(1))
            .min(self.settings.kid_miss_cooldown.max(Duration::from_secs(1)))
    }

    fn backoff(&self, failures: u32) -> Duration {
        let exp = self
            .settings
            .backoff_base
            .saturating_mul(1u32 << failures.saturating_sub(1).min(16));
        jitter(exp.min(self.settings.backoff_max), 0.2)
    }

    fn next_interval(&self, max_age: Option<Duration>) -> Duration {
        let s = &self.settings;
        let ttl = max_age
            .unwrap_or(s.refresh_default)
            .clamp(s.refresh_min, s.refresh_max);
        jitter(ttl, 0.1)
    }

    /// Fetch once. On success the set is swapped in (removed keys stop validating at once)
    /// and the time to the next refresh is returned.
    pub(crate) async fn refresh(&self) -> Result<Duration, FetchError> {
        let seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        match self.fetcher.fetch(&self.http).await {
            Ok(fetched) => {
                let now = self.now();
                let new = Arc::new(fetched.keys);
                let applied = {
                    let _swap = lock(&self.swap);
                    let old = self.state.load_full();
                    if old.as_ref().is_some_and(|o| o.seq > seq) {
                        None
                    } else {
                        self.state.store(Some(Arc::new(State {
                            keys: new.clone(),
                            confirmed_at: now,
                            seq,
                        })));
                        Some(old)
                    }
                };
                if let Some(old) = applied {
                    let before: Vec<&str> = old
                        .as_ref()
                        .map(|o| o.keys.kids().collect())
                        .unwrap_or_default();
                    let after: Vec<&str> = new.kids().collect();
                    let added: Vec<&str> = after
                        .iter()
                        .filter(|k| !before.contains(k))
                        .copied()
                        .collect();
                    let removed: Vec<&str> = before
                        .iter()
                        .filter(|k| !after.contains(k))
                        .copied()
                        .collect();
                    tracing::info!(target: "a2a_guard::keys", issuer = %self.issuer, keys = new.len(),
                        added = ?added, removed = ?removed, "JWKS fetched");
                }
                {
                    let mut status = lock(&self.status);
                    status.last_error = None;
                    status.consecutive_failures = 0;
                }
                if let Some(snap) = &self.snapshot {
                    let entry = Entry {
                        source: self.fetcher.describe(),
                        fetched_at: now,
                        jwks: fetched.raw,
                    };
                    let snap = snap.clone();
                    let issuer = self.issuer.clone();
                    tokio::spawn(async move { snap.store(&issuer, entry).await });
                }
                Ok(self.next_interval(fetched.max_age))
            }
            Err(e) => {
                let failures = {
                    let mut status = lock(&self.status);
                    status.last_error = Some(e.clone());
                    status.consecutive_failures += 1;
                    status.consecutive_failures
                };
                let serving = self.snapshot_state().is_some_and(|s| self.usable(&s));
                tracing::warn!(target: "a2a_guard::keys", issuer = %self.issuer, source = %self.fetcher.describe(),
                    error = %e, failures, serving_last_known_good = serving, "JWKS fetch failed");
                Err(e)
            }
        }
    }

    async fn load_snapshot(&self) {
        let Some(snap) = &self.snapshot else { return };
        let Some(entry) = snap.load().await.remove(&self.issuer) else {
            return;
        };
        if entry.source != self.fetcher.describe() {
            tracing::warn!(target: "a2a_guard::keys", issuer = %self.issuer, "snapshot is from another key source; ignored");
            return;
        }
        let keys = match KeySet::from_value(&entry.jwks) {
            Ok(k) if !k.is_empty() => k,
            _ => {
                tracing::warn!(target: "a2a_guard::keys", issuer = %self.issuer, "snapshot holds no usable keys; ignored");
                return;
            }
        };
        let state = State {
            keys: Arc::new(keys),
            confirmed_at: entry.fetched_at,
            seq: 0,
        };
        if !self.usable(&state) {
            tracing::warn!(target: "a2a_guard::keys", issuer = %self.issuer, "snapshot is older than last_known_good; ignored");
            return;
        }
        tracing::warn!(target: "a2a_guard::keys", issuer = %self.issuer, age_secs = self.now() - entry.fetched_at,
            "issuer unreachable at start-up; serving keys from the snapshot file");
        let _swap = lock(&self.swap);
        if self.state.load().is_none() {
            self.state.store(Some(Arc::new(state)));
        }
    }

    pub(crate) fn health(&self) -> KeyHealth {
        let s = self.snapshot_state();
        let status = lock(&self.status);
        let usable = s.as_ref().is_some_and(|s| self.usable(s));
        KeyHealth {
            issuer: self.issuer.clone(),
            source: self.fetcher.describe(),
            keys: s.as_ref().map_or(0, |s| s.keys.len()),
            ready: usable,
            serving_last_known_good: usable && status.last_error.is_some(),
            last_success_age: s.as_ref().map(|s| {
                Duration::from_secs(self.now().saturating_sub(s.confirmed_at).max(0) as u64)
            }),
            last_error: status.last_error.as_ref().map(ToString::to_string),
            consecutive_failures: status.consecutive_failures,
            next_refresh_in: status
                .next_attempt
                .map(|t| t.saturating_duration_since(tokio::time::Instant::now())),
        }
    }
}

/// The background refresh loop. Holds only a `Weak`, so it ends with the validator.
async fn refresh_ahead(this: Weak<RemoteKeys>, mut delay: Duration) {
    loop {
        tokio::time::sleep(delay).await;
        let Some(keys) = this.upgrade() else { return };
        delay = match keys.refresh().await {
            Ok(ttl) => ttl,
            Err(_) => {
                let failures = lock(&keys.status).consecutive_failures;
                keys.backoff(failures)
            }
        };
        lock(&keys.status).next_attempt = Some(tokio::time::Instant::now() + delay);
    }
}
