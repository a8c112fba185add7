//! The attack suite: hostile tokens and requests, minted with `TestIssuer` and sent through
//! the real layer — an axum `Router` with `validator.layer()` and `RequireScopes` routes,
//! keys fetched over loopback HTTP.
//!
//! Every case asserts the HTTP status and the RFC 6750 `error` code of `WWW-Authenticate`
//! (`invalid_request` 400, `invalid_token` 401, `insufficient_scope` 403, none for a missing
//! token or a 503), and, for 401s, the exact challenge the crate renders for the reason the
//! defence gives — so a case stays red if its defence is removed and another check happens
//! to refuse the token for a different reason. Every group starts with controls: the same
//! token without the attack passes, so the attack is the only thing wrong with the others.
//!
//! Sources: RFC 8725 (JWT BCP) §2–§3; CVE-2015-9235 (`alg: none`, HS256 keyed with the RSA
//! public key); CVE-2018-0114 (embedded `jwk`); CVE-2022-21449 (ECDSA `r = s = 0`);
//! Envoy CVE-2025-64527 (crash with several tokens while the key fetch fails).
#![cfg(feature = "testing")]

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use a2a_guard::testing::{Behavior, SigningKey, TestIssuer};
use a2a_guard::{Algorithm, AuthError, RequireScopes, Validator, ValidatorBuilder};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as B64STD, URL_SAFE_NO_PAD as B64};
use http::{Request, Response};
use serde_json::{Value, json};
use tower::ServiceExt;

/// The realm of every challenge: the validator's first audience, `TestIssuer`'s default.
const REALM: &str = "a2a-guard-test";
/// A hang detector for one request, not a speed claim.
const REQUEST_LIMIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------
// The harness: a router, a table of named cases, one checker.
// ---------------------------------------------------------------------------------------

/// What a case must get back.
#[derive(Debug, Clone)]
enum Want {
    /// 200 from the handler.
    Pass,
    /// 401 `invalid_token`, and exactly the challenge the crate renders for this reason.
    Token(AuthError),
    /// 401 `invalid_token` whose `error_description` starts with this text (for reasons that
    /// carry a detail: `malformed token: …`, `unsupported token header: …`, `invalid … claim`).
    Desc(&'static str),
    /// 401 `invalid_token`, whatever the reason (where two reasons are equally right).
    Invalid,
    /// 400 `invalid_request`.
    BadRequest,
    /// 400 `invalid_request` whose `error_description` contains this text: for framing rules
    /// that another rule would also catch (two tokens are also outside token68), so the case
    /// still goes red when its own rule is removed.
    Request(&'static str),
    /// 401 with `realm` only and no error code (RFC 6750 §3.1).
    NoToken,
    /// 403 `insufficient_scope` naming these scopes.
    Scope(&'static str),
    /// 503 with `Retry-After` and no challenge.
    Unavailable,
}

const MALFORMED: Want = Want::Desc("malformed token: ");
const UNSUPPORTED: Want = Want::Desc("unsupported token header: ");
const BAD_CLAIM: Want = Want::Desc("the token has an invalid `");

struct Case {
    name: String,
    req: Request<Body>,
    want: Want,
}

/// `GET {path}` with `Authorization: Bearer {token}`.
fn bearer_on(path: &str, token: &str) -> Request<Body> {
    Request::get(path)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .expect("request")
}

/// A case on `/whoami` (any valid token).
fn case(name: impl Into<String>, token: impl AsRef<str>, want: Want) -> Case {
    Case {
        name: name.into(),
        req: bearer_on("/whoami", token.as_ref()),
        want,
    }
}

/// A case with a hand-built request.
fn req_case(name: impl Into<String>, req: Request<Body>, want: Want) -> Case {
    Case {
        name: name.into(),
        req,
        want,
    }
}

fn app(v: &Validator) -> Router {
    Router::new()
        .route("/whoami", get(|| async { "ok" }))
        .route(
            "/data",
            get(|| async { "data" }).route_layer(RequireScopes::all(["read:data"])),
        )
        .route(
            "/admin",
            get(|| async { "admin" }).route_layer(RequireScopes::any(["admin", "write:all"])),
        )
        .layer(v.layer())
}

/// The `error` attribute of a challenge, read independently of the crate's own mapping.
fn error_code(challenge: &str) -> Option<&str> {
    challenge.split("error=\"").nth(1)?.split('"').next()
}

fn check(res: &Response<Body>, want: &Want) -> Result<(), String> {
    let status = res.status().as_u16();
    let challenge = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap_or("<not visible ASCII>").to_owned());
    let code = challenge.as_deref().and_then(error_code);
    // The RFC 6750 mapping, written out here rather than taken from `AuthError::status`.
    let (want_status, want_code) = match want {
        Want::Pass => (200, None),
        Want::Token(_) | Want::Desc(_) | Want::Invalid => (401, Some("invalid_token")),
        Want::BadRequest | Want::Request(_) => (400, Some("invalid_request")),
        Want::NoToken => (401, None),
        Want::Scope(_) => (403, Some("insufficient_scope")),
        Want::Unavailable => (503, None),
    };
    if status != want_status || code != want_code {
        return Err(format!(
            "got {status} {challenge:?}, want {want_status} with error={want_code:?} ({want:?})"
        ));
    }
    let challenge = challenge.unwrap_or_default();
    let ok = match want {
        Want::Pass => challenge.is_empty(),
        Want::Token(e) => e
            .www_authenticate(REALM)
            .is_some_and(|exact| exact == challenge.as_str()),
        Want::Desc(prefix) => challenge.contains(&format!("error_description=\"{prefix}")),
        Want::Invalid => true,
        Want::BadRequest => challenge.starts_with(&format!("Bearer realm=\"{REALM}\"")),
        Want::Request(text) => challenge.contains(text),
        Want::NoToken => challenge == format!("Bearer realm=\"{REALM}\""),
        Want::Scope(s) => challenge.ends_with(&format!("scope=\"{s}\"")),
        Want::Unavailable => challenge.is_empty() && res.headers().contains_key("retry-after"),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("got {status} {challenge:?}, want {want:?}"))
    }
}

/// Runs every case (none stops the others) and fails with the list of those that failed.
async fn run(app: &Router, cases: Vec<Case>) {
    let total = cases.len();
    let mut failures = Vec::new();
    for c in cases {
        match tokio::time::timeout(REQUEST_LIMIT, app.clone().oneshot(c.req)).await {
            Err(_) => failures.push(format!("{}: hung", c.name)),
            Ok(res) => {
                let res = res.expect("axum routers are infallible");
                if let Err(why) = check(&res, &c.want) {
                    failures.push(format!("{}: {why}", c.name));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} cases failed:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

/// An issuer with RS256, ES256, ES384 and EdDSA keys, and a validator fetching its JWKS.
struct Env {
    issuer: TestIssuer,
    app: Router,
}

async fn issuer() -> TestIssuer {
    TestIssuer::builder()
        .algorithms([
            Algorithm::RS256,
            Algorithm::ES256,
            Algorithm::ES384,
            Algorithm::EdDSA,
        ])
        .start()
        .await
        .expect("issuer")
}

fn builder(issuer: &TestIssuer) -> ValidatorBuilder {
    Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
}

async fn env() -> Env {
    let issuer = issuer().await;
    let v = builder(&issuer).build().await.expect("validator");
    Env {
        app: app(&v),
        issuer,
    }
}

// ---------------------------------------------------------------------------------------
// Token surgery.
// ---------------------------------------------------------------------------------------

fn parts(token: &str) -> (String, String, String) {
    let mut it = token.split('.');
    let (h, p, s) = (it.next(), it.next(), it.next());
    (
        h.unwrap_or_default().to_owned(),
        p.unwrap_or_default().to_owned(),
        s.unwrap_or_default().to_owned(),
    )
}

/// `b64(header).b64(payload).b64(sig)` where the signature is `key`'s over the exact bytes
/// given: for headers and payloads `TokenBuilder` cannot express (duplicate members).
fn raw(header: &str, payload: &[u8], key: &SigningKey) -> String {
    let input = format!("{}.{}", B64.encode(header), B64.encode(payload));
    let sig = key.sign(input.as_bytes());
    format!("{input}.{}", B64.encode(sig))
}

/// `input.` + the given signature bytes, for a token made with `.unsigned()`.
fn with_sig(unsigned: &str, sig: &[u8]) -> String {
    format!("{unsigned}{}", B64.encode(sig))
}

fn hmac(alg: &str, secret: &[u8], input: &str) -> Vec<u8> {
    let alg = match alg {
        "HS256" => aws_lc_rs::hmac::HMAC_SHA256,
        "HS384" => aws_lc_rs::hmac::HMAC_SHA384,
        _ => aws_lc_rs::hmac::HMAC_SHA512,
    };
    let tag = aws_lc_rs::hmac::sign(&aws_lc_rs::hmac::Key::new(alg, secret), input.as_bytes());
    tag.as_ref().to_vec()
}

fn jwk_bytes(jwk: &Value, member: &str) -> Vec<u8> {
    B64.decode(jwk[member].as_str().expect("JWK member"))
        .expect("base64url")
}

/// A DER TLV.
fn der(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = body.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(body);
    out
}

/// A DER INTEGER from unsigned big-endian bytes.
fn der_uint(bytes: &[u8]) -> Vec<u8> {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    let mut v = bytes[first..].to_vec();
    if v.first().is_none_or(|b| b & 0x80 != 0) {
        v.insert(0, 0);
    }
    der(0x02, &v)
}

/// PKCS#1 `RSAPublicKey` and X.509 `SubjectPublicKeyInfo` DER of an RSA JWK.
fn rsa_der(jwk: &Value) -> (Vec<u8>, Vec<u8>) {
    let pkcs1 = der(
        0x30,
        &[
            der_uint(&jwk_bytes(jwk, "n")),
            der_uint(&jwk_bytes(jwk, "e")),
        ]
        .concat(),
    );
    // rsaEncryption, 1.2.840.113549.1.1.1, with NULL parameters.
    let oid = der(
        0x06,
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01],
    );
    let algid = der(0x30, &[oid, vec![0x05, 0x00]].concat());
    let bits = der(0x03, &[&[0u8][..], &pkcs1].concat());
    let spki = der(0x30, &[algid, bits].concat());
    (pkcs1, spki)
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = B64STD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// Group orders (big-endian) of P-256 and P-384.
const P256_N: &str = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
const P384_N: &str = "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973";
/// The Ed25519 group order L, little-endian (RFC 8032 §5.1).
const ED25519_L: &str = "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010";

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Little-endian a + b over equal lengths (the carry out of the top byte is dropped).
fn add_le(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut carry = 0u16;
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            let s = u16::from(*x) + u16::from(*y) + carry;
            carry = s >> 8;
            s as u8
        })
        .collect()
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

// ---------------------------------------------------------------------------------------
// Algorithms: none, HMAC confusion, substitution.
// ---------------------------------------------------------------------------------------

/// RFC 8725 §3.1, CVE-2015-9235: `alg: none` in any casing, with or without a signature,
/// and other names no asymmetric verifier should read as one of its own.
#[tokio::test]
async fn alg_none_in_every_casing_is_refused() {
    let Env { issuer, app } = env().await;
    let mut cases = vec![case("control: RS256", issuer.token().sign(), Want::Pass)];
    for alg in [
        "none",
        "None",
        "NONE",
        "nOnE",
        "NoNe",
        "nONE",
        "noNE",
        " none",
        "none ",
        "none\u{0}",
    ] {
        cases.push(case(
            format!("alg {alg:?}, empty signature"),
            issuer.token().header("alg", alg).unsigned(),
            Want::Token(AuthError::DisallowedAlgorithm),
        ));
        // Signed by the real RS256 key, whose kid is in the header: removing the alg check
        // and defaulting to the key's algorithm would let this through.
        cases.push(case(
            format!("alg {alg:?}, real RS256 signature"),
            issuer.token().header("alg", alg).sign(),
            Want::Token(AuthError::DisallowedAlgorithm),
        ));
    }
    for alg in ["", "rs256", "RS256 ", "Rs256", "ES512", "RS1", "EdDSA\u{0}"] {
        cases.push(case(
            format!("alg {alg:?}, real RS256 signature"),
            issuer.token().header("alg", alg).sign(),
            Want::Token(AuthError::DisallowedAlgorithm),
        ));
    }
    cases.push(case(
        "no alg member",
        issuer.token().remove_header("alg").sign(),
        MALFORMED,
    ));
    for (name, v) in [
        ("null", json!(null)),
        ("array", json!(["RS256"])),
        ("object", json!({"name": "RS256"})),
        ("number", json!(256)),
    ] {
        cases.push(case(
            format!("alg as {name}"),
            issuer.token().header("alg", v).sign(),
            MALFORMED,
        ));
    }
    run(&app, cases).await;
}

/// RFC 8725 §2.1, CVE-2015-9235 / CVE-2016-10555: HS256/384/512 tags keyed with the RSA
/// public key in every form a naive library would hand to HMAC. A naive verifier accepts
/// these tokens (jsonwebtoken with the same secret is the oracle); this one has no HMAC.
#[tokio::test]
async fn hmac_keyed_with_the_rsa_public_key_is_refused() {
    let Env { issuer, app } = env().await;
    let rsa = issuer.signing_key(Algorithm::RS256);
    let jwk = rsa.public_jwk();
    let (pkcs1, spki) = rsa_der(&jwk);
    let spki_pem = pem("PUBLIC KEY", &spki);
    // Our hand-made SPKI is the real one: aws-lc-rs encodes the same bytes.
    let lc_spki = aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::PublicKeyX509Der>::as_der(
        &aws_lc_rs::rsa::PublicKeyComponents {
            n: jwk_bytes(&jwk, "n"),
            e: jwk_bytes(&jwk, "e"),
        },
    )
    .expect("SPKI");
    assert_eq!(lc_spki.as_ref(), spki.as_slice(), "hand-made SPKI DER");
    let ec_jwk = issuer.signing_key(Algorithm::ES256).public_jwk();
    let secrets: Vec<(&str, Vec<u8>)> = vec![
        ("JWK n as base64url text", jwk["n"].as_str().unwrap().into()),
        ("JWK n bytes", jwk_bytes(&jwk, "n")),
        ("JWK JSON text", jwk.to_string().into_bytes()),
        ("SPKI DER", spki.clone()),
        ("SPKI PEM", spki_pem.clone().into_bytes()),
        ("PKCS#1 DER", pkcs1.clone()),
        ("PKCS#1 PEM", pem("RSA PUBLIC KEY", &pkcs1).into_bytes()),
        ("EC JWK x bytes", jwk_bytes(&ec_jwk, "x")),
    ];
    let mut cases = vec![case("control: RS256", issuer.token().sign(), Want::Pass)];
    for (what, secret) in &secrets {
        for alg in ["HS256", "HS384", "HS512"] {
            for with_kid in [true, false] {
                let mut b = issuer.token().header("alg", alg);
                if !with_kid {
                    b = b.no_kid();
                }
                let unsigned = b.unsigned();
                let input = unsigned.trim_end_matches('.');
                let forged = with_sig(&unsigned, &hmac(alg, secret, input));
                if alg == "HS256" && with_kid {
                    // The oracle: the forgery is a valid HS256 JWT under that secret.
                    let mut val = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
                    val.set_audience(&[issuer.audience()]);
                    let naive = jsonwebtoken::decode::<Value>(
                        &forged,
                        &jsonwebtoken::DecodingKey::from_secret(secret).expect("HMAC key"),
                        &val,
                    );
                    assert!(naive.is_ok(), "{what}: the forgery itself is sound");
                }
                cases.push(case(
                    format!("{alg} keyed with {what}, kid {with_kid}"),
                    forged,
                    Want::Token(AuthError::DisallowedAlgorithm),
                ));
            }
        }
    }
    run(&app, cases).await;
}

/// RFC 8725 §3.1: a key is used only with the algorithm its JWK names and its type allows.
#[tokio::test]
async fn algorithm_substitution_on_one_key_is_refused() {
    let Env { issuer, app } = env().await;
    let rsa = issuer.signing_key(Algorithm::RS256);
    let ec = issuer.signing_key(Algorithm::ES256);
    let ed = issuer.signing_key(Algorithm::EdDSA);
    let resign = |alg: &str, kid: &str, key: &SigningKey, as_alg: Algorithm| {
        let unsigned = issuer.token().header("alg", alg).kid(kid).unsigned();
        let input = unsigned.trim_end_matches('.').to_owned();
        let sig = key
            .sign_as(as_alg, input.as_bytes())
            .unwrap_or_else(|| key.sign(input.as_bytes()));
        with_sig(&unsigned, &sig)
    };
    let mut cases = vec![
        case(
            "control: ES256",
            issuer.token().alg(Algorithm::ES256).sign(),
            Want::Pass,
        ),
        case(
            "control: ES384",
            issuer.token().alg(Algorithm::ES384).sign(),
            Want::Pass,
        ),
        case(
            "control: EdDSA",
            issuer.token().alg(Algorithm::EdDSA).sign(),
            Want::Pass,
        ),
    ];
    for (alg, as_alg) in [
        ("PS256", Algorithm::PS256),
        ("RS384", Algorithm::RS384),
        ("RS512", Algorithm::RS512),
        ("PS512", Algorithm::PS512),
    ] {
        cases.push(case(
            format!("RS256 key (JWK alg RS256) signing {alg}"),
            resign(alg, rsa.kid(), &rsa, as_alg),
            Want::Token(AuthError::UnknownKey),
        ));
    }
    cases.extend([
        case(
            "ES256 header naming the RSA kid",
            resign("ES256", rsa.kid(), &ec, Algorithm::ES256),
            Want::Token(AuthError::UnknownKey),
        ),
        case(
            "ES384 header naming the P-256 kid",
            resign("ES384", ec.kid(), &ec, Algorithm::ES256),
            Want::Token(AuthError::UnknownKey),
        ),
        case(
            "EdDSA header naming the P-256 kid",
            resign("EdDSA", ec.kid(), &ed, Algorithm::EdDSA),
            Want::Token(AuthError::UnknownKey),
        ),
        case(
            "RS256 header naming the Ed25519 kid",
            resign("RS256", ed.kid(), &rsa, Algorithm::RS256),
            Want::Token(AuthError::UnknownKey),
        ),
    ]);
    run(&app, cases).await;
}

// ---------------------------------------------------------------------------------------
// Keys the token brings along, and the kid.
// ---------------------------------------------------------------------------------------

/// CVE-2018-0114 and RFC 8725 §3.10: `jwk`, `jku`, `x5u`, `x5c` in the header are never
/// read. The `jku`/`x5u` targets are a live attacker issuer on loopback serving the
/// attacker's key: it must see no request at all.
#[tokio::test]
async fn embedded_keys_and_key_urls_are_never_fetched_or_trusted() {
    let Env { issuer, app } = env().await;
    let attacker_issuer = TestIssuer::start().await.expect("attacker issuer");
    let attacker = attacker_issuer.signing_key(Algorithm::RS256);
    let real_kid = issuer.signing_key(Algorithm::RS256).kid().to_owned();
    let (_, spki) = rsa_der(&attacker.public_jwk());
    let headers: Vec<(&str, &str, Value)> = vec![
        ("jwk", "embedded attacker JWK", attacker.public_jwk()),
        (
            "jku",
            "attacker JWKS URL",
            json!(attacker_issuer.jwks_url()),
        ),
        (
            "jku",
            "attacker discovery URL",
            json!(attacker_issuer.discovery_url()),
        ),
        (
            "x5u",
            "attacker URL",
            json!(format!("{}/cert.pem", attacker_issuer.issuer())),
        ),
        (
            "x5c",
            "attacker key as a chain",
            json!([B64STD.encode(&spki)]),
        ),
    ];
    let mut cases = vec![case("control: RS256", issuer.token().sign(), Want::Pass)];
    for (name, what, value) in &headers {
        cases.push(case(
            format!("{name}: {what}, attacker kid"),
            issuer
                .token()
                .signing_key(&attacker)
                .header(*name, value.clone())
                .sign(),
            Want::Token(AuthError::UnknownKey),
        ));
        cases.push(case(
            format!("{name}: {what}, the real kid"),
            issuer
                .token()
                .signing_key(&attacker)
                .kid(&real_kid)
                .header(*name, value.clone())
                .sign(),
            Want::Token(AuthError::InvalidSignature),
        ));
        cases.push(case(
            format!("{name}: {what}, no kid"),
            issuer
                .token()
                .signing_key(&attacker)
                .no_kid()
                .header(*name, value.clone())
                .sign(),
            Want::Token(AuthError::InvalidSignature),
        ));
    }
    // The attacker's own token, self-consistent with its own issuer and keys.
    cases.push(case(
        "the attacker issuer's own token",
        attacker_issuer
            .token()
            .audience(issuer.audience())
            .header("jku", attacker_issuer.jwks_url())
            .sign(),
        Want::Token(AuthError::WrongIssuer),
    ));
    attacker_issuer.reset_counters();
    run(&app, cases).await;
    assert_eq!(
        (
            attacker_issuer.jwks_fetches(),
            attacker_issuer.discovery_fetches()
        ),
        (0, 0),
        "header key URLs must never be fetched"
    );
}

/// Hostile `kid` values: they only ever select among the issuer's keys by exact equality.
#[tokio::test]
async fn hostile_kid_values_are_unknown_keys() {
    let Env { issuer, app } = env().await;
    let real = issuer.signing_key(Algorithm::RS256).kid().to_owned();
    let mut cases = vec![
        case("control: real kid", issuer.token().sign(), Want::Pass),
        case(
            "control: no kid, every key of the alg is tried (RFC 7515 §4.1.4)",
            issuer.token().no_kid().sign(),
            Want::Pass,
        ),
    ];
    let hostile: Vec<(String, String)> = vec![
        ("path traversal".into(), "../../etc/passwd".into()),
        ("deep traversal".into(), "../../../../../../dev/null".into()),
        ("absolute path".into(), "/etc/passwd".into()),
        ("file URL".into(), "file:///etc/passwd".into()),
        ("SQL tautology".into(), "' OR '1'='1".into()),
        ("SQL injection".into(), "x'; DROP TABLE keys; --".into()),
        ("JNDI lookup".into(), "${jndi:ldap://127.0.0.1:1/a}".into()),
        ("header injection".into(), "k\r\nX-Injected: 1".into()),
        ("markup".into(), "<script>alert(1)</script>".into()),
        ("10 KB".into(), "A".repeat(10 * 1024)),
        ("non-ASCII".into(), "ключ-🔑-鍵".into()),
        ("NUL suffix on the real kid".into(), format!("{real}\u{0}")),
        ("NUL prefix on the real kid".into(), format!("\u{0}{real}")),
        ("NUL inside".into(), "a\u{0}b".into()),
        ("real kid, other case".into(), real.to_lowercase()),
        ("real kid + space".into(), format!("{real} ")),
        ("real kid prefix".into(), real[..real.len() - 1].to_owned()),
        (
            "real kid with a homoglyph".into(),
            real.replacen('S', "\u{405}", 1),
        ),
        ("empty".into(), String::new()),
        ("wildcard".into(), "*".into()),
        ("percent".into(), "%".into()),
    ];
    for (name, kid) in hostile {
        cases.push(case(
            format!("kid: {name}"),
            issuer.token().kid(kid).sign(),
            Want::Token(AuthError::UnknownKey),
        ));
    }
    for (name, v) in [
        ("number", json!(7)),
        ("object", json!({"kid": real})),
        ("array", json!([real])),
        ("bool", json!(true)),
    ] {
        cases.push(case(
            format!("kid as {name}"),
            issuer.token().header("kid", v).sign(),
            MALFORMED,
        ));
    }
    run(&app, cases).await;
}

// ---------------------------------------------------------------------------------------
// Signatures.
// ---------------------------------------------------------------------------------------

/// CVE-2022-21449 (psychic signatures) and out-of-range scalars on P-256 and P-384; zero,
/// out-of-range and non-canonical signatures for RSA and Ed25519; DER instead of `r || s`.
#[tokio::test]
async fn ecdsa_psychic_and_out_of_range_signatures_are_refused() {
    let Env { issuer, app } = env().await;
    let mut cases = Vec::new();
    for (alg, n) in [(Algorithm::ES256, P256_N), (Algorithm::ES384, P384_N)] {
        let n = hex(n);
        let len = n.len();
        let unsigned = issuer.token().alg(alg).unsigned();
        let input = unsigned.trim_end_matches('.');
        let real = issuer.signing_key(alg).sign(input.as_bytes());
        let (r, s) = real.split_at(len);
        let zero = vec![0u8; len];
        let mut one = vec![0u8; len];
        one[len - 1] = 1;
        cases.push(case(
            format!("control: {alg} real signature"),
            with_sig(&unsigned, &real),
            Want::Pass,
        ));
        let forged: Vec<(&str, Vec<u8>)> = vec![
            ("r = s = 0", [zero.clone(), zero.clone()].concat()),
            ("r = s = n", [n.clone(), n.clone()].concat()),
            ("r = 0, real s", [zero.clone(), s.to_vec()].concat()),
            ("real r, s = 0", [r.to_vec(), zero.clone()].concat()),
            ("r = n, real s", [n.clone(), s.to_vec()].concat()),
            ("real r, s = n", [r.to_vec(), n.clone()].concat()),
            ("r = s = 1", [one.clone(), one.clone()].concat()),
            ("all 0xff", vec![0xff; 2 * len]),
            (
                "real signature DER-encoded",
                der(0x30, &[der_uint(r), der_uint(s)].concat()),
            ),
            ("real signature + 1 byte", [real.clone(), vec![0]].concat()),
            ("real r only", r.to_vec()),
        ];
        for (what, sig) in forged {
            cases.push(case(
                format!("{alg}: {what}"),
                with_sig(&unsigned, &sig),
                Want::Token(AuthError::InvalidSignature),
            ));
        }
    }
    // Ed25519: zero, S + L (non-canonical S, RFC 8032 §5.1.7 requires S < L).
    let unsigned = issuer.token().alg(Algorithm::EdDSA).unsigned();
    let input = unsigned.trim_end_matches('.');
    let real = issuer.signing_key(Algorithm::EdDSA).sign(input.as_bytes());
    let s_plus_l = add_le(&real[32..], &hex(ED25519_L));
    cases.extend([
        case(
            "control: EdDSA real signature",
            with_sig(&unsigned, &real),
            Want::Pass,
        ),
        case(
            "EdDSA: all zero",
            with_sig(&unsigned, &[0u8; 64]),
            Want::Token(AuthError::InvalidSignature),
        ),
        case(
            "EdDSA: S + L (malleated)",
            with_sig(&unsigned, &[&real[..32], &s_plus_l].concat()),
            Want::Token(AuthError::InvalidSignature),
        ),
    ]);
    // RSA: zero, one, the modulus itself.
    let unsigned = issuer.token().unsigned();
    let n = jwk_bytes(&issuer.signing_key(Algorithm::RS256).public_jwk(), "n");
    let mut one = vec![0u8; n.len()];
    one[n.len() - 1] = 1;
    for (what, sig) in [
        ("zero", vec![0u8; n.len()]),
        ("one", one),
        ("the modulus", n.clone()),
        ("empty", Vec::new()),
    ] {
        cases.push(case(
            format!("RS256: {what}"),
            with_sig(&unsigned, &sig),
            Want::Token(AuthError::InvalidSignature),
        ));
    }
    run(&app, cases).await;
}

/// The signature covers exactly `header.payload`: stripped, truncated, extended or pasted
/// signatures, and tokens of the wrong shape.
#[tokio::test]
async fn stripped_truncated_and_pasted_signatures_are_refused() {
    let Env { issuer, app } = env().await;
    let a = issuer.token().scope("read:data").sign();
    let b = issuer.token().scope("admin").sign();
    let es = issuer.token().alg(Algorithm::ES256).scope("admin").sign();
    let (ha, pa, sa) = parts(&a);
    let (_, pb, sb) = parts(&b);
    let (_, _, ses) = parts(&es);
    let admin = bearer_on("/admin", &format!("{ha}.{pb}.{sa}"));
    let cases = vec![
        req_case(
            "control: token A on /data",
            bearer_on("/data", &a),
            Want::Pass,
        ),
        req_case(
            "control: token B on /admin",
            bearer_on("/admin", &b),
            Want::Pass,
        ),
        req_case(
            "A's signature pasted onto B's admin payload",
            admin,
            Want::Token(AuthError::InvalidSignature),
        ),
        case(
            "A with B's signature",
            format!("{ha}.{pa}.{sb}"),
            Want::Token(AuthError::InvalidSignature),
        ),
        case(
            "A with an ES256 signature from the same issuer",
            format!("{ha}.{pa}.{ses}"),
            Want::Token(AuthError::InvalidSignature),
        ),
        case(
            "stripped signature, trailing dot kept",
            format!("{ha}.{pa}."),
            Want::Token(AuthError::InvalidSignature),
        ),
        case(
            "stripped signature and dot",
            format!("{ha}.{pa}"),
            MALFORMED,
        ),
        case(
            "truncated by 2 characters (to a whole number of bytes)",
            format!("{ha}.{pa}.{}", &sa[..sa.len() - 2]),
            Want::Token(AuthError::InvalidSignature),
        ),
        case(
            "truncated by 1 character (not base64url)",
            format!("{ha}.{pa}.{}", &sa[..sa.len() - 1]),
            MALFORMED,
        ),
        case(
            "signature + AAAA",
            format!("{ha}.{pa}.{sa}AAAA"),
            Want::Token(AuthError::InvalidSignature),
        ),
        case(
            "signature + = padding",
            format!("{ha}.{pa}.{sa}=="),
            MALFORMED,
        ),
        case(
            "signature in standard base64",
            format!(
                "{ha}.{pa}.{}",
                B64STD
                    .encode(B64.decode(&sa).unwrap())
                    .trim_end_matches('=')
            ),
            // Valid only if the standard alphabet happens to produce no `+` or `/`.
            if B64STD.encode(B64.decode(&sa).unwrap()).contains(['+', '/']) {
                MALFORMED
            } else {
                Want::Pass
            },
        ),
        case(
            "JWE-shaped, five segments",
            format!("{ha}.{pa}.{sa}.x.y"),
            MALFORMED,
        ),
        case("four segments", format!("{ha}.{pa}.{sa}."), MALFORMED),
        case("empty segments", "..", MALFORMED),
        case("one segment", &ha, MALFORMED),
        case(
            "payload with one character changed",
            {
                let p = String::from_utf8(B64.decode(&pa).unwrap()).unwrap();
                let p = p.replacen("agent-test", "agent-tesu", 1);
                format!("{ha}.{}.{sa}", B64.encode(p))
            },
            Want::Token(AuthError::InvalidSignature),
        ),
    ];
    run(&app, cases).await;
}

// ---------------------------------------------------------------------------------------
// Claims: time, issuer, audience, type.
// ---------------------------------------------------------------------------------------

/// Every time-claim edge at leeway ± 1 s, under a fixed clock: `exp` is usable strictly
/// before `exp + leeway`, `nbf` from `nbf - leeway`, `iat` up to `now + leeway`; the same
/// with leeway 0; the lifetime cap at its edge.
#[tokio::test]
async fn time_claims_at_the_leeway_edges() {
    let issuer = issuer().await;
    let t = now();
    let clock = move || UNIX_EPOCH + Duration::from_secs(t as u64);
    let l = 30;
    let app30 = app(&builder(&issuer)
        .clock(clock)
        .leeway(Duration::from_secs(l as u64))
        .build()
        .await
        .unwrap());
    let app0 = app(&builder(&issuer)
        .clock(clock)
        .leeway(Duration::ZERO)
        .build()
        .await
        .unwrap());
    let capped = app(&builder(&issuer)
        .clock(clock)
        .leeway(Duration::from_secs(l as u64))
        .max_token_lifetime(Duration::from_secs(600))
        .build()
        .await
        .unwrap());
    let tok = |iat: i64, exp: i64| issuer.token().issued_at(iat).expires_at(exp);
    let expired = Want::Token(AuthError::Expired);
    let early = Want::Token(AuthError::NotYetValid);
    let future = Want::Token(AuthError::IssuedInFuture);
    run(
        &app30,
        vec![
            case("control", tok(t, t + 300).sign(), Want::Pass),
            case(
                "exp = now - leeway + 1",
                tok(t - 600, t - l + 1).sign(),
                Want::Pass,
            ),
            case(
                "exp = now - leeway",
                tok(t - 600, t - l).sign(),
                expired.clone(),
            ),
            case(
                "exp = now - leeway - 1",
                tok(t - 600, t - l - 1).sign(),
                expired.clone(),
            ),
            case(
                "exp = now - leeway + 0.9 (fractions truncate)",
                tok(t - 600, 0).claim("exp", (t - l) as f64 + 0.9).sign(),
                expired.clone(),
            ),
            case("exp = 0", tok(t - 600, 0).sign(), expired.clone()),
            case("exp negative", tok(t - 600, -1).sign(), expired.clone()),
            case(
                "exp = i64::MIN",
                tok(t - 600, i64::MIN).sign(),
                expired.clone(),
            ),
            case(
                "exp missing",
                issuer.token().issued_at(t).remove_claim("exp").sign(),
                Want::Token(AuthError::MissingClaim("exp".into())),
            ),
            case(
                "exp null",
                tok(t, 0).claim("exp", Value::Null).sign(),
                Want::Token(AuthError::MissingClaim("exp".into())),
            ),
            case(
                "exp as a string",
                tok(t, 0).claim("exp", (t + 300).to_string()).sign(),
                BAD_CLAIM,
            ),
            case(
                "exp = 1e300",
                tok(t, 0).claim("exp", 1e300).sign(),
                BAD_CLAIM,
            ),
            case(
                "exp as bool",
                tok(t, 0).claim("exp", true).sign(),
                BAD_CLAIM,
            ),
            case(
                "nbf = now + leeway",
                tok(t, t + 300).not_before(t + l).sign(),
                Want::Pass,
            ),
            case(
                "nbf = now + leeway + 1",
                tok(t, t + 300).not_before(t + l + 1).sign(),
                early.clone(),
            ),
            case(
                "nbf = i64::MAX",
                tok(t, t + 300).not_before(i64::MAX).sign(),
                early.clone(),
            ),
            case(
                "nbf as a string",
                tok(t, t + 300).claim("nbf", "0").sign(),
                BAD_CLAIM,
            ),
            case("iat = now + leeway", tok(t + l, t + 300).sign(), Want::Pass),
            case(
                "iat = now + leeway + 1",
                tok(t + l + 1, t + 300).sign(),
                future.clone(),
            ),
            case(
                "iat = i64::MAX",
                tok(i64::MAX, t + 300).sign(),
                future.clone(),
            ),
            case(
                "iat as a string",
                tok(t, t + 300).claim("iat", t.to_string()).sign(),
                BAD_CLAIM,
            ),
        ],
    )
    .await;
    run(
        &app0,
        vec![
            case(
                "leeway 0: exp = now + 1",
                tok(t - 60, t + 1).sign(),
                Want::Pass,
            ),
            case(
                "leeway 0: exp = now",
                tok(t - 60, t).sign(),
                expired.clone(),
            ),
            case(
                "leeway 0: exp = now - 1",
                tok(t - 60, t - 1).sign(),
                expired,
            ),
            case(
                "leeway 0: nbf = now",
                tok(t, t + 60).not_before(t).sign(),
                Want::Pass,
            ),
            case(
                "leeway 0: nbf = now + 1",
                tok(t, t + 60).not_before(t + 1).sign(),
                early,
            ),
            case("leeway 0: iat = now", tok(t, t + 60).sign(), Want::Pass),
            case("leeway 0: iat = now + 1", tok(t + 1, t + 60).sign(), future),
        ],
    )
    .await;
    run(
        &capped,
        vec![
            case("lifetime = cap", tok(t, t + 600).sign(), Want::Pass),
            case(
                "lifetime = cap + 1",
                tok(t, t + 601).sign(),
                Want::Token(AuthError::LifetimeTooLong),
            ),
            case(
                "lifetime cap with a backdated iat",
                tok(t - 10_000, t + 300).sign(),
                Want::Token(AuthError::LifetimeTooLong),
            ),
            case(
                "lifetime cap, no iat",
                issuer.token().remove_claim("iat").expires_at(t + 60).sign(),
                Want::Token(AuthError::MissingClaim("iat".into())),
            ),
        ],
    )
    .await;
}

/// RFC 8725 §3.8: `iss` equals a configured issuer byte for byte; lookalikes never match.
#[tokio::test]
async fn issuer_lookalikes_are_refused() {
    let Env { issuer, app } = env().await;
    let iss = issuer.issuer(); // http://127.0.0.1:PORT
    let port = issuer.addr().port();
    let host_and_port = iss.trim_start_matches("http://").to_owned();
    let lookalikes: Vec<(&str, String)> = vec![
        ("trailing slash", format!("{iss}/")),
        ("trailing dot-slash", format!("{iss}/./")),
        ("upper-case", iss.to_uppercase()),
        ("upper-case scheme", iss.replacen("http", "HTTP", 1)),
        ("https instead of http", iss.replacen("http", "https", 1)),
        (
            "fullwidth digit homoglyph",
            iss.replacen('1', "\u{FF11}", 1),
        ),
        ("ideographic full stop", iss.replacen('.', "\u{3002}", 1)),
        (
            "ratio sign for colon",
            format!("http://127.0.0.1\u{2236}{port}"),
        ),
        ("zero-width space", format!("{iss}\u{200B}")),
        ("NUL suffix", format!("{iss}\u{0}")),
        ("leading space", format!(" {iss}")),
        ("trailing space", format!("{iss} ")),
        ("prefix of the real one", iss[..iss.len() - 1].to_owned()),
        ("real one as prefix", format!("{iss}.evil.example")),
        ("real one as path prefix", format!("{iss}/evil")),
        ("real one as suffix", format!("http://evil.{host_and_port}")),
        (
            "userinfo",
            format!("http://{host_and_port}@127.0.0.2:{port}"),
        ),
        (
            "localhost for 127.0.0.1",
            format!("http://localhost:{port}"),
        ),
        ("short IPv4 form", format!("http://127.1:{port}")),
        ("leading-zero port", format!("http://127.0.0.1:0{port}")),
        (
            "IPv4-mapped IPv6",
            format!("http://[::ffff:127.0.0.1]:{port}"),
        ),
        (
            "percent-encoded colon",
            format!("http://127.0.0.1%3A{port}"),
        ),
        ("empty", String::new()),
    ];
    let mut cases = vec![case("control", issuer.token().sign(), Want::Pass)];
    for (name, value) in lookalikes {
        assert_ne!(value, iss, "{name}");
        cases.push(case(
            format!("iss: {name}"),
            issuer.token().issuer(value).sign(),
            Want::Token(AuthError::WrongIssuer),
        ));
    }
    for (name, value) in [
        ("array", json!([iss])),
        ("object", json!({"iss": iss})),
        ("number", json!(1)),
        ("null", json!(null)),
    ] {
        cases.push(case(
            format!("iss as {name}"),
            issuer.token().claim("iss", value).sign(),
            Want::Token(AuthError::InvalidClaim("iss".into())),
        ));
    }
    cases.push(case(
        "iss missing",
        issuer.token().remove_claim("iss").sign(),
        Want::Token(AuthError::MissingClaim("iss".into())),
    ));
    run(&app, cases).await;
}

/// RFC 7519 §4.1.3 / RFC 9068 §4: `aud` as a string or an array of strings, matched byte
/// for byte; anything else is invalid, an empty array names nobody.
#[tokio::test]
async fn audience_arrays_and_lookalikes() {
    let Env { issuer, app } = env().await;
    let aud = issuer.audience().to_owned();
    let wrong = Want::Token(AuthError::WrongAudience);
    let missing = Want::Token(AuthError::MissingClaim("aud".into()));
    let cases = vec![
        case("control: string", issuer.token().sign(), Want::Pass),
        case(
            "array, one match",
            issuer.token().audience([&aud]).sign(),
            Want::Pass,
        ),
        case(
            "array, match among others",
            issuer.token().audience(["other", &aud, "third"]).sign(),
            Want::Pass,
        ),
        case(
            "array, no match",
            issuer.token().audience(["other", "third"]).sign(),
            wrong.clone(),
        ),
        case(
            "empty array",
            issuer.token().audience(Vec::<String>::new()).sign(),
            wrong.clone(),
        ),
        case(
            "nested array",
            issuer.token().audience(json!([[aud]])).sign(),
            BAD_CLAIM,
        ),
        case(
            "array of numbers",
            issuer.token().audience(json!([1, 2])).sign(),
            BAD_CLAIM,
        ),
        case(
            "match plus a non-string",
            issuer.token().audience(json!([aud, 1])).sign(),
            BAD_CLAIM,
        ),
        case(
            "match plus null",
            issuer.token().audience(json!([aud, null])).sign(),
            BAD_CLAIM,
        ),
        case(
            "object",
            issuer.token().audience(json!({"aud": aud})).sign(),
            BAD_CLAIM,
        ),
        case(
            "number",
            issuer.token().audience(json!(7)).sign(),
            BAD_CLAIM,
        ),
        case(
            "null",
            issuer.token().audience(json!(null)).sign(),
            missing.clone(),
        ),
        case(
            "missing",
            issuer.token().remove_claim("aud").sign(),
            missing,
        ),
        case(
            "upper-case",
            issuer.token().audience(aud.to_uppercase()).sign(),
            wrong.clone(),
        ),
        case(
            "prefix",
            issuer.token().audience(&aud[..aud.len() - 1]).sign(),
            wrong.clone(),
        ),
        case(
            "suffix added",
            issuer.token().audience(format!("{aud}x")).sign(),
            wrong.clone(),
        ),
        case(
            "trailing space",
            issuer.token().audience(format!("{aud} ")).sign(),
            wrong.clone(),
        ),
        case(
            "space-joined list in a string",
            issuer.token().audience(format!("other {aud}")).sign(),
            wrong.clone(),
        ),
        case(
            "comma-joined list in a string",
            issuer.token().audience(format!("other,{aud}")).sign(),
            wrong.clone(),
        ),
        case(
            "NUL suffix",
            issuer.token().audience(format!("{aud}\u{0}")).sign(),
            wrong,
        ),
    ];
    run(&app, cases).await;
}

/// RFC 8725 §3.11, RFC 9068 §4: explicit typing keeps ID tokens, refresh tokens and other
/// JWTs from being used as access tokens.
#[tokio::test]
async fn id_and_refresh_tokens_are_not_access_tokens() {
    let Env { issuer, app } = env().await;
    let wrong = Want::Token(AuthError::WrongType);
    let id_token = || {
        issuer
            .token()
            .claim("nonce", "n-0S6_WzA2Mj")
            .claim("at_hash", "77QmUPtjPfzWtF2AnpK9RQ")
            .claim("auth_time", now() - 10)
    };
    let cases = vec![
        case("control: at+jwt", issuer.token().sign(), Want::Pass),
        case(
            "control: AT+JWT",
            issuer.token().typ("AT+JWT").sign(),
            Want::Pass,
        ),
        case(
            "control: application/at+jwt",
            issuer.token().typ("application/at+jwt").sign(),
            Want::Pass,
        ),
        case(
            "ID token, typ JWT",
            id_token().typ("JWT").sign(),
            wrong.clone(),
        ),
        case(
            "ID token, no typ",
            id_token().no_typ().sign(),
            wrong.clone(),
        ),
        case(
            "ID token, typ id_token+jwt",
            id_token().typ("id_token+jwt").sign(),
            wrong.clone(),
        ),
        case(
            "refresh token, typ refresh+jwt",
            issuer.token().typ("refresh+jwt").sign(),
            wrong.clone(),
        ),
        case(
            "typ application/jwt",
            issuer.token().typ("application/jwt").sign(),
            wrong.clone(),
        ),
        case(
            "typ dpop+jwt",
            issuer.token().typ("dpop+jwt").sign(),
            wrong.clone(),
        ),
        case(
            "typ logout+jwt",
            issuer.token().typ("logout+jwt").sign(),
            wrong.clone(),
        ),
        case(
            "typ at+jwt with a space",
            issuer.token().typ("at+jwt ").sign(),
            wrong.clone(),
        ),
        case(
            "typ at+jw",
            issuer.token().typ("at+jw").sign(),
            wrong.clone(),
        ),
        case("typ empty", issuer.token().typ("").sign(), wrong.clone()),
        case(
            "typ application/at+jwt;x=1",
            issuer.token().typ("application/at+jwt;x=1").sign(),
            wrong.clone(),
        ),
        case(
            "typ as an array",
            issuer.token().header("typ", json!(["at+jwt"])).sign(),
            MALFORMED,
        ),
        case(
            "typ as a number",
            issuer.token().header("typ", 1).sign(),
            MALFORMED,
        ),
        case(
            "typ null",
            issuer.token().header("typ", Value::Null).sign(),
            Want::Invalid,
        ),
    ];
    run(&app, cases).await;
}

// ---------------------------------------------------------------------------------------
// Header extensions and JSON parsing.
// ---------------------------------------------------------------------------------------

/// RFC 7515 §4.1.11: an unknown `crit` extension must be rejected; RFC 7797 `b64`; RFC
/// 7519 §5.2 nested JWTs (`cty: JWT`) are never validated by their outer layer only.
#[tokio::test]
async fn crit_b64_and_nested_jwts_are_refused() {
    let Env { issuer, app } = env().await;
    let inner = issuer.token().scope("admin").sign();
    let mut cases = vec![
        case("control", issuer.token().sign(), Want::Pass),
        case(
            "control: cty json",
            issuer.token().header("cty", "json").sign(),
            Want::Pass,
        ),
    ];
    for (name, crit) in [
        ("crit [exp] with exp", json!(["exp"])),
        ("crit [] (empty is invalid too)", json!([])),
        ("crit [b64]", json!(["b64"])),
        ("crit unknown URI", json!(["http://127.0.0.1:1/ext"])),
        ("crit as a string", json!("exp")),
        ("crit null", json!(null)),
    ] {
        cases.push(case(
            name,
            issuer.token().header("crit", crit).header("exp", 1).sign(),
            UNSUPPORTED,
        ));
    }
    cases.push(case(
        "b64 false",
        issuer.token().header("b64", false).sign(),
        UNSUPPORTED,
    ));
    cases.push(case(
        "b64 true",
        issuer.token().header("b64", true).sign(),
        UNSUPPORTED,
    ));
    for cty in ["JWT", "jwt", "application/JWT", "Application/jwt"] {
        cases.push(case(
            format!("cty {cty}, payload a nested JWT"),
            issuer
                .token()
                .header("cty", cty)
                .sign_payload_bytes(inner.as_bytes()),
            UNSUPPORTED,
        ));
        cases.push(case(
            format!("cty {cty}, payload plain claims"),
            issuer.token().header("cty", cty).sign(),
            UNSUPPORTED,
        ));
    }
    cases.push(case(
        "nested JWT without cty",
        issuer.token().sign_payload_bytes(inner.as_bytes()),
        MALFORMED,
    ));
    cases.push(case(
        "cty as a number",
        issuer.token().header("cty", 1).sign(),
        MALFORMED,
    ));
    run(&app, cases).await;
}

/// RFC 8725 §3.8 parser differentials: a duplicate member name is refused at every depth,
/// in the header and the payload, whichever of the two values is the evil one.
#[tokio::test]
async fn duplicate_json_members_are_refused_at_every_depth() {
    let Env { issuer, app } = env().await;
    let key = issuer.signing_key(Algorithm::RS256);
    let kid = key.kid().to_owned();
    let head = |extra: &str| format!(r#"{{"alg":"RS256","kid":"{kid}","typ":"at+jwt"{extra}}}"#);
    let claims = Value::Object(issuer.token().scope("read:data").claims().clone()).to_string();
    let body = &claims[1..claims.len() - 1]; // the members, without the braces
    let payload = |before: &str, after: &str| format!("{{{before}{body}{after}}}");
    let good = head("");
    let cases = vec![
        case(
            "control: raw token",
            raw(&good, claims.as_bytes(), &key),
            Want::Pass,
        ),
        case(
            "control: raw token with extra members",
            raw(
                &head(r#","x":{"a":1,"b":[1,{"c":2}]}"#),
                payload("", r#","y":{"a":1,"b":{"c":[{"d":1}]}}"#).as_bytes(),
                &key,
            ),
            Want::Pass,
        ),
        case(
            "header: alg twice, none last",
            raw(&head(r#","alg":"none""#), claims.as_bytes(), &key),
            MALFORMED,
        ),
        case(
            "header: alg twice, none first",
            raw(
                &format!(r#"{{"alg":"none","kid":"{kid}","typ":"at+jwt","alg":"RS256"}}"#),
                claims.as_bytes(),
                &key,
            ),
            MALFORMED,
        ),
        case(
            "header: kid twice",
            raw(&head(r#","kid":"other""#), claims.as_bytes(), &key),
            MALFORMED,
        ),
        case(
            "header: typ twice",
            raw(&head(r#","typ":"JWT""#), claims.as_bytes(), &key),
            MALFORMED,
        ),
        case(
            "header: escaped duplicate \\u0061lg",
            raw(&head(r#","\u0061lg":"RS256""#), claims.as_bytes(), &key),
            MALFORMED,
        ),
        case(
            "header: an unread member twice (x5u)",
            raw(
                &head(r#","x5u":"https://a.example","x5u":"https://b.example""#),
                claims.as_bytes(),
                &key,
            ),
            MALFORMED,
        ),
        case(
            "header: nested duplicate",
            raw(&head(r#","x":{"a":1,"a":2}"#), claims.as_bytes(), &key),
            MALFORMED,
        ),
        case(
            "header: duplicate inside an array",
            raw(&head(r#","x":[{"a":1,"a":2}]"#), claims.as_bytes(), &key),
            MALFORMED,
        ),
        case(
            "payload: iss twice, evil first",
            raw(
                &good,
                payload(r#""iss":"https://evil.example","#, "").as_bytes(),
                &key,
            ),
            MALFORMED,
        ),
        case(
            "payload: iss twice, evil last",
            raw(
                &good,
                payload("", r#","iss":"https://evil.example""#).as_bytes(),
                &key,
            ),
            MALFORMED,
        ),
        case(
            "payload: scope twice",
            raw(&good, payload("", r#","scope":"admin""#).as_bytes(), &key),
            MALFORMED,
        ),
        case(
            "payload: exp twice",
            raw(&good, payload("", r#","exp":99999999999"#).as_bytes(), &key),
            MALFORMED,
        ),
        case(
            "payload: aud twice",
            raw(&good, payload("", r#","aud":"other""#).as_bytes(), &key),
            MALFORMED,
        ),
        case(
            "payload: escaped duplicate \\u0069ss",
            raw(
                &good,
                payload("", r#","\u0069ss":"https://evil.example""#).as_bytes(),
                &key,
            ),
            MALFORMED,
        ),
        case(
            "payload: nested duplicate in act",
            raw(
                &good,
                payload("", r#","act":{"sub":"a","sub":"b"}"#).as_bytes(),
                &key,
            ),
            MALFORMED,
        ),
        case(
            "payload: duplicate three levels down",
            raw(
                &good,
                payload("", r#","x":{"y":{"z":{"a":1,"a":2}}}"#).as_bytes(),
                &key,
            ),
            MALFORMED,
        ),
        case(
            "payload: duplicate inside an array",
            raw(
                &good,
                payload("", r#","x":[1,{"a":1,"a":2}]"#).as_bytes(),
                &key,
            ),
            MALFORMED,
        ),
        case(
            "payload: nesting 40 deep",
            raw(
                &good,
                payload("", &format!(r#","x":{}{}"#, "[".repeat(40), "]".repeat(40))).as_bytes(),
                &key,
            ),
            MALFORMED,
        ),
        case(
            "control: nesting 20 deep",
            raw(
                &good,
                payload("", &format!(r#","x":{}{}"#, "[".repeat(20), "]".repeat(20))).as_bytes(),
                &key,
            ),
            Want::Pass,
        ),
    ];
    run(&app, cases).await;
}

/// The payload must be one UTF-8 JSON object and the segments strict base64url.
#[tokio::test]
async fn non_utf8_and_non_object_payloads_are_malformed() {
    let Env { issuer, app } = env().await;
    let key = issuer.signing_key(Algorithm::RS256);
    let header = format!(r#"{{"alg":"RS256","kid":"{}","typ":"at+jwt"}}"#, key.kid());
    let claims = Value::Object(issuer.token().claims().clone()).to_string();
    let with_sub = |sub: &[u8]| {
        let mut p = claims.as_bytes()[..claims.len() - 1].to_vec();
        p.extend_from_slice(br#","sub2":""#);
        p.extend_from_slice(sub);
        p.extend_from_slice(br#""}"#);
        p
    };
    let (h, p, s) = parts(&issuer.token().sign());
    let mut cases = vec![
        case(
            "control",
            raw(&header, &with_sub(b"agent"), &key),
            Want::Pass,
        ),
        case(
            "control: escaped non-ASCII",
            raw(&header, &with_sub(br"\u00e9\ud83d\udd11"), &key),
            Want::Pass,
        ),
    ];
    for (name, bytes) in [
        ("0xff in a string", &b"a\xffb"[..]),
        ("overlong slash C0 AF", b"\xc0\xaf"),
        ("UTF-16 surrogate as UTF-8", b"\xed\xa0\x80"),
        ("truncated sequence", b"\xe2\x82"),
        ("lone surrogate escape", br"\ud800"),
        ("raw NUL in a string", b"a\x00b"),
        ("raw newline in a string", b"a\nb"),
    ] {
        cases.push(case(
            format!("payload: {name}"),
            raw(&header, &with_sub(bytes), &key),
            MALFORMED,
        ));
    }
    let mut bom = b"\xef\xbb\xbf".to_vec();
    bom.extend_from_slice(claims.as_bytes());
    let mut utf16 = vec![0xff, 0xfe];
    for u in claims.encode_utf16() {
        utf16.extend_from_slice(&u.to_le_bytes());
    }
    for (name, bytes) in [
        ("UTF-8 BOM", bom),
        ("UTF-16", utf16),
        ("JSON array", format!("[{claims}]").into_bytes()),
        ("JSON string", b"\"claims\"".to_vec()),
        ("null", b"null".to_vec()),
        ("trailing garbage", format!("{claims} x").into_bytes()),
        ("two objects", format!("{claims}{claims}").into_bytes()),
        (
            "trailing comma",
            format!("{},}}", &claims[..claims.len() - 1]).into_bytes(),
        ),
        ("single quotes", claims.replace('"', "'").into_bytes()),
        ("empty", Vec::new()),
    ] {
        cases.push(case(
            format!("payload: {name}"),
            raw(&header, &bytes, &key),
            MALFORMED,
        ));
    }
    cases.extend([
        case(
            "header: raw invalid UTF-8",
            {
                let mut hb = header.clone().into_bytes();
                hb.insert(hb.len() - 2, 0xff);
                let input = format!("{}.{}", B64.encode(hb), B64.encode(&claims));
                let sig = key.sign(input.as_bytes());
                format!("{input}.{}", B64.encode(sig))
            },
            MALFORMED,
        ),
        // Outside token68 (RFC 7235 §2.1): refused by the bearer parser before decoding.
        case(
            "header: invalid UTF-8 inside an unread member",
            {
                let mut hb = header.clone().into_bytes();
                hb.truncate(hb.len() - 1);
                hb.extend_from_slice(b",\"x\":\"\xff\"}");
                let input = format!("{}.{}", B64.encode(hb), B64.encode(&claims));
                let sig = key.sign(input.as_bytes());
                format!("{input}.{}", B64.encode(sig))
            },
            MALFORMED,
        ),
        case(
            // fuzz/: the `token` target's first crash (crash-16af6b69…, minimised to this
            // header): a signed token whose header is not UTF-8 JSON was accepted.
            "header: fuzz regression, EdDSA, no kid, `\"\":\"\\xf3519\"`",
            {
                let ed = issuer.signing_key(Algorithm::EdDSA);
                let hb = b"{\"alg\":\"EdDSA\",\"\":\"\xf3519\",\"typ\":\"at+jwt\"}";
                let input = format!("{}.{}", B64.encode(hb), B64.encode(&claims));
                let sig = ed.sign(input.as_bytes());
                format!("{input}.{}", B64.encode(sig))
            },
            MALFORMED,
        ),
        case(
            "header: not base64url",
            format!("{h}!.{p}.{s}"),
            Want::BadRequest,
        ),
        case(
            "payload: padded base64",
            format!("{h}.{p}=.{s}"),
            Want::BadRequest,
        ),
        case(
            "header: padded base64",
            format!("{h}=.{p}.{s}"),
            Want::BadRequest,
        ),
        case(
            "signature: padded base64",
            format!("{h}.{p}.{s}=="),
            MALFORMED,
        ),
        case(
            "payload: standard-alphabet base64",
            format!("{h}.{}.{s}", p.replace('-', "+").replace('_', "/")),
            if p.contains(['-', '_']) {
                MALFORMED
            } else {
                Want::Pass
            },
        ),
    ]);
    run(&app, cases).await;
}

/// A 16 KiB cap on the token before any decoding (`max_token_size`): the exact size passes,
/// one byte more does not, whatever part of the token is big.
#[tokio::test]
async fn oversized_tokens_and_headers_are_capped() {
    let Env { issuer, app } = env().await;
    let cap = a2a_guard::DEFAULT_MAX_TOKEN_SIZE;
    let too_large = Want::Token(AuthError::TokenTooLarge { limit: cap });
    let at_cap = sized_token(&issuer, cap);
    let over = sized_token(&issuer, cap + 1);
    assert_eq!((at_cap.len(), over.len()), (cap, cap + 1));
    let cases = vec![
        case("exactly the cap", &at_cap, Want::Pass),
        case("cap + 1", &over, too_large.clone()),
        case(
            "header over 16 KiB",
            issuer.token().header("pad", "h".repeat(17 * 1024)).sign(),
            too_large.clone(),
        ),
        case(
            "payload over 16 KiB",
            issuer.token().claim("pad", "p".repeat(17 * 1024)).sign(),
            too_large.clone(),
        ),
        case(
            "signature over 16 KiB",
            format!("{}{}", issuer.token().unsigned(), "A".repeat(17 * 1024)),
            too_large.clone(),
        ),
        case("1 MiB of token68", "a".repeat(1 << 20), too_large.clone()),
        case("1 MiB of dots", ".".repeat(1 << 20), too_large),
        // Framing comes first, whatever the size: the layer's fast path refuses a token it
        // did not check for size, and must still report the characters.
        case(
            "over the cap, with a quote",
            format!("\"{over}\""),
            Want::Request("the token has characters outside token68"),
        ),
    ];
    run(&app, cases).await;
}

/// A valid token of exactly `len` bytes, padded with a claim (and a header member when the
/// base64url lengths cannot land on `len` otherwise).
fn sized_token(issuer: &TestIssuer, len: usize) -> String {
    let sig_len = issuer.token().sign().len() - issuer.token().unsigned().len();
    for hpad in 0..4 {
        let base = issuer.token().header("hpad", "h".repeat(hpad));
        let fixed = base.clone().claim("pad", "").unsigned().len() + sig_len;
        let Some(room) = len.checked_sub(fixed) else {
            continue;
        };
        let estimate = room * 3 / 4;
        for pad in estimate.saturating_sub(4)..estimate + 4 {
            let b = base.clone().claim("pad", "p".repeat(pad));
            if b.clone().unsigned().len() + sig_len == len {
                return b.sign();
            }
        }
    }
    panic!("no token of {len} bytes");
}

// ---------------------------------------------------------------------------------------
// Request framing and scopes.
// ---------------------------------------------------------------------------------------

/// RFC 6750 §2: exactly one `Authorization` header with one bearer token; no tokens in the
/// query string (they reach access logs); other schemes are "no token".
#[tokio::test]
async fn bearer_framing_attacks_are_invalid_requests() {
    let Env { issuer, app } = env().await;
    let t = issuer.token().sign();
    let u = issuer.token().subject("other").sign();
    let with = |path: &str, values: &[&[u8]]| {
        let mut r = Request::get(path);
        for v in values {
            r = r.header(
                "authorization",
                http::HeaderValue::from_bytes(v).expect("header value"),
            );
        }
        r.body(Body::empty()).expect("request")
    };
    let bt = format!("Bearer {t}");
    let bu = format!("Bearer {u}");
    let cases = vec![
        req_case("control", with("/whoami", &[bt.as_bytes()]), Want::Pass),
        req_case(
            "control: scheme in lower case",
            with("/whoami", &[format!("bearer {t}").as_bytes()]),
            Want::Pass,
        ),
        req_case("no Authorization", with("/whoami", &[]), Want::NoToken),
        req_case(
            "Basic scheme",
            with("/whoami", &[b"Basic dXNlcjpwYXNz"]),
            Want::NoToken,
        ),
        req_case(
            "two Authorization headers, both valid",
            with("/whoami", &[bt.as_bytes(), bu.as_bytes()]),
            Want::Request("more than one Authorization header"),
        ),
        req_case(
            "two Authorization headers, the same token",
            with("/whoami", &[bt.as_bytes(), bt.as_bytes()]),
            Want::Request("more than one Authorization header"),
        ),
        req_case(
            "Bearer and Basic",
            with("/whoami", &[bt.as_bytes(), b"Basic dXNlcjpwYXNz"]),
            Want::Request("more than one Authorization header"),
        ),
        req_case(
            "Basic then Bearer",
            with("/whoami", &[b"Basic dXNlcjpwYXNz", bt.as_bytes()]),
            Want::Request("more than one Authorization header"),
        ),
        req_case(
            "two tokens, space",
            with("/whoami", &[format!("Bearer {t} {u}").as_bytes()]),
            Want::Request("more than one token"),
        ),
        req_case(
            "two tokens, comma",
            with("/whoami", &[format!("Bearer {t},{u}").as_bytes()]),
            Want::Request("more than one token"),
        ),
        req_case(
            "two challenges in one header",
            with("/whoami", &[format!("Bearer {t}, Bearer {u}").as_bytes()]),
            Want::Request("more than one token"),
        ),
        req_case(
            "two tokens, tab",
            with("/whoami", &[format!("Bearer {t}\t{u}").as_bytes()]),
            Want::Request("more than one token"),
        ),
        req_case(
            "Bearer and nothing",
            with("/whoami", &[b"Bearer"]),
            Want::BadRequest,
        ),
        req_case(
            "Bearer and spaces",
            with("/whoami", &[b"Bearer    "]),
            Want::BadRequest,
        ),
        req_case(
            "token with a quote",
            with("/whoami", &[format!("Bearer \"{t}\"").as_bytes()]),
            Want::BadRequest,
        ),
        req_case(
            "token with non-ASCII bytes",
            with(
                "/whoami",
                &[&[b"Bearer ".as_slice(), t.as_bytes(), b"\xff"].concat()],
            ),
            Want::BadRequest,
        ),
        req_case(
            "JWS JSON serialization",
            with(
                "/whoami",
                &[format!(r#"Bearer {{"payload":"{}","signatures":[]}}"#, parts(&t).1).as_bytes()],
            ),
            Want::BadRequest,
        ),
        req_case(
            "token in the query, no header",
            with(&format!("/whoami?access_token={t}"), &[]),
            Want::Request("query string"),
        ),
        req_case(
            "token in the query and the header",
            with(&format!("/whoami?x=1&access_token={u}"), &[bt.as_bytes()]),
            Want::Request("query string"),
        ),
        req_case(
            "empty access_token parameter",
            with("/whoami?access_token=", &[bt.as_bytes()]),
            Want::Request("query string"),
        ),
    ];
    run(&app, cases).await;
}

/// Scope requirements through the layer: hierarchy and wildcards cover, look-alikes do not;
/// malformed scope claims and unknown temporal scopes invalidate the token.
#[tokio::test]
async fn scope_smuggling_is_refused() {
    let Env { issuer, app } = env().await;
    let data = |scope: &str| bearer_on("/data", &issuer.token().scope(scope).sign());
    let need = Want::Scope("read:data");
    let cases = vec![
        req_case("control: read:data", data("read:data"), Want::Pass),
        req_case("control: parent read", data("read"), Want::Pass),
        req_case("control: read:*", data("read:*"), Want::Pass),
        req_case(
            "control: scp array",
            bearer_on("/data", &issuer.token().claim("scp", ["read:data"]).sign()),
            Want::Pass,
        ),
        req_case(
            "no scope",
            bearer_on("/data", &issuer.token().sign()),
            need.clone(),
        ),
        req_case("child only", data("read:data:eu"), need.clone()),
        req_case("string prefix", data("read:dat"), need.clone()),
        req_case("string extension", data("read:datax"), need.clone()),
        req_case("other case", data("READ:DATA"), need.clone()),
        req_case(
            "write does not imply read",
            data("write:data"),
            need.clone(),
        ),
        req_case(
            "wildcard in the wrong segment",
            data("*:other"),
            need.clone(),
        ),
        req_case(
            "scope string wins over scp",
            bearer_on(
                "/data",
                &issuer
                    .token()
                    .scope("other")
                    .claim("scp", ["read:data"])
                    .sign(),
            ),
            need,
        ),
        req_case(
            "temporal scope does not grant",
            data("temporal:1h"),
            Want::Scope("read:data"),
        ),
        req_case("quote in a scope", data("read:data\""), BAD_CLAIM),
        req_case("NUL in a scope", data("read:data\u{0}"), BAD_CLAIM),
        req_case("non-ASCII scope", data("read:dätä"), BAD_CLAIM),
        req_case("tab-separated", data("read:data\tadmin"), BAD_CLAIM),
        req_case(
            "scp with a number",
            bearer_on(
                "/data",
                &issuer.token().claim("scp", json!(["read:data", 1])).sign(),
            ),
            BAD_CLAIM,
        ),
        req_case(
            "scope as an array",
            bearer_on(
                "/data",
                &issuer.token().claim("scope", ["read:data"]).sign(),
            ),
            BAD_CLAIM,
        ),
        req_case(
            "unknown temporal scope",
            data("read:data temporal:forever"),
            Want::Token(AuthError::TemporalScope("unknown temporal scope".into())),
        ),
        req_case(
            "temporal scope that has ended",
            bearer_on(
                "/data",
                &issuer
                    .token()
                    .issued_at(now() - 120)
                    .scope("read:data temporal:60s")
                    .sign(),
            ),
            Want::Token(AuthError::TemporalScope(
                "the temporal scope's window has ended".into(),
            )),
        ),
        req_case(
            "business hours not configured",
            data("read:data temporal:business-hours"),
            Want::Token(AuthError::TemporalScope(
                "business hours are not configured".into(),
            )),
        ),
        req_case(
            "any: admin",
            bearer_on("/admin", &issuer.token().scope("admin").sign()),
            Want::Pass,
        ),
        req_case(
            "any: neither",
            bearer_on("/admin", &issuer.token().scope("read:data adminx").sign()),
            Want::Scope("admin write:all"),
        ),
    ];
    run(&app, cases).await;
}

// ---------------------------------------------------------------------------------------
// Many tokens at once while the key fetch fails (Envoy CVE-2025-64527).
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Outage {
    Status503,
    Hang,
    Garbage,
    Oversized,
    Stopped,
}

const STORM: usize = 96;
const COOLDOWN: Duration = Duration::from_millis(100);
const FETCH_TIMEOUT: Duration = Duration::from_millis(800);

/// Spawns `STORM` concurrent requests with unknown kids, interleaved with valid tokens and
/// requests carrying two `Authorization` headers, while the JWKS endpoint fails in the given
/// way. Every request must end (hang detector), none may panic, each gets its clean answer;
/// valid tokens never wait on the failing fetch; the issuer sees a bounded number of fetches;
/// and after the outage a rotated key validates.
async fn storm(outage: Outage) {
    let issuer = issuer().await;
    let v = builder(&issuer)
        .fetch_timeouts(Duration::from_millis(300), FETCH_TIMEOUT)
        .kid_miss_cooldown(COOLDOWN)
        .build()
        .await
        .expect("validator");
    let app = app(&v);
    let valid = issuer.token().sign();
    let forged: Vec<String> = (0..STORM)
        .map(|i| issuer.token().kid(format!("forged-{i}")).sign())
        .collect();
    match outage {
        Outage::Status503 => issuer.set_behavior(Behavior::Status(503)),
        Outage::Hang => issuer.set_behavior(Behavior::Hang),
        Outage::Garbage => issuer.set_behavior(Behavior::Garbage),
        Outage::Oversized => issuer.set_behavior(Behavior::Oversized(4 << 20)),
        Outage::Stopped => issuer.stop().await,
    }
    issuer.reset_counters();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, token) in forged.iter().enumerate() {
        let mut reqs = vec![("unknown kid", bearer_on("/whoami", token))];
        if i % 4 == 0 {
            reqs.push(("valid", bearer_on("/whoami", &valid)));
        }
        if i % 8 == 0 {
            let two = Request::get("/whoami")
                .header("authorization", format!("Bearer {token}"))
                .header("authorization", format!("Bearer {valid}"))
                .body(Body::empty())
                .expect("request");
            reqs.push(("two headers", two));
        }
        for (kind, req) in reqs {
            let app = app.clone();
            tasks.spawn(async move {
                let t0 = Instant::now();
                let res = app.oneshot(req).await.expect("infallible");
                (kind, res, t0.elapsed())
            });
        }
    }
    let mut failures = Vec::new();
    let mut done = 0;
    let all = common::within(Duration::from_secs(30), async {
        let mut out = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            out.push(joined);
        }
        out
    })
    .await;
    for joined in all {
        let (kind, res, took) = match joined {
            Ok(x) => x,
            Err(e) if e.is_panic() => {
                failures.push(format!("a request panicked: {e}"));
                continue;
            }
            Err(e) => {
                failures.push(format!("a request task failed: {e}"));
                continue;
            }
        };
        done += 1;
        let want = match kind {
            "valid" => Want::Pass,
            "two headers" => Want::BadRequest,
            _ => Want::Token(AuthError::UnknownKey),
        };
        if let Err(why) = check(&res, &want) {
            failures.push(format!("{kind}: {why}"));
        }
        // Known-kid tokens are answered from the cache, never behind the failing fetch.
        if kind == "valid" && took >= FETCH_TIMEOUT {
            failures.push(format!("valid token waited {took:?} on the failing fetch"));
        }
        if took > FETCH_TIMEOUT * 3 {
            failures.push(format!("{kind}: took {took:?}, past the fetch timeout"));
        }
    }
    let elapsed = started.elapsed();
    let fetches = issuer.jwks_fetches();
    let bound = 2 + (elapsed.as_millis() / COOLDOWN.as_millis()) as usize;
    assert!(
        failures.is_empty(),
        "{outage:?}: {} failures:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
    assert_eq!(done, STORM + STORM / 4 + STORM / 8, "{outage:?}");
    assert!(
        fetches <= bound,
        "{outage:?}: {fetches} JWKS fetches in {elapsed:?} (single flight allows {bound})"
    );

    // Recovery: the issuer comes back with a rotated key; after the cooldown the new kid
    // validates and the old one still does.
    match outage {
        Outage::Stopped => issuer.restart().await.expect("restart"),
        _ => issuer.set_behavior(Behavior::Normal),
    }
    let new_kid = issuer.rotate(Algorithm::RS256);
    tokio::time::sleep(COOLDOWN * 2).await;
    let rotated = issuer.token().sign();
    let header: Value = serde_json::from_slice(&B64.decode(parts(&rotated).0).unwrap()).unwrap();
    assert_eq!(header["kid"], new_kid.as_str(), "signed by the rotated key");
    run(
        &app,
        vec![
            case(
                format!("{outage:?}: after recovery, rotated key"),
                rotated,
                Want::Pass,
            ),
            case(
                format!("{outage:?}: after recovery, old key"),
                valid,
                Want::Pass,
            ),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kid_storm_while_the_issuer_answers_503() {
    storm(Outage::Status503).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kid_storm_while_the_issuer_hangs() {
    storm(Outage::Hang).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kid_storm_while_the_issuer_serves_garbage() {
    storm(Outage::Garbage).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kid_storm_while_the_issuer_serves_an_oversized_body() {
    storm(Outage::Oversized).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kid_storm_while_the_issuer_is_stopped() {
    storm(Outage::Stopped).await;
}

/// No key was ever fetched (issuer down at start-up): every well-formed token gets a clean
/// 503 with `Retry-After` — a bad issuer is not a bad token — while malformed requests
/// still get their 400/401, all concurrently, none hanging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_with_no_keys_ever_fetched_gets_503_not_a_crash() {
    let issuer = issuer().await;
    let valid = issuer.token().sign();
    issuer.stop().await;
    let v = builder(&issuer)
        .fetch_timeouts(Duration::from_millis(300), FETCH_TIMEOUT)
        .kid_miss_cooldown(COOLDOWN)
        .build()
        .await
        .expect("an unreachable issuer does not fail the build");
    let app = app(&v);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..STORM {
        let (name, req, want) = match i % 4 {
            0 => ("valid", bearer_on("/whoami", &valid), Want::Unavailable),
            1 => (
                "unknown kid",
                bearer_on("/whoami", &issuer.token().kid(format!("k{i}")).sign()),
                Want::Unavailable,
            ),
            2 => ("malformed", bearer_on("/whoami", "a.b.c"), MALFORMED),
            _ => (
                "two headers",
                Request::get("/whoami")
                    .header("authorization", format!("Bearer {valid}"))
                    .header("authorization", format!("Bearer {valid}"))
                    .body(Body::empty())
                    .expect("request"),
                Want::BadRequest,
            ),
        };
        let app = app.clone();
        tasks.spawn(async move { (name, app.oneshot(req).await.expect("infallible"), want) });
    }
    let mut failures = Vec::new();
    let all = common::within(Duration::from_secs(30), async {
        let mut out = Vec::new();
        while let Some(j) = tasks.join_next().await {
            out.push(j);
        }
        out
    })
    .await;
    assert_eq!(all.len(), STORM);
    for j in all {
        match j {
            Ok((name, res, want)) => {
                if let Err(why) = check(&res, &want) {
                    failures.push(format!("{name}: {why}"));
                }
            }
            Err(e) => failures.push(format!("task failed (panic: {}): {e}", e.is_panic())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
