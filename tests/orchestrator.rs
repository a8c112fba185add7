//! The `orchestrator` example (issue 13's demo): a task is delegated with an exchanged token
//! (RFC 8693, the orchestrator as actor), maintenance uses the orchestrator's own token, the
//! inbound token never reaches the downstream agent, no token means 503 and no downstream
//! call; the command line. Real `TestIssuer` token endpoint, real loopback HTTP to a small
//! downstream agent that records what it receives.
#![cfg(all(feature = "testing", feature = "client"))]

#[path = "../examples/orchestrator/app.rs"]
mod app;
#[path = "../examples/orchestrator/cli.rs"]
mod cli;
#[path = "../examples/orchestrator/dev.rs"]
mod dev;

use std::sync::{Arc, Mutex};

use a2a_guard::Validator;
use a2a_guard::client::Secret;
use a2a_guard::testing::{Behavior, TestIssuer};
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

async fn setup() -> Harness {
    setup_with_secret(ORCHESTRATOR.1).await
}

/// The orchestrator wired as `dev::start` wires it, against a downstream agent we control,
/// its client secret given here (a wrong one makes the token endpoint refuse).
async fn setup_with_secret(secret: &str) -> Harness {
    let issuer = TestIssuer::builder()
        .audience(AUDIENCE)
        .client(ORCHESTRATOR.0, ORCHESTRATOR.1)
        .start()
        .await
        .unwrap();
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

    let validator = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(AUDIENCE)
        .build()
        .await
        .unwrap();
    let own = app::own_tokens(
        &format!("{}/token", issuer.issuer()),
        ORCHESTRATOR.0,
        Secret::new(secret),
        &resource,
        &[],
    )
    .unwrap();
    let orchestrator = app::Orchestrator::new(
        own,
        app::Downstream {
            url: format!("{resource}/whoami"),
            audience: resource.clone(),
            scopes: vec!["read:data".into()],
        },
    )
    .unwrap();
    Harness {
        issuer,
        app: app::router(validator, orchestrator),
        resource,
        seen,
    }
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
    let h = setup_with_secret("not-the-secret").await;
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
    assert!(cli::not_available_yet(&args).is_ok());
    // The required group: exactly one of the secret file and the key file.
    assert!(with(&[]).is_err(), "no client authentication");
    assert!(
        with(&["--client-secret-file=/s", "--private-key-file=/k.pem"]).is_err(),
        "both"
    );
    assert!(with(&["--private-key-file=/k.pem"]).is_ok());
    // Every flag of the real set-up needs --issuer; alone, none but --listen applies.
    assert!(cli::Args::try_parse_from(["orchestrator"]).is_ok());
    for bad in [
        &["orchestrator", "--client-id=x"][..],
        &["orchestrator", "--downstream-url=https://a.example"],
        &["orchestrator", "--issuer=https://auth.example"],
        &["orchestrator", "--listen=8080"],
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

#[test]
fn flags_waiting_for_the_library_are_refused_in_one_line() {
    use clap::Parser;
    let secret = [
        "--issuer=https://auth.example",
        "--audience=a",
        "--client-id=c",
        "--downstream-url=https://d.example/",
        "--downstream-audience=d",
        "--downstream-scope=s",
    ];
    for (extra, flag) in [
        (&["--private-key-file=/k.pem"][..], "--private-key-file"),
        (
            &["--client-secret-file=/s", "--redis-url=redis://127.0.0.1/"],
            "--redis-url",
        ),
        (
            &["--client-secret-file=/s", "--revoke-on-exit"],
            "--revoke-on-exit",
        ),
    ] {
        let mut argv = vec!["orchestrator"];
        argv.extend_from_slice(&secret);
        argv.extend_from_slice(extra);
        let args = cli::Args::try_parse_from(argv).unwrap();
        let err = cli::not_available_yet(&args).unwrap_err();
        assert!(
            err.starts_with(flag) && err.ends_with("is not available yet") && !err.contains('\n'),
            "{err}"
        );
    }
    // The dev set-up refuses them too.
    let args = cli::Args::try_parse_from(["orchestrator", "--revoke-on-exit"]).unwrap();
    assert!(cli::not_available_yet(&args).is_err());
    assert_eq!(cli::EXIT_NOT_AVAILABLE, 2);
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
