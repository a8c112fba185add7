//! The `orchestrator` example (issue 13's demo): a task is delegated with an exchanged token
//! (RFC 8693, the orchestrator as actor), maintenance uses the orchestrator's own token, the
//! inbound token never reaches the downstream agent, no token means 503 and no downstream
//! call; a task's delegated token is revoked when the task ends (RFC 7009), the own token on
//! exit; `private_key_jwt` from a key file; a fleet sharing its token through Redis; the
//! command line. Real `TestIssuer` token and revocation endpoints, real loopback HTTP to a
//! small downstream agent that records what it receives.
#![cfg(all(feature = "testing", feature = "client"))]

#[path = "../examples/orchestrator/app.rs"]
mod app;
#[path = "../examples/orchestrator/cli.rs"]
mod cli;
#[path = "../examples/orchestrator/dev.rs"]
mod dev;

#[cfg(feature = "redis")]
mod common;

use std::sync::{Arc, Mutex};

use a2a_guard::Algorithm;
use a2a_guard::Validator;
use a2a_guard::client::{ClientError, ClientKey, Secret};
use a2a_guard::testing::{Behavior, SigningKey, TestIssuer};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::IntoResponse;
use serde_json::{Value, json};
use tower::ServiceExt;

const AUDIENCE: &str = "orchestrator";
const ORCHESTRATOR: (&str, &str) = ("orchestrator", "orchestrator-secret");
const CALLER: &str = "caller-7";

/// A downstream agent we control: counts every call, keeps every bearer token it was sent,
/// and answers with the claims of valid ones (tokens addressed to its resource URI only).
#[derive(Clone)]
struct Downstream {
    validator: Validator,
    seen: Arc<Mutex<Vec<String>>>,
}

async fn whoami(State(d): State<Downstream>, headers: HeaderMap) -> axum::response::Response {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .to_owned();
    d.seen.lock().unwrap().push(token.clone());
    match d.validator.validate(&token).await {
        Ok(p) => axum::Json(json!({
            "sub": p.subject(),
            "client_id": p.client_id(),
            "aud": p.registered().aud.iter().collect::<Vec<_>>(),
            "scope": p.scopes().to_string(),
            "act": p.registered().act,
        }))
        .into_response(),
        Err(_) => (StatusCode::UNAUTHORIZED, "invalid_token").into_response(),
    }
}

struct Harness {
    issuer: TestIssuer,
    app: axum::Router,
    validator: Validator,
    orchestrator: app::Orchestrator,
    /// The downstream agent's resource URI: the audience of tokens for it.
    resource: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Harness {
    fn downstream_calls(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    fn caller_token(&self, scope: &str) -> String {
        self.issuer.token().subject(CALLER).scope(scope).sign()
    }
}

/// The `jti` of a JWT this issuer minted (read without verifying: the issuer made it).
fn jti(token: &str) -> String {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    let claims: Value = serde_json::from_slice(&bytes).unwrap();
    claims["jti"].as_str().unwrap().to_owned()
}

/// The test issuer's builder: our audience; the orchestrator's client is added by the caller.
fn issuer_builder() -> a2a_guard::testing::TestIssuerBuilder {
    TestIssuer::builder().audience(AUDIENCE)
}

/// A downstream agent we control, accepting tokens addressed to its resource URI: that URI
/// and the tokens it was sent.
async fn start_downstream(issuer: &TestIssuer) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let resource = format!("http://{}", listener.local_addr().unwrap());
    let downstream = Downstream {
        validator: Validator::builder()
            .issuer_jwks(issuer.issuer(), issuer.jwks_url())
            .resource(&resource)
            .build()
            .await
            .unwrap(),
        seen: Arc::default(),
    };
    let seen = downstream.seen.clone();
    let api = axum::Router::new()
        .route("/whoami", axum::routing::get(whoami))
        .with_state(downstream);
    tokio::spawn(async move { axum::serve(listener, api).await });
    (resource, seen)
}

/// The orchestrator wired as `dev::start` wires it (endpoints discovered, so a revocation
/// endpoint is known), against a downstream agent we control.
async fn setup() -> Harness {
    setup_with(ORCHESTRATOR.1, Endpoints::Discovered).await
}

/// How the harness finds the issuer's endpoints.
enum Endpoints {
    /// From its metadata: token and revocation endpoints.
    Discovered,
    /// `--token-endpoint` alone: no revocation endpoint.
    TokenOnly,
}

/// The orchestrator, its client secret given here (a wrong one makes the token endpoint
/// refuse), its endpoints found as `endpoints` says.
async fn setup_with(secret: &str, endpoints: Endpoints) -> Harness {
    let issuer = issuer_builder()
        .client(ORCHESTRATOR.0, ORCHESTRATOR.1)
        .start()
        .await
        .unwrap();
    let (resource, seen) = start_downstream(&issuer).await;
    let validator = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(AUDIENCE)
        .build()
        .await
        .unwrap();
    let token_endpoint = format!("{}/token", issuer.issuer());
    let given = match endpoints {
        Endpoints::Discovered => None,
        Endpoints::TokenOnly => Some(token_endpoint.as_str()),
    };
    let client = app::OwnClient {
        server: app::TokenServer::find(&issuer.issuer(), given, None)
            .await
            .unwrap(),
        client_id: ORCHESTRATOR.0.to_owned(),
        auth: app::ClientAuth::Secret(Secret::new(secret)),
        redis_url: None,
    };
    let delegated = client.delegated_tokens();
    let own = app::own_tokens(client, &resource, &[]).unwrap();
    let orchestrator = app::Orchestrator::new(
        own,
        app::Downstream {
            url: format!("{resource}/whoami"),
            audience: resource.clone(),
            scopes: vec!["read:data".into()],
        },
        delegated,
    )
    .unwrap();
    Harness {
        issuer,
        app: app::router(validator.clone(), orchestrator.clone()),
        validator,
        orchestrator,
        resource,
        seen,
    }
}

/// The command line of the real set-up against `issuer`, plus `extra`.
fn args(issuer: &TestIssuer, resource: &str, extra: &[&str]) -> cli::Args {
    use clap::Parser;
    let mut argv = vec![
        "orchestrator".to_owned(),
        "--listen=127.0.0.1:0".to_owned(),
        format!("--issuer={}", issuer.issuer()),
        format!("--jwks-url={}", issuer.jwks_url()),
        format!("--audience={AUDIENCE}"),
        format!("--client-id={}", ORCHESTRATOR.0),
        format!("--downstream-url={resource}/whoami"),
        format!("--downstream-audience={resource}"),
        "--downstream-scope=read:data".to_owned(),
    ];
    argv.extend(extra.iter().map(|s| (*s).to_owned()));
    cli::Args::try_parse_from(argv).unwrap()
}

/// A file in a fresh temporary directory (kept while the directory lives).
fn write_file(dir: &tempfile::TempDir, name: &str, content: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    path.to_str().unwrap().to_owned()
}

async fn post(app: &axum::Router, path: &str, token: &str) -> (StatusCode, HeaderMap, Value) {
    let req = Request::builder()
        .method("POST")
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(r#"{"task":"analyse"}"#))
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let bytes = http_body_util::BodyExt::collect(body)
        .await
        .unwrap()
        .to_bytes();
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains(token), "the inbound token is echoed: {text}");
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::String(text.into_owned()));
    (parts.status, parts.headers, json)
}

#[tokio::test]
async fn a_task_is_delegated_with_an_exchanged_token_never_the_callers() {
    let h = setup().await;
    let caller = h.caller_token("delegate:analysis read:data");
    let (status, _, body) = post(&h.app, "/tasks", &caller).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["downstream_status"], 200, "{body}");
    let seen_by_downstream = &body["downstream_body"];
    // The caller is the subject, the orchestrator the (only) actor.
    assert_eq!(seen_by_downstream["sub"], CALLER, "{body}");
    assert_eq!(
        seen_by_downstream["act"],
        json!({"sub": ORCHESTRATOR.0}),
        "{body}"
    );
    // Addressed to the downstream agent, narrowed to the downstream scope.
    assert_eq!(seen_by_downstream["aud"], json!([h.resource]), "{body}");
    assert_eq!(seen_by_downstream["scope"], "read:data", "{body}");
    // The downstream never saw the caller's token.
    let seen = h.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_ne!(seen[0], caller);
    // One client-credentials token (the actor's), one exchange.
    assert_eq!(h.issuer.token_requests(), 2);
}

#[tokio::test]
async fn a_task_needs_delegate_analysis_and_every_downstream_scope() {
    let h = setup().await;
    // Warm the orchestrator's own (actor) token first: what follows must add no request.
    let (status, _, body) = post(&h.app, "/maintenance", &h.caller_token("maintenance:run")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (requests, calls) = (h.issuer.token_requests(), h.downstream_calls());
    assert_eq!((requests, calls), (1, 1));

    // Without `delegate:analysis`: the route's guard refuses (RFC 6750 insufficient_scope).
    let (status, headers, _) = post(&h.app, "/tasks", &h.caller_token("read:data")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let challenge = headers["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains(r#"error="insufficient_scope""#)
            && challenge.contains(r#"scope="delegate:analysis""#),
        "{challenge}"
    );

    // Without the downstream scope: refused before any exchange, with a JSON error.
    let (status, _, body) = post(&h.app, "/tasks", &h.caller_token("delegate:analysis")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "delegation_refused", "{body}");
    assert_eq!(
        body["required_scopes"],
        json!(["delegate:analysis", "read:data"])
    );
    // A sibling or a child of the downstream scope does not cover it either.
    for scope in [
        "delegate:analysis read:datax",
        "delegate:analysis read:data:eu",
    ] {
        let (status, _, body) = post(&h.app, "/tasks", &h.caller_token(scope)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{scope}: {body}");
    }
    assert_eq!(
        h.issuer.token_requests(),
        requests,
        "an exchange was asked for"
    );
    assert_eq!(h.downstream_calls(), calls, "the downstream was called");
}

#[tokio::test]
async fn maintenance_calls_with_the_orchestrators_own_token() {
    let h = setup().await;
    // A caller allowed to delegate is not thereby allowed to run maintenance.
    let (status, _, _) = post(
        &h.app,
        "/maintenance",
        &h.caller_token("delegate:analysis read:data"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(h.downstream_calls(), 0);

    let caller = h.caller_token("maintenance:run read:data");
    let (status, _, body) = post(&h.app, "/maintenance", &caller).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["downstream_status"], 200, "{body}");
    let seen_by_downstream = &body["downstream_body"];
    assert_eq!(seen_by_downstream["sub"], ORCHESTRATOR.0, "{body}");
    assert_eq!(seen_by_downstream["client_id"], ORCHESTRATOR.0, "{body}");
    assert_eq!(seen_by_downstream["act"], Value::Null, "no actor: {body}");
    assert_eq!(seen_by_downstream["aud"], json!([h.resource]), "{body}");
    let seen = h.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_ne!(seen[0], caller);
    // Cached: a second call makes no token request.
    post(&h.app, "/maintenance", &caller).await;
    assert_eq!(h.issuer.token_requests(), 1);
}

#[tokio::test]
async fn without_a_token_the_answer_is_503_and_the_downstream_is_not_called() {
    let h = setup().await;
    // The token endpoint is down before any token was cached.
    h.issuer.set_token_behavior(Behavior::Status(503));
    let (status, _, body) = post(
        &h.app,
        "/tasks",
        &h.caller_token("delegate:analysis read:data"),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "token_unavailable", "{body}");
    assert_eq!(h.issuer.token_requests(), 1);
    // Now the token source backs off: it knows when to retry, and says so.
    let (status, headers, body) =
        post(&h.app, "/maintenance", &h.caller_token("maintenance:run")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(
        h.issuer.token_requests(),
        1,
        "no request during the backoff"
    );
    assert_eq!(
        h.downstream_calls(),
        0,
        "the downstream was called without a token"
    );

    // Refused (wrong client secret): 503 too, and neither the secret nor a token shows.
    let h = setup_with("not-the-secret", Endpoints::Discovered).await;
    let (status, _, body) = post(&h.app, "/maintenance", &h.caller_token("maintenance:run")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let text = body.to_string();
    assert!(text.contains("invalid_client"), "{text}");
    assert!(!text.contains("not-the-secret"), "{text}");
    assert_eq!(h.downstream_calls(), 0);
}

#[tokio::test]
async fn the_dev_setup_delegates_to_the_agent_api_with_the_orchestrator_as_actor() {
    let (dev, validator, orchestrator) = dev::start().await.unwrap();
    assert!(dev.downstream.ip().is_loopback() && dev.issuer.addr().ip().is_loopback());
    let app = app::router(validator, orchestrator);
    // The caller's token, fetched as the printed curl line fetches it.
    let (id, secret) = dev::CALLER_CLIENT;
    let res = reqwest::Client::new()
        .post(format!("{}/token", dev.issuer.issuer()))
        .basic_auth(id, Some(secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=client_credentials&scope={}",
            dev::CALLER_SCOPES.replace(' ', "+")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let token: Value = serde_json::from_slice(&res.bytes().await.unwrap()).unwrap();
    let token = token["access_token"].as_str().unwrap();

    let (status, _, body) = post(&app, "/tasks", token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["downstream_body"],
        json!({"sub": id, "client_id": dev::ORCHESTRATOR_CLIENT.0,
               "scopes": [dev::DOWNSTREAM_SCOPE], "actors": [dev::ORCHESTRATOR_CLIENT.0]}),
        "{body}"
    );
    // The dev issuer's metadata names its revocation endpoint: the task's token is revoked.
    assert_eq!(dev.issuer.revoked_jtis().len(), 1);
    let (status, _, body) = post(&app, "/maintenance", token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["downstream_body"]["sub"], dev::ORCHESTRATOR_CLIENT.0);
    assert_eq!(body["downstream_body"]["actors"], json!([]));
}

#[test]
fn the_command_line_needs_one_client_authentication_and_lists_every_flag() {
    use clap::{CommandFactory, Parser};
    let full = [
        "orchestrator",
        "--listen=127.0.0.1:0",
        "--issuer=https://auth.example",
        "--audience=orchestrator",
        "--client-id=orchestrator",
        "--downstream-url=https://analysis.example/whoami",
        "--downstream-audience=https://analysis.example",
        "--downstream-scope=read:data write:reports",
    ];
    let with = |extra: &[&str]| {
        let mut v = full.to_vec();
        v.extend_from_slice(extra);
        cli::Args::try_parse_from(v)
    };
    let args = with(&["--client-secret-file=/run/secrets/orchestrator"]).unwrap();
    assert_eq!(args.listen.port(), 0);
    assert_eq!(
        cli::scopes(
            "--downstream-scope",
            args.downstream_scope.as_deref().unwrap()
        )
        .unwrap(),
        ["read:data", "write:reports"]
    );
    // The required group: exactly one of the secret file and the key file.
    assert!(with(&[]).is_err(), "no client authentication");
    assert!(
        with(&["--client-secret-file=/s", "--private-key-file=/k.pem"]).is_err(),
        "both"
    );
    assert!(with(&["--private-key-file=/k.pem"]).is_ok());
    let args = with(&[
        "--private-key-file=/k.pem",
        "--token-endpoint=https://auth.example/token",
        "--revocation-endpoint=https://auth.example/revoke",
        "--redis-url=redis://127.0.0.1/",
        "--revoke-on-exit",
    ])
    .unwrap();
    assert!(matches!(
        args.client_auth(),
        Some(app::ClientAuth::PrivateKey(_))
    ));
    assert!(args.revoke_on_exit);
    // A revocation endpoint only beside a given token endpoint (else it is discovered).
    assert!(
        with(&[
            "--client-secret-file=/s",
            "--revocation-endpoint=https://auth.example/revoke"
        ])
        .is_err()
    );
    // Every flag of the real set-up needs --issuer; alone, none but --listen applies.
    assert!(cli::Args::try_parse_from(["orchestrator"]).is_ok());
    // The dev set-up revokes on exit too.
    let dev = cli::Args::try_parse_from(["orchestrator", "--revoke-on-exit"]).unwrap();
    assert!(dev.revoke_on_exit && dev.client_auth().is_none());
    for bad in [
        &["orchestrator", "--client-id=x"][..],
        &["orchestrator", "--downstream-url=https://a.example"],
        &["orchestrator", "--issuer=https://auth.example"],
        &["orchestrator", "--listen=8080"],
        &["orchestrator", "--redis-url=redis://127.0.0.1/"],
        &["orchestrator", "--token-endpoint=https://a.example/token"],
    ] {
        assert!(cli::Args::try_parse_from(bad).is_err(), "{bad:?}");
    }
    assert!(cli::scopes("--downstream-scope", "  ").is_err());
    assert!(cli::scopes("--downstream-scope", "read:data \"x").is_err());
    // `--help`: one line per flag, each naming it; to stdout.
    let help = cli::Args::command().render_help().to_string();
    for arg in cli::Args::command().get_arguments() {
        let long = format!("--{}", arg.get_long().unwrap());
        assert_eq!(
            help.lines()
                .filter(|l| l.trim_start().starts_with(&long) || l.contains(&format!(", {long}")))
                .count(),
            1,
            "{long} in\n{help}"
        );
    }
    let err = cli::Args::try_parse_from(["orchestrator", "--help"]).unwrap_err();
    assert_eq!(err.kind(), clap::error::ErrorKind::DisplayHelp);
    assert!(!err.use_stderr(), "help goes to stdout");
}

#[tokio::test]
async fn a_port_in_use_is_a_sentence_naming_the_flag() {
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = taken.local_addr().unwrap();
    let err = cli::bind(addr).await.unwrap_err();
    assert!(
        err.contains("already in use") && err.contains("--listen") && !err.contains('\n'),
        "{err}"
    );
    assert!(cli::bind("127.0.0.1:0".parse().unwrap()).await.is_ok());
}

#[tokio::test]
async fn a_private_key_file_authenticates_with_private_key_jwt() {
    // The orchestrator's client has a registered public key and no secret at all.
    let pem = SigningKey::generate(Algorithm::ES256).to_pem().unwrap();
    let issuer = issuer_builder()
        .client_key(
            ORCHESTRATOR.0,
            ClientKey::pem(pem.clone()).public_jwk().unwrap(),
        )
        .start()
        .await
        .unwrap();
    let (resource, seen) = start_downstream(&issuer).await;
    let dir = tempfile::tempdir().unwrap();
    let key_file = write_file(&dir, "orchestrator.pem", &pem);
    let args = args(
        &issuer,
        &resource,
        &[&format!("--private-key-file={key_file}")],
    );
    // As the binary configures itself: the token endpoint from the issuer's metadata.
    let (validator, orchestrator) = cli::configure(&args, &issuer.issuer()).await.unwrap();
    let app = app::router(validator, orchestrator);
    let caller = issuer
        .token()
        .subject(CALLER)
        .scope("maintenance:run delegate:analysis read:data")
        .sign();

    let (status, _, body) = post(&app, "/maintenance", &caller).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["downstream_body"]["sub"], ORCHESTRATOR.0, "{body}");
    assert_eq!(issuer.token_requests(), 1);
    // The exchange and the task's revocation authenticate with the key too.
    let (status, _, body) = post(&app, "/tasks", &caller).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["downstream_body"]["sub"], CALLER, "{body}");
    let delegated = seen.lock().unwrap()[1].clone();
    assert_eq!(issuer.revoked_jtis(), vec![jti(&delegated)]);

    // A key the issuer does not know: 503 invalid_client, and no key material shows.
    let other = SigningKey::generate(Algorithm::ES256).to_pem().unwrap();
    let other_file = write_file(&dir, "other.pem", &other);
    let args_other = self::args(
        &issuer,
        &resource,
        &[&format!("--private-key-file={other_file}")],
    );
    let (validator, orchestrator) = cli::configure(&args_other, &issuer.issuer()).await.unwrap();
    let app = app::router(validator, orchestrator);
    let (status, _, body) = post(&app, "/maintenance", &caller).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let text = body.to_string();
    assert!(text.contains("invalid_client"), "{text}");
    assert!(!text.contains(other.lines().nth(1).unwrap()), "{text}");

    // A file that is not there: a typed error at the first token request, no panic.
    let args_missing = self::args(
        &issuer,
        &resource,
        &[&format!(
            "--private-key-file={}/missing.pem",
            dir.path().display()
        )],
    );
    let (validator, orchestrator) = cli::configure(&args_missing, &issuer.issuer())
        .await
        .unwrap();
    let app = app::router(validator, orchestrator);
    let (status, _, body) = post(&app, "/maintenance", &caller).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.to_string().contains("client key"), "{body}");
    assert_eq!(seen.lock().unwrap().len(), 2, "the downstream was called");
}

#[tokio::test]
async fn a_finished_tasks_delegated_token_is_revoked_at_the_issuer() {
    let h = setup().await;
    assert_eq!(
        h.orchestrator.delegated_tokens(),
        app::DelegatedTokens::RevokedPerTask
    );
    let caller = h.caller_token("delegate:analysis read:data");
    let mut delegated = Vec::new();
    for task in 1..=2 {
        let (status, _, body) = post(&h.app, "/tasks", &caller).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["downstream_body"]["sub"], CALLER, "{body}");
        delegated.push(jti(h.seen.lock().unwrap().last().unwrap()));
        // Revoked by the time the answer is back: one more per task.
        let mut want = delegated.clone();
        want.sort();
        assert_eq!(h.issuer.revoked_jtis(), want, "after task {task}");
    }
    // Each task had its own token (a revoked one is never reused).
    assert_ne!(delegated[0], delegated[1]);
    // One own (actor) token, one exchange per task; the own token is not revoked.
    assert_eq!(h.issuer.token_requests(), 3);
    assert_eq!(h.issuer.revocation_requests(), 2);
    // A task refused before any exchange revokes nothing.
    let (status, _, _) = post(&h.app, "/tasks", &h.caller_token("delegate:analysis")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(h.issuer.revocation_requests(), 2);

    // Without a revocation endpoint (--token-endpoint alone), the delegated token is cached
    // and reused, and nothing is sent to revoke it.
    let h = setup_with(ORCHESTRATOR.1, Endpoints::TokenOnly).await;
    assert_eq!(
        h.orchestrator.delegated_tokens(),
        app::DelegatedTokens::Cached
    );
    let caller = h.caller_token("delegate:analysis read:data");
    for _ in 0..2 {
        let (status, _, body) = post(&h.app, "/tasks", &caller).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let seen = h.seen.lock().unwrap().clone();
    assert_eq!(seen[0], seen[1]);
    assert_eq!(h.issuer.token_requests(), 2);
    assert_eq!(h.issuer.revocation_requests(), 0);
}

#[tokio::test]
async fn the_command_line_finds_the_revocation_endpoint_or_takes_it_with_the_token_endpoint() {
    let issuer = issuer_builder()
        .client(ORCHESTRATOR.0, ORCHESTRATOR.1)
        .start()
        .await
        .unwrap();
    let (resource, _) = start_downstream(&issuer).await;
    let dir = tempfile::tempdir().unwrap();
    let secret = format!(
        "--client-secret-file={}",
        write_file(&dir, "secret", ORCHESTRATOR.1)
    );
    let token = format!("--token-endpoint={}/token", issuer.issuer());
    let revoke = format!("--revocation-endpoint={}", issuer.revocation_url());
    for (extra, want) in [
        (vec![&secret], app::DelegatedTokens::RevokedPerTask),
        (vec![&secret, &token], app::DelegatedTokens::Cached),
        (
            vec![&secret, &token, &revoke],
            app::DelegatedTokens::RevokedPerTask,
        ),
    ] {
        let extra: Vec<&str> = extra.iter().map(|s| s.as_str()).collect();
        let (_, orchestrator) = cli::configure(&args(&issuer, &resource, &extra), &issuer.issuer())
            .await
            .unwrap();
        assert_eq!(orchestrator.delegated_tokens(), want, "{extra:?}");
    }
    // An issuer whose metadata cannot be had: one sentence pointing at --token-endpoint.
    issuer.set_discovery_behavior(Behavior::Status(404));
    let err = cli::configure(&args(&issuer, &resource, &[&secret]), &issuer.issuer())
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("--token-endpoint") && !err.contains('\n'),
        "{err}"
    );
}

/// Serve on loopback as the binary does, until the returned sender fires.
fn serve(
    h: &Harness,
    listener: tokio::net::TcpListener,
    revoke_on_exit: bool,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<Option<app::ShutdownRevocation>>>,
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app::serve(
        listener,
        h.validator.clone(),
        h.orchestrator.clone(),
        async move {
            let _ = stopped.await;
        },
        revoke_on_exit,
    ));
    (stop, server)
}

async fn maintenance_over_http(h: &Harness, addr: std::net::SocketAddr) {
    let res = reqwest::Client::new()
        .post(format!("http://{addr}/maintenance"))
        .bearer_auth(h.caller_token("maintenance:run"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn revoke_on_exit_revokes_the_own_token_after_the_server_stopped() {
    let h = setup().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, server) = serve(&h, listener, true);
    maintenance_over_http(&h, addr).await;
    let own = jti(&h.seen.lock().unwrap()[0]);
    assert!(h.issuer.revoked_jtis().is_empty(), "revoked before exit");

    stop.send(()).unwrap();
    let report = server.await.unwrap().unwrap().expect("--revoke-on-exit");
    assert_eq!((report.own.revoked, report.own.failed.len()), (1, 0));
    assert_eq!(
        (report.delegated.revoked, report.delegated.failed.len()),
        (0, 0)
    );
    assert_eq!(h.issuer.revoked_jtis(), vec![own]);
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "still listening"
    );

    // Without --revoke-on-exit nothing is revoked.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, server) = serve(&h, listener, false);
    maintenance_over_http(&h, addr).await;
    stop.send(()).unwrap();
    assert!(server.await.unwrap().unwrap().is_none());
    assert_eq!(h.issuer.revoked_jtis().len(), 1);
    assert_eq!(h.issuer.revocation_requests(), 1);
}

#[tokio::test]
async fn without_a_revocation_endpoint_the_exit_says_nothing_was_revoked() {
    let h = setup_with(ORCHESTRATOR.1, Endpoints::TokenOnly).await;
    let caller = h.caller_token("maintenance:run delegate:analysis read:data");
    post(&h.app, "/maintenance", &caller).await;
    post(&h.app, "/tasks", &caller).await;
    let report = h.orchestrator.revoke_all().await;
    assert_eq!(report.own.revoked + report.delegated.revoked, 0);
    // The own token and the cached delegated one: each stays valid, and says why.
    for failed in [&report.own.failed, &report.delegated.failed] {
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].1, ClientError::NoRevocationEndpoint);
    }
    assert_eq!(h.issuer.revocation_requests(), 0);
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn two_instances_sharing_redis_make_one_token_request() {
    let r = common::redis::redis().await;
    let issuer = issuer_builder()
        .client(ORCHESTRATOR.0, ORCHESTRATOR.1)
        .start()
        .await
        .unwrap();
    let (resource, seen) = start_downstream(&issuer).await;
    let dir = tempfile::tempdir().unwrap();
    let secret = format!(
        "--client-secret-file={}",
        write_file(&dir, "secret", ORCHESTRATOR.1)
    );
    let redis = format!("--redis-url={}", r.url);
    let args = args(&issuer, &resource, &[&secret, &redis]);
    let caller = issuer
        .token()
        .subject(CALLER)
        .scope("maintenance:run")
        .sign();
    for _instance in 0..2 {
        let (validator, orchestrator) = cli::configure(&args, &issuer.issuer()).await.unwrap();
        let (status, _, body) = post(
            &app::router(validator, orchestrator),
            "/maintenance",
            &caller,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    assert_eq!(issuer.token_requests(), 1, "one token request for both");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen[0], seen[1]);
}

#[cfg(not(feature = "redis"))]
#[tokio::test]
async fn without_the_redis_feature_the_redis_url_is_refused() {
    let issuer = issuer_builder()
        .client(ORCHESTRATOR.0, ORCHESTRATOR.1)
        .start()
        .await
        .unwrap();
    let args = args(
        &issuer,
        "http://127.0.0.1:9",
        &["--client-secret-file=/s", "--redis-url=redis://127.0.0.1/"],
    );
    let err = cli::configure(&args, &issuer.issuer())
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("--redis-url") && err.contains("`redis` feature"),
        "{err}"
    );
}
