//! One `tracing` event per decision, at target `a2a_guard::audit`.
//!
//! Fields: `decision` (`allow`/`deny`), `reason` (see [`AuthError::reason`](crate::AuthError::reason),
//! `refused_downstream` for a 401/403 from inside, or `ok`), `status`, `method`, `route` (the
//! matched route template such as `/customers/{region}` when a route guard or extractor saw
//! axum's `MatchedPath`, else the path: what dashboards group by), `path` (the raw path, never
//! the query), `iss`, `sub`,
//! `client_id`, `jti`, `scopes` (granted), `required` (when a scope guard ran), `actors`
//! (the delegation chain, current actor first). Never the token. Attacker-chosen strings are
//! truncated to [`MAX_FIELD`] bytes.
//!
//! Route audit events to their own sink with a `tracing-subscriber` filter on the target:
//!
//! ```
//! use tracing_subscriber::{EnvFilter, fmt, prelude::*};
//! let audit_only = fmt::layer().json().with_filter(EnvFilter::new("a2a_guard::audit=info"));
//! let _subscriber = tracing_subscriber::registry().with(audit_only);
//! ```

use crate::jwk::truncate;
use crate::layer::AuthContext;

/// Target of audit events.
pub const TARGET: &str = "a2a_guard::audit";
/// Longest value of a string field, in bytes.
pub const MAX_FIELD: usize = 256;

pub(crate) struct Decision<'a> {
    pub(crate) allowed: bool,
    pub(crate) reason: &'static str,
    pub(crate) status: u16,
    pub(crate) method: &'a http::Method,
    pub(crate) path: &'a str,
    /// The matched route template (axum's `MatchedPath`), when a guard or extractor saw it.
    pub(crate) template: Option<&'a str>,
    pub(crate) ctx: Option<&'a AuthContext>,
    pub(crate) required: Option<&'a str>,
}

/// Whether any audit event would be recorded (deny events are `WARN`, allow events `INFO`):
/// lets callers skip collecting fields nobody reads.
pub(crate) fn wanted() -> bool {
    tracing::enabled!(target: TARGET, tracing::Level::WARN)
}

pub(crate) fn emit(d: &Decision<'_>) {
    // Build the field strings only when someone listens.
    let enabled = if d.allowed {
        tracing::enabled!(target: TARGET, tracing::Level::INFO)
    } else {
        tracing::enabled!(target: TARGET, tracing::Level::WARN)
    };
    if !enabled {
        return;
    }
    fn f(s: Option<&str>) -> &str {
        s.map_or("", |s| truncate(s, MAX_FIELD))
    }
    let ctx = d.ctx;
    let scopes = ctx.map(|c| c.scopes().to_string()).unwrap_or_default();
    let actors = ctx
        .map(|c| c.actors().collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let decision = if d.allowed { "allow" } else { "deny" };
    macro_rules! event {
        ($lvl:expr) => {
            tracing::event!(
                target: TARGET,
                $lvl,
                decision,
                reason = d.reason,
                status = d.status,
                method = truncate(d.method.as_str(), MAX_FIELD),
                route = truncate(d.template.unwrap_or(d.path), MAX_FIELD),
                path = truncate(d.path, MAX_FIELD),
                iss = f(ctx.and_then(AuthContext::issuer)),
                sub = f(ctx.and_then(AuthContext::subject)),
                client_id = f(ctx.and_then(AuthContext::client_id)),
                jti = f(ctx.and_then(AuthContext::jti)),
                scopes = truncate(&scopes, 4 * MAX_FIELD),
                required = f(d.required),
                actors = truncate(&actors, 4 * MAX_FIELD),
                "authorization decision"
            )
        };
    }
    if d.allowed {
        event!(tracing::Level::INFO);
    } else {
        event!(tracing::Level::WARN);
    }
}
