//! The admin surface: revoke by `jti`, subject, client or session over HTTP, for operators and
//! tests. It must be protected like any route (see [`admin_router`]).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{JTI_DEFAULT_RETENTION, RevocationError, Revocations, Target};

/// The largest request body read.
const MAX_BODY: usize = 4096;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    jti: Option<String>,
    /// The revoked token's `exp` (Unix seconds), when known.
    exp: Option<i64>,
    sub: Option<String>,
    client_id: Option<String>,
    sid: Option<String>,
    /// Tokens issued before this (Unix seconds) are revoked; default: now.
    before: Option<i64>,
}

/// An axum router answering `POST /` with one revocation per request, as JSON:
/// `{"jti": "…", "exp": 1767225600}` (without `exp` the `jti` is kept
/// [`JTI_DEFAULT_RETENTION`]), `{"sub": "…", "before": 1767225600}` (without `before`: now),
/// `{"client_id": "…"}` or `{"sid": "…"}`. Answers 200 `{"revoked": "jti"|"sub"|…}`, 400 for
/// anything else (exactly one of `jti`, `sub`, `client_id`, `sid`), 503 when the deny-list
/// is full or its shared store is down.
///
/// It changes what every route accepts, so protect it: mount it behind the auth layer with a
/// scope only operators hold.
///
/// ```
/// # async fn demo(validator: a2a_guard::Validator) {
/// use a2a_guard::RequireScopes;
/// use a2a_guard::revocation::{Revocations, admin_router};
/// let revocations = Revocations::new();
/// let app: axum::Router = axum::Router::new()
///     .nest(
///         "/admin/revoke",
///         admin_router(revocations.clone()).route_layer(RequireScopes::all(["admin:revoke"])),
///     )
///     .layer(validator.layer());
/// # }
/// ```
pub fn admin_router(revocations: Revocations) -> axum::Router {
    axum::Router::new()
        .route("/", post(revoke))
        .with_state(revocations)
}

async fn revoke(State(r): State<Revocations>, body: Bytes) -> (StatusCode, Json<Value>) {
    let bad = |why: &str| (StatusCode::BAD_REQUEST, Json(json!({"error": why})));
    if body.len() > MAX_BODY {
        return bad("the body is larger than 4 KiB");
    }
    let Ok(req) = serde_json::from_slice::<Request>(&body) else {
        return bad("expected a JSON object with one of jti, sub, client_id, sid");
    };
    let now = std::time::SystemTime::now();
    let at = |secs: i64| std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.max(0) as u64);
    let before = req.before.map_or(now, at);
    let (what, result) = match (req.jti, req.sub, req.client_id, req.sid) {
        (Some(jti), None, None, None) if req.before.is_none() => {
            let exp = req.exp.map_or(now + JTI_DEFAULT_RETENTION, at);
            ("jti", r.revoke_jti(&jti, exp))
        }
        (None, Some(v), None, None) if req.exp.is_none() => {
            ("sub", r.revoke_before(Target::Subject, &v, before))
        }
        (None, None, Some(v), None) if req.exp.is_none() => {
            ("client_id", r.revoke_before(Target::Client, &v, before))
        }
        (None, None, None, Some(v)) if req.exp.is_none() => {
            ("sid", r.revoke_before(Target::Session, &v, before))
        }
        _ => {
            return bad(
                "exactly one of jti, sub, client_id, sid (exp only with jti, before only without)",
            );
        }
    };
    match result {
        Ok(()) => {
            tracing::info!(target: "a2a_guard::revocation", by = what, "revoked through the admin service");
            (StatusCode::OK, Json(json!({"revoked": what})))
        }
        Err(RevocationError::InvalidId) => bad("the identifier is empty or too long"),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": e.to_string()})),
        ),
    }
}
