//! JWK and JWK Set (RFC 7517) → verification keys, parsed once.
//!
//! Each usable key is turned into pre-parsed aws-lc-rs public keys at load time, one per
//! algorithm it may verify, so a request pays for the signature check and nothing else.
//! Keys that cannot be used — unknown `kty`/`crv`/`alg`, `use: enc`, `key_ops` without
//! `verify`, RSA under 2048 bits, malformed coordinates — are skipped with a `tracing`
//! warning; they never fail the whole set.
//!
//! ```
//! use a2a_guard::{Algorithm, jwk::KeySet};
//! let jwks = br#"{"keys":[
//!   {"kty":"OKP","crv":"Ed25519","kid":"ed1","alg":"EdDSA","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
//!   {"kty":"RSA","kid":"enc1","use":"enc","n":"AQAB","e":"AQAB"}
//! ]}"#;
//! let set = KeySet::from_json(jwks).unwrap();
//! assert_eq!(set.len(), 1); // the encryption key is skipped, not fatal
//! assert!(set.find(Some("ed1"), Algorithm::EdDSA).next().is_some());
//! assert!(set.find(Some("ed1"), Algorithm::ES256).next().is_none()); // key bound to its alg
//! ```

use std::sync::Arc;

use aws_lc_rs::signature::{self, ParsedPublicKey, RsaPublicKeyComponents};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::{Algorithm, KeyKind};

/// The smallest RSA modulus accepted, in bits (NIST SP 800-57; RFC 7518 §3.3 requires 2048).
pub const MIN_RSA_BITS: usize = 2048;

/// The most keys [`KeySet::find`] yields for one token, and so the most signature checks
/// one token can cost (a token without `kid` against an issuer with many keys of its type).
///
/// ```
/// assert_eq!(a2a_guard::jwk::MAX_KEYS_TRIED, 4);
/// ```
pub const MAX_KEYS_TRIED: usize = 4;

/// Why a JWK Set as a whole could not be read. Individual bad keys are skipped, not errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwkError {
    /// The document is not JSON, or not an object with a `keys` array.
    #[error("not a JWK Set: {0}")]
    NotAKeySet(&'static str),
}

/// SHA-256 of a key's SubjectPublicKeyInfo: identifies key material whatever its `kid`.
pub type Fingerprint = [u8; 32];

/// One verification key: a JWK's identity and its pre-parsed public key per algorithm.
pub struct VerifyingKey {
    kid: Option<Arc<str>>,
    fingerprint: Fingerprint,
    kind: KeyKind,
    alg: Option<Algorithm>,
    parsed: Vec<(Algorithm, ParsedPublicKey)>,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("kind", &self.kind)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl VerifyingKey {
    /// The key's `kid`, if the JWK had one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The key type.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The JWK's `alg`, if it pinned one.
    pub fn alg(&self) -> Option<Algorithm> {
        self.alg
    }

    /// SHA-256 of the public key (SubjectPublicKeyInfo DER).
    pub fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }

    /// Whether this key may verify tokens signed with `alg`: the key type must fit, and a JWK
    /// that names an `alg` is bound to it (RFC 8725 §3.1: no algorithm substitution).
    pub fn supports(&self, alg: Algorithm) -> bool {
        self.parsed.iter().any(|(a, _)| *a == alg)
    }

    /// Verify `signature` over `message` with `alg`. `false` when the key cannot do `alg`.
    pub fn verify(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        self.parsed
            .iter()
            .find(|(a, _)| *a == alg)
            .is_some_and(|(_, key)| key.verify_sig(message, signature).is_ok())
    }

    /// Parse one JWK. `Err` carries a reason suitable for a log line (no key material).
    pub fn from_jwk(jwk: &Value) -> Result<VerifyingKey, &'static str> {
        let obj = jwk.as_object().ok_or("not a JSON object")?;
        let str_field = |name: &str| -> Result<Option<&str>, &'static str> {
            match obj.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.as_str())),
                Some(_) => Err("a member has the wrong JSON type"),
            }
        };
        let kid = str_field("kid")?.map(Arc::from);
        // RFC 7517 §4.2: `use` other than `sig` (e.g. `enc`) is not for verifying signatures.
        if let Some(u) = str_field("use")?
            && u != "sig"
        {
            return Err("`use` is not `sig`");
        }
        // RFC 7517 §4.3: when present, `key_ops` must allow `verify`.
        if let Some(ops) = obj.get("key_ops") {
            let ops = ops.as_array().ok_or("`key_ops` is not an array")?;
            if !ops.iter().any(|o| o.as_str() == Some("verify")) {
                return Err("`key_ops` does not allow `verify`");
            }
        }
        let alg = match str_field("alg")? {
            None => None,
            Some(a) => Some(a.parse::<Algorithm>().map_err(|_| "unsupported `alg`")?),
        };
        let kty = str_field("kty")?.ok_or("no `kty`")?;
        let b64 = |name: &str| -> Result<Vec<u8>, &'static str> {
            let s = str_field(name)?.ok_or("a required member is missing")?;
            URL_SAFE_NO_PAD
                .decode(s)
                .map_err(|_| "a member is not base64url")
        };
        const INVALID: &str = "the public key is invalid";
        let (kind, parsed): (KeyKind, Vec<(Algorithm, ParsedPublicKey)>) = match kty {
            "RSA" => {
                let n = b64("n")?;
                let e = b64("e")?;
                let n = strip_leading_zeros(&n);
                if bit_len(n) < MIN_RSA_BITS {
                    return Err("RSA modulus shorter than 2048 bits");
                }
                let e = strip_leading_zeros(&e);
                // Degenerate exponents: e = 1 makes the padded digest its own signature; an
                // even e is not an RSA key; a huge e is a CPU cost. Same bounds as ring
                // (3 <= e < 2^33, odd).
                if e.last().is_none_or(|b| b & 1 == 0) || bit_len(e) < 2 || bit_len(e) > 33 {
                    return Err("RSA public exponent out of range");
                }
                let comps = RsaPublicKeyComponents { n, e };
                let algs = [
                    (Algorithm::RS256, &signature::RSA_PKCS1_2048_8192_SHA256),
                    (Algorithm::RS384, &signature::RSA_PKCS1_2048_8192_SHA384),
                    (Algorithm::RS512, &signature::RSA_PKCS1_2048_8192_SHA512),
                    (Algorithm::PS256, &signature::RSA_PSS_2048_8192_SHA256),
                    (Algorithm::PS384, &signature::RSA_PSS_2048_8192_SHA384),
                    (Algorithm::PS512, &signature::RSA_PSS_2048_8192_SHA512),
                ];
                let list = algs
                    .into_iter()
                    .filter(|(a, _)| alg.is_none_or(|x| x == *a))
                    .map(|(a, params)| {
                        Ok((a, comps.to_parsed_public_key(params).map_err(|_| INVALID)?))
                    })
                    .collect::<Result<_, &'static str>>()?;
                (KeyKind::Rsa, list)
            }
            "EC" => {
                let (kind, a, len, params): (
                    _,
                    _,
                    _,
                    &'static signature::EcdsaVerificationAlgorithm,
                ) = match str_field("crv")? {
                    Some("P-256") => (
                        KeyKind::EcP256,
                        Algorithm::ES256,
                        32,
                        &signature::ECDSA_P256_SHA256_FIXED,
                    ),
                    Some("P-384") => (
                        KeyKind::EcP384,
                        Algorithm::ES384,
                        48,
                        &signature::ECDSA_P384_SHA384_FIXED,
                    ),
                    _ => return Err("unsupported EC `crv`"),
                };
                let (x, y) = (b64("x")?, b64("y")?);
                if x.len() != len || y.len() != len {
                    return Err("EC coordinates have the wrong length");
                }
                let mut point = Vec::with_capacity(1 + 2 * len);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                (
                    kind,
                    vec![(
                        a,
                        ParsedPublicKey::new(params, &point).map_err(|_| INVALID)?,
                    )],
                )
            }
            "OKP" => {
                if str_field("crv")? != Some("Ed25519") {
                    return Err("unsupported OKP `crv`");
                }
                let x = b64("x")?;
                if x.len() != 32 {
                    return Err("Ed25519 key has the wrong length");
                }
                if ed25519_small_order(&x) {
                    return Err("Ed25519 key is a small-order point");
                }
                (
                    KeyKind::Ed25519,
                    vec![(
                        Algorithm::EdDSA,
                        ParsedPublicKey::new(&signature::ED25519, &x).map_err(|_| INVALID)?,
                    )],
                )
            }
            _ => return Err("unsupported `kty`"),
        };
        if let Some(a) = alg
            && a.key_kind() != kind
        {
            return Err("`alg` does not fit the key type");
        }
        if parsed.is_empty() {
            return Err("the key can verify no supported algorithm");
        }
        let spki: &[u8] = parsed[0].1.as_ref();
        let mut fingerprint = [0u8; 32];
        fingerprint
            .copy_from_slice(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, spki).as_ref());
        Ok(VerifyingKey {
            kid,
            fingerprint,
            kind,
            alg,
            parsed,
        })
    }
}

/// Whether an encoded Ed25519 point has small order (1, 2, 4 or 8): the identity key accepts
/// the signature `R = identity, S = 0` over every message, and the others admit similar
/// universal forgeries. The encodings are libsodium's `has_small_order` list (canonical and
/// non-canonical forms; the sign bit is ignored).
fn ed25519_small_order(x: &[u8]) -> bool {
    const SMALL_ORDER: [[u8; 32]; 7] = [
        // 0 (order 4)
        [0; 32],
        // 1 (order 1, the identity)
        [
            1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0,
        ],
        // order 8
        [
            0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef,
            0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88,
            0x6d, 0x53, 0xfc, 0x05,
        ],
        // order 8
        [
            0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10,
            0x67, 0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77,
            0x92, 0xac, 0x03, 0x7a,
        ],
        // p - 1 (order 2)
        [
            0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0x7f,
        ],
        // p (non-canonical 0, order 4)
        [
            0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0x7f,
        ],
        // p + 1 (non-canonical 1, order 1)
        [
            0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0x7f,
        ],
    ];
    x.len() == 32
        && SMALL_ORDER
            .iter()
            .any(|p| p[..31] == x[..31] && p[31] == x[31] & 0x7f)
}

fn strip_leading_zeros(b: &[u8]) -> &[u8] {
    let i = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[i..]
}

fn bit_len(b: &[u8]) -> usize {
    match b.first() {
        None => 0,
        Some(&first) => b.len() * 8 - first.leading_zeros() as usize,
    }
}

/// A set of verification keys, as read from one JWK Set. Usually the key cache fetches it;
/// build one yourself for [`ValidatorBuilder::issuer_keys`](crate::ValidatorBuilder::issuer_keys)
/// (keys pinned in configuration) or to inspect a JWKS.
///
/// ```
/// use a2a_guard::{Algorithm, Validator, jwk::KeySet};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let set = KeySet::from_json(br#"{"keys":[
///   {"kty":"OKP","crv":"Ed25519","kid":"ed1","alg":"EdDSA","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
/// ]}"#)?;
/// assert_eq!(set.kids().collect::<Vec<_>>(), ["ed1"]);
/// assert_eq!(set.find(Some("ed1"), Algorithm::EdDSA).count(), 1);
/// let validator = Validator::builder()
///     .issuer_keys("https://auth.example.com", set) // no fetching: these keys only
///     .audience("agent-api")
///     .build()
///     .await?;
/// assert!(validator.is_ready());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: Vec<Arc<VerifyingKey>>,
}

impl KeySet {
    /// Parse a JWK Set document (`{"keys": [...]}`). Unusable keys are skipped with a warning.
    pub fn from_json(bytes: &[u8]) -> Result<KeySet, JwkError> {
        let doc: Value =
            serde_json::from_slice(bytes).map_err(|_| JwkError::NotAKeySet("invalid JSON"))?;
        KeySet::from_value(&doc)
    }

    /// Parse a JWK Set already read as JSON.
    pub fn from_value(doc: &Value) -> Result<KeySet, JwkError> {
        let keys = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(JwkError::NotAKeySet("no `keys` array"))?;
        let mut out = Vec::with_capacity(keys.len());
        for (i, jwk) in keys.iter().enumerate() {
            match VerifyingKey::from_jwk(jwk) {
                Ok(k) => out.push(Arc::new(k)),
                Err(reason) => {
                    let kid = jwk
                        .get("kid")
                        .and_then(Value::as_str)
                        .map(|k| truncate(k, 64));
                    tracing::warn!(target: "a2a_guard::keys", index = i, kid, reason, "skipping unusable JWK");
                }
            }
        }
        Ok(KeySet { keys: out })
    }

    /// The keys that may verify a token with this `kid` and `alg`, in JWK Set order: at
    /// most [`MAX_KEYS_TRIED`] of them.
    ///
    /// Only keys whose type fits `alg` and whose own `alg`, if any, is `alg` (RFC 8725 §3.1)
    /// are candidates. With a `kid`, only keys with exactly that `kid`; without one
    /// (RFC 7515 §4.1.4 makes `kid` optional) the first fitting keys, so a token without a
    /// `kid` costs at most [`MAX_KEYS_TRIED`] signature checks however many keys the issuer
    /// publishes. An issuer that omits `kid` should list its current key first.
    ///
    /// ```
    /// use a2a_guard::{Algorithm, jwk::{KeySet, MAX_KEYS_TRIED}};
    /// let x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
    /// let jwk = serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": x});
    /// let set = KeySet::from_value(&serde_json::json!({"keys": vec![jwk; 9]})).unwrap();
    /// assert_eq!(set.find(None, Algorithm::EdDSA).count(), MAX_KEYS_TRIED);
    /// assert_eq!(set.find(None, Algorithm::ES256).count(), 0);
    /// ```
    pub fn find<'a>(
        &'a self,
        kid: Option<&'a str>,
        alg: Algorithm,
    ) -> impl Iterator<Item = &'a Arc<VerifyingKey>> + 'a {
        self.keys
            .iter()
            .filter(move |k| kid.is_none_or(|kid| k.kid() == Some(kid)) && k.supports(alg))
            .take(MAX_KEYS_TRIED)
    }

    /// Whether the set still holds this key material.
    pub fn contains_fingerprint(&self, fp: &Fingerprint) -> bool {
        self.keys.iter().any(|k| k.fingerprint() == fp)
    }

    /// Whether any key has this `kid` (whatever its algorithm).
    pub fn contains_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid() == Some(kid))
    }

    /// The `kid`s in the set (keys without one are left out).
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().filter_map(|k| k.kid())
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set holds no usable key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Cut attacker-chosen strings before they reach a log line.
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // A real Ed25519 public key (RFC 8037 appendix A.2).
    const ED_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    #[test]
    fn one_bad_key_does_not_break_the_set() {
        let doc = json!({"keys": [
            {"kty": "RSA", "kid": "oaep", "alg": "RSA-OAEP", "n": "AQAB", "e": "AQAB"},
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            {"kty": "EC", "crv": "P-521", "kid": "p521", "x": "AA", "y": "AA"},
            {"kty": "OKP", "crv": "X25519", "kid": "x", "x": ED_X},
            {"kty": "OKP", "crv": "Ed25519", "kid": "sigkey", "x": ED_X, "use": "enc"},
            {"kty": "OKP", "crv": "Ed25519", "kid": "ops", "x": ED_X, "key_ops": ["encrypt"]},
            {"kty": "OKP", "crv": "Ed25519", "kid": "wrongalg", "x": ED_X, "alg": "ES256"},
            {"kty": "OKP", "crv": "Ed25519", "kid": "short", "x": "AAAA"},
            {"kty": "OKP", "crv": "Ed25519", "kid": 7, "x": ED_X},
            "not an object",
            {"kty": "OKP", "crv": "Ed25519", "kid": "good", "x": ED_X, "key_ops": ["verify"], "use": "sig"}
        ]});
        let set = KeySet::from_value(&doc).unwrap();
        assert_eq!(set.kids().collect::<Vec<_>>(), vec!["good"]);
    }

    #[test]
    fn small_rsa_is_refused() {
        // 1024-bit modulus of all 0xff bytes: parsed size check, not crypto, refuses it.
        let n = URL_SAFE_NO_PAD.encode([0xffu8; 128]);
        let doc = json!({"keys": [{"kty": "RSA", "kid": "small", "n": n, "e": "AQAB"}]});
        assert!(KeySet::from_value(&doc).unwrap().is_empty());
    }

    #[test]
    fn not_a_set_is_an_error() {
        assert!(KeySet::from_json(b"nope").is_err());
        assert!(KeySet::from_json(b"{}").is_err());
        assert!(KeySet::from_json(br#"{"keys": {}}"#).is_err());
        assert!(KeySet::from_json(br#"{"keys": []}"#).unwrap().is_empty());
    }

    #[test]
    fn bit_length() {
        assert_eq!(bit_len(&[0x01, 0x00]), 9);
        assert_eq!(bit_len(&[0x80]), 8);
        assert_eq!(bit_len(strip_leading_zeros(&[0, 0, 1])), 1);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_json_never_panics(s in ".{0,400}") {
            let _ = KeySet::from_json(s.as_bytes());
        }

        #[test]
        fn arbitrary_members_never_panic(kty in "(RSA|EC|OKP|oct|x)", crv in "(P-256|P-384|Ed25519|z)",
            n in "[A-Za-z0-9_-]{0,400}", e in "[A-Za-z0-9_-]{0,8}", x in "[A-Za-z0-9_-]{0,90}",
            y in "[A-Za-z0-9_-]{0,90}", alg in "(RS256|PS512|ES256|ES384|EdDSA|none|HS256)") {
            let doc = json!({"keys": [{"kty": kty, "crv": crv, "n": n, "e": e, "x": x, "y": y, "alg": alg}]});
            let _ = KeySet::from_value(&doc);
        }
    }
}
