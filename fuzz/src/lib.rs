//! Fixtures shared by the fuzz targets: one issuer, audience, fixed clock and static key set,
//! and a deterministic Ed25519 key that signs fuzzer-made headers and payloads so the claim
//! checks behind the signature are reachable.

use std::borrow::Borrow;
use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

use a2a_guard::jwk::KeySet;
use a2a_guard::{AuthError, Principal, Validator};
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};

/// The only trusted issuer.
pub const ISSUER: &str = "https://issuer.fuzz.example";
/// The only accepted audience.
pub const AUDIENCE: &str = "fuzz-api";
/// The validator's fixed clock: 2027-01-15T10:00:00Z, a Friday, inside [`BUSINESS_HOURS`].
/// Seed tokens are minted around it, so they stay valid however old the corpus gets.
pub const NOW: i64 = 1_800_007_200;
/// Leeway of the validator, seconds.
pub const LEEWAY: i64 = 30;
/// Lifetime cap of the validator, seconds.
pub const MAX_LIFETIME: i64 = 3600;
/// The business hours of `temporal:business-hours`.
pub const BUSINESS_HOURS: &str = "Mon-Fri 09:00-17:00 Europe/Berlin";
/// The kid of the deterministic Ed25519 key.
pub const KID: &str = "fuzz-ed25519";
/// Seed of the deterministic Ed25519 key (public knowledge: it only signs fuzz inputs).
const SEED: &[u8; 32] = b"a2a-guard fuzz fixed ed25519 key";
/// Public keys of the seed tokens (RS256, PS256, ES256, ES384, EdDSA from `TestIssuer`),
/// written by `examples/write_seeds.rs`.
pub const SEED_JWKS: &str = include_str!("../seeds/keys.json");

/// Separates header and payload in a signed-mode input of the `token` target.
pub const SIGNED_MODE_SEPARATOR: u8 = 0;

/// The deterministic Ed25519 key.
pub fn ed25519() -> &'static Ed25519KeyPair {
    static KEY: OnceLock<Ed25519KeyPair> = OnceLock::new();
    KEY.get_or_init(|| Ed25519KeyPair::from_seed_unchecked(SEED).expect("32-byte seed"))
}

/// The key set the validator trusts: the seed tokens' keys plus the deterministic key.
pub fn jwks() -> Value {
    with_fixed_key(serde_json::from_str(SEED_JWKS).expect("seeds/keys.json is JSON"))
}

/// `doc` (a JWK Set) with the deterministic key's public JWK added.
pub fn with_fixed_key(mut doc: Value) -> Value {
    let fixed = json!({
        "kty": "OKP", "crv": "Ed25519", "kid": KID, "alg": "EdDSA", "use": "sig",
        "x": B64.encode(ed25519().public_key().as_ref()),
    });
    if let Some(keys) = doc.get_mut("keys").and_then(Value::as_array_mut) {
        keys.push(fixed);
    }
    doc
}

/// `b64(header).b64(payload).b64(Ed25519 signature)`: whatever the header says, the
/// signature is the deterministic key's over exactly these bytes.
pub fn sign(header: &[u8], payload: &[u8]) -> String {
    let input = format!("{}.{}", B64.encode(header), B64.encode(payload));
    let sig = ed25519().sign(input.as_bytes());
    format!("{input}.{}", B64.encode(sig.as_ref()))
}

/// A validator with static keys and a fixed clock, and the runtime to drive it.
pub struct Fixture {
    runtime: tokio::runtime::Runtime,
    validator: Validator,
}

impl Fixture {
    /// `Validator::validate`, driven to completion (static keys: no I/O happens).
    pub fn validate(&self, token: &str) -> Result<impl Borrow<Principal> + use<>, AuthError> {
        self.runtime.block_on(self.validator.validate(token))
    }
}

/// Built once per process, trusting [`jwks`].
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| Fixture::new(&jwks()))
}

impl Fixture {
    /// The fuzz validator trusting this JWK Set. Must not be called inside a tokio runtime.
    pub fn new(jwks: &Value) -> Fixture {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let keys = KeySet::from_value(jwks).expect("key set");
        let validator = runtime
            .block_on(
                Validator::builder()
                    .issuer_keys(ISSUER, keys)
                    .audience(AUDIENCE)
                    .clock(|| UNIX_EPOCH + Duration::from_secs(NOW as u64))
                    .leeway(Duration::from_secs(LEEWAY as u64))
                    .max_token_lifetime(Duration::from_secs(MAX_LIFETIME as u64))
                    .business_hours(BUSINESS_HOURS.parse().expect("business hours"))
                    .build(),
            )
            .expect("validator");
        Fixture { runtime, validator }
    }
}

/// The decoded JSON of a token's first segment, if it is one.
pub fn header_of(token: &str) -> Option<Value> {
    let h = token.split('.').next()?;
    serde_json::from_slice(&B64.decode(h).ok()?).ok()
}
