//! [`AccessTokenMiddleware`]: the [`TokenSource`] as a `reqwest-middleware` middleware
//! (feature `reqwest-middleware`), the contract reqwest users expect.

use std::future::Future;
use std::pin::Pin;

use http::Extensions;
use reqwest_middleware::{Middleware, Next};

use super::{AccessToken, ClientError, TokenSource};

/// Adds this agent's token to every request of a `reqwest_middleware::ClientWithMiddleware`,
/// replacing any `Authorization` already set. On a 401 whose challenge says
/// `error="invalid_token"` (the resource no longer accepts the token: revoked, keys rotated)
/// it drops that token and replays the request **once** with a new one — only when the body
/// can be replayed (`Request::try_clone`) and the new token differs, so a resource that
/// refuses everything costs one extra request, never a loop.
///
/// ```no_run
/// # async fn demo(tokens: a2a_guard::client::TokenSource) -> Result<(), Box<dyn std::error::Error>> {
/// use a2a_guard::client::AccessTokenMiddleware;
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(AccessTokenMiddleware::new(tokens))
///     .build();
/// let res = client.get("https://analysis.example.com/reports").send().await?;
/// # let _ = res; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct AccessTokenMiddleware {
    source: TokenSource,
}

impl AccessTokenMiddleware {
    /// Tokens from `source`.
    pub fn new(source: TokenSource) -> Self {
        AccessTokenMiddleware { source }
    }
}

fn authorize(
    req: &mut reqwest::Request,
    token: &AccessToken,
    source: &TokenSource,
) -> Result<(), ClientError> {
    let url = req.url().to_string();
    let method = req.method().as_str().to_owned();
    super::dpop::authorize(req.headers_mut(), token, source.prover(), &method, &url)
}

impl Middleware for AccessTokenMiddleware {
    fn handle<'a, 'b, 'c, 'd>(
        &'a self,
        mut req: reqwest::Request,
        extensions: &'b mut Extensions,
        next: Next<'c>,
    ) -> Pin<Box<dyn Future<Output = reqwest_middleware::Result<reqwest::Response>> + Send + 'd>>
    where
        'a: 'd,
        'b: 'd,
        'c: 'd,
        Self: 'd,
    {
        Box::pin(async move {
            let token = self
                .source
                .token()
                .await
                .map_err(reqwest_middleware::Error::middleware)?;
            authorize(&mut req, &token, &self.source)
                .map_err(reqwest_middleware::Error::middleware)?;
            let url = req.url().to_string();
            let mut replay = req.try_clone();
            let mut res = next.clone().run(req, extensions).await?;
            // RFC 9449 §9: a resource that wants a (new) nonce answers 401 `use_dpop_nonce`
            // with `DPoP-Nonce`; retry once with the same token and a proof carrying it.
            if let Some(prover) = self.source.prover().filter(|_| token.is_dpop_bound()) {
                let fresh = prover.remember_nonce(&url, res.headers());
                if fresh
                    && super::dpop::asks_for_nonce(res.status().as_u16(), res.headers(), None)
                    && let Some(mut again) = replay.take()
                {
                    replay = again.try_clone();
                    authorize(&mut again, &token, &self.source)
                        .map_err(reqwest_middleware::Error::middleware)?;
                    res = next.clone().run(again, extensions).await?;
                }
            }
            if !super::layer::invalid_token(res.status().as_u16(), res.headers()) {
                return Ok(res);
            }
            self.source.invalidate(&token);
            let Some(mut again) = replay else {
                return Ok(res);
            };
            let Ok(fresh) = self.source.token().await else {
                return Ok(res);
            };
            // Never twice with the same token.
            if fresh.secret() == token.secret() {
                return Ok(res);
            }
            authorize(&mut again, &fresh, &self.source)
                .map_err(reqwest_middleware::Error::middleware)?;
            next.run(again, extensions).await
        })
    }
}
