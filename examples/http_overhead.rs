//! The HTTP overhead benchmark's server (`scripts/http_overhead.sh`, issue 16): one axum
//! `GET /whoami` route answering `ok`, served twice on loopback by a single-threaded runtime
//! (one worker), once bare and once behind `validator.layer()`. Prints one line,
//! `bare=PORT layer=PORT token=TOKEN`, then serves until killed.
//!
//! ```text
//! cargo build --release --example http_overhead
//! taskset -c 0 target/release/examples/http_overhead ES256
//! ```
//!
//! The token is signed by an in-process [`TestIssuer`] whose keys the validator holds
//! statically (no fetch), so every request after the first is a verified-token cache hit:
//! the comparison is the layer's own cost per request, over real HTTP.

use a2a_guard::jwk::KeySet;
use a2a_guard::testing::TestIssuer;
use a2a_guard::{Algorithm, Validator};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let alg: Algorithm = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ES256".into())
        .parse()?;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let issuer = TestIssuer::builder().algorithms([alg]).start().await?;
            let validator = Validator::builder()
                .issuer_keys(issuer.issuer(), KeySet::from_value(&issuer.jwks())?)
                .audience(issuer.audience())
                .build()
                .await?;
            let token = issuer
                .token()
                .alg(alg)
                .subject("agent:analysis-specialist-7f3a9c")
                .claim("client_id", "orchestrator-prod-eu-west-1")
                .scope("read:customers:eu read:orders write:reports execute:payment")
                .sign();
            let route =
                || axum::Router::new().route("/whoami", axum::routing::get(|| async { "ok" }));
            let bare = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let layer = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            println!(
                "bare={} layer={} token={token}",
                bare.local_addr()?.port(),
                layer.local_addr()?.port()
            );
            let guarded = route().layer(validator.layer());
            let (a, b) = tokio::join!(async { axum::serve(bare, route()).await }, async {
                axum::serve(layer, guarded).await
            });
            a?;
            b?;
            Ok(())
        })
}
