use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::{RequireScopes, ScopesFuture};
use crate::AuthError;
use crate::layer::{AuthContext, DEFAULT_REALM, ScopeOutcome, is_grpc, reject};

/// The service of [`RequireScopes`].
#[derive(Clone, Debug)]
pub struct RequireScopesService<S> {
    pub(crate) inner: S,
    pub(crate) guard: RequireScopes,
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for RequireScopesService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    ResB: Default,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = ScopesFuture<S::Future, ResB>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let (parts, body) = req.into_parts();
        let required = self.guard.requirement(&parts);
        let ctx = parts.extensions.get::<AuthContext>().cloned();
        let grpc = is_grpc(&parts.headers);
        let req = Request::from_parts(parts, body);
        let required_text = required.to_string();
        let error = match &ctx {
            Some(ctx) if ctx.satisfies(&required) => None,
            Some(_) => Some(AuthError::InsufficientScope {
                required: required_text.clone(),
            }),
            None => Some(AuthError::MissingToken),
        };
        match error {
            None => ScopesFuture::inner(
                self.inner.call(req),
                ScopeOutcome {
                    required: required_text,
                    error: None,
                },
            ),
            Some(err) => {
                let realm = ctx.as_ref().map_or(DEFAULT_REALM, |c| c.realm());
                let mut res = reject::<ResB>(&err, realm, grpc);
                res.extensions_mut().insert(ScopeOutcome {
                    required: required_text,
                    error: Some(err),
                });
                ScopesFuture::ready(res)
            }
        }
    }
}
