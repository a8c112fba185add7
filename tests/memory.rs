//! Memory bounds (issue 10, items 5 and 7), measured with a counting global allocator:
//! what forged tokens hold while they wait on a hanging issuer, and the byte bound of the
//! verified-token cache.
//!
//! The counter is process-wide, and the tests of this binary take [`SERIAL`] so that only
//! one of them allocates at a time. A per-thread counter is not enough: moka's map frees
//! removed entries through crossbeam-epoch's global collector, on whichever thread collects
//! next, so with tests running in parallel an evicted entry could be freed on another
//! test's thread and never counted as freed here (CI saw 12.7 MB "held" that way). Keep
//! every test in this file behind `SERIAL`, and nothing but memory tests in it.
#![cfg(feature = "testing")]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use a2a_guard::jwk::KeySet;
use a2a_guard::testing::{Behavior, SigningKey, TestIssuer};
use a2a_guard::{Algorithm, Validator};
use common::within;
use serde_json::{Value, json};

/// Bytes allocated minus bytes freed, by every thread of this process.
static LIVE: AtomicIsize = AtomicIsize::new(0);

/// One memory test at a time (see the module docs).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct Counting;

// SAFETY: delegates to the system allocator; only adds up sizes in an atomic (no
// allocation, so no re-entrancy).
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

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// A claim that makes a tree far larger than its JSON: one small object per 8 bytes.
fn heavy_claim(objects: usize) -> Value {
    Value::Array((0..objects).map(|_| json!({"a": 0})).collect())
}

const HANG: Duration = Duration::from_secs(60);

// Item 5: before the signature is verified nothing derived from the payload is held across
// the key lookup. Today's code kept the whole payload tree (~35-60x the token) alive while
// a kid-miss fetch hangs.
#[tokio::test]
async fn forged_tokens_waiting_on_a_hanging_issuer_hold_no_payload() {
    let _serial = SERIAL.lock().await;
    let issuer = TestIssuer::start().await.unwrap();
    let v = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
        .fetch_timeouts(HANG, HANG)
        .build()
        .await
        .unwrap();
    assert!(v.validate(&issuer.token().sign()).await.is_ok());
    issuer.set_jwks_behavior(Behavior::Hang);
    let fetches = issuer.jwks_fetches();
    // 100 forged ~14 KB tokens with unknown kids (real signatures from an unpublished key).
    let forger = SigningKey::generate(Algorithm::ES256);
    let tokens: Vec<String> = (0..100)
        .map(|i| {
            issuer
                .token()
                .signing_key(&forger)
                .kid(format!("forged-{i}"))
                .claim("pad", heavy_claim(1_200))
                .sign()
        })
        .collect();
    assert!(tokens.iter().all(|t| (13_000..16_000).contains(&t.len())));
    let token_bytes: usize = tokens.iter().map(String::len).sum();
    let before = live();
    let mut tasks = tokio::task::JoinSet::new();
    for t in tokens {
        let v = v.clone();
        tasks.spawn(async move { v.validate(&t).await.map(drop) });
    }
    // Every task runs up to the kid-miss fetch, which the issuer received and never answers.
    within(HANG, async {
        while issuer.jwks_fetches() == fetches {
            tokio::task::yield_now().await;
        }
    })
    .await;
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert_eq!(tasks.len(), 100, "all still waiting on the hanging issuer");
    let held = live() - before;
    eprintln!("100 waiting forged tokens ({token_bytes} bytes): {held} bytes held");
    assert!(
        held < 5 * token_bytes as isize,
        "{held} bytes held by 100 waiting forged tokens of {token_bytes} bytes in all"
    );
    tasks.abort_all();
}

// Item 7: the verified-token cache is bounded by bytes, not by entries.
#[tokio::test]
async fn token_cache_is_bounded_by_bytes() {
    let _serial = SERIAL.lock().await;
    const BUDGET: u64 = 1024 * 1024;
    let issuer = TestIssuer::builder()
        .algorithms([Algorithm::ES256])
        .start()
        .await
        .unwrap();
    let v = Validator::builder()
        .issuer_keys(issuer.issuer(), KeySet::from_value(&issuer.jwks()).unwrap())
        .audience(issuer.audience())
        .token_cache_bytes(BUDGET)
        .build()
        .await
        .unwrap();
    let tokens: Vec<String> = (0..150)
        .map(|i| {
            issuer
                .token()
                .alg(Algorithm::ES256)
                .subject(format!("agent-{i}"))
                .claim("pad", heavy_claim(1_200))
                .sign()
        })
        .collect();
    let token_bytes: usize = tokens.iter().map(String::len).sum();
    let before = live();
    for t in &tokens {
        drop(v.validate(t).await.unwrap());
        assert!(v.validate(t).await.is_ok());
    }
    // Cache hits feed moka's housekeeping, which applies pending inserts and evictions
    // every 64 operations (or when its own timer says so, which a loaded machine can
    // delay); after enough of them the cache holds what its budget allows. Without the
    // byte bound it never gets there, whatever the number of rounds.
    let mut held = isize::MAX;
    for _ in 0..20 {
        for _ in 0..300 {
            assert!(v.validate(&tokens[0]).await.is_ok());
        }
        held = live() - before;
        if held < 3 * BUDGET as isize {
            break;
        }
        tokio::task::yield_now().await;
    }
    eprintln!("150 cached heavy tokens ({token_bytes} bytes): {held} bytes held");
    assert!(
        held < 3 * BUDGET as isize,
        "{held} bytes held for 150 cached tokens of {token_bytes} bytes in all"
    );
}
