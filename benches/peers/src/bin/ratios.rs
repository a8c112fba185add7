//! Interleaved ratios: a cross-check of the criterion run that is robust to a shared,
//! noisy machine. Every round times one batch (≈ BATCH_MS) of every contender, in an order
//! rotated each round; a ratio is taken within each round (so a load spike hits both sides
//! of it) and the median over rounds is reported.
//!
//! ```sh
//! cargo run --release --bin ratios [-- ROUNDS [BATCH_MS]]      # PEERS_ALGS=RS256,ES256 to narrow
//! ```

use std::collections::BTreeMap;
use std::time::Instant;

use a2a_guard::Algorithm;
use a2a_guard_peers::{CONTENDERS, Contenders, run};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

fn quartiles(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    (q(0.25), q(0.75))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().map_or(200, |a| a.parse().expect("rounds"));
    let batch_ms: f64 = args.next().map_or(5.0, |a| a.parse().expect("batch ms"));
    let algs: Vec<Algorithm> = match std::env::var("PEERS_ALGS") {
        Ok(l) => l.split(',').map(|a| a.trim().parse().expect("alg")).collect(),
        Err(_) => vec![Algorithm::RS256, Algorithm::PS256, Algorithm::ES256, Algorithm::EdDSA],
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!("Interleaved: {rounds} rounds, batches of ≈ {batch_ms} ms, medians in µs; ratios are medians of per-round ratios.\n");
    for alg in algs {
        let k = rt.block_on(Contenders::new(alg));
        let names: Vec<&str> = CONTENDERS
            .iter()
            .map(|(n, _)| *n)
            .filter(|n| k.aliri.is_some() || !n.starts_with("aliri"))
            .collect();
        // Calibrate a batch size per contender.
        let mut batch = BTreeMap::new();
        for &n in &names {
            rt.block_on(run(&k, n, 3));
            let t = Instant::now();
            rt.block_on(run(&k, n, 20));
            let per = t.elapsed().as_secs_f64() / 20.0;
            batch.insert(n, ((batch_ms / 1000.0 / per) as usize).max(1));
        }
        let mut per_round: Vec<BTreeMap<&str, f64>> = Vec::with_capacity(rounds);
        for r in 0..rounds {
            let mut m = BTreeMap::new();
            for i in 0..names.len() {
                let n = names[(i + r) % names.len()];
                let iters = batch[n];
                let t = Instant::now();
                rt.block_on(run(&k, n, iters));
                m.insert(n, t.elapsed().as_secs_f64() * 1e6 / iters as f64);
            }
            per_round.push(m);
        }
        let med = |n: &str| median(per_round.iter().map(|m| m[n]).collect());
        let rat = |a: &str, b: &str| -> Option<f64> {
            if !names.contains(&a) || !names.contains(&b) {
                return None;
            }
            Some(median(per_round.iter().map(|m| m[a] / m[b]).collect()))
        };
        println!("### {alg} (token {} bytes)\n", k.fx.token.len());
        println!("| contender | median µs | IQR µs | ×floor | ÷ bare router |");
        println!("|---|---|---|---|---|");
        for (n, label) in CONTENDERS.iter().filter(|(n, _)| names.contains(n)) {
            let (q1, q3) = quartiles(per_round.iter().map(|m| m[*n]).collect());
            let bare = if n.ends_with("layer") || n.ends_with("layer_hit") || n.ends_with("layer_nocache") || n.starts_with("bare") || *n == "noop08" {
                if *n == "jwta_layer" || *n == "bare07" { rat(n, "bare07") } else { rat(n, "bare08") }
            } else {
                None
            };
            println!(
                "| {label} | {:.3} | {:.3}–{:.3} | {:.2}× | {} |",
                med(n),
                q1,
                q3,
                rat(n, "floor").unwrap(),
                bare.map_or("".into(), |b| format!("{b:.2}×")),
            );
        }
        println!();
        let show = |what: &str, a: &str, b: &str, target: Option<(f64, bool)>| {
            if let Some(r) = rat(a, b) {
                let verdict = match target {
                    Some((t, true)) => if r >= t { format!(" (target ≥ {t}×: met)") } else { format!(" (target ≥ {t}×: **missed**)") },
                    Some((t, false)) => if r <= t { format!(" (target ≤ {t}×: met)") } else { format!(" (target ≤ {t}×: **missed**)") },
                    None => String::new(),
                };
                println!("- {what}: **{r:.2}×**{verdict}");
            }
        };
        show("a2a-guard uncached ÷ floor", "a2a_nocache", "floor", Some((1.10, false)));
        show("a2a-guard uncached ÷ cache hit", "a2a_nocache", "a2a_hit", Some((30.0, true)));
        show("jwt-authorizer layer ÷ a2a-guard uncached validate", "jwta_layer", "a2a_nocache", Some((1.4, true)));
        show("aliri_tower layer ÷ a2a-guard uncached validate", "aliri_layer", "a2a_nocache", Some((1.4, true)));
        show("jwt-authorizer layer ÷ a2a-guard layer (cache off)", "jwta_layer", "a2a_layer_nocache", Some((1.4, true)));
        show("aliri_tower layer ÷ a2a-guard layer (cache off)", "aliri_layer", "a2a_layer_nocache", Some((1.4, true)));
        show("jwt-authorizer layer ÷ a2a-guard layer (cache hit)", "jwta_layer", "a2a_layer_hit", Some((20.0, true)));
        show("aliri_tower layer ÷ a2a-guard layer (cache hit)", "aliri_layer", "a2a_layer_hit", Some((20.0, true)));
        show("jwt-authorizer check_auth ÷ a2a-guard uncached", "jwta", "a2a_nocache", None);
        show("aliri verify_token ÷ a2a-guard uncached", "aliri", "a2a_nocache", None);
        show("a2a-guard layer (cache hit) ÷ its validate (cache hit)", "a2a_layer_hit", "a2a_hit", None);
        show("a2a-guard layer (cache hit) ÷ axum + identity layer", "a2a_layer_hit", "noop08", None);
        println!();
    }
}
