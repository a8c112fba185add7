//! RFC 7009 token revocation on the calling side: the request (authenticated exactly like a
//! token request, through [`Endpoint::post_form`]), the reading of its answer, one audit event
//! per token, and the [`RevocationReport`] of a batch.
//!
//! Revocation tells the authorization server that a token is no longer needed. Resource
//! servers that validate JWTs locally learn of it only through introspection or a deny-list
//! ([`crate::revocation`], [`crate::Introspection`]); otherwise a revoked JWT keeps
//! validating there until it expires.

use std::sync::Arc;
use std::time::Duration;

use super::endpoint::{Endpoint, refused};
use super::{AccessToken, ClientError};

/// RFC 7009 §2.1: the hint for the tokens this crate holds.
const ACCESS_TOKEN_HINT: &str = "access_token";
/// The longest `Retry-After` believed (an hour).
const MAX_RETRY_AFTER: u64 = 3600;

/// What a batch revocation ([`TokenSource::revoke_all`](super::TokenSource::revoke_all),
/// [`TokenExchange::revoke_all`](super::TokenExchange::revoke_all),
/// [`TaskTokens::finish`](super::TaskTokens::finish)) did: every token was tried once, in
/// turn; none is retried.
///
/// ```no_run
/// # async fn demo(tokens: a2a_guard::client::TokenSource) {
/// let report = tokens.revoke_all().await;
/// for (token, error) in &report.failed {
///     // e.g. `RevocationUnavailable`: the token stays valid until it expires; retry with
///     // `tokens.revoke(token)` or let it expire.
///     eprintln!("not revoked ({error}); expires at {:?}", token.expires_at());
/// }
/// assert!(report.revoked + report.failed.len() <= 2);
/// # }
/// ```
#[derive(Debug, Default)]
#[non_exhaustive]
#[must_use = "a token that failed to revoke stays valid until it expires"]
pub struct RevocationReport {
    /// Tokens the revocation endpoint confirmed (a 2xx answer: revoked, or unknown to it,
    /// RFC 7009 §2.2).
    pub revoked: usize,
    /// Tokens not revoked, each with the reason. They stay valid until they expire; pass
    /// one to `revoke` again to retry.
    pub failed: Vec<(AccessToken, ClientError)>,
}

impl RevocationReport {
    /// Whether every token was revoked (also `true` when there was none).
    ///
    /// ```
    /// assert!(a2a_guard::client::RevocationReport::default().is_complete());
    /// ```
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty()
    }

    /// `Ok(revoked)` when every token was revoked, else the first failure.
    ///
    /// ```
    /// let report = a2a_guard::client::RevocationReport::default();
    /// assert_eq!(report.into_result(), Ok(0));
    /// ```
    pub fn into_result(self) -> Result<usize, ClientError> {
        match self.failed.into_iter().next() {
            None => Ok(self.revoked),
            Some((_, e)) => Err(e),
        }
    }
}

/// Why a revocation was sent, for the audit event.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Trigger {
    /// `revoke(&token)`.
    Explicit,
    /// `revoke_all()`.
    Shutdown,
    /// `TaskTokens::finish()`.
    TaskFinished,
    /// A `TaskTokens` dropped without `finish()`.
    TaskDropped,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Explicit => "explicit",
            Trigger::Shutdown => "shutdown",
            Trigger::TaskFinished => "task_finished",
            Trigger::TaskDropped => "task_dropped",
        }
    }
}

/// Revokes tokens of one grant at one authorization server, as one client.
#[derive(Clone)]
pub(crate) struct Revoker {
    pub(crate) endpoint: Arc<Endpoint>,
    /// `None`: no revocation endpoint configured; every revocation fails with
    /// [`ClientError::NoRevocationEndpoint`].
    pub(crate) url: Option<reqwest::Url>,
    /// `client_credentials` or `token_exchange`, for the audit event.
    pub(crate) grant: &'static str,
}

impl Revoker {
    /// One RFC 7009 §2.1 request for `token`, and its audit event.
    pub(crate) async fn revoke(
        &self,
        token: &AccessToken,
        trigger: Trigger,
    ) -> Result<(), ClientError> {
        let result = match &self.url {
            None => Err(ClientError::NoRevocationEndpoint),
            Some(url) => {
                let params = [
                    ("token", token.secret()),
                    ("token_type_hint", ACCESS_TOKEN_HINT),
                ];
                // No DPoP proof: RFC 7009 authenticates the client, not the token's key.
                match self
                    .endpoint
                    .post_form(url, &params, false, super::endpoint::JSON)
                    .await
                {
                    Ok((status, headers, body)) => outcome(
                        status.as_u16(),
                        headers.get(http::header::RETRY_AFTER),
                        &body,
                    ),
                    Err(e) => Err(e),
                }
            }
        };
        crate::metrics::client_revocation(result.is_ok());
        match &result {
            Ok(()) => tracing::info!(
                target: "a2a_guard::client",
                event = "revoked",
                grant = self.grant,
                client_id = %self.endpoint.client_id,
                trigger = trigger.as_str(),
                jti = token.jti().unwrap_or(""),
                "access token revoked"
            ),
            Err(e) => tracing::warn!(
                target: "a2a_guard::client",
                event = "revoke_failed",
                grant = self.grant,
                client_id = %self.endpoint.client_id,
                trigger = trigger.as_str(),
                jti = token.jti().unwrap_or(""),
                error = %e,
                "access token not revoked; it stays valid until it expires"
            ),
        }
        result
    }

    /// Each token in turn, once.
    pub(crate) async fn revoke_each(
        &self,
        tokens: Vec<AccessToken>,
        trigger: Trigger,
    ) -> RevocationReport {
        let mut report = RevocationReport::default();
        for token in tokens {
            match self.revoke(&token, trigger).await {
                Ok(()) => report.revoked += 1,
                Err(e) => report.failed.push((token, e)),
            }
        }
        report
    }
}

/// RFC 7009 §2.2: a 2xx means revoked (or unknown: the same to the client; the body is
/// ignored); §2.2.1: 503 means try later, any other error is an RFC 6749 §5.2 error response.
fn outcome(
    status: u16,
    retry_after: Option<&http::HeaderValue>,
    body: &[u8],
) -> Result<(), ClientError> {
    match status {
        200..=299 => Ok(()),
        503 => Err(ClientError::RevocationUnavailable {
            retry_after: retry_after.and_then(retry_after_secs),
        }),
        _ => Err(refused(status, body)),
    }
}

/// `Retry-After` as delta-seconds (RFC 9110 §10.2.3); an HTTP-date is not read.
fn retry_after_secs(v: &http::HeaderValue) -> Option<Duration> {
    let secs: u64 = v.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(secs.min(MAX_RETRY_AFTER)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revocation_answers_are_read_as_rfc_7009_says() {
        assert_eq!(outcome(200, None, b"anything at all"), Ok(()));
        assert_eq!(outcome(204, None, b""), Ok(()));
        let later = http::HeaderValue::from_static("120");
        assert_eq!(
            outcome(503, Some(&later), b""),
            Err(ClientError::RevocationUnavailable {
                retry_after: Some(Duration::from_secs(120))
            })
        );
        let date = http::HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT");
        assert_eq!(
            outcome(503, Some(&date), b""),
            Err(ClientError::RevocationUnavailable { retry_after: None })
        );
        let huge = http::HeaderValue::from_static("99999999");
        assert_eq!(
            outcome(503, Some(&huge), b""),
            Err(ClientError::RevocationUnavailable {
                retry_after: Some(Duration::from_secs(MAX_RETRY_AFTER))
            })
        );
        assert_eq!(
            outcome(400, None, br#"{"error":"unsupported_token_type"}"#),
            Err(ClientError::Refused {
                status: 400,
                error: "unsupported_token_type".into(),
                description: None
            })
        );
        assert!(matches!(
            outcome(401, None, b"<html>"),
            Err(ClientError::Refused { status: 401, .. })
        ));
        // A redirect is not a revocation.
        assert!(outcome(302, None, b"").is_err());
    }
}
