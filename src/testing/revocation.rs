//! The RFC 7009 revocation endpoint of [`TestIssuer`](super::TestIssuer), `POST /revoke`.
//!
//! Clients authenticate exactly as at the token endpoint (the same function). A token this
//! issuer minted for the authenticated client is recorded as revoked by its `jti`; any other
//! token (unknown, expired, another client's, not a JWT) is answered 200 too and not recorded
//! (RFC 7009 §2.2: an invalid token is not an error). A revoked token is inactive at the
//! introspection endpoint and refused as the subject or actor of a token exchange; resource
//! servers that validate JWTs locally learn of it only through introspection or a deny-list.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::response::Response;
use http::header::CACHE_CONTROL;
use http::{HeaderMap, HeaderValue, StatusCode};

use super::server::{ServerState, lock};
use super::token_endpoint::{Form, authenticate_client, oauth_error, own_token_validator};

/// `POST /revoke`.
pub(super) async fn serve_revoke(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.revocation_requests.fetch_add(1, Ordering::SeqCst);
    let behavior = lock(&state.config).revocation_behavior;
    if let Some(response) = super::server::misbehave(behavior).await {
        return response;
    }
    let form = match Form::parse(&body) {
        Ok(form) => form,
        Err(refusal) => return refusal.response(),
    };
    let (Ok(token), Ok(_hint)) = (form.param("token"), form.param("token_type_hint")) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    // RFC 7009 §2.1: the client is authenticated first.
    let client_id = match authenticate_client(&state, &headers, &form) {
        Ok(id) => id,
        Err(refusal) => return refusal.response(),
    };
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    // RFC 7009 §2.1: only a token issued to this client is revoked. The hint is optional
    // and only a lookup aid (§2.1); every token here is an access token.
    if let Some(jti) = own_jti(&state, token, &client_id).await {
        lock(&state.revoked).insert(jti);
    } else {
        // An opaque token handed out for this client (`TestIssuer::opaque_token`).
        let mut config = lock(&state.config);
        let owned = config.opaque.get(token).is_some_and(|claims| {
            claims.get("client_id").and_then(serde_json::Value::as_str) == Some(&client_id)
                || claims.get("sub").and_then(serde_json::Value::as_str) == Some(&client_id)
        });
        if owned {
            config.inactive.insert(token.to_owned());
        }
    }
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::OK;
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The `jti` of `token` when it is a valid access token this issuer minted for `client_id`.
async fn own_jti(state: &ServerState, token: &str, client_id: &str) -> Option<String> {
    let validator = own_token_validator(state).await.ok()?;
    let principal = validator.validate(token).await.ok()?;
    if principal.client_id() != Some(client_id) {
        return None;
    }
    principal.registered().jti.clone()
}
