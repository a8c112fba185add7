//! An MCP server (rmcp, streamable HTTP) guarded by a2a-guard: an OAuth 2.1 resource server as
//! the MCP authorization spec describes it. Two tools: `read_data` needs `read:data`,
//! `execute_payment` needs `execute:payment`.
//!
//! ```text
//! cargo run --release --example mcp_server          # embedded dev issuer, prints tokens
//! mcp_server [--issuer URL [--jwks-url URL]] [--audience AUD] [--resource URL] [--listen ADDR]
//! ```
//! `--issuer` without `--jwks-url` uses discovery. Serves `/mcp` and the RFC 9728 metadata at
//! `/.well-known/oauth-protected-resource/mcp`.

mod app;

use std::net::SocketAddr;
use std::time::Duration;

use a2a_guard::Validator;
use a2a_guard::testing::TestIssuer;
use clap::Parser;

/// An MCP server guarded by a2a-guard (OAuth 2.1 resource server, RFC 9728 metadata).
#[derive(Parser, Debug)]
#[command(name = "mcp_server")]
struct Args {
    /// Issuer URL (the `iss` of accepted tokens). Without it, an embedded dev issuer on
    /// loopback mints tokens, printed at start-up.
    #[arg(long, value_name = "URL")]
    issuer: Option<String>,
    /// JWKS URL of the issuer (default: found by discovery from --issuer).
    #[arg(long, value_name = "URL", requires = "issuer")]
    jwks_url: Option<String>,
    /// Also accept tokens with this `aud` (the resource URI is always accepted).
    #[arg(long, value_name = "AUD")]
    audience: Vec<String>,
    /// The canonical resource URI (RFC 8707): accepted as `aud`, advertised in the metadata.
    /// Default: http://<listen address>/mcp.
    #[arg(long, value_name = "URL")]
    resource: Option<String>,
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if let Err(e) = run(Args::parse()).await {
        eprintln!("mcp_server: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    // Bind first: the default resource URI names the port actually bound (`--listen :0`).
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            return Err(format!(
                "{} is already in use; stop what listens there or pick another address \
                 with --listen 127.0.0.1:PORT",
                args.listen
            )
            .into());
        }
        Err(e) => return Err(format!("cannot listen on {}: {e}", args.listen).into()),
    };
    let addr = listener.local_addr()?;
    let resource = args
        .resource
        .clone()
        .unwrap_or_else(|| format!("http://{addr}{}", app::MCP_PATH));

    // No issuer given: an embedded dev issuer on loopback, so the demo runs with no set-up.
    let dev = match &args.issuer {
        Some(_) => None,
        None => Some(
            TestIssuer::builder()
                .audience(resource.clone())
                .start()
                .await?,
        ),
    };
    let mut b = Validator::builder()
        .resource(resource.clone())
        .leeway(Duration::from_secs(30));
    for aud in &args.audience {
        b = b.audience(aud);
    }
    b = match (&dev, &args.issuer, &args.jwks_url) {
        (Some(dev), _, _) => b.issuer_jwks(dev.issuer(), dev.jwks_url()),
        (None, Some(iss), Some(jwks)) => b.issuer_jwks(iss, jwks),
        (None, Some(iss), None) => b.issuer(iss),
        (None, None, _) => unreachable!("dev issuer exists when no issuer is given"),
    };
    let validator = b.build().await?;

    // rmcp refuses other `Host` headers (DNS rebinding): allow the resource's and ours.
    let mut hosts = vec![addr.to_string(), addr.ip().to_string()];
    if let Some(authority) = resource
        .parse::<http::Uri>()
        .ok()
        .and_then(|u| u.authority().cloned())
    {
        hosts.extend([authority.host().to_owned(), authority.as_str().to_owned()]);
    }
    let router = app::router(validator, hosts)?;

    if let Some(dev) = &dev {
        print_dev_help(dev, addr, &resource);
    }
    println!("resource {resource}");
    println!("listening on {addr}");
    tracing::info!(%resource, "listening on {addr}");
    axum::serve(listener, router).await?;
    Ok(())
}

fn print_dev_help(dev: &TestIssuer, addr: SocketAddr, resource: &str) {
    let token = |scope: &str| {
        dev.token()
            .audience(resource)
            .scope(scope)
            .lifetime(Duration::from_secs(3600))
            .sign()
    };
    println!(
        "dev issuer on {} (tokens below are valid for 1 hour)\n",
        dev.issuer()
    );
    println!("# 401 with a challenge, then the RFC 9728 metadata it points to:");
    println!("curl -si -X POST {resource}");
    println!("curl -s http://{addr}/.well-known/oauth-protected-resource/mcp\n");
    println!("# a token for read_data only (execute_payment answers 403 insufficient_scope):");
    println!("READ_TOKEN={}\n", token("read:data"));
    println!("# a token for both tools:");
    println!("PAY_TOKEN={}\n", token("read:data execute:payment"));
    println!("# call a tool (stateful MCP: initialize first, then reuse the Mcp-Session-Id):");
    println!(
        "curl -si {resource} -H \"Authorization: Bearer $READ_TOKEN\" \
         -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
         -d '{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{{}},\"clientInfo\":{{\"name\":\"curl\",\"version\":\"0\"}}}}}}'\n"
    );
}
