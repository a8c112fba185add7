//! The `orchestrator` command line, shared by the binary and tests/orchestrator.rs.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// Exit code of a flag that is defined but not wired yet (clap's own usage errors use 2 too).
pub const EXIT_NOT_AVAILABLE: i32 = 2;

/// An orchestrator agent guarded by a2a-guard. `POST /tasks` (scope `delegate:analysis`)
/// exchanges the caller's token for one addressed to the downstream agent (RFC 8693, the
/// orchestrator as actor) and calls it; `POST /maintenance` (scope `maintenance:run`) calls it
/// with the orchestrator's own client-credentials token. The inbound token is never forwarded.
/// Without --issuer, an embedded dev issuer and an in-process downstream agent (the agent_api
/// demo) run on 127.0.0.1, and ready curl lines are printed.
#[derive(Parser, Debug)]
#[command(name = "orchestrator", version)]
#[command(group(
    clap::ArgGroup::new("client_auth")
        .args(["client_secret_file", "private_key_file"])
        .multiple(false)
))]
pub struct Args {
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8070")]
    pub listen: SocketAddr,
    /// Issuer whose tokens are accepted (`iss`), also where the token endpoint is discovered;
    /// default: an embedded dev issuer (then no other flag but --listen applies).
    #[arg(
        long,
        value_name = "URL",
        requires = "audience",
        requires = "client_id",
        requires = "client_auth",
        requires = "downstream_url",
        requires = "downstream_audience",
        requires = "downstream_scope"
    )]
    pub issuer: Option<String>,
    /// The issuer's JWKS URL (skips discovery of the keys).
    #[arg(long, value_name = "URL", requires = "issuer")]
    pub jwks_url: Option<String>,
    /// The audience inbound tokens must carry (`aud`).
    #[arg(long, value_name = "AUD", requires = "issuer")]
    pub audience: Option<String>,
    /// This orchestrator's client ID at the token endpoint (the `act.sub` downstream sees).
    #[arg(long, value_name = "ID", requires = "issuer")]
    pub client_id: Option<String>,
    /// File holding the client secret (re-read when it changes); one of this and
    /// --private-key-file is required with --issuer.
    #[arg(long, value_name = "FILE", requires = "issuer")]
    pub client_secret_file: Option<PathBuf>,
    /// PEM private key for private_key_jwt client authentication (RFC 7523) [not available yet].
    #[arg(long, value_name = "PEM", requires = "issuer")]
    pub private_key_file: Option<PathBuf>,
    /// The token endpoint [default: `token_endpoint` of the issuer's metadata].
    #[arg(long, value_name = "URL", requires = "issuer")]
    pub token_endpoint: Option<String>,
    /// The downstream agent's URL, called with GET (e.g. http://127.0.0.1:8080/whoami).
    #[arg(long, value_name = "URL", requires = "issuer")]
    pub downstream_url: Option<String>,
    /// The audience of tokens for the downstream agent; an absolute http(s) URI is asked for
    /// as the RFC 8707 `resource`, anything else as `audience`.
    #[arg(long, value_name = "AUD", requires = "issuer")]
    pub downstream_audience: Option<String>,
    /// The scopes delegated to the downstream agent, space-separated; each must be covered by
    /// the caller's scopes, or the task is refused (403).
    #[arg(long, value_name = "\"S1 S2\"", requires = "issuer")]
    pub downstream_scope: Option<String>,
    /// The scopes of the orchestrator's own token (POST /maintenance), space-separated
    /// [default: none asked for].
    #[arg(long, value_name = "\"S1 S2\"", requires = "issuer")]
    pub maintenance_scope: Option<String>,
    /// Share cached client tokens across instances through Redis [not available yet].
    #[arg(long, value_name = "URL")]
    pub redis_url: Option<String>,
    /// Revoke the orchestrator's own token at shutdown (RFC 7009) [not available yet].
    #[arg(long)]
    pub revoke_on_exit: bool,
}

/// The flags that wait for library features still landing: one line naming the flag, for
/// the binary to print before exiting with [`EXIT_NOT_AVAILABLE`].
pub fn not_available_yet(args: &Args) -> Result<(), String> {
    let missing = if args.private_key_file.is_some() {
        Some("--private-key-file (private_key_jwt client authentication, RFC 7523)")
    } else if args.redis_url.is_some() {
        Some("--redis-url (a token cache shared through Redis)")
    } else if args.revoke_on_exit {
        Some("--revoke-on-exit (RFC 7009 token revocation)")
    } else {
        None
    };
    match missing {
        Some(flag) => Err(format!("{flag} is not available yet")),
        None => Ok(()),
    }
}

/// Space-separated scopes; an empty list or an invalid scope token is refused.
pub fn scopes(flag: &str, value: &str) -> Result<Vec<String>, String> {
    let scopes: Vec<String> = value.split_whitespace().map(str::to_owned).collect();
    if scopes.is_empty() {
        return Err(format!("{flag} needs at least one scope"));
    }
    for s in &scopes {
        if a2a_guard::scope::Scope::parse(s).is_err() {
            return Err(format!(
                "{flag}: {s:?} is not a scope token (RFC 6749 §3.3)"
            ));
        }
    }
    Ok(scopes)
}

/// Bind the listener; a port already taken is a plain sentence naming the flag, not an
/// error chain or a panic.
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, String> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AddrInUse => format!(
                "cannot listen on {addr}: the address is already in use (another orchestrator?); \
                 choose another with --listen, e.g. --listen 127.0.0.1:0"
            ),
            _ => format!("cannot listen on {addr}: {e}"),
        })
}
