//! An orchestrator agent guarded by a2a-guard that calls another agent without ever
//! forwarding the token it received (issue 13's demo).
//!
//! ```text
//! cargo run --release --features client --example orchestrator            # dev set-up, prints curl lines
//! cargo run --release --features client --example orchestrator -- --help  # every flag
//! orchestrator --listen ADDR --issuer URL [--jwks-url URL] --audience AUD --client-id ID
//!     (--client-secret-file FILE | --private-key-file PEM)
//!     [--token-endpoint URL [--revocation-endpoint URL]]
//!     --downstream-url URL --downstream-audience AUD --downstream-scope "S1 S2"
//!     [--maintenance-scope "S1 S2"] [--redis-url URL] [--revoke-on-exit]
//! ```
//! `POST /tasks` (scope `delegate:analysis`) exchanges the caller's token for a delegated one
//! (RFC 8693, the orchestrator as `act`), revoked (RFC 7009) when the task ends if the issuer
//! has a revocation endpoint; `POST /maintenance` (scope `maintenance:run`) uses the
//! orchestrator's own client-credentials token (client secret or `private_key_jwt`, optionally
//! shared through Redis with `--features redis`). The token and revocation endpoints come from
//! the issuer's metadata unless given. On SIGTERM or Ctrl-C it stops taking requests, lets
//! those in flight finish and, with `--revoke-on-exit`, revokes the tokens it still holds.
//! Without `--issuer`, an embedded dev issuer and the agent_api demo (as the downstream agent)
//! run in process on 127.0.0.1.

mod app;
mod cli;
mod dev;

use std::net::SocketAddr;

use clap::Parser;
use cli::Args;

#[tokio::main]
async fn main() {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if let Err(e) = run(args).await {
        eprintln!("orchestrator: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let listener = cli::bind(args.listen).await?;
    let addr = listener.local_addr()?;
    let (validator, orchestrator, dev) = match &args.issuer {
        None => {
            let (dev, validator, orchestrator) = dev::start().await?;
            (validator, orchestrator, Some(dev))
        }
        Some(issuer) => {
            let (validator, orchestrator) = cli::configure(&args, issuer).await?;
            (validator, orchestrator, None)
        }
    };
    if orchestrator.delegated_tokens() == app::DelegatedTokens::Cached {
        tracing::warn!(
            "no revocation endpoint is known: delegated tokens are cached and outlive their              tasks{}",
            if args.revoke_on_exit {
                ", and --revoke-on-exit cannot revoke anything"
            } else {
                ""
            }
        );
    }
    if let Some(dev) = &dev {
        print_curl_lines(dev, addr);
    }
    println!("listening on {addr}");
    tracing::info!("listening on {addr}");
    app::serve(
        listener,
        validator,
        orchestrator,
        shutdown_signal(),
        args.revoke_on_exit,
    )
    .await?;
    // The dev issuer stops only now: it answered the revocations above.
    drop(dev);
    Ok(())
}

/// Ctrl-C, or SIGTERM on Unix (what `docker stop`, Kubernetes and systemd send).
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            tracing::warn!("cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(_) => {
                tracing::warn!("cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: no new requests; those in flight finish");
}

fn print_curl_lines(dev: &dev::Dev, addr: SocketAddr) {
    let (caller, caller_secret) = dev::CALLER_CLIENT;
    println!(
        "dev issuer on {}; downstream agent (agent_api) on http://{}\n",
        dev.issuer.issuer(),
        dev.downstream
    );
    println!(
        "# a caller token ({}), from the dev issuer's token endpoint",
        dev::CALLER_SCOPES
    );
    println!(
        "TOKEN=$(curl -s -u {caller}:{caller_secret} -d grant_type=client_credentials \
         -d 'scope={}' {}/token | sed -E 's/.*\"access_token\":\"([^\"]+)\".*/\\1/')\n",
        dev::CALLER_SCOPES,
        dev.issuer.issuer()
    );
    println!(
        "# POST /tasks: the token is exchanged for one with only {} for the downstream agent;",
        dev::DOWNSTREAM_SCOPE
    );
    println!(
        "# its /whoami shows sub {caller} and actors [\"{}\"]",
        dev::ORCHESTRATOR_CLIENT.0
    );
    println!("curl -s -X POST http://{addr}/tasks -H \"Authorization: Bearer $TOKEN\"\n");
    println!(
        "# POST /maintenance: the orchestrator's own token (sub {}, no actors)",
        dev::ORCHESTRATOR_CLIENT.0
    );
    println!("curl -s -X POST http://{addr}/maintenance -H \"Authorization: Bearer $TOKEN\"\n");
    println!(
        "# -> 403: a caller token without {} cannot be delegated",
        dev::DOWNSTREAM_SCOPE
    );
    println!(
        "NARROW=$(curl -s -u {caller}:{caller_secret} -d grant_type=client_credentials \
         -d 'scope={}' {}/token | sed -E 's/.*\"access_token\":\"([^\"]+)\".*/\\1/')",
        app::TASK_SCOPE,
        dev.issuer.issuer()
    );
    println!("curl -s -X POST http://{addr}/tasks -H \"Authorization: Bearer $NARROW\"\n");
}
