//! The snapshot file: the last good JWK Set of every issuer, written atomically after each
//! successful fetch and read at start-up when an issuer cannot be reached.

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
    let meta = match tokio::fs::metadata(path).await {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err("absent"),
        Err(_) => return Err("unreadable"),
    };
    if meta.len() > MAX_SNAPSHOT_BYTES {
        return Err("too large");
    }
    let bytes = tokio::fs::read(path).await.map_err(|_| "unreadable")?;
    let file: File = serde_json::from_slice(&bytes).map_err(|_| "corrupt")?;
    if file.format != FORMAT {
        return Err("foreign format");
    }
    Ok(file.issuers)
}

async fn write_atomic(path: PathBuf, bytes: Vec<u8>) -> std::io::Result<()> {
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .ok_or_else(|| std::io::Error::other("no file name"))?;
        let tmp = dir.join(format!(
            ".{}.tmp-{}",
            name.to_string_lossy(),
            std::process::id()
        ));
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, &path)?;
        // Persist the rename itself.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })
    .await
    .map_err(std::io::Error::other)?
}
