//! [`RequireAuthStrength`]: a route guard on how strongly and how recently the user behind a
//! token authenticated (RFC 9470, OAuth 2.0 Step Up Authentication Challenge).

use std::sync::Arc;
use std::time::Duration;

use http::request::Parts;
use tower_layer::Layer;

use super::AuthContext;
use super::guard::{GuardService, RouteGuard};
use crate::{AuthError, ConfigError};

/// Admit only tokens whose user authenticated strongly enough (`acr` one of the accepted
/// values) and/or recently enough (`auth_time` no older than `max_age`). Anything else is
/// 401 `insufficient_user_authentication` with `acr_values` and/or `max_age` in the
/// challenge (RFC 9470 §3), so the client can go back to the authorization server for a
/// step-up — what an agent acting for a person needs before a payment.
///
/// A token without `acr` (when values are required) or without `auth_time` (when a
/// `max_age` is set) fails: the guard never assumes a strength it cannot see.
///
/// ```
/// use std::time::Duration;
/// use a2a_guard::{RequireAuthStrength, RequireScopes};
/// use axum::{Router, routing::post};
///
/// # fn demo() -> Result<(), a2a_guard::ConfigError> {
/// let step_up = RequireAuthStrength::acr(["urn:example:mfa", "phr"])?
///     .with_max_age(Duration::from_secs(300));
/// let app: Router = Router::new().route(
///     "/payments",
///     post(|| async { "paid" })
///         .route_layer(step_up)
///         .route_layer(RequireScopes::all(["execute:payment"])),
/// );
/// // Recency alone:
/// let fresh = RequireAuthStrength::max_age(Duration::from_secs(60));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RequireAuthStrength {
    acr: Arc<[Box<str>]>,
    max_age: Option<u64>,
    /// `acr_values` as sent in the challenge (space-separated, in preference order).
    acr_text: Option<Arc<str>>,
    /// For the audit event; computed once.
    text: Arc<str>,
}

impl RequireAuthStrength {
    /// Require `acr` to be one of `values`, listed in order of preference (the challenge's
    /// `acr_values` keeps the order). Each value must be a non-empty run of visible ASCII
    /// without `"`, `\` or space (RFC 9470 §3 sends them space-separated in a quoted
    /// string); an empty list or a bad value is a [`ConfigError::InvalidSetting`].
    ///
    /// ```
    /// use a2a_guard::RequireAuthStrength;
    /// assert!(RequireAuthStrength::acr(["phr"]).is_ok());
    /// assert!(RequireAuthStrength::acr(["two words"]).is_err());
    /// assert!(RequireAuthStrength::acr(Vec::<&str>::new()).is_err());
    /// ```
    pub fn acr<I, S>(values: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let bad = |reason| ConfigError::InvalidSetting {
            name: "RequireAuthStrength::acr",
            reason,
        };
        let acr: Arc<[Box<str>]> = values
            .into_iter()
            .map(|v| {
                let v: String = v.into();
                let ok = |b: u8| matches!(b, 0x21 | 0x23..=0x5b | 0x5d..=0x7e);
                if v.is_empty() || !v.bytes().all(ok) {
                    return Err(bad(
                        "an acr value must be visible ASCII without space, `\"` or `\\`",
                    ));
                }
                Ok(v.into_boxed_str())
            })
            .collect::<Result<_, _>>()?;
        if acr.is_empty() {
            return Err(bad("at least one acr value is required"));
        }
        Ok(RequireAuthStrength {
            acr_text: Some(acr.join(" ").into()),
            acr,
            max_age: None,
            text: Arc::from(""),
        }
        .with_text())
    }

    /// Require the user to have authenticated at most `max_age` ago (`auth_time`, on the
    /// validator's clock), whatever the `acr`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let recent = a2a_guard::RequireAuthStrength::max_age(Duration::from_secs(300));
    /// ```
    pub fn max_age(max_age: Duration) -> Self {
        RequireAuthStrength {
            acr: Arc::from([]),
            max_age: None,
            acr_text: None,
            text: Arc::from(""),
        }
        .with_max_age(max_age)
    }

    /// Also require `auth_time` to be at most `max_age` old. Whole seconds (RFC 9470 §3).
    ///
    /// ```
    /// use std::time::Duration;
    /// # fn demo() -> Result<(), a2a_guard::ConfigError> {
    /// let guard = a2a_guard::RequireAuthStrength::acr(["phr"])?.with_max_age(Duration::from_secs(120));
    /// # Ok(()) }
    /// ```
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age.as_secs());
        self.with_text()
    }

    fn with_text(mut self) -> Self {
        let mut text = String::new();
        if !self.acr.is_empty() {
            text.push_str("acr:");
            text.push_str(&self.acr.join("|"));
        }
        if let Some(age) = self.max_age {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(&format!("max_age:{age}"));
        }
        self.text = text.into();
        self
    }

    fn satisfied_by(&self, ctx: &AuthContext) -> bool {
        let acr_ok = self.acr.is_empty()
            || ctx
                .acr()
                .is_some_and(|a| self.acr.iter().any(|v| **v == *a));
        // RFC 9470 §3: `max_age` is the allowable elapsed time since the last active
        // authentication; without `auth_time` nothing says the authentication is recent.
        let age_ok = self.max_age.is_none_or(|max| {
            ctx.auth_time().is_some_and(|t| {
                let max = i64::try_from(max).unwrap_or(i64::MAX);
                ctx.checked_at().saturating_sub(t) <= max
            })
        });
        acr_ok && age_ok
    }
}

/// The service of [`RequireAuthStrength`].
pub type RequireAuthStrengthService<S> = GuardService<S, RequireAuthStrength>;

impl RouteGuard for RequireAuthStrength {
    fn evaluate(&self, ctx: Option<&AuthContext>, _: &Parts) -> (Arc<str>, Option<AuthError>) {
        let error = match ctx {
            None => Some(AuthError::MissingToken),
            Some(ctx) if self.satisfied_by(ctx) => None,
            Some(_) => Some(AuthError::InsufficientUserAuthentication {
                acr_values: self.acr_text.as_deref().map(str::to_owned),
                max_age: self.max_age,
            }),
        };
        (self.text.clone(), error)
    }
}

impl<S> Layer<S> for RequireAuthStrength {
    type Service = RequireAuthStrengthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GuardService {
            inner,
            guard: self.clone(),
        }
    }
}
