use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::{GuardFuture, RouteGuard};
use crate::AuthError;
use crate::layer::{AuthContext, ChallengeConfig, GuardOutcome, LayerPresent, is_grpc, reject};

/// The service of a route guard layer ([`RequireScopes`](crate::RequireScopes),
/// [`RequireActor`](crate::RequireActor)).
#[derive(Clone, Debug)]
pub struct GuardService<S, G> {
    pub(crate) inner: S,
    pub(crate) guard: G,
}

impl<S, G, ReqB, ResB> Service<Request<ReqB>> for GuardService<S, G>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    G: RouteGuard,
    ResB: Default,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = GuardFuture<S::Future, ResB>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let (parts, body) = req.into_parts();
        crate::layer::record_route(&parts.extensions);
        let ctx = parts.extensions.get::<AuthContext>();
        let layer = parts.extensions.get::<LayerPresent>();
        if ctx.is_none() && layer.is_none() {
            // Fails closed below (no context → 401); say why once.
            crate::layer::misconfigured_once!(
                guard = std::any::type_name::<G>(),
                "route guard with no AuthLayer in front: every request is refused; add \
                 `validator.layer()` outside the route layer"
            );
        }
        let (required, error) = self.guard.evaluate(ctx, &parts);
        match error {
            None => {
                // The outcome only feeds the decision: skip it when the auth layer in front
                // reports none (it asked for the route template only if it does).
                let observed = parts
                    .extensions
                    .get::<Arc<crate::layer::RouteSlot>>()
                    .is_some();
                let req = Request::from_parts(parts, body);
                let outcome = observed.then_some(GuardOutcome {
                    required,
                    error: None,
                });
                GuardFuture::inner(self.inner.call(req), outcome)
            }
            Some(err) => {
                let unconfigured;
                let (settings, dpop) = match (ctx, layer) {
                    (Some(c), _) => {
                        let (s, dpop) = c.challenge();
                        (s, dpop)
                    }
                    (None, Some(l)) => (&l.0, false),
                    (None, None) => {
                        unconfigured = ChallengeConfig::unconfigured();
                        (&unconfigured, false)
                    }
                };
                // An unauthenticated request reached this route (an optional layer): the
                // 401 asks for exactly what the route requires (MCP scope selection).
                let scope = (matches!(err, AuthError::MissingToken)
                    && self.guard.requires_scopes()
                    && !required.is_empty())
                .then_some(&*required);
                let challenge = settings.for_request(parts.uri.path(), dpop, scope);
                let mut res = reject::<ResB>(&err, &challenge, is_grpc(&parts.headers));
                res.extensions_mut().insert(GuardOutcome {
                    required,
                    error: Some(err),
                });
                GuardFuture::ready(res)
            }
        }
    }
}
