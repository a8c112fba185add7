//! A fleet of gates sharing one deny-list through a real `redis-server` on loopback (issue
//! 17): a revocation made on gate A is refused by gate B (the propagation time is printed,
//! never asserted), a reload with the same `[revocation]` keeps the link, and `/readyz`
//! reports the link and turns 503 once the list is stale past `fail_closed_after_secs`.

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use a2a_guard::testing::TestIssuer;
use a2a_guard_gate::{Config, ConfigError, Decision, Gate, StartError};
use common::redis::redis;
use http::{HeaderMap, HeaderValue, Method};
use serde_json::json;

/// How the fleet's gates find Redis: a file (gate A) or an environment variable (gate B).
enum Url<'a> {
    File(&'a std::path::Path),
    Env(&'a str),
}

fn config(issuer: &TestIssuer, url: &Url, extra: &str) -> Config {
    let source = match url {
        Url::File(p) => format!("redis_url_file = \"{}\"", p.display()),
        Url::Env(name) => format!("redis_url_env = \"{name}\""),
    };
    let text = format!(
        r#"
audiences = ["{aud}"]
[listen]
forward_auth = "127.0.0.1:0"
admin = "127.0.0.1:0"
[revocation]
admin_api = true
{source}
{extra}
[[issuer]]
issuer = "{iss}"
jwks_url = "{jwks}"
allow_http = true
[[route]]
path = "/data/**"
"#,
        aud = issuer.audience(),
        iss = issuer.issuer(),
        jwks = issuer.jwks_url(),
    );
    Config::parse(&text).expect("config")
}

struct Member {
    gate: Gate,
    admin: String,
}

async fn member(config: Config) -> Member {
    let gate = Gate::new(config).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin = format!("http://{}", listener.local_addr().unwrap());
    let app = a2a_guard_gate::admin::router(gate.clone(), None);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Member { gate, admin }
}

impl Member {
    async fn status(&self, token: &str) -> u16 {
        let mut h = HeaderMap::new();
        let v = HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
        h.insert("authorization", v);
        match self.gate.check(&Method::GET, "/data/1", &h).await {
            Decision::Allow(_) => 200,
            Decision::Deny(res) => res.status().as_u16(),
        }
    }

    async fn revoke(&self, body: serde_json::Value) -> u16 {
        reqwest::Client::new()
            .post(format!("{}/revocations", self.admin))
            .body(body.to_string())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    async fn readyz(&self) -> (u16, serde_json::Value) {
        let res = reqwest::get(format!("{}/readyz", self.admin))
            .await
            .unwrap();
        let status = res.status().as_u16();
        (
            status,
            serde_json::from_str(&res.text().await.unwrap()).unwrap(),
        )
    }

    /// Poll until `token` is refused (propagation is asynchronous); how long it took. The
    /// deadline is a hang detector, not a speed claim.
    async fn until_refused(&self, token: &str) -> Duration {
        let start = Instant::now();
        while self.status(token).await != 401 {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the revocation never reached this gate"
            );
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        start.elapsed()
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Gates A (URL from a file) and B (URL from an environment variable) on `url`.
async fn fleet(
    issuer: &TestIssuer,
    url: &str,
    env: &str,
    extra: &str,
) -> (Member, Member, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("redis-url");
    std::fs::write(&file, format!("{url}\n")).unwrap();
    // SAFETY (edition 2024 `set_var`): a name only this test reads, set before its gates.
    unsafe { std::env::set_var(env, url) };
    let a = member(config(issuer, &Url::File(&file), extra)).await;
    let b = member(config(issuer, &Url::Env(env), extra)).await;
    (a, b, dir)
}

#[tokio::test]
async fn a_revocation_on_gate_a_is_refused_by_gate_b() {
    let r = redis().await;
    let issuer = TestIssuer::start().await.unwrap();
    let (a, b, _dir) = fleet(&issuer, &r.url, "GATE_FLEET_TEST_REDIS_1", "").await;
    for m in [&a, &b] {
        let link = m.gate.revocation_health().link.expect("shared");
        assert!(link.connected, "attached before the gate serves");
    }
    let mut times = Vec::new();
    for i in 0..60 {
        let jti = format!("fleet-{i}");
        let token = issuer.token().claim("jti", jti.as_str()).sign();
        // Both gates have checked it (a verified-token cache hit next time).
        assert_eq!(a.status(&token).await, 200);
        assert_eq!(b.status(&token).await, 200);
        let (from, to) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let start = Instant::now();
        assert_eq!(from.revoke(json!({ "jti": jti })).await, 200);
        assert_eq!(from.status(&token).await, 401, "at once where it was made");
        to.until_refused(&token).await;
        times.push(start.elapsed());
    }
    times.sort();
    println!(
        "fleet propagation (admin API on one gate → refused by the other, 2 in-process gates, \
         one redis-server, {} revocations): p50 {:?}, p99 {:?}, max {:?}",
        times.len(),
        times[times.len() / 2],
        times[times.len() * 99 / 100],
        times[times.len() - 1],
    );

    // A subject epoch too.
    let token = issuer
        .token()
        .subject("billing-agent")
        .issued_at(now() - 60)
        .sign();
    assert_eq!(a.status(&token).await, 200);
    assert_eq!(b.revoke(json!({"sub": "billing-agent"})).await, 200);
    a.until_refused(&token).await;
}

#[tokio::test]
async fn a_reload_with_the_same_revocation_section_keeps_the_fleet_link() {
    let r = redis().await;
    let issuer = TestIssuer::start().await.unwrap();
    let (a, b, dir) = fleet(&issuer, &r.url, "GATE_FLEET_TEST_REDIS_2", "").await;
    let before = issuer.token().claim("jti", "before-reload").sign();
    assert_eq!(a.revoke(json!({"jti": "before-reload"})).await, 200);
    b.until_refused(&before).await;

    let file = dir.path().join("redis-url");
    let mut reloaded = config(&issuer, &Url::File(&file), "");
    reloaded.realm = "reloaded".into();
    a.gate.reload(reloaded).await.unwrap();
    assert_eq!(a.status(&before).await, 401);
    // The link still writes and reads, both ways.
    let one = issuer.token().claim("jti", "after-1").sign();
    let two = issuer.token().claim("jti", "after-2").sign();
    assert_eq!(a.revoke(json!({"jti": "after-1"})).await, 200);
    b.until_refused(&one).await;
    assert_eq!(b.revoke(json!({"jti": "after-2"})).await, 200);
    a.until_refused(&two).await;

    // A reload cannot stop sharing (the running link holds the deny-list's writes).
    let text = format!(
        "audiences = [\"{}\"]\n[listen]\nforward_auth = \"127.0.0.1:0\"\n[[issuer]]\nissuer = \"{}\"\njwks_url = \"{}\"\nallow_http = true\n",
        issuer.audience(),
        issuer.issuer(),
        issuer.jwks_url()
    );
    let err = a
        .gate
        .reload(Config::parse(&text).unwrap())
        .await
        .unwrap_err();
    assert!(err.to_string().starts_with("revocation:"), "{err}");
    let three = issuer.token().claim("jti", "after-3").sign();
    assert_eq!(a.revoke(json!({"jti": "after-3"})).await, 200);
    b.until_refused(&three).await;
}

#[tokio::test]
async fn readyz_reports_the_link_and_fails_closed_once_stale() {
    let r = redis().await;
    let issuer = TestIssuer::start().await.unwrap();
    let (a, _b, _dir) = fleet(
        &issuer,
        &r.url,
        "GATE_FLEET_TEST_REDIS_3",
        "fail_closed_after_secs = 1",
    )
    .await;
    let token = issuer.token().sign();
    let (status, body) = a.readyz().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["revocation"]["connected"], true, "{body}");
    assert_eq!(body["revocation"]["stale"], false, "{body}");
    assert_eq!(a.status(&token).await, 200);

    drop(r); // redis-server killed
    let start = Instant::now();
    let body = loop {
        let (status, body) = a.readyz().await;
        if status == 503 {
            break body;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "never stale: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(body["revocation"]["connected"], false, "{body}");
    assert_eq!(body["revocation"]["stale"], true, "{body}");
    assert_eq!(
        a.status(&token).await,
        503,
        "fail closed: every token refused"
    );
}

#[tokio::test]
async fn a_missing_redis_url_is_a_typed_error_naming_the_key() {
    let issuer = TestIssuer::start().await.unwrap();
    let c = config(&issuer, &Url::Env("GATE_FLEET_TEST_NO_SUCH_URL"), "");
    let err = Gate::new(c).await.err().unwrap();
    let StartError::Config(ConfigError::Invalid { at, .. }) = &err else {
        panic!("{err}");
    };
    assert_eq!(at, "revocation.redis_url_env");
    // A URL that is not one: refused, and the text (it may hold a password) never echoed.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("redis-url");
    std::fs::write(&file, "nonsense://:hunter2@host").unwrap();
    let err = Gate::new(config(&issuer, &Url::File(&file), ""))
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.starts_with("revocation.redis_url_file:"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

/// `[dpop] shared_replay`: the fleet's Redis remembers proofs, so a proof accepted by gate A
/// is a replay at gate B. Without it each gate remembers only its own (the same proof passes
/// once at each), which is what the shared store closes.
#[tokio::test]
async fn a_dpop_proof_used_at_gate_a_is_a_replay_at_gate_b() {
    use a2a_guard::Algorithm;
    use a2a_guard::testing::DpopKey;
    let r = redis().await;
    let issuer = TestIssuer::start().await.unwrap();
    let check = |gate: &Gate, token: &str, proof: &str| {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            HeaderValue::from_str(&format!("DPoP {token}")).unwrap(),
        );
        h.insert("dpop", HeaderValue::from_str(proof).unwrap());
        let gate = gate.clone();
        async move {
            let uri = "https://agent.example/data/1";
            match gate.check(&Method::GET, uri, &h).await {
                Decision::Allow(_) => 200,
                Decision::Deny(res) => res.status().as_u16(),
            }
        }
    };
    let key = DpopKey::generate(Algorithm::ES256);
    let token = issuer.token().dpop_bound(&key).sign();
    for (shared, env, b_sees) in [
        (true, "GATE_FLEET_TEST_REDIS_DPOP_1", 401),
        (false, "GATE_FLEET_TEST_REDIS_DPOP_2", 200),
    ] {
        let dpop =
            format!("[dpop]\norigins = [\"https://agent.example\"]\nshared_replay = {shared}\n");
        // `[dpop]` must come after the `[revocation]` keys the helper writes.
        let (a, b, _dir) = fleet(&issuer, &r.url, env, &dpop).await;
        let proof = key
            .proof("GET", "https://agent.example/data/1")
            .access_token(&token)
            .sign();
        assert_eq!(check(&a.gate, &token, &proof).await, 200);
        assert_eq!(check(&a.gate, &token, &proof).await, 401, "a replay at A");
        assert_eq!(
            check(&b.gate, &token, &proof).await,
            b_sees,
            "shared_replay = {shared}: the same proof at B"
        );
    }
    // Without the fleet's Redis there is nothing to share.
    let text = format!(
        "audiences = [\"a\"]\n[listen]\nforward_auth = \"127.0.0.1:0\"\n\
         [dpop]\norigins = [\"https://agent.example\"]\nshared_replay = true\n\
         [[issuer]]\nissuer = \"{}\"\njwks_url = \"{}\"\nallow_http = true\n",
        issuer.issuer(),
        issuer.jwks_url()
    );
    let err = Gate::new(Config::parse(&text).unwrap())
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("dpop.shared_replay"), "{err}");
}
