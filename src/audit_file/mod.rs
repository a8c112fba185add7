//! A tamper-evident audit file (feature `audit-file`): hash-chained JSON lines, rotation by
//! size, and [`verify`], which names the first altered, inserted, removed or reordered record.
//!
//! ```no_run
//! use a2a_guard::audit_file::{AuditFileLayer, ChainKey, ChainWriter, Verifier, chain_files};
//! use tracing_subscriber::prelude::*;
//!
//! # fn main() -> std::io::Result<()> {
//! // Once: a key the service can read and the file's other writers cannot (0600, own volume).
//! // ChainKey::generate().write_new("/etc/agent/audit.key")?;
//! let key = ChainKey::from_file("/etc/agent/audit.key")?;
//! let writer = ChainWriter::builder("/var/log/agent/audit.jsonl")
//!     .key(key.clone())
//!     .rotate_at(64 << 20) // audit.jsonl.00000000000000012345 when it would pass 64 MiB
//!     .open()?;
//! let (audit, guard) = AuditFileLayer::spawn(writer)?;
//! tracing_subscriber::registry().with(audit).init();
//! // ... serve; every `a2a_guard::audit` decision is one record. Keep `guard` alive:
//! // dropping it writes what is queued and syncs the file.
//! drop(guard);
//!
//! // Later, anywhere with the key (or `cargo run --example audit_verify -- FILE --key-file K`):
//! let files = chain_files("/var/log/agent/audit.jsonl")?;
//! match Verifier::new().key(&key).verify(&files) {
//!     Ok(s) => println!("ok: {} records, last {:?}", s.records, s.last),
//!     Err(e) => eprintln!("{e}"), // e.g. "audit.jsonl:812: record seq 811: altered: ..."
//! }
//! # Ok(()) }
//! ```
//!
//! # The format
//!
//! One record per line:
//!
//! ```text
//! {"seq":7,"ts":"2025-06-01T09:00:00.123456Z","prev":"<64 hex>","event":{...},"hash":"<64 hex>"}
//! ```
//!
//! `hash` is SHA-256 — or, with a [`ChainKey`], HMAC-SHA256 — of the line's exact bytes from
//! the opening `{` up to (not including) `,"hash"`. No re-serialisation is involved, so a
//! verifier in any language checks it with a substring and a hash. `prev` is the previous
//! record's `hash` (64 zeros before seq 0); `seq` rises by one across files. The writer's own
//! records carry `"event":{"audit_file":...}`: `start` (seq 0, with the `mode`), `resume`
//! (each reopen: restarts are on record), `dropped` with a `count` (records the
//! [`AuditFileLayer`] lost to a full queue, so the gap is itself on record).
//!
//! Rotation renames the active `FILE` to `FILE.<its first seq, 20 digits>` (names sort in
//! chain order, nothing is renamed twice, a rotated file is never overwritten) and opens a new
//! `FILE` whose first record links to the old file's last. [`chain_files`] lists them in order;
//! a missing file shows as a gap. Reopening continues the chain from the newest file's last
//! record, after checking that record under the configured key (a wrong key fails at open
//! rather than forking the chain); a file whose last line is partial is refused at open.
//!
//! # What it protects against, and what not
//!
//! | who | unkeyed (SHA-256) | keyed (HMAC-SHA256, key not readable by them) |
//! |---|---|---|
//! | a byte changed by accident, a bad disk, a naive edit, a deleted or pasted line, a missing middle file | detected at that record | detected at that record |
//! | someone who can write the file and recompute hashes | **not detected**: anyone can recompute the chain after an edit | detected: forging a record needs the key |
//! | records removed from the end (truncation, the newest file deleted — also before a restart, which then resumes the chain from the last record left) | detected only with an [anchor](Verifier::anchor) kept elsewhere | same: only with an anchor |
//! | the oldest files deleted | detected (the chain must start at seq 0) unless you opt out ([`Verifier::start_after`], [`Verifier::any_start`]) | same |
//! | whoever holds the key (the service host, once compromised) | — | **not detected**: they can rewrite everything |
//! | events never written (process killed, queue full) | lost; a full queue leaves a `dropped` record, a crash a partial line or a gap before the next `resume` | same |
//!
//! So: an unkeyed chain catches accidents and careless edits, not an attacker. Tamper evidence
//! needs the key kept away from whoever you suspect (another user, another volume, a secret
//! store), and truncation evidence needs the chain's head published somewhere the file's
//! writer cannot rewrite: the [`AuditFileLayer`] emits it as a checkpoint event at target
//! [`CHECKPOINT_TARGET`] every [`DEFAULT_CHECKPOINT_EVERY`] records and at shutdown — route
//! that target to a different sink (syslog, a log service), and verify with
//! `.anchor(last_checkpoint)`. Nothing here hides the records: they are plain JSON (the
//! crate's audit events never contain tokens).
//!
//! # Throughput and durability
//!
//! The layer queues records ([`DEFAULT_CAPACITY`]) for a writer thread, which appends through
//! a 64 KiB buffer and flushes whenever the queue runs empty. A full queue drops records
//! (counted, and written as a `dropped` record) unless
//! [`block_when_full`](AuditFileLayerBuilder::block_when_full) makes the request wait. The
//! file is `fdatasync`ed at rotation and at shutdown, not per record: a power loss can lose
//! the last records the OS had not written, which verify reports as a partial line or, with
//! an anchor, as truncation.

mod chain;
mod layer;
mod verify;

pub use chain::{
    ChainKey, ChainWriter, ChainWriterBuilder, Head, MIN_KEY_LEN, ParseHeadError, chain_files,
};
pub use layer::{
    AuditFileGuard, AuditFileLayer, AuditFileLayerBuilder, CHECKPOINT_TARGET, DEFAULT_CAPACITY,
    DEFAULT_CHECKPOINT_EVERY,
};
pub use verify::{BadRecord, Tamper, Verifier, VerifyError, VerifySummary, verify};
