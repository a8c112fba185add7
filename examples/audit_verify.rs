//! Verifies a tamper-evident audit file and its rotated predecessors.
//!
//! ```text
//! cargo run --example audit_verify --features audit-file -- /var/log/agent/audit.jsonl \
//!     --key-file /etc/agent/audit.key --anchor 81234:9f86d0... \
//!     --checkpoint-key 3b6a27bc... --require-signed
//! ```
//!
//! Prints `ok: N records in F files, last seq S, last hash H` and exits 0, or names the first
//! bad record (`FILE:LINE: record seq S: what`) and exits 1; 2 when a file cannot be read.

use std::path::PathBuf;
use std::process::ExitCode;

use a2a_guard::audit_file::{
    ChainKey, CheckpointPublicKey, Head, Verifier, VerifyError, chain_files,
};
use clap::Parser;

#[derive(Parser)]
#[command(about = "Verify an a2a-guard audit chain: FILE and its rotated FILE.<seq> files")]
struct Args {
    /// The active audit file; its rotated `FILE.<20 digits>` siblings are checked first.
    file: PathBuf,
    /// The chain is keyed: HMAC-SHA256 under this key file.
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Check signed checkpoints with this Ed25519 public key (64 hex digits).
    #[arg(long)]
    checkpoint_key: Option<CheckpointPublicKey>,
    /// Every record must be covered by a signed checkpoint after it.
    #[arg(long, requires = "checkpoint_key")]
    require_signed: bool,
    /// A head published elsewhere (`SEQ:HASH`, from a checkpoint event): the chain must
    /// contain it. The only way to detect a cut-off tail. Repeatable.
    #[arg(long)]
    anchor: Vec<Head>,
    /// The oldest files were deleted; the chain resumes after this head (`SEQ:HASH`).
    #[arg(long, conflicts_with = "any_start")]
    start_after: Option<Head>,
    /// Accept whatever record the oldest file begins with.
    #[arg(long)]
    any_start: bool,
    /// Check FILE alone, without its rotated siblings.
    #[arg(long)]
    only: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut v = Verifier::new();
    if let Some(k) = &args.key_file {
        match ChainKey::from_file(k) {
            Ok(key) => v = v.key(&key),
            Err(e) => {
                eprintln!("{}: {e}", k.display());
                return ExitCode::from(2);
            }
        }
    }
    if let Some(k) = args.checkpoint_key {
        v = v.checkpoint_key(k);
    }
    if args.require_signed {
        v = v.require_signed();
    }
    for a in args.anchor {
        v = v.anchor(a);
    }
    if let Some(h) = args.start_after {
        v = v.start_after(h);
    }
    if args.any_start {
        v = v.any_start();
    }
    let files = if args.only {
        vec![args.file.clone()]
    } else {
        match chain_files(&args.file) {
            Ok(f) if !f.is_empty() => f,
            Ok(_) => {
                eprintln!("{}: no such audit file", args.file.display());
                return ExitCode::from(2);
            }
            Err(e) => {
                eprintln!("{}: {e}", args.file.display());
                return ExitCode::from(2);
            }
        }
    };
    match v.verify(&files) {
        Ok(s) => {
            let (seq, hash) = s.last.map_or(("-".to_owned(), "-".to_owned()), |h| {
                (h.seq.to_string(), h.hash_hex())
            });
            let signed = s
                .signed
                .map(|h| format!(", signed through seq {}", h.seq))
                .unwrap_or_default();
            println!(
                "ok: {} records in {} files, last seq {seq}, last hash {hash}{signed}",
                s.records, s.files
            );
            ExitCode::SUCCESS
        }
        Err(e @ VerifyError::Bad(_)) => {
            println!("bad: {e}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}
