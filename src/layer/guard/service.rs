use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::{GuardFuture, RouteGuard};
use crate::layer::{AuthContext, DEFAULT_REALM, GuardOutcome, LayerPresent, is_grpc, reject};

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
        if ctx.is_none() && parts.extensions.get::<LayerPresent>().is_none() {
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
                let req = Request::from_parts(parts, body);
                // The outcome only feeds the audit event: skip it when nobody listens.
                let outcome = crate::audit::wanted().then_some(GuardOutcome {
                    required,
                    error: None,
                });
                GuardFuture::inner(self.inner.call(req), outcome)
            }
            Some(err) => {
                let realm = ctx.map_or(DEFAULT_REALM, |c| c.realm());
                let mut res = reject::<ResB>(
                    &err,
                    &crate::Challenge::bearer(realm),
                    is_grpc(&parts.headers),
                );
                res.extensions_mut().insert(GuardOutcome {
                    required,
                    error: Some(err),
                });
                GuardFuture::ready(res)
            }
        }
    }
}
