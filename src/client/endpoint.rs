//! The token endpoint (RFC 6749 §3.2): one authenticated POST per token request, shared by
//! every grant (client credentials, token exchange) and by RFC 7009 revocation.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use secrecy::SecretString;
use serde::Deserialize;

use super::ClientError;
use super::credentials::{Secret, expose};
use super::key::{ClientKey, JWT_BEARER_ASSERTION};
use super::source::{DEFAULT_LIFETIME, MAX_LIFETIME};

/// The largest token response read.
const MAX_RESPONSE: usize = 64 * 1024;
/// Timeout of one token request.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A successful token response: the token, its lifetime, the granted scope.
pub(crate) struct Issued {
    pub(crate) value: SecretString,
    pub(crate) lifetime: Duration,
    pub(crate) scope: Option<String>,
    /// A DPoP-bound token (`token_type` `DPoP`).
    pub(crate) dpop: bool,
}

/// How a client authenticates at the token endpoint.
pub(crate) enum ClientAuth {
    /// `client_secret_basic` (RFC 6749 §2.3.1): HTTP Basic.
    Basic(Secret),
    /// `client_secret_post` (RFC 6749 §2.3.1): form parameters.
    Post(Secret),
    /// `private_key_jwt` (RFC 7523 §2.2): a fresh signed assertion per request, `aud` = the
    /// authorization server's issuer identifier.
    PrivateKeyJwt { key: ClientKey, audience: String },
    /// `tls_client_auth` / `self_signed_tls_client_auth` (RFC 8705 §2): the TLS client
    /// certificate authenticates; the form carries `client_id` only.
    Tls(super::tls::SharedTlsClient),
}

impl ClientAuth {
    /// The RFC 8414 `token_endpoint_auth_method` name, for audit events.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            ClientAuth::Basic(_) => "client_secret_basic",
            ClientAuth::Post(_) => "client_secret_post",
            ClientAuth::PrivateKeyJwt { .. } => "private_key_jwt",
            ClientAuth::Tls(_) => "tls_client_auth",
        }
    }
}

pub(crate) struct Endpoint {
    pub(crate) url: reqwest::Url,
    pub(crate) client_id: String,
    pub(crate) auth: ClientAuth,
    pub(crate) http: reqwest::Client,
    /// DPoP proofs for token requests (and the resources the tokens go to).
    pub(crate) dpop: Option<std::sync::Arc<super::dpop::Prover>>,
}

/// The `Accept` of token and revocation requests.
pub(crate) const JSON: &str = "application/json";

impl Endpoint {
    /// The HTTP client for this request: with TLS client authentication, the one presenting
    /// the current certificate (rebuilt when its file changed).
    fn client(&self) -> Result<reqwest::Client, ClientError> {
        match &self.auth {
            ClientAuth::Tls(tls) => tls.client(),
            _ => Ok(self.http.clone()),
        }
    }

    /// POST one token request with these grant parameters, authenticated as the client.
    pub(crate) async fn post(&self, params: &[(&str, &str)]) -> Result<Issued, ClientError> {
        // RFC 9449 §8: one retry when the server wants a DPoP nonce. The retry carries a new
        // proof and, with `private_key_jwt`, a new assertion (a new `jti`).
        match self.post_once(params).await {
            Err(Retry::Nonce) => match self.post_once(params).await {
                Err(Retry::Nonce) => Err(ClientError::Dpop(
                    "the token endpoint asked for a DPoP nonce twice",
                )),
                Err(Retry::Failed(e)) => Err(e),
                Ok(issued) => Ok(issued),
            },
            Err(Retry::Failed(e)) => Err(e),
            Ok(issued) => Ok(issued),
        }
    }

    async fn post_once(&self, params: &[(&str, &str)]) -> Result<Issued, Retry> {
        let (status, headers, bytes) = self.post_form(&self.url, params, true, JSON).await?;
        if let Some(prover) = &self.dpop {
            let fresh = prover.remember_nonce(self.url.as_str(), &headers);
            if fresh && super::dpop::asks_for_nonce(status.as_u16(), &headers, Some(&bytes)) {
                return Err(Retry::Nonce);
            }
        }
        if !status.is_success() {
            return Err(refused(status.as_u16(), &bytes).into());
        }
        Ok(parse_success(&bytes, self.dpop.is_some())?)
    }
}

impl Endpoint {
    /// One form POST to `url` (this endpoint's or another of the same server: revocation,
    /// introspection), authenticated as the client — the one place client authentication is
    /// done. With `dpop`, a DPoP proof for `url` is attached when the client has a key.
    /// `accept` is the `Accept` header. Returns the status, the headers and the body (at
    /// most 64 KiB).
    pub(crate) async fn post_form(
        &self,
        url: &reqwest::Url,
        params: &[(&str, &str)],
        dpop: bool,
        accept: &'static str,
    ) -> Result<(reqwest::StatusCode, reqwest::header::HeaderMap, Vec<u8>), ClientError> {
        use tracing::Instrument;
        // Span `a2a_guard.oauth.request` (crate docs, "Tracing spans"): the endpoint is
        // configuration, `grant_type` a closed set; never a token or a secret.
        let grant = params
            .iter()
            .find(|(k, _)| *k == "grant_type")
            .map_or("", |(_, v)| *v);
        let span = tracing::info_span!(target: "a2a_guard::client", "a2a_guard.oauth.request",
            url = %url, grant_type = grant, status = tracing::field::Empty);
        let result = self
            .post_form_inner(url, params, dpop, accept)
            .instrument(span.clone())
            .await;
        if let Ok((status, _, _)) = &result {
            span.record("status", status.as_u16());
        }
        result
    }

    async fn post_form_inner(
        &self,
        url: &reqwest::Url,
        params: &[(&str, &str)],
        dpop: bool,
        accept: &'static str,
    ) -> Result<(reqwest::StatusCode, reqwest::header::HeaderMap, Vec<u8>), ClientError> {
        // Read (and for a key, sign) before building the body: the serializer must not live
        // across an await (it is not `Sync`), and nothing here awaits.
        let mut basic = None;
        let mut extra: Vec<(&str, SecretString)> = Vec::new();
        match &self.auth {
            ClientAuth::Basic(secret) => basic = Some(secret.current()?),
            ClientAuth::Post(secret) => {
                extra.push(("client_id", SecretString::from(self.client_id.clone())));
                extra.push(("client_secret", secret.current()?));
            }
            ClientAuth::PrivateKeyJwt { key, audience } => {
                let assertion = key.assertion(&self.client_id, audience, SystemTime::now())?;
                extra.push(("client_id", SecretString::from(self.client_id.clone())));
                extra.push((
                    "client_assertion_type",
                    SecretString::from(JWT_BEARER_ASSERTION.to_owned()),
                ));
                extra.push(("client_assertion", assertion));
            }
            ClientAuth::Tls(_) => {
                extra.push(("client_id", SecretString::from(self.client_id.clone())));
            }
        }
        let body = SecretString::from({
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in params {
                form.append_pair(k, v);
            }
            for (k, v) in &extra {
                form.append_pair(k, expose(v));
            }
            form.finish()
        });
        let mut req = self
            .client()?
            .post(url.clone())
            .header(http::header::ACCEPT, accept)
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            );
        if let Some(prover) = self.dpop.as_ref().filter(|_| dpop) {
            let proof = prover.proof("POST", url.as_str(), None)?;
            req = req.header("dpop", proof);
        }
        if let Some(secret) = basic {
            // RFC 6749 §2.3.1: both parts form-urlencoded before Base64.
            let enc =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let creds =
                SecretString::from(format!("{}:{}", enc(&self.client_id), enc(expose(&secret))));
            let b64 = SecretString::from(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(expose(&creds))
            ));
            let mut v = http::HeaderValue::from_str(expose(&b64))
                .map_err(|_| ClientError::Secret("not usable in a header"))?;
            v.set_sensitive(true);
            req = req.header(http::header::AUTHORIZATION, v);
        }
        let res = req
            .body(expose(&body).to_owned())
            .send()
            .await
            .map_err(|e| {
                ClientError::Unreachable(if e.is_timeout() {
                    "timed out"
                } else if e.is_connect() {
                    "connection failed"
                } else {
                    "request failed"
                })
            })?;
        let status = res.status();
        let headers = res.headers().clone();
        Ok((status, headers, read_capped(res).await?))
    }
}

/// Why one attempt did not give a token.
enum Retry {
    /// The server asked for a new DPoP nonce: try once more.
    Nonce,
    Failed(ClientError),
}

impl From<ClientError> for Retry {
    fn from(e: ClientError) -> Self {
        Retry::Failed(e)
    }
}
async fn read_capped(mut res: reqwest::Response) -> Result<Vec<u8>, ClientError> {
    let mut buf = Vec::new();
    while let Some(chunk) = res
        .chunk()
        .await
        .map_err(|_| ClientError::Unreachable("the response was cut off"))?
    {
        if buf.len() + chunk.len() > MAX_RESPONSE {
            return Err(ClientError::InvalidResponse("larger than 64 KiB"));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

#[derive(Deserialize)]
struct Success {
    access_token: String,
    token_type: String,
    expires_in: Option<serde_json::Number>,
    scope: Option<String>,
}

fn parse_success(bytes: &[u8], dpop: bool) -> Result<Issued, ClientError> {
    let s: Success = serde_json::from_slice(bytes)
        .map_err(|_| ClientError::InvalidResponse("not an RFC 6749 §5.1 token response"))?;
    let value = SecretString::from(s.access_token);
    // RFC 6749 §7.1: Bearer, or DPoP when a proof was sent (RFC 9449 §5). A Bearer token in
    // answer to a DPoP request is refused: the binding asked for would silently be missing.
    match (dpop, s.token_type.to_ascii_lowercase().as_str()) {
        (false, "bearer") | (true, "dpop") => {}
        (true, "bearer") => {
            return Err(ClientError::InvalidResponse(
                "a DPoP-bound token was asked for and a Bearer token came back",
            ));
        }
        _ => return Err(ClientError::InvalidResponse("unexpected token_type")),
    }
    if expose(&value).is_empty()
        || !expose(&value)
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b))
    {
        return Err(ClientError::InvalidResponse(
            "access_token is not a token68 value (RFC 6750 §2.1)",
        ));
    }
    let lifetime = match s.expires_in {
        None => DEFAULT_LIFETIME,
        Some(n) => match n.as_u64() {
            Some(0) | None => {
                return Err(ClientError::InvalidResponse(
                    "expires_in is not a positive integer",
                ));
            }
            Some(secs) => Duration::from_secs(secs.min(MAX_LIFETIME)),
        },
    };
    Ok(Issued {
        value,
        lifetime,
        scope: s.scope,
        dpop,
    })
}

/// An RFC 6749 §5.2 error response, sanitised.
pub(crate) fn refused(status: u16, bytes: &[u8]) -> ClientError {
    #[derive(Deserialize)]
    struct ErrorBody {
        error: String,
        error_description: Option<String>,
    }
    match serde_json::from_slice::<ErrorBody>(bytes) {
        Ok(e) => ClientError::Refused {
            status,
            // RFC 6749 §5.2: error is %x20-21 / %x23-5B / %x5D-7E.
            error: e
                .error
                .chars()
                .filter(|c| matches!(c, '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e'))
                .take(64)
                .collect(),
            description: e.error_description.map(|d| {
                d.chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .take(200)
                    .collect()
            }),
        },
        Err(_) => ClientError::Refused {
            status,
            error: String::new(),
            description: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_responses_are_checked() {
        let ok = br#"{"access_token":"abc.def-ghi","token_type":"bearer","expires_in":20}"#;
        let issued = parse_success(ok, false).unwrap();
        assert_eq!(expose(&issued.value), "abc.def-ghi");
        assert_eq!(issued.lifetime, Duration::from_secs(20));
        let no_exp = br#"{"access_token":"a","token_type":"Bearer"}"#;
        assert_eq!(
            parse_success(no_exp, false).unwrap().lifetime,
            DEFAULT_LIFETIME
        );
        for bad in [
            &br#"{"access_token":"a","token_type":"mac"}"#[..],
            br#"{"access_token":"a b","token_type":"Bearer"}"#,
            br#"{"access_token":"","token_type":"Bearer"}"#,
            br#"{"access_token":"a","token_type":"Bearer","expires_in":0}"#,
            br#"{"access_token":"a","token_type":"Bearer","expires_in":-5}"#,
            br#"{"token_type":"Bearer"}"#,
            b"not json",
        ] {
            assert!(
                parse_success(bad, false).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn oauth_errors_are_parsed_and_sanitised() {
        let e = refused(
            401,
            br#"{"error":"invalid_client\"x","error_description":"bad\nsecret"}"#,
        );
        assert_eq!(
            e,
            ClientError::Refused {
                status: 401,
                error: "invalid_clientx".into(),
                description: Some("bad secret".into())
            }
        );
        assert_eq!(
            refused(500, b"<html>"),
            ClientError::Refused {
                status: 500,
                error: String::new(),
                description: None
            }
        );
    }
}
