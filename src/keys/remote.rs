//! The cache of one remote issuer's keys: refresh-ahead, kid-miss single flight with
//! cooldown, last-known-good, snapshot.
//!
//! Reads are lock-free (`ArcSwap`) and never wait on I/O: every fetch runs on its own and
//! swaps the new set in afterwards.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use arc_swap::ArcSwapOption;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::fetch::{FetchError, Fetcher, HttpSettings};
use super::snapshot::{Entry, Snapshot};
use super::{KeyCacheSettings, KeyHealth, MAX_KEY_CACHE_DURATION};
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
    /// are answered from the keys held for the cooldown (after a success) or the current
    /// backoff delay (after a failure, so a recovered issuer's new keys are not refused for
    /// a whole cooldown). Never held across I/O.
    miss: Mutex<MissGate>,
    seq: AtomicU64,
    snapshot: Option<Arc<Snapshot>>,
    /// The start-up fetch is still running. With `background_key_fetch()` requests arrive
    /// meanwhile: they are answered from what is held (nothing: 503) without waiting and
    /// without a kid-miss fetch of their own, so start-up costs the issuer one fetch.
    starting: AtomicBool,
}

/// Clears [`RemoteKeys::starting`] when the start-up ends, also if its task is cancelled.
struct Starting<'a>(&'a AtomicBool);

impl Drop for Starting<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// The kid-miss single flight. The fetch runs in a spawned task that callers only await, so
/// a caller that goes away (client disconnect, timeout) cannot abort it, and its end (success,
/// failure, timeout, even cancellation of the task) always starts the hold: one fetch per
/// cooldown however many unknown kids arrive, cancelled requests included.
#[derive(Default)]
struct MissGate {
    /// The fetch in flight; its sender flips to `true` when it is over.
    inflight: Option<tokio::sync::watch::Receiver<bool>>,
    /// Until when misses are answered from the keys held, without a fetch.
    hold_until: Option<tokio::time::Instant>,
}

/// Ends a kid-miss flight when dropped, also when the task is cancelled or panics: starts the
/// hold (the backoff delay if no outcome was recorded), clears the flight, wakes the callers.
struct MissFlight {
    keys: Arc<RemoteKeys>,
    done: tokio::sync::watch::Sender<bool>,
    hold: Option<Duration>,
}

impl Drop for MissFlight {
    fn drop(&mut self) {
        let hold = self.hold.unwrap_or_else(|| {
            let failures = lock(&self.keys.status).consecutive_failures;
            self.keys
                .backoff(failures.max(1))
                .min(self.keys.settings.kid_miss_cooldown)
        });
        {
            let mut gate = lock(&self.keys.miss);
            gate.hold_until = Some(later(hold));
            gate.inflight = None;
        }
        let _ = self.done.send(true);
    }
}

/// `now + d` on the tokio clock, never overflowing: durations are capped by the builder,
/// and anything still too far is taken as [`MAX_KEY_CACHE_DURATION`] from now.
fn later(d: Duration) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    now.checked_add(d)
        .or_else(|| now.checked_add(MAX_KEY_CACHE_DURATION))
        .unwrap_or(now)
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
    // Capped first so the product always fits a `Duration` (`mul_f64` panics otherwise).
    d.min(MAX_KEY_CACHE_DURATION)
        .mul_f64(1.0 - spread + 2.0 * spread * r)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl RemoteKeys {
    /// Create the cache, pre-warm it (fetch, else snapshot), and start the refresh task.
    /// Returns when the pre-warm is over: at most one whole fetch (the fetch deadline),
    /// plus reading the snapshot file.
    pub(crate) async fn start(
        issuer: String,
        fetcher: Fetcher,
        http: HttpSettings,
        settings: KeyCacheSettings,
        clock: Arc<dyn Clock>,
        snapshot: Option<Arc<Snapshot>>,
    ) -> Arc<RemoteKeys> {
        let this = Self::new(issuer, fetcher, http, settings, clock, snapshot);
        let first = this.prewarm().await;
        tokio::spawn(refresh_ahead(Arc::downgrade(&this), first));
        this
    }

    /// Create the cache and return at once; the pre-warm (fetch, else snapshot) and then
    /// the refresh task run in the background. Until keys arrive, lookups answer
    /// `KeysUnavailable` without waiting.
    pub(crate) fn start_in_background(
        issuer: String,
        fetcher: Fetcher,
        http: HttpSettings,
        settings: KeyCacheSettings,
        clock: Arc<dyn Clock>,
        snapshot: Option<Arc<Snapshot>>,
    ) -> Arc<RemoteKeys> {
        let this = Self::new(issuer, fetcher, http, settings, clock, snapshot);
        let keys = Arc::clone(&this);
        tokio::spawn(async move {
            let first = keys.prewarm().await;
            // The loop holds only a `Weak`, so it ends with the validator.
            let weak = Arc::downgrade(&keys);
            drop(keys);
            refresh_ahead(weak, first).await;
        });
        this
    }

    fn new(
        issuer: String,
        fetcher: Fetcher,
        http: HttpSettings,
        settings: KeyCacheSettings,
        clock: Arc<dyn Clock>,
        snapshot: Option<Arc<Snapshot>>,
    ) -> Arc<RemoteKeys> {
        let snapshot = snapshot.filter(|_| !matches!(fetcher, Fetcher::File { .. }));
        Arc::new(RemoteKeys {
            miss: Mutex::new(MissGate::default()),
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
            starting: AtomicBool::new(true),
        })
    }

    /// The first fetch (else the snapshot file); returns the delay to the next refresh.
    async fn prewarm(&self) -> Duration {
        let first = {
            let _starting = Starting(&self.starting);
            match self.refresh(true).await {
                Ok(ttl) => ttl,
                Err(_) => {
                    self.load_snapshot().await;
                    let retry = self.backoff(1);
                    // A failed start-up starts the kid-miss hold, as a failed kid-miss
                    // fetch does: the first requests are answered at once (503, or the
                    // snapshot's keys) instead of each waiting for another fetch of an
                    // issuer that just failed. The scheduled retry comes at the same time.
                    lock(&self.miss).hold_until =
                        Some(later(retry.min(self.settings.kid_miss_cooldown)));
                    retry
                }
            }
        };
        lock(&self.status).next_attempt = Some(later(first));
        first
    }

    fn now(&self) -> i64 {
        unix(self.clock.now())
    }

    fn snapshot_state(&self) -> Option<Arc<State>> {
        self.state.load_full()
    }

    fn usable(&self, s: &State) -> bool {
        let window = i64::try_from(self.settings.last_known_good.as_secs()).unwrap_or(i64::MAX);
        !s.keys.is_empty() && self.now().saturating_sub(s.confirmed_at) <= window
    }

    /// The key set to verify a token with this `kid` and `alg`. A miss (no candidate key, or
    /// no usable keys) triggers at most one fetch per hold window, shared by all callers.
    pub(crate) async fn lookup(
        self: &Arc<Self>,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Arc<KeySet>, AuthError> {
        if let Some(s) = self.snapshot_state()
            && self.usable(&s)
            && s.keys.find(kid, alg).next().is_some()
        {
            return Ok(s.keys.clone());
        }
        if let Some(mut done) = self.miss_flight() {
            // Only waiting here: dropping this future leaves the fetch running.
            let _ = done.wait_for(|over| *over).await;
        }
        match self.snapshot_state() {
            Some(s) if self.usable(&s) => Ok(s.keys.clone()),
            _ => Err(AuthError::KeysUnavailable {
                retry_after: self.retry_after(),
            }),
        }
    }

    /// The kid-miss flight to wait for: the one in flight, a new one (spawned), or none
    /// inside the hold window.
    fn miss_flight(self: &Arc<Self>) -> Option<tokio::sync::watch::Receiver<bool>> {
        // During a background start-up its fetch is the one fetch: no second one, and no
        // waiting for it either (`build()` returned so requests would not wait).
        if self.starting.load(Ordering::Acquire) {
            return None;
        }
        let mut gate = lock(&self.miss);
        if gate
            .hold_until
            .is_some_and(|t| tokio::time::Instant::now() < t)
        {
            crate::metrics::kid_miss(&self.issuer, false);
            return None;
        }
        if let Some(rx) = &gate.inflight {
            return Some(rx.clone());
        }
        crate::metrics::kid_miss(&self.issuer, true);
        let (done, rx) = tokio::sync::watch::channel(false);
        gate.inflight = Some(rx.clone());
        drop(gate);
        let mut flight = MissFlight {
            keys: Arc::clone(self),
            done,
            hold: None,
        };
        tokio::spawn(async move {
            let keys = Arc::clone(&flight.keys);
            let hold = match keys.refresh(false).await {
                Ok(_) => keys.settings.kid_miss_cooldown,
                Err(e) => {
                    tracing::debug!(target: "a2a_guard::keys", issuer = %keys.issuer, error = %e, "kid-miss fetch failed");
                    keys.backoff(lock(&keys.status).consecutive_failures)
                        .min(keys.settings.kid_miss_cooldown)
                }
            };
            flight.hold = Some(hold);
            drop(flight);
        });
        Some(rx)
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
        jitter(
            exp.min(self.settings.backoff_max)
                .min(MAX_KEY_CACHE_DURATION),
            0.2,
        )
    }

    fn next_interval(&self, max_age: Option<Duration>) -> Duration {
        let s = &self.settings;
        let ttl = max_age
            .unwrap_or(s.refresh_default)
            .clamp(s.refresh_min, s.refresh_max);
        jitter(ttl, 0.1)
    }

    /// Fetch once (re-reading discovery first when `rediscover`). On success the set is
    /// swapped in (removed keys stop validating at once) and the time to the next refresh is
    /// returned. A set without usable keys is a failure and keeps the keys held. The whole
    /// fetch is bounded by the fetch deadline, also with a user-supplied client.
    pub(crate) async fn refresh(&self, rediscover: bool) -> Result<Duration, FetchError> {
        let seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        // Span `a2a_guard.keys.fetch` (crate docs, "Tracing spans").
        let span = tracing::info_span!(target: "a2a_guard::keys", "a2a_guard.keys.fetch",
            issuer = %self.issuer, rediscover, result = tracing::field::Empty,
            keys = tracing::field::Empty);
        let fetched = tracing::Instrument::instrument(
            tokio::time::timeout(
                self.settings.fetch_deadline,
                self.fetcher.fetch(&self.http, rediscover),
            ),
            span.clone(),
        )
        .await
        .unwrap_or(Err(FetchError::Timeout));
        match &fetched {
            Ok(f) => {
                span.record("result", "ok");
                span.record("keys", f.keys.len());
            }
            Err(e) => {
                span.record("result", e.kind());
            }
        }
        match fetched {
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
                    crate::metrics::key_set(&self.issuer, new.len(), now);
                }
                crate::metrics::key_fetch(&self.issuer, "ok");
                crate::metrics::keys_stale(&self.issuer, false);
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
                crate::metrics::key_fetch(&self.issuer, e.kind());
                crate::metrics::keys_stale(&self.issuer, serving);
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
        // A snapshot dated in the future would otherwise escape the last-known-good bound
        // (its age is negative); only clock skew within the leeway is tolerated.
        let leeway = i64::try_from(self.settings.snapshot_leeway.as_secs()).unwrap_or(i64::MAX);
        if entry.fetched_at > self.now().saturating_add(leeway) {
            tracing::warn!(target: "a2a_guard::keys", issuer = %self.issuer, "snapshot is dated in the future; ignored");
            return;
        }
        let state = State {
            keys: Arc::new(keys),
            confirmed_at: entry.fetched_at.min(self.now()),
            seq: 0,
        };
        if !self.usable(&state) {
            tracing::warn!(target: "a2a_guard::keys", issuer = %self.issuer, "snapshot is older than last_known_good; ignored");
            return;
        }
        tracing::warn!(target: "a2a_guard::keys", issuer = %self.issuer, age_secs = self.now().saturating_sub(entry.fetched_at),
            "issuer unreachable at start-up; serving keys from the snapshot file");
        let _swap = lock(&self.swap);
        if self.state.load().is_none() {
            crate::metrics::key_set(&self.issuer, state.keys.len(), state.confirmed_at);
            crate::metrics::keys_stale(&self.issuer, true);
            self.state.store(Some(Arc::new(state)));
        }
    }

    /// The HTTP settings (client, URL rules, body cap) this issuer's keys are fetched with.
    pub(crate) fn http(&self) -> &HttpSettings {
        &self.http
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
            starting: self.starting.load(Ordering::Acquire),
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
        delay = match keys.refresh(true).await {
            Ok(ttl) => ttl,
            Err(_) => {
                let failures = lock(&keys.status).consecutive_failures;
                keys.backoff(failures)
            }
        };
        lock(&keys.status).next_attempt = Some(later(delay));
    }
}
