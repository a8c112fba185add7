use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;

use super::service::Observed;
use crate::audit::DecisionObserver;
use crate::layer::AuthContext;

pin_project! {
    /// Response future of [`AuthService`](super::AuthService): the inner service's own future
    /// when the request was decided without waiting (a token the verified-token cache
    /// holds, sent with the `Bearer` scheme), an immediate answer for a refusal, and a boxed
    /// future only when the decision has to wait (a key fetch, a DPoP replay store,
    /// introspection).
    pub struct ResponseFuture<F, B, E> {
        #[pin]
        kind: Kind<F, B, E>,
    }
}

/// The boxed future of a decision that had to wait.
type Waiting<B, E> = Pin<Box<dyn Future<Output = Result<Response<B>, E>> + Send>>;

pin_project! {
    #[project = KindProj]
    enum Kind<F, B, E> {
        Inner { #[pin] fut: F, after: Option<Box<After>> },
        Ready { res: Option<Response<B>> },
        Waiting { fut: Waiting<B, E> },
    }
}

/// What the decision needs once the inner service has answered (only when someone reads
/// decisions: an observer, the audit event or metrics).
pub(crate) struct After {
    pub(crate) observers: Arc<[Arc<dyn DecisionObserver>]>,
    pub(crate) observed: Observed,
    pub(crate) ctx: Option<AuthContext>,
}

impl<F, B, E> ResponseFuture<F, B, E> {
    pub(crate) fn inner(fut: F, after: Option<Box<After>>) -> Self {
        ResponseFuture {
            kind: Kind::Inner { fut, after },
        }
    }

    pub(crate) fn ready(res: Response<B>) -> Self {
        ResponseFuture {
            kind: Kind::Ready { res: Some(res) },
        }
    }

    pub(crate) fn waiting(fut: Waiting<B, E>) -> Self {
        ResponseFuture {
            kind: Kind::Waiting { fut },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B, E>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { fut, after } => {
                let res = ready!(fut.poll(cx))?;
                if let Some(a) = after.take() {
                    super::service::answered(&a.observers, &a.observed, a.ctx.as_ref(), &res);
                }
                Poll::Ready(Ok(res))
            }
            KindProj::Ready { res } => {
                Poll::Ready(Ok(res.take().expect("polled after completion")))
            }
            KindProj::Waiting { fut } => fut.as_mut().poll(cx),
        }
    }
}

impl<F, B, E> fmt::Debug for ResponseFuture<F, B, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
