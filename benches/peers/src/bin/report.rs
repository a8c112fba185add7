//! Reads the last `cargo bench --bench peers` run (target/criterion/<ALG>/<id>/new/
//! estimates.json) and prints the side-by-side table with ratios, all from that one run.
//!
//! ```sh
//! cargo run --release --bin report [-- path/to/criterion]
//! ```

use std::path::{Path, PathBuf};

use serde_json::Value;

const ALGS: [&str; 4] = ["RS256", "PS256", "ES256", "EdDSA"];

/// Median and mean in µs, or None when that bench did not run.
fn estimate(dir: &Path, alg: &str, id: &str) -> Option<(f64, f64)> {
    let path = dir.join(alg).join(id).join("new").join("estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    let us = |k: &str| v[k]["point_estimate"].as_f64().map(|ns| ns / 1000.0);
    Some((us("median")?, us("mean")?))
}

fn fmt_us(x: Option<f64>) -> String {
    match x {
        None => "—".into(),
        Some(v) if v < 1.0 => format!("{:.3}", v),
        Some(v) if v < 10.0 => format!("{:.2}", v),
        Some(v) => format!("{:.1}", v),
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => {
            let r = a / b;
            if r >= 10.0 {
                format!("{r:.0}×")
            } else {
                format!("{r:.2}×")
            }
        }
        _ => "—".into(),
    }
}

fn main() {
    let dir = std::env::args().nth(1).map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/criterion")
    });
    let med = |alg: &str, id: &str| estimate(&dir, alg, id).map(|(m, _)| m);

    println!("Medians in µs from one criterion run ({}).\n", dir.display());
    println!("### Validation call (token string in, claims out)\n");
    println!(
        "| alg | floor | a2a-guard uncached | ×floor | a2a-guard cache hit | uncached/hit | jwt-authorizer `check_auth` | ×floor | ÷ a2a uncached | ÷ a2a hit | aliri `verify_token` | ×floor | ÷ a2a uncached | ÷ a2a hit |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for alg in ALGS {
        let floor = med(alg, "floor");
        if floor.is_none() {
            continue;
        }
        let un = med(alg, "a2a_validate_nocache");
        let hit = med(alg, "a2a_validate_hit");
        let jw = med(alg, "jwta_check_auth");
        let al = med(alg, "aliri_verify_token");
        println!(
            "| {alg} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            fmt_us(floor),
            fmt_us(un),
            ratio(un, floor),
            fmt_us(hit),
            ratio(un, hit),
            fmt_us(jw),
            ratio(jw, floor),
            ratio(jw, un),
            ratio(jw, hit),
            fmt_us(al),
            ratio(al, floor),
            ratio(al, un),
            ratio(al, hit),
        );
    }

    println!("\n### Whole tower stack: one-route router, `oneshot` per request\n");
    println!(
        "| alg | bare axum 0.8 | a2a layer uncached | ×floor | a2a layer cache hit | ÷ bare | bare axum 0.7 | jwt-authorizer layer | ×floor | ÷ bare | ÷ a2a uncached | ÷ a2a hit | aliri_tower layer | ×floor | ÷ bare | ÷ a2a uncached | ÷ a2a hit |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for alg in ALGS {
        let floor = med(alg, "floor");
        if floor.is_none() {
            continue;
        }
        let b8 = med(alg, "bare08_oneshot");
        let un = med(alg, "a2a_layer_nocache_oneshot");
        let hit = med(alg, "a2a_layer_hit_oneshot");
        let b7 = med(alg, "bare07_oneshot");
        let jw = med(alg, "jwta_layer_oneshot");
        let al = med(alg, "aliri_layer_oneshot");
        println!(
            "| {alg} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            fmt_us(b8),
            fmt_us(un),
            ratio(un, floor),
            fmt_us(hit),
            ratio(hit, b8),
            fmt_us(b7),
            fmt_us(jw),
            ratio(jw, floor),
            ratio(jw, b7),
            ratio(jw, un),
            ratio(jw, hit),
            fmt_us(al),
            ratio(al, floor),
            ratio(al, b8),
            ratio(al, un),
            ratio(al, hit),
        );
    }

    println!("\n### Components of a2a-guard's cache-hit path (same run)\n");
    println!("| alg | layer hit − bare router | identity layer − bare router | validate hit | `bearer::extract` | SHA-256 of signature segment |");
    println!("|---|---|---|---|---|---|");
    for alg in ALGS {
        if med(alg, "floor").is_none() {
            continue;
        }
        let over = med(alg, "a2a_layer_hit_oneshot").zip(med(alg, "bare08_oneshot")).map(|(a, b)| a - b);
        let noop = med(alg, "noop_layer08_oneshot").zip(med(alg, "bare08_oneshot")).map(|(a, b)| a - b);
        println!(
            "| {alg} | {} | {} | {} | {} | {} |",
            fmt_us(over),
            fmt_us(noop),
            fmt_us(med(alg, "a2a_validate_hit")),
            fmt_us(med(alg, "a2a_bearer_extract")),
            fmt_us(med(alg, "sha256_sig_segment")),
        );
    }

    println!("\n### Issue 5 targets\n");
    println!("| alg | target | measured | met |");
    println!("|---|---|---|---|");
    for alg in ALGS {
        let floor = med(alg, "floor");
        if floor.is_none() {
            continue;
        }
        let un = med(alg, "a2a_validate_nocache");
        let hit = med(alg, "a2a_validate_hit");
        let lun = med(alg, "a2a_layer_nocache_oneshot");
        let lhit = med(alg, "a2a_layer_hit_oneshot");
        let jw = med(alg, "jwta_layer_oneshot");
        let al = med(alg, "aliri_layer_oneshot");
        let row = |t: &str, v: Option<f64>, ok: fn(f64) -> bool, shown: String| {
            let met = v.map_or("—", |v| if ok(v) { "yes" } else { "**no**" });
            println!("| {alg} | {t} | {shown} | {met} |");
        };
        let r = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| a / b);
        row("uncached validate ≤ 1.10× floor", r(un, floor), |v| v <= 1.10, ratio(un, floor));
        row("cache hit ≥ 30× faster than uncached", r(un, hit), |v| v >= 30.0, ratio(un, hit));
        row(
            "jwt-authorizer layer ÷ a2a uncached validate ≥ 1.4×",
            r(jw, un),
            |v| v >= 1.4,
            ratio(jw, un),
        );
        row(
            "jwt-authorizer layer ÷ a2a layer uncached ≥ 1.4×",
            r(jw, lun),
            |v| v >= 1.4,
            ratio(jw, lun),
        );
        row(
            "jwt-authorizer layer ÷ a2a layer hit ≥ 20×",
            r(jw, lhit),
            |v| v >= 20.0,
            ratio(jw, lhit),
        );
        if al.is_some() {
            row(
                "aliri_tower layer ÷ a2a uncached validate ≥ 1.4×",
                r(al, un),
                |v| v >= 1.4,
                ratio(al, un),
            );
            row(
                "aliri_tower layer ÷ a2a layer uncached ≥ 1.4×",
                r(al, lun),
                |v| v >= 1.4,
                ratio(al, lun),
            );
            row(
                "aliri_tower layer ÷ a2a layer hit ≥ 20×",
                r(al, lhit),
                |v| v >= 20.0,
                ratio(al, lhit),
            );
        }
    }
}
