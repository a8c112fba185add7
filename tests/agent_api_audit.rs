//! The `agent_api` example's audit recipe (examples/agent_api/logging.rs): with `--audit-log`
//! every decision reaches the file as one JSON line through the non-blocking writer, none is
//! lost when the writer is flushed at exit, and none goes to stderr as well; with
//! `--audit-chain` (feature `audit-file`) the same decisions form a chain that verifies.
//!
//! One test in this file: it installs the process's global subscriber.
#![cfg(feature = "testing")]

#[path = "../examples/agent_api/app.rs"]
#[allow(dead_code)]
mod app;
#[path = "../examples/agent_api/cli.rs"]
#[allow(dead_code)]
mod cli;
#[path = "../examples/agent_api/logging.rs"]
mod logging;

use std::time::Duration;

use a2a_guard::Validator;
use a2a_guard::testing::TestIssuer;
use axum::body::Body;
use clap::Parser;
use http::Request;
use tower::ServiceExt;

#[tokio::test]
async fn every_decision_reaches_the_audit_file_once_and_nothing_is_lost() {
    let dir = std::env::temp_dir().join(format!("a2a-audit-recipe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("audit.jsonl");
    let mut argv = vec![
        "agent_api".to_owned(),
        "--audit-log".into(),
        log.display().to_string(),
    ];
    #[cfg(feature = "audit-file")]
    let chain = dir.join("audit.chain");
    #[cfg(feature = "audit-file")]
    argv.extend(["--audit-chain".into(), chain.display().to_string()]);
    let args = cli::Args::try_parse_from(&argv).unwrap();
    let guards = logging::init(&args).unwrap();

    let issuer = TestIssuer::builder()
        .audience("agent-api")
        .start()
        .await
        .unwrap();
    let v = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience("agent-api")
        .max_token_lifetime(Duration::from_secs(3600))
        .build()
        .await
        .unwrap();
    let app = app::router(v);
    let token = issuer.token().subject("auditor-7").sign();
    const N: usize = 2_000;
    for i in 0..N {
        let mut req = Request::builder().uri("/whoami");
        if i % 2 == 0 {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        let res = app
            .clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), if i % 2 == 0 { 200 } else { 401 });
    }
    // Exit: the writer threads flush what they hold.
    drop(guards);

    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is one JSON object"))
        .collect();
    assert_eq!(lines.len(), N, "one line per decision, none lost");
    let allowed = lines
        .iter()
        .filter(|l| l["fields"]["decision"] == "allow")
        .count();
    assert_eq!(allowed, N / 2);
    assert!(
        lines
            .iter()
            .all(|l| l["target"] == a2a_guard::audit::TARGET)
    );
    assert!(lines[0]["fields"]["sub"] == "auditor-7" || lines[1]["fields"]["sub"] == "auditor-7");
    assert!(!text.contains(&token), "never the token");

    #[cfg(feature = "audit-file")]
    {
        let report = a2a_guard::audit_file::verify(&[&chain]).expect("the chain verifies");
        let json: usize = std::fs::read_to_string(&chain)
            .unwrap()
            .lines()
            .filter(|l| l.contains("authorization decision"))
            .count();
        assert_eq!(json, N, "the chain holds every decision too: {report:?}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
