//! The `agent_api` example: every route × every token case gives the RFC 6750 status and
//! challenge; discovery (RFC 9728 metadata, the A2A agent card) needs no token; the command
//! line.
#![cfg(feature = "testing")]

#[path = "../examples/agent_api/app.rs"]
mod app;
#[path = "../examples/agent_api/cli.rs"]
mod cli;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use a2a_guard::Validator;
use a2a_guard::testing::{TestIssuer, TokenBuilder};
use axum::body::Body;
use http::{Request, StatusCode};
use tower::ServiceExt;

async fn setup() -> (TestIssuer, axum::Router) {
    let issuer = TestIssuer::builder()
        .audience("agent-api")
        .start()
        .await
        .unwrap();
    let v = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience("agent-api")
        .max_token_lifetime(Duration::from_secs(3600))
        .business_hours("Mon-Fri 09:00-17:00 UTC".parse().unwrap())
        .build()
        .await
        .unwrap();
    (issuer, app::router(v))
}

async fn send(
    app: &axum::Router,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> http::Response<Body> {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    app.clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

fn www(res: &http::Response<Body>) -> String {
    res.headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A scope that covers `needed` through the hierarchy (a parent) or a wildcard.
fn parent(needed: &str) -> String {
    let segs: Vec<&str> = needed.split(':').collect();
    segs[..segs.len() - 1].join(":")
}

fn wildcard(needed: &str) -> String {
    let segs: Vec<&str> = needed.split(':').collect();
    format!("{}:*", segs[0]) + &":*".repeat(segs.len().saturating_sub(2))
}

#[tokio::test]
async fn every_route_and_every_case() {
    let (issuer, app) = setup().await;
    let tok = |scope: &str| -> TokenBuilder {
        // Delegated tokens everywhere: `/delegate` requires an allowed current actor.
        let b = issuer.token().actor_chain([app::DELEGATE_ACTORS[0]]);
        if scope.is_empty() { b } else { b.scope(scope) }
    };
    for (method, path, needed) in app::ROUTES {
        let ctx = format!("{method} {path}");
        // valid
        let res = send(&app, method, path, Some(&tok(needed).sign())).await;
        assert_eq!(res.status(), StatusCode::OK, "{ctx} valid");
        // missing
        let res = send(&app, method, path, None).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{ctx} missing");
        assert_eq!(www(&res), r#"Bearer realm="agent-api""#, "{ctx}");
        // expired
        let res = send(
            &app,
            method,
            path,
            Some(
                &tok(needed)
                    .issued_at(now() - 900)
                    .expires_at(now() - 60)
                    .sign(),
            ),
        )
        .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{ctx} expired");
        assert_eq!(
            www(&res),
            r#"Bearer realm="agent-api", error="invalid_token", error_description="the token has expired""#
        );
        // wrong audience
        let res = send(
            &app,
            method,
            path,
            Some(&tok(needed).audience("billing-api").sign()),
        )
        .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{ctx} wrong aud");
        assert!(
            www(&res).contains("not intended for this audience"),
            "{ctx}"
        );
        // temporal scope run out
        let scope = format!("{needed} temporal:5min");
        let res = send(
            &app,
            method,
            path,
            Some(
                &tok(&scope)
                    .issued_at(now() - 600)
                    .expires_at(now() + 600)
                    .sign(),
            ),
        )
        .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{ctx} temporal");
        assert!(
            www(&res).contains(r#"error="invalid_token""#) && www(&res).contains("temporal"),
            "{ctx}"
        );
        let res = send(
            &app,
            method,
            path,
            Some(&tok(&scope).issued_at(now() - 60).sign()),
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK, "{ctx} inside temporal window");
        if needed.is_empty() {
            continue;
        }
        // insufficient scope
        let res = send(
            &app,
            method,
            path,
            Some(&tok("read:other write:other").sign()),
        )
        .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{ctx} insufficient");
        assert_eq!(
            www(&res),
            format!(r#"Bearer realm="agent-api", error="insufficient_scope", scope="{needed}""#)
        );
        // hierarchical cover and wildcard
        let res = send(&app, method, path, Some(&tok(&parent(needed)).sign())).await;
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "{ctx} parent {}",
            parent(needed)
        );
        let res = send(&app, method, path, Some(&tok(&wildcard(needed)).sign())).await;
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "{ctx} wildcard {}",
            wildcard(needed)
        );
        // a sibling is not a cover
        let sibling = format!("{}x", needed);
        let res = send(&app, method, path, Some(&tok(&sibling).sign())).await;
        assert_eq!(
            res.status(),
            StatusCode::FORBIDDEN,
            "{ctx} sibling {sibling}"
        );
    }
}

#[tokio::test]
async fn path_parameters_fill_the_requirement() {
    let (issuer, app) = setup().await;
    let eu = issuer.token().scope("read:customers:eu").sign();
    assert_eq!(
        send(&app, "GET", "/customers/eu", Some(&eu)).await.status(),
        200
    );
    let res = send(&app, "GET", "/customers/us", Some(&eu)).await;
    assert_eq!(res.status(), 403);
    assert!(www(&res).contains(r#"scope="read:customers:us""#));
    // A parameter that is not one plain segment can satisfy nothing, even for a broad grant.
    let broad = issuer.token().scope("read:customers").sign();
    assert_eq!(
        send(&app, "GET", "/customers/eu", Some(&broad))
            .await
            .status(),
        200
    );
    for bad in ["/customers/eu:secret", "/customers/*", "/customers/%2A"] {
        assert_eq!(
            send(&app, "GET", bad, Some(&broad)).await.status(),
            403,
            "{bad}"
        );
    }
}

#[tokio::test]
async fn delegate_takes_only_allowed_current_actors() {
    let (issuer, app) = setup().await;
    let tok = |actors: &[&str]| {
        issuer
            .token()
            .scope("delegate:analysis")
            .actor_chain(actors.iter().copied())
            .sign()
    };
    assert_eq!(
        send(
            &app,
            "POST",
            "/delegate",
            Some(&tok(&["orchestrator-agent", "ui"]))
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        send(
            &app,
            "POST",
            "/delegate",
            Some(&tok(&["rogue", "orchestrator"]))
        )
        .await
        .status(),
        403
    );
    assert_eq!(
        send(&app, "POST", "/delegate", Some(&tok(&[])))
            .await
            .status(),
        403
    );
    let deep = tok(&["orchestrator", "b", "c", "d", "e"]);
    assert_eq!(
        send(&app, "POST", "/delegate", Some(&deep)).await.status(),
        401,
        "depth limit"
    );
}

#[tokio::test]
async fn whoami_lists_the_delegation_chain_and_health_is_open() {
    let (issuer, app) = setup().await;
    let t = issuer
        .token()
        .subject("user-42")
        .scope("read:data")
        .claim(
            "act",
            serde_json::json!({"sub": "specialist", "act": {"sub": "orchestrator"}}),
        )
        .sign();
    let res = send(&app, "GET", "/whoami", Some(&t)).await;
    assert_eq!(res.status(), 200);
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["sub"], "user-42");
    assert_eq!(v["client_id"], "agent-test");
    assert_eq!(v["scopes"], serde_json::json!(["read:data"]));
    assert_eq!(
        v["actors"],
        serde_json::json!(["specialist", "orchestrator"])
    );
    let res = send(&app, "GET", "/health", None).await;
    assert_eq!(res.status(), 200);
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["keys"][0]["ready"], true);
}

const RESOURCE: &str = "http://agent.test:8080";

/// The demo as the binary serves it: resource, metadata, agent card (token URL discovered),
/// and a dev issuer whose token endpoint knows the demo's client.
async fn setup_with_discovery() -> (TestIssuer, axum::Router, serde_json::Value) {
    let issuer = TestIssuer::builder()
        .audience("agent-api")
        .client("demo-agent", "demo-secret")
        .start()
        .await
        .unwrap();
    let v = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience("agent-api")
        .resource(RESOURCE)
        .build()
        .await
        .unwrap();
    let guards = app::Guards::new(&v);
    let card = app::agent_card(&v, &guards, RESOURCE, app::TokenUrl::Discover)
        .await
        .unwrap();
    let router = app::router_with(v, guards, Some(card.clone())).unwrap();
    (issuer, router, card)
}

async fn json_body(res: http::Response<Body>) -> serde_json::Value {
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    serde_json::from_slice(&body).unwrap()
}

#[tokio::test]
async fn the_agent_card_is_served_without_a_token() {
    use serde_json::json;
    let (issuer, app, built) = setup_with_discovery().await;
    let res = send(&app, "GET", "/.well-known/agent-card.json", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(res.headers()["cache-control"], "public, max-age=300");
    let card = json_body(res).await;
    assert_eq!(card, built);

    // Exactly the A2A v1.0 AgentCard members the demo fills, no more, no fewer.
    let mut keys: Vec<&str> = card
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "capabilities",
            "defaultInputModes",
            "defaultOutputModes",
            "description",
            "name",
            "securityRequirements",
            "securitySchemes",
            "skills",
            "supportedInterfaces",
            "version"
        ]
    );
    assert_eq!(card["name"], "a2a-guard demo agent API");
    assert!(card["description"].as_str().unwrap().contains("a2a-guard"));
    assert_eq!(card["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        card["supportedInterfaces"],
        json!([{"url": RESOURCE, "protocolBinding": "HTTP+JSON", "protocolVersion": "1.0"}])
    );
    assert_eq!(
        card["capabilities"],
        json!({"streaming": false, "pushNotifications": false, "extendedAgentCard": true})
    );
    assert_eq!(card["defaultInputModes"], json!(["application/json"]));
    assert_eq!(card["defaultOutputModes"], json!(["application/json"]));
    assert_eq!(
        card["securityRequirements"],
        json!([{"schemes": {"oauth2": {"list": []}}}])
    );

    // The OAuth2 scheme: the dev issuer's token endpoint and metadata, found by discovery,
    // and every scope a route needs, with its description.
    let oauth2 = &card["securitySchemes"]["oauth2"]["oauth2SecurityScheme"];
    assert_eq!(
        card["securitySchemes"].as_object().unwrap().len(),
        1,
        "no mTLS scheme"
    );
    let flow = &oauth2["flows"]["clientCredentials"];
    assert_eq!(flow["tokenUrl"], format!("{}/token", issuer.issuer()));
    assert_eq!(oauth2["oauth2MetadataUrl"], issuer.discovery_url());
    let scopes: serde_json::Map<String, serde_json::Value> = app::SCOPE_DESCRIPTIONS
        .iter()
        .map(|(s, d)| (s.to_string(), json!(d)))
        .collect();
    assert_eq!(flow["scopes"], serde_json::Value::Object(scopes));

    // One skill per route group, each with the scopes its routes need.
    let req = |scopes: &[&str]| json!([{"schemes": {"oauth2": {"list": scopes}}}]);
    let skills = card["skills"].as_array().unwrap();
    let by_id: Vec<(&str, &serde_json::Value)> = skills
        .iter()
        .map(|s| (s["id"].as_str().unwrap(), &s["securityRequirements"]))
        .collect();
    assert_eq!(
        by_id,
        [
            ("identity", &req(&[])),
            ("data", &req(&["read:data", "read:customers"])),
            ("reports", &req(&["write:reports"])),
            ("payments", &req(&["execute:payment"])),
            ("delegation", &req(&["delegate:analysis"])),
        ]
    );
    for s in skills {
        for member in ["name", "description"] {
            assert!(s[member].as_str().is_some_and(|v| !v.is_empty()), "{s}");
        }
        assert!(s["tags"].as_array().is_some_and(|t| !t.is_empty()), "{s}");
    }
}

#[tokio::test]
async fn protected_resource_metadata_is_served_without_a_token() {
    let (issuer, app, _) = setup_with_discovery().await;
    let res = send(&app, "GET", "/.well-known/oauth-protected-resource", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let doc = json_body(res).await;
    assert_eq!(
        doc,
        serde_json::json!({
            "resource": RESOURCE,
            "authorization_servers": [issuer.issuer()],
            "scopes_supported": ["delegate:analysis", "execute:payment", "read:customers", "read:data", "write:reports"],
            "bearer_methods_supported": ["header"],
            "resource_name": "a2a-guard demo agent API"
        })
    );
}

#[tokio::test]
async fn an_agent_follows_the_card_to_a_token_and_the_extended_card() {
    let (_issuer, app, card) = setup_with_discovery().await;
    // The extended card needs a token.
    let res = send(&app, "GET", app::EXTENDED_CARD_PATH, None).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // Client credentials at the card's tokenUrl, as an agent would.
    let token_url = card["securitySchemes"]["oauth2"]["oauth2SecurityScheme"]["flows"]
        ["clientCredentials"]["tokenUrl"]
        .as_str()
        .unwrap();
    let res = reqwest::Client::new()
        .post(token_url)
        .basic_auth("demo-agent", Some("demo-secret"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=client_credentials&scope=read%3Adata&resource={}",
            "http%3A%2F%2Fagent.test%3A8080"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
    let token = body["access_token"].as_str().unwrap();
    let res = send(&app, "GET", app::EXTENDED_CARD_PATH, Some(token)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(json_body(res).await, card);
    assert_eq!(send(&app, "GET", "/data", Some(token)).await.status(), 200);
    assert_eq!(
        send(&app, "POST", "/payments", Some(token)).await.status(),
        403
    );
}

#[test]
fn the_command_line_takes_flag_equals_value_and_lists_every_flag() {
    use clap::{CommandFactory, Parser};
    let args = cli::Args::try_parse_from([
        "agent_api",
        "--listen=127.0.0.1:0",
        "--resource=http://agent.test",
        "--keys-file=/tmp/k.json",
        "--accept-typ=JWT",
        "--accept-typ",
        "jwt",
    ])
    .unwrap();
    assert_eq!(args.listen.port(), 0);
    assert_eq!(args.resource.as_deref(), Some("http://agent.test"));
    assert_eq!(args.accept_typ, ["JWT", "jwt"]);
    assert_eq!(args.audience, "agent-api");
    // Combinations that cannot work are refused up front.
    for bad in [
        &["agent_api", "--jwks-url=http://127.0.0.1:1/jwks"][..],
        &[
            "agent_api",
            "--issuer=https://a.example",
            "--keys-file=/tmp/k",
        ],
        &["agent_api", "--listen=8080"],
        &["agent_api", "--max-lifetime=soon"],
        &["agent_api", "--business-hours=whenever"],
    ] {
        assert!(cli::Args::try_parse_from(bad).is_err(), "{bad:?}");
    }
    // `--help`: one line per flag, each naming it.
    let help = cli::Args::command().render_help().to_string();
    let cmd = cli::Args::command();
    for arg in cmd.get_arguments() {
        let long = format!("--{}", arg.get_long().unwrap());
        assert_eq!(
            help.lines()
                .filter(|l| l.trim_start().starts_with(&long) || l.contains(&format!(", {long}")))
                .count(),
            1,
            "{long} in\n{help}"
        );
    }
    let err = cli::Args::try_parse_from(["agent_api", "--help"]).unwrap_err();
    assert_eq!(err.kind(), clap::error::ErrorKind::DisplayHelp);
    assert!(!err.use_stderr(), "help goes to stdout");
}

#[tokio::test]
async fn a_port_in_use_is_a_sentence_naming_the_flag() {
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = taken.local_addr().unwrap();
    let err = cli::bind(addr).await.unwrap_err();
    assert!(
        err.contains("already in use") && err.contains("--listen"),
        "{err}"
    );
    assert!(cli::bind("127.0.0.1:0".parse().unwrap()).await.is_ok());
}

#[tokio::test]
async fn operators_and_pushed_events_revoke_tokens() {
    use a2a_guard::revocation::{CAEP_SESSION_REVOKED, Revocations, SetReceiver};
    let issuer = TestIssuer::builder()
        .audience("agent-api")
        .start()
        .await
        .unwrap();
    let revocations = Revocations::new();
    let v = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience("agent-api")
        .revocations(revocations.clone())
        .build()
        .await
        .unwrap();
    let events = SetReceiver::builder(revocations.clone())
        .transmitter(issuer.issuer(), issuer.jwks_url())
        .audience("http://agent-api.test")
        .build()
        .await
        .unwrap();
    let app = app::router(v.clone()).merge(app::revocation_routes(&v, revocations, events));
    let post = |path: &'static str, token: Option<String>, body: String| {
        let app = app.clone();
        async move {
            let mut req = Request::post(path).header("content-type", "application/json");
            if let Some(t) = token {
                req = req.header("authorization", format!("Bearer {t}"));
            }
            app.oneshot(req.body(Body::from(body)).unwrap())
                .await
                .unwrap()
                .status()
        }
    };
    // An operator revokes one task's token by jti.
    let task = issuer.token().claim("jti", "task-7").sign();
    assert_eq!(
        send(&app, "GET", "/whoami", Some(&task)).await.status(),
        200
    );
    let operator = issuer.token().scope("admin:revoke").sign();
    let agent = issuer.token().scope("read:data").sign();
    let body = r#"{"jti":"task-7"}"#.to_owned();
    assert_eq!(
        post("/admin/revoke", Some(agent), body.clone()).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post("/admin/revoke", Some(operator), body).await,
        StatusCode::OK
    );
    assert_eq!(
        send(&app, "GET", "/whoami", Some(&task)).await.status(),
        401
    );

    // The issuer pushes a CAEP session-revoked event for an agent: its older tokens stop.
    let old = issuer
        .token()
        .subject("billing-agent")
        .issued_at(now() - 30)
        .sign();
    assert_eq!(send(&app, "GET", "/whoami", Some(&old)).await.status(), 200);
    let set = issuer
        .security_event(
            "http://agent-api.test",
            CAEP_SESSION_REVOKED,
            "billing-agent",
        )
        .sign();
    assert_eq!(post("/events", None, set).await, StatusCode::ACCEPTED);
    assert_eq!(send(&app, "GET", "/whoami", Some(&old)).await.status(), 401);
}

/// `--introspection-url` with its client: opaque tokens are accepted through the issuer's
/// RFC 7662 endpoint, and `--introspect-jwts` makes a revoked JWT fail at once.
#[cfg(feature = "client")]
#[tokio::test]
async fn the_introspection_flags_accept_opaque_tokens_and_recheck_jwts() {
    use clap::Parser;
    let issuer = TestIssuer::builder()
        .audience("agent-api")
        .client("agent-api", "introspect-secret")
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "introspect-secret\n").unwrap();
    let url = issuer.introspection_url();
    let secret_flag = secret.to_str().unwrap();
    let parse = |extra: &[&str]| {
        let mut argv = vec![
            "agent_api",
            "--introspection-url",
            &url,
            "--introspection-client-id=agent-api",
            "--introspection-client-secret-file",
            secret_flag,
        ];
        argv.extend_from_slice(extra);
        cli::Args::try_parse_from(argv).unwrap()
    };
    let build = |args: cli::Args| {
        let b = Validator::builder()
            .issuer_jwks(issuer.issuer(), issuer.jwks_url())
            .audience("agent-api")
            .introspection(cli::introspection(&args, &issuer.issuer()).unwrap());
        async move { b.build().await.unwrap() }
    };
    let v = build(parse(&[])).await;
    let opaque = issuer.opaque_token(issuer.token().subject("billing-agent"));
    assert_eq!(
        v.validate(&opaque).await.unwrap().subject(),
        Some("billing-agent")
    );
    // Without --introspect-jwts a deactivated JWT still passes on its signature.
    let jwt = issuer.token().claim("jti", "flag-1").sign();
    issuer.deactivate("flag-1");
    v.validate(&jwt).await.unwrap();
    let rechecking = build(parse(&["--introspect-jwts"])).await;
    assert_eq!(
        rechecking.validate(&jwt).await.unwrap_err(),
        a2a_guard::AuthError::Inactive
    );
    // The client flags go together.
    for bad in [
        &["agent_api", "--introspection-url=http://127.0.0.1:1/i"][..],
        &["agent_api", "--introspection-client-id=x"],
        &["agent_api", "--introspect-jwts"],
    ] {
        assert!(cli::Args::try_parse_from(bad).is_err(), "{bad:?}");
    }
}

/// `--metrics-listen`: the scrape router renders what the layer recorded, without a token.
#[cfg(feature = "metrics")]
#[tokio::test]
async fn metrics_are_scraped_after_a_request() {
    use clap::Parser;
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    // This thread only (tokio's test runtime is single-threaded): other tests are unaffected.
    let _local = metrics::set_default_local_recorder(&recorder);
    a2a_guard::metrics::describe();
    let (issuer, app) = setup().await;
    let token = issuer.token().scope("read:data").sign();
    assert_eq!(send(&app, "GET", "/data", Some(&token)).await.status(), 200);
    assert_eq!(send(&app, "GET", "/data", None).await.status(), 401);
    let args = cli::Args::try_parse_from(["agent_api", "--metrics-listen=127.0.0.1:0"]).unwrap();
    assert_eq!(args.metrics_listen.map(|a| a.port()), Some(0));
    let res = send(&app::metrics_router(handle), "GET", "/metrics", None).await;
    assert_eq!(res.status(), 200);
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(
        text.contains(r#"a2a_guard_decisions_total{decision="allow",reason="ok",route="/data"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"a2a_guard_decisions_total{decision="deny",reason="missing_token",route=""} 1"#
        ),
        "{text}"
    );
    assert!(text.contains("# HELP a2a_guard_decisions_total"), "{text}");
}
