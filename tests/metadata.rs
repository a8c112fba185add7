//! Resource identity (RFC 8707 §2, RFC 9728 §1.2), Protected Resource Metadata (RFC 9728)
//! and the `resource_metadata` / `scope` challenge parameters (RFC 9728 §5.1).
#![cfg(feature = "testing")]

use a2a_guard::testing::TestIssuer;
use a2a_guard::{AuthError, ConfigError, Validator};

async fn with_resources(issuer: &TestIssuer, resources: &[&str]) -> Validator {
    let mut b = Validator::builder().issuer_jwks(issuer.issuer(), issuer.jwks_url());
    for r in resources {
        b = b.resource(*r);
    }
    b.build().await.unwrap()
}

#[tokio::test]
async fn resource_is_accepted_as_audience_without_any_audience() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = with_resources(&issuer, &["https://api.example/mcp"]).await;
    let t = issuer.token().audience("https://api.example/mcp").sign();
    v.validate(&t).await.unwrap();
    // The issuer's default audience is not this resource's.
    let other = issuer.token().sign();
    assert_eq!(
        v.validate(&other).await.unwrap_err(),
        AuthError::WrongAudience
    );
}

#[tokio::test]
async fn scheme_host_case_and_default_port_are_normalised() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = with_resources(&issuer, &["HTTPS://API.Example:443/mcp"]).await;
    for aud in [
        "https://api.example/mcp",
        "https://api.example:443/mcp",
        "HTTPS://Api.EXAMPLE/mcp",
        "HTTPS://API.Example:443/mcp",
    ] {
        let t = issuer.token().audience(aud).sign();
        assert!(v.validate(&t).await.is_ok(), "{aud} should be accepted");
    }
    let plain = with_resources(&issuer, &["http://127.0.0.1:80/mcp"]).await;
    let t = issuer.token().audience("http://127.0.0.1/mcp").sign();
    plain.validate(&t).await.unwrap();
}

#[tokio::test]
async fn nothing_else_is_widened() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = with_resources(&issuer, &["https://api.example/mcp"]).await;
    for aud in [
        "https://api.example/MCP",      // path case is significant
        "https://api.example/mcp/",     // trailing slash
        "https://api.example/%6Dcp",    // percent-encoding is not decoded
        "https://api.example/./mcp",    // dot segments are not removed
        "https://api.example/mcp?x=1",  // query
        "https://api.example:8443/mcp", // another port
        "http://api.example/mcp",       // another scheme
        "https://api.example:80/mcp",   // http's default port is not https's
        "https://user@api.example/mcp", // userinfo
        "https://api.example.evil/mcp", // another host
        "https://api.example",          // no path
        "https://api.example/mcp#frag", // fragment
    ] {
        let t = issuer.token().audience(aud).sign();
        assert_eq!(
            v.validate(&t).await.unwrap_err(),
            AuthError::WrongAudience,
            "{aud} must not match"
        );
    }
}

#[tokio::test]
async fn several_resources_and_audiences_together() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
        .resource("https://api.example/mcp")
        .resource("https://agents.example/a2a")
        .build()
        .await
        .unwrap();
    for aud in [
        issuer.audience(),
        "https://api.example/mcp",
        "https://AGENTS.example/a2a",
    ] {
        let t = issuer.token().audience(aud).sign();
        assert!(v.validate(&t).await.is_ok(), "{aud}");
    }
    let t = issuer
        .token()
        .audience(["someone-else", "https://api.example:443/mcp"])
        .sign();
    v.validate(&t).await.unwrap();
    assert_eq!(
        v.resources().collect::<Vec<_>>(),
        ["https://api.example/mcp", "https://agents.example/a2a"]
    );
}

#[tokio::test]
async fn malformed_resource_is_a_config_error() {
    let issuer = TestIssuer::start().await.unwrap();
    for bad in [
        "not a uri",
        "/relative/mcp",
        "ftp://api.example/mcp",
        "https://api.example/mcp#fragment",
        "https://user:pw@api.example/mcp",
        "https:///mcp",
        "https://api.example/mcp?tenant=1",
        "https://api.example:99999/mcp",
        "",
    ] {
        let err = Validator::builder()
            .issuer_jwks(issuer.issuer(), issuer.jwks_url())
            .resource(bad)
            .build()
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ConfigError::InvalidUrl { url, .. } if url == bad),
            "{bad}: {err:?}"
        );
    }
}

#[tokio::test]
async fn skipping_the_audience_check_contradicts_a_resource() {
    let issuer = TestIssuer::start().await.unwrap();
    let err = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .resource("https://api.example/mcp")
        .dangerous_skip_audience_check()
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ConfigError::InvalidSetting { name, .. } if *name == "dangerous_skip_audience_check"),
        "{err:?}"
    );
}

// ---- RFC 9728 Protected Resource Metadata ----

use a2a_guard::RequireScopes;
use a2a_guard::metadata::ResourceMetadata;
use a2a_guard::pop::DpopConfig;
use axum::Router;
use axum::routing::{get, post};
use serde_json::{Value, json};

/// A real server on 127.0.0.1: the app behind the auth layer, the metadata router beside it.
async fn listener() -> (tokio::net::TcpListener, String) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    (l, base)
}

fn spawn(l: tokio::net::TcpListener, app: Router) {
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
}

async fn get_json(url: &str) -> (u16, Option<String>, Value) {
    let res = reqwest::get(url).await.unwrap();
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = res.text().await.unwrap();
    (
        status,
        ct,
        serde_json::from_str(&body).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn both_metadata_url_forms_name_the_resource_they_were_fetched_for() {
    let issuer = TestIssuer::start().await.unwrap();
    let (l, base) = listener().await;
    let v = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .resource(format!("{base}/mcp"))
        .resource(base.clone())
        .build()
        .await
        .unwrap();
    let app = Router::new()
        .route(
            "/mcp",
            post(|| async { "ok" }).route_layer(v.advertise(RequireScopes::all(["read:data"]))),
        )
        .route(
            "/pay",
            post(|| async { "ok" })
                .route_layer(v.advertise(RequireScopes::any(["execute:payment", "admin"]))),
        )
        .route(
            "/customers/{region}",
            get(|| async { "ok" })
                .route_layer(v.advertise(RequireScopes::template("read:customers:{region}"))),
        )
        .layer(v.layer())
        .merge(
            ResourceMetadata::builder(&v.layer())
                .scopes(["openid-free:extra"])
                .resource_name("Test MCP server")
                .resource_documentation("https://docs.example/mcp")
                .router()
                .unwrap(),
        );
    spawn(l, app);

    let scopes = json!([
        "admin",
        "execute:payment",
        "openid-free:extra",
        "read:customers",
        "read:data"
    ]);
    // Path-inserted form (RFC 9728 §3.1), no token.
    let (status, ct, doc) =
        get_json(&format!("{base}/.well-known/oauth-protected-resource/mcp")).await;
    assert_eq!(status, 200);
    assert_eq!(ct.as_deref(), Some("application/json"));
    assert_eq!(
        doc,
        json!({
            "resource": format!("{base}/mcp"),
            "authorization_servers": [issuer.issuer()],
            "scopes_supported": scopes,
            "bearer_methods_supported": ["header"],
            "resource_name": "Test MCP server",
            "resource_documentation": "https://docs.example/mcp",
        })
    );
    // Root form: the resource without a path.
    let (status, _, doc) = get_json(&format!("{base}/.well-known/oauth-protected-resource")).await;
    assert_eq!(status, 200);
    assert_eq!(doc["resource"], json!(base));
    assert_eq!(doc["scopes_supported"], scopes);
    // Nothing else is served there, and the app itself still needs a token.
    let (status, _, _) = get_json(&format!(
        "{base}/.well-known/oauth-protected-resource/other"
    ))
    .await;
    assert_eq!(status, 404);
    let res = reqwest::Client::new()
        .post(format!("{base}/.well-known/oauth-protected-resource/mcp"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    let res = reqwest::Client::new()
        .post(format!("{base}/mcp"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn dpop_and_certificate_binding_fields_when_configured() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = with_resources(&issuer, &["https://api.example/mcp"]).await;
    let layer = v
        .layer()
        .dpop(
            DpopConfig::new()
                .origin("https://api.example")
                .algorithms([a2a_guard::Algorithm::ES256, a2a_guard::Algorithm::EdDSA]),
        )
        .unwrap();
    let doc = ResourceMetadata::builder(&layer)
        .certificate_bound_tokens()
        .build()
        .unwrap()
        .document("https://api.example/mcp")
        .unwrap();
    let doc = serde_json::to_value(&doc).unwrap();
    assert_eq!(
        doc["dpop_signing_alg_values_supported"],
        json!(["ES256", "EdDSA"])
    );
    assert_eq!(doc["dpop_bound_access_tokens_required"], json!(false));
    assert_eq!(
        doc["tls_client_certificate_bound_access_tokens"],
        json!(true)
    );
    // Without them, the members are absent (not false, not empty).
    let plain = ResourceMetadata::builder(&v.layer()).build().unwrap();
    let doc = serde_json::to_value(plain.document("https://api.example/mcp").unwrap()).unwrap();
    let keys: Vec<&str> = doc
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "authorization_servers",
            "bearer_methods_supported",
            "resource"
        ]
    );
    assert!(plain.document("https://other.example/mcp").is_none());
}

#[tokio::test]
async fn metadata_needs_a_resource_and_valid_urls() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(issuer.audience())
        .build()
        .await
        .unwrap();
    assert!(matches!(
        ResourceMetadata::builder(&v.layer()).build(),
        Err(ConfigError::InvalidSetting { .. })
    ));
    let v = with_resources(&issuer, &["https://api.example/mcp"]).await;
    for bad in [
        "not a url",
        "ftp://docs.example",
        "https://docs.example/\"x",
    ] {
        assert!(
            matches!(
                ResourceMetadata::builder(&v.layer())
                    .resource_documentation(bad)
                    .build(),
                Err(ConfigError::InvalidUrl { .. })
            ),
            "{bad}"
        );
    }
    // A scope that is not a valid RFC 6749 §3.3 token is refused, not published.
    assert!(matches!(
        ResourceMetadata::builder(&v.layer())
            .scopes(["a b"])
            .build(),
        Err(ConfigError::InvalidSetting { .. })
    ));
}

#[tokio::test]
async fn two_validators_keep_their_own_scopes() {
    let issuer = TestIssuer::start().await.unwrap();
    let a = with_resources(&issuer, &["https://a.example/"]).await;
    let b = with_resources(&issuer, &["https://b.example/"]).await;
    let _ = a.advertise(RequireScopes::all(["read:a"]));
    let _ = b.advertise(RequireScopes::all(["read:b"]));
    // A clone shares the catalog.
    let _ = a.clone().advertise(RequireScopes::all(["write:a"]));
    let doc = |v: &Validator, r: &str| {
        serde_json::to_value(
            ResourceMetadata::builder(&v.layer())
                .build()
                .unwrap()
                .document(r)
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(
        doc(&a, "https://a.example/")["scopes_supported"],
        json!(["read:a", "write:a"])
    );
    assert_eq!(
        doc(&b, "https://b.example/")["scopes_supported"],
        json!(["read:b"])
    );
}
