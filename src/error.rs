//! The crate's error taxonomy and its one HTTP mapping (RFC 6750 §3).
//!
//! [`AuthError`] says what failed for one request; [`AuthError::status`] and
//! [`AuthError::www_authenticate`] turn it into the response a client can act on. Messages
//! never contain the token, key material or any secret: the variants carry only static text,
//! configured names and numbers.

use std::borrow::Cow;
use std::time::Duration;

use http::{HeaderValue, StatusCode, header};

/// Why a request was not authorised. One variant per distinct cause, so audit events and
/// metrics can tell a forged token from an expired one.
///
/// ```
/// use a2a_guard::AuthError;
/// use http::StatusCode;
///
/// let e = AuthError::Expired;
/// assert_eq!(e.status(), StatusCode::UNAUTHORIZED);
/// assert_eq!(e.error_code(), Some("invalid_token"));
/// let h = e.www_authenticate("agents").unwrap();
/// assert_eq!(h, r#"Bearer realm="agents", error="invalid_token", error_description="the token has expired""#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The request carried no credentials (RFC 6750 §3.1: no error code).
    #[error("no bearer token in the request")]
    MissingToken,
    /// The `Authorization` header is malformed, repeated, or carries more than one token.
    #[error("malformed request: {0}")]
    InvalidRequest(&'static str),
    /// The token is longer than the configured cap.
    #[error("the token exceeds {limit} bytes")]
    TokenTooLarge {
        /// The configured cap in bytes.
        limit: usize,
    },
    /// The token is not a well-formed compact JWS (segments, base64url, JSON, claim types).
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The header names an algorithm that is unknown, symmetric, `none`, or not allowed.
    #[error("the token's signing algorithm is not accepted")]
    DisallowedAlgorithm,
    /// The header uses a feature this verifier refuses: unknown `crit`, nested JWT (`cty`).
    #[error("unsupported token header: {0}")]
    UnsupportedHeader(&'static str),
    /// The `typ` header is absent or not an accepted access-token type (RFC 9068 §4).
    #[error("the token type is not accepted")]
    WrongType,
    /// `iss` is absent or not one of the configured issuers (compared byte for byte).
    #[error("the token issuer is not trusted")]
    WrongIssuer,
    /// No key of the issuer matches the token's `kid` and `alg`.
    #[error("no matching signing key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("the token signature is invalid")]
    InvalidSignature,
    /// `exp` is in the past (beyond leeway).
    #[error("the token has expired")]
    Expired,
    /// Introspection (RFC 7662) answered `active: false`.
    #[error("the token is not active")]
    Inactive,
    /// The introspection endpoint could not be asked (unreachable, failing): fail closed.
    #[error("token introspection is unavailable")]
    IntrospectionUnavailable {
        /// How long a client should wait before retrying.
        retry_after: Duration,
    },
    /// The token was revoked: its `jti`, or its subject, client or session before it was
    /// issued, is on the validator's [deny-list](crate::revocation::Revocations).
    #[error("the token has been revoked")]
    Revoked,
    /// `nbf` is in the future (beyond leeway).
    #[error("the token is not valid yet")]
    NotYetValid,
    /// `iat` is in the future (beyond leeway).
    #[error("the token was issued in the future")]
    IssuedInFuture,
    /// `exp - iat` exceeds the configured maximum lifetime.
    #[error("the token lifetime exceeds the accepted maximum")]
    LifetimeTooLong,
    /// `aud` is absent or names none of the configured audiences.
    #[error("the token is not intended for this audience")]
    WrongAudience,
    /// A claim that must be present is absent.
    #[error("the token lacks the required claim `{0}`")]
    MissingClaim(Cow<'static, str>),
    /// A claim is present but has the wrong type or an invalid value.
    #[error("the token has an invalid `{0}` claim")]
    InvalidClaim(Cow<'static, str>),
    /// A temporal scope (`temporal:30min`, `temporal:business-hours`) forbids use now, or is unknown.
    #[error("temporal scope: {0}")]
    TemporalScope(Cow<'static, str>),
    /// The token is valid but lacks the scopes the route requires.
    #[error("insufficient scope; required: {required}")]
    InsufficientScope {
        /// The requirement, rendered as RFC 6749 §3.3 scope tokens.
        required: String,
    },
    /// No verification key can be had for the issuer right now (never fetched, issuer down,
    /// last-known-good window over). Infrastructure failure, not a bad token.
    #[error("verification keys are unavailable")]
    KeysUnavailable {
        /// How long a client should wait before retrying.
        retry_after: Duration,
    },
    /// The delegation chain breaks policy: too deep, or scopes above the ceiling
    /// (RFC 8693 §4.1).
    #[error("delegation: {0}")]
    Delegation(&'static str),
    /// The token is valid but the authentication behind it is not strong or recent enough
    /// for the route (RFC 9470 §3): its `acr` is not one of the accepted values, or its
    /// `auth_time` is older than the route's `max_age`. The challenge names what would do.
    #[error("a stronger or more recent authentication is required")]
    InsufficientUserAuthentication {
        /// The accepted `acr` values, space-separated (RFC 9470 §3 `acr_values`), if any.
        acr_values: Option<String>,
        /// The largest accepted age of the authentication in seconds (`max_age`), if any.
        max_age: Option<u64>,
    },
    /// The token is valid but its current actor is not allowed on this route.
    #[error("the current actor is not allowed")]
    ActorNotAllowed,
    /// The token is valid but its claims fail a route's [`RequireClaims`](crate::RequireClaims)
    /// rule (403 `insufficient_scope`, the rule's configured name as description).
    #[error("the token's claims do not satisfy: {rule}")]
    ClaimsNotAllowed {
        /// The rule's name, as configured.
        rule: std::sync::Arc<str>,
    },
    /// A proof-of-possession binding fails: certificate thumbprint mismatch or absent
    /// (RFC 8705 §3), a DPoP-bound token sent as `Bearer` (RFC 9449 §7.2), or a `DPoP`
    /// request with an unbound token.
    #[error("proof of possession: {0}")]
    ProofOfPossession(&'static str),
    /// The DPoP proof is missing or invalid (RFC 9449 §4.3).
    #[error("invalid DPoP proof: {0}")]
    InvalidDpopProof(&'static str),
    /// The DPoP replay store cannot be reached; DPoP requests fail closed until it can.
    #[error("the DPoP replay store is unavailable")]
    ReplayStoreUnavailable,
    /// The shared revocation deny-list has been out of sync longer than its configured bound
    /// (fail closed, opt-in: `RedisRevocations::fail_closed_after`).
    #[error("the revocation list is unavailable")]
    RevocationsUnavailable,
    /// The DPoP proof must carry this server nonce (RFC 9449 §8).
    #[error("a DPoP nonce is required")]
    UseDpopNonce {
        /// The nonce to send back in the next proof.
        nonce: String,
    },
    /// The service is wired wrongly (500, no challenge): an extractor whose claims type is not
    /// the validator's, or an extractor with no [`AuthLayer`](crate::AuthLayer) in front. The
    /// details (both type names) go to an `error` event, never to the client.
    #[error("the server's authentication is misconfigured")]
    Misconfigured(&'static str),
}

impl AuthError {
    /// The HTTP status per RFC 6750 §3.1 (and 503 for [`AuthError::KeysUnavailable`]).
    pub fn status(&self) -> StatusCode {
        match self {
            AuthError::MissingToken => StatusCode::UNAUTHORIZED,
            AuthError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            AuthError::InsufficientScope { .. }
            | AuthError::ActorNotAllowed
            | AuthError::ClaimsNotAllowed { .. } => StatusCode::FORBIDDEN,
            AuthError::KeysUnavailable { .. }
            | AuthError::ReplayStoreUnavailable
            | AuthError::RevocationsUnavailable
            | AuthError::IntrospectionUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            AuthError::Misconfigured(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// The RFC 6750 §3.1 error code, or `None` when none is sent (no token; keys unavailable).
    pub fn error_code(&self) -> Option<&'static str> {
        match self {
            AuthError::MissingToken
            | AuthError::KeysUnavailable { .. }
            | AuthError::ReplayStoreUnavailable
            | AuthError::RevocationsUnavailable
            | AuthError::IntrospectionUnavailable { .. }
            | AuthError::Misconfigured(_) => None,
            AuthError::InvalidRequest(_) => Some("invalid_request"),
            AuthError::InsufficientScope { .. }
            | AuthError::ActorNotAllowed
            | AuthError::ClaimsNotAllowed { .. } => Some("insufficient_scope"),
            AuthError::InvalidDpopProof(_) => Some("invalid_dpop_proof"),
            AuthError::UseDpopNonce { .. } => Some("use_dpop_nonce"),
            AuthError::InsufficientUserAuthentication { .. } => {
                Some("insufficient_user_authentication")
            }
            _ => Some("invalid_token"),
        }
    }

    /// A short machine-readable reason for audit events and metrics, e.g. `"expired"`.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::MissingToken => "missing_token",
            AuthError::InvalidRequest(_) => "invalid_request",
            AuthError::TokenTooLarge { .. } => "token_too_large",
            AuthError::Malformed(_) => "malformed",
            AuthError::DisallowedAlgorithm => "disallowed_algorithm",
            AuthError::UnsupportedHeader(_) => "unsupported_header",
            AuthError::WrongType => "wrong_type",
            AuthError::WrongIssuer => "wrong_issuer",
            AuthError::UnknownKey => "unknown_key",
            AuthError::InvalidSignature => "invalid_signature",
            AuthError::Expired => "expired",
            AuthError::Revoked => "revoked",
            AuthError::Inactive => "inactive",
            AuthError::IntrospectionUnavailable { .. } => "introspection_unavailable",
            AuthError::NotYetValid => "not_yet_valid",
            AuthError::IssuedInFuture => "issued_in_future",
            AuthError::LifetimeTooLong => "lifetime_too_long",
            AuthError::WrongAudience => "wrong_audience",
            AuthError::MissingClaim(_) => "missing_claim",
            AuthError::InvalidClaim(_) => "invalid_claim",
            AuthError::TemporalScope(_) => "temporal_scope",
            AuthError::InsufficientScope { .. } => "insufficient_scope",
            AuthError::KeysUnavailable { .. } => "keys_unavailable",
            AuthError::Delegation(_) => "delegation",
            AuthError::InsufficientUserAuthentication { .. } => "insufficient_user_authentication",
            AuthError::ActorNotAllowed => "actor_not_allowed",
            AuthError::ClaimsNotAllowed { .. } => "claims_not_allowed",
            AuthError::ProofOfPossession(_) => "proof_of_possession",
            AuthError::InvalidDpopProof(_) => "invalid_dpop_proof",
            AuthError::UseDpopNonce { .. } => "use_dpop_nonce",
            AuthError::ReplayStoreUnavailable => "replay_store_unavailable",
            AuthError::RevocationsUnavailable => "revocations_unavailable",
            AuthError::Misconfigured(_) => "misconfigured",
        }
    }

    /// The `WWW-Authenticate` challenge (RFC 6750 §3), or `None` for 500 and 503 (not the
    /// client's to fix).
    ///
    /// `error_description` is the variant's message, which never contains token or key
    /// material; characters outside RFC 6750's allowed set are replaced.
    pub fn www_authenticate(&self, realm: &str) -> Option<HeaderValue> {
        self.challenge(&Challenge::bearer(realm))
    }

    /// The challenge for a given scheme and its parameters: `DPoP` challenges (RFC 9449 §7.1)
    /// add `algs`; DPoP proof errors always use the `DPoP` scheme. With
    /// [`Challenge::resource_metadata`], every 401 and 403 carries `resource_metadata`
    /// (RFC 9728 §5.1); with [`Challenge::scope`], a 401 carries `scope` (the scopes a client
    /// should ask for, as MCP clients read it). A 403 `insufficient_scope` always names the
    /// scopes the route requires; a 401 `insufficient_user_authentication` carries
    /// `acr_values` and/or `max_age` (RFC 9470 §3).
    ///
    /// ```
    /// use a2a_guard::{AuthError, Challenge};
    /// let c = Challenge::bearer("api")
    ///     .scope("read:data")
    ///     .resource_metadata("https://api.example.com/.well-known/oauth-protected-resource/mcp");
    /// let v = AuthError::MissingToken.challenge(&c).unwrap();
    /// assert_eq!(
    ///     v,
    ///     r#"Bearer realm="api", scope="read:data", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource/mcp""#
    /// );
    /// ```
    pub fn challenge(&self, c: &Challenge<'_>) -> Option<HeaderValue> {
        if self.status().is_server_error() {
            return None;
        }
        let dpop = c.dpop_algs.is_some()
            || matches!(
                self,
                AuthError::InvalidDpopProof(_) | AuthError::UseDpopNonce { .. }
            );
        let scheme = if dpop { "DPoP" } else { "Bearer" };
        let mut v = format!("{scheme} realm=\"{}\"", quoted(c.realm));
        let mut param = |name: &str, value: &str| {
            v.push_str(", ");
            v.push_str(name);
            v.push_str("=\"");
            v.push_str(&quoted(value));
            v.push('"');
        };
        if let Some(code) = self.error_code() {
            param("error", code);
            match self {
                AuthError::InsufficientScope { required } => param("scope", required),
                AuthError::InsufficientUserAuthentication {
                    acr_values,
                    max_age,
                } => {
                    param("error_description", &self.to_string());
                    if let Some(acr) = acr_values {
                        param("acr_values", acr);
                    }
                    if let Some(age) = max_age {
                        param("max_age", &age.to_string());
                    }
                }
                _ => param("error_description", &self.to_string()),
            }
        }
        // A 401 tells the client which scopes to ask for (RFC 6750 §3 allows `scope` on
        // any challenge; the MCP authorization spec reads it for scope selection).
        if self.status() == StatusCode::UNAUTHORIZED
            && let Some(scope) = c.scope
        {
            param("scope", scope);
        }
        if dpop {
            param("algs", c.dpop_algs.unwrap_or(DEFAULT_DPOP_ALGS));
        }
        if let Some(url) = c.resource_metadata {
            param("resource_metadata", url);
        }
        HeaderValue::from_str(&v).ok()
    }

    /// The whole RFC 6750 response: status, `WWW-Authenticate` (or `Retry-After` for 503),
    /// `Cache-Control: no-store`, and an empty body.
    ///
    /// ```
    /// use a2a_guard::AuthError;
    /// let r = AuthError::InsufficientScope { required: "read:data".into() }.to_response::<String>("api");
    /// assert_eq!(r.status(), 403);
    /// assert_eq!(r.headers()["www-authenticate"], r#"Bearer realm="api", error="insufficient_scope", scope="read:data""#);
    /// ```
    pub fn to_response<B: Default>(&self, realm: &str) -> http::Response<B> {
        self.to_response_with(&Challenge::bearer(realm))
    }

    /// [`to_response`](Self::to_response) with a given challenge (e.g. `DPoP`); adds the
    /// `DPoP-Nonce` header for [`AuthError::UseDpopNonce`].
    ///
    /// The response carries the error itself in its extensions, so an outer middleware can
    /// shape the body (see [`RejectionBodyLayer`](crate::layer::RejectionBodyLayer)) without
    /// parsing headers.
    pub fn to_response_with<B: Default>(&self, c: &Challenge<'_>) -> http::Response<B> {
        let mut res = http::Response::new(B::default());
        res.extensions_mut().insert(self.clone());
        *res.status_mut() = self.status();
        let h = res.headers_mut();
        if let Some(v) = self.challenge(c) {
            h.insert(header::WWW_AUTHENTICATE, v);
        }
        if let AuthError::UseDpopNonce { nonce } = self
            && let Ok(v) = HeaderValue::from_str(nonce)
        {
            h.insert("dpop-nonce", v);
        }
        match self {
            AuthError::KeysUnavailable { retry_after }
            | AuthError::IntrospectionUnavailable { retry_after } => {
                h.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(retry_after.as_secs().max(1)),
                );
            }
            AuthError::ReplayStoreUnavailable => {
                h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            AuthError::RevocationsUnavailable => {
                h.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            _ => {}
        }
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        res
    }
}

/// The algorithms advertised in `DPoP` challenges when none are configured.
pub const DEFAULT_DPOP_ALGS: &str = "ES256 ES384 EdDSA RS256 PS256";

/// What a `WWW-Authenticate` challenge carries besides the error. Build it with
/// [`Challenge::bearer`] and the methods below; the auth layer builds one per request from
/// its settings ([`AuthLayer::realm`](crate::AuthLayer::realm),
/// [`AuthLayer::challenge_scope`](crate::AuthLayer::challenge_scope), the validator's
/// [resources](crate::ValidatorBuilder::resource), DPoP).
///
/// ```
/// use a2a_guard::{AuthError, Challenge};
/// let c = Challenge::bearer("api").dpop("ES256");
/// let v = AuthError::Expired.challenge(&c).unwrap();
/// assert!(v.to_str().unwrap().starts_with(r#"DPoP realm="api", error="invalid_token""#));
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Challenge<'a> {
    /// The realm.
    pub realm: &'a str,
    /// `Some(algs)` for a `DPoP` challenge (space-separated algorithm names).
    pub dpop_algs: Option<&'a str>,
    /// The RFC 9728 metadata URL for `resource_metadata` (every 401 and 403).
    pub resource_metadata: Option<&'a str>,
    /// The scopes a client should request, for `scope` on a 401 (space-separated).
    pub scope: Option<&'a str>,
}

impl<'a> Challenge<'a> {
    /// A `Bearer` challenge.
    pub fn bearer(realm: &'a str) -> Self {
        Challenge {
            realm,
            dpop_algs: None,
            resource_metadata: None,
            scope: None,
        }
    }

    /// Make it a `DPoP` challenge advertising these algorithms (space-separated).
    pub fn dpop(mut self, algs: &'a str) -> Self {
        self.dpop_algs = Some(algs);
        self
    }

    /// Add `resource_metadata` (RFC 9728 §5.1) to every 401 and 403.
    pub fn resource_metadata(mut self, url: &'a str) -> Self {
        self.resource_metadata = Some(url);
        self
    }

    /// Add `scope` to 401 challenges: the scopes a client should request.
    pub fn scope(mut self, scope: &'a str) -> Self {
        self.scope = Some(scope);
        self
    }
}

/// RFC 6750 §3: `error_description` and `scope` use %x20-21 / %x23-5B / %x5D-7E; anything
/// else (quotes, backslashes, control and non-ASCII characters) becomes `?`.
fn quoted(s: &str) -> Cow<'_, str> {
    let ok = |c: char| matches!(c, '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e');
    if s.chars().all(ok) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.chars().map(|c| if ok(c) { c } else { '?' }).collect())
    }
}

/// A configuration mistake found when building a [`Validator`](crate::Validator), its DPoP
/// settings ([`AuthLayer::dpop`](crate::AuthLayer::dpop)) or a replay store.
///
/// Kept apart from [`AuthError`] on purpose: a configuration error is the operator's to fix at
/// start-up and has no HTTP mapping; [`AuthError`] is a per-request decision.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No issuer was configured.
    #[error("at least one issuer must be configured")]
    NoIssuer,
    /// No audience was configured and audience checking was not explicitly disabled.
    #[error("at least one audience must be configured (RFC 9068 §4 requires the audience check)")]
    NoAudience,
    /// The algorithm allow-list is empty.
    #[error("the algorithm allow-list is empty")]
    NoAlgorithms,
    /// The same issuer was configured twice.
    #[error("issuer `{0}` is configured twice")]
    DuplicateIssuer(String),
    /// A configured URL is not usable (scheme, host, or syntax).
    #[error("invalid URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL as configured.
        url: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A configured value is out of range.
    #[error("invalid setting `{name}`: {reason}")]
    InvalidSetting {
        /// The builder method.
        name: &'static str,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A static or file key set could not be used.
    #[error("key set: {0}")]
    Keys(#[from] crate::jwk::JwkError),
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    HttpClient(String),
    /// The shared DPoP replay store could not be reached or set up.
    #[error("replay store: {0}")]
    ReplayStore(String),
    /// The Redis replay store runs with a `maxmemory-policy` that evicts keys: under memory
    /// pressure it would forget used proofs, and they would replay.
    #[error("the replay store's maxmemory-policy `{policy}` evicts keys; use noeviction")]
    EvictingReplayStore {
        /// The policy Redis reported.
        policy: String,
    },
    /// An agent card requirement names a scope the card's OAuth2 scheme does not list:
    /// neither a route guard [advertised](crate::Validator::advertise) it nor was it
    /// described with [`AgentCardSecurityBuilder::scope`](crate::metadata::AgentCardSecurityBuilder::scope).
    #[error(
        "agent card: {context} requires scope `{scope}`, which the oauth2 scheme does not list"
    )]
    UnknownScope {
        /// The scope as written.
        scope: String,
        /// Where it was required (`skill "payments"`, `the card`).
        context: String,
    },
    /// [`AgentCardSecurity::apply_to`](crate::metadata::AgentCardSecurity::apply_to): the card
    /// has no skill with this id, so its requirements would be lost.
    #[error("agent card: no skill with id `{0}`")]
    UnknownSkill(String),
    /// The authorization server's metadata could not be read or did not say what was needed.
    #[error("authorization server metadata of `{issuer}`: {reason}")]
    Discovery {
        /// The issuer whose metadata was read.
        issuer: String,
        /// What went wrong.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_variants() -> Vec<AuthError> {
        vec![
            AuthError::MissingToken,
            AuthError::InvalidRequest("two Authorization headers"),
            AuthError::TokenTooLarge { limit: 16384 },
            AuthError::Malformed("bad base64"),
            AuthError::DisallowedAlgorithm,
            AuthError::UnsupportedHeader("crit"),
            AuthError::WrongType,
            AuthError::WrongIssuer,
            AuthError::UnknownKey,
            AuthError::InvalidSignature,
            AuthError::Expired,
            AuthError::Revoked,
            AuthError::Inactive,
            AuthError::NotYetValid,
            AuthError::IssuedInFuture,
            AuthError::LifetimeTooLong,
            AuthError::WrongAudience,
            AuthError::MissingClaim("exp".into()),
            AuthError::InvalidClaim("aud".into()),
            AuthError::TemporalScope("outside business hours".into()),
            AuthError::InsufficientScope {
                required: "read:data".into(),
            },
            AuthError::KeysUnavailable {
                retry_after: Duration::from_secs(5),
            },
            AuthError::ReplayStoreUnavailable,
            AuthError::RevocationsUnavailable,
            AuthError::Misconfigured("claims type"),
        ]
    }

    #[test]
    fn every_variant_maps_to_rfc6750() {
        for e in all_variants() {
            let res = e.to_response::<()>("r");
            let www = res
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_owned());
            match &e {
                AuthError::MissingToken => {
                    assert_eq!(res.status(), 401);
                    assert_eq!(www.as_deref(), Some(r#"Bearer realm="r""#));
                }
                AuthError::InvalidRequest(_) => {
                    assert_eq!(res.status(), 400);
                    assert!(www.unwrap().contains(r#"error="invalid_request""#));
                }
                AuthError::InsufficientScope { .. } => {
                    assert_eq!(res.status(), 403);
                    assert_eq!(
                        www.as_deref(),
                        Some(r#"Bearer realm="r", error="insufficient_scope", scope="read:data""#)
                    );
                }
                AuthError::KeysUnavailable { .. } => {
                    assert_eq!(res.status(), 503);
                    assert!(www.is_none());
                    assert_eq!(res.headers()["retry-after"], "5");
                }
                AuthError::ReplayStoreUnavailable => {
                    assert_eq!(res.status(), 503);
                    assert!(www.is_none());
                    assert_eq!(res.headers()["retry-after"], "1");
                }
                AuthError::RevocationsUnavailable => {
                    assert_eq!(res.status(), 503);
                    assert!(www.is_none());
                    assert_eq!(res.headers()["retry-after"], "5");
                }
                AuthError::Misconfigured(_) => {
                    assert_eq!(res.status(), 500);
                    assert!(www.is_none());
                }
                other => {
                    assert_eq!(res.status(), 401, "{other:?}");
                    let www = www.unwrap();
                    assert!(
                        www.starts_with(
                            r#"Bearer realm="r", error="invalid_token", error_description=""#
                        ),
                        "{www}"
                    );
                }
            }
            assert_eq!(res.headers()["cache-control"], "no-store");
            assert!(!e.reason().is_empty());
        }
    }

    #[test]
    fn delegation_and_proof_of_possession_variants() {
        let www = |e: &AuthError| {
            e.www_authenticate("r")
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(AuthError::ActorNotAllowed.status(), 403);
        assert!(
            www(&AuthError::ActorNotAllowed)
                .starts_with(r#"Bearer realm="r", error="insufficient_scope""#)
        );
        for e in [
            AuthError::Delegation("too deep"),
            AuthError::ProofOfPossession("no certificate"),
        ] {
            assert_eq!(e.status(), 401);
            assert!(www(&e).contains(r#"error="invalid_token""#));
        }
        let e = AuthError::InvalidDpopProof("bad htm");
        assert_eq!(e.status(), 401);
        assert_eq!(
            www(&e),
            format!(
                r#"DPoP realm="r", error="invalid_dpop_proof", error_description="invalid DPoP proof: bad htm", algs="{DEFAULT_DPOP_ALGS}""#
            )
        );
        let e = AuthError::UseDpopNonce {
            nonce: "n0nce".into(),
        };
        let res = e.to_response::<()>("r");
        assert_eq!(res.status(), 401);
        assert_eq!(res.headers()["dpop-nonce"], "n0nce");
        assert!(
            res.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .contains(r#"error="use_dpop_nonce""#)
        );
        let c = Challenge::bearer("r").dpop("ES256");
        let v = AuthError::Expired.challenge(&c).unwrap();
        assert!(
            v.to_str()
                .unwrap()
                .starts_with("DPoP realm=\"r\", error=\"invalid_token\"")
                && v.to_str().unwrap().ends_with("algs=\"ES256\"")
        );
    }

    #[test]
    fn descriptions_are_header_safe() {
        let e = AuthError::MissingClaim("we\"ird\\claim\n\u{e9}".into());
        let v = e.www_authenticate("re\"alm").unwrap();
        let s = v.to_str().unwrap();
        assert!(s.contains(r#"realm="re?alm""#), "{s}");
        assert!(s.contains("we?ird?claim??"), "{s}");
    }
}
