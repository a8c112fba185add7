//! Which URL a DPoP proof's `htu` must name (RFC 9449 §4.3 (9)), from configured origins only.
//!
//! The request's own `Host` / `:authority` is attacker input: rebuilding the expected `htu`
//! from it would let a proof minted for service A be replayed at service B that accepts
//! the same tokens. So the expected URL always comes from a configured origin, and the
//! request's authority only *selects* one of them.

use crate::ConfigError;

/// One origin clients reach this service at: scheme, host, port and optional path prefix.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    /// Normalised, with no query or fragment; path without a trailing `/`.
    base: url::Url,
    host: String,
    port: u16,
}

impl Origin {
    /// Parse and check a configured origin; refuses what could never match safely.
    pub(crate) fn parse(raw: &str) -> Result<Origin, ConfigError> {
        let bad = |reason| ConfigError::InvalidUrl {
            url: raw.to_owned(),
            reason,
        };
        let mut base = url::Url::parse(raw).map_err(|_| bad("not an absolute URL"))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(bad("a DPoP origin must be http or https"));
        }
        let host = base
            .host_str()
            .ok_or(bad("a DPoP origin needs a host"))?
            .to_ascii_lowercase();
        if !base.username().is_empty() || base.password().is_some() {
            return Err(bad("a DPoP origin must not carry credentials"));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(bad("a DPoP origin must not have a query or fragment"));
        }
        if has_dot_segment(raw_path(raw)) {
            return Err(bad("a DPoP origin path must not contain dot-segments"));
        }
        let port = base
            .port_or_known_default()
            .ok_or(bad("a DPoP origin needs a port"))?;
        let prefix = base.path().trim_end_matches('/').to_owned();
        base.set_path(&prefix);
        Ok(Origin { base, host, port })
    }

    /// Whether `authority` (`host[:port]`, from `Host` or the request target) names this origin.
    fn serves(&self, authority: &http::uri::Authority) -> bool {
        authority.host().eq_ignore_ascii_case(&self.host)
            && authority
                .port_u16()
                .unwrap_or(if self.base.scheme() == "https" {
                    443
                } else {
                    80
                })
                == self.port
    }

    /// The normalised `htu` a proof for `path` at this origin must carry.
    fn htu(&self, path: &str) -> Option<String> {
        let mut u = self.base.clone();
        let prefix = u.path().trim_end_matches('/').to_owned();
        u.set_path(&format!("{prefix}{path}"));
        normalize_htu(u.as_str())
    }
}

/// The `htu` the request must have been signed for, or why there is none.
pub(crate) fn expected_htu(
    origins: &[Origin],
    uri: &http::Uri,
    headers: &http::HeaderMap,
) -> Result<String, &'static str> {
    if origins.is_empty() {
        return Err("DPoP is not configured on this server (no origin)");
    }
    // RFC 9449 §4.3 compares against the request's target URI after RFC 3986 §6
    // normalisation, which resolves dot-segments; the router does not, so a proof for
    // `/data` would authorise `/files/%2e%2e/data` on the files route. Refuse them.
    if has_dot_segment(uri.path()) {
        return Err("the request path contains dot-segments");
    }
    // RFC 9112 §3.2.2: an absolute-form target (and HTTP/2's `:authority`) wins over `Host`.
    let authority = match uri.authority() {
        Some(a) => Some(a.clone()),
        None => match headers.get(http::header::HOST) {
            Some(h) => Some(
                h.to_str()
                    .ok()
                    .and_then(|s| s.parse::<http::uri::Authority>().ok())
                    .ok_or("the Host header is invalid")?,
            ),
            None => None,
        },
    };
    let origin = match authority {
        Some(a) if a.as_str().contains('@') => return Err("the request authority is invalid"),
        Some(a) => origins
            .iter()
            .find(|o| o.serves(&a))
            .ok_or("the request's host is not a configured DPoP origin")?,
        // No authority at all (HTTP/1.0, in-process calls): only unambiguous with one origin.
        None if origins.len() == 1 => &origins[0],
        None => return Err("the request names no host"),
    };
    origin
        .htu(uri.path())
        .ok_or("the request URL cannot be determined")
}

/// RFC 9449 §4.3 (9): compare without query and fragment, after RFC 3986 §6.2.2–6.2.3
/// normalisation (case, default port, percent-encoding, empty path).
pub(crate) fn normalize_htu(s: &str) -> Option<String> {
    let mut u = url::Url::parse(s).ok()?;
    if !matches!(u.scheme(), "http" | "https") {
        return None;
    }
    u.set_query(None);
    u.set_fragment(None);
    Some(u.to_string())
}

/// The path part of an absolute URL as written, before any normalisation.
fn raw_path(raw: &str) -> &str {
    let after_scheme = raw.split_once("://").map_or(raw, |(_, rest)| rest);
    let path = after_scheme
        .find(['/', '\\'])
        .map_or("", |i| &after_scheme[i..]);
    path.split(['?', '#']).next().unwrap_or("")
}

/// RFC 3986 §3.3 dot-segments (`.`, `..`), raw or percent-encoded (`%2e`), with `\` also
/// taken as a separator because URL parsers for http(s) treat it as one (WHATWG URL).
pub(crate) fn has_dot_segment(path: &str) -> bool {
    path.split(['/', '\\']).any(|seg| {
        let mut rest = seg;
        let mut dots = 0;
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix('.') {
                rest = r;
            } else if rest.len() >= 3 && rest[..3].eq_ignore_ascii_case("%2e") {
                rest = &rest[3..];
            } else {
                return false;
            }
            dots += 1;
        }
        matches!(dots, 1 | 2)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn htu_normalisation() {
        assert_eq!(
            normalize_htu("HTTPS://API.Example.com:443/a?q=1#f").unwrap(),
            "https://api.example.com/a"
        );
        assert_eq!(
            normalize_htu("https://api.example.com").unwrap(),
            "https://api.example.com/"
        );
        assert_eq!(
            normalize_htu("http://127.0.0.1:80/x").unwrap(),
            "http://127.0.0.1/x"
        );
        assert!(normalize_htu("ftp://x/y").is_none());
        assert_ne!(
            normalize_htu("https://api.example.com/a").unwrap(),
            normalize_htu("https://api.example.com/b").unwrap()
        );
    }

    #[test]
    fn dot_segments_raw_and_encoded() {
        for p in [
            "/files/../data",
            "/files/%2e%2e/data",
            "/files/%2E./data",
            "/files/.%2e/data",
            "/./data",
            "/%2e/data",
            "/files\\..\\data",
            "/files/..",
        ] {
            assert!(has_dot_segment(p), "{p}");
        }
        for p in ["/data", "/a.b/c", "/.../x", "/..a/", "/%2e%2e%2e", "/", ""] {
            assert!(!has_dot_segment(p), "{p}");
        }
    }

    #[test]
    fn origins_are_checked() {
        for bad in [
            "not a url",
            "ftp://x.example",
            "https://u:p@x.example",
            "https://x.example/?q",
            "https://x.example/#f",
            "https://x.example/a/../b",
            "https://x.example/a/%2e%2e/b",
        ] {
            assert!(Origin::parse(bad).is_err(), "{bad}");
        }
        let o = Origin::parse("https://Agents.Example.com/api/").unwrap();
        assert_eq!(
            o.htu("/data").unwrap(),
            "https://agents.example.com/api/data"
        );
        let a = |s: &str| s.parse::<http::uri::Authority>().unwrap();
        assert!(o.serves(&a("agents.example.com")));
        assert!(o.serves(&a("AGENTS.example.com:443")));
        assert!(!o.serves(&a("agents.example.com:8443")));
        assert!(!o.serves(&a("other.example.com")));
    }
}
