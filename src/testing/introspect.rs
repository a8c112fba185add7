//! The introspection endpoint of [`TestIssuer`] (RFC 7662): `POST /introspect`, with the
//! token endpoint's client authentication. Active: this issuer's own unexpired JWTs and the
//! opaque tokens it handed out with [`TestIssuer::opaque_token`], unless deactivated with
//! [`TestIssuer::deactivate`] or revoked at its RFC 7009 endpoint.

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
    if let Err(failure) = authenticate_client(&state, &headers, &form) {
        return failure.response();
    }
    let Ok(Some(token)) = form.param("token") else {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": "invalid_request"}),
        );
    };
    let mut response = json_response(StatusCode::OK, &introspect(&state, token).await);
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    response
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

    /// Sets how the introspection endpoint answers (down, hanging, 500, …).
    pub fn set_introspection_behavior(&self, behavior: super::Behavior) {
        lock(&self.inner.state.config).introspection_behavior = behavior;
    }
}
