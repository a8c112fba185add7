//! The demo's logging: the recipe for audit events at production cost.
//!
//! Every line goes through a [`tracing_appender::non_blocking`] writer: the request thread
//! formats the event into a buffer and hands it to a channel; one worker thread writes, in
//! batches (a `BufWriter` flushed whenever the channel runs dry), so requests never wait for
//! a `write` syscall or the stderr lock. The writer is **lossless** (`lossy(false)`): an audit
//! line is never dropped; if the disk cannot keep up for 128 k lines, requests wait for it
//! (back-pressure) rather than lose evidence. `lossy(true)` is the other choice: requests
//! never wait, and lines beyond the buffer are lost.
//!
//! Audit events are JSON lines written by [`a2a_guard::audit::JsonLines`] (fields straight
//! into the buffer, no map): a machine record, about a quarter of the cost of the stock text
//! or JSON formatters (BENCHMARKS.md). Other logs are text.
//!
//! - default: audit events (`info`) as JSON lines on stderr, other logs as text on stderr;
//! - `--audit-log FILE`: audit events appended to FILE instead;
//! - `--audit-chain FILE` (feature `audit-file`): audit events into a hash-chained file
//!   (`a2a_guard::audit_file`), checked with `cargo run --example audit_verify`.

use std::io::{BufWriter, Write};

use tracing_appender::non_blocking::{NonBlocking, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::prelude::*;

use crate::cli::Args;

/// Keeps the writer threads alive; dropping it flushes what is queued.
pub struct Guards {
    _workers: Vec<WorkerGuard>,
    #[cfg(feature = "audit-file")]
    _chain: Option<a2a_guard::audit_file::AuditFileGuard>,
}

fn lossless<W: Write + Send + 'static>(w: W) -> (NonBlocking, WorkerGuard) {
    NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("agent_api-log")
        .finish(BufWriter::with_capacity(64 * 1024, w))
}

/// Install the subscriber the command line asks for.
pub fn init(args: &Args) -> Result<Guards, Box<dyn std::error::Error>> {
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (stderr, stderr_guard) = lossless(std::io::stderr());
    let mut workers = vec![stderr_guard];
    let to_file = args.audit_log.is_some() || audit_chain(args);
    let is_audit = |m: &tracing::Metadata<'_>| m.target() == a2a_guard::audit::TARGET;
    let console = tracing_subscriber::fmt::layer()
        .with_writer(stderr.clone())
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_filter(filter())
        .with_filter(tracing_subscriber::filter::filter_fn(move |m| !is_audit(m)));
    let audit_only = || Targets::new().with_target(a2a_guard::audit::TARGET, tracing::Level::INFO);
    // Audit events as JSON lines: to --audit-log, or to stderr when no audit sink is given
    // (still under RUST_LOG: `warn` keeps denials only).
    let audit_writer = match &args.audit_log {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("--audit-log {}: {e}", path.display()))?;
            let (writer, guard) = lossless(file);
            workers.push(guard);
            Some(writer)
        }
        None if !to_file => Some(stderr),
        None => None,
    };
    let json_lines = audit_writer.map(|writer| {
        tracing_subscriber::fmt::layer()
            .event_format(a2a_guard::audit::JsonLines::default())
            .with_writer(writer)
            .with_filter(filter())
            .with_filter(audit_only())
    });
    #[cfg(feature = "audit-file")]
    let (chain, chain_guard) = match &args.audit_chain {
        Some(path) => {
            use a2a_guard::audit_file::{AuditFileLayer, ChainWriter};
            let writer = ChainWriter::builder(path)
                .open()
                .map_err(|e| format!("--audit-chain {}: {e}", path.display()))?;
            let (layer, guard) = AuditFileLayer::builder()
                .block_when_full()
                .spawn(writer)
                .map_err(|e| format!("--audit-chain {}: {e}", path.display()))?;
            (Some(layer.with_filter(audit_only())), Some(guard))
        }
        None => (None, None),
    };
    let registry = tracing_subscriber::registry()
        .with(console)
        .with(json_lines);
    #[cfg(feature = "audit-file")]
    let registry = registry.with(chain);
    registry.init();
    Ok(Guards {
        _workers: workers,
        #[cfg(feature = "audit-file")]
        _chain: chain_guard,
    })
}

fn audit_chain(args: &Args) -> bool {
    #[cfg(feature = "audit-file")]
    return args.audit_chain.is_some();
    #[cfg(not(feature = "audit-file"))]
    {
        let _ = args;
        false
    }
}
