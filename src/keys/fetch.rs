//! Getting a JWK Set: over HTTP (a JWKS URL, or OIDC / RFC 8414 discovery), or from a file.
//! Every fetch is bounded: connect and total timeouts, redirect count, body size.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, DATE, EXPIRES};
use serde_json::Value;

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
    /// The document was a JWK Set without a single usable key. Treated as a failure so an
    /// empty or all-unusable set never replaces the keys held.
    #[error("no usable keys in the JWK Set")]
    NoKeys,
}

impl FetchError {
    /// The failure kind, a closed set (the `result` label of `a2a_guard_key_fetches_total`).
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            FetchError::Connect => "connect",
            FetchError::Timeout => "timeout",
            FetchError::Status(_) => "status",
            FetchError::TooLarge(_) => "too_large",
            FetchError::Parse(_) => "parse",
            FetchError::IssuerMismatch => "issuer_mismatch",
            FetchError::RefusedUrl(_) => "refused_url",
            FetchError::File => "file",
            FetchError::NoKeys => "no_keys",
        }
    }

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
        /// The `jwks_uri` found by the last discovery; re-read on every scheduled refresh.
        jwks_uri: Mutex<Option<String>>,
    },
    File {
        path: PathBuf,
    },
}

/// Whether `url` may be fetched: `https`, or `http` when allowed, or `http` on a loopback
/// host when loopback is allowed. Loopback hosts (over `http` or `https`) are allowed only
/// when `allow_loopback`, which is true only when the configured issuer or JWKS URL is itself
/// loopback: a public issuer's discovery or redirects must not send us to a local service
/// (blind SSRF).
pub(crate) fn check_url(
    url: &str,
    allow_http: bool,
    allow_loopback: bool,
) -> Result<reqwest::Url, &'static str> {
    let u = reqwest::Url::parse(url).map_err(|_| "not a URL")?;
    check_parsed(&u, allow_http, allow_loopback)?;
    Ok(u)
}

fn check_parsed(
    u: &reqwest::Url,
    allow_http: bool,
    allow_loopback: bool,
) -> Result<(), &'static str> {
    let loopback = is_loopback(u);
    match u.scheme() {
        "https" => {}
        "http" if allow_http || (loopback && allow_loopback) => {}
        "http" => return Err("http is allowed only for loopback hosts (see `allow_http`)"),
        _ => return Err("scheme must be https"),
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err("no host");
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err("credentials in URLs are not allowed");
    }
    if loopback && !allow_loopback {
        return Err("loopback hosts are allowed only for a loopback issuer");
    }
    Ok(())
}

/// Whether `url` names this host: a loopback or unspecified address, or `localhost` and its
/// subdomains (RFC 6761 §6.3). A URL that does not parse is not loopback.
pub(crate) fn is_loopback_url(url: &str) -> bool {
    reqwest::Url::parse(url).is_ok_and(|u| is_loopback(&u))
}

fn is_loopback(u: &reqwest::Url) -> bool {
    match u.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback() || ip.is_unspecified(),
        Some(url::Host::Ipv6(ip)) => {
            ip.is_loopback()
                || ip.is_unspecified()
                || ip
                    .to_ipv4_mapped()
                    .is_some_and(|v4| v4.is_loopback() || v4.is_unspecified())
        }
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        None => false,
    }
}

/// The redirect rule of the built-in client: at most [`MAX_REDIRECTS`] hops, each to a URL
/// that passes [`check_url`], with loopback allowed only when the chain started on loopback
/// (the first URL of a chain was checked against the issuer's own rule).
fn redirect_allowed(
    first: &reqwest::Url,
    hops: usize,
    next: &reqwest::Url,
    allow_http: bool,
) -> Result<(), &'static str> {
    if hops >= MAX_REDIRECTS {
        return Err("too many redirects");
    }
    check_parsed(next, allow_http, is_loopback(first))
}

/// The HTTP client settings of the key cache.
#[derive(Clone)]
pub(crate) struct HttpSettings {
    pub(crate) client: reqwest::Client,
    pub(crate) allow_http: bool,
    /// Whether loopback hosts may be fetched: only when the configured issuer (discovery)
    /// or JWKS URL is loopback. Set per issuer.
    pub(crate) allow_loopback: bool,
    pub(crate) max_body: usize,
    /// The one deadline the OIDC discovery attempt and its RFC 8414 fallback share: the
    /// total fetch timeout. Also bounds discovery with a client handed in through
    /// `http_client()`, whose own timeouts may be longer.
    pub(crate) discovery_deadline: Duration,
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
        let previous = attempt.previous();
        let verdict = match previous.first() {
            Some(first) => redirect_allowed(first, previous.len(), attempt.url(), allow_http),
            None => Err("redirect without an origin"),
        };
        match verdict {
            Ok(()) => attempt.follow(),
            Err(reason) => attempt.error(reason),
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
    pub(crate) async fn get_json(
        &self,
        url: &str,
    ) -> Result<(Value, Option<Duration>), FetchError> {
        check_url(url, self.allow_http, self.allow_loopback).map_err(FetchError::RefusedUrl)?;
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
        // The final URL passes the same rules as the first: a client handed in through
        // `http_client()` has its own redirect policy, which may follow any scheme or host.
        // (Its hops were already requested; only their answer is refused here.)
        check_parsed(res.url(), self.allow_http, self.allow_loopback)
            .map_err(FetchError::RefusedUrl)?;
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
            if let Some(n) = lower.strip_prefix("max-age=")
                && let Ok(secs) = n.trim_matches('"').parse::<u64>()
            {
                return Some(Duration::from_secs(secs));
            }
        }
    }
    // `Expires` and `Date` are HTTP dates (RFC 9110 §5.6.7): IMF-fixdate, and recipients
    // must also accept the obsolete RFC 850 and asctime forms. An invalid `Expires` (often
    // "0" or "-1") means already expired (RFC 9111 §5.3), which the caller clamps to its
    // minimum refresh interval.
    let date = |name| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .map(|s| httpdate::parse_http_date(s.trim()).ok())
    };
    let expires = match date(EXPIRES)? {
        Some(t) => t,
        None => return Some(Duration::ZERO),
    };
    let now = date(DATE)
        .flatten()
        .unwrap_or_else(std::time::SystemTime::now);
    Some(expires.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The RFC 8414 §3.1 metadata URL: `/.well-known/oauth-authorization-server` inserted
/// between the host and the issuer's path.
pub(crate) fn rfc8414_url(issuer: &str) -> Option<String> {
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

    /// Fetch the key set. `rediscover` re-reads discovery first (scheduled refreshes do, so
    /// an issuer may move its keys); otherwise the `jwks_uri` found last time is used.
    pub(crate) async fn fetch(
        &self,
        http: &HttpSettings,
        rediscover: bool,
    ) -> Result<Fetched, FetchError> {
        let (raw, max_age) = match self {
            Fetcher::Jwks { url } => http.get_json(url).await?,
            Fetcher::Discovery { issuer, jwks_uri } => {
                let cached = jwks_uri
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone();
                let uri = match cached {
                    Some(uri) if !rediscover => uri,
                    cached => match discover(issuer, http).await {
                        Ok(uri) => {
                            *jwks_uri
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner) =
                                Some(uri.clone());
                            uri
                        }
                        // Discovery unreachable but its last answer known: keep using it.
                        // A document that answers wrongly (another issuer, a refused URL,
                        // garbage) fails the fetch instead.
                        Err(FetchError::Connect | FetchError::Timeout | FetchError::Status(_))
                            if cached.is_some() =>
                        {
                            tracing::warn!(target: "a2a_guard::keys", issuer = %issuer,
                                "discovery unreachable; using the jwks_uri found last time");
                            cached.unwrap_or_default()
                        }
                        Err(e) => return Err(e),
                    },
                };
                http.get_json(&uri).await?
            }
            Fetcher::File { path } => {
                let bytes = read_capped(path.clone(), http.max_body).await?;
                let v =
                    serde_json::from_slice(&bytes).map_err(|_| FetchError::Parse("not JSON"))?;
                (v, None)
            }
        };
        let keys = KeySet::from_value(&raw).map_err(|_| FetchError::Parse("not a JWK Set"))?;
        if keys.is_empty() {
            return Err(FetchError::NoKeys);
        }
        Ok(Fetched { keys, raw, max_age })
    }
}

/// Read at most `cap` bytes. The cap holds while reading, not only against the size the
/// metadata claims: a FIFO or device reports no length.
async fn read_capped(path: PathBuf, cap: usize) -> Result<Vec<u8>, FetchError> {
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let f = std::fs::File::open(&path).map_err(|_| FetchError::File)?;
        let meta = f.metadata().map_err(|_| FetchError::File)?;
        if meta.is_file() && meta.len() > cap as u64 {
            return Err(FetchError::TooLarge(cap));
        }
        let mut bytes = Vec::new();
        f.take(cap as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|_| FetchError::File)?;
        if bytes.len() > cap {
            return Err(FetchError::TooLarge(cap));
        }
        Ok(bytes)
    })
    .await
    .map_err(|_| FetchError::File)?
}

/// OIDC discovery first, RFC 8414 metadata second; the document's `issuer` must equal the
/// configured issuer byte for byte (OIDC Discovery §4.3, RFC 8414 §3.3).
async fn discover(issuer: &str, http: &HttpSettings) -> Result<String, FetchError> {
    let (_, doc) = authorization_server_metadata(issuer, http).await?;
    let uri = doc
        .get("jwks_uri")
        .and_then(Value::as_str)
        .ok_or(FetchError::Parse("no jwks_uri"))?;
    check_url(uri, http.allow_http, http.allow_loopback).map_err(FetchError::RefusedUrl)?;
    Ok(uri.to_owned())
}

/// The issuer's metadata document and the URL that served it: OIDC discovery first, RFC 8414
/// second, under one deadline; its `issuer` equals the configured one byte for byte.
pub(crate) async fn authorization_server_metadata(
    issuer: &str,
    http: &HttpSettings,
) -> Result<(String, Value), FetchError> {
    let oidc = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    // Both attempts share one deadline (the total fetch timeout): a hanging issuer costs
    // discovery one timeout, not one per attempt. The fallback gets what the first attempt
    // left, and is skipped when nothing is left.
    let now = tokio::time::Instant::now();
    let deadline = now
        .checked_add(http.discovery_deadline.min(super::MAX_KEY_CACHE_DURATION))
        .unwrap_or(now);
    let attempt = |url: String| async move {
        tokio::time::timeout_at(deadline, http.get_json(&url))
            .await
            .unwrap_or(Err(FetchError::Timeout))
    };
    let (url, doc) = match attempt(oidc.clone()).await {
        Ok((doc, _)) => (oidc, doc),
        Err(first) => match rfc8414_url(issuer) {
            Some(url) if tokio::time::Instant::now() < deadline => {
                let doc = attempt(url.clone()).await.map_err(|_| first)?.0;
                (url, doc)
            }
            _ => return Err(first),
        },
    };
    if doc.get("issuer").and_then(Value::as_str) != Some(issuer) {
        return Err(FetchError::IssuerMismatch);
    }
    Ok((url, doc))
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
    fn http_dates_in_all_three_rfc9110_forms() {
        // RFC 9110 §5.6.7: IMF-fixdate, obsolete RFC 850, and ANSI C asctime() must all be
        // accepted; the same instant in each form.
        for date in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            for expires in [
                "Sun, 06 Nov 1994 08:59:37 GMT",
                "Sunday, 06-Nov-94 08:59:37 GMT",
                "Sun Nov  6 08:59:37 1994",
            ] {
                let mut h = HeaderMap::new();
                h.insert("date", HeaderValue::from_static(date));
                h.insert("expires", HeaderValue::from_static(expires));
                assert_eq!(
                    freshness(&h),
                    Some(Duration::from_secs(600)),
                    "Date: {date} / Expires: {expires}"
                );
            }
        }
        // Already expired, and an invalid `Expires` ("0"): zero, i.e. already stale
        // (RFC 9111 §5.3), clamped by the caller to its minimum.
        assert_eq!(
            freshness(&headers(&[
                ("date", "Sun, 06 Nov 1994 08:49:37 GMT"),
                ("expires", "Sun, 06 Nov 1994 08:00:00 GMT")
            ])),
            Some(Duration::ZERO)
        );
        assert_eq!(
            freshness(&headers(&[("expires", "0")])),
            Some(Duration::ZERO)
        );
        // `max-age` wins over `Expires` (RFC 9111 §5.3).
        assert_eq!(
            freshness(&headers(&[
                ("cache-control", "max-age=30"),
                ("expires", "Sunday, 06-Nov-94 08:59:37 GMT")
            ])),
            Some(Duration::from_secs(30))
        );
    }

    #[test]
    fn url_rules() {
        assert!(check_url("https://auth.example.com/jwks", false, false).is_ok());
        assert!(check_url("http://127.0.0.1:8080/jwks", false, true).is_ok());
        assert!(check_url("http://[::1]:8080/jwks", false, true).is_ok());
        assert!(check_url("http://localhost/jwks", false, true).is_ok());
        assert!(check_url("http://auth.example.com/jwks", false, false).is_err());
        assert!(check_url("http://auth.example.com/jwks", true, false).is_ok());
        assert!(check_url("file:///etc/passwd", true, true).is_err());
        assert!(check_url("https://user:pw@auth.example.com/", false, false).is_err());
    }

    #[test]
    fn loopback_only_for_a_loopback_issuer() {
        for url in [
            "http://127.0.0.1:8080/jwks",
            "https://127.0.0.1/jwks",
            "http://127.1.2.3/",
            "https://[::1]/jwks",
            "http://[::ffff:127.0.0.1]/",
            "http://0.0.0.0:6379/",
            "https://localhost/jwks",
            "http://LOCALHOST./",
            "https://admin.localhost/",
        ] {
            assert!(is_loopback_url(url), "{url}");
            assert!(check_url(url, true, false).is_err(), "{url}");
            assert!(check_url(url, false, true).is_ok(), "{url}");
        }
        assert!(!is_loopback_url("https://localhost.example.com/"));
        assert!(!is_loopback_url("https://10.0.0.1/"));
    }

    #[test]
    fn redirects_keep_the_rules_of_their_first_url() {
        let u = |s: &str| reqwest::Url::parse(s).unwrap();
        let public = u("https://auth.example.com/jwks");
        let local = u("http://127.0.0.1:8080/jwks");
        assert!(redirect_allowed(&public, 1, &u("https://cdn.example.com/k"), false).is_ok());
        assert!(redirect_allowed(&public, 1, &u("http://cdn.example.com/k"), false).is_err());
        assert!(redirect_allowed(&public, 1, &u("http://127.0.0.1/admin"), true).is_err());
        assert!(redirect_allowed(&public, 1, &u("https://localhost/"), false).is_err());
        assert!(redirect_allowed(&local, 1, &u("http://localhost:9/k"), false).is_ok());
        assert!(redirect_allowed(&public, MAX_REDIRECTS, &public, false).is_err());
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
