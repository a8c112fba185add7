//! [`TaskTokens`]: the delegated tokens of one task, revoked when the task ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use secrecy::SecretString;

use super::exchange::{self, DelegateTo, InboundToken};
use super::revocation::{RevocationReport, Trigger};
use super::{AccessToken, ClientError};
use crate::Principal;

/// The delegated tokens of one task (from [`TokenExchange::task`](super::TokenExchange::task)).
///
/// A handler delegates through it exactly as through the exchange
/// ([`delegate`](Self::delegate): the same scope and depth checks, the same RFC 8693
/// request), but the tokens are the task's own: never taken from nor put into the
/// exchange's shared cache, reused only within the task for the same subject and target,
/// and revoked (RFC 7009) when the task ends:
///
/// - [`finish`](Self::finish) revokes every token the task obtained, once each, and reports
///   which stay valid. Use it: it is the only way to know.
/// - Dropping the handle without `finish` (an early return, an error, a panic, a cancelled
///   request) revokes **on a best-effort basis**: when the drop happens inside a tokio
///   runtime, the revocations are spawned onto it and the drop returns at once; their
///   outcome is only logged (one `revoked` / `revoke_failed` event per token), nothing is
///   retried, and a runtime shutting down may cancel them before they are sent. Outside a
///   runtime nothing is sent and a warning is logged. A token that was not revoked stays
///   valid until it expires.
///
/// Not `Clone`: share it by reference (`delegate` takes `&self`, so concurrent delegations
/// in one handler work).
///
/// ```no_run
/// use a2a_guard::Principal;
/// use a2a_guard::client::{DelegateTo, InboundToken, TokenExchange};
/// use axum::Extension;
///
/// async fn task(p: Principal, Extension(inbound): Extension<InboundToken>,
///               Extension(exchange): Extension<TokenExchange>) -> Result<String, String> {
///     let task = exchange.task();
///     let to = DelegateTo::resource("https://analysis.example.com/").scope(["read:data"]);
///     let token = task.delegate(&p, &inbound, to).await.map_err(|e| e.to_string())?;
///     // … call the specialist with `Bearer {token.secret()}` …
///     let report = task.finish().await;
///     Ok(format!("done; {} token(s) revoked", report.revoked))
/// }
/// ```
#[must_use = "dropping the handle revokes its tokens only on a best-effort basis; call finish()"]
pub struct TaskTokens {
    exchange: Arc<exchange::Inner>,
    held: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    /// Per subject and target (the exchange's cache key): the token and until when it may
    /// be reused.
    by_target: HashMap<[u8; 32], (AccessToken, Instant)>,
    /// Every token obtained, in order: what `finish` and `Drop` revoke.
    obtained: Vec<AccessToken>,
}

impl std::fmt::Debug for TaskTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskTokens")
            .field("obtained", &self.lock().obtained.len())
            .finish_non_exhaustive()
    }
}

impl TaskTokens {
    pub(super) fn new(exchange: Arc<exchange::Inner>) -> Self {
        TaskTokens {
            exchange,
            held: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Exchange the inbound token of `principal` for one addressed to `to`, as
    /// [`TokenExchange::delegate`](super::TokenExchange::delegate) does (refused before
    /// asking when a wanted scope is not covered or the chain is at its limit), for this
    /// task only. Asking again for the same subject and target reuses the task's token
    /// while it is usable and its subject has not expired.
    ///
    /// ```no_run
    /// # async fn demo(task: &a2a_guard::client::TaskTokens, p: a2a_guard::Principal,
    /// #     inbound: a2a_guard::client::InboundToken) -> Result<(), a2a_guard::client::ClientError> {
    /// use a2a_guard::client::DelegateTo;
    /// let (a, b) = tokio::join!(
    ///     task.delegate(&p, &inbound, DelegateTo::resource("https://analysis.example.com/")),
    ///     task.delegate(&p, &inbound, DelegateTo::resource("https://reports.example.com/")),
    /// );
    /// # let _ = (a?, b?); Ok(()) }
    /// ```
    pub async fn delegate<C>(
        &self,
        principal: &Principal<C>,
        inbound: &InboundToken,
        to: DelegateTo,
    ) -> Result<AccessToken, ClientError> {
        self.exchange.check_delegable(principal, &to)?;
        let key = exchange::cache_key(inbound.expose(), &to);
        if let Some((t, until)) = self.lock().by_target.get(&key)
            && Instant::now() < *until
        {
            return Ok(t.clone());
        }
        let subject = SecretString::from(inbound.expose().to_owned());
        let token = self.exchange.request(&subject, &to).await?;
        let subject_exp = principal.registered().exp.map(|e| e.0);
        let until = Instant::now() + exchange::keep_for(&token, subject_exp);
        let mut held = self.lock();
        // Kept even when a concurrent call for the same target won: both get revoked.
        held.obtained.push(token.clone());
        held.by_target.insert(key, (token.clone(), until));
        Ok(token)
    }

    /// How many tokens the task has obtained so far.
    ///
    /// ```no_run
    /// # fn demo(exchange: a2a_guard::client::TokenExchange) {
    /// let task = exchange.task();
    /// assert_eq!(task.obtained(), 0);
    /// # drop(task); }
    /// ```
    pub fn obtained(&self) -> usize {
        self.lock().obtained.len()
    }

    /// End the task: revoke every token it obtained (RFC 7009, each tried once, in order) and
    /// report which were revoked and which stay valid until they expire (e.g. the revocation
    /// endpoint answered 503, or none is configured:
    /// [`ClientError::NoRevocationEndpoint`]). One audit event per token.
    ///
    /// ```no_run
    /// # async fn demo(task: a2a_guard::client::TaskTokens) {
    /// let report = task.finish().await;
    /// if !report.is_complete() {
    ///     tracing::warn!(left = report.failed.len(), "delegated tokens outlive the task");
    /// }
    /// # }
    /// ```
    pub async fn finish(self) -> RevocationReport {
        let tokens = std::mem::take(&mut self.lock().obtained);
        self.exchange
            .revoker
            .revoke_each(tokens, Trigger::TaskFinished)
            .await
    }
}

impl Drop for TaskTokens {
    /// Best effort: see the type's documentation.
    fn drop(&mut self) {
        let tokens = std::mem::take(&mut self.lock().obtained);
        if tokens.is_empty() {
            return;
        }
        let count = tokens.len();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                tracing::warn!(
                    target: "a2a_guard::client",
                    event = "task_dropped",
                    tokens = count,
                    "task tokens dropped without finish(); revoking them in the background"
                );
                let revoker = self.exchange.revoker.clone();
                runtime.spawn(async move {
                    // The outcome is in the per-token audit events.
                    let _report = revoker.revoke_each(tokens, Trigger::TaskDropped).await;
                });
            }
            Err(_) => tracing::warn!(
                target: "a2a_guard::client",
                event = "task_dropped",
                tokens = count,
                "task tokens dropped without finish() outside a tokio runtime; \
                 not revoked, they stay valid until they expire"
            ),
        }
    }
}
