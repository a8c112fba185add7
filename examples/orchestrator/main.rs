//! An orchestrator agent guarded by a2a-guard that calls another agent without ever
//! forwarding the token it received (issue 13's demo).
//!
//! ```text
//! cargo run --release --features client --example orchestrator            # dev set-up, prints curl lines
//! cargo run --release --features client --example orchestrator -- --help  # every flag
//! orchestrator --listen ADDR --issuer URL [--jwks-url URL] --audience AUD --client-id ID
//!     (--client-secret-file FILE | --private-key-file PEM) [--token-endpoint URL]
//!     --downstream-url URL --downstream-audience AUD --downstream-scope "S1 S2"
//!     [--redis-url URL] [--revoke-on-exit]
//! ```
//! `POST /tasks` (scope `delegate:analysis`) exchanges the caller's token for a delegated one
//! (RFC 8693, the orchestrator as `act`); `POST /maintenance` (scope `maintenance:run`) uses
//! the orchestrator's own client-credentials token. Without `--issuer`, an embedded dev issuer
//! and the agent_api demo (as the downstream agent) run in process on 127.0.0.1.

mod app;
mod cli;
mod dev;

use std::net::SocketAddr;

use a2a_guard::Validator;
use a2a_guard::client::Secret;
use clap::Parser;
use cli::Args;

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Err(e) = cli::not_available_yet(&args) {
        eprintln!("orchestrator: {e}");
        std::process::exit(cli::EXIT_NOT_AVAILABLE);
    }
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
            let (validator, orchestrator) = configured(&args, issuer).await?;
            (validator, orchestrator, None)
        }
    };
    if let Some(dev) = &dev {
        print_curl_lines(dev, addr);
    }
    println!("listening on {addr}");
    tracing::info!("listening on {addr}");
    axum::serve(listener, app::router(validator, orchestrator)).await?;
    Ok(())
}

/// Everything from the command line (clap made sure the flags `--issuer` needs are there).
async fn configured(
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
    let downstream_scopes = cli::scopes(
        "--downstream-scope",
        &required(&args.downstream_scope, "--downstream-scope")?,
    )?;
    let maintenance_scopes = match &args.maintenance_scope {
        Some(s) => cli::scopes("--maintenance-scope", s)?,
        None => Vec::new(),
    };
    let secret_file = args
        .client_secret_file
        .clone()
        .ok_or("--client-secret-file is required with --issuer")?;

    let mut b = Validator::builder().audience(audience);
    b = match &args.jwks_url {
        Some(jwks) => b.issuer_jwks(issuer, jwks),
        None => b.issuer(issuer),
    };
    let validator = b.build().await?;
    let token_endpoint = match &args.token_endpoint {
        Some(url) => url.clone(),
        None => app::discover_token_endpoint(issuer).await?,
    };
    let own = app::own_tokens(
        &token_endpoint,
        &client_id,
        Secret::file(secret_file),
        &downstream_audience,
        &maintenance_scopes,
    )?;
    let orchestrator = app::Orchestrator::new(
        own,
        app::Downstream {
            url: downstream_url,
            audience: downstream_audience,
            scopes: downstream_scopes,
        },
    )?;
    Ok((validator, orchestrator))
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
