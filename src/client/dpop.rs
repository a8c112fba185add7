//! DPoP on the calling side (RFC 9449): proofs for the token endpoint and for resources,
//! with server nonces remembered per origin.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest;
use base64::Engine as _;
use http::{HeaderMap, HeaderValue, header};
use serde_json::json;

use super::ClientError;
use super::key::ClientKey;

/// The longest server nonce kept (RFC 9449 §8.1 sets no limit; real ones are short).
const MAX_NONCE: usize = 512;
/// Origins whose nonce is remembered at most (a resource cannot grow this without bound).
const MAX_ORIGINS: usize = 256;

/// Signs DPoP proofs with one key and remembers the nonces servers hand out.
pub(crate) struct Prover {
    pub(crate) key: ClientKey,
    nonces: Mutex<HashMap<String, String>>,
}

impl Prover {
    pub(crate) fn new(key: ClientKey) -> Self {
        Prover {
            key,
            nonces: Mutex::new(HashMap::new()),
        }
    }

    /// A proof for one request (RFC 9449 §4.2): `typ` `dpop+jwt`, the public key in `jwk`;
    /// `jti`, `htm`, `htu` (the URL without query and fragment), `iat`; `ath` (base64url
    /// SHA-256 of the access token) when presenting one; the origin's nonce when known.
    pub(crate) fn proof(
        &self,
        method: &str,
        url: &str,
        access_token: Option<&str>,
    ) -> Result<String, ClientError> {
        let mut u = url::Url::parse(url)
            .map_err(|_| ClientError::Dpop("a DPoP proof needs the request's absolute URL"))?;
        if !matches!(u.scheme(), "https" | "http") || u.host_str().is_none() {
            return Err(ClientError::Dpop(
                "a DPoP proof needs the request's absolute URL",
            ));
        }
        u.set_query(None);
        u.set_fragment(None);
        let signer = self.key.signer()?;
        let iat = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut claims = json!({
            "jti": random_id(),
            "htm": method,
            "htu": u.as_str(),
            "iat": iat,
        });
        if let Some(t) = access_token {
            claims["ath"] = b64url(digest::digest(&digest::SHA256, t.as_bytes())).into();
        }
        if let Some(n) = self.lock().get(&origin(&u)) {
            claims["nonce"] = n.clone().into();
        }
        let header = json!({
            "typ": "dpop+jwt",
            "alg": signer.alg.as_str(),
            "jwk": signer.public_jwk(),
        });
        signer.jws(&header, &claims)
    }

    /// Keep the `DPoP-Nonce` a server sent (on a refusal or with any answer, RFC 9449 §8.2)
    /// for its origin. Returns whether a new, well-formed nonce was stored.
    pub(crate) fn remember_nonce(&self, url: &str, headers: &HeaderMap) -> bool {
        let Some(nonce) = headers
            .get("dpop-nonce")
            .and_then(|v| v.to_str().ok())
            .filter(|n| is_nonce(n))
        else {
            return false;
        };
        let Ok(u) = url::Url::parse(url) else {
            return false;
        };
        let mut nonces = self.lock();
        let key = origin(&u);
        if nonces.get(&key).is_some_and(|n| n == nonce) {
            return false;
        }
        if nonces.len() >= MAX_ORIGINS && !nonces.contains_key(&key) {
            nonces.clear();
        }
        nonces.insert(key, nonce.to_owned());
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.nonces
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// RFC 9449 §8.1: `nonce = 1*NQCHAR` (%x21 / %x23-5B / %x5D-7E).
fn is_nonce(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= MAX_NONCE
        && n.bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5b | 0x5d..=0x7e))
}

fn origin(u: &url::Url) -> String {
    u.origin().ascii_serialization()
}

/// Whether a response asks for a (new) DPoP nonce: 400 `use_dpop_nonce` from a token endpoint
/// (RFC 9449 §8), or 401 with a `DPoP` challenge whose error is `use_dpop_nonce` from a
/// resource (§9).
pub(crate) fn asks_for_nonce(status: u16, headers: &HeaderMap, body: Option<&[u8]>) -> bool {
    if !headers.contains_key("dpop-nonce") {
        return false;
    }
    match status {
        400 => body.is_some_and(|b| {
            serde_json::from_slice::<serde_json::Value>(b)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
                .is_some_and(|e| e == "use_dpop_nonce")
        }),
        401 => headers.get_all(header::WWW_AUTHENTICATE).iter().any(|v| {
            v.to_str().is_ok_and(|s| {
                s.trim_start()
                    .get(..5)
                    .is_some_and(|p| p.eq_ignore_ascii_case("dpop "))
                    && s.contains("use_dpop_nonce")
            })
        }),
        _ => false,
    }
}

/// Set `Authorization` (and `DPoP` for a bound token) on an outgoing request, replacing
/// whatever the caller put there: an inbound token is never forwarded.
pub(crate) fn authorize(
    headers: &mut HeaderMap,
    token: &super::AccessToken,
    prover: Option<&Prover>,
    method: &str,
    url: &str,
) -> Result<(), ClientError> {
    headers.remove(header::AUTHORIZATION);
    headers.remove("dpop");
    let (scheme, proof) = match prover.filter(|_| token.is_dpop_bound()) {
        Some(p) => ("DPoP", Some(p.proof(method, url, Some(token.secret()))?)),
        None => ("Bearer", None),
    };
    let mut v = HeaderValue::try_from(format!("{scheme} {}", token.secret()))
        .map_err(|_| ClientError::InvalidResponse("token not usable in a header"))?;
    v.set_sensitive(true);
    headers.insert(header::AUTHORIZATION, v);
    if let Some(proof) = proof {
        let v = HeaderValue::try_from(proof)
            .map_err(|_| ClientError::Dpop("the proof is not usable in a header"))?;
        headers.insert("dpop", v);
    }
    Ok(())
}

fn b64url(bytes: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn random_id() -> String {
    let mut b = [0u8; 16];
    let _ = aws_lc_rs::rand::fill(&mut b);
    b64url(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Algorithm;

    #[test]
    fn nonces_are_kept_per_origin_and_checked() {
        let p = Prover::new(ClientKey::generate(Algorithm::ES256).unwrap());
        let mut h = HeaderMap::new();
        h.insert("dpop-nonce", HeaderValue::from_static("n-1"));
        assert!(p.remember_nonce("https://as.example/token?x=1", &h));
        assert!(!p.remember_nonce("https://as.example/other", &h));
        h.insert("dpop-nonce", HeaderValue::from_static("bad\"nonce"));
        assert!(!p.remember_nonce("https://as.example/token", &h));
        let proof = p.proof("POST", "https://as.example/token#f", None).unwrap();
        let claims: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(proof.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(claims["nonce"], "n-1");
        assert_eq!(claims["htu"], "https://as.example/token");
        assert!(claims.get("ath").is_none());
        let other = p
            .proof("GET", "https://rs.example/data?q=1", Some("tok"))
            .unwrap();
        let claims: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(other.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap();
        assert!(claims.get("nonce").is_none());
        assert_eq!(claims["htu"], "https://rs.example/data");
        assert_eq!(
            claims["ath"],
            b64url(digest::digest(&digest::SHA256, b"tok"))
        );
        assert!(p.proof("GET", "/relative", None).is_err());
    }
}
