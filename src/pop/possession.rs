//! [`PossessionCheck`]: the auth layer's proof-of-possession checks, for a service that
//! decides about requests it does not serve itself.

use std::sync::Arc;

use super::{DpopConfig, RequestRef, Scheme};
use crate::bearer::{self, Credentials};
use serde::de::DeserializeOwned;

use crate::{AuthError, ConfigError, Principal, Validator};

/// The binding checks [`AuthService`](crate::AuthService) runs on every request, on their
/// own: RFC 8705 certificate-bound tokens against the [`ClientCertificate`](super::ClientCertificate)
/// in the request's extensions, and RFC 9449 DPoP — the `DPoP` scheme, the single proof
/// against the request's method and URL (`htu` from a configured origin), `ath`, `cnf.jkt`,
/// the `iat` window, server nonces and the replay store.
///
/// For a gateway that validates a token with [`Validator::validate`] and then has to check
/// its binding against a request it describes rather than serves (forward-auth, Envoy
/// ext_authz): build an `http::Request` carrying the original method, the URI (absolute-form
/// `https://host/path` selects the origin; otherwise the `Host` header does), the headers
/// (`Authorization`, `DPoP`) and, for mTLS, the certificate as an extension. The auth
/// layer itself does not need this type.
///
/// ```
/// # async fn demo(validator: a2a_guard::Validator, token: &str, proof: &str) -> Result<(), Box<dyn std::error::Error>> {
/// use a2a_guard::pop::{DpopConfig, PossessionCheck};
/// let check = PossessionCheck::new(DpopConfig::new().origin("https://agent.example"))?;
/// let principal = validator.validate(token).await?;
/// let original = http::Request::get("https://agent.example/customers/42")
///     .header("authorization", format!("DPoP {token}"))
///     .header("dpop", proof)
///     .body(())?;
/// check.check(&validator, &principal, &original).await?;
/// # Ok(()) }
/// use a2a_guard::pop::{DpopConfig, PossessionCheck};
/// assert!(PossessionCheck::new(DpopConfig::new()).is_err()); // no origin
/// assert_eq!(PossessionCheck::without_dpop().algs(), a2a_guard::DEFAULT_DPOP_ALGS);
/// ```
#[derive(Debug, Clone)]
pub struct PossessionCheck {
    dpop: Arc<DpopConfig>,
    configured: bool,
}

impl PossessionCheck {
    /// With these DPoP settings, checked as [`AuthLayer::dpop`](crate::AuthLayer::dpop)
    /// checks them (no origin, a bad origin, no algorithm, a replay store that forgets too
    /// soon, a short nonce secret: a [`ConfigError`]).
    pub fn new(dpop: DpopConfig) -> Result<Self, ConfigError> {
        Ok(PossessionCheck {
            dpop: Arc::new(dpop.checked()?),
            configured: true,
        })
    }

    /// Without DPoP, as [`Validator::layer`] without [`AuthLayer::dpop`](crate::AuthLayer::dpop):
    /// every DPoP-bound token is refused; certificate-bound tokens are still checked.
    pub fn without_dpop() -> Self {
        PossessionCheck {
            dpop: Arc::new(DpopConfig::new()),
            configured: false,
        }
    }

    /// The `algs` of `DPoP` challenges: the accepted proof algorithms, or
    /// [`DEFAULT_DPOP_ALGS`](crate::DEFAULT_DPOP_ALGS) without DPoP settings.
    pub fn algs(&self) -> &str {
        if self.configured {
            self.dpop.algs()
        } else {
            crate::DEFAULT_DPOP_ALGS
        }
    }

    /// Check `principal`'s binding (its `cnf`) against `req`, with `validator`'s clock: a
    /// token without `cnf` sent as `Bearer` passes; a DPoP-bound token sent as `Bearer`
    /// (RFC 9449 §7.2), a `DPoP` request with an unbound token, a missing, invalid or
    /// replayed proof, or a certificate that is absent or another one is refused, with the
    /// same [`AuthError`] the auth layer answers. `principal` must come from `req`'s token.
    pub async fn check<C: DeserializeOwned + Send + Sync + 'static, B>(
        &self,
        validator: &Validator<C>,
        principal: &Principal<C>,
        req: &http::Request<B>,
    ) -> Result<(), AuthError> {
        let (scheme, token) = match bearer::extract(req.headers(), req.uri().query())? {
            Credentials::Bearer(t) => (Scheme::Bearer, t),
            Credentials::Dpop(t) => (Scheme::Dpop, t),
            Credentials::None => return Err(AuthError::MissingToken),
        };
        let view = RequestRef {
            method: req.method(),
            uri: req.uri(),
            headers: req.headers(),
            extensions: req.extensions(),
            now: validator.now().max(0) as u64,
        };
        let cnf = principal.registered().cnf.as_ref();
        super::check(&self.dpop, cnf, scheme, token, &view).await
    }
}
