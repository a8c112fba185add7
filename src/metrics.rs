//! Metrics through the [`metrics`](https://docs.rs/metrics/0.24) facade (feature `metrics`).
//!
//! The library only records; the application installs the recorder (Prometheus, StatsD,
//! OpenTelemetry…). With no recorder installed each event costs the facade's look-up of the
//! no-op recorder (a thread-local and an atomic load) and, for metrics with run-time label
//! values, building the key; the validation histogram reads the clock twice. Measured with
//! callgrind (`BENCHMARKS.md`): +228 instructions per cached validation (+3.5 %), +1 686 per
//! request through the auth layer (+5.7 %, including the decision dispatch the feature turns
//! on). Without the feature nothing is compiled in.
//!
//! Names follow the Prometheus conventions: prefix `a2a_guard_`, counters end in `_total`,
//! base units (`_seconds`, `_bytes`). Every label value is a closed set of constants or
//! configuration (an issuer URL you configured, a route template of your router): never a
//! raw path, `sub`, `jti`, `kid` or anything else a caller chooses, so the number of series
//! is bounded whatever the traffic (`tests/metrics.rs` sends 1 000 garbage paths, `kid`s and
//! tokens and checks the exact set of series).
//!
//! | name | type | unit | labels | moves when |
//! |---|---|---|---|---|
//! | `a2a_guard_decisions_total` | counter | | `decision` = `allow`\|`deny`; `reason` = [`AuthError::reason`](crate::AuthError::reason), `ok` or `refused_downstream`; `route` = the matched route template, `""` when unknown | the auth layer answers a request (the same moment as the audit event) |
//! | `a2a_guard_validation_duration_seconds` | histogram | seconds | `cache` = `hit`\|`miss` | a token validation ends, success or not (the token checks only, not your service); `hit` = served from the verified-token cache |
//! | `a2a_guard_token_cache_hits_total` | counter | | | a token is found in the verified-token cache |
//! | `a2a_guard_token_cache_misses_total` | counter | | | a token is looked up and not found (or its key was rotated out) |
//! | `a2a_guard_token_cache_evictions_total` | counter | | `cause` = `size`\|`expired` | an entry leaves for the byte budget (or is refused admission), or its token expires |
//! | `a2a_guard_token_cache_entries` | gauge | | | entries held by the verified-token caches of the process |
//! | `a2a_guard_token_cache_bytes` | gauge | bytes | | estimated heap of those entries (their weight against the byte budget) |
//! | `a2a_guard_key_fetches_total` | counter | | `issuer`; `result` = `ok`\|`connect`\|`timeout`\|`status`\|`too_large`\|`parse`\|`issuer_mismatch`\|`refused_url`\|`file`\|`no_keys` | a JWKS fetch (start-up, scheduled refresh, kid miss) ends |
//! | `a2a_guard_keys` | gauge | | `issuer` | keys held after a good fetch or a snapshot load |
//! | `a2a_guard_keys_last_refresh_timestamp_seconds` | gauge | seconds | `issuer` | Unix time the key set was last confirmed; its age is `time() - a2a_guard_keys_last_refresh_timestamp_seconds` |
//! | `a2a_guard_keys_stale` | gauge | | `issuer` | 1 while the last fetch failed and the last-known-good keys are served, 0 after a good fetch |
//! | `a2a_guard_kid_miss_fetches_total` | counter | | `issuer` | an unknown `kid` starts a fetch (one per cooldown however many arrive) |
//! | `a2a_guard_kid_miss_refused_total` | counter | | `issuer` | an unknown `kid` is refused a fetch by the cooldown |
//! | `a2a_guard_dpop_replays_total` | counter | | | a DPoP proof is refused as already used |
//! | `a2a_guard_dpop_replay_store_errors_total` | counter | | | the replay store cannot record a proof (the request gets 503) |
//! | `a2a_guard_introspection_requests_total` | counter | | `result` = `active`\|`inactive`\|`error` | an introspection request ends (feature `client`) |
//! | `a2a_guard_introspection_cache_hits_total` | counter | | | an introspection answer is served from its cache |
//! | `a2a_guard_introspection_fail_open_total` | counter | | | a verified JWT is accepted with introspection unavailable (`fail_open`) |
//! | `a2a_guard_revocations_added_total` | counter | | `kind` = `jti`\|`epoch` | the deny-list gains an entry or moves an epoch forward (locally, from a SET or from the shared store) |
//! | `a2a_guard_revocation_sync_connected` | gauge | | | 1 while the Redis deny-list link is up and synced, 0 while it reconnects (feature `redis`) |
//! | `a2a_guard_revocation_sync_errors_total` | counter | | | the Redis deny-list link is lost or a resync fails (feature `redis`) |
//! | `a2a_guard_revocation_stale` | gauge | | | 1 while the shared deny-list is out of sync past its fail-closed bound (feature `redis`) |
//! | `a2a_guard_sets_received_total` | counter | | `result` = `accepted`\|`invalid_request`\|`invalid_key`\|`invalid_issuer`\|`invalid_audience`\|`keys_unavailable` | a Security Event Token is delivered to the receiver |
//! | `a2a_guard_client_token_requests_total` | counter | | `grant` = `client_credentials`\|`token_exchange`; `result` = `ok`\|`error` | a token request to the token endpoint ends (feature `client`) |
//! | `a2a_guard_client_token_cache_hits_total` | counter | | `grant` | a token is served from the client's cache without a request |
//! | `a2a_guard_client_stale_served_total` | counter | | | a cached token past its refresh point is served while renewals fail |
//! | `a2a_guard_client_revocations_total` | counter | | `result` = `ok`\|`error` | an RFC 7009 revocation request ends |
//!
//! Refusals by the deny-list are decisions with `reason="revoked"` (and
//! `revocations_unavailable` when the shared list is stale): no metric of their own.
//! The key-set age is exported as a timestamp, the Prometheus way: a gauge of the age would
//! only move when something sets it. The token-cache gauges are sums over the validators of
//! the process, kept by increments on insert and decrements on removal.
//!
//! `route` is only known when a route guard ([`RequireScopes`](crate::RequireScopes), …) or
//! an extractor ([`Claims`](crate::Claims), …) saw axum's `MatchedPath`; a request the layer
//! refuses never reaches the router, so denials by the layer carry `route=""`.
//!
//! ## Descriptions
//!
//! Call [`describe`] once after installing the recorder: it registers each metric's help
//! text and unit. Recording works without it (the exporter then shows no `# HELP` line).
//!
//! ## Example: Prometheus text at `/metrics` in an axum app
//!
//! ```no_run
//! use a2a_guard::Validator;
//! use axum::{Router, routing::get};
//! use metrics_exporter_prometheus::PrometheusBuilder;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let prometheus = PrometheusBuilder::new().install_recorder()?; // the application's choice
//! a2a_guard::metrics::describe();
//! let validator = Validator::builder()
//!     .issuer("https://auth.example.com")
//!     .audience("agent-api")
//!     .build()
//!     .await?;
//! let api = Router::new()
//!     .route("/customers", get(|| async { "customers" }))
//!     .layer(validator.layer());
//! // The scrape endpoint takes no token: serve it apart (own listener, or outside the layer).
//! let scrape = Router::new().route("/metrics", get(move || async move { prometheus.render() }));
//! let (api_listener, metrics_listener) = (
//!     tokio::net::TcpListener::bind("127.0.0.1:8080").await?,
//!     tokio::net::TcpListener::bind("127.0.0.1:9464").await?,
//! );
//! tokio::try_join!(axum::serve(api_listener, api), axum::serve(metrics_listener, scrape))?;
//! # Ok(()) }
//! ```
//!
//! In tests, `metrics-util`'s `DebuggingRecorder` shows what was recorded:
//!
//! ```
//! # #[cfg(feature = "testing")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use a2a_guard::{Validator, testing::TestIssuer};
//! use metrics_util::debugging::DebuggingRecorder;
//!
//! let recorder = DebuggingRecorder::new();
//! let snapshotter = recorder.snapshotter();
//! let _local = metrics::set_default_local_recorder(&recorder); // this thread only
//! let issuer = TestIssuer::start().await?;
//! let validator = Validator::builder()
//!     .issuer_jwks(issuer.issuer(), issuer.jwks_url())
//!     .audience(issuer.audience())
//!     .build()
//!     .await?;
//! validator.validate(&issuer.token().sign()).await?;
//! let names: Vec<String> = snapshotter.snapshot().into_vec().into_iter()
//!     .map(|(key, ..)| key.key().name().to_owned())
//!     .collect();
//! assert!(names.iter().any(|n| n == "a2a_guard_validation_duration_seconds"));
//! # Ok(()) }
//! # #[cfg(not(feature = "testing"))]
//! # fn main() {}
//! ```

#[cfg(feature = "metrics")]
use ::metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge};

/// Register the help text and unit of every metric in the table above with the installed
/// recorder. Call it once, after installing the recorder (descriptions given before are lost
/// with the no-op recorder); calling it again is harmless.
///
/// ```
/// let recorder = metrics_util::debugging::DebuggingRecorder::new();
/// let snapshotter = recorder.snapshotter();
/// metrics::with_local_recorder(&recorder, a2a_guard::metrics::describe);
/// # let _ = snapshotter;
/// ```
#[cfg(feature = "metrics")]
pub fn describe() {
    describe_counter!(
        "a2a_guard_decisions_total",
        "Authorization decisions of the auth layer, by decision, reason and route template."
    );
    describe_histogram!(
        "a2a_guard_validation_duration_seconds",
        Unit::Seconds,
        "Time to validate one token (the checks only), by verified-token cache hit or miss."
    );
    describe_counter!(
        "a2a_guard_token_cache_hits_total",
        "Tokens found in the verified-token cache."
    );
    describe_counter!(
        "a2a_guard_token_cache_misses_total",
        "Tokens looked up in the verified-token cache and verified in full."
    );
    describe_counter!(
        "a2a_guard_token_cache_evictions_total",
        "Verified-token cache entries removed for the byte budget (size) or at expiry."
    );
    describe_gauge!(
        "a2a_guard_token_cache_entries",
        "Entries held by the verified-token caches of the process."
    );
    describe_gauge!(
        "a2a_guard_token_cache_bytes",
        Unit::Bytes,
        "Estimated heap of the verified-token cache entries (their weight)."
    );
    describe_counter!(
        "a2a_guard_key_fetches_total",
        "JWKS fetches by issuer and result (ok or the failure kind)."
    );
    describe_gauge!("a2a_guard_keys", "Verification keys held per issuer.");
    describe_gauge!(
        "a2a_guard_keys_last_refresh_timestamp_seconds",
        Unit::Seconds,
        "Unix time the issuer's key set was last confirmed by a good fetch (or the snapshot's date)."
    );
    describe_gauge!(
        "a2a_guard_keys_stale",
        "1 while the last key fetch failed and last-known-good keys are served."
    );
    describe_counter!(
        "a2a_guard_kid_miss_fetches_total",
        "Key fetches started by an unknown kid."
    );
    describe_counter!(
        "a2a_guard_kid_miss_refused_total",
        "Unknown kids refused a fetch by the kid-miss cooldown."
    );
    describe_counter!(
        "a2a_guard_dpop_replays_total",
        "DPoP proofs refused as already used."
    );
    describe_counter!(
        "a2a_guard_dpop_replay_store_errors_total",
        "DPoP proofs the replay store could not record (answered 503)."
    );
    describe_counter!(
        "a2a_guard_introspection_requests_total",
        "Introspection requests by result (active, inactive, error)."
    );
    describe_counter!(
        "a2a_guard_introspection_cache_hits_total",
        "Introspection answers served from the cache."
    );
    describe_counter!(
        "a2a_guard_introspection_fail_open_total",
        "Verified JWTs accepted while introspection was unavailable (fail-open)."
    );
    describe_counter!(
        "a2a_guard_revocations_added_total",
        "Deny-list entries added or moved forward, by kind (jti, epoch)."
    );
    describe_gauge!(
        "a2a_guard_revocation_sync_connected",
        "1 while the Redis deny-list link is up and synced."
    );
    describe_counter!(
        "a2a_guard_revocation_sync_errors_total",
        "Redis deny-list link losses and failed resyncs."
    );
    describe_gauge!(
        "a2a_guard_revocation_stale",
        "1 while the shared deny-list is out of sync past its fail-closed bound."
    );
    describe_counter!(
        "a2a_guard_sets_received_total",
        "Security Event Tokens delivered, by result."
    );
    describe_counter!(
        "a2a_guard_client_token_requests_total",
        "Token requests to the token endpoint, by grant and result."
    );
    describe_counter!(
        "a2a_guard_client_token_cache_hits_total",
        "Tokens served from the client's cache without a request, by grant."
    );
    describe_counter!(
        "a2a_guard_client_stale_served_total",
        "Cached tokens past their refresh point served while renewals fail."
    );
    describe_counter!(
        "a2a_guard_client_revocations_total",
        "RFC 7009 revocation requests by result."
    );
}

// The recording side: one function per event, empty without the feature, so call sites stay
// one line. Names and literal label values are written inline: the facade builds a static key
// for them (no allocation per event).

/// An authorization decision of the auth layer. `route` is a route template or `None`.
#[inline]
pub(crate) fn decision(allowed: bool, reason: &'static str, route: Option<&std::sync::Arc<str>>) {
    #[cfg(feature = "metrics")]
    {
        let decision = if allowed { "allow" } else { "deny" };
        // The router's own template, shared (a reference count), not copied.
        let route = match route {
            Some(r) => ::metrics::SharedString::from_shared(r.clone()),
            None => ::metrics::SharedString::const_str(""),
        };
        counter!("a2a_guard_decisions_total", "decision" => decision, "reason" => reason, "route" => route)
            .increment(1);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (allowed, reason, route);
}

/// When a timed operation started; holds nothing (and reads no clock) without the feature.
#[derive(Clone, Copy)]
pub(crate) struct Timer {
    #[cfg(feature = "metrics")]
    at: std::time::Instant,
}

impl Timer {
    #[inline]
    pub(crate) fn start() -> Self {
        Timer {
            #[cfg(feature = "metrics")]
            at: std::time::Instant::now(),
        }
    }
}

/// A token validation ended; `hit`: served from the verified-token cache.
#[inline]
pub(crate) fn validation(timer: Timer, hit: bool) {
    #[cfg(feature = "metrics")]
    {
        let seconds = timer.at.elapsed().as_secs_f64();
        if hit {
            ::metrics::histogram!("a2a_guard_validation_duration_seconds", "cache" => "hit")
                .record(seconds);
        } else {
            ::metrics::histogram!("a2a_guard_validation_duration_seconds", "cache" => "miss")
                .record(seconds);
        }
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (timer, hit);
}

#[inline]
pub(crate) fn token_cache_lookup(hit: bool) {
    #[cfg(feature = "metrics")]
    if hit {
        counter!("a2a_guard_token_cache_hits_total").increment(1);
    } else {
        counter!("a2a_guard_token_cache_misses_total").increment(1);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = hit;
}

/// An entry of `weight` bytes entered the verified-token cache.
#[inline]
pub(crate) fn token_cache_insert(weight: u32) {
    #[cfg(feature = "metrics")]
    {
        gauge!("a2a_guard_token_cache_entries").increment(1.0);
        gauge!("a2a_guard_token_cache_bytes").increment(f64::from(weight));
    }
    #[cfg(not(feature = "metrics"))]
    let _ = weight;
}

/// An entry of `weight` bytes left the verified-token cache; `cause` is `Some` for the
/// removals counted as evictions (`size`, `expired`).
#[cfg(feature = "metrics")]
pub(crate) fn token_cache_remove(weight: u32, cause: Option<&'static str>) {
    gauge!("a2a_guard_token_cache_entries").decrement(1.0);
    gauge!("a2a_guard_token_cache_bytes").decrement(f64::from(weight));
    match cause {
        Some("size") => {
            counter!("a2a_guard_token_cache_evictions_total", "cause" => "size").increment(1)
        }
        Some(_) => {
            counter!("a2a_guard_token_cache_evictions_total", "cause" => "expired").increment(1)
        }
        None => {}
    }
}

/// A JWKS fetch of `issuer` ended with `result` (`ok` or a `FetchError` kind).
pub(crate) fn key_fetch(issuer: &str, result: &'static str) {
    #[cfg(feature = "metrics")]
    counter!("a2a_guard_key_fetches_total", "issuer" => issuer.to_owned(), "result" => result)
        .increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = (issuer, result);
}

/// `issuer`'s key set was (re)placed: `keys` keys, confirmed at Unix time `confirmed_at`.
pub(crate) fn key_set(issuer: &str, keys: usize, confirmed_at: i64) {
    #[cfg(feature = "metrics")]
    {
        gauge!("a2a_guard_keys", "issuer" => issuer.to_owned()).set(keys as f64);
        gauge!("a2a_guard_keys_last_refresh_timestamp_seconds", "issuer" => issuer.to_owned())
            .set(confirmed_at as f64);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (issuer, keys, confirmed_at);
}

/// Whether `issuer`'s keys are served as last-known-good (the last fetch failed).
pub(crate) fn keys_stale(issuer: &str, stale: bool) {
    #[cfg(feature = "metrics")]
    gauge!("a2a_guard_keys_stale", "issuer" => issuer.to_owned()).set(if stale {
        1.0
    } else {
        0.0
    });
    #[cfg(not(feature = "metrics"))]
    let _ = (issuer, stale);
}

/// An unknown `kid` started a fetch (`true`) or was refused one by the cooldown (`false`).
pub(crate) fn kid_miss(issuer: &str, fetched: bool) {
    #[cfg(feature = "metrics")]
    if fetched {
        counter!("a2a_guard_kid_miss_fetches_total", "issuer" => issuer.to_owned()).increment(1);
    } else {
        counter!("a2a_guard_kid_miss_refused_total", "issuer" => issuer.to_owned()).increment(1);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (issuer, fetched);
}

pub(crate) fn dpop_replay() {
    #[cfg(feature = "metrics")]
    counter!("a2a_guard_dpop_replays_total").increment(1);
}

pub(crate) fn dpop_replay_store_error() {
    #[cfg(feature = "metrics")]
    counter!("a2a_guard_dpop_replay_store_errors_total").increment(1);
}

/// An introspection request ended: `active`, `inactive` or `error`.
#[cfg(feature = "client")]
pub(crate) fn introspection(result: &'static str) {
    #[cfg(feature = "metrics")]
    counter!("a2a_guard_introspection_requests_total", "result" => result).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = result;
}

#[cfg(feature = "client")]
pub(crate) fn introspection_cache_hit() {
    #[cfg(feature = "metrics")]
    counter!("a2a_guard_introspection_cache_hits_total").increment(1);
}

#[cfg(feature = "client")]
pub(crate) fn introspection_fail_open() {
    #[cfg(feature = "metrics")]
    counter!("a2a_guard_introspection_fail_open_total").increment(1);
}

/// The deny-list gained or moved an entry: `jti` or `epoch`.
pub(crate) fn revocation_added(kind: &'static str) {
    #[cfg(feature = "metrics")]
    counter!("a2a_guard_revocations_added_total", "kind" => kind).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = kind;
}

/// The Redis deny-list link is up and synced (`true`) or lost (`false`, counted as an error).
#[cfg(feature = "redis")]
pub(crate) fn revocation_sync(connected: bool) {
    #[cfg(feature = "metrics")]
    {
        gauge!("a2a_guard_revocation_sync_connected").set(if connected { 1.0 } else { 0.0 });
        if !connected {
            counter!("a2a_guard_revocation_sync_errors_total").increment(1);
        }
    }
    #[cfg(not(feature = "metrics"))]
    let _ = connected;
}

#[cfg(feature = "redis")]
pub(crate) fn revocation_stale(stale: bool) {
    #[cfg(feature = "metrics")]
    gauge!("a2a_guard_revocation_stale").set(if stale { 1.0 } else { 0.0 });
    #[cfg(not(feature = "metrics"))]
    let _ = stale;
}

/// A SET was delivered: `accepted` or its error code (`keys_unavailable` for the 503).
pub(crate) fn set_received(result: &'static str) {
    #[cfg(feature = "metrics")]
    counter!("a2a_guard_sets_received_total", "result" => result).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = result;
}

/// A token request ended: `grant` is `client_credentials` or `token_exchange`.
#[cfg(feature = "client")]
pub(crate) fn client_token_request(grant: &'static str, ok: bool) {
    #[cfg(feature = "metrics")]
    counter!("a2a_guard_client_token_requests_total", "grant" => grant, "result" => if ok { "ok" } else { "error" })
        .increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = (grant, ok);
}

#[cfg(feature = "client")]
pub(crate) fn client_token_cache_hit(grant: &'static str) {
    #[cfg(feature = "metrics")]
    counter!("a2a_guard_client_token_cache_hits_total", "grant" => grant).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = grant;
}

#[cfg(feature = "client")]
pub(crate) fn client_stale_served() {
    #[cfg(feature = "metrics")]
    counter!("a2a_guard_client_stale_served_total").increment(1);
}

#[cfg(feature = "client")]
pub(crate) fn client_revocation(ok: bool) {
    #[cfg(feature = "metrics")]
    counter!("a2a_guard_client_revocations_total", "result" => if ok { "ok" } else { "error" })
        .increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = ok;
}
