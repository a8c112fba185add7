//! [`RejectionBodyLayer`]: give the RFC 6750 rejections a body (RFC 9457 problem details, or
//! your own), keeping their status, `WWW-Authenticate`, `Retry-After` and `Cache-Control`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::{HeaderValue, Response, header};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::AuthError;

type RenderFn = dyn Fn(&AuthError) -> Option<(HeaderValue, String)> + Send + Sync;

/// Shapes the body of every rejection that a2a-guard produced (the auth layer, the route
/// guards, the extractors): each carries its [`AuthError`] in the response extensions, and
/// this layer replaces the empty body with the rendered one and sets `Content-Type`. The
/// status and the `WWW-Authenticate` / `Retry-After` / `DPoP-Nonce` / `Cache-Control`
/// headers stay as RFC 6750 / 9449 require. gRPC rejections (trailers-only) and every other
/// response pass untouched. Put it **outside** the auth layer.
///
/// ```
/// use a2a_guard::layer::RejectionBodyLayer;
/// # async fn demo(validator: a2a_guard::Validator) {
/// let app: axum::Router = axum::Router::new()
///     .layer(validator.layer())
///     .layer(RejectionBodyLayer::problem_details()); // application/problem+json
/// // Or your own shape:
/// let custom = RejectionBodyLayer::from_fn(|err| {
///     let body = format!(r#"{{"code":"{}"}}"#, err.reason());
///     Some((http::HeaderValue::from_static("application/json"), body))
/// });
/// # let _ = (app, custom);
/// # }
/// ```
#[derive(Clone)]
pub struct RejectionBodyLayer {
    render: Arc<RenderFn>,
}

impl std::fmt::Debug for RejectionBodyLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RejectionBodyLayer").finish_non_exhaustive()
    }
}

impl RejectionBodyLayer {
    /// RFC 9457 problem details (`application/problem+json`): `type` `about:blank`, `title`
    /// (the status's reason phrase), `status`, `detail` (the error's message, which never
    /// contains token content), and the members `error` (the RFC 6750 code, when there is
    /// one), `reason` ([`AuthError::reason`]) and, for a missing scope, `scope`.
    ///
    /// ```
    /// use a2a_guard::AuthError;
    /// use a2a_guard::layer::RejectionBodyLayer;
    /// let (content_type, body) = RejectionBodyLayer::render_problem(&AuthError::Expired);
    /// assert_eq!(content_type, "application/problem+json");
    /// let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    /// assert_eq!((v["status"].as_u64(), v["error"].as_str()), (Some(401), Some("invalid_token")));
    /// ```
    pub fn problem_details() -> Self {
        Self::from_fn(|err| Some(Self::render_problem(err)))
    }

    /// Your own rendering: `Some((content_type, body))`, or `None` to leave a rejection as it
    /// is (empty body).
    pub fn from_fn<F>(render: F) -> Self
    where
        F: Fn(&AuthError) -> Option<(HeaderValue, String)> + Send + Sync + 'static,
    {
        RejectionBodyLayer {
            render: Arc::new(render),
        }
    }

    /// The problem-details rendering of one error (what [`problem_details`](Self::problem_details) sends).
    pub fn render_problem(err: &AuthError) -> (HeaderValue, String) {
        let status = err.status();
        let mut doc = serde_json::json!({
            "type": "about:blank",
            "title": status.canonical_reason().unwrap_or("Error"),
            "status": status.as_u16(),
            "detail": err.to_string(),
            "reason": err.reason(),
        });
        if let Some(code) = err.error_code() {
            doc["error"] = code.into();
        }
        if let AuthError::InsufficientScope { required } = err {
            doc["scope"] = required.as_str().into();
        }
        (
            HeaderValue::from_static("application/problem+json"),
            doc.to_string(),
        )
    }
}

impl<S> Layer<S> for RejectionBodyLayer {
    type Service = RejectionBody<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RejectionBody {
            inner,
            render: self.render.clone(),
        }
    }
}

/// The service of [`RejectionBodyLayer`].
#[derive(Clone)]
pub struct RejectionBody<S> {
    inner: S,
    render: Arc<RenderFn>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for RejectionBody<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RejectionBody")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, ReqB, ResB> Service<http::Request<ReqB>> for RejectionBody<S>
where
    S: Service<http::Request<ReqB>, Response = Response<ResB>>,
    ResB: From<String>,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = RejectionBodyFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqB>) -> Self::Future {
        RejectionBodyFuture {
            inner: self.inner.call(req),
            render: self.render.clone(),
        }
    }
}

pin_project! {
    /// Response future of [`RejectionBody`].
    pub struct RejectionBodyFuture<F> {
        #[pin]
        inner: F,
        render: Arc<RenderFn>,
    }
}

impl<F, ResB, E> Future for RejectionBodyFuture<F>
where
    F: Future<Output = Result<Response<ResB>, E>>,
    ResB: From<String>,
{
    type Output = Result<Response<ResB>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let res = ready!(this.inner.poll(cx))?;
        let rendered = match res.extensions().get::<AuthError>() {
            // gRPC rejections are trailers-only (status 200 + grpc-status): no body.
            Some(err) if res.status() == err.status() => (this.render)(err),
            _ => None,
        };
        let Some((content_type, body)) = rendered else {
            return Poll::Ready(Ok(res));
        };
        let (mut parts, _empty) = res.into_parts();
        parts.headers.insert(header::CONTENT_TYPE, content_type);
        parts.headers.remove(header::CONTENT_LENGTH);
        Poll::Ready(Ok(Response::from_parts(parts, ResB::from(body))))
    }
}
