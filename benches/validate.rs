//! Validation cost against the floor, per algorithm, with ≈900-byte tokens carrying 5 scopes.
//!
//! ```text
//! cargo bench --bench validate -- --noplot
//! ```
//! Groups, per algorithm: `floor` (one raw aws-lc-rs verification of the same bytes with a
//! pre-parsed key), `jsonwebtoken` (jsonwebtoken 12 `decode` alone), `uncached`
//! (a2a-guard full validation, cache off), `cache_hit`, and the tower stack via `oneshot`
//! with and without the layer (`stack_layer`, `stack_bare`). Compare ratios within one run.

use std::hint::black_box;

use a2a_guard::Algorithm;
use a2a_guard::jwk::KeySet;
use a2a_guard::testing::TestIssuer;
use a2a_guard::{RequireScopes, Validator};
use aws_lc_rs::signature::{self, ParsedPublicKey, RsaPublicKeyComponents};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use criterion::{Criterion, criterion_group, criterion_main};
use http::Request;
use serde_json::json;
use tower::ServiceExt;

const ALGS: [Algorithm; 4] = [
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
];

fn floor_key(jwk: &serde_json::Value, alg: Algorithm) -> ParsedPublicKey {
    let b = |k: &str| B64.decode(jwk[k].as_str().unwrap()).unwrap();
    match alg {
        Algorithm::RS256 | Algorithm::PS256 => {
            let params = if alg == Algorithm::RS256 {
                &signature::RSA_PKCS1_2048_8192_SHA256
            } else {
                &signature::RSA_PSS_2048_8192_SHA256
            };
            RsaPublicKeyComponents {
                n: b("n"),
                e: b("e"),
            }
            .to_parsed_public_key(params)
            .unwrap()
        }
        Algorithm::ES256 => {
            let mut p = vec![4u8];
            p.extend(b("x"));
            p.extend(b("y"));
            ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, p).unwrap()
        }
        _ => ParsedPublicKey::new(&signature::ED25519, b("x")).unwrap(),
    }
}

/// A realistic agent token: client-credentials claims, 5 scopes, a delegation actor.
fn token(issuer: &TestIssuer, alg: Algorithm) -> String {
    issuer
        .token()
        .alg(alg)
        .subject("agent:analysis-specialist-7f3a9c")
        .claim("client_id", "orchestrator-prod-eu-west-1")
        .scope("read:customers:eu read:orders write:reports execute:payment delegate:analysis")
        .claim(
            "act",
            json!({"sub": "agent:orchestrator-prod", "iss": issuer.issuer()}),
        )
        .claim("tenant", "acme-industries-eu")
        .claim("roles", ["analyst", "reporter"])
        .claim("auth_time", 1_764_300_000)
        .sign()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let issuer = rt
        .block_on(TestIssuer::builder().algorithms(ALGS).start())
        .unwrap();
    let keys = || KeySet::from_value(&issuer.jwks()).unwrap();
    let build = |cache: bool| {
        let b = Validator::builder()
            .issuer_keys(issuer.issuer(), keys())
            .audience(issuer.audience());
        let b = if cache { b } else { b.no_token_cache() };
        rt.block_on(b.build()).unwrap()
    };
    let uncached = build(false);
    let cached = build(true);

    for alg in ALGS {
        let token = token(&issuer, alg);
        let mut g = c.benchmark_group(format!("{alg} ({} bytes)", token.len()));
        let jwk = issuer.signing_key(alg).public_jwk();

        let floor = floor_key(&jwk, alg);
        let (input, sig) = token.rsplit_once('.').unwrap();
        let sig = B64.decode(sig).unwrap();
        g.bench_function("floor", |b| {
            b.iter(|| {
                floor
                    .verify_sig(black_box(input.as_bytes()), black_box(&sig))
                    .unwrap()
            })
        });

        let jkey =
            jsonwebtoken::DecodingKey::from_jwk(&serde_json::from_value(jwk.clone()).unwrap())
                .unwrap();
        let mut val = jsonwebtoken::Validation::new(alg.as_str().parse().unwrap());
        val.set_audience(&[issuer.audience()]);
        val.set_issuer(&[issuer.issuer()]);
        g.bench_function("jsonwebtoken", |b| {
            b.iter(|| {
                jsonwebtoken::decode::<serde_json::Value>(black_box(&token), &jkey, &val).unwrap()
            })
        });

        g.bench_function("uncached", |b| {
            b.to_async(&rt)
                .iter(|| async { uncached.validate(black_box(&token)).await.unwrap() })
        });
        rt.block_on(cached.validate(&token)).unwrap();
        g.bench_function("cache_hit", |b| {
            b.to_async(&rt)
                .iter(|| async { cached.validate(black_box(&token)).await.unwrap() })
        });

        let handler = || async { "ok" };
        let bare: Router = Router::new().route("/whoami", get(handler));
        let layered: Router = Router::new()
            .route(
                "/whoami",
                get(handler).route_layer(RequireScopes::all(["read:orders"])),
            )
            .layer(cached.layer());
        let req = |t: &str| {
            Request::get("/whoami")
                .header("authorization", format!("Bearer {t}"))
                .body(Body::empty())
                .unwrap()
        };
        assert_eq!(
            rt.block_on(layered.clone().oneshot(req(&token)))
                .unwrap()
                .status(),
            200
        );
        g.bench_function("stack_bare", |b| {
            b.to_async(&rt)
                .iter(|| async { bare.clone().oneshot(req(&token)).await.unwrap() })
        });
        g.bench_function("stack_layer", |b| {
            b.to_async(&rt)
                .iter(|| async { layered.clone().oneshot(req(&token)).await.unwrap() })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
