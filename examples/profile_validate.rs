//! Profiling driver (not a benchmark): runs one validation path in a loop so `valgrind
//! --tool=callgrind` can attribute instructions.
//!
//! ```text
//! cargo build --release --example profile_validate
//! valgrind --tool=callgrind target/release/examples/profile_validate uncached RS256 2000
//! valgrind --tool=callgrind target/release/examples/profile_validate uncached-typed RS256 2000
//! valgrind --tool=callgrind target/release/examples/profile_validate hit RS256 200000
//! valgrind --tool=callgrind target/release/examples/profile_validate stack RS256 100000
//! valgrind --tool=callgrind target/release/examples/profile_validate hit-denylist RS256 200000
//! ```
//! valgrind --tool=callgrind target/release/examples/profile_validate stack-text RS256 100000
//! valgrind --tool=callgrind target/release/examples/profile_validate stack-json RS256 100000
//! valgrind --tool=callgrind target/release/examples/profile_validate stack-jsonlines RS256 100000
//! valgrind --tool=callgrind --features audit-file ... profile_validate stack-chain RS256 100000
//! ```
//! `stack-text` / `stack-json` / `stack-jsonlines` / `stack-chain`: `stack` with every audit
//! event recorded — by `tracing-subscriber`'s text or JSON formatter or by
//! `a2a_guard::audit::JsonLines` into `io::sink()`, or by the hash-chained
//! `AuditFileLayer` into a temporary file (build with `--features audit-file`): the cost of
//! the audit event itself, writer thread included, without the terminal.
//!
//! ```text
//! `hit-denylist`: cache hits with a deny-list holding 10 000 `jti`s and 1 000 subject epochs
//! (none matching the token), so every check takes the read lock and looks up.

use a2a_guard::jwk::KeySet;
use a2a_guard::testing::TestIssuer;
use a2a_guard::{Algorithm, Validator};

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "uncached".into());
    let _audit = audit_subscriber(&mode);
    let alg: Algorithm = args
        .next()
        .unwrap_or_else(|| "RS256".into())
        .parse()
        .expect("algorithm");
    let n: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let issuer = TestIssuer::builder()
            .algorithms([alg])
            .start()
            .await
            .expect("issuer");
        let keys = KeySet::from_value(&issuer.jwks()).expect("keys");
        let b = Validator::builder()
            .issuer_keys(issuer.issuer(), keys)
            .audience(issuer.audience());
        if mode == "uncached-typed" {
            // A typed claims struct (`claims::<T>()`) instead of the default JSON map.
            #[derive(Clone, serde::Deserialize)]
            struct Tenant {
                #[allow(dead_code)]
                tenant: String,
            }
            let v = b
                .claims::<Tenant>()
                .no_token_cache()
                .build()
                .await
                .expect("validator");
            let token = issuer
                .token()
                .alg(alg)
                .subject("agent:analysis-specialist-7f3a9c")
                .claim("client_id", "orchestrator-prod-eu-west-1")
                .scope(
                    "read:customers:eu read:orders write:reports execute:payment delegate:analysis",
                )
                .claim("act", serde_json::json!({"sub": "agent:orchestrator-prod"}))
                .claim("tenant", "acme-industries-eu")
                .sign();
            for _ in 0..n {
                std::hint::black_box(
                    v.validate(std::hint::black_box(&token))
                        .await
                        .expect("valid"),
                );
            }
            return;
        }
        let v = if mode == "hit-denylist" {
            let r = a2a_guard::revocation::Revocations::new();
            let later = std::time::SystemTime::now() + std::time::Duration::from_secs(3600);
            for i in 0..10_000 {
                r.revoke_jti(&format!("revoked-{i}"), later)
                    .expect("revoke");
            }
            for i in 0..1_000 {
                r.revoke_before(
                    a2a_guard::revocation::Target::Subject,
                    &format!("retired-{i}"),
                    std::time::SystemTime::now(),
                )
                .expect("revoke");
            }
            b.revocations(r).build().await
        } else if mode != "uncached" {
            b.build().await
        } else {
            b.no_token_cache().build().await
        }
        .expect("validator");
        let token = issuer
            .token()
            .alg(alg)
            .subject("agent:analysis-specialist-7f3a9c")
            .claim("client_id", "orchestrator-prod-eu-west-1")
            .scope("read:customers:eu read:orders write:reports execute:payment delegate:analysis")
            .claim("act", serde_json::json!({"sub": "agent:orchestrator-prod"}))
            .claim("tenant", "acme-industries-eu")
            .claim("jti", "4f0c2a9e-7d3b-4c61-9a8e-2b5d7f1e3c90")
            .sign();
        if mode.starts_with("stack") {
            use tower::ServiceExt;
            let guard = a2a_guard::RequireScopes::all(["read:orders"]);
            let app = axum::Router::new()
                .route(
                    "/whoami",
                    axum::routing::get(|| async { "ok" }).route_layer(guard),
                )
                .layer(v.layer());
            let auth = format!("Bearer {token}");
            for _ in 0..n {
                let req = http::Request::get("/whoami").header("authorization", &auth);
                let req = req.body(axum::body::Body::empty()).expect("request");
                std::hint::black_box(app.clone().oneshot(req).await.expect("response"));
            }
            return;
        }
        for _ in 0..n {
            std::hint::black_box(
                v.validate(std::hint::black_box(&token))
                    .await
                    .expect("valid"),
            );
        }
    });
}

/// The audit sink a `stack-*` mode asks for, installed as the global subscriber; the
/// returned guard flushes the chain's writer thread when dropped.
fn audit_subscriber(mode: &str) -> Option<Box<dyn std::any::Any>> {
    use tracing_subscriber::prelude::*;
    let audit_only = || {
        tracing_subscriber::filter::Targets::new()
            .with_target(a2a_guard::audit::TARGET, tracing::Level::INFO)
    };
    match mode {
        "stack-text" => {
            let layer = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(audit_writer)
                .with_filter(audit_only());
            tracing_subscriber::registry().with(layer).init();
            None
        }
        "stack-json" => {
            let layer = tracing_subscriber::fmt::layer()
                .json()
                .with_writer(audit_writer)
                .with_filter(audit_only());
            tracing_subscriber::registry().with(layer).init();
            None
        }
        "stack-jsonlines" => {
            let layer = tracing_subscriber::fmt::layer()
                .event_format(a2a_guard::audit::JsonLines::default())
                .with_writer(audit_writer)
                .with_filter(audit_only());
            tracing_subscriber::registry().with(layer).init();
            None
        }
        #[cfg(feature = "audit-file")]
        "stack-chain" => {
            use a2a_guard::audit_file::{AuditFileLayer, ChainWriter};
            let path = std::env::temp_dir().join(format!("profile-chain-{}", std::process::id()));
            let writer = ChainWriter::builder(&path).open().expect("chain file");
            let (layer, guard) = AuditFileLayer::builder()
                .block_when_full()
                .spawn(writer)
                .expect("writer thread");
            tracing_subscriber::registry()
                .with(layer.with_filter(audit_only()))
                .init();
            Some(Box::new(guard))
        }
        _ => None,
    }
}

/// `io::sink()`, or stderr with `PROFILE_AUDIT_STDERR=1` (to see what is formatted).
fn audit_writer() -> Box<dyn std::io::Write> {
    if std::env::var_os("PROFILE_AUDIT_STDERR").is_some() {
        Box::new(std::io::stderr())
    } else {
        Box::new(std::io::sink())
    }
}
