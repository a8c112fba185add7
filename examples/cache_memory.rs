//! Measures the heap cost of one verified-token cache entry: validates N distinct tokens
//! with the cache on, and divides the live-heap growth by N (a counting global allocator).
//!
//! ```text
//! cargo run --release --example cache_memory -- 10000
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use a2a_guard::jwk::KeySet;
use a2a_guard::testing::TestIssuer;
use a2a_guard::{Algorithm, Validator};

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: delegates to the system allocator; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

#[derive(Clone, serde::Deserialize)]
#[allow(dead_code)]
struct Tenant {
    tenant: String,
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let issuer = TestIssuer::builder().algorithms([Algorithm::ES256]).start().await.expect("issuer");
        let keys = || KeySet::from_value(&issuer.jwks()).expect("keys");
        let builder = || {
            Validator::builder().issuer_keys(issuer.issuer(), keys()).audience(issuer.audience()).token_cache_bytes(u64::MAX)
        };
        let v = builder().build().await.expect("validator");
        let typed = builder().claims::<Tenant>().build().await.expect("validator");
        let tokens: Vec<String> = (0..n)
            .map(|i| {
                issuer
                    .token()
                    .alg(Algorithm::ES256)
                    .subject(format!("agent:analysis-specialist-{i:06}"))
                    .claim("client_id", "orchestrator-prod-eu-west-1")
                    .scope("read:customers:eu read:orders write:reports execute:payment delegate:analysis")
                    .claim("act", serde_json::json!({"sub": "agent:orchestrator-prod"}))
                    .claim("tenant", "acme-industries-eu")
                    .sign()
            })
            .collect();
        let len = tokens[0].len();
        let before = LIVE.load(Ordering::SeqCst);
        for t in &tokens {
            drop(v.validate(t).await.expect("valid"));
        }
        let after = LIVE.load(Ordering::SeqCst);
        let per = (after - before) as f64 / n as f64;
        println!("{n} entries, token {len} bytes: {per:.0} bytes of heap per cache entry (claims as a JSON map, the default)");
        let before = LIVE.load(Ordering::SeqCst);
        for t in &tokens {
            drop(typed.validate(t).await.expect("valid"));
        }
        let per = (LIVE.load(Ordering::SeqCst) - before) as f64 / n as f64;
        println!("{n} entries, token {len} bytes: {per:.0} bytes of heap per cache entry (typed claims struct)");
    });
}
