//! RFC 8693 token exchange: an agent that received a token trades it for a narrower one
//! addressed to the next agent, naming itself as actor — delegation without forwarding the
//! inbound token.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest;
use secrecy::SecretString;

use super::credentials::expose;
use super::endpoint::{Endpoint, Issued};
use super::revocation::{RevocationReport, Revoker, Trigger};
use super::{AccessToken, ClientError, TaskTokens, TokenSource};
use crate::scope::{ScopeRequirement, ScopeRules};
use crate::{ConfigError, Principal};

/// RFC 8693 §2.1 / §3.
const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// The grant named in audit events.
const GRANT_NAME: &str = "token_exchange";
/// Memory the exchanged-token cache may use.
pub const DEFAULT_EXCHANGE_CACHE_BYTES: u64 = 16 << 20;

/// The token the auth layer verified for this request, kept (feature `client`) so a handler
/// can exchange it — never to forward it. Read it with axum's `Extension<InboundToken>` or
/// from the request extensions; it does not print.
#[derive(Clone)]
pub struct InboundToken(Arc<SecretString>);

impl InboundToken {
    pub(crate) fn new(token: &str) -> Self {
        InboundToken(Arc::new(SecretString::from(token.to_owned())))
    }

    /// The token, for the exchange request only.
    pub(super) fn expose(&self) -> &str {
        expose(&self.0)
    }
}

impl std::fmt::Debug for InboundToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InboundToken(redacted)")
    }
}

/// What to ask for in an exchange.
///
/// ```
/// use a2a_guard::client::DelegateTo;
/// let to = DelegateTo::resource("https://analysis.example.com/").scope(["read:data"]);
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct DelegateTo {
    pub(super) resources: Vec<String>,
    pub(super) audience: Option<String>,
    pub(super) scopes: Vec<String>,
}

impl DelegateTo {
    /// The downstream resource (RFC 8707); call [`also_resource`](Self::also_resource) for more.
    pub fn resource(uri: impl Into<String>) -> Self {
        DelegateTo {
            resources: vec![uri.into()],
            ..Default::default()
        }
    }

    /// The downstream audience (RFC 8693 `audience`), for servers that name targets so.
    pub fn audience(audience: impl Into<String>) -> Self {
        DelegateTo {
            audience: Some(audience.into()),
            ..Default::default()
        }
    }

    /// One more resource.
    pub fn also_resource(mut self, uri: impl Into<String>) -> Self {
        self.resources.push(uri.into());
        self
    }

    /// The scopes wanted downstream: each must be covered by the inbound token's scopes.
    pub fn scope<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }
}

/// Exchanges inbound tokens for delegated ones (RFC 8693 §2.1), with this agent's own
/// client-credentials token as `actor_token`. Results are cached per (subject token, target,
/// scopes), never past the subject token's `exp`, bounded in bytes; concurrent requests for
/// the same exchange make one token request.
///
/// ```no_run
/// # async fn demo(principal: a2a_guard::Principal, inbound: a2a_guard::client::InboundToken)
/// # -> Result<(), Box<dyn std::error::Error>> {
/// use a2a_guard::client::{ClientCredentials, DelegateTo, Secret, TokenExchange};
/// let me = ClientCredentials::new("https://auth.example.com/token", "orchestrator")
///     .secret(Secret::env("ORCHESTRATOR_SECRET"))
///     .build()?;
/// let exchange = TokenExchange::builder(me).build()?;
/// let token = exchange
///     .delegate(&principal, &inbound, DelegateTo::resource("https://analysis.example.com/").scope(["read:data"]))
///     .await?;
/// # let _ = token; Ok(()) }
/// ```
#[derive(Clone)]
pub struct TokenExchange {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for TokenExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenExchange")
            .field("endpoint", &self.inner.endpoint.url.as_str())
            .finish_non_exhaustive()
    }
}

pub(super) struct Inner {
    endpoint: Arc<Endpoint>,
    /// RFC 7009 at the actor's revocation endpoint, as the actor's client.
    pub(super) revoker: Revoker,
    actor: TokenSource,
    max_depth: usize,
    rules: ScopeRules,
    cache: moka::future::Cache<[u8; 32], (AccessToken, Duration)>,
}

/// Builds a [`TokenExchange`].
#[must_use]
pub struct TokenExchangeBuilder {
    actor: TokenSource,
    max_depth: usize,
    rules: ScopeRules,
    cache_bytes: u64,
}

impl TokenExchange {
    /// Exchange at `actor`'s token endpoint, authenticated as `actor`'s client, with
    /// `actor`'s own token as `actor_token`.
    pub fn builder(actor: TokenSource) -> TokenExchangeBuilder {
        TokenExchangeBuilder {
            actor,
            max_depth: crate::DEFAULT_MAX_DELEGATION_DEPTH,
            rules: ScopeRules::default(),
            cache_bytes: DEFAULT_EXCHANGE_CACHE_BYTES,
        }
    }

    /// Exchange the inbound token of `principal` for one addressed to `to`. Refused before
    /// asking (no token request) when a wanted scope is not covered by the inbound token's
    /// scopes (hierarchical rules apply) or when the inbound delegation chain is already
    /// `max_delegation_depth` long.
    pub async fn delegate<C>(
        &self,
        principal: &Principal<C>,
        inbound: &InboundToken,
        to: DelegateTo,
    ) -> Result<AccessToken, ClientError> {
        self.inner.check_delegable(principal, &to)?;
        let subject_exp = principal.registered().exp.map(|e| e.0);
        self.exchange(inbound.expose(), subject_exp, &to).await
    }

    /// A handle for one task: the tokens it delegates are its own (never taken from nor put
    /// into this exchange's shared cache) and are revoked when the task ends — by
    /// [`TaskTokens::finish`], or best effort when the handle is dropped. Revocation goes to
    /// the actor's [`revocation_endpoint`](super::ClientCredentials::revocation_endpoint).
    ///
    /// ```no_run
    /// # async fn demo(exchange: a2a_guard::client::TokenExchange, principal: a2a_guard::Principal,
    /// #     inbound: a2a_guard::client::InboundToken) -> Result<(), a2a_guard::client::ClientError> {
    /// use a2a_guard::client::DelegateTo;
    /// let task = exchange.task();
    /// let token = task
    ///     .delegate(&principal, &inbound, DelegateTo::resource("https://analysis.example.com/"))
    ///     .await?;
    /// // … call the analysis agent with `token` …
    /// let report = task.finish().await; // revokes what the task obtained
    /// # let _ = (token, report); Ok(()) }
    /// ```
    pub fn task(&self) -> TaskTokens {
        TaskTokens::new(self.inner.clone())
    }

    /// Revoke `token` (RFC 7009, as [`TokenSource::revoke`] does) and drop it from this
    /// exchange's cache first, whatever the outcome. For an exchanged token, e.g. one a
    /// [`RevocationReport`] lists as failed.
    ///
    /// ```no_run
    /// # async fn demo(exchange: a2a_guard::client::TokenExchange, token: a2a_guard::client::AccessToken)
    /// # -> Result<(), a2a_guard::client::ClientError> {
    /// exchange.revoke(&token).await?;
    /// # Ok(()) }
    /// ```
    pub async fn revoke(&self, token: &AccessToken) -> Result<(), ClientError> {
        let keys: Vec<Arc<[u8; 32]>> = self
            .inner
            .cache
            .iter()
            .filter(|(_, (t, _))| t.same_as(token))
            .map(|(k, _)| k)
            .collect();
        for k in keys {
            self.inner.cache.invalidate(&*k).await;
        }
        self.inner.revoker.revoke(token, Trigger::Explicit).await
    }

    /// For a graceful shutdown: revoke every exchanged token in the shared cache and empty
    /// it, so the next [`delegate`](Self::delegate) exchanges anew. Tokens held by
    /// [`TaskTokens`] are their tasks' to revoke; the actor's own token is the
    /// [`TokenSource`]'s ([`TokenSource::revoke_all`]). Each token is tried once.
    ///
    /// ```no_run
    /// # async fn demo(me: a2a_guard::client::TokenSource, exchange: a2a_guard::client::TokenExchange) {
    /// let delegated = exchange.revoke_all().await;
    /// let own = me.revoke_all().await;
    /// let stay_valid = delegated.failed.len() + own.failed.len();
    /// # let _ = stay_valid; }
    /// ```
    pub async fn revoke_all(&self) -> RevocationReport {
        let entries: Vec<(Arc<[u8; 32]>, AccessToken)> =
            self.inner.cache.iter().map(|(k, (t, _))| (k, t)).collect();
        let mut tokens = Vec::with_capacity(entries.len());
        for (k, t) in entries {
            self.inner.cache.invalidate(&*k).await;
            tokens.push(t);
        }
        self.inner
            .revoker
            .revoke_each(tokens, Trigger::Shutdown)
            .await
    }

    /// Exchange a subject token directly. `subject_exp` (Unix seconds) bounds how long the
    /// result is cached.
    pub async fn exchange(
        &self,
        subject_token: &str,
        subject_exp: Option<i64>,
        to: &DelegateTo,
    ) -> Result<AccessToken, ClientError> {
        let key = cache_key(subject_token, to);
        let inner = self.inner.clone();
        let subject = SecretString::from(subject_token.to_owned());
        let to = to.clone();
        let asked = std::sync::atomic::AtomicBool::new(false);
        let asked_ref = &asked;
        let entry = self
            .inner
            .cache
            .try_get_with(key, async move {
                asked_ref.store(true, std::sync::atomic::Ordering::Relaxed);
                let token = inner.request(&subject, &to).await?;
                let ttl = keep_for(&token, subject_exp);
                Ok::<_, ClientError>((token, ttl))
            })
            .await
            .map_err(|e: Arc<ClientError>| (*e).clone())?;
        if !asked.load(std::sync::atomic::Ordering::Relaxed) {
            crate::metrics::client_token_cache_hit("token_exchange");
        }
        Ok(entry.0)
    }
}

impl TokenExchangeBuilder {
    /// Refuse to exchange an inbound token whose delegation chain already has this many
    /// actors (default [`DEFAULT_MAX_DELEGATION_DEPTH`](crate::DEFAULT_MAX_DELEGATION_DEPTH),
    /// the validator's default).
    pub fn max_delegation_depth(mut self, depth: usize) -> Self {
        self.max_depth = depth;
        self
    }

    /// Scope implication rules for the subset check (the same as the layer's).
    pub fn scope_rules(mut self, rules: ScopeRules) -> Self {
        self.rules = rules;
        self
    }

    /// Memory for cached exchanged tokens (default [`DEFAULT_EXCHANGE_CACHE_BYTES`]).
    pub fn cache_bytes(mut self, bytes: u64) -> Self {
        self.cache_bytes = bytes;
        self
    }

    /// Finish.
    pub fn build(self) -> Result<TokenExchange, ConfigError> {
        let endpoint = self.actor.inner.endpoint.clone();
        let cache = moka::future::Cache::builder()
            .max_capacity(self.cache_bytes)
            .weigher(|_, (t, _): &(AccessToken, Duration)| {
                u32::try_from(t.secret().len() + 256).unwrap_or(u32::MAX)
            })
            .expire_after(PerEntry)
            .build();
        let revoker = Revoker {
            endpoint: endpoint.clone(),
            url: self.actor.inner.revoker.url.clone(),
            grant: GRANT_NAME,
        };
        Ok(TokenExchange {
            inner: Arc::new(Inner {
                endpoint,
                revoker,
                actor: self.actor,
                max_depth: self.max_depth,
                rules: self.rules,
                cache,
            }),
        })
    }
}

/// Each exchanged token lives in the cache until its own usable end or its subject's `exp`,
/// whichever is first.
struct PerEntry;

impl moka::Expiry<[u8; 32], (AccessToken, Duration)> for PerEntry {
    fn expire_after_create(
        &self,
        _: &[u8; 32],
        v: &(AccessToken, Duration),
        _: std::time::Instant,
    ) -> Option<Duration> {
        Some(v.1)
    }
}

/// How long an exchanged token may be kept: until its own usable end or its subject's `exp`
/// (Unix seconds), whichever is first.
pub(super) fn keep_for(token: &AccessToken, subject_exp: Option<i64>) -> Duration {
    let now = SystemTime::now();
    let token_ttl = token.usable_until().duration_since(now).unwrap_or_default();
    // To the millisecond: whole seconds of `now` would keep the entry up to a second past
    // the subject's `exp`.
    let subject_ttl = subject_exp.map_or(token_ttl, |e| {
        (UNIX_EPOCH + Duration::from_secs(u64::try_from(e).unwrap_or(0)))
            .duration_since(now)
            .unwrap_or_default()
    });
    token_ttl.min(subject_ttl)
}

impl Inner {
    /// Refuse before asking: a wanted scope the inbound token does not cover, or a chain
    /// already at the depth limit.
    pub(super) fn check_delegable<C>(
        &self,
        principal: &Principal<C>,
        to: &DelegateTo,
    ) -> Result<(), ClientError> {
        for s in &to.scopes {
            if !principal
                .scopes()
                .satisfies(&ScopeRequirement::from(s.as_str()), &self.rules)
            {
                return Err(ClientError::NotDelegable(
                    "a wanted scope is not covered by the inbound token",
                ));
            }
        }
        if principal.delegation_chain().count() >= self.max_depth {
            return Err(ClientError::NotDelegable(
                "the inbound delegation chain is already at the limit",
            ));
        }
        Ok(())
    }

    /// One exchange request (no cache), with its audit event.
    pub(super) async fn request(
        &self,
        subject: &SecretString,
        to: &DelegateTo,
    ) -> Result<AccessToken, ClientError> {
        let result = self.request_once(subject, to).await;
        crate::metrics::client_token_request("token_exchange", result.is_ok());
        if let Err(e) = &result {
            tracing::warn!(
                target: "a2a_guard::client",
                event = "failed",
                grant = GRANT_NAME,
                client_id = %self.endpoint.client_id,
                scope = %to.scopes.join(" "),
                resource = ?to.resources,
                audience = to.audience.as_deref().unwrap_or(""),
                error = %e,
                "token exchange failed"
            );
        }
        result
    }

    async fn request_once(
        &self,
        subject: &SecretString,
        to: &DelegateTo,
    ) -> Result<AccessToken, ClientError> {
        let actor = self.actor.token().await?;
        let scope = to.scopes.join(" ");
        let mut params: Vec<(&str, &str)> = vec![
            ("grant_type", GRANT),
            ("subject_token", expose(subject)),
            ("subject_token_type", ACCESS_TOKEN_TYPE),
            ("actor_token", actor.secret()),
            ("actor_token_type", ACCESS_TOKEN_TYPE),
            ("requested_token_type", ACCESS_TOKEN_TYPE),
        ];
        if !scope.is_empty() {
            params.push(("scope", &scope));
        }
        for r in &to.resources {
            params.push(("resource", r));
        }
        if let Some(a) = &to.audience {
            params.push(("audience", a));
        }
        let issued: Issued = self.endpoint.post(&params).await?;
        let lifetime = issued.lifetime;
        let granted = issued.scope.clone();
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let token = AccessToken::new(
            issued,
            now_ms,
            super::DEFAULT_EXPIRY_SKEW,
            super::DEFAULT_REFRESH_FRACTION,
        );
        tracing::info!(
            target: "a2a_guard::client",
            event = "issued",
            grant = GRANT_NAME,
            client_id = %self.endpoint.client_id,
            scope = %granted.as_deref().unwrap_or(&scope),
            resource = ?to.resources,
            audience = to.audience.as_deref().unwrap_or(""),
            lifetime_s = lifetime.as_secs(),
            jti = token.jti().unwrap_or(""),
            "delegated access token acquired"
        );
        Ok(token)
    }
}

/// SHA-256 over everything that changes the exchanged token, so the cache never holds a
/// subject token and two targets never share an entry.
pub(super) fn cache_key(subject: &str, to: &DelegateTo) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    let mut part = |s: &str| {
        ctx.update(&(s.len() as u64).to_le_bytes());
        ctx.update(s.as_bytes());
    };
    part(subject);
    for s in &to.scopes {
        part(s);
    }
    part("\u{0}resources");
    for r in &to.resources {
        part(r);
    }
    part(to.audience.as_deref().unwrap_or("\u{0}none"));
    let d = ctx.finish();
    let mut k = [0u8; 32];
    k.copy_from_slice(d.as_ref());
    k
}
