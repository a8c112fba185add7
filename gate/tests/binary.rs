//! The `a2a-guard-gate` binary as an operator runs it: the admin listener (`/healthz`,
//! `/readyz`, `/metrics`), reload on `SIGHUP` and on a file change, a broken file keeping
//! the running rules, and a clean exit on `SIGTERM`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use a2a_guard::testing::TestIssuer;

/// A free loopback port (bound, read, released: the gate binds it next).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

struct Gate {
    child: Child,
    auth: String,
    admin: String,
}

impl Drop for Gate {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_config(file: &Path, issuer: &TestIssuer, ports: (u16, u16), watch: u64, reports: &str) {
    let text = format!(
        r#"
audiences = ["{aud}"]
trusted_proxies = ["127.0.0.1"]
[listen]
forward_auth = "127.0.0.1:{fa}"
admin = "127.0.0.1:{admin}"
[reload]
watch_secs = {watch}
[[issuer]]
issuer = "{iss}"
jwks_url = "{jwks}"
allow_http = true
[[route]]
path = "/reports/**"
{reports}
"#,
        aud = issuer.audience(),
        iss = issuer.issuer(),
        jwks = issuer.jwks_url(),
        fa = ports.0,
        admin = ports.1,
    );
    // Write then rename, as editors and config managers do: the gate never reads half a file.
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, file).unwrap();
}

const PROTECTED: &str = r#"all = ["read:reports"]"#;
const PUBLIC: &str = "public = true";

async fn start(file: &Path, ports: (u16, u16)) -> Gate {
    let child = Command::new(env!("CARGO_BIN_EXE_a2a-guard-gate"))
        .arg("--config")
        .arg(file)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("the gate binary starts");
    let gate = Gate {
        child,
        auth: format!("http://127.0.0.1:{}/auth", ports.0),
        admin: format!("http://127.0.0.1:{}", ports.1),
    };
    let healthz = format!("{}/healthz", gate.admin);
    eventually("the admin listener answers /healthz", || async {
        reqwest::get(&healthz)
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    gate
}

/// Poll `ok` until it holds (liveness only: the bound is generous, nothing is timed).
async fn eventually<F, Fut>(what: &str, mut ok: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ok().await {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn reports_status(gate: &Gate) -> u16 {
    reqwest::Client::new()
        .get(&gate.auth)
        .header("x-original-method", "GET")
        .header("x-original-uri", "/reports/q3")
        .send()
        .await
        .expect("gate answers")
        .status()
        .as_u16()
}

fn signal(gate: &Gate, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(gate.child.id().to_string())
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig}");
}

async fn metrics(gate: &Gate) -> String {
    reqwest::get(format!("{}/metrics", gate.admin))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn sighup_reloads_and_a_broken_file_keeps_the_rules() {
    let issuer = TestIssuer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gate.toml");
    let ports = (free_port(), free_port());
    // No file watch: only the signal reloads.
    write_config(&file, &issuer, ports, 0, PROTECTED);
    let gate = start(&file, ports).await;

    let readyz = reqwest::get(format!("{}/readyz", gate.admin))
        .await
        .unwrap();
    assert_eq!(readyz.status(), 200);
    let body: serde_json::Value = serde_json::from_str(&readyz.text().await.unwrap()).unwrap();
    assert_eq!(body["ready"], true);
    assert_eq!(body["issuers"][0]["issuer"], issuer.issuer());
    assert_eq!(body["issuers"][0]["ready"], true);

    assert_eq!(reports_status(&gate).await, 401);
    write_config(&file, &issuer, ports, 0, PUBLIC);
    signal(&gate, "HUP");
    eventually("SIGHUP applies the new rules", || async {
        reports_status(&gate).await == 200
    })
    .await;

    // A broken file: refused, counted, and the running rules stay.
    std::fs::write(&file, "this is = not [valid").unwrap();
    signal(&gate, "HUP");
    eventually("the refused reload is counted", || async {
        metrics(&gate)
            .await
            .contains(r#"a2a_guard_gate_reloads_total{result="error"} 1"#)
    })
    .await;
    assert_eq!(reports_status(&gate).await, 200);
    let m = metrics(&gate).await;
    assert!(
        m.contains(r#"a2a_guard_gate_reloads_total{result="ok"} 1"#),
        "{m}"
    );
    assert!(
        m.contains(
            r#"a2a_guard_decisions_total{decision="allow",reason="public",route="/reports/**"}"#
        ),
        "{m}"
    );
    assert!(
        m.contains("a2a_guard_keys{"),
        "the library's key metrics: {m}"
    );
}

#[tokio::test]
async fn a_changed_file_is_reloaded_and_sigterm_exits_cleanly() {
    let issuer = TestIssuer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gate.toml");
    let ports = (free_port(), free_port());
    write_config(&file, &issuer, ports, 1, PROTECTED);
    let mut gate = start(&file, ports).await;
    assert_eq!(reports_status(&gate).await, 401);

    write_config(&file, &issuer, ports, 1, PUBLIC);
    eventually("the file watch applies the new rules", || async {
        reports_status(&gate).await == 200
    })
    .await;

    signal(&gate, "TERM");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = gate.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the gate did not exit on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
}
