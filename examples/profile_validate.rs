//! Profiling driver (not a benchmark): runs one validation path in a loop so `valgrind
//! --tool=callgrind` can attribute instructions.
//!
//! ```text
//! cargo build --release --example profile_validate
//! valgrind --tool=callgrind target/release/examples/profile_validate uncached RS256 2000
//! valgrind --tool=callgrind target/release/examples/profile_validate uncached-typed RS256 2000
//! valgrind --tool=callgrind target/release/examples/profile_validate hit RS256 200000
//! valgrind --tool=callgrind target/release/examples/profile_validate stack RS256 100000
//! valgrind --tool=callgrind target/release/examples/profile_validate bare RS256 100000
//! valgrind --tool=callgrind target/release/examples/profile_validate layer RS256 100000
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
//! `bare`: the `stack` router and request without the layer and the scope guard; `layer`:
//! with the layer and without the guard. `layer` minus `bare` is what the layer costs on a
//! cache hit, net of axum and the handler; `stack` minus `layer` is the scope guard.
//!
//! `PROFILE_KEYS=N` (any mode): the issuer's key set holds N keys (N − 1 others before the
//! signing one); `PROFILE_ISSUERS=N`: N issuers are configured (N − 1 others first).
//! `churn`: 200 distinct tokens in turn through a cache with room for about 50, so every
//! call misses, verifies, inserts and evicts (a working set larger than the cache).
//!
//! `hit-denylist`: cache hits with a deny-list holding 10 000 `jti`s and 1 000 subject epochs
//! (none matching the token), so every check takes the read lock and looks up.
//!
//! `PROFILE_SCOPES=N` (any mode): the token carries N generated scopes instead of the usual
//! five (issue 16's scope-growth cases, `scripts/instructions.sh`).
//!
//! ```text
//! PROFILE_SCOPES=1000 valgrind --tool=callgrind target/release/examples/profile_validate uncached ES256 20
//! PROFILE_SCOPES=1000 valgrind --tool=callgrind target/release/examples/profile_validate match ES256 20000
//! ```
//! `match`: no validation; `ScopeSet::satisfies` of a three-scope requirement (one covered
//! through the hierarchy, one through a wildcard, one exactly) against the `PROFILE_SCOPES`
//! set (default 10).

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
    let scope_count: Option<usize> = std::env::var("PROFILE_SCOPES")
        .ok()
        .map(|v| v.parse().expect("PROFILE_SCOPES is a number"));
    let default_scopes =
        "read:customers:eu read:orders write:reports execute:payment delegate:analysis";
    let scopes = scope_count.map_or_else(|| default_scopes.to_owned(), generated_scopes);
    if mode == "match" {
        match_loop(&generated_scopes(scope_count.unwrap_or(10)), n);
        return;
    }
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
        // PROFILE_KEYS=N: the issuer's set holds N − 1 other keys of the same algorithm
        // before the signing one. PROFILE_ISSUERS=N: N − 1 other issuers are configured
        // before the token's.
        let mut jwks = issuer.jwks();
        let extra_keys = env_count("PROFILE_KEYS").saturating_sub(1);
        if let Some(list) = jwks["keys"].as_array_mut() {
            for i in 0..extra_keys {
                let other =
                    a2a_guard::testing::SigningKey::generate(alg).with_kid(format!("other-{i}"));
                list.insert(0, other.public_jwk());
            }
        }
        let keys = KeySet::from_value(&jwks).expect("keys");
        let mut b = Validator::builder();
        for i in 0..env_count("PROFILE_ISSUERS").saturating_sub(1) {
            let other = a2a_guard::testing::SigningKey::generate(alg);
            let set = serde_json::json!({ "keys": [other.public_jwk()] });
            b = b.issuer_keys(
                format!("https://issuer-{i}.example"),
                KeySet::from_value(&set).expect("keys"),
            );
        }
        let mut b = b
            .issuer_keys(issuer.issuer(), keys)
            .audience(issuer.audience());
        if scope_count.is_some() {
            // A thousand scopes make a ≈ 27 KB token, over the default cap.
            b = b.max_token_size(1 << 20);
        }
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
            let token = benchmark_token(&issuer, alg, &scopes).sign();
            drive(n, || async {
                v.validate(std::hint::black_box(&token))
                    .await
                    .expect("valid")
            });
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
        } else if mode == "churn" {
            // Room for about a quarter of the working set: every call misses and evicts.
            b.token_cache_bytes(256 * 1024).build().await
        } else if mode != "uncached" {
            b.build().await
        } else {
            b.no_token_cache().build().await
        }
        .expect("validator");
        let token = benchmark_token(&issuer, alg, &scopes)
            .claim("jti", "4f0c2a9e-7d3b-4c61-9a8e-2b5d7f1e3c90")
            .sign();
        if mode.starts_with("stack") || mode == "bare" || mode == "layer" {
            use tower::ServiceExt;
            let guard = a2a_guard::RequireScopes::all(["read:orders"]);
            let app = if mode == "bare" {
                axum::Router::new().route("/whoami", axum::routing::get(|| async { "ok" }))
            } else if mode == "layer" {
                axum::Router::new()
                    .route("/whoami", axum::routing::get(|| async { "ok" }))
                    .layer(v.layer())
            } else {
                axum::Router::new()
                    .route(
                        "/whoami",
                        axum::routing::get(|| async { "ok" }).route_layer(guard),
                    )
                    .layer(v.layer())
            };
            let auth = format!("Bearer {token}");
            drive(n, || async {
                let req = http::Request::get("/whoami").header("authorization", &auth);
                let req = req.body(axum::body::Body::empty()).expect("request");
                app.clone().oneshot(req).await.expect("response")
            });
            return;
        }
        if mode == "churn" {
            // A working set of 200 distinct tokens, in turn, through a cache holding ≈ 50.
            let tokens: Vec<String> = (0..200)
                .map(|i| {
                    benchmark_token(&issuer, alg, &scopes)
                        .claim("jti", format!("4f0c2a9e-7d3b-4c61-9a8e-{i:012}"))
                        .sign()
                })
                .collect();
            let mut i = 0;
            drive(n, || {
                i = (i + 1) % tokens.len();
                let t = &tokens[i];
                async { v.validate(std::hint::black_box(t)).await.expect("valid") }
            });
            return;
        }
        drive(n, || async {
            v.validate(std::hint::black_box(&token))
                .await
                .expect("valid")
        });
    });
}

/// The benchmark token's claims (an agent acting for an orchestrator, five scopes unless
/// `PROFILE_SCOPES` says otherwise), before any `jti`.
fn benchmark_token(
    issuer: &TestIssuer,
    alg: Algorithm,
    scopes: &str,
) -> a2a_guard::testing::TokenBuilder {
    issuer
        .token()
        .alg(alg)
        .subject("agent:analysis-specialist-7f3a9c")
        .claim("client_id", "orchestrator-prod-eu-west-1")
        .scope(scopes)
        .claim("act", serde_json::json!({"sub": "agent:orchestrator-prod"}))
        .claim("tenant", "acme-industries-eu")
}

/// A count from the environment (default 1).
fn env_count(name: &str) -> usize {
    std::env::var(name).map_or(1, |v| v.parse().expect("a number"))
}

/// The measured loop. `scripts/instructions.sh` counts instructions only inside it
/// (`valgrind --tool=callgrind --toggle-collect='profile_validate::drive*'`), so the test
/// issuer's key generation and the runtime's start-up stay out of the figures. Each call's
/// future is polled here, with a no-op waker, so that the loop is a function of its own
/// (an `async fn` would be inlined into `main`'s); none of the measured calls waits.
#[inline(never)]
fn drive<T, F: std::future::Future<Output = T>>(n: usize, mut call: impl FnMut() -> F) {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    for _ in 0..n {
        let fut = std::pin::pin!(call());
        match fut.poll(&mut cx) {
            std::task::Poll::Ready(out) => {
                std::hint::black_box(out);
            }
            std::task::Poll::Pending => panic!("a measured call waited"),
        }
    }
}

/// [`drive`] for a synchronous call.
#[inline(never)]
fn drive_sync(n: usize, mut call: impl FnMut()) {
    for _ in 0..n {
        call();
    }
}

/// `n` realistic scopes: verbs over numbered resources, some with a region, some wildcards,
/// in no particular order (the set sorts them), the last a temporal restriction.
fn generated_scopes(n: usize) -> String {
    const VERBS: [&str; 4] = ["read", "write", "execute", "delegate"];
    let mut out = Vec::with_capacity(n);
    for i in 0..n.saturating_sub(1) {
        let k = (i * 7919) % n.max(1);
        let verb = VERBS[k % VERBS.len()];
        out.push(match k % 5 {
            0 => format!("{verb}:customers{k}:eu"),
            1 => format!("{verb}:*:archive{k}"),
            _ => format!("{verb}:resource{k}"),
        });
    }
    if n > 0 {
        out.push("temporal:8h".to_owned());
    }
    out.join(" ")
}

/// `match` mode: one requirement of three scopes against a granted set, `n` times.
fn match_loop(granted: &str, n: usize) {
    use a2a_guard::scope::{ScopeRequirement, ScopeRules, ScopeSet};
    let set = ScopeSet::parse(granted).expect("scopes");
    let count = set.len();
    // Covered through the hierarchy, through a wildcard and exactly (`generated_scopes` holds
    // `read:customers0:eu`, `execute:*:archive6` and `execute:resource2` from 10 scopes up).
    let req = ScopeRequirement::all([
        "read:customers0:eu:invoices",
        "execute:orders:archive6",
        "execute:resource2",
    ]);
    let rules = ScopeRules::new();
    drive_sync(n, || {
        let held = std::hint::black_box(&set).satisfies(std::hint::black_box(&req), &rules);
        assert!(held, "the requirement holds against {count} scopes");
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
