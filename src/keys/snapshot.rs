//! The snapshot file: the last good JWK Set of every issuer, written atomically after each
//! successful fetch and read at start-up when an issuer cannot be reached.
//!
//! Keys read from it are trusted, so the file must be ours: it is written through a fresh
//! randomly named temporary file (created exclusively, mode 0600, never through a planted
//! name or symlink) renamed into place, and it is refused at load when it is a symlink, not
//! a regular file, not owned by the process's effective user, or writable by group or others.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Mutex;

/// The format tag; a file without it is foreign and ignored.
const FORMAT: &str = "a2a-guard-jwks-snapshot/1";

/// The largest snapshot file read (bytes).
const MAX_SNAPSHOT_BYTES: u64 = 8 * 1024 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct Entry {
    /// Where the keys came from (URL, discovery, file), so a reconfigured source is not fed
    /// keys fetched from the old one.
    pub(crate) source: String,
    /// Unix seconds of the fetch.
    pub(crate) fetched_at: i64,
    pub(crate) jwks: Value,
}

#[derive(Debug, Serialize, Deserialize)]
struct File {
    format: String,
    issuers: BTreeMap<String, Entry>,
}

/// One snapshot file shared by the issuers of a validator.
#[derive(Debug)]
pub(crate) struct Snapshot {
    path: PathBuf,
    /// Serialises writers; held across the write, never on the request path.
    write: Mutex<()>,
}

impl Snapshot {
    pub(crate) fn new(path: PathBuf) -> Self {
        Snapshot {
            path,
            write: Mutex::new(()),
        }
    }

    /// Read the file; anything corrupt, foreign or oversized yields nothing, with a warning.
    pub(crate) async fn load(&self) -> BTreeMap<String, Entry> {
        match read(&self.path).await {
            Ok(map) => map,
            Err(reason) => {
                if reason != "absent" {
                    tracing::warn!(target: "a2a_guard::keys", path = %self.path.display(), reason, "ignoring snapshot file");
                }
                BTreeMap::new()
            }
        }
    }

    /// Replace one issuer's entry: read, update, write to a temporary file, fsync, rename.
    pub(crate) async fn store(&self, issuer: &str, entry: Entry) {
        let _guard = self.write.lock().await;
        let mut issuers = read(&self.path).await.unwrap_or_default();
        issuers.insert(issuer.to_owned(), entry);
        let file = File {
            format: FORMAT.to_owned(),
            issuers,
        };
        let result = match serde_json::to_vec_pretty(&file) {
            Ok(bytes) => write_atomic(self.path.clone(), bytes).await,
            Err(e) => Err(std::io::Error::other(e)),
        };
        if let Err(e) = result {
            tracing::warn!(target: "a2a_guard::keys", path = %self.path.display(), error = %e, "could not write snapshot file");
        }
    }
}

async fn read(path: &Path) -> Result<BTreeMap<String, Entry>, &'static str> {
    let path = path.to_owned();
    let bytes = tokio::task::spawn_blocking(move || read_own_file(&path))
        .await
        .map_err(|_| "unreadable")??;
    let file: File = serde_json::from_slice(&bytes).map_err(|_| "corrupt")?;
    if file.format != FORMAT {
        return Err("foreign format");
    }
    Ok(file.issuers)
}

/// Read the snapshot if it is a regular file that only this user could have written.
fn read_own_file(path: &Path) -> Result<Vec<u8>, &'static str> {
    use std::io::Read;
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => return Err("is a symlink"),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err("absent"),
        Err(_) => return Err("unreadable"),
    }
    let f = open_no_follow(path).map_err(|_| "unreadable")?;
    // Checked on the open file, so what is checked is what is read.
    let meta = f.metadata().map_err(|_| "unreadable")?;
    if !meta.file_type().is_file() {
        return Err("not a regular file");
    }
    only_we_could_write(&meta)?;
    if meta.len() > MAX_SNAPSHOT_BYTES {
        return Err("too large");
    }
    // Capped while reading too: the file may grow after the check.
    let mut bytes = Vec::new();
    f.take(MAX_SNAPSHOT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|_| "unreadable")?;
    if bytes.len() as u64 > MAX_SNAPSHOT_BYTES {
        return Err("too large");
    }
    Ok(bytes)
}

#[cfg(unix)]
fn open_no_follow(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    // O_NOFOLLOW: a symlink swapped in after the check above fails the open. O_NONBLOCK: a
    // FIFO swapped in does not block the open (it is refused after); no effect on files.
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(path)
}

#[cfg(not(unix))]
fn open_no_follow(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::File::open(path)
}

/// Owned by the process's effective user and not writable by group or others.
fn only_we_could_write(meta: &std::fs::Metadata) -> Result<(), &'static str> {
    owned_by_us_without(meta, 0o022, "writable by group or others")
}

/// Owned by the process's effective user, with none of the `forbidden` permission bits
/// (`why` says which, when some are set). Shared by every file whose contents are trusted:
/// the key snapshot here, a test issuer's private keys file.
#[cfg(unix)]
pub(crate) fn owned_by_us_without(
    meta: &std::fs::Metadata,
    forbidden: u32,
    why: &'static str,
) -> Result<(), &'static str> {
    use std::os::unix::fs::MetadataExt;
    if meta.uid() != rustix::process::geteuid().as_raw() {
        return Err("not owned by this user");
    }
    if meta.mode() & forbidden != 0 {
        return Err(why);
    }
    Ok(())
}

/// No owner or mode bits to check here; the directory's ACL is the protection.
#[cfg(not(unix))]
pub(crate) fn owned_by_us_without(
    _: &std::fs::Metadata,
    _: u32,
    _: &'static str,
) -> Result<(), &'static str> {
    Ok(())
}

/// Write `bytes` to `path` atomically: a new temporary file in the same directory
/// (`tempfile`: random name, `O_CREAT | O_EXCL`, mode 0600, so neither a planted file nor a
/// planted symlink is written through), fsync, rename over `path` (which replaces a symlink
/// at `path` rather than following it), fsync the directory.
async fn write_atomic(path: PathBuf, bytes: Vec<u8>) -> std::io::Result<()> {
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut tmp = tempfile::Builder::new()
            .prefix(".a2a-guard-snapshot-")
            .tempfile_in(dir)?;
        tmp.write_all(&bytes)?;
        tmp.as_file().sync_all()?;
        tmp.persist(&path).map_err(|e| e.error)?;
        // Persist the rename itself.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })
    .await
    .map_err(std::io::Error::other)?
}
