//! `a2a-guard-gate --config gate.toml` serves forward-auth decisions (and Envoy ext_authz
//! ones when `[listen] ext_authz` is set);
//! `a2a-guard-gate check --config gate.toml` validates the file and exits.

use std::path::PathBuf;
use std::process::ExitCode;

use a2a_guard_gate::{Config, Gate};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    version,
    about = "A local OAuth2 token validation service for agents (forward-auth, Envoy ext_authz)"
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
    let addr = config.listen.forward_auth;
    let ext_authz_addr = config.listen.ext_authz;
    let gate = match Gate::new(config).await {
        Ok(g) => g,
        Err(e) => {
            eprintln!("cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {addr}: {e}");
            return ExitCode::from(1);
        }
    };
    let ext_authz = match ext_authz_addr {
        Some(addr) => match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => {
                tracing::info!(target: "a2a_guard_gate", %addr, "ext_authz (gRPC) listening");
                Some(l)
            }
            Err(e) => {
                eprintln!("cannot listen on {addr}: {e}");
                return ExitCode::from(1);
            }
        },
        None => None,
    };
    let grpc = gate.clone();
    let ext_authz = async move {
        match ext_authz {
            Some(l) => grpc.serve_ext_authz(l).await.map_err(|e| e.to_string()),
            None => std::future::pending().await,
        }
    };
    tracing::info!(target: "a2a_guard_gate", %addr, "forward-auth listening");
    tokio::select! {
        r = gate.serve(listener) => {
            if let Err(e) = r {
                eprintln!("server: {e}");
                return ExitCode::from(1);
            }
        }
        Err(e) = ext_authz => {
            eprintln!("ext_authz server: {e}");
            return ExitCode::from(1);
        }
        _ = tokio::signal::ctrl_c() => {}
    }
    ExitCode::SUCCESS
}
