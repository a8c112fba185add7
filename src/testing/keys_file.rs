//! [`TestIssuerBuilder::keys_file`](super::TestIssuerBuilder::keys_file): a development
//! issuer's identity (its loopback address, which is its `iss`) and signing keys, kept in a
//! file so tokens it minted stay valid across restarts.
//!
//! The file holds private keys: it is written atomically with mode 0600 (a fresh, randomly
//! named temporary file renamed into place) and refused when it is a symlink, not owned by
//! this user, or readable or writable by group or others. Nothing from it is logged.

use std::io;
use std::net::SocketAddr;
use std::path::Path;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::SigningKey;
use crate::Algorithm;

/// A keys file is small; anything larger is not one.
const MAX_KEYS_FILE_BYTES: u64 = 1024 * 1024;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFormat {
    /// The issuer's bound address; the issuer identifier is `http://{addr}`.
    addr: SocketAddr,
    keys: Vec<StoredKey>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredKey {
    kid: String,
    alg: Algorithm,
    /// PKCS#8 DER, base64url without padding.
    pkcs8: String,
}

/// What a keys file holds.
pub(super) struct Saved {
    pub(super) addr: SocketAddr,
    pub(super) keys: Vec<SigningKey>,
}

fn invalid(path: &Path, why: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("keys file {}: {why}", path.display()),
    )
}

/// Read the file; `Ok(None)` when it does not exist yet.
pub(super) fn load(path: &Path) -> io::Result<Option<Saved>> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if !meta.is_file() {
        return Err(invalid(path, "not a regular file (a symlink is refused)"));
    }
    private_to_us(&meta).map_err(|why| invalid(path, why))?;
    if meta.len() > MAX_KEYS_FILE_BYTES {
        return Err(invalid(path, "too large"));
    }
    let bytes = std::fs::read(path)?;
    let doc: FileFormat =
        serde_json::from_slice(&bytes).map_err(|_| invalid(path, "not a keys file"))?;
    if !doc.addr.ip().is_loopback() {
        return Err(invalid(
            path,
            "the issuer address must be a loopback address",
        ));
    }
    let mut keys = Vec::with_capacity(doc.keys.len());
    for k in doc.keys {
        let der = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&k.pkcs8)
            .map_err(|_| invalid(path, "a key is not base64url"))?;
        let key = SigningKey::from_pkcs8(k.alg, k.kid, &der)
            .ok_or_else(|| invalid(path, format!("a key is not a usable {} key", k.alg)))?;
        keys.push(key);
    }
    Ok(Some(Saved {
        addr: doc.addr,
        keys,
    }))
}

/// Write the file atomically, mode 0600. Keys that cannot be exported (the fixed 1024-bit
/// test key) are left out.
pub(super) fn save(path: &Path, addr: SocketAddr, keys: &[SigningKey]) -> io::Result<()> {
    use std::io::Write;
    let doc = FileFormat {
        addr,
        keys: keys
            .iter()
            .filter_map(|k| {
                Some(StoredKey {
                    kid: k.kid().to_owned(),
                    alg: k.alg(),
                    pkcs8: super::b64url(k.to_pkcs8()?),
                })
            })
            .collect(),
    };
    let bytes = serde_json::to_vec_pretty(&doc).map_err(io::Error::other)?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // tempfile: random name, O_CREAT | O_EXCL, mode 0600; the rename replaces a symlink at
    // `path` rather than writing through it.
    let mut tmp = tempfile::Builder::new()
        .prefix(".a2a-guard-keys-")
        .tempfile_in(dir)?;
    tmp.write_all(&bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Owned by this user, no permission bits for group or others: the file holds private keys.
fn private_to_us(meta: &std::fs::Metadata) -> Result<(), &'static str> {
    crate::keys::snapshot::owned_by_us_without(
        meta,
        0o077,
        "readable or writable by group or others (chmod 600 it)",
    )
}
