//! The introspection endpoint of [`TestIssuer`] (RFC 7662): `POST /introspect`, with the
//! token endpoint's client authentication. Active: this issuer's own unexpired JWTs and the
//! opaque tokens it handed out with [`TestIssuer::opaque_token`], unless deactivated with
//! [`TestIssuer::deactivate`] or revoked at its RFC 7009 endpoint.
//! Signed answers (RFC 9701) when the client asks for `application/token-introspection+jwt`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::{Value, json};

use super::server::{ServerState, lock};
use super::token_endpoint::{Form, authenticate_client, json_response};
use super::{TestIssuer, TokenBuilder, now_unix, random_hex};

/// The path of the introspection endpoint.
pub(super) const INTROSPECT_PATH: &str = "/introspect";

/// `POST /introspect`.
pub(super) async fn serve_introspect(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.introspection_requests.fetch_add(1, Ordering::SeqCst);
    let behavior = lock(&state.config).introspection_behavior;
    if let Some(response) = super::server::misbehave(behavior).await {
        return response;
    }
    let form = match Form::parse(&body) {
        Ok(form) => form,
        Err(refusal) => return refusal.response(),
    };
    let client_id = match authenticate_client(&state, &headers, &form) {
        Ok(id) => id,
        Err(failure) => return failure.response(),
    };
    let Ok(Some(token)) = form.param("token") else {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": "invalid_request"}),
        );
    };
    let answer = introspect(&state, token).await;
    // RFC 9701: a signed answer when the client asks for one.
    let wants_jwt = headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains(JWT_MEDIA));
    let mut response = if wants_jwt && !lock(&state.config).introspection_unsigned {
        match signed_answer(&state, &client_id, answer) {
            Some(jwt) => {
                let mut r = Response::new(axum::body::Body::from(jwt));
                r.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static(JWT_MEDIA),
                );
                r
            }
            None => json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                &json!({"error": "server_error"}),
            ),
        }
    } else {
        json_response(StatusCode::OK, &answer)
    };
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    response
}

/// RFC 9701 §5: the media type of a signed answer.
const JWT_MEDIA: &str = "application/token-introspection+jwt";

/// RFC 9701 §5: `{iss, aud: the client, iat, token_introspection}` signed with the RS256 key
/// (or any key held), `typ` `token-introspection+jwt`.
fn signed_answer(state: &ServerState, client_id: &str, answer: Value) -> Option<String> {
    let key = {
        let keys = lock(&state.keys);
        keys.signing
            .get(&crate::Algorithm::RS256)
            .or_else(|| keys.signing.values().next())
            .cloned()?
    };
    let claims = json!({
        "iss": state.issuer,
        "aud": client_id,
        "iat": now_unix(),
        "token_introspection": answer,
    });
    let header =
        json!({"alg": key.alg().as_str(), "kid": key.kid(), "typ": "token-introspection+jwt"});
    let input = format!(
        "{}.{}",
        super::b64url(header.to_string()),
        super::b64url(claims.to_string())
    );
    let signature = key.sign(input.as_bytes());
    Some(format!("{input}.{}", super::b64url(signature)))
}

/// RFC 7662 §2.2: `{"active": true, …claims}` or `{"active": false}`.
async fn introspect(state: &ServerState, token: &str) -> Value {
    let inactive = json!({"active": false});
    let now = now_unix();
    let claims = {
        let config = lock(&state.config);
        if config.inactive.contains(token) {
            return inactive;
        }
        config.opaque.get(token).cloned()
    };
    let claims = match claims {
        Some(c) => c,
        // Neither an opaque token of ours nor a compact JWS.
        None if token.split('.').count() != 3 => return inactive,
        None => {
            // One of this issuer's JWTs: the signature and `exp` decide.
            let Ok(keys) = crate::jwk::KeySet::from_value(&state.jwks()) else {
                return inactive;
            };
            let Ok(v) = crate::Validator::builder()
                .issuer_keys(state.issuer.clone(), keys)
                .dangerous_skip_audience_check()
                .build()
                .await
            else {
                return inactive;
            };
            match v.validate(token).await {
                Ok(p) => serde_json::to_value(p.registered()).unwrap_or(Value::Null),
                Err(_) => return inactive,
            }
        }
    };
    let Value::Object(mut map) = claims else {
        return inactive;
    };
    map.retain(|_, v| !v.is_null());
    if map
        .get("exp")
        .and_then(Value::as_i64)
        .is_some_and(|e| e <= now)
    {
        return inactive;
    }
    if map.get("jti").and_then(Value::as_str).is_some_and(|j| {
        lock(&state.config).inactive.contains(j) || lock(&state.revoked).contains(j)
    }) {
        return inactive;
    }
    map.insert("active".into(), true.into());
    Value::Object(map)
}

impl TestIssuer {
    /// An opaque (non-JWT) access token whose claims only this issuer's introspection
    /// endpoint knows: the claims of `token` (a [`TokenBuilder`] from [`TestIssuer::token`]).
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let issuer = a2a_guard::testing::TestIssuer::start().await?;
    /// let opaque = issuer.opaque_token(issuer.token().scope("read:data"));
    /// assert!(!opaque.contains('.'));
    /// # Ok(()) }
    /// ```
    pub fn opaque_token(&self, token: TokenBuilder) -> String {
        let value = format!("opaque-{}", random_hex(32));
        lock(&self.inner.state.config)
            .opaque
            .insert(value.clone(), Value::Object(token.claims().clone()));
        value
    }

    /// Mark a token (the opaque value) or every token with this `jti` inactive at the
    /// introspection endpoint, as a revocation at the authorization server would.
    pub fn deactivate(&self, token_or_jti: &str) {
        lock(&self.inner.state.config)
            .inactive
            .insert(token_or_jti.to_owned());
    }

    /// The introspection endpoint's URL (RFC 7662).
    pub fn introspection_url(&self) -> String {
        format!("{}{INTROSPECT_PATH}", self.issuer())
    }

    /// Requests that reached the introspection endpoint.
    pub fn introspection_requests(&self) -> usize {
        self.inner
            .state
            .introspection_requests
            .load(Ordering::SeqCst)
    }

    /// Answer plain JSON even to a client asking for a signed answer (RFC 9701), as a
    /// server without RFC 9701 — or something on the path downgrading the answer — would.
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let issuer = a2a_guard::testing::TestIssuer::start().await?;
    /// issuer.set_introspection_unsigned(true);
    /// # Ok(()) }
    /// ```
    pub fn set_introspection_unsigned(&self, unsigned: bool) {
        lock(&self.inner.state.config).introspection_unsigned = unsigned;
    }

    /// Sets how the introspection endpoint answers (down, hanging, 500, …).
    pub fn set_introspection_behavior(&self, behavior: super::Behavior) {
        lock(&self.inner.state.config).introspection_behavior = behavior;
    }
}
