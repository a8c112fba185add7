//! The demo set-up when no issuer is given: an embedded dev issuer with two clients (the
//! orchestrator and a demo caller) and, as the downstream agent, the `agent_api` demo in
//! process, all on 127.0.0.1. The orchestrator finds the dev issuer's token and revocation
//! endpoints by discovery, as with a real issuer. Shared by the binary and
//! tests/orchestrator.rs.

#[allow(dead_code)] // the orchestrator serves only the agent API's plain router
#[path = "../agent_api/app.rs"]
mod agent_api;

use std::net::SocketAddr;

use a2a_guard::client::Secret;
use a2a_guard::testing::TestIssuer;
use a2a_guard::{Algorithm, Validator};

use super::app;

/// The audience the orchestrator accepts (`aud` of the dev issuer's tokens by default).
pub const AUDIENCE: &str = "orchestrator";
/// The orchestrator's client at the dev issuer: the actor downstream sees.
pub const ORCHESTRATOR_CLIENT: (&str, &str) = ("orchestrator", "orchestrator-dev-secret");
/// The demo caller's client at the dev issuer (its tokens' `sub`).
pub const CALLER_CLIENT: (&str, &str) = ("demo-caller", "demo-caller-secret");
/// What the demo caller asks for: both routes' scopes and the scope delegated downstream.
pub const CALLER_SCOPES: &str = "delegate:analysis read:data maintenance:run";
/// The scope delegated to the agent API (its `GET /data` needs it; `/whoami` any token).
pub const DOWNSTREAM_SCOPE: &str = "read:data";

/// The running demo: the dev issuer and the agent API. Dropping it stops the dev issuer.
pub struct Dev {
    pub issuer: TestIssuer,
    /// The agent API's address; its resource URI `http://<addr>` is the downstream audience.
    pub downstream: SocketAddr,
}

/// Start the dev issuer and the agent API, and configure the orchestrator against them: its
/// validator, and its own token source and exchange for the agent API.
pub async fn start() -> Result<(Dev, Validator, app::Orchestrator), Box<dyn std::error::Error>> {
    let issuer = TestIssuer::builder()
        .audience(AUDIENCE)
        .algorithms([Algorithm::RS256])
        .client(ORCHESTRATOR_CLIENT.0, ORCHESTRATOR_CLIENT.1)
        .client(CALLER_CLIENT.0, CALLER_CLIENT.1)
        .start()
        .await?;

    // The downstream agent: the agent API, accepting tokens addressed to its resource URI.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let downstream = listener.local_addr()?;
    let resource = format!("http://{downstream}");
    let downstream_validator = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .resource(&resource)
        .build()
        .await?;
    let api = agent_api::router(downstream_validator);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, api).await {
            tracing::error!(error = %e, "the downstream agent API stopped");
        }
    });

    let validator = Validator::builder()
        .issuer_jwks(issuer.issuer(), issuer.jwks_url())
        .audience(AUDIENCE)
        .build()
        .await?;
    // Found the way a real deployment finds them: from the issuer's metadata, which names
    // its revocation endpoint too, so each task's delegated token is revoked when it ends.
    let client = app::OwnClient {
        server: app::TokenServer::find(&issuer.issuer(), None, None).await?,
        client_id: ORCHESTRATOR_CLIENT.0.to_owned(),
        auth: app::ClientAuth::Secret(Secret::new(ORCHESTRATOR_CLIENT.1)),
        redis_url: None,
    };
    let delegated = client.delegated_tokens();
    let own = app::own_tokens(client, &resource, &[])?;
    let orchestrator = app::Orchestrator::new(
        own,
        app::Downstream {
            url: format!("{resource}/whoami"),
            audience: resource,
            scopes: vec![DOWNSTREAM_SCOPE.to_owned()],
        },
        delegated,
    )?;
    Ok((Dev { issuer, downstream }, validator, orchestrator))
}
