//! The `mcp_server` example over real HTTP on loopback: the 401 challenge, the RFC 9728
//! metadata, an MCP session (initialize, tools/list, tools/call) with rmcp's streamable HTTP
//! transport, and the per-tool scope: 403 `insufficient_scope` naming the tool's scope.
#![cfg(feature = "testing")]

// The example's router; the binary's helpers are not all used here.
#[allow(dead_code)]
#[path = "../examples/mcp_server/app.rs"]
mod app;

use std::net::SocketAddr;

use a2a_guard::Validator;
use a2a_guard::testing::TestIssuer;
use serde_json::{Value, json};

const ACCEPT: &str = "application/json, text/event-stream";
const PROTOCOL: &str = "2025-06-18";

struct Server {
    issuer: TestIssuer,
    addr: SocketAddr,
    resource: String,
    http: reqwest::Client,
}

/// The example's router on 127.0.0.1, its resource `http://<addr>/mcp`. With `peek` false the
/// MCP service is mounted behind the auth layer alone (no per-tool HTTP guard), to show that
/// each tool checks its scope itself.
async fn start(peek: bool) -> Server {
    let issuer = TestIssuer::start().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let resource = format!("http://{addr}/mcp");
    let validator = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .resource(resource.clone())
        .build()
        .await
        .unwrap();
    let hosts = vec![addr.to_string()];
    let router = if peek {
        app::router(validator, hosts).unwrap()
    } else {
        axum::Router::new()
            .route_service(app::MCP_PATH, app::mcp_service(hosts))
            .layer(validator.layer())
    };
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    Server {
        issuer,
        addr,
        resource,
        http: reqwest::Client::new(),
    }
}

impl Server {
    /// RFC 9728 §3.1: the well-known path inserted before the resource's path.
    fn metadata_url(&self) -> String {
        format!(
            "http://{}/.well-known/oauth-protected-resource/mcp",
            self.addr
        )
    }

    fn token(&self, scope: &str) -> String {
        self.issuer
            .token()
            .audience(&self.resource)
            .scope(scope)
            .sign()
    }

    /// POST one JSON-RPC message to /mcp.
    async fn post(
        &self,
        token: Option<&str>,
        session: Option<&str>,
        body: &Value,
    ) -> reqwest::Response {
        let mut req = self
            .http
            .post(&self.resource)
            .header("content-type", "application/json")
            .header("accept", ACCEPT)
            .body(body.to_string());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(s) = session {
            req = req
                .header("mcp-session-id", s)
                .header("mcp-protocol-version", PROTOCOL);
        }
        req.send().await.unwrap()
    }

    /// `initialize` + `notifications/initialized` with `token`: the session id.
    async fn session(&self, token: &str) -> String {
        let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": PROTOCOL, "capabilities": {},
            "clientInfo": {"name": "a2a-guard-test", "version": "0"}}});
        let res = self.post(Some(token), None, &init).await;
        assert_eq!(res.status(), 200, "initialize");
        let session = res.headers()["mcp-session-id"].to_str().unwrap().to_owned();
        let reply = rpc_result(res).await;
        assert_eq!(reply["result"]["serverInfo"]["name"], "a2a-guard-mcp-demo");
        assert!(reply["result"]["capabilities"]["tools"].is_object());
        let done = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let res = self.post(Some(token), Some(&session), &done).await;
        assert_eq!(res.status(), 202, "notifications/initialized");
        session
    }
}

fn call(id: u64, tool: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": tool, "arguments": arguments}})
}

fn payment() -> Value {
    json!({"amount_cents": 1250, "payee": "acme"})
}

/// One auth-param of a challenge, unquoted (the values here have no escapes).
fn param(challenge: &str, name: &str) -> Option<String> {
    let start = challenge.find(&format!(" {name}=\""))? + name.len() + 3;
    let len = challenge[start..].find('"')?;
    Some(challenge[start..start + len].to_owned())
}

fn www(res: &reqwest::Response) -> String {
    res.headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// The JSON-RPC message of a 200 answer, JSON or a server-sent event stream.
async fn rpc_result(res: reqwest::Response) -> Value {
    assert_eq!(res.status(), 200);
    let sse = res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream");
    let body = res.text().await.unwrap();
    if !sse {
        return serde_json::from_str(&body).unwrap();
    }
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .find(|d| d.starts_with('{'))
        .map(|d| serde_json::from_str(d).unwrap())
        .unwrap_or_else(|| panic!("no JSON-RPC message in the event stream: {body}"))
}

/// The text content of a successful `tools/call` result, parsed as JSON.
fn tool_output(reply: &Value) -> Value {
    assert!(reply["error"].is_null(), "tool call failed: {reply}");
    assert_eq!(reply["result"]["isError"], false, "{reply}");
    serde_json::from_str(reply["result"]["content"][0]["text"].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn no_token_gets_401_with_a_bearer_challenge() {
    let s = start(true).await;
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}});
    let res = s.post(None, None, &init).await;
    assert_eq!(res.status(), 401);
    let challenge = www(&res);
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    // RFC 6750 §3.1: a request without credentials gets no error code.
    assert!(!challenge.contains("error="), "{challenge}");
    // MCP scope selection: what a new session should ask for.
    assert_eq!(
        param(&challenge, "scope").as_deref(),
        Some(app::FIRST_SCOPE)
    );
    // RFC 9728 §5.1: where the metadata is; following it gives this resource's document.
    let url = param(&challenge, "resource_metadata").expect("resource_metadata in the 401");
    assert_eq!(url, s.metadata_url());
    let doc = json_body(s.http.get(&url).send().await.unwrap()).await;
    assert_eq!(doc["resource"], s.resource);
}

#[tokio::test]
async fn a_token_for_another_resource_is_refused() {
    let s = start(true).await;
    // The MCP authorization spec: only tokens whose audience is this server's resource URI.
    let other = s
        .issuer
        .token()
        .audience("http://127.0.0.1:1/mcp")
        .scope("read:data execute:payment")
        .sign();
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}});
    let res = s.post(Some(&other), None, &init).await;
    assert_eq!(res.status(), 401);
    assert!(
        www(&res).contains(r#"error="invalid_token""#),
        "{}",
        www(&res)
    );
}

#[tokio::test]
async fn metadata_is_served_without_a_token_for_the_resource() {
    let s = start(true).await;
    let res = s.http.get(s.metadata_url()).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    let doc = json_body(res).await;
    // RFC 9728 §3.3: clients check `resource` equals the URI they derived the URL from.
    assert_eq!(doc["resource"], s.resource);
    assert_eq!(doc["authorization_servers"], json!([s.issuer.issuer()]));
    assert_eq!(
        doc["scopes_supported"],
        json!(["execute:payment", "read:data"])
    );
    assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
    // The root form is the metadata of a resource without a path (RFC 9728 §3.1): not ours.
    let root = format!("http://{}/.well-known/oauth-protected-resource", s.addr);
    assert_eq!(s.http.get(&root).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn a_read_token_initializes_lists_tools_and_reads() {
    let s = start(true).await;
    let token = s.token("read:data");
    let session = s.session(&token).await;

    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let reply = rpc_result(s.post(Some(&token), Some(&session), &list).await).await;
    let mut names: Vec<&str> = reply["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["execute_payment", "read_data"]);

    let res = s
        .post(
            Some(&token),
            Some(&session),
            &call(3, "read_data", json!({})),
        )
        .await;
    let out = tool_output(&rpc_result(res).await);
    assert_eq!(out["data"], json!([1, 2, 3]));
    // The tool read the caller from the Principal the auth layer put into the request.
    assert_eq!(out["for"], "agent-test");
}

#[tokio::test]
async fn execute_payment_without_its_scope_is_403_insufficient_scope() {
    let s = start(true).await;
    let token = s.token("read:data");
    let session = s.session(&token).await;

    let res = s
        .post(
            Some(&token),
            Some(&session),
            &call(4, "execute_payment", payment()),
        )
        .await;
    assert_eq!(res.status(), 403);
    let challenge = www(&res);
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
    assert!(
        challenge.contains(r#"scope="execute:payment""#),
        "{challenge}"
    );
    assert_eq!(
        param(&challenge, "resource_metadata"),
        Some(s.metadata_url()),
        "{challenge}"
    );

    // Hidden in a batch (protocol 2025-03-26), it is found the same.
    let batch = json!([call(5, "execute_payment", payment())]);
    let res = s.post(Some(&token), Some(&session), &batch).await;
    assert_eq!(res.status(), 403);
    assert!(www(&res).contains(r#"scope="execute:payment""#));

    // The same session with a token that has the scope: the payment runs.
    let pay = s.token("read:data execute:payment");
    let res = s
        .post(
            Some(&pay),
            Some(&session),
            &call(6, "execute_payment", payment()),
        )
        .await;
    let out = tool_output(&rpc_result(res).await);
    assert_eq!(out["executed"], true);
    assert_eq!(out["amount_cents"], 1250);
}

#[tokio::test]
async fn read_data_needs_read_data() {
    let s = start(true).await;
    let token = s.token("execute:payment");
    let session = s.session(&token).await;
    let res = s
        .post(
            Some(&token),
            Some(&session),
            &call(2, "read_data", json!({})),
        )
        .await;
    assert_eq!(res.status(), 403);
    assert!(www(&res).contains(r#"scope="read:data""#), "{}", www(&res));
}

#[tokio::test]
async fn each_tool_checks_its_scope_itself() {
    // No HTTP-level tool guard: should the peek and rmcp ever read a body differently,
    // the tool still refuses, inside the JSON-RPC answer.
    let s = start(false).await;
    let token = s.token("read:data");
    let session = s.session(&token).await;
    let res = s
        .post(
            Some(&token),
            Some(&session),
            &call(2, "execute_payment", payment()),
        )
        .await;
    let reply = rpc_result(res).await;
    assert_eq!(
        reply["error"]["data"]["error"], "insufficient_scope",
        "{reply}"
    );
    assert_eq!(reply["error"]["data"]["scope"], "execute:payment");
    assert!(reply["result"].is_null(), "{reply}");

    let res = s
        .post(
            Some(&token),
            Some(&session),
            &call(3, "read_data", json!({})),
        )
        .await;
    assert_eq!(tool_output(&rpc_result(res).await)["for"], "agent-test");
}

/// The body as JSON (`reqwest` is built without its `json` feature).
async fn json_body(res: reqwest::Response) -> Value {
    serde_json::from_str(&res.text().await.unwrap()).unwrap()
}
