//! [`TlsIdentity`]: this agent's TLS client certificate, for `tls_client_auth` /
//! `self_signed_tls_client_auth` (RFC 8705 §2). Re-read when its file changes.

use std::sync::{Arc, Mutex};

use secrecy::SecretString;

use super::ClientError;
use super::credentials::{Secret, expose};
use super::endpoint::REQUEST_TIMEOUT;

/// This agent's TLS client certificate and private key, PEM. `Debug` never shows the key.
///
/// The same identity serves `tls_client_auth` (a certificate from a CA the authorization
/// server trusts, matched on its subject) and `self_signed_tls_client_auth` (a self-signed
/// certificate registered with the server): the client side is identical, the difference
/// is how the client was registered.
///
/// ```
/// use a2a_guard::client::TlsIdentity;
/// let one_file = TlsIdentity::pem_file("/run/secrets/agent.pem"); // chain + key
/// let two_files = TlsIdentity::pem_files("/run/secrets/agent.crt", "/run/secrets/agent.key");
/// assert!(!format!("{two_files:?}").contains("PRIVATE"));
/// ```
#[derive(Debug)]
pub struct TlsIdentity {
    cert: Secret,
    key: Option<Secret>,
}

impl TlsIdentity {
    /// Certificate chain and private key in one PEM text (tests, or read from a vault).
    pub fn pem(pem: impl Into<String>) -> Self {
        TlsIdentity {
            cert: Secret::new(pem),
            key: None,
        }
    }

    /// Certificate chain and private key in one PEM file, re-read when it changes (rotate
    /// the certificate by replacing the file).
    pub fn pem_file(path: impl Into<std::path::PathBuf>) -> Self {
        TlsIdentity {
            cert: Secret::file(path),
            key: None,
        }
    }

    /// Certificate chain and private key in two PEM files, each re-read when it changes.
    /// Replace the key file first, then the certificate: a request in between fails and the
    /// next one uses the pair.
    pub fn pem_files(
        cert: impl Into<std::path::PathBuf>,
        key: impl Into<std::path::PathBuf>,
    ) -> Self {
        TlsIdentity {
            cert: Secret::file(cert),
            key: Some(Secret::file(key)),
        }
    }

    fn current(&self) -> Result<SecretString, ClientError> {
        let why = |e| match e {
            ClientError::Secret(why) => ClientError::Key(why),
            other => other,
        };
        let cert = self.cert.current().map_err(why)?;
        Ok(match &self.key {
            None => cert,
            Some(key) => {
                let key = key.current().map_err(why)?;
                SecretString::from(format!("{}\n{}\n", expose(&cert), expose(&key)))
            }
        })
    }
}

/// The HTTP client that presents the identity: rebuilt when the PEM changes.
pub(crate) struct TlsClient {
    identity: TlsIdentity,
    roots: Vec<reqwest::Certificate>,
    built: Mutex<Option<([u8; 32], reqwest::Client)>>,
}

impl TlsClient {
    pub(crate) fn new(identity: TlsIdentity, roots: Vec<reqwest::Certificate>) -> Self {
        TlsClient {
            identity,
            roots,
            built: Mutex::new(None),
        }
    }

    pub(crate) fn client(&self) -> Result<reqwest::Client, ClientError> {
        let pem = self.identity.current()?;
        let digest: [u8; 32] =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, expose(&pem).as_bytes())
                .as_ref()
                .try_into()
                .unwrap_or([0; 32]);
        let mut built = self
            .built
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((d, c)) = &*built
            && *d == digest
        {
            return Ok(c.clone());
        }
        let identity = reqwest::Identity::from_pem(expose(&pem).as_bytes())
            .map_err(|_| ClientError::Key("not a PEM certificate chain with its private key"))?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(REQUEST_TIMEOUT)
            .tls_certs_merge(self.roots.iter().cloned())
            .identity(identity)
            .build()
            .map_err(|_| ClientError::Key("the TLS client could not be built"))?;
        *built = Some((digest, client.clone()));
        Ok(client)
    }
}

/// Shared so a builder can hand it to the endpoint.
pub(crate) type SharedTlsClient = Arc<TlsClient>;
