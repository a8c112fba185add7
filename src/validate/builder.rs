//! [`ValidatorBuilder`]: every option, its default, and the checks made at build time.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::{
    Clock, Config, IssuerEntry, ScopeClaim, SystemClock, Validator, header::normalize_typ,
};
use crate::error::ConfigError;
use crate::jwk::KeySet;
use crate::keys::IssuerKeys;
use crate::scope::BusinessHours;
use crate::{Algorithm, claims::ExtraClaims};

/// Default clock-skew allowance for `exp`, `nbf` and `iat`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
/// The largest leeway the builder accepts.
pub const MAX_LEEWAY: Duration = Duration::from_secs(300);
/// Default cap on the token's length in bytes.
pub const DEFAULT_MAX_TOKEN_SIZE: usize = 16 * 1024;
/// Default accepted `typ` values (RFC 9068 §2.1), compared case-insensitively, with the
/// `application/` prefix optional.
pub const DEFAULT_TYPES: &[&str] = &["at+jwt"];

enum IssuerSpec {
    Static { issuer: String, keys: KeySet },
}

/// Configures a [`Validator`]. Start with [`Validator::builder`].
///
/// Safe defaults: every asymmetric algorithm (never HS* or `none`), leeway
/// [`DEFAULT_LEEWAY`], `typ` must be `at+jwt`, tokens up to [`DEFAULT_MAX_TOKEN_SIZE`] bytes,
/// `exp` required, no lifetime cap, scopes from `scope` / `scp`. At least one issuer and one
/// audience are required.
#[must_use]
pub struct ValidatorBuilder<C = ExtraClaims> {
    issuers: Vec<IssuerSpec>,
    audiences: Vec<String>,
    skip_audience: bool,
    algorithms: Vec<Algorithm>,
    leeway: Duration,
    max_lifetime: Option<Duration>,
    types: Vec<String>,
    allow_missing_typ: bool,
    required_claims: Vec<String>,
    max_token_size: usize,
    clock: Arc<dyn Clock>,
    scope_claim: ScopeClaim,
    business_hours: Option<BusinessHours>,
    _claims: PhantomData<fn() -> C>,
}

impl Default for ValidatorBuilder<ExtraClaims> {
    fn default() -> Self {
        Self::new()
    }
}

impl ValidatorBuilder<ExtraClaims> {
    /// A builder with the defaults above.
    pub fn new() -> Self {
        ValidatorBuilder {
            issuers: Vec::new(),
            audiences: Vec::new(),
            skip_audience: false,
            algorithms: Algorithm::ALL.to_vec(),
            leeway: DEFAULT_LEEWAY,
            max_lifetime: None,
            types: DEFAULT_TYPES.iter().map(|t| (*t).to_owned()).collect(),
            allow_missing_typ: false,
            required_claims: Vec::new(),
            max_token_size: DEFAULT_MAX_TOKEN_SIZE,
            clock: Arc::new(SystemClock),
            scope_claim: ScopeClaim::Standard,
            business_hours: None,
            _claims: PhantomData,
        }
    }
}

impl<C: DeserializeOwned> ValidatorBuilder<C> {
    /// Read the token's claims also into your own type `D` (decoded once, with the rest).
    ///
    /// ```
    /// #[derive(serde::Deserialize)]
    /// struct MyClaims { tenant: String }
    /// let b = a2a_guard::Validator::builder().claims::<MyClaims>();
    /// ```
    pub fn claims<D: DeserializeOwned>(self) -> ValidatorBuilder<D> {
        ValidatorBuilder {
            issuers: self.issuers,
            audiences: self.audiences,
            skip_audience: self.skip_audience,
            algorithms: self.algorithms,
            leeway: self.leeway,
            max_lifetime: self.max_lifetime,
            types: self.types,
            allow_missing_typ: self.allow_missing_typ,
            required_claims: self.required_claims,
            max_token_size: self.max_token_size,
            clock: self.clock,
            scope_claim: self.scope_claim,
            business_hours: self.business_hours,
            _claims: PhantomData,
        }
    }

    /// Trust `issuer` (compared byte for byte with `iss`) with a fixed key set.
    pub fn issuer_keys(mut self, issuer: impl Into<String>, keys: KeySet) -> Self {
        self.issuers.push(IssuerSpec::Static {
            issuer: issuer.into(),
            keys,
        });
        self
    }

    /// Accept tokens whose `aud` names this audience. Call again to accept several.
    pub fn audience(mut self, aud: impl Into<String>) -> Self {
        self.audiences.push(aud.into());
        self
    }

    /// Do not check `aud`. Only for resource servers that truly serve every audience of the
    /// issuer; RFC 9068 §4 requires the check.
    pub fn dangerous_skip_audience_check(mut self) -> Self {
        self.skip_audience = true;
        self
    }

    /// The algorithm allow-list (default: all of [`Algorithm::ALL`]). Mixed families are fine.
    pub fn algorithms(mut self, algs: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algs.into_iter().collect();
        self.algorithms.sort();
        self.algorithms.dedup();
        self
    }

    /// Clock-skew allowance for `exp`, `nbf`, `iat` and relative temporal scopes
    /// (default [`DEFAULT_LEEWAY`], at most [`MAX_LEEWAY`]).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Reject tokens whose `exp - iat` exceeds this (and tokens without `iat`). Default: no cap.
    pub fn max_token_lifetime(mut self, max: Duration) -> Self {
        self.max_lifetime = Some(max);
        self
    }

    /// Also accept this `typ` (e.g. `"JWT"` for issuers that do not follow RFC 9068).
    pub fn accept_typ(mut self, typ: &str) -> Self {
        let t = normalize_typ(typ);
        if !self.types.contains(&t) {
            self.types.push(t);
        }
        self
    }

    /// Replace the accepted `typ` values.
    pub fn accepted_types<'a>(mut self, types: impl IntoIterator<Item = &'a str>) -> Self {
        self.types = types.into_iter().map(normalize_typ).collect();
        self
    }

    /// Accept tokens without a `typ` header (off by default: RFC 8725 §3.11 explicit typing
    /// keeps ID tokens and other JWTs from passing as access tokens).
    pub fn allow_missing_typ(mut self) -> Self {
        self.allow_missing_typ = true;
        self
    }

    /// Require a claim to be present and not null (e.g. `"sub"`, `"jti"`, `"client_id"`).
    pub fn require_claim(mut self, name: impl Into<String>) -> Self {
        self.required_claims.push(name.into());
        self
    }

    /// Cap the token length in bytes (default [`DEFAULT_MAX_TOKEN_SIZE`]).
    pub fn max_token_size(mut self, bytes: usize) -> Self {
        self.max_token_size = bytes;
        self
    }

    /// The clock for time-based checks (default: the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Read scopes from this claim (string or array) instead of `scope` / `scp`.
    pub fn scope_claim(mut self, name: impl Into<String>) -> Self {
        self.scope_claim = ScopeClaim::Named(name.into());
        self
    }

    /// The window for `temporal:business-hours` scopes. Without it such tokens are rejected.
    pub fn business_hours(mut self, hours: BusinessHours) -> Self {
        self.business_hours = Some(hours);
        self
    }

    /// Check the configuration and build.
    pub async fn build(self) -> Result<Validator<C>, ConfigError> {
        if self.issuers.is_empty() {
            return Err(ConfigError::NoIssuer);
        }
        if self.audiences.is_empty() && !self.skip_audience {
            return Err(ConfigError::NoAudience);
        }
        if self.algorithms.is_empty() {
            return Err(ConfigError::NoAlgorithms);
        }
        if self.leeway > MAX_LEEWAY {
            return Err(ConfigError::InvalidSetting {
                name: "leeway",
                reason: "at most 5 minutes",
            });
        }
        if self.max_token_size == 0 {
            return Err(ConfigError::InvalidSetting {
                name: "max_token_size",
                reason: "must be positive",
            });
        }
        if self.types.is_empty() && !self.allow_missing_typ {
            return Err(ConfigError::InvalidSetting {
                name: "accepted_types",
                reason: "no token could pass",
            });
        }
        let mut issuers: Vec<IssuerEntry> = Vec::with_capacity(self.issuers.len());
        for spec in self.issuers {
            let entry = match spec {
                IssuerSpec::Static { issuer, keys } => IssuerEntry {
                    issuer,
                    keys: IssuerKeys::Static(Arc::new(keys)),
                },
            };
            if issuers.iter().any(|i| i.issuer == entry.issuer) {
                return Err(ConfigError::DuplicateIssuer(entry.issuer));
            }
            issuers.push(entry);
        }
        Ok(Validator::from_config(Config {
            issuers,
            audiences: if self.skip_audience {
                Vec::new()
            } else {
                self.audiences
            },
            algorithms: self.algorithms,
            leeway: self.leeway.as_secs() as i64,
            max_lifetime: self
                .max_lifetime
                .map(|d| d.as_secs().min(i64::MAX as u64) as i64),
            types: self.types,
            allow_missing_typ: self.allow_missing_typ,
            required_claims: self.required_claims,
            max_token_size: self.max_token_size,
            clock: self.clock,
            scope_claim: self.scope_claim,
            business_hours: self.business_hours,
        }))
    }
}
