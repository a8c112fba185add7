//! Shared fixtures for the side-by-side benchmarks: one signing key per algorithm, its JWK
//! Set (given to every contender as the same JSON), and one ≈ 900-byte access token with
//! five scopes, plus the contenders themselves, each configured for the same issuer and
//! audience.
//!
//! The benches (`benches/peers.rs`) assert once that every contender accepts the token
//! before timing anything; `src/bin/report.rs` turns criterion's output into the table.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use a2a_guard::testing::SigningKey;
use a2a_guard::{Algorithm, Validator, jwk::KeySet};
use aws_lc_rs::signature::{self, ParsedPublicKey, RsaPublicKeyComponents};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tower::ServiceExt as _;

/// `iss` of every token, configured in every contender.
pub const ISSUER: &str = "https://auth.agents.example.com/realms/production";
/// `aud` of every token, configured in every contender.
pub const AUDIENCE: &str = "agent-api";
/// Five scopes, as an agent's access token carries them.
pub const SCOPES: &str =
    "read:data write:reports read:customers:eu execute:payment delegate:analysis";
/// Target size of the compact token, in bytes.
pub const TOKEN_BYTES: usize = 900;
/// Route every router serves.
pub const ROUTE: &str = "/whoami";

/// One algorithm's key, JWKS, token and floor key.
pub struct Fixture {
    pub alg: Algorithm,
    pub key: SigningKey,
    /// `{"keys":[<the public JWK>]}`
    pub jwks: Value,
    pub jwks_json: String,
    pub token: String,
    /// `header.payload`, what the signature covers.
    pub signing_input: Vec<u8>,
    /// The decoded signature.
    pub signature: Vec<u8>,
    /// The floor: the same public key, pre-parsed once by aws-lc-rs.
    pub floor_key: ParsedPublicKey,
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).expect("base64url")
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

fn sign(key: &SigningKey, header: &Value, claims: &Value) -> String {
    let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
    let sig = key.sign(input.as_bytes());
    format!("{input}.{}", b64(sig))
}

/// The aws-lc-rs verification algorithm for `alg` (what a2a-guard and jsonwebtoken 12 use).
fn floor_key(alg: Algorithm, jwk: &Value) -> ParsedPublicKey {
    let field = |n: &str| unb64(jwk[n].as_str().expect("jwk member"));
    match alg {
        Algorithm::RS256 | Algorithm::PS256 => {
            let params = if alg == Algorithm::RS256 {
                &signature::RSA_PKCS1_2048_8192_SHA256
            } else {
                &signature::RSA_PSS_2048_8192_SHA256
            };
            RsaPublicKeyComponents {
                n: field("n"),
                e: field("e"),
            }
            .to_parsed_public_key(params)
            .expect("rsa key")
        }
        Algorithm::ES256 => {
            let mut point = vec![4u8];
            point.extend(field("x"));
            point.extend(field("y"));
            ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point).expect("ec key")
        }
        Algorithm::EdDSA => {
            ParsedPublicKey::new(&signature::ED25519, field("x")).expect("ed25519 key")
        }
        other => panic!("no floor for {other}"),
    }
}

impl Fixture {
    /// A fresh key for `alg` and a token of ≈ [`TOKEN_BYTES`] bytes with [`SCOPES`], valid
    /// for two hours.
    pub fn new(alg: Algorithm) -> Fixture {
        let key = SigningKey::generate(alg);
        let jwk = key.public_jwk();
        let jwks = json!({ "keys": [jwk.clone()] });
        let header = json!({"alg": alg.as_str(), "typ": "at+jwt", "kid": key.kid()});
        let iat = now();
        let claims_with = |pad: usize| {
            json!({
                "iss": ISSUER,
                "sub": "agent:orchestrator-7f3c",
                "aud": AUDIENCE,
                "iat": iat,
                "nbf": iat,
                "exp": iat + 7200,
                "jti": "5b1f0d6e-3c2a-4e8f-9a7b-1d2c3e4f5a6b",
                "client_id": "orchestrator-agent",
                "scope": SCOPES,
                // Realistic filler (agent metadata) to bring the token to ≈ 900 bytes.
                "agent_card": "x".repeat(pad),
            })
        };
        // Grow the filler until the compact token reaches the target size.
        let probe = sign(&key, &header, &claims_with(0)).len();
        let pad = (TOKEN_BYTES.saturating_sub(probe)) * 3 / 4;
        let token = sign(&key, &header, &claims_with(pad));
        let (input, sig) = token.rsplit_once('.').expect("three segments");
        let signing_input = input.as_bytes().to_vec();
        let signature = unb64(sig);
        let floor_key = floor_key(alg, &jwk);
        floor_key
            .verify_sig(&signing_input, &signature)
            .expect("floor verifies the token");
        Fixture {
            alg,
            key,
            jwks_json: jwks.to_string(),
            jwks,
            token,
            signing_input,
            signature,
            floor_key,
        }
    }

    /// `Bearer <token>`
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.token)
    }

    /// The floor: one aws-lc-rs verification of the token's signing input.
    #[inline]
    pub fn floor(&self) -> bool {
        self.floor_key
            .verify_sig(&self.signing_input, &self.signature)
            .is_ok()
    }

    // ----- a2a-guard --------------------------------------------------------------------

    /// a2a-guard with this fixture's JWKS as static keys; `cache: false` turns the
    /// verified-token cache off.
    pub async fn a2a_guard(&self, cache: bool) -> Validator {
        let keys = KeySet::from_value(&self.jwks).expect("jwks");
        let b = Validator::builder()
            .issuer_keys(ISSUER, keys)
            .audience(AUDIENCE);
        let b = if cache { b } else { b.no_token_cache() };
        b.build().await.expect("a2a-guard validator")
    }

    /// axum 0.8: one handler, behind a2a-guard's layer.
    pub fn a2a_router(&self, v: &Validator) -> axum::Router {
        bare_axum08().layer(v.layer())
    }

    // ----- jwt-authorizer 0.15 (jsonwebtoken 9, ring) -------------------------------------

    /// jwt-authorizer from the same JWKS JSON (`from_jwks_text`: keys parsed once into
    /// `DecodingKey`s), checking `iss` and `aud`.
    pub async fn jwt_authorizer(
        &self,
    ) -> jwt_authorizer::Authorizer<jwt_authorizer::RegisteredClaims> {
        jwt_authorizer::JwtAuthorizer::<jwt_authorizer::RegisteredClaims>::from_jwks_text(
            &self.jwks_json,
        )
        .validation(
            jwt_authorizer::Validation::new()
                .iss(&[ISSUER])
                .aud(&[AUDIENCE]),
        )
        .build()
        .await
        .expect("jwt-authorizer")
    }

    /// axum 0.7: one handler, behind jwt-authorizer's layer.
    pub async fn jwt_authorizer_router(&self) -> axum07::Router {
        use jwt_authorizer::IntoLayer as _;
        bare_axum07().layer(self.jwt_authorizer().await.into_layer())
    }

    // ----- aliri 0.6 / aliri_oauth2 0.10 / aliri_tower 0.6 (ring) -------------------------

    /// Whether aliri can verify this algorithm (it has no EdDSA).
    pub fn aliri_supported(&self) -> bool {
        matches!(
            self.alg,
            Algorithm::RS256 | Algorithm::PS256 | Algorithm::ES256
        )
    }

    /// aliri `Authority` over the same JWKS JSON, checking `iss`, `aud`, `exp`, `nbf`, alg.
    pub fn aliri_authority(&self) -> aliri_oauth2::Authority {
        let jwks: aliri::Jwks = serde_json::from_str(&self.jwks_json).expect("aliri jwks");
        let alg: aliri::jwa::Algorithm = serde_json::from_value(json!(self.alg.as_str()))
            .expect("aliri algorithm");
        let validator = aliri::jwt::CoreValidator::default()
            .add_approved_algorithm(alg)
            .add_allowed_audience(aliri::jwt::Audience::from_static(AUDIENCE))
            .require_issuer(aliri::jwt::Issuer::from_static(ISSUER))
            .check_not_before();
        aliri_oauth2::Authority::new(jwks, validator)
    }

    /// aliri at its validation call: `Authority::verify_token` (allow-any scope policy,
    /// as its layer does).
    pub fn aliri_verify(
        authority: &aliri_oauth2::Authority,
        token: &aliri::jwt::JwtRef,
        policy: &aliri_oauth2::ScopePolicy,
    ) -> Result<aliri_oauth2::scope::BasicClaimsWithScope, aliri_oauth2::AuthorityError> {
        authority.verify_token::<aliri_oauth2::scope::BasicClaimsWithScope>(token, policy)
    }

    /// axum 0.8: one handler, behind aliri_tower's `Oauth2Authorizer::jwt_layer`.
    pub fn aliri_router(&self) -> axum::Router {
        let authorizer = aliri_tower::Oauth2Authorizer::new()
            .with_claims::<aliri_oauth2::scope::BasicClaimsWithScope>()
            .with_terse_error_handler::<axum::body::Body>();
        bare_axum08().layer(authorizer.jwt_layer(self.aliri_authority()))
    }
}

/// axum 0.8 with one handler and no authentication.
pub fn bare_axum08() -> axum::Router {
    axum::Router::new().route(ROUTE, axum::routing::get(|| async { "ok" }))
}

/// axum 0.8 with one handler behind an identity layer: what any layer costs in axum
/// (`Router::layer` boxes the layered route again).
pub fn noop_layer_axum08() -> axum::Router {
    bare_axum08().layer(tower::util::MapRequestLayer::new(
        |r: http::Request<axum::body::Body>| r,
    ))
}

/// axum 0.7 with one handler and no authentication.
pub fn bare_axum07() -> axum07::Router {
    axum07::Router::new().route(ROUTE, axum07::routing::get(|| async { "ok" }))
}

/// `GET /whoami` with `Authorization: Bearer <token>` (axum 0.8 body).
pub fn request08(bearer: &str) -> http::Request<axum::body::Body> {
    http::Request::builder()
        .uri(ROUTE)
        .header(http::header::AUTHORIZATION, bearer)
        .body(axum::body::Body::empty())
        .expect("request")
}

/// `GET /whoami` with `Authorization: Bearer <token>` (axum 0.7 body).
pub fn request07(bearer: &str) -> http::Request<axum07::body::Body> {
    http::Request::builder()
        .uri(ROUTE)
        .header(http::header::AUTHORIZATION, bearer)
        .body(axum07::body::Body::empty())
        .expect("request")
}

/// Everything one algorithm's bench needs, built and checked once.
pub struct Contenders {
    pub fx: Arc<Fixture>,
    pub a2a_uncached: Validator,
    pub a2a_cached: Validator,
    pub a2a_router_uncached: axum::Router,
    pub a2a_router_cached: axum::Router,
    pub bare08: axum::Router,
    pub noop08: axum::Router,
    pub jwta: jwt_authorizer::Authorizer<jwt_authorizer::RegisteredClaims>,
    pub jwta_router: axum07::Router,
    pub bare07: axum07::Router,
    pub aliri: Option<(aliri_oauth2::Authority, axum::Router)>,
}

impl Contenders {
    /// Build every contender for `alg` and assert that each one accepts the token (and
    /// that each layer answers 200 through `oneshot`, and 401 without a token).
    pub async fn new(alg: Algorithm) -> Contenders {
        let fx = Arc::new(Fixture::new(alg));
        let bearer = fx.bearer();
        assert!(fx.floor(), "{alg}: floor");

        let a2a_uncached = fx.a2a_guard(false).await;
        let a2a_cached = fx.a2a_guard(true).await;
        let p = a2a_uncached.validate(&fx.token).await.expect("a2a-guard accepts");
        assert_eq!(p.scopes().iter().count(), 5, "{alg}: five scopes");
        a2a_cached.validate(&fx.token).await.expect("a2a-guard (cached) accepts");
        a2a_cached.validate(&fx.token).await.expect("a2a-guard cache hit");

        let jwta = fx.jwt_authorizer().await;
        let data = jwta
            .check_auth(&fx.token)
            .await
            .unwrap_or_else(|e| panic!("{alg}: jwt-authorizer rejects: {e:?}"));
        assert_eq!(data.claims.sub.as_deref(), Some("agent:orchestrator-7f3c"));

        let aliri = if fx.aliri_supported() {
            let authority = fx.aliri_authority();
            let jwt = aliri::jwt::Jwt::from(fx.token.as_str());
            let claims = Fixture::aliri_verify(
                &authority,
                &jwt,
                &aliri_oauth2::ScopePolicy::allow_any(),
            )
            .unwrap_or_else(|e| panic!("{alg}: aliri rejects: {e:?}"));
            assert_eq!(claims.scope.iter().count(), 5, "{alg}: aliri sees five scopes");
            Some((authority, fx.aliri_router()))
        } else {
            None
        };

        let c = Contenders {
            a2a_router_uncached: fx.a2a_router(&a2a_uncached),
            a2a_router_cached: fx.a2a_router(&a2a_cached),
            bare08: bare_axum08(),
            noop08: noop_layer_axum08(),
            jwta_router: fx.jwt_authorizer_router().await,
            bare07: bare_axum07(),
            a2a_uncached,
            a2a_cached,
            jwta,
            aliri,
            fx,
        };

        let routers08 = [
            ("a2a-guard layer (cache off)", &c.a2a_router_uncached, true),
            ("a2a-guard layer (cache on)", &c.a2a_router_cached, true),
            ("bare axum 0.8", &c.bare08, false),
            ("axum 0.8 + identity layer", &c.noop08, false),
        ];
        let aliri_router = c.aliri.as_ref().map(|(_, r)| ("aliri_tower layer", r, true));
        for (name, router, guarded) in routers08.into_iter().chain(aliri_router) {
            let ok = router.clone().oneshot(request08(&bearer)).await.unwrap();
            assert_eq!(ok.status(), 200, "{alg}: {name} accepts");
            if guarded {
                let none = http::Request::builder()
                    .uri(ROUTE)
                    .body(axum::body::Body::empty())
                    .unwrap();
                let denied = router.clone().oneshot(none).await.unwrap();
                assert_eq!(denied.status(), 401, "{alg}: {name} rejects no token");
            }
        }
        let ok = c.jwta_router.clone().oneshot(request07(&bearer)).await.unwrap();
        assert_eq!(ok.status(), 200, "{alg}: jwt-authorizer layer accepts");
        let none = http::Request::builder()
            .uri(ROUTE)
            .body(axum07::body::Body::empty())
            .unwrap();
        let denied = c.jwta_router.clone().oneshot(none).await.unwrap();
        assert_eq!(denied.status(), 401, "{alg}: jwt-authorizer layer rejects no token");
        let ok = c.bare07.clone().oneshot(request07(&bearer)).await.unwrap();
        assert_eq!(ok.status(), 200, "{alg}: bare axum 0.7");
        c
    }
}

/// Every contender [`run`] knows, with its label.
pub const CONTENDERS: &[(&str, &str)] = &[
    ("floor", "aws-lc-rs verify (floor)"),
    ("a2a_nocache", "a2a-guard validate, cache off"),
    ("a2a_hit", "a2a-guard validate, cache hit"),
    ("jwta", "jwt-authorizer check_auth"),
    ("aliri", "aliri verify_token"),
    ("bare08", "bare axum 0.8 oneshot"),
    ("noop08", "axum 0.8 + identity layer oneshot"),
    ("a2a_layer_nocache", "a2a-guard layer, cache off"),
    ("a2a_layer_hit", "a2a-guard layer, cache hit"),
    ("aliri_layer", "aliri_tower layer"),
    ("bare07", "bare axum 0.7 oneshot"),
    ("jwta_layer", "jwt-authorizer layer"),
    ("bearer_extract", "component: a2a-guard `bearer::extract`"),
    ("sha256_sig", "component: SHA-256 of the signature segment"),
];

/// `n` iterations of one contender (names: see [`CONTENDERS`]).
pub async fn run(k: &Contenders, what: &str, n: usize) {
    let fx = &k.fx;
    let token = fx.token.as_str();
    let bearer = fx.bearer();
    match what {
        "floor" => {
            for _ in 0..n {
                assert!(black_box(fx).floor());
            }
        }
        "a2a_nocache" => {
            for _ in 0..n {
                black_box(k.a2a_uncached.validate(black_box(token)).await.unwrap());
            }
        }
        "a2a_hit" => {
            for _ in 0..n {
                black_box(k.a2a_cached.validate(black_box(token)).await.unwrap());
            }
        }
        "a2a_layer_nocache" | "a2a_layer_hit" | "bare08" | "noop08" | "aliri_layer" => {
            let router = match what {
                "noop08" => &k.noop08,
                "a2a_layer_nocache" => &k.a2a_router_uncached,
                "a2a_layer_hit" => &k.a2a_router_cached,
                "bare08" => &k.bare08,
                _ => &k.aliri.as_ref().expect("aliri supports this alg").1,
            };
            for _ in 0..n {
                let res = router.clone().oneshot(request08(&bearer)).await.unwrap();
                assert_eq!(res.status(), 200);
            }
        }
        "jwta_layer" | "bare07" => {
            let router = if what == "bare07" { &k.bare07 } else { &k.jwta_router };
            for _ in 0..n {
                let res = router.clone().oneshot(request07(&bearer)).await.unwrap();
                assert_eq!(res.status(), 200);
            }
        }
        "bearer_extract" => {
            let mut headers = http::HeaderMap::new();
            headers.insert(http::header::AUTHORIZATION, bearer.parse().unwrap());
            for _ in 0..n {
                assert!(a2a_guard::bearer::extract(black_box(&headers), None).is_ok());
            }
        }
        "sha256_sig" => {
            let sig = fx.token.rsplit_once('.').unwrap().1;
            for _ in 0..n {
                black_box(aws_lc_rs::digest::digest(
                    &aws_lc_rs::digest::SHA256,
                    black_box(sig).as_bytes(),
                ));
            }
        }
        "jwta" => {
            for _ in 0..n {
                black_box(k.jwta.check_auth(black_box(token)).await.unwrap());
            }
        }
        "aliri" => {
            let (authority, _) = k.aliri.as_ref().expect("aliri supports this alg");
            let jwt = aliri::jwt::Jwt::from(token);
            let policy = aliri_oauth2::ScopePolicy::allow_any();
            for _ in 0..n {
                black_box(Fixture::aliri_verify(authority, black_box(&jwt), &policy).unwrap());
            }
        }
        other => panic!("unknown contender {other}"),
    }
}

