//! [`ClientKey`]: this agent's private key, for `private_key_jwt` client authentication
//! (RFC 7523 §2.2, RFC 7521 §4.2). Read from a PEM file (re-read when the file changes, so a
//! rotated key is used without a restart) or given in code; never printed.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaEncoding, RsaKeyPair,
    RsaPublicKeyComponents,
};
use base64::Engine as _;
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject as _;
use secrecy::SecretString;
use serde_json::{Value, json};

use super::ClientError;
use super::credentials::{Secret, expose};
use crate::{Algorithm, KeyKind};

/// The lifetime of one client assertion: short, so a captured one is soon useless (RFC 7523
/// §3 asks for an `exp`; the authorization server also refuses a reused `jti`).
pub const ASSERTION_LIFETIME: std::time::Duration = std::time::Duration::from_secs(60);

/// The `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
pub(crate) const JWT_BEARER_ASSERTION: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// This agent's private signing key for `private_key_jwt` client authentication. `Debug`
/// never shows key material.
///
/// PEM in any of the usual forms: PKCS#8 (`BEGIN PRIVATE KEY`), PKCS#1 (`BEGIN RSA PRIVATE
/// KEY`) or SEC1 (`BEGIN EC PRIVATE KEY`); RSA of 2048 bits or more, P-256, P-384 or Ed25519.
/// The algorithm follows from the key (`RS256`, `ES256`, `ES384`, `EdDSA`) unless set with
/// [`ClientKey::alg`] (e.g. `PS256` for an RSA key).
///
/// ```
/// use a2a_guard::client::ClientKey;
/// let key = ClientKey::pem_file("/run/secrets/agent-key.pem") // re-read when it changes
///     .kid("agent-2026-12");
/// assert!(!format!("{key:?}").contains("PRIVATE"));
/// // A PEM that is not a key is an error when the key is first used, never a panic:
/// assert!(ClientKey::pem("not a key").public_jwk().is_err());
/// ```
#[derive(Clone)]
pub struct ClientKey {
    pem: Arc<Secret>,
    kid: Option<String>,
    alg: Option<Algorithm>,
    /// The last PEM read (its SHA-256) and the key parsed from it.
    parsed: Arc<Mutex<Option<Parsed>>>,
}

/// A PEM's SHA-256 and the key parsed from it.
type Parsed = ([u8; 32], Arc<Signer>);

impl std::fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientKey")
            .field("pem", &self.pem)
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl ClientKey {
    /// A PEM private key given in code (tests, or read by the caller from a vault).
    pub fn pem(pem: impl Into<String>) -> Self {
        Self::from_secret(Secret::new(pem))
    }

    /// A PEM private key read from a file, re-read whenever its modification time or length
    /// changes: rotate the key by replacing the file (register the new public key with the
    /// authorization server first). At most 64 KiB.
    pub fn pem_file(path: impl Into<std::path::PathBuf>) -> Self {
        Self::from_secret(Secret::file(path))
    }

    /// A fresh key held in memory only (and gone with the process): what a DPoP key usually
    /// is (RFC 9449 §2: the client's key, not registered anywhere). `ES256` (P-256),
    /// `ES384`, `EdDSA` (Ed25519), or an RSA algorithm (2048 bits).
    ///
    /// ```
    /// use a2a_guard::{Algorithm, client::ClientKey};
    /// let key = ClientKey::generate(Algorithm::ES256)?;
    /// assert_eq!(key.thumbprint()?.len(), 43); // RFC 7638, base64url SHA-256
    /// # Ok::<(), a2a_guard::client::ClientError>(())
    /// ```
    pub fn generate(alg: Algorithm) -> Result<Self, ClientError> {
        use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
        let failed = |_| ClientError::Key("key generation failed");
        let der: Vec<u8> = match alg.key_kind() {
            KeyKind::Rsa => {
                let pair =
                    RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).map_err(failed)?;
                AsDer::<Pkcs8V1Der>::as_der(&pair)
                    .map_err(failed)?
                    .as_ref()
                    .to_vec()
            }
            KeyKind::EcP256 => EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)
                .map_err(failed)?
                .to_pkcs8v1()
                .map_err(failed)?
                .as_ref()
                .to_vec(),
            KeyKind::EcP384 => EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_FIXED_SIGNING)
                .map_err(failed)?
                .to_pkcs8v1()
                .map_err(failed)?
                .as_ref()
                .to_vec(),
            KeyKind::Ed25519 => Ed25519KeyPair::generate()
                .map_err(failed)?
                .to_pkcs8()
                .map_err(failed)?
                .as_ref()
                .to_vec(),
        };
        let b64 = SecretString::from(base64::engine::general_purpose::STANDARD.encode(&der));
        // Zero the DER copy too.
        let _ = SecretString::from(String::from_utf8_lossy(&der).into_owned());
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            expose(&b64)
        );
        Ok(Self::pem(pem).alg(alg))
    }

    /// The RFC 7638 JWK thumbprint of the public key: what a DPoP-bound token's `cnf.jkt`
    /// names.
    pub fn thumbprint(&self) -> Result<String, ClientError> {
        crate::pop::jwk_thumbprint(&self.signer()?.public_jwk())
            .ok_or(ClientError::Key("no thumbprint for this key"))
    }

    fn from_secret(pem: Secret) -> Self {
        ClientKey {
            pem: Arc::new(pem),
            kid: None,
            alg: None,
            parsed: Arc::new(Mutex::new(None)),
        }
    }

    /// The `kid` put in the assertion's header, for an authorization server that holds
    /// several keys of this client. Without it, no `kid` is sent.
    pub fn kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// The signing algorithm, when the key's default is not wanted: `PS256`/`PS384`/`PS512`
    /// or `RS384`/`RS512` for an RSA key. An algorithm the key cannot produce is an error
    /// when the key is used.
    pub fn alg(mut self, alg: Algorithm) -> Self {
        self.alg = Some(alg);
        // A parse under another algorithm must not be reused.
        self.parsed = Arc::new(Mutex::new(None));
        self
    }

    /// The public key as a JWK (RFC 7517) with `alg`, `use: "sig"` and `kid` when set: what
    /// to register with the authorization server (its `jwks` for this client).
    ///
    /// ```
    /// # use a2a_guard::client::ClientKey;
    /// # let pem = a2a_guard::testing::SigningKey::generate(a2a_guard::Algorithm::ES256).to_pem().unwrap();
    /// let jwk = ClientKey::pem(pem).kid("k1").public_jwk()?;
    /// assert_eq!(jwk["kty"], "EC");
    /// assert_eq!(jwk["alg"], "ES256");
    /// assert!(jwk.get("d").is_none());
    /// # Ok::<(), a2a_guard::client::ClientError>(())
    /// ```
    pub fn public_jwk(&self) -> Result<Value, ClientError> {
        let signer = self.signer()?;
        let mut jwk = signer.public_jwk();
        if let Value::Object(map) = &mut jwk {
            if let Some(kid) = &self.kid {
                map.insert("kid".into(), kid.clone().into());
            }
            map.insert("use".into(), "sig".into());
            map.insert("alg".into(), signer.alg.as_str().into());
        }
        Ok(jwk)
    }

    /// The current key, parsed again only when the PEM changed.
    pub(crate) fn signer(&self) -> Result<Arc<Signer>, ClientError> {
        let pem = self.pem.current().map_err(|e| match e {
            ClientError::Secret(why) => ClientError::Key(why),
            other => other,
        })?;
        let digest: [u8; 32] =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, expose(&pem).as_bytes())
                .as_ref()
                .try_into()
                .unwrap_or([0; 32]);
        let mut parsed = self
            .parsed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((d, signer)) = &*parsed
            && *d == digest
        {
            return Ok(signer.clone());
        }
        let signer = Arc::new(Signer::from_pem(&pem, self.alg)?);
        *parsed = Some((digest, signer.clone()));
        Ok(signer)
    }

    /// A fresh client assertion (RFC 7523 §3): `iss` = `sub` = the client ID, `aud` = the
    /// authorization server's issuer identifier, a random `jti`, `iat`, and `exp`
    /// [`ASSERTION_LIFETIME`] later.
    pub(crate) fn assertion(
        &self,
        client_id: &str,
        audience: &str,
        now: SystemTime,
    ) -> Result<SecretString, ClientError> {
        let signer = self.signer()?;
        let iat = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let claims = json!({
            "iss": client_id,
            "sub": client_id,
            "aud": audience,
            "jti": random_id(),
            "iat": iat,
            "exp": iat + ASSERTION_LIFETIME.as_secs(),
        });
        let mut header = json!({"alg": signer.alg.as_str(), "typ": "JWT"});
        if let Some(kid) = &self.kid {
            header["kid"] = kid.clone().into();
        }
        signer.jws(&header, &claims).map(SecretString::from)
    }
}

/// A parsed private key and the algorithm it signs with.
pub(crate) struct Signer {
    pub(crate) alg: Algorithm,
    material: Material,
}

enum Material {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

impl Signer {
    fn from_pem(pem: &SecretString, alg: Option<Algorithm>) -> Result<Signer, ClientError> {
        let der = PrivateKeyDer::from_pem_slice(expose(pem).as_bytes())
            .map_err(|_| ClientError::Key("no PEM private key (PKCS#8, PKCS#1 or SEC1) found"))?;
        let material = match &der {
            PrivateKeyDer::Pkcs1(k) => Material::Rsa(
                RsaKeyPair::from_der(k.secret_pkcs1_der()).map_err(|_| rsa_rejected())?,
            ),
            PrivateKeyDer::Sec1(k) => ec(k.secret_sec1_der())?,
            PrivateKeyDer::Pkcs8(k) => {
                let der = k.secret_pkcs8_der();
                if let Ok(pair) = RsaKeyPair::from_pkcs8(der) {
                    Material::Rsa(pair)
                } else if let Ok(pair) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
                    Material::Ed25519(pair)
                } else {
                    ec(der)?
                }
            }
            _ => return Err(ClientError::Key("unsupported private key format")),
        };
        let kind = match &material {
            Material::Rsa(_) => KeyKind::Rsa,
            Material::Ec(pair) if pair.public_key().as_ref().len() == 97 => KeyKind::EcP384,
            Material::Ec(_) => KeyKind::EcP256,
            Material::Ed25519(_) => KeyKind::Ed25519,
        };
        let alg = match (alg, kind) {
            (Some(a), k) if a.key_kind() == k => a,
            (Some(_), _) => {
                return Err(ClientError::Key("the configured alg does not fit the key"));
            }
            (None, KeyKind::Rsa) => Algorithm::RS256,
            (None, KeyKind::EcP256) => Algorithm::ES256,
            (None, KeyKind::EcP384) => Algorithm::ES384,
            (None, KeyKind::Ed25519) => Algorithm::EdDSA,
        };
        Ok(Signer { alg, material })
    }

    /// The public JWK: `kty` and its members only.
    pub(crate) fn public_jwk(&self) -> Value {
        match &self.material {
            Material::Rsa(pair) => {
                let parts = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
                json!({"kty": "RSA", "n": b64url(&parts.n), "e": b64url(&parts.e)})
            }
            Material::Ec(pair) => {
                // Uncompressed SEC1 point: 0x04 || x || y.
                let point = pair.public_key().as_ref();
                let (x, y) = point
                    .get(1..)
                    .unwrap_or_default()
                    .split_at((point.len().saturating_sub(1)) / 2);
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
        }
    }

    /// A compact JWS of `claims` under `header`.
    pub(crate) fn jws(&self, header: &Value, claims: &Value) -> Result<String, ClientError> {
        let input = format!(
            "{}.{}",
            b64url(header.to_string()),
            b64url(claims.to_string())
        );
        let sig = self.sign(input.as_bytes())?;
        Ok(format!("{input}.{}", b64url(sig)))
    }

    fn sign(&self, input: &[u8]) -> Result<Vec<u8>, ClientError> {
        let failed = || ClientError::Key("signing failed");
        match &self.material {
            Material::Rsa(pair) => {
                let encoding: &'static dyn RsaEncoding = match self.alg {
                    Algorithm::RS256 => &signature::RSA_PKCS1_SHA256,
                    Algorithm::RS384 => &signature::RSA_PKCS1_SHA384,
                    Algorithm::RS512 => &signature::RSA_PKCS1_SHA512,
                    Algorithm::PS256 => &signature::RSA_PSS_SHA256,
                    Algorithm::PS384 => &signature::RSA_PSS_SHA384,
                    Algorithm::PS512 => &signature::RSA_PSS_SHA512,
                    _ => return Err(failed()),
                };
                let mut sig = vec![0u8; pair.public_modulus_len()];
                pair.sign(encoding, &SystemRandom::new(), input, &mut sig)
                    .map_err(|_| failed())?;
                Ok(sig)
            }
            Material::Ec(pair) => pair
                .sign(&SystemRandom::new(), input)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| failed()),
            Material::Ed25519(pair) => Ok(pair.sign(input).as_ref().to_vec()),
        }
    }
}

fn ec(der: &[u8]) -> Result<Material, ClientError> {
    EcdsaKeyPair::from_private_key_der(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der)
        .or_else(|_| {
            EcdsaKeyPair::from_private_key_der(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, der)
        })
        .map(Material::Ec)
        .map_err(|_| {
            ClientError::Key("not an RSA (2048 bits or more), P-256, P-384 or Ed25519 key")
        })
}

fn rsa_rejected() -> ClientError {
    ClientError::Key("RSA key rejected (at least 2048 bits are required)")
}

fn b64url(bytes: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// 128 random bits, base64url: an assertion's `jti`.
fn random_id() -> String {
    let mut b = [0u8; 16];
    let _ = aws_lc_rs::rand::fill(&mut b);
    b64url(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::SigningKey;

    #[test]
    fn every_key_type_signs_assertions_its_public_jwk_verifies() {
        for alg in [
            Algorithm::RS256,
            Algorithm::PS256,
            Algorithm::ES256,
            Algorithm::ES384,
            Algorithm::EdDSA,
        ] {
            let pem = SigningKey::generate(alg).to_pem().unwrap();
            let key = ClientKey::pem(pem).alg(alg).kid("k");
            let jwk = key.public_jwk().unwrap();
            let a = key
                .assertion("agent", "https://as.example", SystemTime::now())
                .unwrap();
            let parts: Vec<&str> = expose(&a).split('.').collect();
            let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(parts[2])
                .unwrap();
            let input = format!("{}.{}", parts[0], parts[1]);
            assert!(
                crate::jwk::VerifyingKey::from_jwk(&jwk).unwrap().verify(
                    alg,
                    input.as_bytes(),
                    &sig
                ),
                "{alg}"
            );
            let claims: Value = serde_json::from_slice(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(parts[1])
                    .unwrap(),
            )
            .unwrap();
            assert_eq!(claims["iss"], "agent");
            assert_eq!(claims["sub"], "agent");
            assert_eq!(claims["aud"], "https://as.example");
            assert_eq!(
                claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
                60
            );
        }
    }

    #[test]
    fn each_assertion_has_a_fresh_jti() {
        let key = ClientKey::pem(SigningKey::generate(Algorithm::ES256).to_pem().unwrap());
        let jti = |a: SecretString| {
            let p = expose(&a).split('.').nth(1).unwrap().to_owned();
            let v: Value = serde_json::from_slice(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(p)
                    .unwrap(),
            )
            .unwrap();
            v["jti"].as_str().unwrap().to_owned()
        };
        let now = SystemTime::now();
        assert_ne!(
            jti(key.assertion("a", "b", now).unwrap()),
            jti(key.assertion("a", "b", now).unwrap())
        );
    }

    #[test]
    fn bad_keys_are_typed_errors() {
        assert!(matches!(
            ClientKey::pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----")
                .public_jwk(),
            Err(ClientError::Key(_))
        ));
        let ec = SigningKey::generate(Algorithm::ES256).to_pem().unwrap();
        assert!(matches!(
            ClientKey::pem(ec).alg(Algorithm::RS256).public_jwk(),
            Err(ClientError::Key(_))
        ));
        assert!(matches!(
            ClientKey::pem_file("/nonexistent/key.pem").public_jwk(),
            Err(ClientError::Key(_))
        ));
    }
}
