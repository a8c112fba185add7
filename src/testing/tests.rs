//! `TestIssuer` over real loopback HTTP, and the tokens it mints.

use super::key::tests::verifies;
use super::*;
use crate::Algorithm;
use serde_json::{Value, json};
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Reply {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

/// One `GET` over a fresh connection, read to EOF.
async fn get(addr: SocketAddr, path: &str) -> io::Result<Reply> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or(io::ErrorKind::InvalidData)?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok(Reply {
        status,
        head,
        body: raw[split + 4..].to_vec(),
    })
}

fn kids(jwks: &Value) -> Vec<String> {
    let keys = jwks["keys"].as_array().cloned().unwrap_or_default();
    keys.iter()
        .filter_map(|k| k["kid"].as_str().map(str::to_owned))
        .collect()
}

fn decode(part: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url")
}

/// (header, claims, signing input, signature) of a compact JWS.
fn parts(token: &str) -> (Value, Value, String, Vec<u8>) {
    let pieces: Vec<&str> = token.split('.').collect();
    assert_eq!(pieces.len(), 3, "{token}");
    let header = serde_json::from_slice(&decode(pieces[0])).expect("header JSON");
    let claims = serde_json::from_slice(&decode(pieces[1])).unwrap_or(Value::Null);
    (
        header,
        claims,
        format!("{}.{}", pieces[0], pieces[1]),
        decode(pieces[2]),
    )
}

fn published(issuer: &TestIssuer, kid: &str) -> Value {
    let keys = issuer.jwks()["keys"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    keys.into_iter()
        .find(|k| k["kid"] == kid)
        .expect("kid is published")
}

#[tokio::test]
async fn serves_jwks_and_discovery_and_counts_fetches() {
    let issuer = TestIssuer::start().await.expect("start");
    assert_eq!(
        issuer.issuer(),
        format!("http://127.0.0.1:{}", issuer.addr().port())
    );
    assert_eq!(issuer.jwks_url(), format!("{}/jwks.json", issuer.issuer()));
    assert_eq!(issuer.audience(), "a2a-guard-test");

    let reply = get(issuer.addr(), "/jwks.json").await.expect("GET jwks");
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(reply.header("cache-control"), None);
    assert_eq!(reply.json(), issuer.jwks());
    assert_eq!(
        kids(&reply.json()),
        [
            Algorithm::RS256,
            Algorithm::ES256,
            Algorithm::ES384,
            Algorithm::EdDSA
        ]
        .map(|a| issuer.signing_key(a).kid().to_owned())
    );

    issuer.set_cache_control(Some("max-age=60".into()));
    let reply = get(issuer.addr(), "/jwks.json").await.expect("GET jwks");
    assert_eq!(reply.header("cache-control").as_deref(), Some("max-age=60"));

    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let doc = get(issuer.addr(), path)
            .await
            .expect("GET discovery")
            .json();
        assert_eq!(doc["issuer"], issuer.issuer());
        assert_eq!(doc["jwks_uri"], issuer.jwks_url());
        assert!(doc["token_endpoint"].is_string());
        assert!(
            doc["id_token_signing_alg_values_supported"]
                .as_array()
                .is_some()
        );
    }
    issuer.set_discovery_issuer(Some("https://evil.example".into()));
    let doc = get(issuer.addr(), "/.well-known/openid-configuration")
        .await
        .expect("GET")
        .json();
    assert_eq!(doc["issuer"], "https://evil.example");

    assert_eq!(get(issuer.addr(), "/nope").await.expect("GET").status, 404);
    assert_eq!((issuer.jwks_fetches(), issuer.discovery_fetches()), (2, 3));
    issuer.reset_counters();
    assert_eq!((issuer.jwks_fetches(), issuer.discovery_fetches()), (0, 0));
}

#[tokio::test]
async fn stop_refuses_connections_and_restart_serves_the_same_keys() {
    let issuer = TestIssuer::start().await.expect("start");
    let before = issuer.jwks();
    // A hanging request holds a connection open across the stop.
    issuer.set_behavior(Behavior::Hang);
    let mut hung = TcpStream::connect(issuer.addr()).await.expect("connect");
    hung.write_all(b"GET /jwks.json HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    while issuer.jwks_fetches() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    issuer.stop().await;
    assert!(!issuer.is_running());
    let refused = TcpStream::connect(issuer.addr())
        .await
        .expect_err("must be refused");
    assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), hung.read_to_end(&mut rest)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "open connection must be closed: {read:?}"
    );
    issuer.stop().await; // idempotent

    issuer.set_behavior(Behavior::Normal);
    issuer.restart().await.expect("restart on the same port");
    issuer
        .restart()
        .await
        .expect("restart while running is a no-op");
    assert!(issuer.is_running());
    let reply = get(issuer.addr(), "/jwks.json")
        .await
        .expect("GET after restart");
    assert_eq!(reply.json(), before);
}

#[tokio::test]
async fn dropping_the_last_clone_stops_the_server() {
    let issuer = TestIssuer::start().await.expect("start");
    let addr = issuer.addr();
    let clone = issuer.clone();
    drop(issuer);
    assert_eq!(
        get(addr, "/jwks.json")
            .await
            .expect("clone keeps it up")
            .status,
        200
    );
    drop(clone);
    for _ in 0..200 {
        if TcpStream::connect(addr).await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("server still accepting after the last clone was dropped");
}

#[tokio::test]
async fn failure_modes() {
    let issuer = TestIssuer::start().await.expect("start");
    let addr = issuer.addr();

    issuer.set_behavior(Behavior::Status(503));
    assert_eq!(get(addr, "/jwks.json").await.expect("GET").status, 503);
    assert_eq!(
        get(addr, "/.well-known/openid-configuration")
            .await
            .expect("GET")
            .status,
        503
    );
    issuer.set_behavior(Behavior::Status(1000));
    assert_eq!(get(addr, "/jwks.json").await.expect("GET").status, 500);

    issuer.set_behavior(Behavior::Garbage);
    let reply = get(addr, "/jwks.json").await.expect("GET");
    assert_eq!(reply.status, 200);
    assert!(serde_json::from_slice::<Value>(&reply.body).is_err());

    for len in [0, 1, 5, 11, 200_000] {
        issuer.set_behavior(Behavior::Oversized(len));
        let reply = get(addr, "/jwks.json").await.expect("GET");
        assert_eq!((reply.status, reply.body.len()), (200, len));
        assert_eq!(reply.header("content-length"), Some(len.to_string()));
        if len >= 11 {
            assert_eq!(reply.json(), json!({"keys": []}));
        }
    }

    issuer.set_behavior(Behavior::Normal);
    issuer.set_jwks_behavior(Behavior::Delay(Duration::from_millis(200)));
    let started = Instant::now();
    assert_eq!(get(addr, "/jwks.json").await.expect("GET").status, 200);
    assert!(started.elapsed() >= Duration::from_millis(200));
    // Only the JWKS endpoint was slowed down, and every request above was counted.
    assert_eq!(
        get(addr, "/.well-known/oauth-authorization-server")
            .await
            .expect("GET")
            .status,
        200
    );
    assert_eq!((issuer.jwks_fetches(), issuer.discovery_fetches()), (9, 2));
}

#[tokio::test]
async fn rotate_retire_publish_change_the_served_set() {
    let issuer = TestIssuer::builder()
        .audience("agent-api")
        .algorithms([Algorithm::RS256, Algorithm::ES256])
        .start()
        .await
        .expect("start");
    assert_eq!(issuer.audience(), "agent-api");
    let rs = issuer.signing_key(Algorithm::RS256).kid().to_owned();
    let es = issuer.signing_key(Algorithm::ES256).kid().to_owned();
    assert_eq!(kids(&issuer.jwks()), [rs.clone(), es.clone()]);

    let new = issuer.rotate(Algorithm::RS256);
    assert_eq!(issuer.signing_key(Algorithm::RS256).kid(), new);
    assert_eq!(kids(&issuer.jwks()), [rs.clone(), es.clone(), new.clone()]);
    assert!(issuer.retire(&rs));
    assert!(!issuer.retire(&rs));
    issuer.publish(json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}));
    assert_eq!(
        kids(&get(issuer.addr(), "/jwks.json").await.expect("GET").json()),
        [es, new, "hmac".into()]
    );

    // Lazy generation publishes on first use.
    let ed = issuer.token().alg(Algorithm::EdDSA).sign();
    let kid = parts(&ed).0["kid"].as_str().expect("kid").to_owned();
    assert!(kids(&issuer.jwks()).contains(&kid));
    // An installed 1024-bit key signs the default RS256 tokens.
    let weak = SigningKey::generate_rsa(Algorithm::RS256, 1024).expect("weak key");
    issuer.install_key(weak.clone());
    assert_eq!(parts(&issuer.token().sign()).0["kid"], weak.kid());
}

#[tokio::test]
async fn default_tokens_carry_the_expected_header_and_claims_and_verify() {
    let issuer = TestIssuer::start().await.expect("start");
    let (header, claims, input, sig) = parts(&issuer.token().sign());
    let key = issuer.signing_key(Algorithm::RS256);
    assert_eq!(
        header,
        json!({"alg": "RS256", "typ": "at+jwt", "kid": key.kid()})
    );
    assert_eq!(claims["iss"], issuer.issuer());
    assert_eq!(
        (claims["sub"].as_str(), claims["client_id"].as_str()),
        (Some("agent-test"), Some("agent-test"))
    );
    assert_eq!(claims["aud"], "a2a-guard-test");
    let iat = claims["iat"].as_i64().expect("iat");
    assert!((iat - now_unix()).abs() <= 5);
    assert_eq!(claims["exp"].as_i64(), Some(iat + 300));
    assert_eq!(claims["jti"].as_str().map(str::len), Some(32));
    assert!(claims.get("scope").is_none() && claims.get("nbf").is_none());
    assert!(verifies(
        &published(&issuer, key.kid()),
        Algorithm::RS256,
        input.as_bytes(),
        &sig
    ));

    for alg in Algorithm::ALL {
        let (header, _, input, sig) = parts(&issuer.token().alg(alg).sign());
        assert_eq!(header["alg"], alg.as_str());
        let kid = header["kid"].as_str().expect("kid");
        assert!(
            verifies(&published(&issuer, kid), alg, input.as_bytes(), &sig),
            "{alg}"
        );
    }
}

#[tokio::test]
async fn builder_overrides() {
    let issuer = TestIssuer::start().await.expect("start");
    let token = issuer
        .token()
        .kid("other")
        .typ("JWT")
        .header("crit", json!(["exp"]))
        .subject("orchestrator")
        .audience(["a", "b"])
        .issuer("https://evil.example")
        .scope("read:data write:reports")
        .issued_at(1_000)
        .lifetime(Duration::from_secs(60))
        .not_before(900)
        .claim("act", json!({"sub": "upstream"}))
        .remove_claim("jti")
        .sign();
    let (header, claims, _, _) = parts(&token);
    assert_eq!(
        header,
        json!({"alg": "RS256", "typ": "JWT", "kid": "other", "crit": ["exp"]})
    );
    assert_eq!(
        claims,
        json!({"iss": "https://evil.example", "sub": "orchestrator", "aud": ["a", "b"],
               "iat": 1000, "exp": 1060, "nbf": 900, "client_id": "agent-test",
               "scope": "read:data write:reports", "act": {"sub": "upstream"}})
    );
    assert_eq!(issuer.token().expires_at(5).claims()["exp"], 5);

    let bare = issuer
        .token()
        .no_kid()
        .no_typ()
        .remove_header("alg")
        .header_json();
    assert!(bare.is_empty(), "{bare:?}");
    let none = issuer.token().header("alg", "none").unsigned();
    assert!(none.ends_with('.') && none.split('.').count() == 3);
    assert_eq!(parts(&none).0["alg"], "none");
    assert!(parts(&none).3.is_empty());

    let raw = issuer
        .token()
        .sign_payload_bytes(b"{\"sub\":\"a\",\"sub\":\"b\"}\xff");
    let (_, _, input, sig) = parts(&raw);
    assert_eq!(
        decode(input.split('.').nth(1).expect("payload")),
        b"{\"sub\":\"a\",\"sub\":\"b\"}\xff"
    );
    let kid = issuer.signing_key(Algorithm::RS256).kid().to_owned();
    assert!(verifies(
        &published(&issuer, &kid),
        Algorithm::RS256,
        input.as_bytes(),
        &sig
    ));
}

#[tokio::test]
async fn foreign_keys_and_algorithm_confusion() {
    let issuer = TestIssuer::start().await.expect("start");
    // An unpublished key: its kid, its signature, nothing the issuer would accept.
    let forged = SigningKey::generate(Algorithm::ES256);
    let (header, _, input, sig) = parts(&issuer.token().signing_key(&forged).sign());
    assert_eq!(
        (header["alg"].as_str(), header["kid"].as_str()),
        (Some("ES256"), Some(forged.kid()))
    );
    assert!(verifies(
        &forged.public_jwk(),
        Algorithm::ES256,
        input.as_bytes(),
        &sig
    ));
    assert!(!kids(&issuer.jwks()).contains(&forged.kid().to_owned()));

    // A published RS256 key signing PS256: the header says PS256, the JWK says RS256.
    let rsa = issuer.signing_key(Algorithm::RS256);
    let token = issuer
        .token()
        .signing_key(&rsa)
        .alg(Algorithm::PS256)
        .sign();
    let (header, _, input, sig) = parts(&token);
    assert_eq!(
        (header["alg"].as_str(), header["kid"].as_str()),
        (Some("PS256"), Some(rsa.kid()))
    );
    assert!(verifies(
        &rsa.public_jwk(),
        Algorithm::PS256,
        input.as_bytes(),
        &sig
    ));

    // A header claiming ES256 over an RSA signature.
    let token = issuer
        .token()
        .signing_key(&rsa)
        .alg(Algorithm::ES256)
        .sign();
    let (header, _, input, sig) = parts(&token);
    assert_eq!(header["alg"], "ES256");
    assert!(verifies(
        &rsa.public_jwk(),
        Algorithm::RS256,
        input.as_bytes(),
        &sig
    ));
}

// Issue 11: signing with another algorithm after a validator already saw the issuer (and
// started a kid-miss cooldown) must just work for the algorithms whose keys are cheap.
#[tokio::test]
async fn every_cheap_algorithm_has_a_key_before_any_validator_fetches() {
    let issuer = TestIssuer::start().await.expect("start");
    let validator = crate::Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
        .build()
        .await
        .unwrap();
    // A token with an unknown kid starts the kid-miss cooldown.
    let unknown = issuer.token().kid("not-published").sign();
    assert!(validator.validate(&unknown).await.is_err());
    for alg in [
        Algorithm::RS256,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ] {
        let token = issuer.token().alg(alg).sign();
        assert!(validator.validate(&token).await.is_ok(), "{alg:?}");
    }
}

#[tokio::test]
async fn a_keys_file_keeps_address_and_keys_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("issuer.json");
    let builder = || {
        TestIssuer::builder()
            .algorithms([Algorithm::ES256, Algorithm::EdDSA])
            .keys_file(&path)
    };
    let first = builder().start().await.unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "written 0600");
    }
    let token = first.token().alg(Algorithm::ES256).sign();
    let (iss, jwks) = (first.issuer(), first.jwks());
    first.stop().await;
    drop(first);

    let again = builder().start().await.unwrap();
    assert_eq!(again.issuer(), iss, "same address, so same `iss`");
    assert_eq!(again.jwks(), jwks, "same keys, same kids");
    // A token minted before the restart verifies with the key served after it.
    let kid = token.split('.').next().map(|h| {
        let h: Value = serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, h).unwrap(),
        )
        .unwrap();
        h["kid"].as_str().unwrap().to_owned()
    });
    assert_eq!(
        kid.as_deref(),
        Some(again.signing_key(Algorithm::ES256).kid())
    );
    let (input, sig) = token.rsplit_once('.').unwrap();
    let sig =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, sig).unwrap();
    let jwk = again.signing_key(Algorithm::ES256).public_jwk();
    assert!(verifies(&jwk, Algorithm::ES256, input.as_bytes(), &sig));

    // The saved address is taken while the issuer runs: a clear error naming the file.
    let err = builder().start().await.unwrap_err();
    assert!(err.to_string().contains("issuer.json"), "{err}");

    // An algorithm missing from the file gets a key and the file is rewritten with it.
    again.stop().await;
    drop(again);
    let more = TestIssuer::builder()
        .algorithms([Algorithm::ES256, Algorithm::EdDSA, Algorithm::ES384])
        .keys_file(&path)
        .start()
        .await
        .unwrap();
    assert_eq!(more.jwks()["keys"].as_array().unwrap().len(), 3);
    let saved: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(saved["keys"].as_array().unwrap().len(), 3);
}

#[cfg(unix)]
#[tokio::test]
async fn a_keys_file_others_could_read_or_swap_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("issuer.json");
    let first = TestIssuer::builder()
        .algorithms([Algorithm::EdDSA])
        .keys_file(&path)
        .start()
        .await
        .unwrap();
    first.stop().await;
    drop(first);
    let start = |p: std::path::PathBuf| async move {
        TestIssuer::builder()
            .algorithms([Algorithm::EdDSA])
            .keys_file(p)
            .start()
            .await
    };
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = start(path.clone()).await.unwrap_err();
    assert!(err.to_string().contains("group or others"), "{err}");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let link = dir.path().join("link.json");
    std::os::unix::fs::symlink(&path, &link).unwrap();
    let err = start(link).await.unwrap_err();
    assert!(err.to_string().contains("symlink"), "{err}");
    std::fs::write(&path, "{}").unwrap();
    let err = start(path.clone()).await.unwrap_err();
    assert!(err.to_string().contains("not a keys file"), "{err}");
}

#[tokio::test]
async fn the_token_endpoint_grants_client_credentials_to_registered_clients() {
    let issuer = TestIssuer::builder()
        .audience("agent-api")
        .client("agent-a", "s3cret:%")
        .start()
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/token", issuer.issuer());
    let post = |body: &'static str| {
        http.post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
    };
    let read = |res: reqwest::Response| async move {
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body: Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
        (status, headers, body)
    };
    let validator = crate::Validator::builder()
        .issuer(issuer.issuer())
        .audience("agent-api")
        .resource("http://127.0.0.1:9/api")
        .build()
        .await
        .unwrap();

    // HTTP Basic, names form-urlencoded (RFC 6749 §2.3.1): `:` and `%` in the secret.
    let res = post("grant_type=client_credentials&scope=read%3Adata+write%3Areports")
        .basic_auth("agent-a", Some("s3cret%3A%25"))
        .send()
        .await
        .unwrap();
    let (status, headers, body) = read(res).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "read:data write:reports");
    let p = validator
        .validate(body["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(p.subject(), Some("agent-a"));
    assert!(p.scopes().contains("write:reports"));

    // Form parameters, with an RFC 8707 resource: the token is addressed to it.
    let res = post("grant_type=client_credentials&client_id=agent-a&client_secret=s3cret%3A%25&resource=http%3A%2F%2F127.0.0.1%3A9%2Fapi")
        .send()
        .await
        .unwrap();
    let (status, _, body) = read(res).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("scope").is_none());
    let token = body["access_token"].as_str().unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            token.split('.').nth(1).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["aud"], "http://127.0.0.1:9/api");
    assert!(validator.validate(token).await.is_ok());

    // Refusals.
    for (req, want, error) in [
        (
            post("grant_type=client_credentials").basic_auth("agent-a", Some("wrong")),
            401,
            "invalid_client",
        ),
        (
            post("grant_type=client_credentials").basic_auth("agent-b", Some("s3cret:%")),
            401,
            "invalid_client",
        ),
        (post("grant_type=client_credentials"), 401, "invalid_client"),
        (
            // Basic and form credentials together.
            post("grant_type=client_credentials&client_id=agent-a&client_secret=x")
                .basic_auth("agent-a", Some("s3cret%3A%25")),
            401,
            "invalid_client",
        ),
        (
            post("grant_type=password").basic_auth("agent-a", Some("s3cret%3A%25")),
            400,
            "unsupported_grant_type",
        ),
        (
            post("grant_type=client_credentials&scope=a&scope=b")
                .basic_auth("agent-a", Some("s3cret%3A%25")),
            400,
            "invalid_request",
        ),
    ] {
        let (status, headers, body) = read(req.send().await.unwrap()).await;
        assert_eq!((status, body["error"].as_str()), (want, Some(error)));
        if status == 401 {
            assert!(
                headers["www-authenticate"]
                    .to_str()
                    .unwrap()
                    .starts_with("Basic")
            );
        }
    }
    // No secret in Debug output.
    let builder = TestIssuer::builder().client("agent-a", "s3cret");
    assert!(!format!("{builder:?}").contains("s3cret"));
}
