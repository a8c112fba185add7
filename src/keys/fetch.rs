//! Getting a JWK Set: over HTTP (a JWKS URL, or OIDC / RFC 8414 discovery), or from a file.
//! Every fetch is bounded: connect and total timeouts, redirect count, body size.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, DATE, EXPIRES};
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::error::ConfigError;
use crate::jwk::KeySet;

/// Why a fetch failed. Shown in health reports and warning events; never contains key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// Connection refused, DNS, TLS, reset.
    #[error("connection failed")]
    Connect,
    /// The connect or total timeout ran out.
    #[error("timed out")]
    Timeout,
    /// The server answered with a status other than 200.
    #[error("HTTP status {0}")]
    Status(u16),
    /// The body exceeded the size cap.
    #[error("body larger than {0} bytes")]
    TooLarge(usize),
    /// The body was not the expected JSON document.
    #[error("unparseable document: {0}")]
    Parse(&'static str),
    /// Discovery named a different issuer than the one configured.
    #[error("discovery document names another issuer")]
    IssuerMismatch,
    /// A URL from discovery is not allowed (scheme).
    #[error("refused URL: {0}")]
    RefusedUrl(&'static str),
    /// The file could not be read.
    #[error("file unreadable")]
    File,
}

impl FetchError {
    fn from_reqwest(e: &reqwest::Error) -> FetchError {
        if e.is_timeout() {
            FetchError::Timeout
        } else {
            FetchError::Connect
        }
    }
}

/// A fetched key set and how long the server said it stays fresh.
pub(crate) struct Fetched {
    pub(crate) keys: KeySet,
    pub(crate) raw: Value,
    pub(crate) max_age: Option<Duration>,
}

/// How the keys of one issuer are obtained.
pub(crate) enum Fetcher {
    Jwks {
        url: String,
    },
    Discovery {
        issuer: String,
        jwks_uri: OnceCell<String>,
    },
    File {
        path: PathBuf,
    },
}

/// Whether `url` may be fetched: `https`, or `http` on a loopback host, or `http` when allowed.
pub(crate) fn check_url(url: &str, allow_http: bool) -> Result<reqwest::Url, &'static str> {
    let u = reqwest::Url::parse(url).map_err(|_| "not a URL")?;
    match u.scheme() {
        "https" => {}
        "http" if allow_http || is_loopback(&u) => {}
        "http" => return Err("http is allowed only for loopback hosts (see `allow_http`)"),
        _ => return Err("scheme must be https"),
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err("no host");
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err("credentials in URLs are not allowed");
    }
    Ok(u)
}

fn is_loopback(u: &reqwest::Url) -> bool {
    match u.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// The HTTP client settings of the key cache.
#[derive(Clone)]
pub(crate) struct HttpSettings {
    pub(crate) client: reqwest::Client,
    pub(crate) allow_http: bool,
    pub(crate) max_body: usize,
}

/// Build the default client: timeouts, at most [`MAX_REDIRECTS`] redirects that keep to the
/// same scheme rules, extra root certificates, rustls on aws-lc-rs.
pub(crate) fn build_client(
    connect_timeout: Duration,
    timeout: Duration,
    roots: Vec<reqwest::Certificate>,
    allow_http: bool,
) -> Result<reqwest::Client, ConfigError> {
    let policy = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= MAX_REDIRECTS {
            attempt.error("too many redirects")
        } else if check_url(attempt.url().as_str(), allow_http).is_err() {
            attempt.error("redirect to a refused URL")
        } else {
            attempt.follow()
        }
    });
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .timeout(timeout)
        .redirect(policy)
        .tls_certs_merge(roots)
        .user_agent(concat!("a2a-guard/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ConfigError::HttpClient(e.to_string()))
}

/// Redirects followed at most.
pub const MAX_REDIRECTS: usize = 3;

impl HttpSettings {
    async fn get_json(&self, url: &str) -> Result<(Value, Option<Duration>), FetchError> {
        check_url(url, self.allow_http).map_err(FetchError::RefusedUrl)?;
        let mut res = self
            .client
            .get(url)
            .header(
                reqwest::header::ACCEPT,
                "application/json, application/jwk-set+json",
            )
            .send()
            .await
            .map_err(|e| FetchError::from_reqwest(&e))?;
        if res.status() != reqwest::StatusCode::OK {
            return Err(FetchError::Status(res.status().as_u16()));
        }
        if res
            .content_length()
            .is_some_and(|n| n > self.max_body as u64)
        {
            return Err(FetchError::TooLarge(self.max_body));
        }
        let max_age = freshness(res.headers());
        let _ = res.headers().get(CONTENT_TYPE); // content type is not trusted either way
        let mut body = Vec::new();
        while let Some(chunk) = res
            .chunk()
            .await
            .map_err(|e| FetchError::from_reqwest(&e))?
        {
            if body.len() + chunk.len() > self.max_body {
                return Err(FetchError::TooLarge(self.max_body));
            }
            body.extend_from_slice(&chunk);
        }
        let v = serde_json::from_slice(&body).map_err(|_| FetchError::Parse("not JSON"))?;
        Ok((v, max_age))
    }
}

/// Freshness from `Cache-Control: max-age` (RFC 9111 §5.2.2.1), else `Expires - Date`.
/// `no-store` / `no-cache` mean zero (the caller clamps to its minimum).
pub(crate) fn freshness(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    if let Some(cc) = h.get(CACHE_CONTROL).and_then(|v| v.to_str().ok()) {
        for d in cc.split(',').map(str::trim) {
            let lower = d.to_ascii_lowercase();
            if lower == "no-store" || lower == "no-cache" {
                return Some(Duration::ZERO);
            }
            if let Some(n) = lower.strip_prefix("max-age=") {
                if let Ok(secs) = n.trim_matches('"').parse::<u64>() {
                    return Some(Duration::from_secs(secs));
                }
            }
        }
    }
    let date = |name| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| jiff::fmt::rfc2822::parse(s).ok())
            .map(|z| z.timestamp())
    };
    let expires = date(EXPIRES)?;
    let now = date(DATE).unwrap_or_else(jiff::Timestamp::now);
    let secs = expires.as_second().saturating_sub(now.as_second()).max(0);
    Some(Duration::from_secs(secs as u64))
}

/// The RFC 8414 §3.1 metadata URL: `/.well-known/oauth-authorization-server` inserted
/// between the host and the issuer's path.
fn rfc8414_url(issuer: &str) -> Option<String> {
    let u = reqwest::Url::parse(issuer).ok()?;
    let path = u.path().trim_end_matches('/');
    let origin = u.origin().ascii_serialization();
    Some(format!(
        "{origin}/.well-known/oauth-authorization-server{path}"
    ))
}

impl Fetcher {
    /// A short description for health reports and snapshots.
    pub(crate) fn describe(&self) -> String {
        match self {
            Fetcher::Jwks { url } => url.clone(),
            Fetcher::Discovery { issuer, .. } => format!("discovery:{issuer}"),
            Fetcher::File { path } => format!("file:{}", path.display()),
        }
    }

    pub(crate) async fn fetch(&self, http: &HttpSettings) -> Result<Fetched, FetchError> {
        let (raw, max_age) = match self {
            Fetcher::Jwks { url } => http.get_json(url).await?,
            Fetcher::Discovery { issuer, jwks_uri } => {
                let uri = jwks_uri.get_or_try_init(|| discover(issuer, http)).await?;
                http.get_json(uri).await?
            }
            Fetcher::File { path } => {
                let bytes = read_capped(path, http.max_body).await?;
                let v =
                    serde_json::from_slice(&bytes).map_err(|_| FetchError::Parse("not JSON"))?;
                (v, None)
            }
        };
        let keys = KeySet::from_value(&raw).map_err(|_| FetchError::Parse("not a JWK Set"))?;
        Ok(Fetched { keys, raw, max_age })
    }
}

async fn read_capped(path: &std::path::Path, cap: usize) -> Result<Vec<u8>, FetchError> {
    let meta = tokio::fs::metadata(path)
        .await
        .map_err(|_| FetchError::File)?;
    if meta.len() > cap as u64 {
        return Err(FetchError::TooLarge(cap));
    }
    tokio::fs::read(path).await.map_err(|_| FetchError::File)
}

/// OIDC discovery first, RFC 8414 metadata second; the document's `issuer` must equal the
/// configured issuer byte for byte (OIDC Discovery §4.3, RFC 8414 §3.3).
async fn discover(issuer: &str, http: &HttpSettings) -> Result<String, FetchError> {
    let oidc = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let doc = match http.get_json(&oidc).await {
        Ok((doc, _)) => doc,
        Err(first) => match rfc8414_url(issuer) {
            Some(url) => http.get_json(&url).await.map_err(|_| first)?.0,
            None => return Err(first),
        },
    };
    if doc.get("issuer").and_then(Value::as_str) != Some(issuer) {
        return Err(FetchError::IssuerMismatch);
    }
    let uri = doc
        .get("jwks_uri")
        .and_then(Value::as_str)
        .ok_or(FetchError::Parse("no jwks_uri"))?;
    check_url(uri, http.allow_http).map_err(FetchError::RefusedUrl)?;
    Ok(uri.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn cache_control_and_expires() {
        assert_eq!(
            freshness(&headers(&[("cache-control", "public, max-age=60")])),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            freshness(&headers(&[("cache-control", "no-store")])),
            Some(Duration::ZERO)
        );
        assert_eq!(
            freshness(&headers(&[
                ("date", "Sat, 28 Nov 2026 10:00:00 GMT"),
                ("expires", "Sat, 28 Nov 2026 10:05:00 GMT")
            ])),
            Some(Duration::from_secs(300))
        );
        assert_eq!(freshness(&headers(&[])), None);
        assert_eq!(
            freshness(&headers(&[("cache-control", "max-age=abc")])),
            None
        );
    }

    #[test]
    fn url_rules() {
        assert!(check_url("https://auth.example.com/jwks", false).is_ok());
        assert!(check_url("http://127.0.0.1:8080/jwks", false).is_ok());
        assert!(check_url("http://[::1]:8080/jwks", false).is_ok());
        assert!(check_url("http://localhost/jwks", false).is_ok());
        assert!(check_url("http://auth.example.com/jwks", false).is_err());
        assert!(check_url("http://auth.example.com/jwks", true).is_ok());
        assert!(check_url("file:///etc/passwd", true).is_err());
        assert!(check_url("https://user:pw@auth.example.com/", false).is_err());
    }

    #[test]
    fn rfc8414_inserts_well_known_before_the_path() {
        assert_eq!(
            rfc8414_url("https://a.example/tenant/1").unwrap(),
            "https://a.example/.well-known/oauth-authorization-server/tenant/1"
        );
        assert_eq!(
            rfc8414_url("https://a.example").unwrap(),
            "https://a.example/.well-known/oauth-authorization-server"
        );
    }
}
