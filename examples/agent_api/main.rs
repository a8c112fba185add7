//! A demo agent API guarded by a2a-guard.
//!
//! ```text
//! cargo run --release --example agent_api          # embedded dev issuer, prints curl lines
//! agent_api [--issuer URL] [--audience AUD] [--jwks-url URL] [--listen ADDR]
//!           [--snapshot-file PATH] [--accept-typ T]... [--max-lifetime SECS]
//!           [--business-hours "Mon-Fri 09:00-17:00 Europe/Berlin"]
//! ```
//! `--issuer` without `--jwks-url` uses discovery.

mod app;

use std::net::SocketAddr;
use std::time::Duration;

use a2a_guard::scope::BusinessHours;
use a2a_guard::testing::TestIssuer;
use a2a_guard::{Algorithm, Validator};

const USAGE: &str =
    "usage: agent_api [--issuer URL] [--audience AUD] [--jwks-url URL] [--listen ADDR]
                 [--snapshot-file PATH] [--accept-typ T]... [--max-lifetime SECS]
                 [--business-hours \"Mon-Fri 09:00-17:00 Europe/Berlin\"]";

struct Args {
    issuer: Option<String>,
    audience: String,
    jwks_url: Option<String>,
    listen: SocketAddr,
    snapshot_file: Option<String>,
    accept_typ: Vec<String>,
    max_lifetime: u64,
    business_hours: BusinessHours,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        issuer: None,
        audience: "agent-api".into(),
        jwks_url: None,
        listen: "127.0.0.1:8080".parse().expect("literal address"),
        snapshot_file: None,
        accept_typ: Vec::new(),
        max_lifetime: 3600,
        business_hours: "Mon-Fri 09:00-17:00 UTC"
            .parse()
            .map_err(|e| format!("{e}"))?,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            return Err(String::new());
        }
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--issuer" => a.issuer = Some(value()?),
            "--audience" => a.audience = value()?,
            "--jwks-url" => a.jwks_url = Some(value()?),
            "--listen" => {
                a.listen = value()?
                    .parse()
                    .map_err(|_| "--listen needs IP:PORT".to_owned())?
            }
            "--snapshot-file" => a.snapshot_file = Some(value()?),
            "--accept-typ" => a.accept_typ.push(value()?),
            "--max-lifetime" => {
                a.max_lifetime = value()?
                    .parse()
                    .map_err(|_| "--max-lifetime needs seconds".to_owned())?
            }
            "--business-hours" => {
                a.business_hours = value()?.parse().map_err(|e| format!("{e}"))?
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.jwks_url.is_some() && a.issuer.is_none() {
        return Err("--jwks-url needs --issuer (the `iss` its tokens carry)".into());
    }
    Ok(a)
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
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("agent_api: {e}");
            }
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(args).await {
        eprintln!("agent_api: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    // No issuer given: an embedded dev issuer on loopback, so the demo runs with no set-up.
    let dev = match &args.issuer {
        Some(_) => None,
        None => Some(
            TestIssuer::builder()
                .audience(args.audience.clone())
                .algorithms([Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA])
                .start()
                .await?,
        ),
    };
    let mut b = Validator::builder()
        .audience(args.audience.clone())
        .leeway(Duration::from_secs(30))
        .max_token_lifetime(Duration::from_secs(args.max_lifetime))
        .business_hours(args.business_hours.clone());
    b = match (&dev, &args.issuer, &args.jwks_url) {
        (Some(dev), _, _) => b.issuer_jwks(dev.issuer(), dev.jwks_url()),
        (None, Some(iss), Some(jwks)) => b.issuer_jwks(iss, jwks),
        (None, Some(iss), None) => b.issuer(iss),
        (None, None, _) => unreachable!("dev issuer exists when no issuer is given"),
    };
    for t in &args.accept_typ {
        b = b.accept_typ(t);
    }
    if let Some(p) = &args.snapshot_file {
        b = b.snapshot_file(p);
    }
    let validator = b.build().await?;
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let addr = listener.local_addr()?;
    if let Some(dev) = &dev {
        print_curl_lines(dev, addr);
    }
    println!("listening on {addr}");
    tracing::info!("listening on {addr}");
    axum::serve(listener, app::router(validator)).await?;
    Ok(())
}

fn print_curl_lines(dev: &TestIssuer, addr: SocketAddr) {
    println!(
        "dev issuer on {} (tokens below are valid for 1 hour)\n",
        dev.issuer()
    );
    for (method, path, scope) in app::ROUTES {
        // `POST /delegate` takes only delegated tokens whose current actor is allowed.
        let token = || {
            let t = dev.token().lifetime(Duration::from_secs(3600));
            if *path == "/delegate" {
                t.actor_chain(["orchestrator-agent"])
            } else {
                t
            }
        };
        let ok = if scope.is_empty() {
            token()
        } else {
            token().scope(*scope)
        }
        .sign();
        println!(
            "# {method} {path}  needs {}",
            if scope.is_empty() {
                "any valid token"
            } else {
                scope
            }
        );
        println!("curl -si -X {method} http://{addr}{path} -H 'Authorization: Bearer {ok}'");
        if !scope.is_empty() {
            let denied = dev
                .token()
                .lifetime(Duration::from_secs(3600))
                .scope("read:nothing")
                .sign();
            println!("# -> 403 insufficient_scope:");
            println!(
                "curl -si -X {method} http://{addr}{path} -H 'Authorization: Bearer {denied}'"
            );
        }
        println!();
    }
    let delegated = dev
        .token()
        .lifetime(Duration::from_secs(3600))
        .scope("delegate:analysis read:data")
        .claim(
            "act",
            serde_json::json!({"sub": "specialist-agent", "act": {"sub": "orchestrator-agent"}}),
        )
        .sign();
    println!("# a delegated (RFC 8693) token: /whoami lists the actors");
    println!("curl -s http://{addr}/whoami -H 'Authorization: Bearer {delegated}'\n");
    println!("curl -s http://{addr}/health\n");
}
