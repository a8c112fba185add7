//! [`RequireActor`]: a route guard on the current actor of a delegated token.

use std::sync::Arc;

use http::request::Parts;
use tower_layer::Layer;

use super::AuthContext;
use super::guard::{GuardService, RouteGuard};
use crate::AuthError;

/// One allowed actor: its `sub`, and optionally its `iss`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorMatch {
    sub: String,
    iss: Option<String>,
}

impl ActorMatch {
    /// An actor with this `sub` (any issuer).
    pub fn new(sub: impl Into<String>) -> Self {
        ActorMatch {
            sub: sub.into(),
            iss: None,
        }
    }

    /// Also require the actor's `iss`.
    pub fn issuer(mut self, iss: impl Into<String>) -> Self {
        self.iss = Some(iss.into());
        self
    }

    fn matches(&self, actor: &crate::claims::Actor) -> bool {
        actor.sub.as_deref() == Some(self.sub.as_str())
            && self
                .iss
                .as_deref()
                .is_none_or(|i| actor.iss.as_deref() == Some(i))
    }
}

impl From<&str> for ActorMatch {
    fn from(sub: &str) -> Self {
        ActorMatch::new(sub)
    }
}

/// Admit only delegated tokens (RFC 8693 `act`) whose **current** actor is one of these.
/// Only the current actor decides: nested actors are informational (RFC 8693 §4.1).
/// A token without `act` is refused with 403.
///
/// ```
/// use a2a_guard::{ActorMatch, RequireActor};
/// let orchestrators = RequireActor::any(["orchestrator"]);
/// let pinned = RequireActor::any([ActorMatch::new("orchestrator").issuer("https://auth.example.com")]);
/// ```
#[derive(Debug, Clone)]
pub struct RequireActor {
    allowed: Arc<[ActorMatch]>,
    /// `actor:a|b`, for the audit event; computed once.
    text: Arc<str>,
}

impl RequireActor {
    /// Any one of these actors.
    pub fn any<I, A>(actors: I) -> Self
    where
        I: IntoIterator<Item = A>,
        A: Into<ActorMatch>,
    {
        let allowed: Arc<[ActorMatch]> = actors.into_iter().map(Into::into).collect();
        let text = format!(
            "actor:{}",
            allowed
                .iter()
                .map(|a| a.sub.as_str())
                .collect::<Vec<_>>()
                .join("|")
        )
        .into();
        RequireActor { allowed, text }
    }
}

/// The service of [`RequireActor`].
pub type RequireActorService<S> = GuardService<S, RequireActor>;

impl RouteGuard for RequireActor {
    fn evaluate(&self, ctx: Option<&AuthContext>, _: &Parts) -> (Arc<str>, Option<AuthError>) {
        let text = self.text.clone();
        let error = match ctx {
            None => Some(AuthError::MissingToken),
            Some(ctx) => match ctx.actor() {
                Some(actor) if self.allowed.iter().any(|m| m.matches(actor)) => None,
                _ => Some(AuthError::ActorNotAllowed),
            },
        };
        (text, error)
    }
}

impl<S> Layer<S> for RequireActor {
    type Service = RequireActorService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GuardService {
            inner,
            guard: self.clone(),
        }
    }
}
