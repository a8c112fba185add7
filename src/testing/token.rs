//! [`TokenBuilder`]: mints access tokens with any header and claims.

use super::{SigningKey, TestIssuer, b64url, now_unix, random_hex};
use crate::Algorithm;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::time::Duration;

/// Default token lifetime: `exp = iat + 300`.
const DEFAULT_LIFETIME_SECS: i64 = 300;
/// Default `sub` and `client_id`.
const DEFAULT_AGENT: &str = "agent-test";
/// Default `typ` header (RFC 9068 §2.1).
const DEFAULT_TYP: &str = "at+jwt";

/// Where the `kid` header comes from.
#[derive(Debug, Clone)]
enum Kid {
    /// The signing key's kid.
    FromKey,
    Fixed(String),
    Omitted,
}

/// Builds one JWS access token; made by [`TestIssuer::token`].
///
/// The defaults give a token that a validator configured for the issuer accepts:
/// header `{"alg": "RS256", "typ": "at+jwt", "kid": <the issuer's current RS256 kid>}` and
/// claims `iss` (the issuer URL), `sub` and `client_id` (`"agent-test"`), `aud` (the issuer's
/// audience), `iat` (now), `exp` (now + 300 s) and a random `jti`; no scope. Every method
/// overrides one part, including into forms no honest issuer would produce.
///
/// ```
/// use a2a_guard::Algorithm;
/// use a2a_guard::testing::TestIssuer;
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let issuer = TestIssuer::start().await?;
/// let token = issuer
///     .token()
///     .alg(Algorithm::EdDSA)
///     .scope("read:data write:reports")
///     .claim("act", serde_json::json!({"sub": "orchestrator"}))
///     .lifetime(Duration::from_secs(60))
///     .sign();
/// let alg_none = issuer.token().header("alg", "none").unsigned();
/// assert!(alg_none.ends_with('.'));
/// # let _ = token;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a TokenBuilder does nothing until signed"]
pub struct TokenBuilder {
    issuer: TestIssuer,
    alg: Algorithm,
    kid: Kid,
    key: Option<SigningKey>,
    /// Header fields other than the automatic `alg` and `kid`, plus overrides of those.
    header: Map<String, Value>,
    /// Automatic header fields (`alg`, `kid`) removed with `remove_header`.
    removed: BTreeSet<String>,
    claims: Map<String, Value>,
}

impl TokenBuilder {
    pub(super) fn new(issuer: TestIssuer) -> TokenBuilder {
        let now = now_unix();
        let mut claims = Map::new();
        claims.insert("iss".into(), issuer.issuer().into());
        claims.insert("sub".into(), DEFAULT_AGENT.into());
        claims.insert("aud".into(), issuer.audience().into());
        claims.insert("iat".into(), now.into());
        claims.insert(
            "exp".into(),
            now.saturating_add(DEFAULT_LIFETIME_SECS).into(),
        );
        claims.insert("jti".into(), random_hex(32).into());
        claims.insert("client_id".into(), DEFAULT_AGENT.into());
        let mut header = Map::new();
        header.insert("typ".into(), DEFAULT_TYP.into());
        TokenBuilder {
            issuer,
            alg: Algorithm::RS256,
            kid: Kid::FromKey,
            key: None,
            header,
            removed: BTreeSet::new(),
            claims,
        }
    }

    /// Signs with `alg` (default `RS256`), using the issuer's current key for it, unless
    /// [`signing_key`](Self::signing_key) gave a key. RS256, ES256, ES384 and EdDSA keys
    /// exist from the start; a key for another RSA algorithm is generated and published on
    /// first use, which a validator that already fetched learns only through a kid-miss
    /// fetch (at most one per cooldown): name such algorithms in
    /// [`TestIssuerBuilder::algorithms`](super::TestIssuerBuilder::algorithms) up front. With
    /// such a key of another type (say an RSA key and `ES256`), the header says `alg` but the
    /// key signs with its own algorithm: an algorithm-confusion token.
    pub fn alg(mut self, alg: Algorithm) -> Self {
        self.alg = alg;
        self.header.remove("alg");
        self.removed.remove("alg");
        self
    }

    /// Sets the `kid` header (default: the signing key's kid).
    pub fn kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Kid::Fixed(kid.into());
        self.header.remove("kid");
        self.removed.remove("kid");
        self
    }

    /// Omits the `kid` header.
    pub fn no_kid(mut self) -> Self {
        self.kid = Kid::Omitted;
        self.header.remove("kid");
        self
    }

    /// Sets the `typ` header (default `at+jwt`), e.g. `"JWT"` or `"id_token+jwt"`.
    pub fn typ(self, typ: impl Into<String>) -> Self {
        self.header("typ", typ.into())
    }

    /// Omits the `typ` header.
    pub fn no_typ(self) -> Self {
        self.remove_header("typ")
    }

    /// Sets a raw header field, overriding anything else, e.g. `header("alg", "none")`,
    /// `header("alg", "HS256")`, `header("crit", json!(["exp"]))` or `header("jku", ...)`.
    /// The signature is still made by the selected key and algorithm.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        let name = name.into();
        self.removed.remove(&name);
        self.header.insert(name, value.into());
        self
    }

    /// Removes a header field, including the automatic `alg` and `kid`.
    pub fn remove_header(mut self, name: &str) -> Self {
        self.header.remove(name);
        self.removed.insert(name.to_owned());
        self
    }

    /// Sets a claim to any serializable value. A value serde cannot turn into JSON (e.g. a map
    /// with non-string keys) is stored as `null`.
    pub fn claim(mut self, name: impl Into<String>, value: impl Serialize) -> Self {
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        self.claims.insert(name.into(), value);
        self
    }

    /// Removes a claim, e.g. `remove_claim("exp")` for a token that never expires.
    pub fn remove_claim(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    /// Sets `sub` (default `"agent-test"`).
    pub fn subject(self, sub: impl Into<String>) -> Self {
        self.claim("sub", sub.into())
    }

    /// Sets `aud`: a string or an array, e.g. `audience(["a", "b"])`.
    pub fn audience(self, aud: impl Serialize) -> Self {
        self.claim("aud", aud)
    }

    /// Sets `iss` (default: the issuer's URL).
    pub fn issuer(self, iss: impl Into<String>) -> Self {
        self.claim("iss", iss.into())
    }

    /// Sets the `scope` claim, a space-separated list (RFC 9068 §2.2.3).
    pub fn scope(self, scope: impl Into<String>) -> Self {
        self.claim("scope", scope.into())
    }

    /// Sets `iat` (Unix seconds). `exp` is left as it is.
    pub fn issued_at(self, iat: i64) -> Self {
        self.claim("iat", iat)
    }

    /// Sets `exp` (Unix seconds).
    pub fn expires_at(self, exp: i64) -> Self {
        self.claim("exp", exp)
    }

    /// Sets `nbf` (Unix seconds).
    pub fn not_before(self, nbf: i64) -> Self {
        self.claim("nbf", nbf)
    }

    /// Sets `exp = iat + lifetime`, from the `iat` in place when called (now if `iat` was
    /// removed or is not an integer); call it after [`issued_at`](Self::issued_at).
    pub fn lifetime(self, lifetime: Duration) -> Self {
        let iat = self
            .claims
            .get("iat")
            .and_then(Value::as_i64)
            .unwrap_or_else(now_unix);
        let secs = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX);
        self.expires_at(iat.saturating_add(secs))
    }

    /// Signs with `key`, which need not be published (a forged or retired key). The `alg`
    /// becomes the key's algorithm and the `kid` header the key's kid, unless set afterwards.
    pub fn signing_key(mut self, key: &SigningKey) -> Self {
        self.alg = key.alg();
        self.key = Some(key.clone());
        self
    }

    /// Make the token delegated (RFC 8693 §4.1): `act` nests these actors, current actor
    /// first, as a token-exchange token carries them.
    ///
    /// ```no_run
    /// # async fn demo(issuer: a2a_guard::testing::TestIssuer) {
    /// // The orchestrator, acting for user-42, called via the planner before it.
    /// let t = issuer.token().subject("user-42").actor_chain(["orchestrator", "planner"]).scope("read:data").sign();
    /// # }
    /// ```
    pub fn actor_chain<I, S>(self, actors: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let actors: Vec<String> = actors.into_iter().map(Into::into).collect();
        let act = actors.into_iter().rev().fold(None::<Value>, |inner, sub| {
            let mut a = Map::new();
            a.insert("sub".into(), sub.into());
            if let Some(inner) = inner {
                a.insert("act".into(), inner);
            }
            Some(Value::Object(a))
        });
        match act {
            Some(act) => self.claim("act", act),
            None => self.remove_claim("act"),
        }
    }

    /// Bind the token to a DPoP key: `cnf.jkt` = the key's RFC 7638 thumbprint (RFC 9449 §6).
    pub fn dpop_bound(self, key: &super::DpopKey) -> Self {
        self.claim("cnf", serde_json::json!({ "jkt": key.thumbprint() }))
    }

    /// Bind the token to a client certificate: `cnf.x5t#S256` = base64url SHA-256 of its
    /// DER (RFC 8705 §3.1).
    pub fn certificate_bound(self, cert_der: &[u8]) -> Self {
        let x5t = crate::pop::ClientCertificate::from_der(cert_der.to_vec()).thumbprint();
        self.claim("cnf", serde_json::json!({ "x5t#S256": x5t }))
    }

    /// The claims as they stand.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// The header as it will be signed. Picks, and if need be generates, the signing key.
    pub fn header_json(&self) -> Map<String, Value> {
        self.header_and_key().0
    }

    fn header_and_key(&self) -> (Map<String, Value>, SigningKey) {
        let key = match &self.key {
            Some(key) => key.clone(),
            None => self.issuer.signing_key(self.alg),
        };
        let mut header = Map::new();
        if !self.removed.contains("alg") {
            header.insert("alg".into(), self.alg.as_str().into());
        }
        let kid = match &self.kid {
            Kid::FromKey => Some(key.kid().to_owned()),
            Kid::Fixed(kid) => Some(kid.clone()),
            Kid::Omitted => None,
        };
        if let Some(kid) = kid.filter(|_| !self.removed.contains("kid")) {
            header.insert("kid".into(), kid.into());
        }
        header.extend(self.header.clone());
        (header, key)
    }

    /// The compact JWS `b64url(header).b64url(claims).b64url(signature)`.
    pub fn sign(self) -> String {
        let payload = Value::Object(self.claims.clone()).to_string();
        self.sign_payload_bytes(payload.as_bytes())
    }

    /// Signs arbitrary payload bytes (non-UTF-8, duplicate keys, a JSON array…) under the
    /// built header; the claims set on the builder are ignored.
    pub fn sign_payload_bytes(self, payload: &[u8]) -> String {
        let (header, key) = self.header_and_key();
        let input = format!(
            "{}.{}",
            b64url(Value::Object(header).to_string()),
            b64url(payload)
        );
        let signature = key
            .sign_as(self.alg, input.as_bytes())
            .unwrap_or_else(|| key.sign(input.as_bytes()));
        format!("{input}.{}", b64url(signature))
    }

    /// `b64url(header).b64url(claims).` with an empty signature, as `alg: none` tokens are
    /// sent (RFC 7519 §6.1). Combine with `header("alg", "none")`.
    pub fn unsigned(self) -> String {
        let (header, _) = self.header_and_key();
        let payload = Value::Object(self.claims).to_string();
        format!(
            "{}.{}.",
            b64url(Value::Object(header).to_string()),
            b64url(payload)
        )
    }
}
