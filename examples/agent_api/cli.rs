//! The `agent_api` command line, shared by the binary and tests/agent_api.rs.

use std::net::SocketAddr;
use std::path::PathBuf;

use a2a_guard::scope::BusinessHours;
use clap::Parser;

/// The dev issuer's client for its token endpoint (the agent card's `tokenUrl`).
pub const DEV_CLIENT: &str = "demo-agent:demo-secret";

/// A demo agent API guarded by a2a-guard: OAuth 2.0 bearer tokens, hierarchical scopes,
/// delegation, RFC 9728 metadata and an A2A agent card. Without --issuer an embedded dev
/// issuer on 127.0.0.1 signs tokens, and ready curl lines are printed.
#[derive(Parser, Debug)]
#[command(name = "agent_api", version)]
pub struct Args {
    /// Issuer whose tokens are accepted (`iss`); default: an embedded dev issuer.
    #[arg(long, value_name = "URL")]
    pub issuer: Option<String>,
    /// The audience tokens must carry (`aud`).
    #[arg(long, value_name = "AUD", default_value = "agent-api")]
    pub audience: String,
    /// The issuer's JWKS URL (skips discovery; needs --issuer).
    #[arg(long, value_name = "URL", requires = "issuer")]
    pub jwks_url: Option<String>,
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// This API's resource URI (RFC 8707), also accepted as `aud` [default: http://<listen address>].
    #[arg(long, value_name = "URL")]
    pub resource: Option<String>,
    /// The token endpoint the agent card names [default: read from the issuer's metadata].
    #[arg(long, value_name = "URL")]
    pub token_url: Option<String>,
    /// Keep the dev issuer's address and keys in this file (0600) across restarts.
    #[arg(long, value_name = "PATH", conflicts_with = "issuer")]
    pub keys_file: Option<PathBuf>,
    /// The dev issuer's client for its token endpoint.
    #[arg(long, value_name = "ID:SECRET", default_value = DEV_CLIENT, conflicts_with = "issuer")]
    pub dev_client: String,
    /// Survive an issuer outage at start-up with the keys saved in this file.
    #[arg(long, value_name = "PATH")]
    pub snapshot_file: Option<PathBuf>,
    /// Also accept this JWT `typ` (repeatable).
    #[arg(long, value_name = "TYP")]
    pub accept_typ: Vec<String>,
    /// Longest token lifetime accepted, in seconds (`exp - iat`).
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    pub max_lifetime: u64,
    /// Business hours for `temporal:business-hours` scopes.
    #[arg(long, value_name = "SPEC", default_value = "Mon-Fri 09:00-17:00 UTC")]
    pub business_hours: BusinessHours,
    /// Share the revocation deny-list with every instance using this Redis (pub/sub).
    #[arg(long, value_name = "URL")]
    pub redis_url: Option<String>,
    /// The issuer's RFC 7662 introspection endpoint: opaque tokens are accepted through it
    /// (needs the `client` feature, and this API's client ID and secret file below).
    #[arg(long, value_name = "URL", requires_all = ["introspection_client_id", "introspection_client_secret_file"])]
    pub introspection_url: Option<String>,
    /// This API's client ID at the introspection endpoint.
    #[arg(long, value_name = "ID", requires = "introspection_url")]
    pub introspection_client_id: Option<String>,
    /// File holding that client's secret (re-read when it changes).
    #[arg(long, value_name = "FILE", requires = "introspection_url")]
    pub introspection_client_secret_file: Option<PathBuf>,
    /// Serve Prometheus metrics at `http://ADDR/metrics` (no token; off by default; needs the
    /// `metrics` feature), e.g. 127.0.0.1:9464.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    /// Also re-check every JWT at the introspection endpoint (revocation reaches this API
    /// within the 30 s answer cache; one introspection request per new token).
    #[arg(long, requires = "introspection_url")]
    pub introspect_jwts: bool,
    /// Write audit events as JSON lines to this file (appended; through a non-blocking,
    /// lossless writer) instead of stderr.
    #[arg(long, value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
    /// Write audit events to this tamper-evident, hash-chained file (feature `audit-file`;
    /// check it with `cargo run --example audit_verify --features audit-file -- FILE`).
    #[cfg(feature = "audit-file")]
    #[arg(long, value_name = "FILE")]
    pub audit_chain: Option<PathBuf>,
}

/// The introspection source the flags ask for, for the issuer `issuer`: `None` without
/// --introspection-url.
#[cfg(feature = "client")]
pub fn introspection(args: &Args, issuer: &str) -> Option<a2a_guard::Introspection> {
    use a2a_guard::client::{ClientCredentials, Secret};
    let (Some(url), Some(id), Some(file)) = (
        &args.introspection_url,
        &args.introspection_client_id,
        &args.introspection_client_secret_file,
    ) else {
        return None;
    };
    let credentials = ClientCredentials::new(url, id).secret(Secret::file(file));
    let introspection = a2a_guard::Introspection::new(issuer, credentials);
    Some(if args.introspect_jwts {
        introspection.recheck_jwts()
    } else {
        introspection
    })
}

/// Bind the listener; a port already taken is a plain sentence naming the flag, not an
/// error chain or a panic.
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, String> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AddrInUse => format!(
                "cannot listen on {addr}: the address is already in use (another agent_api?); \
                 choose another with --listen, e.g. --listen 127.0.0.1:0"
            ),
            _ => format!("cannot listen on {addr}: {e}"),
        })
}
