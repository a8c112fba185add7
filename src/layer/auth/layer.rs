use std::sync::Arc;

use tower_layer::Layer;

use super::AuthService;
use crate::audit::{Decision, DecisionObserver};
use crate::claims::ExtraClaims;
use crate::layer::ChallengeConfig;
use crate::pop::DpopConfig;
use crate::scope::ScopeRules;
use crate::{ConfigError, Validator};

/// Applies [`AuthService`]. Cheap to clone. Build it with [`Validator::layer`].
///
/// ```
/// # async fn demo(validator: a2a_guard::Validator) {
/// let layer = validator.layer().realm("agents").optional();
/// # }
/// ```
pub struct AuthLayer<C = ExtraClaims> {
    pub(crate) validator: Validator<C>,
    pub(crate) challenge: Arc<ChallengeConfig>,
    pub(crate) optional: bool,
    pub(crate) rules: Arc<ScopeRules>,
    pub(crate) dpop: Arc<DpopConfig>,
    /// Called once per decision, in registration order; empty by default.
    pub(crate) observers: Arc<[Arc<dyn DecisionObserver>]>,
}

impl<C> Clone for AuthLayer<C> {
    fn clone(&self) -> Self {
        AuthLayer {
            validator: self.validator.clone(),
            challenge: self.challenge.clone(),
            optional: self.optional,
            rules: self.rules.clone(),
            dpop: self.dpop.clone(),
            observers: self.observers.clone(),
        }
    }
}

impl<C> std::fmt::Debug for AuthLayer<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthLayer")
            .field("realm", &self.challenge.realm)
            .field("optional", &self.optional)
            .field("observers", &self.observers.len())
            .finish_non_exhaustive()
    }
}

impl<C> AuthLayer<C> {
    /// The `realm` of `WWW-Authenticate` challenges (default: the first configured audience,
    /// else the first resource URI).
    pub fn realm(mut self, realm: impl Into<Arc<str>>) -> Self {
        Arc::make_mut(&mut self.challenge).realm = realm.into();
        self
    }

    /// The scopes this layer's 401 challenges ask for (`scope`, RFC 6750 §3): what a client
    /// that has no token, or an invalid one, should request for the routes behind this
    /// layer. MCP clients read it to choose the scopes of their token request (MCP
    /// authorization, scope selection). Space-separated scope tokens; invalid ones are a
    /// [`ConfigError`]. Default: none (clients fall back to the metadata's
    /// `scopes_supported`).
    ///
    /// A 401 from a route guard behind an [`optional`](Self::optional) layer names that
    /// route's own requirement instead; a 403 `insufficient_scope` always names the
    /// requirement that failed.
    ///
    /// ```
    /// # async fn demo(validator: a2a_guard::Validator) -> Result<(), a2a_guard::ConfigError> {
    /// let layer = validator.layer().challenge_scope(["read:data"])?;
    /// assert!(validator.layer().challenge_scope(["bad\"scope"]).is_err());
    /// # Ok(()) }
    /// ```
    pub fn challenge_scope<I, S>(mut self, scopes: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut text = String::new();
        for s in scopes {
            let s = crate::scope::Scope::parse(s.as_ref()).map_err(|_| {
                ConfigError::InvalidSetting {
                    name: "challenge_scope",
                    reason: "not a scope token (RFC 6749 §3.3)",
                }
            })?;
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(s.as_str());
        }
        Arc::make_mut(&mut self.challenge).scope = (!text.is_empty()).then(|| text.into());
        Ok(self)
    }

    /// Let requests without any token through, unauthenticated (read them with
    /// `OptionalClaims`). A token that is present but invalid is still rejected.
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    /// DPoP settings (RFC 9449): origins for `htu`, algorithms, `iat` window, replay store,
    /// server nonces. DPoP-bound tokens are always checked; without this call (no origin)
    /// they are all refused. The configuration is checked here, once: no origin, a bad
    /// origin, an empty algorithm list, a replay store that forgets before the proof window
    /// ends, or a nonce key that cannot be had is a [`ConfigError`].
    ///
    /// ```
    /// # async fn demo(validator: a2a_guard::Validator) -> Result<(), a2a_guard::ConfigError> {
    /// use a2a_guard::pop::DpopConfig;
    /// let layer = validator.layer().dpop(DpopConfig::new().origin("https://agents.example.com"))?;
    /// assert!(validator.layer().dpop(DpopConfig::new().origin("not a url")).is_err());
    /// # Ok(()) }
    /// ```
    pub fn dpop(mut self, config: DpopConfig) -> Result<Self, ConfigError> {
        let config = config.checked()?;
        Arc::make_mut(&mut self.challenge).dpop_algs = Arc::from(config.algs());
        self.dpop = Arc::new(config);
        Ok(self)
    }

    /// Call `observer` once per request with the [`Decision`] the client received: the
    /// programmatic twin of the audit event (SIEM export, custom counters) without parsing
    /// logs. Several observers are called in the order they were added. With none, the layer
    /// does no work for them.
    ///
    /// ```
    /// use a2a_guard::audit::Decision;
    /// # async fn demo(validator: a2a_guard::Validator) {
    /// let layer = validator.layer().on_decision(|d: &Decision<'_>| {
    ///     if !d.allowed() {
    ///         eprintln!("denied {} {}: {}", d.method(), d.route().unwrap_or("?"), d.reason());
    ///     }
    /// });
    /// # }
    /// ```
    pub fn on_decision(mut self, observer: impl DecisionObserver) -> Self {
        let mut all: Vec<_> = self.observers.iter().cloned().collect();
        all.push(Arc::new(observer));
        self.observers = all.into();
        self
    }

    /// Whether anyone reads decisions: an audit subscriber, an observer, or metrics.
    pub(crate) fn observing(&self) -> bool {
        !self.observers.is_empty() || crate::audit::wanted() || cfg!(feature = "metrics")
    }

    /// Hand one decision to everyone who reads it.
    pub(crate) fn decided(&self, decision: &Decision<'_>) {
        decided(&self.observers, decision);
    }

    /// Implication rules for [`RequireScopes`](crate::RequireScopes) (e.g. `write ⇒ read`).
    pub fn scope_rules(mut self, rules: ScopeRules) -> Self {
        self.rules = Arc::new(rules);
        self
    }
}

impl<S, C> Layer<S> for AuthLayer<C> {
    type Service = AuthService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            layer: Arc::new(self.clone()),
        }
    }
}

/// Hand one decision to everyone who reads it: the audit event, metrics, the observers.
pub(crate) fn decided(observers: &[Arc<dyn DecisionObserver>], decision: &Decision<'_>) {
    crate::audit::emit(decision);
    crate::metrics::decision(decision.allowed, decision.reason, decision.template);
    for o in observers {
        o.on_decision(decision);
    }
}
