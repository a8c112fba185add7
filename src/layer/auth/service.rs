use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{Request, Response};
use serde::de::DeserializeOwned;
use tower_service::Service;

use super::future::After;
use super::layer::decided;
use super::{AuthLayer, ResponseFuture};
use crate::AuthError;
use crate::audit::{Decision, DecisionObserver};
use crate::bearer::{self, Credentials};
use crate::layer::{AuthContext, GuardOutcome, LayerPresent, RouteSlot, is_grpc, reject};
use crate::pop::{self, RequestRef, Scheme};
use crate::validate::Verified;

/// Authenticates requests; see [`AuthLayer`] and the [`layer`](crate::layer) module.
pub struct AuthService<S, C> {
    pub(crate) inner: S,
    /// Shared: a request clones one `Arc`, not the validator and its caches' handles.
    pub(crate) layer: Arc<AuthLayer<C>>,
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

/// How the synchronous part of a request's decision ended.
enum Step<C> {
    /// Refused: the response to send.
    Deny(AuthError, Option<AuthContext>, bool),
    /// Let through, with the token's record and whether it came with the `DPoP` scheme
    /// (`None`: no token, and the layer is optional).
    Admit(Option<(Arc<Verified<C>>, bool)>),
    /// The decision has to wait: a key fetch, introspection, a DPoP proof.
    Wait,
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
    type Future = ResponseFuture<S::Future, ResB, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqB>) -> Self::Future {
        // Use the service that `poll_ready` reserved; leave a fresh clone in its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = &self.layer;
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
        // Everything that never waits is decided here; only a decision that must wait
        // (a key fetch, introspection, a DPoP proof) gets a boxed future.
        // The token's characters are checked (`bearer::check`) before anything but a cache
        // hit uses it: a hit means the token equals one already verified, whose signed part
        // was decoded as base64url and whose signature's tag matches (SECURITY.md).
        let (scheme, token) = match bearer::read(req.headers(), req.uri().query()) {
            Err(e) => return deny_now(layer, observed.as_ref(), &req, e, None, false),
            Ok(Credentials::None) => (None, None),
            Ok(Credentials::Bearer(t)) => (Some(Scheme::Bearer), Some(t)),
            Ok(Credentials::Dpop(t)) => (Some(Scheme::Dpop), Some(t)),
        };
        let mut missed = None;
        let step = match (scheme, token) {
            (Some(Scheme::Bearer), Some(token)) => {
                match layer.validator.verify_hit(token, &mut missed) {
                    Some(Ok(v)) => match check_bearer(layer, &req, &v) {
                        Ok(()) => Step::Admit(Some((v, false))),
                        Err((e, ctx)) => Step::Deny(e, Some(ctx), false),
                    },
                    // Refused before or after the lookup (too large, expired, revoked):
                    // a malformed token still gets its own error first.
                    Some(Err(e)) => {
                        Step::Deny(bearer::check(token).err().unwrap_or(e), None, false)
                    }
                    None => Step::Wait,
                }
            }
            (Some(_), Some(_)) => Step::Wait,
            _ if layer.optional => Step::Admit(None),
            _ => Step::Deny(AuthError::MissingToken, None, false),
        };
        match step {
            Step::Deny(e, ctx, dpop) => {
                deny_now(layer, observed.as_ref(), &req, e, ctx.as_ref(), dpop)
            }
            Step::Admit(verified) => {
                let inbound = inbound(verified.as_ref().and(token));
                let ctx = admit(layer, &mut req, verified, inbound);
                let after = observed.map(|observed| {
                    Box::new(After {
                        observers: layer.observers.clone(),
                        observed,
                        ctx,
                    })
                });
                ResponseFuture::inner(inner.call(req), after)
            }
            Step::Wait => {
                let layer = layer.clone();
                ResponseFuture::waiting(Box::pin(async move {
                    let grpc = is_grpc(req.headers());
                    // Read again: the request moved into this future.
                    let (scheme, token) = match bearer::extract(req.headers(), req.uri().query()) {
                        Ok(Credentials::Bearer(t)) => (Scheme::Bearer, t),
                        Ok(Credentials::Dpop(t)) => (Scheme::Dpop, t),
                        // Not reached: only a request with a token waits.
                        Ok(Credentials::None) => (Scheme::Bearer, ""),
                        Err(e) => {
                            let res = denial(&layer, observed.as_ref(), &req, e, None, false, grpc);
                            return Ok(res);
                        }
                    };
                    let dpop_request = scheme == Scheme::Dpop;
                    let refused = match layer.validator.verify_slow(token, missed).await {
                        Ok(v) => {
                            let view = request_ref(&layer, &req);
                            let cnf = v.principal.registered().cnf.as_ref();
                            match pop::check(&layer.dpop, cnf, scheme, token, &view).await {
                                Ok(()) => Ok(v),
                                Err(e) => Err((e, Some(context(&layer, &v, dpop_request)))),
                            }
                        }
                        Err(e) => Err((e, None)),
                    };
                    let v = match refused {
                        Ok(v) => v,
                        Err((e, ctx)) => {
                            let (o, ctx) = (observed.as_ref(), ctx.as_ref());
                            return Ok(denial(&layer, o, &req, e, ctx, dpop_request, grpc));
                        }
                    };
                    let inbound = inbound(Some(token));
                    let ctx = admit(&layer, &mut req, Some((v, dpop_request)), inbound);
                    let res = inner.call(req).await?;
                    if let Some(o) = &observed {
                        answered(&layer.observers, o, ctx.as_ref(), &res);
                    }
                    Ok(res)
                }))
            }
        }
    }
}

/// What the decision needs from the request, kept while the inner service has it.
pub(crate) struct Observed {
    method: http::Method,
    /// A clone shares the request's bytes: no copy of the path.
    uri: http::Uri,
    slot: Arc<RouteSlot>,
    started: Instant,
}

/// The view of the request that binding checks read.
fn request_ref<'r, C: DeserializeOwned + Send + Sync + 'static, B>(
    layer: &AuthLayer<C>,
    req: &'r Request<B>,
) -> RequestRef<'r> {
    RequestRef {
        method: req.method(),
        uri: req.uri(),
        headers: req.headers(),
        extensions: req.extensions(),
        now: layer.validator.now().max(0) as u64,
    }
}

/// The context handlers, guards and the decision read.
fn context<C: DeserializeOwned + Send + Sync + 'static>(
    layer: &AuthLayer<C>,
    v: &Verified<C>,
    dpop: bool,
) -> AuthContext {
    AuthContext::new(
        &v.principal,
        layer.rules.clone(),
        layer.challenge.clone(),
        dpop,
        layer.validator.now(),
    )
}

/// The binding checks of a token sent with the `Bearer` scheme (they never wait).
fn check_bearer<C: DeserializeOwned + Send + Sync + 'static, B>(
    layer: &AuthLayer<C>,
    req: &Request<B>,
    v: &Verified<C>,
) -> Result<(), (AuthError, AuthContext)> {
    let cnf = v.principal.registered().cnf.as_ref();
    pop::check_bearer(cnf, &request_ref(layer, req)).map_err(|e| (e, context(layer, v, false)))
}

/// Kept for token exchange (feature `client`): a handler delegates by exchanging the
/// inbound token, never by forwarding it.
#[cfg(feature = "client")]
type Inbound = Option<crate::client::InboundToken>;
/// Without the `client` feature there is no inbound token to keep (a named unit type, so
/// the call sites read the same with and without the feature).
#[cfg(not(feature = "client"))]
#[derive(Clone, Copy)]
struct Inbound;

/// The inbound token to keep for a request let through with `token`.
fn inbound(token: Option<&str>) -> Inbound {
    #[cfg(feature = "client")]
    return token.map(crate::client::InboundToken::new);
    #[cfg(not(feature = "client"))]
    {
        let _ = token;
        Inbound
    }
}

/// Put what the inner service reads into the request; returns the context of an
/// authenticated request.
fn admit<C: DeserializeOwned + Send + Sync + 'static, B>(
    layer: &AuthLayer<C>,
    req: &mut Request<B>,
    verified: Option<(Arc<Verified<C>>, bool)>,
    inbound: Inbound,
) -> Option<AuthContext> {
    let Some((v, dpop)) = verified else {
        // Guards and extractors tell "no token" from "no auth layer in front" by this
        // marker; an authenticated request says so with its `AuthContext`.
        req.extensions_mut()
            .insert(LayerPresent(layer.challenge.clone()));
        return None;
    };
    #[cfg(feature = "client")]
    if let Some(t) = inbound {
        req.extensions_mut().insert(t);
    }
    #[cfg(not(feature = "client"))]
    let Inbound = inbound;
    let ctx = context(layer, &v, dpop);
    req.extensions_mut().insert(v.principal.clone());
    req.extensions_mut().insert(ctx.clone());
    Some(ctx)
}

/// A refusal decided without waiting.
fn deny_now<S, C, B, ResB: Default, E>(
    layer: &AuthLayer<C>,
    observed: Option<&Observed>,
    req: &Request<B>,
    err: AuthError,
    ctx: Option<&AuthContext>,
    dpop_request: bool,
) -> ResponseFuture<S, ResB, E> {
    let grpc = is_grpc(req.headers());
    ResponseFuture::ready(denial(layer, observed, req, err, ctx, dpop_request, grpc))
}

/// The refusal's response, with its decision.
fn denial<C, B, ResB: Default>(
    layer: &AuthLayer<C>,
    observed: Option<&Observed>,
    req: &Request<B>,
    err: AuthError,
    ctx: Option<&AuthContext>,
    dpop_request: bool,
    grpc: bool,
) -> Response<ResB> {
    if let Some(o) = observed {
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
    let challenge = (layer.challenge).for_request(req.uri().path(), dpop_request, None);
    reject(&err, &challenge, grpc)
}

/// The decision of a request the inner service answered.
pub(crate) fn answered<B>(
    observers: &[Arc<dyn DecisionObserver>],
    o: &Observed,
    ctx: Option<&AuthContext>,
    res: &Response<B>,
) {
    let outcome = res.extensions().get::<GuardOutcome>();
    let error = outcome.and_then(|o| o.error.as_ref());
    // The decision never contradicts the status sent: a 401/403 from inside (a handler,
    // another middleware) is a denial even without our marker.
    let status = res.status();
    let refused = matches!(status.as_u16(), 401 | 403);
    let reason = match error {
        Some(e) => e.reason(),
        None if refused => "refused_downstream",
        None => "ok",
    };
    decided(
        observers,
        &Decision {
            allowed: error.is_none() && !refused,
            reason,
            status: status.as_u16(),
            method: &o.method,
            path: o.uri.path(),
            template: o.slot.shared(),
            ctx,
            required: outcome.map(|g| &*g.required),
            elapsed: o.started.elapsed(),
        },
    );
}
