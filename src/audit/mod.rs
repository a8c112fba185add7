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

mod decision;
#[cfg(any(feature = "audit-json", feature = "audit-file"))]
pub(crate) mod json;

use std::fmt;

pub use decision::{Decision, DecisionObserver};
#[cfg(feature = "audit-json")]
pub use json::JsonLines;

use crate::jwk::truncate;
use crate::layer::AuthContext;

/// Target of audit events.
pub const TARGET: &str = "a2a_guard::audit";
/// Longest value of a string field, in bytes.
pub const MAX_FIELD: usize = 256;

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
    // Formatted straight into the subscriber's output, not into a string first.
    let scopes = Words(|| {
        ctx.into_iter()
            .flat_map(|c| c.scopes().iter().map(|s| s.as_str()))
    });
    let actors = Words(|| ctx.into_iter().flat_map(AuthContext::actors));
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
                route = truncate(d.route().unwrap_or(d.path), MAX_FIELD),
                path = truncate(d.path, MAX_FIELD),
                iss = f(ctx.and_then(AuthContext::issuer)),
                sub = f(ctx.and_then(AuthContext::subject)),
                client_id = f(ctx.and_then(AuthContext::client_id)),
                jti = f(ctx.and_then(AuthContext::jti)),
                scopes = tracing::field::display(&scopes),
                required = f(d.required),
                actors = tracing::field::display(&actors),
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

/// Space-separated words, formatted on demand and cut at `4 *` [`MAX_FIELD`] bytes (on a
/// character boundary), as if the joined string had been truncated.
struct Words<F>(F);

impl<'a, F, I> fmt::Display for Words<F>
where
    F: Fn() -> I,
    I: Iterator<Item = &'a str>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut room = 4 * MAX_FIELD;
        for (i, word) in (self.0)().enumerate() {
            if i > 0 {
                if room == 0 {
                    break;
                }
                f.write_str(" ")?;
                room -= 1;
            }
            let cut = truncate(word, room);
            f.write_str(cut)?;
            room -= cut.len();
            if cut.len() < word.len() {
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_cut_like_the_joined_string() {
        let long: Vec<String> = (0..400).map(|i| format!("scope:{i}:é")).collect();
        let joined = long.join(" ");
        let lazy = Words(|| long.iter().map(String::as_str)).to_string();
        assert_eq!(lazy, truncate(&joined, 4 * MAX_FIELD));
        assert!(lazy.len() <= 4 * MAX_FIELD);
        let short = ["a", "b"];
        assert_eq!(Words(|| short.iter().copied()).to_string(), "a b");
    }
}
