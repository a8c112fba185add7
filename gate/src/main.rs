//! `a2a-guard-gate --config gate.toml` serves forward-auth decisions, Envoy ext_authz ones,
//! the reverse proxy, or any mix (and the admin listener when configured), reloads on
//! `SIGHUP` and file change, and drains on `SIGTERM`;
//! `a2a-guard-gate check --config gate.toml` validates the file and exits.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use a2a_guard_gate::{Config, Gate, Proxy};
use clap::{Parser, Subcommand};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::signal::unix::{SignalKind, signal};

#[derive(Parser)]
#[command(
    version,
    about = "A local OAuth2 token validation service for agents (forward-auth, Envoy ext_authz, reverse proxy)"
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
    // Logs and the audit line of every decision go to stdout through a writer thread, so a
    // check never waits on a `write` syscall or the stdout lock (the library's demo recipe;
    // BENCHMARKS.md has the gate's figures). Lossless: when the queue is full, checks wait
    // rather than lose audit lines. Dropping the guard at exit flushes what is queued.
    let (stdout, _flush) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("a2a-guard-gate-log")
        .finish(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stdout(),
        ));
    tracing_subscriber::fmt()
        .json()
        .with_writer(stdout)
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
    let ext_authz = config.listen.ext_authz;
    let proxy_config = config.proxy.clone();
    let admin_addr = config.listen.admin;
    let events = config.listen.events;
    let watch = Duration::from_secs(config.reload.watch_secs);
    let metrics = match admin_addr {
        Some(_) => match recorder() {
            Ok(h) => {
                a2a_guard_gate::admin::describe();
                // Histogram samples wait in the recorder until a scrape or an upkeep
                // drains them: without this, an unscraped gate would grow without bound.
                let upkeep = h.clone();
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        upkeep.run_upkeep();
                    }
                });
                Some(h)
            }
            Err(e) => {
                eprintln!("cannot install the metrics recorder: {e}");
                return ExitCode::from(1);
            }
        },
        None => None,
    };
    let gate = match Gate::new(config).await {
        Ok(g) => g,
        Err(e) => {
            eprintln!("cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    // SIGTERM or Ctrl-C: stop accepting, answer what is in flight, exit.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until_stopped = move || {
        let mut s = stopped.clone();
        async move {
            let _ = s.wait_for(|stop| *stop).await;
        }
    };
    let mut servers = tokio::task::JoinSet::new();
    if let Some(addr) = forward_auth {
        let listener = match bind(addr).await {
            Ok(l) => l,
            Err(code) => return code,
        };
        tracing::info!(target: "a2a_guard_gate", %addr, "forward-auth listening");
        servers.spawn(gate.clone().serve_until(listener, until_stopped()));
    }
    if let Some(addr) = ext_authz {
        let listener = match bind(addr).await {
            Ok(l) => l,
            Err(code) => return code,
        };
        tracing::info!(target: "a2a_guard_gate", %addr, "ext_authz (gRPC) listening");
        let grpc = gate.clone();
        let shutdown = until_stopped();
        servers.spawn(async move {
            (grpc.serve_ext_authz_until(listener, shutdown).await).map_err(std::io::Error::other)
        });
    }
    if let Some(p) = proxy_config {
        let proxy = match Proxy::new(gate.clone(), &p) {
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
        servers.spawn(proxy.serve_until(listener, until_stopped()));
    }
    if let Some(addr) = events {
        let listener = match bind(addr).await {
            Ok(l) => l,
            Err(code) => return code,
        };
        tracing::info!(target: "a2a_guard_gate", %addr, "security events (RFC 8935 push) listening");
        servers.spawn(gate.clone().serve_events_until(listener, until_stopped()));
    }
    if let Some(addr) = admin_addr {
        let listener = match bind(addr).await {
            Ok(l) => l,
            Err(code) => return code,
        };
        let app = a2a_guard_gate::admin::router(gate.clone(), metrics);
        tracing::info!(target: "a2a_guard_gate", %addr, "admin listening");
        let shutdown = until_stopped();
        servers.spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        });
    }
    tokio::spawn(async move {
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::info!(target: "a2a_guard_gate", "shutting down: draining requests in flight");
        let _ = stop.send(true);
    });
    tokio::spawn(reloads(gate, cli.config.clone(), watch));
    // Every server ends only after the stop signal (then once its requests are answered),
    // or on an error, which ends the process.
    while let Some(r) = servers.join_next().await {
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
    ExitCode::SUCCESS
}

async fn bind(addr: std::net::SocketAddr) -> Result<tokio::net::TcpListener, ExitCode> {
    tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        eprintln!("cannot listen on {addr}: {e}");
        ExitCode::from(1)
    })
}

/// The Prometheus recorder, with buckets for the validation latency histogram (10 µs … 1 s).
fn recorder() -> Result<PrometheusHandle, BuildError> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("a2a_guard_validation_duration_seconds".into()),
            &[
                1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0,
            ],
        )?
        .install_recorder()
}

/// Reload on `SIGHUP`, and when the file's bytes differ from the last ones read (checked
/// every `watch`; zero: never). A refused file keeps the running configuration; it is
/// reported once, not again until the file changes.
async fn reloads(gate: Gate, path: PathBuf, watch: Duration) {
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        return;
    };
    let mut last = std::fs::read(&path).ok();
    let mut tick = tokio::time::interval(if watch.is_zero() {
        Duration::from_secs(3600)
    } else {
        watch
    });
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let why = tokio::select! {
            _ = hup.recv() => "SIGHUP",
            _ = tick.tick() => {
                let now = std::fs::read(&path).ok();
                if watch.is_zero() || now == last {
                    continue;
                }
                "file changed"
            }
        };
        last = std::fs::read(&path).ok();
        match gate.reload_file(&path).await {
            Ok(done) => tracing::info!(
                target: "a2a_guard_gate",
                trigger = why,
                result = ?done,
                "configuration reloaded"
            ),
            Err(e) => tracing::error!(
                target: "a2a_guard_gate",
                trigger = why,
                error = %e,
                "configuration refused; the running one stays"
            ),
        }
    }
}
