//! a2a-guard vs jwt-authorizer 0.15 vs aliri_tower 0.6, per algorithm, on the same key,
//! JWKS and ≈ 900-byte token with five scopes (see `src/lib.rs`).
//!
//! ```sh
//! cd benches/peers
//! cargo bench --bench peers -- --noplot --warm-up-time 1 --measurement-time 3
//! cargo run --release --bin report          # the table, with ratios, from that run
//! ```
//!
//! Bench ids, per group `<ALG>`:
//! - `floor`              one aws-lc-rs `ParsedPublicKey::verify_sig` of the same bytes
//! - `a2a_validate_nocache` / `a2a_validate_hit`  `Validator::validate`, cache off / hit
//! - `a2a_bearer_extract`, `sha256_sig_segment`  components of a2a-guard's cache-hit path:
//!   `bearer::extract` of the `Authorization` header, SHA-256 of the signature segment
//! - `jwta_check_auth`    jwt-authorizer `Authorizer::check_auth` (its validation call)
//! - `aliri_verify_token` aliri_oauth2 `Authority::verify_token` (what its layer calls)
//! - `*_oneshot`          a one-route router driven by `tower::ServiceExt::oneshot`:
//!   `bare08` / `bare07` are the same router without any layer (axum 0.8 / 0.7);
//!   `noop_layer08` is axum 0.8 with an identity layer (what any layer costs in axum).

use std::hint::black_box;

use a2a_guard::Algorithm;
use a2a_guard_peers::{Contenders, Fixture, request07, request08};
use criterion::{Criterion, criterion_group, criterion_main};
use tower::ServiceExt as _;

fn algorithms() -> Vec<Algorithm> {
    // PEERS_ALGS=RS256,ES256 narrows the run.
    match std::env::var("PEERS_ALGS") {
        Ok(list) => list
            .split(',')
            .map(|a| a.trim().parse().expect("PEERS_ALGS: RS256,PS256,ES256,EdDSA"))
            .collect(),
        Err(_) => vec![
            Algorithm::RS256,
            Algorithm::PS256,
            Algorithm::ES256,
            Algorithm::EdDSA,
        ],
    }
}

fn peers(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for alg in algorithms() {
        let k = rt.block_on(Contenders::new(alg));
        let fx = &k.fx;
        eprintln!(
            "{alg}: token {} bytes, kid {}, assertions passed for every contender",
            fx.token.len(),
            fx.key.kid()
        );
        let bearer = fx.bearer();
        let token = fx.token.as_str();
        let mut g = c.benchmark_group(alg.as_str());

        g.bench_function("floor", |b| b.iter(|| assert!(black_box(fx).floor())));

        // ---- validation calls ----
        g.bench_function("a2a_validate_nocache", |b| {
            b.to_async(&rt)
                .iter(|| async { k.a2a_uncached.validate(black_box(token)).await.unwrap() })
        });
        g.bench_function("a2a_validate_hit", |b| {
            b.to_async(&rt)
                .iter(|| async { k.a2a_cached.validate(black_box(token)).await.unwrap() })
        });
        // Components of a2a-guard's cache-hit path.
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, bearer.parse().unwrap());
        g.bench_function("a2a_bearer_extract", |b| {
            b.iter(|| a2a_guard::bearer::extract(black_box(&headers), None).is_ok())
        });
        let sig = token.rsplit_once('.').unwrap().1;
        g.bench_function("sha256_sig_segment", |b| {
            b.iter(|| aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, black_box(sig).as_bytes()))
        });
        g.bench_function("jwta_check_auth", |b| {
            b.to_async(&rt)
                .iter(|| async { k.jwta.check_auth(black_box(token)).await.unwrap() })
        });
        if let Some((authority, _)) = &k.aliri {
            let jwt = aliri::jwt::Jwt::from(token);
            let policy = aliri_oauth2::ScopePolicy::allow_any();
            g.bench_function("aliri_verify_token", |b| {
                b.iter(|| Fixture::aliri_verify(authority, black_box(&jwt), &policy).unwrap())
            });
        }

        // ---- the whole tower stack, via oneshot ----
        let oneshot08 = |router: &axum::Router| {
            let router = router.clone();
            let bearer = bearer.clone();
            move || {
                let router = router.clone();
                let req = request08(&bearer);
                async move {
                    let res = router.oneshot(req).await.unwrap();
                    assert_eq!(res.status(), 200);
                    res
                }
            }
        };
        g.bench_function("bare08_oneshot", |b| {
            b.to_async(&rt).iter(oneshot08(&k.bare08))
        });
        g.bench_function("noop_layer08_oneshot", |b| {
            b.to_async(&rt).iter(oneshot08(&k.noop08))
        });
        g.bench_function("a2a_layer_nocache_oneshot", |b| {
            b.to_async(&rt).iter(oneshot08(&k.a2a_router_uncached))
        });
        g.bench_function("a2a_layer_hit_oneshot", |b| {
            b.to_async(&rt).iter(oneshot08(&k.a2a_router_cached))
        });
        if let Some((_, router)) = &k.aliri {
            g.bench_function("aliri_layer_oneshot", |b| {
                b.to_async(&rt).iter(oneshot08(router))
            });
        }
        let oneshot07 = |router: &axum07::Router| {
            let router = router.clone();
            let bearer = bearer.clone();
            move || {
                let router = router.clone();
                let req = request07(&bearer);
                async move {
                    let res = router.oneshot(req).await.unwrap();
                    assert_eq!(res.status(), 200);
                    res
                }
            }
        };
        g.bench_function("bare07_oneshot", |b| {
            b.to_async(&rt).iter(oneshot07(&k.bare07))
        });
        g.bench_function("jwta_layer_oneshot", |b| {
            b.to_async(&rt).iter(oneshot07(&k.jwta_router))
        });
        g.finish();
    }
}

criterion_group!(benches, peers);
criterion_main!(benches);
