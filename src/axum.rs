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
//! the default is [`crate::claims::ExtraClaims`].

use std::sync::Arc;

use ::axum::extract::FromRequestParts;
use ::axum::response::{IntoResponse, Response};
use http::request::Parts;

use crate::AuthError;
use crate::claims::{ExtraClaims, Principal};
use crate::layer::{AuthContext, DEFAULT_REALM};

/// The custom claims of the authenticated token.
#[derive(Debug, Clone)]
pub struct Claims<C = ExtraClaims>(pub C);

/// The custom claims when a token was sent, `None` when none was (with
/// [`AuthLayer::optional`](crate::AuthLayer::optional)). Invalid tokens never get here.
#[derive(Debug, Clone)]
pub struct OptionalClaims<C = ExtraClaims>(pub Option<C>);

/// The rejection of the extractors: the RFC 6750 response.
#[derive(Debug, Clone)]
pub struct AuthRejection {
    error: AuthError,
    realm: Arc<str>,
}

impl AuthRejection {
    /// The error behind the rejection.
    pub fn error(&self) -> &AuthError {
        &self.error
    }
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        self.error.to_response(&self.realm)
    }
}

/// The principal the auth layer put into the request, or the 401 rejection.
fn principal<C: Send + Sync + 'static>(parts: &Parts) -> Result<&Principal<C>, AuthRejection> {
    parts
        .extensions
        .get::<Arc<Principal<C>>>()
        .map(|p| &**p)
        .ok_or_else(|| missing(parts))
}

fn missing(parts: &Parts) -> AuthRejection {
    let realm = parts
        .extensions
        .get::<AuthContext>()
        .map_or(Arc::from(DEFAULT_REALM), |c| Arc::from(c.realm()));
    AuthRejection {
        error: AuthError::MissingToken,
        realm,
    }
}

impl<S, C> FromRequestParts<S> for Principal<C>
where
    S: Send + Sync,
    C: Clone + Send + Sync + 'static,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        principal(parts).cloned()
    }
}

impl<S, C> FromRequestParts<S> for Claims<C>
where
    S: Send + Sync,
    C: Clone + Send + Sync + 'static,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        principal::<C>(parts).map(|p| Claims(p.claims().clone()))
    }
}

impl<S, C> FromRequestParts<S> for OptionalClaims<C>
where
    S: Send + Sync,
    C: Clone + Send + Sync + 'static,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(OptionalClaims(
            principal::<C>(parts).ok().map(|p| p.claims().clone()),
        ))
    }
}
