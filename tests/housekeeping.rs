//! Housekeeping (issue 11): the query-string `access_token` refusal through the layer over
//! real loopback HTTP, and the test helpers' temporary directories.
#![cfg(feature = "testing")]

mod common;

use std::time::Duration;

use a2a_guard::Validator;
use a2a_guard::testing::TestIssuer;
use axum::Router;
use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An app behind the layer on a loopback port; the handler answers `reached`.
async fn serve(issuer: &TestIssuer) -> std::net::SocketAddr {
    let v = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
        .build()
        .await
        .unwrap();
    let app = Router::new()
        .route("/whoami", get(|| async { "reached" }))
        .layer(v.layer());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// One raw HTTP/1.1 request, so the request target reaches the server byte for byte (an
/// HTTP client could normalise the percent-encoding the test is about). Status and body.
async fn raw_get(addr: std::net::SocketAddr, target: &str, auth: Option<&str>) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    let req = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// RFC 6750 §2.3 names the query parameter `access_token`; a2a-guard refuses it (tokens in
/// URLs reach access logs, RFC 6750 §5.3). The name is compared after form decoding, so a
/// percent-encoded, case-changed or space-padded spelling is refused too — with a valid
/// header token beside it or without one — and the handler is never reached.
#[tokio::test]
async fn query_access_token_in_any_spelling_is_refused_through_the_layer() {
    let issuer = TestIssuer::start().await.unwrap();
    let addr = serve(&issuer).await;
    let t = issuer.token().sign();
    let bearer = format!("Bearer {t}");
    common::within(Duration::from_secs(30), async {
        let (status, body) = raw_get(addr, "/whoami?x=1", Some(&bearer)).await;
        assert_eq!(status, 200, "control: {body}");
        assert!(body.ends_with("reached"));
        for q in [
            "access_token=",
            "access%5Ftoken=",
            "access%5ftoken=",
            "%61ccess_token=",
            "ACCESS_TOKEN=",
            "+access_token=",
            "access_token%20=",
            "x=1;access_token=",
        ] {
            for auth in [None, Some(bearer.as_str())] {
                let (status, body) = raw_get(addr, &format!("/whoami?{q}{t}"), auth).await;
                assert_eq!(status, 400, "{q} (header: {}): {body}", auth.is_some());
                assert!(body.contains("invalid_request"), "{q}: {body}");
                assert!(!body.ends_with("reached"), "{q}: the handler ran");
                assert!(!body.contains(&t), "{q}: the response echoes the token");
            }
        }
        // Look-alikes that are other parameters pass.
        for q in [
            "access_token_hint=1",
            "access%255Ftoken=1",
            "x=access_token",
        ] {
            let (status, body) = raw_get(addr, &format!("/whoami?{q}"), Some(&bearer)).await;
            assert_eq!(status, 200, "{q}: {body}");
        }
    })
    .await;
}

/// The tests' scratch directories are removed when the test ends, also by a panic: the
/// suite used to leave `a2a-guard-test-*` / `a2a-guard-hk-*` directories behind.
#[test]
fn test_directories_are_removed_even_when_the_test_panics() {
    let dir = common::tempdir();
    let path = dir.to_path_buf();
    assert!(
        path.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("a2a-guard-test-"))
    );
    std::fs::write(dir.join("f.json"), b"{}").unwrap();
    drop(dir);
    assert!(!path.exists(), "{} left behind", path.display());

    let (tx, rx) = std::sync::mpsc::channel();
    let r = std::panic::catch_unwind(move || {
        let dir = common::tempdir();
        tx.send(dir.to_path_buf()).unwrap();
        std::fs::write(dir.join("f.json"), b"{}").unwrap();
        panic!("a failing test");
    });
    assert!(r.is_err());
    let path = rx.recv().unwrap();
    assert!(!path.exists(), "{} left behind", path.display());
}
