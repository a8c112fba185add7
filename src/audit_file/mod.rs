//! A tamper-evident audit file (feature `audit-file`): hash-chained JSON lines, signed
//! checkpoints, rotation by size, and [`verify`], which names the first altered, inserted,
//! removed or reordered record.
//!
//! ```no_run
//! use a2a_guard::audit_file::{AuditFileLayer, ChainKey, ChainWriter, CheckpointKey, Verifier, chain_files};
//! use tracing_subscriber::prelude::*;
//!
//! # fn main() -> std::io::Result<()> {
//! // Once: keys the service can read and the file's other writers cannot (0600, own volume).
//! // ChainKey::generate().write_new("/etc/agent/audit.key")?;
//! // CheckpointKey::generate().write_new("/etc/agent/audit-signing.pk8")?;
//! let key = ChainKey::from_file("/etc/agent/audit.key")?;
//! let signer = CheckpointKey::from_file("/etc/agent/audit-signing.pk8")?;
//! let public = signer.public_key(); // give this to auditors
//! let writer = ChainWriter::builder("/var/log/agent/audit.jsonl")
//!     .key(key.clone())
//!     .sign_checkpoints(signer, 1000) // a signed checkpoint every 1000 records and at close
//!     .rotate_at(64 << 20) // audit.jsonl.00000000000000012345 when it would pass 64 MiB
//!     .open()?;
//! let (audit, guard) = AuditFileLayer::spawn(writer)?;
//! tracing_subscriber::registry().with(audit).init();
//! // ... serve; every `a2a_guard::audit` decision is one record. Keep `guard` alive:
//! // dropping it writes what is queued, signs a last checkpoint and syncs the file.
//! drop(guard);
//!
//! // Later (or `cargo run --example audit_verify --features audit-file -- FILE --key-file K`):
//! let files = chain_files("/var/log/agent/audit.jsonl")?;
//! match Verifier::new().key(&key).checkpoint_key(public).require_signed().verify(&files) {
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
//! records carry `"event":{"audit_file":...}` (a reserved key): `start` (seq 0, with the
//! `mode`), `resume` (each reopen: restarts are on record), `dropped` with a `count` (records
//! the [`AuditFileLayer`] lost to a full queue, so the gap is itself on record), and
//! `checkpoint`.
//!
//! A signed checkpoint ([`ChainWriterBuilder::sign_checkpoints`]) is a record
//! `"event":{"audit_file":"checkpoint","alg":"Ed25519","sig":"<128 hex>"}` whose signature
//! covers the record before it: `"a2a-guard audit checkpoint v1\0"`, then that record's `seq`
//! (8 bytes, big-endian) and `hash` (32 bytes) — its own `seq − 1` and `prev`. Since each hash
//! commits to every record before it, one signature covers the whole chain up to there.
//!
//! Rotation renames the active `FILE` to `FILE.<its first seq, 20 digits>` (names sort in
//! chain order, nothing is renamed twice, a rotated file is never overwritten) and opens a new
//! `FILE` whose first record links to the old file's last. [`chain_files`] lists them in order;
//! a missing file shows as a gap. Reopening continues the chain from the newest file's last
//! record, after checking that record under the configured key (a wrong key fails at open
//! rather than forking the chain); a file whose last line is partial is refused at open, and
//! on unix the active file is `flock`ed so a second writer is refused too.
//!
//! # What it protects against, and what not
//!
//! "They" below can write the files but not read the keys.
//!
//! | attack or accident | unkeyed (SHA-256) | keyed (HMAC-SHA256) | signed checkpoints (Ed25519) |
//! |---|---|---|---|
//! | a byte changed by accident, a bad disk, a naive edit, a deleted, pasted or swapped line, a missing middle file | detected at that record | detected at that record | (the chain detects it) |
//! | they change records and recompute the hashes after them | **not detected**: anyone can recompute an unkeyed chain | detected at the first changed record | detected at the next checkpoint (its signature fails); records after the last checkpoint only with [`require_signed`](Verifier::require_signed) (then "unsigned"), which also needs the writer to have closed cleanly |
//! | they remove records from the end (truncation, the newest file deleted — also before a restart, which resumes the chain from the last record left) | only with an [anchor](Verifier::anchor) kept elsewhere | same | same, unless the cut leaves unsigned records and `require_signed` is on |
//! | they delete the oldest files | detected (the chain must start at seq 0) unless you opt out ([`Verifier::start_after`], [`Verifier::any_start`]) | same | same |
//! | someone who can verify forges records | anyone can | **yes**: the HMAC key verifies and forges alike | **no**: the public key only verifies |
//! | whoever holds the key (the service host, once compromised) | — | **not detected**: they can rewrite everything | **not detected**: same |
//! | events never written (process killed, queue full) | lost; a full queue leaves a `dropped` record, a crash a partial line or a gap before the next `resume` | same | same |
//!
//! So: an unkeyed chain catches accidents and careless edits, not an attacker. Tamper evidence
//! needs a key kept away from whoever you suspect (another user, another volume, a secret
//! store): HMAC catches a change at its own record but whoever verifies must hold the secret
//! and could forge; signed checkpoints let auditors verify with a public key, at checkpoint
//! granularity. Truncation evidence needs the chain's head published somewhere the file's
//! writer cannot rewrite: the [`AuditFileLayer`] emits it as an event at target
//! [`ANCHOR_TARGET`] every [`DEFAULT_ANCHOR_EVERY`] records and at shutdown — route that target
//! to a different sink (syslog, a log service), and verify with `.anchor(head)`. Nothing
//! here hides the records: they are plain JSON (the crate's audit events never contain
//! tokens).
//!
//! # Throughput and durability
//!
//! The layer queues records ([`DEFAULT_CAPACITY`]) for a writer thread, which appends through
//! a 64 KiB buffer and flushes whenever the queue runs empty. A full queue drops records
//! (counted, and written as a `dropped` record) unless
//! [`block_when_full`](AuditFileLayerBuilder::block_when_full) makes the request wait. The
//! file is `fdatasync`ed at rotation and at shutdown, not per record: a power loss can lose
//! the last records the OS had not written, which verify reports as a partial line or, with
//! an anchor, as truncation. Measured (BENCHMARKS.md): about a million records/s through
//! [`ChainWriter`], about 100 000 audit events/s through the layer.

mod chain;
mod format;
mod key;
mod layer;
mod verify;

pub use chain::{ChainWriter, ChainWriterBuilder, chain_files};
pub use format::{Head, ParseHeadError};
pub use key::{ChainKey, CheckpointKey, CheckpointPublicKey, MIN_KEY_LEN, ParsePublicKeyError};
pub use layer::{
    ANCHOR_TARGET, AuditFileGuard, AuditFileLayer, AuditFileLayerBuilder, DEFAULT_ANCHOR_EVERY,
    DEFAULT_CAPACITY,
};
pub use verify::{BadRecord, Tamper, Verifier, VerifyError, VerifySummary, verify};
