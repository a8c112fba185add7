//! [`AccessTokenLayer`]: puts this agent's own token on every outgoing request — the
//! outgoing counterpart of [`AuthLayer`](crate::AuthLayer), shaped like tower-http's
//! `AddAuthorization` but asynchronous, because the token may have to be fetched.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Request, header};
use tower_layer::Layer;
use tower_service::Service;

use super::TokenSource;

/// The error of [`AccessTokenService`]: a [`ClientError`](super::ClientError) when no token
/// could be had (the request was not sent), or the inner service's error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Adds `Authorization: Bearer <token>` from a [`TokenSource`] to every request, replacing
/// any `Authorization` header already there: an inbound token is never forwarded. When no
/// token can be had the request is not sent and the call fails with the
/// [`ClientError`](super::ClientError) (boxed).
///
/// ```
/// # fn demo(tokens: a2a_guard::client::TokenSource) {
/// use a2a_guard::client::AccessTokenLayer;
/// let client = tower::ServiceBuilder::new()
///     .layer(AccessTokenLayer::new(tokens))
///     .service(tower::service_fn(|req: http::Request<String>| async move {
///         Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
///     }));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct AccessTokenLayer {
    source: TokenSource,
}

impl AccessTokenLayer {
    /// Tokens from `source`.
    pub fn new(source: TokenSource) -> Self {
        AccessTokenLayer { source }
    }
}

impl<S> Layer<S> for AccessTokenLayer {
    type Service = AccessTokenService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AccessTokenService {
            inner,
            source: self.source.clone(),
        }
    }
}

/// The service of [`AccessTokenLayer`].
#[derive(Debug, Clone)]
pub struct AccessTokenService<S> {
    inner: S,
    source: TokenSource,
}

/// The future of [`AccessTokenService`].
pub type AccessTokenFuture<R> = Pin<Box<dyn Future<Output = Result<R, BoxError>> + Send>>;

impl<S, B, RB> Service<Request<B>> for AccessTokenService<S>
where
    S: Service<Request<B>, Response = http::Response<RB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = AccessTokenFuture<S::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        // Use the service `poll_ready` reserved; leave a fresh clone in its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let source = self.source.clone();
        Box::pin(async move {
            // Never forward what came in: the header is ours or absent, never the caller's.
            req.headers_mut().remove(header::AUTHORIZATION);
            let token = source.token().await?;
            let url = req.uri().to_string();
            let method = req.method().as_str().to_owned();
            super::dpop::authorize(req.headers_mut(), &token, source.prover(), &method, &url)?;
            let res = inner.call(req).await.map_err(Into::into)?;
            // A resource's `DPoP-Nonce` goes into the next proof for its origin (RFC 9449 §9).
            if let Some(prover) = source.prover().filter(|_| token.is_dpop_bound()) {
                prover.remember_nonce(&url, res.headers());
            }
            // The resource says this token is no good: the next call gets another one
            // (throttled, see `TokenSource::invalidate`). The request is not replayed here:
            // its body may be a stream; `AccessTokenMiddleware` replays reqwest requests.
            if invalid_token(res.status().as_u16(), res.headers()) {
                source.invalidate(&token);
            }
            Ok(res)
        })
    }
}

/// RFC 6750 §3.1: a 401 whose challenge says this token is no good (not: scope, not: no
/// token), for the Bearer and the DPoP scheme alike.
pub(crate) fn invalid_token(status: u16, headers: &http::HeaderMap) -> bool {
    status == 401
        && headers.get_all(header::WWW_AUTHENTICATE).iter().any(|v| {
            v.to_str()
                .is_ok_and(|s| s.contains("error=\"invalid_token\""))
        })
}
