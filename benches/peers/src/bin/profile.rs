//! A loop to run under a profiler: N iterations of one contender on the bench fixtures.
//! Only `run_hot` is meant to be measured, e.g. with callgrind (instruction counts, so the
//! result does not depend on how busy the machine is):
//!
//! ```sh
//! cargo build --release --bin profile
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*run_hot*' \
//!     --callgrind-out-file=cg.a2a_nocache.RS256 target/release/profile a2a_nocache RS256 2000
//! callgrind_annotate --inclusive=yes cg.a2a_nocache.RS256 | head -60
//! ```
//!
//! contenders: floor, a2a_nocache, a2a_hit, a2a_layer_nocache, a2a_layer_hit, bare08,
//! jwta, jwta_layer, bare07, aliri, aliri_layer

use a2a_guard::Algorithm;
use a2a_guard_peers::{Contenders, run};

/// The measured loop (callgrind: `--toggle-collect='*run_hot*'`). Synchronous, so that the
/// whole poll of the loop happens inside this frame.
#[inline(never)]
fn run_hot(rt: &tokio::runtime::Runtime, k: &Contenders, what: &str, n: usize) {
    rt.block_on(run(k, what, n))
}

/// One unmeasured pass: the cache entry exists, lazy statics are initialised.
#[inline(never)]
fn warm(rt: &tokio::runtime::Runtime, k: &Contenders, what: &str) {
    rt.block_on(run(k, what, 1))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let what = args.next().unwrap_or_else(|| "a2a_nocache".into());
    let alg: Algorithm = args.next().unwrap_or_else(|| "RS256".into()).parse().expect("alg");
    let n: usize = args.next().map_or(1000, |n| n.parse().expect("iterations"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let k = rt.block_on(Contenders::new(alg));
    warm(&rt, &k, &what);
    let t = std::time::Instant::now();
    run_hot(&rt, &k, &what, n);
    let per = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    eprintln!("{what} {alg}: {n} iterations, {per:.3} µs each (wall clock)");
}
