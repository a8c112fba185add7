//! RFC 9728 from the gate (issue 17): with a `resource`, the gate serves the Protected
//! Resource Metadata itself (forward-auth listener and reverse proxy, no token), names it in
//! every challenge's `resource_metadata` (how MCP and A2A clients find the authorization
//! server), and accepts the resource as `aud`.

use a2a_guard::testing::TestIssuer;
use a2a_guard_gate::config::ProxyConfig;
use a2a_guard_gate::{Config, ConfigError, Gate, Proxy};

const RESOURCE: &str = "https://agent.example/mcp";
const METADATA_PATH: &str = "/.well-known/oauth-protected-resource/mcp";

fn config(issuer: &TestIssuer, resource: Option<&str>) -> Result<Config, ConfigError> {
    let resource = resource.map_or(String::new(), |r| format!("resource = \"{r}\"\n"));
    Config::parse(&format!(
        r#"
{resource}resource_name = "Customer agent"
trusted_proxies = ["127.0.0.1"]
[listen]
forward_auth = "127.0.0.1:0"
[[issuer]]
issuer = "{iss}"
jwks_url = "{jwks}"
allow_http = true
[[route]]
path = "/mcp"
all = ["read:customers"]
[[route]]
path = "/payments/*"
any = ["execute:payment", "read:payments"]
"#,
        iss = issuer.issuer(),
        jwks = issuer.jwks_url(),
    ))
}

async fn serve(gate: Gate) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(gate.serve(listener));
    format!("http://{addr}")
}

async fn json(res: reqwest::Response) -> serde_json::Value {
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    serde_json::from_str(&res.text().await.unwrap()).unwrap()
}

#[tokio::test]
async fn the_gate_serves_the_metadata_and_names_it_in_challenges() {
    let issuer = TestIssuer::start().await.unwrap();
    let gate = Gate::new(config(&issuer, Some(RESOURCE)).unwrap())
        .await
        .unwrap();
    let base = serve(gate.clone()).await;
    let client = reqwest::Client::new();

    // Asked directly, as nginx `proxy_pass`es the well-known location to the gate.
    let doc = json(
        client
            .get(format!("{base}{METADATA_PATH}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(doc["resource"], RESOURCE);
    assert_eq!(doc["resource_name"], "Customer agent");
    assert_eq!(
        doc["authorization_servers"],
        serde_json::json!([issuer.issuer()])
    );
    assert_eq!(
        doc["scopes_supported"],
        serde_json::json!(["execute:payment", "read:customers", "read:payments"])
    );
    assert_eq!(
        doc["bearer_methods_supported"],
        serde_json::json!(["header"])
    );
    let post = client
        .post(format!("{base}{METADATA_PATH}"))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);

    // Through the reverse proxy, without a token and without reaching the upstream (none
    // listens there).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let proxy_config: ProxyConfig = toml::from_str(&format!(
        "listen = \"127.0.0.1:0\"\nupstream = \"{upstream}\""
    ))
    .unwrap();
    let proxy = Proxy::new(gate.clone(), &proxy_config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxied = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(proxy.serve(listener));
    let doc = json(
        client
            .get(format!("{proxied}{METADATA_PATH}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(doc["resource"], RESOURCE);

    // Every challenge points there (RFC 9728 §5.1), from forward-auth and from the proxy.
    let challenge = |res: &reqwest::Response| {
        res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    let want = format!(r#"resource_metadata="https://agent.example{METADATA_PATH}""#);
    let res = (client.get(format!("{base}/auth")))
        .header("x-original-method", "POST")
        .header("x-original-uri", "/mcp")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(challenge(&res).contains(&want), "{}", challenge(&res));
    let res = client.post(format!("{proxied}/mcp")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert!(challenge(&res).contains(&want), "{}", challenge(&res));

    // The resource is an accepted audience (no `audiences` configured).
    let token = issuer
        .token()
        .audience(RESOURCE)
        .scope("read:customers")
        .sign();
    let res = (client.get(format!("{base}/auth")))
        .header("x-original-method", "POST")
        .header("x-original-uri", "/mcp")
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // A forwarded check about the well-known path is a decision like any other (no route).
    let res = (client.get(format!("{base}/auth")))
        .header("x-original-method", "GET")
        .header("x-original-uri", METADATA_PATH)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn without_a_resource_there_is_no_metadata_and_bad_resources_are_refused() {
    let issuer = TestIssuer::start().await.unwrap();
    // Neither audiences nor a resource: nothing to check `aud` against.
    let err = config(&issuer, None).unwrap_err();
    assert!(err.to_string().starts_with("audiences"), "{err}");
    for bad in [
        "https://agent.example/mcp?x=1",
        "https://user@agent.example/",
        "agent.example",
        "ftp://agent.example/",
    ] {
        let err = config(&issuer, Some(bad)).unwrap_err();
        assert!(err.to_string().starts_with("resource"), "{bad}: {err}");
    }
    let text = format!(
        "audiences = [\"a\"]\n[listen]\nforward_auth = \"127.0.0.1:0\"\n\
         [[issuer]]\nissuer = \"{}\"\njwks_url = \"{}\"\nallow_http = true\n",
        issuer.issuer(),
        issuer.jwks_url()
    );
    let gate = Gate::new(Config::parse(&text).unwrap()).await.unwrap();
    assert!(
        gate.resource_metadata(&http::Method::GET, "/.well-known/oauth-protected-resource")
            .is_none()
    );
    let base = serve(gate).await;
    let res = reqwest::get(format!("{base}/.well-known/oauth-protected-resource"))
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "decided like any path: no route");
    assert!(
        !res.headers().contains_key("www-authenticate")
            || !res.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("resource_metadata")
    );
}
