//! Key-cache hardening (issue 10: items 4, 6, 8, 9, 10, 19, 20, 23, 24): abandoned kid-miss
//! requests, snapshot file safety, empty key sets, redirects of a user client, future-dated
//! snapshots, huge durations, size caps on non-regular files, loopback SSRF, re-discovery.
#![cfg(feature = "testing")]

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use a2a_guard::testing::{Behavior, SigningKey, TestIssuer};
use a2a_guard::{Algorithm, AuthError, Validator, ValidatorBuilder};
use common::{ManualClock, tempdir, within};

const HOUR: Duration = Duration::from_secs(3600);

fn jwks(issuer: &TestIssuer) -> ValidatorBuilder {
    Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
}

async fn wait_for_file(path: &Path) {
    within(Duration::from_secs(10), async {
        while std::fs::symlink_metadata(path).is_err() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// A tiny loopback server for what `TestIssuer` cannot do: redirects and a discovery
/// document whose `jwks_uri` the test moves. Answers `/redirect` with a 302 to `location`
/// and `/.well-known/openid-configuration` with `discovery`.
#[derive(Clone, Default)]
struct Helper {
    location: Arc<Mutex<String>>,
    /// `null` answers 503.
    discovery: Arc<Mutex<serde_json::Value>>,
    discovery_hits: Arc<std::sync::atomic::AtomicUsize>,
}

async fn start_helper(helper: Helper) -> SocketAddr {
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route(
            "/redirect",
            get(
                |axum::extract::State(h): axum::extract::State<Helper>| async move {
                    let to = h.location.lock().unwrap().clone();
                    (
                        axum::http::StatusCode::FOUND,
                        [(axum::http::header::LOCATION, to)],
                    )
                },
            ),
        )
        .route(
            "/.well-known/openid-configuration",
            get(
                |axum::extract::State(h): axum::extract::State<Helper>| async move {
                    use axum::response::IntoResponse;
                    h.discovery_hits
                        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let doc = h.discovery.lock().unwrap().clone();
                    if doc.is_null() {
                        axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response()
                    } else {
                        axum::Json(doc).into_response()
                    }
                },
            ),
        )
        .with_state(helper);
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

// --- 4: abandoned requests cannot bypass the kid-miss cooldown -------------------------

#[tokio::test]
async fn abandoned_kid_miss_requests_share_one_fetch_and_start_the_hold() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = jwks(&issuer)
        .kid_miss_cooldown(Duration::from_secs(30))
        .fetch_backoff(Duration::from_secs(20), Duration::from_secs(60))
        .fetch_timeouts(Duration::from_millis(500), Duration::from_secs(2))
        .build()
        .await
        .unwrap();
    let good = issuer.token().sign();
    issuer.set_jwks_behavior(Behavior::Hang);
    issuer.reset_counters();
    let attacker = SigningKey::generate(Algorithm::ES256);
    // 40 forged-kid requests whose clients give up after 15 ms (the connection closes).
    for i in 0..40 {
        let forged = issuer
            .token()
            .signing_key(&attacker)
            .kid(format!("forged-{i}"))
            .sign();
        // The client gives up: the validate future is dropped mid-flight (or, once the
        // fetch has ended, answered at once; either way no new fetch may start).
        let _ = tokio::time::timeout(Duration::from_millis(15), v.validate(&forged)).await;
    }
    assert!(
        issuer.jwks_fetches() <= 1,
        "abandoned requests restarted the fetch: {} fetches",
        issuer.jwks_fetches()
    );
    // The one fetch runs to its end (a timeout here) although every caller left.
    within(Duration::from_secs(10), async {
        while v.health()[0].last_error.is_none() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(v.health()[0].last_error.as_deref(), Some("timed out"));
    assert_eq!(issuer.jwks_fetches(), 1, "40 abandoned misses, one fetch");
    // Its failure started the hold: later misses are answered without a fetch.
    for i in 0..10 {
        let forged = issuer
            .token()
            .signing_key(&attacker)
            .kid(format!("later-{i}"))
            .sign();
        let err = within(Duration::from_secs(5), v.validate(&forged))
            .await
            .unwrap_err();
        assert_eq!(err, AuthError::UnknownKey);
    }
    assert_eq!(issuer.jwks_fetches(), 1);
    assert!(v.validate(&good).await.is_ok(), "known keys unaffected");
}

// --- 6: snapshot file safety -----------------------------------------------------------

#[tokio::test]
async fn snapshot_write_ignores_a_planted_temp_file_symlink() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempdir();
    let path = dir.join("snap.json");
    let victim = dir.join("victim.txt");
    std::fs::write(&victim, b"precious").unwrap();
    // The temp name the old writer used, planted as a symlink to a file we can write.
    let planted = dir.join(format!(".snap.json.tmp-{}", std::process::id()));
    std::os::unix::fs::symlink(&victim, &planted).unwrap();
    let issuer = TestIssuer::start().await.unwrap();
    let v = jwks(&issuer).snapshot_file(&path).build().await.unwrap();
    assert!(v.is_ready());
    wait_for_file(&path).await;
    // Let a (wrong) write through the symlink finish, if any.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    let meta = std::fs::symlink_metadata(&path).unwrap();
    assert!(meta.file_type().is_file(), "the snapshot is a regular file");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
}

/// Write a snapshot for `issuer` with a first validator; returns its path.
async fn snapshot_of(issuer: &TestIssuer, dir: &Path) -> PathBuf {
    let path = dir.join("good.json");
    let v = jwks(issuer).snapshot_file(&path).build().await.unwrap();
    assert!(v.is_ready());
    wait_for_file(&path).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    path
}

async fn offline_start(issuer: &TestIssuer, path: &Path, clock: Option<ManualClock>) -> Validator {
    let mut b = jwks(issuer)
        .snapshot_file(path)
        .last_known_good(HOUR)
        .fetch_timeouts(Duration::from_millis(200), Duration::from_millis(300));
    if let Some(c) = clock {
        b = b.clock(c.as_clock());
    }
    b.build().await.unwrap()
}

#[tokio::test]
async fn snapshot_that_others_could_have_written_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempdir();
    let issuer = TestIssuer::start().await.unwrap();
    let good = snapshot_of(&issuer, &dir).await;
    let bytes = std::fs::read(&good).unwrap();
    issuer.stop().await;
    // Control: the snapshot as written is served.
    assert!(offline_start(&issuer, &good, None).await.is_ready());

    let writable = dir.join("writable.json");
    std::fs::write(&writable, &bytes).unwrap();
    std::fs::set_permissions(&writable, std::fs::Permissions::from_mode(0o666)).unwrap();
    assert!(
        !offline_start(&issuer, &writable, None).await.is_ready(),
        "group/other-writable snapshot"
    );

    let link = dir.join("link.json");
    std::os::unix::fs::symlink(&good, &link).unwrap();
    assert!(
        !offline_start(&issuer, &link, None).await.is_ready(),
        "snapshot path is a symlink"
    );

    // Ownership: only checkable when the test may chown (root).
    let foreign = dir.join("foreign-owner.json");
    std::fs::write(&foreign, &bytes).unwrap();
    std::fs::set_permissions(&foreign, std::fs::Permissions::from_mode(0o600)).unwrap();
    if std::os::unix::fs::chown(&foreign, Some(65534), Some(65534)).is_ok() {
        assert!(
            !offline_start(&issuer, &foreign, None).await.is_ready(),
            "snapshot owned by another user"
        );
    }
}

#[tokio::test]
async fn a_fifo_snapshot_is_refused_without_reading_it() {
    let dir = tempdir();
    let issuer = TestIssuer::start().await.unwrap();
    let good = snapshot_of(&issuer, &dir).await;
    let bytes = std::fs::read(&good).unwrap();
    issuer.stop().await;
    let fifo = dir.join("fifo.json");
    let st = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(st.success());
    // A writer that feeds a valid snapshot padded past the 8 MiB cap.
    let writer_path = fifo.clone();
    std::thread::spawn(move || {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&writer_path) {
            let pad = vec![b' '; 9 * 1024 * 1024];
            let _ = f.write_all(&pad).and_then(|()| f.write_all(&bytes));
        }
    });
    let v = within(Duration::from_secs(20), offline_start(&issuer, &fifo, None)).await;
    assert!(!v.is_ready(), "a FIFO snapshot is not read");
}

// --- 8: a JWKS with no usable key is a failed fetch ----------------------------------

#[tokio::test]
async fn an_empty_jwks_is_a_failed_fetch_and_keeps_the_old_keys() {
    // One key only, so retiring it leaves nothing usable.
    let issuer = TestIssuer::builder()
        .algorithms([Algorithm::RS256])
        .start()
        .await
        .unwrap();
    let v = jwks(&issuer)
        .kid_miss_cooldown(Duration::from_millis(50))
        .build()
        .await
        .unwrap();
    let good = issuer.token().sign();
    let kid = issuer.signing_key(Algorithm::RS256).kid().to_owned();
    assert!(issuer.retire(&kid));
    // Only an unusable key is left: a symmetric one.
    issuer.publish(serde_json::json!({"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}));
    let miss = issuer.token().kid("unknown").sign();
    assert_eq!(v.validate(&miss).await.unwrap_err(), AuthError::UnknownKey);
    let h = &v.health()[0];
    assert!(h.last_error.is_some(), "{h:?}");
    assert!(h.ready && h.serving_last_known_good && h.keys == 1, "{h:?}");
    assert!(v.validate(&good).await.is_ok(), "last known good keys kept");

    // Starting against an empty set: not ready.
    let empty = TestIssuer::builder()
        .algorithms(Vec::<Algorithm>::new())
        .start()
        .await
        .unwrap();
    let v = jwks(&empty).build().await.unwrap();
    let h = &v.health()[0];
    assert!(!h.ready && h.keys == 0 && h.last_error.is_some(), "{h:?}");
    assert!(!v.is_ready());
}

// --- 9 and 23: redirects of a user client, loopback only for loopback issuers ---------

fn resolving_client(host: &str, to: SocketAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .resolve(host, to)
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_user_client_redirect_to_a_refused_url_is_refused() {
    let issuer = TestIssuer::start().await.unwrap();
    let helper = Helper::default();
    let addr = start_helper(helper.clone()).await;
    // The redirect leaves loopback for plain http on a public name (the name resolves to
    // the test issuer only inside the user's client).
    *helper.location.lock().unwrap() = format!(
        "http://keys.example.test:{}/jwks.json",
        issuer.addr().port()
    );
    let v = Validator::builder()
        .issuer_jwks(issuer.issuer(), format!("http://{addr}/redirect"))
        .audience(issuer.audience())
        .http_client(resolving_client("keys.example.test", issuer.addr()))
        .build()
        .await
        .unwrap();
    assert_eq!(issuer.jwks_fetches(), 1, "the user's client followed it");
    let h = &v.health()[0];
    assert!(!h.ready, "{h:?}");
    assert!(
        h.last_error
            .as_deref()
            .is_some_and(|e| e.starts_with("refused URL")),
        "{h:?}"
    );
}

#[tokio::test]
async fn a_public_issuers_discovery_cannot_send_us_to_loopback() {
    let issuer = TestIssuer::start().await.unwrap();
    let public = format!("http://issuer.example.test:{}", issuer.addr().port());
    // Discovery at the public name names itself, and a loopback `jwks_uri`.
    issuer.set_discovery_issuer(Some(public.clone()));
    let v = Validator::builder()
        .issuer(&public)
        .audience(issuer.audience())
        .allow_http()
        .http_client(resolving_client("issuer.example.test", issuer.addr()))
        .build()
        .await
        .unwrap();
    assert_eq!(issuer.discovery_fetches(), 1);
    assert_eq!(issuer.jwks_fetches(), 0, "no GET to a loopback jwks_uri");
    let h = &v.health()[0];
    assert!(!h.ready, "{h:?}");
    assert!(
        h.last_error
            .as_deref()
            .is_some_and(|e| e.starts_with("refused URL")),
        "{h:?}"
    );
}

#[tokio::test]
async fn a_public_jwks_url_cannot_redirect_to_loopback() {
    let issuer = TestIssuer::start().await.unwrap();
    let helper = Helper::default();
    let addr = start_helper(helper.clone()).await;
    *helper.location.lock().unwrap() = issuer.jwks_url(); // http://127.0.0.1:…
    let v = Validator::builder()
        .issuer_jwks(
            "http://keys.example.test",
            format!("http://keys.example.test:{}/redirect", addr.port()),
        )
        .audience(issuer.audience())
        .allow_http()
        .http_client(resolving_client("keys.example.test", addr))
        .build()
        .await
        .unwrap();
    let h = &v.health()[0];
    assert!(!h.ready, "{h:?}");
    assert!(
        h.last_error
            .as_deref()
            .is_some_and(|e| e.starts_with("refused URL")),
        "{h:?}"
    );
}

// --- 10: a snapshot dated in the future ------------------------------------------------

#[tokio::test]
async fn a_snapshot_dated_in_the_future_is_refused() {
    let dir = tempdir();
    let issuer = TestIssuer::start().await.unwrap();
    let good = snapshot_of(&issuer, &dir).await;
    issuer.stop().await;
    let clock = ManualClock::now_real();
    let mut doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&good).unwrap()).unwrap();
    let entry = &mut doc["issuers"][issuer.issuer()];
    entry["fetched_at"] = (clock.get() + 10 * 365 * 24 * 3600).into();
    let future = dir.join("future.json");
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&future)
            .unwrap();
        f.write_all(&serde_json::to_vec(&doc).unwrap()).unwrap();
    }
    let v = offline_start(&issuer, &future, Some(clock.clone())).await;
    assert!(!v.is_ready(), "a snapshot from the future is refused");
    // Control: a date inside the leeway is accepted.
    doc["issuers"][issuer.issuer()]["fetched_at"] = (clock.get() + 5).into();
    let near = dir.join("near.json");
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&near)
            .unwrap();
        f.write_all(&serde_json::to_vec(&doc).unwrap()).unwrap();
    }
    assert!(offline_start(&issuer, &near, Some(clock)).await.is_ready());
}

// --- 19: huge durations never panic ----------------------------------------------------

#[tokio::test]
async fn huge_durations_and_max_age_do_not_panic() {
    let issuer = TestIssuer::start().await.unwrap();
    issuer.set_cache_control(Some(format!("max-age={}", u64::MAX)));
    let v = jwks(&issuer)
        .refresh_interval(Duration::MAX, Duration::from_secs(1), Duration::MAX)
        .last_known_good(Duration::MAX)
        .kid_miss_cooldown(Duration::MAX)
        .fetch_backoff(Duration::from_secs(1), Duration::MAX)
        .build()
        .await
        .expect("build");
    assert!(v.validate(&issuer.token().sign()).await.is_ok());
    let miss = issuer.token().kid("unknown").sign();
    assert_eq!(v.validate(&miss).await.unwrap_err(), AuthError::UnknownKey);
    assert_eq!(v.validate(&miss).await.unwrap_err(), AuthError::UnknownKey);
    let h = &v.health()[0];
    assert!(h.ready, "{h:?}");
    assert!(h.next_refresh_in.is_some(), "{h:?}");
    // Failure paths add backoff delays too.
    issuer.set_behavior(Behavior::Status(503));
    let v = jwks(&issuer)
        .fetch_backoff(Duration::MAX, Duration::MAX)
        .kid_miss_cooldown(Duration::MAX)
        .build()
        .await
        .expect("build");
    assert!(!v.is_ready());
    let err = v.validate(&issuer.token().sign()).await.unwrap_err();
    assert!(matches!(err, AuthError::KeysUnavailable { .. }), "{err:?}");
}

// --- 20: the file source caps what it reads, not what metadata says --------------------

#[tokio::test]
async fn a_fifo_file_source_is_capped_while_reading() {
    let dir = tempdir();
    let issuer = TestIssuer::start().await.unwrap();
    let fifo = dir.join("jwks.fifo");
    let st = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(st.success());
    let jwks_bytes = serde_json::to_vec(&issuer.jwks()).unwrap();
    let writer_path = fifo.clone();
    std::thread::spawn(move || {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&writer_path) {
            // Valid JSON, padded with whitespace far past the cap.
            let pad = vec![b' '; 512 * 1024];
            let _ = f.write_all(&pad).and_then(|()| f.write_all(&jwks_bytes));
        }
    });
    let v = within(
        Duration::from_secs(20),
        Validator::builder()
            .issuer_file(issuer.issuer(), &fifo)
            .audience(issuer.audience())
            .max_jwks_size(64 * 1024)
            .build(),
    )
    .await
    .unwrap();
    let h = &v.health()[0];
    assert!(!h.ready, "{h:?}");
    assert_eq!(
        h.last_error.as_deref(),
        Some("body larger than 65536 bytes")
    );
}

// --- 24: discovery is re-read on the refresh schedule ----------------------------------

#[tokio::test]
async fn discovery_is_reread_on_the_refresh_schedule() {
    let old = TestIssuer::start().await.unwrap();
    let new = TestIssuer::start().await.unwrap();
    let helper = Helper::default();
    let addr = start_helper(helper.clone()).await;
    let iss = format!("http://{addr}");
    *helper.discovery.lock().unwrap() =
        serde_json::json!({"issuer": iss, "jwks_uri": old.jwks_url()});
    let v = Validator::builder()
        .issuer(&iss)
        .audience(old.audience())
        .refresh_interval(
            Duration::from_secs(1),
            Duration::from_secs(1),
            Duration::from_secs(1),
        )
        .build()
        .await
        .unwrap();
    let old_token = old.token().issuer(&iss).sign();
    assert!(v.validate(&old_token).await.is_ok());
    // The issuer moves its keys.
    *helper.discovery.lock().unwrap() =
        serde_json::json!({"issuer": iss, "jwks_uri": new.jwks_url()});
    let new_token = new.token().issuer(&iss).sign();
    within(Duration::from_secs(15), async {
        while new.jwks_fetches() == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(v.validate(&new_token).await.is_ok());
    // A re-read that names another issuer is a failed fetch: the keys held stay.
    *helper.discovery.lock().unwrap() =
        serde_json::json!({"issuer": "https://evil.example", "jwks_uri": old.jwks_url()});
    within(Duration::from_secs(15), async {
        while v.health()[0].last_error.is_none() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let h = &v.health()[0];
    assert_eq!(
        h.last_error.as_deref(),
        Some("discovery document names another issuer")
    );
    assert!(v.validate(&new_token).await.is_ok(), "last known good kept");
}

#[tokio::test]
async fn unreachable_discovery_keeps_the_last_jwks_uri_and_misses_do_not_rediscover() {
    use std::sync::atomic::Ordering;
    let issuer = TestIssuer::start().await.unwrap();
    let helper = Helper::default();
    let addr = start_helper(helper.clone()).await;
    let iss = format!("http://{addr}");
    *helper.discovery.lock().unwrap() =
        serde_json::json!({"issuer": iss, "jwks_uri": issuer.jwks_url()});
    let v = Validator::builder()
        .issuer(&iss)
        .audience(issuer.audience())
        .kid_miss_cooldown(Duration::from_millis(50))
        .refresh_interval(
            Duration::from_secs(1),
            Duration::from_secs(1),
            Duration::from_secs(1),
        )
        .build()
        .await
        .unwrap();
    assert!(v.health()[0].ready);
    // A kid miss fetches the JWKS from the known jwks_uri, without re-reading discovery
    // (a scheduled refresh may run meanwhile: at most one more discovery read).
    let hits = helper.discovery_hits.load(Ordering::SeqCst);
    let fetches = issuer.jwks_fetches();
    let miss = issuer.token().issuer(&iss).kid("unknown").sign();
    assert_eq!(v.validate(&miss).await.unwrap_err(), AuthError::UnknownKey);
    assert!(issuer.jwks_fetches() > fetches);
    assert!(helper.discovery_hits.load(Ordering::SeqCst) <= hits + 1);
    // Discovery goes down; the keys keep being refreshed from the last jwks_uri.
    *helper.discovery.lock().unwrap() = serde_json::Value::Null;
    let down_at = helper.discovery_hits.load(Ordering::SeqCst);
    issuer.rotate(Algorithm::RS256);
    let new_token = issuer.token().issuer(&iss).sign();
    within(Duration::from_secs(15), async {
        while helper.discovery_hits.load(Ordering::SeqCst) < down_at + 2 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let h = &v.health()[0];
    assert!(h.ready && h.last_error.is_none(), "{h:?}");
    assert!(v.validate(&new_token).await.is_ok());
}
