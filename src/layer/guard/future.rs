use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;

use crate::layer::GuardOutcome;

pin_project! {
    /// Response future of [`GuardService`](super::GuardService).
    pub struct GuardFuture<F, B> {
        #[pin]
        kind: Kind<F, B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B> {
        Inner { #[pin] fut: F, outcome: Option<GuardOutcome> },
        Ready { res: Option<Response<B>> },
    }
}

impl<F, B> GuardFuture<F, B> {
    pub(crate) fn inner(fut: F, outcome: Option<GuardOutcome>) -> Self {
        GuardFuture {
            kind: Kind::Inner { fut, outcome },
        }
    }

    pub(crate) fn ready(res: Response<B>) -> Self {
        GuardFuture {
            kind: Kind::Ready { res: Some(res) },
        }
    }
}

impl<F, B, E> Future for GuardFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { fut, outcome } => {
                let mut res = ready!(fut.poll(cx))?;
                // A decision from further in (an extractor's rejection) is the one to audit.
                if let Some(o) = outcome.take()
                    && res.extensions().get::<GuardOutcome>().is_none()
                {
                    res.extensions_mut().insert(o);
                }
                Poll::Ready(Ok(res))
            }
            KindProj::Ready { res } => {
                Poll::Ready(Ok(res.take().expect("polled after completion")))
            }
        }
    }
}
