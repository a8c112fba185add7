//! The shared machinery of the route guards ([`RequireScopes`](crate::RequireScopes),
//! [`RequireActor`](crate::RequireActor)): read the [`AuthContext`] the auth layer put into the
//! request, decide, then call the inner service or answer with the rejection. The decision
//! rides on the response to the auth layer's single audit event.

mod future;
mod service;

pub use future::GuardFuture;
pub use service::GuardService;

use std::sync::Arc;

use http::request::Parts;

use super::AuthContext;
use crate::AuthError;

/// A per-route authorisation rule.
pub trait RouteGuard: Clone {
    /// What the route requires, as text for the audit event and the `scope` attribute, and
    /// the error when `ctx` does not meet it. `ctx` is `None` when the request was not
    /// authenticated.
    fn evaluate(&self, ctx: Option<&AuthContext>, parts: &Parts) -> (Arc<str>, Option<AuthError>);

    /// Whether the text [`evaluate`](Self::evaluate) returns is a list of scope tokens, so a
    /// 401 for an unauthenticated request may name it in `scope` (default: no).
    fn requires_scopes(&self) -> bool {
        false
    }
}
