//! [`Decision`] and [`DecisionObserver`]: the auth layer's decision as a value, for code that
//! wants it without parsing log lines (SIEM export, custom counters, per-tenant alerts).

use std::sync::Arc;
use std::time::Duration;

use crate::layer::AuthContext;
use crate::scope::ScopeSet;

/// One authorization decision, as the client received it: borrowed, valid for the length of
/// the [`DecisionObserver::on_decision`] call.
///
/// The same decision is the audit event (target [`TARGET`](super::TARGET)); the two never
/// disagree, and neither contradicts the status the client got: a 401 or 403 from further
/// in (a handler, another middleware) is a denial with reason `refused_downstream`.
///
/// Strings here come from the request and the verified token as they are (not truncated as
/// in the audit event): [`path`](Self::path) is attacker-chosen, so do not use it as a
/// metric label; [`route`](Self::route) is the bounded alternative.
///
/// ```
/// use a2a_guard::audit::Decision;
///
/// fn summary(d: &Decision<'_>) -> String {
///     format!(
///         "{} {} {} -> {} ({}) sub={}",
///         if d.allowed() { "allow" } else { "deny" },
///         d.method(),
///         d.route().unwrap_or("<unmatched>"),
///         d.status().as_u16(),
///         d.reason(),
///         d.subject().unwrap_or("-"),
///     )
/// }
/// ```
#[derive(Debug)]
pub struct Decision<'a> {
    pub(crate) allowed: bool,
    pub(crate) reason: &'static str,
    pub(crate) status: u16,
    pub(crate) method: &'a http::Method,
    pub(crate) path: &'a str,
    /// The matched route template (axum's `MatchedPath`), when a guard or extractor saw it.
    pub(crate) template: Option<&'a Arc<str>>,
    pub(crate) ctx: Option<&'a AuthContext>,
    pub(crate) required: Option<&'a str>,
    pub(crate) elapsed: Duration,
}

impl<'a> Decision<'a> {
    /// Whether the request was let through and answered without a 401/403.
    pub fn allowed(&self) -> bool {
        self.allowed
    }

    /// `"allow"` or `"deny"`, as in the audit event's `decision` field.
    pub fn outcome(&self) -> &'static str {
        if self.allowed { "allow" } else { "deny" }
    }

    /// Why: one of [`AuthError::reason`](crate::AuthError::reason)'s closed set, or `ok`, or
    /// `refused_downstream` (a 401/403 from inside the layer without a route guard's
    /// decision). A `&'static str`, safe as a metric label.
    pub fn reason(&self) -> &'static str {
        self.reason
    }

    /// The status the client received (for gRPC requests, the HTTP status of the rejection
    /// before it was turned into a `grpc-status`).
    pub fn status(&self) -> http::StatusCode {
        http::StatusCode::from_u16(self.status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The request method.
    pub fn method(&self) -> &'a http::Method {
        self.method
    }

    /// The request path, as the client sent it (never the query). Attacker-chosen.
    pub fn path(&self) -> &'a str {
        self.path
    }

    /// The matched route template (`/customers/{region}`), when a route guard or extractor
    /// inside saw axum's `MatchedPath`. Bounded by the router's configuration.
    pub fn route(&self) -> Option<&'a str> {
        self.template.map(|t| &**t)
    }

    /// The verified token's view, when the request carried a valid one (also on denials
    /// after validation: insufficient scope, DPoP proof refused).
    pub fn context(&self) -> Option<&'a AuthContext> {
        self.ctx
    }

    /// `iss` of the verified token.
    pub fn issuer(&self) -> Option<&'a str> {
        self.ctx.and_then(AuthContext::issuer)
    }

    /// `sub` of the verified token.
    pub fn subject(&self) -> Option<&'a str> {
        self.ctx.and_then(AuthContext::subject)
    }

    /// `client_id` (or `azp`) of the verified token.
    pub fn client_id(&self) -> Option<&'a str> {
        self.ctx.and_then(AuthContext::client_id)
    }

    /// The delegation chain's subjects (RFC 8693 `act`), current actor first; empty when the
    /// token is not delegated or there is none.
    pub fn actors(&self) -> impl Iterator<Item = &'a str> + use<'a> {
        self.ctx.into_iter().flat_map(AuthContext::actors)
    }

    /// The granted scopes.
    pub fn granted(&self) -> Option<&'a ScopeSet> {
        self.ctx.map(AuthContext::scopes)
    }

    /// What the route guard required (`read:data`, `any(a b)`), when one ran.
    pub fn required(&self) -> Option<&'a str> {
        self.required
    }

    /// From the request reaching the auth layer to the decision: for a denial by the layer,
    /// the validation time; otherwise it includes the inner service.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }
}

/// Called once per request with the [`Decision`] the client received; register it with
/// [`AuthLayer::on_decision`](crate::AuthLayer::on_decision).
///
/// Any `Fn(&Decision<'_>) + Send + Sync + 'static` is one. It runs on the request path, after
/// the response is ready and before it is returned: keep it short and non-blocking (count,
/// or hand an owned copy to a channel), and do not panic. A request whose future is dropped
/// (the client went away) or whose inner service fails with an error (no response) produces
/// no decision.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// # async fn demo(validator: a2a_guard::Validator) {
/// let denied = Arc::new(AtomicU64::new(0));
/// let counter = denied.clone();
/// let layer = validator.layer().on_decision(move |d: &a2a_guard::audit::Decision<'_>| {
///     if !d.allowed() {
///         counter.fetch_add(1, Ordering::Relaxed);
///     }
/// });
/// # }
/// ```
pub trait DecisionObserver: Send + Sync + 'static {
    /// One decision. See the trait's documentation for what may be done here.
    fn on_decision(&self, decision: &Decision<'_>);
}

impl<F> DecisionObserver for F
where
    F: Fn(&Decision<'_>) + Send + Sync + 'static,
{
    fn on_decision(&self, decision: &Decision<'_>) {
        self(decision)
    }
}
