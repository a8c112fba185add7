//! The `mcp_server` router, shared by the example binary and its integration test.
//!
//! Three layers decide a `tools/call`, outermost first:
//! 1. `validator.layer()`: a valid token for this resource, or 401 with a challenge naming
//!    the metadata (`resource_metadata`) and the scope to ask for first ([`FIRST_SCOPE`]);
//! 2. [`peek_tool_call`] + [`RequireScopes::from_fn`]: the called tool's scope, or 403
//!    `insufficient_scope` naming it — an HTTP answer the client can step up from;
//! 3. inside each tool, the same scope read from the request's [`AuthContext`]: the authority,
//!    should the body ever be read differently by the peek and by rmcp.
//!
//! Why the peek: rmcp answers a tool's error inside the JSON-RPC response (HTTP 200, or an SSE
//! event after the 200 headers are sent), so a tool cannot set an HTTP status or a
//! `WWW-Authenticate` header. The MCP authorization spec wants 403 + `insufficient_scope`
//! at the HTTP level, so the scope is checked before rmcp sees the request.

use std::sync::Arc;

use a2a_guard::metadata::ResourceMetadata;
use a2a_guard::scope::ScopeRequirement;
use a2a_guard::{AuthContext, ConfigError, Principal, RequireScopes, Validator};
use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, schemars, tool, tool_handler, tool_router};
use serde_json::{Value, json};

/// Where the MCP endpoint is mounted.
pub const MCP_PATH: &str = "/mcp";

/// Every tool and the scope a call to it needs.
pub const TOOL_SCOPES: &[(&str, &str)] = &[
    ("read_data", "read:data"),
    ("execute_payment", "execute:payment"),
];

/// The scope a 401 challenge asks for: enough to initialize, list tools and read.
pub const FIRST_SCOPE: &str = "read:data";

/// The largest JSON-RPC body the peek reads: rmcp's own default limit (4 MiB).
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// The scope `tool` needs; `None` for a tool this server does not have (rmcp answers those).
pub fn scope_of(tool: &str) -> Option<&'static str> {
    TOOL_SCOPES
        .iter()
        .find(|(t, _)| *t == tool)
        .map(|(_, s)| *s)
}

/// The MCP server: `/mcp` (streamable HTTP) behind the validator's layer, and the RFC 9728
/// metadata for the validator's resource beside it, reachable without a token.
///
/// `allowed_hosts` are the `Host` values rmcp accepts (DNS-rebinding protection): the
/// resource URI's host, and the listening address when it differs.
pub fn router(validator: Validator, allowed_hosts: Vec<String>) -> Result<Router, ConfigError> {
    // A 401 asks for the least a session needs (MCP scope selection); a client that calls
    // execute_payment later gets a 403 naming `execute:payment` and steps up.
    let layer = validator.layer().challenge_scope([FIRST_SCOPE])?;
    let guarded = Router::new()
        .route_service(MCP_PATH, mcp_service(allowed_hosts))
        // Inner: the requirement the peek found (none for anything but `tools/call`).
        .route_layer(RequireScopes::from_fn(|parts| {
            let called = parts.extensions.get::<ToolCall>();
            ScopeRequirement::all(
                called
                    .into_iter()
                    .flat_map(|c| &c.0)
                    .filter_map(|t| scope_of(t)),
            )
        }))
        // Outer: runs first, and only for requests the auth layer let through.
        .route_layer(middleware::from_fn(peek_tool_call))
        .layer(layer.clone());
    // A computed requirement advertises nothing by itself: list the tools' scopes here.
    let metadata = ResourceMetadata::builder(&layer)
        .scopes(TOOL_SCOPES.iter().map(|(_, s)| *s))
        .resource_name("a2a-guard MCP demo")
        .router()?;
    Ok(guarded.merge(metadata))
}

/// rmcp's streamable HTTP service for [`DataTools`], one session per `initialize`.
pub fn mcp_service(
    allowed_hosts: Vec<String>,
) -> StreamableHttpService<DataTools, LocalSessionManager> {
    StreamableHttpService::new(
        || Ok(DataTools::new()),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default().with_allowed_hosts(allowed_hosts),
    )
}

/// The tools named by the `tools/call` requests in one POST body.
#[derive(Debug, Clone)]
struct ToolCall(Vec<String>);

/// Read the JSON-RPC body and note which tools it calls, for the scope guard behind it.
/// A body that is not JSON is passed on untouched: rmcp answers it with a parse error.
async fn peek_tool_call(req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    if let Ok(message) = serde_json::from_slice::<Value>(&bytes) {
        // One message, or a batch (protocol 2025-03-26).
        let messages = match &message {
            Value::Array(batch) => batch.iter().collect(),
            one => vec![one],
        };
        let tools: Vec<String> = messages
            .into_iter()
            .filter(|m| m["method"] == "tools/call")
            .filter_map(|m| m["params"]["name"].as_str().map(str::to_owned))
            .collect();
        if !tools.is_empty() {
            parts.extensions.insert(ToolCall(tools));
        }
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// The caller, when the request's token grants `scope`. rmcp hands each tool the HTTP
/// request's `Parts`; the auth layer put the `AuthContext` and `Principal` into their
/// extensions.
fn caller_with(ctx: &RequestContext<RoleServer>, scope: &str) -> Result<Principal, ErrorData> {
    let parts = ctx
        .extensions
        .get::<http::request::Parts>()
        .ok_or_else(|| ErrorData::internal_error("no HTTP request (not streamable HTTP?)", None))?;
    let auth = parts
        .extensions
        .get::<AuthContext>()
        .ok_or_else(|| ErrorData::internal_error("no AuthContext: auth layer missing", None))?;
    if !auth.satisfies(&ScopeRequirement::from(scope)) {
        return Err(ErrorData::invalid_request(
            format!("insufficient_scope: this tool needs scope {scope}"),
            Some(json!({ "error": "insufficient_scope", "scope": scope })),
        ));
    }
    parts
        .extensions
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| ErrorData::internal_error("no Principal: auth layer missing", None))
}

/// A payment order.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct Payment {
    /// Amount in cents.
    pub amount_cents: u64,
    /// Who is paid.
    pub payee: String,
}

/// The tools. Stateless; one per MCP session.
#[derive(Clone)]
pub struct DataTools {
    tool_router: rmcp::handler::server::router::tool::ToolRouter<Self>,
}

impl Default for DataTools {
    fn default() -> Self {
        Self::new()
    }
}

#[tool_router]
impl DataTools {
    pub fn new() -> Self {
        Self {
            tool_router: Self::tool_router(),
        }
    }

    #[tool(description = "Read the data set (needs scope read:data)")]
    async fn read_data(
        &self,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let caller = caller_with(&ctx, "read:data")?;
        let body = json!({ "data": [1, 2, 3], "for": caller.subject() });
        Ok(CallToolResult::success(vec![ContentBlock::text(
            body.to_string(),
        )]))
    }

    #[tool(description = "Execute a payment (needs scope execute:payment)")]
    async fn execute_payment(
        &self,
        Parameters(p): Parameters<Payment>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let caller = caller_with(&ctx, "execute:payment")?;
        let body = json!({
            "executed": true,
            "amount_cents": p.amount_cents,
            "payee": p.payee,
            "by": caller.subject(),
        });
        Ok(CallToolResult::success(vec![ContentBlock::text(
            body.to_string(),
        )]))
    }
}

#[tool_handler(router = self.tool_router, name = "a2a-guard-mcp-demo")]
impl rmcp::ServerHandler for DataTools {}
