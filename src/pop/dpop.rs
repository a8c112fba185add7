//! RFC 9449 DPoP proof verification at the resource server (§4.3, §7.1, §8).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::{digest, hmac};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use super::RequestRef;
use super::replay::{DEFAULT_REPLAY_CAPACITY, MemoryReplayStore, ReplayStore};
use crate::claims::parse_strict;
use crate::jwk::VerifyingKey;
use crate::{Algorithm, AuthError};

/// Default: a proof's `iat` may be this far in the past.
pub const DEFAULT_DPOP_IAT_BEHIND: Duration = Duration::from_secs(60);
/// Default: a proof's `iat` may be this far in the future (clock skew).
pub const DEFAULT_DPOP_IAT_AHEAD: Duration = Duration::from_secs(5);
/// Largest DPoP header accepted, in bytes.
pub const MAX_PROOF_SIZE: usize = 8 * 1024;
/// Server nonces rotate this often; the previous one stays valid for one more period.
const NONCE_PERIOD: u64 = 300;

/// JWK members that only a private key has (RFC 7518 §6): a proof's `jwk` must have none.
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "k"];

/// DPoP settings of the auth layer. Cheap to clone.
///
/// ```
/// use a2a_guard::pop::DpopConfig;
/// use a2a_guard::Algorithm;
/// use std::time::Duration;
/// let cfg = DpopConfig::new()
///     .external_url("https://agents.example.com")
///     .algorithms([Algorithm::ES256, Algorithm::EdDSA])
///     .iat_window(Duration::from_secs(30), Duration::from_secs(5))
///     .require_nonce();
/// ```
#[derive(Clone)]
pub struct DpopConfig {
    external_url: Option<url::Url>,
    algorithms: Vec<Algorithm>,
    algs_text: Arc<str>,
    behind: Duration,
    ahead: Duration,
    store: Arc<dyn ReplayStore>,
    nonce_key: Option<Arc<hmac::Key>>,
}

impl std::fmt::Debug for DpopConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopConfig")
            .field(
                "external_url",
                &self.external_url.as_ref().map(url::Url::as_str),
            )
            .field("algorithms", &self.algorithms)
            .field("nonce", &self.nonce_key.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for DpopConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl DpopConfig {
    /// Defaults: every asymmetric algorithm, `iat` window 60 s back / 5 s ahead, in-memory
    /// replay store, no server nonce, `htu` from the request (`Host`, `https`).
    pub fn new() -> Self {
        let window = DEFAULT_DPOP_IAT_BEHIND + DEFAULT_DPOP_IAT_AHEAD;
        DpopConfig {
            external_url: None,
            algorithms: Algorithm::ALL.to_vec(),
            algs_text: algs_text(&Algorithm::ALL),
            behind: DEFAULT_DPOP_IAT_BEHIND,
            ahead: DEFAULT_DPOP_IAT_AHEAD,
            store: Arc::new(MemoryReplayStore::new(DEFAULT_REPLAY_CAPACITY, window)),
            nonce_key: None,
        }
    }

    /// The URL clients reach this service at (scheme, host, port, optional path prefix).
    /// `htu` must equal it joined with the request path. Without it the URL is rebuilt from
    /// the request's `Host` with `https`. An unparseable URL is ignored.
    pub fn external_url(mut self, url: &str) -> Self {
        self.external_url = url::Url::parse(url).ok();
        self
    }

    /// Accepted proof algorithms (default: all of [`Algorithm::ALL`]).
    pub fn algorithms(mut self, algs: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algs.into_iter().collect();
        self.algs_text = algs_text(&self.algorithms);
        self
    }

    /// How far a proof's `iat` may lie in the past and in the future.
    pub fn iat_window(mut self, behind: Duration, ahead: Duration) -> Self {
        self.behind = behind;
        self.ahead = ahead;
        self
    }

    /// Where proof `jti`s are remembered (default: [`MemoryReplayStore`]). Use a shared store
    /// (e.g. `RedisReplayStore`) when several instances serve the same tokens.
    pub fn replay_store(mut self, store: impl ReplayStore) -> Self {
        self.store = Arc::new(store);
        self
    }

    /// Require server-issued nonces (RFC 9449 §8): a proof without the current nonce gets
    /// 401 `use_dpop_nonce` with a `DPoP-Nonce` header. Nonces are stateless (HMAC over a
    /// 5-minute period with a per-process key).
    pub fn require_nonce(mut self) -> Self {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        self.nonce_key = hmac::Key::generate(hmac::HMAC_SHA256, &rng)
            .ok()
            .map(Arc::new);
        self
    }

    /// The `algs` of `DPoP` challenges.
    pub fn algs(&self) -> &str {
        &self.algs_text
    }

    fn nonce_for(&self, key: &hmac::Key, period: u64) -> String {
        let tag = hmac::sign(key, &period.to_be_bytes());
        let mut raw = period.to_be_bytes().to_vec();
        raw.extend_from_slice(&tag.as_ref()[..16]);
        URL_SAFE_NO_PAD.encode(raw)
    }

    fn nonce_ok(&self, key: &hmac::Key, nonce: &str, now: u64) -> bool {
        let period = now / NONCE_PERIOD;
        [period, period.saturating_sub(1)]
            .iter()
            .any(|p| self.nonce_for(key, *p) == nonce)
    }

    /// Verify the request's single `DPoP` proof for `token`, bound to `jkt`.
    pub(crate) async fn verify(
        &self,
        jkt: &str,
        token: &str,
        parts: &RequestRef<'_>,
    ) -> Result<(), AuthError> {
        let bad = AuthError::InvalidDpopProof;
        let mut values = parts.headers.get_all("dpop").iter();
        let proof = match (values.next(), values.next()) {
            (Some(v), None) => v
                .to_str()
                .map_err(|_| bad("the DPoP header is not ASCII"))?,
            _ => return Err(bad("exactly one DPoP header is required")),
        };
        if proof.len() > MAX_PROOF_SIZE {
            return Err(bad("the proof is too large"));
        }
        let mut segs = proof.split('.');
        let (h, p, s) = match (segs.next(), segs.next(), segs.next(), segs.next()) {
            (Some(h), Some(p), Some(s), None) => (h, p, s),
            _ => return Err(bad("the proof is not a compact JWS")),
        };
        let json = |seg: &str| -> Result<Value, AuthError> {
            let bytes = URL_SAFE_NO_PAD
                .decode(seg)
                .map_err(|_| bad("a proof segment is not base64url"))?;
            parse_strict(&bytes).map_err(|_| bad("a proof segment is not valid JSON"))
        };
        let header = json(h)?;
        if header
            .get("typ")
            .and_then(Value::as_str)
            .is_none_or(|t| !t.eq_ignore_ascii_case("dpop+jwt"))
        {
            return Err(bad("typ must be dpop+jwt"));
        }
        let alg: Algorithm = header
            .get("alg")
            .and_then(Value::as_str)
            .and_then(|a| a.parse().ok())
            .filter(|a| self.algorithms.contains(a))
            .ok_or(bad("the proof algorithm is not accepted"))?;
        let jwk = header
            .get("jwk")
            .filter(|j| j.is_object())
            .ok_or(bad("the proof has no jwk"))?;
        if PRIVATE_MEMBERS.iter().any(|m| jwk.get(m).is_some()) {
            return Err(bad("the proof jwk contains a private key"));
        }
        let key = VerifyingKey::from_jwk(jwk)
            .map_err(|_| bad("the proof jwk is not a usable public key"))?;
        let sig = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| bad("the proof signature is not base64url"))?;
        if !key.verify(alg, &proof.as_bytes()[..h.len() + 1 + p.len()], &sig) {
            return Err(bad("the proof signature is invalid"));
        }
        let claims = json(p)?;
        let claim = |name: &str| claims.get(name).and_then(Value::as_str);
        let jti = claim("jti")
            .filter(|j| !j.is_empty() && j.len() <= 256)
            .ok_or(bad("the proof has no valid jti"))?;
        if claim("htm") != Some(parts.method.as_str()) {
            return Err(bad("htm does not match the request method"));
        }
        let expected = self
            .expected_htu(parts)
            .ok_or(bad("the request URL cannot be determined"))?;
        if claim("htu").and_then(normalize_htu).as_deref() != Some(expected.as_str()) {
            return Err(bad("htu does not match the request URL"));
        }
        // The validator's clock, so tests and the token's own checks agree on "now".
        let now = parts.now;
        let iat = claims
            .get("iat")
            .and_then(Value::as_f64)
            .ok_or(bad("the proof has no iat"))?;
        if !(iat >= now as f64 - self.behind.as_secs_f64()
            && iat <= now as f64 + self.ahead.as_secs_f64())
        {
            return Err(bad("iat is outside the accepted window"));
        }
        let ath = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, token.as_bytes()));
        if claim("ath") != Some(ath.as_str()) {
            return Err(bad("ath does not match the access token"));
        }
        if jwk_thumbprint(jwk).as_deref() != Some(jkt) {
            return Err(bad("the proof key does not match the token's cnf.jkt"));
        }
        if let Some(key) = &self.nonce_key
            && !claim("nonce").is_some_and(|n| self.nonce_ok(key, n, now))
        {
            return Err(AuthError::UseDpopNonce {
                nonce: self.nonce_for(key, now / NONCE_PERIOD),
            });
        }
        // Last: only a proof that passed every check consumes its jti.
        let window = self.behind + self.ahead;
        let replay_key = format!("dpop:{jkt}:{jti}");
        match self.store.first_use(&replay_key, window).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(bad("the proof was already used")),
            Err(e) => {
                tracing::warn!(target: "a2a_guard::dpop", error = %e, "replay store unavailable; refusing DPoP requests");
                Err(AuthError::ReplayStoreUnavailable)
            }
        }
    }

    fn expected_htu(&self, parts: &RequestRef<'_>) -> Option<String> {
        let url = match &self.external_url {
            Some(base) => {
                let mut u = base.clone();
                let prefix = u.path().trim_end_matches('/').to_owned();
                u.set_path(&format!("{prefix}{}", parts.uri.path()));
                u
            }
            None if parts.uri.scheme().is_some() => url::Url::parse(&parts.uri.to_string()).ok()?,
            None => {
                let host = parts.headers.get(http::header::HOST)?.to_str().ok()?;
                url::Url::parse(&format!("https://{host}{}", parts.uri.path())).ok()?
            }
        };
        normalize_htu(url.as_str())
    }
}

fn algs_text(algs: &[Algorithm]) -> Arc<str> {
    algs.iter()
        .map(|a| a.as_str())
        .collect::<Vec<_>>()
        .join(" ")
        .into()
}

/// RFC 9449 §4.3 (9): compare without query and fragment, after RFC 3986 §6.2.2–6.2.3
/// normalisation (case, default port, percent-encoding, empty path).
fn normalize_htu(s: &str) -> Option<String> {
    let mut u = url::Url::parse(s).ok()?;
    if !matches!(u.scheme(), "http" | "https") {
        return None;
    }
    u.set_query(None);
    u.set_fragment(None);
    Some(u.to_string())
}

/// The RFC 7638 JWK SHA-256 thumbprint (base64url): the required members in
/// lexicographic order, no whitespace.
///
/// ```
/// // RFC 7638 §3.1's example key.
/// let jwk = serde_json::json!({"kty":"RSA","e":"AQAB","alg":"RS256","kid":"2011-04-29",
///   "n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"});
/// assert_eq!(a2a_guard::pop::jwk_thumbprint(&jwk).unwrap(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
/// ```
pub fn jwk_thumbprint(jwk: &Value) -> Option<String> {
    let kty = jwk.get("kty")?.as_str()?;
    let members: &[&str] = match kty {
        "RSA" => &["e", "kty", "n"],
        "EC" => &["crv", "kty", "x", "y"],
        "OKP" => &["crv", "kty", "x"],
        _ => return None,
    };
    let mut m = BTreeMap::new();
    for name in members {
        m.insert(*name, jwk.get(*name)?.as_str()?);
    }
    let canonical = serde_json::to_string(&m).ok()?;
    Some(URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, canonical.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn htu_normalisation() {
        assert_eq!(
            normalize_htu("HTTPS://API.Example.com:443/a?q=1#f").unwrap(),
            "https://api.example.com/a"
        );
        assert_eq!(
            normalize_htu("https://api.example.com").unwrap(),
            "https://api.example.com/"
        );
        assert_eq!(
            normalize_htu("http://127.0.0.1:80/x").unwrap(),
            "http://127.0.0.1/x"
        );
        assert!(normalize_htu("ftp://x/y").is_none());
        assert_ne!(
            normalize_htu("https://api.example.com/a").unwrap(),
            normalize_htu("https://api.example.com/b").unwrap()
        );
    }

    #[test]
    fn nonces_rotate_and_are_verified() {
        let cfg = DpopConfig::new().require_nonce();
        let key = cfg.nonce_key.clone().unwrap();
        let n = cfg.nonce_for(&key, 1000 / NONCE_PERIOD);
        assert!(cfg.nonce_ok(&key, &n, 1000));
        assert!(
            cfg.nonce_ok(&key, &n, 1000 + NONCE_PERIOD),
            "previous period still valid"
        );
        assert!(!cfg.nonce_ok(&key, &n, 1000 + 2 * NONCE_PERIOD));
        assert!(!cfg.nonce_ok(&key, "forged", 1000));
    }
}
