//! [`SigningKey`]: a freshly generated private key that signs JWS for one algorithm.

use super::{b64url, random_hex, weak_rsa};
use crate::{Algorithm, KeyKind};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaEncoding, RsaKeyPair,
    RsaPublicKeyComponents,
};
use serde_json::{Value, json};
use std::fmt;
use std::sync::Arc;

/// Why a [`SigningKey`] could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// [`SigningKey::generate_rsa`] was asked for a key of a non-RSA algorithm.
    #[error("{0} is not an RSA algorithm")]
    NotRsa(Algorithm),
    /// The RSA size is not one of 1024, 2048, 3072, 4096 or 8192 bits.
    #[error("unsupported RSA key size: {0} bits")]
    UnsupportedSize(usize),
    /// The fixed 1024-bit key signs `RS256`/`RS384`/`RS512` only.
    #[error("the 1024-bit test key cannot sign {0}")]
    WeakKeyAlgorithm(Algorithm),
    /// The crypto library failed to generate a key.
    #[error("key generation failed")]
    Generation,
}

enum Material {
    Rsa(RsaKeyPair),
    /// The fixed, publicly known 1024-bit key of `weak_rsa`.
    WeakRsa,
    Ec(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// A private signing key with a `kid`, for one JWS [`Algorithm`].
///
/// RSA keys are 2048 bits unless made with [`SigningKey::generate_rsa`]; `ES256` uses P-256,
/// `ES384` P-384, `EdDSA` Ed25519. ECDSA signatures are the fixed-width `r || s` JWS form
/// (RFC 7518 §3.4). Cloning is cheap and shares the key.
///
/// ```
/// use a2a_guard::Algorithm;
/// use a2a_guard::testing::SigningKey;
///
/// let key = SigningKey::generate(Algorithm::ES256).with_kid("ec-1");
/// assert_eq!(key.public_jwk()["crv"], "P-256");
/// assert_eq!(key.sign(b"header.payload").len(), 64);
/// // An RSA key can sign PS256 even though its JWK says RS256 (algorithm-confusion tests).
/// let rsa = SigningKey::generate(Algorithm::RS256);
/// assert!(rsa.sign_as(Algorithm::PS256, b"header.payload").is_some());
/// assert!(rsa.sign_as(Algorithm::ES256, b"header.payload").is_none());
/// ```
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    alg: Algorithm,
    material: Arc<Material>,
}

impl SigningKey {
    /// Generates a key for `alg` (RSA 2048 for `RS*`/`PS*`) with a random kid such as
    /// `ES256-1f3a9c0b`.
    ///
    /// # Panics
    /// Only if the system random number generator fails; [`SigningKey::try_generate`] reports
    /// that as an error instead.
    pub fn generate(alg: Algorithm) -> SigningKey {
        match Self::try_generate(alg) {
            Ok(key) => key,
            Err(e) => panic!("generating a {alg} test key failed: {e}"),
        }
    }

    /// Like [`SigningKey::generate`], reporting a key-generation failure as an error.
    ///
    /// ```
    /// # use a2a_guard::{Algorithm, testing::SigningKey};
    /// let key = SigningKey::try_generate(Algorithm::EdDSA)?;
    /// assert_eq!(key.public_jwk()["kty"], "OKP");
    /// # Ok::<(), a2a_guard::testing::KeyError>(())
    /// ```
    pub fn try_generate(alg: Algorithm) -> Result<SigningKey, KeyError> {
        let material = match alg.key_kind() {
            KeyKind::Rsa => return Self::generate_rsa(alg, 2048),
            KeyKind::EcP256 => Material::Ec(
                EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)
                    .map_err(|_| KeyError::Generation)?,
            ),
            KeyKind::EcP384 => Material::Ec(
                EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_FIXED_SIGNING)
                    .map_err(|_| KeyError::Generation)?,
            ),
            KeyKind::Ed25519 => {
                Material::Ed25519(Ed25519KeyPair::generate().map_err(|_| KeyError::Generation)?)
            }
        };
        Ok(Self::new(alg, material))
    }

    /// An RSA key of `bits` bits for the RSA algorithm `alg`.
    ///
    /// 2048, 3072, 4096 and 8192 bits are freshly generated. aws-lc-rs cannot generate or use
    /// RSA keys under 2048 bits, so `1024` returns a **fixed, publicly known** 1024-bit key
    /// (with a fresh random kid) that signs `RS256`, `RS384` and `RS512` only — exactly what
    /// a test of "reject keys under 2048 bits" (RFC 7518 §3.3) needs, and nothing else.
    ///
    /// ```
    /// # use a2a_guard::{Algorithm, testing::{KeyError, SigningKey}};
    /// let weak = SigningKey::generate_rsa(Algorithm::RS256, 1024)?;
    /// assert_eq!(weak.sign(b"x").len(), 128);
    /// assert_eq!(SigningKey::generate_rsa(Algorithm::PS256, 1024).err(),
    ///            Some(KeyError::WeakKeyAlgorithm(Algorithm::PS256)));
    /// assert!(SigningKey::generate_rsa(Algorithm::ES256, 2048).is_err());
    /// # Ok::<(), KeyError>(())
    /// ```
    pub fn generate_rsa(alg: Algorithm, bits: usize) -> Result<SigningKey, KeyError> {
        if alg.key_kind() != KeyKind::Rsa {
            return Err(KeyError::NotRsa(alg));
        }
        let size = match bits {
            1024 if weak_rsa::sign_pkcs1(alg, b"").is_some() => {
                return Ok(Self::new(alg, Material::WeakRsa));
            }
            1024 => return Err(KeyError::WeakKeyAlgorithm(alg)),
            2048 => KeySize::Rsa2048,
            3072 => KeySize::Rsa3072,
            4096 => KeySize::Rsa4096,
            8192 => KeySize::Rsa8192,
            other => return Err(KeyError::UnsupportedSize(other)),
        };
        let pair = RsaKeyPair::generate(size).map_err(|_| KeyError::Generation)?;
        Ok(Self::new(alg, Material::Rsa(pair)))
    }

    fn new(alg: Algorithm, material: Material) -> SigningKey {
        SigningKey {
            kid: format!("{alg}-{}", random_hex(8)),
            alg,
            material: Arc::new(material),
        }
    }

    /// The private key as PKCS#8 DER, for [`keys_file`](super::TestIssuerBuilder::keys_file);
    /// `None` for the fixed 1024-bit key (it is public anyway) or if encoding fails.
    pub(super) fn to_pkcs8(&self) -> Option<Vec<u8>> {
        use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
        match &*self.material {
            Material::Rsa(pair) => AsDer::<Pkcs8V1Der>::as_der(pair)
                .ok()
                .map(|d| d.as_ref().to_vec()),
            Material::WeakRsa => None,
            Material::Ec(pair) => pair.to_pkcs8v1().ok().map(|d| d.as_ref().to_vec()),
            Material::Ed25519(pair) => pair.to_pkcs8().ok().map(|d| d.as_ref().to_vec()),
        }
    }

    /// The private key as a PKCS#8 PEM (`BEGIN PRIVATE KEY`), e.g. for an agent under test
    /// that authenticates with `private_key_jwt` (`client::ClientKey::pem`). `None` for the
    /// fixed 1024-bit key.
    ///
    /// ```
    /// # use a2a_guard::{Algorithm, testing::SigningKey};
    /// let pem = SigningKey::generate(Algorithm::EdDSA).to_pem().unwrap();
    /// assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    /// ```
    pub fn to_pem(&self) -> Option<String> {
        use base64::Engine as _;
        let der = self.to_pkcs8()?;
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).ok()?);
            pem.push('\n');
        }
        pem.push_str("-----END PRIVATE KEY-----\n");
        Some(pem)
    }

    /// A key read back from [`to_pkcs8`](Self::to_pkcs8); `None` if `der` is not a key of
    /// `alg`'s type (an RSA key must be at least 2048 bits).
    pub(super) fn from_pkcs8(alg: Algorithm, kid: String, der: &[u8]) -> Option<SigningKey> {
        let material = match alg.key_kind() {
            KeyKind::Rsa => Material::Rsa(RsaKeyPair::from_pkcs8(der).ok()?),
            KeyKind::EcP256 => Material::Ec(
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der).ok()?,
            ),
            KeyKind::EcP384 => Material::Ec(
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, der).ok()?,
            ),
            KeyKind::Ed25519 => Material::Ed25519(Ed25519KeyPair::from_pkcs8(der).ok()?),
        };
        Some(SigningKey {
            kid,
            alg,
            material: Arc::new(material),
        })
    }

    /// The key id, published as the JWK's `kid` and put in token headers.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm this key signs with and advertises in its JWK.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The same key under another `kid` (e.g. to collide with a published key's kid).
    pub fn with_kid(mut self, kid: impl Into<String>) -> SigningKey {
        self.kid = kid.into();
        self
    }

    /// The RSA modulus size in bits, or `None` for a non-RSA key.
    pub fn rsa_bits(&self) -> Option<usize> {
        match &*self.material {
            Material::Rsa(pair) => Some(pair.public_modulus_len() * 8),
            Material::WeakRsa => Some(1024),
            Material::Ec(_) | Material::Ed25519(_) => None,
        }
    }

    /// The public key as a JWK (RFC 7517): `kty`, `kid`, `use: "sig"`, `alg`, and `n`/`e`
    /// (RSA), `crv`/`x`/`y` (EC, fixed-length coordinates) or `crv`/`x` (OKP Ed25519), all
    /// base64url without padding.
    pub fn public_jwk(&self) -> Value {
        let mut jwk = match &*self.material {
            Material::Rsa(pair) => {
                let parts = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
                json!({"kty": "RSA", "n": b64url(&parts.n), "e": b64url(&parts.e)})
            }
            Material::WeakRsa => json!({
                "kty": "RSA",
                "n": b64url(weak_rsa::modulus()),
                "e": b64url(weak_rsa::E),
            }),
            Material::Ec(pair) => {
                // Uncompressed SEC1 point: 0x04 || x || y, coordinates of equal fixed length.
                let point = pair.public_key().as_ref();
                let (x, y) = point
                    .get(1..)
                    .unwrap_or_default()
                    .split_at((point.len() - 1) / 2);
                let crv = if self.alg.key_kind() == KeyKind::EcP384 {
                    "P-384"
                } else {
                    "P-256"
                };
                json!({"kty": "EC", "crv": crv, "x": b64url(x), "y": b64url(y)})
            }
            Material::Ed25519(pair) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64url(pair.public_key().as_ref())})
            }
        };
        if let Value::Object(map) = &mut jwk {
            map.insert("kid".into(), Value::String(self.kid.clone()));
            map.insert("use".into(), Value::String("sig".into()));
            map.insert("alg".into(), Value::String(self.alg.as_str().into()));
        }
        jwk
    }

    /// The JWS signature over `signing_input` (`b64url(header).b64url(payload)`) for this key's
    /// algorithm: RSASSA-PKCS1-v1_5 for `RS*`, RSASSA-PSS for `PS*`, `r || s` for `ES*`,
    /// Ed25519 for `EdDSA`. Returns an empty signature in the (never observed) event that the
    /// crypto library fails.
    pub fn sign(&self, signing_input: &[u8]) -> Vec<u8> {
        self.sign_as(self.alg, signing_input).unwrap_or_default()
    }

    /// Signs with another algorithm of the same key type, e.g. an RSA key whose JWK says
    /// `RS256` signing `PS256` (algorithm-confusion tests). `None` if this key cannot produce
    /// `alg` signatures (another key type or curve, or PSS with the 1024-bit key).
    pub fn sign_as(&self, alg: Algorithm, signing_input: &[u8]) -> Option<Vec<u8>> {
        match &*self.material {
            Material::Rsa(pair) => {
                let encoding: &'static dyn RsaEncoding = match alg {
                    Algorithm::RS256 => &signature::RSA_PKCS1_SHA256,
                    Algorithm::RS384 => &signature::RSA_PKCS1_SHA384,
                    Algorithm::RS512 => &signature::RSA_PKCS1_SHA512,
                    Algorithm::PS256 => &signature::RSA_PSS_SHA256,
                    Algorithm::PS384 => &signature::RSA_PSS_SHA384,
                    Algorithm::PS512 => &signature::RSA_PSS_SHA512,
                    _ => return None,
                };
                let mut sig = vec![0u8; pair.public_modulus_len()];
                pair.sign(encoding, &SystemRandom::new(), signing_input, &mut sig)
                    .ok()?;
                Some(sig)
            }
            Material::WeakRsa => weak_rsa::sign_pkcs1(alg, signing_input),
            Material::Ec(pair) if alg == self.alg => pair
                .sign(&SystemRandom::new(), signing_input)
                .ok()
                .map(|sig| sig.as_ref().to_vec()),
            Material::Ed25519(pair) if alg == Algorithm::EdDSA => {
                Some(pair.sign(signing_input).as_ref().to_vec())
            }
            Material::Ec(_) | Material::Ed25519(_) => None,
        }
    }
}

impl fmt::Debug for SigningKey {
    /// Shows the kid, algorithm and key size; never private material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("rsa_bits", &self.rsa_bits())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use base64::Engine as _;
    use signature::{UnparsedPublicKey, VerificationAlgorithm};

    fn field(jwk: &Value, name: &str) -> Vec<u8> {
        let text = jwk[name]
            .as_str()
            .unwrap_or_else(|| panic!("JWK has no {name}"));
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .expect("base64url")
    }

    /// Verifies `sig` with a public key rebuilt from the published JWK only.
    pub(crate) fn verifies(jwk: &Value, alg: Algorithm, msg: &[u8], sig: &[u8]) -> bool {
        let ec = |v: &'static dyn VerificationAlgorithm| {
            let point = [vec![0x04], field(jwk, "x"), field(jwk, "y")].concat();
            UnparsedPublicKey::new(v, point).verify(msg, sig).is_ok()
        };
        let rsa = |p: &'static signature::RsaParameters| {
            let pk = RsaPublicKeyComponents {
                n: field(jwk, "n"),
                e: field(jwk, "e"),
            };
            pk.verify(p, msg, sig).is_ok()
        };
        match alg {
            Algorithm::RS256 => rsa(&signature::RSA_PKCS1_2048_8192_SHA256),
            Algorithm::RS384 => rsa(&signature::RSA_PKCS1_2048_8192_SHA384),
            Algorithm::RS512 => rsa(&signature::RSA_PKCS1_2048_8192_SHA512),
            Algorithm::PS256 => rsa(&signature::RSA_PSS_2048_8192_SHA256),
            Algorithm::PS384 => rsa(&signature::RSA_PSS_2048_8192_SHA384),
            Algorithm::PS512 => rsa(&signature::RSA_PSS_2048_8192_SHA512),
            Algorithm::ES256 => ec(&signature::ECDSA_P256_SHA256_FIXED),
            Algorithm::ES384 => ec(&signature::ECDSA_P384_SHA384_FIXED),
            Algorithm::EdDSA => UnparsedPublicKey::new(&signature::ED25519, field(jwk, "x"))
                .verify(msg, sig)
                .is_ok(),
        }
    }

    #[test]
    fn every_algorithm_signs_verifiably_under_its_published_jwk() {
        for alg in Algorithm::ALL {
            let key = SigningKey::generate(alg);
            let jwk = key.public_jwk();
            assert_eq!(jwk["alg"], alg.as_str());
            assert_eq!(jwk["kid"], key.kid());
            assert_eq!(jwk["use"], "sig");
            assert!(key.kid().starts_with(&format!("{alg}-")));
            let sig = key.sign(b"header.payload");
            assert!(
                verifies(&jwk, alg, b"header.payload", &sig),
                "{alg} must verify"
            );
            assert!(
                !verifies(&jwk, alg, b"header.payloaX", &sig),
                "{alg} must bind the input"
            );
        }
    }

    #[test]
    fn jwk_shapes_are_fixed_length() {
        let p256 = SigningKey::generate(Algorithm::ES256).public_jwk();
        assert_eq!((field(&p256, "x").len(), field(&p256, "y").len()), (32, 32));
        assert_eq!(
            (p256["kty"].as_str(), p256["crv"].as_str()),
            (Some("EC"), Some("P-256"))
        );
        let p384 = SigningKey::generate(Algorithm::ES384).public_jwk();
        assert_eq!((field(&p384, "x").len(), field(&p384, "y").len()), (48, 48));
        assert_eq!(p384["crv"], "P-384");
        let ed = SigningKey::generate(Algorithm::EdDSA).public_jwk();
        assert_eq!(
            (ed["kty"].as_str(), ed["crv"].as_str()),
            (Some("OKP"), Some("Ed25519"))
        );
        assert_eq!(field(&ed, "x").len(), 32);
        let rsa = SigningKey::generate(Algorithm::PS256).public_jwk();
        assert_eq!(field(&rsa, "n").len(), 256);
        assert_eq!(field(&rsa, "e"), vec![1, 0, 1]);
    }

    #[test]
    fn sign_as_crosses_rsa_paddings_but_not_key_types() {
        let key = SigningKey::generate(Algorithm::RS256);
        let jwk = key.public_jwk();
        let pss = key
            .sign_as(Algorithm::PS256, b"m")
            .expect("RSA key signs PS256");
        assert!(verifies(&jwk, Algorithm::PS256, b"m", &pss));
        assert!(!verifies(&jwk, Algorithm::RS256, b"m", &pss));
        assert!(key.sign_as(Algorithm::ES256, b"m").is_none());
        let ec = SigningKey::generate(Algorithm::ES256);
        assert!(ec.sign_as(Algorithm::ES384, b"m").is_none());
        assert!(ec.sign_as(Algorithm::RS256, b"m").is_none());
    }

    #[test]
    fn rsa_sizes() {
        let weak = SigningKey::generate_rsa(Algorithm::RS256, 1024).expect("fixed weak key");
        assert_eq!(weak.rsa_bits(), Some(1024));
        let jwk = weak.public_jwk();
        assert_eq!(field(&jwk, "n").len(), 128);
        let sig = weak.sign(b"m");
        // The modern verifier refuses it; the legacy one proves the signature itself is right.
        assert!(!verifies(&jwk, Algorithm::RS256, b"m", &sig));
        let legacy = RsaPublicKeyComponents {
            n: field(&jwk, "n"),
            e: field(&jwk, "e"),
        };
        let params = &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY;
        assert!(legacy.verify(params, b"m", &sig).is_ok());
        assert_ne!(
            weak.kid(),
            SigningKey::generate_rsa(Algorithm::RS256, 1024)
                .unwrap()
                .kid()
        );

        let big = SigningKey::generate_rsa(Algorithm::RS384, 3072).expect("3072");
        assert_eq!(big.rsa_bits(), Some(3072));
        assert!(verifies(
            &big.public_jwk(),
            Algorithm::RS384,
            b"m",
            &big.sign(b"m")
        ));
        assert_eq!(
            SigningKey::generate_rsa(Algorithm::RS256, 512).err(),
            Some(KeyError::UnsupportedSize(512))
        );
        assert_eq!(
            SigningKey::generate_rsa(Algorithm::EdDSA, 2048).err(),
            Some(KeyError::NotRsa(Algorithm::EdDSA))
        );
    }

    #[test]
    fn debug_shows_no_key_material() {
        let text = format!(
            "{:?}",
            SigningKey::generate(Algorithm::ES256).with_kid("k1")
        );
        assert_eq!(
            text,
            "SigningKey { kid: \"k1\", alg: ES256, rsa_bits: None, .. }"
        );
    }
}
