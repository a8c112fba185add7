//! The outage drill (issue 17): the issuer is stopped for 60 s while clients keep sending
//! valid tokens, reused and new ones; the gate refreshes its keys every second, retries at
//! most every 2 s, and every attempt fails, yet no valid request is refused while the last-known-good keys hold, and
//! the gate says it is serving them. When the issuer returns, the next refresh clears it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use a2a_guard::testing::TestIssuer;
use a2a_guard_gate::{Config, Decision, Gate};

const OUTAGE: Duration = Duration::from_secs(60);

fn config(issuer: &TestIssuer) -> Config {
    Config::parse(&format!(
        r#"
audiences = ["{aud}"]
[listen]
forward_auth = "127.0.0.1:0"
[keys]
refresh_secs = 1
retry_max_secs = 2
[[issuer]]
issuer = "{iss}"
jwks_url = "{jwks}"
allow_http = true
[[route]]
path = "/customers/**"
all = ["read:customers"]
"#,
        aud = issuer.audience(),
        iss = issuer.issuer(),
        jwks = issuer.jwks_url(),
    ))
    .expect("config")
}

async fn allowed(gate: &Gate, token: &str) -> bool {
    let mut headers = http::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    let d = gate
        .check(&http::Method::GET, "/customers/7", &headers)
        .await;
    matches!(d, Decision::Allow(_))
}

async fn eventually(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ok() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_tokens_pass_through_a_60_second_issuer_outage() {
    let issuer = Arc::new(TestIssuer::start().await.unwrap());
    let gate = Gate::new(config(&issuer)).await.unwrap();
    let reused = issuer.token().scope("read:customers").sign();
    assert!(allowed(&gate, &reused).await);

    issuer.stop().await;
    let stale = || gate.health()[0].serving_last_known_good;
    eventually(
        "a failed refresh puts the gate on last-known-good keys",
        stale,
    )
    .await;

    let (checked, refused, stop) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let mut clients = Vec::new();
    for c in 0..4 {
        let (gate, issuer, reused) = (gate.clone(), issuer.clone(), reused.clone());
        let (checked, refused, stop) = (checked.clone(), refused.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                // Half the clients reuse one token (cache hits), half sign a new one per
                // request (a signature check against the held keys every time).
                let fresh;
                let token = if c % 2 == 0 {
                    &reused
                } else {
                    n += 1;
                    fresh = issuer
                        .token()
                        .subject(format!("agent-{c}-{n}"))
                        .scope("read:customers")
                        .sign();
                    &fresh
                };
                if !allowed(&gate, token).await {
                    refused.fetch_add(1, Ordering::Relaxed);
                }
                checked.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }));
    }
    tokio::time::sleep(OUTAGE).await;
    let health = gate.health().remove(0);
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    let (checked, refused) = (
        checked.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed),
    );
    eprintln!(
        "{checked} checks during a {OUTAGE:?} outage: {refused} refused; \
         {} failed refreshes in a row, last error {:?}",
        health.consecutive_failures, health.last_error
    );
    assert!(health.serving_last_known_good && health.ready, "{health:?}");
    assert!(
        health.consecutive_failures >= 15,
        "the gate kept trying (backoff capped at 2 s): {health:?}"
    );
    assert!(checked >= 1_000, "load kept up: {checked}");
    assert_eq!(
        refused, 0,
        "valid requests refused during the outage, of {checked}"
    );

    issuer.restart().await.unwrap();
    eventually(
        "the next refresh after the issuer returns clears it",
        || !gate.health()[0].serving_last_known_good,
    )
    .await;
}
