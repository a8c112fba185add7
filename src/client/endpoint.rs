//! The token endpoint (RFC 6749 §3.2): one authenticated POST per token request, shared by
//! every grant (client credentials, token exchange) and by RFC 7009 revocation.

use std::time::Duration;

use base64::Engine as _;
use secrecy::SecretString;
use serde::Deserialize;

use super::ClientError;
use super::credentials::{Secret, expose};
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
}

/// How a client authenticates at the token endpoint (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthMethod {
    Basic,
    Post,
}

pub(crate) struct Endpoint {
    pub(crate) url: reqwest::Url,
    pub(crate) client_id: String,
    pub(crate) secret: Secret,
    pub(crate) method: AuthMethod,
    pub(crate) http: reqwest::Client,
}

/// What an endpoint answered to an authenticated form POST, read within [`MAX_RESPONSE`].
pub(crate) struct FormAnswer {
    pub(crate) status: http::StatusCode,
    pub(crate) headers: http::HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Endpoint {
    /// POST one token request with these grant parameters, authenticated as the client.
    pub(crate) async fn post(&self, params: &[(&str, &str)]) -> Result<Issued, ClientError> {
        let answer = self.send_form(&self.url, params).await?;
        if !answer.status.is_success() {
            return Err(refused(answer.status.as_u16(), &answer.body));
        }
        parse_success(&answer.body)
    }

    /// POST a form to `url` (the token endpoint, or another endpoint of the same
    /// authorization server such as RFC 7009 revocation), authenticated as the client: the
    /// one place client authentication happens.
    pub(crate) async fn send_form(
        &self,
        url: &reqwest::Url,
        params: &[(&str, &str)],
    ) -> Result<FormAnswer, ClientError> {
        let secret = self.secret.current()?;
        let basic = self.method == AuthMethod::Basic;
        // Built in one go: the serializer must not live across an await (it is not `Sync`).
        let body = SecretString::from({
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in params {
                form.append_pair(k, v);
            }
            if !basic {
                form.append_pair("client_id", &self.client_id);
                form.append_pair("client_secret", expose(&secret));
            }
            form.finish()
        });
        let mut req = self
            .http
            .post(url.clone())
            .header(http::header::ACCEPT, "application/json")
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            );
        if basic {
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
        let body = read_capped(res).await?;
        Ok(FormAnswer {
            status,
            headers,
            body,
        })
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

fn parse_success(bytes: &[u8]) -> Result<Issued, ClientError> {
    let s: Success = serde_json::from_slice(bytes)
        .map_err(|_| ClientError::InvalidResponse("not an RFC 6749 §5.1 token response"))?;
    let value = SecretString::from(s.access_token);
    // RFC 6749 §7.1 / RFC 6750: this source sends Bearer tokens.
    if !s.token_type.eq_ignore_ascii_case("bearer") {
        return Err(ClientError::InvalidResponse("token_type is not Bearer"));
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
        let issued = parse_success(ok).unwrap();
        assert_eq!(expose(&issued.value), "abc.def-ghi");
        assert_eq!(issued.lifetime, Duration::from_secs(20));
        let no_exp = br#"{"access_token":"a","token_type":"Bearer"}"#;
        assert_eq!(parse_success(no_exp).unwrap().lifetime, DEFAULT_LIFETIME);
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
                parse_success(bad).is_err(),
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
