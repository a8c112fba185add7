//! Certificate-bound access tokens (RFC 8705) over mutual TLS.
//!
//! ```text
//! cargo run --example mtls_server              # 127.0.0.1:8443
//! cargo run --example mtls_server -- --help    # every flag
//! ```
//! Generates a throwaway CA, a server certificate and a client certificate, starts a dev
//! issuer and an HTTPS API that requires client certificates, and prints `curl` lines: the
//! token bound to the client certificate passes; the same token with another certificate
//! gets 401.

mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;

use a2a_guard::testing::TestIssuer;
use a2a_guard::{Principal, Validator};
use axum::Router;
use axum::routing::get;
use clap::Parser;

/// An HTTPS API that requires client certificates and certificate-bound tokens (RFC 8705),
/// with a throwaway CA and a dev issuer; prints curl lines that pass and fail.
#[derive(Parser, Debug)]
#[command(name = "mtls_server", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8443")]
    listen: SocketAddr,
    /// Where the CA and client certificates and keys are written [default: a new directory
    /// under the system temporary directory].
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Err(e) = run(args).await {
        eprintln!("mtls_server: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AddrInUse => format!(
                "cannot listen on {}: the address is already in use; choose another with \
                 --listen, e.g. --listen 127.0.0.1:0",
                args.listen
            ),
            _ => format!("cannot listen on {}: {e}", args.listen),
        })?;
    let pki = tls::generate_pki(&["agent-a", "agent-b"])?;
    let dir = args.out_dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("a2a-guard-mtls-{}", std::process::id()))
    });
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("ca.pem"), &pki.ca_pem)?;
    for (name, leaf) in ["agent-a", "agent-b"].iter().zip(&pki.clients) {
        std::fs::write(dir.join(format!("{name}.pem")), &leaf.cert_pem)?;
        std::fs::write(dir.join(format!("{name}.key")), &leaf.key_pem)?;
    }

    let issuer = TestIssuer::builder().audience("agent-api").start().await?;
    let validator = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience("agent-api")
        .build()
        .await?;
    let app = Router::new()
        .route(
            "/whoami",
            get(|p: Principal| async move { format!("hello {}\n", p.subject().unwrap_or("?")) }),
        )
        .layer(validator.layer());

    let addr = listener.local_addr()?;
    let token = issuer
        .token()
        .subject("agent-a")
        .certificate_bound(&pki.clients[0].cert_der)
        .sign();
    let d = dir.display();
    println!("# bound to agent-a's certificate -> 200");
    println!(
        "curl -s --cacert {d}/ca.pem --cert {d}/agent-a.pem --key {d}/agent-a.key https://localhost:{}/whoami -H 'Authorization: Bearer {token}'",
        addr.port()
    );
    println!("# the same token with agent-b's certificate -> 401 invalid_token");
    println!(
        "curl -si --cacert {d}/ca.pem --cert {d}/agent-b.pem --key {d}/agent-b.key https://localhost:{}/whoami -H 'Authorization: Bearer {token}'",
        addr.port()
    );
    println!("listening on {addr}");
    tls::serve(listener, tls::server_config(&pki, true)?, app).await;
    Ok(())
}
