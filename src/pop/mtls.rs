//! RFC 8705 §3: certificate-bound access tokens.

use std::sync::Arc;

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::RequestRef;
use crate::AuthError;

/// The client's TLS certificate (DER), as the TLS acceptor verified it. Put it into the
/// request extensions; the auth layer compares its SHA-256 thumbprint with `cnf.x5t#S256`.
///
/// ```
/// use a2a_guard::pop::ClientCertificate;
/// let cert = ClientCertificate::from_der(vec![0x30, 0x03, 0x02, 0x01, 0x01]);
/// assert_eq!(cert.thumbprint().len(), 43);
/// // request.extensions_mut().insert(cert);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate(Arc<[u8]>);

impl ClientCertificate {
    /// Wrap a DER-encoded X.509 certificate.
    pub fn from_der(der: impl Into<Arc<[u8]>>) -> Self {
        ClientCertificate(der.into())
    }

    /// The DER bytes.
    pub fn der(&self) -> &[u8] {
        &self.0
    }

    /// base64url SHA-256 of the DER: the `x5t#S256` value (RFC 8705 §3.1).
    pub fn thumbprint(&self) -> String {
        URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, &self.0))
    }
}

pub(super) fn check(x5t: &str, parts: &RequestRef<'_>) -> Result<(), AuthError> {
    let cert = parts
        .extensions
        .get::<ClientCertificate>()
        .ok_or(AuthError::ProofOfPossession(
            "the token is certificate-bound and no client certificate was presented",
        ))?;
    if cert.thumbprint() != x5t {
        return Err(AuthError::ProofOfPossession(
            "the client certificate does not match the token",
        ));
    }
    Ok(())
}
