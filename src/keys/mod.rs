//! Where an issuer's verification keys come from.

use std::sync::Arc;

use crate::AuthError;
use crate::jwk::KeySet;

/// The keys of one configured issuer.
#[derive(Debug, Clone)]
pub(crate) enum IssuerKeys {
    /// A fixed key set given at build time.
    Static(Arc<KeySet>),
}

impl IssuerKeys {
    /// The current key set for a token with this `kid`.
    pub(crate) async fn current(&self, _kid: Option<&str>) -> Result<Arc<KeySet>, AuthError> {
        match self {
            IssuerKeys::Static(set) => Ok(set.clone()),
        }
    }
}
