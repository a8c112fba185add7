//! DPoP keys and proofs (RFC 9449) for tests: bind tokens to a key and sign proofs, good
//! or hostile.

use std::time::Duration;

use aws_lc_rs::digest;
use serde_json::{Map, Value};

use super::{SigningKey, b64url, now_unix, random_hex};
use crate::Algorithm;

/// A client's DPoP key pair.
///
/// ```
/// use a2a_guard::testing::DpopKey;
/// use a2a_guard::Algorithm;
/// let key = DpopKey::generate(Algorithm::ES256);
/// let proof = key.proof("GET", "https://api.example.com/data").access_token("eyJ...").sign();
/// assert_eq!(proof.split('.').count(), 3);
/// ```
#[derive(Clone, Debug)]
pub struct DpopKey {
    key: SigningKey,
}

impl DpopKey {
    /// A fresh key for `alg`.
    pub fn generate(alg: Algorithm) -> DpopKey {
        DpopKey {
            key: SigningKey::generate(alg),
        }
    }

    /// The public JWK that goes into proofs (`kty` and key members only).
    pub fn public_jwk(&self) -> Value {
        let mut jwk = self.key.public_jwk();
        if let Some(o) = jwk.as_object_mut() {
            o.retain(|k, _| matches!(k.as_str(), "kty" | "crv" | "x" | "y" | "n" | "e"));
        }
        jwk
    }

    /// The RFC 7638 thumbprint, the value of `cnf.jkt`.
    pub fn thumbprint(&self) -> String {
        crate::pop::jwk_thumbprint(&self.public_jwk()).unwrap_or_default()
    }

    /// Start a proof for `method` and `url` (`htm`, `htu`), with a fresh `jti` and `iat` now.
    pub fn proof(&self, method: &str, url: &str) -> ProofBuilder {
        let mut header = Map::new();
        header.insert("typ".into(), "dpop+jwt".into());
        header.insert("alg".into(), self.key.alg().as_str().into());
        header.insert("jwk".into(), self.public_jwk());
        let mut claims = Map::new();
        claims.insert("jti".into(), random_hex(32).into());
        claims.insert("htm".into(), method.into());
        claims.insert("htu".into(), url.into());
        claims.insert("iat".into(), now_unix().into());
        ProofBuilder {
            key: self.key.clone(),
            header,
            claims,
        }
    }
}

/// A DPoP proof under construction; every member can be overridden for attack tests.
#[derive(Clone, Debug)]
#[must_use = "call .sign() to get the proof"]
pub struct ProofBuilder {
    key: SigningKey,
    header: Map<String, Value>,
    claims: Map<String, Value>,
}

impl ProofBuilder {
    /// Set `ath` to the base64url SHA-256 of `token` (required when presenting a token).
    pub fn access_token(self, token: &str) -> Self {
        let ath = b64url(digest::digest(&digest::SHA256, token.as_bytes()));
        self.claim("ath", ath)
    }

    /// Set a claim (`jti`, `iat`, `nonce`, `htm`, `htu`, …).
    pub fn claim(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.claims.insert(name.into(), value.into());
        self
    }

    /// Remove a claim.
    pub fn remove_claim(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    /// Set a header member (`typ`, `alg`, `jwk`, …).
    pub fn header(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.header.insert(name.into(), value.into());
        self
    }

    /// `iat` this long ago (negative durations are not expressible; use `claim("iat", …)`).
    pub fn issued_ago(self, ago: Duration) -> Self {
        let iat = now_unix() - i64::try_from(ago.as_secs()).unwrap_or(i64::MAX);
        self.claim("iat", iat)
    }

    /// The compact JWS.
    pub fn sign(self) -> String {
        let input = format!(
            "{}.{}",
            b64url(Value::Object(self.header).to_string()),
            b64url(Value::Object(self.claims).to_string())
        );
        let sig = self.key.sign(input.as_bytes());
        format!("{input}.{}", b64url(sig))
    }
}
