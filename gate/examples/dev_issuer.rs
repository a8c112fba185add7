//! A development issuer for trying the gate (not for production): generates an ES256 key,
//! writes its JWK Set to `target/gate-dev-jwks.json` (the file `gate/examples/gate.toml`
//! reads), and prints tokens it signed for the example's issuer and audience.
//!
//! ```text
//! cargo run -p a2a-guard-gate --example dev_issuer
//! cargo run --release -p a2a-guard-gate -- --config gate/examples/gate.toml
//! ```
//!
//! `dev_issuer --tokens N FILE` also writes N distinct `read:customers` tokens, one per
//! line, to FILE (for `scripts/gate_bench.sh`).

use a2a_guard::Algorithm;
use a2a_guard::testing::TestIssuer;

/// The example configuration's issuer and audience.
const ISSUER: &str = "https://issuer.dev.a2a-guard.example";
const AUDIENCE: &str = "https://agent.dev.a2a-guard.example";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let issuer = TestIssuer::builder()
        .algorithms([Algorithm::ES256])
        .start()
        .await?;
    let path = std::path::Path::new("target/gate-dev-jwks.json");
    std::fs::create_dir_all("target")?;
    std::fs::write(path, serde_json::to_vec_pretty(&issuer.jwks())?)?;
    println!("keys written to {}", path.display());
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, n, file] = args.as_slice()
        && flag == "--tokens"
    {
        let n: usize = n.parse()?;
        let mut out = String::with_capacity(n * 400);
        for i in 0..n {
            out += &dev_token(&issuer, "read:customers", &format!("agent:bench-{i}"));
            out.push('\n');
        }
        std::fs::write(file, out)?;
        println!("{n} tokens written to {file}");
    }
    for scopes in [
        "read:customers",
        "read:payments execute:payment",
        "read:orders",
    ] {
        let token = dev_token(&issuer, scopes, "agent:dev");
        println!("\n# scopes: {scopes} (valid 1 h)\n{token}");
    }
    Ok(())
}

/// A token for the example's issuer and audience, valid for an hour.
fn dev_token(issuer: &TestIssuer, scopes: &str, subject: &str) -> String {
    (issuer.token())
        .alg(Algorithm::ES256)
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .subject(subject)
        .scope(scopes)
        .lifetime(std::time::Duration::from_secs(3600))
        .sign()
}
