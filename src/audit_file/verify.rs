//! [`Verifier`]: walks the files of a chain and names the first record that breaks it.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use super::format::{GENESIS, Head, parse_body, parse_hex_sig, split_line};
use super::key::{ChainKey, CheckpointPublicKey, Tagger};

/// Checks a chain; built with [`Verifier::new`]. [`verify`] is the unkeyed default.
#[derive(Debug, Clone)]
pub struct Verifier {
    tagger: Tagger,
    start: Start,
    anchors: Vec<Head>,
    checkpoint_key: Option<CheckpointPublicKey>,
    require_signed: bool,
}

#[derive(Debug, Clone)]
enum Start {
    Genesis,
    After(Head),
    Any,
}

/// What [`Verifier::verify`] found in an intact chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifySummary {
    /// Records checked.
    pub records: u64,
    /// Files read.
    pub files: usize,
    /// The first record, if any.
    pub first: Option<Head>,
    /// The last record, if any: publish it as the next anchor.
    pub last: Option<Head>,
    /// The last record a valid signed checkpoint covers (with [`Verifier::checkpoint_key`]).
    pub signed: Option<Head>,
}

/// Where the chain breaks: the first bad record and what is wrong with it.
#[derive(Debug)]
pub struct BadRecord {
    /// The file holding it.
    pub file: PathBuf,
    /// Its line, from 1 (for [`Tamper::Truncated`], one past the last line).
    pub line: u64,
    /// The sequence number the chain expected there.
    pub expected_seq: u64,
    /// What is wrong.
    pub kind: Tamper,
}

/// What breaks the chain at a [`BadRecord`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Tamper {
    /// The file ends inside a record: truncated mid-line, or a crash during a write.
    Partial,
    /// The line is not a chain record (not JSON of the record's shape, or no `hash`).
    Malformed,
    /// The record's bytes do not match its `hash`: it was changed after it was written.
    Altered,
    /// A verifier without a key met a `start`/`resume` record that declares a keyed chain
    /// (`written` is `hmac-sha256`) and does not verify unkeyed: pass the key. (A verifier
    /// with a key never reports this: a record claiming to be unkeyed is [`Tamper::Altered`].)
    WrongMode {
        /// The mode the record declares.
        written: String,
    },
    /// `seq` is ahead of the expected one: records before it were removed, or it was moved
    /// up (two records swapped).
    Gap {
        /// The `seq` found.
        found: u64,
    },
    /// `seq` is behind the expected one: a record inserted, repeated, or moved down.
    Behind {
        /// The `seq` found.
        found: u64,
    },
    /// `seq` is right but `prev` is not the previous record's hash: the record was replaced,
    /// or inserted with a recomputed hash (possible only in an unkeyed chain).
    BrokenLink,
    /// The first record is not the chain's start (seq 0 after zeros) nor the configured
    /// starting point: the oldest files or records are missing.
    MissingStart {
        /// The `seq` found.
        found: u64,
    },
    /// The record at an anchor's `seq` has another hash.
    AnchorMismatch {
        /// The anchor.
        anchor: Head,
    },
    /// The chain ends before an anchor's `seq`: its tail was cut off.
    Truncated {
        /// The anchor that is missing.
        anchor: Head,
    },
    /// A checkpoint record whose signature does not verify under the checkpoint key: the
    /// records before it were changed (and re-chained), or it was signed by another key.
    BadSignature,
    /// With [`Verifier::require_signed`]: the first record no signed checkpoint covers.
    Unsigned,
}

impl fmt::Display for Tamper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Partial => f.write_str("the file ends inside a record (truncated mid-line)"),
            Self::Malformed => f.write_str("not an audit chain record"),
            Self::Altered => f.write_str("altered: the record does not match its hash"),
            Self::WrongMode { written } => write!(f, "written as {written}: pass its key"),
            Self::Gap { found } => write!(
                f,
                "seq {found} comes early: records removed or reordered before it"
            ),
            Self::Behind { found } => write!(
                f,
                "seq {found} comes late: a record inserted, repeated or reordered"
            ),
            Self::BrokenLink => {
                f.write_str("prev is not the previous record's hash: a record replaced or inserted")
            }
            Self::MissingStart { found } => {
                write!(
                    f,
                    "the chain starts at seq {found}: its beginning is missing"
                )
            }
            Self::AnchorMismatch { anchor } => write!(f, "does not match the anchor {anchor}"),
            Self::Truncated { anchor } => write!(
                f,
                "the chain ends before the anchor {anchor}: its tail was removed"
            ),
            Self::BadSignature => f.write_str(
                "checkpoint signature does not verify: the records before it were changed, or another key signed it",
            ),
            Self::Unsigned => f.write_str("no signed checkpoint covers this record or any after it"),
        }
    }
}

impl fmt::Display for BadRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: record seq {}: {}",
            self.file.display(),
            self.line,
            self.expected_seq,
            self.kind
        )
    }
}

/// The failure of [`Verifier::verify`].
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The chain is broken; the first bad record.
    #[error("{0}")]
    Bad(BadRecord),
    /// A file could not be read.
    #[error("{}: {source}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// Why.
        source: io::Error,
    },
}

impl VerifyError {
    /// The bad record, if the chain is broken (not an I/O failure).
    pub fn bad_record(&self) -> Option<&BadRecord> {
        match self {
            Self::Bad(b) => Some(b),
            Self::Io { .. } => None,
        }
    }
}

/// Verifies an unkeyed chain from its start: `Verifier::new().verify(files)`.
pub fn verify<P: AsRef<Path>>(files: &[P]) -> Result<VerifySummary, VerifyError> {
    Verifier::new().verify(files)
}

impl Default for Verifier {
    fn default() -> Self {
        Self::new()
    }
}

impl Verifier {
    /// Unkeyed (SHA-256), from the chain's start (seq 0), no anchors.
    pub fn new() -> Self {
        Self {
            tagger: Tagger::new(None),
            start: Start::Genesis,
            anchors: Vec::new(),
            checkpoint_key: None,
            require_signed: false,
        }
    }

    /// Checks every signed checkpoint record with this public key (without it, checkpoint
    /// records are checked as any other record: chain only).
    pub fn checkpoint_key(mut self, key: CheckpointPublicKey) -> Self {
        self.checkpoint_key = Some(key);
        self
    }

    /// Every record must be covered by a signed checkpoint after it (a writer that was
    /// dropped cleanly ends its file with one). Needs [`checkpoint_key`](Self::checkpoint_key).
    pub fn require_signed(mut self) -> Self {
        self.require_signed = true;
        self
    }

    /// The chain was written with this key: every record must carry its HMAC.
    pub fn key(mut self, key: &ChainKey) -> Self {
        self.tagger = Tagger::new(Some(key));
        self
    }

    /// The first file begins right after `head` (older files were deleted by retention, and
    /// `head` was recorded when they were).
    pub fn start_after(mut self, head: Head) -> Self {
        self.start = Start::After(head);
        self
    }

    /// Accept whatever record the first file begins with. Records removed from the
    /// beginning then go unnoticed.
    pub fn any_start(mut self) -> Self {
        self.start = Start::Any;
        self
    }

    /// The chain must contain `head`: a record with its `seq` and `hash`. An anchor published
    /// elsewhere is the only way to notice that the newest records were cut off. Repeatable.
    pub fn anchor(mut self, head: Head) -> Self {
        self.anchors.push(head);
        self
    }

    /// Checks `files` (oldest first, as [`chain_files`](super::chain_files) lists them) and
    /// returns the first bad record, or a summary of an intact chain.
    pub fn verify<P: AsRef<Path>>(&self, files: &[P]) -> Result<VerifySummary, VerifyError> {
        let (mut expected_seq, mut prev) = match &self.start {
            Start::Genesis => (Some(0), Some(GENESIS)),
            Start::After(h) => (Some(h.seq + 1), Some(h.hash)),
            Start::Any => (None, None),
        };
        let mut summary = VerifySummary {
            records: 0,
            files: 0,
            first: None,
            last: None,
            signed: None,
        };
        // The first record no checkpoint covers yet: (file, line, seq).
        let mut unsigned: Option<(PathBuf, u64, u64)> = None;
        let mut line = Vec::with_capacity(1024);
        let mut scratch = Vec::with_capacity(1024);
        let mut at = (PathBuf::new(), 0u64);
        for file in files {
            let file = file.as_ref();
            let io_err = |source| VerifyError::Io {
                file: file.to_path_buf(),
                source,
            };
            let mut r = BufReader::with_capacity(64 * 1024, File::open(file).map_err(io_err)?);
            summary.files += 1;
            let mut n = 0u64;
            loop {
                line.clear();
                if r.read_until(b'\n', &mut line).map_err(io_err)? == 0 {
                    break;
                }
                n += 1;
                let want = expected_seq.unwrap_or(0);
                let bad = |kind| {
                    VerifyError::Bad(BadRecord {
                        file: file.to_path_buf(),
                        line: n,
                        expected_seq: want,
                        kind,
                    })
                };
                let Some(content) = line.strip_suffix(b"\n") else {
                    return Err(bad(Tamper::Partial));
                };
                let Some(rec) = split_line(content) else {
                    return Err(bad(Tamper::Malformed));
                };
                let Some((fields, rec_prev)) = parse_body(rec.body, &mut scratch) else {
                    return Err(bad(Tamper::Malformed));
                };
                let seq = fields.seq;
                if !self.tagger.check(rec.body, &rec.hash) {
                    // Only a verifier without a key hints at the other mode: with a key, a
                    // record claiming to be unkeyed is just altered (else an attacker who
                    // rewrote the chain unkeyed would be told "verify without a key").
                    let keyless = matches!(self.tagger, Tagger::Sha256);
                    return Err(bad(match declared_mode(rec.body) {
                        Some(m) if keyless && m == "hmac-sha256" => {
                            Tamper::WrongMode { written: m }
                        }
                        _ => Tamper::Altered,
                    }));
                }
                // With any_start, the first record defines where the chain begins.
                if let (Some(want), Some(p)) = (expected_seq, prev) {
                    if seq > want {
                        return Err(bad(if summary.records == 0 && self.starts_at_genesis() {
                            Tamper::MissingStart { found: seq }
                        } else {
                            Tamper::Gap { found: seq }
                        }));
                    }
                    if seq < want {
                        return Err(bad(Tamper::Behind { found: seq }));
                    }
                    if rec_prev != p {
                        return Err(bad(if summary.records == 0 {
                            Tamper::MissingStart { found: seq }
                        } else {
                            Tamper::BrokenLink
                        }));
                    }
                }
                if let Some(key) = &self.checkpoint_key
                    && let Some(sig) = checkpoint_signature(rec.body)
                {
                    // A checkpoint signs the record before it: its own seq - 1 and prev.
                    let covered = Head {
                        seq: seq.wrapping_sub(1),
                        hash: rec_prev,
                    };
                    if seq == 0 || !sig.is_some_and(|sig| key.verify(&covered, &sig)) {
                        return Err(bad(Tamper::BadSignature));
                    }
                    summary.signed = Some(covered);
                    unsigned = None;
                } else if unsigned.is_none() {
                    unsigned = Some((file.to_path_buf(), n, seq));
                }
                let head = Head {
                    seq,
                    hash: rec.hash,
                };
                if let Some(a) = self
                    .anchors
                    .iter()
                    .find(|a| a.seq == seq && a.hash != rec.hash)
                {
                    return Err(bad(Tamper::AnchorMismatch { anchor: *a }));
                }
                summary.first.get_or_insert(head);
                summary.last = Some(head);
                summary.records += 1;
                expected_seq = Some(seq.checked_add(1).ok_or_else(|| bad(Tamper::Malformed))?);
                prev = Some(rec.hash);
            }
            at = (file.to_path_buf(), n + 1);
        }
        let last_seq = summary.last.map(|h| h.seq);
        if let Some(a) = self
            .anchors
            .iter()
            .find(|a| last_seq.is_none_or(|l| l < a.seq))
        {
            return Err(VerifyError::Bad(BadRecord {
                file: at.0,
                line: at.1,
                expected_seq: expected_seq.unwrap_or(0),
                kind: Tamper::Truncated { anchor: *a },
            }));
        }
        if self.require_signed {
            // Without a checkpoint key nothing counts as signed.
            let first_unsigned = match (&self.checkpoint_key, unsigned) {
                (Some(_), u) => u,
                (None, _) => summary
                    .first
                    .map(|h| (files[0].as_ref().to_path_buf(), 1, h.seq)),
            };
            if let Some((file, line, seq)) = first_unsigned {
                return Err(VerifyError::Bad(BadRecord {
                    file,
                    line,
                    expected_seq: seq,
                    kind: Tamper::Unsigned,
                }));
            }
        }
        Ok(summary)
    }

    fn starts_at_genesis(&self) -> bool {
        matches!(self.start, Start::Genesis)
    }
}

/// For a checkpoint record: `Some(signature)` (`None` inside when it is not 128 hex digits
/// of an Ed25519 signature); `None` for any other record.
fn checkpoint_signature(body: &[u8]) -> Option<Option<[u8; 64]>> {
    #[derive(serde::Deserialize)]
    struct Rec {
        event: Marker,
    }
    #[derive(serde::Deserialize)]
    struct Marker {
        audit_file: Option<String>,
        alg: Option<String>,
        sig: Option<String>,
    }
    // Cheap test first: the writer's checkpoint event starts this way.
    let needle = br#""event":{"audit_file":"checkpoint""#;
    if !body.windows(needle.len()).any(|w| w == needle) {
        return None;
    }
    let mut v = body.to_vec();
    v.push(b'}');
    let rec: Rec = serde_json::from_slice(&v).ok()?;
    if rec.event.audit_file.as_deref() != Some("checkpoint") {
        return None;
    }
    Some(match (rec.event.alg.as_deref(), rec.event.sig) {
        (Some("Ed25519"), Some(sig)) => parse_hex_sig(sig.as_bytes()),
        _ => None,
    })
}

/// The `mode` a `start`/`resume` record declares, to tell a wrong key from an alteration.
fn declared_mode(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Rec {
        event: Marker,
    }
    #[derive(serde::Deserialize)]
    struct Marker {
        audit_file: String,
        mode: String,
    }
    let mut v = body.to_vec();
    v.push(b'}');
    let rec: Rec = serde_json::from_slice(&v).ok()?;
    matches!(rec.event.audit_file.as_str(), "start" | "resume").then_some(rec.event.mode)
}
