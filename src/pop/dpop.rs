//! RFC 9449 DPoP proof verification at the resource server (§4.3, §7.1, §8).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::{digest, hmac};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use super::RequestRef;
use super::origin::{self, Origin, normalize_htu};
use super::replay::{MemoryReplayStore, ReplayStore};
use crate::claims::parse_strict;
use crate::jwk::VerifyingKey;
use crate::{Algorithm, AuthError, ConfigError};

/// Default: a proof's `iat` may be this far in the past.
pub const DEFAULT_DPOP_IAT_BEHIND: Duration = Duration::from_secs(60);
/// Default: a proof's `iat` may be this far in the future (clock skew).
pub const DEFAULT_DPOP_IAT_AHEAD: Duration = Duration::from_secs(5);
/// Largest DPoP header accepted, in bytes.
pub const MAX_PROOF_SIZE: usize = 8 * 1024;
/// Longest proof `jti` accepted, in bytes.
pub const MAX_JTI_LEN: usize = 256;
/// Largest RSA proof key accepted, in modulus bits: verifying with an 8192-bit key costs
/// about 10× a 2048-bit one, work a holder of a stolen token could make us do per request.
pub const MAX_PROOF_RSA_BITS: usize = 4096;
/// Shortest secret [`DpopConfig::require_nonce_with_secret`] accepts, in bytes (HMAC-SHA256
/// key strength, RFC 2104 §3).
pub const MIN_NONCE_SECRET_LEN: usize = 32;
/// Added to the replay retention: `iat` is compared in fractional seconds, the store counts
/// whole ones, so a proof accepted on the window's last second stays remembered through it.
const REPLAY_LEEWAY: Duration = Duration::from_secs(1);
/// Server nonces rotate this often; the previous one stays valid for one more period.
const NONCE_PERIOD: u64 = 300;

/// JWK members that only a private key has (RFC 7518 §6): a proof's `jwk` must have none.
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "k"];

/// How server nonces are keyed.
#[derive(Clone)]
enum NonceSetting {
    Off,
    /// A random key made when the layer is built: one instance only.
    PerProcess,
    /// A configured secret shared by the fleet.
    Shared(Arc<[u8]>),
}

/// DPoP settings of the auth layer. Cheap to clone. Checked by
/// [`AuthLayer::dpop`](crate::AuthLayer::dpop), which returns a [`ConfigError`] for any
/// mistake (no origin, a bad origin, a replay store that forgets too soon, a short nonce
/// secret).
///
/// The origins are the URLs clients sign (`htu`): a proof is accepted only for a configured
/// origin, selected by the request's `Host` / `:authority` (RFC 9449 §4.3 (9)). Without any
/// origin (the default of [`Validator::layer`](crate::Validator::layer)) every DPoP-bound
/// token is refused.
///
/// ```
/// # async fn demo(validator: a2a_guard::Validator) -> Result<(), a2a_guard::ConfigError> {
/// use a2a_guard::pop::DpopConfig;
/// use a2a_guard::Algorithm;
/// use std::time::Duration;
/// let cfg = DpopConfig::new()
///     .origin("https://agents.example.com")
///     .algorithms([Algorithm::ES256, Algorithm::EdDSA])
///     .iat_window(Duration::from_secs(30), Duration::from_secs(5))
///     .require_nonce();
/// let layer = validator.layer().dpop(cfg)?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct DpopConfig {
    /// As configured; parsed by [`DpopConfig::checked`].
    origins_raw: Vec<String>,
    origins: Arc<[Origin]>,
    algorithms: Vec<Algorithm>,
    algs_text: Arc<str>,
    behind: Duration,
    ahead: Duration,
    store: Arc<dyn ReplayStore>,
    nonce: NonceSetting,
    nonce_key: Option<Arc<hmac::Key>>,
}

impl std::fmt::Debug for DpopConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the nonce secret.
        f.debug_struct("DpopConfig")
            .field("origins", &self.origins_raw)
            .field("algorithms", &self.algorithms)
            .field("nonce", &!matches!(self.nonce, NonceSetting::Off))
            .finish_non_exhaustive()
    }
}

impl Default for DpopConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl DpopConfig {
    /// Defaults: no origin (DPoP-bound tokens are refused until one is set), every asymmetric
    /// algorithm, `iat` window [`DEFAULT_DPOP_IAT_BEHIND`] back / [`DEFAULT_DPOP_IAT_AHEAD`]
    /// ahead, a [`MemoryReplayStore`], no server nonce.
    ///
    /// ```
    /// let cfg = a2a_guard::pop::DpopConfig::new();
    /// assert_eq!(cfg.algs(), "RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 EdDSA");
    /// ```
    pub fn new() -> Self {
        DpopConfig {
            origins_raw: Vec::new(),
            origins: Arc::new([]),
            algorithms: Algorithm::ALL.to_vec(),
            algs_text: algs_text(&Algorithm::ALL),
            behind: DEFAULT_DPOP_IAT_BEHIND,
            ahead: DEFAULT_DPOP_IAT_AHEAD,
            store: Arc::new(MemoryReplayStore::new()),
            nonce: NonceSetting::Off,
            nonce_key: None,
        }
    }

    /// Add an origin clients reach this service at: scheme, host, port, optional path
    /// prefix (`https://agents.example.com`, `https://gw.example.com/agents`). A proof's
    /// `htu` must equal it joined with the request path. Call again (or use
    /// [`origins`](Self::origins)) for a service reachable under several names; the request's
    /// `Host` picks one, and a request for any other host fails DPoP. A proxy in front must
    /// preserve `Host` (or the request has none and exactly one origin is configured).
    /// Checked by [`AuthLayer::dpop`](crate::AuthLayer::dpop): a URL that is not
    /// http(s), has no host, or carries credentials, a query, a fragment or dot-segments
    /// is a [`ConfigError::InvalidUrl`].
    ///
    /// ```
    /// let cfg = a2a_guard::pop::DpopConfig::new().origin("https://agents.example.com");
    /// ```
    pub fn origin(mut self, url: &str) -> Self {
        self.origins_raw.push(url.to_owned());
        self
    }

    /// Add several origins; see [`origin`](Self::origin).
    ///
    /// ```
    /// let cfg = a2a_guard::pop::DpopConfig::new()
    ///     .origins(["https://agents.example.com", "https://agents.example.net"]);
    /// ```
    pub fn origins<S: AsRef<str>>(mut self, urls: impl IntoIterator<Item = S>) -> Self {
        self.origins_raw
            .extend(urls.into_iter().map(|u| u.as_ref().to_owned()));
        self
    }

    /// The former name of [`origin`](Self::origin). It used to fall back to the request's
    /// `Host` and ignore an unparseable URL; both now fail closed.
    ///
    /// ```
    /// #![allow(deprecated)]
    /// let cfg = a2a_guard::pop::DpopConfig::new().external_url("https://agents.example.com");
    /// ```
    #[deprecated(since = "0.2.0", note = "use `origin`, checked by `AuthLayer::dpop`")]
    pub fn external_url(self, url: &str) -> Self {
        self.origin(url)
    }

    /// Accepted proof algorithms (default: all of [`Algorithm::ALL`]). An empty list is a
    /// [`ConfigError::NoAlgorithms`].
    ///
    /// ```
    /// use a2a_guard::{Algorithm, pop::DpopConfig};
    /// let cfg = DpopConfig::new().algorithms([Algorithm::ES256]);
    /// assert_eq!(cfg.algs(), "ES256");
    /// ```
    pub fn algorithms(mut self, algs: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algs.into_iter().collect();
        self.algs_text = algs_text(&self.algorithms);
        self
    }

    /// How far a proof's `iat` may lie in the past and in the future (defaults
    /// [`DEFAULT_DPOP_IAT_BEHIND`], [`DEFAULT_DPOP_IAT_AHEAD`]). The replay store keeps each
    /// `jti` for the whole window, `behind + ahead` plus one second.
    ///
    /// ```
    /// use std::time::Duration;
    /// let cfg = a2a_guard::pop::DpopConfig::new()
    ///     .iat_window(Duration::from_secs(300), Duration::from_secs(5));
    /// ```
    pub fn iat_window(mut self, behind: Duration, ahead: Duration) -> Self {
        self.behind = behind;
        self.ahead = ahead;
        self
    }

    /// Where proof `jti`s are remembered (default: [`MemoryReplayStore`]). Use a shared store
    /// (e.g. `RedisReplayStore`) when several instances serve the same tokens. A store whose
    /// [`max_ttl`](ReplayStore::max_ttl) is shorter than the proof window is a
    /// [`ConfigError::InvalidSetting`].
    ///
    /// ```
    /// use a2a_guard::pop::{DpopConfig, MemoryReplayStore};
    /// let cfg = DpopConfig::new().replay_store(MemoryReplayStore::with_max_bytes(1 << 20));
    /// ```
    pub fn replay_store(mut self, store: impl ReplayStore) -> Self {
        self.store = Arc::new(store);
        self
    }

    /// Require server-issued nonces (RFC 9449 §8): a proof without the current nonce gets
    /// 401 `use_dpop_nonce` with a `DPoP-Nonce` header. Nonces are stateless (HMAC over a
    /// 5-minute period) with a random key made when the layer is built, so they are valid on
    /// this instance only: behind a load balancer use
    /// [`require_nonce_with_secret`](Self::require_nonce_with_secret). If no key can be made,
    /// [`AuthLayer::dpop`](crate::AuthLayer::dpop) fails rather than run without nonces.
    ///
    /// ```
    /// let cfg = a2a_guard::pop::DpopConfig::new().require_nonce();
    /// ```
    pub fn require_nonce(mut self) -> Self {
        self.nonce = NonceSetting::PerProcess;
        self
    }

    /// Require server nonces keyed by `secret`, shared by every instance of a fleet, so a
    /// nonce one instance hands out is accepted by the others. At least
    /// [`MIN_NONCE_SECRET_LEN`] bytes of random data, else
    /// [`AuthLayer::dpop`](crate::AuthLayer::dpop) returns a [`ConfigError::InvalidSetting`].
    ///
    /// ```
    /// let secret = [7u8; 32]; // in production: from your secret store
    /// let cfg = a2a_guard::pop::DpopConfig::new().require_nonce_with_secret(secret);
    /// ```
    pub fn require_nonce_with_secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.nonce = NonceSetting::Shared(secret.as_ref().into());
        self
    }

    /// The `algs` of `DPoP` challenges.
    ///
    /// ```
    /// use a2a_guard::{Algorithm, pop::DpopConfig};
    /// let cfg = DpopConfig::new().algorithms([Algorithm::ES256, Algorithm::EdDSA]);
    /// assert_eq!(cfg.algs(), "ES256 EdDSA");
    /// ```
    pub fn algs(&self) -> &str {
        &self.algs_text
    }

    /// How long a `jti` must be remembered: every instant at which the same proof's `iat`
    /// is still inside the window.
    fn replay_ttl(&self) -> Duration {
        self.behind
            .saturating_add(self.ahead)
            .saturating_add(REPLAY_LEEWAY)
    }

    /// Whether a checked configuration with an origin is in place (DPoP-bound tokens can
    /// pass), for discovery metadata.
    pub(crate) fn is_configured(&self) -> bool {
        !self.origins.is_empty()
    }

    /// The accepted proof algorithms' names (`dpop_signing_alg_values_supported`).
    pub(crate) fn algorithm_names(&self) -> Vec<String> {
        self.algorithms
            .iter()
            .map(|a| a.as_str().to_owned())
            .collect()
    }

    /// The one place a configuration becomes usable: every mistake is a [`ConfigError`].
    pub(crate) fn checked(mut self) -> Result<Self, ConfigError> {
        if self.origins_raw.is_empty() {
            return Err(ConfigError::InvalidSetting {
                name: "DpopConfig::origin",
                reason: "DPoP needs at least one origin (the URL clients sign as htu)",
            });
        }
        self.origins = self
            .origins_raw
            .iter()
            .map(|u| Origin::parse(u))
            .collect::<Result<Vec<_>, _>>()?
            .into();
        if self.algorithms.is_empty() {
            return Err(ConfigError::NoAlgorithms);
        }
        if let Some(max) = self.store.max_ttl()
            && max < self.replay_ttl()
        {
            return Err(ConfigError::InvalidSetting {
                name: "DpopConfig::replay_store",
                reason: "the replay store forgets proofs before the iat window (behind + ahead + 1 s) ends",
            });
        }
        self.nonce_key = match &self.nonce {
            NonceSetting::Off => None,
            NonceSetting::PerProcess => {
                let rng = aws_lc_rs::rand::SystemRandom::new();
                let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng).map_err(|_| {
                    ConfigError::InvalidSetting {
                        name: "DpopConfig::require_nonce",
                        reason: "no random nonce key could be generated",
                    }
                })?;
                Some(Arc::new(key))
            }
            NonceSetting::Shared(secret) if secret.len() < MIN_NONCE_SECRET_LEN => {
                return Err(ConfigError::InvalidSetting {
                    name: "DpopConfig::require_nonce_with_secret",
                    reason: "the nonce secret must be at least 32 bytes",
                });
            }
            NonceSetting::Shared(secret) => {
                Some(Arc::new(hmac::Key::new(hmac::HMAC_SHA256, secret)))
            }
        };
        Ok(self)
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

    /// Verify the request's single `DPoP` proof for `token`, bound to `jkt`. Cheap checks
    /// come first; the signature is verified only for a proof key that is the token's own.
    pub(crate) async fn verify(
        &self,
        jkt: &str,
        token: &str,
        parts: &RequestRef<'_>,
    ) -> Result<(), AuthError> {
        let bad = AuthError::InvalidDpopProof;
        // Before any proof parsing: without a configured origin no proof can be right.
        let expected =
            origin::expected_htu(&self.origins, parts.uri, parts.headers).map_err(bad)?;
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
        // RFC 7515 §4.1.11: a recipient must reject critical extensions it does not
        // understand, and this verifier understands none.
        if header.get("crit").is_some() {
            return Err(bad(
                "the proof has a crit header this server does not support",
            ));
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
        // RFC 9449 §7.1: the proof key must be the token's. A hash compare, so a stolen
        // token with the thief's own key costs no signature verification.
        if jwk_thumbprint(jwk).as_deref() != Some(jkt) {
            return Err(bad("the proof key does not match the token's cnf.jkt"));
        }
        if rsa_modulus_bits(jwk).is_some_and(|bits| bits > MAX_PROOF_RSA_BITS) {
            return Err(bad("the proof key is too large"));
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
            .filter(|j| !j.is_empty() && j.len() <= MAX_JTI_LEN)
            .ok_or(bad("the proof has no valid jti"))?;
        if claim("htm") != Some(parts.method.as_str()) {
            return Err(bad("htm does not match the request method"));
        }
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
        if let Some(key) = &self.nonce_key
            && !claim("nonce").is_some_and(|n| self.nonce_ok(key, n, now))
        {
            return Err(AuthError::UseDpopNonce {
                nonce: self.nonce_for(key, now / NONCE_PERIOD),
            });
        }
        // Last: only a proof that passed every check consumes its jti. Kept for the whole
        // window the same proof could still pass the iat check in (RFC 9449 §11.1).
        let replay_key = format!("dpop:{jkt}:{jti}");
        match self
            .store
            .first_use(&replay_key, self.replay_ttl(), now)
            .await
        {
            Ok(true) => Ok(()),
            Ok(false) => {
                crate::metrics::dpop_replay();
                Err(bad("the proof was already used"))
            }
            Err(e) => {
                crate::metrics::dpop_replay_store_error();
                tracing::warn!(target: "a2a_guard::dpop", error = %e, "replay store unavailable; refusing DPoP requests");
                Err(AuthError::ReplayStoreUnavailable)
            }
        }
    }
}

/// The bit length of an RSA JWK's modulus `n`, read without building the key.
fn rsa_modulus_bits(jwk: &Value) -> Option<usize> {
    if jwk.get("kty")?.as_str()? != "RSA" {
        return None;
    }
    let n = URL_SAFE_NO_PAD.decode(jwk.get("n")?.as_str()?).ok()?;
    let n = &n[n.iter().take_while(|b| **b == 0).count()..];
    let first = *n.first()?;
    Some(n.len() * 8 - first.leading_zeros() as usize)
}

fn algs_text(algs: &[Algorithm]) -> Arc<str> {
    algs.iter()
        .map(|a| a.as_str())
        .collect::<Vec<_>>()
        .join(" ")
        .into()
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
    fn nonces_rotate_and_are_verified() {
        let cfg = DpopConfig::new()
            .origin("https://a.example")
            .require_nonce()
            .checked()
            .unwrap();
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
