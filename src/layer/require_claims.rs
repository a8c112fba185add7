//! [`RequireClaims`]: a route guard on the token's claims, for rules scopes cannot express.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use http::request::Parts;
use tower_layer::Layer;

use super::AuthContext;
use super::guard::{GuardService, RouteGuard};
use crate::AuthError;
use crate::claims::{ExtraClaims, Principal};

type RuleFn<C> = dyn Fn(&Principal<C>, &Parts) -> bool + Send + Sync;

/// Admit a request only when a predicate over the verified token's claims (and, with
/// [`from_request_fn`](Self::from_request_fn), the request) holds: a tenant that must match
/// the path, an `azp` allow-list, a claim that must have some value. A refusal is the same
/// 403 as the scope guard's (`error="insufficient_scope"`, the rule's name as
/// `error_description`); without a token it is 401.
///
/// `C` must be the validator's claims type (`Validator::builder().claims::<C>()`): another
/// type answers 500 and logs both type names, like the extractors.
///
/// ```
/// use a2a_guard::{Principal, RequireClaims};
///
/// #[derive(Clone, serde::Deserialize)]
/// struct MyClaims { tenant: String }
///
/// // A fixed rule on the claims:
/// let acme_only = RequireClaims::from_fn("tenant is acme", |p: &Principal<MyClaims>| {
///     p.claims().tenant == "acme"
/// });
/// // A rule that reads the request too (here: `/tenants/{tenant}/…` must be the token's):
/// let own_tenant = RequireClaims::from_request_fn(
///     "tenant matches the path",
///     |p: &Principal<MyClaims>, req: &http::request::Parts| {
///         req.uri.path().starts_with(&format!("/tenants/{}/", p.claims().tenant))
///     },
/// );
/// // With the default claims type (a JSON map):
/// let orchestrators = RequireClaims::from_fn("azp is the orchestrator", |p: &Principal| {
///     p.client_id() == Some("orchestrator")
/// });
/// # let _ = (acme_only, own_tenant, orchestrators);
/// ```
pub struct RequireClaims<C = ExtraClaims> {
    rule: Arc<RuleFn<C>>,
    name: Arc<str>,
    _claims: PhantomData<fn() -> C>,
}

impl<C> Clone for RequireClaims<C> {
    fn clone(&self) -> Self {
        RequireClaims {
            rule: self.rule.clone(),
            name: self.name.clone(),
            _claims: PhantomData,
        }
    }
}

impl<C> fmt::Debug for RequireClaims<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RequireClaims").field(&self.name).finish()
    }
}

impl<C: Send + Sync + 'static> RequireClaims<C> {
    /// A rule over the claims. `name` says what it requires: it is the audit event's
    /// `required` field and the refusal's `error_description` (so keep it free of secrets).
    pub fn from_fn<F>(name: impl Into<Arc<str>>, rule: F) -> Self
    where
        F: Fn(&Principal<C>) -> bool + Send + Sync + 'static,
    {
        Self::from_request_fn(name, move |p, _| rule(p))
    }

    /// A rule over the claims and the request (method, path, headers, extensions).
    pub fn from_request_fn<F>(name: impl Into<Arc<str>>, rule: F) -> Self
    where
        F: Fn(&Principal<C>, &Parts) -> bool + Send + Sync + 'static,
    {
        RequireClaims {
            rule: Arc::new(rule),
            name: name.into(),
            _claims: PhantomData,
        }
    }
}

/// The service of [`RequireClaims`].
pub type RequireClaimsService<S, C = ExtraClaims> = GuardService<S, RequireClaims<C>>;

impl<C: Send + Sync + 'static> RouteGuard for RequireClaims<C> {
    fn evaluate(&self, ctx: Option<&AuthContext>, parts: &Parts) -> (Arc<str>, Option<AuthError>) {
        let error = match (ctx, parts.extensions.get::<Principal<C>>()) {
            (None, _) => Some(AuthError::MissingToken),
            (Some(_), Some(p)) if (self.rule)(p, parts) => None,
            (Some(_), Some(_)) => Some(AuthError::ClaimsNotAllowed {
                rule: self.name.clone(),
            }),
            (Some(ctx), None) => {
                crate::layer::misconfigured_once!(
                    validator_claims = ctx.claims_type(),
                    guard_claims = std::any::type_name::<C>(),
                    "RequireClaims claims type differs from the validator's"
                );
                Some(AuthError::Misconfigured(
                    "the claims rule's claims type is not the validator's",
                ))
            }
        };
        (self.name.clone(), error)
    }
}

impl<S, C> Layer<S> for RequireClaims<C> {
    type Service = RequireClaimsService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        GuardService {
            inner,
            guard: self.clone(),
        }
    }
}
