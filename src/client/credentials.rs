//! Client secrets: given inline, read from a file (re-read when the file changes, so a
//! rotated secret is used without a restart) or from an environment variable. Held as
//! [`secrecy::SecretString`]: never printed, zeroed on drop.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

use secrecy::{ExposeSecret, SecretString};

use super::ClientError;

/// The largest secret file read.
const MAX_SECRET_FILE: u64 = 64 * 1024;

/// Where a client secret comes from. `Debug` never shows the secret.
///
/// ```
/// use a2a_guard::client::Secret;
/// let inline = Secret::new("s3cret");
/// let rotated = Secret::file("/run/secrets/agent"); // re-read when it changes
/// let from_env = Secret::env("AGENT_CLIENT_SECRET");
/// assert!(!format!("{inline:?}").contains("s3cret"));
/// ```
pub struct Secret {
    from: From,
}

enum From {
    Inline(SecretString),
    File {
        path: PathBuf,
        /// The last read: the file's modification time and length, and the value.
        last: Mutex<Option<(SystemTime, u64, SecretString)>>,
    },
    Env(String),
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.from {
            From::Inline(_) => f.write_str("Secret(inline, redacted)"),
            From::File { path, .. } => write!(f, "Secret(file {})", path.display()),
            From::Env(name) => write!(f, "Secret(env {name})"),
        }
    }
}

impl Secret {
    /// A secret given in code (tests, or read by the caller from a vault).
    pub fn new(secret: impl Into<String>) -> Self {
        Secret {
            from: From::Inline(SecretString::from(secret.into())),
        }
    }

    /// A secret read from a file at each token request whose modification time or length
    /// changed since the last read: rotate it by replacing the file. Surrounding whitespace
    /// (a trailing newline) is trimmed.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Secret {
            from: From::File {
                path: path.into(),
                last: Mutex::new(None),
            },
        }
    }

    /// A secret read from an environment variable at each token request.
    pub fn env(name: impl Into<String>) -> Self {
        Secret {
            from: From::Env(name.into()),
        }
    }

    /// The current value.
    pub(crate) fn current(&self) -> Result<SecretString, ClientError> {
        match &self.from {
            From::Inline(s) => Ok(s.clone()),
            From::Env(name) => {
                let v = std::env::var(name)
                    .map_err(|_| ClientError::Secret("environment variable unset or not UTF-8"))?;
                non_empty(v)
            }
            From::File { path, last } => {
                let meta = std::fs::metadata(path)
                    .map_err(|_| ClientError::Secret("file missing or unreadable"))?;
                let stamp = (
                    meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    meta.len(),
                );
                let mut last = last
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if let Some((m, l, v)) = &*last
                    && (*m, *l) == stamp
                {
                    return Ok(v.clone());
                }
                let v = read_capped(path)?;
                *last = Some((stamp.0, stamp.1, v.clone()));
                Ok(v)
            }
        }
    }
}

fn read_capped(path: &std::path::Path) -> Result<SecretString, ClientError> {
    use std::io::Read;
    let f =
        std::fs::File::open(path).map_err(|_| ClientError::Secret("file missing or unreadable"))?;
    let mut buf = String::new();
    // Cap while reading: metadata lies for FIFOs and growing files.
    f.take(MAX_SECRET_FILE + 1)
        .read_to_string(&mut buf)
        .map_err(|_| ClientError::Secret("file unreadable or not UTF-8"))?;
    if buf.len() as u64 > MAX_SECRET_FILE {
        return Err(ClientError::Secret("file larger than 64 KiB"));
    }
    let trimmed = buf.trim().to_owned();
    // Zero the untrimmed copy too.
    let _ = SecretString::from(buf);
    non_empty(trimmed)
}

fn non_empty(v: String) -> Result<SecretString, ClientError> {
    if v.is_empty() {
        return Err(ClientError::Secret("empty"));
    }
    Ok(SecretString::from(v))
}

/// Expose for building the request only.
pub(crate) fn expose(s: &SecretString) -> &str {
    s.expose_secret()
}
