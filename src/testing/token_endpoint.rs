//! The token endpoint of [`TestIssuer`](super::TestIssuer): the OAuth 2.0 client-credentials
//! grant (RFC 6749 §4.4) for the clients registered with
//! [`TestIssuerBuilder::client`](super::TestIssuerBuilder::client), so an agent can follow an
//! agent card's `tokenUrl` or a discovery document's `token_endpoint` for real.
//!
//! A development server: every scope asked for is granted. Client secrets are compared in
//! constant time and never logged.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::response::Response;
use base64::Engine as _;
use http::header::{AUTHORIZATION, CACHE_CONTROL, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::{Map, Value, json};

use super::server::{ServerState, lock};
use super::{b64url, now_unix, random_hex};
use crate::Algorithm;

/// Lifetime of the tokens the endpoint issues.
pub(super) const ISSUED_TOKEN_LIFETIME_SECS: i64 = 3600;
/// The largest form body read.
const MAX_FORM_BYTES: usize = 16 * 1024;

/// `POST /token`.
pub(super) async fn serve_token(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state
        .token_requests
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let (behavior, lifetime) = {
        let config = lock(&state.config);
        (config.token_behavior, config.token_lifetime)
    };
    if let Some(response) = super::server::misbehave(behavior).await {
        return response;
    }
    let lifetime = lifetime.unwrap_or(ISSUED_TOKEN_LIFETIME_SECS);
    let form = match Form::parse(&body) {
        Ok(form) => form,
        Err(refusal) => return refusal.response(),
    };
    let param = |name: &str| form.param(name);
    let (Ok(grant), Ok(scope), Ok(resource)) =
        (param("grant_type"), param("scope"), param("resource"))
    else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    let client_id = match authenticate_client(&state, &headers, &form) {
        Ok(id) => id,
        Err(failure) => return failure.response(),
    };
    // RFC 9449 §5: a DPoP proof binds the token to its key (`cnf.jkt`).
    let jkt = match check_dpop_proof(&state, &headers) {
        Ok(jkt) => jkt,
        Err(response) => return *response,
    };
    let mut extra = Map::new();
    let mut scope = scope.map(str::to_owned);
    match grant {
        Some("client_credentials") => {}
        Some(TOKEN_EXCHANGE) => {
            let (Ok(subject), Ok(actor), Ok(audience)) = (
                param("subject_token"),
                param("actor_token"),
                param("audience"),
            ) else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
            };
            let Some(subject) = subject else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
            };
            match exchange_claims(&state, subject, actor, &client_id, scope.as_deref()).await {
                Ok((claims, granted)) => {
                    extra = claims;
                    scope = Some(granted);
                }
                Err(code) => return oauth_error(StatusCode::BAD_REQUEST, code),
            }
            if resource.is_none()
                && let Some(a) = audience
            {
                extra.insert("aud".into(), a.into());
            }
        }
        _ => return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
    }
    if let Some(jkt) = &jkt {
        extra.insert("cnf".into(), json!({ "jkt": jkt }));
    }
    let scope = scope.as_deref();
    let Some(token) = mint(&state, &client_id, scope, resource, lifetime, extra) else {
        return oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error");
    };
    let mut doc = json!({
        "access_token": token,
        "token_type": if jkt.is_some() { "DPoP" } else { "Bearer" },
        "expires_in": lifetime,
        "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
    });
    if let Some(scope) = scope.filter(|s| !s.is_empty()) {
        doc["scope"] = scope.into();
    }
    let mut response = json_body(StatusCode::OK, &doc);
    // RFC 6749 §5.1: tokens must not be cached.
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A form body (`application/x-www-form-urlencoded`) of at most [`MAX_FORM_BYTES`].
pub(super) struct Form(Vec<(String, String)>);

impl Form {
    /// Parses `body`; a body over the cap is refused.
    pub(super) fn parse(body: &[u8]) -> Result<Form, Refusal> {
        if body.len() > MAX_FORM_BYTES {
            return Err(Refusal::TooLarge);
        }
        Ok(Form(
            url::form_urlencoded::parse(body).into_owned().collect(),
        ))
    }

    /// The value of `name`; `Err` when it is sent more than once (RFC 6749 §3.2: request
    /// parameters must not be included more than once).
    pub(super) fn param(&self, name: &str) -> Result<Option<&str>, ()> {
        let mut values = self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v);
        match (values.next(), values.next()) {
            (Some(v), None) => Ok(Some(v.as_str())),
            (None, _) => Ok(None),
            (Some(_), Some(_)) => Err(()),
        }
    }
}

/// Why a form request was refused before its endpoint looked at it.
#[derive(Debug, Clone, Copy)]
pub(super) enum Refusal {
    /// 413 `invalid_request`: over [`MAX_FORM_BYTES`].
    TooLarge,
    /// 400 `invalid_request`: a parameter sent twice.
    InvalidRequest,
    /// 401 `invalid_client` with a Basic challenge: unknown client, wrong secret, bad
    /// assertion, or no or several authentication methods.
    InvalidClient,
}

impl Refusal {
    pub(super) fn response(self) -> Response {
        match self {
            Refusal::TooLarge => oauth_error(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request"),
            Refusal::InvalidRequest => oauth_error(StatusCode::BAD_REQUEST, "invalid_request"),
            Refusal::InvalidClient => invalid_client(),
        }
    }
}

/// Client authentication (RFC 6749 §2.3.1, RFC 7523 §2.2): exactly one of HTTP Basic, the
/// `client_id` + `client_secret` form parameters, or a `private_key_jwt` assertion. Returns
/// the authenticated client ID.
pub(super) fn authenticate_client(
    state: &ServerState,
    headers: &HeaderMap,
    form: &Form,
) -> Result<String, Refusal> {
    let param = |name: &str| form.param(name);
    let (Ok(form_id), Ok(form_secret), Ok(assertion_type), Ok(assertion)) = (
        param("client_id"),
        param("client_secret"),
        param("client_assertion_type"),
        param("client_assertion"),
    ) else {
        return Err(Refusal::InvalidRequest);
    };
    let basic = headers.get(AUTHORIZATION).map(basic_credentials);
    match (basic, form_id, form_secret, assertion_type, assertion) {
        (Some(Some((id, secret))), None, None, None, None) => check_secret(state, id, &secret),
        (None, Some(id), Some(secret), None, None) => check_secret(state, id.to_owned(), secret),
        (None, id, None, Some(JWT_BEARER), Some(assertion)) => {
            check_assertion(state, id, assertion).ok_or(Refusal::InvalidClient)
        }
        _ => Err(Refusal::InvalidClient),
    }
}

fn check_secret(state: &ServerState, id: String, secret: &str) -> Result<String, Refusal> {
    let known = lock(&state.config).clients.get(&id).cloned();
    let ok = known.is_some_and(|k| {
        aws_lc_rs::constant_time::verify_slices_are_equal(k.as_bytes(), secret.as_bytes()).is_ok()
    });
    if ok {
        Ok(id)
    } else {
        Err(Refusal::InvalidClient)
    }
}

/// RFC 7523 §2.2 / §3: a JWT signed by one of the client's registered keys, `iss` = `sub` =
/// the client, `aud` this issuer or its token endpoint, `exp` in the future and at most
/// 5 minutes ahead, a `jti` never seen before.
fn check_assertion(state: &ServerState, form_id: Option<&str>, assertion: &str) -> Option<String> {
    let mut parts = assertion.split('.');
    let (Some(h), Some(p), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let decode = |s: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .ok()
    };
    let header: Value = serde_json::from_slice(&decode(h)?).ok()?;
    let claims: Value = serde_json::from_slice(&decode(p)?).ok()?;
    let sig = decode(sig)?;
    let alg: Algorithm = header["alg"].as_str()?.parse().ok()?;
    let client_id = claims["iss"].as_str()?;
    if claims["sub"].as_str() != Some(client_id) || form_id.is_some_and(|id| id != client_id) {
        return None;
    }
    let token_endpoint = format!("{}{}", state.issuer, super::server::TOKEN_PATH);
    let aud_ok = |a: &Value| {
        a.as_str()
            .is_some_and(|a| a == state.issuer || a == token_endpoint)
    };
    let aud = &claims["aud"];
    if !(aud_ok(aud) || aud.as_array().is_some_and(|a| a.iter().any(aud_ok))) {
        return None;
    }
    let now = now_unix();
    let exp = claims["exp"].as_i64()?;
    if exp <= now || exp > now + 300 {
        return None;
    }
    let jti = claims["jti"].as_str().filter(|j| !j.is_empty())?;
    let mut config = lock(&state.config);
    let kid = header["kid"].as_str();
    let verified = config.client_keys.get(client_id)?.iter().any(|jwk| {
        (kid.is_none() || jwk.get("kid").is_none() || jwk["kid"].as_str() == kid)
            && crate::jwk::VerifyingKey::from_jwk(jwk)
                .is_ok_and(|k| k.verify(alg, format!("{h}.{p}").as_bytes(), &sig))
    });
    if !verified {
        return None;
    }
    // Replay: a `jti` is accepted once while its assertion could still be used.
    config.used_assertions.retain(|_, e| *e > now);
    if config.used_assertions.len() >= 100_000 {
        return None;
    }
    if config.used_assertions.insert(jti.to_owned(), exp).is_some() {
        return None;
    }
    Some(client_id.to_owned())
}

/// The DPoP proof of a token request (RFC 9449 §4.3, §8): `None` without one; the key's
/// thumbprint when valid; a 400 `invalid_dpop_proof`, or `use_dpop_nonce` with the current
/// `DPoP-Nonce` when nonces are required and the proof lacks it.
fn check_dpop_proof(
    state: &ServerState,
    headers: &HeaderMap,
) -> Result<Option<String>, Box<Response>> {
    let mut values = headers.get_all("dpop").iter();
    let proof = match (values.next(), values.next()) {
        (None, _) => return Ok(None),
        (Some(v), None) => v.to_str().ok(),
        (Some(_), Some(_)) => None,
    };
    let bad = || Box::new(oauth_error(StatusCode::BAD_REQUEST, "invalid_dpop_proof"));
    let proof = proof.filter(|p| p.len() <= 8 * 1024).ok_or_else(bad)?;
    let mut parts = proof.split('.');
    let (Some(h), Some(p), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let decode = |s: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .ok()
    };
    let header: Value = decode(h)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(bad)?;
    let claims: Value = decode(p)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(bad)?;
    let sig = decode(sig).ok_or_else(bad)?;
    let alg: Algorithm = header["alg"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .ok_or_else(bad)?;
    let jwk = &header["jwk"];
    let verified = header["typ"] == "dpop+jwt"
        && jwk.get("d").is_none()
        && crate::jwk::VerifyingKey::from_jwk(jwk)
            .is_ok_and(|k| k.verify(alg, format!("{h}.{p}").as_bytes(), &sig));
    let token_endpoint = format!("{}{}", state.issuer, super::server::TOKEN_PATH);
    let now = now_unix();
    let iat = claims["iat"].as_i64().unwrap_or(i64::MIN);
    let jti = claims["jti"].as_str().filter(|j| !j.is_empty());
    if !verified
        || claims["htm"] != "POST"
        || claims["htu"].as_str() != Some(token_endpoint.as_str())
        || (iat - now).abs() > 60
        || jti.is_none()
    {
        return Err(bad());
    }
    let mut config = lock(&state.config);
    if let Some(nonce) = config.dpop_nonce.clone()
        && claims["nonce"].as_str() != Some(nonce.as_str())
    {
        let mut response = json_body(
            StatusCode::BAD_REQUEST,
            &json!({"error": "use_dpop_nonce", "error_description": "a DPoP nonce is required"}),
        );
        if let Ok(v) = HeaderValue::from_str(&nonce) {
            response.headers_mut().insert("dpop-nonce", v);
        }
        return Err(Box::new(response));
    }
    // Replay: a proof's `jti` is accepted once within its window.
    let key = format!("dpop:{}", jti.unwrap_or_default());
    config.used_assertions.retain(|_, e| *e > now);
    if config.used_assertions.len() >= 100_000
        || config.used_assertions.insert(key, now + 120).is_some()
    {
        return Err(bad());
    }
    crate::pop::jwk_thumbprint(jwk).map(Some).ok_or_else(bad)
}

/// RFC 7523 §2.2.
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A validator for this issuer's own access tokens (any audience): the subject and actor
/// tokens of an exchange, the token of a revocation request.
pub(super) async fn own_token_validator(
    state: &ServerState,
) -> Result<crate::Validator, &'static str> {
    let keys = crate::jwk::KeySet::from_value(&state.jwks()).map_err(|_| "server_error")?;
    crate::Validator::builder()
        .issuer_keys(state.issuer.clone(), keys)
        .dangerous_skip_audience_check()
        .build()
        .await
        .map_err(|_| "server_error")
}

/// An RFC 9068 access token for `client_id`: `aud` is the RFC 8707 `resource` when asked for,
/// the issuer's audience otherwise; signed with the RS256 key (or any key held).
fn mint(
    state: &ServerState,
    client_id: &str,
    scope: Option<&str>,
    resource: Option<&str>,
    lifetime: i64,
    extra: Map<String, Value>,
) -> Option<String> {
    let key = {
        let keys = lock(&state.keys);
        keys.signing
            .get(&Algorithm::RS256)
            .or_else(|| keys.signing.values().next())
            .cloned()?
    };
    let now = now_unix();
    let mut claims = Map::new();
    claims.insert("iss".into(), state.issuer.clone().into());
    claims.insert("sub".into(), client_id.into());
    claims.insert("client_id".into(), client_id.into());
    claims.insert(
        "aud".into(),
        resource.unwrap_or(&state.audience).to_owned().into(),
    );
    claims.insert("iat".into(), now.into());
    claims.insert("exp".into(), now.saturating_add(lifetime).into());
    claims.insert("jti".into(), random_hex(32).into());
    // Token exchange: the subject's `sub`, the `act` chain, an explicit `aud`.
    claims.extend(extra);
    if let Some(scope) = scope.filter(|s| !s.is_empty()) {
        claims.insert("scope".into(), scope.into());
    }
    let header = json!({"alg": key.alg().as_str(), "kid": key.kid(), "typ": "at+jwt"});
    let input = format!(
        "{}.{}",
        b64url(header.to_string()),
        b64url(Value::Object(claims).to_string())
    );
    let signature = key.sign(input.as_bytes());
    Some(format!("{input}.{}", b64url(signature)))
}

/// RFC 8693 §2.1.
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// RFC 8693 token exchange: the subject token (and the actor token, when sent) must be this
/// issuer's own valid access tokens; the requested scopes must be covered by the subject's;
/// the new token keeps the subject's `sub` and names the actor in `act` (RFC 8693 §4.1),
/// the previous chain nested inside. Returns the claims to add and the granted scope.
async fn exchange_claims(
    state: &ServerState,
    subject: &str,
    actor: Option<&str>,
    client_id: &str,
    scope: Option<&str>,
) -> Result<(Map<String, Value>, String), &'static str> {
    let validator = own_token_validator(state).await?;
    // A token revoked at this issuer's RFC 7009 endpoint cannot be exchanged.
    let revoked = |p: &crate::Principal| {
        p.registered()
            .jti
            .as_ref()
            .is_some_and(|j| lock(&state.revoked).contains(j))
    };
    let subject = validator
        .validate(subject)
        .await
        .map_err(|_| "invalid_grant")?;
    if revoked(&subject) {
        return Err("invalid_grant");
    }
    let actor_sub = match actor {
        Some(a) => {
            let actor = validator.validate(a).await.map_err(|_| "invalid_grant")?;
            if revoked(&actor) {
                return Err("invalid_grant");
            }
            actor.subject().map(str::to_owned)
        }
        None => Some(client_id.to_owned()),
    };
    let granted = match scope.filter(|s| !s.is_empty()) {
        Some(asked) => {
            let rules = crate::scope::ScopeRules::default();
            let covered = asked.split(' ').all(|s| {
                subject
                    .scopes()
                    .satisfies(&crate::scope::ScopeRequirement::from(s), &rules)
            });
            if !covered {
                return Err("invalid_scope");
            }
            asked.to_owned()
        }
        None => subject.scopes().to_string(),
    };
    let mut act = Map::new();
    act.insert("sub".into(), actor_sub.unwrap_or_default().into());
    if let Some(prev) = subject.registered().act.as_ref() {
        act.insert(
            "act".into(),
            serde_json::to_value(prev).map_err(|_| "server_error")?,
        );
    }
    let mut claims = Map::new();
    if let Some(sub) = subject.subject() {
        claims.insert("sub".into(), sub.into());
    }
    claims.insert("act".into(), Value::Object(act));
    Ok((claims, granted))
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))`; `None` if it is not that.
fn basic_credentials(value: &HeaderValue) -> Option<(String, String)> {
    let text = value.to_str().ok()?;
    let (scheme, encoded) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((unescape(id)?, unescape(secret)?))
}

fn invalid_client() -> Response {
    let mut response = oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    response.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"test issuer\""),
    );
    response
}

/// RFC 6749 §5.2.
pub(super) fn oauth_error(status: StatusCode, error: &str) -> Response {
    let mut response = json_body(status, &json!({ "error": error }));
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub(super) fn json_response(status: StatusCode, value: &Value) -> Response {
    json_body(status, value)
}

fn json_body(status: StatusCode, value: &Value) -> Response {
    let mut response = Response::new(Body::from(value.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
