//! [`ChainWriter`]: appending, resuming, rotating; the chain's files.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::format::{GENESIS, Head, parse_body, push_hex, split_line};
use super::key::{ChainKey, CheckpointKey, Tagger};

/// Digits of the first sequence number in a rotated file's name (`audit.jsonl.00000000000000001234`).
const ROTATED_DIGITS: usize = 20;

/// The name a file takes when rotated away: `FILE.<first seq, 20 digits>`, so names sort in
/// chain order.
fn rotated_path(active: &Path, first_seq: u64) -> PathBuf {
    let mut name = active.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{first_seq:0width$}", width = ROTATED_DIGITS));
    active.with_file_name(name)
}

/// The files of the chain whose active file is `active`, oldest first: the rotated
/// `FILE.<20 digits>` files in sequence order, then `FILE` itself if it exists.
pub fn chain_files(active: impl AsRef<Path>) -> io::Result<Vec<PathBuf>> {
    let active = active.as_ref();
    let name = active.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "audit file name must be UTF-8")
    })?;
    let dir = match active.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut rotated = Vec::new();
    for entry in fs::read_dir(&dir)? {
        let entry = entry?;
        let file_name = entry.file_name();
        let Some(rest) = file_name
            .to_str()
            .and_then(|n| n.strip_prefix(name))
            .and_then(|r| r.strip_prefix('.'))
        else {
            continue;
        };
        if rest.len() == ROTATED_DIGITS && rest.bytes().all(|b| b.is_ascii_digit()) {
            rotated.push((
                rest.parse::<u64>().unwrap_or(u64::MAX),
                active.with_file_name(&file_name),
            ));
        }
    }
    rotated.sort();
    let mut files: Vec<PathBuf> = rotated.into_iter().map(|(_, p)| p).collect();
    if active.exists() {
        files.push(active.to_path_buf());
    }
    Ok(files)
}

pub(crate) fn create_file(path: &Path, new: bool) -> io::Result<File> {
    let mut o = OpenOptions::new();
    if new {
        o.write(true).create_new(true);
    } else {
        o.append(true).create(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

/// An exclusive advisory lock (`flock`) held while the writer lives; on other platforms, none.
fn lock(file: &File, path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use rustix::fs::{FlockOperation, flock};
        flock(file, FlockOperation::NonBlockingLockExclusive).map_err(|e| {
            if e == rustix::io::Errno::WOULDBLOCK {
                io::Error::new(
                    io::ErrorKind::WouldBlock,
                    format!("{}: another writer holds this audit file", path.display()),
                )
            } else {
                io::Error::from(e)
            }
        })?;
    }
    #[cfg(not(unix))]
    let _ = (file, path);
    Ok(())
}

fn invalid(path: &Path, what: impl fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {what}", path.display()),
    )
}

/// The first and last record of a non-empty file (the first only for its `seq`).
struct Ends {
    first_seq: u64,
    last: Head,
}

/// Reads the first line and the last complete line of `path`; `None` for an empty file.
fn read_ends(path: &Path, tagger: &Tagger) -> io::Result<Option<Ends>> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    if len == 0 {
        return Ok(None);
    }
    let mut scratch = Vec::new();
    let mut first = Vec::new();
    BufReader::new(&mut f).read_until(b'\n', &mut first)?;
    let first_seq = split_line(first.strip_suffix(b"\n").unwrap_or(&first))
        .and_then(|l| parse_body(l.body, &mut scratch).map(|(f, _)| f.seq))
        .ok_or_else(|| invalid(path, "first line is not an audit chain record; run verify"))?;
    // The last line: read backwards in growing windows until a newline precedes it.
    let mut window = 64 * 1024u64;
    let tail = loop {
        let start = len.saturating_sub(window);
        f.seek(SeekFrom::Start(start))?;
        let mut buf = Vec::with_capacity((len - start) as usize);
        Read::by_ref(&mut f)
            .take(len - start)
            .read_to_end(&mut buf)?;
        if buf.last() != Some(&b'\n') {
            return Err(invalid(
                path,
                "ends inside a record (a crash or a truncation); run verify, then move the file aside",
            ));
        }
        let body = &buf[..buf.len() - 1];
        match body.iter().rposition(|&b| b == b'\n') {
            Some(i) => break body[i + 1..].to_vec(),
            None if start == 0 => break body.to_vec(),
            None => window *= 4,
        }
    };
    let line = split_line(&tail)
        .ok_or_else(|| invalid(path, "last line is not an audit chain record; run verify"))?;
    let (fields, _) = parse_body(line.body, &mut scratch)
        .ok_or_else(|| invalid(path, "last line is not an audit chain record; run verify"))?;
    if !tagger.check(line.body, &line.hash) {
        return Err(invalid(
            path,
            format_args!(
                "last record does not verify as {} (another key, or the file was altered); run verify",
                tagger.mode()
            ),
        ));
    }
    Ok(Some(Ends {
        first_seq,
        last: Head {
            seq: fields.seq,
            hash: line.hash,
        },
    }))
}

/// Options of [`ChainWriter::open`]; from [`ChainWriter::builder`].
#[derive(Debug)]
pub struct ChainWriterBuilder {
    path: PathBuf,
    key: Option<ChainKey>,
    rotate_at: Option<u64>,
    signer: Option<CheckpointKey>,
    sign_every: u64,
}

impl ChainWriterBuilder {
    /// Keys the chain with HMAC-SHA256 (default: unkeyed SHA-256, which anyone who can write
    /// the file can recompute — see the module docs).
    pub fn key(mut self, key: ChainKey) -> Self {
        self.key = Some(key);
        self
    }

    /// Rotates the file before a record would take it past `bytes` (default: never). The
    /// active file is renamed `FILE.<its first seq, 20 digits>` and a new `FILE` continues
    /// the chain: its first record's `prev` is the last hash of the old one. With
    /// [`sign_checkpoints`](Self::sign_checkpoints), the old file first gets a checkpoint
    /// (which may take it past `bytes` by that one record), so it verifies on its own.
    pub fn rotate_at(mut self, bytes: u64) -> Self {
        self.rotate_at = Some(bytes.max(1));
        self
    }

    /// Appends a signed checkpoint after every `records` records (0: only when the writer is
    /// dropped or [`ChainWriter::checkpoint`] is called) and when the writer is dropped: a
    /// record `{"audit_file":"checkpoint","alg":"Ed25519","sig":"<hex>"}` whose signature
    /// covers the record before it (the checkpoint's own `seq` − 1 and `prev`), so everything
    /// up to there verifies with [`CheckpointKey::public_key`] alone — which cannot forge.
    pub fn sign_checkpoints(mut self, key: CheckpointKey, records: u64) -> Self {
        self.signer = Some(key);
        self.sign_every = records;
        self
    }

    /// Opens the active file and continues its chain (or the newest rotated file's, or starts
    /// a new one), then appends a `start` or `resume` record.
    ///
    /// Fails, rather than fork the chain, when the file's last line is partial or is not a
    /// record that verifies under this key.
    pub fn open(self) -> io::Result<ChainWriter> {
        let tagger = Tagger::new(self.key.as_ref());
        // Locked before the tail is read: a second writer would fork the chain.
        let file = create_file(&self.path, false)?;
        lock(&file, &self.path)?;
        let files = chain_files(&self.path)?;
        let mut state = None;
        for file in files.iter().rev() {
            if let Some(ends) = read_ends(file, &tagger)? {
                let in_active = *file == self.path;
                state = Some((ends, in_active));
                break;
            }
        }
        let (next_seq, prev, file_first_seq, resumed) = match state {
            None => (0, GENESIS, 0, false),
            Some((ends, true)) => (next(ends.last.seq)?, ends.last.hash, ends.first_seq, true),
            Some((ends, false)) => {
                let seq = next(ends.last.seq)?;
                (seq, ends.last.hash, seq, true)
            }
        };
        let file_bytes = file.metadata()?.len();
        let mut w = ChainWriter {
            path: self.path,
            file: BufWriter::with_capacity(64 * 1024, file),
            tagger,
            next_seq,
            prev,
            file_bytes,
            file_first_seq,
            rotate_at: self.rotate_at,
            line: Vec::with_capacity(1024),
            event_json: Vec::with_capacity(1024),
            failed: false,
            signer: self.signer,
            sign_every: self.sign_every,
            unsigned: 0,
        };
        let what = if resumed { "resume" } else { "start" };
        w.append(&serde_json::json!({ "audit_file": what, "mode": w.tagger.mode() }))?;
        Ok(w)
    }
}

/// What a record is, for rotation: a checkpoint stays in the file it signs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Event,
    Checkpoint,
}

fn next(seq: u64) -> io::Result<u64> {
    seq.checked_add(1)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "audit chain sequence exhausted"))
}

/// Appends hash-chained JSON lines to a file, rotating it by size.
///
/// Each line is `{"seq":N,"ts":"<RFC 3339>","prev":"<hex>","event":<JSON>,"hash":"<hex>"}`;
/// `hash` is SHA-256 (or HMAC-SHA256 under a [`ChainKey`]) of the line's exact bytes from
/// `{` up to, not including, `,"hash"`. `prev` is the previous record's `hash` (zeros for
/// seq 0), and `seq` counts up by one across rotated files.
///
/// One writer per chain: on unix the active file is `flock`ed while the writer lives, and a
/// second writer (another process, or the same one) fails at open rather than fork the chain.
/// Writes go through a 64 KiB buffer: call [`flush`](Self::flush) to hand them to the OS
/// (dropping the writer flushes and syncs). After a failed write the writer refuses further
/// records, since the file may now end inside one.
#[derive(Debug)]
pub struct ChainWriter {
    path: PathBuf,
    file: BufWriter<File>,
    tagger: Tagger,
    next_seq: u64,
    prev: [u8; 32],
    file_bytes: u64,
    file_first_seq: u64,
    rotate_at: Option<u64>,
    line: Vec<u8>,
    event_json: Vec<u8>,
    failed: bool,
    signer: Option<CheckpointKey>,
    sign_every: u64,
    /// Records since the last checkpoint.
    unsigned: u64,
}

impl ChainWriter {
    /// Options: key, rotation.
    pub fn builder(path: impl Into<PathBuf>) -> ChainWriterBuilder {
        ChainWriterBuilder {
            path: path.into(),
            key: None,
            rotate_at: None,
            signer: None,
            sign_every: 0,
        }
    }

    /// An unkeyed chain at `path` without rotation: `ChainWriter::builder(path).open()`.
    pub fn open(path: impl Into<PathBuf>) -> io::Result<Self> {
        Self::builder(path).open()
    }

    /// Appends `event` (any JSON value) timestamped now.
    pub fn append<E: serde::Serialize + ?Sized>(&mut self, event: &E) -> io::Result<Head> {
        self.append_at(SystemTime::now(), event)
    }

    /// Appends `event` with the time it happened.
    pub fn append_at<E: serde::Serialize + ?Sized>(
        &mut self,
        at: SystemTime,
        event: &E,
    ) -> io::Result<Head> {
        let head = self.write_record(at, event, Kind::Event)?;
        self.event_written()?;
        Ok(head)
    }

    /// Appends a signed checkpoint covering the last record, if there is a signing key and a
    /// record since the last checkpoint; returns the head it signed.
    pub fn checkpoint(&mut self) -> io::Result<Option<Head>> {
        let Some(signer) = &self.signer else {
            return Ok(None);
        };
        if self.unsigned == 0 {
            return Ok(None);
        }
        let head = self.head();
        let mut sig = Vec::with_capacity(128);
        push_hex(&mut sig, &signer.sign(&head));
        let sig = String::from_utf8(sig).expect("hex is ASCII");
        // Fields in this order: verifiers look for `"event":{"audit_file":"checkpoint"`.
        #[derive(serde::Serialize)]
        struct Checkpoint<'a> {
            audit_file: &'static str,
            alg: &'static str,
            sig: &'a str,
        }
        let event = Checkpoint {
            audit_file: "checkpoint",
            alg: "Ed25519",
            sig: &sig,
        };
        self.write_record(SystemTime::now(), &event, Kind::Checkpoint)?;
        self.unsigned = 0;
        Ok(Some(head))
    }

    /// [`append_at`](Self::append_at) for an event already serialised as one JSON object
    /// (the layer formats events on the caller's thread). `json` must be valid JSON: it goes
    /// into the line as it is.
    pub(crate) fn append_json_at(&mut self, at: SystemTime, json: &str) -> io::Result<Head> {
        let head = self.write_record_with(at, Kind::Event, |buf| {
            buf.extend_from_slice(json.as_bytes());
            Ok(())
        })?;
        self.event_written()?;
        Ok(head)
    }

    /// Counts an event record; signs a checkpoint when one is due.
    fn event_written(&mut self) -> io::Result<()> {
        self.unsigned += 1;
        if self.signer.is_some() && self.sign_every > 0 && self.unsigned >= self.sign_every {
            self.checkpoint()?;
        }
        Ok(())
    }

    fn write_record<E: serde::Serialize + ?Sized>(
        &mut self,
        at: SystemTime,
        event: &E,
        kind: Kind,
    ) -> io::Result<Head> {
        self.write_record_with(at, kind, |buf| {
            serde_json::to_writer(buf, event).map_err(io::Error::from)
        })
    }

    fn write_record_with(
        &mut self,
        at: SystemTime,
        kind: Kind,
        serialise: impl FnOnce(&mut Vec<u8>) -> io::Result<()>,
    ) -> io::Result<Head> {
        if self.failed {
            return Err(io::Error::other(
                "an earlier write to the audit file failed; reopen it to continue the chain",
            ));
        }
        let ts = jiff::Timestamp::try_from(at).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        // Serialised before anything reaches the file: a failure here leaves the chain intact.
        let mut event_json = std::mem::take(&mut self.event_json);
        event_json.clear();
        let serialised = serialise(&mut event_json);
        let result = serialised.and_then(|()| {
            let mut hash = self.build_line(ts, &event_json);
            let mut rotate = kind == Kind::Event && self.rotation_due();
            if rotate && self.signer.is_some() && self.unsigned > 0 {
                // The file about to be rotated away ends with a signed checkpoint, so it can
                // be archived and verified on its own.
                self.checkpoint()?;
                hash = self.build_line(ts, &event_json);
                rotate = self.rotation_due();
            }
            self.commit_line(hash, rotate)
        });
        self.event_json = event_json;
        result
    }

    /// Builds `self.line` for the next record; returns its hash.
    fn build_line(&mut self, ts: jiff::Timestamp, event_json: &[u8]) -> [u8; 32] {
        let seq = self.next_seq;
        let line = &mut self.line;
        line.clear();
        write!(line, "{{\"seq\":{seq},\"ts\":\"{ts:.6}\",\"prev\":\"").expect("writes to a Vec");
        push_hex(line, &self.prev);
        line.extend_from_slice(b"\",\"event\":");
        line.extend_from_slice(event_json);
        let hash = self.tagger.tag(line);
        line.extend_from_slice(b",\"hash\":\"");
        push_hex(line, &hash);
        line.extend_from_slice(b"\"}\n");
        hash
    }

    fn rotation_due(&self) -> bool {
        let len = self.line.len() as u64;
        self.rotate_at
            .is_some_and(|max| self.file_bytes > 0 && self.file_bytes + len > max)
    }

    /// Writes `self.line` (rotating first if asked) and moves the chain on.
    fn commit_line(&mut self, hash: [u8; 32], rotate: bool) -> io::Result<Head> {
        let result = (|| {
            if rotate {
                self.rotate()?;
            }
            self.file.write_all(&self.line)
        })();
        if let Err(e) = result {
            self.failed = true;
            return Err(e);
        }
        let seq = self.next_seq;
        self.file_bytes += self.line.len() as u64;
        self.prev = hash;
        self.next_seq = next(seq)?;
        Ok(Head { seq, hash })
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file.flush()?;
        self.file.get_ref().sync_data()?;
        let to = rotated_path(&self.path, self.file_first_seq);
        if to.exists() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{}: exists; a rotated audit file is never overwritten",
                    to.display()
                ),
            ));
        }
        fs::rename(&self.path, &to)?;
        let file = create_file(&self.path, true)?;
        lock(&file, &self.path)?;
        self.file = BufWriter::with_capacity(64 * 1024, file);
        self.file_bytes = 0;
        self.file_first_seq = self.next_seq;
        Ok(())
    }

    /// The last record written (after [`open`](ChainWriterBuilder::open) there always is one).
    pub fn head(&self) -> Head {
        Head {
            seq: self.next_seq - 1,
            hash: self.prev,
        }
    }

    /// The active file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Hands buffered records to the OS.
    pub fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }

    /// Flushes and asks the OS to put the records on disk (`fdatasync`).
    pub fn sync(&mut self) -> io::Result<()> {
        self.file.flush()?;
        self.file.get_ref().sync_data()
    }
}

impl Drop for ChainWriter {
    fn drop(&mut self) {
        if !self.failed {
            let _ = self.checkpoint();
            let _ = self.sync();
        }
    }
}
