//! The key cache: where each issuer's verification keys come from and how they are kept
//! usable through authorization-server outages.
//!
//! Sources: a JWKS URL, OIDC discovery / RFC 8414 metadata, a file, or a static set. For
//! remote sources:
//! - **Refresh-ahead** in the background at the TTL from `Cache-Control: max-age` (or
//!   `Expires`), clamped to [`DEFAULT_REFRESH_MIN`]..[`DEFAULT_REFRESH_MAX`], default
//!   [`DEFAULT_REFRESH`], with ±10 % jitter. Requests never wait on a scheduled refresh.
//!   A discovery issuer's document is re-read on every scheduled refresh (same exact
//!   issuer match), so the issuer may move its `jwks_uri`; if discovery is unreachable the
//!   last `jwks_uri` is used.
//! - **Unknown `kid`**: one fetch for all concurrent requests, at most one per
//!   [`DEFAULT_KID_MISS_COOLDOWN`]; inside the cooldown a miss is answered at once. The
//!   fetch runs on its own task, so requests that give up (client gone, timeout) do not
//!   cancel it, and however it ends it starts the cooldown (after a failure: the current
//!   backoff delay).
//! - **Fetch failure**: the last known good keys keep validating for
//!   [`DEFAULT_LAST_KNOWN_GOOD`] after the issuer last confirmed them; retries back off
//!   exponentially with jitter; each failure is a warning event. A JWK Set without a usable
//!   key is a failure too. A successful fetch replaces the set, so keys the issuer removed
//!   stop validating at once.
//! - **Snapshot file** (opt-in): written atomically (mode 0600, through a fresh exclusive
//!   temporary file) after each fetch, read at start-up when the issuer is unreachable,
//!   bounded by the same last-known-good window. Refused when it is a symlink, not a
//!   regular file, not owned by the process's user, writable by group or others, or dated
//!   in the future (beyond the leeway).
//! - **URLs**: `https`, or `http` with `allow_http`. Loopback hosts only when the
//!   configured issuer (discovery) or JWKS URL is itself loopback; the same rules apply to
//!   every redirect and to the final URL of a response, also with your own `http_client`.
//! - **No keys at all**: requests get 503 with `Retry-After`; [`Validator::health`](crate::Validator::health)
//!   says why.
//!
//! Every duration is capped at [`MAX_KEY_CACHE_DURATION`].

mod fetch;
mod remote;
pub(crate) mod snapshot;

use std::sync::Arc;
use std::time::Duration;

pub use fetch::{FetchError, MAX_REDIRECTS};
pub(crate) use fetch::{
    Fetcher, HttpSettings, authorization_server_metadata, build_client, check_url, is_loopback_url,
    rfc8414_url,
};
pub(crate) use remote::RemoteKeys;
pub(crate) use snapshot::Snapshot;

use crate::jwk::KeySet;
use crate::{Algorithm, AuthError};

/// Default refresh interval when the JWKS response has no freshness header.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(10 * 60);
/// Default lower bound on the refresh interval.
pub const DEFAULT_REFRESH_MIN: Duration = Duration::from_secs(60);
/// Default upper bound on the refresh interval.
pub const DEFAULT_REFRESH_MAX: Duration = Duration::from_secs(24 * 3600);
/// Default window in which at most one kid-miss fetch happens.
pub const DEFAULT_KID_MISS_COOLDOWN: Duration = Duration::from_secs(30);
/// Default time keys stay usable after the issuer last confirmed them.
pub const DEFAULT_LAST_KNOWN_GOOD: Duration = Duration::from_secs(24 * 3600);
/// Default TCP/TLS connect timeout for key fetches.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default total timeout for one key fetch.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Default cap on a JWKS or discovery body, in bytes.
pub const DEFAULT_MAX_JWKS_BYTES: usize = 256 * 1024;
/// First retry delay after a failed fetch; doubles per failure.
pub const DEFAULT_BACKOFF_BASE: Duration = Duration::from_secs(1);
/// Longest retry delay after failed fetches.
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(5 * 60);
/// The longest any key-cache duration may be (refresh interval and bounds, kid-miss
/// cooldown, last-known-good window, backoff): longer settings are capped to it, so adding
/// them to the clock can never overflow.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(a2a_guard::keys::MAX_KEY_CACHE_DURATION, Duration::from_secs(365 * 24 * 3600));
/// ```
pub const MAX_KEY_CACHE_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);
/// How many total fetch timeouts one whole key fetch may take, also with a client handed in
/// through `http_client()`: one for discovery (the OIDC attempt and its RFC 8414 fallback
/// share it), one for the JWKS GET.
pub(crate) const FETCH_DEADLINE_FACTOR: u32 = 2;

/// Timing policy of the key cache.
#[derive(Debug, Clone)]
pub(crate) struct KeyCacheSettings {
    pub(crate) refresh_default: Duration,
    pub(crate) refresh_min: Duration,
    pub(crate) refresh_max: Duration,
    pub(crate) kid_miss_cooldown: Duration,
    pub(crate) last_known_good: Duration,
    pub(crate) backoff_base: Duration,
    pub(crate) backoff_max: Duration,
    /// How far in the future a snapshot's `fetched_at` may lie (clock skew): the
    /// validator's leeway.
    pub(crate) snapshot_leeway: Duration,
    /// Bound on one whole fetch (all its requests).
    pub(crate) fetch_deadline: Duration,
}

impl KeyCacheSettings {
    /// Every duration capped at [`MAX_KEY_CACHE_DURATION`].
    pub(crate) fn capped(mut self) -> Self {
        for d in [
            &mut self.refresh_default,
            &mut self.refresh_min,
            &mut self.refresh_max,
            &mut self.kid_miss_cooldown,
            &mut self.last_known_good,
            &mut self.backoff_base,
            &mut self.backoff_max,
            &mut self.snapshot_leeway,
            &mut self.fetch_deadline,
        ] {
            *d = (*d).min(MAX_KEY_CACHE_DURATION);
        }
        self
    }
}

impl Default for KeyCacheSettings {
    fn default() -> Self {
        KeyCacheSettings {
            refresh_default: DEFAULT_REFRESH,
            refresh_min: DEFAULT_REFRESH_MIN,
            refresh_max: DEFAULT_REFRESH_MAX,
            kid_miss_cooldown: DEFAULT_KID_MISS_COOLDOWN,
            last_known_good: DEFAULT_LAST_KNOWN_GOOD,
            backoff_base: DEFAULT_BACKOFF_BASE,
            backoff_max: DEFAULT_BACKOFF_MAX,
            snapshot_leeway: crate::DEFAULT_LEEWAY,
            fetch_deadline: DEFAULT_FETCH_TIMEOUT.saturating_mul(FETCH_DEADLINE_FACTOR),
        }
    }
}

/// The state of one issuer's keys, for readiness probes and dashboards.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct KeyHealth {
    /// The configured issuer.
    pub issuer: String,
    /// Where its keys come from (URL, `discovery:…`, `file:…`, `static`).
    pub source: String,
    /// Usable keys held.
    pub keys: usize,
    /// Whether tokens of this issuer can be validated now: at least one usable key, inside
    /// the last-known-good window.
    pub ready: bool,
    /// Whether the last fetch failed and the last known good keys are being served.
    pub serving_last_known_good: bool,
    /// Time since the issuer last confirmed the keys held.
    #[serde(serialize_with = "secs_opt")]
    pub last_success_age: Option<Duration>,
    /// The last fetch error, if the last fetch failed.
    pub last_error: Option<String>,
    /// Failed fetches since the last success.
    pub consecutive_failures: u32,
    /// Whether the start-up fetch is still running (only seen with
    /// [`background_key_fetch`](crate::ValidatorBuilder::background_key_fetch), where
    /// `build()` returns before it ends).
    pub starting: bool,
    /// Time until the next scheduled fetch.
    #[serde(serialize_with = "secs_opt")]
    pub next_refresh_in: Option<Duration>,
}

fn secs_opt<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&d.as_secs()),
        None => s.serialize_none(),
    }
}

/// The keys of one configured issuer.
#[derive(Clone)]
pub(crate) enum IssuerKeys {
    /// A fixed key set given at build time.
    Static(Arc<KeySet>),
    /// Keys fetched and kept fresh.
    Remote(Arc<RemoteKeys>),
}

impl IssuerKeys {
    /// The HTTP settings keys are fetched with; `None` for a static key set.
    pub(crate) fn http(&self) -> Option<&HttpSettings> {
        match self {
            IssuerKeys::Static(_) => None,
            IssuerKeys::Remote(r) => Some(r.http()),
        }
    }

    /// The key set to verify a token with this `kid` and `alg`.
    pub(crate) async fn lookup(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Arc<KeySet>, AuthError> {
        match self {
            IssuerKeys::Static(set) => Ok(set.clone()),
            IssuerKeys::Remote(r) => r.lookup(kid, alg).await,
        }
    }

    /// The keys held now, without fetching: for re-checking a cached verification. Honours
    /// the last-known-good window.
    pub(crate) fn current(&self) -> Result<Arc<KeySet>, AuthError> {
        match self {
            IssuerKeys::Static(set) => Ok(set.clone()),
            IssuerKeys::Remote(r) => r.current(),
        }
    }

    pub(crate) fn health(&self, issuer: &str) -> KeyHealth {
        match self {
            IssuerKeys::Static(set) => KeyHealth {
                issuer: issuer.to_owned(),
                source: "static".to_owned(),
                keys: set.len(),
                ready: !set.is_empty(),
                serving_last_known_good: false,
                last_success_age: None,
                last_error: None,
                consecutive_failures: 0,
                starting: false,
                next_refresh_in: None,
            },
            IssuerKeys::Remote(r) => r.health(),
        }
    }
}
