//! The `orchestrator` command line and the orchestrator it configures, shared by the binary
//! and tests/orchestrator.rs.

use std::net::SocketAddr;
use std::path::PathBuf;

use a2a_guard::Validator;
use a2a_guard::client::{ClientKey, Secret};
use clap::Parser;

use super::app;

/// An orchestrator agent guarded by a2a-guard. `POST /tasks` (scope `delegate:analysis`)
/// exchanges the caller's token for one addressed to the downstream agent (RFC 8693, the
/// orchestrator as actor) and calls it; `POST /maintenance` (scope `maintenance:run`) calls it
/// with the orchestrator's own client-credentials token. The inbound token is never forwarded.
/// With a revocation endpoint, a task's delegated token is revoked (RFC 7009) when the task
/// ends. Without --issuer, an embedded dev issuer and an in-process downstream agent (the
/// agent_api demo) run on 127.0.0.1, and ready curl lines are printed.
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
    /// Issuer whose tokens are accepted (`iss`), also where the token and revocation
    /// endpoints are discovered; default: an embedded dev issuer (then no other flag but
    /// --listen and --revoke-on-exit applies).
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
    /// PEM private key for private_key_jwt client authentication (RFC 7523; the assertion's
    /// audience is the issuer; re-read when it changes).
    #[arg(long, value_name = "PEM", requires = "issuer")]
    pub private_key_file: Option<PathBuf>,
    /// The token endpoint [default: `token_endpoint` of the issuer's metadata].
    #[arg(long, value_name = "URL", requires = "issuer")]
    pub token_endpoint: Option<String>,
    /// The RFC 7009 revocation endpoint, beside --token-endpoint (without --token-endpoint
    /// it comes from the issuer's metadata; with it alone, no token is ever revoked).
    #[arg(long, value_name = "URL", requires = "token_endpoint")]
    pub revocation_endpoint: Option<String>,
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
    /// Share the orchestrator's own token with the other instances through Redis: a cold
    /// fleet makes one token request (needs the `redis` feature).
    #[arg(long, value_name = "URL", requires = "issuer")]
    pub redis_url: Option<String>,
    /// On SIGTERM or Ctrl-C, after in-flight requests finish, revoke (RFC 7009) the
    /// orchestrator's own token and the delegated tokens it caches.
    #[arg(long)]
    pub revoke_on_exit: bool,
}

impl Args {
    /// The client authentication flag given (clap allows at most one).
    pub fn client_auth(&self) -> Option<app::ClientAuth> {
        match (&self.client_secret_file, &self.private_key_file) {
            (Some(file), _) => Some(app::ClientAuth::Secret(Secret::file(file))),
            (None, Some(pem)) => Some(app::ClientAuth::PrivateKey(ClientKey::pem_file(pem))),
            (None, None) => None,
        }
    }
}

/// The orchestrator configured from the command line with `--issuer` (clap made sure the
/// flags it needs are there): its validator and the orchestrator, its token endpoint found
/// in the issuer's metadata unless --token-endpoint is given.
pub async fn configure(
    args: &Args,
    issuer: &str,
) -> Result<(Validator, app::Orchestrator), Box<dyn std::error::Error>> {
    let required = |v: &Option<String>, flag: &str| {
        v.clone()
            .ok_or_else(|| format!("{flag} is required with --issuer"))
    };
    let audience = required(&args.audience, "--audience")?;
    let client_id = required(&args.client_id, "--client-id")?;
    let downstream_audience = required(&args.downstream_audience, "--downstream-audience")?;
    let downstream_url = required(&args.downstream_url, "--downstream-url")?;
    let downstream_scopes = scopes(
        "--downstream-scope",
        &required(&args.downstream_scope, "--downstream-scope")?,
    )?;
    let maintenance_scopes = match &args.maintenance_scope {
        Some(s) => scopes("--maintenance-scope", s)?,
        None => Vec::new(),
    };
    let auth = args
        .client_auth()
        .ok_or("--client-secret-file or --private-key-file is required with --issuer")?;

    let mut b = Validator::builder().audience(audience);
    b = match &args.jwks_url {
        Some(jwks) => b.issuer_jwks(issuer, jwks),
        None => b.issuer(issuer),
    };
    let validator = b.build().await?;
    let server = app::TokenServer::find(
        issuer,
        args.token_endpoint.as_deref(),
        args.revocation_endpoint.as_deref(),
    )
    .await
    .map_err(|e| format!("{e}; give the token endpoint with --token-endpoint"))?;
    let client = app::OwnClient {
        server,
        client_id,
        auth,
        redis_url: args.redis_url.clone(),
    };
    let delegated = client.delegated_tokens();
    let own = app::own_tokens(client, &downstream_audience, &maintenance_scopes)?;
    let orchestrator = app::Orchestrator::new(
        own,
        app::Downstream {
            url: downstream_url,
            audience: downstream_audience,
            scopes: downstream_scopes,
        },
        delegated,
    )?;
    Ok((validator, orchestrator))
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
