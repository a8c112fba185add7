//! `AuthLayer` and `RequireScopes` as tower middleware: under plain hyper, under tonic,
//! `poll_ready`/`Clone` behaviour, the inner service untouched on rejection, optional mode.
#![cfg(feature = "testing")]

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use a2a_guard::testing::TestIssuer;
use a2a_guard::{RequireScopes, Validator};
use http::{Request, Response, StatusCode};
use tower::{Service, ServiceBuilder, ServiceExt};

async fn validator(issuer: &TestIssuer) -> Validator {
    Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
        .build()
        .await
        .unwrap()
}

/// An inner service that counts its calls and echoes the authenticated subject.
#[derive(Clone, Default)]
struct Counting(Arc<AtomicUsize>);

impl<B> Service<Request<B>> for Counting {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<String>, Infallible>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, req: Request<B>) -> Self::Future {
        self.0.fetch_add(1, Ordering::SeqCst);
        let sub = req
            .extensions()
            .get::<a2a_guard::Principal>()
            .and_then(|p| p.subject().map(str::to_owned));
        std::future::ready(Ok(Response::new(sub.unwrap_or_else(|| "anonymous".into()))))
    }
}

fn req(token: Option<&str>) -> Request<String> {
    let mut r = Request::builder().uri("/x");
    if let Some(t) = token {
        r = r.header("authorization", format!("Bearer {t}"));
    }
    r.body(String::new()).unwrap()
}

#[tokio::test]
async fn the_inner_service_is_not_called_for_a_rejected_request() {
    let issuer = TestIssuer::start().await.unwrap();
    let inner = Counting::default();
    let svc = ServiceBuilder::new()
        .layer(validator(&issuer).await.layer())
        .service(inner.clone());
    let bad = issuer.token().audience("other").sign();
    for r in [req(None), req(Some(&bad)), req(Some("not-a-jwt"))] {
        let res = svc.clone().oneshot(r).await.unwrap();
        assert!(res.status().is_client_error());
    }
    assert_eq!(inner.0.load(Ordering::SeqCst), 0);
    let res = svc
        .clone()
        .oneshot(req(Some(&issuer.token().sign())))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.body(), "agent-test");
    assert_eq!(inner.0.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn readiness_reserved_by_poll_ready_is_the_one_used() {
    // Behind a concurrency limit of 1: the permit taken in poll_ready must travel with the
    // call, and the clone left behind must not be ready until the first call finishes.
    let issuer = TestIssuer::start().await.unwrap();
    let (gate_tx, gate_rx) = tokio::sync::oneshot::channel::<()>();
    let gate = Arc::new(tokio::sync::Mutex::new(Some(gate_rx)));
    let inner = tower::service_fn(move |_: Request<String>| {
        let gate = gate.clone();
        async move {
            if let Some(rx) = gate.lock().await.take() {
                let _ = rx.await;
            }
            Ok::<_, Infallible>(Response::new(String::new()))
        }
    });
    let mut svc = ServiceBuilder::new()
        .layer(validator(&issuer).await.layer())
        .concurrency_limit(1)
        .service(inner);
    let token = issuer.token().sign();
    svc.ready().await.unwrap();
    let first = tokio::spawn(svc.call(req(Some(&token))));
    tokio::task::yield_now().await;
    let mut second = svc.clone();
    let pending = futures_poll_ready(&mut second);
    assert!(pending, "the limit is held by the in-flight call");
    gate_tx.send(()).unwrap();
    assert_eq!(first.await.unwrap().unwrap().status(), 200);
    second.ready().await.unwrap();
    assert_eq!(second.call(req(Some(&token))).await.unwrap().status(), 200);
}

fn futures_poll_ready<S: Service<Request<String>>>(s: &mut S) -> bool {
    let waker = std::task::Waker::noop();
    let mut cx = Context::from_waker(waker);
    s.poll_ready(&mut cx).is_pending()
}

#[tokio::test]
async fn optional_mode_lets_anonymous_through_but_not_bad_tokens() {
    let issuer = TestIssuer::start().await.unwrap();
    let inner = Counting::default();
    let svc = ServiceBuilder::new()
        .layer(validator(&issuer).await.layer().optional())
        .service(inner.clone());
    let res = svc.clone().oneshot(req(None)).await.unwrap();
    assert_eq!(
        (res.status(), res.body().as_str()),
        (StatusCode::OK, "anonymous")
    );
    let res = svc
        .clone()
        .oneshot(req(Some(&issuer.token().expires_at(1).issued_at(0).sign())))
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = svc
        .clone()
        .oneshot(req(Some(&issuer.token().sign())))
        .await
        .unwrap();
    assert_eq!(res.body(), "agent-test");
    // A scope guard inside still demands a token.
    let guarded = ServiceBuilder::new()
        .layer(validator(&issuer).await.layer().optional())
        .layer(RequireScopes::all(["read:data"]))
        .service(inner.clone());
    assert_eq!(
        guarded.clone().oneshot(req(None)).await.unwrap().status(),
        401
    );
}

#[tokio::test]
async fn bearer_extraction_rules_through_the_layer() {
    let issuer = TestIssuer::start().await.unwrap();
    let svc = ServiceBuilder::new()
        .layer(validator(&issuer).await.layer())
        .service(Counting::default());
    let token = issuer.token().sign();
    let send = |build: Box<dyn FnOnce(http::request::Builder) -> http::request::Builder>| {
        let svc = svc.clone();
        async move {
            svc.oneshot(
                build(Request::builder().uri("/x"))
                    .body(String::new())
                    .unwrap(),
            )
            .await
            .unwrap()
        }
    };
    let t = token.clone();
    assert_eq!(
        send(Box::new(
            move |r| r.header("authorization", format!("bearer {t}"))
        ))
        .await
        .status(),
        200
    );
    let t = token.clone();
    let res = send(Box::new(move |r| {
        r.header("authorization", format!("Bearer {t}"))
            .header("authorization", format!("Bearer {t}"))
    }))
    .await;
    assert_eq!(res.status(), 400);
    assert!(
        res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains(r#"error="invalid_request""#)
    );
    let t = token.clone();
    assert_eq!(
        send(Box::new(
            move |r| r.header("authorization", format!("Bearer {t} {t}"))
        ))
        .await
        .status(),
        400
    );
    let t = token.clone();
    assert_eq!(
        send(Box::new(move |r| r.uri(format!("/x?access_token={t}"))))
            .await
            .status(),
        400
    );
    assert_eq!(
        send(Box::new(|r| r.header("authorization", "Basic dXNlcjpwYXNz")))
            .await
            .status(),
        401
    );
}

#[tokio::test]
async fn under_plain_hyper_over_real_http() {
    use hyper_util::rt::TokioIo;
    let issuer = TestIssuer::start().await.unwrap();
    let svc = ServiceBuilder::new()
        .layer(validator(&issuer).await.layer())
        .layer(RequireScopes::all(["read:data"]))
        .service(Counting::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let svc = hyper_util::service::TowerToHyperService::new(svc.clone());
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc),
            );
        }
    });
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/x");
    let ok = client
        .get(&url)
        .bearer_auth(issuer.token().scope("read:data").sign())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "agent-test");
    let denied = client
        .get(&url)
        .bearer_auth(issuer.token().scope("read:other").sign())
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);
    let none = client.get(&url).send().await.unwrap();
    assert_eq!(none.status(), 401);
}

#[tokio::test]
async fn in_a_tonic_server_with_grpc_statuses() {
    use tonic::transport::{Endpoint, Server};
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let issuer = TestIssuer::start().await.unwrap();
    let (_reporter, health) = tonic_health::server::health_reporter();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let layer = ServiceBuilder::new()
        .layer(validator(&issuer).await.layer())
        .layer(RequireScopes::all(["health:check"]));
    tokio::spawn(
        Server::builder()
            .layer(layer)
            .add_service(health)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let call = |token: Option<String>| {
        let mut client = HealthClient::new(channel.clone());
        async move {
            let mut req = tonic::Request::new(HealthCheckRequest {
                service: String::new(),
            });
            if let Some(t) = token {
                req.metadata_mut()
                    .insert("authorization", format!("Bearer {t}").parse().unwrap());
            }
            client.check(req).await
        }
    };
    assert!(
        call(Some(issuer.token().scope("health:check").sign()))
            .await
            .is_ok()
    );
    assert_eq!(
        call(None).await.unwrap_err().code(),
        tonic::Code::Unauthenticated
    );
    assert_eq!(
        call(Some(issuer.token().scope("other").sign()))
            .await
            .unwrap_err()
            .code(),
        tonic::Code::PermissionDenied
    );
    let expired = issuer
        .token()
        .issued_at(0)
        .expires_at(1)
        .scope("health:check")
        .sign();
    let err = call(Some(expired)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    assert_eq!(err.message(), "the token has expired");
}
