//! Revocation in the gate (issue 17): the admin API (by `jti`, by subject epoch, verified-token
//! cache hits included; absent by default; loopback only), Security Event Tokens pushed to the
//! events listener, RFC 7662 introspection with a secret named by environment variable or
//! file, and a reload that keeps the deny-list. Real signatures from `TestIssuer`, real HTTP
//! on loopback.

use std::time::{SystemTime, UNIX_EPOCH};

use a2a_guard::revocation::CAEP_SESSION_REVOKED;
use a2a_guard::testing::TestIssuer;
use a2a_guard_gate::{Config, ConfigError, Decision, Gate, StartError};
use http::{HeaderMap, HeaderValue, Method};
use serde_json::json;

const ME: &str = "https://gate.example";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A gate for `issuer` with one route (`/data/**`, any valid token); `extra` is appended to
/// the file (sections), `issuer_extra` to the `[[issuer]]` table.
fn config(issuer: &TestIssuer, listen: &str, issuer_extra: &str, extra: &str) -> Config {
    let text = format!(
        r#"
audiences = ["{aud}"]
[listen]
forward_auth = "127.0.0.1:0"
{listen}
[[issuer]]
issuer = "{iss}"
jwks_url = "{jwks}"
allow_http = true
{issuer_extra}
[[route]]
path = "/data/**"
{extra}
"#,
        aud = issuer.audience(),
        iss = issuer.issuer(),
        jwks = issuer.jwks_url(),
    );
    Config::parse(&text).expect("config")
}

async fn status(gate: &Gate, token: &str) -> u16 {
    let mut h = HeaderMap::new();
    h.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    match gate.check(&Method::GET, "/data/1", &h).await {
        Decision::Allow(_) => 200,
        Decision::Deny(res) => res.status().as_u16(),
    }
}

/// Serve `app` on a loopback port; its base URL.
async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

async fn post(url: &str, body: String) -> u16 {
    reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

const ADMIN_API: &str = "admin = \"127.0.0.1:0\"";
const ADMIN_ON: &str = "[revocation]\nadmin_api = true\n";

#[tokio::test]
async fn the_admin_api_revokes_by_jti_and_by_subject_cache_hits_included() {
    let issuer = TestIssuer::start().await.unwrap();
    let gate = Gate::new(config(&issuer, ADMIN_API, "", ADMIN_ON))
        .await
        .unwrap();
    let admin = serve(a2a_guard_gate::admin::router(gate.clone(), None)).await;
    let by_jti = issuer.token().claim("jti", "task-42").sign();
    let by_sub = issuer
        .token()
        .subject("billing-agent")
        .issued_at(now() - 60)
        .sign();
    for t in [&by_jti, &by_sub] {
        // Twice: the second is a verified-token cache hit, and so is the check after the
        // revocation — it must still be refused.
        assert_eq!(status(&gate, t).await, 200);
        assert_eq!(status(&gate, t).await, 200);
    }
    let url = format!("{admin}/revocations");
    assert_eq!(post(&url, json!({"jti": "task-42"}).to_string()).await, 200);
    assert_eq!(status(&gate, &by_jti).await, 401);
    assert_eq!(status(&gate, &by_sub).await, 200, "only that jti");
    assert_eq!(
        post(&url, json!({"sub": "billing-agent"}).to_string()).await,
        200
    );
    assert_eq!(status(&gate, &by_sub).await, 401);
    // A token issued after the epoch is accepted.
    let later = issuer
        .token()
        .subject("billing-agent")
        .issued_at(now() + 1)
        .sign();
    assert_eq!(status(&gate, &later).await, 200);
    assert_eq!(post(&url, "{}".into()).await, 400);
}

#[tokio::test]
async fn the_admin_api_is_absent_by_default_and_loopback_only() {
    let issuer = TestIssuer::start().await.unwrap();
    let gate = Gate::new(config(&issuer, ADMIN_API, "", "")).await.unwrap();
    let admin = serve(a2a_guard_gate::admin::router(gate.clone(), None)).await;
    let token = issuer.token().claim("jti", "task-7").sign();
    let url = format!("{admin}/revocations");
    assert_eq!(post(&url, json!({"jti": "task-7"}).to_string()).await, 404);
    assert_eq!(status(&gate, &token).await, 200);
    assert_eq!(gate.revocations().revoked_jtis(), 0);

    // A reload turns it on (and the deny-list it writes is the one checks read).
    gate.reload(config(&issuer, ADMIN_API, "", ADMIN_ON))
        .await
        .unwrap();
    assert_eq!(post(&url, json!({"jti": "task-7"}).to_string()).await, 200);
    assert_eq!(status(&gate, &token).await, 401);

    // Not on loopback: the configuration is refused, naming the key.
    let text = format!(
        "audiences = [\"a\"]\n[listen]\nforward_auth = \"127.0.0.1:0\"\nadmin = \"0.0.0.0:9102\"\n\
         [revocation]\nadmin_api = true\n[[issuer]]\nissuer = \"{}\"\n",
        issuer.issuer()
    );
    let err = Config::parse(&text).unwrap_err();
    assert!(
        matches!(&err, ConfigError::Invalid { at, .. } if at == "revocation.admin_api"),
        "{err}"
    );
    // Nor without an admin listener at all.
    let text = text.replace("admin = \"0.0.0.0:9102\"\n", "");
    assert!(Config::parse(&text).is_err());
}

#[tokio::test]
async fn a_pushed_security_event_revokes_the_subjects_tokens() {
    let issuer = TestIssuer::start().await.unwrap();
    let events = format!(
        "[events]\naudience = \"{ME}\"\n[[events.transmitter]]\nissuer = \"{}\"\njwks_url = \"{}\"\n",
        issuer.issuer(),
        issuer.jwks_url()
    );
    let gate = Gate::new(config(&issuer, "events = \"127.0.0.1:0\"", "", &events))
        .await
        .unwrap();
    let url = format!("{}/events", serve(gate.events_router()).await);
    let token = issuer
        .token()
        .subject("billing-agent")
        .issued_at(now() - 60)
        .sign();
    let other = issuer
        .token()
        .subject("other-agent")
        .issued_at(now() - 60)
        .sign();
    assert_eq!(status(&gate, &token).await, 200);
    let set = |aud: &str, jti: &str| {
        issuer
            .token()
            .typ("secevent+jwt")
            .remove_claim("exp")
            .remove_claim("scope")
            .remove_claim("sub")
            .audience(aud)
            .claim("jti", jti)
            .claim(
                "sub_id",
                json!({"format": "iss_sub", "iss": issuer.issuer(), "sub": "billing-agent"}),
            )
            .claim(
                "events",
                json!({ CAEP_SESSION_REVOKED: { "event_timestamp": now() } }),
            )
            .sign()
    };
    // Addressed to someone else: RFC 8935 §2.4 `invalid_audience`, nothing revoked.
    assert_eq!(post(&url, set("https://elsewhere", "set-0")).await, 400);
    assert_eq!(status(&gate, &token).await, 200);
    assert_eq!(post(&url, set(ME, "set-1")).await, 202);
    assert_eq!(status(&gate, &token).await, 401);
    assert_eq!(status(&gate, &other).await, 200);
    // Without `[events]` the listener key is refused (and the reverse).
    let text = format!(
        "audiences = [\"a\"]\n[listen]\nforward_auth = \"127.0.0.1:0\"\nevents = \"127.0.0.1:0\"\n\
         [[issuer]]\nissuer = \"{}\"\n",
        issuer.issuer()
    );
    assert!(Config::parse(&text).is_err());
}

fn introspecting(issuer: &TestIssuer, secret: &str) -> String {
    format!(
        "introspection = {{ endpoint = \"{}\", client_id = \"gate\", {secret} }}",
        issuer.introspection_url()
    )
}

#[tokio::test]
async fn opaque_tokens_are_introspected_with_a_secret_named_by_environment_variable() {
    // SAFETY (edition 2024 `set_var`): a name no other test reads, set before any gate of
    // this test runs.
    unsafe { std::env::set_var("GATE_TEST_INTROSPECTION_SECRET", "s3cret-env") };
    let issuer = TestIssuer::builder()
        .client("gate", "s3cret-env")
        .start()
        .await
        .unwrap();
    let x = introspecting(
        &issuer,
        "client_secret_env = \"GATE_TEST_INTROSPECTION_SECRET\"",
    );
    let gate = Gate::new(config(&issuer, "", &x, "")).await.unwrap();
    let active = issuer.opaque_token(issuer.token().subject("billing-agent"));
    let inactive = issuer.opaque_token(issuer.token().subject("billing-agent"));
    issuer.deactivate(&inactive);
    assert_eq!(status(&gate, &active).await, 200);
    assert_eq!(status(&gate, &inactive).await, 401);
    assert_eq!(status(&gate, "opaque-never-issued").await, 401);
    assert!(issuer.introspection_requests() >= 2);

    // A missing variable: a typed error naming the key, and the variable, never a value.
    let x = introspecting(&issuer, "client_secret_env = \"GATE_TEST_NO_SUCH_SECRET\"");
    let err = Gate::new(config(&issuer, "", &x, "")).await.err().unwrap();
    let StartError::Config(ConfigError::Invalid { at, problem }) = &err else {
        panic!("{err}");
    };
    assert_eq!(at, "issuer[0].introspection.client_secret_env");
    assert!(problem.contains("GATE_TEST_NO_SUCH_SECRET"), "{problem}");
    // Never inline.
    let inline = config_text_fails(&issuer, &introspecting(&issuer, "client_secret = \"x\""));
    assert!(inline.contains("client_secret"), "{inline}");
}

fn config_text_fails(issuer: &TestIssuer, issuer_extra: &str) -> String {
    let text = format!(
        "audiences = [\"a\"]\n[listen]\nforward_auth = \"127.0.0.1:0\"\n[[issuer]]\nissuer = \"{}\"\n{issuer_extra}\n",
        issuer.issuer()
    );
    Config::parse(&text).unwrap_err().to_string()
}

#[tokio::test]
async fn a_secret_file_is_read_and_a_wrong_secret_is_refused_by_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secret");
    std::fs::write(&file, "s3cret-file\n").unwrap();
    let issuer = TestIssuer::builder()
        .client("gate", "s3cret-file")
        .start()
        .await
        .unwrap();
    let x = introspecting(
        &issuer,
        &format!("client_secret_file = \"{}\"", file.display()),
    );
    let gate = Gate::new(config(&issuer, "", &x, "")).await.unwrap();
    let active = issuer.opaque_token(issuer.token());
    assert_eq!(status(&gate, &active).await, 200);

    // The server refuses another secret: the gate cannot introspect, so it refuses (503).
    std::fs::write(&file, "not-the-secret").unwrap();
    let again = issuer.opaque_token(issuer.token());
    assert_eq!(status(&gate, &again).await, 503);

    let missing = dir.path().join("absent");
    let x = introspecting(
        &issuer,
        &format!("client_secret_file = \"{}\"", missing.display()),
    );
    let err = Gate::new(config(&issuer, "", &x, "")).await.err().unwrap();
    assert!(
        err.to_string()
            .starts_with("issuer[0].introspection.client_secret_file: cannot read"),
        "{err}"
    );
}

#[tokio::test]
async fn a_reload_keeps_the_revocations_made_before_it() {
    let issuer = TestIssuer::start().await.unwrap();
    let gate = Gate::new(config(&issuer, ADMIN_API, "", ADMIN_ON))
        .await
        .unwrap();
    let token = issuer.token().claim("jti", "task-9").sign();
    let admin = serve(a2a_guard_gate::admin::router(gate.clone(), None)).await;
    let url = format!("{admin}/revocations");
    assert_eq!(post(&url, json!({"jti": "task-9"}).to_string()).await, 200);
    assert_eq!(status(&gate, &token).await, 401);

    // Same [revocation], other routes: kept.
    let routes = format!("{ADMIN_ON}[[route]]\npath = \"/other\"\npublic = true\n");
    gate.reload(config(&issuer, ADMIN_API, "", &routes))
        .await
        .unwrap();
    assert_eq!(status(&gate, &token).await, 401);
    // Another issuer too: a new validator, the same deny-list.
    let second = TestIssuer::start().await.unwrap();
    let mut c = config(&issuer, ADMIN_API, "", &routes);
    let mut more = c.issuers[0].clone();
    more.issuer = second.issuer();
    more.jwks_url = Some(second.jwks_url());
    c.issuers.push(more);
    let done = gate.reload(c).await.unwrap();
    assert_eq!(done, a2a_guard_gate::Reloaded::KeysFetched);
    assert_eq!(status(&gate, &token).await, 401);
    let fresh = issuer.token().claim("jti", "task-10").sign();
    assert_eq!(status(&gate, &fresh).await, 200);
}
