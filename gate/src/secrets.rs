//! Secrets named by the configuration — an environment variable's name or a file's path,
//! never the value — checked when the gate builds, so a missing one is a configuration error
//! naming the key, and never echoed in an error or a log.

use std::path::Path;

use secrecy::SecretString;

use crate::ConfigError;

/// The largest secret file read.
const MAX_SECRET_FILE: u64 = 64 * 1024;

/// The value of the environment variable `name` (`at` is the key that names it), trimmed.
pub(crate) fn from_env(at: &str, name: &str) -> Result<SecretString, ConfigError> {
    let value = std::env::var(name).map_err(|_| ConfigError::Invalid {
        at: at.into(),
        problem: format!("the environment variable {name} is not set (or not UTF-8)"),
    })?;
    non_empty(at, value.trim(), || {
        format!("the environment variable {name} is empty")
    })
}

/// The contents of the file at `path` (`at` is the key that names it), trimmed.
pub(crate) fn from_file(at: &str, path: &Path) -> Result<SecretString, ConfigError> {
    use std::io::Read as _;
    let unreadable = |why: &str| ConfigError::Invalid {
        at: at.into(),
        problem: format!("cannot read {}: {why}", path.display()),
    };
    let f = std::fs::File::open(path).map_err(|e| unreadable(&e.kind().to_string()))?;
    let mut text = String::new();
    // Capped while reading: metadata lies for FIFOs and growing files.
    f.take(MAX_SECRET_FILE + 1)
        .read_to_string(&mut text)
        .map_err(|_| unreadable("not UTF-8"))?;
    if text.len() as u64 > MAX_SECRET_FILE {
        return Err(unreadable("larger than 64 KiB"));
    }
    non_empty(at, text.trim(), || format!("{} is empty", path.display()))
}

fn non_empty(
    at: &str,
    value: &str,
    empty: impl FnOnce() -> String,
) -> Result<SecretString, ConfigError> {
    if value.is_empty() {
        return Err(ConfigError::Invalid {
            at: at.into(),
            problem: empty(),
        });
    }
    Ok(SecretString::from(value.to_owned()))
}
