//! axum 0.8 extractors: [`Claims<C>`], [`Principal<C>`](crate::Principal),
//! [`OptionalClaims<C>`]. Their rejection is the same RFC 6750 response the layer gives.
//!
//! ```
//! use a2a_guard::axum::{Claims, OptionalClaims};
//! use a2a_guard::Principal;
//!
//! #[derive(Clone, serde::Deserialize)]
//! struct MyClaims { sub: String }
//!
//! async fn whoami(Claims(c): Claims<MyClaims>) -> String { c.sub }
//! async fn details(p: Principal<MyClaims>) -> String { format!("{} {}", p.claims().sub, p.scopes()) }
//! async fn maybe(OptionalClaims(c): OptionalClaims<MyClaims>) -> String {
//!     c.map_or("anonymous".into(), |c| c.sub)
//! }
//! ```
//!
//! The claims type must be the validator's (`Validator::builder().claims::<MyClaims>()`);
//! the default is [`crate::claims::ExtraClaims`]. Another type cannot be caught at compile
//! time (the layer and the handler meet only in request extensions), so it is caught at the
//! first request: the extractor answers **500** and an `error` event at target
//! `a2a_guard::config` names both types. An extractor with no auth layer in front does the
//! same. Neither ever passes as "no token".

use std::sync::Arc;

use ::axum::extract::FromRequestParts;
use ::axum::response::{IntoResponse, Response};
use http::request::Parts;

use crate::AuthError;
use crate::claims::{ExtraClaims, Principal};
use crate::layer::{AuthContext, ChallengeConfig, GuardOutcome, LayerPresent};

/// The custom claims of the authenticated token, as the validator's claims type `C`.
/// Without a token the rejection is the RFC 6750 401; with another claims type than the
/// validator's, a 500 (see the module docs).
///
/// ```
/// use a2a_guard::{Claims, RequireScopes, Validator};
/// use axum::{Router, routing::get};
///
/// #[derive(Clone, serde::Deserialize)]
/// struct AgentClaims { sub: String, tenant: String }
///
/// async fn whoami(Claims(c): Claims<AgentClaims>) -> String {
///     format!("{} of {}", c.sub, c.tenant)
/// }
///
/// # async fn demo() -> Result<(), a2a_guard::ConfigError> {
/// let validator = Validator::builder()
///     .issuer("https://auth.example.com")
///     .audience("agent-api")
///     .claims::<AgentClaims>() // the same type as the extractor's
///     .build()
///     .await?;
/// let app: Router = Router::new()
///     .route("/whoami", get(whoami).route_layer(RequireScopes::all(["read:self"])))
///     .layer(validator.layer());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Claims<C = ExtraClaims>(pub C);

/// The custom claims when a token was sent, `None` when none was (with
/// [`AuthLayer::optional`](crate::AuthLayer::optional)). Invalid tokens never get here: the
/// optional layer still rejects a token that is present but invalid.
///
/// ```
/// use a2a_guard::{OptionalClaims, Validator};
/// use axum::{Router, routing::get};
///
/// async fn greet(OptionalClaims(c): OptionalClaims) -> String {
///     match c.and_then(|c| c.get("sub").and_then(|s| s.as_str()).map(str::to_owned)) {
///         Some(sub) => format!("hello {sub}"),
///         None => "hello, anonymous".into(),
///     }
/// }
///
/// # async fn demo(validator: Validator) {
/// let app: Router = Router::new()
///     .route("/", get(greet))
///     .layer(validator.layer().optional()); // requests without a token pass, unauthenticated
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct OptionalClaims<C = ExtraClaims>(pub Option<C>);

/// The rejection of the extractors: the RFC 6750 response (401 without a token), or 500 for
/// a wiring mistake.
///
/// ```
/// use a2a_guard::AuthRejection;
/// use axum::response::IntoResponse;
/// fn status_of(r: AuthRejection) -> u16 {
///     let code = r.error().status().as_u16();
///     assert_eq!(r.into_response().status().as_u16(), code);
///     code
/// }
/// ```
#[derive(Debug, Clone)]
pub struct AuthRejection {
    error: AuthError,
    challenge: Arc<ChallengeConfig>,
    /// The request path, for the resource whose metadata the challenge names.
    path: Box<str>,
}

impl AuthRejection {
    /// A 500: the wiring is wrong (no challenge is sent).
    fn misconfigured(why: &'static str) -> Self {
        AuthRejection {
            error: AuthError::Misconfigured(why),
            challenge: ChallengeConfig::unconfigured(),
            path: Box::from(""),
        }
    }
}

impl AuthRejection {
    /// The error behind the rejection.
    pub fn error(&self) -> &AuthError {
        &self.error
    }
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        let challenge = self.challenge.for_request(&self.path, false, None);
        let mut res = self.error.to_response_with(&challenge);
        // The auth layer's audit event reports this decision, not "allow".
        res.extensions_mut().insert(GuardOutcome {
            required: Arc::from(""),
            error: Some(self.error),
        });
        res
    }
}

/// The principal the auth layer put into the request, or the rejection: 401 when the request
/// carried no token (an optional layer), 500 when the wiring is wrong — the layer's claims
/// type is another one, or there is no layer at all. A wrong claims type must not look like
/// "no token" (the handler would treat an authenticated caller as anonymous).
fn principal<C: Send + Sync + 'static>(
    parts: &Parts,
) -> Result<Option<&Principal<C>>, AuthRejection> {
    crate::layer::record_route(&parts.extensions);
    if let Some(p) = parts.extensions.get::<Principal<C>>() {
        return Ok(Some(p));
    }
    match parts.extensions.get::<AuthContext>() {
        Some(ctx) => {
            crate::layer::misconfigured_once!(
                validator_claims = ctx.claims_type(),
                extractor_claims = std::any::type_name::<C>(),
                "extractor claims type differs from the validator's: use the validator's type \
                 (`Validator::builder().claims::<T>()` and `Principal<T>`/`Claims<T>`)"
            );
            Err(AuthRejection::misconfigured(
                "the extractor's claims type is not the validator's",
            ))
        }
        None if parts.extensions.get::<LayerPresent>().is_some() => Ok(None),
        None => {
            crate::layer::misconfigured_once!(
                extractor_claims = std::any::type_name::<C>(),
                "claims extractor with no AuthLayer in front: add `validator.layer()` to the router"
            );
            Err(AuthRejection::misconfigured(
                "no auth layer in front of the extractor",
            ))
        }
    }
}

fn required<C: Send + Sync + 'static>(parts: &Parts) -> Result<&Principal<C>, AuthRejection> {
    principal(parts)?.ok_or_else(|| AuthRejection {
        error: AuthError::MissingToken,
        challenge: parts
            .extensions
            .get::<LayerPresent>()
            .map_or_else(ChallengeConfig::unconfigured, |l| l.0.clone()),
        path: parts.uri.path().into(),
    })
}

impl<S, C> FromRequestParts<S> for Principal<C>
where
    S: Send + Sync,
    C: Send + Sync + 'static,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        required::<C>(parts).cloned()
    }
}

impl<S, C> FromRequestParts<S> for Claims<C>
where
    S: Send + Sync,
    C: Clone + Send + Sync + 'static,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        required::<C>(parts).map(|p| Claims(p.claims().clone()))
    }
}

impl<S, C> FromRequestParts<S> for OptionalClaims<C>
where
    S: Send + Sync,
    C: Clone + Send + Sync + 'static,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(OptionalClaims(
            principal::<C>(parts)?.map(|p| p.claims().clone()),
        ))
    }
}
