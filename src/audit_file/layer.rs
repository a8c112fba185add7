//! [`AuditFileLayer`]: audit events into a [`ChainWriter`] on its own thread.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::thread::JoinHandle;
use std::time::SystemTime;

use tracing_subscriber::layer::Context;

use super::chain::ChainWriter;
use super::format::Head;

/// Records queued between the request path and the writer thread by default.
pub const DEFAULT_CAPACITY: usize = 4096;
/// Records between two anchor events (target [`ANCHOR_TARGET`]) by default.
pub const DEFAULT_ANCHOR_EVERY: u64 = 10_000;
/// Target of the anchor events the writer thread emits: the chain's head, to be kept in
/// another sink as an anchor. Never recorded into the chain itself.
pub const ANCHOR_TARGET: &str = "a2a_guard::audit_file";

enum Msg {
    /// The event as one JSON object, formatted on the caller's thread.
    Record(SystemTime, String),
    Flush(mpsc::Sender<io::Result<Head>>),
    Shutdown,
}

/// Options of [`AuditFileLayer`]; from [`AuditFileLayer::builder`].
#[derive(Debug)]
pub struct AuditFileLayerBuilder {
    capacity: usize,
    block: bool,
    targets: Vec<String>,
    anchor_every: u64,
}

impl AuditFileLayerBuilder {
    /// Records queued before the layer drops (or, with [`block_when_full`](Self::block_when_full),
    /// waits). Default [`DEFAULT_CAPACITY`].
    pub fn capacity(mut self, records: usize) -> Self {
        self.capacity = records.max(1);
        self
    }

    /// When the queue is full, make the emitting request wait for the disk instead of
    /// dropping the record. Default: drop, count, and write a `dropped` record into the
    /// chain before the next one, so the gap is itself on record.
    pub fn block_when_full(mut self) -> Self {
        self.block = true;
        self
    }

    /// Also records events whose target is `target` (e.g. `a2a_guard::client`, the calling
    /// side's issuance and revocation events). Default: [`crate::audit::TARGET`] only.
    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.targets.push(target.into());
        self
    }

    /// Emits an anchor event (the chain's head, for [`Verifier::anchor`](super::Verifier::anchor))
    /// every `records` records and at shutdown. Default [`DEFAULT_ANCHOR_EVERY`]; 0: only at
    /// shutdown.
    pub fn anchor_every(mut self, records: u64) -> Self {
        self.anchor_every = records;
        self
    }

    /// Starts the writer thread that owns `writer`; the guard flushes and stops it.
    pub fn spawn(self, writer: ChainWriter) -> io::Result<(AuditFileLayer, AuditFileGuard)> {
        let (tx, rx) = mpsc::sync_channel(self.capacity);
        let dropped = Arc::new(AtomicU64::new(0));
        let thread = std::thread::Builder::new()
            .name("a2a-guard-audit-file".into())
            .spawn({
                let dropped = dropped.clone();
                let every = self.anchor_every;
                move || write_loop(writer, rx, &dropped, every)
            })?;
        let layer = AuditFileLayer {
            tx: tx.clone(),
            dropped: dropped.clone(),
            targets: self.targets,
            block: self.block,
        };
        let guard = AuditFileGuard {
            tx,
            thread: Some(thread),
            dropped,
        };
        Ok((layer, guard))
    }
}

/// A `tracing-subscriber` layer that writes audit events into a tamper-evident
/// [`ChainWriter`] file. Each event becomes one record whose `event` is a JSON object of its
/// fields plus `target`, `level` and `message`.
///
/// The request path never touches the disk: events go through a bounded queue to a writer
/// thread. Keep the [`AuditFileGuard`] alive as long as the subscriber; dropping it flushes
/// the queue and the file.
#[derive(Debug)]
pub struct AuditFileLayer {
    tx: SyncSender<Msg>,
    dropped: Arc<AtomicU64>,
    targets: Vec<String>,
    block: bool,
}

impl AuditFileLayer {
    /// Options: queue capacity, blocking, extra targets, anchors.
    pub fn builder() -> AuditFileLayerBuilder {
        AuditFileLayerBuilder {
            capacity: DEFAULT_CAPACITY,
            block: false,
            targets: vec![crate::audit::TARGET.to_owned()],
            anchor_every: DEFAULT_ANCHOR_EVERY,
        }
    }

    /// The layer with default options, writing through `writer`.
    pub fn spawn(writer: ChainWriter) -> io::Result<(Self, AuditFileGuard)> {
        Self::builder().spawn(writer)
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for AuditFileLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let meta = event.metadata();
        // The anchor target is never recorded: it would feed the writer its own output.
        if meta.target() == ANCHOR_TARGET || !self.targets.iter().any(|t| t == meta.target()) {
            return;
        }
        // Formatted here, straight into one string: no map, no string per field.
        let mut json = String::with_capacity(512);
        json.push_str("{\"target\":");
        let _ = crate::audit::json::string(&mut json, meta.target());
        json.push_str(",\"level\":\"");
        json.push_str(meta.level().as_str());
        json.push('"');
        let mut fields = crate::audit::json::JsonFields::new(&mut json, true);
        event.record(&mut fields);
        if fields.result.is_err() {
            // Writing to a String cannot fail; a Debug impl that errors is counted as a drop.
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        json.push('}');
        let msg = Msg::Record(SystemTime::now(), json);
        let sent = if self.block {
            self.tx.send(msg).is_ok()
        } else {
            match self.tx.try_send(msg) {
                Ok(()) => true,
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
            }
        };
        if !sent {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Stops the writer thread when dropped, after writing what was queued, and syncs the file.
#[derive(Debug)]
pub struct AuditFileGuard {
    tx: SyncSender<Msg>,
    thread: Option<JoinHandle<()>>,
    dropped: Arc<AtomicU64>,
}

impl AuditFileGuard {
    /// Waits until every record queued before this call is handed to the OS, and returns the
    /// chain's head. Fails if a write failed (the writer then stops recording).
    pub fn flush(&self) -> io::Result<Head> {
        let (ack, done) = mpsc::channel();
        self.tx
            .send(Msg::Flush(ack))
            .map_err(|_| io::Error::other("audit file writer stopped"))?;
        done.recv()
            .map_err(|_| io::Error::other("audit file writer stopped"))?
    }

    /// Records dropped because the queue was full and not yet written as a `dropped` record.
    pub fn pending_dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl Drop for AuditFileGuard {
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn write_loop(mut w: ChainWriter, rx: Receiver<Msg>, dropped: &AtomicU64, every: u64) {
    let mut error: Option<io::Error> = None;
    let mut since_anchor = 0u64;
    let record_gap = |w: &mut ChainWriter, error: &mut Option<io::Error>| {
        let n = dropped.swap(0, Ordering::Relaxed);
        if n > 0 && error.is_none() {
            let gap = serde_json::json!({ "audit_file": "dropped", "count": n });
            if let Err(e) = w.append(&gap) {
                dropped.fetch_add(n, Ordering::Relaxed);
                *error = Some(e);
            }
        }
    };
    loop {
        let msg = match rx.try_recv() {
            Ok(m) => m,
            Err(TryRecvError::Empty) => {
                // Idle: hand the buffer to the OS before sleeping.
                if error.is_none()
                    && let Err(e) = w.flush()
                {
                    error = Some(e);
                }
                match rx.recv() {
                    Ok(m) => m,
                    Err(_) => break,
                }
            }
            Err(TryRecvError::Disconnected) => break,
        };
        record_gap(&mut w, &mut error);
        match msg {
            Msg::Record(at, json) => {
                if error.is_some() {
                    dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                match w.append_json_at(at, &json) {
                    Ok(head) => {
                        since_anchor += 1;
                        if every > 0 && since_anchor >= every {
                            since_anchor = 0;
                            anchor(head, &w);
                        }
                    }
                    Err(e) => {
                        tracing::error!(target: ANCHOR_TARGET, error = %e, "audit file write failed; recording stopped");
                        dropped.fetch_add(1, Ordering::Relaxed);
                        error = Some(e);
                    }
                }
            }
            Msg::Flush(ack) => {
                let r = match &error {
                    Some(e) => Err(io::Error::new(e.kind(), e.to_string())),
                    None => w.flush().map(|()| w.head()),
                };
                let _ = ack.send(r);
            }
            Msg::Shutdown => break,
        }
    }
    record_gap(&mut w, &mut error);
    // The last signed checkpoint goes in before the last anchor, so the anchor covers it.
    if error.is_none() && w.checkpoint().is_ok() && w.sync().is_ok() {
        anchor(w.head(), &w);
    }
}

fn anchor(head: Head, w: &ChainWriter) {
    tracing::info!(
        target: ANCHOR_TARGET,
        seq = head.seq,
        hash = %head.hash_hex(),
        file = %w.path().display(),
        "audit chain head"
    );
}
