use std::task::{Context, Poll};

use http::{Request, Response};
use serde::de::DeserializeOwned;
use tower_service::Service;

use super::{AuthLayer, ResponseFuture};
use crate::audit::{self, Decision};
use crate::bearer::{self, Credentials};
use crate::layer::{AuthContext, ScopeOutcome, is_grpc, reject};

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
    C: DeserializeOwned + Clone + Send + Sync + 'static,
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
                let method = req.method().clone();
                let path = req.uri().path().to_owned();
                let grpc = is_grpc(req.headers());
                let deny = |err: crate::AuthError, ctx: Option<&AuthContext>| {
                    audit::emit(&Decision {
                        allowed: false,
                        reason: err.reason(),
                        status: err.status().as_u16(),
                        method: &method,
                        path: &path,
                        ctx,
                        required: None,
                    });
                    Ok(reject(&err, &layer.realm, grpc))
                };
                let verified = match bearer::extract(req.headers(), req.uri().query()) {
                    Err(e) => return deny(e, None),
                    Ok(Credentials::None) if layer.optional => None,
                    Ok(Credentials::None) => return deny(crate::AuthError::MissingToken, None),
                    Ok(Credentials::Bearer(token)) => match layer.validator.verify(token).await {
                        Ok(v) => Some(v),
                        Err(e) => return deny(e, None),
                    },
                };
                let ctx = verified.map(|v| {
                    let ctx = AuthContext::new(
                        v.principal.clone(),
                        layer.rules.clone(),
                        layer.realm.clone(),
                    );
                    req.extensions_mut().insert(v.principal.clone());
                    req.extensions_mut().insert(ctx.clone());
                    ctx
                });
                let res = inner.call(req).await?;
                let outcome = res.extensions().get::<ScopeOutcome>();
                let error = outcome.and_then(|o| o.error.as_ref());
                audit::emit(&Decision {
                    allowed: error.is_none(),
                    reason: error.map_or("ok", |e| e.reason()),
                    status: res.status().as_u16(),
                    method: &method,
                    path: &path,
                    ctx: ctx.as_ref(),
                    required: outcome.map(|o| o.required.as_str()),
                });
                Ok(res)
            }),
        }
    }
}
