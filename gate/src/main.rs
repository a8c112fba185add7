//! `a2a-guard-gate --config gate.toml` serves forward-auth decisions, the reverse proxy, or both;
//! `a2a-guard-gate check --config gate.toml` validates the file and exits.

use std::path::PathBuf;
use std::process::ExitCode;

use a2a_guard_gate::{Config, Gate, Proxy};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    version,
    about = "A local OAuth2 token validation service for agents (forward-auth, reverse proxy)"
)]
struct Cli {
    /// The configuration file (TOML; see gate/README.md).
    #[arg(long, global = true, default_value = "gate.toml")]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Check the configuration file and exit (0: valid).
    Check,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let config = match Config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}: {e}", cli.config.display());
            return ExitCode::from(2);
        }
    };
    if let Some(Command::Check) = cli.command {
        println!(
            "{}: ok ({} routes)",
            cli.config.display(),
            config.routes.len()
        );
        return ExitCode::SUCCESS;
    }
    let forward_auth = config.listen.forward_auth;
    let proxy_config = config.proxy.clone();
    let gate = match Gate::new(config).await {
        Ok(g) => g,
        Err(e) => {
            eprintln!("cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    let mut servers = tokio::task::JoinSet::new();
    if let Some(addr) = forward_auth {
        let listener = match bind(addr).await {
            Ok(l) => l,
            Err(code) => return code,
        };
        tracing::info!(target: "a2a_guard_gate", %addr, "forward-auth listening");
        servers.spawn(gate.clone().serve(listener));
    }
    if let Some(p) = proxy_config {
        let proxy = match Proxy::new(gate, &p) {
            Ok(proxy) => proxy,
            Err(e) => {
                eprintln!("cannot start: {e}");
                return ExitCode::from(1);
            }
        };
        let listener = match bind(p.listen).await {
            Ok(l) => l,
            Err(code) => return code,
        };
        tracing::info!(target: "a2a_guard_gate", addr = %p.listen, upstream = %p.upstream, "proxy listening");
        servers.spawn(proxy.serve(listener));
    }
    tokio::select! {
        Some(r) = servers.join_next() => {
            match r {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    eprintln!("server: {e}");
                    return ExitCode::from(1);
                }
                Err(e) => {
                    eprintln!("server: {e}");
                    return ExitCode::from(1);
                }
            }
        }
        _ = tokio::signal::ctrl_c() => {}
    }
    ExitCode::SUCCESS
}

async fn bind(addr: std::net::SocketAddr) -> Result<tokio::net::TcpListener, ExitCode> {
    tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        eprintln!("cannot listen on {addr}: {e}");
        ExitCode::from(1)
    })
}
