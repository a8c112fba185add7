//! A demo agent API guarded by a2a-guard.
//!
//! ```text
//! cargo run --release --example agent_api            # embedded dev issuer, prints curl lines
//! cargo run --release --example agent_api -- --help  # every flag
//! ```
//! `--issuer` without `--jwks-url` uses discovery. With the embedded dev issuer,
//! `--keys-file PATH` keeps its address and keys across restarts, so the printed lines keep
//! working. Discovery for agents: RFC 9728 metadata at `/.well-known/oauth-protected-resource`
//! and the A2A agent card at `/.well-known/agent-card.json`, both without a token.
//! Revocation: `POST /admin/revoke` (scope `admin:revoke`; JSON `{"jti": ..}`,
//! `{"sub": .., "before": <unix time>}` or `{"client_id": ..}`), `POST /events` (Security
//! Event Tokens and Back-Channel Logout tokens from the issuer, RFC 8935), and
//! `--redis-url URL` to share the deny-list with the other instances. Opaque tokens, and
//! re-checked JWTs with `--introspect-jwts`, through the issuer's RFC 7662 endpoint:
//! `--introspection-url URL --introspection-client-id ID --introspection-client-secret-file
//! FILE` (feature `client`). Prometheus metrics: `--metrics-listen 127.0.0.1:9464` serves
//! `/metrics` on its own listener without a token (feature `metrics`; off by default).

mod app;
mod cli;
mod logging;

use std::net::SocketAddr;
use std::time::Duration;

use a2a_guard::revocation::{Revocations, SetReceiver};
use a2a_guard::testing::TestIssuer;
use a2a_guard::{Algorithm, Validator};
use clap::Parser;
use cli::Args;

#[tokio::main]
async fn main() {
    let args = Args::parse();
    // The audit recipe: non-blocking, lossless writers (see logging.rs).
    let guards = match logging::init(&args) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("agent_api: {e}");
            std::process::exit(2);
        }
    };
    let result = run(args).await;
    // Flush what the writer threads still hold before exiting.
    drop(guards);
    if let Err(e) = result {
        eprintln!("agent_api: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    // The recorder before anything records; its own listener, bound before the API's.
    let metrics = match args.metrics_listen {
        Some(addr) => Some(metrics_endpoint(addr).await?),
        None => None,
    };
    // Bound first: the default resource URI names the address actually bound (`--listen
    // 127.0.0.1:0` picks a free port).
    let listener = cli::bind(args.listen).await?;
    let addr = listener.local_addr()?;
    let resource = args
        .resource
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));

    // No issuer given: an embedded dev issuer on loopback, so the demo runs with no set-up.
    let dev = match &args.issuer {
        Some(_) => None,
        None => {
            let (id, secret) = args
                .dev_client
                .split_once(':')
                .ok_or("--dev-client needs ID:SECRET")?;
            let mut b = TestIssuer::builder()
                .audience(args.audience.clone())
                .algorithms([Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA])
                .client(id, secret);
            if let Some(path) = &args.keys_file {
                b = b.keys_file(path);
            }
            Some(b.start().await?)
        }
    };
    let revocations = Revocations::new();
    // Shared with the fleet when asked; Redis down at start-up is not fatal (the instance
    // starts with its own view and syncs when Redis is back).
    #[cfg(feature = "redis")]
    let _shared = match &args.redis_url {
        Some(url) => {
            Some(a2a_guard::revocation::RedisRevocations::attach_in_background(url, &revocations)?)
        }
        None => None,
    };
    #[cfg(not(feature = "redis"))]
    if args.redis_url.is_some() {
        return Err(
            "--redis-url needs the `redis` feature (cargo run --features redis ...)".into(),
        );
    }
    let mut b = Validator::builder()
        .revocations(revocations.clone())
        .audience(args.audience.clone())
        .resource(&resource)
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
    #[cfg(feature = "client")]
    {
        let issuer = match (&dev, &args.issuer) {
            (Some(dev), _) => dev.issuer(),
            (None, Some(iss)) => iss.clone(),
            (None, None) => unreachable!("dev issuer exists when no issuer is given"),
        };
        if let Some(introspection) = cli::introspection(&args, &issuer) {
            b = b.introspection(introspection);
        }
    }
    #[cfg(not(feature = "client"))]
    if args.introspection_url.is_some() {
        return Err(
            "--introspection-url needs the `client` feature (cargo run --features client ...)"
                .into(),
        );
    }
    let validator = b.build().await?;
    // Pushed revocation events from the issuer, addressed to this resource.
    let transmitter = SetReceiver::builder(revocations.clone()).audience(&resource);
    let transmitter = match (&dev, &args.issuer, &args.jwks_url) {
        (Some(dev), _, _) => transmitter.transmitter(dev.issuer(), dev.jwks_url()),
        (None, Some(iss), Some(jwks)) => transmitter.transmitter(iss, jwks),
        (None, Some(iss), None) => transmitter.transmitter_discovery(iss),
        (None, None, _) => unreachable!("dev issuer exists when no issuer is given"),
    };
    let events = transmitter.build().await?;
    let revocation_routes = app::revocation_routes(&validator, revocations, events);

    let guards = app::Guards::new(&validator);
    let token_url = match &args.token_url {
        Some(url) => app::TokenUrl::Explicit(url.clone()),
        None => app::TokenUrl::Discover,
    };
    let card = match app::agent_card(&validator, &guards, &resource, token_url).await {
        Ok(card) => Some(card),
        // An issuer without usable metadata still gets a working API; the card is left out.
        Err(e) => {
            tracing::warn!(error = %e, "no agent card served (give the token endpoint with --token-url)");
            None
        }
    };
    if let Some(dev) = &dev {
        print_curl_lines(dev, addr, &args.dev_client);
    }
    println!("resource {resource}");
    println!("metadata {resource}/.well-known/oauth-protected-resource");
    if card.is_some() {
        println!("agent card {resource}/.well-known/agent-card.json");
    }
    println!("listening on {addr}");
    tracing::info!("listening on {addr}");
    let app = app::router_with(validator, guards, card)?.merge(revocation_routes);
    match metrics {
        Some((metrics_listener, handle)) => {
            let scrape = app::metrics_router(handle);
            tokio::try_join!(
                axum::serve(listener, app).into_future(),
                axum::serve(metrics_listener, scrape).into_future()
            )?;
        }
        None => axum::serve(listener, app).await?,
    }
    Ok(())
}

/// Install the Prometheus recorder (the application's choice, not the library's) and bind
/// the scrape listener.
async fn metrics_endpoint(
    addr: SocketAddr,
) -> Result<
    (
        tokio::net::TcpListener,
        metrics_exporter_prometheus::PrometheusHandle,
    ),
    Box<dyn std::error::Error>,
> {
    #[cfg(not(feature = "metrics"))]
    {
        let _ = addr;
        Err(
            "--metrics-listen needs the `metrics` feature (cargo run --features metrics ...)"
                .into(),
        )
    }
    #[cfg(feature = "metrics")]
    {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on {addr} (--metrics-listen): {e}"))?;
        // Buckets for the validation histogram (a cache hit is microseconds, a miss with a
        // key fetch milliseconds); without them the exporter renders a summary.
        let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full(
                    "a2a_guard_validation_duration_seconds".into(),
                ),
                &[
                    1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0,
                ],
            )?
            .install_recorder()?;
        a2a_guard::metrics::describe();
        // Histogram samples wait in the recorder until a scrape or an upkeep drains them:
        // without this, an unscraped demo would grow without bound.
        let upkeep = handle.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                upkeep.run_upkeep();
            }
        });
        let bound = listener.local_addr()?;
        println!("metrics: curl -s http://{bound}/metrics");
        Ok((listener, handle))
    }
}

fn print_curl_lines(dev: &TestIssuer, addr: SocketAddr, client: &str) {
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
    println!("# a token from the dev issuer's token endpoint (the agent card's tokenUrl)");
    println!(
        "curl -s -u {client} -d grant_type=client_credentials -d scope=read:data {}/token\n",
        dev.issuer()
    );
    println!("curl -s http://{addr}/health\n");
}
