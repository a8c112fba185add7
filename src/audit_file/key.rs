//! Keys: the chain's HMAC key, and the Ed25519 key that signs checkpoints.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::Path;
use std::str::FromStr;

use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use aws_lc_rs::{digest, hmac, rand};

use super::chain::create_file;
use super::format::{Head, parse_hex, push_hex};

/// Shortest key [`ChainKey`] accepts: HMAC-SHA256's output size (RFC 2104 §3).
pub const MIN_KEY_LEN: usize = 32;
/// What a checkpoint signature covers, before the head: a domain tag, so the key's signatures
/// mean nothing anywhere else.
const CHECKPOINT_CONTEXT: &[u8] = b"a2a-guard audit checkpoint v1\0";

/// Reads a secret key file, refusing on unix one that group or others can read or write.
fn read_private(path: &Path) -> io::Result<Vec<u8>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "{}: key file mode {:o}; make it 0600 or 0400",
                    path.display(),
                    mode & 0o777
                ),
            ));
        }
    }
    fs::read(path)
}

fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = create_file(path, true)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// The secret of a keyed chain: every record's `hash` is HMAC-SHA256 under it, so someone
/// who can write the file but not read the key cannot forge, insert or re-chain records.
#[derive(Clone)]
pub struct ChainKey(Vec<u8>);

impl ChainKey {
    /// A key from raw bytes, at least [`MIN_KEY_LEN`] of them.
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> io::Result<Self> {
        let bytes = bytes.into();
        if bytes.len() < MIN_KEY_LEN {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "audit chain key: {} bytes, at least {MIN_KEY_LEN} needed",
                    bytes.len()
                ),
            ));
        }
        Ok(Self(bytes))
    }

    /// A key read from a file: its bytes as they are (a trailing newline is kept as part of the
    /// key — generate key files with [`ChainKey::generate`] and [`ChainKey::write_new`]). On
    /// unix, a key file that group or others can read or write is refused.
    pub fn from_file(path: impl AsRef<Path>) -> io::Result<Self> {
        Self::from_bytes(read_private(path.as_ref())?)
    }

    /// 32 random bytes from the system's CSPRNG.
    pub fn generate() -> Self {
        let mut k = vec![0; MIN_KEY_LEN];
        rand::fill(&mut k).expect("system random source");
        Self(k)
    }

    /// Writes the key to a new file, mode 0600 on unix; refuses to overwrite one.
    pub fn write_new(&self, path: impl AsRef<Path>) -> io::Result<()> {
        write_private(path.as_ref(), &self.0)
    }
}

impl fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChainKey(..)")
    }
}

/// How a record's `hash` is computed over its body.
#[derive(Clone)]
pub(crate) enum Tagger {
    Sha256,
    Hmac(Box<hmac::Key>),
}

impl Tagger {
    pub(crate) fn new(key: Option<&ChainKey>) -> Self {
        match key {
            None => Self::Sha256,
            Some(k) => Self::Hmac(Box::new(hmac::Key::new(hmac::HMAC_SHA256, &k.0))),
        }
    }

    pub(crate) fn mode(&self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Hmac(_) => "hmac-sha256",
        }
    }

    pub(crate) fn tag(&self, body: &[u8]) -> [u8; 32] {
        let mut out = [0; 32];
        match self {
            Self::Sha256 => out.copy_from_slice(digest::digest(&digest::SHA256, body).as_ref()),
            Self::Hmac(k) => out.copy_from_slice(hmac::sign(k, body).as_ref()),
        }
        out
    }

    pub(crate) fn check(&self, body: &[u8], tag: &[u8; 32]) -> bool {
        match self {
            Self::Sha256 => digest::digest(&digest::SHA256, body).as_ref() == tag,
            Self::Hmac(k) => hmac::verify(k, body, tag).is_ok(),
        }
    }
}

impl fmt::Debug for Tagger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.mode())
    }
}

/// The Ed25519 key that signs checkpoints ([`ChainWriterBuilder::sign_checkpoints`](super::ChainWriterBuilder::sign_checkpoints)).
/// Its [`public_key`](Self::public_key) verifies them: whoever verifies cannot forge, unlike
/// with a [`ChainKey`].
pub struct CheckpointKey {
    pair: Ed25519KeyPair,
    pkcs8: Vec<u8>,
}

impl CheckpointKey {
    /// A new key from the system's CSPRNG.
    pub fn generate() -> Self {
        let doc = Ed25519KeyPair::generate_pkcs8(&rand::SystemRandom::new())
            .expect("system random source");
        Self::from_pkcs8(doc.as_ref()).expect("a key just generated parses")
    }

    /// A key from its PKCS#8 DER bytes.
    pub fn from_pkcs8(pkcs8: &[u8]) -> io::Result<Self> {
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8)
            .or_else(|_| Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8))
            .map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("Ed25519 PKCS#8 key: {e}"),
                )
            })?;
        Ok(Self {
            pair,
            pkcs8: pkcs8.to_vec(),
        })
    }

    /// A key read from a PKCS#8 DER file; on unix refused when group or others can access it.
    pub fn from_file(path: impl AsRef<Path>) -> io::Result<Self> {
        Self::from_pkcs8(&read_private(path.as_ref())?)
    }

    /// Writes the key (PKCS#8 DER) to a new file, mode 0600 on unix; refuses to overwrite one.
    pub fn write_new(&self, path: impl AsRef<Path>) -> io::Result<()> {
        write_private(path.as_ref(), &self.pkcs8)
    }

    /// The public half, to give verifiers.
    pub fn public_key(&self) -> CheckpointPublicKey {
        let mut k = [0; 32];
        k.copy_from_slice(self.pair.public_key().as_ref());
        CheckpointPublicKey(k)
    }

    pub(crate) fn sign(&self, head: &Head) -> [u8; 64] {
        let mut sig = [0; 64];
        sig.copy_from_slice(self.pair.sign(&checkpoint_message(head)).as_ref());
        sig
    }
}

impl fmt::Debug for CheckpointKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CheckpointKey({})", self.public_key())
    }
}

/// The public key that verifies checkpoints ([`Verifier::checkpoint_key`](super::Verifier::checkpoint_key)):
/// 32 bytes, written and parsed as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CheckpointPublicKey([u8; 32]);

impl CheckpointPublicKey {
    pub(crate) fn verify(&self, head: &Head, sig: &[u8]) -> bool {
        UnparsedPublicKey::new(&ED25519, &self.0)
            .verify(&checkpoint_message(head), sig)
            .is_ok()
    }
}

impl fmt::Display for CheckpointPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = Vec::with_capacity(64);
        push_hex(&mut s, &self.0);
        f.write_str(std::str::from_utf8(&s).expect("hex is ASCII"))
    }
}

impl fmt::Debug for CheckpointPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The error of [`CheckpointPublicKey::from_str`].
#[derive(Debug, thiserror::Error)]
#[error("expected an Ed25519 public key: 64 lowercase hex digits")]
pub struct ParsePublicKeyError;

impl FromStr for CheckpointPublicKey {
    type Err = ParsePublicKeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_hex(s.trim().as_bytes())
            .map(Self)
            .ok_or(ParsePublicKeyError)
    }
}

/// Domain tag, then the head: seq as 8 big-endian bytes, then its 32-byte hash.
fn checkpoint_message(head: &Head) -> Vec<u8> {
    let mut m = Vec::with_capacity(CHECKPOINT_CONTEXT.len() + 40);
    m.extend_from_slice(CHECKPOINT_CONTEXT);
    m.extend_from_slice(&head.seq.to_be_bytes());
    m.extend_from_slice(&head.hash);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_keys_are_refused() {
        assert!(ChainKey::from_bytes(vec![1; MIN_KEY_LEN - 1]).is_err());
        assert!(ChainKey::from_bytes(vec![1; MIN_KEY_LEN]).is_ok());
    }

    #[test]
    fn a_checkpoint_signature_covers_exactly_one_head() {
        let key = CheckpointKey::generate();
        let head = Head {
            seq: 9,
            hash: [3; 32],
        };
        let sig = key.sign(&head);
        let public = key.public_key();
        assert!(public.verify(&head, &sig));
        assert!(!public.verify(&Head { seq: 10, ..head }, &sig));
        assert!(!public.verify(
            &Head {
                hash: [4; 32],
                ..head
            },
            &sig
        ));
        let pk8 = CheckpointKey::from_pkcs8(&key.pkcs8).unwrap();
        assert_eq!(pk8.public_key(), public);
    }
}
