use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{Request, Response};
use serde::de::DeserializeOwned;
use tower_service::Service;

use super::{AuthLayer, ResponseFuture};
use crate::audit::Decision;
use crate::bearer::{self, Credentials};
use crate::layer::{AuthContext, GuardOutcome, LayerPresent, RouteSlot, is_grpc, reject};
use crate::pop::{self, RequestRef, Scheme};

/// Authenticates requests; see [`AuthLayer`] and the [`layer`](crate::layer) module.
pub struct AuthService<S, C> {
    pub(crate) inner: S,
    pub(crate) layer: AuthLayer<C>,
}

impl<S: Clone, C> Clone for AuthService<S, C> {
    fn clone(&self) -> Self {
        AuthService {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S: std::fmt::Debug, C> std::fmt::Debug for AuthService<S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthService")
            .field("inner", &self.inner)
            .field("layer", &self.layer)
            .finish()
    }
}

impl<S, C, ReqB, ResB> Service<Request<ReqB>> for AuthService<S, C>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqB: Send + 'static,
    ResB: Default + Send + 'static,
    C: DeserializeOwned + Send + Sync + 'static,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = ResponseFuture<Response<ResB>, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqB>) -> Self::Future {
        // Use the service that `poll_ready` reserved; leave a fresh clone in its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        ResponseFuture {
            inner: Box::pin(async move {
                // Collected only when someone will read the decision.
                let observed = layer.observing().then(|| {
                    let slot = Arc::new(RouteSlot::default());
                    req.extensions_mut().insert(slot.clone());
                    Observed {
                        method: req.method().clone(),
                        uri: req.uri().clone(),
                        slot,
                        started: Instant::now(),
                    }
                });
                let grpc = is_grpc(req.headers());
                req.extensions_mut()
                    .insert(LayerPresent(layer.challenge.clone()));
                let deny = |err: crate::AuthError,
                            ctx: Option<&AuthContext>,
                            dpop_request: bool,
                            path: &str| {
                    if let Some(o) = &observed {
                        layer.decided(&Decision {
                            allowed: false,
                            reason: err.reason(),
                            status: err.status().as_u16(),
                            method: &o.method,
                            path: o.uri.path(),
                            template: None,
                            ctx,
                            required: None,
                            elapsed: o.started.elapsed(),
                        });
                    }
                    // RFC 9449 §7.1: a request made with DPoP is answered with a DPoP challenge.
                    let challenge = layer.challenge.for_request(path, dpop_request, None);
                    Ok(reject(&err, &challenge, grpc))
                };
                let (scheme, token) = match bearer::extract(req.headers(), req.uri().query()) {
                    Err(e) => return deny(e, None, false, req.uri().path()),
                    Ok(Credentials::None) => (None, None),
                    Ok(Credentials::Bearer(t)) => (Some(Scheme::Bearer), Some(t)),
                    Ok(Credentials::Dpop(t)) => (Some(Scheme::Dpop), Some(t)),
                };
                let verified = match (scheme, token) {
                    (Some(scheme), Some(token)) => {
                        let dpop_request = scheme == Scheme::Dpop;
                        let v = match layer.validator.verify(token).await {
                            Ok(v) => v,
                            Err(e) => return deny(e, None, dpop_request, req.uri().path()),
                        };
                        let view = RequestRef {
                            method: req.method(),
                            uri: req.uri(),
                            headers: req.headers(),
                            extensions: req.extensions(),
                            now: layer.validator.now().max(0) as u64,
                        };
                        if let Err(e) = pop::check(
                            &layer.dpop,
                            v.principal.registered().cnf.as_ref(),
                            scheme,
                            token,
                            &view,
                        )
                        .await
                        {
                            let ctx = AuthContext::new(
                                &v.principal,
                                layer.rules.clone(),
                                layer.challenge.clone(),
                                dpop_request,
                                layer.validator.now(),
                            );
                            return deny(e, Some(&ctx), dpop_request, req.uri().path());
                        }
                        Some((v, scheme == Scheme::Dpop))
                    }
                    _ if layer.optional => None,
                    _ => {
                        return deny(
                            crate::AuthError::MissingToken,
                            None,
                            false,
                            req.uri().path(),
                        );
                    }
                };
                // Kept for token exchange (feature `client`): a handler delegates by
                // exchanging it, never by forwarding it.
                #[cfg(feature = "client")]
                if let (Some(_), Some(t)) = (&verified, token) {
                    let inbound = crate::client::InboundToken::new(t);
                    req.extensions_mut().insert(inbound);
                }
                let ctx = verified.map(|(v, dpop)| {
                    let ctx = AuthContext::new(
                        &v.principal,
                        layer.rules.clone(),
                        layer.challenge.clone(),
                        dpop,
                        layer.validator.now(),
                    );
                    req.extensions_mut().insert(v.principal.clone());
                    req.extensions_mut().insert(ctx.clone());
                    ctx
                });
                let res = inner.call(req).await?;
                if let Some(o) = &observed {
                    let outcome = res.extensions().get::<GuardOutcome>();
                    let error = outcome.and_then(|o| o.error.as_ref());
                    // The decision never contradicts the status sent: a 401/403 from inside
                    // (a handler, another middleware) is a denial even without our marker.
                    let status = res.status();
                    let refused = matches!(status.as_u16(), 401 | 403);
                    let reason = match error {
                        Some(e) => e.reason(),
                        None if refused => "refused_downstream",
                        None => "ok",
                    };
                    layer.decided(&Decision {
                        allowed: error.is_none() && !refused,
                        reason,
                        status: status.as_u16(),
                        method: &o.method,
                        path: o.uri.path(),
                        template: o.slot.shared(),
                        ctx: ctx.as_ref(),
                        required: outcome.map(|g| &*g.required),
                        elapsed: o.started.elapsed(),
                    });
                }
                Ok(res)
            }),
        }
    }
}

/// What the decision needs from the request, kept while the inner service has it.
struct Observed {
    method: http::Method,
    /// A clone shares the request's bytes: no copy of the path.
    uri: http::Uri,
    slot: Arc<RouteSlot>,
    started: Instant,
}
