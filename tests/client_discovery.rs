//! Finding the token endpoint (issue 13): RFC 8414 / OIDC discovery from an issuer, and RFC
//! 9728 discovery from a protected resource's 401 — against a real resource server guarded
//! by a2a-guard and a real `TestIssuer`, over loopback HTTP. A resource cannot send this
//! agent's credentials to an authorization server it does not trust, nor make it fetch a
//! document from another origin.
#![cfg(all(feature = "testing", feature = "client"))]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use a2a_guard::client::{AuthorizationServer, ClientError, ResourceDiscovery, Secret};
use a2a_guard::metadata::ResourceMetadata;
use a2a_guard::testing::TestIssuer;
use a2a_guard::{RequireScopes, Validator};
use axum::Router;
use axum::routing::get;
use http::HeaderValue;

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// A resource server at `<origin>/mcp` guarded by a2a-guard, with its RFC 9728 metadata.
async fn resource_server(issuer: &TestIssuer) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let resource = format!("http://{}/mcp", listener.local_addr().unwrap());
    let v = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .resource(&resource)
        .build()
        .await
        .unwrap();
    let layer = v.layer();
    let metadata = ResourceMetadata::builder(&layer)
        .scopes(["read:data"])
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/mcp",
            get(|| async { "ok" }).route_layer(RequireScopes::all(["read:data"])),
        )
        .layer(layer)
        .merge(metadata.into_router());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    resource
}

async fn challenge(resource: &str) -> HeaderValue {
    let res = reqwest::get(resource).await.unwrap();
    assert_eq!(res.status(), 401);
    res.headers()["www-authenticate"].clone()
}

#[tokio::test]
async fn a_401_leads_to_the_token_endpoint_and_the_token_gets_in() {
    let issuer = TestIssuer::builder()
        .client("orchestrator", "s3cret")
        .start()
        .await
        .unwrap();
    let resource = resource_server(&issuer).await;
    let found = ResourceDiscovery::new(&resource)
        .trust(issuer.issuer())
        .challenge(&challenge(&resource).await)
        .discover()
        .await
        .unwrap();
    assert_eq!(found.metadata.resource, resource);
    assert_eq!(found.metadata.scopes_supported, ["read:data"]);
    assert_eq!(found.authorization_server.issuer, issuer.issuer());
    assert_eq!(
        found.authorization_server.token_endpoint,
        format!("{}/token", issuer.issuer())
    );
    let tokens = found
        .authorization_server
        .client_credentials("orchestrator")
        .secret(Secret::new("s3cret"))
        .resource(found.metadata.resource.clone())
        .scope(found.metadata.scopes_supported.clone())
        .build()
        .unwrap();
    let t = tokens.token().await.unwrap();
    let res = reqwest::Client::new()
        .get(&resource)
        .bearer_auth(t.secret())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // Without a challenge, the well-known URL of the resource gives the same answer.
    let again = ResourceDiscovery::new(&resource)
        .trust(issuer.issuer())
        .discover()
        .await
        .unwrap();
    assert_eq!(again.authorization_server, found.authorization_server);
}

#[tokio::test]
async fn an_untrusted_authorization_server_is_never_contacted() {
    let issuer = TestIssuer::start().await.unwrap();
    let resource = resource_server(&issuer).await;
    issuer.reset_counters();
    let err = ResourceDiscovery::new(&resource)
        .trust("https://the-one-we-trust.example")
        .challenge(&challenge(&resource).await)
        .discover()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::Discovery(m) if m.contains("trusts")),
        "{err:?}"
    );
    assert_eq!(issuer.discovery_fetches(), 0);
    // And none trusted at all is refused before any request.
    assert!(matches!(
        ResourceDiscovery::new(&resource).discover().await,
        Err(ClientError::Discovery(_))
    ));
}

#[tokio::test]
async fn metadata_from_another_origin_is_not_fetched() {
    let issuer = TestIssuer::start().await.unwrap();
    let resource = resource_server(&issuer).await;
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let elsewhere = serve(Router::new().fallback(move || {
        counted.fetch_add(1, Ordering::SeqCst);
        async { "{}" }
    }))
    .await;
    let forged = HeaderValue::from_str(&format!(
        r#"Bearer resource_metadata="{elsewhere}/.well-known/oauth-protected-resource/mcp""#
    ))
    .unwrap();
    let err = ResourceDiscovery::new(&resource)
        .trust(issuer.issuer())
        .challenge(&forged)
        .discover()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::Discovery(m) if m.contains("origin")),
        "{err:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn metadata_about_another_resource_is_refused() {
    let issuer = TestIssuer::start().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let doc = serde_json::json!({
        "resource": format!("{origin}/admin"),
        "authorization_servers": [issuer.issuer()],
    });
    let app = Router::new().route(
        "/.well-known/oauth-protected-resource/mcp",
        get(move || async move { axum::Json(doc) }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let err = ResourceDiscovery::new(format!("{origin}/mcp"))
        .trust(issuer.issuer())
        .discover()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::Discovery(m) if m.contains("9728")),
        "{err:?}"
    );
}

#[tokio::test]
async fn issuer_discovery_checks_the_issuer_it_names() {
    let issuer = TestIssuer::start().await.unwrap();
    let server = AuthorizationServer::discover(&issuer.issuer())
        .await
        .unwrap();
    assert_eq!(server.token_endpoint, format!("{}/token", issuer.issuer()));
    assert!(
        server
            .token_endpoint_auth_methods_supported
            .iter()
            .any(|m| m == "private_key_jwt")
    );
    // A document naming another issuer is refused (RFC 8414 §3.3: mix-up defence).
    issuer.set_discovery_issuer(Some("https://someone-else.example".into()));
    assert!(matches!(
        AuthorizationServer::discover(&issuer.issuer()).await,
        Err(ClientError::Discovery(_))
    ));
}
